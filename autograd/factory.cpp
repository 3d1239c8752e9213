// Tensor creation and the global random generator.
#include "autograd/factory.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <new>
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

/// v in dtype T; int64 truncates toward zero and rejects nan, inf and out-of-range values.
template <typename T>
T convert(const char* op, double v) {
  if constexpr (std::is_same_v<T, int64_t>)
    return checked_int64(op, v);
  else
    return static_cast<T>(v);
}

// Fills a new tensor with f(k) for k = 0..numel-1.
template <typename F>
Tensor generate(const char* op, const Shape& shape, Dtype dtype, F f) {
  Tensor t = new_empty(op, shape, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data_ptr<T>();
    for (std::size_t k = 0; k < t.numel(); ++k) p[k] = convert<T>(op, f(k));
  });
  return t;
}
}  // namespace

Tensor new_empty(const char* op, const Shape& shape, Dtype dtype) {
  const std::size_t bytes = checked_numel(op, shape) * element_size(dtype);  // no overflow
  std::shared_ptr<Storage> storage;
  try {
    storage = make_pooled<Storage>(bytes);
  } catch (const std::bad_alloc&) {
    fail(op, ": cannot allocate ", bytes, " bytes for shape ", shape);
  }
  return Tensor(make_pooled<TensorImpl>(std::move(storage), shape, dtype));
}
Tensor empty(const Shape& shape, Dtype dtype) { return new_empty("empty", shape, dtype); }

Tensor tensor(const std::vector<double>& values, const Shape& shape, Dtype dtype) {
  const std::size_t n = checked_numel("tensor", shape);
  if (values.size() != n)
    fail("tensor: ", values.size(), " values cannot fill shape ", shape, " (", n, " elements)");
  return generate("tensor", shape, dtype, [&](std::size_t k) { return values[k]; });
}
Tensor tensor(const std::vector<double>& values) {
  return tensor(values, {values.size()}, Dtype::float32);
}
Tensor scalar_tensor(double value, Dtype dtype) { return full({}, value, dtype); }

namespace {
Tensor filled(const char* op, const Shape& shape, double value, Dtype dtype) {
  Tensor t = new_empty(op, shape, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(t.data_ptr<T>(), t.numel(), convert<T>(op, value));
  });
  return t;
}
}  // namespace
Tensor full(const Shape& shape, double value, Dtype dtype) {
  return filled("full", shape, value, dtype);
}
Tensor zeros(const Shape& shape, Dtype dtype) { return filled("zeros", shape, 0.0, dtype); }
Tensor ones(const Shape& shape, Dtype dtype) { return filled("ones", shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, t.dtype()); }

Tensor arange(double end, Dtype dtype) { return arange(0, end, 1, dtype); }
Tensor arange(double start, double end, double step, Dtype dtype) {
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail("arange: start ", start, ", end ", end, " and step ", step, " must be finite");
  if (step == 0 || (end - start) * step < 0)
    fail("arange: cannot go from ", start, " to ", end, " in steps of ", step);
  const double count = std::ceil((end - start) / step);
  if (!(count <= static_cast<double>(kMaxNumel)))
    fail("arange: going from ", start, " to ", end, " in steps of ", step, " makes ", count,
         " elements, too many for a tensor");
  const auto n = static_cast<std::size_t>(count);
  return generate("arange", {n}, dtype,
                  [&](std::size_t k) { return start + step * static_cast<double>(k); });
}

Tensor linspace(double start, double end, std::size_t steps, Dtype dtype) {
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  return generate("linspace", {steps}, dtype, [&](std::size_t k) {
    return k + 1 == steps && k > 0 ? end : start + step * static_cast<double>(k);
  });
}

Tensor eye(std::size_t n, Dtype dtype) {
  return generate("eye", {n, n}, dtype, [&](std::size_t k) { return k / n == k % n ? 1.0 : 0.0; });
}

void manual_seed(uint64_t seed) {
  auto lock = lock_generator();
  generator().seed(seed);
}

// Each draws its whole tensor under one acquisition of the generator's lock.
Tensor randn(const Shape& shape, Dtype dtype) {
  check_floating("randn", dtype);
  std::normal_distribution<double> dist(0.0, 1.0);
  auto lock = lock_generator();
  return generate("randn", shape, dtype, [&](std::size_t) { return dist(generator()); });
}

Tensor rand(const Shape& shape, Dtype dtype) {
  check_floating("rand", dtype);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  auto lock = lock_generator();
  return generate("rand", shape, dtype, [&](std::size_t) {
    double v = dist(generator());
    return dtype == Dtype::float32 && static_cast<float>(v) >= 1.0f ? 0.0 : v;  // keep [0, 1)
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype) {
  if (high <= low) fail("randint: empty range [", low, ", ", high, ")");
  std::uniform_int_distribution<int64_t> dist(low, high - 1);
  auto lock = lock_generator();
  if (dtype == Dtype::int64) {  // exact, even past 2^53
    Tensor t = new_empty("randint", shape, dtype);
    int64_t* p = t.data_ptr<int64_t>();
    for (std::size_t k = 0; k < t.numel(); ++k) p[k] = dist(generator());
    return t;
  }
  return generate("randint", shape, dtype,
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
