// Numerics at the limits against PyTorch 1.13 (goldens: tests/goldens/numerics_limits.py, which
// prints numerics_limits_goldens.hpp): log_softmax / softmax / cross_entropy at logits +-1e4 and
// -inf rows, sigmoid and the BCE losses at +-100, exp / log / pow at their limits, BatchNorm with
// zero-variance channels; values and gradients in float32 and float64. nan and +-inf must match
// exactly (same places, same signs); finite values to a tolerance per dtype.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
namespace F = xg::nn::functional;

namespace {

struct LimitCase {
  const char* name;
  bool f64;
  std::vector<double> x;
  Shape shape;
  std::vector<double> y;
  Shape y_shape;
  std::vector<double> grad;
};

const std::vector<LimitCase> kLimits = {
#include "tests/autograd/numerics_limits_goldens.hpp"
};

using Fn = std::function<Tensor(const Tensor&)>;

/// A constant in x's dtype.
Tensor c(const Tensor& x, const std::vector<double>& v) { return tensor(v, {v.size()}, x.dtype()); }

Tensor targets() { return tensor({0, 2, 1, 1, 2}, {5}, Dtype::int64); }

Tensor batchnorm(const Tensor& x, bool two_d) {
  std::shared_ptr<nn::BatchNormBase> m;
  if (two_d)
    m = std::make_shared<nn::BatchNorm2d>(2);
  else
    m = std::make_shared<nn::BatchNorm1d>(3);
  m->to(x.dtype());
  return m->forward(x);
}

/// The xgrad twin of every case of numerics_limits.py, by name.
const std::map<std::string, Fn>& cases() {
  static const std::map<std::string, Fn> m = {
      {"log_softmax_1e4", [](const Tensor& x) { return log_softmax(x, 1); }},
      {"softmax_1e4", [](const Tensor& x) { return softmax(x, 1); }},
      {"cross_entropy_1e4", [](const Tensor& x) { return F::cross_entropy(x, targets()); }},
      {"cross_entropy_1e4_none",
       [](const Tensor& x) {
         return F::cross_entropy(x, targets(),
                                 nn::CrossEntropyLossOptions().reduction(nn::Reduction::none));
       }},
      {"softmax_inf_rows", [](const Tensor& x) { return softmax(x, 1); }},
      {"log_softmax_inf_rows", [](const Tensor& x) { return log_softmax(x, 1); }},
      {"cross_entropy_inf_rows",
       [](const Tensor& x) {
         return F::cross_entropy(x, tensor({0, 0, 0, 1}, {4}, Dtype::int64),
                                 nn::CrossEntropyLossOptions().reduction(nn::Reduction::none));
       }},
      {"sigmoid_100", [](const Tensor& x) { return sigmoid(x); }},
      {"bce_sigmoid_100",
       [](const Tensor& x) {
         return F::binary_cross_entropy(sigmoid(x), c(x, {0.0, 1.0, 0.0, 1.0, 0.5, 1.0}),
                                        nn::BCELossOptions().reduction(nn::Reduction::none));
       }},
      {"bce_probabilities",
       [](const Tensor& x) {
         return F::binary_cross_entropy(x, c(x, {0.0, 1.0, 1.0, 0.5, 0.0, 1.0}),
                                        nn::BCELossOptions().reduction(nn::Reduction::none));
       }},
      {"bce_probabilities_mean",
       [](const Tensor& x) {
         return F::binary_cross_entropy(x, c(x, {0.0, 1.0, 1.0, 0.25}));
       }},
      {"bce_with_logits_100",
       [](const Tensor& x) {
         return F::binary_cross_entropy_with_logits(
             x, c(x, {0.0, 1.0, 0.0, 1.0, 0.5, 1.0, 0.0}),
             nn::BCEWithLogitsLossOptions().reduction(nn::Reduction::none));
       }},
      {"exp_limits", [](const Tensor& x) { return exp(x); }},
      {"log_limits", [](const Tensor& x) { return log(x); }},
      {"pow_0_0", [](const Tensor& x) { return pow(x, 0.0); }},
      {"pow_0_neg1", [](const Tensor& x) { return pow(x, -1.0); }},
      {"pow_0_neg_half", [](const Tensor& x) { return pow(x, -0.5); }},
      {"pow_0_half", [](const Tensor& x) { return pow(x, 0.5); }},
      {"pow_neg_fractional", [](const Tensor& x) { return pow(x, 1.0 / 3.0); }},
      {"pow_large_exponent", [](const Tensor& x) { return pow(x, 1000.0); }},
      {"pow_square_large", [](const Tensor& x) { return pow(x, 2.0); }},
      {"pow_tensor_base",
       [](const Tensor& x) {
         return pow(x, c(x, {0.0, 2.0, -1.0, 1.0 / 3.0, 1000.0, 0.5}));
       }},
      {"pow_tensor_exponent",
       [](const Tensor& x) {
         return pow(c(x, {0.0, 0.0, 0.0, -8.0, 2.0, 0.0}), x);
       }},
      {"pow_scalar_base", [](const Tensor& x) { return pow(0.0, x) + pow(2.0, x); }},
      {"batchnorm1d_zero_var", [](const Tensor& x) { return batchnorm(x, false); }},
      {"batchnorm1d_running_var",
       [](const Tensor& x) {
         nn::BatchNorm1d m(3);
         m.to(x.dtype());
         m.forward(x);
         return m.running_var() * 1.0 + m.running_mean() * x.sum() * 0.0;
       }},
      {"batchnorm2d_zero_var", [](const Tensor& x) { return batchnorm(x, true); }},
  };
  return m;
}

/// "" when got matches want (nan where nan, the same infinities, finite values within
/// atol + rtol |want|), else the first difference.
std::string compare(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                    double atol) {
  if (got.size() != want.size())
    return "size " + std::to_string(got.size()) + " != " + std::to_string(want.size());
  std::ostringstream os;
  os.precision(17);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w))
      ok = std::isnan(g);
    else if (std::isinf(w))
      ok = g == w;
    else
      ok = std::isfinite(g) && std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok) os << "element " << i << ": xgrad " << g << ", PyTorch " << w << "; ";
  }
  return os.str();
}

}  // namespace

TEST_CASE("numerics at the limits match PyTorch 1.13: values and gradients, float32 and float64") {
  REQUIRE(kLimits.size() == 2 * cases().size());
  for (const LimitCase& k : kLimits) {
    const Dtype dt = k.f64 ? Dtype::float64 : Dtype::float32;
    INFO("case " << std::string(k.name) << " (" << std::string(dtype_name(dt)) << ")");
    const auto it = cases().find(k.name);
    REQUIRE(it != cases().end());
    Tensor x = tensor(k.x, k.shape, dt).requires_grad_();
    Tensor y = it->second(x);
    REQUIRE(y.shape() == k.y_shape);
    REQUIRE(y.dtype() == dt);
    std::vector<double> w(y.numel());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 1.0 + 0.25 * static_cast<double>(i);
    y.backward(tensor(w, y.shape(), dt));
    const std::vector<double> g =
        x.grad().defined() ? x.grad().to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    // float32: PyTorch and xgrad round differently (e.g. BatchNorm's float32 mean leaves 3e-5
    // where the exact answer is 0); float64 agrees to the last digits
    const double rtol = k.f64 ? 1e-9 : 1e-4, atol = k.f64 ? 1e-12 : 1e-4;
    CHECK_MESSAGE(compare(y.to_vector<double>(), k.y, rtol, atol) == "", "values");
    CHECK_MESSAGE(compare(g, k.grad, rtol, atol) == "", "gradient");
  }
}

TEST_CASE("BatchNorm in training refuses one value per channel, as PyTorch") {
  nn::BatchNorm1d m(3);
  const std::string msg = xg::test::error_of([&] {
    m.forward(tensor({3.0, 3.0, 3.0}, {1, 3, 1}));
  });
  CHECK(msg.find("BatchNorm1d") != std::string::npos);
  CHECK(msg.find("more than 1 value per channel") != std::string::npos);
}
