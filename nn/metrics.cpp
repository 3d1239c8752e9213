// accuracy, confusion_matrix and the ConfusionMatrix accumulator.
#include "nn/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"

namespace xg::nn {
namespace {

/// Class indices as int64 values; fails naming op on fractional, nan or out-of-range values
/// (num_classes 0: no upper bound).
std::vector<int64_t> indices(const char* op, const char* what, const Tensor& t,
                             std::size_t num_classes) {
  std::vector<int64_t> out(t.numel());
  if (t.dtype() == Dtype::int64) {
    const int64_t* p = t.data_ptr<int64_t>();
    std::copy(p, p + t.numel(), out.begin());
  } else {
    dispatch(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = t.data_ptr<T>();
      for (std::size_t i = 0; i < out.size(); ++i) {
        const double v = static_cast<double>(p[i]);
        XG_CHECK(std::floor(v) == v && std::abs(v) < 9.0e15, op, ": ", what, " ", v,
                 " is not a class index (class indices are whole numbers)");
        out[i] = static_cast<int64_t>(v);
      }
    });
  }
  for (int64_t v : out) {
    XG_CHECK(v >= 0, op, ": ", what, " ", v, " is negative (class indices start at 0)");
    XG_CHECK(num_classes == 0 || static_cast<std::size_t>(v) < num_classes, op, ": ", what, " ", v,
             " is out of range for ", num_classes, " classes");
  }
  return out;
}

/// Predicted and true class indices of one batch (argmax over dim 1 for scores).
std::pair<std::vector<int64_t>, std::vector<int64_t>> classes(const char* op,
                                                              const Tensor& predictions,
                                                              const Tensor& targets,
                                                              std::size_t num_classes) {
  check_defined(op, predictions);
  check_defined(op, targets);
  Tensor pred = predictions;
  if (predictions.dim() == targets.dim() + 1 && predictions.dim() >= 2) {
    check_floating(op, predictions);
    Shape expected = predictions.shape();
    expected.erase(expected.begin() + 1);
    XG_CHECK(expected == targets.shape(), op, ": scores ", predictions.shape(),
             " do not match targets ", targets.shape(), " (expected targets ", expected, ")");
    XG_CHECK(num_classes == 0 || predictions.shape()[1] == num_classes, op, ": scores ",
             predictions.shape(), " have ", predictions.shape()[1], " classes, expected ",
             num_classes);
    NoGradGuard no_grad;
    pred = argmax(predictions.detach(), 1);
  } else {
    XG_CHECK(predictions.shape() == targets.shape(), op, ": predictions ", predictions.shape(),
             " do not match targets ", targets.shape(),
             " (give class indices of the targets' shape, or scores [N, C, ...])");
  }
  return {indices(op, "prediction", pred, num_classes),
          indices(op, "target", targets, num_classes)};
}
}  // namespace

double accuracy(const Tensor& predictions, const Tensor& targets) {
  auto [pred, truth] = classes("accuracy", predictions, targets, 0);
  XG_CHECK(!truth.empty(), "accuracy: no samples (targets ", targets.shape(), ")");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) correct += pred[i] == truth[i];
  return static_cast<double>(correct) / static_cast<double>(truth.size());
}

Tensor confusion_matrix(const Tensor& predictions, const Tensor& targets, std::size_t num_classes) {
  ConfusionMatrix cm(num_classes);
  cm.update(predictions, targets);
  return cm.matrix();
}

ConfusionMatrix::ConfusionMatrix(std::size_t num_classes) : c_(num_classes) {
  XG_CHECK(num_classes >= 1, "ConfusionMatrix: num_classes must be at least 1, got 0");
  XG_CHECK(num_classes <= 100000, "ConfusionMatrix: num_classes ", num_classes,
           " is too large (at most 100000)");
  counts_.assign(num_classes * num_classes, 0);
}

void ConfusionMatrix::update(const Tensor& predictions, const Tensor& targets) {
  auto [pred, truth] = classes("confusion_matrix", predictions, targets, c_);
  for (std::size_t i = 0; i < truth.size(); ++i)
    ++counts_[static_cast<std::size_t>(truth[i]) * c_ + static_cast<std::size_t>(pred[i])];
}

void ConfusionMatrix::reset() { std::fill(counts_.begin(), counts_.end(), 0); }

Tensor ConfusionMatrix::matrix() const {
  Tensor m = zeros({c_, c_}, Dtype::int64);
  std::copy(counts_.begin(), counts_.end(), m.data_ptr<int64_t>());
  return m;
}

int64_t ConfusionMatrix::count(std::size_t truth, std::size_t predicted) const {
  XG_CHECK(truth < c_ && predicted < c_, "ConfusionMatrix::count: class (", truth, ", ", predicted,
           ") is out of range for ", c_, " classes");
  return counts_[truth * c_ + predicted];
}

int64_t ConfusionMatrix::num_samples() const {
  int64_t n = 0;
  for (int64_t v : counts_) n += v;
  return n;
}

double ConfusionMatrix::accuracy() const {
  const int64_t n = num_samples();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  int64_t correct = 0;
  for (std::size_t i = 0; i < c_; ++i) correct += counts_[i * c_ + i];
  return static_cast<double>(correct) / static_cast<double>(n);
}

std::vector<double> ConfusionMatrix::per_class_accuracy() const {
  std::vector<double> out(c_);
  for (std::size_t i = 0; i < c_; ++i) {
    int64_t row = 0;
    for (std::size_t j = 0; j < c_; ++j) row += counts_[i * c_ + j];
    out[i] = row == 0 ? std::numeric_limits<double>::quiet_NaN()
                      : static_cast<double>(counts_[i * c_ + i]) / static_cast<double>(row);
  }
  return out;
}

std::string ConfusionMatrix::to_string(const std::vector<std::string>& class_names) const {
  XG_CHECK(class_names.empty() || class_names.size() == c_,
           "ConfusionMatrix::to_string: ", class_names.size(), " class names for ", c_, " classes");
  std::vector<std::string> names(c_);
  for (std::size_t i = 0; i < c_; ++i)
    names[i] = class_names.empty() ? std::to_string(i) : class_names[i];
  // Label column: "true \ pred" header, then the class names; count columns as wide as their
  // widest entry; last column the class accuracy in percent.
  const std::string corner = "true \\ pred";
  std::size_t label_w = corner.size();
  for (const auto& n : names) label_w = std::max(label_w, n.size());
  std::vector<std::size_t> col_w(c_);
  for (std::size_t j = 0; j < c_; ++j) {
    col_w[j] = names[j].size();
    for (std::size_t i = 0; i < c_; ++i)
      col_w[j] = std::max(col_w[j], std::to_string(counts_[i * c_ + j]).size());
  }
  const std::vector<double> acc = per_class_accuracy();
  std::ostringstream os;
  os << std::left << std::setw(static_cast<int>(label_w)) << corner;
  for (std::size_t j = 0; j < c_; ++j)
    os << "  " << std::right << std::setw(static_cast<int>(col_w[j])) << names[j];
  os << "  accuracy\n";
  for (std::size_t i = 0; i < c_; ++i) {
    os << std::left << std::setw(static_cast<int>(label_w)) << names[i];
    for (std::size_t j = 0; j < c_; ++j)
      os << "  " << std::right << std::setw(static_cast<int>(col_w[j])) << counts_[i * c_ + j];
    os << "  ";
    if (std::isnan(acc[i]))
      os << std::setw(8) << "-";
    else
      os << std::setw(7) << std::fixed << std::setprecision(2) << acc[i] * 100.0 << "%";
    os << "\n";
  }
  os << "overall accuracy: ";
  if (num_samples() == 0)
    os << "- (no samples)";
  else
    os << std::fixed << std::setprecision(2) << accuracy() * 100.0 << "% of " << num_samples();
  os << "\n";
  return os.str();
}

}  // namespace xg::nn
