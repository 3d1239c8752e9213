#pragma once
// Optimizer: parameter groups with their own options, per-parameter state, zero_grad, step,
// and state_dict/load_state_dict to resume training exactly.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"
#include "optim/options.hpp"

namespace xg::optim {

/// Some parameters and the options they are updated with (e.g. no weight decay on biases).
class ParamGroup {
 public:
  /// A group that takes the optimizer's default options.
  ParamGroup(std::vector<Tensor> params);  // NOLINT: implicit, as libtorch's
  /// A group with its own options (of the optimizer's options type).
  ParamGroup(std::vector<Tensor> params, const OptimizerOptions& options);
  ParamGroup(const ParamGroup& other);
  ParamGroup& operator=(const ParamGroup& other);
  ParamGroup(ParamGroup&&) = default;
  ParamGroup& operator=(ParamGroup&&) = default;

  /// The group's parameters (leaf tensors).
  std::vector<Tensor>& params() { return params_; }
  const std::vector<Tensor>& params() const { return params_; }
  /// True once the group has options (always true inside an optimizer).
  bool has_options() const { return options_ != nullptr; }
  /// The group's options; cast to the optimizer's type, e.g. static_cast<SGDOptions&>.
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  /// Replaces the group's options with a copy of `options`.
  void set_options(const OptimizerOptions& options);
  /// The group's learning rate.
  double lr() const { return options().get_lr(); }
  /// Sets the group's learning rate.
  void set_lr(double lr) { options().set_lr(lr); }
  /// The lr when the first LR scheduler was attached (PyTorch's group["initial_lr"]).
  std::optional<double> initial_lr() const { return initial_lr_; }
  /// Records the lr schedulers start from.
  void set_initial_lr(double lr) { initial_lr_ = lr; }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
  std::optional<double> initial_lr_;
};

/// One parameter's optimizer state: the number of updates and named buffers shaped like it.
struct ParamState {
  /// Updates applied to the parameter so far.
  int64_t step = 0;
  /// "momentum_buffer", "exp_avg", "exp_avg_sq", ... -> tensor of the parameter's shape.
  std::map<std::string, Tensor, std::less<>> buffers;

  /// The buffer `name`, or nullptr if it does not exist yet.
  Tensor* find(const char* name);
  /// The buffer `name`, created filled with `value` in the shape and dtype of `param` if absent.
  Tensor& buffer(const char* name, const Tensor& param, double value = 0.0);
};

/// A copy of an optimizer's options and state that can resume training exactly.
struct OptimizerStateDict {
  /// One parameter group: its options by name and its parameters' state, in order.
  struct Group {
    /// Real-valued options: "lr", "momentum", "beta1", ... (and "initial_lr" once scheduled).
    std::map<std::string, double> doubles;
    /// Flags: "nesterov", "amsgrad", "maximize", ...
    std::map<std::string, bool> bools;
    /// Shapes of the group's parameters (checked on load).
    std::vector<Shape> shapes;
    /// State of each parameter (buffers are clones), aligned with shapes.
    std::vector<ParamState> state;
  };
  /// "SGD", "Adam", ...: the optimizer that made it.
  std::string optimizer;
  /// One entry per parameter group.
  std::vector<Group> groups;
};

/// Re-evaluates the model and returns the loss (for step(closure)).
using LossClosure = std::function<Tensor()>;

/// Base of all optimizers: holds parameter groups and per-parameter state; subclasses update.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Applies one update to every parameter that has a gradient (no graph is recorded).
  virtual void step() = 0;
  /// Evaluates `closure` with grad mode on, then updates; returns the loss it gave.
  Tensor step(const LossClosure& closure);
  /// Clears the gradients: undefined when set_to_none (the default), else zero-filled.
  void zero_grad(bool set_to_none = true);
  /// Adds a group; it takes the default options if it has none. Validates it like the constructor.
  void add_param_group(const ParamGroup& group);

  /// The parameter groups, in order (schedulers change their lr).
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  /// The options new groups take when they have none.
  const OptimizerOptions& defaults() const { return *defaults_; }
  /// Per-parameter state, [group][param].
  const std::vector<std::vector<ParamState>>& state() const { return state_; }
  /// "SGD", "Adam", ...
  const char* name() const { return defaults_->optimizer_name(); }

  /// A copy of the options of every group and the state of every parameter.
  OptimizerStateDict state_dict() const;
  /// Restores options and state; throws naming the mismatch (and leaves *this unchanged) if the
  /// dict came from another optimizer or from groups of other counts or shapes.
  void load_state_dict(const OptimizerStateDict& dict);

 protected:
  /// Validates `defaults` and every group; throws "Name: ..." on the first problem.
  Optimizer(std::vector<ParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults);
  /// Calls `update(group, param, grad, state)` for every parameter with a defined gradient, with
  /// grad mode off; bumps each updated parameter's version counter afterwards.
  void for_each_param_with_grad(
      const std::function<void(ParamGroup&, Tensor&, const Tensor&, ParamState&)>& update);

 private:
  void check_group(const ParamGroup& group, std::size_t index) const;

  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;
};

}  // namespace xg::optim
