#pragma once
// Loss landscapes as in Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS
// 2018), following the conventions of its code (github tomgoldstein/loss-landscape):
//   - directions: Gaussian tensors shaped like the parameters ("weights") or like the whole
//     state dict ("states": parameters and BatchNorm running statistics), normalized per filter
//     (each slice j along dim 0 of a tensor with dim > 1: d_j <- d_j ||w_j|| / (||d_j|| + 1e-10)),
//     per layer, per weight or not at all; 1-D tensors are zeroed (ignore = biasbn) or set to the
//     weights themselves (d = w);
//   - 1D curves theta* + a d and interpolations (1 - a) theta_A + a theta_B; 2D surfaces
//     f(a, b) = L(theta* + a d + b e) on a grid ("-1:1:51");
//   - trajectories: PCA of (theta_i - theta_final) over checkpoints, the path projected on the two
//     principal directions (cosine projection as the paper's code, or least squares).
// Every grid point is one evaluation of the loss and accuracy over a data set, in eval mode
// without a graph, spread over threads (each thread owns a model replica; results are
// bit-identical for any thread count) and written to CSV as computed, with JSON metadata beside
// it, so an interrupted run resumes and a run with other settings refuses to mix its results in.
//
//   auto make = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10}); };
//   auto net = make();
//   nn::load(*net, "mlp.safetensors");
//   viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
//   viz::Direction dy = viz::random_direction(*net, viz::DirectionOptions().seed(2));
//   viz::Grid g = viz::evaluate_grid(make, *net, {dx, dy}, {viz::Axis("-1:1:51")},
//                                    nn::FashionMNIST(false),
//                                    viz::EvalOptions().threads(2).csv("surface.csv"));
//   // g.loss[i * g.y.size() + j] is the loss at (g.x[i], g.y[j]); surface.json holds the settings.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "nn/dataset.hpp"
#include "nn/module.hpp"
#include "nn/train.hpp"
#include "viz/partition.hpp"

namespace xg::viz {

// ---- directions ----

/// What a direction moves: the parameters only ("weights"), or the whole state dict
/// ("states": parameters and buffers such as BatchNorm's running mean and variance).
enum class DirectionKind { weights, states };
/// How a random direction is rescaled against the weights w (tensors with dim > 1 only).
enum class Normalization {
  filter,  ///< each slice j along dim 0: d_j <- d_j * ||w_j|| / (||d_j|| + 1e-10)
  layer,   ///< the whole tensor: d <- d * ||w|| / ||d||
  weight,  ///< elementwise: d <- d * w
  none     ///< unchanged N(0, 1) values
};
/// What happens to the direction of tensors with at most one dimension (biases, BatchNorm).
enum class Ignore {
  biasbn,  ///< zeroed: the landscape does not move them
  none     ///< set to the weights themselves (d = w), as the paper's code does
};

/// "weights" / "states".
const char* to_string(DirectionKind kind);
/// "filter" / "layer" / "weight" / "none".
const char* to_string(Normalization norm);
/// "biasbn" / "none".
const char* to_string(Ignore ignore);
/// Parses "weights" or "states"; fails naming the value.
DirectionKind parse_direction_kind(const std::string& s);
/// Parses "filter", "layer", "weight" or "none"; fails naming the value.
Normalization parse_normalization(const std::string& s);
/// Parses "biasbn" or "none" (also ""); fails naming the value.
Ignore parse_ignore(const std::string& s);

/// A direction in parameter space: one tensor per entry of the model's named_parameters()
/// (kind weights) or state_dict() (kind states), with the same names, shapes and dtypes.
/// Entries of dtype int64 (BatchNorm's num_batches_tracked) are always zero.
struct Direction {
  /// The tensors, detached from any graph, in the model's order.
  nn::NamedTensors tensors;
  /// Which entries it spans: parameters (weights) or the whole state dict (states).
  DirectionKind kind = DirectionKind::weights;
  /// How it was made: "random", "between" (theta_B - theta_A), "pca" or "custom".
  std::string source = "custom";
  /// For random directions: the seed, normalization and ignore rule used.
  uint64_t seed = 0;
  Normalization normalization = Normalization::none;
  Ignore ignore = Ignore::none;
  /// A human-readable axis label ("random direction (seed 1, filter)", "PC1 (93.1%)").
  std::string label;
  /// Euclidean norm over all entries.
  double norm() const;
};

/// Options of random_direction: seed, kind, normalization and ignore rule.
struct DirectionOptions {
  /// Seed of the Gaussian values (default 0).
  DirectionOptions& seed(uint64_t v) { return seed_ = v, *this; }
  uint64_t seed() const { return seed_; }
  /// weights (default) or states.
  DirectionOptions& kind(DirectionKind v) { return kind_ = v, *this; }
  DirectionKind kind() const { return kind_; }
  /// filter (default), layer, weight or none.
  DirectionOptions& normalization(Normalization v) { return normalization_ = v, *this; }
  Normalization normalization() const { return normalization_; }
  /// biasbn (default: 1-D tensors are not moved) or none (d = w for 1-D tensors).
  DirectionOptions& ignore(Ignore v) { return ignore_ = v, *this; }
  Ignore ignore() const { return ignore_; }

 private:
  uint64_t seed_ = 0;
  DirectionKind kind_ = DirectionKind::weights;
  Normalization normalization_ = Normalization::filter;
  Ignore ignore_ = Ignore::biasbn;
};

/// Detached copies of the tensors a direction of `kind` spans in `model`: named_parameters()
/// (weights) or state_dict() (states), in the model's order.
nn::NamedTensors snapshot(const nn::Module& model, DirectionKind kind);
/// The same entries read from a checkpoint file written by nn::save (`model` gives the names,
/// shapes and dtypes; the file may hold more entries). Fails naming the file and the entry.
nn::NamedTensors snapshot(const std::string& checkpoint, const nn::Module& model,
                          DirectionKind kind);

/// snapshot(file, model, kind) for every checkpoint of a run, in the order given (a training
/// path for pca_directions and project_path).
std::vector<nn::NamedTensors> snapshots(const std::vector<std::string>& checkpoints,
                                        const nn::Module& model, DirectionKind kind);

/// N(0, 1) tensors shaped like `like` (same names, shapes, dtypes; int64 entries zero). Element
/// k of the tensor named n is a function of (seed, n, k) only (splitmix64 counter + Box-Muller),
/// so values do not depend on the tensor order, on threads or on the global generator.
nn::NamedTensors gaussian_like(const nn::NamedTensors& like, uint64_t seed);
/// Normalizes `d` in place against the weights `w` (same names and shapes, in the same order):
/// tensors with dim > 1 by `norm`; tensors with dim <= 1 are zeroed (biasbn) or copied from w
/// (none); int64 tensors are zeroed. Fails naming the first entry that does not match.
void normalize_direction(nn::NamedTensors& d, const nn::NamedTensors& w, Normalization norm,
                         Ignore ignore);
/// A random direction for `model` (gaussian_like of its snapshot, then normalize_direction).
Direction random_direction(const nn::Module& model, const DirectionOptions& options = {});
/// A random direction for the point `w` (a snapshot) of kind `options.kind()`.
Direction random_direction(const nn::NamedTensors& w, const DirectionOptions& options = {});
/// theta_B - theta_A entry by entry (int64 entries zero): the direction of the interpolation
/// theta(a) = (1 - a) theta_A + a theta_B = theta_A + a (theta_B - theta_A). The names, shapes
/// and dtypes of a and b must agree (fails naming the first difference).
Direction direction_between(const nn::NamedTensors& a, const nn::NamedTensors& b,
                            DirectionKind kind = DirectionKind::states);
/// The same between two models of one architecture (snapshots of `kind`).
Direction direction_between(const nn::Module& a, const nn::Module& b,
                            DirectionKind kind = DirectionKind::states);
/// Cosine similarity of two directions over all entries (the paper prints it for x and y).
double cosine_similarity(const Direction& a, const Direction& b);

// ---- grids ----

/// One grid axis: `num` values evenly spaced from `min` to `max` inclusive (numpy.linspace).
struct Axis {
  /// First coordinate.
  double min = -1.0;
  /// Last coordinate.
  double max = 1.0;
  /// Number of points (>= 1).
  std::size_t num = 51;
  /// -1:1:51.
  Axis() = default;
  /// An axis from its bounds and point count (num >= 1; min <= max, both finite).
  Axis(double min, double max, std::size_t num);
  /// Parses "min:max:num" as the paper's --x/--y options ("-1:1:51"); fails naming the text.
  explicit Axis(const std::string& spec);
  /// Axis(spec) (so {"-1:1:51"} converts).
  Axis(const char* spec);  // NOLINT
  /// `num` points over [lo - m, hi + m] where lo, hi are the extremes of `values` and
  /// m = margin * (hi - lo) (at least 0.1 when all values are equal): an axis that frames a
  /// projected path. Fails for no values or non-finite ones.
  static Axis around(const std::vector<double>& values, std::size_t num, double margin = 0.2);
  /// The coordinates: min + (max - min) * i / (num - 1) (one point: min).
  std::vector<double> values() const;
  /// "min:max:num" with the shortest exact numbers ("-1:1:51").
  std::string to_string() const;
};

/// A model builder for evaluate_grid: every call returns a new model of the same architecture
/// (each worker thread gets its own replica; values are loaded from the base model).
using ModelFactory = std::function<std::shared_ptr<nn::Module>()>;

/// One evaluated point, passed to EvalOptions::on_point.
struct GridPoint {
  /// Row-major index: i * y.size() + j (i along x, j along y; j = 0 in 1D).
  std::size_t index;
  /// Coordinates along the directions (b is 0 in 1D).
  double a, b;
  /// Mean loss over the examples and fraction of them classified right (NaN when the targets
  /// are not class labels).
  double loss, accuracy;
};

/// Options of evaluate_grid: threads, data, loss, output files, progress, resumption.
struct EvalOptions {
  /// Worker threads, each with its own model replica (default 0: one per core). Results do not
  /// depend on it: OpenBLAS runs single-threaded during evaluate_grid (its rounding depends on
  /// its thread count; the setting is restored after), and each point is one worker's sum.
  EvalOptions& threads(std::size_t v) { return threads_ = v, *this; }
  std::size_t threads() const { return threads_; }
  /// Examples per forward pass (default 1000; a fixed order 0, 1, 2, ...).
  EvalOptions& batch_size(std::size_t v) { return batch_size_ = v, *this; }
  std::size_t batch_size() const { return batch_size_; }
  /// Use only the first n examples of the data set (0, the default: all).
  EvalOptions& limit(std::size_t v) { return limit_ = v, *this; }
  std::size_t limit() const { return limit_; }
  /// The loss of a batch as one (mean) value, and its name for the metadata
  /// (default nn::functional::cross_entropy, "cross_entropy").
  EvalOptions& loss(nn::LossFn fn, std::string name) {
    return loss_ = std::move(fn), loss_name_ = std::move(name), *this;
  }
  const nn::LossFn& loss() const { return loss_; }
  const std::string& loss_name() const { return loss_name_; }
  /// Write results to this CSV (rows appended and flushed as computed, sorted at the end) with
  /// the metadata in the same path with extension .json. Empty (default): no files.
  EvalOptions& csv(std::string path) { return csv_ = std::move(path), *this; }
  const std::string& csv() const { return csv_; }
  /// Continue an interrupted run found at csv() (default true); false starts over.
  EvalOptions& resume(bool v) { return resume_ = v, *this; }
  bool resume() const { return resume_; }
  /// Names recorded in the metadata (and compared on resume): the data set, the model and the
  /// checkpoints the base point and directions came from.
  EvalOptions& dataset_name(std::string v) { return dataset_name_ = std::move(v), *this; }
  const std::string& dataset_name() const { return dataset_name_; }
  EvalOptions& model_name(std::string v) { return model_name_ = std::move(v), *this; }
  const std::string& model_name() const { return model_name_; }
  EvalOptions& checkpoints(std::vector<std::string> v) {
    return checkpoints_ = std::move(v), *this;
  }
  const std::vector<std::string>& checkpoints() const { return checkpoints_; }
  /// Show a progress bar with ETA (default true).
  EvalOptions& progress(bool v) { return progress_ = v, *this; }
  bool progress() const { return progress_; }
  /// Where progress goes: nullptr (default) is stderr, redrawn in place when it is a terminal,
  /// else one line every progress_every() points; any other stream gets those lines.
  EvalOptions& log(std::ostream* os) { return log_ = os, *this; }
  std::ostream* log() const { return log_; }
  /// Points between progress lines when not on a terminal (0, the default: about 20 lines).
  EvalOptions& progress_every(std::size_t v) { return progress_every_ = v, *this; }
  std::size_t progress_every() const { return progress_every_; }
  /// Called after each point is computed (and written), from one thread at a time; returning
  /// false stops the run after the points in progress (as an interruption: resume later).
  EvalOptions& on_point(std::function<bool(const GridPoint&)> fn) {
    return on_point_ = std::move(fn), *this;
  }
  const std::function<bool(const GridPoint&)>& on_point() const { return on_point_; }
  /// Affine first layer (default true): when the model is a chain (Sequential, MLP,
  /// SoftmaxRegression) whose first layer with parameters is a Linear or Conv2d after
  /// parameter-free layers (Flatten), that layer's output is affine in the coordinates:
  /// L(x; w + a d + b e) = L(x; w) + a L(x; d) + b L(x; e). The three terms are computed once
  /// per example and combined per point, which removes the largest GEMM from every point.
  /// Equal to direct evaluation up to float rounding; false evaluates every point directly.
  EvalOptions& affine_first_layer(bool v) { return affine_first_layer_ = v, *this; }
  bool affine_first_layer() const { return affine_first_layer_; }
  /// Memory the affine-first-layer cache may use (default 1 GiB); past it, direct evaluation.
  EvalOptions& cache_bytes(std::size_t v) { return cache_bytes_ = v, *this; }
  std::size_t cache_bytes() const { return cache_bytes_; }
  /// Share the points with other processes (default null: this process computes them all).
  /// dist::grid_partition() gives the MPI job's; see viz/partition.hpp. The results, the CSV
  /// and the returned Grid are bitwise those of a single process; only part 0 writes files,
  /// shows progress and calls on_point (whose false stops every part).
  EvalOptions& partition(std::shared_ptr<Partition> v) { return partition_ = std::move(v), *this; }
  const std::shared_ptr<Partition>& partition() const { return partition_; }

 private:
  std::size_t threads_ = 0;
  std::size_t batch_size_ = 1000;
  std::size_t limit_ = 0;
  nn::LossFn loss_;
  std::string loss_name_ = "cross_entropy";
  std::string csv_;
  bool resume_ = true;
  std::string dataset_name_;
  std::string model_name_;
  std::vector<std::string> checkpoints_;
  bool progress_ = true;
  std::ostream* log_ = nullptr;
  std::size_t progress_every_ = 0;
  std::function<bool(const GridPoint&)> on_point_;
  bool affine_first_layer_ = true;
  std::size_t cache_bytes_ = std::size_t(1) << 30;
  std::shared_ptr<Partition> partition_;
};

/// The result of evaluate_grid: coordinates and, per point, loss and accuracy.
struct Grid {
  /// Coordinates along the first direction (x) and the second (y; {0} for a 1D curve).
  std::vector<double> x, y;
  /// x.size() * y.size() values, row-major: index i * y.size() + j is (x[i], y[j]). NaN where a
  /// point was not computed (interrupted run).
  std::vector<double> loss, accuracy;
  /// Number of directions (1 or 2).
  std::size_t dims = 1;
  /// True when every point is computed.
  bool complete = false;
  /// Points computed by this call (the others came from a resumed file).
  std::size_t computed = 0;
  /// Wall-clock seconds of this call's evaluation and the mean per computed point.
  double seconds = 0, seconds_per_point = 0;
  /// Whether the affine first layer was used.
  bool affine_first_layer = false;
  /// The loss at (x[i], y[j]).
  double loss_at(std::size_t i, std::size_t j = 0) const { return loss[i * y.size() + j]; }
  /// The accuracy at (x[i], y[j]).
  double accuracy_at(std::size_t i, std::size_t j = 0) const { return accuracy[i * y.size() + j]; }
  /// `values` (loss or accuracy) in the layout plot_contour, plot_surface and write_vtk take:
  /// row-major over y, z[j * x.size() + i] = value at (x[i], y[j]).
  std::vector<double> field(const std::vector<double>& values) const;
};

/// Evaluates loss and accuracy at theta = base + a d_0 (+ b d_1) for every (a, b) of the grid
/// axes[0] x axes[1] (one axis per direction; one axis given for two directions is used for
/// both). `base` holds the values (its whole state dict is loaded into every replica, so
/// entries a direction does not move keep the base's values); `factory` builds replicas of its
/// architecture. Every point: eval mode, no graph, the examples in order in batches of
/// batch_size, loss = sum(batch mean * batch size) / N. With csv(), results go to the file as
/// computed and a run finding an unfinished file with the same settings computes only the
/// missing points; different settings are refused naming the setting, and a corrupt file is
/// refused naming the file and line.
Grid evaluate_grid(const ModelFactory& factory, const nn::Module& base,
                   const std::vector<Direction>& directions, const std::vector<Axis>& axes,
                   const nn::Dataset& data, const EvalOptions& options = {});

/// Loss and accuracy of the point theta = base + sum_k coords[k] directions[k], directly (one
/// replica, no cache): the reference evaluate_grid is checked against.
GridPoint evaluate_point(const ModelFactory& factory, const nn::Module& base,
                         const std::vector<Direction>& directions,
                         const std::vector<double>& coords, const nn::Dataset& data,
                         const EvalOptions& options = {});

/// 1D interpolation theta(a) = (1 - a) theta_A + a theta_B for a on `axis` (a may leave
/// [0, 1]); a = 0 is model a and a = 1 model b. Kind states (default) also interpolates
/// BatchNorm running statistics, as the paper's code does between two minima.
Grid interpolate(const ModelFactory& factory, const nn::Module& a, const nn::Module& b,
                 const Axis& axis, const nn::Dataset& data, const EvalOptions& options = {},
                 DirectionKind kind = DirectionKind::states);

/// Reads a grid CSV written by evaluate_grid (header "index,x,loss,accuracy" or
/// "index,x,y,loss,accuracy"); fails naming the file and line on anything malformed, on a last
/// line cut short (no newline), and, when the metadata JSON evaluate_grid writes beside it is
/// there, on a file of an interrupted run (metadata not "complete", or fewer rows than its
/// "points").
Grid read_grid_csv(const std::string& path);

// ---- trajectories ----

/// Principal directions of an optimization path (PCA of theta_i - theta_final).
struct PCADirections {
  /// The first two principal components as unit-norm directions (labels "PC1 (93.1%)").
  Direction x, y;
  /// Fraction of the variance of the centered path each component explains.
  double explained_variance_ratio[2] = {0, 0};
  /// Variance along each component (eigenvalue / (n - 1)) and the singular values.
  double explained_variance[2] = {0, 0};
  double singular_values[2] = {0, 0};
};

/// PCA of the rows theta_i - theta_final (n >= 2 snapshots of one kind; entries with dim <= 1
/// zeroed when ignore is biasbn, int64 entries always), centered over the rows as scikit-learn's
/// PCA (the paper's code): the top two eigenvectors of the n x n Gram matrix (xt::linalg::eigh),
/// mapped back to parameter space and normalized. Signs: each component's largest-magnitude
/// Gram eigenvector entry is positive. Fails for fewer than 2 snapshots or mismatched entries.
PCADirections pca_directions(const std::vector<nn::NamedTensors>& path,
                             const nn::NamedTensors& final_point, Ignore ignore = Ignore::biasbn,
                             DirectionKind kind = DirectionKind::weights);

/// How a point is placed on the plane of two directions.
enum class Projection {
  cosine,        ///< x = <v, dx> / ||dx||, y = <v, dy> / ||dy|| (the paper's "cos")
  least_squares  ///< (x, y) minimizing ||v - x dx - y dy|| (the paper's "lstsq")
};

/// Coordinates of each theta_i - origin on the plane of dx and dy.
struct ProjectedPath {
  /// Coordinates along dx and dy, one per snapshot.
  std::vector<double> x, y;
};

/// Projects every snapshot of `path` (minus `origin`, usually the final point) onto dx and dy.
ProjectedPath project_path(const std::vector<nn::NamedTensors>& path,
                           const nn::NamedTensors& origin, const Direction& dx, const Direction& dy,
                           Projection method = Projection::cosine);

/// Writes a projected path as CSV "index,name,x,y" (names: e.g. the checkpoint files; may be
/// empty) atomically; fails naming the path.
void write_path_csv(const ProjectedPath& path, const std::vector<std::string>& names,
                    const std::string& csv);

}  // namespace xg::viz
