// Edges: 0-d tensors, zero-size tensors, sizes that overflow, and values at the edge of an op's
// domain (nan, 0 and negative bases). Expected values and messages follow PyTorch 1.13.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "autograd/autograd.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

#define CHECK_MESSAGE_IS(expr, text) \
  CHECK_THROWS_WITH_AS(expr, doctest::Contains(text), std::invalid_argument)

namespace {
Tensor s3() { return scalar_tensor(3.0, Dtype::float64).requires_grad_(); }

/// The gradient of f(x) at x (a leaf), by backward.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  return grad({f(x)}, {x})[0];
}
}  // namespace

TEST_CASE("reductions accept dim 0 and -1 on a 0-d tensor and keep it 0-d") {
  for (int64_t d : {0, -1}) {
    INFO("dim " << d);
    for (bool keep : {false, true}) {
      Tensor s = s3();
      Tensor y = sum(s, {d}, keep);
      CHECK(y.dim() == 0);
      CHECK(y.item<double>() == 3.0);
      CHECK(mean(s, {d}, keep).dim() == 0);
      CHECK(mean(s, {d}, keep).item<double>() == 3.0);
      CHECK(max(s, d, keep).dim() == 0);
      CHECK(max(s, d, keep).item<double>() == 3.0);
      CHECK(min(s, d, keep).item<double>() == 3.0);
      CHECK(logsumexp(s, {d}, keep).dim() == 0);
      CHECK(logsumexp(s, {d}, keep).item<double>() == doctest::Approx(3.0));
      CHECK(var(s, {d}, keep, 0).item<double>() == 0.0);
    }
    CHECK(softmax(s3(), d).dim() == 0);
    CHECK(softmax(s3(), d).item<double>() == 1.0);
    CHECK(log_softmax(s3(), d).item<double>() == 0.0);
  }
}

TEST_CASE("0-d reductions have PyTorch's gradients") {
  CHECK(grad_of([](auto s) { return sum(s, {0}); }, s3()).item<double>() == 1.0);
  CHECK(grad_of([](auto s) { return mean(s, {-1}); }, s3()).item<double>() == 1.0);
  CHECK(grad_of([](auto s) { return max(s, 0); }, s3()).item<double>() == 1.0);
  CHECK(grad_of([](auto s) { return min(s, -1, true); }, s3()).item<double>() == 1.0);
  CHECK(grad_of([](auto s) { return logsumexp(s, {0}); }, s3()).item<double>() == 1.0);
  CHECK(grad_of([](auto s) { return softmax(s, 0); }, s3()).item<double>() == 0.0);
  CHECK(grad_of([](auto s) { return log_softmax(s, -1); }, s3()).item<double>() == 0.0);
  auto fns = std::vector<std::function<Tensor(const TensorList&)>>{
      [](auto x) { return sum(x[0], {0}, true); },
      [](auto x) { return mean(x[0], {-1}); },
      [](auto x) { return max(x[0], 0); },
      [](auto x) { return logsumexp(x[0], {0}); },
      [](auto x) { return softmax(x[0], 0) * x[0]; },
      [](auto x) { return log_softmax(x[0], -1); }};
  for (const auto& f : fns) {
    CHECK(gradcheck(f, {s3()}));
    CHECK(gradgradcheck(f, {s3()}));
  }
}

TEST_CASE("dims out of range on a 0-d tensor still fail") {
  CHECK_MESSAGE_IS(sum(s3(), {1}), "sum: dimension 1 out of range");
  CHECK_MESSAGE_IS(max(s3(), -2), "max: dimension -2 out of range");
  CHECK_MESSAGE_IS(softmax(s3(), 1), "softmax: dimension 1 out of range");
  CHECK_MESSAGE_IS(logsumexp(s3(), {2}), "logsumexp: dimension 2 out of range");
}

TEST_CASE("size, select, slice, narrow and cat refuse a 0-d tensor; stack and gather take it") {
  Tensor s = scalar_tensor(3);
  CHECK_MESSAGE_IS(s.size(0), "size: dimension 0 out of range for a 0-d tensor");
  CHECK_MESSAGE_IS(s.size(-1), "size: dimension -1 out of range for a 0-d tensor");
  CHECK_MESSAGE_IS(select(s, 0, 0), "select: cannot be applied to a 0-d tensor");
  CHECK_MESSAGE_IS(slice(s, 0, 0, 1), "slice: cannot be applied to a 0-d tensor");
  CHECK_MESSAGE_IS(narrow(s, 0, 0, 1), "narrow: cannot be applied to a 0-d tensor");
  CHECK_MESSAGE_IS(cat({s, s}), "cat: zero-dimensional tensor (at position 0) cannot be concat");
  CHECK_MESSAGE_IS(cat({zeros({1}), s}), "cat: zero-dimensional tensor (at position 1)");

  Tensor st = stack({s, scalar_tensor(4)});
  CHECK(st.shape() == Shape{2});
  CHECK(st.to_vector<double>() == std::vector<double>{3, 4});

  Tensor g = gather(s3(), 0, scalar_tensor(0, Dtype::float64));
  CHECK(g.dim() == 0);
  CHECK(g.item<double>() == 3.0);
  CHECK(grad_of([](auto s) { return gather(s, 0, scalar_tensor(0, Dtype::float64)); }, s3())
            .item<double>() == 1.0);
  CHECK_MESSAGE_IS(gather(s, 0, scalar_tensor(1)), "gather: index 1");
}

TEST_CASE("zero-size reductions follow PyTorch") {
  CHECK(sum(zeros({0})).item<double>() == 0.0);
  CHECK(std::isnan(mean(zeros({0})).item<double>()));
  CHECK(sum(zeros({0, 3}), {0}).to_vector<double>() == std::vector<double>{0, 0, 0});
  Tensor m = mean(zeros({0, 3}), {0});
  CHECK(m.shape() == Shape{3});
  CHECK(std::isnan(m.to_vector<double>()[1]));
  CHECK_MESSAGE_IS(max(zeros({0})), "max: expected a reduction dim to be given for an empty");
  CHECK_MESSAGE_IS(min(zeros({0})), "min: expected a reduction dim to be given for an empty");
  CHECK_MESSAGE_IS(max(zeros({0, 3}), 0), "max: cannot reduce dimension 0 of size 0");
  CHECK(max(zeros({0, 3}), 1).shape() == Shape{0});

  Tensor lse = logsumexp(zeros({2, 0}), {1});
  CHECK(lse.shape() == Shape{2});
  CHECK(lse.to_vector<double>()[0] == -INFINITY);
  CHECK(logsumexp(zeros({0}), {0}).item<double>() == -INFINITY);

  for (int64_t d : {0, 1}) {
    CHECK(softmax(zeros({0, 5}), d).shape() == Shape{0, 5});
    CHECK(log_softmax(zeros({0, 5}), d).shape() == Shape{0, 5});
  }
  Tensor x = zeros({0, 5}, Dtype::float64).requires_grad_();
  CHECK(grad({sum(softmax(x, 1))}, {x})[0].shape() == Shape{0, 5});
  CHECK(grad({sum(log_softmax(x, 0))}, {x})[0].shape() == Shape{0, 5});
}

TEST_CASE("matmul, mm, bmm and linear with an empty inner or outer dim give zeros") {
  Tensor v = matmul(zeros({2, 0}), zeros({0}));
  CHECK(v.shape() == Shape{2});
  CHECK(v.to_vector<double>() == std::vector<double>{0, 0});
  Tensor l = linear(zeros({3, 0}), zeros({4, 0}));
  CHECK(l.shape() == Shape{3, 4});
  CHECK(sum(abs(l)).item<double>() == 0.0);
  CHECK(linear(zeros({2, 3, 0}), zeros({4, 0}), ones({4})).to_vector<double>() ==
        std::vector<double>(24, 1.0));
  CHECK(matmul(zeros({2, 3, 0}), zeros({0, 4})).shape() == Shape{2, 3, 4});
  CHECK(matmul(full({0, 3}, 1.0), full({3, 2}, 1.0)).shape() == Shape{0, 2});
  CHECK(mm(full({2, 3}, 1.0), full({3, 0}, 1.0)).shape() == Shape{2, 0});
  CHECK(bmm(zeros({2, 3, 0}), zeros({2, 0, 4})).shape() == Shape{2, 3, 4});
  CHECK(sum(abs(bmm(zeros({2, 3, 0}), zeros({2, 0, 4})))).item<double>() == 0.0);

  // backward through an empty inner dim: the gradients are empty, the output's gradient unused
  Tensor a = full({2, 0}, 1.0, Dtype::float64).requires_grad_();
  Tensor b = zeros({0}, Dtype::float64).requires_grad_();
  TensorList g = grad({sum(matmul(a, b))}, {a, b});
  CHECK(g[0].shape() == Shape{2, 0});
  CHECK(g[1].shape() == Shape{0});
  // and through an empty outer dim: zero gradients of full size
  Tensor w = full({3, 2}, 1.0, Dtype::float64).requires_grad_();
  CHECK(grad({sum(matmul(zeros({0, 3}, Dtype::float64), w))}, {w})[0].to_vector<double>() ==
        std::vector<double>(6, 0.0));
}

TEST_CASE("sizes that overflow are clear errors naming the op and the shape") {
  const std::size_t big = (std::size_t(1) << 62) + 1;
  CHECK_MESSAGE_IS(zeros({big}), "zeros: shape [4611686018427387905] has too many elements");
  CHECK_MESSAGE_IS(ones({SIZE_MAX}), "ones: shape [18446744073709551615] has too many elements");
  CHECK_MESSAGE_IS(full({1 << 16, 1 << 16, 1 << 16, 1 << 16}, 1.0), "full: shape [65536, 65536");
  CHECK_MESSAGE_IS(empty({big}), "empty: shape [4611686018427387905] has too many elements");
  CHECK_MESSAGE_IS(eye(std::size_t(1) << 32), "eye: shape [4294967296, 4294967296] has too many");
  CHECK_MESSAGE_IS(randn({big, 2}), "randn: shape [4611686018427387905, 2] has too many");
  CHECK_MESSAGE_IS(linspace(0, 1, SIZE_MAX), "linspace: shape [18446744073709551615] has too");
  CHECK_MESSAGE_IS(arange(0, INFINITY), "arange: start 0, end inf and step 1 must be finite");
  CHECK_MESSAGE_IS(arange(0, NAN), "arange: start 0, end nan and step 1 must be finite");
  CHECK_MESSAGE_IS(arange(0, 1e300, 1e-300), "too many for a tensor");
  CHECK_MESSAGE_IS(reshape(zeros({4}), {std::size_t(1) << 63, 2, 2}),
                   "reshape: shape [9223372036854775808, 2, 2] has too many elements");
  CHECK_MESSAGE_IS(view(zeros({4}), {int64_t(1) << 62, 4, -1}), "view: cannot infer -1");
  CHECK_MESSAGE_IS(expand(zeros({1, 1}), {std::size_t(1) << 40, std::size_t(1) << 40}),
                   "expand: shape [1099511627776, 1099511627776] has too many elements");
}

// AddressSanitizer aborts on a huge allocation instead of failing it (unless
// allocator_may_return_null=1), so this case runs in the plain builds only.
#ifndef __SANITIZE_ADDRESS__
TEST_CASE("a representable size too big for memory is a clear error") {
  // 2^56 float32 elements = 256 PiB: within the element cap, beyond any machine
  const std::size_t n = std::size_t(1) << 56;
  CHECK_MESSAGE_IS(zeros({n}), "zeros: cannot allocate 288230376151711744 bytes for shape [");
  CHECK_MESSAGE_IS(empty({n}, Dtype::float64), "empty: cannot allocate");
}
#endif

TEST_CASE("slice and narrow with huge steps or lengths") {
  Tensor x = arange(5);
  Tensor s = slice(x, 0, 0, 3, INT64_MAX);
  CHECK(s.to_vector<double>() == std::vector<double>{0});
  CHECK(slice(x, 0, 1, INT64_MAX, INT64_MAX - 1).to_vector<double>() == std::vector<double>{1});
  CHECK(slice(x, 0, INT64_MIN, INT64_MAX, 2).to_vector<double>() == std::vector<double>{0, 2, 4});
  CHECK_MESSAGE_IS(narrow(x, 0, 2, INT64_MAX), "narrow: start 2 and length 9223372036854775807");
  CHECK_MESSAGE_IS(narrow(x, 0, 6, 0), "narrow: start 6 and length 0 exceed");
  CHECK(narrow(x, 0, 5, 0).numel() == 0);
  Tensor p = arange(0, 5, 1, Dtype::float64).requires_grad_();
  CHECK(grad({sum(slice(p, 0, 1, 5, INT64_MAX))}, {p})[0].to_vector<double>() ==
        std::vector<double>{0, 1, 0, 0, 0});
}

TEST_CASE("pooling and conv with huge options fail clearly or cost only the taps inside") {
  Tensor x = ones({1, 1, 4, 4});
  const int64_t huge = int64_t(1) << 62;
  CHECK_MESSAGE_IS(max_pool2d(x, {INT64_MAX, 2}, {1, 1}, {INT64_MAX / 2, 0}),
                   "max_pool2d: input [1, 1, 4, 4] with kernel [9223372036854775807, 2], stride "
                   "[1, 1], padding [4611686018427387903, 0] and dilation [1, 1] gives an output "
                   "size that overflows");
  CHECK_MESSAGE_IS(avg_pool2d(x, {2, 2}, {1, 1}, {INT64_MAX, 0}), "avg_pool2d:");
  CHECK_MESSAGE_IS(max_pool2d(x, {2, 2}, {1, 1}, {0, 0}, {huge, 1}), "max_pool2d: input");
  CHECK_MESSAGE_IS(conv2d(x, ones({1, 1, 1, 1}), Tensor(), {1, 1}, {huge, huge}),
                   "conv2d: input [1, 1, 4, 4] with kernel [1, 1]");
  CHECK_MESSAGE_IS(conv2d(x, ones({1, 1, 1, 1}), Tensor(), {1, 1}, {int64_t(1) << 31, 1 << 30}),
                   "conv2d: shape [1, 1, 4294967300, 2147483652] has too many elements");
  // kernel 2^62 with padding 2^61 and stride 1: 5 x 5 windows, each covering the whole input
  Tensor all = max_pool2d(x, {huge, huge}, {1, 1}, {huge / 2, huge / 2});
  CHECK(all.shape() == Shape{1, 1, 5, 5});
  CHECK(all.to_vector<double>() == std::vector<double>(25, 1.0));
  // a window of 2^40 x 2^40 with padding 2^39: one output, computed from the 16 real inputs
  const int64_t k = int64_t(1) << 40;
  Tensor m = max_pool2d(x * 2.0, {k, k}, {k, k}, {k / 2, k / 2});
  CHECK(m.shape() == Shape{1, 1, 1, 1});
  CHECK(m.item<double>() == 2.0);
  Tensor a = avg_pool2d(x, {k, k}, {k, k}, {k / 2, k / 2});
  CHECK(a.item<double>() == doctest::Approx(16.0 / (double(k) * double(k))));
  Tensor xp = ones({1, 1, 4, 4}, Dtype::float64).requires_grad_();
  CHECK(sum(grad({sum(max_pool2d(xp, {k, k}, {k, k}, {k / 2, k / 2}))}, {xp})[0]).item<double>() ==
        1.0);
}

TEST_CASE("pow with a scalar base is exact for negative and zero bases") {
  CHECK(pow(-2.0, tensor({2, 3})).to_vector<double>() == std::vector<double>{4, -8});
  CHECK(pow(0.0, tensor({0})).to_vector<double>() == std::vector<double>{1});
  CHECK(pow(2.0, tensor({0, 1, 2, -1, 0.5}, {5}, Dtype::float64)).to_vector<double>() ==
        std::vector<double>{1, 2, 4, 0.5, std::sqrt(2.0)});
  // gradients (torch 1.13): base 0 -> [0, 0, 0, -inf, 0]; base -2 -> all nan; base 2 -> 2^e ln 2
  auto de = [](double base) {
    Tensor e = tensor({0, 1, 2, -1, 0.5}, {5}, Dtype::float64).requires_grad_();
    return grad({sum(pow(base, e))}, {e})[0].to_vector<double>();
  };
  CHECK(de(0.0) == std::vector<double>{0, 0, 0, -INFINITY, 0});
  for (double v : de(-2.0)) CHECK(std::isnan(v));
  const std::vector<double> d2 = de(2.0);
  CHECK(d2[2] == doctest::Approx(4 * std::log(2.0)));
  CHECK(d2[4] == doctest::Approx(std::sqrt(2.0) * std::log(2.0)));
}

TEST_CASE("pow of two tensors: negative bases with whole exponents and zero bases") {
  Tensor b = tensor({0, 0, 0, -2, -2, 2}, {6}, Dtype::float64).requires_grad_();
  Tensor e = tensor({0, 1, 2, 2, 3, 0.5}, {6}, Dtype::float64).requires_grad_();
  Tensor y = pow(b, e);
  CHECK(y.to_vector<double>() == std::vector<double>{1, 0, 0, 4, -8, std::sqrt(2.0)});
  TensorList g = grad({sum(y)}, {b, e});
  // torch 1.13: db = [0, 1, 0, -4, 12, 0.3536]; de = [0, 0, 0, nan, nan, 0.9803]
  const auto db = g[0].to_vector<double>(), dE = g[1].to_vector<double>();
  CHECK(db[0] == 0.0);
  CHECK(db[1] == 1.0);
  CHECK(db[2] == 0.0);
  CHECK(db[3] == -4.0);
  CHECK(db[4] == 12.0);
  CHECK(db[5] == doctest::Approx(0.5 / std::sqrt(2.0)));
  CHECK(dE[0] == 0.0);
  CHECK(dE[1] == 0.0);
  CHECK(dE[2] == 0.0);
  CHECK(std::isnan(dE[3]));
  CHECK(std::isnan(dE[4]));
  CHECK(dE[5] == doctest::Approx(std::sqrt(2.0) * std::log(2.0)));
}

TEST_CASE("nan propagates through relu, leaky_relu, clamp, maximum and minimum") {
  const Tensor n = tensor({NAN, -1, 2});
  const auto r = relu(n).to_vector<double>();
  CHECK(std::isnan(r[0]));
  CHECK(r[1] == 0.0);
  CHECK(r[2] == 2.0);
  CHECK(std::isnan(leaky_relu(n).to_vector<double>()[0]));
  CHECK(std::isnan(clamp(n, 0.0, 1.0).to_vector<double>()[0]));
  const Tensor one = tensor({1, 1, 1});
  for (const Tensor& t : {maximum(n, one), maximum(one, n), minimum(n, one), minimum(one, n)}) {
    const auto v = t.to_vector<double>();
    CHECK(std::isnan(v[0]));
  }
  Tensor x = tensor({NAN, -1, 2}, {3}, Dtype::float64).requires_grad_();
  CHECK(grad({sum(relu(x))}, {x})[0].to_vector<double>() == std::vector<double>{1, 0, 1});
  CHECK(maximum(n, one).to_vector<double>()[2] == 2.0);
  CHECK(minimum(one, n).to_vector<double>()[1] == -1.0);
}

TEST_CASE("linspace with one step gives start") {
  CHECK(linspace(0, 1, 1).to_vector<double>() == std::vector<double>{0});
  CHECK(linspace(0, 1, 0).numel() == 0);
  CHECK(linspace(0, 1, 3).to_vector<double>() == std::vector<double>{0, 0.5, 1});
}
