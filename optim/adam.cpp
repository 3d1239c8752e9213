#include "optim/adam.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/extend.hpp"

namespace xg::optim {

using detail::format_value;

namespace {
/// The checks torch.optim.Adam and AdamW share; `opt` names the optimizer.
void validate_adam(const char* opt, double lr, const AdamBetas& betas, double eps, double wd) {
  if (!(lr >= 0)) fail(opt, ": invalid learning rate: ", format_value(lr));
  if (!(eps >= 0)) fail(opt, ": invalid epsilon value: ", format_value(eps));
  const double b[2] = {std::get<0>(betas), std::get<1>(betas)};
  for (int i = 0; i < 2; ++i)
    if (!(b[i] >= 0 && b[i] < 1))
      fail(opt, ": invalid beta parameter at index ", i, ": ", format_value(b[i]));
  if (!(wd >= 0)) fail(opt, ": invalid weight_decay value: ", format_value(wd));
}

/// The options Adam and AdamW share, by name (for state_dict).
void visit_adam(OptionVisitor& v, double& lr, AdamBetas& betas, double& eps, double& wd,
                bool& amsgrad, bool& maximize) {
  v("lr", lr);
  v("beta1", std::get<0>(betas));
  v("beta2", std::get<1>(betas));
  v("eps", eps);
  v("weight_decay", wd);
  v("amsgrad", amsgrad);
  v("maximize", maximize);
}

/// Adam's update of one parameter in place. `l2` is added to the gradient times p (Adam's weight
/// decay); `decoupled` multiplies p by 1 - lr * decoupled first (AdamW's).
template <typename T>
void adam_update(Tensor& p, const Tensor& grad, ParamState& st, double lr, const AdamBetas& betas,
                 double eps, double l2, double decoupled, bool amsgrad, bool maximize) {
  const double beta1 = std::get<0>(betas), beta2 = std::get<1>(betas);
  T* w = p.data_ptr<T>();
  const T* g = grad.data_ptr<T>();
  T* m = st.buffer("exp_avg", p).data_ptr<T>();
  T* v = st.buffer("exp_avg_sq", p).data_ptr<T>();
  T* vmax = amsgrad ? st.buffer("max_exp_avg_sq", p).data_ptr<T>() : nullptr;
  const double t = double(st.step);
  const T bias_correction2_sqrt = T(std::sqrt(1 - std::pow(beta2, t)));
  const T step_size = T(lr / (1 - std::pow(beta1, t)));
  const T b1 = T(beta1), one_minus_b1 = T(1 - beta1), b2 = T(beta2), one_minus_b2 = T(1 - beta2);
  const T wd = T(l2), decay = T(1 - lr * decoupled), e = T(eps), sign = maximize ? T(-1) : T(1);
  with_flag(amsgrad, [&](auto use_max) {  // separate loops: vmax is null without amsgrad
    for (std::size_t i = 0, n = p.numel(); i < n; ++i) {
      if (decoupled != 0) w[i] *= decay;
      T d = sign * g[i];
      if (wd != 0) d += wd * w[i];
      m[i] = b1 * m[i] + one_minus_b1 * d;
      v[i] = b2 * v[i] + one_minus_b2 * d * d;
      T second = v[i];
      if constexpr (use_max)
        second = vmax[i] = std::max(vmax[i], v[i]);  // max of the raw averages (as 1.13)
      const T denom = std::sqrt(second) / bias_correction2_sqrt + e;
      w[i] -= step_size * (m[i] / denom);
    }
  });
}
}  // namespace

AdamOptions::AdamOptions(double lr) : lr_(lr) {}
void AdamOptions::validate() const { validate_adam("Adam", lr_, betas_, eps_, weight_decay_); }
void AdamOptions::visit(OptionVisitor& v) {
  visit_adam(v, lr_, betas_, eps_, weight_decay_, amsgrad_, maximize_);
}

AdamWOptions::AdamWOptions(double lr) : lr_(lr) {}
void AdamWOptions::validate() const { validate_adam("AdamW", lr_, betas_, eps_, weight_decay_); }
void AdamWOptions::visit(OptionVisitor& v) {
  visit_adam(v, lr_, betas_, eps_, weight_decay_, amsgrad_, maximize_);
}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& defaults)
    : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : Optimizer(std::move(groups), defaults.clone()) {}

void Adam::step() {
  for_each_param_with_grad([](ParamGroup& group, Tensor& p, const Tensor& grad, ParamState& st) {
    const auto& o = static_cast<const AdamOptions&>(group.options());
    dispatch(p.dtype(), [&](auto tag) {
      adam_update<decltype(tag)>(p, grad, st, o.lr(), o.betas(), o.eps(), o.weight_decay(), 0.0,
                                 o.amsgrad(), o.maximize());
    });
  });
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& defaults)
    : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults)
    : Optimizer(std::move(groups), defaults.clone()) {}

void AdamW::step() {
  for_each_param_with_grad([](ParamGroup& group, Tensor& p, const Tensor& grad, ParamState& st) {
    const auto& o = static_cast<const AdamWOptions&>(group.options());
    dispatch(p.dtype(), [&](auto tag) {
      adam_update<decltype(tag)>(p, grad, st, o.lr(), o.betas(), o.eps(), 0.0, o.weight_decay(),
                                 o.amsgrad(), o.maximize());
    });
  });
}

}  // namespace xg::optim
