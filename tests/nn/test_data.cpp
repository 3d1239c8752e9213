// TensorDataset, the default Dataset::get_batch, DataLoader batching, seeded shuffling, prefetch
// (same batches, early break, exceptions), Normalize and the synthetic sets.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

/// n examples: data row i = [i, 10 i + 1] (float32), label i % 3 (int64).
nn::TensorDataset rows(std::size_t n) {
  std::vector<double> x, y;
  for (std::size_t i = 0; i < n; ++i) {
    x.push_back(static_cast<double>(i));
    x.push_back(10.0 * static_cast<double>(i) + 1);
    y.push_back(static_cast<double>(i % 3));
  }
  return nn::TensorDataset(tensor(x, {n, 2}), tensor(y, {n}, Dtype::int64));
}

/// The example indices of a batch from rows(): column 0 of its data.
std::vector<std::size_t> ids(const nn::Batch& b) {
  std::vector<std::size_t> out;
  const std::vector<float> v = b.data.to_vector<float>();
  for (std::size_t i = 0; i < v.size(); i += 2) out.push_back(static_cast<std::size_t>(v[i]));
  return out;
}

/// All example indices of one epoch, in order.
std::vector<std::size_t> epoch_ids(nn::DataLoader& loader) {
  std::vector<std::size_t> out;
  for (auto& batch : loader) {
    auto b = ids(batch);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

/// A dataset with only get(): scalar data i (float64 [3] filled with i) and label 2i; throws at
/// `bad` and counts calls.
struct GetOnly : nn::Dataset {
  std::size_t n;
  std::size_t bad;
  mutable std::atomic<int> calls{0};
  GetOnly(std::size_t n_, std::size_t bad_ = SIZE_MAX) : n(n_), bad(bad_) {}
  GetOnly(const GetOnly& o) : n(o.n), bad(o.bad) {}
  std::size_t size() const override { return n; }
  nn::Example get(std::size_t i) const override {
    ++calls;
    if (i == bad) throw std::runtime_error("GetOnly: example " + std::to_string(i) + " is bad");
    return {full({3}, static_cast<double>(i), Dtype::float64),
            scalar_tensor(2.0 * static_cast<double>(i), Dtype::int64)};
  }
};

}  // namespace

TEST_CASE("TensorDataset: examples, batches, checks") {
  nn::TensorDataset ds = rows(5);
  CHECK(ds.size() == 5);
  nn::Example e = ds.get(3);
  CHECK(e.data.shape() == Shape{2});
  CHECK(e.data.to_vector<float>() == std::vector<float>{3, 31});
  CHECK(e.target.shape() == Shape{});
  CHECK(e.target.dtype() == Dtype::int64);
  CHECK(e.target.item<double>() == 0);
  Tensor x, y;
  ds.get_batch({4, 0, 4}, x, y);
  CHECK(x.shape() == Shape{3, 2});
  CHECK(x.to_vector<float>() == std::vector<float>{4, 41, 0, 1, 4, 41});
  CHECK(y.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(error_of([&] { ds.get(5); }) == "TensorDataset: index 5 out of range for 5 examples");
  CHECK(error_of([&] {
          ds.get_batch({1, 7}, x, y);
        }) == "TensorDataset: index 7 out of range for 5 examples");
  CHECK(error_of([] {
          nn::TensorDataset(zeros({4, 2}), zeros({3}));
        }) == "TensorDataset: data [4, 2] and targets [3] differ in their first (sample) dim");
  CHECK(error_of([] { nn::TensorDataset(zeros({}), zeros({3})); }) ==
        "TensorDataset: data and targets need a first (sample) dim, got data [] and targets [3]");
  CHECK(error_of([] { nn::TensorDataset(Tensor(), zeros({3})); }) ==
        "TensorDataset: data and targets must be defined tensors");

  nn::TensorDataset sub = ds.subset(2);
  CHECK(sub.size() == 2);
  CHECK(sub.data().to_vector<float>() == std::vector<float>{0, 1, 1, 11});
  CHECK(ds.subset(100).size() == 5);
  nn::TensorDataset doubled = ds.map_data([](const Tensor& t) { return t * 2.0; });
  CHECK(doubled.get(1).data.to_vector<float>() == std::vector<float>{2, 22});
  CHECK(error_of([&] { ds.map_data([](const Tensor& t) { return t.sum(); }); }) ==
        "TensorDataset::map_data: the function turned data [5, 2] into [] (it must keep the "
        "first dim)");
}

TEST_CASE("Dataset::get_batch default stacks get() results and checks their shapes") {
  GetOnly ds(4);
  Tensor x, y;
  ds.get_batch({2, 0}, x, y);
  CHECK(x.shape() == Shape{2, 3});
  CHECK(x.dtype() == Dtype::float64);
  CHECK(x.to_vector<double>() == std::vector<double>{2, 2, 2, 0, 0, 0});
  CHECK(y.shape() == Shape{2});
  CHECK(y.to_vector<int64_t>() == std::vector<int64_t>{4, 0});

  struct Ragged : nn::Dataset {
    std::size_t size() const override { return 3; }
    nn::Example get(std::size_t i) const override { return {zeros({i + 1}), scalar_tensor(0)}; }
  } ragged;
  CHECK(error_of([&] {
          ragged.get_batch({0, 1}, x, y);
        }) ==
        "Dataset::get_batch: example 1 has data float32[2] but example 0 has float32[1] (a batch "
        "needs equal shapes)");
  CHECK(error_of([&] {
          ragged.get_batch({0, 3}, x, y);
        }) == "Dataset::get_batch: index 3 out of range for 3 examples");
}

TEST_CASE("DataLoader batches: sizes, last partial batch, drop_last") {
  nn::DataLoader loader(rows(10), nn::DataLoaderOptions(4));
  CHECK(loader.size() == 3);
  std::vector<Shape> shapes;
  std::vector<std::size_t> seen;
  for (auto& [x, y] : loader) {
    shapes.push_back(x.shape());
    CHECK(y.dtype() == Dtype::int64);
    CHECK(y.shape() == Shape{x.shape()[0]});
    const std::vector<float> xv = x.to_vector<float>();
    const std::vector<int64_t> yv = y.to_vector<int64_t>();
    for (std::size_t r = 0; r < yv.size(); ++r) {
      CHECK(xv[2 * r + 1] == 10 * xv[2 * r] + 1);           // rows stay whole
      CHECK(yv[r] == static_cast<int64_t>(xv[2 * r]) % 3);  // and match their labels
      seen.push_back(static_cast<std::size_t>(xv[2 * r]));
    }
  }
  CHECK(shapes == std::vector<Shape>{{4, 2}, {4, 2}, {2, 2}});
  std::vector<std::size_t> expect(10);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(seen == expect);  // no shuffle: in order

  nn::DataLoader dropping(rows(10), nn::DataLoaderOptions(4).drop_last(true));
  CHECK(dropping.size() == 2);
  std::size_t batches = 0;
  for (auto& b : dropping) {
    CHECK(b.data.shape() == Shape{4, 2});
    ++batches;
  }
  CHECK(batches == 2);

  nn::DataLoader exact(rows(8), nn::DataLoaderOptions(4).drop_last(true));
  CHECK(exact.size() == 2);
  nn::DataLoader tiny(rows(3), nn::DataLoaderOptions(4).drop_last(true));
  CHECK(tiny.size() == 0);
  CHECK(tiny.begin() == tiny.end());
  nn::DataLoader none(rows(0), nn::DataLoaderOptions(4));
  CHECK(none.size() == 0);
  CHECK(none.begin() == none.end());
  nn::DataLoader big(rows(3), nn::DataLoaderOptions(100));
  CHECK(big.size() == 1);
  CHECK((*big.begin()).data.shape() == Shape{3, 2});

  CHECK(error_of([] { nn::DataLoader(rows(3), nn::DataLoaderOptions(0)); }) ==
        "DataLoader: batch_size must be > 0, got 0");
  CHECK(error_of([] { nn::DataLoader(std::shared_ptr<const nn::Dataset>(), {}); }) ==
        "DataLoader: the dataset is null");
}

TEST_CASE("DataLoader shuffles per epoch, reproducibly from seed and epoch") {
  auto opts = nn::DataLoaderOptions(7).shuffle(true).seed(42);
  nn::DataLoader a(rows(50), opts), b(rows(50), opts);
  CHECK(a.epoch() == 0);
  const auto a0 = epoch_ids(a), a1 = epoch_ids(a);
  CHECK(a.epoch() == 2);
  const auto b0 = epoch_ids(b), b1 = epoch_ids(b);
  CHECK(a0 == b0);
  CHECK(a1 == b1);
  CHECK(a0 != a1);  // a new order each epoch
  std::vector<std::size_t> expect(50);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(a0 != expect);
  for (auto order : {a0, a1}) {  // each epoch is a permutation
    std::sort(order.begin(), order.end());
    CHECK(order == expect);
  }
  a.set_epoch(1);
  CHECK(epoch_ids(a) == a1);
  CHECK(a.order(0) == a0);
  nn::DataLoader other(rows(50), nn::DataLoaderOptions(7).shuffle(true).seed(43));
  CHECK(epoch_ids(other) != a0);

  // Without a seed the order comes from the global generator: manual_seed makes it repeat.
  manual_seed(7);
  nn::DataLoader c(rows(50), nn::DataLoaderOptions(7).shuffle(true));
  manual_seed(7);
  nn::DataLoader d(rows(50), nn::DataLoaderOptions(7).shuffle(true));
  CHECK(c.seed() == d.seed());
  CHECK(epoch_ids(c) == epoch_ids(d));
}

TEST_CASE("DataLoader prefetch gives the same batches as no prefetch") {
  for (bool get_only : {false, true}) {
    CAPTURE(get_only);
    auto opts = nn::DataLoaderOptions(6).shuffle(true).seed(3);
    std::shared_ptr<const nn::Dataset> ds;
    if (get_only)
      ds = std::make_shared<GetOnly>(23);
    else
      ds = std::make_shared<nn::TensorDataset>(rows(23));
    nn::DataLoader plain(ds, opts), pre(ds, nn::DataLoaderOptions(opts).prefetch(true));
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::vector<nn::Batch> p, q;
      for (auto& b : plain) p.push_back(b);
      for (auto& b : pre) q.push_back(b);
      REQUIRE(p.size() == 4);
      REQUIRE(q.size() == p.size());
      for (std::size_t i = 0; i < p.size(); ++i) {
        CHECK(p[i].data.shape() == q[i].data.shape());
        CHECK(p[i].data.to_vector<double>() == q[i].data.to_vector<double>());
        CHECK(p[i].target.to_vector<int64_t>() == q[i].target.to_vector<int64_t>());
      }
    }
  }
}

TEST_CASE("DataLoader with prefetch: early break stops the worker and frees the epoch") {
  auto ds = std::make_shared<GetOnly>(1000);
  std::shared_ptr<const nn::Dataset> shared = ds;
  const long before = shared.use_count();
  {
    nn::DataLoader loader(shared, nn::DataLoaderOptions(2).prefetch(true));
    const long owners = shared.use_count();  // ours and the loader's
    for (int round = 0; round < 3; ++round) {
      int n = 0;
      for (auto& batch : loader) {
        CHECK(batch.data.shape() == Shape{2, 3});
        CHECK(shared.use_count() > owners);  // the running epoch holds the dataset
        if (++n == 2) break;
      }
      CHECK(n == 2);
      CHECK(shared.use_count() == owners);  // the epoch (and its worker) are gone
      const int calls = ds->calls;
      CHECK(calls < 1000);  // the worker did not run on through the epoch
    }
    // An iterator kept alive past the loop keeps its epoch; destroying the loader first is fine.
    auto it = loader.begin();
    CHECK(it->data.shape() == Shape{2, 3});
  }
  CHECK(shared.use_count() == before);
}

TEST_CASE("DataLoader rethrows an exception from the dataset, with and without prefetch") {
  for (bool prefetch : {false, true}) {
    CAPTURE(prefetch);
    nn::DataLoader loader(GetOnly(20, 13), nn::DataLoaderOptions(4).prefetch(prefetch));
    std::vector<std::size_t> got;
    const std::string err = error_of([&] {
      for (auto& [x, y] : loader) got.push_back(x.shape()[0]);
    });
    CHECK(err == "GetOnly: example 13 is bad");
    CHECK(got == std::vector<std::size_t>{4, 4, 4});  // the batches before the bad one
    // The loader still works for the next epoch (and fails the same way).
    CHECK(error_of([&] {
            for (auto& b : loader) (void)b;
          }) == "GetOnly: example 13 is bad");
  }
  // A get_batch that gives the wrong number of rows.
  struct Short : GetOnly {
    Short() : GetOnly(6) {}
    void get_batch(const std::vector<std::size_t>& idx, Tensor& x, Tensor& y) const override {
      GetOnly::get_batch({idx[0]}, x, y);
    }
  };
  nn::DataLoader short_loader(Short(), nn::DataLoaderOptions(3));
  CHECK(error_of([&] { short_loader.begin(); }) ==
        "DataLoader: the dataset's get_batch gave data [1, 3] and target [1] for a batch of 3 "
        "examples");
  // The first batch failing fails begin().
  nn::DataLoader first(GetOnly(5, 0), nn::DataLoaderOptions(2).prefetch(true));
  CHECK(error_of([&] { first.begin(); }) == "GetOnly: example 0 is bad");
}

TEST_CASE("Normalize per tensor and per channel") {
  Tensor x = tensor({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2});
  CHECK(nn::Normalize(1.0, 2.0)(x).to_vector<float>() ==
        std::vector<float>{-0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3});
  CHECK(nn::Normalize({0.0, 4.0}, {1.0, 2.0})(x).to_vector<float>() ==
        std::vector<float>{0, 1, -1, -0.5, 4, 5, 1, 1.5});
  CHECK(error_of([&] {
          nn::Normalize({0.0, 1.0, 2.0}, {1.0, 1.0, 1.0})(x);
        }) == "Normalize: 3 channel means for a tensor [2, 2, 2] (expected [N, 3, ...])");
  CHECK(error_of([] { nn::Normalize(0.0, 0.0); }) ==
        "Normalize: channel 0 has mean 0 and std 0 (std must be finite and > 0)");
  CHECK(error_of([] {
          nn::Normalize({0.0}, {1.0, 2.0});
        }) == "Normalize: 1 means and 2 stds (need equal, non-zero counts)");
  CHECK(error_of([] { nn::Normalize(0.0, 1.0)(zeros({2}, Dtype::int64)); }) ==
        "Normalize: expected a floating point tensor (float32 or float64), got int64");
}

TEST_CASE("synthetic sets: shapes, labels, reproducible from the seed") {
  nn::TensorDataset blobs = nn::make_blobs(90, 3, 4, 0.5, 1);
  CHECK(blobs.data().shape() == Shape{90, 4});
  CHECK(blobs.targets().shape() == Shape{90});
  CHECK(blobs.targets().dtype() == Dtype::int64);
  std::vector<int64_t> counts(3);
  for (int64_t l : blobs.targets().to_vector<int64_t>()) ++counts[static_cast<std::size_t>(l)];
  CHECK(counts == std::vector<int64_t>{30, 30, 30});
  CHECK(nn::make_blobs(90, 3, 4, 0.5, 1).data().to_vector<float>() ==
        blobs.data().to_vector<float>());
  CHECK(nn::make_blobs(90, 3, 4, 0.5, 2).data().to_vector<float>() !=
        blobs.data().to_vector<float>());

  nn::TensorDataset moons = nn::make_moons(101, 0.0, 0);
  CHECK(moons.data().shape() == Shape{101, 2});
  const auto mx = moons.data().to_vector<float>();
  const auto my = moons.targets().to_vector<int64_t>();
  CHECK(std::count(my.begin(), my.end(), 0) == 50);
  CHECK(mx[0] == doctest::Approx(1.0));       // outer moon starts at (1, 0)
  CHECK(mx[2 * 50] == doctest::Approx(0.0));  // inner moon starts at (0, 0.5)
  CHECK(mx[2 * 50 + 1] == doctest::Approx(0.5));

  nn::TensorDataset spirals = nn::make_spirals(100, 3, 0.2, 5);
  const auto sy = spirals.targets().to_vector<int64_t>();
  CHECK(spirals.data().shape() == Shape{100, 2});
  CHECK(std::count(sy.begin(), sy.end(), 0) == 34);
  CHECK(std::count(sy.begin(), sy.end(), 2) == 33);

  Tensor coef;
  double bias = 0;
  nn::TensorDataset reg = nn::make_regression(200, 3, 0.0, 9, &coef, &bias);
  CHECK(reg.data().shape() == Shape{200, 3});
  CHECK(reg.targets().shape() == Shape{200, 1});
  CHECK(coef.shape() == Shape{3});
  // Without noise, y = x w + b exactly (up to float32 rounding).
  Tensor pred = matmul(reg.data(), coef.reshape({3, 1})) + bias;
  CHECK((pred - reg.targets()).abs().max().item<double>() < 1e-5);

  CHECK(error_of([] { nn::make_blobs(10, 0); }) == "make_blobs: centers must be > 0");
  CHECK(error_of([] { nn::make_moons(10, -1.0); }) ==
        "make_moons: noise must be finite and >= 0, got -1");
}
