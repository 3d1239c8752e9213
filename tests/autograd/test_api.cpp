// Public functions not covered elsewhere: in-place fills, comparisons, sign, full_like, names,
// retains_grad, set_grad_enabled, multi-root backward, and every Tensor method form against its
// free function.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"

using namespace xg;

namespace {
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
/// Same shape, dtype and values (to 1 ulp or so: xsimd's exp/tanh and the scalar path used for
/// an unaligned buffer's first elements differ in the last bit, so two calls of one op on one
/// input can differ there).
void check_same(const Tensor& a, const Tensor& b, int line) {
  INFO("line ", line);
  CHECK(a.shape() == b.shape());
  CHECK(a.dtype() == b.dtype());
  const std::vector<double> va = values(a), vb = values(b);
  REQUIRE(va.size() == vb.size());
  for (std::size_t i = 0; i < va.size(); ++i) CHECK(va[i] == doctest::Approx(vb[i]).epsilon(1e-15));
}
}  // namespace

TEST_CASE("api: fill_ and zero_ write every element and bump the version") {
  Tensor t = tensor({1.0, -2.0, 3.0}, {3}, Dtype::float64);
  const uint32_t v = t.version();
  Tensor& r = t.fill_(2.5);
  CHECK(&r == &t);
  CHECK(values(t) == std::vector<double>{2.5, 2.5, 2.5});
  CHECK(t.version() == v + 1);
  t.zero_();
  CHECK(values(t) == std::vector<double>{0, 0, 0});
  CHECK(t.version() == v + 2);
  // A reshape shares the buffer and sees the fill.
  Tensor m = zeros({2, 2});
  Tensor flat = reshape(m, {4});
  m.fill_(-1.0);
  CHECK(values(flat) == std::vector<double>{-1, -1, -1, -1});
}

TEST_CASE("api: sub_ with a tensor (alpha, broadcast) and with a scalar") {
  Tensor t = tensor({10.0, 20.0, 30.0, 40.0}, {2, 2}, Dtype::float64);
  t.sub_(tensor({1.0, 2.0}, {2}, Dtype::float64), 3.0);  // row broadcast, times alpha
  CHECK(values(t) == std::vector<double>{7, 14, 27, 34});
  t.sub_(4.0);
  CHECK(values(t) == std::vector<double>{3, 10, 23, 30});
  const uint32_t v = t.version();
  t.sub_(t);
  CHECK(values(t) == std::vector<double>{0, 0, 0, 0});
  CHECK(t.version() == v + 1);
}

TEST_CASE("api: sign is -1, 0, 1 and has a zero gradient") {
  Tensor x = tensor({-3.0, 0.0, 0.5}, {3}, Dtype::float64).requires_grad_();
  Tensor s = sign(x);
  CHECK(values(s) == std::vector<double>{-1, 0, 1});
  (s * x).sum().backward();  // d/dx (sign(x) x) = sign(x)
  CHECK(values(x.grad()) == std::vector<double>{-1, 0, 1});
}

TEST_CASE("api: comparisons give 1/0 in a's dtype, broadcast, and never require grad") {
  Tensor a = tensor({1.0, 2.0, 3.0}, {3}).requires_grad_();
  Tensor b = tensor({2.0}, {1});
  CHECK(values(eq(a, b)) == std::vector<double>{0, 1, 0});
  CHECK(values(ne(a, b)) == std::vector<double>{1, 0, 1});
  CHECK(values(lt(a, b)) == std::vector<double>{1, 0, 0});
  CHECK(values(le(a, b)) == std::vector<double>{1, 1, 0});
  CHECK(values(ge(a, b)) == std::vector<double>{0, 1, 1});
  CHECK(values(gt(a, b)) == std::vector<double>{0, 0, 1});
  CHECK(values(lt(a, 2.5)) == std::vector<double>{1, 1, 0});
  CHECK(values(gt(a, 2.5)) == std::vector<double>{0, 0, 1});
  for (const Tensor& c : {eq(a, b), ne(a, b), lt(a, b), le(a, b), ge(a, b)}) {
    CHECK(c.dtype() == Dtype::float32);
    CHECK_FALSE(c.requires_grad());
  }
  Tensor m = tensor({1.0, 5.0}, {2, 1}, Dtype::float64);
  Tensor n = tensor({1.0, 5.0, 7.0}, {3}, Dtype::float64);
  CHECK(le(m, n).shape() == Shape{2, 3});
  CHECK(values(le(m, n)) == std::vector<double>{1, 1, 1, 0, 1, 1});
  CHECK(le(m, n).dtype() == Dtype::float64);
}

TEST_CASE("api: full_like copies shape and dtype, not values or requires_grad") {
  Tensor t = zeros({2, 3}, Dtype::float64).requires_grad_();
  Tensor f = full_like(t, 7.5);
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.dtype() == Dtype::float64);
  CHECK(values(f) == std::vector<double>(6, 7.5));
  CHECK_FALSE(f.requires_grad());
  CHECK(full_like(zeros({}), -1.0).shape() == Shape{});
}

TEST_CASE("api: set_name names a tensor and returns it") {
  Tensor t = ones({2});
  CHECK(t.name().empty());
  Tensor& r = t.set_name("weight");
  CHECK(&r == &t);
  CHECK(t.name() == "weight");
  Tensor shared = t;  // a copy is the same tensor
  CHECK(shared.name() == "weight");
  t.set_name("w2");
  CHECK(shared.name() == "w2");
}

TEST_CASE("api: retains_grad follows retain_grad on non-leaves") {
  Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = x * 3.0;
  Tensor z = x * 4.0;
  CHECK_FALSE(y.retains_grad());
  y.retain_grad();
  CHECK(y.retains_grad());
  CHECK_FALSE(z.retains_grad());
  CHECK_FALSE(x.retains_grad());  // leaves keep their gradient without it
  (y * z).sum().backward();
  CHECK(values(y.grad()) == std::vector<double>{4, 8});  // dz/dy = z
  CHECK_FALSE(z.grad().defined());
}

TEST_CASE("api: set_grad_enabled switches recording on this thread") {
  Tensor x = ones({2}).requires_grad_();
  REQUIRE(is_grad_enabled());
  set_grad_enabled(false);
  CHECK_FALSE(is_grad_enabled());
  Tensor y = x * 2.0;
  set_grad_enabled(true);
  CHECK(is_grad_enabled());
  CHECK_FALSE(y.requires_grad());
  CHECK((x * 2.0).requires_grad());
  {
    NoGradGuard g;
    set_grad_enabled(true);  // inside a guard; the guard restores its own previous state
    CHECK((x * 2.0).requires_grad());
  }
  CHECK(is_grad_enabled());
}

TEST_CASE("api: backward of several roots accumulates all of them") {
  Tensor x = tensor({1.0, 2.0}, {2}, Dtype::float64).requires_grad_();
  Tensor w = tensor({3.0}, {1}, Dtype::float64).requires_grad_();
  Tensor a = (x * x).sum();  // da/dx = 2x
  Tensor b = x * w;          // with grad [1, 10]: db/dx = w * g, db/dw = sum(x * g)
  backward({a, b}, {Tensor(), tensor({1.0, 10.0}, {2}, Dtype::float64)});
  CHECK(values(x.grad()) == std::vector<double>{2 + 3, 4 + 30});
  CHECK(values(w.grad()) == std::vector<double>{1 + 20});
  // Default gradients: ones for one-element roots; a shared subgraph is traversed once.
  x.set_grad(Tensor());
  Tensor h = x * 2.0;
  backward({h.sum(), (h * h).sum()});
  CHECK(values(x.grad()) == std::vector<double>{2 + 8 * 1, 2 + 8 * 2});
}

TEST_CASE("api: Tensor method forms equal the free functions") {
  manual_seed(3);
  Tensor a = randn({2, 3, 4}, Dtype::float64);
  Tensor p = add(rand({2, 3}, Dtype::float64), 0.5);
  Tensor m = randn({3, 4}, Dtype::float64);
  check_same(a.sum(), sum(a), __LINE__);
  check_same(a.sum({1, -1}, true), sum(a, {1, -1}, true), __LINE__);
  check_same(a.mean(), mean(a), __LINE__);
  check_same(a.mean({0}), mean(a, {0}), __LINE__);
  check_same(a.max(), max(a), __LINE__);
  check_same(a.min(), min(a), __LINE__);
  check_same(a.exp(), exp(a), __LINE__);
  check_same(p.log(), log(p), __LINE__);
  check_same(p.sqrt(), sqrt(p), __LINE__);
  check_same(a.abs(), abs(a), __LINE__);
  check_same(a.tanh(), tanh(a), __LINE__);
  check_same(a.sigmoid(), sigmoid(a), __LINE__);
  check_same(a.relu(), relu(a), __LINE__);
  check_same(p.pow(1.5), pow(p, 1.5), __LINE__);
  check_same(p.pow(p), pow(p, p), __LINE__);
  check_same(a.matmul(m.t()), matmul(a, transpose(m, 0, 1)), __LINE__);
  check_same(a.reshape({6, 4}), reshape(a, {6, 4}), __LINE__);
  check_same(a.view({-1, 4}), view(a, {-1, 4}), __LINE__);
  check_same(a.flatten(), flatten(a), __LINE__);
  check_same(a.flatten(1), flatten(a, 1), __LINE__);
  check_same(a.transpose(0, 2), transpose(a, 0, 2), __LINE__);
  check_same(m.t(), transpose(m, 0, 1), __LINE__);
  check_same(a.permute({2, 0, 1}), permute(a, {2, 0, 1}), __LINE__);
  check_same(a.unsqueeze(1), unsqueeze(a, 1), __LINE__);
  Tensor s = zeros({1, 3, 1});
  check_same(s.squeeze(), squeeze(s), __LINE__);
  check_same(s.squeeze(-1), squeeze(s, -1), __LINE__);
  check_same(m.expand({2, 3, 4}), expand(m, {2, 3, 4}), __LINE__);
  check_same(a.select(1, -1), select(a, 1, -1), __LINE__);
  check_same(a.narrow(2, 1, 2), narrow(a, 2, 1, 2), __LINE__);
  check_same(a.softmax(-1), softmax(a, -1), __LINE__);
  check_same(a.log_softmax(1), log_softmax(a, 1), __LINE__);
  check_same(a.argmax(2), argmax(a, 2), __LINE__);
  check_same(a.argmax(0, true), argmax(a, 0, true), __LINE__);
  // Method forms record the same op.
  Tensor x = randn({3}, Dtype::float64).requires_grad_();
  CHECK(x.exp().grad_fn()->name() == exp(x).grad_fn()->name());
  CHECK(x.sum().grad_fn()->name() == "SumBackward");
}
