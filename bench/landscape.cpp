// Loss-landscape evaluation speed, the twin of bench/torch_landscape.py (same protocol).
//
// Usage: bench_landscape [GRID=-1:1:7] [THREADS=1,2]
//
// Data:   the 10,000 Fashion-MNIST test images (/usr/share/datasets/fashion-mnist, env
//         XGRAD_DATA overrides), pixels / 255 as float32, no other normalization.
// Model:  MLP 784-256-128-10 (ReLU), PyTorch's default init after manual_seed(0); not trained
//         (the cost of a point does not depend on the values).
// Grid:   f(a, b) = L(theta* + a d + b e) on GRID x GRID, d and e random filter-normalized
//         directions with biasbn (seeds 1, 2), as Li et al.'s plot_surface.py.
// Point:  one full evaluation: loss (cross-entropy, mean over the 10,000) and accuracy, eval
//         mode, no graph, batches of 1000 in order.
// Modes:  viz::evaluate_grid with
//           direct  every point runs the whole forward pass (what the paper's code does);
//           affine  the first Linear's output is affine in (a, b): computed once for theta*,
//                   d and e, combined per point (EvalOptions::affine_first_layer, the default);
//         each with THREADS engine threads (every count in the list; OpenBLAS keeps its default
//         2 threads). Wall time of evaluate_grid over the whole grid / points.
// Checks: the grids of every thread count are bitwise identical per mode; the largest
//         |affine - direct| loss difference is printed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench/common.hpp"
#include "nn/nn.hpp"
#include "viz/viz.hpp"

using namespace xg;

int main(int argc, char** argv) {
  const std::string grid = argc > 1 ? argv[1] : "-1:1:7";
  std::vector<std::size_t> threads;
  {
    std::stringstream ss(argc > 2 ? argv[2] : "1,2");
    std::string item;
    while (std::getline(ss, item, ',')) threads.push_back(std::stoul(item));
  }
  bench::set_threads(2);
  const double t0 = bench::now();
  const nn::FashionMNIST test(false);
  const double load_s = bench::now() - t0;

  auto make = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10}); };
  manual_seed(0);
  auto net = make();
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
  const viz::Direction dy = viz::random_direction(*net, viz::DirectionOptions().seed(2));
  const viz::Axis axis(grid);
  const std::size_t points = axis.num * axis.num;
  std::size_t nparams = 0;
  for (const Tensor& p : net->parameters()) nparams += p.numel();
  std::printf(
      "# model=mlp params=%zu images=%zu grid=%sx%s points=%zu batch=1000 %s %s load_s=%.2f\n",
      nparams, test.size(), grid.c_str(), grid.c_str(), points, bench::blas_info().c_str(),
      bench::env_info().c_str(), load_s);

  double best = 1e300;
  std::string best_mode;
  std::vector<double> direct_loss, affine_loss;
  for (bool affine : {false, true}) {
    std::vector<double> first;
    for (std::size_t t : threads) {
      bench::Foreign fg;
      fg.start();
      const viz::Grid g = viz::evaluate_grid(
          make, *net, {dx, dy}, {axis}, test,
          viz::EvalOptions().threads(t).batch_size(1000).affine_first_layer(affine).progress(
              false));
      const double foreign = fg.stop();
      const char* mode = affine ? "affine" : "direct";
      const bool same =
          first.empty() ||
          (first.size() == g.loss.size() &&
           std::equal(first.begin(), first.end(), g.loss.begin(),
                      [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
      if (first.empty()) first = g.loss;
      std::printf(
          "MODE impl=xgrad mode=%s threads=%zu affine_used=%d s_per_point=%.4f total_s=%.2f "
          "loss_center=%.6f bitwise_same_as_first=%d foreign_cpu_frac=%.2f\n",
          mode, t, int(g.affine_first_layer), g.seconds_per_point, g.seconds,
          g.loss_at(axis.num / 2, axis.num / 2), int(same), foreign / g.seconds);
      std::fflush(stdout);
      if (g.seconds_per_point < best) {
        best = g.seconds_per_point;
        best_mode = std::string(mode) + "/threads=" + std::to_string(t);
      }
    }
    (affine ? affine_loss : direct_loss) = first;
  }
  double maxdiff = 0, maxrel = 0;
  for (std::size_t i = 0; i < direct_loss.size(); ++i) {
    const double d = std::abs(direct_loss[i] - affine_loss[i]);
    maxdiff = std::max(maxdiff, d);
    maxrel = std::max(maxrel, d / std::abs(direct_loss[i]));
  }
  std::printf("# affine vs direct: max |loss difference| %.3g (relative %.3g)\n", maxdiff, maxrel);
  std::printf(
      "RESULT bench=landscape impl=xgrad model=mlp images=%zu grid=%s points=%zu "
      "best_mode=%s s_per_point=%.4f peak_rss_mb=%.0f\n",
      test.size(), grid.c_str(), points, best_mode.c_str(), best, bench::peak_rss_mb());
  return 0;
}
