#pragma once
// Creating tensors: from values, filled, ranges, and random from the global generator.
#include <cstdint>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg {

/// A tensor holding `values` (row-major) with `shape`; throws if the counts differ. For int64,
/// values are truncated toward zero (exact up to 2^53).
Tensor tensor(const std::vector<double>& values, const Shape& shape, Dtype dtype = Dtype::float32);
/// A 1-D float32 tensor holding `values` (use the overload with a shape for float64).
Tensor tensor(const std::vector<double>& values);
/// A 0-dimensional tensor holding one value.
Tensor scalar_tensor(double value, Dtype dtype = Dtype::float32);
/// Uninitialized data (internal fast path; prefer zeros in user code).
Tensor empty(const Shape& shape, Dtype dtype = Dtype::float32);
Tensor zeros(const Shape& shape, Dtype dtype = Dtype::float32);
Tensor ones(const Shape& shape, Dtype dtype = Dtype::float32);
Tensor full(const Shape& shape, double value, Dtype dtype = Dtype::float32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
/// Values start, start+step, ... below end (1-D).
Tensor arange(double end, Dtype dtype = Dtype::float32);
Tensor arange(double start, double end, double step = 1.0, Dtype dtype = Dtype::float32);
/// `steps` evenly spaced values from start to end inclusive (1-D).
Tensor linspace(double start, double end, std::size_t steps, Dtype dtype = Dtype::float32);
/// n x n identity matrix.
Tensor eye(std::size_t n, Dtype dtype = Dtype::float32);

// Random numbers come from one global generator (std::mt19937_64, seeded 5489 at start), shared
// by all threads behind a lock: each call draws its whole tensor in one go, so a tensor's values
// never interleave with another thread's. With manual_seed(s) and calls from one thread the
// values are reproducible; calls from several threads at once are safe but their order, and so
// which thread gets which values, is not.

/// Seeds the global generator used by randn/rand/randint/randperm/dropout and nn init.
void manual_seed(uint64_t seed);
/// Standard normal samples (float32 or float64).
Tensor randn(const Shape& shape, Dtype dtype = Dtype::float32);
/// Uniform samples in [0, 1) (float32 or float64).
Tensor rand(const Shape& shape, Dtype dtype = Dtype::float32);
/// Uniform integers in [low, high), in any dtype (int64 for labels and indices).
Tensor randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype = Dtype::float32);
/// A random permutation of 0..n-1 from the global generator.
std::vector<std::size_t> randperm(std::size_t n);

}  // namespace xg
