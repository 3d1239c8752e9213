// Samplers: the seeded permutation shared with the DataLoader, and PyTorch's DistributedSampler.
#include "nn/sampler.hpp"

#include <numeric>
#include <utility>

#include "autograd/extend.hpp"

namespace xg::nn {
namespace {

/// splitmix64: a small, fully specified generator, so an order depends only on seed and epoch
/// (not on the standard library's distributions).
struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) without modulo bias (Lemire's method), n > 0.
  uint64_t below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
};

}  // namespace

Sampler::~Sampler() = default;

std::vector<std::size_t> permutation(std::size_t n, uint64_t seed, uint64_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  SplitMix64 mix{seed};
  SplitMix64 rng{mix.next() ^ (epoch * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull)};
  rng.next();
  for (std::size_t i = order.size(); i > 1; --i)  // Fisher-Yates
    std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

DistributedSampler::DistributedSampler(std::size_t dataset_size, std::size_t num_replicas,
                                       std::size_t rank, const DistributedSamplerOptions& options)
    : dataset_size_(dataset_size), num_replicas_(num_replicas), rank_(rank), options_(options) {
  XG_CHECK(num_replicas > 0, "DistributedSampler: num_replicas must be > 0, got 0 (rank ", rank,
           ", dataset of ", dataset_size, ")");
  XG_CHECK(rank < num_replicas, "DistributedSampler: invalid rank ", rank,
           ", rank should be in the interval [0, ", num_replicas - 1, "] (num_replicas ",
           num_replicas, ")");
  // PyTorch: drop_last and N % R != 0 -> ceil((N - R) / R) = floor(N / R); else ceil(N / R).
  num_samples_ = options_.drop_last()
                     ? dataset_size / num_replicas
                     : dataset_size / num_replicas + (dataset_size % num_replicas != 0);
}

std::vector<std::size_t> DistributedSampler::indices(std::size_t epoch) const {
  std::vector<std::size_t> order;
  if (options_.shuffle()) {
    order = permutation(dataset_size_, options_.seed(), epoch);
  } else {
    order.resize(dataset_size_);
    std::iota(order.begin(), order.end(), std::size_t{0});
  }
  const std::size_t total = total_size();
  if (order.size() < total) {  // pad with the first indices, repeated as often as needed
    const std::size_t n = order.size();
    order.reserve(total);
    for (std::size_t i = 0; order.size() < total; ++i) order.push_back(order[i % n]);
  } else {
    order.resize(total);  // drop_last: the tail is cut
  }
  std::vector<std::size_t> mine;
  mine.reserve(num_samples_);
  for (std::size_t i = rank_; i < total; i += num_replicas_) mine.push_back(order[i]);
  return mine;
}

}  // namespace xg::nn
