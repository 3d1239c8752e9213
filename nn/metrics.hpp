#pragma once
// Classification metrics for training loops and evaluation: accuracy and confusion matrices
// (rows = true class, columns = predicted class, as sklearn).
//
//   double acc = nn::accuracy(logits, labels);              // logits [N, C], labels [N]
//   nn::ConfusionMatrix cm(10);
//   for (auto& [x, y] : loader) cm.update((*net)(x), y);
//   std::cout << cm.to_string(class_names);
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg::nn {

/// Fraction of correct predictions in [0, 1]. `predictions`: scores [N, C] (or [N, C, d...]),
/// whose argmax over dim 1 is the predicted class, or class indices of the targets' shape
/// (int64 or whole-number floats). `targets`: class indices [N] (or [N, d...]). Fails on no
/// samples and on mismatched shapes.
double accuracy(const Tensor& predictions, const Tensor& targets);

/// Counts [num_classes, num_classes] (int64): entry [i, j] is the number of samples of true
/// class i predicted as j. `predictions` as in accuracy(); every index in [0, num_classes).
Tensor confusion_matrix(const Tensor& predictions, const Tensor& targets, std::size_t num_classes);

/// A confusion matrix accumulated over batches.
class ConfusionMatrix {
 public:
  /// An all-zero matrix for num_classes >= 1 classes.
  explicit ConfusionMatrix(std::size_t num_classes);
  /// Adds a batch (predictions as in accuracy(): scores [N, C, ...] or class indices).
  void update(const Tensor& predictions, const Tensor& targets);
  /// Clears all counts.
  void reset();
  /// The counts as an int64 tensor [C, C] (rows true class, columns predicted).
  Tensor matrix() const;
  /// Count of samples of true class `truth` predicted as `predicted`.
  int64_t count(std::size_t truth, std::size_t predicted) const;
  std::size_t num_classes() const { return c_; }
  /// Samples counted so far.
  int64_t num_samples() const;
  /// Trace over total (nan before any sample).
  double accuracy() const;
  /// Per true class: correct / samples of that class (recall); nan for a class with no samples.
  std::vector<double> per_class_accuracy() const;
  /// Aligned text table: header of predicted classes, one row per true class, and a last column
  /// with each class's accuracy. class_names (one per class) default to "0", "1", ....
  std::string to_string(const std::vector<std::string>& class_names = {}) const;

 private:
  std::size_t c_;
  std::vector<int64_t> counts_;  // row-major [C, C]
};

}  // namespace xg::nn
