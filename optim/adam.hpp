#pragma once
// Adam and AdamW (decoupled weight decay), with amsgrad and maximize, exactly as torch.optim.Adam
// and torch.optim.AdamW (PyTorch 1.13).
#include <tuple>
#include <vector>

#include "optim/optimizer.hpp"

namespace xg::optim {

/// (beta1, beta2) of Adam and AdamW.
using AdamBetas = std::tuple<double, double>;

/// Options of Adam. Example: Adam(params, AdamOptions(1e-3).betas({0.9, 0.99}).amsgrad(true)).
struct AdamOptions : public OptimizerCloneableOptions<AdamOptions> {
  /// Options with learning rate `lr`.
  AdamOptions(double lr = 1e-3);  // NOLINT: implicit, as libtorch's
  /// Learning rate.
  XG_ARG(double, lr);
  /// Decay rates (beta1, beta2) of the first and second moment averages, each in [0, 1).
  XG_ARG(AdamBetas, betas) = {0.9, 0.999};
  /// Added to the denominator for numerical stability.
  XG_ARG(double, eps) = 1e-8;
  /// L2 penalty: adds weight_decay * param to the gradient.
  XG_ARG(double, weight_decay) = 0;
  /// Uses the running maximum of the second moment (AMSGrad).
  XG_ARG(bool, amsgrad) = false;
  /// Ascends the objective instead of descending it.
  XG_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Adam"; }
  void validate() const override;
  void visit(OptionVisitor& v) override;
};

/// Options of AdamW: as Adam's, with decoupled weight decay (default 1e-2).
struct AdamWOptions : public OptimizerCloneableOptions<AdamWOptions> {
  /// Options with learning rate `lr`.
  AdamWOptions(double lr = 1e-3);  // NOLINT: implicit, as libtorch's
  /// Learning rate.
  XG_ARG(double, lr);
  /// Decay rates (beta1, beta2) of the first and second moment averages, each in [0, 1).
  XG_ARG(AdamBetas, betas) = {0.9, 0.999};
  /// Added to the denominator for numerical stability.
  XG_ARG(double, eps) = 1e-8;
  /// Decoupled weight decay: p *= 1 - lr * weight_decay before the Adam update.
  XG_ARG(double, weight_decay) = 1e-2;
  /// Uses the running maximum of the second moment (AMSGrad).
  XG_ARG(bool, amsgrad) = false;
  /// Ascends the objective instead of descending it.
  XG_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "AdamW"; }
  void validate() const override;
  void visit(OptionVisitor& v) override;
};

/// Adam. Per parameter at step t, with g the gradient (negated if maximize):
///   g += weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
///   vmax = max(vmax, v) if amsgrad;  p -= lr / (1 - b1^t) * m / (sqrt(v or vmax) / sqrt(1 - b2^t)
///   + eps).
class Adam : public Optimizer {
 public:
  /// Optimizes `params` (one group) with `defaults`.
  Adam(std::vector<Tensor> params, const AdamOptions& defaults = {});
  /// Optimizes several groups; a group without options takes `defaults`.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = {});
  using Optimizer::step;
  /// One Adam update of every parameter with a gradient.
  void step() override;
};

/// AdamW: p *= 1 - lr * weight_decay, then the Adam update without weight decay in g.
class AdamW : public Optimizer {
 public:
  /// Optimizes `params` (one group) with `defaults`.
  AdamW(std::vector<Tensor> params, const AdamWOptions& defaults = {});
  /// Optimizes several groups; a group without options takes `defaults`.
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = {});
  using Optimizer::step;
  /// One AdamW update of every parameter with a gradient.
  void step() override;
};

}  // namespace xg::optim
