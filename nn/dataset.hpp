#pragma once
// Datasets: indexable collections of (data, target) examples, read by nn::DataLoader in batches.
//
//   nn::TensorDataset ds(x, y);           // x [N, ...], y [N, ...] (int64 [N] for class labels)
//   nn::Example e = ds.get(3);            // e.data = x[3], e.target = y[3]
#include <cstddef>
#include <functional>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg::nn {

/// One sample: its input and its target (a 0-d int64 tensor for a class label).
struct Example {
  Tensor data;
  Tensor target;
};

/// Base of every dataset: a size and random access to examples. get and get_batch are const:
/// reading a dataset does not change it (the DataLoader may read it from a background thread).
class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Number of examples.
  virtual std::size_t size() const = 0;
  /// Example `index` (0 <= index < size()).
  virtual Example get(std::size_t index) const = 0;
  /// The examples at `indices` stacked along a new first dim: data_out [B, ...data shape],
  /// target_out [B, ...target shape]. The default calls get() per index and copies each into
  /// one batch tensor; in-memory datasets override it with a row gather.
  virtual void get_batch(const std::vector<std::size_t>& indices, Tensor& data_out,
                         Tensor& target_out) const;
};

/// A dataset over two tensors whose first dims agree: example i is (data[i], targets[i]).
/// Tensors are shared handles, so copying a TensorDataset is cheap and shares the data.
class TensorDataset : public Dataset {
 public:
  TensorDataset() = default;
  /// data [N, ...] and targets [N, ...] (any dtypes; int64 [N] for class labels); both are
  /// detached and made contiguous copies only if needed. Throws naming both shapes when the
  /// first dims differ or either is 0-d.
  TensorDataset(const Tensor& data, const Tensor& targets);

  std::size_t size() const override;
  /// (data[index], targets[index]) as new tensors.
  Example get(std::size_t index) const override;
  /// One memcpy per row into new batch tensors (no per-sample tensors).
  void get_batch(const std::vector<std::size_t>& indices, Tensor& data_out,
                 Tensor& target_out) const override;

  /// All inputs [N, ...].
  const Tensor& data() const { return data_; }
  /// All targets [N, ...].
  const Tensor& targets() const { return targets_; }
  /// The first min(n, size()) examples (copies of those rows).
  TensorDataset subset(std::size_t n) const;
  /// A dataset whose inputs are fn(data()) (e.g. Normalize), with the same targets; fn must keep
  /// the first dim.
  TensorDataset map_data(const std::function<Tensor(const Tensor&)>& fn) const;

 protected:
  /// Replaces both tensors after the same checks as the constructor (for derived datasets).
  void reset(const Tensor& data, const Tensor& targets, const char* who);

 private:
  Tensor data_;
  Tensor targets_;
};

/// (x - mean) / std, with one mean and std for every element, or one per channel (dim 1 of
/// [N, C, ...] tensors). Float tensors only; every std must be > 0.
struct Normalize {
  /// One mean and std for every channel.
  Normalize(double mean, double std);
  /// One mean and std per channel (equal lengths, non-empty).
  Normalize(std::vector<double> mean, std::vector<double> std);
  /// The normalized copy of `x` (float32 or float64; per channel: rank >= 2, x.size(1) == C).
  Tensor operator()(const Tensor& x) const;

  std::vector<double> mean;
  std::vector<double> std;
};

}  // namespace xg::nn
