// nn::Sampler, nn::DistributedSampler (PyTorch 1.13's semantics) and the DataLoader's sampler
// option: shards against a literal transcription of PyTorch's __iter__ and torch's own outputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <set>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;
using Indices = std::vector<std::size_t>;

namespace {

/// PyTorch 1.13's DistributedSampler.__iter__, line by line, over a given order of 0 .. n-1.
Indices torch_shard(Indices indices, std::size_t num_replicas, std::size_t rank, bool drop_last) {
  const std::size_t n = indices.size();
  std::size_t num_samples;
  if (drop_last && n % num_replicas != 0)
    num_samples = (n - std::min(n, num_replicas)) / num_replicas +
                  ((n > num_replicas && (n - num_replicas) % num_replicas) ? 1 : 0);
  else
    num_samples = (n + num_replicas - 1) / num_replicas;
  const std::size_t total_size = num_samples * num_replicas;
  if (!drop_last) {
    const std::size_t padding_size = total_size - n;
    if (padding_size <= n) {
      indices.insert(indices.end(), indices.begin(), indices.begin() + padding_size);
    } else {
      Indices repeated;
      for (std::size_t k = 0; k < (padding_size + n - 1) / n; ++k)
        repeated.insert(repeated.end(), indices.begin(), indices.end());
      indices.insert(indices.end(), repeated.begin(), repeated.begin() + padding_size);
    }
  } else {
    indices.resize(total_size);
  }
  Indices out;
  for (std::size_t i = rank; i < total_size; i += num_replicas) out.push_back(indices[i]);
  return out;
}

Indices iota(std::size_t n) {
  Indices v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

/// n examples: data row i = [i] (float32), label i (int64).
nn::TensorDataset numbered(std::size_t n) {
  std::vector<double> x(n);
  std::iota(x.begin(), x.end(), 0.0);
  return nn::TensorDataset(tensor(x, {n, 1}), tensor(x, {n}, Dtype::int64));
}

/// The example numbers of each batch of one epoch.
std::vector<Indices> batches(nn::DataLoader& loader) {
  std::vector<Indices> out;
  for (auto& [x, y] : loader) {
    Indices b;
    for (int64_t v : y.to_vector<int64_t>()) b.push_back(static_cast<std::size_t>(v));
    out.push_back(b);
  }
  return out;
}

}  // namespace

TEST_CASE("DistributedSampler equals torch 1.13 without shuffle (outputs printed by torch)") {
  auto all = [](std::size_t n, std::size_t r, bool drop_last) {
    std::vector<Indices> out;
    for (std::size_t k = 0; k < r; ++k)
      out.push_back(
          nn::DistributedSampler(
              n, r, k, nn::DistributedSamplerOptions().shuffle(false).drop_last(drop_last))
              .indices(0));
    return out;
  };
  using V = std::vector<Indices>;
  CHECK(all(10, 3, false) == V{{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}});
  CHECK(all(10, 3, true) == V{{0, 3, 6}, {1, 4, 7}, {2, 5, 8}});
  CHECK(all(1, 3, false) == V{{0}, {0}, {0}});
  CHECK(all(1, 3, true) == V{{}, {}, {}});
  CHECK(all(7, 7, false) == V{{0}, {1}, {2}, {3}, {4}, {5}, {6}});
  CHECK(all(2, 7, false) == V{{0}, {1}, {0}, {1}, {0}, {1}, {0}});
  CHECK(all(0, 2, false) == V{{}, {}});
}

TEST_CASE("DistributedSampler shards: PyTorch's padding and drop_last, disjoint, complete") {
  for (std::size_t n : {0, 1, 7, 10, 60000})
    for (std::size_t r : {1, 2, 3, 7})
      for (bool shuffle : {false, true})
        for (bool drop_last : {false, true}) {
          CAPTURE(n);
          CAPTURE(r);
          CAPTURE(shuffle);
          CAPTURE(drop_last);
          const auto opts =
              nn::DistributedSamplerOptions().shuffle(shuffle).seed(5).drop_last(drop_last);
          const std::size_t expect_size = drop_last ? n / r : (n + r - 1) / r;
          const Indices order = shuffle ? nn::permutation(n, 5, 3) : iota(n);
          std::vector<std::size_t> count(n, 0);
          std::size_t total = 0;
          for (std::size_t k = 0; k < r; ++k) {
            nn::DistributedSampler s(n, r, k, opts);
            CHECK(s.size() == expect_size);  // equal shard sizes
            CHECK(s.total_size() == expect_size * r);
            const Indices mine = s.indices(3);
            CHECK(mine.size() == expect_size);
            CHECK(mine == torch_shard(order, r, k, drop_last));
            for (std::size_t i : mine) {
              REQUIRE(i < n);
              ++count[i];
            }
            total += mine.size();
          }
          CHECK(total == expect_size * r);
          // Every index once; padding adds total - n repeats of the first indices of the order,
          // drop_last leaves out the last n - total of it.
          for (std::size_t p = 0; p < n; ++p) {
            const std::size_t i = order[p];
            std::size_t expect = 1;
            if (drop_last && p >= expect_size * r) expect = 0;
            if (!drop_last && n > 0) expect = 1 + (expect_size * r - n + n - 1 - p) / n;
            if (count[i] != expect) {
              CAPTURE(p);
              CHECK(count[i] == expect);
              break;
            }
          }
          const bool divides = n % r == 0;
          if (divides) CHECK(std::count(count.begin(), count.end(), 1) == static_cast<long>(n));
        }
}

TEST_CASE("DistributedSampler order: set by seed and epoch, new each epoch, shared by the ranks") {
  nn::DistributedSampler a(100, 3, 1, nn::DistributedSamplerOptions().seed(7));
  nn::DistributedSampler b(100, 3, 1, nn::DistributedSamplerOptions().seed(7));
  CHECK(a.indices(0) == b.indices(0));  // same seed and epoch: same order
  CHECK(a.indices(4) == b.indices(4));
  CHECK(a.indices(0) != a.indices(1));  // a new order each epoch
  CHECK(a.indices(0) !=
        nn::DistributedSampler(100, 3, 1, nn::DistributedSamplerOptions().seed(8)).indices(0));
  // set_epoch: PyTorch's epoch of indices() without an argument.
  CHECK(a.epoch() == 0);
  CHECK(a.indices() == a.indices(0));
  a.set_epoch(4);
  CHECK(a.epoch() == 4);
  CHECK(a.indices() == b.indices(4));
  CHECK(a.indices() != b.indices(0));
  // The shared order is the DataLoader's own shuffle with that seed.
  nn::DataLoader single(numbered(100), nn::DataLoaderOptions(10).shuffle(true).seed(7));
  CHECK(single.order(4) == nn::permutation(100, 7, 4));
  CHECK(nn::DistributedSampler(100, 1, 0, nn::DistributedSamplerOptions().seed(7)).indices(4) ==
        single.order(4));
}

TEST_CASE("DataLoader with a sampler: its order, its size, the epoch counter, checks") {
  auto sampler = std::make_shared<nn::DistributedSampler>(
      10, 3, 2, nn::DistributedSamplerOptions().shuffle(false));
  nn::DataLoader loader(numbered(10), nn::DataLoaderOptions(3).sampler(sampler));
  CHECK(loader.size() == 2);  // 4 indices per rank in batches of 3
  CHECK(batches(loader) == std::vector<Indices>{{2, 5, 8}, {1}});
  nn::DataLoader dropping(numbered(10), nn::DataLoaderOptions(3).sampler(sampler).drop_last(true));
  CHECK(dropping.size() == 1);
  CHECK(batches(dropping) == std::vector<Indices>{{2, 5, 8}});

  // The loader passes its epoch counter: every pass a new order, set_epoch to resume.
  auto shuffled = std::make_shared<nn::DistributedSampler>(60, 2, 1);
  for (bool prefetch : {false, true}) {
    nn::DataLoader l(numbered(60), nn::DataLoaderOptions(8).sampler(shuffled).prefetch(prefetch));
    auto flat = [](const std::vector<Indices>& bs) {
      Indices out;
      for (const Indices& b : bs) out.insert(out.end(), b.begin(), b.end());
      return out;
    };
    const Indices e0 = flat(batches(l)), e1 = flat(batches(l));
    CHECK(e0 == shuffled->indices(0));
    CHECK(e1 == shuffled->indices(1));
    CHECK(e0 != e1);
    l.set_epoch(1);
    CHECK(flat(batches(l)) == e1);
  }

  CHECK(error_of([&] {
          nn::DataLoader(numbered(10), nn::DataLoaderOptions(3).sampler(sampler).shuffle(true));
        }) ==
        "DataLoader: sampler option is mutually exclusive with shuffle (the sampler gives "
        "the order; shuffle it there, e.g. DistributedSamplerOptions().shuffle(true))");
  auto too_big = std::make_shared<nn::DistributedSampler>(
      20, 2, 1, nn::DistributedSamplerOptions().shuffle(false));
  nn::DataLoader small(numbered(10), nn::DataLoaderOptions(4).sampler(too_big));
  CHECK(error_of([&] { small.begin(); }) ==
        "DataLoader: the sampler gave index 11 for a dataset of 10 examples (epoch 0)");
}

TEST_CASE("DistributedSampler misuse names the values") {
  CHECK(error_of([] { nn::DistributedSampler(10, 0, 0); }) ==
        "DistributedSampler: num_replicas must be > 0, got 0 (rank 0, dataset of 10)");
  CHECK(error_of([] { nn::DistributedSampler(10, 2, 2); }) ==
        "DistributedSampler: invalid rank 2, rank should be in the interval [0, 1] "
        "(num_replicas 2)");
  CHECK(error_of([] { nn::DistributedSampler(10, 3, 7); }) ==
        "DistributedSampler: invalid rank 7, rank should be in the interval [0, 2] "
        "(num_replicas 3)");
}

// What holds for data-parallel training: R ranks with batch B each, in step k, together read
// exactly the examples of step k of one process with batch R*B over the same order (the
// DataLoader shuffled with the same seed, or unshuffled). Rank r's part of step k is the global
// order's positions k*R*B + r + j*R, j = 0 .. B-1 (strided, as PyTorch's sampler deals them
// out), so the examples of a step agree as a set (all a mean-reduced gradient depends on), not
// as contiguous rows. This holds for every step whenever R divides N; when it does not, the
// last step also holds the padding (the first total_size - N examples of the order again).
TEST_CASE(
    "R ranks with batch B read, step by step, the examples one process with batch R*B reads") {
  for (bool shuffle : {false, true})
    for (std::size_t n : {60, 96, 7 * 12})
      for (std::size_t r : {1, 2, 3, 4})
        for (std::size_t b : {1, 4, 5}) {
          if (n % r != 0) continue;
          CAPTURE(shuffle);
          CAPTURE(n);
          CAPTURE(r);
          CAPTURE(b);
          auto single_opts = nn::DataLoaderOptions(r * b).shuffle(shuffle).seed(11);
          nn::DataLoader single(numbered(n), single_opts);
          single.set_epoch(2);
          const Indices order = single.order(2);
          const std::vector<Indices> global = batches(single);
          std::vector<std::vector<Indices>> per_rank;
          for (std::size_t k = 0; k < r; ++k) {
            auto s = std::make_shared<nn::DistributedSampler>(
                n, r, k, nn::DistributedSamplerOptions().shuffle(shuffle).seed(11));
            nn::DataLoader l(numbered(n), nn::DataLoaderOptions(b).sampler(s));
            l.set_epoch(2);
            per_rank.push_back(batches(l));
            REQUIRE(per_rank.back().size() == global.size());
          }
          for (std::size_t step = 0; step < global.size(); ++step) {
            std::multiset<std::size_t> together;
            for (std::size_t k = 0; k < r; ++k) {
              const Indices& mine = per_rank[k][step];
              for (std::size_t j = 0; j < mine.size(); ++j) {
                CHECK(mine[j] == order[step * r * b + k + j * r]);
                together.insert(mine[j]);
              }
            }
            CHECK(together == std::multiset<std::size_t>(global[step].begin(), global[step].end()));
          }
        }
}
