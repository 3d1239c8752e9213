#pragma once
// nn::Module: the base of every layer and model. A module registers its parameters (tensors that
// train), buffers (state that does not, e.g. BatchNorm's running statistics) and child modules
// by name; everything else (parameters(), state_dict(), train()/eval(), printing) walks that
// registry, so a model never lists its parameters by hand. Names mirror libtorch, without its
// TORCH_MODULE/Impl holders: a model is a plain class held by std::shared_ptr.
//
//   struct Net : nn::Module {
//     std::shared_ptr<nn::Linear> fc1, fc2;
//     Net() : Module("Net") {
//       fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 256));
//       fc2 = register_module("fc2", std::make_shared<nn::Linear>(256, 10));
//     }
//     Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(flatten(x, 1)))); }
//   };
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg::nn {

/// Tensors with dotted names, in registration order ("features.0.weight", ...).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
class Module;
/// Child modules with their names, in registration order.
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  /// `type_name` is what printing shows ("Linear", "Net").
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The computation of a module with one tensor input; modules with other signatures define
  /// their own forward and call it through scope().
  virtual Tensor forward(const Tensor& input);
  /// Runs forward(input) inside this module's scope, so the nodes it records carry the module's
  /// dotted path from the root module (graph clusters in viz).
  Tensor operator()(const Tensor& input);

  // ---- registration ----
  /// Adds a parameter; an undefined tensor is allowed (e.g. no bias) and is skipped by
  /// parameters(). Sets requires_grad on it. Returns the stored tensor.
  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  /// Adds a buffer: state saved in state_dict() that does not train (undefined allowed).
  Tensor& register_buffer(const std::string& name, Tensor tensor);
  /// Adds a child module; names are non-empty, contain no '.', and are unique in this module.
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- traversal ----
  /// Parameters of this module and (recurse) its descendants, each once, in registration order.
  TensorList parameters(bool recurse = true) const;
  /// The same with dotted names ("features.0.weight").
  NamedTensors named_parameters(bool recurse = true) const;
  TensorList buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  /// Direct children.
  std::vector<std::shared_ptr<Module>> children() const;
  NamedModules named_children() const;
  /// This module (named "", null if not held by a std::shared_ptr) and all descendants with
  /// dotted names, depth first.
  NamedModules named_modules();
  /// Dotted path from the root module this one was first registered under ("" for a root).
  std::string path() const;
  /// A registered parameter or buffer of this module by its local name; fails naming the module.
  Tensor& local(const std::string& name);

  // ---- modes and state ----
  /// Sets training mode here and in all descendants (Dropout, BatchNorm behave differently).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears the gradients of all parameters (set_to_none: undefined, else zero-filled).
  void zero_grad(bool set_to_none = true);
  /// Calls fn on this module and every descendant (depth first, parents first).
  void apply(const std::function<void(Module&)>& fn);
  /// Converts all floating point parameters and buffers to dtype (int64 buffers stay).
  void to(Dtype dtype);

  /// Parameters and buffers with dotted names; the tensors share data with the module's.
  NamedTensors state_dict() const;
  /// Copies values from `state` into the parameters and buffers. strict: every key must be
  /// present and none unexpected. All problems (missing, unexpected, mis-shaped or mis-typed
  /// keys) are reported together, and on any error nothing is changed.
  void load_state_dict(const NamedTensors& state, bool strict = true);

  // ---- printing ----
  const std::string& type_name() const { return type_name_; }
  /// The one-line description, e.g. "Linear(in_features=784, out_features=256, bias=true)";
  /// defaults to the type name.
  virtual std::string extra_repr() const { return ""; }
  /// PyTorch-style nested text: "Sequential(\n  (0): Linear(...)\n  ...\n)".
  std::string to_string() const;
  /// A table of every module with its parameter count, and the totals.
  std::string summary() const;

 protected:
  void add_child(const std::string& name, std::shared_ptr<Module> module);

 private:
  void check_name(const char* what, const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out) const;

  std::string type_name_;
  std::string scope_name_;          // the name it was first registered under (its graph scope)
  const Module* parent_ = nullptr;  // the module it was first registered in
  bool training_ = true;
  NamedTensors parameters_;
  NamedTensors buffers_;
  NamedModules children_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace xg::nn
