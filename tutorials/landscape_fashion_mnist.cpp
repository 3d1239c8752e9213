// Computes the loss landscape of an MLP trained on Fashion-MNIST, as in Li et al., "Visualizing
// the Loss Landscape of Neural Nets" (NeurIPS 2018): a 2D surface along two random
// filter-normalized directions, the training trajectory projected on its PCA directions with the
// surface along those, and the 1D interpolation from the initial to the trained weights. It
// writes data (CSV + JSON metadata), which the plotting functions of viz turn into pictures.
//
// Run:  ./build/tutorials/landscape_fashion_mnist [options]
//   --epochs N    training epochs, one checkpoint after each (default 10)
//   --grid SPEC   grid of the random-direction surface, min:max:num (default -1:1:51); the
//                 PCA surface has as many points per axis, the interpolation 41 (step 0.05)
//   --threads N   evaluation threads (default 0: one per core)
//   --limit N     use only the first N training and test images (a quick try)
//   --seed N      seed of the initialization, the shuffle and the directions (default 0)
//   --out DIR     where checkpoints and results go (default runs/landscape)
//
// Rerun with the same options and it resumes: finished checkpoints are not retrained, finished
// grid points are not recomputed (an interrupted grid continues where it stopped).
//
// Files in DIR: epoch_00.safetensors ... (the trajectory), surface.csv/.json (random directions),
// path.csv (checkpoints on the PCA plane), pca_surface.csv/.json, interpolation.csv/.json.
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

namespace {

struct Args {
  int64_t epochs = 10;
  std::string grid = "-1:1:51";
  int64_t threads = 0;
  int64_t limit = 0;
  int64_t seed = 0;
  std::string out = "runs/landscape";
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "error: " << error << "\n"
            << "usage: landscape_fashion_mnist [--epochs N] [--grid MIN:MAX:NUM] [--threads N]"
               " [--limit N] [--seed N] [--out DIR]\n";
  std::exit(2);
}

int64_t integer(const std::string& name, const std::string& value) {
  std::istringstream in(value);
  int64_t v = 0;
  if (!(in >> v) || !(in >> std::ws).eof() || v < 0) usage("bad value '" + value + "' for " + name);
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string name = argv[i];
    if (i + 1 >= argc) usage(name + " needs a value");
    const std::string value = argv[i + 1];
    if (name == "--epochs")
      a.epochs = integer(name, value);
    else if (name == "--grid")
      a.grid = value;
    else if (name == "--threads")
      a.threads = integer(name, value);
    else if (name == "--limit")
      a.limit = integer(name, value);
    else if (name == "--seed")
      a.seed = integer(name, value);
    else if (name == "--out")
      a.out = value;
    else
      usage("unknown option " + name);
  }
  if (a.epochs <= 0) usage("--epochs must be > 0");
  return a;
}

void report(const std::string& what, const viz::Grid& g, std::size_t images) {
  std::cout << std::fixed << std::setprecision(2) << what << ": " << g.x.size() << " x "
            << g.y.size() << " points over " << images << " images, " << g.computed
            << " computed in " << g.seconds << " s (" << std::setprecision(4) << g.seconds_per_point
            << " s per point)\n";
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse_args(argc, argv);
  const viz::Axis grid(args.grid);  // checked before any work
  std::filesystem::create_directories(args.out);

  // 1. Data and model: the MLP 784-256-128-10 of train_fashion_mnist, on normalized images.
  const auto data_options =
      nn::FashionMNISTOptions().normalize(true).limit(static_cast<std::size_t>(args.limit));
  nn::FashionMNIST train_set(true, data_options), test_set(false, data_options);
  auto make = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10}); };
  manual_seed(static_cast<uint64_t>(args.seed));
  auto net = make();
  auto initial = make();
  initial->load_state_dict(net->state_dict());

  // 2. Train with SGD (momentum 0.9, weight decay 5e-4, cosine learning rate from 0.05), saving
  //    a checkpoint before training and after every epoch: the trajectory.
  auto checkpoint = [&](int64_t e) {
    std::ostringstream name;
    name << args.out << "/epoch_" << std::setw(2) << std::setfill('0') << e << ".safetensors";
    return name.str();
  };
  std::vector<std::string> files;
  for (int64_t e = 0; e <= args.epochs; ++e) files.push_back(checkpoint(e));
  bool trained = true;
  for (const std::string& f : files) trained = trained && std::filesystem::exists(f);
  const nn::Metadata training{{"epochs", std::to_string(args.epochs)},
                              {"limit", std::to_string(args.limit)},
                              {"seed", std::to_string(args.seed)}};
  if (trained) {  // made by a run with the same training settings?
    const nn::Metadata found = nn::read_metadata(files.back());
    for (const auto& [key, value] : training) {
      auto it = found.find(key);
      if (it == found.end() || it->second != value)
        throw std::runtime_error(files.back() + " was trained with " + key + " = " +
                                 (it == found.end() ? "?" : it->second) + ", not " + value +
                                 "; use another --out");
    }
    std::cout << "Checkpoints found in " << args.out << ": not retraining\n";
    nn::load(*initial, files.front());
    nn::load(*net, files.back());
  } else {
    nn::DataLoader loader(
        train_set, nn::DataLoaderOptions(64).shuffle(true).seed(static_cast<uint64_t>(args.seed)));
    optim::SGD optimizer(net->parameters(),
                         optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    optim::CosineAnnealingLR schedule(optimizer, args.epochs);
    auto loss_fn = [](const Tensor& s, const Tensor& y) {
      return nn::functional::cross_entropy(s, y);
    };
    nn::save(*net, files[0], training);
    for (int64_t e = 1; e <= args.epochs; ++e) {
      const nn::EpochMetrics m =
          nn::fit(*net, loader, optimizer, loss_fn, nn::FitOptions().epochs(1).progress(false))
              .front();
      schedule.step();
      std::cout << "epoch " << e << "/" << args.epochs << ": train loss " << m.train_loss
                << ", accuracy " << m.train_acc << ", " << m.seconds << " s\n";
      nn::Metadata meta = training;
      meta["epoch"] = std::to_string(e);
      nn::save(*net, files[static_cast<std::size_t>(e)], meta);
    }
  }
  const std::size_t images = test_set.size();
  auto options = [&](const std::string& csv) {
    return viz::EvalOptions()
        .threads(static_cast<std::size_t>(args.threads))
        .csv(args.out + "/" + csv)
        .model_name("MLP 784-256-128-10")
        .checkpoints({files.back()});
  };

  // 3. The surface along two random filter-normalized directions (biases not moved).
  const auto seed = static_cast<uint64_t>(args.seed);
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(2 * seed + 1));
  const viz::Direction dy = viz::random_direction(*net, viz::DirectionOptions().seed(2 * seed + 2));
  std::cout << "cosine similarity of the two directions: " << viz::cosine_similarity(dx, dy)
            << "\n";
  const viz::Grid surface =
      viz::evaluate_grid(make, *net, {dx, dy}, {grid}, test_set, options("surface.csv"));
  report("surface.csv (filter-normalized random directions)", surface, images);

  // 4. The trajectory: PCA of the checkpoints minus the final weights, the path on that plane,
  //    and the surface along the same directions, framing the path.
  const std::vector<nn::NamedTensors> path =
      viz::snapshots(files, *net, viz::DirectionKind::weights);
  const nn::NamedTensors final_point = viz::snapshot(*net, viz::DirectionKind::weights);
  const viz::PCADirections pca = viz::pca_directions(path, final_point);
  const viz::ProjectedPath projected = viz::project_path(path, final_point, pca.x, pca.y);
  viz::write_path_csv(projected, files, args.out + "/path.csv");
  std::cout << "PCA directions: " << pca.x.label << ", " << pca.y.label << "\n";
  const viz::Grid pca_surface = viz::evaluate_grid(
      make, *net, {pca.x, pca.y},
      {viz::Axis::around(projected.x, grid.num), viz::Axis::around(projected.y, grid.num)},
      test_set, options("pca_surface.csv").checkpoints(files));
  report("pca_surface.csv (PCA directions) and path.csv", pca_surface, images);

  // 5. The 1D interpolation (1 - a) theta_0 + a theta_final, a in [-0.5, 1.5].
  const viz::Grid line =
      viz::interpolate(make, *initial, *net, viz::Axis(-0.5, 1.5, 41), test_set,
                       options("interpolation.csv").checkpoints({files.front(), files.back()}));
  report("interpolation.csv (initial to trained)", line, images);
  std::cout << "Trained model: test loss " << surface.loss_at(grid.num / 2, grid.num / 2)
            << ", accuracy " << surface.accuracy_at(grid.num / 2, grid.num / 2)
            << " (the centre of an odd grid around 0)\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "landscape_fashion_mnist: " << e.what() << "\n";
  return 1;
}
