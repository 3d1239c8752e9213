#include "optim/clip_grad.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/extend.hpp"
#include "optim/options.hpp"

namespace xg::optim {

using detail::format_value;

namespace {
/// Every defined gradient of `params`, cut from any graph (create_graph gradients included).
std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (Tensor g = p.grad(); g.defined()) grads.push_back(g.detach());
  return grads;
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  if (!(norm_type > 0))
    fail("clip_grad_norm_: norm_type must be positive or inf, got ", format_value(norm_type));
  if (!(max_norm >= 0))
    fail("clip_grad_norm_: max_norm must be >= 0, got ", format_value(max_norm));
  const std::vector<Tensor> grads = grads_of(params);
  if (grads.empty()) return 0.0;
  const bool inf_norm = std::isinf(norm_type);
  double total = 0.0;  // max |g| for inf, else sum over tensors of norm(g)^p (combined below)
  for (const Tensor& g : grads)
    dispatch(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* d = g.data_ptr<T>();
      double acc = 0.0;
      for (std::size_t i = 0, n = g.numel(); i < n; ++i) {
        const double a = std::abs(double(d[i]));
        acc =
            inf_norm ? std::max(acc, a) : acc + (norm_type == 2.0 ? a * a : std::pow(a, norm_type));
      }
      total = inf_norm ? std::max(total, acc) : total + acc;
    });
  if (!inf_norm) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    fail("clip_grad_norm_: the total norm of order ", format_value(norm_type),
         " for gradients from `parameters` is non-finite, so it cannot be clipped");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    NoGradGuard no_grad;
    for (Tensor g : grads) g.mul_(coef);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0))
    fail("clip_grad_value_: clip_value must be >= 0, got ", format_value(clip_value));
  for (Tensor g : grads_of(params)) {
    dispatch(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* d = g.data_ptr<T>();
      const T hi = T(clip_value), lo = T(-clip_value);
      for (std::size_t i = 0, n = g.numel(); i < n; ++i) d[i] = std::min(std::max(d[i], lo), hi);
    });
    bump_version(g);  // written in place
  }
}

}  // namespace xg::optim
