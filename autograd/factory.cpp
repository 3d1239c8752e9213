// Tensor creation and the global random generator.
#include "autograd/factory.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <random>

#include "autograd/detail/impl.hpp"

namespace xg {

std::mt19937_64& generator() {
  static std::mt19937_64 gen(5489u);
  return gen;
}

std::unique_lock<std::mutex> lock_generator() {
  static std::mutex m;
  return std::unique_lock<std::mutex>(m);
}

namespace {

// Fills a new tensor with f(k) for k = 0..numel-1.
template <typename F>
Tensor generate(const Shape& shape, Dtype dtype, F f) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data_ptr<T>();
    for (std::size_t k = 0; k < t.numel(); ++k) p[k] = static_cast<T>(f(k));
  });
  return t;
}
}  // namespace

Tensor empty(const Shape& shape, Dtype dtype) {
  const std::size_t n = shape_numel(shape);
  return Tensor(
      make_pooled<TensorImpl>(make_pooled<Storage>(n * element_size(dtype)), shape, dtype));
}

Tensor tensor(const std::vector<double>& values, const Shape& shape, Dtype dtype) {
  if (values.size() != shape_numel(shape))
    fail("tensor: ", values.size(), " values cannot fill shape ", shape, " (", shape_numel(shape),
         " elements)");
  return generate(shape, dtype, [&](std::size_t k) { return values[k]; });
}
Tensor tensor(const std::vector<double>& values) {
  return tensor(values, {values.size()}, Dtype::float32);
}
Tensor scalar_tensor(double value, Dtype dtype) { return full({}, value, dtype); }

Tensor full(const Shape& shape, double value, Dtype dtype) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(t.data_ptr<T>(), t.numel(), static_cast<T>(value));
  });
  return t;
}
Tensor zeros(const Shape& shape, Dtype dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, Dtype dtype) { return full(shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, t.dtype()); }

Tensor arange(double end, Dtype dtype) { return arange(0, end, 1, dtype); }
Tensor arange(double start, double end, double step, Dtype dtype) {
  if (step == 0 || (end - start) * step < 0)
    fail("arange: cannot go from ", start, " to ", end, " in steps of ", step);
  const auto n = static_cast<std::size_t>(std::ceil((end - start) / step));
  return generate({n}, dtype, [&](std::size_t k) { return start + step * static_cast<double>(k); });
}

Tensor linspace(double start, double end, std::size_t steps, Dtype dtype) {
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  return generate({steps}, dtype, [&](std::size_t k) {
    return k + 1 == steps ? end : start + step * static_cast<double>(k);
  });
}

Tensor eye(std::size_t n, Dtype dtype) {
  return generate({n, n}, dtype, [&](std::size_t k) { return k / n == k % n ? 1.0 : 0.0; });
}

void manual_seed(uint64_t seed) {
  auto lock = lock_generator();
  generator().seed(seed);
}

// Each draws its whole tensor under one acquisition of the generator's lock.
Tensor randn(const Shape& shape, Dtype dtype) {
  std::normal_distribution<double> dist(0.0, 1.0);
  auto lock = lock_generator();
  return generate(shape, dtype, [&](std::size_t) { return dist(generator()); });
}

Tensor rand(const Shape& shape, Dtype dtype) {
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  auto lock = lock_generator();
  return generate(shape, dtype, [&](std::size_t) {
    double v = dist(generator());
    return dtype == Dtype::float32 && static_cast<float>(v) >= 1.0f ? 0.0 : v;  // keep [0, 1)
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype) {
  if (high <= low) fail("randint: empty range [", low, ", ", high, ")");
  std::uniform_int_distribution<int64_t> dist(low, high - 1);
  auto lock = lock_generator();
  return generate(shape, dtype,
                  [&](std::size_t) { return static_cast<double>(dist(generator())); });
}

std::vector<std::size_t> randperm(std::size_t n) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  auto lock = lock_generator();
  std::shuffle(p.begin(), p.end(), generator());
  return p;
}

}  // namespace xg
