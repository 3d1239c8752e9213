// nn::Module: registry of parameters, buffers and children; traversal, modes, state_dict,
// printing.
#include "nn/module.hpp"

#include <iomanip>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "autograd/extend.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"

namespace xg::nn {

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Tensor Module::forward(const Tensor&) {
  fail(type_name_, ": forward(const Tensor&) is not implemented by this module");
}

std::string Module::path() const {
  std::string p = scope_name_;
  for (const Module* m = parent_; m && !m->scope_name_.empty(); m = m->parent_)
    p = m->scope_name_ + "." + p;
  return p;
}

Tensor Module::operator()(const Tensor& input) {
  ScopeGuard scope(path());
  return forward(input);
}

void Module::check_name(const char* what, const std::string& name) const {
  if (name.empty()) fail(type_name_, ".", what, ": the name must not be empty");
  if (name.find('.') != std::string::npos)
    fail(type_name_, ".", what, ": the name \"", name, "\" must not contain '.'");
  auto taken = [&](const auto& list) {
    for (const auto& [n, v] : list)
      if (n == name) return true;
    return false;
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    fail(type_name_, ".", what, ": the name \"", name, "\" is already registered in this module");
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_name("register_parameter", name);
  if (tensor.defined()) {
    if (tensor.dtype() == Dtype::int64)
      fail(type_name_, ".register_parameter: parameter \"", name,
           "\" is int64; parameters must be float32 or float64");
    if (!tensor.is_leaf())
      fail(type_name_, ".register_parameter: parameter \"", name, "\" was made by ",
           tensor.grad_fn()->name(), "; register a leaf (use detach())");
    tensor.requires_grad_(requires_grad);
  }
  parameters_.emplace_back(name, std::move(tensor));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor) {
  check_name("register_buffer", name);
  buffers_.emplace_back(name, std::move(tensor));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_name("register_module", name);
  if (!module) fail(type_name_, ".register_module: module \"", name, "\" is null");
  if (module.get() == this) fail(type_name_, ".register_module: a module cannot contain itself");
  if (!module->parent_) {  // the first registration names its graph scope
    module->scope_name_ = name;
    module->parent_ = this;
  }
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool params, bool recurse,
                     NamedTensors& out) const {
  for (const auto& [name, t] : params ? parameters_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", params, true, out);
}

namespace {
/// Drops later entries that share a tensor with an earlier one (a module registered twice).
NamedTensors unique(NamedTensors all) {
  std::set<const void*> seen;
  NamedTensors out;
  for (auto& [name, t] : all)
    if (seen.insert(t.impl()).second) out.emplace_back(std::move(name), std::move(t));
  return out;
}
TensorList values(const NamedTensors& named) {
  TensorList out;
  out.reserve(named.size());
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}
}  // namespace

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, recurse, out);
  return unique(std::move(out));
}
TensorList Module::parameters(bool recurse) const { return values(named_parameters(recurse)); }
NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, recurse, out);
  return unique(std::move(out));
}
TensorList Module::buffers(bool recurse) const { return values(named_buffers(recurse)); }

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, m] : children_) out.push_back(m);
  return out;
}
NamedModules Module::named_children() const { return children_; }

NamedModules Module::named_modules() {
  NamedModules out;
  // Iterative depth-first walk, parents before children, each module once. The root entry is
  // null when this module is not owned by a std::shared_ptr.
  std::set<const Module*> seen;
  out.emplace_back("", weak_from_this().lock());
  seen.insert(this);
  std::vector<std::pair<std::string, const Module*>> todo{{"", this}};
  while (!todo.empty()) {
    auto [prefix, m] = todo.back();
    todo.pop_back();
    std::vector<std::pair<std::string, const Module*>> next;
    for (const auto& [name, child] : m->children_) {
      if (!seen.insert(child.get()).second) continue;
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      out.emplace_back(path, child);
      next.emplace_back(path, child.get());
    }
    todo.insert(todo.end(), next.rbegin(), next.rend());
  }
  return out;
}

Tensor& Module::local(const std::string& name) {
  for (auto* list : {&parameters_, &buffers_})
    for (auto& [n, t] : *list)
      if (n == name) return t;
  fail(type_name_, ": no parameter or buffer named \"", name, "\"");
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (set_to_none || !p.grad().defined()) {
      p.set_grad(Tensor());
    } else {
      NoGradGuard no_grad;
      p.grad().zero_();
    }
  }
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [path, m] : named_modules()) fn(m ? *m : *this);
}

void Module::to(Dtype dtype) {
  if (dtype == Dtype::int64) fail(type_name_, ".to: parameters cannot be int64");
  auto convert = [&](NamedTensors& list, bool params) {
    for (auto& [name, t] : list) {
      if (!t.defined() || t.dtype() == Dtype::int64 || t.dtype() == dtype) continue;
      NoGradGuard no_grad;
      const bool rg = t.requires_grad();
      t = t.to(dtype).detach();
      if (params) t.requires_grad_(rg);
    }
  };
  apply([&](Module& m) {
    convert(m.parameters_, true);
    convert(m.buffers_, false);
  });
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& b : named_buffers()) out.push_back(std::move(b));
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> duplicated;
  for (const auto& [name, t] : state)
    if (!given.emplace(name, &t).second) duplicated.push_back(name);
  std::vector<std::string> missing, unexpected, mismatched;
  NamedTensors own = state_dict();
  std::set<std::string> own_names;
  for (const auto& [name, t] : own) {
    own_names.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& src = *it->second;
    if (!src.defined())
      mismatched.push_back(name + " (undefined tensor)");
    else if (src.shape() != t.shape() || src.dtype() != t.dtype())
      mismatched.push_back(name + " (checkpoint " + shape_str(src.shape()) + " " +
                           dtype_name(src.dtype()) + ", model " + shape_str(t.shape()) + " " +
                           dtype_name(t.dtype()) + ")");
  }
  for (const auto& [name, t] : given)
    if (!own_names.count(name)) unexpected.push_back(name);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  std::string problems;
  if (!duplicated.empty()) problems += "; duplicate keys: " + list(duplicated);
  if (!mismatched.empty()) problems += "; mismatched: " + list(mismatched);
  if (strict && !missing.empty()) problems += "; missing keys: " + list(missing);
  if (strict && !unexpected.empty()) problems += "; unexpected keys: " + list(unexpected);
  if (!problems.empty()) fail(type_name_, ".load_state_dict: nothing was loaded", problems);
  // Everything checked: copy (no step below can fail).
  NoGradGuard no_grad;
  for (auto& [name, t] : own) {
    auto it = given.find(name);
    if (it != given.end()) t.copy_(*it->second);
  }
}

namespace {
void print(std::ostream& os, const Module& m, const std::string& indent) {
  os << m.type_name() << "(";
  const auto kids = m.named_children();
  const std::string extra = m.extra_repr();
  if (kids.empty()) {
    os << extra << ")";
    return;
  }
  os << "\n";
  if (!extra.empty()) os << indent << "  " << extra << "\n";
  for (const auto& [name, child] : kids) {
    os << indent << "  (" << name << "): ";
    print(os, *child, indent + "  ");
    os << "\n";
  }
  os << indent << ")";
}
std::size_t count(const TensorList& ts) {
  std::size_t n = 0;
  for (const Tensor& t : ts) n += t.numel();
  return n;
}
}  // namespace

std::string Module::to_string() const {
  std::ostringstream os;
  print(os, *this, "");
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.to_string(); }

std::string Module::summary() const {
  std::ostringstream os;
  std::vector<std::pair<std::string, const Module*>> rows{{"", this}};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<std::pair<std::string, const Module*>> kids;
    for (const auto& [name, c] : rows[i].second->children_)
      kids.emplace_back(rows[i].first.empty() ? name : rows[i].first + "." + name, c.get());
    rows.insert(rows.begin() + static_cast<std::ptrdiff_t>(i) + 1, kids.begin(), kids.end());
  }
  std::size_t width = 6;
  for (const auto& [path, m] : rows)
    width = std::max(width, path.size() + m->type_name().size() + 3);
  os << std::left << std::setw(static_cast<int>(width)) << "module" << std::right << std::setw(14)
     << "own params" << std::setw(14) << "total"
     << "\n";
  for (const auto& [path, m] : rows) {
    const std::string label =
        (path.empty() ? std::string("(root)") : path) + " (" + m->type_name() + ")";
    os << std::left << std::setw(static_cast<int>(width)) << label << std::right << std::setw(14)
       << count(m->parameters(false)) << std::setw(14) << count(m->parameters()) << "\n";
  }
  std::size_t trainable = 0;
  for (const Tensor& p : parameters())
    if (p.requires_grad()) trainable += p.numel();
  os << "total parameters: " << count(parameters()) << " (trainable " << trainable
     << "), buffers: " << count(buffers()) << " elements\n";
  return os.str();
}

}  // namespace xg::nn
