// Tutorial 02: linear regression, by gradient descent and in closed form.
//
// Data y = w x + b + noise (nn::make_regression, one feature). Gradient descent on the mean
// squared error, written out by hand (loss.backward(), then theta -= lr * grad), converges to
// the least-squares solution of the normal equations A^T A theta = A^T y, solved directly with
// xtensor-blas. The program prints both parameter vectors and the gap, and plots the loss curve
// and the fitted line. Walkthrough: tutorials/02_linear_regression.md.
//
// Run:  ./build/tutorials/02_linear_regression [--out DIR] [--quick] [--steps N] [--lr X]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>
#include <xtensor-blas/xlinalg.hpp>

#include "autograd/autograd.hpp"
#include "autograd/xtensor_interop.hpp"
#include "nn/nn.hpp"
#include "viz/viz.hpp"

using namespace xg;

int main(int argc, char** argv) try {
  CLI::App app{"Tutorial 02: linear regression, gradient descent against least squares"};
  std::string out = "runs/02_linear_regression";
  bool quick = false;
  int steps = 100;
  double lr = 0.1;
  app.add_option("--out", out, "output folder (created)");
  app.add_flag("--quick", quick, "fewer points (for CI)");
  app.add_option("--steps", steps, "gradient descent steps")->check(CLI::Range(1, 1000000));
  app.add_option("--lr", lr, "learning rate")->check(CLI::Range(1e-9, 100.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; a bad argument: 2
  }
  std::filesystem::create_directories(out);

  // 1. Data: x [n, 1] ~ N(0, 1), y [n, 1] = w x + b + 0.5 N(0, 1); float64 for exact comparisons.
  const std::size_t n = quick ? 50 : 200;
  Tensor true_w;
  double true_b = 0;
  nn::TensorDataset data = nn::make_regression(n, 1, /*noise=*/0.5, /*seed=*/0, &true_w, &true_b);
  const Tensor x = data.data().to(Dtype::float64), y = data.targets().to(Dtype::float64);
  std::printf("data: %zu points, y = %.4f x %c %.4f + 0.5 noise\n", n, true_w.item<double>(),
              true_b < 0 ? '-' : '+', std::abs(true_b));

  // 2. Closed form. With A = [x, 1] [n, 2] and theta = (w, b), the MSE (1/n) |A theta - y|^2 is
  //    smallest where its gradient (2/n) A^T (A theta - y) is 0: A^T A theta = A^T y.
  const Tensor A = cat({x, ones({n, 1}, Dtype::float64)}, 1);
  const xt::xarray<double> At = xt::transpose(to_xarray<double>(A));
  const xt::xarray<double> theta_ls =
      xt::linalg::solve(xt::linalg::dot(At, to_xarray<double>(A)),
                        xt::linalg::dot(At, to_xarray<double>(y)));  // [2, 1]
  const double w_ls = theta_ls(0, 0), b_ls = theta_ls(1, 0);

  // 3. Gradient descent from zero on the same loss. backward() gives the gradient; the update
  //    runs under NoGradGuard (it must not be recorded) and the gradient is then cleared.
  Tensor w = zeros({1, 1}, Dtype::float64).requires_grad_();
  Tensor b = zeros({1}, Dtype::float64).requires_grad_();
  auto mse = [&] { return pow(linear(x, w, b) - y, 2.0).mean(); };  // x w^T + b: [n, 1]
  auto gap = [&] {                                                  // largest |theta_gd - theta_ls|
    return std::max(std::abs(w.item<double>() - w_ls), std::abs(b.item<double>() - b_ls));
  };
  std::vector<double> step_axis, losses;
  std::printf("\ngradient descent, lr %g:\n", lr);
  for (int step = 0; step <= steps; ++step) {
    Tensor loss = mse();
    step_axis.push_back(step);
    losses.push_back(loss.item<double>());
    if (step % std::max(1, steps / 5) == 0)
      std::printf("  step %4d  loss %.6f  gap to least squares %.2e\n", step, losses.back(), gap());
    if (step == steps) break;
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor* p : {&w, &b}) {
      p->sub_(p->grad(), lr);  // theta -= lr * dL/dtheta
      p->set_grad(Tensor());   // clear it: backward() accumulates
    }
  }
  const double loss_ls = [&] {
    NoGradGuard no_grad;
    return pow(matmul(A, from_xarray(theta_ls)) - y, 2.0).mean().item<double>();
  }();
  std::printf("\n                  w          b          MSE\n");
  std::printf("  true       %9.6f  %9.6f\n", true_w.item<double>(), true_b);
  std::printf("  least sq.  %9.6f  %9.6f  %.6f\n", w_ls, b_ls, loss_ls);
  std::printf("  grad. desc %9.6f  %9.6f  %.6f\n", w.item<double>(), b.item<double>(),
              losses.back());
  std::printf("  gap |theta_gd - theta_ls| = %.2e\n", gap());

  // 4. Pictures and the loss curve as CSV.
  std::ofstream csv(out + "/loss.csv");
  csv << "step,loss\n";
  for (std::size_t i = 0; i < losses.size(); ++i) csv << i << "," << losses[i] << "\n";
  // On a log scale the excess loss L(theta_k) - L(theta_ls) falls on a straight line: gradient
  // descent on a quadratic converges geometrically. (Exact zeros at the end leave a gap.)
  std::vector<double> excess;
  for (double l : losses) excess.push_back(l - loss_ls);
  viz::plot_lines(out + "/loss.png", step_axis,
                  {viz::Series("MSE", losses), viz::Series("MSE - least-squares MSE", excess)},
                  viz::PlotOptions()
                      .title("gradient descent on the mean squared error")
                      .xlabel("step")
                      .ylabel("loss")
                      .log_y(true));
  // The fit: the points sorted by x, and both lines w x + b evaluated there.
  std::vector<double> xs = x.to_vector<double>(), ys = y.to_vector<double>();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto i, auto j) { return xs[i] < xs[j]; });
  std::vector<double> sx, sy, line_gd, line_ls;
  for (std::size_t i : order) {
    sx.push_back(xs[i]);
    sy.push_back(ys[i]);
    line_gd.push_back(w.item<double>() * xs[i] + b.item<double>());
    line_ls.push_back(w_ls * xs[i] + b_ls);
  }
  viz::plot_lines(out + "/fit.png", sx,
                  {viz::Series("data", sy).style(viz::LineStyle::none),
                   viz::Series("gradient descent", line_gd),
                   viz::Series("least squares", line_ls).style(viz::LineStyle::dashed)},
                  viz::PlotOptions().title("the fitted line").xlabel("x").ylabel("y"));
  std::printf("\nwrote %s/loss.png, %s/fit.png and %s/loss.csv\n", out.c_str(), out.c_str(),
              out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "02_linear_regression: " << e.what() << "\n";
  return 2;
}
