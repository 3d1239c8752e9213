#pragma once
// Fashion-MNIST: 70,000 28x28 grayscale images of clothing in 10 classes (60,000 train, 10,000
// test), read from the IDX files of Debian's dataset-fashion-mnist package.
//
//   nn::FashionMNIST train(true);   // images [60000, 1, 28, 28] in [0, 1], labels [60000] int64
//   nn::FashionMNIST test(false, nn::FashionMNISTOptions().normalize(true).limit(1000));
#include <array>
#include <cstddef>
#include <string>

#include "nn/dataset.hpp"

namespace xg::nn {

/// Options of FashionMNIST: normalization and a size limit for quick runs.
struct FashionMNISTOptions {
  /// Apply Normalize(FashionMNIST::kMean, FashionMNIST::kStd) to the images (default false).
  FashionMNISTOptions& normalize(bool v) { return normalize_ = v, *this; }
  bool normalize() const { return normalize_; }
  /// Keep only the first `n` examples (0, the default, keeps all).
  FashionMNISTOptions& limit(std::size_t n) { return limit_ = n, *this; }
  std::size_t limit() const { return limit_; }

 private:
  bool normalize_ = false;
  std::size_t limit_ = 0;
};

/// The Fashion-MNIST train or test split as a TensorDataset: data() float32 [N, 1, 28, 28]
/// scaled to [0, 1] (or normalized), targets() int64 [N] in 0..9.
class FashionMNIST : public TensorDataset {
 public:
  /// Where Debian's dataset-fashion-mnist package installs the files.
  static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
  /// Mean and standard deviation of the training images' pixels (scaled to [0, 1]).
  static constexpr double kMean = 0.28604059698879553;
  static constexpr double kStd = 0.35302424451492237;
  /// Class names, by label.
  static const std::array<const char*, 10> kClasses;

  /// The split from the default root: $XGRAD_DATA if set, else kDefaultRoot.
  explicit FashionMNIST(bool train = true, const FashionMNISTOptions& options = {});
  /// The split from `root`: the folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte
  /// (.gz or plain), or a folder with a fashion-mnist/ subfolder holding them. Throws naming
  /// the package and the path when a file is missing, and the file and the problem when one is
  /// malformed or images and labels disagree.
  FashionMNIST(const std::string& root, bool train, const FashionMNISTOptions& options = {});

  /// The root used when none is given ($XGRAD_DATA, else kDefaultRoot).
  static std::string default_root();
  /// True for the training split.
  bool is_train() const { return train_; }
  /// The folder the files were read from.
  const std::string& root() const { return root_; }

 private:
  bool train_ = true;
  std::string root_;
};

}  // namespace xg::nn
