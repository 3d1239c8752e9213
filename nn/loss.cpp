// Loss modules: options held, weights as buffers, forward calls nn::functional.
#include "nn/loss.hpp"

#include <sstream>

#include "autograd/extend.hpp"
#include "autograd/grad_mode.hpp"

namespace xg::nn {

Tensor Loss::operator()(const Tensor& input, const Tensor& target) {
  ScopeGuard scope(path());
  return forward(input, target);
}

Tensor Loss::forward(const Tensor&) {
  fail(type_name(), ": a loss takes two tensors, forward(input, target)");
}

namespace {
/// "a=1, b=2" from the non-empty parts.
class Repr {
 public:
  template <typename T>
  Repr& add(const char* key, const T& value) {
    if (!first_) os_ << ", ";
    first_ = false;
    os_ << key << "=" << value;
    return *this;
  }
  Repr& reduction(Reduction r) {
    if (r != Reduction::mean) add("reduction", reduction_name(r));
    return *this;
  }
  Repr& weight(const char* key, const Tensor& w) {
    if (w.defined()) add(key, shape_str(w.shape()));
    return *this;
  }
  std::string str() const { return os_.str(); }

 private:
  std::ostringstream os_;
  bool first_ = true;
};

/// Registers a weight buffer (undefined allowed: no weights), checking it is floating point.
void register_weight(Module& m, const char* name, const Tensor& w) {
  if (w.defined()) check_floating((m.type_name() + ": " + name).c_str(), w);
  m.register_buffer(name, w);
}
}  // namespace

CrossEntropyLoss::CrossEntropyLoss(CrossEntropyLossOptions options)
    : Loss("CrossEntropyLoss"), options(std::move(options)) {
  const double s = this->options.label_smoothing();
  XG_CHECK(s >= 0.0 && s <= 1.0,
           "CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got ", s);
  const Tensor& w = this->options.weight();
  XG_CHECK(!w.defined() || w.dim() == 1,
           "CrossEntropyLoss: weight must be 1-D (one per class), got shape ",
           w.defined() ? w.shape() : Shape{});
  register_weight(*this, "weight", w);
}
Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  CrossEntropyLossOptions o = options;
  o.weight(local("weight"));
  return functional::cross_entropy(input, target, o);
}
std::string CrossEntropyLoss::extra_repr() const {
  Repr r;
  r.weight("weight", options.weight());
  if (options.ignore_index() != -100) r.add("ignore_index", options.ignore_index());
  r.reduction(options.reduction());
  if (options.label_smoothing() != 0.0) r.add("label_smoothing", options.label_smoothing());
  return r.str();
}

NLLLoss::NLLLoss(NLLLossOptions options) : Loss("NLLLoss"), options(std::move(options)) {
  const Tensor& w = this->options.weight();
  XG_CHECK(!w.defined() || w.dim() == 1, "NLLLoss: weight must be 1-D (one per class), got shape ",
           w.defined() ? w.shape() : Shape{});
  register_weight(*this, "weight", w);
}
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  NLLLossOptions o = options;
  o.weight(local("weight"));
  return functional::nll_loss(input, target, o);
}
std::string NLLLoss::extra_repr() const {
  Repr r;
  r.weight("weight", options.weight());
  if (options.ignore_index() != -100) r.add("ignore_index", options.ignore_index());
  return r.reduction(options.reduction()).str();
}

MSELoss::MSELoss(MSELossOptions options) : Loss("MSELoss"), options(options) {}
Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::mse_loss(input, target, options);
}
std::string MSELoss::extra_repr() const { return Repr().reduction(options.reduction()).str(); }

L1Loss::L1Loss(L1LossOptions options) : Loss("L1Loss"), options(options) {}
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return functional::l1_loss(input, target, options);
}
std::string L1Loss::extra_repr() const { return Repr().reduction(options.reduction()).str(); }

SmoothL1Loss::SmoothL1Loss(SmoothL1LossOptions options) : Loss("SmoothL1Loss"), options(options) {
  XG_CHECK(options.beta() >= 0.0, "SmoothL1Loss: beta must be >= 0, got ", options.beta());
}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return functional::smooth_l1_loss(input, target, options);
}
std::string SmoothL1Loss::extra_repr() const {
  Repr r;
  r.reduction(options.reduction());
  if (options.beta() != 1.0) r.add("beta", options.beta());
  return r.str();
}

BCELoss::BCELoss(BCELossOptions options) : Loss("BCELoss"), options(std::move(options)) {
  register_weight(*this, "weight", this->options.weight());
}
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  BCELossOptions o = options;
  o.weight(local("weight"));
  return functional::binary_cross_entropy(input, target, o);
}
std::string BCELoss::extra_repr() const {
  return Repr().weight("weight", options.weight()).reduction(options.reduction()).str();
}

BCEWithLogitsLoss::BCEWithLogitsLoss(BCEWithLogitsLossOptions options)
    : Loss("BCEWithLogitsLoss"), options(std::move(options)) {
  register_weight(*this, "weight", this->options.weight());
  register_weight(*this, "pos_weight", this->options.pos_weight());
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  BCEWithLogitsLossOptions o = options;
  o.weight(local("weight")).pos_weight(local("pos_weight"));
  return functional::binary_cross_entropy_with_logits(input, target, o);
}
std::string BCEWithLogitsLoss::extra_repr() const {
  return Repr()
      .weight("weight", options.weight())
      .weight("pos_weight", options.pos_weight())
      .reduction(options.reduction())
      .str();
}

}  // namespace xg::nn
