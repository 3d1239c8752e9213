// Elementwise ops: arithmetic with NumPy broadcasting, math functions, activations, comparisons,
// clone/to, and the in-place ops. Each op: forward kernel, then its backward as Tensor ops.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "autograd/detail/array.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

namespace {

// ---- kernels ----

/// out = f(x) for an xtensor expression functor f(flat_x, T{}) (vectorized with xsimd).
template <typename F>
Tensor map(const Tensor& x, F f) {
  Tensor out = empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto a = flat<T>(x);
    auto o = flat<T>(out);
    xt::noalias(o) = f(a, T{});
  });
  return out;
}

/// out[i] = f(a[i], b[i]) with a and b broadcast to out_shape; out may alias a when a already
/// has out_shape (in-place ops).
template <typename T, typename F>
void broadcast_apply(const Tensor& a, const Tensor& b, T* out, const Shape& out_shape, F f) {
  const T* pa = a.impl()->data<T>();
  const T* pb = b.impl()->data<T>();
  const std::size_t n = shape_numel(out_shape);
  if (a.shape() == out_shape && b.shape() == out_shape) {
    for (std::size_t i = 0; i < n; ++i) out[i] = f(pa[i], pb[i]);
    return;
  }
  if (b.numel() == 1 && a.shape() == out_shape) {
    const T vb = pb[0];
    for (std::size_t i = 0; i < n; ++i) out[i] = f(pa[i], vb);
    return;
  }
  if (a.numel() == 1 && b.shape() == out_shape) {
    const T va = pa[0];
    for (std::size_t i = 0; i < n; ++i) out[i] = f(va, pb[i]);
    return;
  }
  // General case: strides of a and b in out's index space (0 along broadcast dims).
  const std::size_t nd = out_shape.size();
  std::vector<std::size_t> sa(nd, 0), sb(nd, 0);
  auto strides = [&](const Shape& s, std::vector<std::size_t>& st) {
    std::size_t acc = 1;
    for (std::size_t k = 0; k < s.size(); ++k) {
      const std::size_t d = nd - 1 - k, sd = s[s.size() - 1 - k];
      st[d] = sd == 1 ? 0 : acc;
      acc *= sd;
    }
  };
  strides(a.shape(), sa);
  strides(b.shape(), sb);
  if (n == 0) return;
  const std::size_t inner = out_shape[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
  std::vector<std::size_t> idx(nd, 0);
  std::size_t oa = 0, ob = 0;
  for (std::size_t o = 0; o < n; o += inner) {
    const T* ra = pa + oa;
    const T* rb = pb + ob;
    T* ro = out + o;
    // The inner dim is contiguous or broadcast in each operand; separate loops vectorize.
    if (ia == 1 && ib == 1)
      for (std::size_t j = 0; j < inner; ++j) ro[j] = f(ra[j], rb[j]);
    else if (ia == 1)
      for (std::size_t j = 0; j < inner; ++j) ro[j] = f(ra[j], rb[0]);
    else if (ib == 1)
      for (std::size_t j = 0; j < inner; ++j) ro[j] = f(ra[0], rb[j]);
    else
      for (std::size_t j = 0; j < inner; ++j) ro[j] = f(ra[0], rb[0]);
    for (std::size_t d = nd - 1; d-- > 0;) {  // advance the outer multi-index
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < out_shape[d]) break;
      oa -= sa[d] * out_shape[d];
      ob -= sb[d] * out_shape[d];
      idx[d] = 0;
    }
  }
}

/// A new tensor f(a, b) broadcast; checks dtypes and shapes naming `op`. Floating point only
/// unless AnyDtype (comparisons).
template <bool AnyDtype = false, typename F>
Tensor binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_defined(op, a);
  check_defined(op, b);
  check_same_dtype(op, a, b);
  if (!AnyDtype) check_floating(op, a);
  const Shape shape =
      a.shape() == b.shape() ? a.shape() : broadcast_shapes(op, a.shape(), b.shape());
  Tensor out = empty(shape, a.dtype());
  auto kernel = [&](auto tag) {
    using T = decltype(tag);
    broadcast_apply<T>(a, b, out.impl()->data<T>(), shape, [&](T x, T y) { return f(x, y); });
  };
  if constexpr (AnyDtype)
    dispatch_all(a.dtype(), kernel);
  else
    dispatch(a.dtype(), kernel);
  return out;
}

/// out = f(a[i], s) for a scalar s.
template <typename F>
Tensor with_scalar(const Tensor& a, double s, F f) {
  Tensor out = empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.impl()->data<T>();
    T* po = out.impl()->data<T>();
    const T v = static_cast<T>(s);
    for (std::size_t i = 0, n = a.numel(); i < n; ++i) po[i] = f(pa[i], v);
  });
  return out;
}

/// out = f(a[i], b[i]) for two tensors of one shape and dtype (backward kernels).
template <typename F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor out = empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.impl()->data<T>();
    const T* pb = b.impl()->data<T>();
    T* po = out.impl()->data<T>();
    for (std::size_t i = 0, n = a.numel(); i < n; ++i) po[i] = f(pa[i], pb[i]);
  });
  return out;
}

Tensor mask(const Tensor& a, double lo, double hi) {  // 1 where lo <= a <= hi
  return with_scalar(a, 0, [lo, hi](auto x, auto) {
    using T = decltype(x);
    return static_cast<T>(x >= lo && x <= hi);
  });
}
}  // namespace

// ---- arithmetic ----
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary("add", a, b, [](auto x, auto y) { return x + y; });
  if (needs_grad({&a, &b}))
    record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, Node& n) {
      return TensorList{n.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                        n.needs_grad(1) ? sum_to(g, sb) : Tensor()};
    });
  return out;
}

Tensor add(const Tensor& a, double b) {
  check_floating("add", a);
  Tensor out = with_scalar(a, b, [](auto x, auto y) { return x + y; });
  if (needs_grad({&a}))
    record("add", out, {a}, [](const Tensor& g, Node&) { return TensorList{g}; });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary("sub", a, b, [](auto x, auto y) { return x - y; });
  if (needs_grad({&a, &b}))
    record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, Node& n) {
      return TensorList{n.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                        n.needs_grad(1) ? sum_to(neg(g), sb) : Tensor()};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary("mul", a, b, [](auto x, auto y) { return x * y; });
  if (needs_grad({&a, &b}))
    record("mul", out, {a, b},
           [sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g, Node& n) {
             Tensor a = sa.unpack(n), b = sb.unpack(n);
             return TensorList{n.needs_grad(0) ? sum_to(mul(g, b), a.shape()) : Tensor(),
                               n.needs_grad(1) ? sum_to(mul(g, a), b.shape()) : Tensor()};
           });
  return out;
}

Tensor mul(const Tensor& a, double b) {
  check_floating("mul", a);
  Tensor out = with_scalar(a, b, [](auto x, auto y) { return x * y; });
  if (needs_grad({&a}))
    record("mul", out, {a}, [b](const Tensor& g, Node&) { return TensorList{mul(g, b)}; });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary("div", a, b, [](auto x, auto y) { return x / y; });
  if (needs_grad({&a, &b}))
    record("div", out, {a, b},
           [sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g, Node& n) {
             Tensor a = sa.unpack(n), b = sb.unpack(n);
             // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
             return TensorList{
                 n.needs_grad(0) ? sum_to(div(g, b), a.shape()) : Tensor(),
                 n.needs_grad(1) ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
           });
  return out;
}

Tensor neg(const Tensor& a) {
  check_floating("neg", a);
  Tensor out = map(a, [](const auto& x, auto) { return -x; });
  if (needs_grad({&a}))
    record("neg", out, {a}, [](const Tensor& g, Node&) { return TensorList{neg(g)}; });
  return out;
}

Tensor pow(const Tensor& a, double p) {
  check_floating("pow", a);
  Tensor out;
  if (p == 2.0)
    out = with_scalar(a, 0, [](auto x, auto) { return x * x; });
  else
    out = with_scalar(a, p, [](auto x, auto e) { return std::pow(x, e); });
  if (needs_grad({&a}))
    record("pow", out, {a}, [sa = SavedTensor(a), p](const Tensor& g, Node& n) {
      Tensor a = sa.unpack(n);
      if (p == 0.0) return TensorList{zeros_like(g)};
      // d(a^p)/da = p a^(p-1)
      return TensorList{mul(g, mul(p == 2.0 ? a : pow(a, p - 1.0), p))};
    });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& e) {
  Tensor out = binary("pow", a, e, [](auto x, auto y) { return std::pow(x, y); });
  if (needs_grad({&a, &e}))
    record("pow", out, {a, e},
           [sa = SavedTensor(a), se = SavedTensor(e), so = SavedTensor(out, true)](const Tensor& g,
                                                                                   Node& n) {
             Tensor a = sa.unpack(n), e = se.unpack(n);
             TensorList r(2);
             // As PyTorch: d(a^e)/da = e a^(e-1), 0 where e == 0;
             // d(a^e)/de = a^e log(a), 0 where a == 0 and e >= 0 (nan for a < 0).
             if (n.needs_grad(0)) {
               Tensor e0 = eq(e.detach(), zeros_like(e));
               Tensor da = where(e0, zeros_like(e), mul(e, pow(a, sub(e, ones_like(e)))));
               r[0] = sum_to(mul(g, da), a.shape());
             }
             if (n.needs_grad(1)) {
               Tensor a0 = mul(eq(a.detach(), zeros_like(a)), ge(e.detach(), zeros_like(e)));
               Tensor de = where(a0, zeros_like(a0), mul(so.unpack(n), log(a)));
               r[1] = sum_to(mul(g, de), e.shape());
             }
             return r;
           });
  return out;
}

Tensor pow(double base, const Tensor& e) {
  check_floating("pow", e);
  Tensor out = with_scalar(e, base, [](auto x, auto b) { return std::pow(b, x); });
  if (needs_grad({&e}))
    record("pow", out, {e},
           [se = SavedTensor(e), so = SavedTensor(out, true), base](const Tensor& g, Node& n) {
             // d(base^e)/de = base^e log(base): nan for base < 0; for base == 0 (log -inf) it is 0
             // where e >= 0, as PyTorch.
             Tensor de = mul(so.unpack(n), std::log(base));
             if (base == 0) {
               Tensor e = se.unpack(n).detach();
               de = where(lt(e, 0.0), de, zeros_like(e));
             }
             return TensorList{mul(g, de)};
           });
  return out;
}

Tensor exp(const Tensor& a) {
  check_floating("exp", a);
  Tensor out = map(a, [](const auto& x, auto) { return xt::exp(x); });
  if (needs_grad({&a}))
    record("exp", out, {a}, [so = SavedTensor(out, true)](const Tensor& g, Node& n) {
      return TensorList{mul(g, so.unpack(n))};
    });
  return out;
}

Tensor log(const Tensor& a) {
  check_floating("log", a);
  Tensor out = map(a, [](const auto& x, auto) { return xt::log(x); });
  if (needs_grad({&a}))
    record("log", out, {a}, [sa = SavedTensor(a)](const Tensor& g, Node& n) {
      return TensorList{div(g, sa.unpack(n))};
    });
  return out;
}

Tensor sqrt(const Tensor& a) {
  check_floating("sqrt", a);
  Tensor out = map(a, [](const auto& x, auto) { return xt::sqrt(x); });
  if (needs_grad({&a}))
    record("sqrt", out, {a}, [so = SavedTensor(out, true)](const Tensor& g, Node& n) {
      return TensorList{div(g, mul(so.unpack(n), 2.0))};
    });
  return out;
}

Tensor sign(const Tensor& a) {
  check_floating("sign", a);
  Tensor out =
      with_scalar(a, 0, [](auto x, auto z) { return static_cast<decltype(x)>((z < x) - (x < z)); });
  if (needs_grad({&a}))
    record("sign", out, {a}, [](const Tensor& g, Node&) { return TensorList{zeros_like(g)}; });
  return out;
}

Tensor abs(const Tensor& a) {
  check_floating("abs", a);
  Tensor out = map(a, [](const auto& x, auto) { return xt::abs(x); });
  if (needs_grad({&a}))
    record("abs", out, {a}, [sa = SavedTensor(a)](const Tensor& g, Node& n) {
      return TensorList{mul(g, sign(sa.unpack(n)))};
    });
  return out;
}

Tensor sin(const Tensor& a) {
  check_floating("sin", a);
  Tensor out = map(a, [](const auto& x, auto) { return xt::sin(x); });
  if (needs_grad({&a}))
    record("sin", out, {a}, [sa = SavedTensor(a)](const Tensor& g, Node& n) {
      return TensorList{mul(g, cos(sa.unpack(n)))};
    });
  return out;
}

Tensor cos(const Tensor& a) {
  check_floating("cos", a);
  Tensor out = map(a, [](const auto& x, auto) { return xt::cos(x); });
  if (needs_grad({&a}))
    record("cos", out, {a}, [sa = SavedTensor(a)](const Tensor& g, Node& n) {
      return TensorList{neg(mul(g, sin(sa.unpack(n))))};
    });
  return out;
}

Tensor erf(const Tensor& a) {
  check_floating("erf", a);
  Tensor out = with_scalar(a, 0, [](auto x, auto) { return std::erf(x); });
  if (needs_grad({&a}))
    record("erf", out, {a}, [sa = SavedTensor(a)](const Tensor& g, Node& n) {
      Tensor a = sa.unpack(n);  // d erf(a)/da = 2/sqrt(pi) exp(-a^2)
      return TensorList{mul(g, mul(exp(neg(mul(a, a))), 2.0 / std::sqrt(M_PI)))};
    });
  return out;
}

Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  check_floating("clamp", a);
  const double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  if (l > h) fail("clamp: min ", l, " is larger than max ", h);
  Tensor out = with_scalar(a, 0, [l, h](auto x, auto) {
    using T = decltype(x);
    return std::min(std::max(x, static_cast<T>(l)), static_cast<T>(h));
  });
  if (needs_grad({&a}))
    record("clamp", out, {a}, [sa = SavedTensor(a), l, h](const Tensor& g, Node& n) {
      return TensorList{mul(g, mask(sa.unpack(n), l, h))};
    });
  return out;
}

namespace {
// maximum/minimum: the gradient goes to the winner, split evenly on ties (as PyTorch).
Tensor extremum(const char* op, const Tensor& a, const Tensor& b, bool is_max) {
  // nan in either operand gives nan (as PyTorch); std::max would drop a nan in b.
  Tensor out = is_max ? binary(op, a, b, [](auto x, auto y) { return x < y || y != y ? y : x; })
                      : binary(op, a, b, [](auto x, auto y) { return y < x || y != y ? y : x; });
  if (needs_grad({&a, &b}))
    record(op, out, {a, b},
           [sa = SavedTensor(a), sb = SavedTensor(b), is_max](const Tensor& g, Node& n) {
             Tensor a = sa.unpack(n), b = sb.unpack(n);
             Tensor wa = add(is_max ? gt(a, b) : lt(a, b), mul(eq(a, b), 0.5));
             Tensor wb = sub(ones_like(wa), wa);
             return TensorList{n.needs_grad(0) ? sum_to(mul(g, wa), a.shape()) : Tensor(),
                               n.needs_grad(1) ? sum_to(mul(g, wb), b.shape()) : Tensor()};
           });
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", a, b, false); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", cond);
  check_defined("where", a);
  check_defined("where", b);
  check_same_dtype("where", a, b);
  check_floating("where", a);
  const Shape shape =
      broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  // out = b + c (a - b) computed exactly as a select: expand all three, then pick.
  Tensor c = expand(cond.dtype() == a.dtype() ? cond : cond.to(a.dtype()).detach(), shape);
  Tensor ea = expand(a.detach(), shape), eb = expand(b.detach(), shape);
  Tensor out = empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *pc = c.data_ptr<T>(), *pa = ea.data_ptr<T>(), *pb = eb.data_ptr<T>();
    T* po = out.data_ptr<T>();
    for (std::size_t i = 0; i < out.numel(); ++i) po[i] = pc[i] != T(0) ? pa[i] : pb[i];
  });
  if (needs_grad({&a, &b}))
    record("where", out, {a, b},
           [sc = SavedTensor(cond.detach()), sa = a.shape(), sb = b.shape()](const Tensor& g,
                                                                             Node& n) {
             Tensor c = sc.unpack(n), zero = zeros_like(g);
             return TensorList{n.needs_grad(0) ? sum_to(where(c, g, zero), sa) : Tensor(),
                               n.needs_grad(1) ? sum_to(where(c, zero, g), sb) : Tensor()};
           });
  return out;
}

// ---- comparisons ----
#define XG_COMPARISON(name, expr)                                                       \
  Tensor name(const Tensor& a, const Tensor& b) {                                       \
    return binary<true>(#name, a, b,                                                    \
                        [](auto x, auto y) { return static_cast<decltype(x)>(expr); }); \
  }
XG_COMPARISON(eq, x == y)
XG_COMPARISON(ne, x != y)
XG_COMPARISON(gt, x > y)
XG_COMPARISON(lt, x < y)
XG_COMPARISON(ge, x >= y)
XG_COMPARISON(le, x <= y)
#undef XG_COMPARISON
namespace {
/// cmp(a[i], s) as 1/0 in a's dtype; int64 elements are compared as doubles (so 2 > 1.5).
template <typename Cmp>
Tensor compare_scalar(const char* op, const Tensor& a, double s, Cmp cmp) {
  check_defined(op, a);
  if (a.dtype() != Dtype::int64)
    return with_scalar(a, s, [cmp](auto x, auto y) { return static_cast<decltype(x)>(cmp(x, y)); });
  Tensor out = empty(a.shape(), a.dtype());
  const int64_t* pa = a.data_ptr<int64_t>();
  int64_t* po = out.data_ptr<int64_t>();
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) po[i] = cmp(static_cast<double>(pa[i]), s);
  return out;
}
}  // namespace
Tensor gt(const Tensor& a, double b) {
  return compare_scalar("gt", a, b, [](auto x, auto y) { return x > y; });
}
Tensor lt(const Tensor& a, double b) {
  return compare_scalar("lt", a, b, [](auto x, auto y) { return x < y; });
}

// ---- activations ----
Tensor relu(const Tensor& a) {
  check_floating("relu", a);
  // x < 0 ? 0 : x, so that nan stays nan (as PyTorch)
  Tensor out = with_scalar(a, 0, [](auto x, auto z) { return x < z ? z : x; });
  if (needs_grad({&a}))
    record("relu", out, {a}, [so = SavedTensor(out, true)](const Tensor& g, Node& n) {
      // 0 where out <= 0, else the gradient (nan passes it on, as PyTorch's threshold_backward)
      const Tensor y = so.unpack(n).detach();
      if (!is_grad_enabled() && g.dtype() == y.dtype())  // one pass, nothing to record
        return TensorList{
            zip(g, y, [](auto gi, auto yi) { return yi <= 0 ? decltype(gi)(0) : gi; })};
      Tensor pass =
          with_scalar(y, 0, [](auto v, auto z) { return static_cast<decltype(v)>(!(v <= z)); });
      return TensorList{mul(g, pass)};
    });
  return out;
}

Tensor leaky_relu(const Tensor& a, double slope) {
  check_floating("leaky_relu", a);
  Tensor out = with_scalar(a, slope, [](auto x, auto s) { return x > 0 ? x : x * s; });
  if (needs_grad({&a}))
    record("leaky_relu", out, {a}, [sa = SavedTensor(a), slope](const Tensor& g, Node& n) {
      Tensor pos = gt(sa.unpack(n).detach(), 0.0);  // 1 where a > 0, else slope
      return TensorList{mul(g, add(mul(pos, 1.0 - slope), slope))};
    });
  return out;
}

Tensor sigmoid(const Tensor& a) {
  check_floating("sigmoid", a);
  Tensor out = map(a, [](const auto& x, auto t) {
    using T = decltype(t);
    return T(1) / (T(1) + xt::exp(-x));
  });
  if (needs_grad({&a}))
    record("sigmoid", out, {a}, [so = SavedTensor(out, true)](const Tensor& g, Node& n) {
      Tensor y = so.unpack(n);  // y (1 - y)
      if (!is_grad_enabled())   // not recorded: one fused pass
        return TensorList{binary("sigmoid", g, y, [](auto g, auto y) { return g * y * (1 - y); })};
      return TensorList{mul(g, mul(y, add(neg(y), 1.0)))};
    });
  return out;
}

Tensor tanh(const Tensor& a) {
  check_floating("tanh", a);
  Tensor out = a.numel() == 1 ? with_scalar(a, 0, [](auto x, auto) { return std::tanh(x); })
                              : map(a, [](const auto& x, auto) { return xt::tanh(x); });
  if (needs_grad({&a}))
    record("tanh", out, {a}, [so = SavedTensor(out, true)](const Tensor& g, Node& n) {
      Tensor y = so.unpack(n);  // 1 - y^2
      if (!is_grad_enabled())   // not recorded: one fused pass
        return TensorList{binary("tanh", g, y, [](auto g, auto y) { return g * (1 - y * y); })};
      return TensorList{mul(g, add(neg(mul(y, y)), 1.0))};
    });
  return out;
}

Tensor gelu(const Tensor& a) {
  check_floating("gelu", a);
  Tensor out = with_scalar(a, 0, [](auto x, auto) {
    using T = decltype(x);
    return static_cast<T>(0.5) * x * (T(1) + std::erf(x * static_cast<T>(M_SQRT1_2)));
  });
  if (needs_grad({&a}))
    record("gelu", out, {a}, [sa = SavedTensor(a)](const Tensor& g, Node& n) {
      Tensor x = sa.unpack(n);  // Phi(x) + x phi(x)
      Tensor cdf = mul(add(erf(mul(x, M_SQRT1_2)), 1.0), 0.5);
      Tensor pdf = mul(exp(mul(mul(x, x), -0.5)), 1.0 / std::sqrt(2.0 * M_PI));
      return TensorList{mul(g, add(cdf, mul(x, pdf)))};
    });
  return out;
}

Tensor softplus(const Tensor& a, double beta, double threshold) {
  check_floating("softplus", a);
  Tensor out = with_scalar(a, 0, [beta, threshold](auto x, auto) {
    using T = decltype(x);
    const T bx = x * static_cast<T>(beta);
    return bx > threshold ? x : std::log1p(std::exp(bx)) / static_cast<T>(beta);
  });
  if (needs_grad({&a}))
    record("softplus", out, {a}, [sa = SavedTensor(a), beta, threshold](const Tensor& g, Node& n) {
      Tensor bx = mul(sa.unpack(n), beta);  // sigmoid(beta x), 1 in the linear region
      Tensor linear = gt(bx.detach(), threshold);
      return TensorList{mul(g, add(mul(sigmoid(bx), sub(ones_like(linear), linear)), linear))};
    });
  return out;
}

// ---- copies ----
Tensor Tensor::clone() const {
  check_defined("clone", *this);
  Tensor out = empty(shape(), dtype());
  std::memcpy(out.impl()->storage->data, impl()->storage->data, numel() * element_size(dtype()));
  if (needs_grad({this}))
    record("clone", out, {*this}, [](const Tensor& g, Node&) { return TensorList{g}; });
  return out;
}

Tensor Tensor::to(Dtype d) const {
  check_defined("to", *this);
  if (d == dtype()) return *this;
  Tensor out = empty(shape(), d);
  dispatch_all(dtype(), [&](auto from) {
    dispatch_all(d, [&](auto to) {
      using S = decltype(from);
      using D = decltype(to);
      const S* p = data_ptr<S>();
      D* q = out.data_ptr<D>();
      if constexpr (std::is_same_v<D, int64_t> && !std::is_same_v<S, int64_t>) {
        for (std::size_t i = 0; i < numel(); ++i)  // truncates toward zero, as PyTorch
          q[i] = p[i] > S(-9.2233720368547758e18) && p[i] < S(9.2233720368547758e18)
                     ? static_cast<int64_t>(p[i])
                     : checked_int64("to", static_cast<double>(p[i]));
      } else {
        for (std::size_t i = 0; i < numel(); ++i) q[i] = static_cast<D>(p[i]);
      }
    });
  });
  if (d != Dtype::int64 && needs_grad({this}))  // int64 results are not differentiable
    record("to", out, {*this},
           [from = dtype()](const Tensor& g, Node&) { return TensorList{g.to(from)}; });
  return out;
}

// ---- in-place ops ----
// Design, in-place ops and views. The new values go straight into the buffer: they are those of
// the out-of-place op, exact whatever was there before (inf and nan included). On a tensor that
// autograd records, the op also records a node whose backward is the out-of-place op's, and the
// tensor takes it as its grad_fn (PyTorch "rebases" the history the same way). PyTorch also
// replays views on the new history; xgrad refuses instead, so no gradient is ever silently wrong:
//  - a copy made by transpose/permute/select/slice/narrow/expand (TensorImpl::copy_of) cannot be
//    modified in place: libtorch would change the original, xgrad would not;
//  - a view (reshape and friends) cannot be modified in place while grad mode records it, nor,
//    with grad mode on, a view made in no-grad mode of a tensor that requires grad (as PyTorch):
//    the base's history would not see the change;
//  - modifying a tensor in place while recording bumps its storage's rebase count; a view made
//    before still has the old grad_fn, and using it in a recorded op fails (check_view_current,
//    detail/impl.hpp). Updates without recording (optimizers under NoGradGuard, detach()es
//    modified without grad) leave histories as they are and are not refused.
namespace {
/// Runs an in-place op. Without grad recording, `kernel(self)` writes into self's buffer. With
/// it, `out_of_place(self)` computes the result and records its node (it must not save `self`,
/// which is overwritten: ops that need the old values clone it first), and this tensor takes
/// over the result's values and history.
template <typename Kernel, typename OutOfPlace>
Tensor& in_place(const char* op, Tensor& self, std::initializer_list<const Tensor*> others,
                 Kernel kernel, OutOfPlace out_of_place, bool any_dtype = false) {
  check_defined(op, self);
  if (!any_dtype) check_floating(op, self);
  TensorImpl& s = *self.impl();
  if (s.copy_of)
    fail(op, ": this tensor is a copy made by ", s.copy_of,
         ", not a view; an in-place change would not reach the original (use clone() to modify a "
         "copy on purpose, or index_put/index_fill/masked_fill)");
  if (s.view_without_grad && is_grad_enabled())
    fail(op, ": this tensor of shape ", s.shape,
         " is a view of a tensor that requires grad, made in no-grad mode; modifying it in place "
         "with grad mode on would not reach that tensor's history (modify it under NoGradGuard, "
         "or clone() it first)");
  bool record = is_grad_enabled() && s.requires_grad;
  for (const Tensor* o : others) {
    check_defined(op, *o);
    check_same_dtype(op, self, *o);
    if (broadcast_shapes(op, s.shape, o->shape()) != s.shape)
      fail(op, ": cannot broadcast ", o->shape(), " into the in-place target of shape ", s.shape);
    record = record || (is_grad_enabled() && o->requires_grad());
  }
  if (record && s.requires_grad && !s.grad_fn)
    fail(op, ": a leaf tensor of shape ", s.shape,
         " that requires grad cannot be modified in place while grad mode is on (use NoGradGuard)");
  // A tensor made by reshape is a view only while another tensor shares its buffer: the result
  // of sum(dims), linear or matmul on 1-D inputs (reshapes of a temporary), or a view of a
  // tensor since freed, owns its buffer alone and is modified like any other tensor.
  if (s.is_view && s.storage.use_count() == 1) s.is_view = false;
  if (record && s.is_view)
    fail(op, ": this tensor of shape ", s.shape,
         " is a view (made by reshape) that shares its buffer with another tensor; an in-place "
         "op recorded on it would not reach that tensor's history; clone() it first");
  if (!record) {
    kernel(self);
  } else {
    Tensor result = out_of_place(self);
    std::memcpy(s.storage->data, result.impl()->storage->data, s.numel * element_size(s.dtype));
    s.grad_fn = result.grad_fn();
    s.requires_grad = true;
    if (!s.storage->rebase) s.storage->rebase = std::make_unique<Rebase>();
    Rebase& r = *s.storage->rebase;
    ++r.count;
    r.op = op;
    r.shape = s.shape;
  }
  s.storage->version++;
  return self;
}

template <typename F>
void binary_into(Tensor& self, const Tensor& other, F f) {
  dispatch_all(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_apply<T>(self, other, self.data_ptr<T>(), self.shape(),
                       [&](T x, T y) { return f(x, y); });
  });
}
template <typename F>
void scalar_into(Tensor& self, double v, F f) {
  dispatch_all(self.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = self.data_ptr<T>();
    const T s = std::is_same_v<T, int64_t> ? checked_int64("fill_", v) : static_cast<T>(v);
    for (std::size_t i = 0, n = self.numel(); i < n; ++i) p[i] = f(p[i], s);
  });
}
}  // namespace

namespace {
Tensor& add_in_place(const char* op, Tensor& self, const Tensor& o, double alpha) {
  return in_place(
      op, self, {&o},
      [&](Tensor& s) {
        binary_into(s, o,
                    [alpha](auto x, auto y) { return x + static_cast<decltype(x)>(alpha) * y; });
      },
      [&](const Tensor& s) { return add(s, alpha == 1.0 ? o : mul(o, alpha)); });
}
Tensor& add_in_place(const char* op, Tensor& self, double v) {
  return in_place(
      op, self, {}, [&](Tensor& s) { scalar_into(s, v, [](auto x, auto y) { return x + y; }); },
      [&](const Tensor& s) { return add(s, v); });
}
Tensor& mul_in_place(const char* op, Tensor& self, double v) {
  return in_place(
      op, self, {}, [&](Tensor& s) { scalar_into(s, v, [](auto x, auto y) { return x * y; }); },
      [&](const Tensor& s) { return mul(s, v); });
}
Tensor& fill_in_place(const char* op, Tensor& self, double v) {
  return in_place(
      op, self, {}, [&](Tensor& s) { scalar_into(s, v, [](auto, auto y) { return y; }); },
      [&](const Tensor& s) {
        Tensor out = full(s.shape(), v, s.dtype());
        // recorded only when s requires grad (no other input): the old values get gradient 0
        record(op, out, {s}, [](const Tensor& g, Node&) { return TensorList{zeros_like(g)}; });
        return out;
      },
      /*any_dtype=*/true);
}
}  // namespace

Tensor& Tensor::add_(const Tensor& o, double alpha) {
  return add_in_place("add_", *this, o, alpha);
}
Tensor& Tensor::sub_(const Tensor& o, double alpha) {
  return add_in_place("sub_", *this, o, -alpha);
}
Tensor& Tensor::mul_(const Tensor& o) {
  return in_place(
      "mul_", *this, {&o},
      [&](Tensor& s) { binary_into(s, o, [](auto x, auto y) { return x * y; }); },
      [&](const Tensor& s) { return mul(s.clone(), o); });  // mul saves self
}
Tensor& Tensor::div_(const Tensor& o) {
  return in_place(
      "div_", *this, {&o},
      [&](Tensor& s) { binary_into(s, o, [](auto x, auto y) { return x / y; }); },
      [&](const Tensor& s) { return div(s.clone(), o); });  // div saves self
}
Tensor& Tensor::add_(double v) { return add_in_place("add_", *this, v); }
Tensor& Tensor::sub_(double v) { return add_in_place("sub_", *this, -v); }
Tensor& Tensor::mul_(double v) { return mul_in_place("mul_", *this, v); }
Tensor& Tensor::div_(double v) { return mul_in_place("div_", *this, 1.0 / v); }  // as a / v
Tensor& Tensor::fill_(double v) { return fill_in_place("fill_", *this, v); }
Tensor& Tensor::zero_() { return fill_in_place("zero_", *this, 0.0); }
Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_", src);
  const Tensor c = src.to(dtype());
  auto copy = [&](Tensor& t) { binary_into(t, c, [](auto, auto y) { return y; }); };
  return in_place(
      "copy_", *this, {&c}, copy,
      [&](const Tensor& t) {
        Tensor out = zeros(t.shape(), t.dtype());
        copy(out);
        // grad [self shape] -> self: 0, src: summed over the dims src was broadcast along
        record("copy_", out, {t, c}, [shape = c.shape()](const Tensor& g, Node& n) {
          return TensorList{zeros_like(g), n.needs_grad(1) ? sum_to(g, shape) : Tensor()};
        });
        return out;
      },
      /*any_dtype=*/true);
}

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator-(double a, const Tensor& b) { return add(neg(b), a); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }
Tensor operator/(double a, const Tensor& b) { return mul(pow(b, -1.0), a); }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace xg
