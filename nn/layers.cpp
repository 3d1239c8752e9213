// The layers of nn: construction (validated options, PyTorch's default init), forward, and
// PyTorch-style extra_repr.
#include "nn/layers.hpp"

#include <charconv>
#include <cmath>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"
#include "nn/init.hpp"

namespace xg::nn {

std::string detail::py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form, e.g. "1.5e-05", then Python's choice:
  // positional when the exponent is in [-4, 16), with at least one decimal ("1.0", "0.0001").
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  const auto e_pos = s.find('e');
  const int exp = std::stoi(s.substr(e_pos + 1));
  if (exp < -4 || exp >= 16) return s;
  std::string sign, digits;
  for (char c : s.substr(0, e_pos)) {
    if (c == '-')
      sign = "-";
    else if (c != '.')
      digits += c;
  }
  std::string out;
  if (exp < 0) {
    out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  } else {
    const auto int_len = static_cast<std::size_t>(exp) + 1;
    if (digits.size() <= int_len)
      out = digits + std::string(int_len - digits.size(), '0') + ".0";
    else
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
  }
  return sign + out;
}

namespace {
using detail::py_bool;
using detail::py_float;

/// "Linear(in_features=784, out_features=256, bias=true)": how errors name a layer.
std::string who(const Module& m) { return m.type_name() + "(" + m.extra_repr() + ")"; }

/// Checks that a spatial option has 2 values, each >= min.
void check_pair(const Module& m, const char* what, const ExpandingArray<2>& a, int64_t min) {
  if (!a.well_formed())
    fail(m.type_name(), ": ", what, " must be one number or 2 numbers {h, w}, got ", a.given(),
         " numbers");
  if (a[0] < min || a[1] < min)
    fail(m.type_name(), ": ", what, " must be ", min == 0 ? "non-negative" : "positive", ", got ",
         a.tuple_str());
}

/// Input checks every layer shares: defined, floating point, and the dtype of its parameters.
void check_float_input(const Module& m, const Tensor& input, const Tensor& param) {
  if (!input.defined()) fail(who(m), ": the input is an undefined tensor");
  if (input.dtype() == Dtype::int64)
    fail(who(m), ": expected a floating point input (float32 or float64), got int64 of shape ",
         input.shape());
  if (param.defined() && param.dtype() != input.dtype())
    fail(who(m), ": the input is ", dtype_name(input.dtype()), " but the parameters are ",
         dtype_name(param.dtype()), "; convert one (module.to(Dtype::", dtype_name(input.dtype()),
         ") or input.to(...))");
}

/// Runs f on a 4-D [N, C, H, W] input; a 3-D [C, H, W] input is run as a batch of one and
/// returned as 3-D (PyTorch's unbatched form).
template <typename F>
Tensor spatial(const Module& m, const Tensor& input, F&& f) {
  if (input.dim() == 4) return f(input);
  if (input.dim() == 3) return squeeze(f(unsqueeze(input, 0)), 0);
  fail(who(m), ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape ", input.shape());
}

/// PyTorch's default init of a Linear/Conv weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// for both (kaiming_uniform_(a = sqrt(5)) for the weight).
void default_init(const Tensor& weight, const Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double fan_in = weight.dim() >= 2 ? init::calculate_fan_in_and_fan_out(weight).first : 0;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(fan_in) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Shape to_shape(std::initializer_list<int64_t> dims) {
  Shape s;
  for (int64_t d : dims) s.push_back(static_cast<std::size_t>(d));
  return s;
}
}  // namespace

// ---------------------------------------------------------------- Linear, Flatten, Identity

LinearOptions::LinearOptions(int64_t in_features, int64_t out_features)
    : in_features_(in_features), out_features_(out_features) {}

Linear::Linear(int64_t in_features, int64_t out_features)
    : Linear(LinearOptions(in_features, out_features)) {}

Linear::Linear(const LinearOptions& options_) : Module("Linear"), options(options_) {
  if (options.in_features() < 0 || options.out_features() < 0)
    fail("Linear: in_features and out_features must be non-negative, got in_features=",
         options.in_features(), ", out_features=", options.out_features());
  register_parameter("weight", empty(to_shape({options.out_features(), options.in_features()})));
  register_parameter("bias", options.bias() ? empty(to_shape({options.out_features()})) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() { default_init(weight(), bias()); }

Tensor Linear::forward(const Tensor& input) {
  const Tensor weight = this->weight(), bias = this->bias();
  check_float_input(*this, input, weight);
  const auto in = static_cast<std::size_t>(options.in_features());
  if (input.dim() == 0 || input.size(-1) != in)
    fail(who(*this), ": expected an input of shape [*, ", in, "], got ", input.shape());
  return linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(options.in_features()) +
         ", out_features=" + std::to_string(options.out_features()) +
         ", bias=" + py_bool(options.bias());
}

Flatten::Flatten(const FlattenOptions& options_) : Module("Flatten"), options(options_) {}
Flatten::Flatten(int64_t start_dim, int64_t end_dim)
    : Flatten(FlattenOptions().start_dim(start_dim).end_dim(end_dim)) {}

Tensor Flatten::forward(const Tensor& input) {
  if (!input.defined()) fail(who(*this), ": the input is an undefined tensor");
  return flatten(input, options.start_dim(), options.end_dim());
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(options.start_dim()) +
         ", end_dim=" + std::to_string(options.end_dim());
}

Identity::Identity() : Module("Identity") {}
Tensor Identity::forward(const Tensor& input) { return input; }

// ---------------------------------------------------------------- Conv2d

Conv2dOptions::Conv2dOptions(int64_t in_channels, int64_t out_channels,
                             ExpandingArray<2> kernel_size)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
    : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)) {}

Conv2d::Conv2d(const Conv2dOptions& options_) : Module("Conv2d"), options(options_) {
  const auto& o = options;
  if (o.in_channels() <= 0 || o.out_channels() <= 0)
    fail("Conv2d: in_channels and out_channels must be positive, got in_channels=", o.in_channels(),
         ", out_channels=", o.out_channels());
  check_pair(*this, "kernel_size", o.kernel_size(), 1);
  check_pair(*this, "stride", o.stride(), 1);
  check_pair(*this, "padding", o.padding(), 0);
  check_pair(*this, "dilation", o.dilation(), 1);
  if (o.groups() <= 0) fail("Conv2d: groups must be positive, got ", o.groups());
  if (o.in_channels() % o.groups() != 0)
    fail("Conv2d: in_channels (", o.in_channels(), ") must be divisible by groups (", o.groups(),
         ")");
  if (o.out_channels() % o.groups() != 0)
    fail("Conv2d: out_channels (", o.out_channels(), ") must be divisible by groups (", o.groups(),
         ")");
  register_parameter("weight", empty(to_shape({o.out_channels(), o.in_channels() / o.groups(),
                                               o.kernel_size()[0], o.kernel_size()[1]})));
  register_parameter("bias", o.bias() ? empty(to_shape({o.out_channels()})) : Tensor());
  reset_parameters();
}

void Conv2d::reset_parameters() { default_init(weight(), bias()); }

Tensor Conv2d::forward(const Tensor& input) {
  const Tensor weight = this->weight(), bias = this->bias();
  check_float_input(*this, input, weight);
  const auto& o = options;
  return spatial(*this, input, [&](const Tensor& x) {
    if (x.size(1) != static_cast<std::size_t>(o.in_channels()))
      fail(who(*this), ": expected ", o.in_channels(), " input channels (dim 1), got input shape ",
           input.shape());
    return conv2d(x, weight, bias, o.stride().vec(), o.padding().vec(), o.dilation().vec(),
                  o.groups());
  });
}

std::string Conv2d::extra_repr() const {
  const auto& o = options;
  std::string s = std::to_string(o.in_channels()) + ", " + std::to_string(o.out_channels()) +
                  ", kernel_size=" + o.kernel_size().tuple_str() +
                  ", stride=" + o.stride().tuple_str();
  if (o.padding() != ExpandingArray<2>(0)) s += ", padding=" + o.padding().tuple_str();
  if (o.dilation() != ExpandingArray<2>(1)) s += ", dilation=" + o.dilation().tuple_str();
  if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
  if (!o.bias()) s += ", bias=false";
  return s;
}

// ---------------------------------------------------------------- pooling

namespace {
/// Pooling options: kernel, stride >= 1, dilation >= 1, 0 <= padding <= kernel / 2.
void check_pool(const Module& m, const ExpandingArray<2>& k, const ExpandingArray<2>& s,
                const ExpandingArray<2>& p, const ExpandingArray<2>& d) {
  check_pair(m, "kernel_size", k, 1);
  check_pair(m, "stride", s, 1);
  check_pair(m, "padding", p, 0);
  check_pair(m, "dilation", d, 1);
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2)
    fail(m.type_name(), ": padding ", p.tuple_str(), " must be at most half of kernel_size ",
         k.tuple_str());
}
}  // namespace

MaxPool2dOptions::MaxPool2dOptions(ExpandingArray<2> kernel_size)
    : kernel_size_(kernel_size), stride_(kernel_size) {}

MaxPool2d::MaxPool2d(ExpandingArray<2> kernel_size) : MaxPool2d(MaxPool2dOptions(kernel_size)) {}
MaxPool2d::MaxPool2d(const MaxPool2dOptions& options_) : Module("MaxPool2d"), options(options_) {
  check_pool(*this, options.kernel_size(), options.stride(), options.padding(), options.dilation());
}

Tensor MaxPool2d::forward(const Tensor& input) {
  check_float_input(*this, input, Tensor());
  return spatial(*this, input, [&](const Tensor& x) {
    return max_pool2d(x, options.kernel_size().vec(), options.stride().vec(),
                      options.padding().vec(), options.dilation().vec());
  });
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + options.kernel_size().short_str() +
         ", stride=" + options.stride().short_str() + ", padding=" + options.padding().short_str() +
         ", dilation=" + options.dilation().short_str();
}

AvgPool2dOptions::AvgPool2dOptions(ExpandingArray<2> kernel_size)
    : kernel_size_(kernel_size), stride_(kernel_size) {}

AvgPool2d::AvgPool2d(ExpandingArray<2> kernel_size) : AvgPool2d(AvgPool2dOptions(kernel_size)) {}
AvgPool2d::AvgPool2d(const AvgPool2dOptions& options_) : Module("AvgPool2d"), options(options_) {
  check_pool(*this, options.kernel_size(), options.stride(), options.padding(), 1);
}

Tensor AvgPool2d::forward(const Tensor& input) {
  check_float_input(*this, input, Tensor());
  return spatial(*this, input, [&](const Tensor& x) {
    return avg_pool2d(x, options.kernel_size().vec(), options.stride().vec(),
                      options.padding().vec());
  });
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + options.kernel_size().short_str() +
         ", stride=" + options.stride().short_str() + ", padding=" + options.padding().short_str();
}

AdaptiveAvgPool2dOptions::AdaptiveAvgPool2dOptions(ExpandingArray<2> output_size)
    : output_size_(output_size) {}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(ExpandingArray<2> output_size)
    : AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions(output_size)) {}
AdaptiveAvgPool2d::AdaptiveAvgPool2d(const AdaptiveAvgPool2dOptions& options_)
    : Module("AdaptiveAvgPool2d"), options(options_) {
  check_pair(*this, "output_size", options.output_size(), 1);
}

namespace {
/// Adaptive mean along one spatial dim `dim` (2 or 3) of x to `out` cells: cell i averages
/// [floor(i L / out), ceil((i + 1) L / out)).
Tensor adaptive_mean(const Tensor& x, int64_t dim, int64_t out) {
  const auto len = static_cast<int64_t>(x.size(dim));
  if (len == out) return x;
  if (len % out == 0) {  // equal windows without overlap: one reshape and one mean
    Shape s = x.shape();
    s[static_cast<std::size_t>(dim)] = static_cast<std::size_t>(out);
    s.insert(s.begin() + dim + 1, static_cast<std::size_t>(len / out));
    Shape r = x.shape();
    r[static_cast<std::size_t>(dim)] = static_cast<std::size_t>(out);
    return reshape(mean(reshape(x, s), {dim + 1}), r);
  }
  TensorList cells;
  cells.reserve(static_cast<std::size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    const int64_t begin = (i * len) / out, end = ((i + 1) * len + out - 1) / out;
    cells.push_back(mean(narrow(x, dim, begin, end - begin), {dim}, true));
  }
  return cat(cells, dim);
}
}  // namespace

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  check_float_input(*this, input, Tensor());
  const int64_t oh = options.output_size()[0], ow = options.output_size()[1];
  return spatial(*this, input, [&](const Tensor& x) {
    if (x.size(2) == 0 || x.size(3) == 0)
      fail(who(*this), ": the input's spatial size must be non-zero, got shape ", input.shape());
    if (oh == 1 && ow == 1) return mean(x, {2, 3}, true);
    // The window is a product of a row range and a column range, so the mean over it is the
    // mean over rows followed by the mean over columns.
    return adaptive_mean(adaptive_mean(x, 2, oh), 3, ow);
  });
}

std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=" + options.output_size().short_str();
}

// ---------------------------------------------------------------- activations

ReLU::ReLU() : Module("ReLU") {}
Tensor ReLU::forward(const Tensor& input) { return relu(input); }

LeakyReLU::LeakyReLU(double negative_slope)
    : LeakyReLU(LeakyReLUOptions().negative_slope(negative_slope)) {}
LeakyReLU::LeakyReLU(const LeakyReLUOptions& options_) : Module("LeakyReLU"), options(options_) {
  if (!std::isfinite(options.negative_slope()))
    fail("LeakyReLU: negative_slope must be finite, got ", py_float(options.negative_slope()));
}
Tensor LeakyReLU::forward(const Tensor& input) {
  return leaky_relu(input, options.negative_slope());
}
std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + py_float(options.negative_slope());
}

Sigmoid::Sigmoid() : Module("Sigmoid") {}
Tensor Sigmoid::forward(const Tensor& input) { return sigmoid(input); }

Tanh::Tanh() : Module("Tanh") {}
Tensor Tanh::forward(const Tensor& input) { return tanh(input); }

GELU::GELU(const GELUOptions& options_) : Module("GELU"), options(options_) {
  if (options.approximate() != "none" && options.approximate() != "tanh")
    fail("GELU: approximate must be \"none\" or \"tanh\", got \"", options.approximate(), "\"");
}
Tensor GELU::forward(const Tensor& input) {
  if (options.approximate() == "none") return gelu(input);
  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * input * (1.0 + tanh(k * (input + 0.044715 * input * input * input)));
}
std::string GELU::extra_repr() const { return "approximate='" + options.approximate() + "'"; }

SoftmaxOptions::SoftmaxOptions(int64_t dim) : dim_(dim) {}

Softmax::Softmax(const SoftmaxOptions& options_) : Module("Softmax"), options(options_) {}
Tensor Softmax::forward(const Tensor& input) { return softmax(input, options.dim()); }
std::string Softmax::extra_repr() const { return "dim=" + std::to_string(options.dim()); }

LogSoftmax::LogSoftmax(const LogSoftmaxOptions& options_)
    : Module("LogSoftmax"), options(options_) {}
Tensor LogSoftmax::forward(const Tensor& input) { return log_softmax(input, options.dim()); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(options.dim()); }

// ---------------------------------------------------------------- Dropout

DropoutOptions::DropoutOptions(double p) : p_(p) {}

Dropout::Dropout(const DropoutOptions& options_) : Module("Dropout"), options(options_) {
  if (!(options.p() >= 0 && options.p() <= 1))
    fail("Dropout: dropout probability has to be between 0 and 1, but got ", py_float(options.p()));
}
Tensor Dropout::forward(const Tensor& input) {
  if (!input.defined()) fail(who(*this), ": the input is an undefined tensor");
  return dropout(input, options.p(), is_training());
}
std::string Dropout::extra_repr() const { return "p=" + py_float(options.p()); }

// ---------------------------------------------------------------- BatchNorm

BatchNormOptions::BatchNormOptions(int64_t num_features) : num_features_(num_features) {}

BatchNormBase::BatchNormBase(const char* name, const BatchNormOptions& options_)
    : Module(name), options(options_) {
  const auto& o = options;
  if (o.num_features() <= 0) fail(name, ": num_features must be positive, got ", o.num_features());
  if (!(o.eps() > 0) || !std::isfinite(o.eps()))
    fail(name, ": eps must be positive and finite, got ", py_float(o.eps()));
  if (o.momentum() && !(*o.momentum() >= 0 && *o.momentum() <= 1))
    fail(name, ": momentum must be in [0, 1] (or nullopt for a cumulative average), got ",
         py_float(*o.momentum()));
  const Shape c{static_cast<std::size_t>(o.num_features())};
  register_parameter("weight", o.affine() ? ones(c) : Tensor());
  register_parameter("bias", o.affine() ? zeros(c) : Tensor());
  const bool track = o.track_running_stats();
  register_buffer("running_mean", track ? zeros(c) : Tensor());
  register_buffer("running_var", track ? ones(c) : Tensor());
  register_buffer("num_batches_tracked", track ? zeros({}, Dtype::int64) : Tensor());
}

void BatchNormBase::reset_running_stats() {
  if (!options.track_running_stats()) return;
  NoGradGuard no_grad;
  running_mean().zero_();
  running_var().fill_(1.0);
  num_batches_tracked().zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (!options.affine()) return;
  init::ones_(weight());
  init::zeros_(bias());
}

Tensor BatchNormBase::forward(const Tensor& input) {
  const bool track = options.track_running_stats();
  const Tensor weight = this->weight(), bias = this->bias();
  Tensor running_mean = this->running_mean(), running_var = this->running_var();
  Tensor num_batches_tracked = this->num_batches_tracked();
  if (track) {
    running_mean = local("running_mean");
    running_var = local("running_var");
    num_batches_tracked = local("num_batches_tracked");
  }
  check_float_input(*this, input, options.affine() ? weight : running_mean);
  check_input(input);
  const auto C = static_cast<std::size_t>(options.num_features());
  if (input.size(1) != C)
    fail(who(*this), ": expected ", C, " channels (dim 1), got input shape ", input.shape());
  Shape bshape(input.dim(), 1);  // [1, C, 1, ...]: per-channel values broadcast over the input
  bshape[1] = C;
  std::vector<int64_t> dims{0};  // every dim except the channels
  for (int64_t d = 2; d < static_cast<int64_t>(input.dim()); ++d) dims.push_back(d);
  const std::size_t n = input.numel() / C;  // values per channel

  // y = (x - mean) * scale + bias with the per-channel scale = weight / sqrt(var + eps): the
  // [1, C, 1, ...] factors are combined first, so the input is traversed as few times as possible.
  auto per_channel = [&](const Tensor& t) { return reshape(t, bshape); };
  if (!is_training() && track) {  // running statistics: y = x * scale + shift, two passes
    Tensor scale = 1.0 / sqrt(per_channel(running_var) + options.eps());
    if (options.affine()) scale = scale * per_channel(weight);
    Tensor shift = -(per_channel(running_mean) * scale);
    if (options.affine()) shift = shift + per_channel(bias);
    return input * scale + shift;
  }
  if (is_training() && n == 1)
    fail(who(*this), ": expected more than 1 value per channel when training, got input shape ",
         input.shape());
  if (n == 0) {  // an empty batch (as PyTorch): empty output, counted, statistics unchanged
    if (is_training() && track) {
      NoGradGuard no_grad;
      num_batches_tracked.fill_(static_cast<double>(num_batches_tracked.item<int64_t>() + 1));
    }
    return input.clone();
  }
  const Tensor mu = mean(input, dims, true);
  const Tensor var_b = var(input, dims, true, 0);  // biased: normalizes the batch
  if (is_training() && track) {
    NoGradGuard no_grad;
    const int64_t batches = num_batches_tracked.item<int64_t>() + 1;
    num_batches_tracked.fill_(static_cast<double>(batches));
    const double f = options.momentum() ? *options.momentum() : 1.0 / static_cast<double>(batches);
    // running_var stores the unbiased variance: biased * n / (n - 1).
    const double unbias = static_cast<double>(n) / static_cast<double>(n - 1);
    running_mean.mul_(1.0 - f).add_(reshape(mu.detach(), {C}), f);
    running_var.mul_(1.0 - f).add_(reshape(var_b.detach(), {C}), f * unbias);
  }
  Tensor scale = 1.0 / sqrt(var_b + options.eps());
  if (options.affine()) scale = scale * per_channel(weight);
  Tensor y = (input - mu) * scale;
  return options.affine() ? y + per_channel(bias) : y;
}

std::string BatchNormBase::extra_repr() const {
  const auto& o = options;
  return std::to_string(o.num_features()) + ", eps=" + py_float(o.eps()) +
         ", momentum=" + (o.momentum() ? py_float(*o.momentum()) : std::string("None")) +
         ", affine=" + py_bool(o.affine()) +
         ", track_running_stats=" + py_bool(o.track_running_stats());
}

BatchNorm1d::BatchNorm1d(const BatchNormOptions& options) : BatchNormBase("BatchNorm1d", options) {}
void BatchNorm1d::check_input(const Tensor& input) const {
  if (input.dim() != 2 && input.dim() != 3)
    fail(who(*this), ": expected a 2-D [N, C] or 3-D [N, C, L] input, got shape ", input.shape());
}

BatchNorm2d::BatchNorm2d(const BatchNormOptions& options) : BatchNormBase("BatchNorm2d", options) {}
void BatchNorm2d::check_input(const Tensor& input) const {
  if (input.dim() != 4)
    fail(who(*this), ": expected a 4-D [N, C, H, W] input, got shape ", input.shape());
}

}  // namespace xg::nn
