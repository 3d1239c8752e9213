#pragma once
// Loss modules: the functional losses (nn/functional.hpp) held with their options, as
// torch::nn::CrossEntropyLoss and friends. Call them with two tensors:
//
//   nn::CrossEntropyLoss criterion(nn::CrossEntropyLossOptions().label_smoothing(0.1));
//   Tensor loss = criterion(logits, labels);
//
// Class weights (weight, pos_weight) are registered as buffers, so to(dtype) converts them and
// state_dict() holds them, as in PyTorch.
#include <string>

#include "autograd/tensor.hpp"
#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace xg::nn {

/// Base of the loss modules: forward(input, target), called through operator() under the
/// module's scope.
class Loss : public Module {
 public:
  using Module::Module;
  /// The loss of input against target.
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  /// Runs forward(input, target) inside this module's scope (as Module::operator()).
  Tensor operator()(const Tensor& input, const Tensor& target);
  /// A loss needs a target: fails naming the module.
  Tensor forward(const Tensor& input) override;
};

/// cross_entropy(input, target, options) as a module.
class CrossEntropyLoss : public Loss {
 public:
  /// Options are validated here (label_smoothing in [0, 1], weight 1-D).
  explicit CrossEntropyLoss(CrossEntropyLossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// Non-default options, e.g. "ignore_index=-1, label_smoothing=0.1, weight=[10]".
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  CrossEntropyLossOptions options;
};

/// nll_loss(input, target, options) as a module.
class NLLLoss : public Loss {
 public:
  /// A loss with these options.
  explicit NLLLoss(NLLLossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// The options that differ from the defaults ("reduction=sum").
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  NLLLossOptions options;
};

/// mse_loss(input, target, options) as a module.
class MSELoss : public Loss {
 public:
  /// A loss with these options.
  explicit MSELoss(MSELossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// The options that differ from the defaults ("reduction=sum").
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  MSELossOptions options;
};

/// l1_loss(input, target, options) as a module.
class L1Loss : public Loss {
 public:
  /// A loss with these options.
  explicit L1Loss(L1LossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// The options that differ from the defaults ("reduction=sum").
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  L1LossOptions options;
};

/// smooth_l1_loss(input, target, options) as a module.
class SmoothL1Loss : public Loss {
 public:
  /// beta >= 0 is checked here.
  explicit SmoothL1Loss(SmoothL1LossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// The options that differ from the defaults ("reduction=sum").
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  SmoothL1LossOptions options;
};

/// binary_cross_entropy(input, target, options) as a module (input: probabilities).
class BCELoss : public Loss {
 public:
  /// A loss with these options.
  explicit BCELoss(BCELossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// The options that differ from the defaults ("reduction=sum").
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  BCELossOptions options;
};

/// binary_cross_entropy_with_logits(input, target, options) as a module (input: logits).
class BCEWithLogitsLoss : public Loss {
 public:
  /// A loss with these options.
  explicit BCEWithLogitsLoss(BCEWithLogitsLossOptions options = {});
  using Loss::forward;
  /// The functional loss of input against target with these options.
  Tensor forward(const Tensor& input, const Tensor& target) override;
  /// The options that differ from the defaults ("reduction=sum").
  std::string extra_repr() const override;
  /// The options given (forward uses the weight buffers, converted by to()).
  BCEWithLogitsLossOptions options;
};

}  // namespace xg::nn
