// LR schedulers against PyTorch 1.13's get_last_lr() over 10-12 epochs, for an SGD optimizer with
// two groups (lr 0.1 and 0.05), plus their errors.
//
// Golden values: the output of tests/goldens/lr_scheduler.py (/usr/bin/python3, torch 1.13.0a0;
// see tests/goldens/README.md), one schedule per check below, in the same order.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "optim/optim.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using namespace xg::optim;

namespace {
using Schedule = std::vector<std::vector<double>>;  // get_last_lr() at epochs 0, 1, ...

/// SGD with two groups, lr 0.1 and 0.05.
std::unique_ptr<SGD> two_groups() {
  Tensor a = zeros({1}).requires_grad_(), b = zeros({1}).requires_grad_();
  return std::make_unique<SGD>(
      std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({b}, SGDOptions(0.05))}, SGDOptions(0.1));
}

/// get_last_lr() after construction and after each of n steps; also checks the groups agree.
Schedule run(const std::function<std::shared_ptr<LRScheduler>(Optimizer&)>& make, int n = 10) {
  std::unique_ptr<SGD> opt = two_groups();
  std::shared_ptr<LRScheduler> s = make(*opt);
  Schedule out = {s->get_last_lr()};
  for (int i = 0; i < n; ++i) {
    opt->step();
    s->step();
    out.push_back(s->get_last_lr());
    CHECK(opt->param_groups()[0].lr() == out.back()[0]);
  }
  return out;
}

void check_schedule(const Schedule& got, const Schedule& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t e = 0; e < got.size(); ++e)
    for (std::size_t g = 0; g < 2; ++g) {
      INFO("epoch ", e, ", group ", g, ": got ", got[e][g], ", want ", want[e][g]);
      CHECK(std::abs(got[e][g] - want[e][g]) <= 1e-15);
    }
}

using xg::test::error_of;

}  // namespace

TEST_CASE("optim: StepLR and MultiStepLR match PyTorch 1.13") {
  check_schedule(run([](Optimizer& o) { return std::make_shared<StepLR>(o, 3, 0.5); }),
                 {{0.1, 0.05},
                  {0.1, 0.05},
                  {0.1, 0.05},
                  {0.05, 0.025},
                  {0.05, 0.025},
                  {0.05, 0.025},
                  {0.025, 0.0125},
                  {0.025, 0.0125},
                  {0.025, 0.0125},
                  {0.0125, 0.00625},
                  {0.0125, 0.00625}});
  // A milestone listed twice (5) decays twice there.
  const double a = 0.010000000000000002, b = 0.005000000000000001;
  const double c = 0.00010000000000000005, d = 5.000000000000002e-05;
  check_schedule(run([](Optimizer& o) {
                   return std::make_shared<MultiStepLR>(o, std::vector<int64_t>{5, 2, 5}, 0.1);
                 }),
                 {{0.1, 0.05},
                  {0.1, 0.05},
                  {a, b},
                  {a, b},
                  {a, b},
                  {c, d},
                  {c, d},
                  {c, d},
                  {c, d},
                  {c, d},
                  {c, d}});
}

TEST_CASE("optim: ExponentialLR and CosineAnnealingLR match PyTorch 1.13") {
  check_schedule(run([](Optimizer& o) { return std::make_shared<ExponentialLR>(o, 0.9); }),
                 {{0.1, 0.05},
                  {0.09000000000000001, 0.045000000000000005},
                  {0.08100000000000002, 0.04050000000000001},
                  {0.07290000000000002, 0.03645000000000001},
                  {0.06561000000000002, 0.03280500000000001},
                  {0.05904900000000002, 0.02952450000000001},
                  {0.05314410000000002, 0.02657205000000001},
                  {0.04782969000000002, 0.02391484500000001},
                  {0.043046721000000024, 0.021523360500000012},
                  {0.03874204890000002, 0.01937102445000001},
                  {0.03486784401000002, 0.01743392200500001}});
  // T_max 4, eta_min 0.01 over 12 epochs: down to eta_min at 4, back up to base at 8 (period 8).
  check_schedule(
      run([](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 4, 0.01); }, 12),
      {{0.1, 0.05},
       {0.08681980515339464, 0.044142135623730955},
       {0.05500000000000001, 0.03},
       {0.023180194846605363, 0.01585786437626905},
       {0.01, 0.01},
       {0.023180194846605363, 0.01585786437626905},
       {0.05500000000000002, 0.030000000000000006},
       {0.08681980515339469, 0.04414213562373097},
       {0.10000000000000006, 0.050000000000000024},
       {0.0868198051533947, 0.044142135623730976},
       {0.05500000000000005, 0.03000000000000002},
       {0.023180194846605412, 0.01585786437626907},
       {0.01, 0.01}});
}

TEST_CASE("optim: LinearLR warmup and decay match PyTorch 1.13") {
  const double w = 0.10000000000000002, v = 0.05000000000000001;
  check_schedule(run([](Optimizer& o) { return std::make_shared<LinearLR>(o, 0.25, 1.0, 4); }),
                 {{0.025, 0.0125},
                  {0.043750000000000004, 0.021875000000000002},
                  {0.06250000000000001, 0.03125000000000001},
                  {0.08125000000000002, 0.04062500000000001},
                  {w, v},
                  {w, v},
                  {w, v},
                  {w, v},
                  {w, v},
                  {w, v},
                  {w, v}});
  const double e = 0.010000000000000002, f = 0.005000000000000001;
  check_schedule(run([](Optimizer& o) { return std::make_shared<LinearLR>(o, 1.0, 0.1, 5); }),
                 {{0.1, 0.05},
                  {0.08200000000000002, 0.04100000000000001},
                  {0.06400000000000002, 0.03200000000000001},
                  {0.04600000000000001, 0.023000000000000007},
                  {0.02800000000000001, 0.014000000000000005},
                  {e, f},
                  {e, f},
                  {e, f},
                  {e, f},
                  {e, f},
                  {e, f}});
}

TEST_CASE("optim: SequentialLR chains a warmup with a decay as PyTorch 1.13") {
  // LinearLR warmup over 3 epochs, then cosine annealing from the base lr (T_max 5).
  check_schedule(run([](Optimizer& o) {
                   auto warmup = std::make_shared<LinearLR>(o, 0.1, 1.0, 3);
                   auto cosine = std::make_shared<CosineAnnealingLR>(o, 5, 0.0);
                   return std::make_shared<SequentialLR>(
                       o, std::vector<std::shared_ptr<LRScheduler>>{warmup, cosine},
                       std::vector<int64_t>{3});
                 }),
                 {{0.010000000000000002, 0.005000000000000001},
                  {0.04, 0.02},
                  {0.07, 0.035},
                  {0.1, 0.05},
                  {0.09045084971874738, 0.04522542485937369},
                  {0.06545084971874737, 0.032725424859373686},
                  {0.03454915028125263, 0.017274575140626316},
                  {0.009549150281252633, 0.004774575140626317},
                  {0.0, 0.0},
                  {0.009549150281252628, 0.004774575140626314},
                  {0.03454915028125265, 0.017274575140626323}});
  // Three schedulers: each restarts from the base lr at its milestone.
  const double s1 = 0.010000000000000002, s2 = 0.005000000000000001;
  const double t1 = 0.0010000000000000002, t2 = 0.0005000000000000001;
  check_schedule(run([](Optimizer& o) {
                   auto warmup = std::make_shared<LinearLR>(o, 0.5, 1.0, 2);
                   auto expo = std::make_shared<ExponentialLR>(o, 0.5);
                   auto step = std::make_shared<StepLR>(o, 2, 0.1);
                   return std::make_shared<SequentialLR>(
                       o, std::vector<std::shared_ptr<LRScheduler>>{warmup, expo, step},
                       std::vector<int64_t>{2, 5});
                 }),
                 {{0.05, 0.025},
                  {0.07500000000000001, 0.037500000000000006},
                  {0.1, 0.05},
                  {0.05, 0.025},
                  {0.025, 0.0125},
                  {0.1, 0.05},
                  {0.1, 0.05},
                  {s1, s2},
                  {s1, s2},
                  {t1, t2},
                  {t1, t2}});
}

TEST_CASE("optim: ReduceLROnPlateau matches PyTorch 1.13") {
  {
    std::unique_ptr<SGD> opt = two_groups();
    ReduceLROnPlateau s(
        *opt, ReduceLROnPlateauOptions().patience(2).factor(0.5).cooldown(1).min_lr(0.02));
    const std::vector<double> metrics = {1.0,  0.9, 0.9, 0.95, 0.9, 0.91, 0.92,
                                         0.93, 0.5, 0.6, 0.7,  0.8, 0.9,  1.0};
    // Epoch 4 is the third bad epoch (> patience 2): halve; one cooldown epoch; the second
    // group stops at min_lr 0.02 at epoch 11.
    const Schedule want = {{0.1, 0.05},   {0.1, 0.05},   {0.1, 0.05},   {0.1, 0.05},
                           {0.05, 0.025}, {0.05, 0.025}, {0.05, 0.025}, {0.05, 0.025},
                           {0.05, 0.025}, {0.05, 0.025}, {0.05, 0.025}, {0.025, 0.02},
                           {0.025, 0.02}, {0.025, 0.02}};
    Schedule got;
    for (double m : metrics) {
      s.step(m);
      got.push_back(s.get_last_lr());
    }
    check_schedule(got, want);
    CHECK(s.best() == 0.5);
  }
  {
    std::unique_ptr<SGD> opt = two_groups();
    ReduceLROnPlateau s(*opt, ReduceLROnPlateauOptions()
                                  .mode(PlateauMode::max)
                                  .threshold_mode(ThresholdMode::abs)
                                  .threshold(0.02)
                                  .patience(1)
                                  .factor(0.1));
    const std::vector<double> metrics = {0.5, 0.55, 0.56, 0.5605, 0.57, 0.571, 0.6, 0.6, 0.6, 0.6};
    const double a = 0.010000000000000002, b = 0.005000000000000001;
    const double c = 0.0010000000000000002, d = 0.0005000000000000001;
    const Schedule want = {{0.1, 0.05}, {0.1, 0.05}, {0.1, 0.05}, {a, b}, {a, b},
                           {a, b},      {a, b},      {a, b},      {c, d}, {c, d}};
    Schedule got;
    for (double m : metrics) {
      s.step(m);
      got.push_back(s.get_last_lr());
    }
    check_schedule(got, want);
  }
}

TEST_CASE("optim: LR schedulers act on any optimizer and share the initial lr") {
  Tensor x = zeros({2}).requires_grad_();
  Adam adam({x}, AdamOptions(0.01));
  StepLR s(adam, 1, 0.5);
  CHECK(adam.param_groups()[0].initial_lr() == 0.01);
  s.step();
  CHECK(adam.param_groups()[0].lr() == 0.005);
  // A second scheduler's base lr is the initial lr, not the current one.
  ExponentialLR e(adam, 0.9);
  CHECK(e.base_lrs() == std::vector<double>{0.01});
  CHECK(s.last_epoch() == 1);
  // The closed form jumps to any epoch.
  s.step(int64_t{3});
  CHECK(adam.param_groups()[0].lr() == doctest::Approx(0.01 * 0.125));
}

TEST_CASE("optim: LR scheduler errors") {
  std::unique_ptr<SGD> opt = two_groups();
  CHECK(error_of([&] { StepLR(*opt, 0); }) == "StepLR: step_size must be positive, got 0");
  CHECK(error_of([&] { CosineAnnealingLR(*opt, 0); }) ==
        "CosineAnnealingLR: T_max must be positive, got 0");
  CHECK(error_of([&] { LinearLR(*opt, 1.5); }) ==
        "LinearLR: starting multiplicative factor expected to be in (0, 1], got 1.5");
  CHECK(error_of([&] { LinearLR(*opt, 0.5, -0.1); }) ==
        "LinearLR: ending multiplicative factor expected to be between 0 and 1, got -0.1");
  CHECK(error_of([&] { LinearLR(*opt, 0.5, 1.0, 0); }) ==
        "LinearLR: total_iters must be positive, got 0");
  CHECK(error_of([&] { ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().factor(1.0)); }) ==
        "ReduceLROnPlateau: factor should be < 1.0, got 1.0");
  auto a = std::make_shared<StepLR>(*opt, 2);
  CHECK(error_of([&] { SequentialLR(*opt, {a}, {3}); }) ==
        "SequentialLR: expects number of schedulers provided to be one more than the number "
        "of milestone points, but got number of schedulers 1 and the number of milestones "
        "to be equal to 1");
  std::unique_ptr<SGD> other = two_groups();
  auto b = std::make_shared<StepLR>(*other, 2);
  CHECK(error_of([&] {
          SequentialLR(*opt, {a, b}, {3});
        }) ==
        "SequentialLR: expects all schedulers to belong to the same optimizer, but got "
        "scheduler at index 1 to be different than the optimizer passed in");
}
