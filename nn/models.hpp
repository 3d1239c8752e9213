#pragma once
// The lecture's models as ready-made modules: linear and logistic regression, softmax
// regression (scores s = Xh), the multilayer perceptron, and a CNN whose feature extractor and
// classifier are separate children (as the lecture draws a deep classifier).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "nn/options.hpp"
#include "nn/sequential.hpp"

namespace xg::nn {

/// h(x) = w^T x + b: input [N, d] -> predictions [N] (one Linear(d, 1) named "linear").
class LinearRegression : public Module {
 public:
  /// Shorthand for the options form with these values.
  explicit LinearRegression(int64_t in_features);
  /// Runs the LinearRegression on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The Linear(d, 1) layer.
  std::shared_ptr<Linear> linear;
};

/// Binary classifier: input [N, d] -> logits [N] (w^T x + b; train with
/// binary_cross_entropy_with_logits); predict_proba gives sigmoid(logits).
class LogisticRegression : public Module {
 public:
  /// Shorthand for the options form with these values.
  explicit LogisticRegression(int64_t in_features);
  /// Runs the LogisticRegression on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// P(y = 1 | x) = sigmoid(forward(x)), [N].
  Tensor predict_proba(const Tensor& input);
  /// The Linear(d, 1) layer.
  std::shared_ptr<Linear> linear;
};

/// Softmax regression: input [N, *] flattened to X [N, d] -> scores s = X h [N, C] (logits for
/// cross_entropy); predict_proba gives softmax(s) over the classes.
class SoftmaxRegression : public Module {
 public:
  /// Shorthand for the options form with these values.
  SoftmaxRegression(int64_t in_features, int64_t num_classes);
  /// Runs the SoftmaxRegression on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// softmax(forward(x), 1), [N, C].
  Tensor predict_proba(const Tensor& input);
  std::shared_ptr<Flatten> flatten;
  std::shared_ptr<Linear> linear;
};

/// Multilayer perceptron: Flatten, then for each pair of consecutive sizes a Linear followed
/// (except after the last) by the activation and, when dropout > 0, a Dropout. sizes
/// {784, 256, 128, 10}: input [N, 784] (or [N, 1, 28, 28]) -> scores [N, 10]. Children
/// "flatten" and "layers" (a Sequential: layers.0.weight, layers.2.weight, ...).
class MLP : public Module {
 public:
  /// activation: "relu", "leaky_relu", "tanh", "sigmoid" or "gelu"; dropout in [0, 1).
  explicit MLP(std::vector<int64_t> sizes, const std::string& activation = "relu",
               double dropout = 0.0);
  /// Runs the MLP on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The options as PyTorch prints them.
  std::string extra_repr() const override;
  /// The Linear/activation/Dropout chain.
  const std::shared_ptr<Sequential>& layers() const { return layers_; }

 private:
  std::vector<int64_t> sizes_;
  std::shared_ptr<Flatten> flatten_;
  std::shared_ptr<Sequential> layers_;
};

/// Options of CNN. The default is for Fashion-MNIST: [N, 1, 28, 28] -> 10 scores, two blocks of
/// Conv2d(3x3, padding 1) - BatchNorm2d - ReLU - MaxPool2d(2) with 32 and 64 channels, then
/// Flatten and Linear(64 * 7 * 7, 10).
struct CNNOptions {
  /// Channels of the input image.
  XG_ARG(int64_t, in_channels) = 1;
  /// Input height and width.
  XG_ARG(ExpandingArray<2>, image_size) = 28;
  /// Output channels of each conv block (one block per entry).
  XG_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 64};
  /// Kernel size of every conv.
  XG_ARG(int64_t, kernel_size) = 3;
  /// Zero padding of every conv (kernel_size / 2 keeps the size for odd kernels).
  XG_ARG(int64_t, padding) = 1;
  /// Max-pooling kernel and stride after each block (1: no pooling).
  XG_ARG(int64_t, pool) = 2;
  /// A BatchNorm2d after each conv (the conv then has no bias, as it would be cancelled).
  XG_ARG(bool, batch_norm) = true;
  /// Hidden sizes of the classifier between Flatten and the last Linear (each Linear + ReLU).
  XG_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{};
  /// Dropout before each Linear of the classifier (0: none).
  XG_ARG(double, dropout) = 0.0;
  /// Number of output scores.
  XG_ARG(int64_t, num_classes) = 10;
};

/// A CNN for images: forward(x) = classifier(features(x)). features(): Sequential of blocks
/// Conv2d [- BatchNorm2d] - ReLU [- MaxPool2d]; classifier(): Sequential of Flatten,
/// [Dropout -] Linear [- ReLU] ..., ending with Linear(., num_classes).
/// Input [N, in_channels, H, W] -> scores [N, num_classes].
class CNN : public Module {
 public:
  /// A CNN with `options` (validated; errors name the layer).
  explicit CNN(const CNNOptions& options = {});
  /// Runs the CNN on `input` (shapes in the class comment).
  Tensor forward(const Tensor& input) override;
  /// The feature extractor: [N, in_channels, H, W] -> [N, channels.back(), H', W'].
  const std::shared_ptr<Sequential>& features() const { return features_; }
  /// The classifier head: [N, channels.back(), H', W'] -> [N, num_classes].
  const std::shared_ptr<Sequential>& classifier() const { return classifier_; }
  /// Shape of one sample after features(): {C, H', W'}.
  const std::vector<int64_t>& feature_shape() const { return feature_shape_; }

  CNNOptions options;

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<Sequential> classifier_;
  std::vector<int64_t> feature_shape_;
};

}  // namespace xg::nn
