#pragma once
// Internal: what a Tensor handle points to, and the helpers every op uses to record itself.
// Not part of the public API; included by autograd/*.cpp only. No xtensor here either.
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "autograd/detail/pool.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "autograd/tensor.hpp"

namespace xg {

/// A contiguous buffer shared by a tensor, its detach()es and reshapes; one version counter.
struct Storage {
  explicit Storage(std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data;
  std::size_t nbytes;
  uint32_t version = 0;
};

/// Per-tensor autograd state that most tensors never need (allocated on first use).
struct AutogradMeta {
  Tensor grad;
  std::weak_ptr<Node> accumulator;  // leaves only; the graph owns it
  std::vector<GradHook> hooks;      // leaves only (non-leaf hooks live on grad_fn)
  bool retains_grad = false;
  std::string name;
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

// ---- errors ----
/// Streams a shape as "[2, 3]" (for error messages).
inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << shape_str(s); }
/// Builds a message from streamable parts: fail("matmul: shapes ", a, " and ", b).
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw std::invalid_argument(os.str());
}
/// Throws "op: expected a defined tensor" for an undefined argument.
void check_defined(const char* op, const Tensor& t);
/// Throws "op: dtype mismatch (float32 and float64)".
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
/// Normalizes a possibly negative dim for a tensor of rank `ndim`; throws naming op and shape.
std::size_t wrap_dim(const char* op, int64_t dim, std::size_t ndim, const Shape& shape);
/// NumPy broadcast of two shapes; throws "op: shapes [..] and [..] cannot be broadcast".
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
std::size_t shape_numel(const Shape& s);

/// std::make_shared from the graph-object pool (detail/pool.hpp).
template <typename T, typename... Args>
std::shared_ptr<T> make_pooled(Args&&... args) {
  return std::allocate_shared<T>(PoolAllocator<T>(), std::forward<Args>(args)...);
}

// ---- dtype dispatch: f(float{}) or f(double{}) ----
template <typename F>
decltype(auto) dispatch(Dtype d, F&& f) {
  if (d == Dtype::float64) return f(double{});
  return f(float{});
}

/// Calls f(std::true_type{}) or f(std::false_type{}): a runtime flag made a compile-time one,
/// so that each variant of a hot loop is its own (vectorized) loop.
template <typename F>
void with_flag(bool flag, F&& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

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

/// "backward" or "grad": the entry point of the backward pass running on this thread (messages).
const char* backward_entry_point();
/// A tensor's .grad(), read under its lock (another thread may be accumulating into a leaf).
Tensor leaf_grad(const TensorImpl& impl);
/// Replaces a tensor's .grad() under its lock.
void set_leaf_grad(TensorImpl& impl, const Tensor& grad);
/// Adds a hook to a leaf under its lock.
void add_leaf_hook(TensorImpl& impl, GradHook hook);

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
  for (const Tensor& t : inputs) next.push_back(gradient_edge(t));
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

/// For ops whose backward is not itself differentiable (conv2d, pooling): when the backward pass
/// is being recorded, makes `grads` fail with a clear error if they are differentiated again
/// with respect to anything they depend on: `inputs` lists grad_output and the saved tensors.
void mark_not_twice_differentiable(const char* op, TensorList& grads, const TensorList& inputs);

/// Releases a node reference without recursion, so destroying a deep graph cannot overflow the
/// stack: nodes whose last reference goes away are freed in a loop instead of nested destructors.
void release_node(std::shared_ptr<Node>&& node);

}  // namespace xg
