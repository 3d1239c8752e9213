// Matrix products on OpenBLAS: mm and bmm take transpose flags, so backward never copies a
// transpose; matmul (torch.matmul semantics) and linear are built on them.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

namespace {

/// Rows and columns of op(t) for a [.., r, c] tensor.
std::pair<std::size_t, std::size_t> op_dims(const Tensor& t, bool trans) {
  const std::size_t r = t.shape()[t.dim() - 2], c = t.shape()[t.dim() - 1];
  return trans ? std::make_pair(c, r) : std::make_pair(r, c);
}

/// y = op(A) x + beta y for A stored row-major [rows, cols] with leading dimension lda.
template <typename T>
void gemv(bool trans, blasint rows, blasint cols, const T* a, blasint lda, const T* x, T beta,
          T* y) {
  const auto TA = trans ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemv(CblasRowMajor, TA, rows, cols, 1.0f, a, lda, x, 1, beta, y, 1);
  else
    cblas_dgemv(CblasRowMajor, TA, rows, cols, 1.0, a, lda, x, 1, beta, y, 1);
}

/// C[m, n] = op(A)[m, k] op(B)[k, n] for `batch` consecutive matrices (GEMV when m or n is 1:
/// GEMM would pack the whole matrix for a single row).
/// With accumulate, C += op(A) op(B) (beta = 1; linear pre-fills C with the bias).
template <typename T>
void gemm(const T* a, const T* b, T* c, std::size_t batch, std::size_t m, std::size_t n,
          std::size_t k, bool ta, bool tb, bool accumulate = false) {
  if (m == 0 || n == 0) return;  // empty product: BLAS rejects a leading dimension of 0
  if (k == 0) {                  // an empty sum: zeros (BLAS must not read a or b)
    if (!accumulate) std::fill_n(c, batch * m * n, T(0));
    return;
  }
  const T beta = accumulate ? T(1) : T(0);
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  const blasint lda = ta ? M : K, ldb = tb ? K : N;
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  for (std::size_t i = 0; i < batch; ++i) {
    const T* ai = a + i * m * k;
    const T* bi = b + i * k * n;
    T* ci = c + i * m * n;
    if (m == 1 && n > 1) {  // a row vector times a matrix: c^T = op(B)^T a, no packing of B
      const bool bt = !tb;  // B stored [k, n] needs Trans; stored [n, k] needs NoTrans
      gemv<T>(bt, bt ? K : N, bt ? N : K, bi, ldb, ai, beta, ci);
    } else if (n == 1 && m > 1) {  // a matrix times a column vector: c = op(A) b
      gemv<T>(ta, ta ? K : M, ta ? M : K, ai, lda, bi, beta, ci);
    } else if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, ai, lda, bi, ldb, beta, ci, N);
    } else {
      cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, 1.0, ai, lda, bi, ldb, beta, ci, N);
    }
  }
}

/// The shared body of mm (rank 2) and bmm (rank 3).
Tensor product(const char* op, const Tensor& a, const Tensor& b, bool ta, bool tb,
               std::size_t rank) {
  check_defined(op, a);
  check_defined(op, b);
  if (a.dim() != rank || b.dim() != rank)
    fail(op, ": expected ", rank, "-D tensors, got shapes ", a.shape(), " and ", b.shape());
  check_same_dtype(op, a, b);
  check_floating(op, a);
  // Plain variables, not structured bindings: C++17 lambdas cannot capture those (clang refuses).
  std::size_t m = 0, k = 0, k2 = 0, n = 0;
  std::tie(m, k) = op_dims(a, ta);
  std::tie(k2, n) = op_dims(b, tb);
  const std::size_t batch = rank == 3 ? a.shape()[0] : 1;
  if (k != k2 || (rank == 3 && b.shape()[0] != batch))
    fail(op, ": shapes ", a.shape(), (ta ? "^T" : ""), " and ", b.shape(), (tb ? "^T" : ""),
         " cannot be multiplied (", k, " != ", k2, ")");
  Shape shape = rank == 3 ? Shape{batch, m, n} : Shape{m, n};
  Tensor out = empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    gemm<T>(a.impl()->data<T>(), b.impl()->data<T>(), out.impl()->data<T>(), batch, m, n, k, ta,
            tb);
  });
  if (needs_grad({&a, &b}))
    record(op, out, {a, b},
           [sa = SavedTensor(a), sb = SavedTensor(b), ta, tb, rank](const Tensor& g, Node& node) {
             Tensor a = sa.unpack(node), b = sb.unpack(node);
             auto f = rank == 3 ? bmm : mm;
             TensorList r(2);
             // C = op(A) op(B):  dA from g op(B)^T,  dB from op(A)^T g  (flags, no copies)
             if (node.needs_grad(0)) r[0] = ta ? f(b, g, tb, true) : f(g, b, false, !tb);
             if (node.needs_grad(1)) r[1] = tb ? f(g, a, true, ta) : f(a, g, !ta, false);
             return r;
           });
  return out;
}
}  // namespace

Tensor mm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return product("mm", a, b, ta, tb, 2);
}
Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return product("bmm", a, b, ta, tb, 3);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined("matmul", a);
  check_defined("matmul", b);
  if (a.dim() == 0 || b.dim() == 0)
    fail("matmul: both arguments need at least 1 dimension, got shapes ", a.shape(), " and ",
         b.shape());
  const std::size_t k = a.shape().back(), kb = b.shape()[b.dim() == 1 ? 0 : b.dim() - 2];
  if (k != kb)
    fail("matmul: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (", k, " != ", kb,
         ")");
  check_same_dtype("matmul", a, b);
  check_floating("matmul", a);
  if (a.dim() == 2 && b.dim() == 2) return mm(a, b);
  if (b.dim() <= 2) {  // [.., k] @ [k] or [.., k] @ [k, n]: fold the batch into rows of one GEMM
    Shape out(a.shape().begin(), a.shape().end() - 1);
    const std::size_t n = b.dim() == 2 ? b.shape()[1] : 1;
    if (b.dim() == 2) out.push_back(n);
    const std::size_t rows = shape_numel(Shape(a.shape().begin(), a.shape().end() - 1));
    return reshape(mm(reshape(a, {rows, k}), reshape(b, {k, n})), out);
  }
  // Batched: a [.., n, k] (or [k]) and b [.., k, m]; broadcast the batch dims.
  const Tensor a3 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  const Shape ba(a3.shape().begin(), a3.shape().end() - 2),
      bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes("matmul", ba, bb);
  } catch (const std::invalid_argument&) {
    fail("matmul: batch dimensions of shapes ", a.shape(), " and ", b.shape(),
         " cannot be broadcast");
  }
  const std::size_t n = a3.shape()[a3.dim() - 2], m = b.shape().back(), nb = shape_numel(batch);
  Shape ea = batch, eb = batch, out = batch;
  ea.insert(ea.end(), {n, k});
  eb.insert(eb.end(), {k, m});
  out.insert(out.end(), {n, m});
  Tensor r = bmm(reshape(expand(a3, ea), {nb, n, k}), reshape(expand(b, eb), {nb, k, m}));
  if (a.dim() == 1) out.erase(out.end() - 2);
  return reshape(r, out);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  check_floating("linear", x);
  check_floating("linear", w);
  if (w.dim() != 2 || x.dim() == 0 || x.shape().back() != w.shape()[1])
    fail("linear: input of shape ", x.shape(), " and weight of shape ", w.shape(),
         " cannot be multiplied (expected weight [out, ", x.dim() ? x.shape().back() : 0, "])");
  const std::size_t in = w.shape()[1], out_features = w.shape()[0];
  Shape out(x.shape().begin(), x.shape().end() - 1);
  out.push_back(out_features);
  const std::size_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  const Tensor x2 = x.dim() == 2 ? x : reshape(x, {rows, in});
  if (!bias.defined()) {
    const Tensor y = mm(x2, w, false, true);
    return x.dim() == 2 ? y : reshape(y, out);
  }
  check_same_dtype("linear", x, w);
  check_same_dtype("linear", x, bias);
  if (bias.shape() != Shape{out_features})
    fail("linear: bias of shape ", bias.shape(), " does not match weight of shape ", w.shape());
  // y [rows, out] = bias (one copy per row) + x [rows, in] w^T: one GEMM with beta = 1, as
  // torch's addmm, instead of a GEMM that zeroes y and an add that reads it again.
  Tensor y = empty({rows, out_features}, x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = y.impl()->data<T>();
    const T* pb = bias.impl()->data<T>();
    for (std::size_t r = 0; r < rows; ++r) std::copy_n(pb, out_features, py + r * out_features);
    gemm<T>(x2.impl()->data<T>(), w.impl()->data<T>(), py, 1, rows, out_features, in, false, true,
            /*accumulate=*/true);
  });
  if (needs_grad({&x2, &w, &bias}))
    record("linear", y, {x2, w, bias},
           [sx = SavedTensor(x2), sw = SavedTensor(w)](const Tensor& g, Node& node) {
             TensorList r(3);
             // g [rows, out]: dx = g w [rows, in], dw = g^T x [out, in], dbias = sum of g's rows
             if (node.needs_grad(0)) r[0] = mm(g, sw.unpack(node));
             if (node.needs_grad(1)) r[1] = mm(g, sx.unpack(node), true, false);
             if (node.needs_grad(2)) r[2] = sum(g, {0});
             return r;
           });
  return x.dim() == 2 ? y : reshape(y, out);
}

}  // namespace xg
