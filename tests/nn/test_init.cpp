// nn::init: gains and fans as PyTorch 1.13, distribution bounds and moments on large tensors,
// the default init of Linear and Conv2d, seeding, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {
struct Moments {
  double mean, std, min, max;
};
Moments moments(const Tensor& t) {
  const auto v = t.to_vector<double>();
  double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
  for (double x : v) {
    s += x;
    s2 += x * x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const double n = double(v.size()), m = s / n;
  return {m, std::sqrt(s2 / n - m * m), lo, hi};
}
}  // namespace

TEST_CASE("nn::init::calculate_gain and fans follow PyTorch") {
  using nn::init::calculate_gain;
  CHECK(calculate_gain("linear") == 1.0);
  CHECK(calculate_gain("conv2d") == 1.0);
  CHECK(calculate_gain("sigmoid") == 1.0);
  CHECK(calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
  CHECK(calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK(calculate_gain("leaky_relu") == doctest::Approx(std::sqrt(2.0 / (1 + 0.0001))));
  CHECK(calculate_gain("leaky_relu", 0.2) == doctest::Approx(1.3867504905630728));  // PyTorch
  CHECK(calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));
  CHECK(calculate_gain("selu") == 0.75);
  CHECK(error_of([] { calculate_gain("swish"); }).find("unsupported nonlinearity \"swish\"") !=
        std::string::npos);

  auto [in, out] = nn::init::calculate_fan_in_and_fan_out(zeros({8, 3, 5, 5}));
  CHECK(in == 75);
  CHECK(out == 200);
  auto [in2, out2] = nn::init::calculate_fan_in_and_fan_out(zeros({256, 784}));
  CHECK(in2 == 784);
  CHECK(out2 == 256);
  CHECK(error_of([] { nn::init::calculate_fan_in_and_fan_out(zeros({5})); }) ==
        "nn::init: fan in and fan out can not be computed for a tensor with fewer than 2 "
        "dimensions (shape [5])");
}

TEST_CASE("nn::init uniform_/normal_/constant_ fill in place without recording") {
  manual_seed(1);
  Tensor w = zeros({200, 500}).requires_grad_();
  const void* buffer = w.data_ptr<float>();
  nn::init::uniform_(w, -0.5, 2.0);
  CHECK(w.data_ptr<float>() == buffer);  // in place, the same tensor
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  CHECK(w.version() > 0);
  Moments m = moments(w);
  CHECK(m.min >= -0.5);
  CHECK(m.max <= 2.0);
  CHECK(m.mean == doctest::Approx(0.75).epsilon(0.01));                  // U(a, b): (a + b) / 2
  CHECK(m.std == doctest::Approx(2.5 / std::sqrt(12.0)).epsilon(0.01));  // (b - a) / sqrt(12)

  Tensor n = zeros({100000}, Dtype::float64);
  nn::init::normal_(n, 3.0, 0.5);
  m = moments(n);
  CHECK(m.mean == doctest::Approx(3.0).epsilon(0.002));  // std error 0.0016
  CHECK(m.std == doctest::Approx(0.5).epsilon(0.01));

  nn::init::constant_(n, 0.25);
  CHECK(moments(n).min == 0.25);
  CHECK(moments(n).max == 0.25);
  nn::init::ones_(n);
  CHECK(moments(n).mean == 1.0);
  nn::init::zeros_(w);
  CHECK(moments(w).max == 0.0);

  CHECK(error_of([] { nn::init::uniform_(zeros({2}), 1.0, 0.0); }) ==
        "nn::init::uniform_: expects a <= b, got a=1.0, b=0.0");
  CHECK(error_of([] { nn::init::normal_(zeros({2}), 0.0, -1.0); }) ==
        "nn::init::normal_: expects std >= 0.0, got -1.0");
  CHECK(error_of([] { nn::init::uniform_(zeros({2}), 0.0, INFINITY); }) ==
        "nn::init::uniform_: b must be finite, got inf");
  CHECK(error_of([] { nn::init::zeros_(zeros({2}, Dtype::int64)); }).find("int64") !=
        std::string::npos);
  CHECK_THROWS_AS(nn::init::ones_(Tensor()), std::invalid_argument);
}

TEST_CASE("nn::init xavier and kaiming: bounds and standard deviations") {
  manual_seed(2);
  Tensor w = zeros({400, 300});  // fan_in 300, fan_out 400
  nn::init::xavier_uniform_(w, 2.0);
  double bound = 2.0 * std::sqrt(6.0 / 700.0);
  Moments m = moments(w);
  CHECK(m.min >= -bound);
  CHECK(m.max <= bound);
  CHECK(m.max > 0.99 * bound);
  CHECK(m.std == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.01));

  nn::init::xavier_normal_(w);
  m = moments(w);
  CHECK(m.std == doctest::Approx(std::sqrt(2.0 / 700.0)).epsilon(0.01));
  CHECK(std::abs(m.mean) < 0.001);

  nn::init::kaiming_uniform_(w, 0.0, "fan_in", "relu");
  bound = std::sqrt(3.0) * std::sqrt(2.0) / std::sqrt(300.0);
  m = moments(w);
  CHECK(m.min >= -bound);
  CHECK(m.max <= bound);
  CHECK(m.std == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.01));

  Tensor c = zeros({64, 16, 3, 3}, Dtype::float64);  // fan_out 576
  nn::init::kaiming_normal_(c, 0.0, "fan_out", "relu");
  CHECK(moments(c).std == doctest::Approx(std::sqrt(2.0 / 576.0)).epsilon(0.02));
  nn::init::kaiming_normal_(c, 0.1);  // leaky_relu(0.1), fan_in 144
  CHECK(moments(c).std == doctest::Approx(std::sqrt(2.0 / 1.01) / std::sqrt(144.0)).epsilon(0.02));

  CHECK(error_of([] {
          nn::init::kaiming_uniform_(zeros({2, 2}), 0, "fan_avg");
        }) ==
        "nn::init::kaiming_uniform_: mode \"fan_avg\" not supported, please use \"fan_in\" or "
        "\"fan_out\"");
  CHECK(error_of([] { nn::init::xavier_uniform_(zeros({3})); }).find("fewer than 2 dimensions") !=
        std::string::npos);
  CHECK(error_of([] {
          nn::init::xavier_normal_(zeros({2, 2}), NAN);
        }) == "nn::init::xavier_normal_: gain must be finite, got nan");
  // Zero-element tensors: nothing to draw, no error (as PyTorch).
  CHECK(nn::init::kaiming_uniform_(zeros({0, 3})).numel() == 0);
}

TEST_CASE("Default init of Linear and Conv2d is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), seeded") {
  manual_seed(7);
  nn::Linear lin(400, 300);
  double bound = 1.0 / std::sqrt(400.0);
  Moments m = moments(lin.weight());
  CHECK(m.min >= -bound);
  CHECK(m.max <= bound);
  CHECK(m.max > 0.99 * bound);
  CHECK(m.std == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.01));
  m = moments(lin.bias());
  CHECK(m.min >= -bound);
  CHECK(m.max <= bound);
  CHECK(m.max > 0.8 * bound);

  nn::Conv2d conv(16, 64, 3);  // fan_in 144
  bound = 1.0 / 12.0;
  m = moments(conv.weight());
  CHECK(m.min >= -bound);
  CHECK(m.max <= bound);
  CHECK(m.std == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  m = moments(conv.bias());
  CHECK(m.max <= bound);
  CHECK(m.min >= -bound);

  // The same seed gives the same parameters; reset_parameters draws new ones.
  manual_seed(42);
  nn::Linear a(5, 3);
  manual_seed(42);
  nn::Linear b(5, 3);
  CHECK(a.weight().to_vector<float>() == b.weight().to_vector<float>());
  CHECK(a.bias().to_vector<float>() == b.bias().to_vector<float>());
  b.reset_parameters();
  CHECK(a.weight().to_vector<float>() != b.weight().to_vector<float>());
}
