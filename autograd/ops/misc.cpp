// dropout and one_hot.
#include <random>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

Tensor dropout(const Tensor& a, double p, bool training) {
  check_defined("dropout", a);
  if (p < 0 || p > 1) fail("dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0) return a;
  if (p == 1) return mul(a, 0.0);
  // Composite: a * mask / (1 - p) with a constant Bernoulli(1 - p) mask.
  std::bernoulli_distribution keep(1.0 - p);
  Tensor mask = empty(a.shape(), a.dtype());
  auto lock = lock_generator();
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* m = mask.data_ptr<T>();
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    for (std::size_t i = 0; i < mask.numel(); ++i) m[i] = keep(generator()) ? scale : T(0);
  });
  lock.unlock();
  return mul(a, mask);
}

Tensor one_hot(const Tensor& indices, std::size_t num_classes, Dtype dtype) {
  check_defined("one_hot", indices);
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, dtype);
  const std::vector<double> idx = indices.to_vector<double>();
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const double c = idx[i];
      if (c < 0 || c >= static_cast<double>(num_classes) ||
          c != static_cast<double>(static_cast<int64_t>(c)))
        fail("one_hot: class index ", c, " at position ", i, " is out of range for ", num_classes,
             " classes (indices of shape ", indices.shape(), ")");
      o[i * num_classes + static_cast<std::size_t>(c)] = T(1);
    }
  });
  return out;
}

}  // namespace xg
