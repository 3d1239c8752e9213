// Tutorial 09: the loss landscape, as in Li et al., "Visualizing the Loss Landscape of Neural
// Nets" (NeurIPS 2018). Training minimizes L(theta) over hundreds of thousands of parameters:
// a huge non-convex function we can only look at through low-dimensional slices. For an MLP
// and a CNN trained on Fashion-MNIST this draws
//   1. the 1D interpolation L((1 - a) theta_0 + a theta*) from the initial to the trained model,
//   2. the 2D slice L(theta* + a d + b e) along two random filter-normalized directions
//      (each filter of d rescaled to the norm of the same filter of theta*),
//   3. the training trajectory projected on its two PCA directions, over the slice along them,
//   4. the top Hessian eigenvalues at theta* (curvature: how sharp the minimum is).
//
// Run:  ./build/tutorials/09_loss_landscapes [options]
//   --train N    training images (default 10000; 60000: all)
//   --test N     test images every landscape point is evaluated on (default 1000; 10000: all)
//   --epochs N   training epochs, one snapshot per epoch (default 5)
//   --grid SPEC  2D grids, min:max:num (default -1:1:11; the paper's -1:1:51 for full size)
//   --quick      500 / 200 images, 2 epochs, -1:1:3 grids (for CI)
//   --out DIR    default runs/09_loss_landscapes
// The full-size run: --train 60000 --test 10000 --epochs 10 --grid -1:1:51 (the MLP part of it
// is what landscape_fashion_mnist does).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

struct Settings {
  std::size_t train = 10000, test = 1000;
  int64_t epochs = 5;
  std::string grid = "-1:1:11";
  std::string out = "runs/09_loss_landscapes";
};

/// Trains a model made by `make`, then draws and prints its landscape (files named name_*).
static void study(const std::string& name, const viz::ModelFactory& make,
                  const nn::FashionMNIST& train_set, const nn::FashionMNIST& test_set,
                  const Settings& s) {
  const std::string base = s.out + "/" + name;
  std::printf("\n== %s ==\n", name.c_str());
  manual_seed(0);
  std::shared_ptr<nn::Module> net = make(), initial = make();
  initial->load_state_dict(viz::snapshot(*net, viz::DirectionKind::states));

  // Train (SGD, momentum 0.9), keeping the weights after every epoch: the trajectory.
  std::vector<nn::NamedTensors> path{viz::snapshot(*net, viz::DirectionKind::weights)};
  nn::DataLoader loader(train_set, nn::DataLoaderOptions(64).shuffle(true).seed(0));
  nn::DataLoader test(test_set, nn::DataLoaderOptions(1000));
  optim::SGD opt(net->parameters(), optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  optim::CosineAnnealingLR schedule(opt, s.epochs);  // lr 0.05 -> 0 over the epochs
  auto loss_fn = [](const Tensor& scores, const Tensor& y) {
    return nn::functional::cross_entropy(scores, y);
  };
  for (int64_t e = 1; e <= s.epochs; ++e) {
    const nn::EpochMetrics m = nn::fit(*net, loader, opt, loss_fn,
                                       nn::FitOptions().epochs(1).progress(false).test_loader(test))
                                   .front();
    schedule.step();
    path.push_back(viz::snapshot(*net, viz::DirectionKind::weights));
    std::printf("epoch %lld: train loss %.4f, test accuracy %.2f%% (%.1f s)\n",
                static_cast<long long>(e), m.train_loss, 100 * m.test_acc, m.seconds);
  }
  auto options = [&](const std::string& csv) {  // every point: the test subset, eval mode
    return viz::EvalOptions().csv(base + "_" + csv).resume(false).progress(false).model_name(name);
  };
  const viz::Axis grid(s.grid);

  // 1. The straight line from the initial to the trained weights, a in [-0.5, 1.5].
  const viz::Grid line = viz::interpolate(make, *initial, *net, viz::Axis(-0.5, 1.5, 21), test_set,
                                          options("interpolation.csv"));
  std::vector<double> percent;
  for (double a : line.accuracy) percent.push_back(100 * a);
  viz::plot_lines(
      base + "_interpolation.png", line.x,
      {viz::Series("test loss", line.loss), viz::Series("test accuracy (%)", percent).right()},
      viz::PlotOptions()
          .title(name + ": from initial (a = 0) to trained (a = 1)")
          .xlabel("a")
          .ylabel("loss")
          .y2label("accuracy (%)")
          .log_y(true));
  // BatchNorm's running variances are interpolated too: (1 - a) 1 + a v* can turn negative.
  double vmin = INFINITY, vmax = 0;
  for (const auto& [buffer, t] : net->named_buffers())
    if (buffer.find("running_var") != std::string::npos)
      vmin = std::min(vmin, min(t).item<double>()), vmax = std::max(vmax, max(t).item<double>());
  if (vmax > 0) std::printf("trained BatchNorm running variances: %.3f to %.3f\n", vmin, vmax);
  std::printf(
      "1D interpolation: loss %.3f at a = 0 (initial), %.3f at a = 0.5, %.3f at a = 1 "
      "(trained), %.3f at a = 1.5 (%.1f s)\n",
      line.loss_at(5), line.loss_at(10), line.loss_at(15), line.loss_at(20), line.seconds);

  // 2. The slice along two random filter-normalized directions (biases and BatchNorm fixed).
  const viz::Direction d = viz::random_direction(*net, viz::DirectionOptions().seed(1));
  const viz::Direction e = viz::random_direction(*net, viz::DirectionOptions().seed(2));
  const viz::Grid slice =
      viz::evaluate_grid(make, *net, {d, e}, {grid}, test_set, options("surface.csv"));
  viz::plot_contour(base + "_surface.png", slice.x, slice.y, slice.field(slice.loss),
                    viz::ContourOptions()
                        .title(name + ": random filter-normalized slice")
                        .xlabel("a (along d)")
                        .ylabel("b (along e)")
                        .zlabel("loss")
                        .filled(true)
                        .contour_lines(true)
                        .log_levels(true)
                        .levels(15));
  std::printf("2D slice (random directions): %zu x %zu points, loss %.3f at the centre, %.1f s\n",
              slice.x.size(), slice.y.size(), slice.loss_at(grid.num / 2, grid.num / 2),
              slice.seconds);

  // 3. The trajectory: PCA of theta_i - theta*, the path on that plane and the slice along it.
  const nn::NamedTensors final_point = path.back();
  const viz::PCADirections pca = viz::pca_directions(path, final_point);
  const viz::ProjectedPath p = viz::project_path(path, final_point, pca.x, pca.y);
  const viz::Grid plane =
      viz::evaluate_grid(make, *net, {pca.x, pca.y},
                         {viz::Axis::around(p.x, grid.num), viz::Axis::around(p.y, grid.num)},
                         test_set, options("pca_surface.csv"));
  std::vector<std::string> epochs;
  for (std::size_t i = 0; i < p.x.size(); ++i) epochs.push_back(std::to_string(i));
  viz::plot_contour(base + "_trajectory.png", plane.x, plane.y, plane.field(plane.loss),
                    viz::ContourOptions()
                        .title(name + ": trajectory on its PCA plane")
                        .xlabel(pca.x.label)
                        .ylabel(pca.y.label)
                        .zlabel("loss")
                        .filled(true)
                        .contour_lines(true)
                        .log_levels(true)
                        .levels(15)
                        .trajectory(p.x, p.y)
                        .trajectory_labels(epochs));
  std::printf("trajectory: PCA directions %s and %s, %.1f s\n", pca.x.label.c_str(),
              pca.y.label.c_str(), plane.seconds);

  // 4. Curvature at theta*: top Hessian eigenvalues (Lanczos on Hessian-vector products, each a
  //    double backward) of the loss over the test subset, over the weights (dim > 1).
  net->eval();
  const Tensor x = test_set.data(), y = test_set.targets();
  viz::LossFn loss = [&] { return loss_fn((*net)(x), y); };
  const viz::HessianEigen eig =
      viz::hessian_eigenvalues(loss, net->named_parameters(), viz::HessianOptions().top_k(3));
  std::printf(
      "top Hessian eigenvalues: %.3f %.3f %.3f (%zu parameters, %zu Lanczos steps, "
      "%.1f s)\n",
      eig.eigenvalues[0], eig.eigenvalues[1], eig.eigenvalues[2], eig.dim, eig.iterations,
      eig.seconds);
  std::printf("pictures: %s_{interpolation,surface,trajectory}.png (data: the .csv files)\n",
              base.c_str());
}

int main(int argc, char** argv) {
  CLI::App app{"Tutorial 09: loss landscapes of an MLP and a CNN (Li et al. 2018)"};
  Settings s;
  bool quick = false;
  app.add_option("--train", s.train, "training images")->check(CLI::Range(100, 60000));
  app.add_option("--test", s.test, "test images per landscape point")->check(CLI::Range(10, 10000));
  app.add_option("--epochs", s.epochs, "training epochs")->check(CLI::Range(1, 100));
  app.add_option("--grid", s.grid, "2D grid min:max:num");
  app.add_option("--out", s.out, "output folder (made if missing)");
  app.add_flag("--quick", quick, "500 / 200 images, 2 epochs, 3 x 3 grids (for CI)");
  try {
    app.parse(argc, argv);
    if (quick) s.train = 500, s.test = 200, s.epochs = 2, s.grid = "-1:1:3";
    viz::Axis check(s.grid);  // a bad grid fails here, before any work
    (void)check;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "09_loss_landscapes: --grid: %s\n", e.what());
    return 2;
  }
  try {
    std::filesystem::create_directories(s.out);
    const auto data = nn::FashionMNISTOptions().normalize(true);
    nn::FashionMNIST train_set(true, nn::FashionMNISTOptions(data).limit(s.train));
    nn::FashionMNIST test_set(false, nn::FashionMNISTOptions(data).limit(s.test));
    std::printf("%zu training images, landscapes over %zu test images, grid %s\n", train_set.size(),
                test_set.size(), s.grid.c_str());
    study(
        "mlp",
        [] {
          return std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
        },
        train_set, test_set, s);
    // A CNN with 16 and 32 channels (06 uses 32 and 64): a quarter of the cost per point.
    study(
        "cnn",
        [] {
          return std::make_shared<nn::CNN>(nn::CNNOptions().channels({16, 32}));
        },
        train_set, test_set, s);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "09_loss_landscapes: %s\n", e.what());
    return 2;  // bad input (missing data, unwritable folder) or a failure: exit code 2
  }
}
