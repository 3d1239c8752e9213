// `xgrad landscape 1d|2d|trajectory|hessian`: loss landscapes of saved checkpoints (Li et al.,
// "Visualizing the Loss Landscape of Neural Nets", 2018), on Fashion-MNIST test images.
//   1d          (1 - a) theta_from + a theta_to: interpolation.{csv,json,svg,png}
//   2d          theta + a d1 + b d2 along two random filter-normalized directions:
//               surface.{csv,json,svg,png}
//   trajectory  the checkpoints projected on their PCA plane, with the surface along it:
//               path.csv, pca_surface.{csv,json}, trajectory.{svg,png}
//   hessian     the top eigenvalues of the Hessian (Lanczos): hessian.json
// Grids are written as computed; a rerun with the same settings resumes an interrupted one.
// With --distributed under `mpirun -np N`, the grids' points are shared by the ranks
// (dist::evaluate_grid): rank 0 shows the progress and writes every file; a rank that fails
// ends the whole job (MPI_Abort) with "xgrad: error: rank R: ..." instead of a hang.
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.hpp"
#ifdef XGRAD_HAVE_DIST
#include "dist/dist.hpp"
#endif

namespace xgcli {

namespace {

/// True on the rank that writes files and prints (rank 0, or the only process).
bool writer() {
#ifdef XGRAD_HAVE_DIST
  return xg::dist::rank() == 0;
#else
  return true;
#endif
}

/// Runs one landscape command and prints its summary line; with s.distributed, as one rank of
/// an MPI job: only rank 0 prints, and an exception on any rank prints "xgrad: error: rank R:
/// ..." and aborts the job (the other ranks may be waiting for it in a collective).
void run_command(const LandscapeSettings& s, const std::function<std::string()>& command) {
  if (!s.distributed) {
    std::cout << command() << "\n";
    return;
  }
#ifdef XGRAD_HAVE_DIST
  xg::dist::init();
  std::string line;
  try {
    line = command();
  } catch (const std::exception& e) {
    std::ostringstream os;  // one write: the ranks' lines do not interleave
    os << "xgrad: error: rank " << xg::dist::rank() << " of " << xg::dist::world_size() << ": "
       << e.what() << "\n";
    std::cerr << os.str() << std::flush;
    xg::dist::abort(2);
  }
  if (writer()) std::cout << line << "\n" << std::flush;
  xg::dist::finalize();
#else
  (void)command;
  throw std::runtime_error(
      "--distributed: this xgrad was built without Open MPI (install libopenmpi-dev and "
      "openmpi-bin, then rebuild)");
#endif
}

/// evaluate_grid, shared by the ranks with --distributed.
viz::Grid grid(const LandscapeSettings& s, const viz::ModelFactory& make, const nn::Module& base,
               const std::vector<viz::Direction>& directions, const std::vector<viz::Axis>& axes,
               const nn::Dataset& data, const viz::EvalOptions& options) {
#ifdef XGRAD_HAVE_DIST
  if (s.distributed) return xg::dist::evaluate_grid(make, base, directions, axes, data, options);
#endif
  (void)s;
  return viz::evaluate_grid(make, base, directions, axes, data, options);
}

/// The run's checkpoints and the folder the results go to.
struct Inputs {
  std::vector<std::string> files;  // the run's epoch_NN files (may be empty with --checkpoint)
  std::string centre;              // the trained point
  std::string model;
  std::string out;
};

Inputs inputs(const LandscapeSettings& s) {
  Inputs in;
  if (!s.run.empty()) {
    if (!std::filesystem::is_directory(s.run))
      throw std::runtime_error("--run " + s.run + ": no such folder");
    in.files = run_checkpoints(s.run);
    if (in.files.empty() && s.checkpoint.empty())
      throw std::runtime_error(s.run +
                               " holds no epoch_NN.safetensors checkpoints (made by xgrad train)");
  }
  in.centre = !s.checkpoint.empty() ? s.checkpoint : in.files.empty() ? "" : in.files.back();
  if (in.centre.empty()) throw std::runtime_error("give --run DIR or --checkpoint FILE");
  in.model = s.model.empty() ? checkpoint_model(in.centre) : s.model;
  make_model(in.model);
  in.out = !s.out.empty()   ? s.out
           : !s.run.empty() ? s.run
                            : std::filesystem::path(in.centre).parent_path().string();
  if (in.out.empty()) in.out = ".";
  return in;
}

viz::EvalOptions eval_options(const LandscapeSettings& s, const Inputs& in, const std::string& csv,
                              std::vector<std::string> checkpoints) {
  return viz::EvalOptions()
      .threads(s.threads)
      .progress(s.progress)
      .csv(in.out + "/" + csv)
      .dataset_name("Fashion-MNIST test")
      .model_name(model_title(in.model))
      .checkpoints(std::move(checkpoints));
}

viz::ModelFactory factory(const std::string& model) {
  return [model] { return make_model(model); };
}

/// Draws a 2D field as a filled contour with log-spaced levels, to .svg and .png.
void draw_field(const std::string& stem, const viz::Grid& g, viz::ContourOptions options) {
  options.zlabel("loss").filled(true).contour_lines(true).log_levels(true).levels(20);
  for (const char* ext : {".svg", ".png"})
    viz::plot_contour(stem + ext, g.x, g.y, g.field(g.loss), options);
}

std::string seconds(const viz::Grid& g) {
  std::ostringstream os;
  os << g.x.size() * g.y.size() << " points (" << g.computed << " computed";
#ifdef XGRAD_HAVE_DIST
  if (xg::dist::world_size() > 1) os << " by rank 0 of " << xg::dist::world_size();
#endif
  os << " in " << std::fixed << std::setprecision(1) << g.seconds << " s)";
  return os.str();
}

}  // namespace

std::string landscape_1d(const LandscapeSettings& s) {
  const Inputs in = inputs(s);
  const std::string from = !s.from.empty() ? s.from : in.files.empty() ? "" : in.files.front();
  if (from.empty()) throw std::runtime_error("1d: give --from FILE (or --run DIR)");
  auto a = load_model(from, in.model);
  auto b = load_model(in.centre, in.model);
  nn::FashionMNIST test_set = fashion_mnist(s.data, false, s.limit);
  prepare_folder(in.out);
  const viz::Grid line = grid(
      s, factory(in.model), *a, {viz::direction_between(*a, *b, viz::DirectionKind::states)},
      {viz::Axis(s.line)}, test_set, eval_options(s, in, "interpolation.csv", {from, in.centre}));
  if (!writer()) return "";
  std::vector<double> percent;
  for (double v : line.accuracy) percent.push_back(100 * v);
  for (const char* ext : {".svg", ".png"})
    viz::plot_lines(
        in.out + "/interpolation" + ext, line.x,
        {viz::Series("test loss", line.loss), viz::Series("test accuracy (%)", percent).right()},
        viz::PlotOptions()
            .title("(1 - a) theta_initial + a theta_trained")
            .xlabel("a")
            .ylabel("loss")
            .y2label("accuracy (%)")
            .log_y(true));
  return "1d: " + in.out + "/interpolation.{csv,svg,png}, " + seconds(line);
}

std::string landscape_2d(const LandscapeSettings& s) {
  const Inputs in = inputs(s);
  auto net = load_model(in.centre, in.model);
  nn::FashionMNIST test_set = fashion_mnist(s.data, false, s.limit);
  prepare_folder(in.out);
  const auto seed = static_cast<uint64_t>(s.seed);
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(2 * seed + 1));
  const viz::Direction dy = viz::random_direction(*net, viz::DirectionOptions().seed(2 * seed + 2));
  const viz::Grid g = grid(s, factory(in.model), *net, {dx, dy}, {viz::Axis(s.grid)}, test_set,
                           eval_options(s, in, "surface.csv", {in.centre}));
  if (!writer()) return "";
  draw_field(in.out + "/surface", g,
             viz::ContourOptions()
                 .title("test loss, filter-normalized random directions")
                 .xlabel("d1")
                 .ylabel("d2"));
  return "2d: " + in.out + "/surface.{csv,svg,png}, " + seconds(g);
}

std::string landscape_trajectory(const LandscapeSettings& s) {
  const Inputs in = inputs(s);
  if (in.files.size() < 3)
    throw std::runtime_error(
        "trajectory: --run needs at least 3 checkpoints (epoch_00, epoch_01, "
        "epoch_02, ...); train for 2 epochs or more");
  auto net = load_model(in.centre, in.model);
  nn::FashionMNIST test_set = fashion_mnist(s.data, false, s.limit);
  prepare_folder(in.out);
  // PCA of theta_i - theta_final over the checkpoints; the path on that plane.
  const std::vector<nn::NamedTensors> path =
      viz::snapshots(in.files, *net, viz::DirectionKind::weights);
  const nn::NamedTensors final_point = viz::snapshot(*net, viz::DirectionKind::weights);
  const viz::PCADirections pca = viz::pca_directions(path, final_point);
  const viz::ProjectedPath projected = viz::project_path(path, final_point, pca.x, pca.y);
  if (writer()) viz::write_path_csv(projected, in.files, in.out + "/path.csv");
  const std::size_t num = viz::Axis(s.grid).num;
  const viz::Grid g =
      grid(s, factory(in.model), *net, {pca.x, pca.y},
           {viz::Axis::around(projected.x, num), viz::Axis::around(projected.y, num)}, test_set,
           eval_options(s, in, "pca_surface.csv", in.files));
  if (!writer()) return "";
  std::vector<std::string> labels;
  for (std::size_t e = 0; e < projected.x.size(); ++e) labels.push_back(std::to_string(e));
  draw_field(in.out + "/trajectory", g,
             viz::ContourOptions()
                 .title("training trajectory on its PCA plane")
                 .xlabel(pca.x.label)
                 .ylabel(pca.y.label)
                 .trajectory_x(projected.x)
                 .trajectory_y(projected.y)
                 .trajectory_labels(labels));
  return "trajectory: " + in.out + "/trajectory.{svg,png}, path.csv, pca_surface.csv (" +
         pca.x.label + ", " + pca.y.label + "), " + seconds(g);
}

std::string landscape_hessian(const LandscapeSettings& s) {
  // One Lanczos run is not split into points: under --distributed rank 0 computes it alone.
  if (!writer()) return "";
  const Inputs in = inputs(s);
  auto net = load_model(in.centre, in.model);
  nn::FashionMNIST test_set = fashion_mnist(s.data, false, s.limit);
  prepare_folder(in.out);
  // The loss: mean cross-entropy over the test images, in eval mode, as one batch.
  net->eval();
  const Tensor x = test_set.data(), y = test_set.targets();
  viz::LossFn loss = [&] { return nn::functional::cross_entropy((*net)(x), y); };
  const viz::HessianEigen eig = viz::hessian_eigenvalues(
      loss, net->named_parameters(),
      viz::HessianOptions().top_k(s.top_k).seed(static_cast<uint64_t>(s.seed)));
  nlohmann::json j;
  j["checkpoint"] = in.centre;
  j["model"] = in.model;
  j["images"] = test_set.size();
  j["eigenvalues"] = eig.eigenvalues;
  j["residuals"] = eig.residuals;
  j["dim"] = eig.dim;
  j["iterations"] = eig.iterations;
  j["converged"] = eig.converged;
  j["seconds"] = eig.seconds;
  write_text(in.out + "/hessian.json", j.dump(2) + "\n");
  std::ostringstream os;
  os << "hessian: top eigenvalue" << (eig.eigenvalues.size() > 1 ? "s" : "");
  for (double v : eig.eigenvalues) os << " " << fmt(v, 5);
  os << " over " << test_set.size() << " test images (" << eig.iterations << " Lanczos steps, "
     << (eig.converged ? "converged" : "NOT converged") << ", " << std::fixed
     << std::setprecision(1) << eig.seconds << " s): " << in.out << "/hessian.json";
  return os.str();
}

void add_landscape(CLI::App& app) {
  auto s = std::make_shared<LandscapeSettings>();
  CLI::App* cmd = app.add_subcommand("landscape",
                                     "Loss landscapes of saved checkpoints: 1d, 2d, "
                                     "trajectory, hessian");
  cmd->require_subcommand(1);
  // Options shared by the four kinds, given after the kind: xgrad landscape 2d --run DIR.
  auto common = [s](CLI::App* c) {
    c->add_option("--run", s->run, "Folder of a run of xgrad train (its epoch_NN.safetensors)");
    c->add_option("--checkpoint", s->checkpoint,
                  "The trained point (default: the run's last checkpoint)");
    c->add_option("--model", s->model, "softmax, mlp or cnn (default: from the checkpoint)")
        ->check(CLI::IsMember(model_names()));
    c->add_option("--limit", s->limit, "Test images each point is evaluated on (0: all 10,000)")
        ->check(number_above_zero(true))
        ->capture_default_str();
    c->add_option("--threads", s->threads, "Evaluation threads (0: one per core)")
        ->check(number_above_zero(true));
    c->add_option("--data", s->data,
                  "Folder of Fashion-MNIST (default: $XGRAD_DATA or the package's)");
    c->add_option("--seed", s->seed, "Seed of the random directions / Lanczos start")
        ->capture_default_str();
    c->add_option("--out", s->out, "Output folder (default: the run folder)");
    c->add_flag("--distributed", s->distributed,
                "Run as one rank of `mpirun -np N xgrad landscape ...`: the grid's points are "
                "shared by the ranks, rank 0 writes the files");
  };
  auto check_axis = [](const std::string& spec) {
    try {
      viz::Axis a(spec);
      return std::string();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
  CLI::App* one = cmd->add_subcommand("1d", "Interpolation (1 - a) theta_from + a theta_trained");
  common(one);
  one->add_option("--from", s->from, "Start point (default: the run's first checkpoint, epoch_00)");
  one->add_option("--line", s->line, "Values of a, MIN:MAX:NUM")
      ->check(check_axis)
      ->capture_default_str();
  one->callback([s] { run_command(*s, [s] { return landscape_1d(*s); }); });
  CLI::App* two =
      cmd->add_subcommand("2d", "Surface along two random filter-normalized directions");
  common(two);
  two->add_option("--grid", s->grid, "Grid per axis, MIN:MAX:NUM")
      ->check(check_axis)
      ->capture_default_str();
  two->callback([s] { run_command(*s, [s] { return landscape_2d(*s); }); });
  CLI::App* traj =
      cmd->add_subcommand("trajectory", "The checkpoints on their PCA plane, with its surface");
  common(traj);
  traj->add_option("--grid", s->grid,
                   "Points per axis taken from NUM of MIN:MAX:NUM (the bounds frame the path)")
      ->check(check_axis)
      ->capture_default_str();
  traj->callback([s] { run_command(*s, [s] { return landscape_trajectory(*s); }); });
  CLI::App* hess = cmd->add_subcommand("hessian", "Top Hessian eigenvalues at the trained point");
  common(hess);
  hess->add_option("--top-k", s->top_k, "Number of eigenvalues")
      ->check(number_above_zero())
      ->capture_default_str();
  hess->callback([s] { run_command(*s, [s] { return landscape_hessian(*s); }); });
}

}  // namespace xgcli
