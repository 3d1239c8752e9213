#pragma once
// Options shared by every optimizer (chained setters from XG_ARG, autograd/arg.hpp).
#include <memory>
#include <string>

#include "autograd/arg.hpp"

namespace xg::optim {

/// Reads or writes options by name (state_dict and load_state_dict go through it).
class OptionVisitor {
 public:
  virtual ~OptionVisitor() = default;
  /// Visits a real-valued option such as "lr" or "momentum".
  virtual void operator()(const char* name, double& value) = 0;
  /// Visits a flag such as "nesterov" or "amsgrad".
  virtual void operator()(const char* name, bool& value) = 0;
};

/// Base of every optimizer's options: the learning rate (used by LR schedulers), validation and
/// named access to all values.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  /// A deep copy with the same dynamic type.
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  /// "SGD", "Adam", ... (prefixes error messages).
  virtual const char* optimizer_name() const = 0;
  /// Throws std::invalid_argument naming the optimizer and the bad value.
  virtual void validate() const = 0;
  /// Calls `v(name, value)` for every option, so it can be read or written by name.
  virtual void visit(OptionVisitor& v) = 0;
  /// The learning rate.
  virtual double get_lr() const = 0;
  /// Sets the learning rate (LR schedulers call this).
  virtual void set_lr(double lr) = 0;
};

/// Implements clone/get_lr/set_lr for an options struct `Derived` that has `lr()` and `lr(v)`.
template <typename Derived>
class OptimizerCloneableOptions : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
  double get_lr() const override { return static_cast<const Derived&>(*this).lr(); }
  void set_lr(double lr) override { static_cast<Derived&>(*this).lr(lr); }
};

namespace detail {
/// A double as Python prints it ("1.0", "-0.1", "1e-10"), for error messages that mirror PyTorch.
std::string format_value(double v);
}  // namespace detail

}  // namespace xg::optim
