// nn layers: values and gradients against PyTorch 1.13 (goldens from tests/goldens/nn_layers.py,
// pasted as tests/nn/layers_goldens.hpp), gradcheck/gradgradcheck through layers, BatchNorm
// statistics and modes, Sequential, printing and option validation.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/nn/layers_goldens.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {
/// The goldens' deterministic inputs: scale * sin(a k + b) over the elements k, float64.
Tensor det(const Shape& shape, double a = 0.37, double b = 0.1, double scale = 1.0) {
  Tensor t = zeros(shape, Dtype::float64);
  double* p = t.data_ptr<double>();
  for (std::size_t k = 0; k < t.numel(); ++k) p[k] = scale * std::sin(a * double(k) + b);
  return t;
}
/// The upstream gradient g of the goldens' loss sum(y * g): cos(0.3 k).
Tensor upstream(const Tensor& y) {
  Tensor t = zeros(y.shape(), Dtype::float64);
  double* p = t.data_ptr<double>();
  for (std::size_t k = 0; k < t.numel(); ++k) p[k] = std::cos(0.3 * double(k));
  return t;
}
/// Every element of t within tol of `expected`.
void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-10) {
  REQUIRE(t.defined());
  const auto v = t.to_vector<double>();
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    INFO("element " << i);
    CHECK(v[i] == doctest::Approx(expected[i]).epsilon(tol).scale(1.0));
  }
}
/// Sets a registered parameter's values (float64 module).
void set(Tensor p, const Tensor& values) {
  NoGradGuard no_grad;
  p.copy_(values);
}
/// Runs m on x (float64), backwards sum(y * g); checks y's shape and values and x's gradient.
Tensor run(nn::Module& m, const Tensor& x_in, const Shape& out_shape, const std::vector<double>& y,
           const std::vector<double>& gx) {
  Tensor x = x_in.clone().detach().requires_grad_();
  Tensor out = m(x);
  CHECK(out.shape() == out_shape);
  check_values(out, y);
  sum(out * upstream(out)).backward();
  check_values(x.grad(), gx);
  return out;
}
}  // namespace

// ---------------------------------------------------------------- Linear, Flatten

TEST_CASE("nn::Linear matches PyTorch (output, input and parameter gradients)") {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  lin->to(Dtype::float64);
  set(lin->weight(), det({2, 3}, 0.7));
  set(lin->bias(), det({2}, 1.3));
  run(*lin, det({4, 3}), golden::linear_out_shape, golden::linear_y, golden::linear_gx);
  check_values(lin->weight().grad(), golden::linear_gweight);
  check_values(lin->bias().grad(), golden::linear_gbias);
}

TEST_CASE("nn::Linear options, printing, shapes and errors") {
  nn::Linear a(784, 256);
  CHECK(a.extra_repr() == "in_features=784, out_features=256, bias=true");
  CHECK(a.to_string() == "Linear(in_features=784, out_features=256, bias=true)");
  CHECK(a.weight().shape() == Shape{256, 784});
  CHECK(a.bias().shape() == Shape{256});
  CHECK(a.weight().requires_grad());
  CHECK(a.weight().is_leaf());
  nn::Linear b(nn::LinearOptions(4, 3).bias(false));
  CHECK(b.to_string() == "Linear(in_features=4, out_features=3, bias=false)");
  CHECK(!b.bias().defined());
  CHECK(b.parameters().size() == 1);
  CHECK(b.options.in_features() == 4);
  // Batched leading dims [2, 5, 4] -> [2, 5, 3]; no bias: x W^T exactly.
  Tensor x = randn({2, 5, 4});
  CHECK(b(x).shape() == Shape{2, 5, 3});
  Tensor ref = matmul(x, b.weight().t());
  const auto y = b(x).to_vector<float>(), r = ref.to_vector<float>();
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(r[i]).epsilon(1e-5));
  CHECK(error_of([&] {
          a(zeros({2, 100}));
        }) ==
        "Linear(in_features=784, out_features=256, bias=true): expected an input of shape [*, "
        "784], got [2, 100]");
  CHECK(error_of([&] {
          a(zeros({2, 784}, Dtype::float64));
        }).find("the input is float64 but the parameters are float32") != std::string::npos);
  CHECK(error_of([&] {
          a(zeros({2, 784}, Dtype::int64));
        }).find("expected a floating point input") != std::string::npos);
  CHECK(error_of([&] { a(scalar_tensor(1.0)); }).find("got []") != std::string::npos);
  CHECK(error_of([] { nn::Linear(-1, 3); }) ==
        "Linear: in_features and out_features must be non-negative, got in_features=-1, "
        "out_features=3");
  // Zero-size layers work (as PyTorch): Linear(0, 2) gives the bias.
  nn::Linear z(0, 2);
  CHECK(z(zeros({3, 0})).shape() == Shape{3, 2});
}

TEST_CASE("nn::Linear keeps working after to(float64) (accessors read the registry)") {
  nn::Linear lin(2, 2);
  lin.to(Dtype::float64);
  CHECK(lin.weight().dtype() == Dtype::float64);
  nn::init::zeros_(lin.weight());
  for (double v : lin.parameters()[0].to_vector<double>()) CHECK(v == 0.0);
  CHECK(lin(ones({1, 2}, Dtype::float64)).dtype() == Dtype::float64);
}

TEST_CASE("nn::Flatten and Identity") {
  nn::Flatten f;
  CHECK(f.to_string() == "Flatten(start_dim=1, end_dim=-1)");
  CHECK(f(zeros({2, 1, 28, 28})).shape() == Shape{2, 784});
  nn::Flatten g(0, 2);
  CHECK(g.extra_repr() == "start_dim=0, end_dim=2");
  CHECK(g(zeros({2, 3, 4, 5})).shape() == Shape{24, 5});
  CHECK(nn::Flatten(nn::FlattenOptions().start_dim(2))(zeros({2, 3, 4, 5})).shape() ==
        Shape{2, 3, 20});
  CHECK_THROWS_AS(f(zeros({2})), std::invalid_argument);  // dim 1 out of range for 1-D
  nn::Identity id;
  Tensor x = randn({3});
  CHECK(id(x).is_same(x));
  CHECK(id.to_string() == "Identity()");
}

// ---------------------------------------------------------------- Conv2d

TEST_CASE("nn::Conv2d matches PyTorch: padding, stride/dilation, groups 2 and depthwise") {
  struct Case {
    const char* name;
    nn::Conv2dOptions options;
    const Shape& shape;
    const std::vector<double>& y;
    const std::vector<double>& gx;
    const std::vector<double>& gw;
    const std::vector<double>* gb;
  };
  const Case cases[] = {
      {"groups 1, padding 1", nn::Conv2dOptions(4, 3, 3).padding(1), golden::conv_g1_out_shape,
       golden::conv_g1_y, golden::conv_g1_gx, golden::conv_g1_gweight, &golden::conv_g1_gbias},
      {"stride (2, 1), padding (1, 0), dilation (1, 2)",
       nn::Conv2dOptions(4, 2, {3, 2}).stride({2, 1}).padding({1, 0}).dilation({1, 2}),
       golden::conv_s2_out_shape, golden::conv_s2_y, golden::conv_s2_gx, golden::conv_s2_gweight,
       &golden::conv_s2_gbias},
      {"groups 2", nn::Conv2dOptions(4, 6, 3).padding(1).groups(2), golden::conv_g2_out_shape,
       golden::conv_g2_y, golden::conv_g2_gx, golden::conv_g2_gweight, &golden::conv_g2_gbias},
      {"groups 4 (depthwise), no bias", nn::Conv2dOptions(4, 4, 2).stride(2).groups(4).bias(false),
       golden::conv_g4_out_shape, golden::conv_g4_y, golden::conv_g4_gx, golden::conv_g4_gweight,
       nullptr},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    nn::Conv2d conv(c.options);
    conv.to(Dtype::float64);
    set(conv.weight(), det(conv.weight().shape(), 0.5));
    if (conv.bias().defined()) set(conv.bias(), det(conv.bias().shape(), 0.9));
    run(conv, det({2, 4, 5, 6}, 0.23), c.shape, c.y, c.gx);
    check_values(conv.weight().grad(), c.gw);
    if (c.gb) check_values(conv.bias().grad(), *c.gb);
  }
}

TEST_CASE("nn::Conv2d printing, shapes, unbatched input and errors") {
  nn::Conv2d a(nn::Conv2dOptions(1, 8, 3).padding(1).stride(1).dilation(1).groups(1).bias(true));
  CHECK(a.to_string() == "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  CHECK(a.weight().shape() == Shape{8, 1, 3, 3});
  nn::Conv2d b(1, 8, 3);
  CHECK(b.extra_repr() == "1, 8, kernel_size=(3, 3), stride=(1, 1)");
  nn::Conv2d c(nn::Conv2dOptions(4, 6, {3, 5}).stride({2, 1}).dilation(2).groups(2).bias(false));
  CHECK(c.extra_repr() ==
        "4, 6, kernel_size=(3, 5), stride=(2, 1), dilation=(2, 2), groups=2, bias=false");
  CHECK(c.weight().shape() == Shape{6, 2, 3, 5});
  CHECK(!c.bias().defined());
  // [C, H, W] runs as a batch of one.
  CHECK(a(zeros({1, 28, 28})).shape() == Shape{8, 28, 28});
  CHECK(a(zeros({5, 1, 28, 28})).shape() == Shape{5, 8, 28, 28});

  CHECK(error_of([&] {
          a(zeros({2, 3, 28, 28}));
        }) ==
        "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)): expected 1 input "
        "channels (dim 1), got input shape [2, 3, 28, 28]");
  CHECK(error_of([&] {
          a(zeros({28, 28}));
        }).find("expected a 3-D [C, H, W] or 4-D") != std::string::npos);
  CHECK(error_of([] { nn::Conv2d(nn::Conv2dOptions(3, 6, 3).groups(2)); }) ==
        "Conv2d: in_channels (3) must be divisible by groups (2)");
  CHECK(error_of([] { nn::Conv2d(nn::Conv2dOptions(4, 6, 3).groups(4)); }) ==
        "Conv2d: out_channels (6) must be divisible by groups (4)");
  CHECK(error_of([] { nn::Conv2d(nn::Conv2dOptions(4, 6, 3).groups(0)); }) ==
        "Conv2d: groups must be positive, got 0");
  CHECK(error_of([] { nn::Conv2d(1, 8, 0); }) ==
        "Conv2d: kernel_size must be positive, got (0, 0)");
  CHECK(error_of([] { nn::Conv2d(nn::Conv2dOptions(1, 8, 3).padding(-1)); }) ==
        "Conv2d: padding must be non-negative, got (-1, -1)");
  CHECK(error_of([] {
          nn::Conv2d(nn::Conv2dOptions(1, 8, 3).stride({1, 2, 3}));
        }) == "Conv2d: stride must be one number or 2 numbers {h, w}, got 3 numbers");
  CHECK(error_of([] { nn::Conv2d(0, 8, 3); }) ==
        "Conv2d: in_channels and out_channels must be positive, got in_channels=0, "
        "out_channels=8");
}

// ---------------------------------------------------------------- pooling

TEST_CASE("nn pooling layers match PyTorch") {
  const Tensor x = det({2, 3, 5, 7}, 0.61);
  SUBCASE("MaxPool2d(2)") {
    nn::MaxPool2d m(2);
    run(m, x, golden::maxpool_out_shape, golden::maxpool_y, golden::maxpool_gx);
  }
  SUBCASE("MaxPool2d(3, stride 2, padding 1)") {
    nn::MaxPool2d m(nn::MaxPool2dOptions(3).stride(2).padding(1));
    run(m, x, golden::maxpool_pad_out_shape, golden::maxpool_pad_y, golden::maxpool_pad_gx);
  }
  SUBCASE("MaxPool2d((2, 3), stride (1, 2), dilation (2, 1))") {
    nn::MaxPool2d m(nn::MaxPool2dOptions({2, 3}).stride({1, 2}).dilation({2, 1}));
    run(m, x, golden::maxpool_dil_out_shape, golden::maxpool_dil_y, golden::maxpool_dil_gx);
  }
  SUBCASE("AvgPool2d(2)") {
    nn::AvgPool2d m(2);
    run(m, x, golden::avgpool_out_shape, golden::avgpool_y, golden::avgpool_gx);
  }
  SUBCASE("AvgPool2d(3, stride 2, padding 1)") {
    nn::AvgPool2d m(nn::AvgPool2dOptions(3).stride(2).padding(1));
    run(m, x, golden::avgpool_pad_out_shape, golden::avgpool_pad_y, golden::avgpool_pad_gx);
  }
  SUBCASE("AdaptiveAvgPool2d((3, 4)): overlapping windows") {
    nn::AdaptiveAvgPool2d m({3, 4});
    run(m, x, golden::adaptive_3x4_out_shape, golden::adaptive_3x4_y, golden::adaptive_3x4_gx);
  }
  SUBCASE("AdaptiveAvgPool2d(1): global average") {
    nn::AdaptiveAvgPool2d m(1);
    run(m, x, golden::adaptive_1_out_shape, golden::adaptive_1_y, golden::adaptive_1_gx);
  }
  SUBCASE("AdaptiveAvgPool2d((5, 1)): identity rows, mean columns") {
    nn::AdaptiveAvgPool2d m({5, 1});
    run(m, x, golden::adaptive_5x1_out_shape, golden::adaptive_5x1_y, golden::adaptive_5x1_gx);
  }
  SUBCASE("AdaptiveAvgPool2d((7, 9)): output larger than the input") {
    nn::AdaptiveAvgPool2d m({7, 9});
    run(m, x, golden::adaptive_big_out_shape, golden::adaptive_big_y, golden::adaptive_big_gx);
  }
}

TEST_CASE("nn pooling: divisible adaptive windows, printing and errors") {
  // 6x4 -> 3x2 takes the reshape path: equal to AvgPool2d((2, 2)).
  Tensor x = randn({2, 3, 6, 4}, Dtype::float64);
  const auto a = nn::AdaptiveAvgPool2d({3, 2})(x).to_vector<double>();
  const auto b = nn::AvgPool2d(2)(x).to_vector<double>();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));
  CHECK(nn::AdaptiveAvgPool2d(1)(zeros({3, 5, 5})).shape() == Shape{3, 1, 1});

  CHECK(nn::MaxPool2d(2).to_string() ==
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1)");
  CHECK(nn::MaxPool2d(nn::MaxPool2dOptions({2, 3}).stride(1)).extra_repr() ==
        "kernel_size=(2, 3), stride=1, padding=0, dilation=1");
  CHECK(nn::AvgPool2d(nn::AvgPool2dOptions(3).stride(2).padding(1)).to_string() ==
        "AvgPool2d(kernel_size=3, stride=2, padding=1)");
  CHECK(nn::AdaptiveAvgPool2d(1).to_string() == "AdaptiveAvgPool2d(output_size=1)");
  CHECK(nn::AdaptiveAvgPool2d({2, 3}).to_string() == "AdaptiveAvgPool2d(output_size=(2, 3))");

  CHECK(error_of([] { nn::MaxPool2d(nn::MaxPool2dOptions(2).padding(2)); }) ==
        "MaxPool2d: padding (2, 2) must be at most half of kernel_size (2, 2)");
  CHECK(error_of([] { nn::AvgPool2d(nn::AvgPool2dOptions(2).stride(0)); }) ==
        "AvgPool2d: stride must be positive, got (0, 0)");
  CHECK(error_of([] {
          nn::AdaptiveAvgPool2d({0, 2});
        }) == "AdaptiveAvgPool2d: output_size must be positive, got (0, 2)");
  CHECK(error_of([] {
          nn::AdaptiveAvgPool2d(2)(zeros({1, 1, 0, 3}));
        }).find("spatial size must be non-zero") != std::string::npos);
  CHECK(error_of([] {
          nn::MaxPool2d(2)(zeros({4, 4}));
        }) ==
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1): expected a 3-D [C, H, W] or "
        "4-D [N, C, H, W] input, got shape [4, 4]");
  CHECK_THROWS_AS(nn::MaxPool2d(3)(zeros({1, 1, 2, 2})), std::invalid_argument);  // too small
}

// ---------------------------------------------------------------- activations

TEST_CASE("nn activations match PyTorch") {
  const Tensor x = det({3, 4}, 0.9, 0.2, 2.5);
  SUBCASE("LeakyReLU(0.2)") {
    nn::LeakyReLU m(0.2);
    run(m, x, golden::leaky_out_shape, golden::leaky_y, golden::leaky_gx);
  }
  SUBCASE("GELU") {
    nn::GELU m;
    run(m, x, golden::gelu_out_shape, golden::gelu_y, golden::gelu_gx);
  }
  SUBCASE("GELU tanh") {
    nn::GELU m(nn::GELUOptions().approximate("tanh"));
    run(m, x, golden::gelu_tanh_out_shape, golden::gelu_tanh_y, golden::gelu_tanh_gx);
  }
  SUBCASE("Softmax(0)") {
    nn::Softmax m(0);
    run(m, x, golden::softmax0_out_shape, golden::softmax0_y, golden::softmax0_gx);
  }
  SUBCASE("LogSoftmax(1)") {
    nn::LogSoftmax m(1);
    run(m, x, golden::logsoftmax1_out_shape, golden::logsoftmax1_y, golden::logsoftmax1_gx);
  }
}

TEST_CASE("nn activations: hand-computed values, printing and errors") {
  Tensor x = tensor({-2.0, 0.0, 3.0}, {3}, Dtype::float64);
  CHECK(nn::ReLU()(x).to_vector<double>() == std::vector<double>{0, 0, 3});
  CHECK(nn::LeakyReLU()(x).to_vector<double>() == std::vector<double>{-0.02, 0, 3});
  const auto s = nn::Sigmoid()(x).to_vector<double>();
  CHECK(s[0] == doctest::Approx(1 / (1 + std::exp(2.0))));
  CHECK(s[1] == 0.5);
  const auto t = nn::Tanh()(x).to_vector<double>();
  CHECK(t[2] == doctest::Approx(std::tanh(3.0)));
  CHECK(nn::ReLU().to_string() == "ReLU()");
  CHECK(nn::Sigmoid().to_string() == "Sigmoid()");
  CHECK(nn::Tanh().to_string() == "Tanh()");
  CHECK(nn::LeakyReLU().to_string() == "LeakyReLU(negative_slope=0.01)");
  CHECK(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)).extra_repr() ==
        "negative_slope=0.2");
  CHECK(nn::GELU().to_string() == "GELU(approximate='none')");
  CHECK(nn::Softmax(1).to_string() == "Softmax(dim=1)");
  CHECK(nn::LogSoftmax(-1).to_string() == "LogSoftmax(dim=-1)");
  CHECK(error_of([] { nn::GELU(nn::GELUOptions().approximate("fast")); }) ==
        "GELU: approximate must be \"none\" or \"tanh\", got \"fast\"");
  CHECK(error_of([] { nn::LeakyReLU(NAN); }) ==
        "LeakyReLU: negative_slope must be finite, got nan");
  CHECK_THROWS_AS(nn::Softmax(2)(zeros({2, 2})), std::invalid_argument);  // dim out of range
}

// ---------------------------------------------------------------- Dropout

TEST_CASE("Layer printing writes floats as Python's repr") {
  CHECK(nn::Dropout(1e-4).extra_repr() == "p=0.0001");
  CHECK(nn::Dropout(0.1).extra_repr() == "p=0.1");
  CHECK(nn::Dropout(1).extra_repr() == "p=1.0");
  CHECK(nn::LeakyReLU(1e20).extra_repr() == "negative_slope=1e+20");
  CHECK(nn::LeakyReLU(-123.25).extra_repr() == "negative_slope=-123.25");
  CHECK(nn::LeakyReLU(1e15).extra_repr() == "negative_slope=1000000000000000.0");
  CHECK(nn::LeakyReLU(1e16).extra_repr() == "negative_slope=1e+16");
  CHECK(nn::BatchNorm1d(nn::BatchNormOptions(2).eps(1e-3)).extra_repr().find("eps=0.001,") !=
        std::string::npos);
  CHECK(nn::BatchNorm1d(nn::BatchNormOptions(2).eps(2.5e-7)).extra_repr().find("eps=2.5e-07,") !=
        std::string::npos);
}

TEST_CASE("nn::Dropout: training zeroes about p and scales by 1/(1-p); eval is the identity") {
  manual_seed(3);
  nn::Dropout d(0.25);
  CHECK(d.to_string() == "Dropout(p=0.25)");
  CHECK(nn::Dropout().extra_repr() == "p=0.5");
  Tensor x = ones({100000}, Dtype::float64);
  const auto y = d(x).to_vector<double>();
  std::size_t zeros_n = 0;
  for (double v : y) {
    if (v == 0)
      ++zeros_n;
    else
      CHECK(v == doctest::Approx(1 / 0.75));
  }
  // Binomial(1e5, 0.25): std 137; 0.25 +- 0.005 is over 3.6 std.
  CHECK(double(zeros_n) / 1e5 == doctest::Approx(0.25).epsilon(0.02));
  d.eval();
  CHECK(d(x).is_same(x));
  d.train();
  CHECK(nn::Dropout(0.0)(x).is_same(x));
  CHECK(nn::Dropout(1.0)(x).sum().item<double>() == 0.0);
  CHECK(error_of([] { nn::Dropout(1.5); }) ==
        "Dropout: dropout probability has to be between 0 and 1, but got 1.5");
  CHECK(error_of([] { nn::Dropout(NAN); }) ==
        "Dropout: dropout probability has to be between 0 and 1, but got nan");
}

// ---------------------------------------------------------------- BatchNorm

TEST_CASE("nn::BatchNorm2d matches PyTorch over two training steps and in eval") {
  nn::BatchNorm2d bn(3);
  bn.to(Dtype::float64);
  set(bn.weight(), det({3}, 0.8, 1.0));
  set(bn.bias(), det({3}, 0.4, 0.5));
  CHECK(bn.num_batches_tracked().dtype() == Dtype::int64);
  CHECK(bn.num_batches_tracked().dim() == 0);
  bn(det({2, 3, 2, 3}, 0.41, 0.0, 2.0));
  check_values(bn.running_mean(), golden::bn2d_rm1);
  check_values(bn.running_var(), golden::bn2d_rv1);
  CHECK(bn.num_batches_tracked().item<int64_t>() == 1);
  run(bn, det({2, 3, 2, 3}, 0.29, 1.0, 3.0) + 1.0, golden::bn2d_step2_out_shape,
      golden::bn2d_step2_y, golden::bn2d_step2_gx);
  check_values(bn.weight().grad(), golden::bn2d_step2_gweight);
  check_values(bn.bias().grad(), golden::bn2d_step2_gbias);
  check_values(bn.running_mean(), golden::bn2d_rm2);
  check_values(bn.running_var(), golden::bn2d_rv2);
  CHECK(bn.num_batches_tracked().item<int64_t>() == 2);
  bn.eval();
  run(bn, det({2, 3, 2, 3}, 0.77, 0.3), golden::bn2d_eval_out_shape, golden::bn2d_eval_y,
      golden::bn2d_eval_gx);
  // Eval changes no statistics.
  check_values(bn.running_mean(), golden::bn2d_rm2);
  CHECK(bn.num_batches_tracked().item<int64_t>() == 2);
}

TEST_CASE("nn::BatchNorm1d matches PyTorch on [N, C] and [N, C, L]; cumulative momentum") {
  nn::BatchNorm1d bn(nn::BatchNormOptions(4).momentum(0.3));
  bn.to(Dtype::float64);
  set(bn.weight(), det({4}, 0.8, 1.0));
  set(bn.bias(), det({4}, 0.4, 0.5));
  run(bn, det({5, 4}, 0.53), golden::bn1d_2d_out_shape, golden::bn1d_2d_y, golden::bn1d_2d_gx);
  check_values(bn.weight().grad(), golden::bn1d_2d_gweight);
  check_values(bn.bias().grad(), golden::bn1d_2d_gbias);
  run(bn, det({3, 4, 2}, 0.31, 0.7), golden::bn1d_3d_out_shape, golden::bn1d_3d_y,
      golden::bn1d_3d_gx);
  check_values(bn.running_mean(), golden::bn1d_rm);
  check_values(bn.running_var(), golden::bn1d_rv);

  nn::BatchNorm1d cum(nn::BatchNormOptions(4).momentum(std::nullopt).affine(false));
  cum.to(Dtype::float64);
  CHECK(cum.parameters().empty());
  cum(det({5, 4}, 0.53));
  cum(det({3, 4, 2}, 0.31, 0.7));
  check_values(cum.running_mean(), golden::bn1d_cum_rm);
  check_values(cum.running_var(), golden::bn1d_cum_rv);
  CHECK(cum.to_string() ==
        "BatchNorm1d(4, eps=1e-05, momentum=None, affine=false, track_running_stats=true)");
}

TEST_CASE("nn::BatchNorm: registry, printing, modes without running stats, errors") {
  nn::BatchNorm2d bn(8);
  CHECK(bn.to_string() ==
        "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");
  std::vector<std::string> keys;
  for (auto& [name, t] : bn.state_dict()) keys.push_back(name);
  CHECK(keys == std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                         "num_batches_tracked"});
  bn.to(Dtype::float64);
  CHECK(bn.running_var().dtype() == Dtype::float64);
  CHECK(bn.num_batches_tracked().dtype() == Dtype::int64);  // stays int64
  CHECK(bn.weight().to_vector<double>() == std::vector<double>(8, 1.0));
  CHECK(bn.bias().to_vector<double>() == std::vector<double>(8, 0.0));

  // Training output: each channel has mean 0 and biased variance var / (var + eps).
  Tensor x = randn({4, 8, 3, 3}, Dtype::float64) * 3.0 + 2.0;
  Tensor y = bn(x);
  const auto m = mean(y, {0, 2, 3}).to_vector<double>();
  const auto v = var(y, {0, 2, 3}, false, 0).to_vector<double>();
  for (int c = 0; c < 8; ++c) {
    CHECK(std::abs(m[c]) < 1e-12);
    CHECK(v[c] == doctest::Approx(1.0).epsilon(1e-5));
  }
  bn.reset_running_stats();
  CHECK(bn.num_batches_tracked().item<int64_t>() == 0);
  CHECK(bn.running_var().to_vector<double>() == std::vector<double>(8, 1.0));

  // Without running statistics: no buffers, batch statistics in eval mode too.
  nn::BatchNorm2d nb(nn::BatchNormOptions(8).track_running_stats(false));
  nb.to(Dtype::float64);
  CHECK(nb.buffers().empty());
  nb.eval();
  const auto a = nb(x).to_vector<double>(), b = y.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]));

  CHECK(error_of([&] {
          bn(x.reshape({4, 8, 9}));
        }) ==
        "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true): "
        "expected a 4-D [N, C, H, W] input, got shape [4, 8, 9]");
  CHECK(error_of([&] {
          bn(zeros({1, 8, 1, 1}, Dtype::float64));
        })
            .find("expected more than 1 value per channel when training, got input shape [1, 8, "
                  "1, 1]") != std::string::npos);
  CHECK(error_of([&] {
          bn(zeros({2, 3, 2, 2}, Dtype::float64));
        }).find("expected 8 channels (dim 1), got input shape [2, 3, 2, 2]") != std::string::npos);
  CHECK(error_of([&] {
          bn(zeros({2, 8, 2, 2}));
        }).find("the input is float32 but the parameters are float64") != std::string::npos);
  CHECK(error_of([] {
          nn::BatchNorm1d(3)(zeros({2, 3, 4, 5}));
        }).find("expected a 2-D [N, C] or 3-D [N, C, L] input") != std::string::npos);
  CHECK(error_of([] { nn::BatchNorm2d(0); }) ==
        "BatchNorm2d: num_features must be positive, got 0");
  CHECK(error_of([] { nn::BatchNorm1d(nn::BatchNormOptions(3).eps(0)); }) ==
        "BatchNorm1d: eps must be positive and finite, got 0.0");
  CHECK(error_of([] { nn::BatchNorm1d(nn::BatchNormOptions(3).momentum(1.5)); }) ==
        "BatchNorm1d: momentum must be in [0, 1] (or nullopt for a cumulative average), got 1.5");
  // An empty batch gives an empty output and leaves the statistics alone (as PyTorch).
  const auto rm = bn.running_mean().to_vector<double>();
  const int64_t batches = bn.num_batches_tracked().item<int64_t>();
  CHECK(bn(zeros({0, 8, 2, 2}, Dtype::float64)).shape() == Shape{0, 8, 2, 2});
  CHECK(bn.running_mean().to_vector<double>() == rm);
  CHECK(bn.num_batches_tracked().item<int64_t>() == batches + 1);
  // In eval mode a single sample is fine (running statistics).
  bn.eval();
  CHECK(bn(zeros({1, 8, 1, 1}, Dtype::float64)).shape() == Shape{1, 8, 1, 1});
}

// ---------------------------------------------------------------- gradcheck through layers

TEST_CASE("gradcheck and gradgradcheck through layers (float64)") {
  manual_seed(11);
  SUBCASE("Linear") {
    nn::Linear lin(3, 2);
    lin.to(Dtype::float64);
    Tensor x = randn({4, 3}, Dtype::float64).requires_grad_();
    auto f = [&](const TensorList& in) { return lin(in[0]); };
    CHECK(gradcheck(f, {x, lin.weight(), lin.bias()}));
    CHECK(gradgradcheck([&](const TensorList& in) { return tanh(lin(in[0])); },
                        {x, lin.weight(), lin.bias()}));
  }
  SUBCASE("BatchNorm2d training and eval") {
    nn::BatchNorm2d bn(2);
    bn.to(Dtype::float64);
    set(bn.weight(), tensor({1.5, -0.5}, {2}, Dtype::float64));
    set(bn.bias(), tensor({0.1, 0.2}, {2}, Dtype::float64));
    Tensor x = randn({3, 2, 2, 2}, Dtype::float64).requires_grad_();
    auto f = [&](const TensorList& in) { return bn(in[0]); };
    CHECK(gradcheck(f, {x, bn.weight(), bn.bias()}));
    CHECK(gradgradcheck(f, {x, bn.weight(), bn.bias()}));
    bn.eval();
    CHECK(gradcheck(f, {x, bn.weight(), bn.bias()}));
    CHECK(gradgradcheck(f, {x, bn.weight(), bn.bias()}));
  }
  SUBCASE("BatchNorm1d on [N, C, L]") {
    nn::BatchNorm1d bn(3);
    bn.to(Dtype::float64);
    Tensor x = randn({2, 3, 4}, Dtype::float64).requires_grad_();
    auto f = [&](const TensorList& in) { return bn(in[0]); };
    CHECK(gradcheck(f, {x, bn.weight(), bn.bias()}));
    CHECK(gradgradcheck(f, {x, bn.weight(), bn.bias()}));
  }
  SUBCASE("Conv2d with groups 1 and 2") {
    for (int64_t groups : {1, 2}) {
      INFO("groups " << groups);
      nn::Conv2d conv(nn::Conv2dOptions(4, 4, 3).padding(1).stride(2).groups(groups));
      conv.to(Dtype::float64);
      Tensor x = randn({2, 4, 5, 5}, Dtype::float64).requires_grad_();
      auto f = [&](const TensorList& in) { return conv(in[0]); };
      CHECK(gradcheck(f, {x, conv.weight(), conv.bias()}));
    }
  }
  SUBCASE("AdaptiveAvgPool2d (overlapping and divisible windows), GELU tanh, LogSoftmax") {
    Tensor x = randn({1, 2, 5, 6}, Dtype::float64).requires_grad_();
    nn::AdaptiveAvgPool2d pool({3, 2});
    nn::GELU gelu(nn::GELUOptions().approximate("tanh"));
    nn::LogSoftmax ls(1);
    auto f = [&](const TensorList& in) { return ls(gelu(pool(in[0]))); };
    CHECK(gradcheck(f, {x}));
    CHECK(gradgradcheck(f, {x}));
  }
}

// ---------------------------------------------------------------- Sequential

TEST_CASE("nn::Sequential names children 0, 1, ..., chains forward and prints as PyTorch") {
  auto seq = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(784, 256),
                                              std::make_shared<nn::ReLU>(),
                                              std::make_shared<nn::Linear>(256, 10));
  CHECK(seq->size() == 3);
  CHECK(seq->to_string() ==
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=256, bias=true)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=256, out_features=10, bias=true)\n"
        ")");
  std::vector<std::string> names;
  for (auto& [name, p] : seq->named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK((*seq)[1]->type_name() == "ReLU");
  CHECK(seq->at<nn::Linear>(2)->options.out_features() == 10);
  CHECK(error_of([&] { seq->at<nn::Linear>(1); }) ==
        "Sequential::at: module 1 is a ReLU, not the type asked for");
  CHECK(error_of([&] { (*seq)[3]; }) == "Sequential: index 3 is out of range for 3 modules");

  Tensor x = randn({2, 784});
  Tensor expected = (*seq->at<nn::Linear>(2))(relu((*seq->at<nn::Linear>(0))(x)));
  const auto y = (*seq)(x).to_vector<float>(), e = expected.to_vector<float>();
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == e[i]);

  seq->push_back(std::make_shared<nn::LogSoftmax>(1));
  seq->push_back("out", std::make_shared<nn::Identity>());
  CHECK(seq->size() == 5);
  CHECK(seq->named_children()[3].first == "3");
  CHECK(seq->named_children()[4].first == "out");
  CHECK((*seq)(x).shape() == Shape{2, 10});
  CHECK(error_of([&] { seq->push_back(nullptr); }) ==
        "Sequential::push_back: module 5 (\"5\") is null");
  CHECK_THROWS_AS(seq->push_back("out", std::make_shared<nn::ReLU>()), std::invalid_argument);
  CHECK(seq->size() == 5);  // a failed push_back adds nothing

  // Built from a vector; eval reaches the children; an empty Sequential returns its input.
  nn::Sequential v(std::vector<std::shared_ptr<nn::Module>>{std::make_shared<nn::Dropout>(0.5)});
  v.eval();
  CHECK(!v[0]->is_training());
  CHECK(v(x).is_same(x));
  nn::Sequential empty;
  CHECK(empty(x).is_same(x));
  nn::Sequential listed{std::make_shared<nn::ReLU>(), std::make_shared<nn::Tanh>()};
  CHECK(listed.size() == 2);
  CHECK(empty.to_string() == "Sequential()");
}
