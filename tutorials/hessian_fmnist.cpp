// The curvature of a Fashion-MNIST MLP's loss (784-256-128-10): the top Hessian eigenvalues and
// the smallest by Lanczos, and the Hessian trace by Hutchinson's estimator, over the weights
// (parameters with more than one dimension, as in Li et al. 2018) on a fixed set of test images.
//
// Run:  ./build/tutorials/hessian_fmnist [options]
//   --limit N    test images the loss is averaged over (default 1000)
//   --epochs N   train this many epochs on the 60,000 training images first (default 1; 0 keeps
//                the initial weights)
//   --load PATH  start from weights saved by train_fashion_mnist (runs/mlp/model.safetensors)
//   --top-k K    number of largest eigenvalues (default 5)
//   --smallest B also the smallest eigenvalue, from the same Lanczos run (1, default, or 0)
//   --trace N    Hutchinson samples (default 30; 0 skips the trace)
//   --seed N     seed of the weights, the shuffle and the random vectors (default 0)
//
// The data comes from Debian's dataset-fashion-mnist package (bash setup.sh installs it).
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

namespace {

struct Args {
  int64_t limit = 1000;
  int64_t epochs = 1;
  std::string load;
  int64_t top_k = 5;
  int64_t trace = 30;
  bool smallest = true;
  int64_t seed = 0;
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "error: " << error << "\n"
            << "usage: hessian_fmnist [--limit N] [--epochs N] [--load PATH] [--top-k K]"
               " [--smallest 0|1] [--trace N] [--seed N]\n";
  std::exit(2);
}

int64_t count(const std::string& name, const std::string& value, int64_t min) {
  std::istringstream in(value);
  int64_t v = 0;
  if (!(in >> v) || !(in >> std::ws).eof() || v < min)
    usage("bad value '" + value + "' for " + name + " (an integer >= " + std::to_string(min) + ")");
  return v;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage("missing value for " + flag);
    const std::string v = argv[++i];
    if (flag == "--limit")
      a.limit = count(flag, v, 1);
    else if (flag == "--epochs")
      a.epochs = count(flag, v, 0);
    else if (flag == "--load")
      a.load = v;
    else if (flag == "--top-k")
      a.top_k = count(flag, v, 1);
    else if (flag == "--smallest")
      a.smallest = count(flag, v, 0) != 0;
    else if (flag == "--trace")
      a.trace = count(flag, v, 0);
    else if (flag == "--seed")
      a.seed = count(flag, v, 0);
    else
      usage("unknown option " + flag);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  manual_seed(static_cast<uint64_t>(args.seed));
  auto model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
  auto cross_entropy = [](const Tensor& scores, const Tensor& labels) {
    return nn::functional::cross_entropy(scores, labels);
  };

  // 1. A model worth looking at: weights from a file, or a short training run.
  if (!args.load.empty()) {
    nn::load(*model, args.load);
    std::cout << "weights from " << args.load << "\n";
  } else if (args.epochs > 0) {
    nn::FashionMNIST train_set(true, nn::FashionMNISTOptions().normalize(true));
    nn::DataLoader loader(
        train_set, nn::DataLoaderOptions(64).shuffle(true).seed(static_cast<uint64_t>(args.seed)));
    optim::SGD opt(model->parameters(), optim::SGDOptions(0.05).momentum(0.9));
    nn::fit(*model, loader, opt, cross_entropy, nn::FitOptions().epochs(args.epochs));
  }

  // 2. The loss the Hessian is of: the mean cross-entropy over a fixed set of test images, in
  //    eval mode (one batch, so the gradient graph is recorded once and reused).
  nn::FashionMNIST test_set(
      false, nn::FashionMNISTOptions().normalize(true).limit(static_cast<std::size_t>(args.limit)));
  model->eval();
  const Tensor x = test_set.data(), y = test_set.targets();
  viz::LossFn loss = [&] { return cross_entropy((*model)(x), y); };
  {
    NoGradGuard no_grad;
    std::cout << "loss over " << x.size(0) << " test images: " << loss().item<double>() << "\n";
  }

  // 3. Top-k and smallest eigenvalues by Lanczos.
  auto eig = viz::hessian_eigenvalues(loss, model->named_parameters(),
                                      viz::HessianOptions()
                                          .top_k(static_cast<std::size_t>(args.top_k))
                                          .smallest(args.smallest)
                                          .seed(static_cast<uint64_t>(args.seed)));
  std::cout << "Hessian over " << eig.parameters.size() << " weight tensors (" << eig.dim
            << " parameters)\n"
            << std::setprecision(6) << "top-" << args.top_k << " eigenvalues:";
  for (double l : eig.eigenvalues) std::cout << " " << l;
  std::cout << "\n";
  if (args.smallest)
    std::cout << "smallest eigenvalue: " << eig.smallest
              << "  |lambda_min / lambda_max| = " << std::abs(eig.smallest / eig.eigenvalues[0])
              << "\n";
  std::cout << eig.iterations << " Lanczos steps (Hessian-vector products), "
            << (eig.converged ? "converged" : "NOT converged") << ", " << std::setprecision(3)
            << eig.seconds << " s\n";

  // 4. The trace by Hutchinson's estimator.
  if (args.trace > 0) {
    auto tr = viz::hessian_trace(loss, model->named_parameters(),
                                 viz::TraceOptions()
                                     .max_samples(static_cast<std::size_t>(args.trace))
                                     .seed(static_cast<uint64_t>(args.seed)));
    std::cout << std::setprecision(6) << "trace: " << tr.mean << " +- " << tr.std_error << " ("
              << tr.samples << " Rademacher samples, " << std::setprecision(3) << tr.seconds
              << " s)\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
