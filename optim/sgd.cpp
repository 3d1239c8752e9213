#include "optim/sgd.hpp"

#include "autograd/extend.hpp"

namespace xg::optim {

using detail::format_value;

SGDOptions::SGDOptions(double lr) : lr_(lr) {}

void SGDOptions::validate() const {
  if (!(lr_ >= 0)) fail("SGD: invalid learning rate: ", format_value(lr_));
  if (!(momentum_ >= 0)) fail("SGD: invalid momentum value: ", format_value(momentum_));
  if (!(weight_decay_ >= 0)) fail("SGD: invalid weight_decay value: ", format_value(weight_decay_));
  if (nesterov_ && (momentum_ <= 0 || dampening_ != 0))
    fail("SGD: Nesterov momentum requires a momentum and zero dampening (momentum ",
         format_value(momentum_), ", dampening ", format_value(dampening_), ")");
}

void SGDOptions::visit(OptionVisitor& v) {
  v("lr", lr_);
  v("momentum", momentum_);
  v("dampening", dampening_);
  v("weight_decay", weight_decay_);
  v("nesterov", nesterov_);
  v("maximize", maximize_);
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& defaults)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults)
    : Optimizer(std::move(groups), defaults.clone()) {}

void SGD::step() {
  for_each_param_with_grad([](ParamGroup& group, Tensor& p, const Tensor& grad, ParamState& st) {
    const auto& o = static_cast<const SGDOptions&>(group.options());
    const bool first = o.momentum() != 0 && !st.find("momentum_buffer");
    Tensor buf = o.momentum() != 0 ? st.buffer("momentum_buffer", p) : Tensor();
    dispatch(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T lr = T(o.lr()), wd = T(o.weight_decay()), mu = T(o.momentum());
      const T damp = T(1.0 - o.dampening());
      const T sign = o.maximize() ? T(-1) : T(1);
      const bool nesterov = o.nesterov();
      T* w = p.data_ptr<T>();
      const T* g = grad.data_ptr<T>();
      T* b = buf.defined() ? buf.data_ptr<T>() : nullptr;
      // One loop per variant: a vectorized loop must not touch b when it is null (masked
      // AVX-512 accesses to an unmapped page cost a microcode assist per vector).
      const std::size_t n = p.numel();
      if (!b) {
        for (std::size_t i = 0; i < n; ++i) w[i] -= lr * (sign * g[i] + wd * w[i]);
        return;
      }
      with_flag(nesterov, [&](auto use_nesterov) {
        for (std::size_t i = 0; i < n; ++i) {
          const T d = sign * g[i] + wd * w[i];
          const T v = first ? d : mu * b[i] + damp * d;  // first step: buf = g, no dampening
          b[i] = v;
          if constexpr (use_nesterov)
            w[i] -= lr * (d + mu * v);
          else
            w[i] -= lr * v;
        }
      });
    });
  });
}

}  // namespace xg::optim
