// The Optimizer base: parameter groups, zero_grad, step(closure), in-place updates and version
// counters, state_dict round trips, and every option-validation error message.
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
/// loss = 0.5 * sum(c * x^2) + sum(b) for x [2] and b [3] (float64).
struct Problem {
  Tensor x = tensor({1.0, -2.0}, {2}, Dtype::float64).requires_grad_();
  Tensor b = tensor({0.5, 0.25, -1.0}, {3}, Dtype::float64).requires_grad_();
  Tensor c = tensor({1.0, 3.0}, {2}, Dtype::float64);
  Tensor loss() const { return 0.5 * (c * x * x).sum() + (b * b).sum(); }
  std::vector<Tensor> params() const { return {x, b}; }
};

void train(Optimizer& opt, const Problem& p, int steps) {
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    p.loss().backward();
    opt.step();
  }
}

using xg::test::error_of;

/// Optimizers that keep state, built on the params of `p`.
std::vector<std::function<std::unique_ptr<Optimizer>(const Problem&)>> stateful() {
  return {
      [](const Problem& p) {
        return std::make_unique<SGD>(p.params(), SGDOptions(0.05).momentum(0.9).nesterov(true));
      },
      [](const Problem& p) {
        return std::make_unique<Adam>(p.params(), AdamOptions(0.05).amsgrad(true));
      },
      [](const Problem& p) { return std::make_unique<AdamW>(p.params(), AdamWOptions(0.05)); },
      [](const Problem& p) {
        return std::make_unique<RMSprop>(p.params(),
                                         RMSpropOptions(0.01).momentum(0.5).centered(true));
      },
      [](const Problem& p) {
        return std::make_unique<Adagrad>(p.params(), AdagradOptions(0.1).lr_decay(0.1));
      },
  };
}
}  // namespace

TEST_CASE("optim: parameter groups have their own options") {
  Problem p;
  // No weight decay on the "bias" b; a larger lr for x.
  SGD opt({ParamGroup({p.x}, SGDOptions(0.2)), ParamGroup({p.b})},
          SGDOptions(0.1).weight_decay(0.5));
  REQUIRE(opt.param_groups().size() == 2);
  CHECK(opt.param_groups()[0].lr() == 0.2);
  CHECK(static_cast<const SGDOptions&>(opt.param_groups()[0].options()).weight_decay() == 0.0);
  CHECK(opt.param_groups()[1].lr() == 0.1);
  CHECK(static_cast<const SGDOptions&>(opt.param_groups()[1].options()).weight_decay() == 0.5);
  train(opt, p, 1);
  // x: g = c x, lr 0.2 -> [1 - 0.2, -2 + 0.2*6] = [0.8, -0.8]
  CHECK(p.x.to_vector<double>()[0] == doctest::Approx(0.8));
  CHECK(p.x.to_vector<double>()[1] == doctest::Approx(-0.8));
  // b: g = 2 b + 0.5 b = 2.5 b, lr 0.1 -> 0.75 b
  CHECK(p.b.to_vector<double>()[0] == doctest::Approx(0.375));
  // add_param_group takes the defaults; set_lr changes one group only.
  Tensor z = zeros({1}, Dtype::float64).requires_grad_();
  opt.add_param_group(ParamGroup({z}));
  CHECK(opt.param_groups().size() == 3);
  CHECK(opt.param_groups()[2].lr() == 0.1);
  opt.param_groups()[0].set_lr(0.01);
  CHECK(opt.param_groups()[0].lr() == 0.01);
  CHECK(opt.param_groups()[1].lr() == 0.1);
  CHECK(opt.state().size() == 3);
}

TEST_CASE("optim: zero_grad sets to none or zero-fills; undefined grads are skipped") {
  Problem p;
  SGD opt(p.params(), SGDOptions(0.1).momentum(0.9));
  p.loss().backward();
  opt.zero_grad(false);
  REQUIRE(p.x.grad().defined());
  CHECK(p.x.grad().to_vector<double>() == std::vector<double>{0.0, 0.0});
  opt.zero_grad();
  CHECK_FALSE(p.x.grad().defined());
  // Only x gets a gradient: b is left untouched and gets no state.
  (0.5 * (p.c * p.x * p.x).sum()).backward();
  opt.step();
  CHECK(p.b.to_vector<double>() == std::vector<double>{0.5, 0.25, -1.0});
  CHECK(opt.state()[0][0].step == 1);
  CHECK(opt.state()[0][1].step == 0);
  CHECK(opt.state()[0][1].buffers.empty());
}

TEST_CASE("optim: step(closure) evaluates the loss with grad mode on and updates") {
  Problem p;
  Adam opt(p.params(), AdamOptions(0.1));
  NoGradGuard no_grad;  // the closure still records its graph
  int calls = 0;
  Tensor loss = opt.step([&] {
    ++calls;
    opt.zero_grad();
    Tensor l = p.loss();
    l.backward();
    return l;
  });
  CHECK(calls == 1);
  CHECK(loss.item<double>() == doctest::Approx(0.5 * (1 + 12) + 0.25 + 0.0625 + 1));
  CHECK(p.x.to_vector<double>()[0] == doctest::Approx(0.9));
  CHECK_FALSE(opt.step(LossClosure()).defined());  // no closure: just a step, no loss
}

TEST_CASE("optim: updates are in place, bump versions, record no graph, allocate state once") {
  Problem p;
  Adam opt(p.params(), AdamOptions(0.1).amsgrad(true));
  const double* x_data = p.x.data_ptr<double>();
  const uint32_t v0 = p.x.version();
  train(opt, p, 1);
  CHECK(p.x.version() == v0 + 1);
  CHECK(p.x.data_ptr<double>() == x_data);
  CHECK(p.x.is_leaf());
  const ParamState& st = opt.state()[0][0];
  CHECK(st.buffers.size() == 3);  // exp_avg, exp_avg_sq, max_exp_avg_sq
  const double* m_data = st.buffers.at("exp_avg").data_ptr<double>();
  train(opt, p, 2);
  CHECK(p.x.version() == v0 + 3);
  CHECK(st.buffers.at("exp_avg").data_ptr<double>() == m_data);  // no new buffer per step
  CHECK(st.step == 3);
  // A graph saved before the update sees the change.
  Tensor y = p.x * p.x;
  p.x.set_grad(ones({2}, Dtype::float64));
  opt.step();
  CHECK_THROWS_WITH_AS(y.sum().backward(), doctest::Contains("modified by an in-place operation"),
                       std::runtime_error);
}

TEST_CASE("optim: state_dict round trip continues the trajectory exactly") {
  for (auto& make : stateful()) {
    Problem a;
    std::unique_ptr<Optimizer> opt_a = make(a);
    INFO(opt_a->name());
    train(*opt_a, a, 3);
    const OptimizerStateDict saved = opt_a->state_dict();
    CHECK(saved.optimizer == opt_a->name());
    // A fresh optimizer on a copy of the parameters, loaded from the dict.
    Problem b;
    {
      NoGradGuard no_grad;
      b.x.copy_(a.x);
      b.b.copy_(a.b);
    }
    std::unique_ptr<Optimizer> opt_b = make(b);
    opt_b->param_groups()[0].set_lr(123.0);  // overwritten by the load
    opt_b->load_state_dict(saved);
    CHECK(opt_b->param_groups()[0].lr() == opt_a->param_groups()[0].lr());
    train(*opt_a, a, 4);
    train(*opt_b, b, 4);
    CHECK(a.x.to_vector<double>() == b.x.to_vector<double>());
    CHECK(a.b.to_vector<double>() == b.b.to_vector<double>());
    // The dict holds copies: training on did not change it.
    const OptimizerStateDict again = opt_a->state_dict();
    CHECK(saved.groups[0].state[0].step == 3);
    CHECK(again.groups[0].state[0].step == 7);
  }
}

TEST_CASE("optim: a failed load_state_dict names the mismatch and changes nothing") {
  Problem p;
  SGD opt(p.params(), SGDOptions(0.1).momentum(0.9));
  train(opt, p, 2);
  const OptimizerStateDict before = opt.state_dict();
  const std::vector<double> buf_before =
      opt.state()[0][0].buffers.at("momentum_buffer").to_vector<double>();

  OptimizerStateDict bad = before;
  bad.optimizer = "Adam";
  CHECK(error_of([&] { opt.load_state_dict(bad); }) ==
        "SGD: load_state_dict: the state dict was saved by Adam");
  bad = before;
  bad.groups.push_back(bad.groups[0]);
  CHECK(error_of([&] { opt.load_state_dict(bad); }) ==
        "SGD: load_state_dict: the state dict has 2 parameter groups, the optimizer has 1");
  bad = before;
  bad.groups[0].shapes.pop_back();
  bad.groups[0].state.pop_back();
  CHECK(error_of([&] { opt.load_state_dict(bad); }) ==
        "SGD: load_state_dict: group 0 of the state dict has 1 parameters, the optimizer's has 2");
  bad = before;
  bad.groups[0].shapes[1] = {4};
  CHECK(error_of([&] { opt.load_state_dict(bad); }) ==
        "SGD: load_state_dict: parameter 1 of group 0 has shape [3] but the state dict's has "
        "shape [4]");
  // Options load before state: a bad buffer later in the dict must not leave a changed lr behind.
  bad = before;
  bad.groups[0].doubles["lr"] = 0.5;
  bad.groups[0].state[1].buffers["momentum_buffer"] = zeros({2, 2}, Dtype::float64);
  CHECK(error_of([&] { opt.load_state_dict(bad); }) ==
        "SGD: load_state_dict: state \"momentum_buffer\" of parameter 1 of group 0 has shape "
        "[2, 2], expected [3]");
  bad = before;
  bad.groups[0].doubles.erase("momentum");
  CHECK(error_of([&] { opt.load_state_dict(bad); }) ==
        "SGD: load_state_dict: group 0 has no option \"momentum\"");
  bad = before;
  bad.groups[0].doubles["lr"] = -1.0;
  CHECK(error_of([&] { opt.load_state_dict(bad); }) == "SGD: invalid learning rate: -1.0");

  CHECK(opt.param_groups()[0].lr() == 0.1);
  CHECK(opt.state()[0][0].buffers.at("momentum_buffer").to_vector<double>() == buf_before);
  CHECK(opt.state()[0][0].step == 2);
}

TEST_CASE("optim: option validation errors mirror PyTorch's messages") {
  Problem p;
  const std::vector<Tensor> ps = p.params();
  auto err = [&](const std::function<void()>& f) { return error_of(f); };
  // SGD
  CHECK(err([&] { SGD(ps, SGDOptions(-0.1)); }) == "SGD: invalid learning rate: -0.1");
  CHECK(err([&] { SGD(ps, SGDOptions(0.1).momentum(-0.5)); }) ==
        "SGD: invalid momentum value: -0.5");
  CHECK(err([&] { SGD(ps, SGDOptions(0.1).weight_decay(-1)); }) ==
        "SGD: invalid weight_decay value: -1.0");
  CHECK(err([&] { SGD(ps, SGDOptions(0.1).nesterov(true)); }) ==
        "SGD: Nesterov momentum requires a momentum and zero dampening (momentum 0.0, "
        "dampening 0.0)");
  CHECK(err([&] { SGD(ps, SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)); }) ==
        "SGD: Nesterov momentum requires a momentum and zero dampening (momentum 0.9, "
        "dampening 0.1)");
  // Adam and AdamW
  CHECK(err([&] { Adam(ps, AdamOptions(-1e-3)); }) == "Adam: invalid learning rate: -0.001");
  CHECK(err([&] { Adam(ps, AdamOptions().eps(-1e-8)); }) == "Adam: invalid epsilon value: -1e-08");
  CHECK(err([&] {
          Adam(ps, AdamOptions().betas({1.0, 0.999}));
        }) == "Adam: invalid beta parameter at index 0: 1.0");
  CHECK(err([&] {
          Adam(ps, AdamOptions().betas({0.9, -0.1}));
        }) == "Adam: invalid beta parameter at index 1: -0.1");
  CHECK(err([&] { Adam(ps, AdamOptions().weight_decay(-0.1)); }) ==
        "Adam: invalid weight_decay value: -0.1");
  CHECK(err([&] { AdamW(ps, AdamWOptions(-1)); }) == "AdamW: invalid learning rate: -1.0");
  CHECK(err([&] {
          AdamW(ps, AdamWOptions().betas({0.9, 1.5}));
        }) == "AdamW: invalid beta parameter at index 1: 1.5");
  CHECK(err([&] { AdamW(ps, AdamWOptions().eps(-1)); }) == "AdamW: invalid epsilon value: -1.0");
  CHECK(err([&] { AdamW(ps, AdamWOptions().weight_decay(-1)); }) ==
        "AdamW: invalid weight_decay value: -1.0");
  // RMSprop
  CHECK(err([&] { RMSprop(ps, RMSpropOptions(-0.01)); }) ==
        "RMSprop: invalid learning rate: -0.01");
  CHECK(err([&] { RMSprop(ps, RMSpropOptions().eps(-1)); }) ==
        "RMSprop: invalid epsilon value: -1.0");
  CHECK(err([&] { RMSprop(ps, RMSpropOptions().momentum(-0.9)); }) ==
        "RMSprop: invalid momentum value: -0.9");
  CHECK(err([&] { RMSprop(ps, RMSpropOptions().weight_decay(-0.1)); }) ==
        "RMSprop: invalid weight_decay value: -0.1");
  CHECK(err([&] { RMSprop(ps, RMSpropOptions().alpha(-0.99)); }) ==
        "RMSprop: invalid alpha value: -0.99");
  // Adagrad
  CHECK(err([&] { Adagrad(ps, AdagradOptions(-0.01)); }) ==
        "Adagrad: invalid learning rate: -0.01");
  CHECK(err([&] { Adagrad(ps, AdagradOptions().lr_decay(-1)); }) ==
        "Adagrad: invalid lr_decay value: -1.0");
  CHECK(err([&] { Adagrad(ps, AdagradOptions().weight_decay(-1)); }) ==
        "Adagrad: invalid weight_decay value: -1.0");
  CHECK(err([&] { Adagrad(ps, AdagradOptions().initial_accumulator_value(-0.1)); }) ==
        "Adagrad: invalid initial_accumulator_value value: -0.1");
  CHECK(err([&] { Adagrad(ps, AdagradOptions().eps(-1e-10)); }) ==
        "Adagrad: invalid epsilon value: -1e-10");
  // NaN is rejected too.
  CHECK(err([&] { SGD(ps, SGDOptions(std::nan(""))); }) == "SGD: invalid learning rate: nan");
}

TEST_CASE("optim: parameter and group errors name the optimizer and the problem") {
  Problem p;
  auto err = [&](const std::function<void()>& f) { return error_of(f); };
  CHECK(err([&] { SGD(std::vector<Tensor>{}, SGDOptions(0.1)); }) ==
        "SGD: optimizer got an empty parameter list (from a model's parameters()? its layers must "
        "be registered with register_module)");
  CHECK(err([&] {
          SGD({ParamGroup({p.x}), ParamGroup(std::vector<Tensor>{})}, SGDOptions(0.1));
        }) == "SGD: parameter group 1 has no parameters");
  CHECK(err([&] { SGD(std::vector<ParamGroup>{}, SGDOptions(0.1)); }) ==
        "SGD: optimizer got an empty parameter list (from a model's parameters()? its layers must "
        "be registered with register_module)");
  CHECK(err([&] {
          SGD({p.x, p.x}, SGDOptions(0.1));
        }) ==
        "SGD: some parameters appear in more than one parameter group (parameter 1 of group 0, "
        "shape [2])");
  Tensor y = p.x * 2.0;
  CHECK(err([&] {
          Adam({p.b, y}, AdamOptions());
        }) ==
        "Adam: can't optimize a non-leaf tensor (parameter 1 of group 0, shape [2], made by "
        "MulBackward)");
  CHECK(err([&] { Adam({ParamGroup({p.x}, SGDOptions(0.1))}, AdamOptions()); }) ==
        "Adam: parameter group 0 has options of another optimizer (SGD)");
  CHECK(err([&] { SGD({ParamGroup({p.x}, SGDOptions(-2))}, SGDOptions(0.1)); }) ==
        "SGD: invalid learning rate: -2.0");
  SGD opt({p.x}, SGDOptions(0.1));
  CHECK(err([&] { opt.add_param_group(ParamGroup({p.x})); }) ==
        "SGD: some parameters appear in more than one parameter group (parameter 0 of group 1, "
        "shape [2])");
  CHECK(opt.param_groups().size() == 1);  // the failed add left the optimizer unchanged
}
