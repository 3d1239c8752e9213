// Per-op dynamic-graph overhead: the C++ twin of ../shared/bench/torch_overhead.py.
//
// Usage: bench_overhead [REPEATS=7]
//        bench_overhead profile [N_OPS=10000] [SHAPE=1|64x64] [OPERANDS=scalar|tensor]
//
// (a) chain of N=10,000 elementwise ops on a 1-element float32 tensor x (requires_grad):
//         op k%3==0: h = h + c      op k%3==1: h = h * d      op k%3==2: h = tanh(h)
//     two operand flavours: 'scalar' (c=0.01, d=0.99 doubles) and 'tensor' (c, d are same-shape
//     constant tensors, requires_grad false).
//     Reported: forward us/op (graph recorded), backward us/op (h.sum().backward(), which includes
//     the final sum node), graph-free us/op (time to drop h after backward), and forward us/op
//     under NoGradGuard (dispatch cost only).
// (b) the same on a 64x64 tensor.
// (c) MLP 784-256-10 (linear, relu, linear), batch 1, cross-entropy, SGD(lr=0.01):
//     zero grads + forward + backward + step, us per step (2000 steps per repeat).
// Medians (and min) over REPEATS repeats after one warm-up. Output: the same RESULT lines as the
// PyTorch script.
//
// The profile mode runs one warm-up chain, then one chain forward, backward and free in the
// separate functions profile_forward / profile_backward / profile_free, so that a profiler can
// collect just those, e.g.
//   valgrind --tool=callgrind --toggle-collect='*profile_forward*' bench_overhead profile
//
// Zeroing gradients: opt.zero_grad() sets them to none by default; env
// XGRAD_BENCH_ZERO_GRAD=zero zeroes them in place instead, which is what torch 1.13's
// opt.zero_grad() does (its set_to_none defaults to False before torch 2.0).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench/common.hpp"
#include "optim/optim.hpp"

namespace {

constexpr int N = 10000;

template <typename C>
xg::Tensor chain(const xg::Tensor& x, const C& c, const C& d, int n) {
  xg::Tensor h = x;
  for (int k = 0; k < n; ++k) {
    const int r = k % 3;
    if (r == 0)
      h = h + c;
    else if (r == 1)
      h = h * d;
    else
      h = xg::tanh(h);
  }
  return h;
}

bool all_finite(const xg::Tensor& t) {
  for (float v : t.to_vector<float>())
    if (!std::isfinite(v)) return false;
  return true;
}

struct ChainTimes {
  double fwd, bwd, free, nograd;  // us per op
};

template <typename C>
ChainTimes one_chain_with(const xg::Shape& shape, const C& c, const C& d) {
  xg::Tensor x = xg::full(shape, 0.5);
  x.requires_grad_(true);
  const double t0 = bench::now();
  xg::Tensor h = chain(x, c, d, N);
  const double t1 = bench::now();
  h.sum().backward();
  const double t2 = bench::now();
  h = xg::Tensor();  // del h
  const double t3 = bench::now();
  if (!x.grad().defined() || !all_finite(x.grad())) {
    std::fprintf(stderr, "chain: x.grad() is undefined or not finite\n");
    std::exit(1);
  }
  double t4, t5;
  {
    xg::NoGradGuard no_grad;
    t4 = bench::now();
    chain(x, c, d, N);
    t5 = bench::now();
  }
  const double us = 1e6 / N;
  return {(t1 - t0) * us, (t2 - t1) * us, (t3 - t2) * us, (t5 - t4) * us};
}

ChainTimes one_chain(const xg::Shape& shape, const std::string& flavour) {
  if (flavour == "scalar") return one_chain_with<double>(shape, 0.01, 0.99);
  return one_chain_with<xg::Tensor>(shape, xg::full(shape, 0.01), xg::full(shape, 0.99));
}

std::string shape_tag(const xg::Shape& shape) {
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

void bench_chain(const xg::Shape& shape, const std::string& flavour, int reps) {
  one_chain(shape, flavour);  // warm-up
  bench::Foreign fg;
  fg.start();
  const double t0 = bench::now();
  std::vector<double> fwd, bwd, free, nograd;
  for (int i = 0; i < reps; ++i) {
    const ChainTimes t = one_chain(shape, flavour);
    fwd.push_back(t.fwd);
    bwd.push_back(t.bwd);
    free.push_back(t.free);
    nograd.push_back(t.nograd);
  }
  const double frac = fg.stop() / (bench::now() - t0);
  std::printf(
      "RESULT bench=chain shape=%s operands=%s n_ops=%d fwd_us_per_op=%.3f "
      "bwd_us_per_op=%.3f free_us_per_op=%.3f nograd_fwd_us_per_op=%.3f "
      "fwd_min=%.3f bwd_min=%.3f reps=%d foreign_frac=%.3f\n",
      shape_tag(shape).c_str(), flavour.c_str(), N, bench::median(fwd), bench::median(bwd),
      bench::median(free), bench::median(nograd), bench::min_of(fwd), bench::min_of(bwd), reps,
      frac);
  std::fflush(stdout);
}

// ---- MLP 784-256-10, batch 1 ----

/// A leaf [shape] uniform in (-bound, bound), as nn.Linear's default init with bound 1/sqrt(in).
xg::Tensor uniform_param(const xg::Shape& shape, double bound) {
  xg::Tensor p = xg::rand(shape) * (2.0 * bound) - bound;
  p.requires_grad_(true);
  return p;
}

struct Mlp {
  xg::Tensor w1, b1, w2, b2;
  Mlp() {
    const double k1 = 1.0 / std::sqrt(784.0), k2 = 1.0 / std::sqrt(256.0);
    w1 = uniform_param({256, 784}, k1);
    b1 = uniform_param({256}, k1);
    w2 = uniform_param({10, 256}, k2);
    b2 = uniform_param({10}, k2);
  }
  xg::Tensor forward(const xg::Tensor& x) const {
    return xg::linear(xg::relu(xg::linear(x, w1, b1)), w2, b2);
  }
  std::vector<xg::Tensor> parameters() const { return {w1, b1, w2, b2}; }
};

/// Cross-entropy of logits [B, C] against class indices [B, 1]: -mean(log_softmax gathered).
xg::Tensor cross_entropy(const xg::Tensor& logits, const xg::Tensor& target) {
  return -xg::gather(xg::log_softmax(logits, 1), 1, target).mean();
}

void bench_mlp_step(int reps, int steps = 2000) {
  xg::manual_seed(0);
  Mlp model;
  const std::vector<xg::Tensor> params = model.parameters();
  const double lr = 0.01;
  const xg::Tensor xs = xg::rand({64, 784});
  const xg::Tensor ys = xg::randint(0, 10, {64});
  const char* zg = std::getenv("XGRAD_BENCH_ZERO_GRAD");
  const bool zero_in_place = zg && std::strcmp(zg, "zero") == 0;

  xg::optim::SGD opt(params, xg::optim::SGDOptions(lr));
  auto run = [&](int n) {
    const double t0 = bench::now();
    for (int i = 0; i < n; ++i) {
      const int64_t j = i & 63;
      opt.zero_grad(/*set_to_none=*/!zero_in_place);
      const xg::Tensor target = xg::narrow(ys, 0, j, 1).reshape({1, 1});
      xg::Tensor loss = cross_entropy(model.forward(xg::narrow(xs, 0, j, 1)), target);
      loss.backward();
      opt.step();
    }
    return (bench::now() - t0) / n * 1e6;
  };

  run(200);
  bench::Foreign fg;
  fg.start();
  double t0 = bench::now();
  std::vector<double> r;
  for (int i = 0; i < reps; ++i) r.push_back(run(steps));
  const double frac = fg.stop() / (bench::now() - t0);
  double fwd;
  {  // forward-only (no grad) for reference
    xg::NoGradGuard no_grad;
    t0 = bench::now();
    for (int i = 0; i < steps; ++i) model.forward(xg::narrow(xs, 0, i & 63, 1));
    fwd = (bench::now() - t0) / steps * 1e6;
  }
  std::printf(
      "RESULT bench=mlp_step arch=784-256-10 batch=1 us_per_step=%.2f us_per_step_min=%.2f "
      "nograd_fwd_us=%.2f steps=%d reps=%d foreign_frac=%.3f\n",
      bench::median(r), bench::min_of(r), fwd, steps, reps, frac);
  std::fflush(stdout);
}

// ---- profile mode: one chain, forward / backward / free in separate, non-inlined functions ----

template <typename C>
__attribute__((noinline)) xg::Tensor profile_forward(const xg::Tensor& x, const C& c, const C& d,
                                                     int n) {
  return chain(x, c, d, n);
}
__attribute__((noinline)) void profile_backward(const xg::Tensor& h) { h.sum().backward(); }
__attribute__((noinline)) void profile_free(xg::Tensor& h) { h = xg::Tensor(); }
template <typename C>
__attribute__((noinline)) void profile_nograd(const xg::Tensor& x, const C& c, const C& d, int n) {
  xg::NoGradGuard no_grad;
  chain(x, c, d, n);
}

template <typename C>
void profile_with(const xg::Shape& shape, const C& c, const C& d, int n) {
  xg::Tensor w = xg::full(shape, 0.5);
  w.requires_grad_(true);
  chain(w, c, d, n).sum().backward();  // warm-up (allocator, first-use paths)
  xg::Tensor x = xg::full(shape, 0.5);
  x.requires_grad_(true);
  const double t0 = bench::now();
  xg::Tensor h = profile_forward(x, c, d, n);
  const double t1 = bench::now();
  profile_backward(h);
  const double t2 = bench::now();
  profile_free(h);
  const double t3 = bench::now();
  profile_nograd(x, c, d, n);
  const double t4 = bench::now();
  const double us = 1e6 / n;
  std::printf(
      "# profile n_ops=%d fwd_us_per_op=%.3f bwd_us_per_op=%.3f free_us_per_op=%.3f "
      "nograd_fwd_us_per_op=%.3f grad=%.6g\n",
      n, (t1 - t0) * us, (t2 - t1) * us, (t3 - t2) * us, (t4 - t3) * us,
      static_cast<double>(x.grad().to_vector<float>()[0]));
}

int profile_main(int argc, char** argv) {
  const int n = argc > 2 ? std::atoi(argv[2]) : N;
  const std::string shape = argc > 3 ? argv[3] : "1";
  const std::string flavour = argc > 4 ? argv[4] : "scalar";
  const xg::Shape s = shape == "64x64" ? xg::Shape{64, 64} : xg::Shape{1};
  if (flavour == "scalar")
    profile_with<double>(s, 0.01, 0.99, n);
  else
    profile_with<xg::Tensor>(s, xg::full(s, 0.01), xg::full(s, 0.99), n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "profile") == 0) return profile_main(argc, argv);
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  bench::set_threads(2);
  xg::manual_seed(0);
  const char* zero_grad = std::getenv("XGRAD_BENCH_ZERO_GRAD");
  std::printf("# xgrad threads=1 %s %s zero_grad=%s\n", bench::blas_info().c_str(),
              bench::env_info().c_str(), zero_grad ? zero_grad : "none");
  std::fflush(stdout);
  for (const xg::Shape& shape : {xg::Shape{1}, xg::Shape{64, 64}})
    for (const char* flavour : {"scalar", "tensor"}) bench_chain(shape, flavour, reps);
  bench_mlp_step(reps);
  return 0;
}
