// Loss landscapes: direction normalizations against the paper's formulas, biasbn, seeds, 1D
// endpoints, thread-count invariance, the affine first layer, resumption of an interrupted
// grid, refusal of mismatched or corrupt files, and PCA of a straight-line trajectory.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"
#include "viz/viz.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

/// A hand-built model: weight [2, 3] (rows of known norms), conv-like kernel [2, 1, 2, 2],
/// bias [2] and a BatchNorm1d(2) (weight, bias, running_mean, running_var, num_batches_tracked).
struct Hand : nn::Module {
  Hand() : Module("Hand") {
    register_parameter("weight", tensor({3, 4, 0, 1, 2, 2}, {2, 3}));
    register_parameter("kernel", tensor({1, 1, 1, 1, 0, 0, 0, 2}, {2, 1, 2, 2}));
    register_parameter("bias", tensor({0.5, -1.5}, {2}));
    bn = register_module("bn", std::make_shared<nn::BatchNorm1d>(2));
  }
  std::shared_ptr<nn::BatchNorm1d> bn;
};

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

const Tensor& entry(const nn::NamedTensors& ts, const std::string& name) {
  for (const auto& [n, t] : ts)
    if (n == name) return t;
  FAIL("no entry " << name);
  static Tensor none;
  return none;
}

/// A small classifier and its data: MLP 2-8-3 on 3 blobs.
viz::ModelFactory mlp_factory() {
  return [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{2, 8, 3}); };
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// A fresh temporary folder for this test's files, removed at the end of the program.
std::string temp_dir() {
  struct Folders {
    std::vector<std::string> paths;
    ~Folders() {
      for (const std::string& p : paths) std::filesystem::remove_all(p);
    }
  };
  static Folders folders;
  char tmpl[] = "/tmp/xgrad_landscape_XXXXXX";
  const char* d = mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  folders.paths.push_back(d);
  return d;
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("landscape: filter normalization equals the formula on a hand-built model") {
  Hand m;
  const nn::NamedTensors w = viz::snapshot(m, viz::DirectionKind::weights);
  REQUIRE(w.size() == 5);  // weight, kernel, bias, bn.weight, bn.bias
  const nn::NamedTensors raw = viz::gaussian_like(w, 7);
  nn::NamedTensors d = viz::gaussian_like(w, 7);
  viz::normalize_direction(d, w, viz::Normalization::filter, viz::Ignore::biasbn);
  for (const std::string name : {"weight", "kernel"}) {
    const std::vector<float> r = values(entry(raw, name)), wv = values(entry(w, name)),
                             dv = values(entry(d, name));
    const std::size_t rows = 2, len = r.size() / rows;
    for (std::size_t j = 0; j < rows; ++j) {
      double nw = 0, nr = 0;
      for (std::size_t k = 0; k < len; ++k)
        nw += double(wv[j * len + k]) * wv[j * len + k],
            nr += double(r[j * len + k]) * r[j * len + k];
      const double s = std::sqrt(nw) / (std::sqrt(nr) + 1e-10);
      double nd = 0;
      for (std::size_t k = 0; k < len; ++k) {
        CHECK(dv[j * len + k] == doctest::Approx(r[j * len + k] * s).epsilon(1e-6));
        nd += double(dv[j * len + k]) * dv[j * len + k];
      }
      CHECK(std::sqrt(nd) == doctest::Approx(std::sqrt(nw)).epsilon(1e-6));  // ||d_j|| = ||w_j||
    }
  }
  // Row 0 of "weight" is (3, 4, 0): norm 5.
  double n0 = 0;
  for (int k = 0; k < 3; ++k) n0 += std::pow(values(entry(d, "weight"))[k], 2);
  CHECK(std::sqrt(n0) == doctest::Approx(5.0).epsilon(1e-6));

  SUBCASE("layer and weight") {
    nn::NamedTensors dl = viz::gaussian_like(w, 7);
    viz::normalize_direction(dl, w, viz::Normalization::layer, viz::Ignore::biasbn);
    const std::vector<float> r = values(entry(raw, "weight")), v = values(entry(dl, "weight"));
    double nr = 0;
    for (float x : r) nr += double(x) * x;
    const double s = std::sqrt(9 + 16 + 0 + 1 + 4 + 4) / std::sqrt(nr);
    for (std::size_t k = 0; k < r.size(); ++k)
      CHECK(v[k] == doctest::Approx(r[k] * s).epsilon(1e-6));
    nn::NamedTensors dw = viz::gaussian_like(w, 7);
    viz::normalize_direction(dw, w, viz::Normalization::weight, viz::Ignore::biasbn);
    const std::vector<float> wv = values(entry(w, "weight")), vw = values(entry(dw, "weight"));
    for (std::size_t k = 0; k < r.size(); ++k) CHECK(vw[k] == doctest::Approx(r[k] * wv[k]));
  }
}

TEST_CASE("landscape: biasbn zeroes 1-D entries, ignore none copies the weights (d = w)") {
  Hand m;
  auto bn_state = m.bn->state_dict();
  m.bn->local("running_mean").copy_(tensor({0.25, -0.75}, {2}));
  m.bn->local("running_var").copy_(tensor({2.0, 3.0}, {2}));
  for (viz::DirectionKind kind : {viz::DirectionKind::weights, viz::DirectionKind::states}) {
    const viz::Direction zeroed = viz::random_direction(
        m, viz::DirectionOptions().seed(3).kind(kind).ignore(viz::Ignore::biasbn));
    const viz::Direction copied = viz::random_direction(
        m, viz::DirectionOptions().seed(3).kind(kind).ignore(viz::Ignore::none));
    const nn::NamedTensors w = viz::snapshot(m, kind);
    CHECK(zeroed.tensors.size() == (kind == viz::DirectionKind::weights ? 5u : 8u));
    for (std::size_t e = 0; e < w.size(); ++e) {
      const auto& [name, t] = w[e];
      CAPTURE(name);
      CHECK(zeroed.tensors[e].first == name);
      if (t.dtype() == Dtype::int64) {  // num_batches_tracked: never moved
        CHECK(zeroed.tensors[e].second.to_vector<int64_t>() == std::vector<int64_t>{0});
        CHECK(copied.tensors[e].second.to_vector<int64_t>() == std::vector<int64_t>{0});
      } else if (t.dim() <= 1) {
        CHECK(values(zeroed.tensors[e].second) == std::vector<float>(t.numel(), 0.f));
        CHECK(values(copied.tensors[e].second) == values(t));
      } else {  // dim > 1: the same normalized Gaussian in both
        CHECK(values(zeroed.tensors[e].second) == values(copied.tensors[e].second));
        CHECK(values(zeroed.tensors[e].second) != std::vector<float>(t.numel(), 0.f));
      }
    }
    CHECK(zeroed.kind == kind);
  }
  // The running statistics are in the states direction, copied from the model.
  const viz::Direction s = viz::random_direction(
      m, viz::DirectionOptions().kind(viz::DirectionKind::states).ignore(viz::Ignore::none));
  CHECK(values(entry(s.tensors, "bn.running_var")) == std::vector<float>{2.f, 3.f});
}

TEST_CASE("landscape: same seed gives identical directions; names and seeds change them") {
  Hand m;
  const viz::Direction a = viz::random_direction(m, viz::DirectionOptions().seed(11));
  const viz::Direction b = viz::random_direction(m, viz::DirectionOptions().seed(11));
  const viz::Direction c = viz::random_direction(m, viz::DirectionOptions().seed(12));
  for (std::size_t e = 0; e < a.tensors.size(); ++e) {
    CHECK(values(a.tensors[e].second) == values(b.tensors[e].second));
    if (a.tensors[e].second.dim() > 1)
      CHECK(values(a.tensors[e].second) != values(c.tensors[e].second));
  }
  // Element values depend on (seed, name, index) only: not on order or neighbours.
  const Tensor t = zeros({4, 5});
  const nn::NamedTensors g1 = viz::gaussian_like({{"p", t}, {"q", t}}, 5);
  const nn::NamedTensors g2 = viz::gaussian_like({{"q", t}, {"p", zeros({3, 5})}}, 5);
  CHECK(values(g1[1].second) == values(g2[0].second));  // q, wherever it is
  const std::vector<float> p1 = values(g1[0].second);
  CHECK(std::vector<float>(p1.begin(), p1.begin() + 15) == values(g2[1].second));  // p's first 15
  CHECK(values(g1[0].second) != values(g1[1].second));                             // names differ
  double mean = 0, var = 0;
  const std::vector<float> big = values(viz::gaussian_like({{"w", zeros({20000})}}, 1)[0].second);
  for (float x : big) mean += x;
  mean /= big.size();
  for (float x : big) var += (x - mean) * (x - mean);
  var /= big.size();
  CHECK(std::abs(mean) < 0.03);
  CHECK(std::abs(var - 1.0) < 0.05);
}

TEST_CASE("landscape: the 1D interpolation's endpoints are the two models' losses") {
  const auto make = mlp_factory();
  manual_seed(1);
  auto a = make();
  manual_seed(2);
  auto b = make();
  const nn::TensorDataset data = nn::make_blobs(90, 3, 2, 1.0, 4);
  const auto ce = [](const Tensor& o, const Tensor& y) {
    return nn::functional::cross_entropy(o, y);
  };
  nn::DataLoader loader(data, nn::DataLoaderOptions(32));
  const nn::EvalResult ra = nn::evaluate(*a, loader, ce), rb = nn::evaluate(*b, loader, ce);
  const viz::Grid g = viz::interpolate(make, *a, *b, viz::Axis("-0.5:1.5:5"), data,
                                       viz::EvalOptions().progress(false).batch_size(32));
  REQUIRE(g.complete);
  REQUIRE(g.x == std::vector<double>{-0.5, 0.0, 0.5, 1.0, 1.5});
  CHECK(g.loss_at(1) == doctest::Approx(ra.loss).epsilon(1e-6));
  CHECK(g.loss_at(3) == doctest::Approx(rb.loss).epsilon(1e-5));
  CHECK(g.accuracy_at(1) == doctest::Approx(ra.accuracy));
  CHECK(g.accuracy_at(3) == doctest::Approx(rb.accuracy));
  CHECK(std::isfinite(g.loss_at(0)));
  CHECK(std::isfinite(g.loss_at(4)));

  // The plane through three models: theta_A + a (theta_B - theta_A) + b (theta_C - theta_A).
  manual_seed(3);
  auto c = make();
  const nn::EvalResult rc = nn::evaluate(*c, loader, ce);
  const viz::Grid p =
      viz::evaluate_grid(make, *a, {viz::direction_between(*a, *b), viz::direction_between(*a, *c)},
                         {"0:1:2"}, data, viz::EvalOptions().progress(false).batch_size(32));
  CHECK(p.loss_at(0, 0) == doctest::Approx(ra.loss).epsilon(1e-6));
  CHECK(p.loss_at(1, 0) == doctest::Approx(rb.loss).epsilon(1e-5));
  CHECK(p.loss_at(0, 1) == doctest::Approx(rc.loss).epsilon(1e-5));
}

TEST_CASE("landscape: the affine first layer on Sequential models, and where it does not apply") {
  auto make = [] {
    return std::make_shared<nn::Sequential>(
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4, 6),
        std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(6, 3));
  };
  manual_seed(6);
  auto net = make();
  const nn::TensorDataset blobs = nn::make_blobs(50, 3, 4, 1.0, 8);
  const nn::TensorDataset data(blobs.data().reshape({50, 2, 2}), blobs.targets());  // [N, 2, 2]
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
  const viz::Direction dy = viz::random_direction(
      *net, viz::DirectionOptions().seed(2).ignore(viz::Ignore::none));  // moves the biases too
  const auto opts = viz::EvalOptions().progress(false).batch_size(20);
  const viz::Grid fast = viz::evaluate_grid(make, *net, {dx, dy}, {"-2:2:3"}, data, opts);
  const viz::Grid slow = viz::evaluate_grid(make, *net, {dx, dy}, {"-2:2:3"}, data,
                                            viz::EvalOptions(opts).affine_first_layer(false));
  CHECK(fast.affine_first_layer);
  CHECK_FALSE(slow.affine_first_layer);
  for (std::size_t i = 0; i < fast.loss.size(); ++i) {
    CHECK(fast.loss[i] == doctest::Approx(slow.loss[i]).epsilon(1e-5));
    CHECK(fast.accuracy[i] == slow.accuracy[i]);
  }
  // A cache larger than allowed falls back to direct evaluation.
  CHECK_FALSE(viz::evaluate_grid(make, *net, {dx}, {"-1:1:3"}, data,
                                 viz::EvalOptions(opts).cache_bytes(100))
                  .affine_first_layer);
}

TEST_CASE("landscape: states directions move BatchNorm's running statistics, weights do not") {
  auto make = [] {
    return std::make_shared<nn::Sequential>(
        std::make_shared<nn::Linear>(2, 4), std::make_shared<nn::BatchNorm1d>(4),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(4, 3));
  };
  manual_seed(7);
  auto net = make();
  const nn::TensorDataset data = nn::make_blobs(40, 3, 2, 1.0, 9);
  {  // a few forward passes in train mode give the running statistics values
    NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) (*net)(data.data());
  }
  const auto ce = [](const Tensor& o, const Tensor& y) {
    return nn::functional::cross_entropy(o, y);
  };
  nn::DataLoader loader(data, nn::DataLoaderOptions(1000));
  for (viz::DirectionKind kind : {viz::DirectionKind::weights, viz::DirectionKind::states}) {
    CAPTURE(viz::to_string(kind));
    const viz::Direction d = viz::random_direction(
        *net, viz::DirectionOptions().seed(4).kind(kind).ignore(viz::Ignore::none));
    const viz::Grid g = viz::evaluate_grid(make, *net, {d}, {"-0.5:0.5:3"}, data,
                                           viz::EvalOptions().progress(false));
    CHECK(g.affine_first_layer);
    // The reference: a model holding base + 0.5 d, entry by entry, evaluated by nn::evaluate.
    auto moved = make();
    nn::NamedTensors state = net->state_dict();
    for (auto& [name, t] : state) {
      t = t.detach().clone();
      for (const auto& [dn, dt] : d.tensors)
        if (dn == name && t.dtype() != Dtype::int64) t = (t + dt * 0.5).detach();
    }
    moved->load_state_dict(state);
    CHECK(g.loss_at(2) == doctest::Approx(nn::evaluate(*moved, loader, ce).loss).epsilon(1e-5));
    const bool moves_var = kind == viz::DirectionKind::states;
    bool found = false;
    for (const auto& [dn, dt] : d.tensors) found = found || dn == "1.running_var";
    CHECK(found == moves_var);
  }
}

TEST_CASE("landscape: grid CSVs with nan and inf read back") {
  char tmpl[] = "/tmp/xgrad_landscape_csv_XXXXXX";
  const int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  close(fd);
  { std::ofstream(tmpl) << "index,x,loss,accuracy\n0,-1,nan,0.5\n1,0,inf,-nan\n2,1,0.25,1\n"; }
  const viz::Grid g = viz::read_grid_csv(tmpl);
  CHECK(g.x == std::vector<double>{-1, 0, 1});
  CHECK(std::isnan(g.loss[0]));
  CHECK(std::isinf(g.loss[1]));
  CHECK(std::isnan(g.accuracy[1]));
  CHECK(g.loss[2] == 0.25);
  { std::ofstream(tmpl) << "index,x,loss,accuracy\n1,0,0.5,0.5\n"; }
  CHECK(error_of([&] { viz::read_grid_csv(tmpl); }).find("not a complete grid") !=
        std::string::npos);
  std::remove(tmpl);
}

TEST_CASE("landscape: 1 and 2 threads give bitwise identical grids; the affine layer agrees") {
  const auto make = mlp_factory();
  manual_seed(3);
  auto net = make();
  const nn::TensorDataset data = nn::make_blobs(70, 3, 2, 1.0, 5);
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
  const viz::Direction dy = viz::random_direction(*net, viz::DirectionOptions().seed(2));
  for (bool affine : {true, false}) {
    CAPTURE(affine);
    auto opts = viz::EvalOptions().progress(false).batch_size(16).affine_first_layer(affine);
    const viz::Grid g1 =
        viz::evaluate_grid(make, *net, {dx, dy}, {"-1:1:5", "-0.5:1:4"}, data, opts.threads(1));
    const viz::Grid g2 =
        viz::evaluate_grid(make, *net, {dx, dy}, {"-1:1:5", "-0.5:1:4"}, data, opts.threads(2));
    CHECK(g1.affine_first_layer == affine);
    REQUIRE(g1.x.size() == 5);
    REQUIRE(g1.y.size() == 4);
    CHECK(bitwise_equal(g1.loss, g2.loss));
    CHECK(bitwise_equal(g1.accuracy, g2.accuracy));
    // Against the direct reference at a few points.
    for (std::size_t i : {0u, 2u, 4u})
      for (std::size_t j : {0u, 3u}) {
        const viz::GridPoint p = viz::evaluate_point(make, *net, {dx, dy}, {g1.x[i], g1.y[j]}, data,
                                                     viz::EvalOptions().batch_size(16));
        CHECK(g1.loss_at(i, j) == doctest::Approx(p.loss).epsilon(1e-5));
      }
  }
  // theta* itself is the grid's centre: the base model's loss.
  const viz::Grid c =
      viz::evaluate_grid(make, *net, {dx}, {"0:0:1"}, data, viz::EvalOptions().progress(false));
  const auto ce = [](const Tensor& o, const Tensor& y) {
    return nn::functional::cross_entropy(o, y);
  };
  nn::DataLoader loader(data, nn::DataLoaderOptions(1000));
  CHECK(c.loss_at(0) == doctest::Approx(nn::evaluate(*net, loader, ce).loss).epsilon(1e-6));
}

TEST_CASE("landscape: an interrupted grid resumes to the same CSV; progress lines") {
  const auto make = mlp_factory();
  manual_seed(4);
  auto net = make();
  const nn::TensorDataset data = nn::make_blobs(40, 3, 2, 1.0, 6);
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
  const viz::Direction dy = viz::random_direction(*net, viz::DirectionOptions().seed(2));
  const std::string dir = temp_dir();
  std::ostringstream log;
  const auto base = viz::EvalOptions().log(&log).progress_every(4).batch_size(16);
  const viz::Grid full = viz::evaluate_grid(make, *net, {dx, dy}, {"-1:1:4", "-1:1:3"}, data,
                                            viz::EvalOptions(base).csv(dir + "/full.csv"));
  CHECK(full.complete);
  CHECK(log.str().find("12/12 points") != std::string::npos);
  CHECK(log.str().find("ETA") != std::string::npos);
  const std::string expected = read_file(dir + "/full.csv");
  CHECK(expected.rfind("index,x,y,loss,accuracy\n0,-1,-1,", 0) == 0);
  const std::string meta = read_file(dir + "/full.json");
  for (const char* key :
       {"\"seed\"", "\"normalization\"", "\"ignore\"", "\"kind\"", "\"dataset\"", "\"count\"",
        "\"model\"", "\"checkpoints\"", "\"threads\"", "\"seconds\""})
    CHECK_MESSAGE(meta.find(key) != std::string::npos, key);

  for (std::size_t threads : {1u, 2u}) {
    CAPTURE(threads);
    const std::string csv = dir + "/part" + std::to_string(threads) + ".csv";
    std::size_t seen = 0;
    const viz::Grid part = viz::evaluate_grid(
        make, *net, {dx, dy}, {"-1:1:4", "-1:1:3"}, data,
        viz::EvalOptions(base).progress(false).threads(threads).csv(csv).on_point(
            [&](const viz::GridPoint&) { return ++seen < 5; }));
    CHECK_FALSE(part.complete);
    CHECK(part.computed >= 5);
    CHECK(part.computed < 12);
    // A row cut short by the interruption is dropped on resume.
    { std::ofstream(csv, std::ios::app) << "11,1,1,0.5"; }
    const viz::Grid rest = viz::evaluate_grid(make, *net, {dx, dy}, {"-1:1:4", "-1:1:3"}, data,
                                              viz::EvalOptions(base).progress(false).csv(csv));
    CHECK(rest.complete);
    CHECK(rest.computed == 12 - part.computed);
    CHECK(read_file(csv) == expected);
    CHECK(bitwise_equal(rest.loss, full.loss));
    // A finished file is reused as is.
    const viz::Grid again = viz::evaluate_grid(make, *net, {dx, dy}, {"-1:1:4", "-1:1:3"}, data,
                                               viz::EvalOptions(base).progress(false).csv(csv));
    CHECK(again.computed == 0);
    CHECK(bitwise_equal(again.loss, full.loss));
  }
  const viz::Grid back = viz::read_grid_csv(dir + "/full.csv");
  CHECK(back.x == full.x);
  CHECK(back.y == full.y);
  CHECK(bitwise_equal(back.loss, full.loss));
}

TEST_CASE("landscape: a mismatched rerun is refused naming the setting; corrupt files too") {
  const auto make = mlp_factory();
  manual_seed(5);
  auto net = make();
  const nn::TensorDataset data = nn::make_blobs(30, 3, 2, 1.0, 7);
  const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
  const viz::Direction dx2 = viz::random_direction(*net, viz::DirectionOptions().seed(9));
  const std::string dir = temp_dir(), csv = dir + "/s.csv";
  const auto opts = viz::EvalOptions().progress(false).csv(csv);
  viz::evaluate_grid(make, *net, {dx}, {"-1:1:3"}, data, opts);
  std::string e = error_of([&] { viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, opts); });
  CHECK(e.find("x = \"-1:1:3\"") != std::string::npos);
  CHECK(e.find("\"-1:1:5\"") != std::string::npos);
  CHECK(e.find(csv) != std::string::npos);
  e = error_of([&] { viz::evaluate_grid(make, *net, {dx2}, {"-1:1:3"}, data, opts); });
  CHECK(e.find("x_direction.seed = 1") != std::string::npos);
  e = error_of([&] {
    viz::evaluate_grid(make, *net, {dx}, {"-1:1:3"}, data, viz::EvalOptions(opts).limit(20));
  });
  CHECK(e.find("count = 30") != std::string::npos);
  auto other = make();  // another base model: same settings, different values
  e = error_of([&] { viz::evaluate_grid(make, *other, {dx}, {"-1:1:3"}, data, opts); });
  CHECK(e.find("base_fingerprint") != std::string::npos);
  // resume(false) starts over instead.
  CHECK(viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, viz::EvalOptions(opts).resume(false))
            .complete);

  // A second run on a file being written is refused (the file is locked).
  std::string inner;
  viz::evaluate_grid(
      make, *net, {dx}, {"-1:1:5"}, data,
      viz::EvalOptions(opts).resume(false).threads(1).on_point([&](const viz::GridPoint&) {
        if (inner.empty())
          inner = error_of([&] { viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, opts); });
        return true;
      }));
  CHECK(inner.find("is being written by another run") != std::string::npos);

  // Corrupt CSV: a malformed row is refused naming the file and line.
  { std::ofstream(csv, std::ios::trunc) << "index,x,loss,accuracy\n0,-1,0.5,0.25\n1,zero,x,y\n"; }
  e = error_of([&] { viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, opts); });
  CHECK(e.find(csv + " line 3 is malformed") != std::string::npos);
  { std::ofstream(csv, std::ios::trunc) << "hello\n"; }
  e = error_of([&] { viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, opts); });
  CHECK(e.find("is not a landscape CSV") != std::string::npos);
  // Corrupt JSON, and a CSV whose metadata is gone.
  { std::ofstream(dir + "/s.json", std::ios::trunc) << "{\"format\": \"xgrad-land"; }
  e = error_of([&] { viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, opts); });
  CHECK(e.find(dir + "/s.json is not valid JSON") != std::string::npos);
  std::remove((dir + "/s.json").c_str());
  e = error_of([&] { viz::evaluate_grid(make, *net, {dx}, {"-1:1:5"}, data, opts); });
  CHECK(e.find("its metadata") != std::string::npos);
  // Unwritable path.
  e = error_of([&] {
    viz::evaluate_grid(make, *net, {dx}, {"-1:1:3"}, data,
                       viz::EvalOptions().progress(false).csv("/nonexistent/dir/s.csv"));
  });
  CHECK(e.find("/nonexistent/dir/s") != std::string::npos);
}

TEST_CASE("landscape: axes and argument errors") {
  CHECK(viz::Axis("-1:1:5").values() == std::vector<double>{-1, -0.5, 0, 0.5, 1});
  CHECK(viz::Axis("-1:1:51").to_string() == "-1:1:51");
  CHECK(viz::Axis("0.5:0.5:1").values() == std::vector<double>{0.5});
  const viz::Axis around = viz::Axis::around({2, -1, 0.5}, 7, 0.5);
  CHECK(around.min == -2.5);
  CHECK(around.max == 3.5);
  CHECK(around.num == 7);
  CHECK(error_of([] { viz::Axis::around({}, 3); }).find("no values") != std::string::npos);
  CHECK(error_of([] { viz::Axis("-1:1"); }).find("cannot parse '-1:1'") != std::string::npos);
  CHECK(error_of([] { viz::Axis("1:-1:5"); }).find("greater than max") != std::string::npos);
  CHECK(error_of([] { viz::Axis("-1:1:0"); }).find("number of points") != std::string::npos);
  CHECK(error_of([] { viz::Axis("nan:1:3"); }).find("finite") != std::string::npos);
  CHECK(viz::parse_normalization("filter") == viz::Normalization::filter);
  CHECK(error_of([] { viz::parse_normalization("filters"); }).find("'filters'") !=
        std::string::npos);
  Hand h;
  auto mlp = mlp_factory()();
  CHECK(error_of([&] { viz::direction_between(h, *mlp); }).find("direction_between") !=
        std::string::npos);
  const nn::TensorDataset data = nn::make_blobs(10, 3, 2, 1.0, 7);
  const viz::Direction dh = viz::random_direction(h);
  CHECK(error_of([&] {
          viz::evaluate_grid(mlp_factory(), *mlp, {dh}, {"-1:1:3"}, data);
        }).find("does not have") != std::string::npos);
  const viz::Direction d = viz::random_direction(*mlp);
  // A factory of another architecture, and a model with NaN weights (NaN losses, no crash).
  auto wrong = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{2, 5, 3}); };
  CHECK(error_of([&] {
          viz::evaluate_grid(wrong, *mlp, {d}, {"-1:1:3"}, data);
        }).find("does not match the base model") != std::string::npos);
  auto bad = mlp_factory()();
  bad->named_parameters()[0].second.detach().fill_(std::nan(""));
  const viz::Grid nan_grid = viz::evaluate_grid(mlp_factory(), *bad, {d}, {"-1:1:3"}, data,
                                                viz::EvalOptions().progress(false));
  CHECK(nan_grid.complete);
  CHECK(std::isnan(nan_grid.loss[1]));
  CHECK(error_of([&] {
          viz::evaluate_grid(mlp_factory(), *mlp, {d, d}, {"-1:1:100000", "-1:1:100000"}, data);
        }).find("too large") != std::string::npos);
  CHECK(error_of([&] {
          viz::evaluate_grid(mlp_factory(), *mlp, {d, d, d}, {"-1:1:3"}, data);
        }).find("1 or 2 directions") != std::string::npos);
}

TEST_CASE("landscape: PCA of a straight-line trajectory recovers the line") {
  auto net = mlp_factory()();
  const nn::NamedTensors final_point = viz::snapshot(*net, viz::DirectionKind::weights);
  const viz::Direction v = viz::random_direction(
      final_point, viz::DirectionOptions().seed(21).normalization(viz::Normalization::none));
  // theta_i = theta_final + t_i v with t = 4, 3, 2.5, 1, 0.2, 0 (the last is the final point).
  std::vector<nn::NamedTensors> path;
  const std::vector<double> ts = {4, 3, 2.5, 1, 0.2, 0};
  for (double t : ts) {
    nn::NamedTensors s;
    for (std::size_t e = 0; e < final_point.size(); ++e)
      s.emplace_back(final_point[e].first,
                     (final_point[e].second + v.tensors[e].second * t).detach());
    path.push_back(s);
  }
  const viz::PCADirections pca = viz::pca_directions(path, final_point);
  CHECK(pca.explained_variance_ratio[0] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(pca.explained_variance_ratio[1] < 1e-6);
  CHECK(std::abs(viz::cosine_similarity(pca.x, v)) == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(pca.x.norm() == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(std::abs(viz::cosine_similarity(pca.x, pca.y)) < 1e-5);
  CHECK(pca.x.label.rfind("PC1 (100.0%)", 0) == 0);
  // Projections: x_i = +-t_i ||v||, y_i = 0, by cosine and by least squares.
  for (viz::Projection m : {viz::Projection::cosine, viz::Projection::least_squares}) {
    const viz::ProjectedPath p = viz::project_path(path, final_point, pca.x, pca.y, m);
    REQUIRE(p.x.size() == ts.size());
    const double sign = p.x[0] > 0 ? 1.0 : -1.0;
    for (std::size_t i = 0; i < ts.size(); ++i) {
      CHECK(p.x[i] == doctest::Approx(sign * ts[i] * v.norm()).epsilon(1e-4));
      CHECK(std::abs(p.y[i]) < 1e-3 * v.norm());
    }
  }
  // A path in a plane: two components explain everything.
  const viz::Direction u = viz::random_direction(
      final_point, viz::DirectionOptions().seed(22).normalization(viz::Normalization::none));
  std::vector<nn::NamedTensors> plane;
  for (int i = 0; i < 5; ++i) {
    nn::NamedTensors s;
    for (std::size_t e = 0; e < final_point.size(); ++e)
      s.emplace_back(final_point[e].first, (final_point[e].second + v.tensors[e].second * (4 - i) +
                                            u.tensors[e].second * ((i % 2) * 0.5))
                                               .detach());
    plane.push_back(s);
  }
  plane.push_back(final_point);
  const viz::PCADirections p2 = viz::pca_directions(plane, final_point);
  CHECK(p2.explained_variance_ratio[0] + p2.explained_variance_ratio[1] ==
        doctest::Approx(1.0).epsilon(1e-6));
  CHECK(p2.explained_variance_ratio[1] > 0.001);
  CHECK(std::abs(viz::cosine_similarity(p2.x, p2.y)) < 1e-5);
  CHECK(error_of([&] {
          viz::pca_directions({final_point}, final_point);
        }).find("at least 2 snapshots") != std::string::npos);
  CHECK(error_of([&] {
          viz::pca_directions({final_point, final_point}, final_point);
        }).find("does not move") != std::string::npos);
  const std::string dir = temp_dir();
  viz::write_path_csv(viz::project_path(path, final_point, pca.x, pca.y), {}, dir + "/p.csv");
  CHECK(read_file(dir + "/p.csv").rfind("index,name,x,y\n0,,", 0) == 0);
}

TEST_CASE("landscape: snapshots from checkpoint files") {
  auto net = mlp_factory()();
  const std::string dir = temp_dir();
  nn::save(*net, dir + "/m.safetensors");
  const nn::NamedTensors s =
      viz::snapshot(dir + "/m.safetensors", *net, viz::DirectionKind::weights);
  const nn::NamedTensors t = viz::snapshot(*net, viz::DirectionKind::weights);
  REQUIRE(s.size() == t.size());
  for (std::size_t e = 0; e < s.size(); ++e) CHECK(values(s[e].second) == values(t[e].second));
  const auto path = viz::snapshots({dir + "/m.safetensors", dir + "/m.safetensors"}, *net,
                                   viz::DirectionKind::states);
  CHECK(path.size() == 2);
  CHECK(path[1].size() == net->state_dict().size());
  CHECK(error_of([&] {
          viz::snapshots({dir + "/missing.safetensors"}, *net, viz::DirectionKind::weights);
        }).find("missing.safetensors") != std::string::npos);
  auto other = std::make_shared<nn::MLP>(std::vector<int64_t>{2, 5, 3});
  CHECK(error_of([&] {
          viz::snapshot(dir + "/m.safetensors", *other, viz::DirectionKind::weights);
        }).find("m.safetensors: entry 'layers.0.weight' has shape [8, 2]") != std::string::npos);
}

TEST_CASE("Grid::field transposes to the plots' layout z[j * nx + i]") {
  xg::viz::Grid g;
  g.x = {0, 1, 2};
  g.y = {10, 20};
  g.loss = {0.0, 0.1, 1.0, 1.1, 2.0, 2.1};  // index i * ny + j: value i + j / 10
  const std::vector<double> z = g.field(g.loss);
  CHECK(z == std::vector<double>{0.0, 1.0, 2.0, 0.1, 1.1, 2.1});
  CHECK_THROWS_WITH_AS(g.field({1.0}), doctest::Contains("1 values for a 3 x 2 grid"),
                       std::invalid_argument);
}
