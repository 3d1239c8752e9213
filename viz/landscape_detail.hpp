#pragma once
// Private helpers shared by the landscape sources (directions.cpp, evaluate.cpp, trajectory.cpp).
// Not part of the public viz API (viz/viz.hpp does not include it).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>

#include "nn/module.hpp"

namespace xg::viz::detail {

/// Throws std::runtime_error built from streamable parts: a file that cannot be opened, read or
/// written (fail() is for bad arguments), as nn::save/load, viz::render and the plots do.
template <typename... Args>
[[noreturn]] void io_fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw std::runtime_error(os.str());
}

/// The splitmix64 finalizer of x + golden ratio: a bijective 64-bit mix (counter-based RNG).
uint64_t splitmix64(uint64_t x);
/// FNV-1a 64 of n bytes, continuing from h.
uint64_t fnv1a(const void* data, std::size_t n, uint64_t h = 0xcbf29ce484222325ULL);
/// FNV-1a over names, dtypes, shapes and raw data of every entry (detects changed values).
uint64_t fingerprint(const nn::NamedTensors& tensors);
/// Fails (naming `who`) unless a and b have the same names, shapes and dtypes in order.
void check_same_entries(const char* who, const nn::NamedTensors& a, const nn::NamedTensors& b,
                        const char* what_a, const char* what_b);
/// Sum of squares of elements [begin, end) of a floating tensor, in double.
double sum_squares(const Tensor& t, std::size_t begin, std::size_t end);

}  // namespace xg::viz::detail
