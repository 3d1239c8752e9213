// Tutorial 01: autograd from scalars to tensors.
//
// A single neuron o = tanh(x1 w1 + x2 w2 + b), first on scalars (micrograd's example), then on a
// batch of inputs as tensors. Each time backward() fills .grad() of the leaves, and the program
// prints those gradients next to the ones derived by hand (tutorials/01_autograd_basics.md)
// and draws the recorded graph.
//
// Run:  ./build/tutorials/01_autograd_basics [--out DIR] [--quick]
//   --out DIR  where the graph pictures go (default runs/01_autograd_basics; created)
//   --quick    accepted for uniformity with the other tutorials (this one is always quick)
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "autograd/autograd.hpp"
#include "viz/viz.hpp"

using namespace xg;

/// Prints one gradient next to its hand-derived value; returns whether they agree.
static bool check(const char* name, double autograd, double by_hand) {
  const bool ok = std::abs(autograd - by_hand) < 1e-9;
  std::printf("  d o / d %-3s autograd %10.6f   by hand %10.6f   %s\n", name, autograd, by_hand,
              ok ? "ok" : "MISMATCH");
  return ok;
}

int main(int argc, char** argv) try {
  CLI::App app{"Tutorial 01: autograd from scalars to tensors"};
  std::string out = "runs/01_autograd_basics";
  bool quick = false;
  app.add_option("--out", out, "output folder (created)");
  app.add_flag("--quick", quick, "no effect: this tutorial is always quick");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; a bad argument: 2
  }
  std::filesystem::create_directories(out);
  bool all_ok = true;

  // 1. Scalars. Each leaf is a 0-d float64 tensor that requires grad; every op on it records a
  //    node of the graph (o.grad_fn() is TanhBackward, whose input is AddBackward, ...).
  auto leaf = [](double v, const char* name) {
    Tensor t = scalar_tensor(v, Dtype::float64).requires_grad_();
    t.set_name(name);  // shown in the graph picture
    return t;
  };
  Tensor x1 = leaf(2.0, "x1"), x2 = leaf(0.0, "x2");   // inputs
  Tensor w1 = leaf(-3.0, "w1"), w2 = leaf(1.0, "w2");  // weights
  Tensor b = leaf(6.8813735870195432, "b");            // bias (makes n = 0.8814, o = 0.7071)
  Tensor n = x1 * w1 + x2 * w2 + b;
  Tensor o = tanh(n);
  o.set_name("o");
  o.retain_grad();  // keep do/do = 1 for the picture (only leaves keep .grad() by default)
  o.backward();     // do/do = 1, then the chain rule backwards through the graph
  const double ov = o.item<double>();
  std::printf("scalars: n = %.4f, o = tanh(n) = %.4f\n", n.item<double>(), ov);

  // By hand: do/dn = 1 - tanh(n)^2; n is a sum, so dn/db = 1 and dn/dw1 = x1, dn/dx1 = w1, ...
  const double do_dn = 1 - ov * ov;
  all_ok &= check("x1", x1.grad().item<double>(), w1.item<double>() * do_dn);
  all_ok &= check("w1", w1.grad().item<double>(), x1.item<double>() * do_dn);
  all_ok &= check("x2", x2.grad().item<double>(), w2.item<double>() * do_dn);
  all_ok &= check("w2", w2.grad().item<double>(), x2.item<double>() * do_dn);
  all_ok &= check("b", b.grad().item<double>(), do_dn);

  // The graph, micrograd style: every leaf and the output as a `name | data | grad` record.
  const auto scalar_graph = viz::GraphOptions().show_values(true).rankdir("LR").title(
      "o = tanh(x1 w1 + x2 w2 + b), after o.backward()");
  for (const char* ext : {".svg", ".png"})
    viz::render({o}, out + "/scalar_graph" + ext, scalar_graph);

  // 2. Tensors: the same neuron on a batch of 4 inputs at once.
  //    X [4, 2] (one input per row), w [2], b [] ; o = tanh(X w + b) [4]; L = sum(o) [].
  Tensor X = tensor({1, 2, -1, 0.5, 0.3, -0.8, 2, 1}, {4, 2}, Dtype::float64);
  Tensor w = tensor({0.5, -0.25}, {2}, Dtype::float64).requires_grad_();
  Tensor bias = scalar_tensor(0.1, Dtype::float64).requires_grad_();
  Tensor ob = tanh(matmul(X, w) + bias);  // [4, 2] @ [2] -> [4], + b broadcast
  Tensor L = ob.sum();
  L.set_name("L");
  L.retain_grad();
  L.backward();  // backward of a 0-d tensor needs no seed gradient

  // By hand: dL/do_i = 1, do_i/ds_i = 1 - o_i^2 =: g [4]; s = X w + b, so dL/dw = X^T g [2]
  // and dL/db = sum_i g_i. Both with tensor ops outside the graph (under NoGradGuard).
  Tensor g_w, g_b;
  {
    NoGradGuard no_grad;
    Tensor g = 1.0 - ob * ob;
    g_w = matmul(transpose(X, 0, 1), g);
    g_b = g.sum();
  }
  std::cout << "\ntensors: o = tanh(X w + b) = " << ob.detach() << "\n"
            << "  dL/dw autograd " << w.grad() << "\n"
            << "  dL/dw by hand  " << g_w << "\n"
            << "  dL/db autograd " << bias.grad() << "\n"
            << "  dL/db by hand  " << g_b << "\n";
  const double gap = std::max(abs(w.grad() - g_w).max().item<double>(),
                              std::abs(bias.grad().item<double>() - g_b.item<double>()));
  std::printf("  largest difference %.1e %s\n", gap, gap < 1e-12 ? "ok" : "MISMATCH");
  all_ok &= gap < 1e-12;

  // Its graph: op nodes with output shapes; the parameters named and small tensors' values.
  const auto tensor_graph = viz::GraphOptions()
                                .parameters({{"w", w}, {"b", bias}, {"X", X}})
                                .show_values(true)
                                .title("L = sum(tanh(X w + b)), X [4, 2]");
  for (const char* ext : {".svg", ".png"})
    viz::render({L}, out + "/tensor_graph" + ext, tensor_graph);

  std::printf("\npictures: %s/scalar_graph.{svg,png} and %s/tensor_graph.{svg,png}\n", out.c_str(),
              out.c_str());
  return all_ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "01_autograd_basics: " << e.what() << "\n";
  return 2;
}
