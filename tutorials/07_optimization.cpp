// Tutorial 07: training is optimization. The objective is the average loss over the training
// set, L(theta) = (1/N) sum_i l(f_theta(x_i), y_i); gradient descent steps against its
// gradient, theta <- theta - lr * grad L(theta). One model (an MLP 784-100-10 on the first
// 10,000 Fashion-MNIST training images), four ways to step, each for the same number of passes
// over the data (epochs) from the same initial weights:
//   full-batch GD   the exact gradient of L, one step per epoch
//   SGD             the gradient of a random batch of 64 (an unbiased estimate), 157 steps/epoch
//   SGD + momentum  v <- 0.9 v + g, theta <- theta - lr v: a running average of the gradients
//   Adam            per-parameter steps scaled by running averages of g and g^2
// Then the learning rate's effect: SGD with lr from too small to too large (it diverges).
//
// Run:  ./build/tutorials/07_optimization [--epochs N] [--out DIR] [--quick]
//   --epochs N  passes over the data per run (default 20; the sweep uses half)
//   --quick     1,000 images and 3 epochs (for CI)
// Files in DIR (default runs/07_optimization): optimizers.csv/.png, learning_rate.csv/.png.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

/// One training run: a name, a batch size and how to make its optimizer for the parameters.
struct Run {
  std::string name;
  std::size_t batch;
  std::function<std::unique_ptr<optim::Optimizer>(const TensorList&)> make;
};

/// The mean cross-entropy of scores [B, 10] and labels [B].
static Tensor cross_entropy(const Tensor& scores, const Tensor& labels) {
  return nn::functional::cross_entropy(scores, labels);
}

/// The training loss over the whole training set (the objective L), without a graph.
static double objective(nn::Module& model, nn::DataLoader& all) {
  return nn::evaluate(model, all, cross_entropy).loss;
}

/// A learning rate as it reads best: 0.001, 0.5, 2.
static std::string lr_text(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", lr);
  return buf;
}

/// Trains `model` from `initial` weights with `run` for `epochs`; returns L after each epoch
/// (entry 0: before training). Stops early once L is not finite (diverged).
static std::vector<double> train(const Run& run, nn::Module& model, const nn::NamedTensors& initial,
                                 const nn::FashionMNIST& data, nn::DataLoader& all,
                                 int64_t epochs) {
  model.load_state_dict(initial);
  const std::unique_ptr<optim::Optimizer> opt = run.make(model.parameters());
  nn::DataLoader batches(data, nn::DataLoaderOptions(run.batch).shuffle(true).seed(0));
  std::vector<double> losses{objective(model, all)};
  for (int64_t e = 1; e <= epochs && std::isfinite(losses.back()); ++e) {
    model.train();
    for (auto& [x, y] : batches) {  // x [B, 1, 28, 28], y [B]
      Tensor loss = cross_entropy(model(x), y);
      opt->zero_grad();
      loss.backward();
      opt->step();
    }
    losses.push_back(objective(model, all));
  }
  losses.resize(static_cast<std::size_t>(epochs) + 1, NAN);  // a diverged run: gaps
  return losses;
}

/// Writes the curves as CSV: epoch, then one column per run.
static void write_csv(const std::string& path, const std::vector<std::string>& names,
                      const std::vector<std::vector<double>>& curves) {
  std::ofstream f(path);
  f << "epoch";
  for (const auto& n : names) f << ",\"" << n << "\"";  // names contain commas
  f << "\n";
  for (std::size_t e = 0; e < curves[0].size(); ++e) {
    f << e;
    for (const auto& c : curves) f << "," << c[e];
    f << "\n";
  }
}

int main(int argc, char** argv) {
  CLI::App app{"Tutorial 07: GD vs SGD vs momentum vs Adam, and the learning rate's effect"};
  std::string out = "runs/07_optimization";
  int64_t epochs = 20;
  bool quick = false;
  app.add_option("--epochs", epochs, "passes over the data per run")->check(CLI::Range(2, 1000));
  app.add_option("--out", out, "output folder (made if missing)");
  app.add_flag("--quick", quick, "1,000 images and 3 epochs (for CI)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (quick) epochs = 3;
    std::filesystem::create_directories(out);
    manual_seed(0);
    const std::size_t n = quick ? 1000 : 10000;
    nn::FashionMNIST data(true, nn::FashionMNISTOptions().normalize(true).limit(n));
    nn::FashionMNIST test_set(false, nn::FashionMNISTOptions().normalize(true));
    nn::DataLoader all(data, nn::DataLoaderOptions(1000)),
        test(test_set, nn::DataLoaderOptions(1000));
    nn::MLP model({784, 100, 10});
    nn::NamedTensors initial = model.state_dict();  // every run starts here
    for (auto& [name, t] : initial) t = t.clone();  // a copy: state_dict() shares the tensors
    std::vector<double> epoch_axis;
    for (int64_t e = 0; e <= epochs; ++e) epoch_axis.push_back(static_cast<double>(e));

    // 1. Four optimizers, the same budget of epochs.
    const std::vector<Run> runs{
        {"full-batch GD (lr 0.2)", n,
         [](const TensorList& p) {
           return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.2));
         }},
        {"SGD (lr 0.05, batch 64)", 64,
         [](const TensorList& p) {
           return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05));
         }},
        {"SGD + momentum 0.9 (lr 0.01)", 64,
         [](const TensorList& p) {
           return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.01).momentum(0.9));
         }},
        {"Adam (lr 0.001)", 64, [](const TensorList& p) {
           return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.001));
         }}};
    std::vector<std::string> names;
    std::vector<std::vector<double>> curves;
    std::vector<viz::Series> series;
    std::printf("%d training images, MLP 784-100-10, %lld epochs per run\n", static_cast<int>(n),
                static_cast<long long>(epochs));
    std::printf("%-30s %8s %12s %14s %10s\n", "optimizer", "steps", "train loss", "test accuracy",
                "seconds");
    for (const Run& run : runs) {
      const auto start = std::chrono::steady_clock::now();
      curves.push_back(train(run, model, initial, data, all, epochs));
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const nn::EvalResult t = nn::evaluate(model, test, cross_entropy);
      std::printf("%-30s %8lld %12.4f %13.2f%% %10.1f\n", run.name.c_str(),
                  static_cast<long long>(epochs * ((n + run.batch - 1) / run.batch)),
                  curves.back().back(), 100 * t.accuracy, seconds);
      names.push_back(run.name);
      series.emplace_back(run.name, curves.back());
    }
    write_csv(out + "/optimizers.csv", names, curves);
    viz::plot_lines(out + "/optimizers.png", epoch_axis, series,
                    viz::PlotOptions()
                        .title("training loss, MLP 784-100-10 on " + std::to_string(n) + " images")
                        .xlabel("epoch (passes over the training images)")
                        .ylabel("training loss L(theta)")
                        .log_y(true));

    // 2. The learning rate of SGD (batch 64): too small crawls, too large diverges.
    const int64_t sweep_epochs = std::max<int64_t>(2, epochs / 2);
    names.clear(), curves.clear(), series.clear();
    std::printf("\nSGD (batch 64), %lld epochs, by learning rate:\n",
                static_cast<long long>(sweep_epochs));
    for (double lr : {0.001, 0.01, 0.1, 1.0, 10.0}) {
      const Run run{"lr " + lr_text(lr), 64, [lr](const TensorList& p) {
                      return std::make_unique<optim::SGD>(p, optim::SGDOptions(lr));
                    }};
      std::vector<double> c = train(run, model, initial, data, all, sweep_epochs);
      int64_t diverged = 0;  // first epoch with a non-finite loss
      for (std::size_t e = 0; e < c.size() && !diverged; ++e)
        if (!std::isfinite(c[e])) diverged = static_cast<int64_t>(e);
      if (diverged)
        std::printf("  lr %-6g diverged: the loss is %s after epoch %lld\n", lr,
                    std::isnan(c[diverged]) ? "NaN" : "inf", static_cast<long long>(diverged));
      else
        std::printf("  lr %-6g train loss %.4f\n", lr, c.back());
      names.push_back(run.name);
      series.push_back(viz::Series(run.name + (diverged ? " (diverged)" : ""), c)
                           .markers(diverged != 0));  // a diverged run: its first point
      curves.push_back(std::move(c));
    }
    write_csv(out + "/learning_rate.csv", names, curves);
    epoch_axis.resize(static_cast<std::size_t>(sweep_epochs) + 1);
    viz::plot_lines(out + "/learning_rate.png", epoch_axis, series,
                    viz::PlotOptions()
                        .title("SGD, batch 64: the learning rate")
                        .xlabel("epoch")
                        .ylabel("training loss L(theta)")
                        .log_y(true));
    std::printf("\npictures in %s/: optimizers.png learning_rate.png (data: the .csv files)\n",
                out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "07_optimization: %s\n", e.what());
    return 2;  // bad input (missing data, unwritable folder) or a failure: exit code 2
  }
}
