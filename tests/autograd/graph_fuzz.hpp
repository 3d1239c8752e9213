#pragma once
// Random-graph gradient fuzzing: random well-typed float64 expressions built from the public ops
// (broadcasting, size-1 and zero-size dims, 0-d tensors, views, in-place steps, reductions,
// matmul/conv, softmax and losses), each checked with gradcheck and gradgradcheck, plus probes
// that an in-place change to a saved tensor or to a view fails. Graph i of a run uses seed
// base + i; a failure reports the seed and the graph as C++ code that rebuilds it.
#include <cstdint>
#include <string>

namespace xg::fuzz {

/// The outcome of one random graph.
struct GraphResult {
  bool ok = true;       ///< gradcheck, gradgradcheck and every probe passed
  std::string code;     ///< the graph as C++ statements (one line per step)
  std::string message;  ///< what failed (empty when ok)
  std::size_t steps = 0;
  /// Checks that failed at the default tolerances but passed with eps 1e-5 and 10x the
  /// tolerances (finite differences of a badly scaled Jacobian); empty when none.
  std::string retried;
};

/// The graph for `seed` as C++ code (the same text run_graph reports), without checking it.
std::string graph_code(uint64_t seed);

/// Builds the graph for `seed` and checks it (gradcheck, gradgradcheck, probes).
GraphResult run_graph(uint64_t seed);

}  // namespace xg::fuzz
