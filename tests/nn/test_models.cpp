// The lecture's models: shapes, parameter names, printing, features()/classifier(), options
// and their errors, and that the classifiers learn a toy problem.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {
std::vector<std::string> param_names(const nn::Module& m) {
  std::vector<std::string> names;
  for (auto& [name, p] : m.named_parameters()) names.push_back(name);
  return names;
}
std::size_t param_count(const nn::Module& m) {
  std::size_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}
}  // namespace

TEST_CASE("LinearRegression and LogisticRegression: h(x) = w^T x + b per sample") {
  auto lr = std::make_shared<nn::LinearRegression>(3);
  CHECK(param_names(*lr) == std::vector<std::string>{"linear.weight", "linear.bias"});
  CHECK(lr->to_string() ==
        "LinearRegression(\n  (linear): Linear(in_features=3, out_features=1, bias=true)\n)");
  lr->to(Dtype::float64);
  {
    NoGradGuard no_grad;
    lr->linear->weight().copy_(tensor({1.0, -2.0, 0.5}, {1, 3}, Dtype::float64));
    lr->linear->bias().fill_(0.25);
  }
  Tensor x = tensor({1, 1, 1, 2, 0, 4}, {2, 3}, Dtype::float64);
  CHECK((*lr)(x).shape() == Shape{2});
  CHECK((*lr)(x).to_vector<double>() == std::vector<double>{-0.25, 4.25});

  auto logit = std::make_shared<nn::LogisticRegression>(3);
  logit->to(Dtype::float64);
  const auto z = (*logit)(x).to_vector<double>();
  const auto p = logit->predict_proba(x).to_vector<double>();
  REQUIRE(p.size() == 2);
  for (int i = 0; i < 2; ++i) CHECK(p[i] == doctest::Approx(1 / (1 + std::exp(-z[i]))));
  CHECK(error_of([] { nn::LinearRegression(0); }) ==
        "LinearRegression: in_features must be positive, got 0");
}

TEST_CASE("SoftmaxRegression: scores s = X h for flattened images; probabilities sum to 1") {
  auto m = std::make_shared<nn::SoftmaxRegression>(784, 10);
  CHECK(m->to_string() ==
        "SoftmaxRegression(\n"
        "  (flatten): Flatten(start_dim=1, end_dim=-1)\n"
        "  (linear): Linear(in_features=784, out_features=10, bias=true)\n"
        ")");
  CHECK(param_count(*m) == 7850);
  Tensor x = rand({4, 1, 28, 28});
  CHECK((*m)(x).shape() == Shape{4, 10});
  CHECK((*m)(x.reshape({4, 784})).shape() == Shape{4, 10});
  const auto p = m->predict_proba(x);
  for (double s : sum(p, {1}).to_vector<double>()) CHECK(s == doctest::Approx(1.0));
  CHECK(error_of([] { nn::SoftmaxRegression(784, 0); }) ==
        "SoftmaxRegression: num_classes must be positive, got 0");
}

TEST_CASE("MLP: Flatten, Linear/activation/Dropout blocks, no activation after the last") {
  auto mlp = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
  CHECK(mlp->to_string() ==
        "MLP(\n"
        "  sizes=[784, 256, 128, 10]\n"
        "  (flatten): Flatten(start_dim=1, end_dim=-1)\n"
        "  (layers): Sequential(\n"
        "    (0): Linear(in_features=784, out_features=256, bias=true)\n"
        "    (1): ReLU()\n"
        "    (2): Linear(in_features=256, out_features=128, bias=true)\n"
        "    (3): ReLU()\n"
        "    (4): Linear(in_features=128, out_features=10, bias=true)\n"
        "  )\n"
        ")");
  CHECK(param_names(*mlp) == std::vector<std::string>{"layers.0.weight", "layers.0.bias",
                                                      "layers.2.weight", "layers.2.bias",
                                                      "layers.4.weight", "layers.4.bias"});
  CHECK(param_count(*mlp) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  CHECK((*mlp)(rand({3, 1, 28, 28})).shape() == Shape{3, 10});

  nn::MLP d({4, 8, 2}, "tanh", 0.5);
  std::vector<std::string> types;
  for (const auto& m : *d.layers()) types.push_back(m->type_name());
  CHECK(types == std::vector<std::string>{"Linear", "Tanh", "Dropout", "Linear"});
  d.eval();  // dropout off: deterministic
  Tensor x = randn({5, 4});
  const auto y1 = d(x).to_vector<float>(), y2 = d(x).to_vector<float>();
  for (std::size_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == doctest::Approx(y2[i]));
  CHECK(!d.layers()->at<nn::Dropout>(2)->is_training());

  CHECK(error_of([] { nn::MLP({784}); }) ==
        "MLP: sizes must list the input size and at least one layer size, got [784]");
  CHECK(error_of([] {
          nn::MLP({784, 0, 10});
        }) == "MLP: every size must be positive, got [784, 0, 10]");
  CHECK(error_of([] {
          nn::MLP({4, 2}, "swish");
        }) == "MLP: unknown activation \"swish\" (relu, leaky_relu, tanh, sigmoid, gelu)");
  CHECK(error_of([] {
          nn::MLP({4, 2}, "relu", 1.0);
        }) == "MLP: dropout must be in [0, 1), got 1.0");
}

TEST_CASE("CNN: features() and classifier() separately, dotted names, printing") {
  auto cnn = std::make_shared<nn::CNN>();
  CHECK(cnn->feature_shape() == std::vector<int64_t>{64, 7, 7});
  CHECK(cnn->to_string() ==
        "CNN(\n"
        "  (features): Sequential(\n"
        "    (0): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=false)\n"
        "    (1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=true, "
        "track_running_stats=true)\n"
        "    (2): ReLU()\n"
        "    (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1)\n"
        "    (4): Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=false)\n"
        "    (5): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=true, "
        "track_running_stats=true)\n"
        "    (6): ReLU()\n"
        "    (7): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1)\n"
        "  )\n"
        "  (classifier): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Linear(in_features=3136, out_features=10, bias=true)\n"
        "  )\n"
        ")");
  CHECK(param_names(*cnn) == std::vector<std::string>{"features.0.weight", "features.1.weight",
                                                      "features.1.bias", "features.4.weight",
                                                      "features.5.weight", "features.5.bias",
                                                      "classifier.1.weight", "classifier.1.bias"});
  std::vector<std::string> buffers;
  for (auto& [name, b] : cnn->named_buffers()) buffers.push_back(name);
  CHECK(buffers.front() == "features.1.running_mean");
  CHECK(buffers.size() == 6);

  Tensor x = rand({2, 1, 28, 28});
  Tensor f = (*cnn->features())(x);
  CHECK(f.shape() == Shape{2, 64, 7, 7});
  cnn->eval();  // BatchNorm on running statistics: forward is a fixed function
  CHECK(!cnn->features()->at<nn::BatchNorm2d>(1)->is_training());
  const auto y = (*cnn)(x).to_vector<float>();
  const auto z = (*cnn->classifier())((*cnn->features())(x)).to_vector<float>();
  REQUIRE(y.size() == 20);
  REQUIRE(z.size() == 20);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(z[i]));

  // Nodes record the dotted path of the module that made them (graph clusters in viz).
  cnn->train();
  Tensor out = (*cnn)(x);
  REQUIRE(out.grad_fn()->scope() != nullptr);
  CHECK(*out.grad_fn()->scope() == "classifier.1");
  Tensor feat = (*cnn->features())(x);
  REQUIRE(feat.grad_fn()->scope() != nullptr);
  CHECK(*feat.grad_fn()->scope() == "features.7");

  CHECK(error_of([&] {
          (*cnn)(rand({2, 1, 32, 32}));
        }) == "CNN: expected an input of shape [N, 1, 28, 28], got [2, 1, 32, 32]");
}

TEST_CASE("CNN options: the benchmark's CNN, other images, hidden layers, errors") {
  // bench/fmnist's CNN: conv(1->8) ReLU pool, conv(8->16) ReLU pool, Linear(784, 10).
  nn::CNN bench(nn::CNNOptions().channels({8, 16}).batch_norm(false));
  CHECK(param_count(bench) == (8 * 9 + 8) + (16 * 8 * 9 + 16) + (784 * 10 + 10));
  CHECK(bench.features()->size() == 6);

  nn::CNN rgb(nn::CNNOptions()
                  .in_channels(3)
                  .image_size({32, 24})
                  .channels({4})
                  .kernel_size(5)
                  .padding(0)
                  .hidden({16})
                  .dropout(0.25)
                  .num_classes(3));
  CHECK(rgb.feature_shape() == std::vector<int64_t>{4, 14, 10});  // (32-4)/2, (24-4)/2
  std::vector<std::string> types;
  for (const auto& m : *rgb.classifier()) types.push_back(m->type_name());
  CHECK(types ==
        std::vector<std::string>{"Flatten", "Dropout", "Linear", "ReLU", "Dropout", "Linear"});
  CHECK(rgb(rand({2, 3, 32, 24})).shape() == Shape{2, 3});

  CHECK(error_of([] {
          nn::CNN(nn::CNNOptions().image_size(4).channels({8, 8, 8}));
        }) ==
        "CNN: block 2's max pool of 2 needs at least 2x2 features, got 1x1 for image_size (4, 4)");
  CHECK(error_of([] { nn::CNN(nn::CNNOptions().image_size(2).kernel_size(5).padding(0)); }) ==
        "CNN: block 0's conv (kernel 5, padding 0) leaves no output for image_size (2, 2)");
  CHECK(error_of([] { nn::CNN(nn::CNNOptions().image_size(int64_t(1) << 40)); }) ==
        "CNN: image height 1099511627776 is too large (at most 16777216)");
  CHECK(error_of([] { nn::CNN(nn::CNNOptions().channels({})); }) ==
        "CNN: channels must list at least one conv block");
  CHECK(error_of([] {
          nn::CNN(nn::CNNOptions().channels({8, -1}));
        }) == "CNN: every channel count must be positive, got [8, -1]");
  CHECK(error_of([] {
          nn::CNN(nn::CNNOptions().image_size({28, 28, 1}));
        }) == "CNN: image_size must be one positive number or {h, w}, got (28, 28)");
}

TEST_CASE("The classifiers learn a separable toy problem with plain gradient descent") {
  manual_seed(0);
  // Two Gaussian blobs in 2-D around (-2, -2) and (2, 2); labels 0 and 1.
  const std::size_t n = 64;
  Tensor x = randn({n, 2});
  Tensor onehot = zeros({n, 2});
  {
    float* px = x.data_ptr<float>();
    float* py = onehot.data_ptr<float>();
    for (std::size_t i = 0; i < n; ++i) {
      const int c = int(i % 2);
      px[2 * i] += c ? 2.f : -2.f;
      px[2 * i + 1] += c ? 2.f : -2.f;
      py[2 * i + c] = 1.f;
    }
  }
  std::vector<std::shared_ptr<nn::Module>> models{
      std::make_shared<nn::SoftmaxRegression>(2, 2),
      std::make_shared<nn::MLP>(std::vector<int64_t>{2, 16, 2}, "tanh")};
  for (auto& model : models) {
    INFO(model->type_name());
    auto loss_of = [&] { return -mean(sum(log_softmax((*model)(x), 1) * onehot, {1})); };
    const double first = loss_of().item<float>();
    for (int step = 0; step < 50; ++step) {
      model->zero_grad();
      loss_of().backward();
      NoGradGuard no_grad;
      for (Tensor& p : model->parameters()) p.sub_(p.grad(), 0.5);
    }
    const double last = loss_of().item<float>();
    CHECK(last < 0.2 * first);
    CHECK(last < 0.1);
  }
}
