#include "optim/adagrad.hpp"

#include <cmath>

#include "autograd/extend.hpp"

namespace xg::optim {

using detail::format_value;

AdagradOptions::AdagradOptions(double lr) : lr_(lr) {}

void AdagradOptions::validate() const {
  if (!(lr_ >= 0)) fail("Adagrad: invalid learning rate: ", format_value(lr_));
  if (!(lr_decay_ >= 0)) fail("Adagrad: invalid lr_decay value: ", format_value(lr_decay_));
  if (!(weight_decay_ >= 0))
    fail("Adagrad: invalid weight_decay value: ", format_value(weight_decay_));
  if (!(initial_accumulator_value_ >= 0))
    fail("Adagrad: invalid initial_accumulator_value value: ",
         format_value(initial_accumulator_value_));
  if (!(eps_ >= 0)) fail("Adagrad: invalid epsilon value: ", format_value(eps_));
}

void AdagradOptions::visit(OptionVisitor& v) {
  v("lr", lr_);
  v("lr_decay", lr_decay_);
  v("weight_decay", weight_decay_);
  v("initial_accumulator_value", initial_accumulator_value_);
  v("eps", eps_);
  v("maximize", maximize_);
}

Adagrad::Adagrad(std::vector<Tensor> params, const AdagradOptions& defaults)
    : Adagrad(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& defaults)
    : Optimizer(std::move(groups), defaults.clone()) {}

void Adagrad::step() {
  for_each_param_with_grad([](ParamGroup& group, Tensor& p, const Tensor& grad, ParamState& st) {
    const auto& o = static_cast<const AdagradOptions&>(group.options());
    dispatch(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* w = p.data_ptr<T>();
      const T* g = grad.data_ptr<T>();
      T* sum = st.buffer("sum", p, o.initial_accumulator_value()).data_ptr<T>();
      const T clr = T(o.lr() / (1 + double(st.step - 1) * o.lr_decay()));
      const T eps = T(o.eps()), wd = T(o.weight_decay()), sign = o.maximize() ? T(-1) : T(1);
      for (std::size_t i = 0, n = p.numel(); i < n; ++i) {
        T d = sign * g[i];
        if (wd != 0) d += wd * w[i];
        sum[i] += d * d;
        w[i] -= clr * (d / (std::sqrt(sum[i]) + eps));
      }
    });
  });
}

}  // namespace xg::optim
