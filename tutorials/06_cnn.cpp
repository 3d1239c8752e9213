// Tutorial 06: a deep classifier = a feature extractor followed by a classifier. Here the
// features come from convolutions: two blocks Conv3x3-BatchNorm-ReLU-MaxPool (32 and 64
// channels) turn an image [1, 28, 28] into 64 feature maps of 7 x 7, and a Linear layer on
// those 3,136 numbers gives the 10 class scores. Trained on Fashion-MNIST with AdamW (learning
// rate 2e-3 annealed to 0 by a cosine schedule, weight decay 1e-4) for 4 epochs. It draws what the first layer learned: its 32 filters (3 x 3) before
// and after training, and the 32 feature maps they make from one test image.
//
// Run:  ./build/tutorials/06_cnn [--epochs N] [--out DIR] [--quick]
//   --epochs N  passes over the 60,000 training images (default 4)
//   --quick     1 epoch on the first 1,000 training and test images (seconds; for CI)
// Files in DIR (default runs/06_cnn): model.safetensors, metrics.csv, training_curves.png,
// filters_initial.png, filters.png, feature_maps.png.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

/// The first conv layer's filters [32, 1, 3, 3] as a grid of 3 x 3 heatmaps (red > 0 > blue).
static void draw_filters(nn::CNN& cnn, const std::string& path, const std::string& title) {
  const Tensor w = cnn.features()->at<nn::Conv2d>(0)->weight();
  std::vector<std::vector<double>> filters;  // 32 filters of 3 x 3 values
  for (std::size_t k = 0; k < w.size(0); ++k)
    filters.push_back(w.select(0, static_cast<int64_t>(k)).to_vector<double>());
  viz::plot_images(path, filters, w.size(2), w.size(3),
                   viz::ImageGridOptions().title(title).cols(8).symmetric(true).width(640));
}

int main(int argc, char** argv) {
  CLI::App app{"Tutorial 06: a CNN on Fashion-MNIST, and its first layer's filters"};
  std::string out = "runs/06_cnn";
  int64_t epochs = 4;
  bool quick = false;
  app.add_option("--epochs", epochs, "passes over the training images")->check(CLI::Range(1, 1000));
  app.add_option("--out", out, "output folder (made if missing)");
  app.add_flag("--quick", quick, "1 epoch on 1,000 images (for CI)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (quick) epochs = 1;
    std::filesystem::create_directories(out);
    manual_seed(0);

    // 1. Data: images x [N, 1, 28, 28] normalized to mean 0 and std 1, labels y [N] in 0..9.
    const auto data = nn::FashionMNISTOptions().normalize(true).limit(quick ? 1000 : 0);
    nn::FashionMNIST train_set(true, data), test_set(false, data);
    nn::DataLoader train(train_set, nn::DataLoaderOptions(64).shuffle(true).seed(0).prefetch(true));
    nn::DataLoader test(test_set, nn::DataLoaderOptions(1000));

    // 2. The model: features [N, 1, 28, 28] -> [N, 64, 7, 7], classifier -> scores [N, 10].
    auto cnn = std::make_shared<nn::CNN>(nn::CNNOptions().channels({32, 64}));
    std::printf("%s", cnn->summary().c_str());
    draw_filters(*cnn, out + "/filters_initial.png", "conv1 filters at initialization");

    // 3. Train: one line per epoch (on stderr), metrics.csv rewritten after each epoch.
    optim::AdamW opt(cnn->parameters(), optim::AdamWOptions(2e-3).weight_decay(1e-4));
    optim::CosineAnnealingLR schedule(opt, epochs);
    auto loss_fn = [](const Tensor& scores, const Tensor& labels) {
      return nn::functional::cross_entropy(scores, labels);
    };
    const auto history =
        nn::fit(*cnn, train, opt, loss_fn,
                nn::FitOptions().epochs(epochs).scheduler(schedule).test_loader(test).metrics_csv(
                    out + "/metrics.csv"));
    nn::save(*cnn, out + "/model.safetensors", {{"epochs", std::to_string(epochs)}});
    viz::plot_training_curves(out + "/training_curves.png", history,
                              viz::PlotOptions().title("CNN on Fashion-MNIST"));

    // 4. Test accuracy and the confusion matrix (rows: true class, columns: predicted).
    nn::ConfusionMatrix confusion(10);
    cnn->eval();  // BatchNorm now uses its running statistics
    {
      NoGradGuard no_grad;
      for (auto& [x, y] : test) confusion.update((*cnn)(x), y);
    }
    const std::vector<std::string> names(nn::FashionMNIST::kClasses.begin(),
                                         nn::FashionMNIST::kClasses.end());
    double seconds = 0;
    for (const auto& m : history) seconds += m.seconds;
    std::printf("\n%s\ntest accuracy %.2f%% after %lld epochs (%.0f s of training)\n",
                confusion.to_string(names).c_str(), 100 * confusion.accuracy(),
                static_cast<long long>(epochs), seconds);

    // 5. What the first layer learned: its filters, and the feature maps conv1 -> BN -> ReLU
    //    make from the first test image (32 maps of 28 x 28, each on its own grey scale).
    draw_filters(*cnn, out + "/filters.png",
                 "conv1 filters after training (" + std::to_string(epochs) + " epochs)");
    const Tensor image = test_set.data().narrow(0, 0, 1);  // [1, 1, 28, 28]
    Tensor maps = image;
    {
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < 3; ++i) maps = (*(*cnn->features())[i])(maps);  // [1, 32, 28, 28]
    }
    std::vector<std::vector<double>> panels{image.to_vector<double>()};
    std::vector<std::string> labels{"input"};
    for (int64_t c = 0; c < 32; ++c) {
      panels.push_back(maps.select(1, c).to_vector<double>());  // channel c: [1, 28, 28]
      labels.push_back(std::to_string(c));
    }
    viz::plot_images(
        out + "/feature_maps.png", panels, 28, 28,
        viz::ImageGridOptions()
            .title("a test image (" + names[test_set.targets().to_vector<int64_t>()[0]] +
                   ") and its 32 conv1 feature maps (after ReLU)")
            .cols(11)
            .titles(labels)
            .width(880));
    std::printf(
        "pictures in %s/: filters_initial.png filters.png feature_maps.png "
        "training_curves.png; weights model.safetensors, metrics.csv\n",
        out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "06_cnn: %s\n", e.what());
    return 2;  // bad input (missing data, unwritable folder) or a failure: exit code 2
  }
}
