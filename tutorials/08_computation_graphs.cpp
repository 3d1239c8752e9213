// Tutorial 08: computation graphs. The forward pass records a graph (one node per op); backward
// walks it in reverse. We draw (1) one training step of the MLP 784-256-128-10 on a batch of
// Fashion-MNIST images, with the parameters named, one cluster per module and the tensors each
// op saves for backward; (2) the graph of a derivative: backward with create_graph=true records
// its own ops, so dy/dx is a tensor with a graph that can be differentiated again; (3) the
// double-backward graph of a Hessian-vector product H v = d/dtheta (grad L . v) of a small MLP,
// checked against finite differences.
//
// Run:  ./build/tutorials/08_computation_graphs [--out DIR] [--quick]   (--quick: same, < 1 s)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

/// Number of op nodes (not leaves) in the graph behind t: a graph is a plain data structure.
static std::size_t count_ops(const Tensor& t) {
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> todo{t.grad_fn().get()};
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n).second) continue;
    for (const auto& next : n->next_functions()) todo.push_back(next.get());
  }
  std::size_t ops = 0;
  for (const Node* n : seen) ops += n->leaf() == nullptr;
  return ops;
}

/// Writes the graph behind `outputs` as PNG and SVG and says where.
static void draw(const std::vector<Tensor>& outputs, const viz::GraphOptions& options,
                 const std::string& base) {
  const std::string dot = viz::to_dot(outputs, options);
  for (const char* ext : {".png", ".svg"}) viz::render(dot, base + ext);
  std::printf("  drew %s.png (.svg)\n", base.c_str());
}

int main(int argc, char** argv) {
  CLI::App app{
      "Tutorial 08: computation graphs of a training step and of a Hessian-vector product"};
  std::string out = "runs/08_computation_graphs";
  bool quick = false;
  app.add_option("--out", out, "output folder (made if missing)");
  app.add_flag("--quick", quick, "for CI (this tutorial is always quick)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    std::filesystem::create_directories(out);
    manual_seed(0);

    // 1. One training step of the MLP on 64 training images x [64, 1, 28, 28], labels y [64].
    nn::FashionMNIST data(true, nn::FashionMNISTOptions().normalize(true).limit(64));
    const Tensor x = data.data(), y = data.targets();
    auto mlp = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
    optim::SGD opt(mlp->parameters(), optim::SGDOptions(0.1));
    Tensor loss;
    {
      SavedTensorsInfoGuard record_saved;  // lets the graph show what each op keeps
      loss = nn::functional::cross_entropy((*mlp)(x), y);
    }
    loss.set_name("loss");
    std::printf("1. one training step of the MLP 784-256-128-10 (batch 64): %zu op nodes\n",
                count_ops(loss));
    draw({loss},
         viz::GraphOptions()
             .parameters(mlp->named_parameters())  // leaves named layers.0.weight, ...
             .show_saved(true)
             .title("MLP 784-256-128-10: one training step (batch 64)"),
         out + "/mlp_step");
    opt.zero_grad();
    loss.backward();  // fills .grad() of every parameter, then frees the saved tensors
    for (const auto& [name, p] : mlp->named_parameters())
      std::printf("  %-16s %-12s grad %s\n", name.c_str(), shape_str(p.shape()).c_str(),
                  shape_str(p.grad().shape()).c_str());
    opt.step();
    {
      NoGradGuard no_grad;
      std::printf("  loss %.4f before the step, %.4f after it (same batch)\n", loss.item<double>(),
                  nn::functional::cross_entropy((*mlp)(x), y).item<double>());
    }

    // 2. The graph of a derivative: y = x^3 + 2x at x = 2; backward with create_graph=true
    //    records dy/dx = 3x^2 + 2 as ops, so it can be differentiated again: d2y/dx2 = 6x.
    Tensor x0 = tensor({2.0}, {}, Dtype::float64).requires_grad_();
    x0.set_name("x");
    Tensor y0 = pow(x0, 3.0) + 2.0 * x0;
    Tensor dy = grad({y0}, {x0}, {}, std::nullopt, /*create_graph=*/true)[0];
    dy.set_name("dy/dx");
    Tensor d2y = grad({dy}, {x0})[0];
    std::printf(
        "2. y = x^3 + 2x at x = 2: y = %g, dy/dx = %g (3x^2 + 2 = 14), d2y/dx2 = %g (6x = "
        "12); dy/dx has %zu op nodes\n",
        y0.item<double>(), dy.item<double>(), d2y.item<double>(), count_ops(dy));
    draw({dy}, viz::GraphOptions().show_values(true).title("dy/dx of y = x^3 + 2x"),
         out + "/derivative");

    // 3. Double backward: a Hessian-vector product of a small MLP 4-8-3 (float64) on 5 points.
    //    g = dL/dtheta with create_graph=true is a graph; H v = d/dtheta (g . v).
    auto small = std::make_shared<nn::MLP>(std::vector<int64_t>{4, 8, 3}, "tanh");
    small->to(Dtype::float64);
    const Tensor xs = randn({5, 4}, Dtype::float64);
    const Tensor ys = tensor({0, 1, 2, 1, 0}, {5}, Dtype::int64);
    TensorList params = small->parameters();
    TensorList v;  // a random direction, one tensor per parameter
    for (const Tensor& p : params) v.push_back(randn(p.shape(), Dtype::float64));
    auto gradient = [&](bool create_graph) {
      Tensor l = nn::functional::cross_entropy((*small)(xs), ys);
      return grad({l}, params, {}, std::nullopt, create_graph);
    };
    const TensorList g = gradient(true);
    Tensor gv = zeros({}, Dtype::float64);
    for (std::size_t i = 0; i < g.size(); ++i) gv = gv + (g[i] * v[i]).sum();
    gv.set_name("g . v");
    std::printf(
        "3. Hessian-vector product of an MLP 4-8-3 (tanh): g . v has %zu op nodes "
        "(forward and backward)\n",
        count_ops(gv));
    draw({gv},
         viz::GraphOptions()
             .parameters(small->named_parameters())
             .title("g . v, g = dL/dtheta recorded with create_graph=true (MLP 4-8-3)"),
         out + "/double_backward");
    const TensorList hv = grad({gv}, params);  // H v, one tensor per parameter
    // Check: H v ~ (g(theta + eps v) - g(theta - eps v)) / (2 eps), central differences.
    const double eps = 1e-5;
    auto shift = [&](double s) {
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(v[i] * s);
    };
    shift(eps);
    const TensorList g_plus = gradient(false);
    shift(-2 * eps);
    const TensorList g_minus = gradient(false);
    shift(eps);
    double worst = 0, largest = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor numeric = (g_plus[i] - g_minus[i]) / (2 * eps);
      worst = std::max(worst, abs(hv[i] - numeric).max().item<double>());
      largest = std::max(largest, abs(hv[i]).max().item<double>());
    }
    std::printf("  H v: largest entry %.4f, largest difference from finite differences %.2e\n",
                largest, worst);
    std::printf("pictures in %s/\n", out.c_str());
    return worst < 1e-6 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "08_computation_graphs: %s\n", e.what());
    return 2;  // bad input (missing data, unwritable folder) or a failure: exit code 2
  }
}
