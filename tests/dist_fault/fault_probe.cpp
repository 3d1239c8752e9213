// A small MPI program for the fault tests (tests/dist_fault/expect_failure.cmake): every rank
// loops in all_reduce; rank 1 fails in the way argv[1] names, mid-job, while the others are
// (or are about to be) blocked in the collective. The job must end with an error naming rank 1,
// never hang.
//   kill   rank 1 sends itself SIGKILL (mpirun notices the death and ends the others)
//   throw  rank 1 throws inside dist::run (prints "rank 1: ..." and MPI_Abort)
//   return rank 1's main returns 3 (run() aborts the job instead of a hang in MPI_Finalize)
//   grid   rank 1's loss throws inside dist::evaluate_grid: every rank throws naming rank 1,
//          and dist::run aborts the job
#include <csignal>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"
#include "nn/nn.hpp"
#include "viz/viz.hpp"

using namespace xg;

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  return dist::run([&] {
    if (mode == "grid") {
      auto make = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{2, 8, 3}); };
      auto net = make();
      const nn::TensorDataset data = nn::make_blobs(40, 3, 2, 1.0, 6);
      const viz::Direction dx = viz::random_direction(*net, viz::DirectionOptions().seed(1));
      const nn::LossFn flaky = [](const Tensor& logits, const Tensor& target) {
        if (dist::rank() == 1) throw std::runtime_error("flaky loss");
        return nn::functional::cross_entropy(logits, target);
      };
      dist::evaluate_grid(make, *net, {dx}, {"-1:1:9"}, data,
                          viz::EvalOptions().progress(false).loss(flaky, "flaky"));
      return 0;
    }
    Tensor t = ones({1000});
    for (int step = 0; step < 1000000; ++step) {
      if (step == 10 && dist::rank() == 1) {
        if (mode == "kill") std::raise(SIGKILL);
        if (mode == "throw") throw std::runtime_error("boom at step 10");
        if (mode == "return") return 3;
      }
      dist::all_reduce(t, dist::ReduceOp::Mean);
    }
    std::cout << "rank " << dist::rank() << ": the collectives ended without the fault\n";
    return 0;
  });
}
