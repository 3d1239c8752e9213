#pragma once
// xg::Tensor: a cheap, shared handle to an n-dimensional array that records the ops applied to it.
//
// Copying a Tensor shares the same data and autograd state (as in PyTorch); clone() copies data.
// This header is light on purpose: it includes no xtensor, so user code compiles fast.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xg {

/// Element type of a tensor: float32 (default), float64 (precise work, gradcheck), or int64
/// (indices and labels, PyTorch's long; never requires grad).
enum class Dtype { float32, float64, int64 };
/// "float32", "float64" or "int64".
const char* dtype_name(Dtype d);
/// Bytes per element.
std::size_t element_size(Dtype d);

/// Sizes of a tensor's dimensions, outermost first (row-major).
using Shape = std::vector<std::size_t>;
/// "[2, 3]"
std::string shape_str(const Shape& s);

class Node;
struct TensorImpl;
class Tensor;
using TensorList = std::vector<Tensor>;
/// A gradient hook: sees the incoming gradient, returns a replacement or an undefined Tensor to
/// keep it.
using GradHook = std::function<Tensor(const Tensor&)>;
/// A hook run after a leaf's gradient was accumulated into its .grad(); it receives the leaf
/// (PyTorch's register_post_accumulate_grad_hook).
using PostAccumulateGradHook = std::function<void(const Tensor&)>;

class Tensor {
 public:
  /// An undefined tensor (like a default-constructed torch::Tensor).
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  /// Size of dimension `dim` (negative counts from the end).
  std::size_t size(int64_t dim) const;
  std::size_t dim() const { return shape().size(); }
  std::size_t numel() const;
  Dtype dtype() const;

  // ---- data access ----
  /// The value of a one-element tensor.
  template <typename T>
  T item() const;
  /// All elements in row-major order, converted to T.
  template <typename T>
  std::vector<T> to_vector() const;
  /// Pointer to the contiguous row-major buffer; T must match dtype() (float, double, int64_t).
  template <typename T>
  T* data_ptr() const;
  /// The same values in another dtype (returns *this when the dtype matches). Differentiable
  /// between float32 and float64; to int64 truncates toward zero and is not differentiable.
  Tensor to(Dtype dtype) const;
  /// A copy of the data that stays in the graph (gradient flows back to *this).
  Tensor clone() const;
  /// A new tensor sharing this data but cut from the graph (requires_grad false).
  Tensor detach() const;

  // ---- autograd ----
  bool requires_grad() const;
  /// Marks a leaf tensor as a parameter whose gradient is accumulated into grad() (floating
  /// point dtypes only).
  Tensor& requires_grad_(bool requires_grad = true);
  /// Gradient accumulated by backward() (undefined until the first backward).
  Tensor grad() const;
  /// Replaces the accumulated gradient (undefined clears it, like `p.grad = None`).
  void set_grad(const Tensor& grad) const;
  /// The node that produced this tensor, or nullptr for leaves.
  const std::shared_ptr<Node>& grad_fn() const;
  /// True for tensors not produced by a recorded op.
  bool is_leaf() const;
  /// Backpropagates from this tensor. `grad` defaults to 1 for a one-element tensor.
  /// retain_graph defaults to create_graph; create_graph records the backward pass itself.
  void backward(const Tensor& grad = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  /// Makes a non-leaf tensor keep its gradient in grad() after backward.
  void retain_grad() const;
  bool retains_grad() const;
  /// Calls `hook(grad)` whenever the gradient of this tensor is computed.
  void register_hook(GradHook hook) const;
  /// Calls `hook(*this)` on a leaf each time backward has added a gradient into its grad()
  /// (after the register_hook hooks ran; PyTorch's register_post_accumulate_grad_hook).
  /// Distributed data parallel starts a bucket's allreduce from here. Leaves only.
  void register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const;
  /// Version counter of the data, bumped by every in-place op.
  uint32_t version() const;
  /// Optional display name (shown in printed graphs).
  const std::string& name() const;
  Tensor& set_name(std::string name);

  // ---- in-place ops (bump the version counter) ----
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& add_(double value);
  Tensor& sub_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(double value);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);
  Tensor& div_(const Tensor& other);
  Tensor& div_(double value);
  Tensor& zero_();
  Tensor& fill_(double value);
  /// Copies `src` (broadcast to this shape) into this tensor's data.
  Tensor& copy_(const Tensor& src);

  // ---- method forms of common ops (see ops.hpp) ----
  Tensor sum() const;
  Tensor sum(std::vector<int64_t> dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(std::vector<int64_t> dims, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(double exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor matmul(const Tensor& other) const;
  Tensor reshape(Shape shape) const;
  /// Reshape where one entry may be -1 (inferred).
  Tensor view(std::vector<int64_t> shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  /// Transpose of a 2-D tensor.
  Tensor t() const;
  Tensor permute(std::vector<int64_t> dims) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(Shape shape) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  /// Index of the smallest element along dim (int64).
  Tensor argmin(int64_t dim, bool keepdim = false) const;

  /// PyTorch-style text: tensor([[1.0000, 2.0000]], requires_grad=true)
  std::string to_string() const;

  /// The shared implementation (for the engine and viz; not needed in user code).
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  /// True when both handles refer to the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace xg
