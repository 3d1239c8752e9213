#pragma once
// RMSprop with momentum, centering, weight decay and maximize, exactly as torch.optim.RMSprop
// (PyTorch 1.13).
#include <vector>

#include "optim/optimizer.hpp"

namespace xg::optim {

/// Options of RMSprop. Example: RMSprop(params, RMSpropOptions(0.01).momentum(0.9).centered(true)).
struct RMSpropOptions : public OptimizerCloneableOptions<RMSpropOptions> {
  /// Options with learning rate `lr`.
  RMSpropOptions(double lr = 1e-2);  // NOLINT: implicit, as libtorch's
  /// Learning rate.
  XG_ARG(double, lr);
  /// Smoothing constant of the squared-gradient average.
  XG_ARG(double, alpha) = 0.99;
  /// Added to the denominator for numerical stability.
  XG_ARG(double, eps) = 1e-8;
  /// L2 penalty: adds weight_decay * param to the gradient.
  XG_ARG(double, weight_decay) = 0;
  /// Momentum factor (0 disables momentum).
  XG_ARG(double, momentum) = 0;
  /// Normalizes by the estimated variance of the gradient instead of its second moment.
  XG_ARG(bool, centered) = false;
  /// Ascends the objective instead of descending it.
  XG_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "RMSprop"; }
  void validate() const override;
  void visit(OptionVisitor& v) override;
};

/// RMSprop. Per parameter, with g the gradient (negated if maximize):
///   g += weight_decay * p;  v = alpha v + (1 - alpha) g^2;  if centered: ga = alpha ga + (1 -
///   alpha) g; avg = sqrt(v - ga^2 if centered else v) + eps; momentum > 0: buf = momentum buf + g
///   / avg, p -= lr buf;  else p -= lr g / avg.
class RMSprop : public Optimizer {
 public:
  /// Optimizes `params` (one group) with `defaults`.
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& defaults = {});
  /// Optimizes several groups; a group without options takes `defaults`.
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& defaults = {});
  using Optimizer::step;
  /// One RMSprop update of every parameter with a gradient.
  void step() override;
};

}  // namespace xg::optim
