// In-place ops on recorded tensors (exact values, right gradients), views and in-place ops
// (refused when a gradient would be wrong), copies made by shape ops (in-place refused), and the
// functional index updates index_fill, masked_fill, index_copy, index_put.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "autograd/autograd.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {
Tensor f64(const std::vector<double>& v, const Shape& s) { return tensor(v, s, Dtype::float64); }
std::vector<double> vec(const Tensor& t) { return t.to_vector<double>(); }
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// An in-place op applied to y (recorded) with other operand o, and its out-of-place twin.
struct InPlaceCase {
  const char* name;
  std::function<void(Tensor&, const Tensor&)> in_place;
  std::function<Tensor(const Tensor&, const Tensor&)> out_of_place;
};

std::vector<InPlaceCase> in_place_cases() {
  return {
      {"add_", [](Tensor& y, const Tensor& o) { y.add_(o); }, [](auto y, auto o) { return y + o; }},
      {"add_/alpha", [](Tensor& y, const Tensor& o) { y.add_(o, -2.5); },
       [](auto y, auto o) { return y + o * -2.5; }},
      {"sub_", [](Tensor& y, const Tensor& o) { y.sub_(o); }, [](auto y, auto o) { return y - o; }},
      {"sub_/alpha", [](Tensor& y, const Tensor& o) { y.sub_(o, 2.0); },
       [](auto y, auto o) { return y + o * -2.0; }},
      {"mul_", [](Tensor& y, const Tensor& o) { y.mul_(o); }, [](auto y, auto o) { return y * o; }},
      {"div_", [](Tensor& y, const Tensor& o) { y.div_(o); }, [](auto y, auto o) { return y / o; }},
      {"add_/scalar", [](Tensor& y, const Tensor&) { y.add_(0.25); },
       [](auto y, auto) { return y + 0.25; }},
      {"sub_/scalar", [](Tensor& y, const Tensor&) { y.sub_(0.25); },
       [](auto y, auto) { return y - 0.25; }},
      {"mul_/scalar", [](Tensor& y, const Tensor&) { y.mul_(-3.0); },
       [](auto y, auto) { return y * -3.0; }},
      {"div_/scalar", [](Tensor& y, const Tensor&) { y.div_(4.0); },
       [](auto y, auto) { return y / 4.0; }},
      // the twins of zero_/fill_/copy_ give y a zero gradient the same way
      {"zero_", [](Tensor& y, const Tensor&) { y.zero_(); },
       [](auto y, auto) { return zeros_like(y) + y * 0.0; }},
      {"fill_", [](Tensor& y, const Tensor&) { y.fill_(5.0); },
       [](auto y, auto) { return full_like(y, 5.0) + y * 0.0; }},
      {"copy_/broadcast", [](Tensor& y, const Tensor& o) { y.copy_(o); },
       [](auto y, auto o) { return expand(o, y.shape()) + y * 0.0; }},
  };
}
}  // namespace

// ---- exactness ----

TEST_CASE("in-place ops on a recorded tensor overwrite inf and nan exactly") {
  Tensor x = tensor({0.0, 1.0}).requires_grad_();
  Tensor y = log(x);  // [-inf, 0], recorded
  y.fill_(5.0);
  CHECK(vec(y) == std::vector<double>{5.0, 5.0});  // was [nan, 5]: y * 0 + 5
  CHECK(std::string(y.grad_fn()->op()) == "fill_");

  Tensor z = log(x);
  z.copy_(tensor({2.0, 3.0}));
  CHECK(vec(z) == std::vector<double>{2.0, 3.0});  // was [nan, 3]

  Tensor n = sqrt(tensor({-1.0, 4.0}).requires_grad_());  // [nan, 2]
  n.zero_();
  CHECK(vec(n) == std::vector<double>{0.0, 0.0});
}

TEST_CASE("fill_ and copy_ send gradient 0 to the old values and the gradient to the source") {
  Tensor x = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = x * 2.0;
  y.fill_(5.0);
  (y * y).sum().backward();
  CHECK(vec(x.grad()) == std::vector<double>{0.0, 0.0});  // defined and zero, as PyTorch

  Tensor a = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor src = f64({3.0, 4.0, 5.0}, {3}).requires_grad_();
  Tensor b = a.unsqueeze(1) * ones({2, 3}, Dtype::float64);  // [2, 3]
  b.copy_(src);                                              // src broadcast over the rows
  (b * b).sum().backward();
  CHECK(vec(a.grad()) == std::vector<double>{0.0, 0.0});
  CHECK(vec(src.grad()) == std::vector<double>{12.0, 16.0, 20.0});  // sum over 2 rows of 2 src

  // copy_ into a tensor that records nothing yet: it takes src's history
  Tensor c = zeros({3}, Dtype::float64);
  c.copy_(src);
  CHECK(c.requires_grad());
  CHECK(vec(grad({(c * 3.0).sum()}, {src})[0]) == std::vector<double>{3.0, 3.0, 3.0});
}

TEST_CASE("every in-place op on a recorded tensor equals its out-of-place twin") {
  manual_seed(3);
  const Tensor x0 = add(rand({2, 3}, Dtype::float64), 0.5);
  const Tensor o0 = add(rand({3}, Dtype::float64), 0.5);
  const Tensor w = randn({2, 3}, Dtype::float64);
  for (const InPlaceCase& c : in_place_cases()) {
    INFO("op: " << std::string(c.name));
    Tensor x1 = x0.clone().requires_grad_(), o1 = o0.clone().requires_grad_();
    Tensor y = x1 * 1.5;
    c.in_place(y, o1);
    TensorList g1 = grad({(y * w).sum()}, {x1, o1}, {}, std::nullopt, false, true);

    Tensor x2 = x0.clone().requires_grad_(), o2 = o0.clone().requires_grad_();
    Tensor ref = c.out_of_place(x2 * 1.5, o2);
    TensorList g2 = grad({(ref * w).sum()}, {x2, o2}, {}, std::nullopt, false, true);

    CHECK(vec(y) == vec(ref));
    for (std::size_t i = 0; i < 2; ++i) {
      REQUIRE(g1[i].defined() == g2[i].defined());
      if (g1[i].defined()) CHECK(vec(g1[i]) == vec(g2[i]));
    }
  }
}

TEST_CASE("every in-place op on a recorded tensor passes gradcheck and gradgradcheck") {
  manual_seed(4);
  for (const InPlaceCase& c : in_place_cases()) {
    INFO("op: " << std::string(c.name));
    auto fn = [&](const TensorList& in) {
      Tensor y = in[0].clone();  // recorded: the in-place op rebases its history
      c.in_place(y, in[1]);
      return y;
    };
    TensorList inputs{add(rand({2, 3}, Dtype::float64), 0.5).requires_grad_(),
                      add(rand({3}, Dtype::float64), 0.5).requires_grad_()};
    CHECK(gradcheck(fn, inputs));
    CHECK(gradgradcheck(fn, inputs));
  }
}

// ---- views and in-place ops ----

TEST_CASE("a view used after its base was modified in place fails naming the op and the view") {
  Tensor x = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor v = reshape(y, {2, 1});
  y.mul_(3.0);
  // before: x.grad = [24, 48] from the stale history of v; the truth is [72, 144]
  const std::string msg = error_of([&] { (v * v).sum().backward(); });
  CHECK(contains(msg,
                 "mul_: an in-place operation modified a tensor of shape [2] that has views "
                 "([2, 1] made by reshape)"));
  CHECK(contains(msg, "clone()"));
  CHECK(contains(error_of([&] {
                   v.backward(ones({2, 1}, Dtype::float64));
                 }),
                 "mul_: an in-place operation modified a tensor of shape [2]"));
  CHECK_FALSE(x.grad().defined());

  // the view made after the in-place op is right
  Tensor v2 = reshape(y, {2, 1});
  (v2 * v2).sum().backward();
  CHECK(vec(x.grad()) == std::vector<double>{72.0, 144.0});
}

TEST_CASE("a view of a tensor that records nothing fails after an in-place op gave it history") {
  Tensor x = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = zeros({2}, Dtype::float64);
  Tensor v = y.view({2, 1});
  y.add_(x);  // y now depends on x; v would silently not
  CHECK(contains(error_of([&] { (v * x.unsqueeze(1)).sum(); }),
                 "add_: an in-place operation modified a tensor of shape [2] that has views"));
}

TEST_CASE("an in-place op recorded on a view of a tensor in the graph fails") {
  Tensor x = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor v = reshape(y, {2, 1});
  CHECK(contains(error_of([&] { v.mul_(3.0); }),
                 "mul_: this tensor of shape [2, 1] is a view (made by reshape)"));
  Tensor base = zeros({2}, Dtype::float64);
  Tensor u = unsqueeze(base, 0);
  CHECK(contains(error_of([&] { u.add_(x); }), "add_: this tensor of shape [1, 2] is a view"));
  CHECK(vec(y) == std::vector<double>{2.0, 4.0});  // nothing was written

  Tensor nv;
  {
    NoGradGuard no_grad;
    nv = y.view({2, 1});  // records nothing: it does not require grad
    nv.mul_(1.0);         // allowed in no-grad mode, as PyTorch
  }
  CHECK_FALSE(nv.requires_grad());
  CHECK(contains(error_of([&] { nv.mul_(3.0); }),
                 "mul_: this tensor of shape [2, 1] is a view of a tensor that requires grad, "
                 "made in no-grad mode"));
  CHECK(contains(error_of([&] { nv.unsqueeze(0).zero_(); }), "zero_: this tensor of shape"));
  CHECK(vec(y) == std::vector<double>{2.0, 4.0});
}

TEST_CASE("optimizer-style updates of leaves and detached tensors keep views usable") {
  Tensor p = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor v = reshape(p, {2, 1});
  {
    NoGradGuard no_grad;
    p.add_(1.0);  // what an optimizer step does
  }
  (v * v).sum().backward();
  CHECK(vec(p.grad()) == std::vector<double>{4.0, 6.0});  // 2 p with the new p

  Tensor x = f64({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor w = reshape(y, {2, 1});
  Tensor d = y.detach();
  d.mul_(3.0);  // records nothing: the values change, the histories stay as they are
  CHECK(vec(w) == std::vector<double>{6.0, 12.0});
  CHECK_NOTHROW((w * 1.0).sum().backward());
  CHECK(vec(x.grad()) == std::vector<double>{2.0, 2.0});
}

TEST_CASE("a reshape whose base is gone (sum over dims, linear of a vector) is modified in place") {
  // Found by the graph fuzzer: these results are reshapes of a temporary, owned by nothing else;
  // in-place ops on them were refused as "a view that shares its buffer", unlike PyTorch.
  Tensor x = f64({1.0, 2.0, 3.0, 4.0}, {2, 2}).requires_grad_();
  Tensor s = sum(x, {0});  // a reshape of the keepdim sum
  s.mul_(2.0);
  s.sum().backward();
  CHECK(vec(x.grad()) == std::vector<double>{2.0, 2.0, 2.0, 2.0});
  Tensor w = f64({1.0, 1.0}, {1, 2}).requires_grad_();
  Tensor y = linear(f64({3.0, 4.0}, {2}), w);  // [1]
  y.add_(1.0);
  CHECK(vec(y) == std::vector<double>{8.0});
  Tensor u = unsqueeze(zeros({2}, Dtype::float64), 0);  // view of a freed tensor
  u.add_(x.sum({0}));
  (u * u).sum().backward();
  CHECK(vec(x.grad()) == std::vector<double>{10.0, 14.0, 10.0, 14.0});  // 2 + 2 * [4, 6]
  gradcheck(
      [](const TensorList& in) {
        Tensor t = sum(in[0] * 2.0, {1});
        t.mul_(in[0].sum({1}));
        return t;
      },
      {x});
}

// ---- copies made by shape ops ----

TEST_CASE("in-place ops on copies made by transpose, permute, select, slice, narrow, expand fail") {
  const Tensor x = arange(0, 6).reshape({2, 3});
  struct Copy {
    const char* op;
    Tensor t;
  };
  const std::vector<Copy> copies = {
      {"transpose", transpose(x, 0, 1)}, {"permute", permute(x, {1, 0})},
      {"select", select(x, 0, 1)},       {"slice", slice(x, 1, 0, 2)},
      {"narrow", narrow(x, 1, 1, 2)},    {"expand", expand(x, {2, 2, 3})},
      {"transpose", x.t().detach()},     {"transpose", x.t().unsqueeze(0)},
  };
  for (const Copy& c : copies) {
    Tensor t = c.t;
    INFO("op: " << std::string(c.op));
    const std::string copy = std::string("this tensor is a copy made by ") + c.op +
                             ", not a view; an in-place change would not reach the original";
    CHECK(contains(error_of([&] { t.add_(1.0); }), "add_: " + copy));
    CHECK(contains(error_of([&] { t.sub_(t); }), "sub_: " + copy));
    CHECK(contains(error_of([&] { t.mul_(2.0); }), "mul_: " + copy));
    CHECK(contains(error_of([&] { t.div_(t); }), "div_: " + copy));
    CHECK(contains(error_of([&] { t.zero_(); }), "zero_: " + copy));
    CHECK(contains(error_of([&] { t.fill_(1.0); }), "index_put/index_fill/masked_fill"));
    CHECK(contains(error_of([&] { t.copy_(t); }), "copy_: " + copy));
    NoGradGuard no_grad;  // no matter the grad mode
    CHECK(contains(error_of([&] { t.add_(1.0); }), "add_: " + copy));
  }
  CHECK(vec(x) == std::vector<double>{0, 1, 2, 3, 4, 5});

  Tensor c = transpose(x, 0, 1).clone();  // a copy on purpose
  c.add_(1.0);
  CHECK(vec(c) == std::vector<double>{1, 4, 2, 5, 3, 6});
  Tensor same = expand(x, {2, 3});  // same shape: x itself, so modifying it modifies x
  CHECK(same.is_same(x));
}

TEST_CASE("gradients made by transpose can be modified in place once in .grad()") {
  Tensor w = f64({1.0, 2.0, 3.0, 4.0}, {2, 2}).requires_grad_();
  Tensor c = f64({1.0, 2.0, 3.0, 4.0}, {2, 2});
  (transpose(w, 0, 1) * c).sum().backward();  // w.grad() is permute(grad): a copy
  CHECK(vec(w.grad()) == std::vector<double>{1.0, 3.0, 2.0, 4.0});
  (transpose(w, 0, 1) * c).sum().backward();  // accumulates in place
  CHECK(vec(w.grad()) == std::vector<double>{2.0, 6.0, 4.0, 8.0});
  w.grad().mul_(0.5);  // clip_grad_norm_ style
  CHECK(vec(w.grad()) == std::vector<double>{1.0, 3.0, 2.0, 4.0});
  w.grad().zero_();  // zero_grad style
  CHECK(vec(w.grad()) == std::vector<double>{0.0, 0.0, 0.0, 0.0});
}

// ---- functional index updates (values checked by hand; tests/goldens/index_updates.py) ----

TEST_CASE("index_fill fills rows along a dim; the gradient is zero there") {
  Tensor x = arange(0, 6, 1, Dtype::float64).reshape({2, 3}).detach().requires_grad_();
  Tensor w = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor out = index_fill(x, 1, f64({0, 2}, {2}), -1.0);
  CHECK(vec(out) == std::vector<double>{-1, 1, -1, -1, 4, -1});
  CHECK(vec(x) == std::vector<double>{0, 1, 2, 3, 4, 5});  // out of place
  (out * w).sum().backward();
  CHECK(vec(x.grad()) == std::vector<double>{0, 2, 0, 0, 5, 0});
  CHECK(vec(index_fill(x, -2, f64({1}, {1}), 7.0)) == std::vector<double>{0, 1, 2, 7, 7, 7});
}

TEST_CASE("masked_fill broadcasts the 0/1 mask to self; the gradient is zero where masked") {
  Tensor x = arange(0, 6, 1, Dtype::float64).reshape({2, 3}).detach().requires_grad_();
  Tensor w = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor out = masked_fill(x, tensor({1, 0, 1}), 9.0);  // float32 mask on float64 self
  CHECK(vec(out) == std::vector<double>{9, 1, 9, 9, 4, 9});
  (out * w).sum().backward();
  CHECK(vec(x.grad()) == std::vector<double>{0, 2, 0, 0, 5, 0});
  // a mask from a comparison
  CHECK(vec(masked_fill(x, gt(x, 3.5), 0.0)) == std::vector<double>{0, 1, 2, 3, 0, 0});
}

TEST_CASE("index_copy copies source rows; gradients: zero at those rows, and the rows to source") {
  Tensor self = zeros({3, 2}, Dtype::float64).requires_grad_();
  Tensor src = f64({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor w = f64({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor out = index_copy(self, 0, f64({2, 0}, {2}), src);
  CHECK(vec(out) == std::vector<double>{3, 4, 0, 0, 1, 2});
  (out * w).sum().backward();
  CHECK(vec(self.grad()) == std::vector<double>{0, 0, 3, 4, 0, 0});
  CHECK(vec(src.grad()) == std::vector<double>{5, 6, 1, 2});
}

TEST_CASE("index_put writes or accumulates at advanced indices with PyTorch's gradients") {
  Tensor w = f64({1, 2, 3, 4, 5, 6}, {3, 2});
  const TensorList ij{f64({0, 2, 1}, {3}), f64({1, 0, 1}, {3})};
  for (bool acc : {false, true}) {
    INFO("accumulate: " << acc);
    Tensor self = zeros({3, 2}, Dtype::float64).requires_grad_();
    Tensor v = f64({1, 2, 3}, {3}).requires_grad_();
    Tensor out = index_put(self, ij, v, acc);
    CHECK(vec(out) == std::vector<double>{0, 1, 0, 3, 2, 0});
    (out * w).sum().backward();
    CHECK(vec(self.grad()) == (acc ? vec(w) : std::vector<double>{1, 0, 3, 0, 0, 6}));
    CHECK(vec(v.grad()) == std::vector<double>{2, 5, 4});
  }
  // duplicates accumulate
  Tensor self = f64({1, 1, 1, 1, 1, 1}, {3, 2}).requires_grad_();
  Tensor v = f64({1, 2, 3}, {3}).requires_grad_();
  Tensor out = index_put(self, {f64({0, 2, 0}, {3}), f64({1, 0, 1}, {3})}, v, true);
  CHECK(vec(out) == std::vector<double>{1, 5, 1, 1, 3, 1});
  (out * w).sum().backward();
  CHECK(vec(v.grad()) == std::vector<double>{2, 5, 2});
  // one index: whole rows, values broadcast over them
  Tensor r = f64({5, 6}, {2}).requires_grad_();
  Tensor rows = index_put(zeros({3, 2}, Dtype::float64), {f64({1, 2}, {2})}, r);
  CHECK(vec(rows) == std::vector<double>{0, 0, 5, 6, 5, 6});
  (rows * w).sum().backward();
  CHECK(vec(r.grad()) == std::vector<double>{8, 10});
  // a 0-d value
  CHECK(vec(index_put(zeros({2, 2}), {tensor({1}), tensor({0})}, full(Shape{}, 4.0))) ==
        std::vector<double>{0, 0, 4, 0});
}

TEST_CASE("index updates reject bad indices and shapes naming the op and the shapes") {
  const Tensor x = zeros({2, 3});
  CHECK(contains(error_of([&] { index_fill(x, 1, tensor({3}), 0.0); }),
                 "index_fill: index 3 is out of bounds for dimension 1 with size 3"));
  CHECK(contains(error_of([&] {
                   index_fill(x, 0, zeros({2, 2}), 0.0);
                 }),
                 "index_fill: index must be 1-D, got shape [2, 2] (self [2, 3])"));
  CHECK(contains(error_of([&] { index_fill(x, 2, tensor({0}), 0.0); }),
                 "index_fill: dimension 2 out of range for a tensor of shape [2, 3]"));
  CHECK(contains(error_of([&] { masked_fill(x, zeros({2}), 1.0); }),
                 "masked_fill: shapes [2] and [2, 3] cannot be broadcast"));
  CHECK(
      contains(error_of([&] {
                 masked_fill(x, zeros({2, 2, 3}), 1.0);
               }),
               "masked_fill: mask of shape [2, 2, 3] cannot be broadcast to self of shape [2, 3]"));
  CHECK(contains(error_of([&] { masked_fill(x, full({3}, 0.5), 1.0); }),
                 "masked_fill: mask of shape [3] must hold only 0 and 1, got 0.5"));
  CHECK(contains(error_of([&] {
                   index_copy(x, 0, tensor({1}), zeros({2, 3}));
                 }),
                 "index_copy: source of shape [2, 3] does not match [1, 3] (self [2, 3], 1 "
                 "indices along dimension 0)"));
  CHECK(contains(error_of([&] {
                   index_copy(x, 0, tensor({-1}), zeros({1, 3}));
                 }),
                 "index_copy: index -1 is out of bounds for dimension 0 with size 2"));
  CHECK(contains(error_of([&] {
                   index_copy(x, 0, tensor({0}), zeros({1, 3}, Dtype::float64));
                 }),
                 "index_copy: dtype mismatch (float32 and float64)"));
  CHECK(contains(error_of([&] {
                   index_put(x, {tensor({0}), tensor({5})}, zeros({1}));
                 }),
                 "index_put: index 5 is out of bounds for dimension 1 with size 3"));
  CHECK(contains(error_of([&] {
                   index_put(x, {tensor({0}), tensor({0}), tensor({0})}, zeros(Shape{}));
                 }),
                 "index_put: 3 index tensors for a tensor of shape [2, 3] (expected 1 to 2)"));
  CHECK(contains(error_of([&] {
                   index_put(x, {tensor({0, 1}), tensor({0, 1, 2})}, zeros(Shape{}));
                 }),
                 "index_put: index tensors of lengths 2 and 3 cannot be broadcast"));
  CHECK(
      contains(error_of([&] {
                 index_put(x, {tensor({0, 1})}, zeros({2, 2}));
               }),
               "index_put: values of shape [2, 2] cannot be broadcast to the indexed shape [2, 3] "
               "(self [2, 3], 2 indices)"));
  CHECK(contains(error_of([&] {
                   index_put(x, {zeros({1, 1})}, zeros(Shape{}));
                 }),
                 "index_put: index tensors must be 1-D, got shape [1, 1]"));
}

TEST_CASE("index updates check that their index was not modified in place before backward") {
  Tensor x = zeros({3}, Dtype::float64).requires_grad_();
  Tensor index = tensor({0, 2}, {2}, Dtype::float64);
  Tensor out = index_fill(x, 0, index, 1.0);
  index.fill_(1.0);
  CHECK(contains(error_of([&] { out.sum().backward(); }), "was modified by an in-place operation"));
}
