// The opt-in xtensor interop header round-trips values, shapes and dtypes.
#include <doctest/doctest.h>

#include "autograd/autograd.hpp"
#include "autograd/xtensor_interop.hpp"

using namespace xg;

TEST_CASE("to_xarray and from_xarray round-trip") {
  Tensor t = arange(6).reshape({2, 3});
  xt::xarray<float> a = to_xarray<float>(t);
  CHECK(a.dimension() == 2);
  CHECK(a(1, 2) == 5.0f);
  xt::xarray<double> d = {{1.0, 2.0}, {3.0, 4.0}};
  Tensor back = from_xarray(d);
  CHECK(back.dtype() == Dtype::float64);
  CHECK(back.shape() == Shape{2, 2});
  CHECK(back.to_vector<double>() == std::vector<double>{1, 2, 3, 4});
  CHECK_THROWS_AS(to_xarray<double>(t), std::invalid_argument);  // dtype must match
}
