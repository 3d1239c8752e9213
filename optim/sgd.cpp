#include "optim/sgd.hpp"

#include "autograd/detail/impl.hpp"

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
      for (std::size_t i = 0, n = p.numel(); i < n; ++i) {
        T d = sign * g[i];
        if (wd != 0) d += wd * w[i];
        if (b) {
          b[i] = first ? d : mu * b[i] + damp * d;  // first step: buf = g, no dampening
          d = nesterov ? d + mu * b[i] : b[i];
        }
        w[i] -= lr * d;
      }
    });
  });
}

}  // namespace xg::optim
