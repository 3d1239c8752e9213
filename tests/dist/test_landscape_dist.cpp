// Landscape grids over ranks: a distributed 1D/2D grid and curvature map equal the
// single-process ones (computed locally on every rank) bitwise, and rank 0's CSV is the same
// file byte for byte; an interrupted distributed grid resumes (with any number of ranks); a rank
// that fails inside a grid makes every rank throw, naming it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"
#include "viz/viz.hpp"

using namespace xg;

namespace {

viz::ModelFactory mlp_factory() {
  return [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{2, 8, 3}); };
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

/// A folder every rank names the same (rank 0's pid), created by rank 0 and removed at exit;
/// `local` adds this rank's own subfolder for its single-process files.
std::string shared_dir() {
  static std::string dir;
  if (dir.empty()) {
    Tensor pid = full({1}, static_cast<double>(::getpid()), Dtype::int64);
    dist::broadcast(pid, 0);
    dir = "/tmp/xgrad_dist_landscape_" + std::to_string(pid.item<int64_t>());
    std::filesystem::create_directories(dir + "/rank" + std::to_string(dist::rank()));
    struct Remove {
      std::string path;
      bool owner;  // rank 0 (MPI is finalized when this runs: ask before)
      ~Remove() {
        std::error_code ec;
        if (owner) std::filesystem::remove_all(path, ec);
      }
    };
    static Remove remove{dir, dist::rank() == 0};
    dist::barrier();
  }
  return dir;
}
std::string local(const std::string& name) {
  return shared_dir() + "/rank" + std::to_string(dist::rank()) + "/" + name;
}

struct Setup {
  viz::ModelFactory make = mlp_factory();
  std::shared_ptr<nn::Module> net;
  nn::TensorDataset data = nn::make_blobs(40, 3, 2, 1.0, 6);
  viz::Direction dx, dy;
  Setup() {
    manual_seed(4);
    net = make();
    dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
    dy = viz::random_direction(*net, viz::DirectionOptions().seed(2));
  }
};

}  // namespace

TEST_CASE("dist landscape: a 2D grid over the ranks equals the single-process grid, CSV too") {
  Setup s;
  const std::vector<viz::Axis> axes = {"-1:1:5", "-0.5:1:4"};  // 20 points: uneven over 3
  for (std::size_t threads : {1u, 2u}) {
    CAPTURE(threads);
    const auto opts = viz::EvalOptions().progress(false).batch_size(16).threads(threads);
    const viz::Grid one = viz::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data,
                                             viz::EvalOptions(opts).csv(local("one.csv")));
    const std::string csv = shared_dir() + "/dist" + std::to_string(threads) + ".csv";
    const viz::Grid many = dist::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data,
                                               viz::EvalOptions(opts).csv(csv));
    CHECK(many.complete);
    CHECK(many.x == one.x);
    CHECK(many.y == one.y);
    CHECK(bitwise_equal(many.loss, one.loss));
    CHECK(bitwise_equal(many.accuracy, one.accuracy));
    // Each rank computed its own slice: 20 / N points, the first 20 % N ranks one more.
    const auto [b, e] = viz::slice_of(20, dist::rank(), dist::world_size());
    CHECK(many.computed == e - b);
    dist::barrier();
    if (dist::rank() == 0) {
      CHECK(read_file(csv) == read_file(local("one.csv")));
      CHECK(read_file(csv).rfind("index,x,y,loss,accuracy\n0,-1,-0.5,", 0) == 0);
    }
  }
  // The affine first layer off: direct evaluation at every point, still the same values.
  const auto direct = viz::EvalOptions().progress(false).affine_first_layer(false);
  const viz::Grid one = viz::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data, direct);
  const viz::Grid many = dist::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data, direct);
  CHECK(bitwise_equal(many.loss, one.loss));
}

TEST_CASE("dist landscape: a 1D interpolation and a curve over the ranks") {
  Setup s;
  manual_seed(9);
  auto other = s.make();
  const auto opts = viz::EvalOptions().progress(false);
  const std::string csv = shared_dir() + "/interp.csv";
  const viz::Grid one = viz::interpolate(s.make, *s.net, *other, "-0.5:1.5:7", s.data,
                                         viz::EvalOptions(opts).csv(local("i.csv")));
  const viz::Grid many =
      viz::interpolate(s.make, *s.net, *other, "-0.5:1.5:7", s.data,
                       viz::EvalOptions(opts).csv(csv).partition(dist::grid_partition()));
  CHECK(bitwise_equal(many.loss, one.loss));
  CHECK(bitwise_equal(many.accuracy, one.accuracy));
  dist::barrier();
  if (dist::rank() == 0) CHECK(read_file(csv) == read_file(local("i.csv")));
  // A grid smaller than the job: some ranks have nothing to compute.
  const viz::Grid two = viz::evaluate_grid(s.make, *s.net, {s.dx}, {"0:1:2"}, s.data, opts);
  const viz::Grid two_d = dist::evaluate_grid(s.make, *s.net, {s.dx}, {"0:1:2"}, s.data, opts);
  CHECK(bitwise_equal(two_d.loss, two.loss));
}

TEST_CASE("dist landscape: an interrupted distributed grid resumes, with any number of ranks") {
  Setup s;
  const std::vector<viz::Axis> axes = {"-1:1:4", "-1:1:3"};
  // One thread: rounds of 2 points per rank, so the stop below comes before the end.
  const auto opts = viz::EvalOptions().progress(false).batch_size(16).threads(1);
  viz::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data,
                     viz::EvalOptions(opts).csv(local("full.csv")));
  const std::string expected = read_file(local("full.csv"));
  const std::string csv = shared_dir() + "/resume.csv";
  // Rank 0's on_point stops every rank after the round in progress.
  std::size_t seen = 0;
  const viz::Grid part = dist::evaluate_grid(
      s.make, *s.net, {s.dx, s.dy}, axes, s.data,
      viz::EvalOptions(opts).csv(csv).on_point([&](const viz::GridPoint&) { return ++seen < 3; }));
  CHECK_FALSE(part.complete);
  dist::barrier();
  const viz::Grid rest = dist::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data,
                                             viz::EvalOptions(opts).csv(csv));
  CHECK(rest.complete);
  dist::barrier();
  if (dist::rank() == 0) CHECK(read_file(csv) == expected);
  // A finished file is reused as is: nothing left to compute on any rank, the same values.
  const viz::Grid again = dist::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data,
                                              viz::EvalOptions(opts).csv(csv));
  CHECK(again.complete);
  CHECK(again.computed == 0);
  CHECK(bitwise_equal(again.loss, rest.loss));
  dist::barrier();
  // A single process (rank 0 alone) resumes a distributed partial file as well.
  const std::string csv1 = shared_dir() + "/resume1.csv";
  seen = 0;
  dist::evaluate_grid(
      s.make, *s.net, {s.dx, s.dy}, axes, s.data,
      viz::EvalOptions(opts).csv(csv1).on_point([&](const viz::GridPoint&) { return ++seen < 2; }));
  dist::barrier();
  if (dist::rank() == 0) {
    const viz::Grid alone = viz::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, axes, s.data,
                                               viz::EvalOptions(opts).csv(csv1));
    CHECK(alone.complete);
    CHECK(alone.computed < 12);
    CHECK(read_file(csv1) == expected);
  }
  dist::barrier();
}

TEST_CASE("dist landscape: a rank that fails inside a grid makes every rank throw, naming it") {
  Setup s;
  const int bad = dist::world_size() - 1;
  const nn::LossFn flaky = [&](const Tensor& logits, const Tensor& target) {
    if (dist::rank() == bad) throw std::runtime_error("flaky loss");
    return nn::functional::cross_entropy(logits, target);
  };
  const std::string err = test::error_of([&] {
    dist::evaluate_grid(s.make, *s.net, {s.dx, s.dy}, {"-1:1:3"}, s.data,
                        viz::EvalOptions().progress(false).loss(flaky, "flaky"));
  });
  if (dist::rank() == bad)
    CHECK(err == "flaky loss");
  else
    CHECK(err == "evaluate_grid: rank " + std::to_string(bad) + " of " +
                     std::to_string(dist::world_size()) + " failed: flaky loss");
}

TEST_CASE("dist landscape: a curvature ratio map over the ranks equals the single-process map") {
  manual_seed(3);
  auto net = std::make_shared<nn::MLP>(std::vector<int64_t>{2, 4, 3});
  net->to(Dtype::float64);
  const nn::TensorDataset data = nn::make_blobs(30, 3, 2, 1.0, 2);
  const Tensor x = data.data().to(Dtype::float64);
  const Tensor y = data.targets();
  viz::NamedTensors ps = net->named_parameters();
  viz::NamedTensors d, e;
  for (auto& [n, p] : ps) {
    d.emplace_back(n, randn(p.shape(), Dtype::float64));
    e.emplace_back(n, randn(p.shape(), Dtype::float64));
  }
  const viz::LossFn loss = [&] { return nn::functional::cross_entropy(net->forward(x), y); };
  const auto opts = viz::CurvatureMapOptions().progress(false);
  const std::vector<double> xs = {-0.5, 0.0, 0.5}, ys = {0.0, 0.25, 1.0};  // 9: uneven over 2
  const auto one = viz::curvature_ratio_map(loss, ps, d, e, xs, ys, local("h.csv"), opts);
  const std::string csv = shared_dir() + "/h.csv";
  const auto many = dist::curvature_ratio_map(loss, ps, d, e, xs, ys, csv, opts);
  REQUIRE(many.size() == one.size());
  for (std::size_t k = 0; k < one.size(); ++k) {
    CAPTURE(k);
    CHECK(std::memcmp(&many[k].lambda_max, &one[k].lambda_max, sizeof(double)) == 0);
    CHECK(std::memcmp(&many[k].lambda_min, &one[k].lambda_min, sizeof(double)) == 0);
    CHECK(many[k].a == one[k].a);
    CHECK(many[k].b == one[k].b);
    CHECK(many[k].iterations == one[k].iterations);
  }
  dist::barrier();
  if (dist::rank() == 0) CHECK(read_file(csv) == read_file(local("h.csv")));
}
