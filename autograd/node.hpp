#pragma once
// Node: one recorded op in the computation graph (a tensor's grad_fn).
//
// A node knows its op name, the nodes of its inputs (edges; nullptr where an input needs no
// gradient) and how to turn the gradient of its output into gradients of its inputs. Leaves that
// require grad are reached through an AccumulateGrad node that adds into their .grad().
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg {

/// Memory for graph objects from xgrad's per-thread pool (autograd/extend.cpp forwards to it).
void* graph_allocate(std::size_t bytes);
/// Returns memory from graph_allocate.
void graph_deallocate(void* p, std::size_t bytes);
/// std allocator over graph_allocate (keeps the pool itself out of this public header).
template <typename T>
struct GraphAllocator {
  using value_type = T;
  GraphAllocator() = default;
  template <typename U>
  GraphAllocator(const GraphAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(graph_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { graph_deallocate(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const GraphAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const GraphAllocator<U>&) const {
    return false;
  }
};

class Node;
/// A node's inputs (pool-allocated: a graph has one such list per op).
using EdgeList = std::vector<std::shared_ptr<Node>, GraphAllocator<std::shared_ptr<Node>>>;

/// Shape and dtype of the gradient a node receives (its forward output's), kept inline for up
/// to four dims so that recording an op does not allocate for it.
class GradientSpec {
 public:
  /// Records `shape` and `dtype`.
  void set(const Shape& shape, Dtype dtype);
  /// False until set (a node made without set_history).
  bool known() const { return known_; }
  /// True when a gradient of this shape and dtype fits.
  bool matches(const Shape& shape, Dtype dtype) const;
  /// The recorded shape.
  Shape shape() const;
  /// The recorded dtype.
  Dtype dtype() const { return dtype_; }

 private:
  static constexpr std::size_t kInline = 4;
  const std::size_t* dims() const { return more_ ? more_.get() : inline_; }
  std::size_t inline_[kInline] = {};
  std::unique_ptr<std::size_t[]> more_;  // all dims when there are more than kInline
  uint32_t ndim_ = 0;
  Dtype dtype_ = Dtype::float32;
  bool known_ = false;
};

/// A tensor a node saved for backward, as recorded under SavedTensorsInfoGuard.
struct SavedTensorInfo {
  const void* id;  // its data pointer: equal id, shape and dtype mean the same data (compare only)
  Shape shape;
  Dtype dtype;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node(const char* op, EdgeList next);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// The forward op's name, e.g. "mul" (AccumulateGrad for leaves).
  const char* op() const { return op_; }
  /// PyTorch-style node name, e.g. "MulBackward".
  std::string name() const;
  /// Input nodes, one per input of the forward op (nullptr: that input needs no gradient).
  const EdgeList& next_functions() const { return next_; }
  /// True if input i of the forward op needs a gradient in the running backward pass (false
  /// for inputs that require grad but lead to none of xg::grad's inputs).
  bool needs_grad(std::size_t i) const;
  /// Creation order; later nodes have larger numbers.
  uint64_t sequence_nr() const { return sequence_nr_; }
  /// The module path the op was recorded under ("features.0"), or nullptr (see ScopeGuard).
  const std::string* scope() const { return scope_; }
  /// Gradients of the inputs given the gradient of the output (undefined where not needed).
  virtual TensorList apply(const Tensor& grad_output) = 0;
  /// Frees what was saved for backward (called after backward unless retain_graph).
  virtual void release() {}
  /// The leaf this node accumulates into (AccumulateGrad only).
  virtual const Tensor* leaf() const { return nullptr; }
  /// Shapes of the forward inputs, recorded while AnomalyModeGuard is active (else empty).
  const std::string& anomaly_note() const;
  void set_anomaly_note(std::string note);

  /// The tensors this node saved for backward, when it was recorded under SavedTensorsInfoGuard
  /// and backward has not freed them yet; else nullptr.
  const std::vector<SavedTensorInfo>* saved_info() const { return saved_info_.get(); }

  /// Hooks run on the gradient of this node's output before apply (tensor hooks of non-leaves).
  std::vector<GradHook>& pre_hooks();
  /// Shape and dtype of the gradient this node receives (set when the op is recorded); the
  /// engine checks every gradient flowing into the node against it.
  const GradientSpec& gradient_spec() const { return spec_; }
  /// Sets gradient_spec() (done by set_history).
  void set_gradient_spec(const Shape& shape, Dtype dtype) { spec_.set(shape, dtype); }

 private:
  friend class Engine;
  const char* op_;
  EdgeList next_;
  uint64_t sequence_nr_;
  const std::string* scope_;
  std::unique_ptr<std::vector<GradHook>> pre_hooks_;
  std::unique_ptr<std::string> anomaly_note_;
  std::unique_ptr<std::vector<SavedTensorInfo>> saved_info_;  // SavedTensorsInfoGuard only
  GradientSpec spec_;
  // Per-pass state (dependency counts, input buffers) lives in the engine's GraphTask, so that
  // passes in several threads may share nodes (a shared parameter's AccumulateGrad).
};

}  // namespace xg
