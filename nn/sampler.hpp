#pragma once
// Samplers: the example order a DataLoader visits each epoch, given from outside the loader.
// DistributedSampler is PyTorch's torch.utils.data.distributed.DistributedSampler: each of
// num_replicas processes reads a disjoint shard of equal size of one shared permutation.
//
//   auto sampler = std::make_shared<nn::DistributedSampler>(train_set.size(),
//                                                           dist::world_size(), dist::rank());
//   nn::DataLoader loader(train_set, nn::DataLoaderOptions(64).sampler(sampler));
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (auto& [x, y] : loader) { ... }   // epoch e visits sampler->indices(e)
//
// The DataLoader passes its own epoch counter (advanced by every pass, set by
// DataLoader::set_epoch to resume) to indices(epoch), so each pass has a new order without a
// set_epoch call; see DistributedSampler::set_epoch for PyTorch's habit.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "autograd/arg.hpp"

namespace xg::nn {

/// The order of examples of one epoch (a DataLoader with DataLoaderOptions::sampler reads it).
class Sampler {
 public:
  virtual ~Sampler();
  /// The dataset indices to visit in epoch `epoch`, in order (same epoch: same indices).
  virtual std::vector<std::size_t> indices(std::size_t epoch) const = 0;
  /// How many indices every epoch has.
  virtual std::size_t size() const = 0;
};

/// A random permutation of 0 .. n-1 from (seed, epoch) with xgrad's own generator (splitmix64 and
/// Fisher-Yates): the order of DataLoaderOptions().shuffle(true).seed(seed) in that epoch. It does
/// not equal torch.randperm's bit for bit (another generator), and seed and epoch are mixed, not
/// added (seed 1, epoch 0 differs from seed 0, epoch 1).
std::vector<std::size_t> permutation(std::size_t n, uint64_t seed, uint64_t epoch);

/// Options of DistributedSampler (PyTorch's defaults).
struct DistributedSamplerOptions {
  /// Shuffle with seed and epoch (default true); false: 0, 1, 2, ... every epoch.
  XG_ARG(bool, shuffle) = true;
  /// Seed of the shuffle; every rank must use the same one (default 0).
  XG_ARG(uint64_t, seed) = 0;
  /// Drop the tail so that the shards divide the data without padding: floor(N / R) per rank
  /// (default false: ceil(N / R) per rank, padded by repeating the first indices).
  XG_ARG(bool, drop_last) = false;
};

/// PyTorch's DistributedSampler (1.13): the permutation of 0 .. N-1 of the epoch (or 0 .. N-1
/// without shuffle) is padded to total_size = ceil(N / R) * R by repeating its first indices
/// (drop_last: cut to floor(N / R) * R), and rank r takes positions r, r + R, r + 2R, ... of it.
/// The R shards of an epoch are disjoint without padding, of equal size, and together cover
/// every index (drop_last: all but N - total_size of them).
class DistributedSampler : public Sampler {
 public:
  /// Rank `rank` of `num_replicas` (> 0) processes over a dataset of `dataset_size` examples.
  /// Throws naming the values when num_replicas is 0 or rank >= num_replicas.
  DistributedSampler(std::size_t dataset_size, std::size_t num_replicas, std::size_t rank,
                     const DistributedSamplerOptions& options = {});
  /// This rank's indices in epoch `epoch` (size() of them).
  std::vector<std::size_t> indices(std::size_t epoch) const override;
  /// This rank's indices in the epoch last given to set_epoch (PyTorch's iter(sampler)).
  std::vector<std::size_t> indices() const { return indices(epoch_); }
  /// Indices per rank and epoch: ceil(N / R), or floor(N / R) with drop_last.
  std::size_t size() const override { return num_samples_; }
  /// size() * num_replicas: the padded (or cut) length of the shared order.
  std::size_t total_size() const { return num_samples_ * num_replicas_; }
  /// PyTorch's set_epoch: the epoch of indices() without an argument. A DataLoader does not need
  /// it (it passes its own epoch counter); calling it each epoch as in PyTorch is harmless when
  /// the numbers agree, and to resume at epoch e call DataLoader::set_epoch(e).
  void set_epoch(std::size_t epoch) { epoch_ = epoch; }
  /// The epoch last given to set_epoch (0 at first).
  std::size_t epoch() const { return epoch_; }
  std::size_t dataset_size() const { return dataset_size_; }
  std::size_t num_replicas() const { return num_replicas_; }
  std::size_t rank() const { return rank_; }
  const DistributedSamplerOptions& options() const { return options_; }

 private:
  std::size_t dataset_size_, num_replicas_, rank_;
  DistributedSamplerOptions options_;
  std::size_t num_samples_ = 0;
  std::size_t epoch_ = 0;
};

}  // namespace xg::nn
