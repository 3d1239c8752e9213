// Reductions (sum, mean, var, max, min, argmax, logsumexp) and softmax / log_softmax.
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

namespace {

/// Sorted, unique, non-negative dims; empty `dims` means all dims. A 0-d tensor accepts dim 0
/// and -1 (as a tensor of one element, PyTorch) and reduces nothing: the result stays 0-d.
std::vector<std::size_t> reduce_dims(const char* op, const Tensor& a, std::vector<int64_t> dims) {
  check_defined(op, a);
  std::vector<std::size_t> out;
  if (a.dim() == 0) {
    for (int64_t d : dims) wrap_dim(op, d, 0, a.shape());
    return out;
  }
  if (dims.empty())
    for (std::size_t d = 0; d < a.dim(); ++d) out.push_back(d);
  for (int64_t d : dims) out.push_back(wrap_dim(op, d, a.dim(), a.shape()));
  std::sort(out.begin(), out.end());
  if (auto rep = std::adjacent_find(out.begin(), out.end()); rep != out.end())
    fail(op, ": dimension ", *rep, " repeated in the list of dims for a tensor of shape ",
         a.shape());
  return out;
}

/// The shape after reducing `dims` (kept as size 1 when keepdim).
Shape reduced_shape(const Shape& s, const std::vector<std::size_t>& dims, bool keepdim) {
  Shape out;
  for (std::size_t d = 0; d < s.size(); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced)
      out.push_back(s[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

/// Views a tensor as [outer, r, inner] around dim d.
struct Split {
  std::size_t outer = 1, r = 1, inner = 1;
  Split(const Shape& s, std::size_t d) {
    for (std::size_t k = 0; k < s.size(); ++k) (k < d ? outer : k == d ? r : inner) *= s[k];
  }
};

/// Reduces one dim with `combine(acc, x)` starting from `init`; the dim is kept with size 1.
template <typename Combine>
Tensor reduce_one(const Tensor& a, std::size_t d, double init, Combine combine) {
  Shape shape = a.shape();
  const Split sp(shape, d);
  shape[d] = 1;
  Tensor out = empty(shape, a.dtype());
  dispatch_all(a.dtype(), [&](auto tag) {  // int64: sum only (callers check the others)
    using T = decltype(tag);
    const T* x = a.impl()->data<T>();
    T* o = out.impl()->data<T>();
    if (sp.inner == 1) {  // reducing the last dim: 4 accumulators so it is not latency-bound
      for (std::size_t i = 0; i < sp.outer; ++i) {
        const T* src = x + i * sp.r;
        T acc[4] = {T(init), T(init), T(init), T(init)};
        std::size_t k = 0;
        for (; k + 4 <= sp.r; k += 4)
          for (int u = 0; u < 4; ++u) acc[u] = combine(acc[u], src[k + u]);
        for (; k < sp.r; ++k) acc[0] = combine(acc[0], src[k]);
        o[i] = combine(combine(acc[0], acc[1]), combine(acc[2], acc[3]));
      }
      return;
    }
    for (std::size_t i = 0; i < sp.outer; ++i) {
      T* row = o + i * sp.inner;
      std::fill_n(row, sp.inner, static_cast<T>(init));
      for (std::size_t k = 0; k < sp.r; ++k) {
        const T* src = x + (i * sp.r + k) * sp.inner;
        for (std::size_t j = 0; j < sp.inner; ++j) row[j] = combine(row[j], src[j]);
      }
    }
  });
  return out;
}

/// Reduces `dims` one at a time with keepdim, then drops them unless keepdim.
template <typename Combine>
Tensor reduce(const Tensor& a, const std::vector<std::size_t>& dims, bool keepdim, double init,
              Combine combine) {
  if (a.numel() == 0) return full(reduced_shape(a.shape(), dims, keepdim), init, a.dtype());
  Tensor out = a.detach();
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) out = reduce_one(out, *it, init, combine);
  if (dims.empty()) out = out.clone();  // reducing no dims (a 0-d tensor) is the identity
  return keepdim ? out : reshape(out, reduced_shape(a.shape(), dims, false));
}

/// A gradient of the reduced shape brought back to the input's shape (for sum-like backward).
Tensor unreduce(const Tensor& g, const Shape& in, const std::vector<std::size_t>& dims) {
  return expand(reshape(g, reduced_shape(in, dims, true)), in);
}

/// max/min over dims; the gradient is shared evenly between tied extreme elements.
Tensor extreme(const char* op, const Tensor& a, std::vector<std::size_t> dims, bool keepdim,
               bool is_max) {
  check_floating(op, a);
  if (a.numel() == 0 && dims.size() == a.dim())
    fail(op, ": expected a reduction dim to be given for an empty tensor of shape ", a.shape());
  for (std::size_t d : dims)
    if (a.shape()[d] == 0)
      fail(op, ": cannot reduce dimension ", d, " of size 0 of a tensor of shape ", a.shape());
  const double init = is_max ? -INFINITY : INFINITY;
  Tensor out = is_max ? reduce(a, dims, keepdim, init,
                               [](auto m, auto x) { return x > m || std::isnan(x) ? x : m; })
                      : reduce(a, dims, keepdim, init,
                               [](auto m, auto x) { return x < m || std::isnan(x) ? x : m; });
  if (needs_grad({&a}))
    record(op, out, {a},
           [sa = SavedTensor(a), so = SavedTensor(out, true), dims](const Tensor& g, Node& n) {
             Tensor a = sa.unpack(n).detach();
             Tensor winners = eq(a, unreduce(so.unpack(n).detach(), a.shape(), dims));
             Tensor count = sum(winners, std::vector<int64_t>(dims.begin(), dims.end()), true);
             return TensorList{
                 mul(unreduce(g, a.shape(), dims), div(winners, expand(count, a.shape())))};
           });
  return out;
}
}  // namespace

Tensor sum(const Tensor& a) { return sum(a, {}, false); }

Tensor sum(const Tensor& a, std::vector<int64_t> dims_in, bool keepdim) {
  check_defined("sum", a);
  const auto dims = reduce_dims("sum", a, std::move(dims_in));
  Tensor out;
  if (dims.size() == a.dim() && a.dim() > 0) {  // all elements: one accumulator in double
    out = empty(reduced_shape(a.shape(), dims, keepdim), a.dtype());
    dispatch_all(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = a.impl()->data<T>();
      if constexpr (std::is_same_v<T, int64_t>) {  // exact; wraps on overflow as PyTorch
        uint64_t acc = 0;
        for (std::size_t i = 0, n = a.numel(); i < n; ++i) acc += static_cast<uint64_t>(x[i]);
        out.impl()->data<T>()[0] = static_cast<int64_t>(acc);
        return;
      }
      double acc[4] = {0, 0, 0, 0};
      std::size_t i = 0, n = a.numel();
      for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) acc[k] += x[i + k];
      for (; i < n; ++i) acc[0] += x[i];
      out.impl()->data<T>()[0] = static_cast<T>(acc[0] + acc[1] + acc[2] + acc[3]);
    });
  } else {
    out = reduce(a, dims, keepdim, 0.0, [](auto s, auto x) { return s + x; });
  }
  if (needs_grad({&a}))
    record("sum", out, {a}, [shape = a.shape(), dims](const Tensor& g, Node&) {
      return TensorList{unreduce(g, shape, dims)};
    });
  return out;
}

Tensor mean(const Tensor& a) { return mean(a, {}, false); }

Tensor mean(const Tensor& a, std::vector<int64_t> dims_in, bool keepdim) {
  check_defined("mean", a);
  if (a.dtype() == Dtype::int64)  // PyTorch: "could not infer output dtype"
    fail(
        "mean: expected a floating point tensor (float32 or float64), got int64; use "
        ".to(Dtype::float32) first, or sum() for the exact integer total");
  const auto dims = reduce_dims("mean", a, dims_in);
  std::size_t n = 1;
  for (std::size_t d : dims) n *= a.shape()[d];
  // The mean of no elements is nan, as PyTorch.
  return mul(sum(a, std::move(dims_in), keepdim), n == 0 ? NAN : 1.0 / static_cast<double>(n));
}

Tensor var(const Tensor& a) { return var(a, {}, false, 1); }

Tensor var(const Tensor& a, std::vector<int64_t> dims_in, bool keepdim, int64_t correction) {
  check_floating("var", a);
  const auto dims = reduce_dims("var", a, dims_in);
  std::size_t n = 1;
  for (std::size_t d : dims) n *= a.shape()[d];
  const double dof = static_cast<double>(n) - static_cast<double>(correction);
  if (dof <= 0)
    fail("var: ", n, " elements leave no degrees of freedom with correction ", correction);
  Tensor centered = sub(a, mean(a, dims_in, true));
  return mul(sum(mul(centered, centered), std::move(dims_in), keepdim), 1.0 / dof);
}

Tensor max(const Tensor& a) { return extreme("max", a, reduce_dims("max", a, {}), false, true); }
Tensor min(const Tensor& a) { return extreme("min", a, reduce_dims("min", a, {}), false, false); }
Tensor max(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme("max", a, reduce_dims("max", a, {dim}), keepdim, true);
}
Tensor min(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme("min", a, reduce_dims("min", a, {dim}), keepdim, false);
}

namespace {
template <typename T>
bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(x);
  else
    return false;
}

/// Index (int64) of the largest or smallest element along dim, the first on ties; a NaN counts
/// as the extreme (as PyTorch). Indices are counted in integers, exact past 2^24 elements.
Tensor arg_extreme(const char* op, const Tensor& a, int64_t dim, bool keepdim, bool is_max) {
  check_defined(op, a);
  const std::size_t d = wrap_dim(op, dim, a.dim(), a.shape());
  if (a.dim() == 0) return zeros({}, Dtype::int64);
  if (a.shape()[d] == 0) fail(op, ": cannot reduce an empty dimension of shape ", a.shape());
  const Split sp(a.shape(), d);
  Shape shape = a.shape();
  shape[d] = 1;
  Tensor out = empty(shape, Dtype::int64);
  int64_t* o = out.data_ptr<int64_t>();
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.impl()->data<T>();
    for (std::size_t i = 0; i < sp.outer; ++i)
      for (std::size_t j = 0; j < sp.inner; ++j) {
        const T* col = x + i * sp.r * sp.inner + j;
        std::size_t best = 0;
        T bv = col[0];
        for (std::size_t k = 1; k < sp.r && !is_nan(bv); ++k) {
          const T v = col[k * sp.inner];
          if (is_nan(v) || (is_max ? v > bv : v < bv)) {
            best = k;
            bv = v;
          }
        }
        o[i * sp.inner + j] = static_cast<int64_t>(best);
      }
  });
  return keepdim ? out : squeeze(out, static_cast<int64_t>(d));
}

std::pair<Tensor, Tensor> extreme_with_indices(const char* op, const Tensor& a, int64_t dim,
                                               bool keepdim, bool is_max) {
  Tensor index = arg_extreme(op, a, dim, true, is_max);
  if (a.dim() == 0) return {a.clone(), index};
  const auto d = static_cast<int64_t>(wrap_dim(op, dim, a.dim(), a.shape()));
  Tensor values = gather(a, d, index);  // the gradient flows to the element at the index
  if (keepdim) return {values, index};
  return {squeeze(values, d), squeeze(index, d)};
}
}  // namespace

Tensor argmax(const Tensor& a) {
  check_defined("argmax", a);
  return arg_extreme("argmax", reshape(a.detach(), {a.numel()}), 0, false, true);
}
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  return arg_extreme("argmax", a, dim, keepdim, true);
}
Tensor argmin(const Tensor& a) {
  check_defined("argmin", a);
  return arg_extreme("argmin", reshape(a.detach(), {a.numel()}), 0, false, false);
}
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim) {
  return arg_extreme("argmin", a, dim, keepdim, false);
}
std::pair<Tensor, Tensor> max_with_indices(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme_with_indices("max_with_indices", a, dim, keepdim, true);
}
std::pair<Tensor, Tensor> min_with_indices(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme_with_indices("min_with_indices", a, dim, keepdim, false);
}

Tensor logsumexp(const Tensor& a, std::vector<int64_t> dims_in, bool keepdim) {
  check_floating("logsumexp", a);
  const auto dims = reduce_dims("logsumexp", a, dims_in);
  std::vector<int64_t> idims(dims.begin(), dims.end());
  Tensor out;
  {
    NoGradGuard no_grad;  // m + log(sum(exp(a - m))) with m the max, finite where a is -inf
    Tensor m = reduce(a, dims, true, -INFINITY, [](auto m, auto x) { return std::max(m, x); });
    m = where(eq(abs(m), full_like(m, INFINITY)), zeros_like(m), m);
    out = add(log(sum(exp(sub(a, m)), idims, true)), m);
  }
  if (needs_grad({&a}))
    record("logsumexp", out, {a},
           [sa = SavedTensor(a), so = SavedTensor(out, true)](const Tensor& g, Node& n) {
             Tensor a = sa.unpack(n);  // g * softmax(a)
             return TensorList{mul(expand(g, a.shape()), exp(sub(a, so.unpack(n))))};
           });
  return keepdim ? out : reshape(out, reduced_shape(a.shape(), dims, false));
}

Tensor softmax(const Tensor& a, int64_t dim) {
  check_floating("softmax", a);
  const int64_t d = static_cast<int64_t>(wrap_dim("softmax", dim, a.dim(), a.shape()));
  Tensor out;
  if (a.numel() == 0) {  // nothing to normalize: an empty result of the same shape
    out = empty(a.shape(), a.dtype());
  } else {
    NoGradGuard no_grad;
    Tensor e = exp(sub(a, max(a, d, true)));
    out = div(e, sum(e, {d}, true));
  }
  if (needs_grad({&a}))
    record("softmax", out, {a}, [so = SavedTensor(out, true), d](const Tensor& g, Node& n) {
      Tensor y = so.unpack(n);  // y * (g - sum(g * y))
      return TensorList{mul(y, sub(g, sum(mul(g, y), {d}, true)))};
    });
  return out;
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  check_floating("log_softmax", a);
  const int64_t d = static_cast<int64_t>(wrap_dim("log_softmax", dim, a.dim(), a.shape()));
  Tensor out;
  {
    NoGradGuard no_grad;  // (a - m) - log(sum(exp(a - m))): a - logsumexp(a) would round a
    // large m + log(...) first (float32 at logits 1e4: -0.69336 for log(1/2), PyTorch -0.693147)
    Tensor m = reduce(a, reduce_dims("log_softmax", a, {d}), true, -INFINITY,
                      [](auto m, auto x) { return std::max(m, x); });
    m = where(eq(abs(m), full_like(m, INFINITY)), zeros_like(m), m);  // -inf rows stay nan
    Tensor shifted = sub(a, m);
    out = sub(shifted, log(sum(exp(shifted), {d}, true)));
  }
  if (needs_grad({&a}))
    record("log_softmax", out, {a}, [so = SavedTensor(out, true), d](const Tensor& g, Node& n) {
      // g - softmax * sum(g)
      return TensorList{sub(g, mul(exp(so.unpack(n)), sum(g, {d}, true)))};
    });
  return out;
}

}  // namespace xg
