#pragma once
// Loss functions (xg::nn::functional), as PyTorch 1.13 defines them, with libtorch's option
// structs (chained setters):
//
//   Tensor loss = nn::functional::cross_entropy(logits, labels);              // [N, C], [N]
//   loss = F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions()
//                                               .weight(w).ignore_index(-1)
//                                               .label_smoothing(0.1)
//                                               .reduction(nn::Reduction::sum));
//
// Class-index targets are int64 tensors (or float tensors holding whole numbers). Every loss is
// written with differentiable Tensor ops, so second derivatives work. Unlike PyTorch, the
// elementwise losses (mse, l1, smooth_l1, bce) require target.shape() == input.shape() instead of
// broadcasting ([N, 1] against [N] would silently make [N, N]).
#include <cstdint>
#include <string>

#include "autograd/tensor.hpp"

namespace xg::nn {

/// How a loss reduces its per-element values: none (keep them), mean, or sum.
enum class Reduction { none, mean, sum };
/// "none", "mean" or "sum".
const char* reduction_name(Reduction r);

/// Options of cross_entropy and CrossEntropyLoss (libtorch's CrossEntropyLossOptions).
struct CrossEntropyLossOptions {
  /// Class weights [C] (undefined: all 1), in the input's dtype.
  CrossEntropyLossOptions& weight(Tensor w) {
    weight_ = std::move(w);
    return *this;
  }
  /// Targets equal to this class index contribute nothing (class-index targets only).
  CrossEntropyLossOptions& ignore_index(int64_t i) {
    ignore_index_ = i;
    return *this;
  }
  /// none, mean (default) or sum.
  CrossEntropyLossOptions& reduction(Reduction r) {
    reduction_ = r;
    return *this;
  }
  /// Mixes the target with the uniform distribution: (1 - s) * target + s / C, s in [0, 1].
  CrossEntropyLossOptions& label_smoothing(double s) {
    label_smoothing_ = s;
    return *this;
  }
  /// The class or element weights (undefined: none).
  const Tensor& weight() const { return weight_; }
  /// The ignored class index (default -100).
  int64_t ignore_index() const { return ignore_index_; }
  /// The reduction (default mean).
  Reduction reduction() const { return reduction_; }
  /// The smoothing amount (default 0).
  double label_smoothing() const { return label_smoothing_; }

 private:
  Tensor weight_;
  int64_t ignore_index_ = -100;
  Reduction reduction_ = Reduction::mean;
  double label_smoothing_ = 0.0;
};

/// Options of nll_loss and NLLLoss.
struct NLLLossOptions {
  /// Class weights [C] (undefined: all 1).
  NLLLossOptions& weight(Tensor w) {
    weight_ = std::move(w);
    return *this;
  }
  /// Targets equal to this class index contribute nothing.
  NLLLossOptions& ignore_index(int64_t i) {
    ignore_index_ = i;
    return *this;
  }
  /// none, mean (default) or sum.
  NLLLossOptions& reduction(Reduction r) {
    reduction_ = r;
    return *this;
  }
  /// The class or element weights (undefined: none).
  const Tensor& weight() const { return weight_; }
  /// The ignored class index (default -100).
  int64_t ignore_index() const { return ignore_index_; }
  /// The reduction (default mean).
  Reduction reduction() const { return reduction_; }

 private:
  Tensor weight_;
  int64_t ignore_index_ = -100;
  Reduction reduction_ = Reduction::mean;
};

/// Options of the losses that only reduce (mse_loss, l1_loss).
struct ReductionOptions {
  /// Options with the given reduction (ReductionOptions(Reduction::sum)).
  ReductionOptions(Reduction r = Reduction::mean) : reduction_(r) {}
  /// none, mean (default) or sum.
  ReductionOptions& reduction(Reduction r) {
    reduction_ = r;
    return *this;
  }
  /// The reduction (default mean).
  Reduction reduction() const { return reduction_; }

 private:
  Reduction reduction_;
};
/// Options of mse_loss and MSELoss.
using MSELossOptions = ReductionOptions;
/// Options of l1_loss and L1Loss.
using L1LossOptions = ReductionOptions;

/// Options of smooth_l1_loss and SmoothL1Loss.
struct SmoothL1LossOptions {
  /// none, mean (default) or sum.
  SmoothL1LossOptions& reduction(Reduction r) {
    reduction_ = r;
    return *this;
  }
  /// Where the loss turns from quadratic to linear (>= 0; 0 is l1_loss).
  SmoothL1LossOptions& beta(double b) {
    beta_ = b;
    return *this;
  }
  /// The reduction (default mean).
  Reduction reduction() const { return reduction_; }
  /// The quadratic-to-linear threshold (default 1).
  double beta() const { return beta_; }

 private:
  Reduction reduction_ = Reduction::mean;
  double beta_ = 1.0;
};

/// Options of binary_cross_entropy and BCELoss.
struct BCELossOptions {
  /// Per-element weights, broadcast to the input's shape.
  BCELossOptions& weight(Tensor w) {
    weight_ = std::move(w);
    return *this;
  }
  /// none, mean (default) or sum.
  BCELossOptions& reduction(Reduction r) {
    reduction_ = r;
    return *this;
  }
  /// The class or element weights (undefined: none).
  const Tensor& weight() const { return weight_; }
  /// The reduction (default mean).
  Reduction reduction() const { return reduction_; }

 private:
  Tensor weight_;
  Reduction reduction_ = Reduction::mean;
};

/// Options of binary_cross_entropy_with_logits and BCEWithLogitsLoss.
struct BCEWithLogitsLossOptions {
  /// Per-element weights, broadcast to the input's shape.
  BCEWithLogitsLossOptions& weight(Tensor w) {
    weight_ = std::move(w);
    return *this;
  }
  /// Weight of the positive term per class (broadcast along the last dim, e.g. [C]).
  BCEWithLogitsLossOptions& pos_weight(Tensor w) {
    pos_weight_ = std::move(w);
    return *this;
  }
  /// none, mean (default) or sum.
  BCEWithLogitsLossOptions& reduction(Reduction r) {
    reduction_ = r;
    return *this;
  }
  /// The class or element weights (undefined: none).
  const Tensor& weight() const { return weight_; }
  /// The positive-term weights (undefined: none).
  const Tensor& pos_weight() const { return pos_weight_; }
  /// The reduction (default mean).
  Reduction reduction() const { return reduction_; }

 private:
  Tensor weight_, pos_weight_;
  Reduction reduction_ = Reduction::mean;
};

namespace functional {

/// libtorch's names for the functional options.
using CrossEntropyFuncOptions = CrossEntropyLossOptions;
/// Shorter alias of CrossEntropyFuncOptions.
using CrossEntropyOptions = CrossEntropyLossOptions;
using NLLLossFuncOptions = NLLLossOptions;
using MSELossFuncOptions = MSELossOptions;
using L1LossFuncOptions = L1LossOptions;
using SmoothL1LossFuncOptions = SmoothL1LossOptions;
using BinaryCrossEntropyFuncOptions = BCELossOptions;
using BinaryCrossEntropyWithLogitsFuncOptions = BCEWithLogitsLossOptions;

/// Cross-entropy from logits: input [N, C], [N, C, d1, ...] or [C]. Target: class indices
/// [N], [N, d1, ...] or [] (int64 or whole-number floats), or class probabilities of the
/// input's shape (H(p, q) = -sum_j p_j log q_j with q = softmax(input)). Built on log_softmax
/// (stable for any logit magnitude). Mean with weights divides by the weights of the
/// non-ignored targets; with probability targets mean divides by N * d1 * ....
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyLossOptions& options = {});
/// Negative log-likelihood of log-probabilities input ([N, C], [N, C, d1, ...] or [C]) at
/// class-index targets ([N], [N, d1, ...] or []): -weight[t] * input[t].
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options = {});
/// (input - target)^2, reduced; shapes must match.
Tensor mse_loss(const Tensor& input, const Tensor& target, const MSELossOptions& options = {});
/// |input - target|, reduced; shapes must match.
Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossOptions& options = {});
/// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); shapes match.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      const SmoothL1LossOptions& options = {});
/// -w (y log x + (1 - y) log(1 - x)) for probabilities x in [0, 1], each log clamped at -100
/// as PyTorch; shapes must match.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BCELossOptions& options = {});
/// -w (p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) from logits x, p = pos_weight,
/// computed stably (PyTorch's formula); shapes must match.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsLossOptions& options = {});

}  // namespace functional
}  // namespace xg::nn
