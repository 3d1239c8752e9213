// Synthetic datasets from a private, seeded generator.
#include "nn/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"

namespace xg::nn {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// A seeded generator with fully specified uniform and normal draws (Box-Muller), so a seed gives
/// the same data with any standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Standard normal.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0;
    while (u1 <= 0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * kPi * u2);
    has_spare_ = true;
    return r * std::cos(2 * kPi * u2);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

void check_noise(const char* op, const char* what, double v) {
  XG_CHECK(std::isfinite(v) && v >= 0, op, ": ", what, " must be finite and >= 0, got ", v);
}

TensorDataset classification(const std::vector<float>& x, std::size_t d,
                             const std::vector<int64_t>& y) {
  const std::size_t n = y.size();
  Tensor xt = empty({n, d}, Dtype::float32);
  Tensor yt = empty({n}, Dtype::int64);
  std::copy(x.begin(), x.end(), xt.data_ptr<float>());
  std::copy(y.begin(), y.end(), yt.data_ptr<int64_t>());
  return TensorDataset(xt, yt);
}

}  // namespace

TensorDataset make_regression(std::size_t n, std::size_t d, double noise, uint64_t seed,
                              Tensor* coef, double* bias) {
  check_noise("make_regression", "noise", noise);
  checked_numel("make_regression", {n, d});
  Rng rng(seed);
  std::vector<double> w(d);
  for (double& v : w) v = rng.normal();
  const double b = rng.normal();
  Tensor x = empty({n, d}, Dtype::float32);
  Tensor y = empty({n, 1}, Dtype::float32);
  float* px = x.data_ptr<float>();
  float* py = y.data_ptr<float>();
  for (std::size_t i = 0; i < n; ++i) {
    double acc = b;
    for (std::size_t j = 0; j < d; ++j) {
      const double v = rng.normal();
      px[i * d + j] = static_cast<float>(v);
      acc += v * w[j];
    }
    py[i] = static_cast<float>(acc + noise * rng.normal());
  }
  if (coef) *coef = tensor(w, {d}, Dtype::float32);
  if (bias) *bias = b;
  return TensorDataset(x, y);
}

TensorDataset make_blobs(std::size_t n, std::size_t centers, std::size_t d, double std,
                         uint64_t seed) {
  XG_CHECK(centers > 0, "make_blobs: centers must be > 0");
  XG_CHECK(d > 0, "make_blobs: d must be > 0");
  check_noise("make_blobs", "std", std);
  checked_numel("make_blobs", {n, d});
  checked_numel("make_blobs", {centers, d});
  Rng rng(seed);
  std::vector<double> c(centers * d);
  for (double& v : c) v = -10.0 + 20.0 * rng.uniform();
  std::vector<float> x(n * d);
  std::vector<int64_t> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = i % centers;
    y[i] = static_cast<int64_t>(k);
    for (std::size_t j = 0; j < d; ++j)
      x[i * d + j] = static_cast<float>(c[k * d + j] + std * rng.normal());
  }
  return classification(x, d, y);
}

TensorDataset make_moons(std::size_t n, double noise, uint64_t seed) {
  check_noise("make_moons", "noise", noise);
  checked_numel("make_moons", {n, 2});
  Rng rng(seed);
  const std::size_t n_out = n / 2, n_in = n - n_out;
  std::vector<float> x(n * 2);
  std::vector<int64_t> y(n);
  auto angle = [](std::size_t i, std::size_t m) {
    return m > 1 ? kPi * static_cast<double>(i) / static_cast<double>(m - 1) : 0.0;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const bool outer = i < n_out;
    const double t = outer ? angle(i, n_out) : angle(i - n_out, n_in);
    const double px = outer ? std::cos(t) : 1.0 - std::cos(t);
    const double py = outer ? std::sin(t) : 0.5 - std::sin(t);
    x[2 * i] = static_cast<float>(px + noise * rng.normal());
    x[2 * i + 1] = static_cast<float>(py + noise * rng.normal());
    y[i] = outer ? 0 : 1;
  }
  return classification(x, 2, y);
}

TensorDataset make_spirals(std::size_t n, std::size_t classes, double noise, uint64_t seed) {
  XG_CHECK(classes > 0, "make_spirals: classes must be > 0");
  check_noise("make_spirals", "noise", noise);
  checked_numel("make_spirals", {n, 2});
  Rng rng(seed);
  std::vector<float> x;
  std::vector<int64_t> y;
  x.reserve(n * 2);
  y.reserve(n);
  for (std::size_t c = 0; c < classes; ++c) {
    const std::size_t m = n / classes + (c < n % classes);
    for (std::size_t i = 0; i < m; ++i) {
      const double r = m > 1 ? static_cast<double>(i) / static_cast<double>(m - 1) : 0.0;
      const double t = 4.0 * static_cast<double>(c) + 4.0 * r + noise * rng.normal();
      x.push_back(static_cast<float>(r * std::sin(t)));
      x.push_back(static_cast<float>(r * std::cos(t)));
      y.push_back(static_cast<int64_t>(c));
    }
  }
  return classification(x, 2, y);
}

}  // namespace xg::nn
