#pragma once
// Adagrad with learning-rate decay, weight decay, an initial accumulator value and maximize,
// exactly as torch.optim.Adagrad (PyTorch 1.13).
#include <vector>

#include "optim/optimizer.hpp"

namespace xg::optim {

/// Options of Adagrad. Example: Adagrad(params, AdagradOptions(0.1).lr_decay(1e-3)).
struct AdagradOptions : public OptimizerCloneableOptions<AdagradOptions> {
  /// Options with learning rate `lr`.
  AdagradOptions(double lr = 1e-2);  // NOLINT: implicit, as libtorch's
  /// Learning rate.
  XG_ARG(double, lr);
  /// The lr at step t is lr / (1 + (t - 1) * lr_decay).
  XG_ARG(double, lr_decay) = 0;
  /// L2 penalty: adds weight_decay * param to the gradient.
  XG_ARG(double, weight_decay) = 0;
  /// Starting value of the sum of squared gradients.
  XG_ARG(double, initial_accumulator_value) = 0;
  /// Added to the denominator for numerical stability.
  XG_ARG(double, eps) = 1e-10;
  /// Ascends the objective instead of descending it.
  XG_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Adagrad"; }
  void validate() const override;
  void visit(OptionVisitor& v) override;
};

/// Adagrad. Per parameter at step t, with g the gradient (negated if maximize):
///   g += weight_decay * p;  clr = lr / (1 + (t - 1) lr_decay);  sum += g^2;
///   p -= clr * g / (sqrt(sum) + eps).
class Adagrad : public Optimizer {
 public:
  /// Optimizes `params` (one group) with `defaults`.
  Adagrad(std::vector<Tensor> params, const AdagradOptions& defaults = {});
  /// Optimizes several groups; a group without options takes `defaults`.
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& defaults = {});
  using Optimizer::step;
  /// One Adagrad update of every parameter with a gradient.
  void step() override;
};

}  // namespace xg::optim
