// Fashion-MNIST training, the twin of ../shared/bench/torch_fmnist.py (read its header for the
// protocol; this file follows it point by point).
//
// Usage: bench_fmnist MODEL [EPOCHS=1] [BATCH=64]          MODEL = softmax | mlp | cnn
//
// Data:   /usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz (Debian's dataset-fashion-mnist; env
//         XGRAD_DATA overrides the folder) read with zlib; pixels / 255 as float32, no other
//         normalization; 60000 train / 10000 test; the last partial batch is kept.
// Models (PyTorch's default init: weights and biases U(+-1/sqrt(fan_in))):
//   softmax: linear 784->10
//   mlp:     linear 784->256, relu, linear 256->128, relu, linear 128->10
//   cnn:     conv2d 1->8 3x3 p1, relu, max_pool2d 2  (28->14)
//            conv2d 8->16 3x3 p1, relu, max_pool2d 2 (14->7), flatten, linear 784->10
// Written with autograd ops and optim::SGD directly (not nn layers).
// Loss:   cross-entropy of the logits, -mean(gather(log_softmax(logits, 1), 1, y)).
// Optim:  optim::SGD; softmax/mlp lr 0.1, no momentum; cnn lr 0.05, momentum 0.9.
// Order:  manual_seed(0) before init; each epoch a permutation (std::mt19937_64 seeded 1234,
//         one generator across epochs) gathers the training set into batch tensors OUTSIDE the
//         timed region (PyTorch slices views of the shuffled copy there: also free).
// Timing: per epoch, wall time of the training loop only (forward, loss, zero_grad, backward,
//         step). Gradients are set to none by zero_grad, as in bench_overhead
//         (XGRAD_BENCH_ZERO_GRAD=zero zeroes them in place, as PyTorch 1.13 does).
//         OpenBLAS threads 2 (env BENCH_BLAS_THREADS overrides).
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench/common.hpp"
#include "optim/optim.hpp"

namespace {

using xg::Tensor;

// ---- data: a minimal gzipped IDX reader (the library's own lives in nn/) ----

/// An IDX file of unsigned bytes: its dims and its data.
struct Idx {
  std::vector<std::size_t> dims;
  std::vector<unsigned char> data;
};

/// Reads a gzipped IDX file of type ubyte (0x08); throws naming the file on any mismatch.
Idx read_idx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("bench_fmnist: cannot open " + path +
                             " (install Debian's dataset-fashion-mnist, or set XGRAD_DATA)");
  auto read = [&](void* p, unsigned n) {
    if (gzread(f, p, n) != static_cast<int>(n)) {
      gzclose(f);
      throw std::runtime_error("bench_fmnist: " + path + " is truncated");
    }
  };
  unsigned char head[4];
  read(head, 4);
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] < 1 || head[3] > 3) {
    gzclose(f);
    throw std::runtime_error("bench_fmnist: " + path + " is not a ubyte IDX file of rank 1-3");
  }
  Idx idx;
  std::size_t n = 1;
  for (int d = 0; d < head[3]; ++d) {
    unsigned char b[4];
    read(b, 4);
    const std::size_t v = (std::size_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    if (v > 100000000) {
      gzclose(f);
      throw std::runtime_error("bench_fmnist: " + path + " has an implausible dimension");
    }
    idx.dims.push_back(v);
    n *= v;
  }
  idx.data.resize(n);
  read(idx.data.data(), static_cast<unsigned>(n));
  gzclose(f);
  return idx;
}

/// A split: images [n, 784] as bytes (made float32 / 255 per batch) and labels [n] in 0..9.
struct Split {
  std::vector<unsigned char> x;
  std::vector<int64_t> y;
  std::size_t n = 0;
};

Split load(const std::string& root, const std::string& split) {
  const Idx img = read_idx(root + "/" + split + "-images-idx3-ubyte.gz");
  const Idx lab = read_idx(root + "/" + split + "-labels-idx1-ubyte.gz");
  if (img.dims.size() != 3 || img.dims[1] != 28 || img.dims[2] != 28 || lab.dims.size() != 1 ||
      lab.dims[0] != img.dims[0])
    throw std::runtime_error("bench_fmnist: " + split + " images and labels do not match");
  Split s;
  s.n = img.dims[0];
  s.x = img.data;
  s.y.assign(lab.data.begin(), lab.data.end());
  return s;
}

/// Rows idx[b, e) of a split as a batch: x [e - b, 1, 28, 28] (cnn) or [e - b, 784], y [e - b, 1].
std::pair<Tensor, Tensor> batch(const Split& s, const std::vector<std::size_t>& idx, std::size_t b,
                                std::size_t e, bool image) {
  const std::size_t m = e - b;
  Tensor x = xg::empty(image ? xg::Shape{m, 1, 28, 28} : xg::Shape{m, 784});
  Tensor y = xg::empty({m, 1}, xg::Dtype::int64);
  float* px = x.data_ptr<float>();
  int64_t* py = y.data_ptr<int64_t>();
  for (std::size_t i = 0; i < m; ++i) {
    const unsigned char* row = s.x.data() + idx[b + i] * 784;
    for (std::size_t k = 0; k < 784; ++k) px[i * 784 + k] = static_cast<float>(row[k]) / 255.0f;
    py[i] = s.y[idx[b + i]];
  }
  return {x, y};
}

// ---- models ----

/// A leaf [shape] uniform in (-bound, bound): PyTorch's default init with bound 1/sqrt(fan_in).
Tensor uniform_param(const xg::Shape& shape, double bound) {
  Tensor p = xg::rand(shape) * (2.0 * bound) - bound;
  p.requires_grad_(true);
  return p;
}

struct Model {
  std::string name;
  std::vector<Tensor> params;  // softmax: w, b; mlp: w1 b1 w2 b2 w3 b3; cnn: c1 cb1 c2 cb2 w b

  explicit Model(const std::string& n) : name(n) {
    auto lin = [&](std::size_t in, std::size_t out) {
      const double k = 1.0 / std::sqrt(static_cast<double>(in));
      params.push_back(uniform_param({out, in}, k));
      params.push_back(uniform_param({out}, k));
    };
    auto conv = [&](std::size_t in, std::size_t out) {
      const double k = 1.0 / std::sqrt(static_cast<double>(in * 9));
      params.push_back(uniform_param({out, in, 3, 3}, k));
      params.push_back(uniform_param({out}, k));
    };
    if (name == "softmax") {
      lin(784, 10);
    } else if (name == "mlp") {
      lin(784, 256), lin(256, 128), lin(128, 10);
    } else if (name == "cnn") {
      conv(1, 8), conv(8, 16), lin(784, 10);
    } else {
      std::fprintf(stderr, "unknown model '%s' (softmax|mlp|cnn)\n", name.c_str());
      std::exit(2);
    }
  }

  /// Logits [B, 10] of x [B, 784] (softmax, mlp) or [B, 1, 28, 28] (cnn).
  Tensor forward(const Tensor& x) const {
    const auto& p = params;
    if (name == "softmax") return xg::linear(x, p[0], p[1]);
    if (name == "mlp")
      return xg::linear(xg::relu(xg::linear(xg::relu(xg::linear(x, p[0], p[1])), p[2], p[3])), p[4],
                        p[5]);
    Tensor h = xg::max_pool2d(xg::relu(xg::conv2d(x, p[0], p[1], {1, 1}, {1, 1})), {2, 2});
    h = xg::max_pool2d(xg::relu(xg::conv2d(h, p[2], p[3], {1, 1}, {1, 1})), {2, 2});
    return xg::linear(xg::flatten(h, 1), p[4], p[5]);
  }

  std::size_t numel() const {
    std::size_t n = 0;
    for (const Tensor& t : params) n += t.numel();
    return n;
  }
};

/// Cross-entropy of logits [B, C] against class indices [B, 1]: -mean(log_softmax gathered).
Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  return -xg::gather(xg::log_softmax(logits, 1), 1, target).mean();
}

/// Test accuracy, in batches of 1000 without a graph.
double evaluate(const Model& m, const Split& test, bool image) {
  xg::NoGradGuard no_grad;
  std::vector<std::size_t> order(test.n);
  std::iota(order.begin(), order.end(), 0);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < test.n; i += 1000) {
    const std::size_t e = std::min(test.n, i + 1000);
    const auto [x, y] = batch(test, order, i, e, image);
    const std::vector<int64_t> pred = xg::argmax(m.forward(x), 1).to_vector<int64_t>();
    const std::vector<int64_t> truth = y.to_vector<int64_t>();
    for (std::size_t k = 0; k < pred.size(); ++k) correct += pred[k] == truth[k];
  }
  return static_cast<double>(correct) / static_cast<double>(test.n);
}

std::string join(const std::vector<double>& v, const char* fmt) {
  std::string s;
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, fmt, v[i]);
    s += (i ? "," : "") + std::string(buf);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--", 2) != 0) args.push_back(argv[i]);
  const std::string name = args.size() > 0 ? args[0] : "mlp";
  const int epochs = args.size() > 1 ? std::atoi(args[1].c_str()) : 1;
  const std::size_t bs = args.size() > 2 ? std::strtoul(args[2].c_str(), nullptr, 10) : 64;
  if (epochs < 1 || bs < 1) {
    std::fprintf(stderr, "usage: bench_fmnist softmax|mlp|cnn [EPOCHS>=1] [BATCH>=1]\n");
    return 2;
  }
  const char* zg = std::getenv("XGRAD_BENCH_ZERO_GRAD");
  const bool zero_in_place = zg && std::strcmp(zg, "zero") == 0;
  const char* data = std::getenv("XGRAD_DATA");
  const std::string root = data ? data : "/usr/share/datasets/fashion-mnist";

  bench::set_threads(2);
  xg::manual_seed(0);
  const bool image = name == "cnn";

  double t0 = bench::now();
  Split train, test;
  try {
    train = load(root, "train");
    test = load(root, "t10k");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  const double load_s = bench::now() - t0;

  Model model(name);
  const double lr = image ? 0.05 : 0.1, mom = image ? 0.9 : 0.0;
  xg::optim::SGD opt(model.params, xg::optim::SGDOptions(lr).momentum(mom));
  std::printf(
      "# model=%s params=%zu epochs=%d batch=%zu lr=%g momentum=%g mkldnn=False xgrad "
      "zero_grad=%s %s %s load_s=%.2f\n",
      name.c_str(), model.numel(), epochs, bs, lr, mom, zero_in_place ? "zero" : "none",
      bench::blas_info().c_str(), bench::env_info().c_str(), load_s);
  std::printf("# init test_acc=%.4f\n", evaluate(model, test, image));
  std::fflush(stdout);

  std::mt19937_64 gen(1234);
  const std::size_t n = train.n;
  std::vector<double> times, accs, fracs;
  for (int ep = 0; ep < epochs; ++ep) {
    // outside the timed region: shuffle and cut the batches
    std::vector<std::size_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), gen);
    std::vector<std::pair<Tensor, Tensor>> batches;
    for (std::size_t i = 0; i < n; i += bs)
      batches.push_back(batch(train, perm, i, std::min(n, i + bs), image));

    double loss_sum = 0.0;
    bench::Foreign fg;
    fg.start();
    t0 = bench::now();
    for (const auto& [xb, yb] : batches) {
      Tensor loss = cross_entropy(model.forward(xb), yb);
      opt.zero_grad(/*set_to_none=*/!zero_in_place);
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
    }
    const double dt = bench::now() - t0;
    const double foreign = fg.stop();
    batches.clear();
    const double t1 = bench::now();
    const double acc = evaluate(model, test, image);
    const double eval_s = bench::now() - t1;
    times.push_back(dt);
    fracs.push_back(foreign / dt);
    accs.push_back(acc);
    const double nb = std::ceil(static_cast<double>(n) / static_cast<double>(bs));
    std::printf(
        "EPOCH model=%s epoch=%d train_s=%.3f samples_per_s=%.0f train_loss=%.4f test_acc=%.4f "
        "eval_s=%.3f foreign_cpu_frac=%.3f\n",
        name.c_str(), ep + 1, dt, n / dt, loss_sum / nb, acc, eval_s, foreign / dt);
    std::fflush(stdout);
  }

  const double med = bench::median(times);
  std::printf(
      "RESULT bench=fmnist model=%s epochs=%d batch=%zu lr=%g momentum=%g mkldnn=0 "
      "epoch_s_median=%.3f samples_per_s_median=%.0f test_acc_final=%.4f test_acc_per_epoch=%s "
      "epoch_s_all=%s foreign_frac_max=%.3f peak_rss_mb=%.0f\n",
      name.c_str(), epochs, bs, lr, mom, med, n / med, accs.back(), join(accs, "%.4f").c_str(),
      join(times, "%.2f").c_str(), *std::max_element(fracs.begin(), fracs.end()),
      bench::peak_rss_mb());
  return 0;
}
