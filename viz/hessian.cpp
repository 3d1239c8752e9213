// Curvature: Hessian-vector products by double backward, Lanczos (top-k and smallest
// eigenvalues), Hutchinson's trace, and the |lambda_min / lambda_max| map.
//
// Facts followed: the paper's code (loss-landscape, hess_vec_prod.py) takes the Hessian over the
// parameters with more than one dimension, in eval mode, and its min/max eigenvalues by ARPACK
// (eigsh, which='LM', tol 1e-2) with a shift of 0.51 lambda_max for the smallest. PyHessian
// (hessian.py) records the gradient once with create_graph for a single batch and reuses it for
// every product, stops the trace at a relative change of the running mean below tol, and draws
// Rademacher vectors for Hutchinson's estimator.
//
// This TU includes xtensor-blas (eigh of the small tridiagonal matrix), so never <cblas.h>.
#include "viz/hessian.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xtensor.hpp>

#include "autograd/autograd.hpp"
#include "autograd/extend.hpp"

namespace xg::viz {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double dot(const double* a, const double* b, std::size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// y += alpha x
void axpy(double alpha, const double* x, double* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

bool all_finite(const double* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

// Copies a tensor's elements (float32 or float64) into out[0..numel).
void tensor_to_flat(const Tensor& t, double* out) {
  dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data_ptr<T>();
    for (std::size_t i = 0, n = t.numel(); i < n; ++i) out[i] = static_cast<double>(p[i]);
  });
}

// Writes in[0..numel) into a tensor's buffer (its dtype).
void flat_to_tensor(const double* in, const Tensor& t) {
  dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data_ptr<T>();
    for (std::size_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(in[i]);
  });
}

}  // namespace

// ---------------------------------------------------------------- parameters

NamedTensors curvature_parameters(const NamedTensors& named, bool all_parameters) {
  NamedTensors out;
  std::size_t trainable = 0;
  for (const auto& [name, t] : named) {
    if (!t.defined()) fail("curvature_parameters: parameter '", name, "' is undefined");
    if (!t.requires_grad()) continue;
    if (t.dtype() != Dtype::float32 && t.dtype() != Dtype::float64)
      fail("curvature_parameters: parameter '", name, "' has dtype ", dtype_name(t.dtype()),
           ", expected float32 or float64");
    ++trainable;
    if (all_parameters || t.dim() > 1) out.emplace_back(name, t);
  }
  if (out.empty()) {
    if (trainable == 0)
      fail("curvature_parameters: none of the ", named.size(),
           " tensors given requires grad (pass the model's named_parameters())");
    fail("curvature_parameters: none of the ", trainable,
         " parameters has more than one dimension; pass all_parameters(true) to include biases "
         "and BatchNorm parameters");
  }
  return out;
}

// ---------------------------------------------------------------- Hessian-vector products

struct HessianOperator::Impl {
  // One weighted term of the loss and its recorded gradient graph.
  struct Term {
    LossFn loss;
    double weight = 1.0;
    TensorList grads;  // dloss/dparams recorded with create_graph (empty when not recorded)
    std::vector<std::uint32_t> versions;  // the parameters' versions when grads was recorded
    double value = std::numeric_limits<double>::quiet_NaN();
  };
  std::vector<Term> terms;
  TensorList params;
  bool reuse = true;
  std::size_t size = 0;
  TensorList vbuf;  // grad_outputs of the second backward, reused between products
  std::int64_t count = 0;

  void record(Term& t) {
    EnableGradGuard enable;
    Tensor l = t.loss();
    if (!l.defined()) fail("hvp: the loss function returned an undefined tensor");
    if (l.numel() != 1) fail("hvp: the loss must be a scalar, got shape ", l.shape());
    check_floating("hvp", l);
    t.value = l.item<double>();
    if (!l.requires_grad())
      fail(
          "hvp: the loss does not depend on the parameters (it does not require grad); is the "
          "closure run under NoGradGuard or on detached parameters?");
    t.grads = grad({l}, params, {}, true, true, true);
    t.versions.clear();
    for (const Tensor& p : params) t.versions.push_back(p.version());
  }

  // True when a parameter was modified in place since the term's graph was recorded.
  bool moved(const Term& t) const {
    for (std::size_t i = 0; i < params.size(); ++i)
      if (params[i].version() != t.versions[i]) return true;
    return false;
  }

  // H_t v for one term (undefined entries for parameters its gradient does not depend on).
  TensorList term_product(Term& t, const TensorList& v) {
    if (t.grads.empty() || moved(t)) record(t);
    TensorList outs, gouts;
    for (std::size_t i = 0; i < params.size(); ++i)
      if (t.grads[i].defined() && t.grads[i].requires_grad()) {
        outs.push_back(t.grads[i]);
        gouts.push_back(v[i]);
      }
    TensorList hv(params.size());
    if (!outs.empty()) {
      EnableGradGuard enable;
      try {
        hv = grad(outs, params, gouts, reuse, false, true);
      } catch (const std::exception& e) {
        t.grads.clear();
        throw std::runtime_error(std::string("hvp: ") + e.what());
      }
    }
    if (!reuse) t.grads.clear();
    return hv;
  }

  // H v = sum_t w_t H_t v for tensors parallel to params.
  TensorList product(const TensorList& v) {
    TensorList total(params.size());
    for (Term& t : terms) {
      TensorList hv = term_product(t, v);
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (!hv[i].defined()) continue;
        if (!total[i].defined())
          total[i] = t.weight == 1.0 ? hv[i] : hv[i] * t.weight;
        else
          total[i].add_(hv[i], t.weight);
      }
    }
    for (std::size_t i = 0; i < params.size(); ++i)
      if (!total[i].defined()) total[i] = zeros_like(params[i]);
    ++count;
    return total;
  }
};

HessianOperator::HessianOperator(LossFn loss, TensorList params, bool reuse_graph)
    : HessianOperator(std::vector<LossFn>{std::move(loss)}, {1.0}, std::move(params), reuse_graph) {
}

HessianOperator::HessianOperator(std::vector<LossFn> terms, std::vector<double> weights,
                                 TensorList params, bool reuse_graph)
    : impl_(std::make_unique<Impl>()) {
  if (terms.empty()) fail("HessianOperator: no loss terms given");
  if (weights.size() != terms.size())
    fail("HessianOperator: ", terms.size(), " loss terms but ", weights.size(), " weights");
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (!terms[i]) fail("HessianOperator: loss term ", i, " is empty");
    if (!std::isfinite(weights[i]))
      fail("HessianOperator: weight ", i, " of the loss terms is ", weights[i]);
    impl_->terms.push_back({std::move(terms[i]), weights[i], {}, {}, {}});
  }
  if (params.empty()) fail("HessianOperator: no parameters given");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!p.defined()) fail("HessianOperator: parameter ", i, " is undefined");
    check_floating("HessianOperator", p);
    if (!p.requires_grad() || !p.is_leaf())
      fail("HessianOperator: parameter ", i, " (shape ", p.shape(),
           ") must be a leaf that requires grad");
    impl_->size = checked_add("HessianOperator", impl_->size, p.numel());
    impl_->vbuf.push_back(empty(p.shape(), p.dtype()));
  }
  impl_->params = std::move(params);
  impl_->reuse = reuse_graph;
}

HessianOperator::~HessianOperator() = default;

std::size_t HessianOperator::size() const { return impl_->size; }
std::int64_t HessianOperator::products() const { return impl_->count; }
double HessianOperator::loss_value() const {
  double v = 0;
  for (const auto& t : impl_->terms) v += t.weight * t.value;
  return v;
}
void HessianOperator::reset() {
  for (auto& t : impl_->terms) t.grads.clear();
}

void HessianOperator::apply(const double* v, double* out) {
  std::size_t off = 0;
  for (const Tensor& b : impl_->vbuf) {
    flat_to_tensor(v + off, b);
    bump_version(b);
    off += b.numel();
  }
  TensorList hv = impl_->product(impl_->vbuf);
  off = 0;
  for (const Tensor& h : hv) {
    tensor_to_flat(h, out + off);
    off += h.numel();
  }
}

TensorList HessianOperator::apply(const TensorList& v) {
  const TensorList& ps = impl_->params;
  if (v.size() != ps.size())
    fail("HessianOperator::apply: got ", v.size(), " vectors for ", ps.size(), " parameters");
  TensorList vv;
  for (std::size_t i = 0; i < v.size(); ++i) {
    check_defined("HessianOperator::apply", v[i]);
    if (v[i].shape() != ps[i].shape())
      fail("HessianOperator::apply: vector ", i, " has shape ", v[i].shape(), ", parameter ", i,
           " has shape ", ps[i].shape());
    check_floating("HessianOperator::apply", v[i]);
    vv.push_back(v[i].detach().to(ps[i].dtype()));
  }
  return impl_->product(vv);
}

TensorList hvp(const LossFn& loss, const TensorList& params, const TensorList& v) {
  HessianOperator op(loss, params, false);
  try {
    return op.apply(v);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("hvp: ") + e.what());  // names the caller's function
  }
}

// ---------------------------------------------------------------- Lanczos

void HessianOptions::validate(const char* where) const {
  if (top_k_ < 1) fail(where, ": top_k must be at least 1, got 0");
  if (max_iter_ < top_k_)
    fail(where, ": max_iter ", max_iter_, " is smaller than top_k ", top_k_,
         " (Lanczos needs at least top_k steps)");
  if (!(tol_ > 0) || !std::isfinite(tol_))
    fail(where, ": tol must be positive and finite, got ", tol_);
}

namespace {

// The Lanczos basis: row j of a [capacity, n] array, grown by doubling.
class Basis {
 public:
  explicit Basis(std::size_t n) : n_(n) {}
  std::size_t rows() const { return rows_; }
  double* row(std::size_t j) { return data_.get() + j * n_; }
  const double* row(std::size_t j) const { return data_.get() + j * n_; }
  double* push() {
    if (rows_ == cap_) {  // uninitialized storage: rows are written before they are read
      const std::size_t cap = std::max<std::size_t>(8, cap_ * 2);
      std::unique_ptr<double[]> grown(new double[checked_mul("hessian_eigenvalues", cap, n_)]);
      if (rows_ > 0) std::copy(data_.get(), data_.get() + rows_ * n_, grown.get());
      data_ = std::move(grown);
      cap_ = cap;
    }
    return row(rows_++);
  }
  // One classical Gram-Schmidt pass, w -= V (V^T w), by two BLAS gemv over the basis
  // (row-major [rows, n]); adds the coefficients V^T w to coef (size rows()).
  void project_out(double* w, std::vector<double>& coef) const {
    if (rows_ == 0) return;
    std::vector<double> c(rows_);
    const int r = static_cast<int>(rows_), n = static_cast<int>(n_);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, r, n, 1.0, data_.get(), n, w, 1, 0.0, c.data(), 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, r, n, -1.0, data_.get(), n, c.data(), 1, 1.0, w, 1);
    for (std::size_t j = 0; j < rows_; ++j) coef[j] += c[j];
  }
  // Full reorthogonalization of w against the basis: one pass, and a second one when the first
  // removed more than 1 - 1/sqrt(2) of the norm (Daniel-Gragg-Kaufman-Stewart: "twice is
  // enough"). Returns the coefficients removed.
  std::vector<double> orthogonalize(double* w) const {
    std::vector<double> coef(rows_, 0.0);
    const double before = std::sqrt(dot(w, w, n_));
    project_out(w, coef);
    if (std::sqrt(dot(w, w, n_)) < 0.7071 * before) project_out(w, coef);
    return coef;
  }

 private:
  std::size_t n_, rows_ = 0, cap_ = 0;
  std::unique_ptr<double[]> data_;
};

struct Ritz {
  std::vector<double> theta;  // ascending
  xt::xtensor<double, 2> s;   // columns: eigenvectors of T
};

// Eigen-decomposition of the symmetric tridiagonal T (alpha on the diagonal, beta beside it).
Ritz tridiagonal_eigh(const std::vector<double>& alpha, const std::vector<double>& beta) {
  const std::size_t m = alpha.size();
  xt::xtensor<double, 2> t = xt::zeros<double>({m, m});
  for (std::size_t i = 0; i < m; ++i) {
    t(i, i) = alpha[i];
    if (i + 1 < m) t(i, i + 1) = t(i + 1, i) = beta[i];
  }
  auto [w, v] = xt::linalg::eigh(t);
  Ritz r;
  r.theta.assign(w.begin(), w.end());
  r.s = v;
  return r;
}

struct LanczosOut {
  HessianEigen result;
  bool nonfinite = false;  // H v was not finite (the result is NaN)
  std::vector<std::vector<double>> top_vectors;
  std::vector<double> smallest_vector;
};

// Lanczos with full reorthogonalization on the Hessian operator. The top-k eigenvalues are the
// largest Ritz values of the tridiagonal T_m = V_m^T H V_m. The smallest eigenvalue is T_m's
// smallest Ritz value from the same run, not a second run on H - sigma I: a Krylov space does not
// change under a shift (K_m(H - sigma I, v) = K_m(H, v)), so Lanczos on the shifted matrix would
// compute the same Ritz values minus sigma at the cost of a second set of products. The shift of
// the paper's code (0.51 lambda_max) is what ARPACK's which='LM' (largest magnitude) needs to
// reach the negative end; Lanczos reads both ends of the spectrum off T_m directly. The run goes
// on until the smallest Ritz pair's residual meets the tolerance too.
LanczosOut lanczos(HessianOperator& op, const HessianOptions& o, const char* where,
                   bool want_vectors) {
  o.validate(where);
  const auto t0 = Clock::now();
  const std::size_t n = op.size();
  if (o.top_k() > n)
    fail(where, ": top_k ", o.top_k(), " exceeds the dimension of the Hessian (", n, ")");
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    fail(where, ": the Hessian's dimension ", n, " exceeds what BLAS takes (2^31 - 1)");
  const std::size_t max_steps = std::min(o.max_iter(), n);
  const std::size_t k = o.top_k();

  LanczosOut out;
  HessianEigen& res = out.result;
  res.dim = n;
  std::mt19937_64 rng(o.seed());
  std::normal_distribution<double> normal;
  Basis basis(n);
  std::vector<double> w(n), alpha, beta;

  // A new unit start vector orthogonal to the basis; false when none is left.
  auto start = [&]() -> bool {
    for (int attempt = 0; attempt < 3; ++attempt) {
      for (double& x : w) x = normal(rng);
      basis.orthogonalize(w.data());
      const double nrm = std::sqrt(dot(w.data(), w.data(), n));
      if (nrm > 1e-8 * std::sqrt(static_cast<double>(n))) {
        double* v = basis.push();
        for (std::size_t i = 0; i < n; ++i) v[i] = w[i] / nrm;
        return true;
      }
    }
    return false;
  };
  start();

  Ritz ritz;
  std::vector<double> resid;
  double tnorm = 0;
  for (std::size_t j = 0;; ++j) {
    const double* vj = basis.row(j);
    op.apply(vj, w.data());
    if (!all_finite(w.data(), n)) {
      out.nonfinite = true;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      res.eigenvalues.assign(k, nan);
      res.residuals.assign(k, nan);
      res.smallest = res.smallest_residual = nan;
      res.iterations = j + 1;
      res.seconds = seconds_since(t0);
      return out;
    }
    // Three-term recurrence, w = H v_j - alpha_j v_j - beta_{j-1} v_{j-1}, then full
    // reorthogonalization against every basis vector (it removes rounding-level components, so
    // one pass usually suffices; its correction to alpha_j is kept).
    double aj = dot(vj, w.data(), n);
    axpy(-aj, vj, w.data(), n);
    if (j > 0 && beta.back() != 0.0) axpy(-beta.back(), basis.row(j - 1), w.data(), n);
    aj += basis.orthogonalize(w.data())[j];
    alpha.push_back(aj);
    double b = std::sqrt(dot(w.data(), w.data(), n));

    const std::size_t m = alpha.size();
    res.iterations = m;
    // Gershgorin bound on ||T||: the scale of "b ~ 0".
    tnorm = std::max(tnorm, std::abs(aj) + b + (j > 0 ? beta.back() : 0.0));
    // Invariant subspace (b ~ 0): every Ritz value of this block is exact. Restart with a random
    // vector orthogonal to the basis (a repeated eigenvalue is found once per start vector), with
    // beta = 0 between the blocks.
    const bool breakdown = b <= 1e-10 * std::max(tnorm, std::numeric_limits<double>::min());
    // T's eigenproblem costs O(m^3): solved at every step up to 64, then every m/32 steps.
    const bool last = m >= max_steps;
    if (!breakdown && !(last || m <= 64 || m % (m / 32) == 0)) {
      beta.push_back(b);
      double* v = basis.push();
      for (std::size_t i = 0; i < n; ++i) v[i] = w[i] / b;
      continue;
    }
    ritz = tridiagonal_eigh(alpha, beta);
    double scale = 0;
    for (double th : ritz.theta) scale = std::max(scale, std::abs(th));
    // Residual of Ritz pair i: ||H y_i - theta_i y_i|| = b |s_{m-1, i}| (b = beta_j).
    resid.assign(m, 0.0);
    for (std::size_t i = 0; i < m; ++i) resid[i] = b * std::abs(ritz.s(m - 1, i));
    bool done = m >= k;
    for (std::size_t i = 0; done && i < k; ++i) done = resid[m - 1 - i] <= o.tol() * scale;
    if (o.smallest()) done = done && resid[0] <= o.tol() * scale;
    if (last || (done && !breakdown)) {
      res.converged = done || m == n;
      break;
    }
    if (breakdown) {
      if (!start()) {
        res.converged = true;  // the whole space is spanned
        break;
      }
      beta.push_back(0.0);
    } else {
      beta.push_back(b);
      double* v = basis.push();
      for (std::size_t i = 0; i < n; ++i) v[i] = w[i] / b;
    }
  }

  const std::size_t m = alpha.size();
  const std::size_t kk = std::min(k, m);
  for (std::size_t i = 0; i < kk; ++i) {
    res.eigenvalues.push_back(ritz.theta[m - 1 - i]);
    res.residuals.push_back(resid[m - 1 - i]);
  }
  res.smallest = ritz.theta[0];
  res.smallest_residual = resid[0];
  if (want_vectors) {
    auto ritz_vector = [&](std::size_t col) {
      std::vector<double> y(n, 0.0);
      for (std::size_t r = 0; r < m; ++r) axpy(ritz.s(r, col), basis.row(r), y.data(), n);
      return y;
    };
    for (std::size_t i = 0; i < kk; ++i) out.top_vectors.push_back(ritz_vector(m - 1 - i));
    if (o.smallest()) out.smallest_vector = ritz_vector(0);
  }
  res.seconds = seconds_since(t0);
  return out;
}

TensorList unflatten(const std::vector<double>& flat, const TensorList& like) {
  TensorList out;
  std::size_t off = 0;
  for (const Tensor& p : like) {
    Tensor t = empty(p.shape(), p.dtype());
    flat_to_tensor(flat.data() + off, t);
    off += p.numel();
    out.push_back(t);
  }
  return out;
}

TensorList tensors_of(const NamedTensors& named) {
  TensorList out;
  for (const auto& nt : named) out.push_back(nt.second);
  return out;
}

}  // namespace

HessianEigen hessian_eigenvalues(HessianOperator& op, const HessianOptions& options) {
  LanczosOut out = lanczos(op, options, "hessian_eigenvalues", false);
  if (out.nonfinite)
    fail("hessian_eigenvalues: a Hessian-vector product is not finite after ",
         out.result.iterations, " steps (loss ", op.loss_value(), ")");
  return out.result;
}

HessianEigen hessian_eigenvalues(const LossFn& loss, const NamedTensors& params,
                                 const HessianOptions& options) {
  options.validate("hessian_eigenvalues");
  NamedTensors chosen = curvature_parameters(params, options.all_parameters());
  TensorList ps = tensors_of(chosen);
  HessianOperator op(loss, ps, options.reuse_graph());
  LanczosOut out = lanczos(op, options, "hessian_eigenvalues", options.eigenvectors());
  if (out.nonfinite)
    fail("hessian_eigenvalues: a Hessian-vector product is not finite after ",
         out.result.iterations, " steps (loss ", op.loss_value(), ")");
  HessianEigen res = std::move(out.result);
  for (const auto& nt : chosen) res.parameters.push_back(nt.first);
  for (const auto& y : out.top_vectors) res.eigenvectors.push_back(unflatten(y, ps));
  if (!out.smallest_vector.empty()) res.smallest_eigenvector = unflatten(out.smallest_vector, ps);
  return res;
}

// ---------------------------------------------------------------- Hutchinson

void TraceOptions::validate(const char* where) const {
  if (max_samples_ < 1) fail(where, ": max_samples must be at least 1, got 0");
  if (!(tol_ >= 0) || !std::isfinite(tol_))
    fail(where, ": tol must be finite and at least 0, got ", tol_);
}

HessianTrace hessian_trace(HessianOperator& op, const TraceOptions& o) {
  o.validate("hessian_trace");
  const auto t0 = Clock::now();
  const std::size_t n = op.size();
  std::mt19937_64 rng(o.seed());
  std::vector<double> v(n), hv(n);
  HessianTrace res;
  double sum = 0, prev_mean = 0;
  for (std::size_t s = 0; s < o.max_samples(); ++s) {
    // Rademacher entries (+1 or -1 with equal probability), 64 per draw.
    for (std::size_t i = 0; i < n; i += 64) {
      std::uint64_t bits = rng();
      for (std::size_t b = i; b < std::min(n, i + 64); ++b, bits >>= 1)
        v[b] = (bits & 1) ? 1.0 : -1.0;
    }
    op.apply(v.data(), hv.data());
    const double q = dot(v.data(), hv.data(), n);
    if (!std::isfinite(q))
      fail("hessian_trace: v^T H v is not finite at sample ", s + 1, " (loss ", op.loss_value(),
           ")");
    res.values.push_back(q);
    sum += q;
    const double mean = sum / static_cast<double>(res.values.size());
    if (o.tol() > 0 && s > 0 &&
        std::abs(mean - prev_mean) / (std::abs(prev_mean) + 1e-6) < o.tol()) {
      res.converged = true;
      prev_mean = mean;
      break;
    }
    prev_mean = mean;
  }
  res.samples = res.values.size();
  res.mean = prev_mean;
  if (res.samples > 1) {
    double ss = 0;
    for (double q : res.values) ss += (q - res.mean) * (q - res.mean);
    res.std_error =
        std::sqrt(ss / static_cast<double>(res.samples - 1) / static_cast<double>(res.samples));
  }
  res.seconds = seconds_since(t0);
  return res;
}

HessianTrace hessian_trace(const LossFn& loss, const NamedTensors& params,
                           const TraceOptions& options) {
  options.validate("hessian_trace");
  HessianOperator op(loss, tensors_of(curvature_parameters(params, options.all_parameters())),
                     options.reuse_graph());
  return hessian_trace(op, options);
}

// ---------------------------------------------------------------- the ratio map

namespace {

// Puts the saved values back into the parameters when it goes out of scope.
class RestoreParams {
 public:
  explicit RestoreParams(const NamedTensors& params) : params_(params) {
    for (const auto& nt : params_) {
      std::vector<double> v(nt.second.numel());
      tensor_to_flat(nt.second, v.data());
      saved_.push_back(std::move(v));
    }
  }
  ~RestoreParams() {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      flat_to_tensor(saved_[i].data(), params_[i].second);
      bump_version(params_[i].second);
    }
  }
  const std::vector<double>& saved(std::size_t i) const { return saved_[i]; }

 private:
  const NamedTensors& params_;
  std::vector<std::vector<double>> saved_;
};

// d and e as flat vectors parallel to params, matched by name and shape.
std::vector<std::vector<double>> direction_for(const NamedTensors& params, const NamedTensors& d,
                                               const char* which) {
  for (const auto& [name, t] : d) {
    bool found = false;
    for (const auto& p : params) found = found || p.first == name;
    if (!found)
      fail("curvature_ratio_map: direction ", which, " has an entry '", name,
           "' that names none of the parameters");
  }
  std::vector<std::vector<double>> out;
  for (const auto& [name, p] : params) {
    const Tensor* t = nullptr;
    for (const auto& nt : d)
      if (nt.first == name) t = &nt.second;
    if (!t)
      fail("curvature_ratio_map: direction ", which, " has no entry for parameter '", name, "'");
    if (!t->defined())
      fail("curvature_ratio_map: direction ", which, "['", name, "'] is undefined");
    if (t->shape() != p.shape())
      fail("curvature_ratio_map: direction ", which, "['", name, "'] has shape ", t->shape(),
           ", the parameter has shape ", p.shape());
    check_floating("curvature_ratio_map", *t);
    std::vector<double> v = t->to_vector<double>();
    if (!all_finite(v.data(), v.size()))
      fail("curvature_ratio_map: direction ", which, "['", name, "'] holds NaN or inf");
    out.push_back(std::move(v));
  }
  return out;
}

void check_coords(const std::vector<double>& c, const char* which) {
  if (c.empty()) fail("curvature_ratio_map: the ", which, " coordinates are empty");
  for (double x : c)
    if (!std::isfinite(x)) fail("curvature_ratio_map: the ", which, " coordinates hold ", x);
}

std::string num(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

}  // namespace

std::vector<CurvaturePoint> curvature_ratio_map(const LossFn& loss, const NamedTensors& params,
                                                const NamedTensors& d, const NamedTensors& e,
                                                const std::vector<double>& xs,
                                                const std::vector<double>& ys,
                                                const std::string& csv_path,
                                                const CurvatureMapOptions& options) {
  const char* where = "curvature_ratio_map";
  if (!loss) fail(where, ": the loss function is empty");
  if (params.empty()) fail(where, ": no parameters given");
  check_coords(xs, "a (xs)");
  check_coords(ys, "b (ys)");
  HessianOptions ho = options.hessian();
  ho.top_k(1).smallest(true).eigenvectors(false);
  ho.validate(where);
  for (const auto& [name, p] : params) {
    if (!p.defined()) fail(where, ": parameter '", name, "' is undefined");
    check_floating(where, p);
  }
  const auto dd = direction_for(params, d, "d");
  const auto ee = direction_for(params, e, "e");
  const TensorList hess_params = tensors_of(curvature_parameters(params, ho.all_parameters()));

  const std::shared_ptr<Partition>& part = options.partition();
  const bool shared = part != nullptr && part->parts() > 1;
  const bool writer = !shared || part->part() == 0;  // writes the CSV and the progress
  std::ofstream csv;
  std::string open_error;
  if (!csv_path.empty() && writer) {
    csv.open(csv_path, std::ios::out | std::ios::trunc);
    if (!csv) open_error = std::string(where) + ": cannot write '" + csv_path + "'";
    if (csv) {
      csv << "a,b,lambda_max,lambda_min,ratio,iterations,converged\n";
      csv.flush();
    }
  }
  if (shared) {  // part 0 cannot write: every part stops
    const std::vector<std::string> all = part->all_gather(open_error);
    if (!all[0].empty()) fail(where, ": rank 0 of ", all.size(), " failed: ", all[0]);
  } else if (!open_error.empty()) {
    throw std::runtime_error(open_error);
  }

  RestoreParams restore(params);
  const std::size_t total = xs.size() * ys.size();
  std::vector<CurvaturePoint> points(total);
  const auto t0 = Clock::now();
  const bool tty = isatty(fileno(stderr)) != 0;
  std::vector<double> buf;
  // Point k of the map: b = ys[k / xs.size()] (outer), a = xs[k % xs.size()] (inner).
  auto compute = [&](std::size_t k) {
    const double a = xs[k % xs.size()], b = ys[k / xs.size()];
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::vector<double>& p0 = restore.saved(i);
      buf.resize(p0.size());
      for (std::size_t j = 0; j < p0.size(); ++j) buf[j] = p0[j] + a * dd[i][j] + b * ee[i][j];
      flat_to_tensor(buf.data(), params[i].second);
      bump_version(params[i].second);
    }
    HessianOperator op(loss, hess_params, ho.reuse_graph());
    LanczosOut out = lanczos(op, ho, where, false);
    CurvaturePoint pt;
    pt.a = a;
    pt.b = b;
    pt.lambda_max = out.result.eigenvalues[0];
    pt.lambda_min = out.result.smallest;
    pt.ratio = (pt.lambda_max != 0 && std::isfinite(pt.lambda_max) && std::isfinite(pt.lambda_min))
                   ? std::abs(pt.lambda_min / pt.lambda_max)
                   : std::numeric_limits<double>::quiet_NaN();
    pt.iterations = out.result.iterations;
    pt.converged = out.result.converged;
    return pt;
  };
  // Writes point k (the CSV row and the progress line): points go out in index order.
  auto emit = [&](std::size_t k) {
    const CurvaturePoint& pt = points[k];
    const std::size_t n = k + 1;
    if (csv.is_open()) {
      csv << num(pt.a) << ',' << num(pt.b) << ',' << num(pt.lambda_max) << ',' << num(pt.lambda_min)
          << ',' << num(pt.ratio) << ',' << pt.iterations << ',' << (pt.converged ? 1 : 0) << '\n';
      csv.flush();
      if (!csv) fail(where, ": writing '", csv_path, "' failed");
    }
    // On a terminal the line is redrawn in place; in a log, one line per grid row.
    const bool last = n == total;
    if (writer && options.progress() && (tty || n % xs.size() == 0)) {
      const double el = seconds_since(t0);
      const double eta = el / static_cast<double>(n) * static_cast<double>(total - n);
      std::ostringstream line;
      line << (tty ? "\r" : "") << "curvature map " << n << "/" << total << "  a " << num(pt.a)
           << " b " << num(pt.b) << "  lambda_max " << num(pt.lambda_max) << " lambda_min "
           << num(pt.lambda_min) << "  " << static_cast<long long>(el) << " s, ETA "
           << static_cast<long long>(eta) << " s" << (tty ? "\x1b[K" : "");
      if (!tty || last) line << "\n";
      std::cerr << line.str() << std::flush;
    }
  };
  if (!shared) {
    for (std::size_t k = 0; k < total; ++k) {
      points[k] = compute(k);
      emit(k);
    }
    return points;
  }
  // Shared: part p computes the contiguous slice p of the indices, one point per round; every
  // part gets every point; part 0 writes the rows in index order as they become contiguous.
  const auto [begin, end] = slice_of(total, part->part(), part->parts());
  std::vector<char> have(total, 0);
  std::size_t next = begin, written = 0;
  std::exception_ptr error;
  for (;;) {
    std::string msg(1, '\0');
    if (!error && next < end) {
      try {
        const CurvaturePoint pt = compute(next);
        const uint64_t k = next++;
        const uint64_t iterations = pt.iterations;
        const char converged = pt.converged ? 1 : 0;
        msg.append(reinterpret_cast<const char*>(&k), sizeof k);
        msg.append(reinterpret_cast<const char*>(&pt.lambda_max), sizeof(double));
        msg.append(reinterpret_cast<const char*>(&pt.lambda_min), sizeof(double));
        msg.append(reinterpret_cast<const char*>(&pt.ratio), sizeof(double));
        msg.append(reinterpret_cast<const char*>(&iterations), sizeof iterations);
        msg += converged;
      } catch (const std::exception& e) {
        error = std::current_exception();
        msg = std::string(1, '\1') + e.what();
      }
    }
    const std::vector<std::string> all = part->all_gather(msg);
    for (std::size_t p = 0; p < all.size(); ++p)
      if (all[p][0] == 1) {
        if (error) std::rethrow_exception(error);
        fail(where, ": rank ", p, " of ", all.size(), " failed: ", all[p].substr(1));
      }
    bool any = false;
    for (const std::string& m : all) {
      if (m.size() == 1) continue;
      any = true;
      constexpr std::size_t kSize = 8 + 3 * sizeof(double) + 8 + 1;
      if (m.size() != 1 + kSize) fail(where, ": a partition message of ", m.size(), " bytes");
      uint64_t k = 0, iterations = 0;
      const char* q = m.data() + 1;
      std::memcpy(&k, q, 8);
      if (k >= total || have[k]) fail(where, ": a shared point ", k, " out of place");
      CurvaturePoint& pt = points[k];
      pt.a = xs[k % xs.size()];
      pt.b = ys[k / xs.size()];
      std::memcpy(&pt.lambda_max, q + 8, sizeof(double));
      std::memcpy(&pt.lambda_min, q + 16, sizeof(double));
      std::memcpy(&pt.ratio, q + 24, sizeof(double));
      std::memcpy(&iterations, q + 32, 8);
      pt.iterations = static_cast<std::size_t>(iterations);
      pt.converged = q[40] != 0;
      have[k] = 1;
    }
    while (written < total && have[written]) emit(written++);
    if (!any) break;  // no part computed a point: all slices are done
  }
  return points;
}

}  // namespace xg::viz
