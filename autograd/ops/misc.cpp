// dropout and one_hot.
#include <cmath>
#include <random>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

Tensor dropout(const Tensor& a, double p, bool training) {
  check_floating("dropout", a);
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
  std::vector<std::size_t> idx(indices.numel());
  dispatch_all(indices.dtype(), [&](auto tag) {  // int64, or whole numbers in a float tensor
    using T = decltype(tag);
    const T* p = indices.impl()->data<T>();
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const T c = p[i];
      if constexpr (!std::is_same_v<T, int64_t>)
        if (c != std::trunc(c))
          fail("one_hot: class index ", c, " at position ", i, " is not a whole number");
      if (!(c >= 0 && static_cast<double>(c) < static_cast<double>(num_classes)) ||
          static_cast<uint64_t>(c) >= num_classes)
        fail("one_hot: class index ", c, " at position ", i, " is out of range for ", num_classes,
             " classes (indices of shape ", indices.shape(), ")");
      idx[i] = static_cast<std::size_t>(c);
    }
  });
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < idx.size(); ++i) o[i * num_classes + idx[i]] = T(1);
  });
  return out;
}

}  // namespace xg
