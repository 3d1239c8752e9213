#pragma once
// Opt-in conversions between xg::Tensor and xt::xarray for users who work with xtensor.
// Including this header costs the xtensor compile time the rest of xgrad's headers avoid.
// Header-only: the xarrays are made in the including file with its own flags (xsimd or not),
// so it does not need xgrad's -march=native/XTENSOR_USE_XSIMD (tests/install checks this).
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "autograd/factory.hpp"
#include "autograd/tensor.hpp"

namespace xg {

/// A copy of the tensor's values as an xarray (T float or double, matching the dtype).
template <typename T>
xt::xarray<T> to_xarray(const Tensor& t) {
  const T* p = t.data_ptr<T>();
  xt::xarray<T> out = xt::adapt(p, t.numel(), xt::no_ownership(), t.shape());
  return out;
}

/// A new leaf tensor holding a copy of an xarray's values (float -> float32, double -> float64).
template <typename T>
Tensor from_xarray(const xt::xarray<T>& a) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float or double only");
  Tensor t = empty(Shape(a.shape().begin(), a.shape().end()),
                   std::is_same_v<T, double> ? Dtype::float64 : Dtype::float32);
  std::copy(a.begin(), a.end(), t.data_ptr<T>());
  return t;
}

}  // namespace xg
