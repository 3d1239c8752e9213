// doctest under MPI: every rank runs the same cases in the same order (their collectives must
// match); each rank reports its own failures, and the exit code is nonzero on every rank if any
// rank failed, so mpirun fails.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"

int main(int argc, char** argv) {
  xg::dist::Environment env(argc, argv);
  doctest::Context context(argc, argv);
  if (xg::dist::rank() != 0) context.setOption("out", "/dev/null");  // one report, rank 0's
  int failed = context.run() != 0 ? 1 : 0;
  xg::Tensor any = xg::full({1}, failed, xg::Dtype::int64);
  xg::dist::all_reduce(any, xg::dist::ReduceOp::Max);
  return any.item<int64_t>() != 0 ? 1 : 0;
}
