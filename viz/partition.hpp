#pragma once
// How the points of a landscape grid are shared among cooperating processes. viz does not know
// about MPI: a Partition is a strategy object handed to evaluate_grid (EvalOptions::partition) or
// curvature_ratio_map (CurvatureMapOptions::partition); dist::grid_partition() implements it on
// Open MPI, and without one a grid is computed by this process alone.
//
// With a partition of P parts, the points still to compute (in index order) are cut into P
// contiguous slices, part p computing slice p. The parts exchange their results in rounds of a
// few points each (every part gets every result, so each returns the whole grid); part 0 alone
// writes the files and shows the progress, appending each round's rows as they arrive, so an
// interrupted distributed run resumes like a single-process one (with any number of parts).
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace xg::viz {

/// A group of processes that compute one grid together (see dist::grid_partition()).
class Partition {
 public:
  virtual ~Partition() = default;
  /// This process's part, 0 .. parts() - 1; part 0 writes the files and shows the progress.
  virtual std::size_t part() const = 0;
  /// Number of parts (processes) sharing the grid (>= 1).
  virtual std::size_t parts() const = 0;
  /// Collective (every part calls it, in the same order): every part's bytes, in part order, on
  /// every part. Sizes may differ between parts.
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
};

/// The contiguous slice [begin, end) of n items that part p of `parts` owns (the first n % parts
/// parts get one item more).
inline std::pair<std::size_t, std::size_t> slice_of(std::size_t n, std::size_t p,
                                                    std::size_t parts) {
  const std::size_t q = n / parts, r = n % parts;
  const std::size_t begin = p * q + (p < r ? p : r);
  return {begin, begin + q + (p < r ? 1 : 0)};
}

}  // namespace xg::viz
