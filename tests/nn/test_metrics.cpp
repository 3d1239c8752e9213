// Metrics (nn/metrics.hpp): accuracy, confusion_matrix and ConfusionMatrix on hand-built cases.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using test::error_of;

namespace {
Tensor i64(const std::vector<double>& v, const Shape& s) { return tensor(v, s, Dtype::int64); }
}  // namespace

TEST_CASE("accuracy: from scores (argmax over dim 1) and from class indices") {
  // Rows' argmax: 2, 0, 1, 0 (the first wins the tie in row 3); row 2 is wrong.
  Tensor scores = tensor({0.1, 0.2, 0.7, 3, -1, 0, 0, 5, 1, 2, 2, 1}, {4, 3});
  Tensor labels = i64({2, 0, 0, 0}, {4});
  CHECK(nn::accuracy(scores, labels) == 0.75);
  CHECK(nn::accuracy(i64({2, 0, 1, 0}, {4}), labels) == 0.75);
  // Whole-number float predictions and targets work too.
  CHECK(nn::accuracy(tensor({2, 0, 1, 1}, {4}), tensor({2, 0, 0, 1}, {4})) == 0.75);
  // Scores that require grad are fine (no graph is recorded).
  Tensor s = scores.clone().detach().requires_grad_();
  CHECK(nn::accuracy(s, labels) == 0.75);
  // Spatial scores [N, C, d]: argmax over dim 1.
  Tensor spatial = tensor({1, 0, 0, 1}, {1, 2, 2});  // positions: class 0, class 1
  CHECK(nn::accuracy(spatial, i64({0, 0}, {1, 2})) == 0.5);
  CHECK(nn::accuracy(i64({3}, {1}), i64({3}, {1})) == 1.0);
}

TEST_CASE("accuracy and confusion_matrix: errors name the function and the shapes") {
  CHECK(error_of([] {
          nn::accuracy(zeros({0, 3}), zeros({0}, Dtype::int64));
        }) == "accuracy: no samples (targets [0])");
  CHECK(error_of([] {
          nn::accuracy(zeros({4, 3}), zeros({5}, Dtype::int64));
        }) == "accuracy: scores [4, 3] do not match targets [5] (expected targets [4])");
  CHECK(error_of([] { nn::accuracy(zeros({4}), zeros({5}, Dtype::int64)); }) ==
        "accuracy: predictions [4] do not match targets [5] (give class indices of the "
        "targets' shape, or scores [N, C, ...])");
  CHECK(error_of([] { nn::accuracy(tensor({0.5}, {1}), i64({0}, {1})); }) ==
        "accuracy: prediction 0.5 is not a class index (class indices are whole numbers)");
  CHECK(error_of([] { nn::accuracy(i64({0}, {1}), i64({-1}, {1})); }) ==
        "accuracy: target -1 is negative (class indices start at 0)");
  CHECK(error_of([] {
          nn::confusion_matrix(i64({0, 3}, {2}), i64({0, 1}, {2}), 3);
        }) == "confusion_matrix: prediction 3 is out of range for 3 classes");
  CHECK(error_of([] {
          nn::confusion_matrix(zeros({2, 4}), i64({0, 1}, {2}), 3);
        }) == "confusion_matrix: scores [2, 4] have 4 classes, expected 3");
  CHECK(error_of([] { nn::ConfusionMatrix(0); }) ==
        "ConfusionMatrix: num_classes must be at least 1, got 0");
  CHECK(error_of([] { nn::accuracy(Tensor(), i64({0}, {1})); }).find("accuracy") == 0);
}

TEST_CASE("confusion_matrix: rows are true classes, columns predictions (as sklearn)") {
  // sklearn.metrics.confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2]) (y_true, y_pred)
  // = [[2, 0, 0], [0, 0, 1], [1, 0, 2]].
  Tensor truth = i64({2, 0, 2, 2, 0, 1}, {6});
  Tensor pred = i64({0, 0, 2, 2, 0, 2}, {6});
  Tensor m = nn::confusion_matrix(pred, truth, 3);
  CHECK(m.dtype() == Dtype::int64);
  CHECK(m.shape() == Shape{3, 3});
  CHECK(m.to_vector<int64_t>() == std::vector<int64_t>{2, 0, 0, 0, 0, 1, 1, 0, 2});
  // Scores give the same matrix.
  Tensor scores = one_hot(pred, 3, Dtype::float32);
  CHECK(nn::confusion_matrix(scores, truth, 3).to_vector<int64_t>() == m.to_vector<int64_t>());
}

TEST_CASE("ConfusionMatrix accumulates batches: accuracy, per-class accuracy, table") {
  nn::ConfusionMatrix cm(3);
  CHECK(std::isnan(cm.accuracy()));
  cm.update(i64({0, 0, 2}, {3}), i64({2, 0, 2}, {3}));
  cm.update(i64({2, 0, 2}, {3}), i64({2, 0, 1}, {3}));
  CHECK(cm.num_samples() == 6);
  CHECK(cm.matrix().to_vector<int64_t>() == std::vector<int64_t>{2, 0, 0, 0, 0, 1, 1, 0, 2});
  CHECK(cm.count(2, 0) == 1);
  CHECK(cm.accuracy() == doctest::Approx(4.0 / 6.0));
  const auto per = cm.per_class_accuracy();
  CHECK(per[0] == 1.0);
  CHECK(per[1] == 0.0);
  CHECK(per[2] == doctest::Approx(2.0 / 3.0));
  CHECK(cm.to_string({"cat", "dog", "bird"}) ==
        "true \\ pred  cat  dog  bird  accuracy\n"
        "cat            2    0     0   100.00%\n"
        "dog            0    0     1     0.00%\n"
        "bird           1    0     2    66.67%\n"
        "overall accuracy: 66.67% of 6\n");
  CHECK(error_of([&] { cm.to_string({"a"}); }) ==
        "ConfusionMatrix::to_string: 1 class names for 3 classes");
  CHECK(error_of([&] { cm.count(3, 0); }) ==
        "ConfusionMatrix::count: class (3, 0) is out of range for 3 classes");
  // A failed update changes nothing.
  CHECK(error_of([&] {
          cm.update(i64({0, 5}, {2}), i64({0, 0}, {2}));
        }) == "confusion_matrix: prediction 5 is out of range for 3 classes");
  CHECK(cm.num_samples() == 6);
  cm.reset();
  CHECK(cm.num_samples() == 0);
  // A class with no samples shows "-" and a nan accuracy.
  cm.update(i64({1}, {1}), i64({1}, {1}));
  CHECK(std::isnan(cm.per_class_accuracy()[0]));
  CHECK(cm.to_string() ==
        "true \\ pred  0  1  2  accuracy\n"
        "0            0  0  0         -\n"
        "1            0  1  0   100.00%\n"
        "2            0  0  0         -\n"
        "overall accuracy: 100.00% of 1\n");
}
