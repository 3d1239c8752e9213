#include "optim/rmsprop.hpp"

#include <cmath>

#include "autograd/extend.hpp"

namespace xg::optim {

using detail::format_value;

RMSpropOptions::RMSpropOptions(double lr) : lr_(lr) {}

void RMSpropOptions::validate() const {
  if (!(lr_ >= 0)) fail("RMSprop: invalid learning rate: ", format_value(lr_));
  if (!(eps_ >= 0)) fail("RMSprop: invalid epsilon value: ", format_value(eps_));
  if (!(momentum_ >= 0)) fail("RMSprop: invalid momentum value: ", format_value(momentum_));
  if (!(weight_decay_ >= 0))
    fail("RMSprop: invalid weight_decay value: ", format_value(weight_decay_));
  if (!(alpha_ >= 0)) fail("RMSprop: invalid alpha value: ", format_value(alpha_));
}

void RMSpropOptions::visit(OptionVisitor& v) {
  v("lr", lr_);
  v("alpha", alpha_);
  v("eps", eps_);
  v("weight_decay", weight_decay_);
  v("momentum", momentum_);
  v("centered", centered_);
  v("maximize", maximize_);
}

RMSprop::RMSprop(std::vector<Tensor> params, const RMSpropOptions& defaults)
    : RMSprop(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& defaults)
    : Optimizer(std::move(groups), defaults.clone()) {}

void RMSprop::step() {
  for_each_param_with_grad([](ParamGroup& group, Tensor& p, const Tensor& grad, ParamState& st) {
    const auto& o = static_cast<const RMSpropOptions&>(group.options());
    dispatch(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* w = p.data_ptr<T>();
      const T* g = grad.data_ptr<T>();
      T* sq = st.buffer("square_avg", p).data_ptr<T>();
      T* ga = o.centered() ? st.buffer("grad_avg", p).data_ptr<T>() : nullptr;
      T* buf = o.momentum() > 0 ? st.buffer("momentum_buffer", p).data_ptr<T>() : nullptr;
      const T lr = T(o.lr()), alpha = T(o.alpha()), one_minus_alpha = T(1 - o.alpha());
      const T eps = T(o.eps()), wd = T(o.weight_decay()), mu = T(o.momentum());
      const T sign = o.maximize() ? T(-1) : T(1);
      // One loop per variant, so no vectorized access touches a null buffer.
      with_flag(ga != nullptr, [&](auto centered) {
        with_flag(buf != nullptr, [&](auto has_momentum) {
          for (std::size_t i = 0, n = p.numel(); i < n; ++i) {
            T d = sign * g[i];
            if (wd != 0) d += wd * w[i];
            sq[i] = alpha * sq[i] + one_minus_alpha * d * d;
            T var = sq[i];
            if constexpr (centered) {
              ga[i] = alpha * ga[i] + one_minus_alpha * d;
              var = sq[i] - ga[i] * ga[i];
            }
            const T avg = std::sqrt(var) + eps;
            if constexpr (has_momentum) {
              buf[i] = mu * buf[i] + d / avg;
              w[i] -= lr * buf[i];
            } else {
              w[i] -= lr * (d / avg);
            }
          }
        });
      });
    });
  });
}

}  // namespace xg::optim
