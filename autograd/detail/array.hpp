#pragma once
// Internal: the one place that includes xtensor. Kernels view tensor buffers as flat xtensor
// expressions (xt::adapt, no copy) so elementwise math is vectorized with xsimd.
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xtensor.hpp>

#include "autograd/detail/impl.hpp"

namespace xg {

/// A 1-D xtensor view of n elements at p (no ownership, no copy).
template <typename T>
auto flat(T* p, std::size_t n) {
  return xt::adapt(p, n, xt::no_ownership(), std::array<std::size_t, 1>{n});
}
/// A 1-D xtensor view of a tensor's data (T must match its dtype).
template <typename T>
auto flat(const Tensor& t) {
  return flat(t.impl()->data<T>(), t.numel());
}

}  // namespace xg
