// nn::init: parameter initializers (PyTorch 1.13 torch.nn.init conventions).
#include "nn/init.hpp"

#include <cmath>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"
#include "nn/options.hpp"

namespace xg::nn::init {

using nn::detail::py_float;

double calculate_gain(const std::string& nonlinearity, double param) {
  for (const char* unit : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                           "conv_transpose2d", "conv_transpose3d", "sigmoid"})
    if (nonlinearity == unit) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    if (!std::isfinite(param))
      fail("nn::init::calculate_gain: negative_slope ", py_float(param), " is not a valid number");
    return std::sqrt(2.0 / (1.0 + param * param));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  fail("nn::init::calculate_gain: unsupported nonlinearity \"", nonlinearity,
       "\" (linear, conv1d, conv2d, conv3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, "
       "leaky_relu, selu)");
}

std::pair<double, double> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  check_defined("nn::init::calculate_fan_in_and_fan_out", tensor);
  if (tensor.dim() < 2)
    fail(
        "nn::init: fan in and fan out can not be computed for a tensor with fewer than 2 "
        "dimensions (shape ",
        tensor.shape(), ")");
  double receptive = 1.0;
  for (std::size_t d = 2; d < tensor.dim(); ++d) receptive *= static_cast<double>(tensor.size(d));
  return {static_cast<double>(tensor.size(1)) * receptive,
          static_cast<double>(tensor.size(0)) * receptive};
}

namespace {
/// Checks the tensor an initializer writes into.
void check_target(const char* fn, const Tensor& t) {
  check_floating(fn, t);  // also rejects undefined tensors, naming fn
}
/// fan_in or fan_out of t as `mode` says.
double fan(const char* fn, const Tensor& t, const std::string& mode) {
  if (mode != "fan_in" && mode != "fan_out")
    fail(fn, ": mode \"", mode, "\" not supported, please use \"fan_in\" or \"fan_out\"");
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? in : out;
}
/// Writes `values` (same shape and dtype) into t without recording.
Tensor write(Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}
void check_finite(const char* fn, const char* what, double v) {
  if (!std::isfinite(v)) fail(fn, ": ", what, " must be finite, got ", py_float(v));
}
}  // namespace

Tensor uniform_(Tensor tensor, double a, double b) {
  check_target("nn::init::uniform_", tensor);
  check_finite("nn::init::uniform_", "a", a);
  check_finite("nn::init::uniform_", "b", b);
  if (a > b) fail("nn::init::uniform_: expects a <= b, got a=", py_float(a), ", b=", py_float(b));
  NoGradGuard no_grad;
  return write(tensor, rand(tensor.shape(), tensor.dtype()) * (b - a) + a);
}

Tensor normal_(Tensor tensor, double mean, double std) {
  check_target("nn::init::normal_", tensor);
  check_finite("nn::init::normal_", "mean", mean);
  check_finite("nn::init::normal_", "std", std);
  if (std < 0) fail("nn::init::normal_: expects std >= 0.0, got ", py_float(std));
  NoGradGuard no_grad;
  return write(tensor, randn(tensor.shape(), tensor.dtype()) * std + mean);
}

Tensor constant_(Tensor tensor, double value) {
  check_target("nn::init::constant_", tensor);
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0.0); }
Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1.0); }

Tensor xavier_uniform_(Tensor tensor, double gain) {
  check_target("nn::init::xavier_uniform_", tensor);
  check_finite("nn::init::xavier_uniform_", "gain", gain);
  auto [in, out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;  // nothing to draw (PyTorch warns and returns)
  const double std = gain * std::sqrt(2.0 / (in + out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor xavier_normal_(Tensor tensor, double gain) {
  check_target("nn::init::xavier_normal_", tensor);
  check_finite("nn::init::xavier_normal_", "gain", gain);
  auto [in, out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  return normal_(std::move(tensor), 0.0, gain * std::sqrt(2.0 / (in + out)));
}

Tensor kaiming_uniform_(Tensor tensor, double a, const std::string& mode,
                        const std::string& nonlinearity) {
  check_target("nn::init::kaiming_uniform_", tensor);
  const double f = fan("nn::init::kaiming_uniform_", tensor, mode);
  const double gain = calculate_gain(nonlinearity, a);
  if (tensor.numel() == 0) return tensor;
  const double bound = std::sqrt(3.0) * gain / std::sqrt(f);
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor kaiming_normal_(Tensor tensor, double a, const std::string& mode,
                       const std::string& nonlinearity) {
  check_target("nn::init::kaiming_normal_", tensor);
  const double f = fan("nn::init::kaiming_normal_", tensor, mode);
  const double gain = calculate_gain(nonlinearity, a);
  if (tensor.numel() == 0) return tensor;
  return normal_(std::move(tensor), 0.0, gain / std::sqrt(f));
}

}  // namespace xg::nn::init
