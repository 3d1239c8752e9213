// Trains a classifier on Fashion-MNIST (28x28 grayscale clothes, 10 classes) and reports its test
// accuracy, confusion matrix and speed; saves the trained weights and the per-epoch metrics.
//
// Run:  ./build/tutorials/train_fashion_mnist MODEL [options]
//   MODEL        softmax (softmax regression), mlp (784-256-128-10) or cnn (conv-BN-ReLU-pool x2)
//   --epochs N   number of passes over the 60,000 training images (default 10)
//   --batch N    examples per gradient step (default 64)
//   --lr X       initial learning rate (default per model, below)
//   --limit N    use only the first N training and test images (a quick try)
//   --seed N     seed of the weights' initialization and of the shuffle (default 0)
//   --out DIR    where model.safetensors and metrics.csv go (default runs/MODEL)
//
// The data comes from Debian's dataset-fashion-mnist package (bash setup.sh installs it).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"

using namespace xg;

namespace {

/// The command line: which model, and the training settings.
struct Args {
  std::string model;
  int64_t epochs = 10;
  int64_t batch = 64;
  double lr = std::nan("");  // not given: the model's default
  int64_t limit = 0;         // 0: all images
  int64_t seed = 0;
  std::string out;  // empty: runs/<model>
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "error: " << error << "\n"
            << "usage: train_fashion_mnist softmax|mlp|cnn [--epochs N] [--batch N] [--lr X]"
               " [--limit N] [--seed N] [--out DIR]\n";
  std::exit(2);
}

/// `value` as a number of type T; exits with the usage unless all of it is one.
template <typename T>
T number(const std::string& name, const std::string& value) {
  std::istringstream in(value);
  T v{};
  if (!(in >> v) || !(in >> std::ws).eof()) usage("bad value '" + value + "' for " + name);
  return v;
}

/// Reads "MODEL --name value ..." by hand: every option takes exactly one value.
Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) usage("missing MODEL");
  a.model = argv[1];
  if (a.model != "softmax" && a.model != "mlp" && a.model != "cnn")
    usage("unknown MODEL '" + a.model + "' (expected softmax, mlp or cnn)");
  for (int i = 2; i < argc; i += 2) {
    const std::string name = argv[i];
    if (i + 1 >= argc) usage(name + " needs a value");
    const std::string value = argv[i + 1];
    if (name == "--epochs")
      a.epochs = number<int64_t>(name, value);
    else if (name == "--batch")
      a.batch = number<int64_t>(name, value);
    else if (name == "--lr")
      a.lr = number<double>(name, value);
    else if (name == "--limit")
      a.limit = number<int64_t>(name, value);
    else if (name == "--seed")
      a.seed = number<int64_t>(name, value);
    else if (name == "--out")
      a.out = value;
    else
      usage("unknown option " + name);
  }
  if (a.epochs <= 0) usage("--epochs must be > 0");
  if (a.batch <= 0) usage("--batch must be > 0");
  if (!(a.lr > 0) && !std::isnan(a.lr)) usage("--lr must be > 0");  // NaN: not given
  if (a.limit < 0) usage("--limit must be >= 0");
  if (a.seed < 0) usage("--seed must be >= 0");
  if (a.out.empty()) a.out = "runs/" + a.model;
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse_args(argc, argv);
  manual_seed(static_cast<uint64_t>(args.seed));  // same seed, same initial weights

  // 1. Data: images [N, 1, 28, 28] normalized to mean 0 and std 1, labels [N] int64 in 0..9.
  const auto data_options =
      nn::FashionMNISTOptions().normalize(true).limit(static_cast<std::size_t>(args.limit));
  nn::FashionMNIST train_set(true, data_options), test_set(false, data_options);
  nn::DataLoader train_loader(train_set, nn::DataLoaderOptions(static_cast<std::size_t>(args.batch))
                                             .shuffle(true)
                                             .seed(static_cast<uint64_t>(args.seed))
                                             .prefetch(true));
  nn::DataLoader test_loader(test_set, nn::DataLoaderOptions(1000));
  std::cout << "Fashion-MNIST from " << train_set.root() << ": " << train_set.size()
            << " training and " << test_set.size() << " test images\n";

  // 2. Model and optimizer. Each model has its own default learning rate; all use SGD with
  //    momentum 0.9, and the learning rate follows a cosine from lr down to 0 over the epochs.
  std::shared_ptr<nn::Module> model;
  double lr = 0;
  double weight_decay = 0;
  if (args.model == "softmax") {  // scores = X h: one Linear(784, 10)
    model = std::make_shared<nn::SoftmaxRegression>(784, 10);
    lr = 0.01;
  } else if (args.model == "mlp") {  // 784 -> 256 -> ReLU -> 128 -> ReLU -> 10
    model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
    lr = 0.05;
    weight_decay = 5e-4;
  } else {  // two blocks Conv3x3-BatchNorm-ReLU-MaxPool with 32 and 64 channels, then Linear
    model = std::make_shared<nn::CNN>(nn::CNNOptions().channels({32, 64}));
    lr = 0.01;
    weight_decay = 5e-4;
  }
  if (!std::isnan(args.lr)) lr = args.lr;
  optim::SGD optimizer(model->parameters(),
                       optim::SGDOptions(lr).momentum(0.9).weight_decay(weight_decay));
  optim::CosineAnnealingLR schedule(optimizer, args.epochs);
  std::cout << *model << "\n"
            << "SGD lr " << lr << " momentum 0.9 weight_decay " << weight_decay
            << ", cosine schedule, batch " << args.batch << ", " << args.epochs << " epochs\n";

  // 3. Train: fit prints one line per epoch (to stderr) and rewrites metrics.csv after each.
  std::filesystem::create_directories(args.out);
  const std::string metrics_path = args.out + "/metrics.csv";
  auto loss_fn = [](const Tensor& scores, const Tensor& labels) {
    return nn::functional::cross_entropy(scores, labels);
  };
  std::vector<nn::EpochMetrics> history = nn::fit(*model, train_loader, optimizer, loss_fn,
                                                  nn::FitOptions()
                                                      .epochs(args.epochs)
                                                      .scheduler(schedule)
                                                      .test_loader(test_loader)
                                                      .metrics_csv(metrics_path));

  // 4. Test: the confusion matrix counts, for each true class (row), the predicted classes.
  nn::ConfusionMatrix confusion(10);
  model->eval();  // BatchNorm uses its running statistics
  {
    NoGradGuard no_grad;  // no graph needed to only predict
    for (auto& [x, y] : test_loader) confusion.update((*model)(x), y);
  }
  double seconds = 0;
  for (const nn::EpochMetrics& m : history) seconds += m.seconds;
  seconds /= static_cast<double>(history.size());
  const std::vector<std::string> names(nn::FashionMNIST::kClasses.begin(),
                                       nn::FashionMNIST::kClasses.end());
  std::cout << "\nConfusion matrix (rows: true class, columns: predicted):\n"
            << confusion.to_string(names) << "\n"
            << std::fixed << std::setprecision(2) << "Test accuracy: " << 100 * confusion.accuracy()
            << "% after " << args.epochs << " epochs, " << std::setprecision(1) << seconds
            << " s per epoch\n";

  // 5. Save the weights (with how they were obtained) as safetensors, readable from Python.
  const std::string weights_path = args.out + "/model.safetensors";
  nn::save(*model, weights_path,
           {{"model", args.model},
            {"epochs", std::to_string(args.epochs)},
            {"test_accuracy", std::to_string(confusion.accuracy())}});
  std::cout << "Saved " << weights_path << " and " << metrics_path << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "train_fashion_mnist: " << e.what() << "\n";
  return 1;
}
