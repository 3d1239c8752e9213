#include "optim/optimizer.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <typeinfo>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"

namespace xg::optim {

std::string detail::format_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// ---- ParamGroup ----
ParamGroup::ParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
ParamGroup::ParamGroup(std::vector<Tensor> params, const OptimizerOptions& options)
    : params_(std::move(params)), options_(options.clone()) {}
ParamGroup::ParamGroup(const ParamGroup& o)
    : params_(o.params_),
      options_(o.options_ ? o.options_->clone() : nullptr),
      initial_lr_(o.initial_lr_) {}
ParamGroup& ParamGroup::operator=(const ParamGroup& o) {
  if (this != &o) {
    params_ = o.params_;
    options_ = o.options_ ? o.options_->clone() : nullptr;
    initial_lr_ = o.initial_lr_;
  }
  return *this;
}
OptimizerOptions& ParamGroup::options() {
  if (!options_) fail("ParamGroup: the group has no options yet (add it to an optimizer first)");
  return *options_;
}
const OptimizerOptions& ParamGroup::options() const {
  return const_cast<ParamGroup*>(this)->options();
}
void ParamGroup::set_options(const OptimizerOptions& options) { options_ = options.clone(); }

// ---- ParamState ----
Tensor* ParamState::find(const char* name) {
  auto it = buffers.find(std::string_view(name));
  return it == buffers.end() ? nullptr : &it->second;
}
Tensor& ParamState::buffer(const char* name, const Tensor& param, double value) {
  if (Tensor* t = find(name)) return *t;
  return buffers.emplace(name, full(param.shape(), value, param.dtype())).first->second;
}

// ---- Optimizer ----
Optimizer::Optimizer(std::vector<ParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults)
    : defaults_(std::move(defaults)) {
  defaults_->validate();
  if (groups.empty() || (groups.size() == 1 && groups[0].params().empty()))
    fail(name(), ": optimizer got an empty parameter list",
         " (from a model's parameters()? its layers must be registered with register_module)");
  for (const ParamGroup& g : groups) add_param_group(g);
}

void Optimizer::check_group(const ParamGroup& group, std::size_t index) const {
  const OptimizerOptions& o = group.options();
  if (typeid(o) != typeid(*defaults_))
    fail(name(), ": parameter group ", index, " has options of another optimizer (",
         o.optimizer_name(), ")");
  o.validate();
  if (group.params().empty()) fail(name(), ": parameter group ", index, " has no parameters");
  std::set<const TensorImpl*> seen;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params()) seen.insert(p.impl());
  for (std::size_t j = 0; j < group.params().size(); ++j) {
    const Tensor& p = group.params()[j];
    if (!p.defined()) fail(name(), ": parameter ", j, " of group ", index, " is undefined");
    if (p.dtype() == Dtype::int64)
      fail(name(), ": can't optimize an int64 tensor (parameter ", j, " of group ", index,
           "); only floating point tensors have gradients");
    if (!p.is_leaf())
      fail(name(), ": can't optimize a non-leaf tensor (parameter ", j, " of group ", index,
           ", shape ", p.shape(), ", made by ", p.grad_fn()->name(), ")");
    if (!seen.insert(p.impl()).second)
      fail(name(), ": some parameters appear in more than one parameter group (parameter ", j,
           " of group ", index, ", shape ", p.shape(), ")");
  }
}

void Optimizer::add_param_group(const ParamGroup& group) {
  ParamGroup g = group;
  if (!g.has_options()) g.set_options(*defaults_);
  check_group(g, groups_.size());
  state_.emplace_back(g.params().size());
  groups_.push_back(std::move(g));
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params()) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        if (grad.grad_fn() || grad.requires_grad()) {  // a create_graph gradient: cut it off
          grad = grad.detach();
          p.set_grad(grad);
        }
        grad.zero_();
      }
    }
}

Tensor Optimizer::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    EnableGradGuard enable_grad;
    loss = closure();
  }
  step();
  return loss;
}

void Optimizer::for_each_param_with_grad(
    const std::function<void(ParamGroup&, Tensor&, const Tensor&, ParamState&)>& update) {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    std::vector<Tensor>& params = groups_[i].params();
    for (std::size_t j = 0; j < params.size(); ++j) {
      Tensor& p = params[j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      ParamState& st = state_[i][j];
      ++st.step;
      update(groups_[i], p, grad, st);
      bump_version(p);  // the update wrote p's buffer in place
    }
  }
}

// ---- state_dict ----
namespace {
/// Copies options into a group of a state dict.
class OptionWriter final : public OptionVisitor {
 public:
  explicit OptionWriter(OptimizerStateDict::Group& g) : g_(g) {}
  void operator()(const char* name, double& v) override { g_.doubles[name] = v; }
  void operator()(const char* name, bool& v) override { g_.bools[name] = v; }

 private:
  OptimizerStateDict::Group& g_;
};

/// Sets options from a group of a state dict; throws on a missing name.
class OptionReader final : public OptionVisitor {
 public:
  OptionReader(const OptimizerStateDict::Group& g, const char* opt, std::size_t index)
      : g_(g), opt_(opt), index_(index) {}
  void operator()(const char* name, double& v) override { v = get(g_.doubles, name); }
  void operator()(const char* name, bool& v) override { v = get(g_.bools, name); }
  std::size_t used = 0;

 private:
  template <typename T>
  T get(const std::map<std::string, T>& m, const char* name) {
    auto it = m.find(name);
    if (it == m.end())
      fail(opt_, ": load_state_dict: group ", index_, " has no option \"", name, "\"");
    ++used;
    return it->second;
  }
  const OptimizerStateDict::Group& g_;
  const char* opt_;
  std::size_t index_;
};

Tensor copy_buffer(const Tensor& t, Dtype dtype) {
  NoGradGuard no_grad;
  return t.detach().to(dtype).clone().detach();
}
}  // namespace

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict dict;
  dict.optimizer = name();
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    const ParamGroup& g = groups_[i];
    OptimizerStateDict::Group out;
    OptionWriter writer(out);
    g.options().clone()->visit(writer);
    if (g.initial_lr()) out.doubles["initial_lr"] = *g.initial_lr();
    for (std::size_t j = 0; j < g.params().size(); ++j) {
      const Tensor& p = g.params()[j];
      out.shapes.push_back(p.shape());
      ParamState s;
      s.step = state_[i][j].step;
      for (const auto& [key, buf] : state_[i][j].buffers)
        s.buffers.emplace(key, copy_buffer(buf, buf.dtype()));
      out.state.push_back(std::move(s));
    }
    dict.groups.push_back(std::move(out));
  }
  return dict;
}

void Optimizer::load_state_dict(const OptimizerStateDict& dict) {
  const char* opt = name();
  if (dict.optimizer != opt)
    fail(opt, ": load_state_dict: the state dict was saved by ",
         dict.optimizer.empty() ? std::string("an unknown optimizer") : dict.optimizer);
  if (dict.groups.size() != groups_.size())
    fail(opt, ": load_state_dict: the state dict has ", dict.groups.size(),
         " parameter groups, the optimizer has ", groups_.size());
  // Build everything aside first, so a failure leaves the optimizer unchanged.
  std::vector<std::unique_ptr<OptimizerOptions>> options;
  std::vector<std::optional<double>> initial_lrs;
  std::vector<std::vector<ParamState>> state(groups_.size());
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    const OptimizerStateDict::Group& in = dict.groups[i];
    const std::vector<Tensor>& params = groups_[i].params();
    if (in.shapes.size() != params.size() || in.state.size() != params.size())
      fail(opt, ": load_state_dict: group ", i, " of the state dict has ", in.shapes.size(),
           " parameters, the optimizer's has ", params.size());
    std::unique_ptr<OptimizerOptions> o = groups_[i].options().clone();
    OptionReader reader(in, opt, i);
    o->visit(reader);
    auto it = in.doubles.find("initial_lr");
    const std::size_t known = reader.used + (it != in.doubles.end() ? 1 : 0);
    if (known != in.doubles.size() + in.bools.size())
      fail(opt, ": load_state_dict: group ", i, " has options ", opt, " does not know");
    o->validate();
    options.push_back(std::move(o));
    initial_lrs.push_back(it != in.doubles.end() ? std::optional<double>(it->second)
                                                 : std::nullopt);
    for (std::size_t j = 0; j < params.size(); ++j) {
      const Shape& shape = params[j].shape();
      if (in.shapes[j] != shape)
        fail(opt, ": load_state_dict: parameter ", j, " of group ", i, " has shape ", shape,
             " but the state dict's has shape ", in.shapes[j]);
      ParamState s;
      s.step = in.state[j].step;
      for (const auto& [key, buf] : in.state[j].buffers) {
        if (!buf.defined() || buf.shape() != shape)
          fail(opt, ": load_state_dict: state \"", key, "\" of parameter ", j, " of group ", i,
               " has shape ", buf.defined() ? shape_str(buf.shape()) : "undefined", ", expected ",
               shape);
        s.buffers.emplace(key, copy_buffer(buf, params[j].dtype()));
      }
      state[i].push_back(std::move(s));
    }
  }
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    groups_[i].set_options(*options[i]);
    if (initial_lrs[i]) groups_[i].set_initial_lr(*initial_lrs[i]);
  }
  state_ = std::move(state);
}

}  // namespace xg::optim
