// The recorded graph and the backward engine: nodes, grad modes, saved tensors, AccumulateGrad,
// and an iterative backward pass (topological order by dependency counts, no recursion).
#include "autograd/engine.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <unordered_map>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

// ---- grad modes ----
namespace {
thread_local bool grad_enabled = true;
thread_local bool anomaly_enabled = false;
thread_local uint64_t next_sequence_nr = 0;
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool on) { grad_enabled = on; }
bool is_anomaly_enabled() { return anomaly_enabled; }
NoGradGuard::NoGradGuard() : prev_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = prev_; }
EnableGradGuard::EnableGradGuard() : prev_(grad_enabled) { grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { grad_enabled = prev_; }
AnomalyModeGuard::AnomalyModeGuard() : prev_(anomaly_enabled) { anomaly_enabled = true; }
AnomalyModeGuard::~AnomalyModeGuard() { anomaly_enabled = prev_; }

// ---- nodes ----
Node::Node(const char* op, EdgeList next)
    : op_(op), next_(std::move(next)), sequence_nr_(next_sequence_nr++) {}

Node::~Node() {
  for (auto& n : next_) release_node(std::move(n));
}

std::string Node::name() const {
  std::string s = op_;
  if (!s.empty() && std::isupper(static_cast<unsigned char>(s[0]))) return s;
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out + "Backward";
}

std::vector<GradHook>& Node::pre_hooks() {
  if (!pre_hooks_) pre_hooks_ = std::make_unique<std::vector<GradHook>>();
  return *pre_hooks_;
}

const std::string& Node::anomaly_note() const {
  static const std::string none;
  return anomaly_note_ ? *anomaly_note_ : none;
}
void Node::set_anomaly_note(std::string note) {
  anomaly_note_ = std::make_unique<std::string>(std::move(note));
}

void release_node(std::shared_ptr<Node>&& node) {
  thread_local std::vector<std::shared_ptr<Node>>* pending = nullptr;
  if (!node) return;
  if (node.use_count() > 1) {  // not the last reference: nothing gets destroyed here
    node.reset();
    return;
  }
  if (pending) {  // inside an outer release: defer, the outer loop frees it
    pending->push_back(std::move(node));
    return;
  }
  std::vector<std::shared_ptr<Node>> queue;
  pending = &queue;
  queue.push_back(std::move(node));
  while (!queue.empty()) {
    std::shared_ptr<Node> n = std::move(queue.back());
    queue.pop_back();
    n.reset();  // its destructor pushes the inputs it held last onto `queue`
  }
  pending = nullptr;
}

/// Adds incoming gradients into a leaf's .grad() (and runs the leaf's hooks first).
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf) : Node("AccumulateGrad", {}), leaf_(std::move(leaf)) {}
  const Tensor* leaf() const override { return &leaf_; }

  TensorList apply(const Tensor& grad_in) override {
    TensorImpl& leaf = *leaf_.impl();
    Tensor g = grad_in;
    if (leaf.meta)
      for (GradHook& hook : leaf.meta->hooks)
        if (Tensor r = hook(g); r.defined()) g = r;
    if (g.shape() != leaf.shape)
      fail("backward: gradient of shape ", g.shape(), " does not match leaf of shape ", leaf.shape);
    Tensor& acc = leaf.autograd_meta().grad;
    if (is_grad_enabled()) {  // create_graph: keep the gradient's own graph
      acc = acc.defined() ? add(acc, g) : g;
    } else if (acc.defined()) {
      acc.add_(g);
    } else {
      // Steal the buffer when nothing else refers to it, else copy (it may be a user's tensor).
      const bool unique = g.impl_ptr().use_count() <= 2 && g.impl()->storage.use_count() == 1;
      acc = unique && !g.requires_grad() ? g : g.detach().clone();
    }
    acc.impl()->copy_of = nullptr;  // .grad() is the user's to modify in place (zero_, mul_)
    return {};
  }

 private:
  Tensor leaf_;
};

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (!impl || !impl->requires_grad) return nullptr;
  if (impl->grad_fn) return impl->grad_fn;
  AutogradMeta& meta = impl->autograd_meta();
  std::shared_ptr<Node> acc = meta.accumulator.lock();
  if (!acc) {
    acc = make_pooled<AccumulateGrad>(t);
    meta.accumulator = acc;
  }
  return acc;
}

void note_inputs(Node& node, const TensorList& inputs) {
  std::string note = "created by " + std::string(node.op()) + " on inputs of shape";
  for (const Tensor& t : inputs) note += " " + (t.defined() ? shape_str(t.shape()) : "[-]");
  node.set_anomaly_note(std::move(note));
}

void set_history(const Tensor& out, std::shared_ptr<Node> node) {
  TensorImpl& impl = *out.impl();
  impl.grad_fn = std::move(node);
  impl.requires_grad = true;
}

// ---- saved tensors ----
SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t.impl()->storage->version;
  tensor_ = is_output ? t.detach() : t;
}

Tensor SavedTensor::unpack(Node& node) const {
  if (!tensor_.defined()) return tensor_;
  const uint32_t now = tensor_.impl()->storage->version;
  if (now != version_)
    throw std::runtime_error(
        "backward: a tensor of shape " + shape_str(tensor_.shape()) + " saved by " + node.name() +
        " was modified by an in-place operation: saved at version " + std::to_string(version_) +
        ", now at version " + std::to_string(now) + " (clone it before modifying)");
  if (!is_output_ || !is_grad_enabled()) return tensor_;
  // Recording the backward pass: the output must lead back to the node that produced it.
  auto impl = make_pooled<TensorImpl>(tensor_.impl()->storage, tensor_.shape(), tensor_.dtype());
  impl->grad_fn = node.shared_from_this();
  impl->requires_grad = true;
  return Tensor(std::move(impl));
}

void mark_not_twice_differentiable(const char* op, TensorList& grads, const TensorList& inputs) {
  if (!is_grad_enabled()) return;
  for (Tensor& g : grads) {
    if (!g.defined()) continue;
    std::string what = op;
    auto fail_twice = [what](const Tensor&, Node&) -> TensorList {
      throw std::runtime_error(what + ": double backward is not supported (the backward of " +
                               what + " is not differentiable); differentiate it only once");
    };
    record("NotTwiceDifferentiable", g, inputs, fail_twice);
  }
}

// ---- the engine ----
class Engine {
 public:
  /// Runs backward from `roots`. With `captures` (xg::grad), returns the gradients flowing into
  /// those nodes and leaves .grad() untouched; else accumulates into leaves.
  static TensorList run(const TensorList& roots, const TensorList& root_grads, bool keep_graph,
                        bool create_graph, const TensorList* inputs, bool allow_unused);
};

namespace {
// Global, so two threads never share an epoch (leaves' AccumulateGrad nodes may be in both graphs).
std::atomic<uint64_t> engine_epoch{0};

void check_finite(const Node& n, std::size_t i, const Tensor& g) {
  bool bad = false;
  dispatch(g.dtype(), [&](auto tag) {
    const auto* p = g.impl()->data<decltype(tag)>();
    for (std::size_t k = 0; k < g.numel() && !bad; ++k) bad = !std::isfinite(p[k]);
  });
  if (bad)
    throw std::runtime_error("anomaly: " + n.name() + " returned nan or inf values in its " +
                             std::to_string(i) + "th output (gradient of shape " +
                             shape_str(g.shape()) + "); the forward op was " +
                             (n.anomaly_note().empty() ? std::string(n.op()) : n.anomaly_note()));
}
}  // namespace

TensorList Engine::run(const TensorList& roots, const TensorList& root_grads, bool keep_graph,
                       bool create_graph, const TensorList* inputs, bool allow_unused) {
  const char* who = inputs ? "grad" : "backward";
  if (!root_grads.empty() && root_grads.size() != roots.size())
    fail(who, ": got ", roots.size(), " tensors but ", root_grads.size(), " gradients");
  std::vector<std::shared_ptr<Node>> root_nodes;
  TensorList grads;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    check_defined(who, roots[i]);
    std::shared_ptr<Node> n = gradient_edge(roots[i]);
    if (!n)
      fail(who, ": element ", i, " of tensors (shape ", roots[i].shape(),
           ") does not require grad and has no grad_fn");
    Tensor g = root_grads.empty() ? Tensor() : root_grads[i];
    if (!g.defined()) {
      if (roots[i].numel() != 1)
        fail(who, ": grad can be created implicitly only for one-element outputs, got shape ",
             roots[i].shape(), "; pass a gradient of that shape");
      g = ones_like(roots[i]);
    } else if (g.shape() != roots[i].shape() || g.dtype() != roots[i].dtype()) {
      fail(who, ": gradient of shape ", g.shape(), " (", dtype_name(g.dtype()),
           ") does not match output of shape ", roots[i].shape(), " (",
           dtype_name(roots[i].dtype()), ")");
    }
    root_nodes.push_back(std::move(n));
    grads.push_back(g);
  }
  std::vector<std::shared_ptr<Node>> capture_nodes;
  if (inputs)
    for (std::size_t i = 0; i < inputs->size(); ++i) {
      check_defined(who, (*inputs)[i]);
      if (!(*inputs)[i].requires_grad())
        fail("grad: input ", i, " (shape ", (*inputs)[i].shape(),
             ") does not require grad; call requires_grad_() on it");
      capture_nodes.push_back(gradient_edge((*inputs)[i]));
    }

  // 1. Every node reachable from the roots, children before parents (iterative DFS).
  const uint64_t epoch = ++engine_epoch;
  // Scratch lists reused across calls (large graphs would otherwise page-fault them in anew).
  thread_local std::vector<Node*> order_cache;
  thread_local std::vector<std::pair<Node*, std::size_t>> stack_cache;
  thread_local bool cache_in_use = false;
  std::vector<Node*> order;
  std::vector<std::pair<Node*, std::size_t>> stack;
  const bool use_cache = !cache_in_use;  // a hook may run a nested backward
  if (use_cache) {
    cache_in_use = true;
    order.swap(order_cache);
    stack.swap(stack_cache);
    order.clear();
  }
  auto visit = [&](Node* n) {
    if (!n || n->epoch_ == epoch) return;
    n->epoch_ = epoch;
    n->dependencies_ = 0;
    n->needed_ = !inputs;
    stack.emplace_back(n, 0);
  };
  for (auto& r : root_nodes) {
    visit(r.get());
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->next_.size()) {
        visit(n->next_[i++].get());
      } else {
        order.push_back(n);
        stack.pop_back();
      }
    }
  }
  // Clears the per-pass state even when a backward function throws.
  struct Cleanup {
    std::vector<Node*>& order;
    std::vector<std::pair<Node*, std::size_t>>& stack;
    bool give_back;
    ~Cleanup() {
      for (Node* n : order) n->buffer_ = Tensor();
      if (!give_back) return;
      order.swap(order_cache);
      stack.swap(stack_cache);
      cache_in_use = false;
    }
  } cleanup{order, stack, use_cache};

  // 2. With inputs, only nodes that lead to an input run; then count each node's parents.
  auto is_capture = [&](Node* n) {
    for (auto& c : capture_nodes)
      if (c.get() == n) return true;
    return false;
  };
  if (inputs)
    for (Node* n : order) {
      n->needed_ = is_capture(n);
      for (auto& c : n->next_) n->needed_ = n->needed_ || (c && c->needed_);
    }
  for (Node* n : order)
    if (n->needed_)
      for (auto& c : n->next_)
        if (c && c->needed_) c->dependencies_++;

  // 3. Run nodes whose gradient is complete, pass results to their inputs.
  std::optional<NoGradGuard> no_grad;
  std::optional<EnableGradGuard> with_grad;
  if (create_graph)
    with_grad.emplace();
  else
    no_grad.emplace();
  auto accumulate = [](Node* n, Tensor g) {
    n->buffer_ = n->buffer_.defined() ? add(n->buffer_, g) : std::move(g);
  };
  std::vector<Node*> ready;
  for (std::size_t i = 0; i < root_nodes.size(); ++i) {
    Node* n = root_nodes[i].get();
    accumulate(n, grads[i]);
    if (n->needed_ && n->dependencies_ == 0 &&
        std::find(ready.begin(), ready.end(), n) == ready.end())
      ready.push_back(n);
  }
  TensorList captured(capture_nodes.size());
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(n->buffer_);
    if (n->pre_hooks_)
      for (GradHook& hook : *n->pre_hooks_)
        if (Tensor r = hook(g); r.defined()) g = r;
    bool run_it = !inputs;
    for (std::size_t k = 0; k < capture_nodes.size(); ++k)
      if (capture_nodes[k].get() == n) captured[k] = g;
    for (auto& c : n->next_) run_it = run_it || (c && c->needed_);
    if (!run_it) continue;
    TensorList outs = n->apply(g);
    g = Tensor();
    if (!keep_graph) n->release();
    for (std::size_t i = 0; i < n->next_.size(); ++i) {
      Node* c = n->next_[i].get();
      if (!c || !c->needed_) continue;
      if (i < outs.size() && outs[i].defined()) {
        if (anomaly_enabled) check_finite(*n, i, outs[i]);
        accumulate(c, std::move(outs[i]));
      }
      if (--c->dependencies_ == 0) ready.push_back(c);
    }
  }
  if (inputs)
    for (std::size_t k = 0; k < captured.size(); ++k)
      if (!captured[k].defined() && !allow_unused)
        fail("grad: input ", k, " (shape ", (*inputs)[k].shape(),
             ") was not used to compute the outputs; pass allow_unused=true to get an "
             "undefined gradient for it");
  return captured;
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  return Engine::run(outputs, grad_outputs, retain_graph.value_or(create_graph), create_graph,
                     &inputs, allow_unused);
}

void backward(const TensorList& tensors, const TensorList& grad_tensors,
              std::optional<bool> retain_graph, bool create_graph) {
  Engine::run(tensors, grad_tensors, retain_graph.value_or(create_graph), create_graph, nullptr,
              false);
}

}  // namespace xg
