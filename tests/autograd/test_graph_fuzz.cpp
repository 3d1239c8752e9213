// The random-graph generator itself: 50 graphs pass gradcheck and gradgradcheck (the 2,000-graph
// run is the `graph_fuzz_2000` ctest entry), and a seed always prints the same code, which
// compiles and rebuilds the graph.
#include <doctest/doctest.h>

#include <string>

#include "autograd/autograd.hpp"
#include "nn/functional.hpp"
#include "tests/autograd/graph_fuzz.hpp"

using xg::fuzz::graph_code;
using xg::fuzz::run_graph;

TEST_CASE("graph_fuzz: 50 random graphs pass gradcheck, gradgradcheck and the in-place probes") {
  for (uint64_t seed = 1000; seed < 1050; ++seed) {
    const auto r = run_graph(seed);
    INFO("seed " << seed << "\n" << r.code << "\n" << r.message);
    CHECK(r.ok);
    CHECK(r.steps >= 3);
  }
}

// What graph_code(55) printed when this test was written (the generator changes it only when its
// choices change; then paste the new text here and into the compiled twin below).
const char* const kSeed55 = R"(// graph_fuzz seed 55
using namespace xg;
namespace F = xg::nn::functional;
Tensor x0 = xg::tensor({0.151}, {1}, Dtype::float64).requires_grad_();
Tensor x1 = xg::tensor({1.453}, {1}, Dtype::float64).requires_grad_();
auto fn = [](const xg::TensorList& in) {
  Tensor t0 = in[0];
  Tensor t1 = xg::clamp(t0, std::nullopt, 0.000);
  Tensor t2 = in[1];
  Tensor t3 = xg::add(t2, t1 * 2.000);
  t3.copy_(t1);
  return t3;
};
xg::manual_seed(55);
xg::gradcheck(fn, {x0, x1});
xg::gradgradcheck(fn, {x0, x1});
// probe on the graph's output:
Tensor t3 = fn({x0, x1});
Tensor p = (t3.tanh() * 0.5).clone();
Tensor q = xg::sigmoid(p);
p.add_(0.5);
q.mul_(2.0);
q.sum().backward();  // must throw (in-place)
)";

TEST_CASE("graph_fuzz: the code printed for a seed is stable") {
  const std::string a = graph_code(55);
  CHECK(a == graph_code(55));
  CHECK(a != graph_code(56));
  CHECK(a == kSeed55);
}

TEST_CASE("graph_fuzz: the printed code compiles and passes the same checks") {
  // kSeed55 pasted as code
  // graph_fuzz seed 55
  using namespace xg;
  namespace F = xg::nn::functional;
  Tensor x0 = xg::tensor({0.151}, {1}, Dtype::float64).requires_grad_();
  Tensor x1 = xg::tensor({1.453}, {1}, Dtype::float64).requires_grad_();
  auto fn = [](const xg::TensorList& in) {
    Tensor t0 = in[0];
    Tensor t1 = xg::clamp(t0, std::nullopt, 0.000);
    Tensor t2 = in[1];
    Tensor t3 = xg::add(t2, t1 * 2.000);
    t3.copy_(t1);
    return t3;
  };
  xg::manual_seed(55);
  CHECK(xg::gradcheck(fn, {x0, x1}));
  CHECK(xg::gradgradcheck(fn, {x0, x1}));
  // probe on the graph's output:
  Tensor t3 = fn({x0, x1});
  Tensor p = (t3.tanh() * 0.5).clone();
  Tensor q = xg::sigmoid(p);
  p.add_(0.5);
  q.mul_(2.0);
  CHECK_THROWS_WITH(q.sum().backward(), doctest::Contains("in-place"));  // the probe
  CHECK(t3.defined());
}
