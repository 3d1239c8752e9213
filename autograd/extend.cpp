// Custom autograd functions (xg::Function) and the non-template helpers of autograd/extend.hpp.
#include "autograd/extend.hpp"

#include <cxxabi.h>

#include <cctype>
#include <cstdlib>

#include "autograd/detail/impl.hpp"

namespace xg {

void* graph_allocate(std::size_t bytes) { return pool_allocate(bytes); }
void graph_deallocate(void* p, std::size_t bytes) { pool_deallocate(p, bytes); }

void bump_version(const Tensor& t) {
  check_defined("bump_version", t);
  t.impl()->storage->version++;
}

// ---- SavedValue ----
double SavedValue::to_double() const {
  if (const double* d = std::get_if<double>(&v_)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  fail("saved_data: the value is not a number");
}
int64_t SavedValue::to_int() const {
  if (const int64_t* i = std::get_if<int64_t>(&v_)) return *i;
  fail("saved_data: the value is not an integer");
}
bool SavedValue::to_bool() const {
  if (const bool* b = std::get_if<bool>(&v_)) return *b;
  fail("saved_data: the value is not a bool");
}

// ---- AutogradContext ----
struct AutogradContext::State {
  TensorList to_save;                  // forward: what save_for_backward got
  std::vector<SavedTensor> saved;      // after forward: version-checked
  bool released = false;               // backward without retain_graph freed `saved`
  std::vector<char> needs_input_grad;  // per forward argument, as of forward
  TensorList non_differentiable;       // forward: mark_non_differentiable
  Node* node = nullptr;                // the running backward's node
};

AutogradContext::AutogradContext() : state_(std::make_unique<State>()) {}
AutogradContext::~AutogradContext() = default;

void AutogradContext::save_for_backward(TensorList tensors) {
  if (state_->node) fail("save_for_backward: call it in forward, not in backward");
  state_->to_save = std::move(tensors);
}

TensorList AutogradContext::get_saved_variables() const {
  const State& s = *state_;
  if (!s.node) fail("get_saved_variables: call it in backward (forward has the tensors itself)");
  if (s.released)
    throw std::runtime_error(
        "backward: trying to backward through the graph a second time: the saved tensors of " +
        s.node->name() + " were freed by the first backward; pass retain_graph=true to it");
  TensorList out;
  out.reserve(s.saved.size());
  for (const SavedTensor& t : s.saved) out.push_back(t.unpack(*s.node));
  return out;
}

void AutogradContext::mark_non_differentiable(const TensorList& outputs) {
  for (const Tensor& t : outputs) state_->non_differentiable.push_back(t);
}

bool AutogradContext::needs_input_grad(std::size_t i) const {
  const State& s = *state_;
  if (i >= s.needs_input_grad.size())
    fail("needs_input_grad: index ", i, " out of range for a function of ",
         s.needs_input_grad.size(), " arguments");
  return s.node ? s.node->needs_grad(i) : s.needs_input_grad[i] != 0;
}

namespace {

/// The node of one call of a custom function: calls the user's backward and checks its result.
class FunctionNode final : public Node {
 public:
  FunctionNode(const char* op, EdgeList next, std::shared_ptr<AutogradContext> ctx,
               function_detail::BackwardFn backward, const TensorList& inputs)
      : Node(op, std::move(next)), ctx_(std::move(ctx)), backward_(backward) {
    shapes_.reserve(inputs.size());
    for (const Tensor& t : inputs) {
      shapes_.push_back(t.defined() ? t.shape() : Shape{});
      dtypes_.push_back(t.defined() ? t.dtype() : Dtype::float32);
    }
  }

  TensorList apply(const Tensor& grad) override {
    AutogradContext::State& s = ctx_->state();
    struct Running {  // the context knows its node while backward runs (also on exceptions)
      AutogradContext::State& s;
      ~Running() { s.node = nullptr; }
    } running{s};
    s.node = this;
    TensorList grads = backward_(*ctx_, TensorList{grad});
    const std::size_t n = next_functions().size();
    if (grads.size() != n)
      fail(name(), " returned ", grads.size(), " gradient", grads.size() == 1 ? "" : "s",
           ", expected ", n, " (one per forward argument; undefined for those without one)");
    for (std::size_t i = 0; i < n; ++i) {
      Tensor& g = grads[i];
      if (!next_functions()[i]) {  // not a tensor, or needs no gradient
        g = Tensor();
        continue;
      }
      if (!g.defined()) continue;
      if (g.shape() != shapes_[i])
        fail(name(), " returned a gradient of shape ", g.shape(), " for input ", i, " of shape ",
             shapes_[i]);
      if (g.dtype() != dtypes_[i])
        fail(name(), " returned a gradient of dtype ", dtype_name(g.dtype()), " for input ", i,
             " of dtype ", dtype_name(dtypes_[i]));
    }
    return grads;
  }

  void release() override {
    AutogradContext::State& s = ctx_->state();
    s.saved.clear();
    s.released = true;
  }

 private:
  std::shared_ptr<AutogradContext> ctx_;
  function_detail::BackwardFn backward_;
  std::vector<Shape> shapes_;
  std::vector<Dtype> dtypes_;
};

bool contains(const TensorList& list, const Tensor& t) {
  for (const Tensor& u : list)
    if (u.is_same(t)) return true;
  return false;
}

}  // namespace

namespace function_detail {

void begin(AutogradContext& ctx, const TensorList& inputs) {
  const bool grad_mode = is_grad_enabled();
  std::vector<char>& needs = ctx.state().needs_input_grad;
  needs.clear();
  for (const Tensor& t : inputs) needs.push_back(grad_mode && t.defined() && t.requires_grad());
}

Tensor finish(const char* name, std::shared_ptr<AutogradContext> ctx, const TensorList& inputs,
              Tensor output, BackwardFn backward) {
  AutogradContext::State& s = ctx->state();
  if (!output.defined()) fail(name, ": forward returned an undefined tensor");
  // The output gets this node as grad_fn, so it must be a fresh handle: not an input, and not a
  // tensor that has a history of its own (made under EnableGradGuard in forward).
  const bool is_input = contains(inputs, output);
  const Tensor result = is_input || output.requires_grad() ? output.detach() : output;
  bool any = false;
  for (char c : s.needs_input_grad) any = any || c;
  if (!any || contains(s.non_differentiable, output)) return result;

  for (const Tensor& t : s.to_save) {
    const bool is_output = t.defined() && t.is_same(output) && !is_input;
    s.saved.emplace_back(t, is_output);
  }
  s.to_save.clear();
  s.non_differentiable.clear();
  EdgeList next;
  next.reserve(inputs.size());
  for (const Tensor& t : inputs) next.push_back(gradient_edge(t));
  auto node = make_pooled<FunctionNode>(name, std::move(next), std::move(ctx), backward, inputs);
  if (is_anomaly_enabled()) note_inputs(*node, inputs);
  set_history(result, std::move(node));
  return result;
}

std::string type_name(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = status == 0 && d ? d : mangled;
  std::free(d);
  // Keep what follows the last "::" outside template arguments and parentheses.
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i + 1 < full.size(); ++i) {
    const char c = full[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (depth == 0 && c == ':' && full[i + 1] == ':') start = i + 2;
  }
  return full.substr(start);
}

std::string op_name(const std::string& name) {
  if (!name.empty() && std::isupper(static_cast<unsigned char>(name[0]))) return name + "Backward";
  return name;
}

}  // namespace function_detail
}  // namespace xg
