// Tutorial 05: a deep classifier = feature extractor + classifier.
//
// The MLP 784-256-128-10 is softmax regression (tutorial 04) on learned features: everything
// but its last Linear layer maps an image to a feature vector z [128] (the feature extractor),
// and the last Linear(128, 10) computes the scores s = z h (the classifier). Both are trained
// together by SGD on the cross-entropy. The program makes the split explicit, trains, prints
// the confusion matrix, plots the training curves and a 2-D PCA of the learned features.
// Walkthrough: tutorials/05_deep_classifier.md.
//
// Run:  ./build/tutorials/05_deep_classifier [--out DIR] [--quick] [--epochs N]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>
#include <vector>
#include <xtensor-blas/xlinalg.hpp>

#include "autograd/autograd.hpp"
#include "autograd/xtensor_interop.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;
namespace F = xg::nn::functional;

int main(int argc, char** argv) try {
  CLI::App app{"Tutorial 05: a deep classifier (MLP) as feature extractor + classifier"};
  std::string out = "runs/05_deep_classifier";
  bool quick = false;
  int epochs = 10;
  app.add_option("--out", out, "output folder (created)");
  app.add_flag("--quick", quick, "1 epoch on 2,000 images (for CI)");
  app.add_option("--epochs", epochs, "passes over the training images")->check(CLI::Range(1, 1000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; a bad argument: 2
  }
  if (quick) epochs = 1;
  manual_seed(0);

  // 1. Data: images [N, 1, 28, 28] normalized to mean 0, std 1; labels int64 [N].
  const auto data_options = nn::FashionMNISTOptions().normalize(true).limit(quick ? 2000 : 0);
  nn::FashionMNIST train_set(true, data_options), test_set(false, data_options);
  std::filesystem::create_directories(out);  // once the data is there: no empty run folder
  nn::DataLoader train_loader(train_set, nn::DataLoaderOptions(64).shuffle(true).seed(0));
  nn::DataLoader test_loader(test_set, nn::DataLoaderOptions(1000));

  // 2. The model and its two parts. MLP children: flatten, then layers = Sequential of
  //    0 Linear(784, 256), 1 ReLU, 2 Linear(256, 128), 3 ReLU, 4 Linear(128, 10).
  //    The parts share the MLP's modules (and so its parameters): nothing is copied.
  auto model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
  const auto& layers = model->layers()->modules();
  auto features = std::make_shared<nn::Sequential>();  // x [B, 1, 28, 28] -> z [B, 128]
  features->push_back("flatten", std::make_shared<nn::Flatten>());
  for (std::size_t i = 0; i + 1 < layers.size(); ++i)
    features->push_back(std::to_string(i), layers[i]);  // the names they have in the MLP
  auto classifier = model->layers()->at<nn::Linear>(layers.size() - 1);  // z -> s [B, 10]
  std::cout << "feature extractor: " << *features << "\nclassifier: " << *classifier << "\n";

  // 3. Train the whole model (both parts at once) with SGD on the mean cross-entropy.
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  optim::CosineAnnealingLR schedule(opt, epochs);
  auto loss_fn = [](const Tensor& scores, const Tensor& labels) {
    return F::cross_entropy(scores, labels);
  };
  std::printf(
      "\nMLP 784-256-128-10 on %zu images, SGD lr 0.05 momentum 0.9 weight decay 5e-4, "
      "cosine, batch 64, %d epochs\n",
      train_set.size(), epochs);
  auto history = nn::fit(model, train_loader, opt, loss_fn,
                         nn::FitOptions()
                             .epochs(epochs)
                             .scheduler(schedule)
                             .test_loader(test_loader)
                             .metrics_csv(out + "/metrics.csv")
                             .log(&std::cout));
  double seconds = 0;
  for (const auto& m : history) seconds += m.seconds;

  // 4. Test: features, then scores, for all test images; check that classifier(features(x))
  //    is the model's output, and count the confusion matrix.
  model->eval();
  NoGradGuard no_grad;
  nn::ConfusionMatrix confusion(10);
  std::vector<double> z_all;  // [N_test * 128] learned features
  std::vector<int64_t> labels;
  double split_gap = 0;
  for (auto& [x, y] : test_loader) {
    const Tensor z = (*features)(x);    // [B, 128]
    const Tensor s = (*classifier)(z);  // [B, 10]
    split_gap = std::max(split_gap, abs(s - (*model)(x)).max().item<double>());
    confusion.update(s, y);
    const auto zv = z.to_vector<double>();
    z_all.insert(z_all.end(), zv.begin(), zv.end());
    const auto yv = y.to_vector<int64_t>();
    labels.insert(labels.end(), yv.begin(), yv.end());
  }
  const std::vector<std::string> names(nn::FashionMNIST::kClasses.begin(),
                                       nn::FashionMNIST::kClasses.end());
  std::printf("\nclassifier(features(x)) - model(x): largest difference %.1e\n", split_gap);
  std::printf("\nconfusion matrix on the test set (rows: true class, columns: predicted):\n%s\n",
              confusion.to_string(names).c_str());
  std::printf("test accuracy %.2f%% after %d epochs (%.1f s of training)\n",
              100 * confusion.accuracy(), epochs, seconds);

  // 5. PCA of the features: centre them, take the two top eigenvectors of their covariance
  //    [128, 128] (xt::linalg::eigh, ascending eigenvalues), and project every test image.
  const std::size_t n = labels.size(), d = 128;
  xt::xarray<double> Z = to_xarray<double>(tensor(z_all, {n, d}, Dtype::float64));
  const xt::xarray<double> mean = xt::mean(Z, {0});  // evaluated once (xtensor is lazy)
  Z -= mean;
  const xt::xarray<double> cov = xt::linalg::dot(xt::transpose(Z), Z) / static_cast<double>(n - 1);
  const auto [eigenvalues, eigenvectors] = xt::linalg::eigh(cov);
  const xt::xarray<double> top2 = xt::view(eigenvectors, xt::all(), xt::range(d - 1, d - 3, -1));
  const xt::xarray<double> P = xt::linalg::dot(Z, top2);  // [n, 2]: (PC1, PC2) per image
  const double total = xt::sum(eigenvalues)();
  const double r1 = eigenvalues(d - 1) / total, r2 = eigenvalues(d - 2) / total;
  std::printf("PCA of the 128 features: PC1 explains %.1f%%, PC2 %.1f%% of their variance\n",
              100 * r1, 100 * r2);
  // A scatter as plot_lines: x = PC1 of every image, one marker-only series per class holding
  // PC2 where the image is of that class and NaN (no marker) elsewhere. 2,000 images at most.
  const std::size_t shown = std::min<std::size_t>(n, 2000);
  std::vector<double> pc1(shown);
  std::vector<std::vector<double>> pc2(10, std::vector<double>(shown, std::nan("")));
  for (std::size_t i = 0; i < shown; ++i) {
    pc1[i] = P(i, 0);
    pc2[static_cast<std::size_t>(labels[i])][i] = P(i, 1);
  }
  std::vector<viz::Series> series;
  for (int c = 0; c < 10; ++c)
    series.push_back(viz::Series(names[c], pc2[c]).style(viz::LineStyle::none));
  char xlabel[64], ylabel[64];
  std::snprintf(xlabel, sizeof xlabel, "PC1 (%.1f%%)", 100 * r1);
  std::snprintf(ylabel, sizeof ylabel, "PC2 (%.1f%%)", 100 * r2);
  viz::plot_lines(out + "/features_pca.png", pc1, series,
                  viz::PlotOptions()
                      .title("PCA of the learned features")
                      .xlabel(xlabel)
                      .ylabel(ylabel)
                      .legend(false)  // 10 entries would crowd the points; key in the .md page
                      .width(900)
                      .height(700));
  viz::plot_training_curves(out + "/training_curves.png", history,
                            viz::PlotOptions().title("MLP 784-256-128-10 on Fashion-MNIST"));
  std::printf("\nwrote %s/training_curves.png, %s/features_pca.png and %s/metrics.csv\n",
              out.c_str(), out.c_str(), out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "05_deep_classifier: " << e.what() << "\n";
  return 2;
}
