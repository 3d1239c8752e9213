// autograd/extend.hpp: custom functions (xg::Function) and the helpers for code outside autograd.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "autograd/autograd.hpp"
#include "autograd/extend.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

/// x^2 with a backward written in Tensor ops (so it is differentiable again).
struct MySquare : Function<MySquare> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static TensorList backward(AutogradContext& ctx, const TensorList& grad_out) {
    Tensor x = ctx.get_saved_variables()[0];
    return {grad_out[0] * 2.0 * x};
  }
};

/// alpha * a * b + exp(a): two tensor inputs, a double, saved_data and needs_input_grad. (exp(a)
/// is recomputed in backward: a tensor made in forward has no history, so saving it would lose
/// its second derivative, as in PyTorch.)
struct MulExp : Function<MulExp> {
  static constexpr const char* name = "MulExp";
  static int calls_a, calls_b;
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b, double alpha) {
    ctx->saved_data["alpha"] = alpha;
    ctx->save_for_backward({a, b});
    return alpha * a * b + exp(a);
  }
  static TensorList backward(AutogradContext* ctx, const TensorList& g) {
    TensorList s = ctx->get_saved_variables();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    Tensor ga, gb;
    if (ctx->needs_input_grad(0)) {
      ++calls_a;
      ga = g[0] * (alpha * s[1] + exp(s[0]));
    }
    if (ctx->needs_input_grad(1)) {
      ++calls_b;
      gb = g[0] * alpha * s[0];
    }
    return {ga, gb, Tensor()};
  }
};
int MulExp::calls_a = 0;
int MulExp::calls_b = 0;

/// exp(x), saving its output (as torch's ExpBackward does).
struct SavedExp : Function<SavedExp> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x) {
    Tensor y = exp(x);
    ctx.save_for_backward({y});
    return y;
  }
  static TensorList backward(AutogradContext& ctx, const TensorList& g) {
    return {g[0] * ctx.get_saved_variables()[0]};
  }
};

/// Returns one gradient too many.
struct TwoGrads : Function<TwoGrads> {
  static Tensor forward(AutogradContext&, const Tensor& x) { return x * 3.0; }
  static TensorList backward(AutogradContext&, const TensorList& g) { return {g[0], g[0]}; }
};

/// Returns a gradient of the wrong shape.
struct BadShape : Function<BadShape> {
  static Tensor forward(AutogradContext&, const Tensor& x) { return x.sum(); }
  static TensorList backward(AutogradContext&, const TensorList& g) { return {g[0]}; }
};

/// An index output: not differentiable.
struct ArgMaxFn : Function<ArgMaxFn> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x) {
    Tensor i = argmax(x);
    ctx.mark_non_differentiable({i});
    return i;
  }
  static TensorList backward(AutogradContext&, const TensorList&) {
    throw std::logic_error("ArgMaxFn: backward must not run");
  }
};

/// Records whether forward ran with grad mode on.
struct GradModeProbe : Function<GradModeProbe> {
  static bool seen;
  static Tensor forward(AutogradContext&, const Tensor& x) {
    seen = is_grad_enabled();
    return x * 1.0;
  }
  static TensorList backward(AutogradContext&, const TensorList& g) { return {g[0]}; }
};
bool GradModeProbe::seen = true;

/// Returns its input unchanged (the output must still get its own node).
struct Identity : Function<Identity> {
  static Tensor forward(AutogradContext&, const Tensor& x) { return x; }
  static TensorList backward(AutogradContext&, const TensorList& g) { return {g[0]}; }
};

}  // namespace

TEST_CASE("Function: values, node name and gradient of a custom square") {
  Tensor x = tensor({1.0, -2.0, 3.0}, {3}, Dtype::float64).requires_grad_();
  Tensor y = MySquare::apply(x);
  CHECK(y.to_vector<double>() == std::vector<double>{1, 4, 9});
  REQUIRE(y.grad_fn());
  CHECK(y.grad_fn()->name() == "MySquareBackward");
  y.sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, -4, 6});
  CHECK(MulExp::apply(x, x, 1.0).grad_fn()->name() == "MulExpBackward");
}

TEST_CASE("Function: gradcheck and gradgradcheck of custom functions") {
  Tensor a = randn({2, 3}, Dtype::float64).requires_grad_();
  Tensor b = randn({2, 3}, Dtype::float64).requires_grad_();
  CHECK(gradcheck([](const TensorList& x) { return MySquare::apply(x[0]); }, {a}));
  CHECK(gradgradcheck([](const TensorList& x) { return MySquare::apply(x[0]); }, {a}));
  auto f = [](const TensorList& x) { return MulExp::apply(x[0], x[1], 0.7); };
  CHECK(gradcheck(f, {a, b}));
  CHECK(gradgradcheck(f, {a, b}));
  // A saved output reattaches to its node when the backward pass is recorded.
  CHECK(gradcheck([](const TensorList& x) { return SavedExp::apply(x[0]); }, {a}));
  CHECK(gradgradcheck([](const TensorList& x) { return SavedExp::apply(x[0]); }, {a}));
}

TEST_CASE("Function: forward runs without recording; the result is a non-leaf") {
  GradModeProbe::seen = true;
  Tensor x = ones({2}).requires_grad_();
  Tensor y = GradModeProbe::apply(x);
  CHECK_FALSE(GradModeProbe::seen);
  CHECK(is_grad_enabled());
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  // Without an input that requires grad, nothing is recorded.
  CHECK_FALSE(MySquare::apply(ones({2})).requires_grad());
  {
    NoGradGuard g;
    CHECK_FALSE(MySquare::apply(x).requires_grad());
  }
}

TEST_CASE("Function: an input returned as the output gets a new handle, not a new history") {
  Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = Identity::apply(x);
  CHECK_FALSE(y.is_same(x));
  CHECK(x.is_leaf());
  CHECK(y.grad_fn()->name() == "IdentityBackward");
  (y * y).sum().backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 4});
}

TEST_CASE("Function: needs_input_grad skips gradients nobody needs") {
  Tensor a = randn({3}, Dtype::float64).requires_grad_();
  Tensor b = randn({3}, Dtype::float64);
  MulExp::calls_a = MulExp::calls_b = 0;
  MulExp::apply(a, b, 2.0).sum().backward();
  CHECK(MulExp::calls_a == 1);
  CHECK(MulExp::calls_b == 0);
  CHECK_FALSE(b.grad().defined());
  // In backward, needs_input_grad follows the pass: grad() w.r.t. b only skips a.
  b.requires_grad_();
  MulExp::calls_a = MulExp::calls_b = 0;
  TensorList g = grad({MulExp::apply(a, b, 2.0).sum()}, {b});
  CHECK(MulExp::calls_a == 0);
  CHECK(MulExp::calls_b == 1);
  CHECK(g[0].to_vector<double>() == (a * 2.0).to_vector<double>());
}

TEST_CASE("Function: saved_data holds numbers and bools") {
  AutogradContext ctx;
  ctx.saved_data["n"] = 3;
  ctx.saved_data["x"] = 0.5;
  ctx.saved_data["flag"] = true;
  ctx.saved_data["size"] = std::size_t{7};
  ctx.saved_data["f"] = 1.5f;
  CHECK(ctx.saved_data["n"].to_int() == 3);
  CHECK(ctx.saved_data["n"].to_double() == 3.0);
  CHECK(ctx.saved_data["x"].toDouble() == 0.5);
  CHECK(ctx.saved_data["flag"].to_bool());
  CHECK(ctx.saved_data["size"].toInt() == 7);
  CHECK(ctx.saved_data["f"].to_double() == 1.5);
  CHECK_THROWS_WITH_AS(ctx.saved_data["x"].to_int(), "saved_data: the value is not an integer",
                       std::invalid_argument);
}

TEST_CASE("Function: a saved tensor modified in place fails in backward") {
  Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
  Tensor h = x * 1.0;
  Tensor y = MySquare::apply(h);
  h.mul_(2.0);
  CHECK(error_of([&] { y.sum().backward(); }) ==
        "backward: a tensor of shape [2] saved by MySquareBackward was modified by an in-place "
        "operation: saved at version 0, now at version 1 (clone it before modifying)");
}

TEST_CASE("Function: a second backward without retain_graph fails clearly") {
  Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = MySquare::apply(x);
  y.backward(ones({2}));
  CHECK(error_of([&] { y.backward(ones({2})); }) ==
        "backward: trying to backward through the graph a second time: the saved tensors of "
        "MySquareBackward were freed by the first backward; pass retain_graph=true to it");
  Tensor z = MySquare::apply(x).sum();
  z.backward({}, true);
  z.backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{6, 12});
}

TEST_CASE("Function: backward returning the wrong number or shape of gradients fails") {
  Tensor x = ones({2, 3}).requires_grad_();
  CHECK(error_of([&] { TwoGrads::apply(x).sum().backward(); }) ==
        "TwoGradsBackward returned 2 gradients, expected 1 (one per forward argument; undefined "
        "for those without one)");
  CHECK(error_of([&] { BadShape::apply(x).backward(); }) ==
        "BadShapeBackward returned a gradient of shape [] for input 0 of shape [2, 3]");
}

TEST_CASE("Function: a non-differentiable output has no grad_fn") {
  Tensor x = tensor({1.0, 5.0, 2.0}, {3}).requires_grad_();
  Tensor i = ArgMaxFn::apply(x);
  CHECK_FALSE(i.requires_grad());
  CHECK_FALSE(i.grad_fn());
  CHECK(i.item<double>() == 1.0);
}

TEST_CASE("extend helpers: fail, check, XG_CHECK, dispatch, bump_version, shapes") {
  CHECK(error_of([] { fail("op: shape ", Shape{2, 3}, " and ", 4); }) == "op: shape [2, 3] and 4");
  CHECK(error_of([] { check(1 + 1 == 3, "math: ", 2); }) == "math: 2");
  CHECK(error_of([] { check(true, "never"); }) == "(no error)");
  int evaluated = 0;
  auto part = [&] {
    ++evaluated;
    return "x";
  };
  XG_CHECK(evaluated == 0, part());
  CHECK(evaluated == 0);
  CHECK(error_of([&] { XG_CHECK(false, "bad ", part()); }) == "bad x");
  CHECK(dispatch(Dtype::float64, [](auto tag) { return sizeof(tag); }) == 8);
  CHECK(dispatch(Dtype::float32, [](auto tag) { return sizeof(tag); }) == 4);
  Tensor t = zeros({2});
  const uint32_t v = t.version();
  t.data_ptr<float>()[0] = 1.f;
  bump_version(t);
  CHECK(t.version() == v + 1);
  increment_version(t);
  CHECK(t.version() == v + 2);
  CHECK(wrap_dim("op", -1, 3, {2, 3, 4}) == 2);
  CHECK(broadcast_shapes("op", {3, 1}, {4}) == Shape{3, 4});
  CHECK(shape_numel({2, 3, 4}) == 24);
  CHECK(shape_numel({}) == 1);
  CHECK(error_of([] { check_defined("myop", Tensor()); }) ==
        "myop: expected a defined tensor, got an undefined one");
  CHECK(error_of([] { check_same_dtype("myop", zeros({1}), zeros({1}, Dtype::float64)); }) ==
        "myop: dtype mismatch (float32 and float64); convert one with .to()");
}
