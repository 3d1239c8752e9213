// Soak test (ctest label "soak", Release only): long training must not grow memory, and training
// in threads must not change results.
//
// 1. 10,000 steps of the MLP 784-256-128-10 on Fashion-MNIST (batch 64, DataLoader shuffling with
//    its background prefetch thread, a new epoch every 938 steps, SGD momentum 0.9), sampling
//    VmRSS and VmHWM (/proc/self/status) every 500 steps: after the warm-up (step 1,000) the
//    resident set may grow by at most kMaxGrowthMB.
// 2. Two MLPs with different seeds, each trained for kThreadSteps steps with its own DataLoader,
//    once one after the other and once in two threads at the same time: the parameters (and the
//    momentum buffers' effect on them) must be bit-identical.
//
// Usage: soak [steps] [thread_steps] (defaults 10000 and 300). Exit status 0 on success.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"

using namespace xg;

namespace {

/// The VmRSS and VmHWM lines of /proc/self/status, in MB.
struct Rss {
  double current = 0, peak = 0;
};
Rss rss() {
  std::ifstream f("/proc/self/status");
  Rss r;
  std::string key;
  while (f >> key) {
    double kb = 0;
    if (key == "VmRSS:" && f >> kb) r.current = kb / 1024.0;
    if (key == "VmHWM:" && f >> kb) r.peak = kb / 1024.0;
  }
  return r;
}

std::shared_ptr<nn::MLP> make_mlp(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
}

nn::DataLoader make_loader(const std::shared_ptr<const nn::Dataset>& data, uint64_t seed) {
  return nn::DataLoader(data, nn::DataLoaderOptions(64).shuffle(true).seed(seed).prefetch(true));
}

/// Trains `model` for `steps` steps (epochs of `loader` as needed); calls `every(step)` after
/// each step with the step's loss. Returns the last loss.
template <class F>
double train(nn::Module& model, nn::DataLoader& loader, long steps, F every) {
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.05).momentum(0.9));
  model.train();
  double last = 0;
  long step = 0;
  while (step < steps) {
    for (auto& [x, y] : loader) {
      opt.zero_grad();
      Tensor loss = nn::functional::cross_entropy(model(x), y);
      loss.backward();
      opt.step();
      last = loss.item<float>();
      ++step;
      every(step, last);
      if (step == steps) break;
    }
  }
  return last;
}

/// Every parameter and buffer's bytes, in state_dict order.
std::vector<std::vector<float>> values_of(const nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : m.state_dict()) out.push_back(t.to_vector<float>());
  return out;
}

bool bit_identical(const nn::Module& a, const nn::Module& b) {
  const auto x = values_of(a), y = values_of(b);
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i].size() != y[i].size() ||
        std::memcmp(x[i].data(), y[i].data(), x[i].size() * sizeof(float)) != 0)
      return false;
  return true;
}

// The resident set may grow by at most this much after the warm-up. Measured here: the curve is
// flat to within ~1 MB from step 1,000 to 10,000 (see README "Checks"); 8 MB leaves room for
// allocator noise while a leak of one 64-image batch per step (200 kB) fails within 40 steps.
constexpr double kMaxGrowthMB = 8.0;
constexpr long kWarmup = 1000;

}  // namespace

int main(int argc, char** argv) {
  const long steps = argc > 1 ? std::stol(argv[1]) : 10000;
  const long thread_steps = argc > 2 ? std::stol(argv[2]) : 300;
  try {
    auto data =
        std::make_shared<const nn::FashionMNIST>(true, nn::FashionMNISTOptions().normalize(true));
    bool ok = true;

    // ---- 1. memory over a long run ----
    std::printf("soak: %ld steps of MLP 784-256-128-10, batch 64, prefetch, SGD momentum\n", steps);
    std::printf("%8s %10s %10s %8s\n", "step", "VmRSS MB", "VmHWM MB", "loss");
    auto model = make_mlp(0);
    nn::DataLoader loader = make_loader(data, 0);
    double warm = 0, warm_peak = 0, highest = 0;
    const Rss start = rss();
    std::printf("%8d %10.1f %10.1f %8s\n", 0, start.current, start.peak, "-");
    train(*model, loader, steps, [&](long step, double loss) {
      if (step % 500 != 0) return;
      const Rss r = rss();
      std::printf("%8ld %10.1f %10.1f %8.4f\n", step, r.current, r.peak, loss);
      std::fflush(stdout);
      if (step == kWarmup) {
        // Reset VmHWM (Linux: "5" to clear_refs) so that the peak measures the run after the
        // warm-up, not the data set's loading.
        std::ofstream("/proc/self/clear_refs") << "5";
        const Rss reset = rss();
        warm = reset.current, warm_peak = reset.peak;
        std::printf("%8s %10.1f %10.1f %8s  (VmHWM reset)\n", "", reset.current, reset.peak, "");
      }
      if (step >= kWarmup) highest = std::max(highest, r.current);
    });
    const Rss end = rss();
    std::printf(
        "RSS after warm-up (step %ld): %.1f MB; highest after it %.1f MB; at the end %.1f "
        "MB (VmHWM %.1f -> %.1f MB); growth allowed %.1f MB\n",
        kWarmup, warm, highest, end.current, warm_peak, end.peak, kMaxGrowthMB);
    if (steps >= kWarmup &&
        (highest - warm > kMaxGrowthMB || end.peak - warm_peak > kMaxGrowthMB)) {
      std::printf("FAIL: the resident set grew by %.1f MB (peak by %.1f MB) after the warm-up\n",
                  highest - warm, end.peak - warm_peak);
      ok = false;
    }

    // ---- 2. two models in two threads == one after the other ----
    std::printf("threads: 2 MLPs (seeds 1 and 2), %ld steps each, sequential vs concurrent\n",
                thread_steps);
    // Models are made here, one after the other: initialization draws from the global generator,
    // which threads share (factory.hpp), so made in threads their values would depend on timing.
    auto seq_a = make_mlp(1), seq_b = make_mlp(2), par_a = make_mlp(1), par_b = make_mlp(2);
    {
      nn::DataLoader la = make_loader(data, 1), lb = make_loader(data, 2);
      train(*seq_a, la, thread_steps, [](long, double) {});
      train(*seq_b, lb, thread_steps, [](long, double) {});
    }
    {
      std::exception_ptr errors[2];
      auto run = [&](nn::Module& m, uint64_t seed, std::exception_ptr& err) {
        try {
          nn::DataLoader l = make_loader(data, seed);
          train(m, l, thread_steps, [](long, double) {});
        } catch (...) {
          err = std::current_exception();
        }
      };
      std::thread ta(run, std::ref(*par_a), 1, std::ref(errors[0]));
      std::thread tb(run, std::ref(*par_b), 2, std::ref(errors[1]));
      ta.join();
      tb.join();
      for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    }
    const bool same_a = bit_identical(*seq_a, *par_a), same_b = bit_identical(*seq_b, *par_b);
    // Not vacuous: the two seeds gave two models, and training moved them.
    const bool differ = !bit_identical(*seq_a, *seq_b) && !bit_identical(*seq_a, *make_mlp(1));
    std::printf(
        "model 1: %s; model 2: %s; models differ from each other and from their start: %s\n",
        same_a ? "bit-identical" : "DIFFERENT", same_b ? "bit-identical" : "DIFFERENT",
        differ ? "yes" : "NO");
    if (!same_a || !same_b || !differ) {
      std::printf("FAIL: training in threads changed the results\n");
      ok = false;
    }
    std::printf("%s\n", ok ? "soak: OK" : "soak: FAILED");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 2;
  }
}
