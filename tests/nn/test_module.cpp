// nn::Module: registry, naming, traversal, modes, state_dict strictness, printing, scopes.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"

using namespace xg;

namespace {
/// A leaf module with a weight, an optional bias and a buffer.
struct Affine : nn::Module {
  explicit Affine(std::size_t n, bool bias = true) : Module("Affine") {
    register_parameter("weight", ones({n}));
    register_parameter("bias", bias ? zeros({n}) : Tensor());
    register_buffer("calls", zeros({1}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x * local("weight");
    return local("bias").defined() ? y + local("bias") : y;
  }
  std::string extra_repr() const override { return "n=" + std::to_string(n_); }
  std::size_t n_ = 0;
};

struct Net : nn::Module {
  std::shared_ptr<Affine> a, b;
  std::shared_ptr<nn::Module> inner;
  Net() : Module("Net") {
    a = register_module("a", std::make_shared<Affine>(3));
    inner = register_module("inner", std::make_shared<nn::Module>("Block"));
    b = inner->register_module("b", std::make_shared<Affine>(3, false));
  }
  Tensor forward(const Tensor& x) override { return (*b)((*a)(x)); }
};
}  // namespace

TEST_CASE("nn::Module registers parameters, buffers and children with dotted names") {
  auto net = std::make_shared<Net>();
  std::vector<std::string> names;
  for (auto& [name, p] : net->named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"a.weight", "a.bias", "inner.b.weight"});
  CHECK(net->parameters().size() == 3);
  CHECK(net->parameters(false).empty());
  names.clear();
  for (auto& [name, t] : net->named_buffers()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"a.calls", "inner.b.calls"});
  names.clear();
  for (auto& [name, m] : net->named_modules()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"", "a", "inner", "inner.b"});
  CHECK(net->named_modules()[0].second.get() == static_cast<nn::Module*>(net.get()));
  CHECK(net->children().size() == 2);
  for (const Tensor& p : net->parameters()) CHECK(p.requires_grad());
}

TEST_CASE("nn::Module rejects bad names, duplicates and non-leaf parameters") {
  nn::Module m("M");
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_WITH_AS(m.register_parameter("w", zeros({2})),
                       "M.register_parameter: the name \"w\" is already registered in this module",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.register_buffer("", zeros({2})),
                       "M.register_buffer: the name must not be empty", std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.register_module("a.b", std::make_shared<nn::Module>()),
                       "M.register_module: the name \"a.b\" must not contain '.'",
                       std::invalid_argument);
  Tensor x = ones({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(m.register_parameter("y", x * 2.0),
                       "M.register_parameter: parameter \"y\" was made by MulBackward; register a "
                       "leaf (use detach())",
                       std::invalid_argument);
  CHECK_THROWS_AS(m.register_parameter("i", zeros({2}, Dtype::int64)), std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.forward(x), "M: forward(const Tensor&) is not implemented by this module",
                       std::invalid_argument);
}

TEST_CASE("nn::Module train/eval, zero_grad, apply and to(dtype) reach every descendant") {
  auto net = std::make_shared<Net>();
  net->eval();
  CHECK(!net->is_training());
  CHECK(!net->b->is_training());
  net->train();
  CHECK(net->inner->is_training());
  Tensor y = (*net)(ones({3}));
  sum(y).backward();
  CHECK(net->a->local("weight").grad().defined());
  net->zero_grad(false);
  CHECK(net->a->local("weight").grad().to_vector<double>() == std::vector<double>{0, 0, 0});
  net->zero_grad();
  CHECK(!net->a->local("weight").grad().defined());
  int visited = 0;
  net->apply([&](nn::Module&) { ++visited; });
  CHECK(visited == 4);
  net->to(Dtype::float64);
  for (auto& [name, t] : net->state_dict()) CHECK(t.dtype() == Dtype::float64);
  for (const Tensor& p : net->parameters()) CHECK(p.requires_grad());
}

TEST_CASE(
    "nn::Module state_dict round trip; strict loading reports every problem and changes "
    "nothing") {
  auto net = std::make_shared<Net>();
  auto other = std::make_shared<Net>();
  {
    NoGradGuard no_grad;
    other->a->local("weight").fill_(7);
  }
  net->load_state_dict(other->state_dict());
  CHECK(net->a->local("weight").to_vector<double>() == std::vector<double>{7, 7, 7});
  CHECK(!net->a->local("weight").is_same(other->a->local("weight")));

  nn::NamedTensors bad = other->state_dict();
  bad.erase(bad.begin());                        // a.weight missing
  bad[0].second = zeros({4});                    // a.bias mis-shaped
  bad.emplace_back("extra.weight", zeros({1}));  // unexpected
  {
    NoGradGuard no_grad;
    other->inner->named_parameters();
  }
  const std::vector<double> before = net->a->local("bias").to_vector<double>();
  CHECK_THROWS_WITH_AS(
      net->load_state_dict(bad),
      "Net.load_state_dict: nothing was loaded; mismatched: a.bias (checkpoint [4] float32, "
      "model [3] float32); missing keys: a.weight; unexpected keys: extra.weight",
      std::invalid_argument);
  CHECK(net->a->local("bias").to_vector<double>() == before);
  // Non-strict: missing and unexpected keys are allowed, a shape mismatch still is not.
  bad[0].second = full({3}, 2.0);
  net->load_state_dict(bad, false);
  CHECK(net->a->local("bias").to_vector<double>() == std::vector<double>{2, 2, 2});
}

TEST_CASE("nn::Module prints like PyTorch and summarizes parameter counts") {
  auto net = std::make_shared<Net>();
  CHECK(net->to_string() ==
        "Net(\n  (a): Affine(n=0)\n  (inner): Block(\n    (b): Affine(n=0)\n  )\n)");
  const std::string s = net->summary();
  CHECK(s.find("total parameters: 9 (trainable 9), buffers: 2 elements") != std::string::npos);
  CHECK(s.find("inner.b (Affine)") != std::string::npos);
}

TEST_CASE("nodes recorded inside a module's forward carry its dotted path") {
  auto net = std::make_shared<Net>();
  Tensor y = (*net)(ones({3}));
  REQUIRE(static_cast<bool>(y.grad_fn()));
  REQUIRE(y.grad_fn()->scope() != nullptr);
  CHECK(*y.grad_fn()->scope() == "inner.b");  // the last op ran inside inner.b
  const Node* add_node = y.grad_fn()->next_functions()[0]->next_functions()[0].get();
  REQUIRE(add_node->scope() != nullptr);
  CHECK(*add_node->scope() == "a");
  CHECK(current_scope() == nullptr);
  Tensor z = ones({3}).requires_grad_() * 2.0;
  CHECK(z.grad_fn()->scope() == nullptr);
}
