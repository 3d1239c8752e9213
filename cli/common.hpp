#pragma once
// Pieces the `xgrad` subcommands share: models by name, the data, output folders, checkpoints,
// and the work of each subcommand as a function (so `xgrad demo` chains them).
//
// Every failure is an exception with a one-line message; main() prints it and exits with 2.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

namespace xgcli {

/// CLI11 check: a number greater than 0 (or >= 0 with allow_zero). CLI::PositiveNumber's message
/// prints the whole double range ("not in range 0.000000 to 1797...").
inline CLI::Validator number_above_zero(bool allow_zero = false) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        double v = 0;
        try {
          std::size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) return "'" + text + "' is not a number";
        } catch (const std::exception&) {
          return "'" + text + "' is not a number";
        }
        if (std::isnan(v) || (allow_zero ? v < 0 : v <= 0))
          return std::string("must be ") + (allow_zero ? ">= 0" : "> 0") + ", got " + text;
        return "";
      },
      allow_zero ? "NUMBER >= 0" : "NUMBER > 0");
}

using namespace xg;

// ---- models, data, folders, checkpoints (common.cpp) ----

/// "softmax", "mlp" or "cnn": the Fashion-MNIST classifiers of tutorials/train_fashion_mnist.
const std::vector<std::string>& model_names();
/// A new model of that name with fresh (seeded by xg::manual_seed) weights.
std::shared_ptr<nn::Module> make_model(const std::string& name);
/// "MLP 784-256-128-10", ...: the architecture in words, for titles.
std::string model_title(const std::string& name);
/// One split of Fashion-MNIST, normalized, from `root` (empty: $XGRAD_DATA or the Debian
/// package's folder), the first `limit` images (0: all).
nn::FashionMNIST fashion_mnist(const std::string& root, bool train, std::size_t limit);
/// Sets the threads of OpenBLAS (0: leave as it is).
void set_threads(std::size_t threads);
/// Makes `dir` if needed and checks a file can be created in it; throws "cannot write to ...".
void prepare_folder(const std::string& dir);
/// Writes `text` to `path` through a temporary file renamed over it.
void write_text(const std::string& path, const std::string& text);
/// The whole file as a string; throws naming the path.
std::string read_text(const std::string& path);
/// dir/epoch_NN.safetensors.
std::string epoch_file(const std::string& dir, int64_t epoch);
/// The epoch_NN.safetensors files of a run folder, by epoch (empty if none).
std::vector<std::string> run_checkpoints(const std::string& dir);
/// The model named in a checkpoint's metadata ("model"); throws for a bad file or none named.
std::string checkpoint_model(const std::string& path);
/// A model built from a checkpoint: its architecture from the metadata (or `model` if not
/// empty, which must then agree), its weights loaded strictly. Throws naming the file.
std::shared_ptr<nn::Module> load_model(const std::string& path, const std::string& model = "");
/// The ten class names.
std::vector<std::string> class_names();
/// Writes a confusion matrix as CSV (header "true\\predicted,<classes>", one row per class).
void write_confusion_csv(const nn::ConfusionMatrix& cm, const std::string& path);
/// A number as text with `digits` significant digits.
std::string fmt(double v, int digits = 4);

// ---- the optimizer state file of `xgrad train --resume` (optimizer_state.cpp) ----

/// Saves an optimizer's state to a safetensors file: buffers as tensors
/// "g<group>.p<param>.<buffer>", options and step counts as JSON in the metadata ("groups").
void save_optimizer(const optim::Optimizer& opt, const std::string& path, int64_t epoch);
/// Reads what save_optimizer wrote, validating the metadata JSON and the tensor names; throws
/// std::runtime_error naming the file and the field for anything malformed.
optim::OptimizerStateDict read_optimizer_state(const std::string& path);
/// read_optimizer_state, then opt.load_state_dict (same optimizer, same parameter shapes).
void load_optimizer(optim::Optimizer& opt, const std::string& path);

// ---- the subcommands' work ----

/// `xgrad train`'s settings.
struct TrainSettings {
  std::string model = "mlp";
  int64_t epochs = 10;
  int64_t batch_size = 64;
  std::string optimizer = "momentum";  ///< sgd | momentum | adam | adamw
  double lr = std::nan("");            ///< NaN: the model's and optimizer's default
  double weight_decay = std::nan("");  ///< NaN: the model's default
  std::string scheduler = "cosine";    ///< none | cosine | step
  int64_t seed = 0;
  std::size_t threads = 0;
  std::string data;       ///< data root (empty: default)
  std::size_t limit = 0;  ///< first N training and test images (0: all)
  std::string out = "runs/mlp";
  bool resume = false;
  bool progress = true;
  /// One rank of `mpirun -np N xgrad train --distributed`: DistributedDataParallel over a
  /// DistributedSampler, batch_size per rank (global batch N x batch_size); rank 0 writes.
  bool distributed = false;
};

/// What a training run leaves: the trained model, every epoch's record, the test confusion.
struct TrainResult {
  std::shared_ptr<nn::Module> model;
  std::vector<nn::EpochMetrics> history;
  nn::ConfusionMatrix confusion{10};
  std::vector<std::string> checkpoints;  ///< epoch_00 (initial) ... epoch_NN
};

/// Trains as `xgrad train` does: checkpoints, optimizer state, metrics.csv, confusion.csv,
/// training_curves.{svg,png}. Prints progress and the result to stdout/stderr.
TrainResult train(const TrainSettings& s);

/// Draws the graph of one training step of `model` (batch of `batch` random images) to `path`
/// (.svg, .png, .pdf or .dot).
void draw_graph(const std::string& model, const std::string& path, int64_t batch = 64);

/// `xgrad landscape`'s settings.
struct LandscapeSettings {
  std::string run;         ///< folder with epoch_NN.safetensors (from xgrad train)
  std::string checkpoint;  ///< centre / trained point (empty: the run's last checkpoint)
  std::string from;        ///< 1d: start (empty: the run's first checkpoint)
  std::string model;       ///< empty: from the checkpoint's metadata
  std::string grid = "-1:1:21";
  std::string line = "-0.5:1.5:41";
  std::size_t limit = 1000;  ///< test images each point is evaluated on (0: all 10,000)
  std::size_t threads = 0;
  std::string data;
  int64_t seed = 0;
  std::size_t top_k = 3;
  std::string out;           ///< empty: the run folder
  bool progress = true;      ///< progress bars of the grids (on stderr)
  bool distributed = false;  ///< share the grid with the other ranks of `mpirun -np N`
};

/// The four landscape computations; each writes CSV + JSON + pictures into s.out (or s.run) and
/// returns a one-line summary. They resume an interrupted grid with the same settings.
std::string landscape_1d(const LandscapeSettings& s);
std::string landscape_2d(const LandscapeSettings& s);
std::string landscape_trajectory(const LandscapeSettings& s);
std::string landscape_hessian(const LandscapeSettings& s);

/// Writes dir/report.html from the files a run folder holds (settings from the last checkpoint,
/// metrics.csv, confusion.csv, the SVG pictures, hessian.json); missing parts are left out.
/// Returns the path.
std::string write_report(const std::string& dir, const std::string& title = "");

// ---- registration of the subcommands (one file each) ----
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_graph(CLI::App& app);
void add_landscape(CLI::App& app);
void add_info(CLI::App& app);
void add_bench(CLI::App& app, const std::string& argv0);
void add_report(CLI::App& app);
void add_demo(CLI::App& app);

}  // namespace xgcli
