// conv2d, max_pool2d, avg_pool2d: gradcheck and gradgradcheck over strides, padding, dilation and
// non-square kernels; third derivatives; forward values and gradients against PyTorch 1.13; the
// recorded backward (create_graph) against the fused one, bit for bit; and one test per
// validation message.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "autograd/autograd.hpp"
#include "tests/test_util.hpp"

using namespace xg;

#define CHECK_MESSAGE_IS(expr, text, type) CHECK_THROWS_WITH_AS(expr, doctest::Contains(text), type)

namespace {

Tensor param(const Shape& s) { return randn(s, Dtype::float64).requires_grad_(); }

/// sin(0), sin(1), ... reshaped: distinct values (no ties in a pooling window), as in PyTorch.
Tensor sin_range(const Shape& s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return sin(arange(static_cast<double>(n), Dtype::float64)).reshape(s);
}
Tensor cos_range(const Shape& s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return cos(arange(static_cast<double>(n), Dtype::float64)).reshape(s);
}

void check_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected,
                  double tol = 1e-5) {
  REQUIRE(t.shape() == shape);
  const std::vector<double> v = t.to_vector<double>();
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    INFO("element ", i);
    CHECK(std::fabs(v[i] - expected[i]) <= tol);
  }
}

using xg::test::error_of;

struct Case {
  std::string name;
  std::vector<Shape> shapes;  // inputs, all float64 requiring grad
  std::function<Tensor(const TensorList&)> fn;
};
}  // namespace

// ---- gradcheck ----

TEST_CASE("conv2d gradcheck and gradgradcheck") {
  manual_seed(1);
  const std::vector<Case> cases = {
      {"3x3, no bias", {{2, 2, 5, 6}, {2, 2, 3, 3}}, [](auto x) { return conv2d(x[0], x[1]); }},
      {"3x3 with bias",
       {{2, 2, 5, 6}, {2, 2, 3, 3}, {2}},
       [](auto x) { return conv2d(x[0], x[1], x[2]); }},
      {"stride 2, padding 1, bias",
       {{2, 3, 6, 5}, {2, 3, 3, 3}, {2}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {2, 2}, {1, 1});
       }},
      {"dilation 2, padding 2",
       {{2, 2, 6, 6}, {2, 2, 3, 3}, {2}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {1, 1}, {2, 2}, {2, 2});
       }},
      {"non-square kernel, mixed stride/padding/dilation",
       {{2, 3, 7, 6}, {2, 3, 2, 3}, {2}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {2, 1}, {1, 0}, {1, 2});
       }},
      {"padding larger than the kernel",
       {{2, 2, 3, 4}, {2, 2, 2, 2}},
       [](auto x) {
         return conv2d(x[0], x[1], Tensor(), {3, 2}, {3, 2});
       }},
      {"1x1 kernel (no im2col)",
       {{2, 3, 4, 5}, {2, 3, 1, 1}, {2}},
       [](auto x) { return conv2d(x[0], x[1], x[2]); }},
      {"1x1 kernel, stride 2",
       {{2, 3, 5, 5}, {2, 3, 1, 1}},
       [](auto x) { return conv2d(x[0], x[1], Tensor(), {2}); }},
      {"3x3, stride 1, padding 1 (same size)",
       {{2, 3, 5, 6}, {2, 3, 3, 3}, {2}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1});
       }},
      {"same width, stride (2, 1), 2x1 kernel",
       {{2, 2, 3, 2}, {2, 2, 2, 1}},
       [](auto x) {
         return conv2d(x[0], x[1], Tensor(), {2, 1}, {1, 1});
       }},
      {"groups 2, stride 2, padding 1, bias",
       {{2, 4, 5, 6}, {6, 2, 3, 3}, {6}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 1}, 2);
       }},
      {"depthwise (groups = channels), dilation 2",
       {{2, 3, 6, 6}, {3, 1, 3, 3}, {3}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {1, 1}, {2, 2}, {2, 2}, 3);
       }},
      {"groups 3, two output channels per group, 1x1 kernel",
       {{2, 3, 4, 5}, {6, 1, 1, 1}},
       [](auto x) {
         return conv2d(x[0], x[1], Tensor(), {1, 1}, {0, 0}, {1, 1}, 3);
       }},
      {"kernel as large as the padded input",
       {{2, 2, 3, 3}, {2, 2, 5, 5}, {2}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1});
       }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    TensorList in;
    for (const Shape& s : c.shapes) in.push_back(param(s));
    CHECK(gradcheck(c.fn, in));
    CHECK(gradgradcheck(c.fn, in));
  }
}

TEST_CASE("conv2d gradcheck when only some inputs require grad") {
  manual_seed(2);
  const Tensor x = randn({2, 2, 5, 5}, Dtype::float64), w = randn({2, 2, 3, 3}, Dtype::float64),
               b = randn({2}, Dtype::float64);
  auto f = [](const TensorList& t) { return conv2d(t[0], t[1], t[2], {2, 1}, {1, 1}); };
  SUBCASE("input only") { CHECK(gradcheck(f, {x.clone().requires_grad_(), w, b})); }
  SUBCASE("weight only") { CHECK(gradcheck(f, {x, w.clone().requires_grad_(), b})); }
  SUBCASE("bias only") { CHECK(gradcheck(f, {x, w, b.clone().requires_grad_()})); }
  SUBCASE("only the needed gradients are returned") {
    Tensor wg = w.clone().requires_grad_();
    conv2d(x, wg, b).sum().backward();
    CHECK(wg.grad().defined());
    CHECK(wg.grad().shape() == w.shape());
  }
}

TEST_CASE("max_pool2d gradcheck and gradgradcheck") {
  manual_seed(3);
  const std::vector<Case> cases = {
      {"2x2, default stride",
       {{2, 2, 4, 6}},
       [](auto x) {
         return max_pool2d(x[0], {2, 2});
       }},
      {"3x3, stride 2, padding 1",
       {{2, 3, 7, 6}},
       [](auto x) {
         return max_pool2d(x[0], {3, 3}, {2, 2}, {1, 1});
       }},
      {"non-square kernel, stride 1, dilation 2",
       {{2, 2, 7, 7}},
       [](auto x) {
         return max_pool2d(x[0], {3, 2}, {1, 1}, {1, 1}, {2, 2});
       }},
      {"overlapping windows (one max feeds several outputs)",
       {{1, 2, 5, 5}},
       [](auto x) { return max_pool2d(x[0], {3}, {1}); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    TensorList in;
    for (const Shape& s : c.shapes) in.push_back(param(s));  // randn: no ties
    CHECK(gradcheck(c.fn, in));
    CHECK(gradgradcheck(c.fn, in));
  }
}

TEST_CASE("avg_pool2d gradcheck and gradgradcheck") {
  manual_seed(4);
  const std::vector<Case> cases = {
      {"2x2, default stride",
       {{2, 2, 4, 6}},
       [](auto x) {
         return avg_pool2d(x[0], {2, 2});
       }},
      {"3x3, stride 2, padding 1",
       {{2, 3, 7, 6}},
       [](auto x) {
         return avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1});
       }},
      {"non-square kernel, stride (1, 2), padding (1, 0)",
       {{2, 2, 5, 7}},
       [](auto x) {
         return avg_pool2d(x[0], {2, 3}, {1, 2}, {1, 0});
       }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    TensorList in;
    for (const Shape& s : c.shapes) in.push_back(param(s));
    CHECK(gradcheck(c.fn, in));
    CHECK(gradgradcheck(c.fn, in));
  }
}

// ---- forward values ----

/// conv2d by its definition, one output element at a time (float64); with r (the weights of
/// the loss sum(y * r)), also that loss's gradients gx, gw, gb by the same loop.
struct Reference {
  std::vector<double> y, gx, gw, gb;
};
Reference conv2d_reference(const Tensor& x, const Tensor& w, const Tensor& b, std::array<int, 2> s,
                           std::array<int, 2> p, std::array<int, 2> d, const Shape& out,
                           int groups = 1, const Tensor& r = Tensor()) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  const auto rv = r.defined() ? r.to_vector<double>() : std::vector<double>();
  const int H = int(xs[2]), W = int(xs[3]), C = int(xs[1]), kh = int(ws[2]), kw = int(ws[3]);
  const int Cg = int(ws[1]), Og = int(ws[0]) / groups;
  Reference ref;
  ref.gx.assign(xv.size(), 0.0);
  ref.gw.assign(wv.size(), 0.0);
  ref.gb.assign(ws[0], 0.0);
  for (std::size_t n = 0; n < out[0]; ++n)
    for (std::size_t o = 0; o < out[1]; ++o)
      for (int oy = 0; oy < int(out[2]); ++oy)
        for (int ox = 0; ox < int(out[3]); ++ox) {
          double acc = bv.empty() ? 0.0 : bv[o];
          const double rr = rv.empty() ? 0.0 : rv[ref.y.size()];
          ref.gb[o] += rr;
          for (int c = 0; c < Cg; ++c)
            for (int i = 0; i < kh; ++i)
              for (int j = 0; j < kw; ++j) {
                const int iy = oy * s[0] - p[0] + i * d[0], ix = ox * s[1] - p[1] + j * d[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const std::size_t xi = ((n * C + int(o) / Og * Cg + c) * H + iy) * W + ix;
                const std::size_t wi = ((o * Cg + c) * kh + i) * kw + j;
                acc += xv[xi] * wv[wi];
                ref.gx[xi] += rr * wv[wi];
                ref.gw[wi] += rr * xv[xi];
              }
          ref.y.push_back(acc);
        }
  return ref;
}

/// The largest |got - ref| / (1 + |ref|).
double worst_error(const std::vector<double>& got, const std::vector<double>& ref) {
  REQUIRE(got.size() == ref.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(got[i] - ref[i]) / (1 + std::fabs(ref[i])));
  return worst;
}

TEST_CASE("conv2d values and gradients match a direct loop for groups and batch sizes") {
  manual_seed(9);
  struct Geometry {
    std::size_t N, C, H, W, O, kh, kw;
    int groups;
    std::array<int, 2> s, p, d;
  };
  const std::vector<Geometry> geometries = {
      {1, 1, 28, 28, 8, 3, 3, 1, {1, 1}, {1, 1}, {1, 1}},    // the bench CNN's first layer
      {70, 8, 14, 14, 16, 3, 3, 1, {1, 1}, {1, 1}, {1, 1}},  // its second, an odd batch size
      {65, 1, 7, 9, 3, 3, 3, 1, {1, 1}, {1, 1}, {1, 1}},
      {5, 4, 7, 6, 6, 3, 2, 2, {2, 1}, {1, 0}, {1, 2}},
      {3, 6, 5, 5, 6, 3, 3, 6, {1, 1}, {1, 1}, {1, 1}},  // depthwise
      {4, 6, 6, 7, 9, 1, 1, 3, {2, 2}, {0, 0}, {1, 1}},
      {2, 4, 5, 5, 4, 2, 2, 4, {1, 1}, {0, 0}, {1, 1}},
      {33, 2, 8, 8, 4, 5, 5, 2, {2, 2}, {2, 2}, {1, 1}},
  };
  for (const Geometry& g : geometries) {
    INFO("N ", g.N, " C ", g.C, " H ", g.H, " W ", g.W, " O ", g.O, " kernel ", g.kh, "x", g.kw,
         " groups ", g.groups);
    for (Dtype dt : {Dtype::float64, Dtype::float32}) {
      INFO((dt == Dtype::float64 ? "float64" : "float32"));
      const double tol = dt == Dtype::float64 ? 1e-12 : 1e-4;
      const Tensor x = randn({g.N, g.C, g.H, g.W}, Dtype::float64);
      const Tensor w = randn({g.O, g.C / g.groups, g.kh, g.kw}, Dtype::float64);
      const Tensor b = randn({g.O}, Dtype::float64);
      Tensor xt = x.to(dt).clone().requires_grad_(), wt = w.to(dt).clone().requires_grad_(),
             bt = b.to(dt).clone().requires_grad_();
      const Tensor y =
          conv2d(xt, wt, bt, {g.s[0], g.s[1]}, {g.p[0], g.p[1]}, {g.d[0], g.d[1]}, g.groups);
      const Tensor r = randn(y.shape(), Dtype::float64);
      (y * r.to(dt)).sum().backward();
      const Reference ref = conv2d_reference(x, w, b, g.s, g.p, g.d, y.shape(), g.groups, r);
      CHECK(worst_error(y.to_vector<double>(), ref.y) < tol);
      CHECK(worst_error(xt.grad().to_vector<double>(), ref.gx) < tol);
      CHECK(worst_error(wt.grad().to_vector<double>(), ref.gw) < tol);
      CHECK(worst_error(bt.grad().to_vector<double>(), ref.gb) < tol);
      // without a bias, and with only some inputs requiring grad
      Tensor wo = w.to(dt).clone().requires_grad_();  // to() of the same dtype shares w
      const Tensor y2 = conv2d(x.to(dt), wo, Tensor(), {g.s[0], g.s[1]}, {g.p[0], g.p[1]},
                               {g.d[0], g.d[1]}, g.groups);
      (y2 * r.to(dt)).sum().backward();
      std::vector<double> no_bias = ref.y;
      const std::vector<double> bv = b.to_vector<double>();
      const std::size_t plane = y.numel() / g.N / g.O;
      for (std::size_t i = 0; i < no_bias.size(); ++i) no_bias[i] -= bv[(i / plane) % g.O];
      CHECK(worst_error(y2.to_vector<double>(), no_bias) < tol);
      CHECK(worst_error(wo.grad().to_vector<double>(), ref.gw) < tol);
    }
  }
}

TEST_CASE("conv2d matches a direct loop over many geometries") {
  manual_seed(8);
  int count = 0;
  for (int s0 : {1, 2})
    for (int s1 : {1, 3})
      for (int p0 : {0, 1, 2})
        for (int p1 : {0, 1})
          for (int d0 : {1, 2})
            for (std::array<int, 2> k : {std::array<int, 2>{3, 3}, {1, 1}, {2, 3}}) {
              const Tensor x = randn({2, 3, 6, 7}, Dtype::float64);
              const Tensor w = randn({2, 3, std::size_t(k[0]), std::size_t(k[1])}, Dtype::float64);
              const Tensor b = randn({2}, Dtype::float64);
              const Tensor y = conv2d(x, w, b, {s0, s1}, {p0, p1}, {d0, 1});
              INFO("stride ", s0, ",", s1, " padding ", p0, ",", p1, " dilation ", d0, " kernel ",
                   k[0], "x", k[1]);
              const auto ref = conv2d_reference(x, w, b, {s0, s1}, {p0, p1}, {d0, 1}, y.shape()).y;
              const auto got = y.to_vector<double>();
              REQUIRE(got.size() == ref.size());
              double worst = 0;
              for (std::size_t i = 0; i < got.size(); ++i)
                worst = std::max(worst, std::fabs(got[i] - ref[i]));
              CHECK(worst < 1e-12);
              // float32 takes the same paths
              const Tensor y32 = conv2d(x.to(Dtype::float32), w.to(Dtype::float32),
                                        b.to(Dtype::float32), {s0, s1}, {p0, p1}, {d0, 1});
              const auto got32 = y32.to_vector<double>();
              worst = 0;
              for (std::size_t i = 0; i < got32.size(); ++i)
                worst = std::max(worst, std::fabs(got32[i] - ref[i]));
              CHECK(worst < 1e-4);
              ++count;
            }
  CHECK(count == 144);

  // stride (2, 1) with output width twice the input width: rows still line up as one run
  const Tensor x = randn({2, 2, 3, 2}, Dtype::float64), w = randn({2, 2, 2, 1}, Dtype::float64),
               b = randn({2}, Dtype::float64);
  const Tensor y = conv2d(x, w, b, {2, 1}, {1, 1});
  REQUIRE(y.shape() == Shape{2, 2, 2, 4});
  const auto ref = conv2d_reference(x, w, b, {2, 1}, {1, 1}, {1, 1}, y.shape()).y;
  const auto got = y.to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::fabs(got[i] - ref[i]) < 1e-12);
}

// ---- golden values from PyTorch 1.13 ----
// Printed by tests/goldens/conv.py (see tests/goldens/README.md), one block per test case.
TEST_CASE("conv2d matches PyTorch") {
  Tensor x = sin_range({2, 2, 5, 4}).requires_grad_();
  Tensor w = (arange(24, Dtype::float64) / 10.0 - 1.1).reshape({2, 2, 3, 2}).requires_grad_();
  Tensor b = tensor({0.3, -0.2}, {2}, Dtype::float64).requires_grad_();
  Tensor y = conv2d(x, w, b, {2, 1}, {1, 1}, {1, 2});
  (y * cos_range(y.shape())).sum().backward();
  check_values(
      y, {2, 2, 3, 4},
      {0.03484664924, 0.08841762701,  -0.3616822955, -0.3963772877, 0.8627967413,  0.94688706,
       0.3061580141,  0.2657728922,   0.3776938393,  0.5104391617,  -0.3954961052, -0.4672314858,
       0.2390673675,  0.3494017829,   0.9324529801,  0.7639295961,  0.4555417091,  0.5471077,
       0.416630797,   0.3307092031,   -0.3441342347, -0.229269278,  0.4856091408,  0.3108541627,
       0.1095795743,  -0.04357224042, 0.6120851782,  0.7180268742,  -0.3332310015, -0.4354719981,
       -0.273972093,  -0.1850544813,  -0.3740522033, -0.5568846784, 0.2447639415,  0.3594621639,
       0.2731696926,  0.1735063017,   -0.8999637818, -0.718531187,  -0.4392134845, -0.5096948522,
       -0.9777943792, -0.8736732267,  0.5117535252,  0.4406233828,  -0.3033240944, -0.1850388824});
  check_values(
      x.grad(), {2, 2, 5, 4},
      {-0.2140380408,  -0.04690509815, 0.593823741,   0.3876123565,  -0.2640329612, -0.2620601498,
       -0.5356793945,  -0.4963765121,  -0.3378449683, -0.526207141,  -0.718895727,  -0.504009546,
       0.6113251632,   0.5257286833,   0.374758257,   0.4591672168,  0.6556984576,  0.73480898,
       0.3459794711,   0.2712728927,   0.6546114115,  0.8917615061,  0.4126649477,  0.2199665855,
       0.6097157996,   0.6821167907,   0.3338252442,  0.3082699138,  -0.3327456599, -0.5206968047,
       0.3317677049,   0.4682826509,   -0.2588912416, -0.4146311769, 0.2330615823,  0.3280400004,
       -0.2196172556,  -0.2110612165,  -0.8463806355, -0.8321465206, -0.6624583151, -0.6862339786,
       -0.1438788211,  -0.1355060002,  0.4129944126,  0.3129508058,  -0.1977702129, -0.04935591985,
       0.3770499935,   0.244487569,    -0.4532238188, -0.2833952859, 0.09710725285, 0.1253868194,
       0.5068369753,   0.4295926269,   0.1695456691,  0.3666184989,  0.7363725371,  0.5059850419,
       0.3915118032,   0.4526909918,   0.8947937713,  0.8256897796,  0.4257264465,  0.3267091004,
       0.6815776908,   0.7643995409,   -0.6641880909, -0.8806791068, -0.6125485076, -0.430835605,
       -0.6369036865,  -0.6677887868,  -0.4828771731, -0.486296624,  0.4767728141,  0.6986095686,
       -0.09401692245, -0.2624638899});
  check_values(
      w.grad(), {2, 2, 3, 2},
      {-0.1065182327, -0.6195320571, -0.08766332056, 0.1028236659,   0.3812525659, 0.4648545961,
       -0.2719343047, -0.1776239587, -0.3758887232,  -0.1875756954,  0.5854036466, 0.06658222692,
       -0.3108297815, -0.565264681,  0.1265605644,   0.3522951059,   0.4228851955, 0.1684502961,
       -0.5185005778, -0.1147786208, -0.1468932016,  -0.05477498445, 0.5724893149, -0.0388932789});
  check_values(b.grad(), {2}, {-0.2158451706, 0.332776978});
}

// F.conv2d(x, w, b, stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2):
// tests/goldens/conv.py
TEST_CASE("conv2d with groups matches PyTorch") {
  Tensor x = sin_range({2, 4, 5, 4}).requires_grad_();
  Tensor w = (arange(48, Dtype::float64) / 20.0 - 1.1).reshape({6, 2, 2, 2}).requires_grad_();
  Tensor b = tensor({0.3, -0.2, 0.1, 0.5, -0.4, 0.25}, {6}, Dtype::float64).requires_grad_();
  Tensor y = conv2d(x, w, b, {1, 2}, {1, 0}, {2, 1}, 2);
  (y * cos_range(y.shape())).sum().backward();
  check_values(y, {2, 6, 5, 2},
               {2.791507058,    -1.372050477,  -3.216222578,   2.466315684,     2.01321174,
                -3.292210976,   1.576562728,   2.829735894,    -0.8971542731,   -1.584689472,
                1.190044306,    -1.033448286,  -2.276294374,   0.8700217381,    0.9857220508,
                -2.256890699,   0.3262150643,  1.41892523,     -0.823181209,    -1.387971387,
                0.3885815528,   0.1051539063,  -0.5363661695,  0.07372779197,   0.758232362,
                -0.4215704223,  -0.1241325995, 0.8081145668,   0.05079185506,   -0.3912533019,
                1.456349587,    0.3156464981,  -0.681779824,   0.9730151097,    1.288092341,
                -0.6289393789,  0.6515167614,  1.502832937,    0.4973283556,    -0.1371096314,
                1.602533654,    -0.527037367,  -2.949442907,   -0.001913542243, 1.818118067,
                -2.644212091,   -0.7502745425, 2.135743377,    -0.01882998511,  -2.209698479,
                3.298717721,    0.180278768,   -3.66710599,    0.5731578058,    3.898143793,
                -3.109484803,   -0.6020658465, 4.318653817,    1.015011674,     -2.732287326,
                0.7192809041,   2.447313083,   -0.08030892637, -2.797095865,    3.258002219,
                0.9351693324,   -3.186649636,  2.5667471,      3.036709589,     -1.65775,
                -0.07473629057, 1.032258268,   -0.195943999,   -2.100856379,    1.378014736,
                0.3874846975,   -2.266974533,  0.9328451289,   1.4507393,       -1.290379819,
                -0.0687534852,  0.4172034521,  0.4884209284,   -0.6046168926,   0.2980272533,
                0.6398000626,   -0.5472994301, 0.09894315768,  0.6647690119,    -0.1230096386,
                0.1609291732,   1.481813161,   0.6509792226,   -0.6287787487,   1.288496188,
                0.9725183599,   -0.6817702297, 1.011061525,    1.197889583,     0.2776124894,
                -1.393072378,   1.745066796,   0.6059471065,   -3.049485385,    0.7992028163,
                1.251396468,    -2.973649648,  0.09063585108,  1.362597762,     -0.6067630376,
                -1.397073929,   3.558320431,   2.11091499,     -3.920192021,    1.859909444,
                3.080274576,    -3.715529067,  0.7202101768,   3.077305941,     0.05886143544});
  check_values(x.grad(), {2, 4, 5, 4},
               {0.167051997,    0.1384393118,   0.6136289053,  0.5828599686,  -0.08213526691,
                -0.05832111004, -0.5110195812,  -0.4854107898, -0.4700748492, -0.466216028,
                0.003054531276, -0.01838440012, 0.4733755898,  0.4463497604,  0.5084773141,
                0.5007120097,   -0.5149584629,  -0.4824869565, -0.5303764898, -0.5210464844,
                0.05260125617,  0.02398857096,  0.4905531582,  0.4597842215,  0.01312136057,
                0.03693551744,  -0.4085844156,  -0.3829756242, -0.4546395643, -0.4507807431,
                -0.08270119431, -0.1041401257,  0.3652722723,  0.338246443,   0.4774160963,
                0.4696507919,   -0.3850724372,  -0.3526009308, -0.4930564683, -0.4837264629,
                -0.2632620242,  -0.2496996609,  -0.5502255316, -0.5690478431, 0.2643392587,
                0.2530513896,   0.5249049564,   0.5405706473,  0.3028754579,  0.3310917448,
                -0.1976163399,  -0.182791381,   -0.5164205861, -0.528616954,  -0.360430127,
                -0.3884345374,  0.5683206029,   0.5829745265,  0.4575483559,  0.4911956264,
                -0.2090125712,  -0.195450208,   -0.6255147779, -0.6443370895, 0.2191877823,
                0.2078999132,   0.5875677198,   0.6032334107,  0.4157406054,  0.4439568923,
                -0.1383165043,  -0.1234915454,  -0.5652060579, -0.5774024258, -0.4724477684,
                -0.5004521788,  0.6269362975,   0.6415902212,  0.5921374378,  0.6257847083,
                -0.3486857761,  -0.3158890625,  -0.6440133724, -0.6190511733, 0.2472608633,
                0.219964366,    0.556964417,    0.5361885367,  0.3545974543,  0.3594434394,
                -0.1737847725,  -0.1477722983,  -0.542390081,  -0.5191268665, -0.4123244503,
                -0.4131985877,  0.5817883463,   0.5538376178,  0.422404752,   0.4234550271,
                -0.2174989217,  -0.1847022081,  -0.5441645761, -0.519202377,  0.1380748744,
                0.1107783771,   0.4738608956,   0.4530850153,  0.3739813948,  0.3788273799,
                -0.06973487573, -0.04372240152, -0.4493372231, -0.4260740086, -0.4158209997,
                -0.4166951371,  0.4699854323,   0.4420347038,  0.4266058525,  0.4276561277,
                0.3985206011,   0.3950761191,   0.5363673978,  0.5628906202,  -0.3901637306,
                -0.38729691,    -0.5069058827,  -0.5289809929, -0.157601104,  -0.1843223904,
                0.3366014029,   0.3298013677,   0.5213341323,  0.5407072693,  0.2267546647,
                0.2544894011,   -0.5957863499,  -0.6190631544, -0.3194589548, -0.3527822124,
                0.3847426731,   0.3812981911,   0.6424602874,  0.6689835098,  -0.3786964483,
                -0.3758296277,  -0.5952063234,  -0.6172814336, -0.2644862497, -0.2912075362,
                0.3094012622,   0.3026012271,   0.5988266806,  0.6181998176,  0.3376936104,
                0.3654283469,   -0.6888935677,  -0.7121703722, -0.452751985,  -0.4860752426});
  check_values(
      w.grad(), {6, 2, 2, 2},
      {-1.408314494,   -0.4181146842, -1.400376935,  -0.2402061957, -0.2027896048, 1.112214251,
       -0.01118341367, 1.280492879,   1.656561444,   1.024355174,   1.157387902,   0.7340832976,
       0.8163078662,   -0.7787759566, 0.5902898613,  -0.5258135652, -1.371632594,  -1.30089984,
       -0.5418855389,  -0.9916905943, -1.167091774,  0.1946832147,  -0.9794074194, -0.3981024947,
       0.2870202964,   -0.7897778147, 1.107688773,   0.04429194248, -0.9079834242, -1.096657989,
       -0.1492400643,  -1.157737009,  -0.900755277,  -0.134433138,  -1.601388565,  -0.7411018364,
       0.014584689,    0.8436012912,  -0.5188221104, 1.000549122,   1.224575919,   1.015375852,
       1.579670331,    1.19938296,    0.8835082296,  -0.3190256614, 1.019897787,   -0.5213275545});
  check_values(
      b.grad(), {6},
      {0.6160324358, -0.5361932382, 0.2837765247, 0.05997563326, -0.3844242173, 0.5851431983});
}

// F.conv2d(x, w, None, padding=1, groups=3): tests/goldens/conv.py
TEST_CASE("conv2d depthwise (groups = channels) matches PyTorch") {
  Tensor x = sin_range({1, 3, 4, 4}).requires_grad_();
  Tensor w = (arange(27, Dtype::float64) / 10.0 - 1.3).reshape({3, 1, 3, 3}).requires_grad_();
  Tensor y = conv2d(x, w, Tensor(), {1, 1}, {1, 1}, {1, 1}, 3);
  (y * cos_range(y.shape())).sum().backward();
  check_values(
      y, {1, 3, 4, 4},
      {0.2603668467,  -0.2399377672, -1.262331684,  -1.234906545,  -0.2770306084, -0.8344369186,
       -1.117567427,  -0.6824942036, 0.8547227187,  1.14505857,    0.5230823168,  -0.0647293271,
       -1.493778233,  -1.816347981,  -0.6148833996, 0.3313492802,  0.5124060814,  0.383736825,
       -0.0626849566, -0.1805376584, 0.03770184859, 0.5458005503,  0.9964396811,  0.6957413354,
       -0.6386316951, -0.987712506,  -0.6446413361, -0.1376668185, 0.2317804702,  0.1235314385,
       -0.3411423969, -0.4931329963, -0.5305383243, 0.3922213587,  1.748605586,   1.520461646,
       0.1825815325,  -0.3924212254, -1.122243685,  -0.8941609419, 0.5938520622,  1.075135476,
       0.9259515339,  0.3849019441,  1.202867285,   1.317580955,   0.4044388723,  -0.1246791309});
  check_values(
      x.grad(), {1, 3, 4, 4},
      {-1.024690802,  -1.739733251,  -1.512022874,  -0.7369593043, 0.6854748402,   1.118769384,
       0.8309221515,  0.2730885024,  -0.9566026314, -0.9349397857, 0.0592962102,   0.4960621545,
       -0.9418241407, -0.4217442441, 0.8665770511,  0.9912096928,  0.1241834194,   0.3208890774,
       0.4962805125,  0.4258737422,  -0.8112924126, -0.833709537,  0.008820141323, 0.4189997643,
       0.5017632571,  0.1318857021,  -0.7598732662, -0.8004153017, 0.4003000175,   0.4847305793,
       0.3658491709,  0.1865512313,  1.046108439,   0.9906287386,  -0.2577882696,  -0.8333559491,
       0.5897950558,  0.2008459749,  -0.8448828818, -0.9394414597, 0.1608503317,   0.7261879478,
       1.143449337,   0.7632580696,  -0.5662823104, -1.364919717,  -1.810405344,   -1.179124815});
  check_values(
      w.grad(), {3, 1, 3, 3},
      {4.353820075,  4.333483495,    -0.5963791969, -5.028082067, -0.1112456813, 5.069569751,
       0.6737008756, -4.748146449,   -4.276498397,  4.322505891,  4.501416114,   -0.6276933809,
       -5.044883991, -0.02113983282, 5.052767827,   0.6423866916, -4.580213829,  -4.307812581,
       4.2887559,    4.682411554,    -0.6614433726, -5.062992871, 0.07597499653, 5.034658947,
       0.6086367,    -4.39921839,    -4.341562572});
}

// F.max_pool2d(x, (3, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 2)): tests/goldens/conv.py
TEST_CASE("max_pool2d matches PyTorch") {
  Tensor x = sin_range({1, 2, 5, 6}).requires_grad_();
  Tensor y = max_pool2d(x, {3, 2}, {2, 2}, {1, 1}, {1, 2});
  (y * cos_range(y.shape())).sum().backward();
  check_values(
      y, {1, 2, 3, 3},
      {0.8414709848, 0.8414709848, 0.4121184852, 0.6569865987, 0.8366556385, 0.8366556385,
       0.1498772097, 0.9563759284, 0.9563759284, -0.4040376453, 0.9999118601, 0.9999118601,
       -0.6435381334, 0.9637953863, 0.9637953863, -0.9537526528, 0.6702291758, 0.6702291758});
  check_values(x.grad(), {1, 2, 5, 6}, {0, 1.540302306,
                                        0, 0,
                                        0, 0,
                                        0, -0.9899924966,
                                        0, -0.4161468365,
                                        0, 0,
                                        0, 0,
                                        0, 0,
                                        0, 0,
                                        0, 0.9601702867,
                                        0, -0.3699814354,
                                        0, 0,
                                        0, 0,
                                        0, 0.6084022205,
                                        0, 0,
                                        0, -0.9111302619,
                                        0, -0.8346458311,
                                        0, 0,
                                        0, 0.8438539587,
                                        0, 1.044184,
                                        0, 0,
                                        0, 0,
                                        0, 0,
                                        0, 0,
                                        0, -0.7596879129,
                                        0, -1.232822818,
                                        0, 0,
                                        0, 0,
                                        0, 0,
                                        0, 0});
}

// F.avg_pool2d(x, (3, 3), stride=(2, 1), padding=(1, 1)): tests/goldens/conv.py
TEST_CASE("avg_pool2d matches PyTorch (padding counted in the average)") {
  Tensor y = avg_pool2d(sin_range({1, 2, 5, 6}), {3, 3}, {2, 1}, {1, 1});
  check_values(
      y, {1, 2, 3, 6},
      {0.1354491206,   0.3464108621,   0.4389279723, 0.127896729,  -0.3007221771, -0.3621931208,
       -0.03777164642, 0.2836628928,   0.6687781847, 0.4390218978, -0.1943690973, -0.4053759822,
       -0.1821155721,  0.004051505777, 0.3873400809, 0.4145099719, 0.0605813064,  -0.1386444233,
       -0.3363762507,  -0.2421767774,  0.1959918586, 0.4539664837, 0.2945664172,  0.07637672314,
       -0.5672911768,  -0.5615472157,  0.011950912,  0.5744614263, 0.6088147546,  0.3327116338,
       -0.3645057263,  -0.4516085991,  -0.181226639, 0.2557742573, 0.4576174809,  0.3346848219});
}

// ---- dtypes, shapes, graph bookkeeping ----

TEST_CASE("conv2d and pooling in float32 agree with float64") {
  manual_seed(5);
  const Tensor x64 = randn({3, 2, 9, 8}, Dtype::float64), w64 = randn({4, 2, 3, 3}, Dtype::float64),
               b64 = randn({4}, Dtype::float64);
  Tensor x = x64.to(Dtype::float32).requires_grad_(), w = w64.to(Dtype::float32).requires_grad_(),
         b = b64.to(Dtype::float32).requires_grad_();
  Tensor y = max_pool2d(conv2d(x, w, b, {1, 2}, {1, 1}), {2, 2}, {}, {1, 1});
  Tensor z = avg_pool2d(y, {2, 2}, {1, 1});
  CHECK(z.dtype() == Dtype::float32);
  z.sum().backward();

  Tensor X = x64.clone().requires_grad_(), W = w64.clone().requires_grad_(),
         B = b64.clone().requires_grad_();
  Tensor Z =
      avg_pool2d(max_pool2d(conv2d(X, W, B, {1, 2}, {1, 1}), {2, 2}, {}, {1, 1}), {2, 2}, {1, 1});
  Z.sum().backward();
  auto close = [](const Tensor& a, const Tensor& e) {
    REQUIRE(a.shape() == e.shape());
    const auto va = a.to_vector<double>(), ve = e.to_vector<double>();
    double worst = 0;
    for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - ve[i]));
    CHECK(worst < 1e-4);
  };
  close(z, Z);
  close(x.grad(), X.grad());
  close(w.grad(), W.grad());
  close(b.grad(), B.grad());
}

TEST_CASE("max_pool2d 2x2 stride 2 (the fast path) matches the definition: ties, NaN, odd sizes") {
  // Reference: taps in the order (0,0) (0,1) (1,0) (1,1); a tap wins if larger than the best so
  // far or NaN (PyTorch's rule), so ties keep the first and the last NaN wins.
  manual_seed(10);
  for (Dtype dt : {Dtype::float32, Dtype::float64})
    for (const Shape& s : {Shape{2, 3, 8, 8}, Shape{3, 2, 7, 5}, Shape{1, 1, 2, 2},
                           Shape{5, 3, 14, 14}, Shape{2, 2, 6, 3}, Shape{64, 2, 28, 28}}) {
      INFO("shape ", s, (dt == Dtype::float32 ? " float32" : " float64"));
      // values from {-1, 0, 1} (many ties), a few NaN
      std::vector<double> v = rand(s, Dtype::float64).to_vector<double>();
      for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = i % 7 == 0 && (i / 7) % 5 == 0 ? NAN : std::floor(v[i] * 3.0) - 1.0;
      Tensor x = tensor(v, s, dt).requires_grad_();
      Tensor y = max_pool2d(x, {2, 2});
      const std::size_t H = s[2], W = s[3], Ho = H / 2, Wo = W / 2, planes = s[0] * s[1];
      REQUIRE(y.shape() == Shape{s[0], s[1], Ho, Wo});
      Tensor gy = randn(y.shape(), dt);
      y.backward(gy);
      const auto got = y.to_vector<double>(), gx = x.grad().to_vector<double>(),
                 gyv = gy.to_vector<double>();
      std::vector<double> ref_gx(v.size(), 0.0);
      bool all_equal = true;
      for (std::size_t q = 0; q < planes; ++q)
        for (std::size_t oy = 0; oy < Ho; ++oy)
          for (std::size_t ox = 0; ox < Wo; ++ox) {
            std::size_t at = q * H * W + 2 * oy * W + 2 * ox;
            double best = v[at];
            for (std::size_t k = 1; k < 4; ++k) {
              const std::size_t i = q * H * W + (2 * oy + k / 2) * W + 2 * ox + k % 2;
              if (v[i] > best || std::isnan(v[i])) best = v[i], at = i;
            }
            const std::size_t o = (q * Ho + oy) * Wo + ox;
            const double g = got[o];
            all_equal &= std::isnan(best) ? std::isnan(g) : g == best;
            ref_gx[at] += gyv[o];
          }
      CHECK(all_equal);
      CHECK(gx == ref_gx);
    }
}

TEST_CASE("max_pool2d and avg_pool2d: stride defaults to the kernel size") {
  Tensor x = arange(16, Dtype::float64).reshape({1, 1, 4, 4});
  check_values(max_pool2d(x, {2, 2}), {1, 1, 2, 2}, {5, 7, 13, 15});
  check_values(avg_pool2d(x, {2}), {1, 1, 2, 2}, {2.5, 4.5, 10.5, 12.5});
  // output size floor((H + 2p - d(k-1) - 1) / s) + 1: (4 + 2 - 2 - 1) / 2 + 1 = 2
  CHECK(max_pool2d(x, {3, 3}, {2, 2}, {1, 1}).shape() == Shape{1, 1, 2, 2});
}

TEST_CASE("max_pool2d: padding acts as -inf") {
  Tensor x = full({1, 1, 2, 2}, -5.0, Dtype::float64).requires_grad_();
  Tensor y = max_pool2d(x, {3, 3}, {1, 1}, {1, 1});
  check_values(y, {1, 1, 2, 2}, {-5, -5, -5, -5});
  y.sum().backward();  // ties: each window's gradient goes to its first maximum (x[0, 0])
  check_values(x.grad(), {1, 1, 2, 2}, {4, 0, 0, 0});
}

TEST_CASE("max_pool2d: a window whose taps all miss the input gives -inf and no gradient") {
  // PyTorch 1.13: F.max_pool2d(x, 2, stride=1, padding=1, dilation=2) on x [1, 1, 3, 1] -> -inf
  // (tests/goldens/conv.py)
  Tensor x = randn({1, 1, 3, 1}, Dtype::float64).requires_grad_();
  Tensor y = max_pool2d(x, {2}, {1}, {1}, {2});
  REQUIRE(y.shape() == Shape{1, 1, 3, 1});
  for (double v : y.to_vector<double>()) CHECK(v == -INFINITY);
  y.backward(ones_like(y));
  check_values(x.grad(), {1, 1, 3, 1}, {0, 0, 0});
}

TEST_CASE("conv2d from several threads at once gives the single-thread results") {
  // conv2d splits large batches over a helper thread that one caller holds at a time; callers
  // that find it busy run both halves themselves. Either way the bits must not change.
  manual_seed(11);
  const Tensor x = randn({16, 8, 16, 16}), w = randn({16, 8, 3, 3}), b = randn({16});  // split
  auto run = [&](TensorList& out) {
    Tensor xr = x.clone().requires_grad_(), wr = w.clone().requires_grad_();
    Tensor y = conv2d(xr, wr, b, {1, 1}, {1, 1});
    y.sum().backward();
    out = {y, xr.grad(), wr.grad()};
  };
  TensorList expected;
  run(expected);
  std::vector<TensorList> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k) run(got[t]);
    });
  for (std::thread& t : threads) t.join();
  for (const TensorList& g : got)
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(g[i].to_vector<float>() == expected[i].to_vector<float>());
}

TEST_CASE("conv2d on an empty batch") {
  Tensor x = zeros({0, 2, 5, 5}, Dtype::float64).requires_grad_();
  Tensor w = ones({3, 2, 3, 3}, Dtype::float64).requires_grad_();
  Tensor b = ones({3}, Dtype::float64).requires_grad_();
  Tensor y = conv2d(x, w, b);
  CHECK(y.shape() == Shape{0, 3, 3, 3});
  y.sum().backward();
  check_values(w.grad(), w.shape(), std::vector<double>(54, 0.0));
  check_values(b.grad(), {3}, {0, 0, 0});
}

TEST_CASE("conv2d and pooling record no graph under NoGradGuard") {
  Tensor x = randn({1, 1, 4, 4}).requires_grad_(), w = randn({1, 1, 2, 2}).requires_grad_();
  NoGradGuard no_grad;
  CHECK_FALSE(conv2d(x, w).requires_grad());
  CHECK_FALSE(max_pool2d(x, {2}).requires_grad());
  CHECK_FALSE(avg_pool2d(x, {2}).requires_grad());
}

TEST_CASE("conv2d: backward detects an input modified in place") {
  Tensor x = randn({1, 1, 4, 4}), w = randn({1, 1, 2, 2}).requires_grad_();
  Tensor y = conv2d(x, w);  // saves x for grad_weight
  x.add_(1.0);
  CHECK_MESSAGE_IS(y.sum().backward(), "modified by an in-place operation", std::runtime_error);
}

// ---- differentiable twice, and more ----

TEST_CASE("conv2d and pooling: third derivatives (gradgradcheck of the gradient)") {
  // The backward ops' own backward passes are again conv2d, its input and weight gradients,
  // and pooling's scatter/gather or average: gradgradcheck of x -> d<f(x), r>/dx checks them.
  manual_seed(6);
  auto first_grad = [](std::function<Tensor(const TensorList&)> f) {
    return [f](const TensorList& in) {
      Tensor y = f(in);
      Tensor r = cos_range(y.shape());  // fixed weights, so the result is not linear in y
      TensorList g = grad({(y * y * r).sum()}, in, {}, true, true);
      return cat(TensorList{g[0].flatten(), g[1].flatten()}, 0);
    };
  };
  CHECK(gradgradcheck(first_grad([](auto x) {
                        return conv2d(x[0], x[1], Tensor(), {2, 1}, {1, 1}, {1, 2});
                      }),
                      {param({2, 2, 5, 5}), param({3, 2, 2, 3})}));
  CHECK(gradgradcheck(first_grad([](auto x) {
                        return conv2d(x[0], x[1], Tensor(), {1, 1}, {1, 1}, {1, 1}, 2);
                      }),
                      {param({1, 4, 4, 4}), param({2, 2, 3, 3})}));
  // pooling of a conv2d, so both inputs lead through the pool
  CHECK(gradgradcheck(first_grad([](auto x) { return max_pool2d(conv2d(x[0], x[1]), {2}); }),
                      {param({1, 2, 5, 5}), param({2, 2, 2, 2})}));
  CHECK(gradgradcheck(
      first_grad([](auto x) { return avg_pool2d(conv2d(x[0], x[1]), {2}, {1}, {1}); }),
      {param({1, 2, 4, 4}), param({2, 2, 2, 2})}));
}

TEST_CASE("conv2d: the recorded backward gives the fused backward's gradients bit for bit") {
  // Batches large enough to be split over two cores, float32 and float64. With create_graph the
  // gradients come from conv2d_input_grad and conv2d_weight_grad (recorded ops on the same
  // kernels), without it from one fused pass; the bias gradient is a sum either way.
  manual_seed(7);
  for (Dtype dt : {Dtype::float32, Dtype::float64}) {
    const std::string name = dtype_name(dt);
    CAPTURE(name);
    const Tensor x = randn({16, 8, 16, 16}, dt), w = randn({16, 4, 3, 3}, dt), b = randn({16}, dt);
    const Tensor r = randn({16, 16, 16, 8}, dt);
    auto grads = [&](bool create_graph) {
      TensorList in = {x.clone().requires_grad_(), w.clone().requires_grad_(),
                       b.clone().requires_grad_()};
      Tensor y = conv2d(in[0], in[1], in[2], {1, 2}, {1, 1}, {1, 1}, 2);
      return grad({(y * r).sum()}, in, {}, true, create_graph);
    };
    const TensorList fused = grads(false), recorded = grads(true);
    CHECK_FALSE(fused[0].requires_grad());
    CHECK(recorded[0].grad_fn()->name() == "Conv2dInputGradBackward");
    CHECK(recorded[1].grad_fn()->name() == "Conv2dWeightGradBackward");
    CHECK(recorded[0].to_vector<double>() == fused[0].to_vector<double>());
    CHECK(recorded[1].to_vector<double>() == fused[1].to_vector<double>());
    CHECK(worst_error(recorded[2].to_vector<double>(), fused[2].to_vector<double>()) < 1e-4);
  }
}

TEST_CASE("conv2d: a Hessian-vector product through a split batch matches finite differences") {
  manual_seed(8);
  const Dtype f64 = Dtype::float64;
  const Tensor x = randn({16, 4, 16, 16}, f64), r = randn({16, 8, 8, 8}, f64);
  Tensor w = (randn({8, 4, 3, 3}, f64) * 0.3).requires_grad_();
  Tensor b = randn({8}, f64).requires_grad_();
  auto loss = [&] {  // conv (split over two cores) - tanh - max pool - weighted sum
    return (max_pool2d(tanh(conv2d(x, w, b, {1, 1}, {1, 1})), {2}) * r).sum();
  };
  const Tensor vw = randn(w.shape(), f64), vb = randn(b.shape(), f64);
  TensorList g = grad({loss()}, {w, b}, {}, true, true);
  TensorList hv = grad({(g[0] * vw).sum() + (g[1] * vb).sum()}, {w, b});
  const double eps = 1e-5;
  auto grad_at = [&](double s) {
    {
      NoGradGuard no_grad;
      w.add_(vw, s);
      b.add_(vb, s);
    }
    TensorList gs = grad({loss()}, {w, b});
    {
      NoGradGuard no_grad;
      w.add_(vw, -s);
      b.add_(vb, -s);
    }
    return gs;
  };
  const TensorList gp = grad_at(eps), gm = grad_at(-eps);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto h = hv[i].to_vector<double>(), p = gp[i].to_vector<double>(),
               m = gm[i].to_vector<double>();
    std::vector<double> fd(h.size());
    for (std::size_t j = 0; j < h.size(); ++j) fd[j] = (p[j] - m[j]) / (2 * eps);
    CHECK(worst_error(h, fd) < 1e-5);
  }
}

TEST_CASE("conv2d: backward with create_graph, then backward again") {
  manual_seed(9);
  Tensor x = randn({2, 2, 5, 5}, Dtype::float64).requires_grad_();
  Tensor w = randn({2, 2, 3, 3}, Dtype::float64).requires_grad_();
  conv2d(x, w).pow(2.0).sum().backward(Tensor(), true, true);
  Tensor gx = x.grad();
  // backward(create_graph) links each leaf to its own gradient's graph (a reference cycle, as
  // in PyTorch): clearing the gradients frees it.
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  gx.sum().backward();  // d/dw sum(dL/dx) and d/dx sum(dL/dx), L = sum(conv2d(x, w)^2)
  TensorList expected =
      grad({grad({conv2d(x, w).pow(2.0).sum()}, {x}, {}, true, true)[0].sum()}, {x, w});
  CHECK(worst_error(x.grad().to_vector<double>(), expected[0].to_vector<double>()) < 1e-12);
  CHECK(worst_error(w.grad().to_vector<double>(), expected[1].to_vector<double>()) < 1e-12);
}

// ---- errors ----

TEST_CASE("conv2d error: input rank") {
  CHECK_MESSAGE_IS(conv2d(zeros({3, 5, 5}), zeros({2, 3, 3, 3})),
                   "conv2d: expected input [N, C, H, W] (4-D), got shape [3, 5, 5]",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: weight rank") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 3, 5, 5}), zeros({2, 3, 3})),
                   "conv2d: expected weight [O, C / groups, kh, kw] (4-D), got shape [2, 3, 3]",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: channel mismatch") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 3, 8, 8}), zeros({4, 1, 3, 3})),
                   "conv2d: input of shape [1, 3, 8, 8] has 3 channels but weight of shape "
                   "[4, 1, 3, 3] expects 1",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: groups") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 4, 8, 8}), zeros({4, 2, 3, 3}), Tensor(), {1}, {0}, {1}, 0),
                   "conv2d: groups must be positive, got 0", std::invalid_argument);
  CHECK_MESSAGE_IS(conv2d(zeros({1, 4, 8, 8}), zeros({4, 4, 3, 3}), Tensor(), {1}, {0}, {1}, -1),
                   "conv2d: groups must be positive, got -1", std::invalid_argument);
  CHECK_MESSAGE_IS(conv2d(zeros({1, 6, 8, 8}), zeros({3, 3, 3, 3}), Tensor(), {1}, {0}, {1}, 2),
                   "conv2d: weight of shape [3, 3, 3, 3] has 3 output channels, not divisible by "
                   "groups 2",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(conv2d(zeros({1, 5, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), {1}, {0}, {1}, 2),
                   "conv2d: input of shape [1, 5, 8, 8] has 5 channels but weight of shape "
                   "[4, 3, 3, 3] with groups 2 expects 3 per group (3 x 2)",
                   std::invalid_argument);
  // 4 channels divide by 2 groups but give 2 per group, not the weight's 3
  CHECK_MESSAGE_IS(conv2d(zeros({1, 4, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), {1}, {0}, {1}, 2),
                   "conv2d: input of shape [1, 4, 8, 8] has 4 channels but weight of shape "
                   "[4, 3, 3, 3] with groups 2 expects 3 per group (3 x 2)",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: bias shape") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 3, 8, 8}), zeros({4, 3, 3, 3}), zeros({3})),
                   "conv2d: bias of shape [3] does not match weight of shape [4, 3, 3, 3] "
                   "(expected [4])",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: dtype mismatch") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}, Dtype::float64)),
                   "conv2d: dtype mismatch (float32 and float64)", std::invalid_argument);
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), zeros({1}, Dtype::float64)),
                   "conv2d: dtype mismatch (float32 and float64)", std::invalid_argument);
}

TEST_CASE("conv2d error: undefined input") {
  CHECK_MESSAGE_IS(conv2d(Tensor(), zeros({1, 1, 3, 3})), "conv2d: expected a defined tensor",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: empty kernel") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 0, 3})),
                   "conv2d: weight of shape [1, 1, 0, 3] has an empty kernel",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: non-positive stride") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), Tensor(), {0, 1}),
                   "conv2d: stride must be positive, got [0, 1]", std::invalid_argument);
}

TEST_CASE("conv2d error: non-positive dilation") {
  CHECK_MESSAGE_IS(
      conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, -1}),
      "conv2d: dilation must be positive, got [1, -1]", std::invalid_argument);
}

TEST_CASE("conv2d error: negative padding") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), Tensor(), {1, 1}, {-1, 0}),
                   "conv2d: padding must be non-negative, got [-1, 0]", std::invalid_argument);
}

TEST_CASE("conv2d error: option with three values") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), Tensor(), {1, 1, 1}),
                   "conv2d: stride must have 1 or 2 values (height, width), got [1, 1, 1]",
                   std::invalid_argument);
}

TEST_CASE("conv2d error: input too small for the kernel") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 2, 5}), zeros({1, 1, 3, 3})),
                   "conv2d: input [1, 1, 2, 5] is too small for kernel [3, 3] with stride [1, 1], "
                   "padding [0, 0] and dilation [1, 1] (output size would be [0, 3])",
                   std::invalid_argument);
  // dilation widens the kernel: 2 * (3 - 1) + 1 = 5 > 4
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), Tensor(), {1}, {0}, {2}),
                   "conv2d: input [1, 1, 4, 4] is too small for kernel [3, 3]",
                   std::invalid_argument);
}

TEST_CASE("conv2d and pooling error: empty plane") {
  CHECK_MESSAGE_IS(conv2d(zeros({1, 1, 0, 4}), zeros({1, 1, 1, 1}), Tensor(), {1}, {1}),
                   "conv2d: input of shape [1, 1, 0, 4] has an empty [H, W] plane",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 1, 4, 0}), {2}, {}, {1}),
                   "max_pool2d: input of shape [1, 1, 4, 0] has an empty [H, W] plane",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(avg_pool2d(zeros({1, 1, 0, 4}), {2}, {}, {1}),
                   "avg_pool2d: input of shape [1, 1, 0, 4] has an empty [H, W] plane",
                   std::invalid_argument);
}

TEST_CASE("max_pool2d error: input rank") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({4, 4}), {2, 2}),
                   "max_pool2d: expected input [N, C, H, W] (4-D), got shape [4, 4]",
                   std::invalid_argument);
}

TEST_CASE("max_pool2d error: non-positive kernel size") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 1, 4, 4}), {0, 2}),
                   "max_pool2d: kernel size must be positive, got [0, 2]", std::invalid_argument);
}

TEST_CASE("max_pool2d error: non-positive stride") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {2, 0}),
                   "max_pool2d: stride must be positive, got [2, 0]", std::invalid_argument);
}

TEST_CASE("max_pool2d error: non-positive dilation") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {}, {0, 0}, {0}),
                   "max_pool2d: dilation must be positive, got [0, 0]", std::invalid_argument);
}

TEST_CASE("max_pool2d error: padding more than half the kernel") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 1, 4, 4}), {3, 3}, {}, {2, 1}),
                   "max_pool2d: padding [2, 1] must be at most half of kernel size [3, 3]",
                   std::invalid_argument);
}

TEST_CASE("max_pool2d error: kernel_size with no values") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 1, 4, 4}), {}),
                   "max_pool2d: kernel_size must have 1 or 2 values (height, width), got []",
                   std::invalid_argument);
}

TEST_CASE("max_pool2d error: input too small for the kernel") {
  CHECK_MESSAGE_IS(max_pool2d(zeros({1, 2, 3, 8}), {4, 4}),
                   "max_pool2d: input [1, 2, 3, 8] is too small for kernel [4, 4]",
                   std::invalid_argument);
}

TEST_CASE("avg_pool2d error: input rank") {
  CHECK_MESSAGE_IS(avg_pool2d(zeros({1, 4, 4}), {2, 2}),
                   "avg_pool2d: expected input [N, C, H, W] (4-D), got shape [1, 4, 4]",
                   std::invalid_argument);
}

TEST_CASE("avg_pool2d error: negative padding") {
  CHECK_MESSAGE_IS(avg_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {}, {0, -1}),
                   "avg_pool2d: padding must be non-negative, got [0, -1]", std::invalid_argument);
}

TEST_CASE("avg_pool2d error: padding more than half the kernel") {
  CHECK_MESSAGE_IS(avg_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {1, 1}, {1, 2}),
                   "avg_pool2d: padding [1, 2] must be at most half of kernel size [2, 2]",
                   std::invalid_argument);
}

TEST_CASE("avg_pool2d error: input too small for the kernel") {
  CHECK_MESSAGE_IS(avg_pool2d(zeros({1, 1, 5, 1}), {2, 2}),
                   "avg_pool2d: input [1, 1, 5, 1] is too small for kernel [2, 2]",
                   std::invalid_argument);
}
