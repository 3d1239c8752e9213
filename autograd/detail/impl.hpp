#pragma once
// Internal: what a Tensor handle points to, and the helpers every op uses to record itself.
// Not part of the public API; included by autograd/*.cpp only. No xtensor here either.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "autograd/detail/pool.hpp"
#include "autograd/extend.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "autograd/tensor.hpp"

namespace xg {

/// The last recorded in-place op on a buffer (see Storage::rebase).
struct Rebase {
  uint32_t count = 0;  // recorded in-place ops on the buffer so far
  const char* op = nullptr;
  Shape shape;  // of the tensor it modified
};

/// A contiguous buffer shared by a tensor, its detach()es and reshapes; one version counter.
struct Storage {
  explicit Storage(std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data;
  std::size_t nbytes;
  uint32_t version = 0;
  // Set by the first in-place op that records a new history for a tensor on this buffer; views
  // made before it would keep the old history (see check_view_current).
  std::unique_ptr<Rebase> rebase;
};

/// How many recorded in-place ops have given a tensor on `s` a new history.
inline uint32_t rebase_count(const Storage& s) { return s.rebase ? s.rebase->count : 0; }

/// Per-tensor autograd state that most tensors never need (allocated on first use).
struct AutogradMeta {
  Tensor grad;
  std::weak_ptr<Node> accumulator;  // leaves only; the graph owns it
  std::vector<GradHook> hooks;      // leaves only (non-leaf hooks live on grad_fn)
  std::vector<PostAccumulateGradHook> post_accumulate_hooks;  // leaves only
  bool retains_grad = false;
  std::string name;
  bool has_hooks() const { return !hooks.empty() || !post_accumulate_hooks.empty(); }
};

struct TensorImpl {
  TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Dtype dtype);
  ~TensorImpl();
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::size_t numel;
  Dtype dtype;
  bool requires_grad = false;
  bool is_view = false;  // shares storage with another tensor of the graph (reshape)
  // Views and in-place ops (design in ops/pointwise.cpp, in_place): a view remembers its
  // storage's rebase_count when it was made; used after a recorded in-place op on that storage,
  // it fails (its grad_fn describes the old values). A copy made by an op that libtorch returns
  // as a view (transpose, select, ...) names that op here, and in-place ops on it fail.
  uint32_t view_rebases = 0;
  bool view_without_grad = false;  // a view of a tensor requiring grad, made in no-grad mode
  const char* copy_of = nullptr;
  std::shared_ptr<Node> grad_fn;
  std::unique_ptr<AutogradMeta> meta;

  AutogradMeta& autograd_meta();
  template <typename T>
  T* data() const {
    return static_cast<T*>(storage->data);
  }
};

/// The global generator seeded by manual_seed (randn, rand, randint, dropout, nn init). Draw from
/// it only while holding lock_generator(), one acquisition per tensor (not per element).
std::mt19937_64& generator();
/// Locks the global generator (threads may draw concurrently).
std::unique_lock<std::mutex> lock_generator();

// fail, check_defined, check_same_dtype, check_floating, checked_int64, wrap_dim,
// broadcast_shapes, shape_numel: extend.hpp
// kMaxNumel, checked_numel, checked_mul, checked_add: extend.hpp
/// An uninitialized tensor for op `op`: checks the shape's size and turns a failed allocation
/// into "op: cannot allocate N bytes for shape [..]".
Tensor new_empty(const char* op, const Shape& shape, Dtype dtype);

/// std::make_shared from the graph-object pool (detail/pool.hpp).
template <typename T, typename... Args>
std::shared_ptr<T> make_pooled(Args&&... args) {
  return std::allocate_shared<T>(PoolAllocator<T>(), std::forward<Args>(args)...);
}

// dispatch, dispatch_all, with_flag: extend.hpp

// ---- recording ----
/// The node that receives a tensor's gradient: its grad_fn, its AccumulateGrad, or nullptr.
std::shared_ptr<Node> gradient_edge(const Tensor& t);
/// True if grad mode is on and any input requires grad (the op must record a node).
inline bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}
/// Makes `node` the grad_fn of `out` (which then requires grad).
void set_history(const Tensor& out, std::shared_ptr<Node> node);
/// Anomaly mode: records the op and its inputs' shapes on the node, for backward's error.
void note_inputs(Node& node, const TensorList& inputs);
/// Throws naming the in-place op that rebased the storage of view `t` after `t` was made.
[[noreturn]] void fail_stale_view(const TensorImpl& t);
/// Fails if `t` is a view whose storage was rebased by a recorded in-place op since it was made.
inline void check_view_current(const Tensor& t) {
  const TensorImpl* i = t.impl();
  if (i && i->is_view && i->view_rebases != rebase_count(*i->storage)) fail_stale_view(*i);
}

/// "backward" or "grad": the entry point of the backward pass running on this thread (messages).
const char* backward_entry_point();
/// A tensor's .grad(), read under its lock (another thread may be accumulating into a leaf).
Tensor leaf_grad(const TensorImpl& impl);
/// Replaces a tensor's .grad() under its lock.
void set_leaf_grad(TensorImpl& impl, const Tensor& grad);
/// Adds a hook to a leaf under its lock.
void add_leaf_hook(TensorImpl& impl, GradHook hook);
/// Adds a hook run after backward accumulated into the leaf's .grad(), under the leaf's lock.
void add_post_accumulate_hook(TensorImpl& impl, PostAccumulateGradHook hook);

/// A node whose backward is a lambda `(const Tensor& grad, Node& self) -> TensorList`; the lambda
/// holds what backward needs and is destroyed by release().
template <typename F>
class LambdaNode final : public Node {
 public:
  LambdaNode(const char* op, EdgeList next, F fn) : Node(op, std::move(next)), fn_(std::move(fn)) {}
  TensorList apply(const Tensor& grad) override {
    if (!fn_) throw_released();
    return (*fn_)(grad, *this);
  }
  void release() override { fn_.reset(); }

 private:
  void throw_released() const {
    throw std::runtime_error(
        std::string(backward_entry_point()) +
        ": trying to backward through the graph a second time: the saved tensors of " + name() +
        " were freed by the first backward; pass retain_graph=true to it");
  }
  std::optional<F> fn_;
};

/// Makes `out` the result of op `op` on `inputs`, with `backward` giving the inputs' gradients.
/// Call only when needs_grad(inputs) is true.
template <typename Inputs, typename F>
void record_list(const char* op, const Tensor& out, const Inputs& inputs, F backward) {
  EdgeList next;
  next.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    check_view_current(t);
    next.push_back(gradient_edge(t));
  }
  std::shared_ptr<Node> node = make_pooled<LambdaNode<F>>(op, std::move(next), std::move(backward));
  if (is_anomaly_enabled()) note_inputs(*node, TensorList(inputs.begin(), inputs.end()));
  set_history(out, std::move(node));
}
template <typename F>
void record(const char* op, const Tensor& out, std::initializer_list<Tensor> inputs, F backward) {
  record_list(op, out, inputs, std::move(backward));
}
template <typename F>
void record(const char* op, const Tensor& out, const TensorList& inputs, F backward) {
  record_list(op, out, inputs, std::move(backward));
}

/// A tensor saved for backward. Remembers the version it was saved at so backward can detect a
/// later in-place change. Outputs are saved without their grad_fn (no cycle) and reattached to
/// the node on unpack when the backward pass is itself recorded.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output = false);
  Tensor unpack(Node& node) const;

 private:
  Tensor tensor_;
  uint32_t version_ = 0;
  bool is_output_ = false;
};

/// Releases a node reference without recursion, so destroying a deep graph cannot overflow the
/// stack: nodes whose last reference goes away are freed in a loop instead of nested destructors.
void release_node(std::shared_ptr<Node>&& node);

}  // namespace xg
