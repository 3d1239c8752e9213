#pragma once
// Stochastic gradient descent with momentum, dampening, weight decay, Nesterov and maximize,
// exactly as torch.optim.SGD (PyTorch 1.13).
#include <vector>

#include "optim/optimizer.hpp"

namespace xg::optim {

/// Options of SGD. Example: SGD(params, SGDOptions(0.1).momentum(0.9).nesterov(true)).
struct SGDOptions : public OptimizerCloneableOptions<SGDOptions> {
  /// Options with learning rate `lr`.
  SGDOptions(double lr);  // NOLINT: implicit, as libtorch's
  /// Learning rate.
  XG_ARG(double, lr);
  /// Momentum factor (0 disables momentum).
  XG_ARG(double, momentum) = 0;
  /// Dampening of the gradient's contribution to the momentum buffer.
  XG_ARG(double, dampening) = 0;
  /// L2 penalty: adds weight_decay * param to the gradient.
  XG_ARG(double, weight_decay) = 0;
  /// Nesterov momentum (needs momentum > 0 and dampening 0).
  XG_ARG(bool, nesterov) = false;
  /// Ascends the objective instead of descending it.
  XG_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "SGD"; }
  void validate() const override;
  void visit(OptionVisitor& v) override;
};

/// SGD. Per parameter, with g the gradient (negated if maximize):
///   g += weight_decay * p;  buf = g on the first step, else momentum * buf + (1 - dampening) * g;
///   g = nesterov ? g + momentum * buf : buf  (when momentum != 0);  p -= lr * g.
class SGD : public Optimizer {
 public:
  /// Optimizes `params` (one group) with `defaults`.
  SGD(std::vector<Tensor> params, const SGDOptions& defaults);
  /// Optimizes several groups; a group without options takes `defaults`.
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);
  using Optimizer::step;
  /// One SGD update of every parameter with a gradient.
  void step() override;
};

}  // namespace xg::optim
