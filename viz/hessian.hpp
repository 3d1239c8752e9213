#pragma once
// Curvature of a loss: Hessian-vector products by double backward, the top-k and smallest
// Hessian eigenvalues by Lanczos, the Hessian trace by Hutchinson's estimator, and the
// |lambda_min / lambda_max| map over a 2-D slice of parameter space (Li et al. 2018).
//
//   nn::MLP net({784, 256, 128, 10});
//   net.eval();
//   Tensor x = ..., y = ...;                                  // a fixed batch, y int64 [N]
//   viz::LossFn loss = [&] { return nn::functional::cross_entropy(net(x), y); };
//   auto eig = viz::hessian_eigenvalues(loss, net.named_parameters(),
//                                       viz::HessianOptions().top_k(5));
//   auto tr = viz::hessian_trace(loss, net.named_parameters());
//
// The Hessian is taken over the parameters with more than one dimension (weights, conv filters),
// as the paper's code (hess_vec_prod.py); HessianOptions().all_parameters(true) includes biases
// and BatchNorm parameters too (as PyHessian). Every op between the parameters and the loss must
// be twice differentiable, as every xgrad op is (conv2d and pooling included).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/arg.hpp"
#include "autograd/tensor.hpp"
#include "viz/partition.hpp"

namespace xg::viz {

/// Recomputes the scalar loss at the current parameter values (a fixed batch, or a fixed list
/// of batches weighted so that it is the mean over the data). Called with grad mode enabled;
/// put the model in eval mode first (dropout and BatchNorm statistics must not change).
using LossFn = std::function<Tensor()>;
/// Tensors with names, as nn::Module::named_parameters() returns them.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// The tensors the Hessian is taken over: those of `named` that require grad and have more than
/// one dimension (or every one that requires grad when `all_parameters`). Throws naming the
/// reason when none is left.
NamedTensors curvature_parameters(const NamedTensors& named, bool all_parameters = false);

/// H v for the Hessian H of `loss()` with respect to `params`: d/dtheta (g . v) with
/// g = dloss/dtheta recorded by create_graph. `v` is parallel to `params` (same shapes; converted
/// to the parameters' dtypes); the result too. Parameters the gradient does not depend on get
/// zeros.
TensorList hvp(const LossFn& loss, const TensorList& params, const TensorList& v);

/// The Hessian as a linear operator on flat vectors (the parameters concatenated in order,
/// row-major), the building block of the estimators below. By default the gradient graph of
/// one loss() evaluation is recorded once and reused by every product (as PyHessian does for a
/// single batch), so a product costs one backward pass through the recorded backward. It is
/// recorded again when a parameter's version changed (any in-place op on it); call reset() after
/// writing through data_ptr() without bump_version().
class HessianOperator {
 public:
  /// `params`: the tensors H is taken over (leaves that require grad, float32 or float64).
  /// reuse_graph false recomputes loss() and its gradient for every product (less memory).
  HessianOperator(LossFn loss, TensorList params, bool reuse_graph = true);
  /// H of the weighted sum sum_i weights[i] * terms[i]() (e.g. one term per batch, weighted by
  /// its share of the examples, so that the sum is the mean over the data), its products taken
  /// one term at a time: with reuse_graph false only one term's graph is alive at a time (as
  /// PyHessian's dataloader_hv_product), so the data may be far larger than one batch.
  HessianOperator(std::vector<LossFn> terms, std::vector<double> weights, TensorList params,
                  bool reuse_graph = true);
  ~HessianOperator();
  HessianOperator(const HessianOperator&) = delete;
  HessianOperator& operator=(const HessianOperator&) = delete;

  /// Number of entries of a flat vector (total elements of the parameters).
  std::size_t size() const;
  /// out = H v for flat vectors of size() entries (computed in the parameters' dtype).
  void apply(const double* v, double* out);
  /// H v for tensors parallel to the parameters.
  TensorList apply(const TensorList& v);
  /// Number of Hessian-vector products computed so far.
  std::int64_t products() const;
  /// The loss value (weighted sum over the terms) from the last recorded forward passes (NaN
  /// before the first product).
  double loss_value() const;
  /// Forgets the recorded gradient graph (the next product records it again).
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Options of hessian_eigenvalues (Lanczos with full reorthogonalization).
struct HessianOptions {
  /// Number of largest eigenvalues wanted.
  XG_ARG(std::size_t, top_k) = 1;
  /// Also compute the smallest eigenvalue (from the same Lanczos run, see hessian.cpp).
  XG_ARG(bool, smallest) = false;
  /// Largest number of Lanczos steps (Hessian-vector products); capped at the dimension.
  XG_ARG(std::size_t, max_iter) = 100;
  /// A Ritz value has converged when its residual ||H y - theta y|| = |beta_m s_m| is at most
  /// tol * (largest |Ritz value|).
  XG_ARG(double, tol) = 1e-3;
  /// Seed of the Gaussian start vector (and of restarts after an invariant subspace).
  XG_ARG(std::uint64_t, seed) = 0;
  /// Return the eigenvectors (unit norm, parallel to the parameters).
  XG_ARG(bool, eigenvectors) = false;
  /// Include one-dimensional parameters (biases, BatchNorm) in the Hessian.
  XG_ARG(bool, all_parameters) = false;
  /// Record the gradient graph once and reuse it for every product (see HessianOperator).
  XG_ARG(bool, reuse_graph) = true;

 public:
  /// Throws naming the option and its value when an option is out of range.
  void validate(const char* where) const;
};

/// Result of hessian_eigenvalues.
struct HessianEigen {
  /// The top-k eigenvalues, largest first.
  std::vector<double> eigenvalues;
  /// Residual bound |beta_m s_m| of each (an eigenvalue lies within it of the Ritz value).
  std::vector<double> residuals;
  /// If asked: eigenvectors[i] is parallel to `parameters`, unit norm over all of them.
  std::vector<TensorList> eigenvectors;
  /// If asked (HessianOptions::smallest): the smallest eigenvalue (else the smallest Ritz value
  /// seen, unconverged).
  double smallest = 0.0;
  /// Residual bound of `smallest`.
  double smallest_residual = 0.0;
  /// If asked with eigenvectors(true): the eigenvector of `smallest`.
  TensorList smallest_eigenvector;
  /// Names of the tensors the Hessian was taken over.
  std::vector<std::string> parameters;
  /// Dimension of the Hessian (elements of those tensors).
  std::size_t dim = 0;
  /// Lanczos steps taken (= Hessian-vector products).
  std::size_t iterations = 0;
  /// True when every requested value met the tolerance (else max_iter was reached).
  bool converged = false;
  /// Wall time in seconds.
  double seconds = 0.0;
};

/// The top-k (and optionally the smallest) eigenvalues of the Hessian of `loss()` with respect
/// to the tensors curvature_parameters(params, options.all_parameters()) picks.
HessianEigen hessian_eigenvalues(const LossFn& loss, const NamedTensors& params,
                                 const HessianOptions& options = {});
/// The same on a HessianOperator (its flat vectors; eigenvectors are not returned).
HessianEigen hessian_eigenvalues(HessianOperator& op, const HessianOptions& options = {});

/// Options of hessian_trace (Hutchinson's estimator).
struct TraceOptions {
  /// Largest number of Rademacher samples (Hessian-vector products).
  XG_ARG(std::size_t, max_samples) = 100;
  /// Stop when the running mean changes by less than tol relative to its previous value
  /// (|m_n - m_{n-1}| / (|m_{n-1}| + 1e-6) < tol, as PyHessian); 0 always takes max_samples.
  XG_ARG(double, tol) = 0.0;
  /// Seed of the Rademacher vectors.
  XG_ARG(std::uint64_t, seed) = 0;
  /// Include one-dimensional parameters (biases, BatchNorm) in the Hessian.
  XG_ARG(bool, all_parameters) = false;
  /// Record the gradient graph once and reuse it for every product (see HessianOperator).
  XG_ARG(bool, reuse_graph) = true;

 public:
  /// Throws naming the option and its value when an option is out of range.
  void validate(const char* where) const;
};

/// Result of hessian_trace.
struct HessianTrace {
  /// Mean of v^T H v over the samples: the trace estimate.
  double mean = 0.0;
  /// Standard error of the mean (sample standard deviation / sqrt(samples); 0 for one sample).
  double std_error = 0.0;
  /// Samples used.
  std::size_t samples = 0;
  /// v^T H v of each sample, in order.
  std::vector<double> values;
  /// True when the tolerance stop fired (always false with tol 0).
  bool converged = false;
  /// Wall time in seconds.
  double seconds = 0.0;
};

/// Hutchinson's estimate of the trace of the Hessian, E[v^T H v] over Rademacher vectors v.
HessianTrace hessian_trace(const LossFn& loss, const NamedTensors& params,
                           const TraceOptions& options = {});
/// The same on a HessianOperator.
HessianTrace hessian_trace(HessianOperator& op, const TraceOptions& options = {});

/// Options of curvature_ratio_map.
struct CurvatureMapOptions {
  /// The eigenvalue solver's options (top_k and smallest are set by the map); tol 1e-2 as the
  /// paper's eigsh calls.
  XG_ARG(HessianOptions, hessian) = HessianOptions().tol(1e-2);
  /// Print a progress line on stderr.
  XG_ARG(bool, progress) = true;
  /// Share the points with other processes (default null: this process alone); see
  /// viz/partition.hpp and dist::grid_partition(). Every part returns the whole map; part 0
  /// alone writes the CSV and the progress.
  XG_ARG(std::shared_ptr<Partition>, partition);
};

/// One point of the curvature map.
struct CurvaturePoint {
  /// Coordinates along d and e.
  double a = 0.0, b = 0.0;
  /// Largest and smallest Hessian eigenvalue there (NaN where the loss or H v is not finite).
  double lambda_max = 0.0, lambda_min = 0.0;
  /// |lambda_min / lambda_max| (NaN when lambda_max is 0 or a value is not finite).
  double ratio = 0.0;
  /// Lanczos steps taken (Hessian-vector products).
  std::size_t iterations = 0;
  /// True when both values met the tolerance.
  bool converged = false;
};

/// |lambda_min / lambda_max| of the Hessian at every point theta* + a d + b e of the grid
/// xs x ys (row-major: b outer, a inner). `params` are the tensors moved (every one needs an
/// entry of the same shape in `d` and `e`, by name); the Hessian is over those of them that
/// curvature_parameters picks. Writes the CSV `csv_path` (header
/// a,b,lambda_max,lambda_min,ratio,iterations,converged) row by row as computed (an empty path
/// writes nothing). The parameters are restored afterwards, also when an exception leaves.
std::vector<CurvaturePoint> curvature_ratio_map(const LossFn& loss, const NamedTensors& params,
                                                const NamedTensors& d, const NamedTensors& e,
                                                const std::vector<double>& xs,
                                                const std::vector<double>& ys,
                                                const std::string& csv_path,
                                                const CurvatureMapOptions& options = {});

}  // namespace xg::viz
