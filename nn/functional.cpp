// Loss functions written with differentiable Tensor ops (second derivatives work); formulas and
// conventions of PyTorch 1.13 (aten/src/ATen/native/Loss.cpp, LossNLL.cpp).
#include "nn/functional.hpp"

#include <cmath>
#include <vector>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg::nn {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::none:
      return "none";
    case Reduction::sum:
      return "sum";
    case Reduction::mean:
      break;
  }
  return "mean";
}

namespace functional {
namespace {

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::none:
      return loss;
    case Reduction::sum:
      return sum(loss);
    case Reduction::mean:
      break;
  }
  return mean(loss);
}

/// input and target defined, floating, same dtype, same shape (the elementwise losses).
void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  check_defined(op, input);
  check_defined(op, target);
  check_floating(op, input);
  check_floating(op, target);
  check_same_dtype(op, input, target);
  XG_CHECK(input.shape() == target.shape(), op, ": target shape ", target.shape(),
           " does not match input shape ", input.shape(), " (reshape one of them)");
}

/// w broadcast to input's shape without growing it, in input's dtype.
void check_weight_broadcast(const char* op, const char* what, const Tensor& w,
                            const Tensor& input) {
  if (!w.defined()) return;
  check_floating(op, w);
  XG_CHECK(w.dtype() == input.dtype(), op, ": ", what, " is ", dtype_name(w.dtype()),
           " but the input is ", dtype_name(input.dtype()));
  // right-aligned, each dim of w is 1 or the input's
  const Shape& ws = w.shape();
  const Shape& is = input.shape();
  bool ok = ws.size() <= is.size();
  for (std::size_t k = 1; ok && k <= ws.size(); ++k)
    ok = ws[ws.size() - k] == 1 || ws[ws.size() - k] == is[is.size() - k];
  XG_CHECK(ok, op, ": ", what, " shape ", ws, " does not broadcast to the input shape ", is);
}

/// Class-index targets checked and made safe for gather: ignored entries become 0.
struct ClassTargets {
  Tensor index;          // int64, target's shape, every entry in [0, C)
  Tensor mask;           // input dtype, 1 where counted, 0 where ignored (undefined: none)
  std::size_t kept = 0;  // number of non-ignored targets
};

ClassTargets class_targets(const char* op, const Tensor& input, const Tensor& target,
                           int64_t ignore_index) {
  // input [N, C, d...] (or [C] unbatched) with target [N, d...] (or []).
  XG_CHECK(input.dim() >= 1, op, ": input must have a class dimension, got a 0-d tensor");
  Shape expected = input.shape();
  const std::size_t class_dim = input.dim() == 1 ? 0 : 1;
  const std::size_t C = input.shape()[class_dim];
  expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(class_dim));
  XG_CHECK(target.shape() == expected, op, ": target shape ", target.shape(),
           " does not match input shape ", input.shape(), " (expected target shape ", expected,
           " of class indices, or ", input.shape(), " of class probabilities)");
  const std::size_t n = target.numel();
  std::vector<double> idx(n);
  std::vector<double> keep(n, 1.0);
  ClassTargets out;
  auto accept = [&](std::size_t i, double v) {
    if (!(std::floor(v) == v))
      fail(op, ": target ", v, " is not a class index (class indices are whole numbers)");
    if (v == static_cast<double>(ignore_index)) {
      keep[i] = 0.0;
      idx[i] = 0.0;
      return;
    }
    if (v < 0 || v >= static_cast<double>(C)) {
      if (std::abs(v) < 9.0e15)  // print whole numbers as integers
        fail(op, ": target ", static_cast<int64_t>(v), " is out of range for ", C, " classes");
      fail(op, ": target ", v, " is out of range for ", C, " classes");
    }
    idx[i] = v;
    ++out.kept;
  };
  if (target.dtype() == Dtype::int64) {
    const int64_t* p = target.data_ptr<int64_t>();
    for (std::size_t i = 0; i < n; ++i) {
      if (p[i] == ignore_index) {
        keep[i] = 0.0;
        continue;
      }
      if (p[i] < 0 || p[i] >= static_cast<int64_t>(C))
        fail(op, ": target ", p[i], " is out of range for ", C, " classes");
      idx[i] = static_cast<double>(p[i]);
      ++out.kept;
    }
  } else {
    dispatch(target.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = target.data_ptr<T>();
      for (std::size_t i = 0; i < n; ++i) accept(i, static_cast<double>(p[i]));
    });
  }
  out.index = tensor(idx, target.shape(), Dtype::int64);
  if (out.kept != n) out.mask = tensor(keep, target.shape(), input.dtype());
  return out;
}

void check_class_weight(const char* op, const Tensor& weight, const Tensor& input) {
  if (!weight.defined()) return;
  check_floating(op, weight);
  XG_CHECK(weight.dtype() == input.dtype(), op, ": weight is ", dtype_name(weight.dtype()),
           " but the input is ", dtype_name(input.dtype()));
  const std::size_t C = input.shape()[input.dim() == 1 ? 0 : 1];
  XG_CHECK(weight.dim() == 1 && weight.shape()[0] == C, op, ": weight shape ", weight.shape(),
           " does not match the ", C, " classes of input ", input.shape(),
           " (expected one weight per class, [", C, "])");
}

/// weight[index] of the target's shape (undefined without weights).
Tensor target_weights(const Tensor& weight, const ClassTargets& t) {
  if (!weight.defined()) return Tensor();
  return reshape(index_select(weight, 0, flatten(t.index)), t.index.shape());
}

/// The NLL part for checked targets: per-element -w[t] logp[t] (0 where ignored), reduced as
/// PyTorch (mean divides by the sum of the counted targets' weights).
Tensor nll_checked(const Tensor& logp, const ClassTargets& t, const Tensor& weight,
                   Reduction reduction) {
  const int64_t class_dim = logp.dim() == 1 ? 0 : 1;
  // picked [N, d...] = logp[n, t[n, d...], d...]
  Tensor picked = squeeze(gather(logp, class_dim, unsqueeze(t.index, class_dim)), class_dim);
  Tensor w = target_weights(weight, t);
  Tensor loss = w.defined() ? -(picked * w) : -picked;
  if (t.mask.defined()) loss = where(t.mask, loss, zeros_like(loss));
  if (reduction == Reduction::none) return loss;
  Tensor total = sum(loss);
  if (reduction == Reduction::sum) return total;
  if (w.defined()) return total / sum(t.mask.defined() ? w * t.mask : w);
  return total / static_cast<double>(t.kept);  // 0 kept: 0 / 0 = nan, as PyTorch
}

void check_reduction(const char* op, Reduction r) {
  XG_CHECK(r == Reduction::none || r == Reduction::mean || r == Reduction::sum, op,
           ": unknown reduction ", static_cast<int>(r));
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options) {
  const char* op = "nll_loss";
  check_defined(op, input);
  check_defined(op, target);
  check_floating(op, input);
  check_reduction(op, options.reduction());
  ClassTargets t = class_targets(op, input, target, options.ignore_index());
  check_class_weight(op, options.weight(), input);
  return nll_checked(input, t, options.weight(), options.reduction());
}

Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyLossOptions& options) {
  const char* op = "cross_entropy";
  check_defined(op, input);
  check_defined(op, target);
  check_floating(op, input);
  check_reduction(op, options.reduction());
  XG_CHECK(input.dim() >= 1, op, ": input must have a class dimension, got a 0-d tensor");
  const double eps = options.label_smoothing();
  XG_CHECK(eps >= 0.0 && eps <= 1.0, op, ": label_smoothing must be between 0.0 and 1.0, got ",
           eps);
  check_class_weight(op, options.weight(), input);
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const std::size_t C = input.shape()[static_cast<std::size_t>(class_dim)];
  const Tensor& weight = options.weight();
  // weight viewed as [1, C, 1, ...] to broadcast against input
  auto weight_view = [&] {
    Shape s(input.dim(), 1);
    s[static_cast<std::size_t>(class_dim)] = C;
    return reshape(weight, s);
  };

  XG_CHECK(!(target.shape() == input.shape() && target.dtype() == Dtype::int64), op,
           ": target has the input's shape ", input.shape(),
           " but is int64; probability targets are float32 or float64");
  if (target.shape() == input.shape()) {
    // Probability targets: -sum_j p_j log q_j per sample.
    XG_CHECK(target.dtype() == input.dtype(), op, ": probability target is ",
             dtype_name(target.dtype()), " but the input is ", dtype_name(input.dtype()));
    XG_CHECK(options.ignore_index() < 0, op,
             ": ignore_index is not supported with probability targets (got ",
             options.ignore_index(), ")");
    Tensor logq = log_softmax(input, class_dim);
    Tensor p = eps > 0.0 ? target * (1.0 - eps) + eps / static_cast<double>(C) : target;
    Tensor prod = logq * p;
    if (weight.defined()) prod = prod * weight_view();
    switch (options.reduction()) {
      case Reduction::none:
        return -sum(prod, {class_dim});
      case Reduction::sum:
        return -sum(prod);
      case Reduction::mean:
        break;
    }
    // mean over the N * d1 * ... samples (nan when there are none, as PyTorch)
    const double samples = C == 0 ? 0.0 : static_cast<double>(input.numel() / C);
    return -sum(prod) / samples;
  }

  ClassTargets t = class_targets(op, input, target, options.ignore_index());
  Tensor logp = log_softmax(input, class_dim);
  Tensor nll = nll_checked(logp, t, weight, options.reduction());
  if (eps == 0.0) return nll;
  // Label smoothing: (1 - eps) * nll + eps / C * smooth, smooth = -sum_j w_j logp_j per sample
  // (0 where ignored), mean divided by the same denominator as nll.
  Tensor smooth = -sum(weight.defined() ? logp * weight_view() : logp, {class_dim});
  if (t.mask.defined()) smooth = where(t.mask, smooth, zeros_like(smooth));
  Tensor ret;
  switch (options.reduction()) {
    case Reduction::none:
      ret = smooth;
      break;
    case Reduction::sum:
      ret = sum(smooth);
      break;
    case Reduction::mean: {
      Tensor w = target_weights(weight, t);
      if (w.defined())
        ret = sum(smooth) / sum(t.mask.defined() ? w * t.mask : w);
      else
        ret = sum(smooth) / static_cast<double>(t.kept);
      break;
    }
  }
  return nll * (1.0 - eps) + ret * (eps / static_cast<double>(C));
}

Tensor mse_loss(const Tensor& input, const Tensor& target, const MSELossOptions& options) {
  check_pair("mse_loss", input, target);
  check_reduction("mse_loss", options.reduction());
  Tensor d = input - target;
  return reduce(d * d, options.reduction());
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossOptions& options) {
  check_pair("l1_loss", input, target);
  check_reduction("l1_loss", options.reduction());
  return reduce(abs(input - target), options.reduction());
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      const SmoothL1LossOptions& options) {
  const char* op = "smooth_l1_loss";
  check_pair(op, input, target);
  check_reduction(op, options.reduction());
  const double beta = options.beta();
  XG_CHECK(beta >= 0.0, op, ": beta must be >= 0, got ", beta);
  Tensor d = abs(input - target);
  if (beta == 0.0) return reduce(d, options.reduction());
  // |d| < beta: 0.5 d^2 / beta; else |d| - 0.5 beta
  Tensor loss = where(lt(d, beta), d * d * (0.5 / beta), d - 0.5 * beta);
  return reduce(loss, options.reduction());
}

namespace {
/// -(y log p + (1 - y) log(1 - p)) elementwise, each log clamped at -100, with PyTorch's
/// gradients: d/dp = (p - y) / max(p (1 - p), 1e-12f), which is 0 where p equals a target of 0
/// or 1 (the derivative of the clamped logs would be 1 or -1 there), large and finite (not nan)
/// at p = 0 or 1 against another target (PyTorch's epsilon is the float 1e-12f); d/dy =
/// log(1 - p) - log(p), clamped. Written with Tensor ops, so second derivatives work.
struct BinaryCrossEntropyFn : Function<BinaryCrossEntropyFn> {
  static constexpr const char* name = "BinaryCrossEntropy";
  static Tensor forward(AutogradContext& ctx, const Tensor& p, const Tensor& y) {
    ctx.save_for_backward({p, y});
    return -(y * clamp(log(p), -100.0, std::nullopt) +
             (1.0 - y) * clamp(log(1.0 - p), -100.0, std::nullopt));
  }
  static TensorList backward(AutogradContext& ctx, const TensorList& grad) {
    const TensorList saved = ctx.get_saved_variables();
    const Tensor& p = saved[0];
    const Tensor& y = saved[1];
    Tensor gp, gy;
    if (ctx.needs_input_grad(0))
      gp = grad[0] * (p - y) / clamp(p * (1.0 - p), static_cast<double>(1e-12f), std::nullopt);
    if (ctx.needs_input_grad(1))
      gy = grad[0] *
           (clamp(log(1.0 - p), -100.0, std::nullopt) - clamp(log(p), -100.0, std::nullopt));
    return {gp, gy};
  }
};
}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BCELossOptions& options) {
  const char* op = "binary_cross_entropy";
  check_pair(op, input, target);
  check_reduction(op, options.reduction());
  check_weight_broadcast(op, "weight", options.weight(), input);
  {
    bool ok = true;
    double bad = 0.0;
    dispatch(input.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = input.data_ptr<T>();
      for (std::size_t i = 0, n = input.numel(); i < n && ok; ++i)
        if (!(p[i] >= T(0) && p[i] <= T(1))) ok = false, bad = static_cast<double>(p[i]);
    });
    XG_CHECK(ok, op, ": input ", bad,
             " is not a probability (all elements of input should be between 0 and 1; use "
             "binary_cross_entropy_with_logits for logits)");
  }
  Tensor loss = BinaryCrossEntropyFn::apply(input, target);
  if (options.weight().defined()) loss = loss * options.weight();
  return reduce(loss, options.reduction());
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsLossOptions& options) {
  const char* op = "binary_cross_entropy_with_logits";
  check_pair(op, input, target);
  check_reduction(op, options.reduction());
  check_weight_broadcast(op, "weight", options.weight(), input);
  check_weight_broadcast(op, "pos_weight", options.pos_weight(), input);
  // PyTorch's stable form: m = max(-x, 0);
  // loss = (1 - y) x + lw (log(exp(-m) + exp(-x - m)) + m), lw = (pos_weight - 1) y + 1
  Tensor m = clamp(-input, 0.0, std::nullopt);
  Tensor softplus_neg = log(exp(-m) + exp(-input - m)) + m;  // log(1 + exp(-x))
  Tensor loss = (1.0 - target) * input;
  if (options.pos_weight().defined())
    loss = loss + ((options.pos_weight() - 1.0) * target + 1.0) * softplus_neg;
  else
    loss = loss + softplus_neg;
  if (options.weight().defined()) loss = loss * options.weight();
  return reduce(loss, options.reduction());
}

}  // namespace functional
}  // namespace xg::nn
