#pragma once
// Every differentiable op. Binary ops broadcast like NumPy; both operands must share a dtype.
// Dimensions are int64_t and may be negative (counted from the end).
// Index tensors (index_select, gather, scatter_add, index_add, one_hot, targets) are int64, or
// float tensors holding whole numbers. int64 tensors never require grad; ops that need floating
// point (exp, matmul, softmax, ...) reject them naming the op; shape ops, indexing, comparisons
// and sum (exact, int64 result) accept them; mean does not (as PyTorch).
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg {

// ---- arithmetic (ops/pointwise.cpp) ----
/// a + b, broadcast.
Tensor add(const Tensor& a, const Tensor& b);
/// a + b for a scalar b.
Tensor add(const Tensor& a, double b);
/// a - b, broadcast.
Tensor sub(const Tensor& a, const Tensor& b);
/// a * b elementwise, broadcast.
Tensor mul(const Tensor& a, const Tensor& b);
/// a * b for a scalar b.
Tensor mul(const Tensor& a, double b);
/// a / b elementwise, broadcast.
Tensor div(const Tensor& a, const Tensor& b);
/// -a.
Tensor neg(const Tensor& a);
/// a ** exponent
Tensor pow(const Tensor& a, double exponent);
/// a ** exponent elementwise, broadcast.
Tensor pow(const Tensor& a, const Tensor& exponent);
/// base ** exponent for a scalar base.
Tensor pow(double base, const Tensor& exponent);
/// e ** a.
Tensor exp(const Tensor& a);
/// Natural logarithm.
Tensor log(const Tensor& a);
/// Square root.
Tensor sqrt(const Tensor& a);
/// |a|; the gradient at 0 is 0.
Tensor abs(const Tensor& a);
/// Elementwise sign (-1, 0, 1); gradient zero.
Tensor sign(const Tensor& a);
/// Sine (radians).
Tensor sin(const Tensor& a);
/// Cosine (radians).
Tensor cos(const Tensor& a);
/// Gauss error function.
Tensor erf(const Tensor& a);
/// Limits values to [min, max]; either bound may be omitted.
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max);
/// Elementwise max of a and b, broadcast; ties share the gradient.
Tensor maximum(const Tensor& a, const Tensor& b);
/// Elementwise min of a and b, broadcast; ties share the gradient.
Tensor minimum(const Tensor& a, const Tensor& b);
/// cond != 0 ? a : b, broadcast over all three.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- comparisons: 1/0 in the dtype of a (int64 for int64 inputs), never require grad ----
/// a == b.
Tensor eq(const Tensor& a, const Tensor& b);
/// a != b.
Tensor ne(const Tensor& a, const Tensor& b);
/// a > b.
Tensor gt(const Tensor& a, const Tensor& b);
/// a < b.
Tensor lt(const Tensor& a, const Tensor& b);
/// a >= b.
Tensor ge(const Tensor& a, const Tensor& b);
/// a <= b.
Tensor le(const Tensor& a, const Tensor& b);
/// a > b for a scalar b.
Tensor gt(const Tensor& a, double b);
/// a < b for a scalar b.
Tensor lt(const Tensor& a, double b);

// ---- activations (ops/pointwise.cpp) ----
/// max(a, 0).
Tensor relu(const Tensor& a);
/// a where a > 0, else negative_slope * a.
Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);
/// 1 / (1 + exp(-a)).
Tensor sigmoid(const Tensor& a);
/// Hyperbolic tangent.
Tensor tanh(const Tensor& a);
/// Exact GELU: x * Phi(x).
Tensor gelu(const Tensor& a);
/// log(1 + exp(beta x)) / beta, linear above `threshold` (as PyTorch).
Tensor softplus(const Tensor& a, double beta = 1.0, double threshold = 20.0);

// ---- reductions (ops/reduce.cpp) ----
/// Sum of all elements, as a 0-d tensor.
Tensor sum(const Tensor& a);
/// Sum over dims (kept as size 1 when keepdim).
Tensor sum(const Tensor& a, std::vector<int64_t> dims, bool keepdim = false);
/// Mean of all elements, as a 0-d tensor.
Tensor mean(const Tensor& a);
/// Mean over dims (kept as size 1 when keepdim).
Tensor mean(const Tensor& a, std::vector<int64_t> dims, bool keepdim = false);
/// Variance of all elements with Bessel's correction, as torch.var.
Tensor var(const Tensor& a);
/// Variance over dims (all when empty), dividing by N - correction (1: unbiased, 0: biased).
Tensor var(const Tensor& a, std::vector<int64_t> dims, bool keepdim = false,
           int64_t correction = 1);
/// Largest element; the gradient is shared evenly between ties.
Tensor max(const Tensor& a);
/// Largest value along dim; ties share the gradient.
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);
/// Smallest element; the gradient is shared evenly between ties.
Tensor min(const Tensor& a);
/// Smallest value along dim; ties share the gradient.
Tensor min(const Tensor& a, int64_t dim, bool keepdim = false);
/// Index (int64) of the largest element of the flattened tensor, as a 0-d tensor; NaN counts as
/// the largest, the first wins on ties.
Tensor argmax(const Tensor& a);
/// Index (int64) of the largest element along dim (the first on ties; NaN counts as largest).
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
/// Index (int64) of the smallest element of the flattened tensor, as a 0-d tensor.
Tensor argmin(const Tensor& a);
/// Index (int64) of the smallest element along dim (the first on ties; NaN counts as smallest).
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim = false);
/// {values, indices} of the largest elements along dim (torch.max(a, dim)): indices int64 as
/// argmax; the values' gradient flows to the element at the index.
std::pair<Tensor, Tensor> max_with_indices(const Tensor& a, int64_t dim, bool keepdim = false);
/// {values, indices} of the smallest elements along dim (torch.min(a, dim)).
std::pair<Tensor, Tensor> min_with_indices(const Tensor& a, int64_t dim, bool keepdim = false);
/// log(sum(exp(a))) along dims, computed stably.
Tensor logsumexp(const Tensor& a, std::vector<int64_t> dims, bool keepdim = false);
/// exp(a) / sum(exp(a)) along dim, computed stably.
Tensor softmax(const Tensor& a, int64_t dim);
/// a - logsumexp(a, dim), computed stably.
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- linear algebra (ops/linalg.cpp) ----
/// torch.matmul: 1-D dot, 2-D matrix product, batched with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
/// 2-D product op(a) @ op(b) where op transposes when the flag is set (BLAS flags, no copies).
Tensor mm(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
/// Batched product [B, n, k] @ [B, k, m] with the same transpose flags per batch.
Tensor bmm(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
/// x @ weight^T + bias for x [*, in], weight [out, in], bias [out] (optional).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- shape and indexing (ops/shape.cpp) ----
/// The same elements in `shape` (same numel); shares a's buffer.
Tensor reshape(const Tensor& a, Shape shape);
/// Reshape where one entry may be -1 (inferred from the others).
Tensor view(const Tensor& a, std::vector<int64_t> shape);
/// Merges dims start_dim..end_dim into one; shares a's buffer.
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
/// Removes all size-1 dims.
Tensor squeeze(const Tensor& a);
/// Removes dim if its size is 1.
Tensor squeeze(const Tensor& a, int64_t dim);
/// Inserts a size-1 dim at dim.
Tensor unsqueeze(const Tensor& a, int64_t dim);
/// Swaps dims dim0 and dim1 (a copy).
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1);
/// Reorders dims: result dim i is a's dim dims[i] (a copy).
Tensor permute(const Tensor& a, std::vector<int64_t> dims);
/// Broadcasts size-1 dims (and new leading dims) to `shape`.
Tensor expand(const Tensor& a, Shape shape);
/// Sums a broadcast gradient back to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& a, const Shape& shape);
/// Joins tensors along an existing dim (other dims equal).
Tensor cat(const TensorList& tensors, int64_t dim = 0);
/// Joins same-shape tensors along a new dim.
Tensor stack(const TensorList& tensors, int64_t dim = 0);
/// Elements start, start+step, ... below end along dim (negative start/end count from the end).
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
/// `length` elements from start along dim (a copy).
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
/// The slice at `index` along dim, with that dim removed.
Tensor select(const Tensor& a, int64_t dim, int64_t index);
/// Rows (along dim) picked by a 1-D index tensor.
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
/// out[i][j] = a[index[i][j]][j] for dim 0 (and likewise for other dims); index has a's rank.
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
/// zeros(shape) with `src` added at `index` along dim (the adjoint of gather).
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
/// self with `src` rows added at `index` along dim (the adjoint of index_select).
Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);

// ---- convolution and pooling (ops/conv.cpp) ----
/// input [N, C, H, W], weight [O, C / groups, kh, kw], bias [O] (optional) -> [N, O, H', W'];
/// groups splits the channels into `groups` independent convolutions (C and O divisible by it).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> padding = {0, 0},
              std::vector<int64_t> dilation = {1, 1}, int64_t groups = 1);
/// input [N, C, H, W]; stride defaults to kernel_size; padding pads with -inf.
Tensor max_pool2d(const Tensor& input, std::vector<int64_t> kernel_size,
                  std::vector<int64_t> stride = {}, std::vector<int64_t> padding = {0, 0},
                  std::vector<int64_t> dilation = {1, 1});
/// input [N, C, H, W]; zero padding counted in the average (count_include_pad, as PyTorch).
Tensor avg_pool2d(const Tensor& input, std::vector<int64_t> kernel_size,
                  std::vector<int64_t> stride = {}, std::vector<int64_t> padding = {0, 0});

// ---- misc (ops/misc.cpp) ----
/// Zeroes elements with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& a, double p, bool training);
/// indices [*] (int64, or whole-number floats) holding 0..num_classes-1 -> [*, num_classes] of
/// 0/1 in dtype.
Tensor one_hot(const Tensor& indices, std::size_t num_classes, Dtype dtype = Dtype::float32);

// ---- operators ----
/// add(a, b).
Tensor operator+(const Tensor& a, const Tensor& b);
/// a + scalar.
Tensor operator+(const Tensor& a, double b);
/// scalar + b.
Tensor operator+(double a, const Tensor& b);
/// sub(a, b).
Tensor operator-(const Tensor& a, const Tensor& b);
/// a - scalar.
Tensor operator-(const Tensor& a, double b);
/// scalar - b.
Tensor operator-(double a, const Tensor& b);
/// mul(a, b).
Tensor operator*(const Tensor& a, const Tensor& b);
/// a * scalar.
Tensor operator*(const Tensor& a, double b);
/// scalar * b.
Tensor operator*(double a, const Tensor& b);
/// div(a, b).
Tensor operator/(const Tensor& a, const Tensor& b);
/// a / scalar.
Tensor operator/(const Tensor& a, double b);
/// scalar / b.
Tensor operator/(double a, const Tensor& b);
/// neg(a).
Tensor operator-(const Tensor& a);

// ---- functional index updates (ops/shape.cpp) ----
// Out-of-place, differentiable forms of libtorch's in-place index updates: use these where
// libtorch code would modify the result of transpose/select/slice/... in place.
/// self with the rows at 1-D `index` along dim set to `value`; gradient 0 at those rows.
Tensor index_fill(const Tensor& self, int64_t dim, const Tensor& index, double value);
/// self with `value` where `mask` (0/1 values, broadcast to self's shape) is 1; gradient 0 there.
Tensor masked_fill(const Tensor& self, const Tensor& mask, double value);
/// self with the rows of `source` ([.., len(index), ..]) copied to the rows at `index` along dim.
Tensor index_copy(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source);
/// self[indices[0], indices[1], ...] = values (1-D indices, one per leading dim; values broadcast
/// to [len, trailing dims...]); with accumulate, values are added and duplicates add up.
Tensor index_put(const Tensor& self, const TensorList& indices, const Tensor& values,
                 bool accumulate = false);

}  // namespace xg
