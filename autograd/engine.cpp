// The recorded graph and the backward engine: nodes, grad modes, saved tensors, AccumulateGrad,
// and an iterative backward pass (topological order by dependency counts, no recursion).
#include "autograd/engine.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

// ---- grad modes ----
namespace {
thread_local bool grad_enabled = true;
thread_local bool anomaly_enabled = false;
thread_local uint64_t next_sequence_nr = 0;
thread_local const std::string* current_scope_path = nullptr;
thread_local bool saved_info_enabled = false;
// SavedTensorsInfoGuard: tensors saved since the last node was made; the next node with inputs
// (the op whose backward captured them) takes them.
std::vector<SavedTensorInfo>& pending_saved() {
  thread_local std::vector<SavedTensorInfo> saved;
  return saved;
}

/// The one copy of each scope path (never freed, so nodes may keep plain pointers).
const std::string* intern_scope(std::string path) {
  static std::mutex mutex;
  static auto* paths = new std::unordered_set<std::string>;
  std::lock_guard<std::mutex> lock(mutex);
  return &*paths->insert(std::move(path)).first;
}
}  // namespace

const std::string* current_scope() { return current_scope_path; }
ScopeGuard::ScopeGuard(const std::string& path) : prev_(current_scope_path) {
  if (!path.empty()) current_scope_path = intern_scope(path);
}
ScopeGuard::~ScopeGuard() { current_scope_path = prev_; }

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool on) { grad_enabled = on; }
bool is_anomaly_enabled() { return anomaly_enabled; }
NoGradGuard::NoGradGuard() : prev_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = prev_; }
EnableGradGuard::EnableGradGuard() : prev_(grad_enabled) { grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { grad_enabled = prev_; }
AnomalyModeGuard::AnomalyModeGuard() : prev_(anomaly_enabled) { anomaly_enabled = true; }
AnomalyModeGuard::~AnomalyModeGuard() { anomaly_enabled = prev_; }
bool is_saved_info_enabled() { return saved_info_enabled; }
SavedTensorsInfoGuard::SavedTensorsInfoGuard() : prev_(saved_info_enabled) {
  saved_info_enabled = true;
}
SavedTensorsInfoGuard::~SavedTensorsInfoGuard() {
  saved_info_enabled = prev_;
  if (!prev_) pending_saved().clear();
}

// ---- nodes ----
Node::Node(const char* op, EdgeList next)
    : op_(op),
      next_(std::move(next)),
      sequence_nr_(next_sequence_nr++),
      scope_(current_scope_path) {
  // AccumulateGrad nodes (no inputs) are made between an op's saves and its node: skip them.
  if (saved_info_enabled && !next_.empty() && !pending_saved().empty()) {
    saved_info_ = std::make_unique<std::vector<SavedTensorInfo>>(std::move(pending_saved()));
    pending_saved().clear();
  }
}

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

// ---- gradient specs ----
void GradientSpec::set(const Shape& shape, Dtype dtype) {
  ndim_ = static_cast<uint32_t>(shape.size());
  dtype_ = dtype;
  known_ = true;
  if (shape.size() > kInline) {
    more_ = std::make_unique<std::size_t[]>(shape.size());
    std::copy(shape.begin(), shape.end(), more_.get());
  } else {
    more_.reset();
    std::copy(shape.begin(), shape.end(), inline_);
  }
}
bool GradientSpec::matches(const Shape& shape, Dtype dtype) const {
  if (dtype != dtype_ || shape.size() != ndim_) return false;
  const std::size_t* d = dims();
  for (std::size_t i = 0; i < ndim_; ++i)  // a loop: shapes are short, memcmp costs more
    if (shape[i] != d[i]) return false;
  return true;
}
Shape GradientSpec::shape() const { return Shape(dims(), dims() + ndim_); }

// ---- leaves shared by threads ----
namespace {
/// The lock guarding a leaf's AccumulateGrad creation and its .grad() (striped by address, so
/// that tensors need no mutex of their own).
std::mutex& leaf_mutex(const TensorImpl* impl) {
  static std::mutex stripes[64];
  const auto h = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(impl) >> 4);
  return stripes[(h * 0x9E3779B97F4A7C15ull) >> 58];
}

/// True when `t` is referenced only by the caller's handle: no other handle, no view or detach of
/// its data, not in a graph. Such a gradient may become a .grad() or be added into in place.
bool unshared(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1 &&
         !t.impl()->requires_grad;
}

/// Rejects a hook result that does not fit the tensor the hook was registered on.
void check_hook_result(const Tensor& r, const Shape& shape, Dtype dtype) {
  if (r.shape() != shape || r.dtype() != dtype)
    fail("register_hook: hook returned a gradient of shape ", r.shape(), " (",
         dtype_name(r.dtype()), ") for a tensor of shape ", shape, " (", dtype_name(dtype), ")");
}

/// Runs `hooks` on `g`; a hook may replace it with a gradient of the same shape and dtype.
/// Returns the last replacement, or an undefined tensor when no hook replaced `g`.
Tensor run_hooks(const std::vector<GradHook>& hooks, const Tensor& g, const Shape& shape,
                 Dtype dtype) {
  Tensor replaced;
  for (const GradHook& hook : hooks)
    if (Tensor r = hook(replaced.defined() ? replaced : g); r.defined()) {
      check_hook_result(r, shape, dtype);
      replaced = std::move(r);
    }
  return replaced;
}

/// The one accumulation step, for a node's input buffer and for a leaf's .grad(): adds `g` into
/// `acc`. `g_owned` says nothing but the caller holds `g` (then it may become `acc` itself; a
/// leaf's .grad() never aliases a tensor someone else holds). Recording the backward pass
/// (create_graph) adds out of place; else a leaf's .grad() is added into in place, as in PyTorch,
/// and a buffer only when no one else holds it.
void accumulate(Tensor& acc, Tensor&& g, bool g_owned, bool leaf) {
  if (is_grad_enabled()) {  // create_graph: keep the gradient's own graph
    acc = acc.defined() ? add(acc, g) : std::move(g);
  } else if (!acc.defined()) {
    acc = g_owned || !leaf ? std::move(g) : g.detach().clone();
  } else if (leaf || unshared(acc)) {
    acc.impl()->copy_of = nullptr;  // the engine's own buffer (a transpose's result, say)
    acc.add_(g);
  } else {
    acc = add(acc, g);
  }
  if (leaf) acc.impl()->copy_of = nullptr;  // .grad() is the user's to modify in place (zero_)
}
}  // namespace

/// Adds incoming gradients into a leaf's .grad() (and runs the leaf's hooks first), under the
/// leaf's lock: threads that share a parameter accumulate into it safely.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf) : Node("AccumulateGrad", {}), leaf_(std::move(leaf)) {
    set_gradient_spec(leaf_.shape(), leaf_.dtype());
  }
  const Tensor* leaf() const override { return &leaf_; }

  TensorList apply(const Tensor& grad_in) override {
    TensorImpl& leaf = *leaf_.impl();
    std::mutex& mutex = leaf_mutex(&leaf);
    std::vector<GradHook> hooks;
    std::vector<PostAccumulateGradHook> post;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const bool no_hooks = !leaf.meta || !leaf.meta->has_hooks();
      if (no_hooks && !is_grad_enabled()) {    // the common case: one lock
        const bool owned = unshared(grad_in);  // held only by the engine
        accumulate(leaf.autograd_meta().grad, Tensor(grad_in), owned, true);
        return {};
      }
      if (!no_hooks) {
        hooks = leaf.meta->hooks;
        post = leaf.meta->post_accumulate_hooks;
      }
    }
    // Hooks are user code (they may read p.grad()): run unlocked.
    const Tensor replaced =
        hooks.empty() ? Tensor() : run_hooks(hooks, grad_in, leaf.shape, leaf.dtype);
    const Tensor& g = replaced.defined() ? replaced : grad_in;
    // Unshared: held only by the engine (grad_in) or here (a new tensor a hook made); a tensor
    // the user keeps is not, and gets copied.
    const bool owned = unshared(g);
    if (!is_grad_enabled()) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        accumulate(leaf.autograd_meta().grad, Tensor(g), owned, true);
      }
      for (const PostAccumulateGradHook& hook : post) hook(leaf_);  // user code: unlocked
      return {};
    }
    // create_graph: the sum is recorded, which may lock other leaves, so compute it unlocked
    // and publish it only if no other thread accumulated meanwhile.
    for (;;) {
      const Tensor before = leaf_grad(leaf);
      Tensor acc = before;
      accumulate(acc, Tensor(g), owned, true);
      std::lock_guard<std::mutex> lock(mutex);
      Tensor& slot = leaf.autograd_meta().grad;
      if (slot.is_same(before)) {
        slot = std::move(acc);
        break;
      }
    }
    for (const PostAccumulateGradHook& hook : post) hook(leaf_);
    return {};
  }

 private:
  Tensor leaf_;
};

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (!impl || !impl->requires_grad) return nullptr;
  if (impl->grad_fn) return impl->grad_fn;
  std::lock_guard<std::mutex> lock(leaf_mutex(impl));  // two threads may record on one leaf
  AutogradMeta& meta = impl->autograd_meta();
  std::shared_ptr<Node> acc = meta.accumulator.lock();
  if (!acc) {
    acc = make_pooled<AccumulateGrad>(t);
    meta.accumulator = acc;
  }
  return acc;
}

Tensor leaf_grad(const TensorImpl& impl) {
  std::lock_guard<std::mutex> lock(leaf_mutex(&impl));
  return impl.meta ? impl.meta->grad : Tensor();
}

void set_leaf_grad(TensorImpl& impl, const Tensor& g) {
  std::lock_guard<std::mutex> lock(leaf_mutex(&impl));
  impl.autograd_meta().grad = g;
}

void add_leaf_hook(TensorImpl& impl, GradHook hook) {
  std::lock_guard<std::mutex> lock(leaf_mutex(&impl));
  impl.autograd_meta().hooks.push_back(std::move(hook));
}

void add_post_accumulate_hook(TensorImpl& impl, PostAccumulateGradHook hook) {
  std::lock_guard<std::mutex> lock(leaf_mutex(&impl));
  impl.autograd_meta().post_accumulate_hooks.push_back(std::move(hook));
}

void note_inputs(Node& node, const TensorList& inputs) {
  std::string note = "created by " + std::string(node.op()) + " on inputs of shape";
  for (const Tensor& t : inputs) note += " " + (t.defined() ? shape_str(t.shape()) : "[-]");
  node.set_anomaly_note(std::move(note));
}

void set_history(const Tensor& out, std::shared_ptr<Node> node) {
  TensorImpl& impl = *out.impl();
  node->set_gradient_spec(impl.shape, impl.dtype);
  impl.grad_fn = std::move(node);
  impl.requires_grad = true;
}

// ---- saved tensors ----
SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t.impl()->storage->version;
  tensor_ = is_output ? t.detach() : t;
  if (saved_info_enabled)
    pending_saved().push_back({t.impl()->storage->data, t.shape(), t.dtype()});
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

// ---- the engine ----
namespace {
constexpr uint32_t kNone = UINT32_MAX;

/// Node* -> index, open addressing (a graph pass looks a node up once per edge). A slot is in
/// use only if it carries the current generation, so clearing is O(1).
class NodeIndex {
 public:
  /// The index of `n`, or kNone.
  uint32_t find(const Node* n) const {
    if (slots_.empty()) return kNone;
    for (std::size_t i = hash(n);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.gen != gen_) return kNone;
      if (s.key == n) return s.value;
    }
  }
  /// Inserts n -> value unless n is present; returns the index n has.
  uint32_t insert(const Node* n, uint32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (std::size_t i = hash(n);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.gen != gen_) {
        s = {n, value, gen_};
        ++size_;
        return value;
      }
      if (s.key == n) return s.value;
    }
  }
  /// Empties the table; keeps its memory unless it is large.
  void clear() {
    size_ = 0;
    if (slots_.size() > (std::size_t(1) << 17)) {
      slots_ = {};
      mask_ = 0;
    } else if (++gen_ == 0) {
      std::fill(slots_.begin(), slots_.end(), Slot{});
      gen_ = 1;
    }
  }

 private:
  struct Slot {
    const Node* key = nullptr;
    uint32_t value = 0;
    uint32_t gen = 0;  // in use when equal to gen_
  };
  std::size_t hash(const Node* n) const {
    const auto h = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(n) >> 4);
    return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    const uint32_t old_gen = gen_;
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    shift_ = 64;
    for (std::size_t n = slots_.size(); n > 1; n /= 2) --shift_;
    gen_ = 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.gen == old_gen) insert(s.key, s.value);
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 63;
  uint32_t gen_ = 1;
  std::size_t size_ = 0;
};

/// One node's state in one backward pass.
struct NodeTask {
  Node* node;
  uint32_t edges;        // its children's indices start at GraphTask::edges[edges]
  int32_t dependencies;  // gradients still to come from needed parents
  int32_t capture;       // xg::grad: the first input this node's gradient is returned for
  bool needed;           // leads to a requested input (always, for backward)
  bool queued;
  Tensor buffer;  // the gradient accumulated so far
};

/// All per-pass state of one backward pass (never on Node: passes in several threads may share
/// the AccumulateGrad node of a shared parameter).
struct GraphTask {
  const char* who = "backward";  // the entry point, for messages
  bool all_needed = true;        // backward: every input that requires grad gets one
  NodeIndex index;               // Node* -> position in nodes
  std::vector<NodeTask> nodes;   // in visit order
  std::vector<uint32_t> edges;   // child index per input of each node (kNone: no gradient)
  std::vector<uint32_t> order;   // xg::grad: children before parents
  std::vector<std::pair<uint32_t, std::size_t>> stack;
  std::vector<uint32_t> ready;
  std::vector<std::function<void()>> callbacks;  // queue_callback: run once the pass is done

  bool needed(const Node* n) const {
    const uint32_t id = index.find(n);
    return id != kNone && nodes[id].needed;
  }
  void clear() {
    index.clear();
    nodes.clear();
    edges.clear();
    order.clear();
    stack.clear();
    ready.clear();
    callbacks.clear();
    if (nodes.capacity() > (std::size_t(1) << 16)) {
      nodes.shrink_to_fit();
      edges.shrink_to_fit();
      order.shrink_to_fit();
    }
  }
};

thread_local GraphTask* current_task = nullptr;  // the pass running on this thread

/// A GraphTask for one pass: this thread's cached one (its lists keep their memory between
/// passes), or a fresh one for a pass nested in a hook. Makes it the current task.
class TaskScope {
 public:
  explicit TaskScope(const char* who) : prev_(current_task) {
    thread_local std::unique_ptr<GraphTask> cache;
    thread_local bool cache_in_use = false;
    if (!cache_in_use) {
      if (!cache) cache = std::make_unique<GraphTask>();
      task_ = cache.get();
      in_use_ = &cache_in_use;
      cache_in_use = true;
    } else {
      owned_ = std::make_unique<GraphTask>();
      task_ = owned_.get();
    }
    task_->who = who;
    current_task = task_;
  }
  ~TaskScope() {  // also when a backward function throws
    task_->clear();
    if (in_use_) *in_use_ = false;
    current_task = prev_;
  }
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  GraphTask& task() { return *task_; }

 private:
  GraphTask* prev_;
  GraphTask* task_ = nullptr;
  std::unique_ptr<GraphTask> owned_;
  bool* in_use_ = nullptr;
};

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

bool Node::needs_grad(std::size_t i) const {
  if (i >= next_.size() || !next_[i]) return false;
  const GraphTask* task = current_task;
  return !task || task->all_needed || task->needed(next_[i].get());
}

void queue_callback(std::function<void()> callback) {
  if (!current_task)
    fail(
        "queue_callback: no backward pass is running on this thread (call it from a hook "
        "during backward)");
  current_task->callbacks.push_back(std::move(callback));
}

const char* backward_entry_point() { return current_task ? current_task->who : "backward"; }

/// The backward pass, in phases: roots, topological order, dependencies, execution.
class Engine {
 public:
  /// Runs backward from `roots`. With `inputs` (xg::grad), returns the gradients flowing into
  /// them and leaves .grad() untouched; else accumulates into leaves.
  static TensorList run(const TensorList& roots, const TensorList& root_grads, bool keep_graph,
                        bool create_graph, const TensorList* inputs, bool allow_unused) {
    TaskScope scope(inputs ? "grad" : "backward");
    GraphTask& task = scope.task();
    task.all_needed = !inputs;
    std::vector<std::shared_ptr<Node>> root_nodes;
    const TensorList grads = collect_roots(task, roots, root_grads, root_nodes);
    std::vector<std::shared_ptr<Node>> input_nodes;
    if (inputs) input_nodes = collect_inputs(*inputs);
    topological_order(task, root_nodes);
    std::vector<uint32_t> input_ids = mark_inputs(task, input_nodes);
    count_dependencies(task);
    TensorList captured =
        execute(task, root_nodes, grads, keep_graph, create_graph, input_ids.size());
    run_callbacks(task);
    if (!inputs) return {};
    TensorList result(inputs->size());
    for (std::size_t k = 0; k < input_ids.size(); ++k) {
      if (input_ids[k] != kNone) result[k] = captured[task.nodes[input_ids[k]].capture];
      if (!result[k].defined() && !allow_unused)
        fail("grad: input ", k, " (shape ", (*inputs)[k].shape(),
             ") was not used to compute the outputs; pass allow_unused=true to get an "
             "undefined gradient for it");
    }
    return result;
  }

 private:
  /// Phase 1: the roots' nodes and their checked (or implicit) gradients.
  static TensorList collect_roots(const GraphTask& task, const TensorList& roots,
                                  const TensorList& root_grads,
                                  std::vector<std::shared_ptr<Node>>& root_nodes) {
    const char* who = task.who;
    if (!root_grads.empty() && root_grads.size() != roots.size())
      fail(who, ": got ", roots.size(), " tensors but ", root_grads.size(), " gradients");
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
      grads.push_back(std::move(g));
    }
    return grads;
  }

  /// Phase 5: queue_callback's callbacks, in order (one may queue more), in the caller's grad
  /// mode. A pass that threw never gets here: its callbacks are dropped with the task.
  static void run_callbacks(GraphTask& task) {
    for (std::size_t i = 0; i < task.callbacks.size(); ++i) {
      std::function<void()> callback = std::move(task.callbacks[i]);  // the list may grow
      callback();
    }
  }

  /// xg::grad's inputs: the nodes their gradients flow into.
  static std::vector<std::shared_ptr<Node>> collect_inputs(const TensorList& inputs) {
    std::vector<std::shared_ptr<Node>> nodes;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      check_defined("grad", inputs[i]);
      if (!inputs[i].requires_grad())
        fail("grad: input ", i, " (shape ", inputs[i].shape(),
             ") does not require grad; call requires_grad_() on it");
      nodes.push_back(gradient_edge(inputs[i]));
    }
    return nodes;
  }

  /// Phase 2: every node reachable from the roots (iterative DFS), with each node's children
  /// as indices; xg::grad also lists them children before parents (`order`).
  static void topological_order(GraphTask& task,
                                const std::vector<std::shared_ptr<Node>>& root_nodes) {
    // `shared`: n may be reached by another edge too, so look it up. A node held by nothing but
    // the edge being followed (use_count 1) has no other parent: backward skips the lookup.
    // (xg::grad looks every node up later, for needs_grad.)
    auto visit = [&task](Node* n, bool shared) {
      const auto id = static_cast<uint32_t>(task.nodes.size());
      if (shared || !task.all_needed) {
        const uint32_t found = task.index.insert(n, id);
        if (found != id) return found;
      }
      task.nodes.push_back(NodeTask{n, static_cast<uint32_t>(task.edges.size()), 0, -1,
                                    task.all_needed, false, Tensor()});
      for (std::size_t i = 0; i < n->next_.size(); ++i) task.edges.push_back(kNone);
      task.stack.emplace_back(id, 0);
      return id;
    };
    for (const auto& r : root_nodes) {
      visit(r.get(), true);
      while (!task.stack.empty()) {
        const uint32_t id = task.stack.back().first;
        const std::size_t i = task.stack.back().second;
        Node* n = task.nodes[id].node;
        if (i < n->next_.size()) {
          task.stack.back().second++;
          if (Node* c = n->next_[i].get()) {
            const uint32_t child = visit(c, n->next_[i].use_count() != 1);
            task.edges[task.nodes[id].edges + i] = child;
            if (task.all_needed) task.nodes[child].dependencies++;  // backward: every edge counts
          }
        } else {
          if (!task.all_needed) task.order.push_back(id);  // for mark_inputs
          task.stack.pop_back();
        }
      }
    }
  }

  /// xg::grad: marks the input nodes, and as needed every node that leads to one. Returns each
  /// input's node index (kNone: not in the graph).
  static std::vector<uint32_t> mark_inputs(GraphTask& task,
                                           const std::vector<std::shared_ptr<Node>>& inputs) {
    std::vector<uint32_t> ids(inputs.size(), kNone);
    if (task.all_needed) return ids;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      ids[k] = task.index.find(inputs[k].get());
      if (ids[k] != kNone && task.nodes[ids[k]].capture < 0)
        task.nodes[ids[k]].capture = static_cast<int32_t>(k);
    }
    for (uint32_t id : task.order) {
      NodeTask& t = task.nodes[id];
      t.needed = t.capture >= 0;
      for (std::size_t i = 0; i < t.node->next_.size() && !t.needed; ++i) {
        const uint32_t c = task.edges[t.edges + i];
        t.needed = c != kNone && task.nodes[c].needed;
      }
    }
    return ids;
  }

  /// Phase 3: how many needed parents send each node a gradient (backward counts every edge
  /// while ordering).
  static void count_dependencies(GraphTask& task) {
    if (task.all_needed) return;  // counted while ordering: every node is needed
    for (uint32_t id : task.order) {
      const NodeTask& t = task.nodes[id];
      if (!t.needed) continue;
      for (std::size_t i = 0; i < t.node->next_.size(); ++i) {
        const uint32_t c = task.edges[t.edges + i];
        if (c != kNone && task.nodes[c].needed) task.nodes[c].dependencies++;
      }
    }
  }

  /// Adds `g`, the gradient `producer` returned for its input `i`, to node `c`'s buffer; a
  /// gradient that does not fit the input's shape and dtype is an error naming both.
  static void add_gradient(GraphTask& task, uint32_t c, Tensor g, const Node& producer,
                           std::size_t i) {
    NodeTask& t = task.nodes[c];
    const GradientSpec& spec = t.node->spec_;
    if (spec.known() && !spec.matches(g.impl()->shape, g.impl()->dtype)) {
      if (spec.dtype() != g.dtype())
        fail(producer.name(), " returned a gradient of dtype ", dtype_name(g.dtype()),
             " for input ", i, " of dtype ", dtype_name(spec.dtype()), " (shape ", spec.shape(),
             ")");
      fail(producer.name(), " returned a gradient of shape ", g.shape(), " for input ", i,
           " of shape ", spec.shape());
    }
    if (!t.buffer.defined())
      t.buffer = std::move(g);  // the first gradient: nothing to add
    else
      accumulate(t.buffer, std::move(g), false, false);
  }

  /// Phase 4: runs nodes whose gradient is complete and passes their results to their inputs.
  /// Returns the gradients of xg::grad's inputs, by capture slot.
  static TensorList execute(GraphTask& task, const std::vector<std::shared_ptr<Node>>& root_nodes,
                            const TensorList& grads, bool keep_graph, bool create_graph,
                            std::size_t n_inputs) {
    std::optional<NoGradGuard> no_grad;
    std::optional<EnableGradGuard> with_grad;
    if (create_graph)
      with_grad.emplace();
    else
      no_grad.emplace();
    for (std::size_t i = 0; i < root_nodes.size(); ++i) {
      const uint32_t id = task.index.find(root_nodes[i].get());
      NodeTask& t = task.nodes[id];
      accumulate(t.buffer, Tensor(grads[i]), false, false);  // never added into: the caller's
      if (t.needed && t.dependencies == 0 && !t.queued) {
        t.queued = true;
        task.ready.push_back(id);
      }
    }
    TensorList captured(n_inputs);
    NodeTask* const nodes = task.nodes.data();  // no node is added from here on
    const uint32_t* const edges = task.edges.data();
    while (!task.ready.empty()) {
      const uint32_t id = task.ready.back();
      task.ready.pop_back();
      Node* n = nodes[id].node;
      Tensor g = std::move(nodes[id].buffer);
      if (n->pre_hooks_) {
        const Shape shape = n->spec_.known() ? n->spec_.shape() : g.shape();
        const Dtype dtype = n->spec_.known() ? n->spec_.dtype() : g.dtype();
        if (Tensor r = run_hooks(*n->pre_hooks_, g, shape, dtype); r.defined()) g = std::move(r);
      }
      const uint32_t* const children = edges + nodes[id].edges;
      const std::size_t n_edges = n->next_.size();
      if (nodes[id].capture >= 0) captured[nodes[id].capture] = g;
      bool run_it = task.all_needed;
      for (std::size_t i = 0; i < n_edges && !run_it; ++i)
        run_it = children[i] != kNone && nodes[children[i]].needed;
      if (!run_it) continue;
      TensorList outs = n->apply(g);
      g = Tensor();
      if (!keep_graph) {
        n->release();
        n->saved_info_.reset();
      }
      for (std::size_t i = 0; i < n_edges; ++i) {
        const uint32_t c = children[i];
        if (c == kNone || !nodes[c].needed) continue;
        if (i < outs.size() && outs[i].defined()) {
          if (anomaly_enabled) check_finite(*n, i, outs[i]);
          add_gradient(task, c, std::move(outs[i]), *n, i);
        }
        if (--nodes[c].dependencies == 0) task.ready.push_back(c);
      }
    }
    return captured;
  }
};

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
