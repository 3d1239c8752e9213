// The lecture's models: LinearRegression, LogisticRegression, SoftmaxRegression, MLP, CNN.
#include "nn/models.hpp"

#include "autograd/extend.hpp"
#include "autograd/ops.hpp"

namespace xg::nn {

namespace {
std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}
void check_positive(const char* model, const char* what, int64_t v) {
  if (v <= 0) fail(model, ": ", what, " must be positive, got ", v);
}
}  // namespace

LinearRegression::LinearRegression(int64_t in_features) : Module("LinearRegression") {
  check_positive("LinearRegression", "in_features", in_features);
  linear = register_module("linear", std::make_shared<Linear>(in_features, 1));
}
Tensor LinearRegression::forward(const Tensor& input) { return squeeze((*linear)(input), -1); }

LogisticRegression::LogisticRegression(int64_t in_features) : Module("LogisticRegression") {
  check_positive("LogisticRegression", "in_features", in_features);
  linear = register_module("linear", std::make_shared<Linear>(in_features, 1));
}
Tensor LogisticRegression::forward(const Tensor& input) { return squeeze((*linear)(input), -1); }
Tensor LogisticRegression::predict_proba(const Tensor& input) { return sigmoid((*this)(input)); }

SoftmaxRegression::SoftmaxRegression(int64_t in_features, int64_t num_classes)
    : Module("SoftmaxRegression") {
  check_positive("SoftmaxRegression", "in_features", in_features);
  check_positive("SoftmaxRegression", "num_classes", num_classes);
  flatten = register_module("flatten", std::make_shared<Flatten>());
  linear = register_module("linear", std::make_shared<Linear>(in_features, num_classes));
}
Tensor SoftmaxRegression::forward(const Tensor& input) {
  // A single sample [d] is not flattened from dim 1 (it has no batch dim).
  const Tensor x = input.defined() && input.dim() >= 2 ? (*flatten)(input) : input;
  return (*linear)(x);  // s = X h
}
Tensor SoftmaxRegression::predict_proba(const Tensor& input) {
  const Tensor s = (*this)(input);
  return softmax(s, -1);
}

namespace {
std::shared_ptr<Module> make_activation(const std::string& name) {
  if (name == "relu") return std::make_shared<ReLU>();
  if (name == "leaky_relu") return std::make_shared<LeakyReLU>();
  if (name == "tanh") return std::make_shared<Tanh>();
  if (name == "sigmoid") return std::make_shared<Sigmoid>();
  if (name == "gelu") return std::make_shared<GELU>();
  fail("MLP: unknown activation \"", name, "\" (relu, leaky_relu, tanh, sigmoid, gelu)");
}
}  // namespace

MLP::MLP(std::vector<int64_t> sizes, const std::string& activation, double dropout)
    : Module("MLP"), sizes_(std::move(sizes)) {
  if (sizes_.size() < 2)
    fail("MLP: sizes must list the input size and at least one layer size, got ", list_str(sizes_));
  for (int64_t s : sizes_)
    if (s <= 0) fail("MLP: every size must be positive, got ", list_str(sizes_));
  if (!(dropout >= 0 && dropout < 1))
    fail("MLP: dropout must be in [0, 1), got ", detail::py_float(dropout));
  make_activation(activation);  // validates the name before anything is built
  flatten_ = register_module("flatten", std::make_shared<Flatten>());
  layers_ = register_module("layers", std::make_shared<Sequential>());
  for (std::size_t i = 0; i + 1 < sizes_.size(); ++i) {
    layers_->push_back(std::make_shared<Linear>(sizes_[i], sizes_[i + 1]));
    if (i + 2 == sizes_.size()) break;  // no activation after the last layer
    layers_->push_back(make_activation(activation));
    if (dropout > 0) layers_->push_back(std::make_shared<Dropout>(dropout));
  }
}

Tensor MLP::forward(const Tensor& input) {
  const Tensor x = input.defined() && input.dim() >= 2 ? (*flatten_)(input) : input;
  return (*layers_)(x);
}

std::string MLP::extra_repr() const { return "sizes=" + list_str(sizes_); }

CNN::CNN(const CNNOptions& options_) : Module("CNN"), options(options_) {
  const auto& o = options;
  // Sizes past 2^24 per option cannot make a usable network and could overflow the size
  // arithmetic below.
  const int64_t kMax = int64_t(1) << 24;
  auto check_size = [&](const char* what, int64_t v) {
    if (v > kMax) fail("CNN: ", what, " ", v, " is too large (at most ", kMax, ")");
  };
  check_size("in_channels", o.in_channels());
  check_size("image height", o.image_size()[0]);
  check_size("image width", o.image_size()[1]);
  for (int64_t c : o.channels()) check_size("channel count", c);
  check_size("kernel_size", o.kernel_size());
  check_size("padding", o.padding());
  check_size("pool", o.pool());
  for (int64_t h : o.hidden()) check_size("hidden size", h);
  check_size("num_classes", o.num_classes());
  check_positive("CNN", "in_channels", o.in_channels());
  if (!o.image_size().well_formed() || o.image_size()[0] <= 0 || o.image_size()[1] <= 0)
    fail("CNN: image_size must be one positive number or {h, w}, got ", o.image_size().tuple_str());
  if (o.channels().empty()) fail("CNN: channels must list at least one conv block");
  for (int64_t c : o.channels())
    if (c <= 0) fail("CNN: every channel count must be positive, got ", list_str(o.channels()));
  check_positive("CNN", "kernel_size", o.kernel_size());
  if (o.padding() < 0) fail("CNN: padding must be non-negative, got ", o.padding());
  check_positive("CNN", "pool", o.pool());
  for (int64_t h : o.hidden())
    if (h <= 0) fail("CNN: every hidden size must be positive, got ", list_str(o.hidden()));
  if (!(o.dropout() >= 0 && o.dropout() < 1))
    fail("CNN: dropout must be in [0, 1), got ", detail::py_float(o.dropout()));
  check_positive("CNN", "num_classes", o.num_classes());

  features_ = register_module("features", std::make_shared<Sequential>());
  int64_t c = o.in_channels(), h = o.image_size()[0], w = o.image_size()[1];
  for (std::size_t b = 0; b < o.channels().size(); ++b) {
    const int64_t out = o.channels()[b];
    h = h + 2 * o.padding() - o.kernel_size() + 1;
    w = w + 2 * o.padding() - o.kernel_size() + 1;
    if (h <= 0 || w <= 0)
      fail("CNN: block ", b, "'s conv (kernel ", o.kernel_size(), ", padding ", o.padding(),
           ") leaves no output for image_size ", o.image_size().tuple_str());
    features_->push_back(std::make_shared<Conv2d>(
        Conv2dOptions(c, out, o.kernel_size()).padding(o.padding()).bias(!o.batch_norm())));
    if (o.batch_norm()) features_->push_back(std::make_shared<BatchNorm2d>(out));
    features_->push_back(std::make_shared<ReLU>());
    if (o.pool() > 1) {
      if (h < o.pool() || w < o.pool())
        fail("CNN: block ", b, "'s max pool of ", o.pool(), " needs at least ", o.pool(), "x",
             o.pool(), " features, got ", h, "x", w, " for image_size ",
             o.image_size().tuple_str());
      features_->push_back(std::make_shared<MaxPool2d>(o.pool()));
      h /= o.pool();
      w /= o.pool();
    }
    c = out;
  }
  feature_shape_ = {c, h, w};

  classifier_ = register_module("classifier", std::make_shared<Sequential>());
  classifier_->push_back(std::make_shared<Flatten>());
  int64_t in = c * h * w;
  for (int64_t hidden : o.hidden()) {
    if (o.dropout() > 0) classifier_->push_back(std::make_shared<Dropout>(o.dropout()));
    classifier_->push_back(std::make_shared<Linear>(in, hidden));
    classifier_->push_back(std::make_shared<ReLU>());
    in = hidden;
  }
  if (o.dropout() > 0) classifier_->push_back(std::make_shared<Dropout>(o.dropout()));
  classifier_->push_back(std::make_shared<Linear>(in, o.num_classes()));
}

Tensor CNN::forward(const Tensor& input) {
  if (!input.defined()) fail("CNN: the input is an undefined tensor");
  const auto& o = options;
  if (input.dim() != 4 || input.size(1) != static_cast<std::size_t>(o.in_channels()) ||
      input.size(2) != static_cast<std::size_t>(o.image_size()[0]) ||
      input.size(3) != static_cast<std::size_t>(o.image_size()[1]))
    fail("CNN: expected an input of shape [N, ", o.in_channels(), ", ", o.image_size()[0], ", ",
         o.image_size()[1], "], got ", input.shape());
  return (*classifier_)((*features_)(input));
}

}  // namespace xg::nn
