// Computes the loss landscape of an MLP trained on Fashion-MNIST, as in Li et al., "Visualizing
// the Loss Landscape of Neural Nets" (NeurIPS 2018): a 2D surface along two random
// filter-normalized directions, the training trajectory projected on its PCA directions with the
// surface along those, and the 1D interpolation from the initial to the trained weights, plus
// the top Hessian eigenvalues of the trained model. It writes the data (CSV + JSON metadata) and
// draws it with viz's plots (PNG) and a VTK file of the surface for ParaView.
//
// Run:  ./build/tutorials/landscape_fashion_mnist [options]
//   --epochs N    training epochs, one checkpoint after each (default 10)
//   --grid SPEC   grid of the random-direction surface, min:max:num (default -1:1:51); the
//                 PCA surface has as many points per axis, the interpolation 41 (step 0.05)
//   --threads N   evaluation threads (default 0: one per core)
//   --ratio-grid SPEC  grid of the |lambda_min / lambda_max| curvature map along the random
//                 directions (default -1:1:5; 1,000 test images per point; "none" skips it)
//   --limit N     use only the first N training and test images (a quick try)
//   --seed N      seed of the initialization, the shuffle and the directions (default 0)
//   --out DIR     where checkpoints and results go (default runs/landscape)
//
// Rerun with the same options and it resumes: finished checkpoints are not retrained, finished
// grid points are not recomputed (an interrupted grid continues where it stopped).
//
// Files in DIR: epoch_00.safetensors ... (the trajectory), metrics.csv, surface.csv/.json (random
// directions), path.csv (checkpoints on the PCA plane), pca_surface.csv/.json,
// interpolation.csv/.json; pictures training_curves.png, surface_contour.png,
// surface_filled.png, surface_3d.png, surface.vtk, trajectory.png, interpolation.png;
// curvature.csv and curvature.png (the eigenvalue-ratio map).
#include <algorithm>
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
  std::string ratio_grid = "-1:1:5";
  int64_t threads = 0;
  int64_t limit = 0;
  int64_t seed = 0;
  std::string out = "runs/landscape";
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "error: " << error << "\n"
            << "usage: landscape_fashion_mnist [--epochs N] [--grid MIN:MAX:NUM] [--threads N]"
               " [--ratio-grid MIN:MAX:NUM|none]"
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
    else if (name == "--ratio-grid")
      a.ratio_grid = value;
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
  const bool ratio_map = args.ratio_grid != "none";
  const viz::Axis ratio_axis = ratio_map ? viz::Axis(args.ratio_grid) : viz::Axis();
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
    nn::DataLoader test_loader(test_set, nn::DataLoaderOptions(1000));
    std::vector<nn::EpochMetrics> metrics;
    optim::SGD optimizer(net->parameters(),
                         optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    optim::CosineAnnealingLR schedule(optimizer, args.epochs);
    auto loss_fn = [](const Tensor& s, const Tensor& y) {
      return nn::functional::cross_entropy(s, y);
    };
    nn::save(*net, files[0], training);
    for (int64_t e = 1; e <= args.epochs; ++e) {
      nn::EpochMetrics m =
          nn::fit(*net, loader, optimizer, loss_fn,
                  nn::FitOptions().epochs(1).progress(false).test_loader(test_loader))
              .front();
      m.epoch = e;
      metrics.push_back(m);
      nn::write_metrics_csv(metrics, args.out + "/metrics.csv");
      schedule.step();
      std::cout << "epoch " << e << "/" << args.epochs << ": train loss " << m.train_loss
                << ", test accuracy " << m.test_acc << ", " << m.seconds << " s\n";
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

  // 6. Pictures. The 2D fields go to the plots row-major over y (Grid::field).
  const std::string& out = args.out;
  if (std::filesystem::exists(out + "/metrics.csv"))
    viz::plot_training_curves(out + "/training_curves.png", out + "/metrics.csv",
                              viz::PlotOptions().title("MLP 784-256-128-10 on Fashion-MNIST"));
  const std::vector<double> z = surface.field(surface.loss);
  const std::string random_title = "test loss, filter-normalized random directions";
  viz::plot_contour(out + "/surface_contour.png", surface.x, surface.y, z,
                    viz::ContourOptions()
                        .title(random_title)
                        .xlabel("d1")
                        .ylabel("d2")
                        .zlabel("loss")
                        .level_step(0.05));
  viz::plot_contour(out + "/surface_filled.png", surface.x, surface.y, z,
                    viz::ContourOptions()
                        .title(random_title)
                        .xlabel("d1")
                        .ylabel("d2")
                        .zlabel("loss")
                        .filled(true)
                        .contour_lines(true)
                        .log_levels(true)
                        .levels(20));
  viz::plot_surface(
      out + "/surface_3d.png", surface.x, surface.y, z,
      viz::SurfaceOptions().title(random_title).xlabel("d1").ylabel("d2").zlabel("loss"));
  viz::write_vtk(out + "/surface.vtk", surface.x, surface.y, z, "test_loss");
  std::vector<std::string> epochs;
  for (std::size_t e = 0; e < projected.x.size(); ++e) epochs.push_back(std::to_string(e));
  viz::plot_contour(out + "/trajectory.png", pca_surface.x, pca_surface.y,
                    pca_surface.field(pca_surface.loss),
                    viz::ContourOptions()
                        .title("training trajectory on its PCA plane")
                        .xlabel(pca.x.label)
                        .ylabel(pca.y.label)
                        .zlabel("loss")
                        .filled(true)
                        .contour_lines(true)
                        .log_levels(true)
                        .levels(20)
                        .trajectory_x(projected.x)
                        .trajectory_y(projected.y)
                        .trajectory_labels(epochs));
  std::vector<double> accuracy_percent;
  for (double a : line.accuracy) accuracy_percent.push_back(100 * a);
  viz::plot_lines(out + "/interpolation.png", line.x,
                  {viz::Series("test loss", line.loss),
                   viz::Series("test accuracy (%)", accuracy_percent).right()},
                  viz::PlotOptions()
                      .title("(1 - a) theta_initial + a theta_trained")
                      .xlabel("a")
                      .ylabel("loss")
                      .y2label("accuracy (%)")
                      .log_y(true));
  std::cout << "Pictures: " << out << "/{training_curves,surface_contour,surface_filled,"
            << "surface_3d,trajectory,interpolation}.png and " << out << "/surface.vtk\n";

  // 7. Curvature at the trained weights: the top Hessian eigenvalues (and the smallest) of the
  //    test loss over 1,000 images, by Lanczos on Hessian-vector products.
  {
    const std::size_t n = std::min<std::size_t>(1000, images);
    nn::DataLoader first(test_set, nn::DataLoaderOptions(n));
    const auto [x, y] = *first.begin();
    net->eval();
    viz::LossFn loss = [&, x = x, y = y] { return nn::functional::cross_entropy((*net)(x), y); };
    const viz::HessianEigen eig = viz::hessian_eigenvalues(
        loss, net->named_parameters(), viz::HessianOptions().top_k(3).smallest(true));
    std::cout << "Hessian over " << n << " test images: top eigenvalues";
    for (double v : eig.eigenvalues) std::cout << " " << v;
    std::cout << ", smallest " << eig.smallest << ", " << eig.iterations << " Lanczos steps, "
              << eig.seconds << " s\n";

    // 8. Li et al.'s curvature map: |lambda_min / lambda_max| over the random-direction plane
    //    (small where the surface is convex, larger where it has negative curvature).
    if (ratio_map) {
      const std::vector<double> as = ratio_axis.values();
      const std::vector<viz::CurvaturePoint> map = viz::curvature_ratio_map(
          loss, net->named_parameters(), dx.tensors, dy.tensors, as, as, out + "/curvature.csv");
      std::vector<double> ratio;  // b outer, a inner: the plots' layout
      for (const viz::CurvaturePoint& p : map) ratio.push_back(p.ratio);
      viz::plot_contour(out + "/curvature.png", as, as, ratio,
                        viz::ContourOptions()
                            .title("|lambda_min / lambda_max| of the Hessian")
                            .xlabel("d1")
                            .ylabel("d2")
                            .zlabel("ratio")
                            .heatmap(true));
      std::cout << "Curvature map: " << as.size() << " x " << as.size() << " points over " << n
                << " test images in " << out << "/curvature.{csv,png}\n";
    }
  }
  std::cout << "Trained model: test loss " << surface.loss_at(grid.num / 2, grid.num / 2)
            << ", accuracy " << surface.accuracy_at(grid.num / 2, grid.num / 2)
            << " (the centre of an odd grid around 0)\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "landscape_fashion_mnist: " << e.what() << "\n";
  return 1;
}
