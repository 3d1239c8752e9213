// Bugs found by the random-graph fuzzer (tests/autograd/graph_fuzz.cpp), each reduced to the
// smallest graph that showed it.
#include <doctest/doctest.h>

#include "autograd/autograd.hpp"
#include "tests/test_util.hpp"

using namespace xg;

TEST_CASE("slice to an empty range has second derivatives of the input's shape (fuzz seed 113)") {
  // slice_backward's own backward computed its end as start + (0 - 1) * step + 1, wrapping
  // around: the double backward returned [3, 1] for an input of shape [3, 0].
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}, Dtype::float64).requires_grad_();
  const CheckedFn fn = [](const TensorList& in) { return (slice(in[0], -1, 0, 0, 2) * 2.0).sum(); };
  CHECK(gradcheck(fn, {x}));
  CHECK(gradgradcheck(fn, {x}));
  Tensor y = slice(x, 1, 2, 1);  // start past end: empty too
  CHECK(y.shape() == Shape{3, 0});
  CHECK(gradgradcheck([](const TensorList& in) { return slice(in[0], 1, 2, 1) * 3.0; }, {x}));
}
