// Tutorial 03: logistic regression on two Gaussian blobs.
//
// nn::LogisticRegression computes one score s = w^T x + b per point; sigmoid(s) is the
// probability of class 1, and the loss is the binary cross-entropy of the labels under it
// (binary_cross_entropy_with_logits, computed stably from s). Mini-batch SGD trains it; then the
// predicted probability over a grid is drawn with the data on top: the decision boundary
// p = 0.5 is the line w^T x + b = 0. Walkthrough: tutorials/03_logistic_regression.md.
//
// Run:  ./build/tutorials/03_logistic_regression [--out DIR] [--quick] [--epochs N] [--lr X]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;
namespace F = xg::nn::functional;

/// Fraction of points whose predicted class (probability > 0.5) is the label; x [n, 2], y [n].
static double accuracy(nn::LogisticRegression& model, const Tensor& x, const Tensor& y) {
  NoGradGuard no_grad;
  Tensor predicted = gt(model.predict_proba(x), 0.5).to(Dtype::float32);  // 0 or 1, [n]
  return eq(predicted, y).to(Dtype::float32).mean().item<double>();
}

int main(int argc, char** argv) try {
  CLI::App app{"Tutorial 03: logistic regression, decision boundary"};
  std::string out = "runs/03_logistic_regression";
  bool quick = false;
  int epochs = 20;
  double lr = 0.1;
  app.add_option("--out", out, "output folder (created)");
  app.add_flag("--quick", quick, "fewer epochs and a coarser picture (for CI)");
  app.add_option("--epochs", epochs, "passes over the training points")
      ->check(CLI::Range(1, 100000));
  app.add_option("--lr", lr, "learning rate of SGD")->check(CLI::Range(1e-9, 100.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; a bad argument: 2
  }
  if (quick) epochs = 3;
  std::filesystem::create_directories(out);
  manual_seed(0);  // the model's initial weights

  // 1. Data: 500 points around 2 random centres (std 2, so the classes overlap a little),
  //    x [500, 2], labels int64 [500] in {0, 1}. The first 400 train, the last 100 test.
  //    BCE wants the labels as float32 probabilities of class 1.
  nn::TensorDataset blobs = nn::make_blobs(500, /*centers=*/2, /*d=*/2, /*std=*/2.0, /*seed=*/1);
  const Tensor x = blobs.data(), y = blobs.targets().to(Dtype::float32);
  const Tensor x_train = narrow(x, 0, 0, 400), y_train = narrow(y, 0, 0, 400);
  const Tensor x_test = narrow(x, 0, 400, 100), y_test = narrow(y, 0, 400, 100);
  nn::DataLoader loader(nn::TensorDataset(x_train, y_train),
                        nn::DataLoaderOptions(32).shuffle(true).seed(0));

  // 2. Model, loss, optimizer: s = x w^T + b [B]; loss = mean BCE(sigmoid(s), y).
  nn::LogisticRegression model(2);
  optim::SGD opt(model.parameters(), optim::SGDOptions(lr));
  std::printf("logistic regression on 400 training points, SGD lr %g, batch 32, %d epochs\n", lr,
              epochs);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double total = 0;
    for (auto& [xb, yb] : loader) {  // xb [32, 2], yb [32]
      Tensor loss = F::binary_cross_entropy_with_logits(model(xb), yb);
      opt.zero_grad();
      loss.backward();
      opt.step();
      total += loss.item<double>() * static_cast<double>(xb.shape()[0]);
    }
    if (epoch == 1 || epoch % 5 == 0 || epoch == epochs)
      std::printf("  epoch %3d  train loss %.4f  train accuracy %.1f%%\n", epoch, total / 400,
                  100 * accuracy(model, x_train, y_train));
  }
  const std::vector<double> w = model.linear->weight().to_vector<double>();
  const double b = model.linear->bias().item<double>();
  std::printf("learned w = (%.4f, %.4f), b = %.4f: the boundary is %.4f x1 %+.4f x2 %+.4f = 0\n",
              w[0], w[1], b, w[0], w[1], b);
  std::printf("test accuracy %.1f%% (100 held-out points)\n",
              100 * accuracy(model, x_test, y_test));

  // 3. The predicted probability P(class 1 | x) on a grid around the data (row-major: row j is
  //    y = gy[j]), as a heatmap with the 0.5 contour, and every point coloured by its label.
  const std::vector<double> px = x.to_vector<double>(), labels = y.to_vector<double>();
  double lo[2] = {1e30, 1e30}, hi[2] = {-1e30, -1e30};
  for (std::size_t i = 0; i < px.size(); ++i) {
    lo[i % 2] = std::min(lo[i % 2], px[i] - 1);
    hi[i % 2] = std::max(hi[i % 2], px[i] + 1);
  }
  const std::size_t steps = quick ? 30 : 150;
  std::vector<double> gx, gy, grid;  // grid [steps * steps, 2]: (gx[i], gy[j]) at row j * steps + i
  for (std::size_t k = 0; k < steps; ++k) {
    gx.push_back(lo[0] + (hi[0] - lo[0]) * static_cast<double>(k) / (steps - 1));
    gy.push_back(lo[1] + (hi[1] - lo[1]) * static_cast<double>(k) / (steps - 1));
  }
  for (double yv : gy)
    for (double xv : gx) grid.insert(grid.end(), {xv, yv});
  std::vector<double> prob;
  {
    NoGradGuard no_grad;
    prob = model.predict_proba(tensor(grid, {steps * steps, 2})).to_vector<double>();
  }
  std::vector<double> sx, sy;
  std::vector<int64_t> sc;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    sx.push_back(px[2 * i]);
    sy.push_back(px[2 * i + 1]);
    sc.push_back(static_cast<int64_t>(labels[i]));
  }
  viz::plot_contour(out + "/decision_boundary.png", gx, gy, prob,
                    viz::ContourOptions()
                        .heatmap(true)
                        .vmin(0)
                        .vmax(1)
                        .contour_lines(true)
                        .level_values({0.1, 0.5, 0.9})
                        .points(sx, sy, sc)
                        .title("P(class 1 | x); lines at 0.1, 0.5, 0.9")
                        .xlabel("x1")
                        .ylabel("x2")
                        .zlabel("P(class 1)"));
  std::printf("wrote %s/decision_boundary.png\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "03_logistic_regression: " << e.what() << "\n";
  return 2;
}
