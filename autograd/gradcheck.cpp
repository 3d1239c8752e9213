// gradcheck / gradgradcheck: analytic Jacobians from the engine against central differences.
#include "autograd/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "autograd/detail/impl.hpp"
#include "autograd/engine.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

namespace {

bool report(const GradcheckOptions& o, const std::string& msg) {
  if (o.raise_exception) throw std::runtime_error(msg);
  return false;
}

Tensor call(const CheckedFn& fn, const TensorList& inputs) {
  Tensor out = fn(inputs);
  if (!out.defined()) fail("gradcheck: the function returned an undefined tensor");
  if (out.dtype() != Dtype::float64)
    fail("gradcheck: the function returned ", dtype_name(out.dtype()), "; use float64 throughout");
  return out;
}
}  // namespace

bool gradcheck(const CheckedFn& fn, const TensorList& inputs, GradcheckOptions o) {
  TensorList diff;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check_defined("gradcheck", inputs[i]);
    if (!inputs[i].requires_grad()) continue;
    if (inputs[i].dtype() != Dtype::float64)
      fail("gradcheck: input ", i, " (shape ", inputs[i].shape(),
           ") is float32; finite differences need float64 inputs");
    diff.push_back(inputs[i]);
    which.push_back(i);
  }
  if (diff.empty()) fail("gradcheck: no input requires grad");
  const Tensor out = call(fn, inputs);
  const std::size_t rows = out.numel();

  // Analytic Jacobian, one row per output element: grad of out[r] w.r.t. every input.
  std::vector<std::vector<double>> analytic(diff.size());
  for (std::size_t k = 0; k < diff.size(); ++k) analytic[k].assign(rows * diff[k].numel(), 0.0);
  if (out.requires_grad())
    for (std::size_t r = 0; r < rows; ++r) {
      Tensor go = zeros(out.shape(), Dtype::float64);
      go.data_ptr<double>()[r] = 1.0;
      TensorList g = grad({out}, diff, {go}, true, false, true);
      for (std::size_t k = 0; k < diff.size(); ++k) {
        if (!g[k].defined()) continue;
        if (g[k].shape() != diff[k].shape())
          return report(o, "gradcheck: gradient of input " + std::to_string(which[k]) +
                               " has shape " + shape_str(g[k].shape()) + ", expected " +
                               shape_str(diff[k].shape()));
        const auto v = g[k].to_vector<double>();
        for (std::size_t j = 0; j < v.size(); ++j) analytic[k][r * v.size() + j] = v[j];
      }
    }

  // Numeric Jacobian by central differences, one column per input element.
  for (std::size_t k = 0; k < diff.size(); ++k) {
    double* x = diff[k].data_ptr<double>();
    const std::size_t cols = diff[k].numel();
    double worst = 0, worst_a = 0, worst_n = 0;
    std::size_t worst_r = 0, worst_j = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      const double saved = x[j];
      std::vector<double> plus, minus;
      {
        NoGradGuard no_grad;
        x[j] = saved + o.eps;
        plus = call(fn, inputs).to_vector<double>();
        x[j] = saved - o.eps;
        minus = call(fn, inputs).to_vector<double>();
        x[j] = saved;
      }
      for (std::size_t r = 0; r < rows; ++r) {
        const double num = (plus[r] - minus[r]) / (2 * o.eps);
        const double ana = analytic[k][r * cols + j];
        const double excess = std::fabs(ana - num) - (o.atol + o.rtol * std::fabs(num));
        if (!(excess <= worst) || std::isnan(ana) != std::isnan(num)) {
          worst = std::isnan(excess) ? INFINITY : excess;
          worst_a = ana, worst_n = num, worst_r = r, worst_j = j;
        }
      }
    }
    if (worst > 0) {
      std::ostringstream msg;
      msg << "gradcheck: Jacobian mismatch for input " << which[k] << " (shape "
          << shape_str(diff[k].shape()) << ") at output element " << worst_r << ", input element "
          << worst_j << ": analytic " << worst_a << ", numeric " << worst_n << " (atol " << o.atol
          << ", rtol " << o.rtol << ")";
      return report(o, msg.str());
    }
  }
  return true;
}

bool gradgradcheck(const CheckedFn& fn, const TensorList& inputs, GradcheckOptions o) {
  const std::size_t n = inputs.size();
  Tensor out0 = call(fn, inputs);
  TensorList all = inputs;
  all.push_back(randn(out0.shape(), Dtype::float64).requires_grad_());
  // (inputs, v) -> the vector-Jacobian product v^T J, recorded so it can be differentiated.
  CheckedFn vjp = [&fn, n](const TensorList& args) {
    EnableGradGuard grad_mode;  // also while gradcheck evaluates it for finite differences
    TensorList in(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(n)), diff;
    for (const Tensor& t : in)
      if (t.requires_grad()) diff.push_back(t);
    Tensor out = fn(in);
    TensorList parts;
    if (out.requires_grad())
      for (const Tensor& g : grad({out}, diff, {args[n]}, true, true, true))
        if (g.defined()) parts.push_back(reshape(g, {g.numel()}));
    return parts.empty() ? zeros({1}, Dtype::float64) : cat(parts, 0);
  };
  return gradcheck(vjp, all, o);
}

}  // namespace xg
