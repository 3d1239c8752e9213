// Shape ops (reshape, permute, expand, cat, ...) and indexing (slice, select, index_select,
// gather) with their adjoints (scatter_add, index_add). All results are contiguous; reshape shares
// its input's buffer, the others copy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

namespace {

std::vector<std::size_t> contiguous_strides(const Shape& s) {
  std::vector<std::size_t> st(s.size());
  std::size_t acc = 1;
  for (std::size_t d = s.size(); d-- > 0;) {
    st[d] = acc;
    acc *= s[d];
  }
  return st;
}

/// dst (contiguous, out_shape) = src viewed with per-dim `strides` starting at `offset`.
Tensor strided_copy(const Tensor& src, std::size_t offset, const std::vector<std::size_t>& strides,
                    const Shape& out_shape) {
  Tensor out = empty(out_shape, src.dtype());
  const std::size_t n = out.numel(), nd = out_shape.size();
  if (n == 0) return out;
  dispatch_all(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.impl()->data<T>() + offset;
    T* o = out.impl()->data<T>();
    if (nd == 0) {
      o[0] = s[0];
      return;
    }
    const std::size_t inner = out_shape[nd - 1], is = strides[nd - 1];
    std::vector<std::size_t> idx(nd, 0);
    std::size_t off = 0;
    for (std::size_t b = 0; b < n; b += inner) {
      if (is == 1)
        std::memcpy(o + b, s + off, inner * sizeof(T));
      else if (is == 0)  // broadcast along the row (expand, sum's backward)
        std::fill_n(o + b, inner, s[off]);
      else
        for (std::size_t j = 0; j < inner; ++j) o[b + j] = s[off + j * is];
      for (std::size_t d = nd - 1; d-- > 0;) {
        off += strides[d];
        if (++idx[d] < out_shape[d]) break;
        off -= strides[d] * out_shape[d];
        idx[d] = 0;
      }
    }
  });
  return out;
}

/// Checks an index tensor's values (int64, or whole numbers in a float tensor) against `size`;
/// returns them as integers.
std::vector<std::size_t> indices(const char* op, const Tensor& index, std::size_t dim,
                                 std::size_t size) {
  check_defined(op, index);
  std::vector<std::size_t> out(index.numel());
  dispatch_all(index.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = index.impl()->data<T>();
    for (std::size_t i = 0; i < out.size(); ++i) {
      const T v = p[i];
      if constexpr (!std::is_same_v<T, int64_t>)
        if (v != std::trunc(v)) fail(op, ": index ", v, " is not a whole number");
      if (!(v >= 0 && static_cast<double>(v) < static_cast<double>(size)) ||
          static_cast<uint64_t>(v) >= size)
        fail(op, ": index ", v, " is out of bounds for dimension ", dim, " with size ", size);
      out[i] = static_cast<std::size_t>(v);
    }
  });
  return out;
}

/// zeros(shape) with g written at slice(dim, start, :, step): the adjoint of slice.
Tensor slice_backward(const Tensor& g, const Shape& shape, std::size_t dim, std::size_t start,
                      std::size_t step) {
  Tensor out = zeros(shape, g.dtype());
  const std::size_t inner = contiguous_strides(shape)[dim],
                    outer = g.numel() / std::max<std::size_t>(1, g.shape()[dim] * inner);
  const std::size_t rg = g.shape()[dim], r = shape[dim];
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = g.impl()->data<T>();
    T* dst = out.impl()->data<T>();
    for (std::size_t i = 0; i < outer; ++i)
      for (std::size_t k = 0; k < rg; ++k)
        std::memcpy(dst + (i * r + start + k * step) * inner, src + (i * rg + k) * inner,
                    inner * sizeof(T));
  });
  if (needs_grad({&g}))
    record("slice_backward", out, {g}, [dim, start, step, rg](const Tensor& gg, Node&) {
      const auto d = static_cast<int64_t>(dim);
      const std::size_t end = rg == 0 ? start : start + (rg - 1) * step + 1;  // rg == 0: empty
      return TensorList{slice(gg, d, static_cast<int64_t>(start), static_cast<int64_t>(end),
                              static_cast<int64_t>(step))};
    });
  return out;
}

/// Gather/scatter core: for every position p of `index` (rank of `a`), the offset into a tensor
/// of shape `shape` with coordinate `dim` replaced by index[p].
std::vector<std::size_t> scatter_offsets(const char* op, const Shape& shape, std::size_t dim,
                                         const Tensor& index) {
  check_defined(op, index);
  if (index.dim() != shape.size())
    fail(op, ": index of shape ", index.shape(), " must have the same rank as the tensor of shape ",
         shape);
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (d != dim && index.shape()[d] > shape[d])
      fail(op, ": index of shape ", index.shape(), " is larger than the tensor of shape ", shape,
           " in dimension ", d);
  const auto idx = indices(op, index, dim, shape.empty() ? 1 : shape[dim]);  // 0-d: one element
  const auto st = contiguous_strides(shape);
  std::vector<std::size_t> offsets(idx.size());
  std::vector<std::size_t> coord(shape.size(), 0);
  for (std::size_t p = 0; p < idx.size(); ++p) {
    std::size_t off = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) off += (d == dim ? idx[p] : coord[d]) * st[d];
    offsets[p] = off;
    for (std::size_t d = shape.size(); d-- > 0;) {  // next coordinate of index
      if (++coord[d] < index.shape()[d]) break;
      coord[d] = 0;
    }
  }
  return offsets;
}

void check_same_rank_shapes(const char* op, const TensorList& ts, std::size_t dim) {
  for (const Tensor& t : ts) {
    check_defined(op, t);
    check_same_dtype(op, ts[0], t);
    bool ok = t.dim() == ts[0].dim();
    for (std::size_t d = 0; ok && d < t.dim(); ++d)
      ok = d == dim || t.shape()[d] == ts[0].shape()[d];
    if (!ok)
      fail(op, ": shapes ", ts[0].shape(), " and ", t.shape(), " must match except in dimension ",
           dim);
  }
}
}  // namespace

// ---- reshaping (shares the buffer) ----
Tensor reshape(const Tensor& a, Shape shape) {
  check_defined("reshape", a);
  if (checked_numel("reshape", shape) != a.numel())
    fail("reshape: shape ", shape, " is invalid for a tensor of shape ", a.shape(), " (", a.numel(),
         " elements)");
  auto impl = make_pooled<TensorImpl>(a.impl()->storage, std::move(shape), a.dtype());
  impl->is_view = true;
  impl->view_rebases = rebase_count(*impl->storage);
  impl->copy_of = a.impl()->copy_of;  // a view of a copy is no view of the original
  impl->view_without_grad =
      a.impl()->view_without_grad || (a.requires_grad() && !is_grad_enabled());
  Tensor out(std::move(impl));
  if (needs_grad({&a}))
    record("reshape", out, {a},
           [in = a.shape()](const Tensor& g, Node&) { return TensorList{reshape(g, in)}; });
  return out;
}

Tensor view(const Tensor& a, std::vector<int64_t> shape) {
  check_defined("view", a);
  Shape s;
  std::size_t known = 1, infer = shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && infer < shape.size())
      fail("view: only one dimension can be inferred (shape entries ", infer, " and ", i,
           " are -1) for a tensor of shape ", a.shape());
    if (shape[i] == -1)
      infer = i;
    else if (shape[i] < 0)
      fail("view: invalid shape entry ", shape[i], " for tensor of shape ", a.shape());
    else if (__builtin_mul_overflow(known, static_cast<std::size_t>(shape[i]), &known))
      known = kMaxNumel + 1;  // too many elements: reported below
    s.push_back(shape[i] < 0 ? 0 : static_cast<std::size_t>(shape[i]));
  }
  if (infer < shape.size()) {
    if (known == 0 || known > kMaxNumel || a.numel() % known != 0) {
      std::string asked;
      for (int64_t v : shape) asked += (asked.empty() ? "" : ", ") + std::to_string(v);
      fail("view: cannot infer -1 in shape [", asked, "] for a tensor of shape ", a.shape(), " (",
           a.numel(), " elements)");
    }
    s[infer] = a.numel() / known;
  }
  if (checked_numel("view", s) != a.numel())
    fail("view: shape ", s, " is invalid for a tensor of shape ", a.shape(), " (", a.numel(),
         " elements)");
  return reshape(a, std::move(s));
}

Tensor flatten(const Tensor& a, int64_t start, int64_t end) {
  check_defined("flatten", a);
  if (a.dim() == 0) return reshape(a, {1});
  const std::size_t s = wrap_dim("flatten", start, a.dim(), a.shape());
  const std::size_t e = wrap_dim("flatten", end, a.dim(), a.shape());
  if (s > e) fail("flatten: start_dim ", start, " comes after end_dim ", end);
  Shape out(a.shape().begin(), a.shape().begin() + static_cast<std::ptrdiff_t>(s));
  std::size_t n = 1;
  for (std::size_t d = s; d <= e; ++d) n *= a.shape()[d];  // <= numel: cannot overflow
  out.push_back(n);
  out.insert(out.end(), a.shape().begin() + static_cast<std::ptrdiff_t>(e + 1), a.shape().end());
  return reshape(a, out);
}

Tensor squeeze(const Tensor& a) {
  check_defined("squeeze", a);
  Shape out;
  for (std::size_t d : a.shape())
    if (d != 1) out.push_back(d);
  return reshape(a, out);
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  check_defined("squeeze", a);
  const std::size_t d = wrap_dim("squeeze", dim, a.dim(), a.shape());
  if (a.dim() == 0 || a.shape()[d] != 1) return reshape(a, a.shape());
  Shape out = a.shape();
  out.erase(out.begin() + static_cast<std::ptrdiff_t>(d));
  return reshape(a, out);
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  check_defined("unsqueeze", a);
  const std::size_t d = wrap_dim("unsqueeze", dim, a.dim() + 1, a.shape());
  Shape out = a.shape();
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(d), 1);
  return reshape(a, out);
}

// ---- permuting and broadcasting (copies) ----
Tensor permute(const Tensor& a, std::vector<int64_t> dims) {
  check_defined("permute", a);
  if (dims.size() != a.dim())
    fail("permute: got ", dims.size(), " dims for a tensor of shape ", a.shape());
  std::vector<std::size_t> perm(dims.size()), inverse(dims.size(), a.dim());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    perm[i] = wrap_dim("permute", dims[i], a.dim(), a.shape());
    if (inverse[perm[i]] != a.dim())
      fail("permute: dimension ", dims[i], " repeated for a tensor of shape ", a.shape());
    inverse[perm[i]] = i;
  }
  const auto st = contiguous_strides(a.shape());
  Shape shape(perm.size());
  std::vector<std::size_t> strides(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    shape[i] = a.shape()[perm[i]];
    strides[i] = st[perm[i]];
  }
  Tensor out = strided_copy(a, 0, strides, shape);
  out.impl()->copy_of = "permute";  // in-place ops on it fail (see in_place)
  if (needs_grad({&a}))
    record("permute", out, {a}, [inverse](const Tensor& g, Node&) {
      return TensorList{permute(g, std::vector<int64_t>(inverse.begin(), inverse.end()))};
    });
  return out;
}

Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  check_defined("transpose", a);
  std::vector<int64_t> dims(a.dim());
  std::iota(dims.begin(), dims.end(), 0);
  if (a.dim() == 0) return permute(a, dims);
  std::swap(dims[wrap_dim("transpose", dim0, a.dim(), a.shape())],
            dims[wrap_dim("transpose", dim1, a.dim(), a.shape())]);
  Tensor out = permute(a, dims);
  out.impl()->copy_of = "transpose";
  return out;
}

Tensor expand(const Tensor& a, Shape shape) {
  check_defined("expand", a);
  if (a.shape() == shape) return a;
  const std::size_t nd = shape.size(), lead = nd - std::min(nd, a.dim());
  bool ok = a.dim() <= nd;
  std::vector<std::size_t> strides(nd, 0);
  const auto st = contiguous_strides(a.shape());
  for (std::size_t d = 0; ok && d < a.dim(); ++d) {
    const std::size_t s = a.shape()[d], t = shape[lead + d];
    ok = s == t || s == 1;
    strides[lead + d] = s == 1 ? 0 : st[d];
  }
  if (!ok) fail("expand: tensor of shape ", a.shape(), " cannot be expanded to shape ", shape);
  checked_numel("expand", shape);
  Tensor out = strided_copy(a, 0, strides, shape);
  out.impl()->copy_of = "expand";
  if (needs_grad({&a}))
    record("expand", out, {a},
           [in = a.shape()](const Tensor& g, Node&) { return TensorList{sum_to(g, in)}; });
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  check_defined("sum_to", g);
  if (g.shape() == shape) return g;
  bool ok = g.dim() >= shape.size();
  const std::size_t lead = ok ? g.dim() - shape.size() : 0;
  for (std::size_t d = 0; ok && d < shape.size(); ++d)
    ok = shape[d] == 1 || shape[d] == g.shape()[lead + d];
  if (!ok) fail("sum_to: shape ", g.shape(), " cannot be summed to ", shape);
  std::vector<int64_t> dims;
  for (std::size_t d = 0; d < g.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1))
      dims.push_back(static_cast<int64_t>(d));
  return reshape(sum(g, dims, true), shape);
}

// ---- joining ----
Tensor cat(const TensorList& ts, int64_t dim) {
  if (ts.empty()) fail("cat: expected a non-empty list of tensors");
  for (std::size_t i = 0; i < ts.size(); ++i) {
    check_defined("cat", ts[i]);
    if (ts[i].dim() == 0)
      fail("cat: zero-dimensional tensor (at position ", i,
           ") cannot be concatenated; use stack, or unsqueeze it first");
  }
  const std::size_t d = wrap_dim("cat", dim, ts[0].dim(), ts[0].shape());
  check_same_rank_shapes("cat", ts, d);
  Shape shape = ts[0].shape();
  shape[d] = 0;
  for (const Tensor& t : ts) shape[d] = checked_add("cat", shape[d], t.shape()[d]);
  checked_numel("cat", shape);
  Tensor out = empty(shape, ts[0].dtype());
  const std::size_t inner = contiguous_strides(shape)[d],
                    outer = shape_numel(shape) / std::max<std::size_t>(1, shape[d] * inner);
  const std::size_t esz = element_size(out.dtype());
  std::size_t at = 0;
  std::vector<std::size_t> sizes;
  for (const Tensor& t : ts) {
    const std::size_t block = t.shape()[d] * inner;
    for (std::size_t i = 0; i < outer; ++i)
      std::memcpy(static_cast<char*>(out.impl()->storage->data) + (i * shape[d] * inner + at) * esz,
                  static_cast<const char*>(t.impl()->storage->data) + i * block * esz, block * esz);
    at += block;
    sizes.push_back(t.shape()[d]);
  }
  bool grad = false;
  for (const Tensor& t : ts) grad = grad || needs_grad({&t});
  if (grad)
    record("cat", out, ts, [sizes, d](const Tensor& g, Node& n) {
      TensorList r(sizes.size());
      int64_t start = 0;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        if (n.needs_grad(i))
          r[i] = narrow(g, static_cast<int64_t>(d), start, static_cast<int64_t>(sizes[i]));
        start += static_cast<int64_t>(sizes[i]);
      }
      return r;
    });
  return out;
}

Tensor stack(const TensorList& ts, int64_t dim) {
  if (ts.empty()) fail("stack: expected a non-empty list of tensors");
  check_defined("stack", ts[0]);
  for (const Tensor& t : ts) {
    check_defined("stack", t);
    if (t.shape() != ts[0].shape())
      fail("stack: expects each tensor to be equal size, got ", ts[0].shape(), " and ", t.shape());
  }
  const auto d = static_cast<int64_t>(wrap_dim("stack", dim, ts[0].dim() + 1, ts[0].shape()));
  TensorList parts;
  for (const Tensor& t : ts) parts.push_back(unsqueeze(t, d));
  return cat(parts, d);
}

// ---- indexing ----
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  check_defined("slice", a);
  if (a.dim() == 0) fail("slice: cannot be applied to a 0-d tensor");
  const std::size_t d = wrap_dim("slice", dim, a.dim(), a.shape());
  if (step <= 0) fail("slice: step must be positive, got ", step);
  const auto size = static_cast<int64_t>(a.shape()[d]);
  auto clip = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + size : v, 0, size); };
  const int64_t s = clip(start), e = std::max(clip(end), clip(start));
  Shape shape = a.shape();
  shape[d] = e > s ? static_cast<std::size_t>((e - s - 1) / step + 1) : 0;  // no overflow
  auto strides = contiguous_strides(a.shape());
  const std::size_t offset = static_cast<std::size_t>(s) * strides[d];
  if (shape[d] > 1) strides[d] *= static_cast<std::size_t>(step);  // < size: cannot overflow
  Tensor out = strided_copy(a, offset, strides, shape);
  out.impl()->copy_of = "slice";
  if (needs_grad({&a}))
    record("slice", out, {a}, [in = a.shape(), d, s, step](const Tensor& g, Node&) {
      return TensorList{
          slice_backward(g, in, d, static_cast<std::size_t>(s), static_cast<std::size_t>(step))};
    });
  return out;
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  check_defined("narrow", a);
  if (a.dim() == 0) fail("narrow: cannot be applied to a 0-d tensor");
  const std::size_t d = wrap_dim("narrow", dim, a.dim(), a.shape());
  const auto size = static_cast<int64_t>(a.shape()[d]);
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start > size || length > size - start)
    fail("narrow: start ", start, " and length ", length, " exceed dimension ", d, " of size ",
         size, " (shape ", a.shape(), ")");
  Tensor out = slice(a, dim, start, start + length);
  out.impl()->copy_of = "narrow";
  return out;
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  check_defined("select", a);
  if (a.dim() == 0) fail("select: cannot be applied to a 0-d tensor");
  const std::size_t d = wrap_dim("select", dim, a.dim(), a.shape());
  const auto size = static_cast<int64_t>(a.shape()[d]);
  if (index < -size || index >= size)
    fail("select: index ", index, " is out of range for dimension ", d, " of size ", size,
         " (shape ", a.shape(), ")");
  if (index < 0) index += size;
  Tensor out = squeeze(slice(a, dim, index, index + 1), static_cast<int64_t>(d));
  out.impl()->copy_of = "select";
  return out;
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  check_defined("index_select", a);
  const std::size_t d = wrap_dim("index_select", dim, a.dim(), a.shape());
  if (index.dim() > 1) fail("index_select: index must be 1-D, got shape ", index.shape());
  const auto idx = indices("index_select", index, d, a.dim() ? a.shape()[d] : 1);
  Shape shape = a.shape();
  if (a.dim()) shape[d] = idx.size();
  Tensor out = empty(shape, a.dtype());
  const std::size_t inner = a.dim() ? contiguous_strides(a.shape())[d] : 1;
  const std::size_t r = a.dim() ? a.shape()[d] : 1,
                    outer = a.numel() / std::max<std::size_t>(1, r * inner);
  const std::size_t esz = element_size(a.dtype());
  for (std::size_t i = 0; i < outer; ++i)
    for (std::size_t k = 0; k < idx.size(); ++k)
      std::memcpy(
          static_cast<char*>(out.impl()->storage->data) + ((i * idx.size() + k) * inner) * esz,
          static_cast<const char*>(a.impl()->storage->data) + ((i * r + idx[k]) * inner) * esz,
          inner * esz);
  if (needs_grad({&a}))
    record("index_select", out, {a},
           [in = a.shape(), d, si = SavedTensor(index.detach())](const Tensor& g, Node& n) {
             return TensorList{
                 index_add(zeros(in, g.dtype()), static_cast<int64_t>(d), si.unpack(n), g)};
           });
  return out;
}

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("index_add", self);
  check_defined("index_add", src);
  check_same_dtype("index_add", self, src);
  const std::size_t d = wrap_dim("index_add", dim, self.dim(), self.shape());
  const auto idx = indices("index_add", index, d, self.dim() ? self.shape()[d] : 1);
  Shape want = self.shape();
  if (self.dim()) want[d] = idx.size();
  if (src.shape() != want)
    fail("index_add: source of shape ", src.shape(), " does not match ", want, " (self ",
         self.shape(), ", ", idx.size(), " indices)");
  Tensor out = self.detach().clone();
  const std::size_t inner = self.dim() ? contiguous_strides(self.shape())[d] : 1;
  const std::size_t r = self.dim() ? self.shape()[d] : 1,
                    outer = self.numel() / std::max<std::size_t>(1, r * inner);
  dispatch_all(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.impl()->data<T>();
    T* o = out.impl()->data<T>();
    for (std::size_t i = 0; i < outer; ++i)
      for (std::size_t k = 0; k < idx.size(); ++k)
        for (std::size_t j = 0; j < inner; ++j)
          o[(i * r + idx[k]) * inner + j] += s[(i * idx.size() + k) * inner + j];
  });
  if (needs_grad({&self, &src}))
    record("index_add", out, {self, src},
           [d, si = SavedTensor(index.detach())](const Tensor& g, Node& n) {
             return TensorList{g, n.needs_grad(1)
                                      ? index_select(g, static_cast<int64_t>(d), si.unpack(n))
                                      : Tensor()};
           });
  return out;
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  check_defined("gather", a);
  const std::size_t d = wrap_dim("gather", dim, a.dim(), a.shape());
  const auto offsets = scatter_offsets("gather", a.shape(), d, index);
  Tensor out = empty(index.shape(), a.dtype());
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = a.impl()->data<T>();
    T* o = out.impl()->data<T>();
    for (std::size_t p = 0; p < offsets.size(); ++p) o[p] = s[offsets[p]];
  });
  if (needs_grad({&a}))
    record("gather", out, {a},
           [in = a.shape(), d, si = SavedTensor(index.detach())](const Tensor& g, Node& n) {
             return TensorList{
                 scatter_add(zeros(in, g.dtype()), static_cast<int64_t>(d), si.unpack(n), g)};
           });
  return out;
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter_add", self);
  check_defined("scatter_add", src);
  check_same_dtype("scatter_add", self, src);
  check_defined("scatter_add", index);
  const std::size_t d = wrap_dim("scatter_add", dim, self.dim(), self.shape());
  if (src.shape() != index.shape())
    fail("scatter_add: source of shape ", src.shape(), " does not match index of shape ",
         index.shape());
  const auto offsets = scatter_offsets("scatter_add", self.shape(), d, index);
  Tensor out = self.detach().clone();
  dispatch_all(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.impl()->data<T>();
    T* o = out.impl()->data<T>();
    for (std::size_t p = 0; p < offsets.size(); ++p) o[offsets[p]] += s[p];
  });
  if (needs_grad({&self, &src}))
    record("scatter_add", out, {self, src},
           [d, si = SavedTensor(index.detach())](const Tensor& g, Node& n) {
             return TensorList{
                 g, n.needs_grad(1) ? gather(g, static_cast<int64_t>(d), si.unpack(n)) : Tensor()};
           });
  return out;
}

// ---- functional index updates (out-of-place forms of libtorch's in-place index ops) ----
namespace {
/// self's layout around dim d: `outer` blocks of `rows` rows of `inner` contiguous elements.
struct Rows {
  std::size_t outer, rows, inner;
  Rows(const Tensor& self, std::size_t d)
      : rows(self.dim() ? self.shape()[d] : 1),
        inner(self.dim() ? contiguous_strides(self.shape())[d] : 1) {
    outer = self.numel() / std::max<std::size_t>(1, rows * inner);
  }
};

/// The values of a 1-D (or 0-d) index into dim d of self, checked against its size.
std::vector<std::size_t> row_indices(const char* op, const Tensor& self, std::size_t d,
                                     const Tensor& index) {
  check_defined(op, index);
  if (index.dim() > 1)
    fail(op, ": index must be 1-D, got shape ", index.shape(), " (self ", self.shape(), ")");
  return indices(op, index, d, self.dim() ? self.shape()[d] : 1);
}
}  // namespace

Tensor index_fill(const Tensor& self, int64_t dim, const Tensor& index, double value) {
  check_defined("index_fill", self);
  const std::size_t d = wrap_dim("index_fill", dim, self.dim(), self.shape());
  const auto idx = row_indices("index_fill", self, d, index);
  Tensor out = self.detach().clone();
  const Rows l(self, d);
  dispatch(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.impl()->data<T>();
    for (std::size_t i = 0; i < l.outer; ++i)
      for (std::size_t r : idx) std::fill_n(o + (i * l.rows + r) * l.inner, l.inner, T(value));
  });
  if (needs_grad({&self}))
    record("index_fill", out, {self},
           [d, index = SavedTensor(index.detach())](const Tensor& g, Node& n) {
             // grad [self shape] -> self, zero at the filled rows
             return TensorList{index_fill(g, static_cast<int64_t>(d), index.unpack(n), 0.0)};
           });
  return out;
}

Tensor masked_fill(const Tensor& self, const Tensor& mask, double value) {
  check_defined("masked_fill", self);
  check_defined("masked_fill", mask);
  if (broadcast_shapes("masked_fill", mask.shape(), self.shape()) != self.shape())
    fail("masked_fill: mask of shape ", mask.shape(), " cannot be broadcast to self of shape ",
         self.shape());
  const Tensor m = mask.detach();
  const std::vector<double> on =
      (m.shape() == self.shape() ? m : expand(m, self.shape())).to_vector<double>();
  for (double v : on)
    if (v != 0 && v != 1)
      fail("masked_fill: mask of shape ", mask.shape(), " must hold only 0 and 1, got ", v);
  Tensor out = self.detach().clone();
  dispatch(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.impl()->data<T>();
    for (std::size_t i = 0; i < on.size(); ++i)
      if (on[i] != 0) o[i] = T(value);
  });
  if (needs_grad({&self}))
    record("masked_fill", out, {self}, [mask = SavedTensor(m)](const Tensor& g, Node& n) {
      return TensorList{masked_fill(g, mask.unpack(n), 0.0)};  // grad [self shape], 0 where masked
    });
  return out;
}

Tensor index_copy(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  check_defined("index_copy", self);
  check_defined("index_copy", source);
  check_same_dtype("index_copy", self, source);
  const std::size_t d = wrap_dim("index_copy", dim, self.dim(), self.shape());
  const auto idx = row_indices("index_copy", self, d, index);
  Shape want = self.shape();
  if (self.dim()) want[d] = idx.size();
  if (source.shape() != want)
    fail("index_copy: source of shape ", source.shape(), " does not match ", want, " (self ",
         self.shape(), ", ", idx.size(), " indices along dimension ", d, ")");
  Tensor out = self.detach().clone();
  const Rows l(self, d);
  dispatch(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = source.impl()->data<T>();
    T* o = out.impl()->data<T>();
    for (std::size_t i = 0; i < l.outer; ++i)
      for (std::size_t k = 0; k < idx.size(); ++k)
        std::copy_n(s + (i * idx.size() + k) * l.inner, l.inner,
                    o + (i * l.rows + idx[k]) * l.inner);
  });
  if (needs_grad({&self, &source}))
    record("index_copy", out, {self, source},
           [d, index = SavedTensor(index.detach())](const Tensor& g, Node& n) {
             const auto dd = static_cast<int64_t>(d);
             const Tensor i = index.unpack(n);
             // grad [self shape] -> self: 0 at the copied rows; source: those rows of grad
             return TensorList{n.needs_grad(0) ? index_fill(g, dd, i, 0.0) : Tensor(),
                               n.needs_grad(1) ? index_select(g, dd, i) : Tensor()};
           });
  return out;
}

Tensor index_put(const Tensor& self, const TensorList& indices_list, const Tensor& values,
                 bool accumulate) {
  const char* op = "index_put";
  check_defined(op, self);
  check_defined(op, values);
  check_same_dtype(op, self, values);
  const std::size_t k = indices_list.size();
  if (k == 0 || k > self.dim())
    fail(op, ": ", k, " index tensors for a tensor of shape ", self.shape(), " (expected 1 to ",
         self.dim(), ")");
  // Linear index of each indexed position into self viewed as [L, trailing dims...].
  std::size_t n = 1;
  for (const Tensor& t : indices_list) {
    check_defined(op, t);
    if (t.dim() > 1) fail(op, ": index tensors must be 1-D, got shape ", t.shape());
    if (t.numel() != 1 && n != 1 && t.numel() != n)
      fail(op, ": index tensors of lengths ", n, " and ", t.numel(), " cannot be broadcast");
    if (t.numel() != 1) n = t.numel();
  }
  std::vector<double> lin(n, 0.0);
  std::size_t lead = 1;
  for (std::size_t j = 0; j < k; ++j) lead *= self.shape()[j];
  for (std::size_t j = 0, stride = lead; j < k; ++j) {
    stride /= self.shape()[j];
    const auto idx = indices(op, indices_list[j], j, self.shape()[j]);
    for (std::size_t p = 0; p < n; ++p)
      lin[p] += static_cast<double>(idx[idx.size() == 1 ? 0 : p] * stride);
  }
  Shape flat{lead}, indexed{n};
  flat.insert(flat.end(), self.shape().begin() + static_cast<std::ptrdiff_t>(k),
              self.shape().end());
  indexed.insert(indexed.end(), flat.begin() + 1, flat.end());
  const std::size_t inner = shape_numel(indexed) / std::max<std::size_t>(1, n);
  const Tensor v = values.detach();
  bool fits = v.dim() <= indexed.size();
  for (std::size_t d = 0; fits && d < v.dim(); ++d) {
    const std::size_t have = v.shape()[v.dim() - 1 - d], want = indexed[indexed.size() - 1 - d];
    fits = have == want || have == 1;
  }
  if (!fits)
    fail(op, ": values of shape ", v.shape(), " cannot be broadcast to the indexed shape ", indexed,
         " (self ", self.shape(), ", ", n, " indices)");
  const Tensor vals = v.shape() == indexed ? v : expand(v, indexed);
  Tensor out = self.detach().clone();
  dispatch(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = vals.impl()->data<T>();
    T* o = out.impl()->data<T>();
    for (std::size_t p = 0; p < n; ++p) {
      T* row = o + static_cast<std::size_t>(lin[p]) * inner;
      const T* src = s + p * inner;
      if (accumulate)
        for (std::size_t j = 0; j < inner; ++j) row[j] += src[j];
      else
        std::copy_n(src, inner, row);
    }
  });
  if (needs_grad({&self, &values}))
    record(op, out, {self, values},
           [lin = tensor(lin, {n}, Dtype::float64), flat, in = self.shape(), vs = values.shape(),
            accumulate](const Tensor& g, Node& node) {
             // grad [self shape] viewed as [L, trailing...]: self gets it with the written
             // positions zeroed (kept when accumulating); values get those positions' rows.
             const Tensor gf = reshape(g, flat);
             Tensor gs;
             if (node.needs_grad(0)) gs = accumulate ? g : reshape(index_fill(gf, 0, lin, 0.0), in);
             Tensor gv = node.needs_grad(1) ? sum_to(index_select(gf, 0, lin), vs) : Tensor();
             return TensorList{gs, gv};
           });
  return out;
}

}  // namespace xg
