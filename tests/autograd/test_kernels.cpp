// The strided kernels (broadcasting, reductions, permute, slice) against naive index loops on
// random shapes: every fast path and the general path must give the same values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "autograd/autograd.hpp"

using namespace xg;

namespace {
std::mt19937 rng(12345);

Shape random_shape(std::size_t max_rank) {
  Shape s(std::uniform_int_distribution<std::size_t>(0, max_rank)(rng));
  for (auto& d : s) d = std::uniform_int_distribution<std::size_t>(1, 4)(rng);
  return s;
}

/// A shape that broadcasts against `s`: a suffix of s with some dims set to 1.
Shape broadcastable(const Shape& s) {
  const std::size_t drop = std::uniform_int_distribution<std::size_t>(0, s.size())(rng);
  Shape b(s.begin() + static_cast<std::ptrdiff_t>(drop), s.end());
  for (auto& d : b)
    if (rng() % 2) d = 1;
  return b;
}

std::vector<std::size_t> strides_of(const Shape& s) {
  std::vector<std::size_t> st(s.size());
  std::size_t acc = 1;
  for (std::size_t d = s.size(); d-- > 0;) st[d] = acc, acc *= s[d];
  return st;
}

/// The flat index in a tensor of shape `s` (right-aligned, broadcast) of output coordinates c.
std::size_t broadcast_index(const Shape& s, const std::vector<std::size_t>& c) {
  const auto st = strides_of(s);
  std::size_t off = 0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    const std::size_t d = c.size() - s.size() + k;
    off += (s[k] == 1 ? 0 : c[d]) * st[k];
  }
  return off;
}

/// Calls f(coords) for every coordinate of shape s in row-major order.
void for_each_index(const Shape& s, const std::function<void(const std::vector<std::size_t>&)>& f) {
  std::vector<std::size_t> c(s.size(), 0);
  std::size_t total = 1;
  for (std::size_t d : s) total *= d;
  for (std::size_t n = total; n-- > 0;) {
    f(c);
    for (std::size_t d = s.size(); d-- > 0;) {
      if (++c[d] < s[d]) break;
      c[d] = 0;
    }
  }
}
}  // namespace

TEST_CASE("broadcasting binary ops match a naive loop on random shapes") {
  for (int trial = 0; trial < 300; ++trial) {
    Shape sa = random_shape(4), sb = broadcastable(sa);
    if (rng() % 2) std::swap(sa, sb);
    const Dtype dt = rng() % 2 ? Dtype::float64 : Dtype::float32;
    Tensor a = randn(sa, dt), b = randn(sb, dt);
    Tensor out = a * b - b;
    const Shape so = out.shape();
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    const auto va = a.to_vector<double>(), vb = b.to_vector<double>(), vo = out.to_vector<double>();
    std::size_t i = 0;
    bool ok = true;
    for_each_index(so, [&](const std::vector<std::size_t>& c) {
      const double x = va[broadcast_index(sa, c)], y = vb[broadcast_index(sb, c)];
      ok = ok && std::abs(vo[i++] - (x * y - y)) <= 1e-6 * (1 + std::abs(x * y - y));
    });
    CHECK(ok);
    // in place: a += b broadcast into a's shape when b fits
    if (so == sa) {
      Tensor c = a.clone();
      c.add_(b, 2.0);
      std::size_t k = 0;
      bool ok2 = true;
      const auto vc = c.to_vector<double>();
      for_each_index(sa, [&](const std::vector<std::size_t>& co) {
        const double want = va[k] + 2.0 * vb[broadcast_index(sb, co)];
        ok2 = ok2 && std::abs(vc[k++] - want) <= 1e-6 * (1 + std::abs(want));
      });
      CHECK(ok2);
    }
  }
}

TEST_CASE("sum and max over random dims match a naive loop") {
  for (int trial = 0; trial < 200; ++trial) {
    const Shape s = random_shape(4);
    if (s.empty()) continue;
    Tensor a = randn(s, Dtype::float64);
    std::vector<int64_t> dims;
    for (std::size_t d = 0; d < s.size(); ++d)
      if (rng() % 2) dims.push_back(static_cast<int64_t>(d));
    if (dims.empty()) dims.push_back(0);
    CAPTURE(shape_str(s));
    Tensor sm = sum(a, dims, true), mx = max(a, dims[0], true);
    const auto va = a.to_vector<double>();
    std::vector<double> want_sum(sm.numel(), 0.0), want_max(mx.numel(), -INFINITY);
    std::size_t i = 0;
    for_each_index(s, [&](const std::vector<std::size_t>& c) {
      std::vector<std::size_t> r = c, m = c;
      for (int64_t d : dims) r[static_cast<std::size_t>(d)] = 0;
      m[static_cast<std::size_t>(dims[0])] = 0;
      std::size_t ri = 0, mi = 0;
      const auto rs = strides_of(sm.shape()), ms = strides_of(mx.shape());
      for (std::size_t d = 0; d < s.size(); ++d) ri += r[d] * rs[d], mi += m[d] * ms[d];
      want_sum[ri] += va[i];
      want_max[mi] = std::max(want_max[mi], va[i]);
      ++i;
    });
    const auto got_sum = sm.to_vector<double>(), got_max = mx.to_vector<double>();
    for (std::size_t k = 0; k < got_sum.size(); ++k)
      CHECK(got_sum[k] == doctest::Approx(want_sum[k]));
    for (std::size_t k = 0; k < got_max.size(); ++k) CHECK(got_max[k] == want_max[k]);
  }
}

TEST_CASE("permute and slice match a naive loop") {
  for (int trial = 0; trial < 200; ++trial) {
    const Shape s = random_shape(4);
    if (s.empty()) continue;
    Tensor a = randn(s, Dtype::float64);
    std::vector<int64_t> perm(s.size());
    for (std::size_t d = 0; d < s.size(); ++d) perm[d] = static_cast<int64_t>(d);
    std::shuffle(perm.begin(), perm.end(), rng);
    CAPTURE(shape_str(s));
    Tensor p = permute(a, perm);
    const auto va = a.to_vector<double>(), vp = p.to_vector<double>();
    const auto st = strides_of(s);
    std::size_t i = 0;
    bool ok = true;
    for_each_index(p.shape(), [&](const std::vector<std::size_t>& c) {
      std::size_t off = 0;
      for (std::size_t d = 0; d < s.size(); ++d)
        off += c[d] * st[static_cast<std::size_t>(perm[d])];
      ok = ok && vp[i++] == va[off];
    });
    CHECK(ok);
    const auto dim = static_cast<int64_t>(rng() % s.size());
    const int64_t step = 1 + static_cast<int64_t>(rng() % 2),
                  start = static_cast<int64_t>(rng() % s[dim]);
    Tensor sl = slice(a, dim, start, static_cast<int64_t>(s[dim]), step);
    const auto vs = sl.to_vector<double>();
    i = 0;
    ok = true;
    for_each_index(sl.shape(), [&](const std::vector<std::size_t>& c) {
      std::size_t off = 0;
      for (std::size_t d = 0; d < s.size(); ++d)
        off += (d == static_cast<std::size_t>(dim)
                    ? static_cast<std::size_t>(start) + c[d] * static_cast<std::size_t>(step)
                    : c[d]) *
               st[d];
      ok = ok && vs[i++] == va[off];
    });
    CHECK(ok);
  }
}
