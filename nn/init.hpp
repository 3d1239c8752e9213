#pragma once
// nn::init: in-place initializers for parameters, with PyTorch's (1.13) fan and gain
// conventions. Each draws from xgrad's global generator (xg::manual_seed) under NoGradGuard,
// writes into the tensor it is given (float32 or float64, any shape) and returns it.
//
//   nn::init::kaiming_normal_(conv->weight, 0, "fan_out", "relu");
//   nn::init::zeros_(conv->bias);
#include <string>
#include <utility>

#include "autograd/tensor.hpp"

namespace xg::nn::init {

/// The recommended gain for a nonlinearity, as torch.nn.init.calculate_gain: "linear",
/// "conv1d", "conv2d", "conv3d", "conv_transpose1d/2d/3d", "sigmoid" -> 1; "tanh" -> 5/3;
/// "relu" -> sqrt(2); "leaky_relu" -> sqrt(2 / (1 + param^2)) (param: negative slope,
/// default 0.01); "selu" -> 3/4. Unknown names are an error listing the known ones.
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

/// {fan_in, fan_out} of a weight of rank >= 2: [out, in, *kernel] gives
/// {in * prod(kernel), out * prod(kernel)}.
std::pair<double, double> calculate_fan_in_and_fan_out(const Tensor& tensor);

/// Fills with samples of U(a, b).
Tensor uniform_(Tensor tensor, double a = 0.0, double b = 1.0);
/// Fills with samples of N(mean, std^2).
Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0);
/// Fills with `value`.
Tensor constant_(Tensor tensor, double value);
/// Fills with 0.
Tensor zeros_(Tensor tensor);
/// Fills with 1.
Tensor ones_(Tensor tensor);

/// Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
/// Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor tensor, double gain = 1.0);
/// He uniform: U(-b, b) with b = sqrt(3) * calculate_gain(nonlinearity, a) / sqrt(fan), fan
/// being fan_in or fan_out (`mode`). PyTorch's Linear/Conv default is a = sqrt(5), which makes
/// b = 1 / sqrt(fan_in).
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu");
/// He normal: N(0, std^2) with std = calculate_gain(nonlinearity, a) / sqrt(fan).
Tensor kaiming_normal_(Tensor tensor, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu");

}  // namespace xg::nn::init
