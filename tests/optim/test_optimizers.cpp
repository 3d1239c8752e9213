// The update rules of SGD, Adam, AdamW, RMSprop and Adagrad: the first three steps on a fixed
// quadratic, (1) against values derived by hand from the documented algorithms (torch.optim docs
// pseudo-code, PyTorch 1.13) and (2) against PyTorch 1.13 itself.
//
// The problem: x0 = [1, -2], loss = 0.5 * sum(c * x^2) with c = [1, 3], so grad = c * x = [x_0, 3
// x_1].
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "optim/optim.hpp"

using namespace xg;
using namespace xg::optim;

namespace {
using Trajectory = std::vector<std::array<double, 2>>;  // x after steps 1, 2, 3
using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

/// Runs three steps of the optimizer on the quadratic, with gradients from backward().
Trajectory run(const MakeOptimizer& make, Dtype dtype = Dtype::float64) {
  Tensor x = tensor({1.0, -2.0}, {2}, dtype).requires_grad_();
  const Tensor c = tensor({1.0, 3.0}, {2}, dtype);
  std::unique_ptr<Optimizer> opt = make({x});
  Trajectory out;
  for (int i = 0; i < 3; ++i) {
    opt->zero_grad();
    (0.5 * (c * x * x).sum()).backward();
    opt->step();
    const std::vector<double> v = x.to_vector<double>();
    out.push_back({v[0], v[1]});
  }
  return out;
}

template <typename Opt, typename Options>
MakeOptimizer make(Options options) {
  return [options](std::vector<Tensor> p) { return std::make_unique<Opt>(std::move(p), options); };
}

/// Largest |a - b| over a trajectory.
double max_diff(const Trajectory& a, const Trajectory& b) {
  double d = 0;
  for (std::size_t s = 0; s < a.size(); ++s)
    for (int i = 0; i < 2; ++i) d = std::max(d, std::abs(a[s][i] - b[s][i]));
  return d;
}

/// Checks coordinate i of a trajectory against three hand-derived values.
void check_coordinate(const Trajectory& got, int i, std::array<double, 3> want, double tol) {
  for (std::size_t s = 0; s < 3; ++s) {
    INFO("step ", s + 1, ", coordinate ", i);
    CHECK(std::abs(got[s][i] - want[s]) <= tol);
  }
}

void check_close(const Trajectory& got, const Trajectory& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t s = 0; s < got.size(); ++s)
    for (int i = 0; i < 2; ++i) {
      INFO("step ", s + 1, ", coordinate ", i);
      CHECK(std::abs(got[s][i] - want[s][i]) <= tol);
    }
}

// ---- scalar references written from the torch.optim documentation pseudo-code ----
const double kC[2] = {1.0, 3.0};

/// SGD (docs): g = grad (neg if maximize); g += wd*x; b = g (t = 1) or mu*b + (1-tau)*g;
/// g = nesterov ? g + mu*b : b; x -= lr*g.
Trajectory ref_sgd(double lr, double mu, double tau, double wd, bool nesterov, bool maximize) {
  double x[2] = {1.0, -2.0}, b[2] = {0, 0};
  Trajectory out;
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 2; ++i) {
      double g = maximize ? -kC[i] * x[i] : kC[i] * x[i];
      g += wd * x[i];
      if (mu != 0) {
        b[i] = t == 1 ? g : mu * b[i] + (1 - tau) * g;
        g = nesterov ? g + mu * b[i] : b[i];
      }
      x[i] -= lr * g;
    }
    out.push_back({x[0], x[1]});
  }
  return out;
}

/// Adam/AdamW (docs): g (neg if maximize); AdamW: x *= 1 - lr*wd, Adam: g += wd*x;
/// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; amsgrad: vmax = max(vmax, v) (PyTorch 1.13 takes
/// the max of the raw v, then divides by sqrt(1 - b2^t));
/// x -= lr/(1-b1^t) * m / (sqrt(v or vmax)/sqrt(1-b2^t) + eps).
Trajectory ref_adam(double lr, double b1, double b2, double eps, double wd, bool decoupled,
                    bool amsgrad, bool maximize) {
  double x[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0}, vmax[2] = {0, 0};
  Trajectory out;
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 2; ++i) {
      double g = maximize ? -kC[i] * x[i] : kC[i] * x[i];
      if (decoupled)
        x[i] *= 1 - lr * wd;
      else
        g += wd * x[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      vmax[i] = std::max(vmax[i], v[i]);
      const double second = amsgrad ? vmax[i] : v[i];
      x[i] -= lr / (1 - std::pow(b1, t)) * m[i] /
              (std::sqrt(second) / std::sqrt(1 - std::pow(b2, t)) + eps);
    }
    out.push_back({x[0], x[1]});
  }
  return out;
}

/// RMSprop (docs): g (neg if maximize); g += wd*x; v = a v + (1-a) g^2;
/// centered: ga = a ga + (1-a) g, vt = v - ga^2; avg = sqrt(vt) + eps;
/// momentum: b = mu b + g/avg, x -= lr b; else x -= lr g/avg.
Trajectory ref_rmsprop(double lr, double a, double eps, double wd, double mu, bool centered,
                       bool maximize) {
  double x[2] = {1.0, -2.0}, v[2] = {0, 0}, ga[2] = {0, 0}, b[2] = {0, 0};
  Trajectory out;
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 2; ++i) {
      double g = maximize ? -kC[i] * x[i] : kC[i] * x[i];
      g += wd * x[i];
      v[i] = a * v[i] + (1 - a) * g * g;
      double vt = v[i];
      if (centered) {
        ga[i] = a * ga[i] + (1 - a) * g;
        vt -= ga[i] * ga[i];
      }
      const double avg = std::sqrt(vt) + eps;
      if (mu > 0) {
        b[i] = mu * b[i] + g / avg;
        x[i] -= lr * b[i];
      } else {
        x[i] -= lr * g / avg;
      }
    }
    out.push_back({x[0], x[1]});
  }
  return out;
}

/// Adagrad (docs): g (neg if maximize); g += wd*x; clr = lr / (1 + (t-1) lr_decay);
/// sum += g^2 (sum starts at initial_accumulator_value); x -= clr g / (sqrt(sum) + eps).
Trajectory ref_adagrad(double lr, double lr_decay, double wd, double init, double eps,
                       bool maximize) {
  double x[2] = {1.0, -2.0}, sum[2] = {init, init};
  Trajectory out;
  for (int t = 1; t <= 3; ++t) {
    const double clr = lr / (1 + (t - 1) * lr_decay);
    for (int i = 0; i < 2; ++i) {
      double g = maximize ? -kC[i] * x[i] : kC[i] * x[i];
      g += wd * x[i];
      sum[i] += g * g;
      x[i] -= clr * g / (std::sqrt(sum[i]) + eps);
    }
    out.push_back({x[0], x[1]});
  }
  return out;
}

// ---- PyTorch 1.13 golden trajectories ----
// Printed by tests/goldens/optimizers.py (torch 1.13.0a0, Debian python3-torch; see
// tests/goldens/README.md): three steps of each configuration of configs() below.
const std::map<std::string, Trajectory> kTorch = {
    {"sgd_plain", {{0.9, -1.4}, {0.81, -0.98}, {0.7290000000000001, -0.6859999999999999}}},
    {"sgd_momentum", {{0.9, -1.4}, {0.72, -0.4399999999999999}, {0.486, 0.5560000000000003}}},
    {"sgd_dampening", {{0.9, -1.4}, {0.765, -0.6499999999999999}, {0.60525, 0.1225000000000001}}},
    {"sgd_nesterov",
     {{0.81, -0.8599999999999999},
      {0.5751000000000001, 0.11620000000000022},
      {0.32732100000000003, 0.6963460000000001}}},
    {"sgd_weight_decay",
     {{0.89, -1.38}, {0.6931, -0.3941999999999998}, {0.439649, 0.6152220000000003}}},
    {"sgd_maximize",
     {{1.09, -2.58}, {1.2331, -3.6182000000000003}, {1.415629, -5.186578000000001}}},
    {"adam_plain",
     {{0.900000001, -1.9000000001666666},
      {0.8004122297123382, -1.800166485947237},
      {0.701586274504415, -1.7006233917912488}}},
    {"adam_weight_decay",
     {{0.9000000009090909, -1.9000000001612904},
      {0.8004122295267844, -1.8001664859363686},
      {0.7015862742210722, -1.7006233917747835}}},
    {"adam_amsgrad",
     {{0.500000005, -1.5000000008333332},
      {0.04877821419159234, -0.9840810189570383},
      {-0.27065920667453525, -0.5159463172316099}}},
    {"adam_no_amsgrad",
     {{0.500000005, -1.5000000008333332},
      {-0.021026037050983715, -0.9840810189570383},
      {-0.5145524794454412, -0.4353668494352505}}},
    {"adam_maximize",
     {{1.099999999, -2.0999999998333334},
      {1.20013477478232, -2.2000973796971897},
      {1.3004900523217835, -2.300352395546771}}},
    {"adamw_decay",
     {{0.890000001, -1.8800000001666666},
      {0.781571856954161, -1.7614089504165513},
      {0.6751012231892006, -1.6443686833067828}}},
    {"adamw_amsgrad",
     {{0.45000000499999987, -1.400000000833333},
      {-0.007606722158518431, -0.8143179505977576},
      {-0.30191848175786096, -0.3227604229148441}}},
    {"rmsprop_plain",
     {{0.9000000099999991, -1.9000000016666667},
      {0.8329179752650593, -1.8309433278740568},
      {0.7799822819823541, -1.7753494441022075}}},
    {"rmsprop_centered",
     {{0.8994962285750879, -1.8994962201575805},
      {0.8317593871030315, -1.8297521513460855},
      {0.7780684196313441, -1.7733354129072625}}},
    {"rmsprop_momentum",
     {{0.9000000099999991, -1.9000000016666667},
      {0.7429179842650584, -1.7409433293740568},
      {0.5529149532344079, -1.544129961896348}}},
    {"rmsprop_all",
     {{0.9666666676767677, -1.966666666845878},
      {0.9115901450389591, -1.9113801529330376},
      {0.8405964724094608, -1.839645014157784}}},
    {"rmsprop_maximize",
     {{1.099999990000001, -2.0999999983333333},
      {1.174161969567568, -2.172586616100887},
      {1.2364216714342475, -2.232828424219579}}},
    {"adagrad_plain",
     {{0.90000000001, -1.9000000000016666},
      {0.8331035268523168, -1.8311250538109978},
      {0.7804561813655163, -1.775821515011569}}},
    {"adagrad_all",
     {{0.9073632886904843, -1.9002591349279976},
      {0.8644673168067641, -1.8544018665644664},
      {0.83833557353452, -1.8265349942816214}}},
    {"adagrad_maximize",
     {{1.0909090909090908, -2.098360655737705},
      {1.1599586557725035, -2.169924634445029},
      {1.2185330900755018, -2.2293040174755445}}},
};

/// Each configuration: our optimizer and the scalar reference from the docs.
struct Config {
  MakeOptimizer make;
  Trajectory reference;
};
const std::map<std::string, Config>& configs() {
  static const std::map<std::string, Config> c = {
      {"sgd_plain", {make<SGD>(SGDOptions(0.1)), ref_sgd(0.1, 0, 0, 0, false, false)}},
      {"sgd_momentum",
       {make<SGD>(SGDOptions(0.1).momentum(0.9)), ref_sgd(0.1, 0.9, 0, 0, false, false)}},
      {"sgd_dampening",
       {make<SGD>(SGDOptions(0.1).momentum(0.9).dampening(0.5)),
        ref_sgd(0.1, 0.9, 0.5, 0, false, false)}},
      {"sgd_nesterov",
       {make<SGD>(SGDOptions(0.1).momentum(0.9).nesterov(true)),
        ref_sgd(0.1, 0.9, 0, 0, true, false)}},
      {"sgd_weight_decay",
       {make<SGD>(SGDOptions(0.1).momentum(0.9).weight_decay(0.1)),
        ref_sgd(0.1, 0.9, 0, 0.1, false, false)}},
      {"sgd_maximize",
       {make<SGD>(SGDOptions(0.1).momentum(0.5).weight_decay(0.1).maximize(true)),
        ref_sgd(0.1, 0.5, 0, 0.1, false, true)}},
      {"adam_plain",
       {make<Adam>(AdamOptions(0.1)), ref_adam(0.1, 0.9, 0.999, 1e-8, 0, false, false, false)}},
      {"adam_weight_decay",
       {make<Adam>(AdamOptions(0.1).weight_decay(0.1)),
        ref_adam(0.1, 0.9, 0.999, 1e-8, 0.1, false, false, false)}},
      {"adam_amsgrad",
       {make<Adam>(AdamOptions(0.5).betas({0.9, 0.5}).amsgrad(true)),
        ref_adam(0.5, 0.9, 0.5, 1e-8, 0, false, true, false)}},
      {"adam_no_amsgrad",
       {make<Adam>(AdamOptions(0.5).betas({0.9, 0.5})),
        ref_adam(0.5, 0.9, 0.5, 1e-8, 0, false, false, false)}},
      {"adam_maximize",
       {make<Adam>(AdamOptions(0.1).maximize(true)),
        ref_adam(0.1, 0.9, 0.999, 1e-8, 0, false, false, true)}},
      {"adamw_decay",
       {make<AdamW>(AdamWOptions(0.1).weight_decay(0.1)),
        ref_adam(0.1, 0.9, 0.999, 1e-8, 0.1, true, false, false)}},
      {"adamw_amsgrad",
       {make<AdamW>(AdamWOptions(0.5).betas({0.9, 0.5}).weight_decay(0.1).amsgrad(true)),
        ref_adam(0.5, 0.9, 0.5, 1e-8, 0.1, true, true, false)}},
      {"rmsprop_plain",
       {make<RMSprop>(RMSpropOptions(0.01)), ref_rmsprop(0.01, 0.99, 1e-8, 0, 0, false, false)}},
      {"rmsprop_centered",
       {make<RMSprop>(RMSpropOptions(0.01).centered(true)),
        ref_rmsprop(0.01, 0.99, 1e-8, 0, 0, true, false)}},
      {"rmsprop_momentum",
       {make<RMSprop>(RMSpropOptions(0.01).momentum(0.9)),
        ref_rmsprop(0.01, 0.99, 1e-8, 0, 0.9, false, false)}},
      {"rmsprop_all",
       {make<RMSprop>(
            RMSpropOptions(0.01).alpha(0.9).centered(true).momentum(0.9).weight_decay(0.1)),
        ref_rmsprop(0.01, 0.9, 1e-8, 0.1, 0.9, true, false)}},
      {"rmsprop_maximize",
       {make<RMSprop>(RMSpropOptions(0.01).maximize(true)),
        ref_rmsprop(0.01, 0.99, 1e-8, 0, 0, false, true)}},
      {"adagrad_plain",
       {make<Adagrad>(AdagradOptions(0.1)), ref_adagrad(0.1, 0, 0, 0, 1e-10, false)}},
      {"adagrad_all",
       {make<Adagrad>(
            AdagradOptions(0.1).lr_decay(0.5).weight_decay(0.1).initial_accumulator_value(0.2)),
        ref_adagrad(0.1, 0.5, 0.1, 0.2, 1e-10, false)}},
      {"adagrad_maximize",
       {make<Adagrad>(AdagradOptions(0.1).eps(0.1).maximize(true)),
        ref_adagrad(0.1, 0, 0, 0, 0.1, true)}},
  };
  return c;
}

void check_family(const std::string& prefix) {
  int n = 0;
  for (const auto& [name, cfg] : configs()) {
    if (name.rfind(prefix, 0) != 0) continue;
    ++n;
    INFO(name);
    const Trajectory got = run(cfg.make);
    check_close(got, cfg.reference, 1e-14);
    check_close(got, kTorch.at(name), 1e-14);
  }
  CHECK(n > 0);
}
}  // namespace

// ---- hand derivations of the first steps (coordinate values written out) ----

TEST_CASE("optim: SGD first three steps derived by hand") {
  // Plain, lr 0.1: x <- x - 0.1 c x = (1 - 0.1 c) x.
  //   x_0: 1 -> 0.9 -> 0.81 -> 0.729;  x_1: -2 -> -1.4 -> -0.98 -> -0.686.
  check_close(run(make<SGD>(SGDOptions(0.1))), {{0.9, -1.4}, {0.81, -0.98}, {0.729, -0.686}},
              1e-15);
  // Momentum 0.9: the first step sets buf = g (no dampening), then buf = 0.9 buf + g.
  //   x_0: g=1,     buf=1,                  x=1-0.1=0.9
  //        g=0.9,   buf=0.9*1+0.9=1.8,      x=0.9-0.18=0.72
  //        g=0.72,  buf=0.9*1.8+0.72=2.34,  x=0.72-0.234=0.486
  //   x_1: g=-6,    buf=-6,                 x=-2+0.6=-1.4
  //        g=-4.2,  buf=-5.4-4.2=-9.6,      x=-1.4+0.96=-0.44
  //        g=-1.32, buf=-8.64-1.32=-9.96,   x=-0.44+0.996=0.556
  check_close(run(make<SGD>(SGDOptions(0.1).momentum(0.9))),
              {{0.9, -1.4}, {0.72, -0.44}, {0.486, 0.556}}, 1e-15);
  // Dampening 0.5: after the first step (buf = g, undamped), buf = 0.9 buf + 0.5 g.
  //   x_0: g=1, buf=1, x=0.9;  g=0.9, buf=0.9+0.45=1.35, x=0.9-0.135=0.765;
  //        g=0.765, buf=1.215+0.3825=1.5975, x=0.765-0.15975=0.60525
  check_coordinate(run(make<SGD>(SGDOptions(0.1).momentum(0.9).dampening(0.5))), 0,
                   {0.9, 0.765, 0.60525}, 1e-15);
  // Nesterov: buf as with momentum, then the step uses g + 0.9 buf.
  //   x_0: g=1, buf=1, d=1+0.9=1.9, x=0.81;  g=0.81, buf=0.9+0.81=1.71, d=0.81+1.539=2.349,
  //        x=0.81-0.2349=0.5751;  g=0.5751, buf=1.539+0.5751=2.1141, d=0.5751+1.90269=2.47779,
  //        x=0.5751-0.247779=0.327321
  check_coordinate(run(make<SGD>(SGDOptions(0.1).momentum(0.9).nesterov(true))), 0,
                   {0.81, 0.5751, 0.327321}, 1e-15);
  // Weight decay 0.1 enters the gradient before momentum: g = c x + 0.1 x.
  //   x_0: g=1.1, buf=1.1, x=0.89;  g=0.979, buf=0.99+0.979=1.969, x=0.89-0.1969=0.6931;
  //        g=0.76241, buf=1.7721+0.76241=2.53451, x=0.6931-0.253451=0.439649
  check_coordinate(run(make<SGD>(SGDOptions(0.1).momentum(0.9).weight_decay(0.1))), 0,
                   {0.89, 0.6931, 0.439649}, 1e-15);
  // Maximize negates the gradient first, then weight decay is added: g = -c x + 0.1 x.
  //   x_0 (momentum 0.5): g=-0.9, buf=-0.9, x=1.09;  g=-0.981, buf=-0.45-0.981=-1.431,
  //        x=1.09+0.1431=1.2331;  g=-1.10979, buf=-0.7155-1.10979=-1.82529, x=1.415629
  check_coordinate(run(make<SGD>(SGDOptions(0.1).momentum(0.5).weight_decay(0.1).maximize(true))),
                   0, {1.09, 1.2331, 1.415629}, 1e-15);
}

TEST_CASE("optim: Adam and AdamW first step derived by hand") {
  // Step 1: m = 0.1 g, v = 0.001 g^2; bias correction makes m/(1-0.9) = g and
  // sqrt(v)/sqrt(1-0.999) = |g|, so x -= lr g / (|g| + eps): a step of lr against sign(g).
  //   x_0 = 1 - 0.1 / (1 + 1e-8) = 0.900000001;  x_1 = -2 + 0.1 * 6 / (6 + 1e-8) =
  //   -1.90000000016667
  const Trajectory adam = run(make<Adam>(AdamOptions(0.1)));
  CHECK(std::abs(adam[0][0] - (1 - 0.1 / (1 + 1e-8))) <= 1e-15);
  CHECK(std::abs(adam[0][1] - (-2 + 0.6 / (6 + 1e-8))) <= 1e-15);
  // Step 2 on x_0: g = 0.900000001, m = 0.09 + 0.1 g, v = 0.000999 + 0.001 g^2,
  // x -= 0.1/(1-0.81) m / (sqrt(v)/sqrt(1-0.998001) + 1e-8) = 0.8004122297...
  {
    const double g = 1 - 0.1 / (1 + 1e-8), m = 0.09 + 0.1 * g, v = 0.000999 + 0.001 * g * g;
    const double x = g - 0.1 / (1 - 0.81) * m / (std::sqrt(v) / std::sqrt(1 - 0.998001) + 1e-8);
    CHECK(std::abs(adam[1][0] - x) <= 1e-15);
    CHECK(std::abs(x - 0.8004122297123382) <= 1e-15);
  }
  // AdamW decays first: x_0 = 1 * (1 - 0.1 * 0.1) = 0.99, then the Adam step of 0.1 (g = 1
  // was taken before the decay): 0.99 - 0.1 / (1 + 1e-8) = 0.890000001.
  const Trajectory adamw = run(make<AdamW>(AdamWOptions(0.1).weight_decay(0.1)));
  CHECK(std::abs(adamw[0][0] - (0.99 - 0.1 / (1 + 1e-8))) <= 1e-15);
  // AMSGrad with betas (0.9, 0.5), lr 0.5 on x_0: step 1 as Adam, x = 0.500000005; step 2:
  // g = 0.5, v = 0.5*0.5 + 0.5*0.25 = 0.375 < vmax = max(0.5, 0.375) = 0.5, so the step uses
  // sqrt(0.5)/sqrt(0.75) instead of sqrt(0.375)/sqrt(0.75): a smaller step than plain Adam.
  const Trajectory ams = run(make<Adam>(AdamOptions(0.5).betas({0.9, 0.5}).amsgrad(true)));
  {
    const double x1 = 1 - 0.5 / (1 + 1e-8);  // step 1
    const double m = 0.9 * 0.1 + 0.1 * x1, v = 0.5 * 0.5 + 0.5 * x1 * x1;
    const double vmax = std::max(0.5, v);  // 0.5: the first v = 0.5 * 1^2 stays the max
    const double x2 = x1 - 0.5 / 0.19 * m / (std::sqrt(vmax) / std::sqrt(0.75) + 1e-8);
    CHECK(std::abs(ams[0][0] - x1) <= 1e-15);
    CHECK(std::abs(ams[1][0] - x2) <= 1e-15);
  }
}

TEST_CASE("optim: RMSprop and Adagrad first step derived by hand") {
  // RMSprop lr 0.01, alpha 0.99: v = 0.01 g^2, x -= 0.01 g / (0.1 |g| + 1e-8): 0.1 against sign(g).
  const Trajectory rms = run(make<RMSprop>(RMSpropOptions(0.01)));
  CHECK(std::abs(rms[0][0] - (1 - 0.01 / (0.1 + 1e-8))) <= 1e-15);
  CHECK(std::abs(rms[0][1] - (-2 + 0.06 / (0.6 + 1e-8))) <= 1e-15);
  // Centered: ga = 0.01 g, so the denominator is sqrt(0.01 g^2 - 0.0001 g^2) = sqrt(0.0099) |g|.
  const Trajectory cen = run(make<RMSprop>(RMSpropOptions(0.01).centered(true)));
  CHECK(std::abs(cen[0][0] - (1 - 0.01 / (std::sqrt(0.0099) + 1e-8))) <= 1e-15);
  // Momentum 0.9: buf = g / avg at step 1 (buf starts at 0), so step 1 equals plain RMSprop;
  // step 2 adds 0.9 of the first step: x_0 = x_1 - 0.01 (0.9 * 1/(0.1+1e-8) + g2/avg2).
  const Trajectory mom = run(make<RMSprop>(RMSpropOptions(0.01).momentum(0.9)));
  CHECK(std::abs(mom[0][0] - rms[0][0]) <= 1e-15);
  {
    const double x1 = rms[0][0], v = 0.99 * 0.01 + 0.01 * x1 * x1;
    const double x2 = x1 - 0.01 * (0.9 / (0.1 + 1e-8) + x1 / (std::sqrt(v) + 1e-8));
    CHECK(std::abs(mom[1][0] - x2) <= 1e-15);
  }
  // Adagrad lr 0.1: sum = g^2, x -= 0.1 g / (|g| + 1e-10); with lr_decay 0.5 the second step
  // uses clr = 0.1 / (1 + 1 * 0.5). With weight decay 0.1 and initial accumulator 0.2:
  //   g = 1.1, sum = 0.2 + 1.21 = 1.41, x_0 = 1 - 0.1 * 1.1 / (sqrt(1.41) + 1e-10) = 0.9073632887
  const Trajectory ada = run(make<Adagrad>(AdagradOptions(0.1)));
  CHECK(std::abs(ada[0][0] - (1 - 0.1 / (1 + 1e-10))) <= 1e-15);
  const Trajectory all = run(make<Adagrad>(
      AdagradOptions(0.1).lr_decay(0.5).weight_decay(0.1).initial_accumulator_value(0.2)));
  const double x1 = 1 - 0.11 / (std::sqrt(1.41) + 1e-10);
  CHECK(std::abs(all[0][0] - x1) <= 1e-15);
  const double g2 = 1.1 * x1, x2 = x1 - 0.1 / 1.5 * g2 / (std::sqrt(1.41 + g2 * g2) + 1e-10);
  CHECK(std::abs(all[1][0] - x2) <= 1e-15);
}

// ---- every configuration: three steps against the docs reference and PyTorch 1.13 ----

TEST_CASE("optim: SGD trajectories match the docs and PyTorch 1.13") { check_family("sgd"); }
TEST_CASE("optim: Adam trajectories match the docs and PyTorch 1.13") { check_family("adam_"); }
TEST_CASE("optim: AdamW trajectories match the docs and PyTorch 1.13") { check_family("adamw"); }
TEST_CASE("optim: RMSprop trajectories match the docs and PyTorch 1.13") {
  check_family("rmsprop");
}
TEST_CASE("optim: Adagrad trajectories match the docs and PyTorch 1.13") {
  check_family("adagrad");
}

TEST_CASE("optim: largest difference from PyTorch 1.13 over all configurations") {
  double worst = 0;
  for (const auto& [name, cfg] : configs())
    worst = std::max(worst, max_diff(run(cfg.make), kTorch.at(name)));
  MESSAGE("largest |xgrad - PyTorch 1.13| over ", configs().size(),
          " float64 trajectories: ", worst);
  CHECK(worst <= 1e-14);
  CHECK(configs().size() == kTorch.size());
}

TEST_CASE("optim: float32 parameters follow PyTorch 1.13's float32 trajectories") {
  // From tests/goldens/optimizers.py: run(O.Adam, torch.float32, lr=0.1) and
  // run(O.SGD, torch.float32, lr=0.1, momentum=0.9, nesterov=True).
  const Trajectory adam = {{0.9000000357627869, -1.899999976158142},
                           {0.8004122376441956, -1.8001664876937866},
                           {0.7015863060951233, -1.7006233930587769}};
  const Trajectory nesterov = {{0.8100000023841858, -0.8600000143051147},
                               {0.5751000046730042, 0.11619991064071655},
                               {0.32732102274894714, 0.696345865726471}};
  const Trajectory got_adam = run(make<Adam>(AdamOptions(0.1)), Dtype::float32);
  const Trajectory got_nesterov =
      run(make<SGD>(SGDOptions(0.1).momentum(0.9).nesterov(true)), Dtype::float32);
  check_close(got_adam, adam, 2e-7);
  check_close(got_nesterov, nesterov, 2e-7);
  MESSAGE("largest |xgrad - PyTorch 1.13| in float32: ",
          std::max(max_diff(got_adam, adam), max_diff(got_nesterov, nesterov)));
}
