// Data-parallel training throughput: samples/s of the MLP 784-256-128-10 or the default CNN on
// Fashion-MNIST, batch B per rank, SGD with momentum, DistributedDataParallel over the ranks (a
// single rank trains the plain model). Prints one line on rank 0.
//
//   OPENBLAS_NUM_THREADS=2 ./bench_dist_train mlp 200
//   mpirun --allow-run-as-root --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS=1 \
//       ./bench_dist_train mlp 200
// A 4th argument `plain` trains each rank's model alone (no DDP, no communication): the compute
// part of the time.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"

using namespace xg;

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  const std::string model_name = argc > 1 ? argv[1] : "mlp";
  const std::size_t steps = argc > 2 ? std::stoul(argv[2]) : 200;
  const std::size_t batch = argc > 3 ? std::stoul(argv[3]) : 64;   // per rank
  const bool plain = argc > 4 && std::string(argv[4]) == "plain";  // no DDP: compute only
  const std::size_t warmup = 5;
  const auto n = static_cast<std::size_t>(dist::world_size());
  const auto r = static_cast<std::size_t>(dist::rank());
  if (model_name == "comm") {  // the allreduce alone: the MLP's gradient, 235146 floats
    Tensor g = ones({235146});
    for (int async = 0; async < 2; ++async) {
      dist::barrier();
      const auto t0 = std::chrono::steady_clock::now();
      for (std::size_t t = 0; t < steps; ++t) {
        if (async)
          dist::all_reduce_async(g, dist::ReduceOp::Mean)->wait();
        else
          dist::all_reduce(g, dist::ReduceOp::Mean);
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r == 0)
        std::printf("allreduce%s of 235146 floats on %zu ranks: %.3f ms each\n",
                    async ? "_async" : "", n, 1e3 * s / static_cast<double>(steps));
    }
    return 0;
  }
  nn::FashionMNIST train(true, nn::FashionMNISTOptions().normalize(true));
  const std::size_t global = n * batch, usable = train.size() / global * global;

  manual_seed(0);
  std::shared_ptr<nn::Module> model;
  if (model_name == "mlp")
    model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
  else if (model_name == "cnn")
    model = std::make_shared<nn::CNN>();
  else {
    std::fprintf(stderr, "usage: %s mlp|cnn [steps] [batch per rank] [plain]\n", argv[0]);
    return 2;
  }
  std::shared_ptr<nn::Module> net = model;
  if (n > 1 && !plain) net = std::make_shared<dist::DistributedDataParallel>(model);
  optim::SGD opt(net->parameters(), optim::SGDOptions(0.05).momentum(0.9));

  auto step = [&](std::size_t t) {
    const auto start = static_cast<int64_t>((t * global) % usable + r * batch);
    const Tensor x = narrow(train.data(), 0, start, static_cast<int64_t>(batch));
    const Tensor y = narrow(train.targets(), 0, start, static_cast<int64_t>(batch));
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy((*net)(x), y);
    loss.backward();
    opt.step();
    return loss.item<double>();
  };
  for (std::size_t t = 0; t < warmup; ++t) step(t);
  dist::barrier();
  const auto t0 = std::chrono::steady_clock::now();
  double loss = 0;
  for (std::size_t t = 0; t < steps; ++t) loss = step(warmup + t);
  dist::barrier();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  if (r == 0)
    std::printf(
        "%s%s ranks=%zu threads/rank=%s batch/rank=%zu steps=%zu: %.3f s, %.0f samples/s "
        "(last loss %.4f)\n",
        model_name.c_str(), plain ? " (plain, no DDP)" : "", n, threads ? threads : "default",
        batch, steps, s, static_cast<double>(steps * global) / s, loss);
  return 0;
}
