#pragma once
// The layers of nn (PyTorch 1.13 semantics, libtorch names): Linear, Flatten, Conv2d, pooling,
// activations, Dropout, BatchNorm1d/2d. Each takes an options struct with chained setters
// (`Conv2d(Conv2dOptions(1, 8, 3).padding(1))`) or the common arguments directly
// (`Linear(784, 256)`), validates it in the constructor with an error naming the layer, and
// prints as PyTorch does (`Linear(in_features=784, out_features=256, bias=true)`).
// Parameters and buffers are registered (parameters(), state_dict() and optimizers see them) and
// read through accessors (`linear->weight()`), which always return the registered tensor, also
// after module.to(dtype) replaced it.
#include <cstdint>
#include <optional>
#include <string>

#include "autograd/tensor.hpp"
#include "nn/module.hpp"
#include "nn/options.hpp"

namespace xg::nn {

// ---------------------------------------------------------------- Linear, Flatten, Identity

/// Options of Linear: LinearOptions(784, 256).bias(false).
struct LinearOptions {
  /// Options with the required values; the others keep their defaults.
  LinearOptions(int64_t in_features, int64_t out_features);
  /// Size of each input sample (last dim of the input).
  XG_ARG(int64_t, in_features);
  /// Size of each output sample.
  XG_ARG(int64_t, out_features);
  /// Whether to learn an additive bias.
  XG_ARG(bool, bias) = true;
};

/// y = x W^T + b: x [*, in_features] -> [*, out_features]; weight [out, in], bias [out].
/// Init as PyTorch: weight and bias U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  /// A Linear with `options` (validated; errors name the layer).
  explicit Linear(const LinearOptions& options);
  /// Shorthand for the options form with these values.
  Linear(int64_t in_features, int64_t out_features);
  /// Re-draws weight and bias with PyTorch's default init.
  void reset_parameters();
  /// Runs the Linear on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  LinearOptions options;
  /// The registered weight [out_features, in_features] (a handle: write it with copy_ or
  /// nn::init under NoGradGuard).
  Tensor weight() { return local("weight"); }
  /// The registered bias [out_features], undefined without bias.
  Tensor bias() { return local("bias"); }
};

/// Options of Flatten: FlattenOptions().start_dim(1).end_dim(-1).
struct FlattenOptions {
  /// First dim to flatten.
  XG_ARG(int64_t, start_dim) = 1;
  /// Last dim to flatten (inclusive; negative counts from the end).
  XG_ARG(int64_t, end_dim) = -1;
};

/// Merges dims start_dim..end_dim: [N, 1, 28, 28] -> [N, 784] by default. Shares the input's
/// buffer.
class Flatten : public Module {
 public:
  /// A Flatten with `options` (validated; errors name the layer).
  explicit Flatten(const FlattenOptions& options = {});
  /// Shorthand for the options form with these values.
  Flatten(int64_t start_dim, int64_t end_dim = -1);
  /// Runs the Flatten on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  FlattenOptions options;
};

/// Returns its input (a placeholder layer).
class Identity : public Module {
 public:
  /// The Identity layer (no options).
  Identity();
  /// Runs the Identity on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
};

// ---------------------------------------------------------------- Conv2d

/// Options of Conv2d: Conv2dOptions(1, 8, 3).stride(1).padding(1).dilation(1).groups(1).bias(true).
/// kernel_size, stride, padding and dilation take one number or {h, w}.
struct Conv2dOptions {
  /// Options with the required values; the others keep their defaults.
  Conv2dOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size);
  /// Channels of the input (dim 1).
  XG_ARG(int64_t, in_channels);
  /// Channels of the output (number of filters).
  XG_ARG(int64_t, out_channels);
  /// Window size (kh, kw).
  XG_ARG(ExpandingArray<2>, kernel_size);
  /// Step between windows (sh, sw).
  XG_ARG(ExpandingArray<2>, stride) = 1;
  /// Zeros added on both sides of each spatial dim.
  XG_ARG(ExpandingArray<2>, padding) = 0;
  /// Spacing between kernel taps.
  XG_ARG(ExpandingArray<2>, dilation) = 1;
  /// Channel groups: input and output channels split into `groups` independent convolutions;
  /// both channel counts must be divisible by it.
  XG_ARG(int64_t, groups) = 1;
  /// Whether to learn an additive bias per output channel.
  XG_ARG(bool, bias) = true;
};

/// 2-D convolution (cross-correlation): input [N, C_in, H, W] (or [C_in, H, W]) ->
/// [N, C_out, H', W'] with H' = (H + 2 pad - dil (k - 1) - 1) / stride + 1.
/// weight [C_out, C_in / groups, kh, kw], bias [C_out]; init as PyTorch (U(+-1/sqrt(fan_in))).
class Conv2d : public Module {
 public:
  /// A Conv2d with `options` (validated; errors name the layer).
  explicit Conv2d(const Conv2dOptions& options);
  /// Shorthand for the options form with these values.
  Conv2d(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size);
  /// Re-draws weight and bias with PyTorch's default init.
  void reset_parameters();
  /// Runs the Conv2d on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  Conv2dOptions options;
  /// The registered weight [out_channels, in_channels / groups, kh, kw].
  Tensor weight() { return local("weight"); }
  /// The registered bias [out_channels], undefined without bias.
  Tensor bias() { return local("bias"); }
};

// ---------------------------------------------------------------- pooling

/// Options of MaxPool2d: MaxPool2dOptions(2) (stride defaults to kernel_size).
struct MaxPool2dOptions {
  MaxPool2dOptions(ExpandingArray<2> kernel_size);  // NOLINT: implicit, as libtorch's
  /// Window size (kh, kw).
  XG_ARG(ExpandingArray<2>, kernel_size);
  /// Step between windows (defaults to kernel_size).
  XG_ARG(ExpandingArray<2>, stride);
  /// -inf padding on both sides; at most half the kernel size.
  XG_ARG(ExpandingArray<2>, padding) = 0;
  /// Spacing between kernel taps.
  XG_ARG(ExpandingArray<2>, dilation) = 1;
};

/// Max over windows: [N, C, H, W] (or [C, H, W]) -> [N, C, H', W'].
class MaxPool2d : public Module {
 public:
  /// A MaxPool2d with `options` (validated; errors name the layer).
  explicit MaxPool2d(const MaxPool2dOptions& options);
  /// Kernel (and stride) `kernel_size`.
  explicit MaxPool2d(ExpandingArray<2> kernel_size);
  /// Runs the MaxPool2d on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  MaxPool2dOptions options;
};

/// Options of AvgPool2d: AvgPool2dOptions(2) (stride defaults to kernel_size).
struct AvgPool2dOptions {
  AvgPool2dOptions(ExpandingArray<2> kernel_size);  // NOLINT: implicit, as libtorch's
  /// Window size (kh, kw).
  XG_ARG(ExpandingArray<2>, kernel_size);
  /// Step between windows (defaults to kernel_size).
  XG_ARG(ExpandingArray<2>, stride);
  /// Zero padding on both sides, counted in the average (count_include_pad); at most half the
  /// kernel size.
  XG_ARG(ExpandingArray<2>, padding) = 0;
};

/// Mean over windows: [N, C, H, W] (or [C, H, W]) -> [N, C, H', W'].
class AvgPool2d : public Module {
 public:
  /// A AvgPool2d with `options` (validated; errors name the layer).
  explicit AvgPool2d(const AvgPool2dOptions& options);
  /// Shorthand for the options form with these values.
  explicit AvgPool2d(ExpandingArray<2> kernel_size);
  /// Runs the AvgPool2d on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  AvgPool2dOptions options;
};

/// Options of AdaptiveAvgPool2d: the output size (one number or {oh, ow}).
struct AdaptiveAvgPool2dOptions {
  AdaptiveAvgPool2dOptions(ExpandingArray<2> output_size);  // NOLINT: implicit
  /// Output height and width (oh, ow).
  XG_ARG(ExpandingArray<2>, output_size);
};

/// Mean over PyTorch's adaptive windows: [N, C, H, W] (or [C, H, W]) -> [N, C, oh, ow], output
/// cell i averaging rows [floor(i H / oh), ceil((i + 1) H / oh)) (and likewise for columns).
/// Differentiable twice (built from mean, narrow and cat).
class AdaptiveAvgPool2d : public Module {
 public:
  /// A AdaptiveAvgPool2d with `options` (validated; errors name the layer).
  explicit AdaptiveAvgPool2d(const AdaptiveAvgPool2dOptions& options);
  /// Shorthand for the options form with these values.
  explicit AdaptiveAvgPool2d(ExpandingArray<2> output_size);
  /// Runs the AdaptiveAvgPool2d on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  AdaptiveAvgPool2dOptions options;
};

// ---------------------------------------------------------------- activations

/// max(x, 0), any shape.
class ReLU : public Module {
 public:
  /// The ReLU layer (no options).
  ReLU();
  /// Runs the ReLU on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
};

/// Options of LeakyReLU.
struct LeakyReLUOptions {
  /// Slope for x < 0.
  XG_ARG(double, negative_slope) = 0.01;
};

/// x for x > 0, negative_slope * x otherwise.
class LeakyReLU : public Module {
 public:
  /// A LeakyReLU with `options` (validated; errors name the layer).
  explicit LeakyReLU(const LeakyReLUOptions& options = {});
  /// Shorthand for the options form with these values.
  explicit LeakyReLU(double negative_slope);
  /// Runs the LeakyReLU on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  LeakyReLUOptions options;
};

/// 1 / (1 + exp(-x)).
class Sigmoid : public Module {
 public:
  /// The Sigmoid layer (no options).
  Sigmoid();
  /// Runs the Sigmoid on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
};

/// tanh(x).
class Tanh : public Module {
 public:
  /// The Tanh layer (no options).
  Tanh();
  /// Runs the Tanh on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
};

/// Options of GELU.
struct GELUOptions {
  /// "none" (exact, x Phi(x)) or "tanh" (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))).
  XG_ARG(std::string, approximate) = "none";
};

/// Gaussian error linear unit.
class GELU : public Module {
 public:
  /// A GELU with `options` (validated; errors name the layer).
  explicit GELU(const GELUOptions& options = {});
  /// Runs the GELU on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  GELUOptions options;
};

/// Options of Softmax and LogSoftmax: the dim to normalize over.
struct SoftmaxOptions {
  SoftmaxOptions(int64_t dim);  // NOLINT: implicit, as libtorch's
  /// The dim normalized over (negative counts from the end).
  XG_ARG(int64_t, dim);
};

/// exp(x) / sum(exp(x)) along dim (stable).
class Softmax : public Module {
 public:
  /// A Softmax with `options` (validated; errors name the layer).
  explicit Softmax(const SoftmaxOptions& options);
  /// Runs the Softmax on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  SoftmaxOptions options;
};

/// Options of LogSoftmax.
using LogSoftmaxOptions = SoftmaxOptions;

/// x - logsumexp(x) along dim (stable).
class LogSoftmax : public Module {
 public:
  /// A LogSoftmax with `options` (validated; errors name the layer).
  explicit LogSoftmax(const LogSoftmaxOptions& options);
  /// Runs the LogSoftmax on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  LogSoftmaxOptions options;
};

// ---------------------------------------------------------------- Dropout

/// Options of Dropout: DropoutOptions(0.5) or DropoutOptions().p(0.2).
struct DropoutOptions {
  DropoutOptions(double p = 0.5);  // NOLINT: implicit, as libtorch's
  /// Probability of zeroing an element, in [0, 1].
  XG_ARG(double, p);
};

/// In training mode zeroes each element with probability p and scales the others by 1/(1-p)
/// (draws from the global generator); in eval mode returns the input.
class Dropout : public Module {
 public:
  /// A Dropout with `options` (validated; errors name the layer).
  explicit Dropout(const DropoutOptions& options = {});
  /// Runs the Dropout on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  DropoutOptions options;
};

// ---------------------------------------------------------------- BatchNorm

/// Options of BatchNorm1d/2d: BatchNormOptions(64).eps(1e-5).momentum(0.1).
struct BatchNormOptions {
  BatchNormOptions(int64_t num_features);  // NOLINT: implicit, as libtorch's
  /// C, the size of dim 1 of the input.
  XG_ARG(int64_t, num_features);
  /// Added to the variance before the square root.
  XG_ARG(double, eps) = 1e-5;
  /// running = (1 - momentum) running + momentum batch; nullopt: cumulative average
  /// (factor 1 / num_batches_tracked).
  XG_ARG(std::optional<double>, momentum) = 0.1;
  /// Learn a per-channel scale (weight, init 1) and shift (bias, init 0).
  XG_ARG(bool, affine) = true;
  /// Keep running_mean/running_var/num_batches_tracked and use them in eval mode; without them
  /// batch statistics are used in both modes.
  XG_ARG(bool, track_running_stats) = true;
};

/// Shared implementation of BatchNorm1d and BatchNorm2d. Training: normalizes each channel with
/// the batch mean and the biased batch variance, and updates running_mean and running_var (the
/// unbiased variance) with momentum, and num_batches_tracked (int64) by one. Eval: uses the
/// running statistics. y = (x - mean) / sqrt(var + eps) * weight + bias, all with differentiable
/// ops (second derivatives work).
class BatchNormBase : public Module {
 public:
  /// running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  /// reset_running_stats(), weight = 1, bias = 0.
  void reset_parameters();
  /// Runs the BatchNormBase on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;

  BatchNormOptions options;
  /// [C] scale (undefined unless affine).
  Tensor weight() { return local("weight"); }
  /// [C] shift (undefined unless affine).
  Tensor bias() { return local("bias"); }
  /// [C] running mean (undefined unless track_running_stats).
  Tensor running_mean() { return local("running_mean"); }
  /// [C] running unbiased variance (undefined unless track_running_stats).
  Tensor running_var() { return local("running_var"); }
  /// 0-d int64 count of training batches seen (undefined unless track_running_stats).
  Tensor num_batches_tracked() { return local("num_batches_tracked"); }

 protected:
  /// Registers weight/bias and the running statistics; `name` is the printed type.
  BatchNormBase(const char* name, const BatchNormOptions& options);
  /// Throws unless the input has a shape this layer accepts.
  virtual void check_input(const Tensor& input) const = 0;
};

/// Batch normalization over [N, C] or [N, C, L] (statistics over N, or N and L).
class BatchNorm1d : public BatchNormBase {
 public:
  /// A BatchNorm1d with `options` (validated; errors name the layer).
  explicit BatchNorm1d(const BatchNormOptions& options);

 protected:
  /// Throws unless the input's rank fits this layer.
  void check_input(const Tensor& input) const override;
};

/// Batch normalization over [N, C, H, W] (statistics over N, H and W per channel).
class BatchNorm2d : public BatchNormBase {
 public:
  /// A BatchNorm2d with `options` (validated; errors name the layer).
  explicit BatchNorm2d(const BatchNormOptions& options);

 protected:
  /// Throws unless the input's rank fits this layer.
  void check_input(const Tensor& input) const override;
};

}  // namespace xg::nn
