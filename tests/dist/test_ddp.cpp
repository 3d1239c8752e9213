// DistributedDataParallel under mpirun -np 2 and -np 3: N ranks with shards of each batch train
// exactly as one process with the whole batch (computed on every rank locally, without DDP);
// several buckets; no_sync and repeated backward accumulate as in PyTorch; unused parameters;
// buffers from rank 0; replicas start equal; mismatched models fail on every rank.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"

using namespace xg;
using dist::DistributedDataParallel;
using dist::DistributedDataParallelOptions;

namespace {

constexpr std::size_t kIn = 12, kClasses = 5;

/// A float64 MLP 12-16-8-5 initialized from `seed`.
std::shared_ptr<nn::MLP> make_mlp(uint64_t seed) {
  manual_seed(seed);
  auto m = std::make_shared<nn::MLP>(std::vector<int64_t>{kIn, 16, 8, kClasses});
  m->to(Dtype::float64);
  return m;
}

/// The global batches of a run: steps x (rows x 12) inputs and class labels, from a fixed seed.
struct Data {
  std::vector<Tensor> x, y;
  Data(std::size_t steps, std::size_t rows) {
    manual_seed(777);
    for (std::size_t t = 0; t < steps; ++t) {
      x.push_back(randn({rows, kIn}, Dtype::float64));
      y.push_back(randint(0, kClasses, {rows}, Dtype::int64));
    }
  }
};

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> u = a.to_vector<double>(), v = b.to_vector<double>();
  REQUIRE(u.size() == v.size());
  double m = 0;
  for (std::size_t i = 0; i < u.size(); ++i) m = std::max(m, std::abs(u[i] - v[i]));
  return m;
}

double max_param_diff(nn::Module& a, nn::Module& b) {
  const TensorList pa = a.parameters(), pb = b.parameters();
  REQUIRE(pa.size() == pb.size());
  double m = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) m = std::max(m, max_abs_diff(pa[i], pb[i]));
  return m;
}

Tensor shard(const Tensor& t, std::size_t per_rank) {
  return narrow(t, 0, static_cast<int64_t>(dist::rank() * per_rank),
                static_cast<int64_t>(per_rank));
}

/// A module with a buffer: forward(x) = x + buffer (reads the buffer, never changes it).
struct AddBuffer : nn::Module {
  AddBuffer() : Module("AddBuffer") {
    register_buffer("offset", full({2}, 10.0 * dist::rank(), Dtype::float64));
    register_parameter("w", ones({2}, Dtype::float64));
  }
  Tensor forward(const Tensor& x) override { return x * local("w") + local("offset"); }
};

/// Two Linear layers; `use_b` says whether forward uses the second.
struct TwoBranches : nn::Module {
  std::shared_ptr<nn::Linear> a, b, never;
  bool use_b = true;
  TwoBranches() : Module("TwoBranches") {
    a = register_module("a", std::make_shared<nn::Linear>(3, 2));
    b = register_module("b", std::make_shared<nn::Linear>(3, 2));
    never = register_module("never", std::make_shared<nn::Linear>(3, 2));
    to(Dtype::float64);
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = (*a)(x).sum();
    return use_b ? out + (*b)(x).sum() : out;
  }
};

}  // namespace

TEST_CASE("ddp: 20 SGD-momentum steps on N ranks equal one process with N times the batch") {
  const std::size_t n = static_cast<std::size_t>(dist::world_size()), B = 4, steps = 20;
  const Data data(steps, n * B);
  for (double cap : {0.0002, 25.0}) {
    CAPTURE(cap);
    auto reference = make_mlp(42);  // one process, batch N*B
    optim::SGD ref_opt(reference->parameters(), optim::SGDOptions(0.1).momentum(0.9));
    // Ranks start from different weights: construction copies rank 0's (seed 42).
    DistributedDataParallel ddp(make_mlp(42 + 1000 * dist::rank()),
                                DistributedDataParallelOptions().bucket_cap_mb(cap));
    const auto buckets = ddp.bucket_assignment();
    if (cap < 1) {
      // 0.0002 MiB = 209 bytes: a bucket closes once it holds a weight: (fc3.bias, fc3.weight),
      // (fc2.bias, fc2.weight), (fc1.bias, fc1.weight).
      CHECK(buckets.size() == 3);
      CHECK(buckets.front().front() == ddp.parameters().size() - 1);  // reverse order
    } else {
      CHECK(buckets.size() == 1);
    }
    optim::SGD opt(ddp.parameters(), optim::SGDOptions(0.1).momentum(0.9));
    for (std::size_t t = 0; t < steps; ++t) {
      ref_opt.zero_grad();
      nn::functional::cross_entropy((*reference)(data.x[t]), data.y[t]).backward();
      ref_opt.step();
      opt.zero_grad();
      nn::functional::cross_entropy(ddp(shard(data.x[t], B)), shard(data.y[t], B)).backward();
      opt.step();
    }
    CHECK(max_param_diff(*ddp.module(), *reference) <= 1e-12);
    CHECK(max_param_diff(*ddp.module(), *reference) > 0);  // trained (not bit-identical sums)
  }
}

TEST_CASE("ddp: replicas start equal to rank 0's model whatever each rank's seed") {
  auto model = make_mlp(5 + static_cast<uint64_t>(dist::rank()));
  DistributedDataParallel ddp(model);
  CHECK(ddp.module() == model);
  CHECK(max_param_diff(*model, *make_mlp(5)) == 0.0);
  CHECK(ddp.named_parameters().front().first ==
        "module." + model->named_parameters().front().first);
}

TEST_CASE("ddp: no_sync accumulates locally; the next backward averages the sum") {
  const std::size_t n = static_cast<std::size_t>(dist::world_size()), B = 3;
  const Data data(2, n * 2 * B);  // each rank: two micro-batches of B
  auto reference = make_mlp(9);
  // One global batch of N*2B: the mean loss.
  nn::functional::cross_entropy((*reference)(data.x[0]), data.y[0]).backward();
  DistributedDataParallel ddp(make_mlp(9), DistributedDataParallelOptions().bucket_cap_mb(0.001));
  const Tensor mine = shard(data.x[0], 2 * B), mine_y = shard(data.y[0], 2 * B);
  auto micro_loss = [&](int k) {  // half of the mean over this rank's 2B samples
    return nn::functional::cross_entropy(ddp(narrow(mine, 0, k * B, B)),
                                         narrow(mine_y, 0, k * B, B)) *
           0.5;
  };
  SUBCASE("no_sync, then one synchronized backward") {
    {
      auto guard = ddp.no_sync();
      micro_loss(0).backward();
    }
    // Only local so far: equals this rank's own gradient of micro-batch 0.
    auto local = make_mlp(9);
    (nn::functional::cross_entropy((*local)(narrow(mine, 0, 0, B)), narrow(mine_y, 0, 0, B)) * 0.5)
        .backward();
    for (std::size_t i = 0; i < local->parameters().size(); ++i)
      CHECK(max_abs_diff(ddp.parameters()[i].grad(), local->parameters()[i].grad()) == 0.0);
    micro_loss(1).backward();
  }
  SUBCASE("two synchronized backward calls") {
    micro_loss(0).backward();
    micro_loss(1).backward();
  }
  const TensorList got = ddp.parameters(), want = reference->parameters();
  for (std::size_t i = 0; i < got.size(); ++i)
    CHECK(max_abs_diff(got[i].grad(), want[i].grad()) <= 1e-12);
}

TEST_CASE("ddp: a parameter unused on some ranks counts as a zero gradient there") {
  const double n = dist::world_size();
  manual_seed(3);
  auto model = std::make_shared<TwoBranches>();
  model->use_b = dist::rank() == 0;
  DistributedDataParallel ddp(model);
  const Tensor x = tensor({1.0, 2.0, 3.0, -1.0, 0.5, 2.0}, {2, 3}, Dtype::float64);
  ddp(x).backward();
  // Every rank: d/dW sum(W x + b) = column sums of x for each output row.
  const std::vector<double> gw{0.0, 2.5, 5.0, 0.0, 2.5, 5.0};
  CHECK(model->a->local("weight").grad().to_vector<double>() == gw);
  std::vector<double> gb = gw;  // only rank 0 used b: the mean is its gradient / N
  for (double& v : gb) v /= n;
  CHECK(max_abs_diff(model->b->local("weight").grad(), tensor(gb, {2, 3}, Dtype::float64)) <=
        1e-15);
  CHECK(model->b->local("bias").grad().to_vector<double>() == std::vector<double>{2 / n, 2 / n});
  CHECK(model->never->local("weight").grad().to_vector<double>() == std::vector<double>(6, 0.0));
}

TEST_CASE("ddp: buffers come from rank 0 at each training forward (broadcast_buffers)") {
  const Tensor x = zeros({2}, Dtype::float64);
  {
    DistributedDataParallel ddp(std::make_shared<AddBuffer>());  // construction broadcasts
    ddp.module()->local("offset").fill_(5.0 + dist::rank());     // ranks drift apart
    ddp.eval();
    CHECK(ddp(x).to_vector<double>() == std::vector<double>(2, 5.0 + dist::rank()));  // eval: own
    ddp.train();
    CHECK(ddp(x).to_vector<double>() == std::vector<double>(2, 5.0));  // train: rank 0's
  }
  {
    DistributedDataParallel ddp(std::make_shared<AddBuffer>(),
                                DistributedDataParallelOptions().broadcast_buffers(false));
    ddp.module()->local("offset").fill_(5.0 + dist::rank());
    CHECK(ddp(x).to_vector<double>() == std::vector<double>(2, 5.0 + dist::rank()));
  }
}

TEST_CASE("ddp: a model or option that differs across ranks is an error on every rank") {
  if (dist::world_size() < 2) return;
  const bool odd = dist::rank() == 1;
  manual_seed(1);
  auto model = std::make_shared<nn::MLP>(std::vector<int64_t>{kIn, odd ? 64 : 128, kClasses});
  const std::string w = model->named_parameters().front().first;
  CHECK_THROWS_WITH_AS(DistributedDataParallel{model},
                       ("DistributedDataParallel: the ranks wrap different models or options: "
                        "rank 1's parameter " +
                        w +
                        " is [64, 12] float32, rank 0's is [128, 12] float32 (every rank must "
                        "build the same model with the same options)")
                           .c_str(),
                       std::invalid_argument);
  auto same = make_mlp(1);
  CHECK_THROWS_WITH_AS(
      DistributedDataParallel(same, DistributedDataParallelOptions().bucket_cap_mb(odd ? 1 : 25)),
      "DistributedDataParallel: the ranks wrap different models or options: rank 1's option "
      "bucket_cap_mb is 1, rank 0's is 25 (every rank must build the same model with the same "
      "options)",
      std::invalid_argument);
  std::shared_ptr<nn::Module> fewer =
      odd ? std::static_pointer_cast<nn::Module>(std::make_shared<nn::Linear>(kIn, 2))
          : std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(kIn, 2),
                                             std::make_shared<nn::Linear>(2, 2));
  CHECK_THROWS_AS(DistributedDataParallel{fewer}, std::invalid_argument);
  DistributedDataParallel ok(same);  // the failed attempts left nothing half-started
  CHECK(ok.bucket_assignment().size() == 1);
}

TEST_CASE("ddp: a small CNN (conv, pooling, no BatchNorm) trains as one process with the batch") {
  // BatchNorm is left out: its batch statistics are per rank (no SyncBatchNorm), so a model with
  // it does not equal the big batch, as in PyTorch.
  const std::size_t n = static_cast<std::size_t>(dist::world_size()), B = 2, steps = 20;
  auto make_cnn = [](uint64_t seed) {
    manual_seed(seed);
    auto m = std::make_shared<nn::CNN>(
        nn::CNNOptions().image_size(6).channels({3, 4}).batch_norm(false).num_classes(kClasses));
    m->to(Dtype::float64);
    return m;
  };
  manual_seed(99);
  std::vector<Tensor> xs, ys;
  for (std::size_t t = 0; t < steps; ++t) {
    xs.push_back(randn({n * B, 1, 6, 6}, Dtype::float64));
    ys.push_back(randint(0, kClasses, {n * B}, Dtype::int64));
  }
  auto reference = make_cnn(8);
  optim::SGD ref_opt(reference->parameters(), optim::SGDOptions(0.05).momentum(0.9));
  DistributedDataParallel ddp(make_cnn(8 + dist::rank()),
                              DistributedDataParallelOptions().bucket_cap_mb(0.0001));
  CHECK(ddp.bucket_assignment().size() >= 3);
  optim::SGD opt(ddp.parameters(), optim::SGDOptions(0.05).momentum(0.9));
  for (std::size_t t = 0; t < steps; ++t) {
    ref_opt.zero_grad();
    nn::functional::cross_entropy((*reference)(xs[t]), ys[t]).backward();
    ref_opt.step();
    opt.zero_grad();
    nn::functional::cross_entropy(ddp(shard(xs[t], B)), shard(ys[t], B)).backward();
    opt.step();
  }
  CHECK(max_param_diff(*ddp.module(), *reference) <= 1e-12);
}
