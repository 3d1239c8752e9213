#pragma once
// Small synthetic datasets for tutorials and tests, reproducible from a seed (the global
// generator is not touched). Classification sets have int64 labels [n]; inputs are float32.
#include <cstddef>
#include <cstdint>

#include "nn/dataset.hpp"

namespace xg::nn {

/// Linear regression data: x [n, d] ~ N(0, 1), y [n, 1] = x w + b + noise * N(0, 1), with
/// w [d] ~ N(0, 1) and b ~ N(0, 1) drawn from the seed. If `coef` is given it receives w as a
/// float32 [d] tensor and `bias` b.
TensorDataset make_regression(std::size_t n, std::size_t d, double noise = 0.1, uint64_t seed = 0,
                              Tensor* coef = nullptr, double* bias = nullptr);

/// Gaussian blobs: `centers` centers drawn uniformly from [-10, 10]^d, example i belongs to
/// center i % centers and is that center plus std * N(0, 1) per coordinate. x [n, d], y [n].
TensorDataset make_blobs(std::size_t n, std::size_t centers = 3, std::size_t d = 2,
                         double std = 1.0, uint64_t seed = 0);

/// Two interleaving half circles (scikit-learn's make_moons): n / 2 points (rounded down) on the
/// outer moon (label 0), the rest on the inner one (label 1), plus noise * N(0, 1). x [n, 2].
TensorDataset make_moons(std::size_t n, double noise = 0.1, uint64_t seed = 0);

/// `classes` spiral arms (CS231n): n examples split evenly (the first arms get the remainder);
/// arm c has radius r in [0, 1] and angle 4c + 4r + noise * N(0, 1), x = (r sin t, r cos t).
/// x [n, 2], y [n].
TensorDataset make_spirals(std::size_t n, std::size_t classes = 3, double noise = 0.2,
                           uint64_t seed = 0);

}  // namespace xg::nn
