// Tutorial 04: softmax regression on Fashion-MNIST.
//
// Scores s = X h (one Linear layer 784 -> 10), probabilities q = softmax(s), and the
// cross-entropy H(p, q) = -sum_j p_j log q_j of the true distribution p (one-hot) under q,
// averaged over the samples. First the lecture's worked example with four classes, then
// training on the 60,000 images and a look at what each class's weights learned.
// Walkthrough: tutorials/04_softmax_regression.md.
//
// Run:  ./build/tutorials/04_softmax_regression [--out DIR] [--quick] [--epochs N]
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

/// H(p, q) = -sum_j p_j log q_j for distributions p, q [C], in nats (natural log).
static double cross_entropy_nats(const Tensor& p, const Tensor& q) {
  return -(p * log(q)).sum().item<double>();
}

int main(int argc, char** argv) try {
  CLI::App app{"Tutorial 04: softmax regression on Fashion-MNIST"};
  std::string out = "runs/04_softmax_regression";
  bool quick = false;
  int epochs = 10;
  double weight_decay = 0;
  app.add_option("--out", out, "output folder (created)");
  app.add_flag("--quick", quick, "1 epoch on 2,000 images (for CI)");
  app.add_option("--epochs", epochs, "passes over the training images")->check(CLI::Range(1, 1000));
  app.add_option("--weight-decay", weight_decay, "L2 penalty on the weights")
      ->check(CLI::Range(0.0, 1.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; a bad argument: 2
  }
  if (quick) epochs = 1;
  manual_seed(0);

  // 1. The lecture's example: 4 classes, the true class is the first, p = (1, 0, 0, 0).
  //    H is in bits with log base 2: H_bits = H_nats / ln 2.
  const Tensor p = tensor({1, 0, 0, 0}, {4}, Dtype::float64);
  const Tensor q_uniform = tensor({0.25, 0.25, 0.25, 0.25}, {4}, Dtype::float64);
  const Tensor q_good = tensor({0.91, 0.03, 0.03, 0.03}, {4}, Dtype::float64);
  std::printf("cross-entropy H(p, q) = -sum_j p_j log q_j with p = (1, 0, 0, 0):\n");
  for (const auto& [name, q] : {std::pair{"q = (0.25, 0.25, 0.25, 0.25)", q_uniform},
                                std::pair{"q = (0.91, 0.03, 0.03, 0.03)", q_good}}) {
    const double nats = cross_entropy_nats(p, q);
    // The same with nn::functional::cross_entropy, which takes scores: softmax(log q) = q.
    const double from_scores = F::cross_entropy(log(q).unsqueeze(0), p.unsqueeze(0)).item<double>();
    std::printf("  %s:  H = %.4f bits = %.4f nats   (F::cross_entropy: %.4f nats)\n", name,
                nats / std::log(2.0), nats, from_scores);
  }

  // 2. Data: images [N, 1, 28, 28] normalized to mean 0, std 1; labels int64 [N].
  const auto data_options = nn::FashionMNISTOptions().normalize(true).limit(quick ? 2000 : 0);
  nn::FashionMNIST train_set(true, data_options), test_set(false, data_options);
  std::filesystem::create_directories(out);  // once the data is there: no empty run folder
  nn::DataLoader train_loader(train_set, nn::DataLoaderOptions(64).shuffle(true).seed(0));
  nn::DataLoader test_loader(test_set, nn::DataLoaderOptions(1000));
  std::printf("\nFashion-MNIST: %zu training and %zu test images\n", train_set.size(),
              test_set.size());

  // 3. The model: X [B, 784] (each image flattened) -> scores s = X h [B, 10]; h is the Linear
  //    layer's weight [10, 784] (one row per class) and bias [10]. The objective is the average
  //    cross-entropy over the batch: F::cross_entropy applies softmax itself (stably).
  auto model = std::make_shared<nn::SoftmaxRegression>(784, 10);
  // The objective is convex in h, so any start works; from h = 0 every weight in the picture
  // below was learned (PyTorch's random init would leave noise on pixels that rarely vary).
  nn::init::zeros_(model->linear->weight());
  optim::SGD opt(model->parameters(),
                 optim::SGDOptions(0.01).momentum(0.9).weight_decay(weight_decay));
  optim::CosineAnnealingLR schedule(opt, epochs);  // lr from 0.01 down to 0 over the epochs
  auto loss_fn = [](const Tensor& scores, const Tensor& labels) {
    return F::cross_entropy(scores, labels);
  };
  std::printf("SoftmaxRegression(784, 10), SGD lr 0.01 momentum 0.9, cosine, batch 64, %d epochs\n",
              epochs);
  auto history = nn::fit(model, train_loader, opt, loss_fn,
                         nn::FitOptions()
                             .epochs(epochs)
                             .scheduler(schedule)
                             .test_loader(test_loader)
                             .metrics_csv(out + "/metrics.csv")
                             .log(&std::cout));
  double seconds = 0;
  for (const auto& m : history) seconds += m.seconds;
  std::printf("test accuracy %.2f%% after %d epochs (%.1f s of training)\n",
              100 * history.back().test_acc, epochs, seconds);

  // 4. One test image through the trained model: its scores, probabilities and loss.
  const auto [x0, y0] = test_set.get(0);  // x0 [1, 28, 28], y0 [] (int64)
  {
    NoGradGuard no_grad;
    model->eval();
    const Tensor s = (*model)(x0.unsqueeze(0));  // [1, 10]
    const Tensor q = softmax(s, 1);
    const auto label = y0.item<int64_t>();
    const double loss = F::cross_entropy(s, y0.unsqueeze(0)).item<double>();
    std::printf("\ntest image 0 (true class: %s):\n  scores s = X h:",
                nn::FashionMNIST::kClasses[label]);
    for (double v : s.to_vector<double>()) std::printf(" %.2f", v);
    std::printf("\n  q = softmax(s): ");
    for (double v : q.to_vector<double>()) std::printf(" %.3f", v);
    std::printf("\n  predicted: %s; H(p, q) = -log q[%lld] = %.4f nats = %.4f bits\n",
                nn::FashionMNIST::kClasses[argmax(s).item<int64_t>()],
                static_cast<long long>(label), loss, loss / std::log(2.0));
  }

  // 5. Pictures: the training curves, and each class's weight row [784] as a 28 x 28 image
  //    (red: a bright pixel there raises the class's score, blue: lowers it).
  viz::plot_training_curves(out + "/training_curves.png", history,
                            viz::PlotOptions().title("softmax regression on Fashion-MNIST"));
  const std::vector<double> w = model->linear->weight().to_vector<double>();  // [10 * 784]
  std::vector<std::vector<double>> images;
  std::vector<std::string> titles;
  for (int c = 0; c < 10; ++c) {
    images.emplace_back(w.begin() + c * 784, w.begin() + (c + 1) * 784);
    titles.emplace_back(nn::FashionMNIST::kClasses[c]);
  }
  viz::plot_images(
      out + "/weights.png", images, 28, 28,
      viz::ImageGridOptions().cols(5).symmetric(true).percentile(99).titles(titles).title(
          "softmax regression: the weights of each class (red +, blue -)"));
  std::printf("\nwrote %s/weights.png, %s/training_curves.png and %s/metrics.csv\n", out.c_str(),
              out.c_str(), out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "04_softmax_regression: " << e.what() << "\n";
  return 2;
}
