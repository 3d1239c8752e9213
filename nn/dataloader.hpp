#pragma once
// DataLoader: batches of a Dataset, optionally shuffled (seeded, per epoch) or in a Sampler's
// order (DistributedSampler: one shard per process), and prefetched on a background thread.
//
//   nn::DataLoader loader(nn::FashionMNIST(true), nn::DataLoaderOptions(64).shuffle(true).seed(0));
//   for (auto& [x, y] : loader) { ... }   // x [64, 1, 28, 28] float32, y [64] int64
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/tensor.hpp"
#include "nn/dataset.hpp"
#include "nn/sampler.hpp"

namespace xg::nn {

/// How a DataLoader batches: batch size, shuffling, seed, drop_last, background prefetch.
struct DataLoaderOptions {
  /// Batches of `batch_size` (> 0) examples.
  DataLoaderOptions(std::size_t batch_size = 1) : batch_size_(batch_size) {}  // NOLINT
  /// Examples per batch (> 0).
  DataLoaderOptions& batch_size(std::size_t v) { return batch_size_ = v, *this; }
  std::size_t batch_size() const { return batch_size_; }
  /// Visit the examples in a new random order each epoch (default false: 0, 1, 2, ...).
  DataLoaderOptions& shuffle(bool v) { return shuffle_ = v, *this; }
  bool shuffle() const { return shuffle_; }
  /// Seed of the shuffle; the same seed and epoch give the same order. Unset: drawn from the
  /// global generator (xg::manual_seed) when the loader is made.
  DataLoaderOptions& seed(uint64_t v) { return seed_ = v, *this; }
  const std::optional<uint64_t>& seed() const { return seed_; }
  /// Drop the last batch when it is smaller than batch_size (default false: keep it).
  DataLoaderOptions& drop_last(bool v) { return drop_last_ = v, *this; }
  bool drop_last() const { return drop_last_; }
  /// Build the next batches on a background thread while the current one is used.
  DataLoaderOptions& prefetch(bool v) { return prefetch_ = v, *this; }
  bool prefetch() const { return prefetch_; }
  /// Take each epoch's order from `s` (s->indices(epoch), e.g. a DistributedSampler) instead of
  /// 0 .. N-1 or the loader's own shuffle; shuffle(true) with a sampler is an error, as PyTorch.
  DataLoaderOptions& sampler(std::shared_ptr<Sampler> s) { return sampler_ = std::move(s), *this; }
  const std::shared_ptr<Sampler>& sampler() const { return sampler_; }

 private:
  std::size_t batch_size_;
  bool shuffle_ = false;
  std::optional<uint64_t> seed_;
  bool drop_last_ = false;
  bool prefetch_ = false;
  std::shared_ptr<Sampler> sampler_;
};

/// One batch: data [B, ...] and target [B, ...] (int64 [B] for class labels). Structured
/// bindings work: `for (auto& [x, y] : loader)`.
struct Batch {
  Tensor data;
  Tensor target;
};

/// Iterates a dataset in batches. Each range-for (each begin()) is one epoch: it takes the
/// order for the current epoch (shuffled from seed and epoch) and then advances the epoch
/// counter. Each batch is a pair of new tensors filled by one gather (one memcpy per row for
/// TensorDataset and datasets derived from it). With prefetch, a std::thread builds the next
/// batches; it is stopped and joined when the iteration ends, is abandoned (break) or the loader
/// is destroyed, and an exception thrown by the dataset there is rethrown in the loop.
class DataLoader {
 public:
  /// Holds a copy of `dataset` (cheap for tensor datasets: tensors are shared handles).
  template <typename D, typename = std::enable_if_t<std::is_base_of_v<Dataset, std::decay_t<D>>>>
  DataLoader(D&& dataset, const DataLoaderOptions& options = {})  // NOLINT
      : DataLoader(std::shared_ptr<const Dataset>(
                       std::make_shared<std::decay_t<D>>(std::forward<D>(dataset))),
                   options) {}
  /// Shares `dataset`. Throws if it is null or batch_size is 0.
  DataLoader(std::shared_ptr<const Dataset> dataset, const DataLoaderOptions& options = {});
  ~DataLoader();
  DataLoader(DataLoader&&) noexcept;
  DataLoader& operator=(DataLoader&&) noexcept;

  struct State;  // one epoch's order, current batch and prefetch thread (dataloader.cpp)

  /// Input iterator over one epoch's batches; copies share the epoch.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;

    Iterator() = default;
    explicit Iterator(std::shared_ptr<State> state) : state_(std::move(state)) {}
    /// The current batch.
    Batch& operator*() const;
    Batch* operator->() const { return &**this; }
    /// Moves to the next batch (may rethrow an exception from the dataset).
    Iterator& operator++();
    /// Equal when both are at the end (or share the same epoch at the same batch).
    bool operator==(const Iterator& other) const;
    bool operator!=(const Iterator& other) const { return !(*this == other); }

   private:
    bool at_end() const;
    std::shared_ptr<State> state_;
  };

  /// Starts an epoch (the order for epoch(), then epoch() advances) at its first batch.
  Iterator begin();
  Iterator end() { return Iterator(); }

  /// Number of batches per epoch: ceil(N / B), or floor(N / B) with drop_last (N: the
  /// sampler's size() when there is one, else the dataset's).
  std::size_t size() const;
  /// The epoch the next begin() will use.
  uint64_t epoch() const { return epoch_; }
  /// Sets the epoch the next begin() uses (same seed and epoch: same order); with a sampler,
  /// the epoch passed to its indices(epoch).
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  /// The example order of `epoch` (what begin() would visit; does not advance anything).
  std::vector<std::size_t> order(uint64_t epoch) const;
  /// The dataset being read.
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  /// The shuffle seed in use (the given one, or the one drawn at construction).
  uint64_t seed() const { return seed_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  uint64_t seed_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace xg::nn
