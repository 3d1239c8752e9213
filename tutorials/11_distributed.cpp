// Tutorial 11: data-parallel training over Open MPI.
//
// N processes (ranks) each hold a full copy of the model. Every step each rank takes its own
// batch of B images from its shard of the training set (nn::DistributedSampler), runs forward
// and backward, and dist::DistributedDataParallel averages the gradients over the ranks (ring
// allreduce, overlapped with backward). Every rank then takes the same SGD step from the same
// averaged gradient, so the copies stay identical: N ranks with batch B train like one process
// with batch N*B. Rank 0 prints and writes; the others only compute.
// Walkthrough: tutorials/11_distributed.md.
//
// Run:  mpirun --allow-run-as-root --oversubscribe -np 2 ./build/tutorials/11_distributed
//       ./build/tutorials/11_distributed        (without mpirun: a world of one rank)
//       options: [--out DIR] [--quick] [--epochs N] [--batch B] [--lr X] [--model mlp|cnn] [--limit
//       N]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"

using namespace xg;
namespace F = xg::nn::functional;

/// The command line (every rank parses the same one).
struct Settings {
  std::string out = "runs/11_distributed", model_name = "mlp";
  bool quick = false;
  int epochs = 3, batch = 64, limit = 0;
  double lr = 0;  // 0: the model's default
};

static int tutorial(Settings s) {
  const int rank = dist::rank(), world = dist::world_size();
  auto& [out, model_name, quick, epochs, batch, limit, lr] = s;
  if (quick) epochs = 1, limit = limit ? limit : 2000;
  manual_seed(0);  // the same initial weights everywhere (DDP broadcasts rank 0's anyway)

  // 1. Data: every rank reads the whole set but iterates only over its shard. The sampler
  //    shuffles with seed + epoch and gives rank r the indices r, r + N, r + 2N, ... of that
  //    permutation (padded by repeating the first ones so every shard has the same length).
  const auto data_options = nn::FashionMNISTOptions().normalize(true).limit(limit);
  nn::FashionMNIST train_set(true, data_options), test_set(false, data_options);
  auto sampler = std::make_shared<nn::DistributedSampler>(
      train_set.size(), static_cast<std::size_t>(world), static_cast<std::size_t>(rank),
      nn::DistributedSamplerOptions().seed(0));
  nn::DataLoader train_loader(train_set, nn::DataLoaderOptions(batch).sampler(sampler));
  nn::DataLoader test_loader(test_set, nn::DataLoaderOptions(1000));

  // 2. The model, wrapped: DDP broadcasts rank 0's parameters and buffers at construction and
  //    hooks every parameter's gradient, so backward() leaves the MEAN gradient over all ranks.
  std::shared_ptr<nn::Module> net;
  if (model_name == "mlp")
    net = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
  else
    net = std::make_shared<nn::CNN>(nn::CNNOptions().channels({32, 64}));
  auto model = std::make_shared<dist::DistributedDataParallel>(net);
  std::size_t num_parameters = 0;
  for (const auto& p : net->parameters()) num_parameters += p.numel();

  // 3. The usual SGD on the wrapper's parameters (the same tensors as net's).
  if (lr == 0) lr = model_name == "mlp" ? 0.05 : 0.01;
  optim::SGD opt(model->parameters(), optim::SGDOptions(lr).momentum(0.9).weight_decay(5e-4));
  if (rank == 0) {
    std::filesystem::create_directories(out);
    std::printf(
        "%s with %zu parameters (%.2f MB of float32 gradients per step), %d rank(s) x batch %d "
        "= %d images per step\n%zu training images, %zu per rank, %zu steps per epoch\n",
        model_name.c_str(), num_parameters, num_parameters * 4 / 1e6, world, batch, world * batch,
        train_set.size(), sampler->size(), train_loader.size());
  }
  std::ofstream csv;
  if (rank == 0) {
    csv.open(out + "/metrics.csv");
    csv << "epoch,train_loss,train_acc,test_loss,test_acc,seconds,samples_per_s\n";
  }

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    // A new shuffle each epoch, the same on all ranks. The loader passes its own epoch counter
    // (0, 1, ...) to the sampler; set_epoch with the same number is PyTorch's habit.
    sampler->set_epoch(static_cast<std::size_t>(epoch - 1));
    model->train();
    double loss_sum = 0, correct = 0, seen = 0;
    const auto start = std::chrono::steady_clock::now();
    for (auto& [x, y] : train_loader) {
      opt.zero_grad();
      const Tensor scores = (*model)(x);
      const Tensor loss = F::cross_entropy(scores, y);
      loss.backward();  // local gradients, then averaged over the ranks bucket by bucket
      opt.step();       // the same step on every rank: the copies stay identical
      const double b = static_cast<double>(y.numel());
      loss_sum += loss.item<double>() * b;
      correct += nn::accuracy(scores, y) * b;
      seen += b;
    }
    // The epoch's numbers over all ranks: sum (loss * count, correct, count) with one allreduce.
    Tensor totals = tensor({loss_sum, correct, seen}, {3}, Dtype::float64);
    dist::all_reduce(totals, dist::ReduceOp::Sum);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto t = totals.to_vector<double>();

    // Test on rank 0 alone, with the wrapped model (no collectives: the others go on).
    if (rank == 0) {
      const auto test = nn::evaluate(net, test_loader, [](const Tensor& s, const Tensor& y) {
        return F::cross_entropy(s, y);
      });
      std::printf(
          "epoch %d/%d: train_loss %.4f train_acc %.2f%% test_loss %.4f test_acc %.2f%% "
          "%.1f s %.0f samples/s (%.2f ms per step)\n",
          epoch, epochs, t[0] / t[2], 100 * t[1] / t[2], test.loss, 100 * test.accuracy, seconds,
          t[2] / seconds, 1e3 * seconds / static_cast<double>(train_loader.size()));
      std::fflush(stdout);
      csv << epoch << ',' << t[0] / t[2] << ',' << t[1] / t[2] << ',' << test.loss << ','
          << test.accuracy << ',' << seconds << ',' << t[2] / seconds << '\n';
    }
  }

  // 4. Rank 0 saves the wrapped model (its names are net's: layers.0.weight, ...), so the
  //    checkpoint loads into a plain nn::MLP / nn::CNN without MPI.
  if (rank == 0) {
    nn::save(*net, out + "/model.safetensors");
    std::printf("wrote %s/metrics.csv and %s/model.safetensors\n", out.c_str(), out.c_str());
  }
  return 0;
}

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);  // MPI_Init ... MPI_Finalize (a world of one without mpirun)
  CLI::App app{"Tutorial 11: data-parallel training over Open MPI"};
  Settings s;
  app.add_option("--out", s.out, "output folder (created by rank 0)");
  app.add_flag("--quick", s.quick, "1 epoch on 2,000 images (for CI)");
  app.add_option("--epochs", s.epochs, "passes over the training images")
      ->check(CLI::Range(1, 1000));
  app.add_option("--batch", s.batch, "batch size per rank (one step sees world_size * batch)")
      ->check(CLI::Range(1, 60000));
  app.add_option("--lr", s.lr, "SGD learning rate (default: 0.05 for the MLP, 0.01 for the CNN)")
      ->check(CLI::Range(1e-6, 10.0));
  app.add_option("--model", s.model_name, "mlp (784-256-128-10) or cnn (channels 32, 64)")
      ->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--limit", s.limit, "use the first N training and test images (0: all)")
      ->check(CLI::Range(0, 60000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same command line and stops here; rank 0 prints the message.
    const int code = dist::rank() == 0 ? app.exit(e) : e.get_exit_code();
    return code == 0 ? 0 : 2;  // --help: 0; a bad argument: 2
  }
  // An exception on one rank would leave the others waiting in their next collective: run()
  // prints "rank R: <what>" and ends the whole job (MPI_Abort) within a moment.
  return dist::run([&] { return tutorial(s); });
}
