// viz/hessian: Hessian-vector products against closed forms and a dense Hessian built column by
// column from double backward (itself checked against finite differences of the gradient),
// Lanczos' top-k and smallest eigenvalues against LAPACK's eigh of that matrix, Hutchinson's
// trace, the parameter filter, the twice-differentiable MLP path, a tiny CNN (conv2d and pooling)
// against its dense Hessian, and the curvature map's CSV and parameter restoration.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xtensor.hpp>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"
#include "viz/viz.hpp"

using namespace xg;
namespace F = xg::nn::functional;

namespace {

// A = Q diag(lambda) Q^T with Q the product of two Householder reflections: a dense symmetric
// matrix whose eigenvalues are exactly `lambda`.
std::vector<double> symmetric_with_eigenvalues(const std::vector<double>& lambda) {
  const std::size_t n = lambda.size();
  std::vector<double> q(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) q[i * n + i] = 1.0;
  for (int r = 0; r < 2; ++r) {
    std::vector<double> u = randn({n}, Dtype::float64).to_vector<double>();
    double uu = 0;
    for (double x : u) uu += x * x;
    std::vector<double> qn(n * n);  // Q <- Q (I - 2 u u^T / u^T u)
    for (std::size_t i = 0; i < n; ++i) {
      double qu = 0;
      for (std::size_t k = 0; k < n; ++k) qu += q[i * n + k] * u[k];
      for (std::size_t j = 0; j < n; ++j) qn[i * n + j] = q[i * n + j] - 2 * qu * u[j] / uu;
    }
    q = qn;
  }
  std::vector<double> a(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < n; ++k) a[i * n + j] += q[i * n + k] * lambda[k] * q[j * n + k];
  return a;
}

// 0.5 x^T A x as a loss of the leaf x [n].
viz::LossFn quadratic(const Tensor& a, const Tensor& x) {
  return [a, x] { return 0.5 * sum(x * matmul(a, x)); };
}

// Linear(3, 4) - tanh - Linear(4, 2), cross-entropy on 8 samples, float64.
struct Tiny {
  std::shared_ptr<nn::Linear> fc1, fc2;
  Tensor x, y;
  Tiny() {
    manual_seed(3);
    fc1 = std::make_shared<nn::Linear>(3, 4);
    fc2 = std::make_shared<nn::Linear>(4, 2);
    fc1->to(Dtype::float64);
    fc2->to(Dtype::float64);
    x = randn({8, 3}, Dtype::float64);
    y = tensor({0, 1, 1, 0, 1, 0, 0, 1}, {8}, Dtype::int64);
  }
  viz::NamedTensors params() const {
    viz::NamedTensors out;
    for (auto& [n, t] : fc1->named_parameters()) out.emplace_back("fc1." + n, t);
    for (auto& [n, t] : fc2->named_parameters()) out.emplace_back("fc2." + n, t);
    return out;
  }
  viz::LossFn loss() const {
    return [this] { return F::cross_entropy((*fc2)(tanh((*fc1)(x))), y); };
  }
};

// The dense Hessian [n, n] of loss() over `ps`, one column per double backward with a unit vector.
std::vector<double> dense_hessian(const viz::LossFn& loss, const TensorList& ps) {
  TensorList g = grad({loss()}, ps, {}, true, true);
  std::size_t n = 0;
  for (const Tensor& p : ps) n += p.numel();
  std::vector<double> h(n * n);
  std::size_t col = 0;
  for (std::size_t i = 0; i < ps.size(); ++i)
    for (std::size_t k = 0; k < ps[i].numel(); ++k, ++col) {
      TensorList e;
      for (std::size_t j = 0; j < ps.size(); ++j) e.push_back(zeros_like(ps[j]));
      e[i].data_ptr<double>()[k] = 1.0;
      TensorList hc = grad(g, ps, e, true, false, true);
      std::size_t row = 0;
      for (std::size_t j = 0; j < ps.size(); ++j) {
        std::vector<double> v =
            hc[j].defined() ? hc[j].to_vector<double>() : std::vector<double>(ps[j].numel(), 0.0);
        for (double x : v) h[row++ * n + col] = x;
      }
    }
  return h;
}

std::vector<double> eigvals_ascending(const std::vector<double>& h) {
  const std::size_t n = static_cast<std::size_t>(std::llround(std::sqrt(h.size())));
  xt::xtensor<double, 2> m = xt::zeros<double>({n, n});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) m(i, j) = h[i * n + j];
  auto [w, v] = xt::linalg::eigh(m);
  return std::vector<double>(w.begin(), w.end());
}

TensorList tensors_of(const viz::NamedTensors& nt) {
  TensorList out;
  for (auto& p : nt) out.push_back(p.second);
  return out;
}

std::vector<std::vector<double>> snapshot(const viz::NamedTensors& nt) {
  std::vector<std::vector<double>> out;
  for (auto& p : nt) out.push_back(p.second.to_vector<double>());
  return out;
}

}  // namespace

TEST_CASE("hvp: 0.5 x^T A x gives A v, with and without reusing the gradient graph") {
  manual_seed(1);
  const std::size_t n = 5;
  std::vector<double> av = symmetric_with_eigenvalues({3, -1, 0.5, 2, 7});
  Tensor a = tensor(av, {n, n}, Dtype::float64);
  Tensor x = randn({n}, Dtype::float64).requires_grad_();
  Tensor v = randn({n}, Dtype::float64);
  std::vector<double> want = matmul(a, v).to_vector<double>();
  std::vector<double> got = viz::hvp(quadratic(a, x), {x}, {v})[0].to_vector<double>();
  for (std::size_t i = 0; i < n; ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));

  viz::HessianOperator op(quadratic(a, x), {x});
  for (int rep = 0; rep < 3; ++rep) {  // the recorded graph serves every product
    std::vector<double> flat = v.to_vector<double>(), out(n);
    op.apply(flat.data(), out.data());
    for (std::size_t i = 0; i < n; ++i) CHECK(out[i] == doctest::Approx(want[i]).epsilon(1e-12));
  }
  CHECK(op.products() == 3);
  CHECK(op.size() == n);
  // a float32 vector for a float64 parameter is converted; a wrong shape is refused
  CHECK(op.apply({v.to(Dtype::float32)})[0].dtype() == Dtype::float64);
  CHECK(test::error_of([&] {
          op.apply({zeros({4}, Dtype::float64)});
        }).find("vector 0 has shape [4], parameter 0 has shape [5]") != std::string::npos);
  CHECK(x.grad().defined() == false);  // leaves' .grad() untouched
}

TEST_CASE("hessian_eigenvalues: top-k and smallest of known quadratics") {
  manual_seed(2);
  SUBCASE("diagonal, with a repeated eigenvalue") {
    std::vector<double> lam = {4, -2, 9, 0.5, 9, 1, -3, 6};
    const std::size_t n = lam.size();
    std::vector<double> av(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) av[i * n + i] = lam[i];
    Tensor a = tensor(av, {n, n}, Dtype::float64);
    Tensor x = randn({2, 4}, Dtype::float64).requires_grad_();
    auto loss = [a, x] {
      Tensor f = x.reshape({8});
      return 0.5 * sum(f * matmul(a, f));
    };
    auto r = viz::hessian_eigenvalues(loss, {{"x", x}},
                                      viz::HessianOptions().top_k(3).smallest(true).tol(1e-10));
    REQUIRE(r.eigenvalues.size() == 3);
    CHECK(r.eigenvalues[0] == doctest::Approx(9).epsilon(1e-10));
    CHECK(r.eigenvalues[1] == doctest::Approx(9).epsilon(1e-10));  // the second copy
    CHECK(r.eigenvalues[2] == doctest::Approx(6).epsilon(1e-10));
    CHECK(r.smallest == doctest::Approx(-3).epsilon(1e-10));
    CHECK(r.converged);
    CHECK(r.dim == 8);
    CHECK(r.parameters == std::vector<std::string>{"x"});
  }
  SUBCASE("random symmetric 30 x 30, eigenvectors") {
    std::vector<double> lam;
    for (int i = 0; i < 30; ++i) lam.push_back(-2.0 + 0.4 * i);  // -2 .. 9.6, spaced 0.4
    lam[29] = 20;
    lam[28] = 15;
    Tensor a = tensor(symmetric_with_eigenvalues(lam), {30, 30}, Dtype::float64);
    Tensor x = randn({30, 1}, Dtype::float64).requires_grad_();
    auto loss = [a, x] { return 0.5 * sum(x * matmul(a, x)); };
    auto r = viz::hessian_eigenvalues(
        loss, {{"x", x}},
        viz::HessianOptions().top_k(4).smallest(true).eigenvectors(true).tol(1e-9).seed(5));
    CHECK(r.converged);
    CHECK(r.iterations <= 30);
    const double want[] = {20, 15, 8.8, 8.4};  // 9.2 and 9.6 replaced
    for (int i = 0; i < 4; ++i) CHECK(r.eigenvalues[i] == doctest::Approx(want[i]).epsilon(1e-8));
    CHECK(r.smallest == doctest::Approx(-2).epsilon(1e-8));
    REQUIRE(r.eigenvectors.size() == 4);
    for (int i = 0; i < 4; ++i) {  // A y = lambda y, |y| = 1
      Tensor y = r.eigenvectors[i][0];
      CHECK(y.shape() == Shape{30, 1});
      CHECK(sum(y * y).item<double>() == doctest::Approx(1).epsilon(1e-10));
      std::vector<double> ay = matmul(a, y).to_vector<double>(), yy = y.to_vector<double>();
      for (std::size_t j = 0; j < 30; ++j)
        CHECK(ay[j] == doctest::Approx(want[i] * yy[j]).epsilon(1e-6).scale(1));
    }
    // the same seed gives the same numbers
    auto r2 = viz::hessian_eigenvalues(
        loss, {{"x", x}}, viz::HessianOptions().top_k(4).smallest(true).tol(1e-9).seed(5));
    CHECK(r2.eigenvalues == r.eigenvalues);
    CHECK(r2.iterations == r.iterations);
  }
  SUBCASE("a long run (T solved every m/32 steps past 64), 1..120 evenly spaced") {
    std::vector<double> lam;
    for (int i = 1; i <= 120; ++i) lam.push_back(i);
    Tensor a = tensor(symmetric_with_eigenvalues(lam), {120, 120}, Dtype::float64);
    Tensor x = randn({120, 1}, Dtype::float64).requires_grad_();
    auto loss = [a, x] { return 0.5 * sum(x * matmul(a, x)); };
    auto r = viz::hessian_eigenvalues(
        loss, {{"x", x}}, viz::HessianOptions().top_k(6).smallest(true).tol(1e-9).max_iter(200));
    CHECK(r.converged);
    CHECK(r.iterations > 64);
    for (int i = 0; i < 6; ++i) CHECK(r.eigenvalues[i] == doctest::Approx(120 - i).epsilon(1e-8));
    CHECK(r.smallest == doctest::Approx(1).epsilon(1e-8));
  }
  SUBCASE("max_iter reached is reported as not converged") {
    std::vector<double> lam;
    for (int i = 0; i < 40; ++i) lam.push_back(1.0 + 0.01 * i);
    Tensor a = tensor(symmetric_with_eigenvalues(lam), {40, 40}, Dtype::float64);
    Tensor x = randn({40, 1}, Dtype::float64).requires_grad_();
    auto loss = [a, x] { return 0.5 * sum(x * matmul(a, x)); };
    auto r = viz::hessian_eigenvalues(loss, {{"x", x}},
                                      viz::HessianOptions().top_k(3).max_iter(4).tol(1e-12));
    CHECK_FALSE(r.converged);
    CHECK(r.iterations == 4);
  }
}

TEST_CASE("hessian_eigenvalues and hessian_trace match the dense Hessian of a tiny model") {
  Tiny m;
  viz::NamedTensors chosen = viz::curvature_parameters(m.params());
  TensorList ps = tensors_of(chosen);
  std::vector<double> h = dense_hessian(m.loss(), ps);
  const std::size_t n = 20;  // 4x3 + 2x4 weights
  REQUIRE(h.size() == n * n);

  // the dense Hessian is symmetric and its columns are central differences of the gradient
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j)
      CHECK(h[i * n + j] == doctest::Approx(h[j * n + i]).epsilon(1e-10).scale(1));
  for (std::size_t col : {0, 7, 13, 19}) {
    const double eps = 1e-5;
    auto grad_at = [&](double shift) {
      Tensor p = ps[col < 12 ? 0 : 1];
      const std::size_t k = col < 12 ? col : col - 12;
      const double old = p.data_ptr<double>()[k];
      p.data_ptr<double>()[k] = old + shift;
      TensorList g = grad({m.loss()()}, ps);
      p.data_ptr<double>()[k] = old;
      std::vector<double> flat = g[0].to_vector<double>(), g1 = g[1].to_vector<double>();
      flat.insert(flat.end(), g1.begin(), g1.end());
      return flat;
    };
    std::vector<double> gp = grad_at(eps), gm = grad_at(-eps);
    for (std::size_t r = 0; r < n; ++r)
      CHECK(h[r * n + col] == doctest::Approx((gp[r] - gm[r]) / (2 * eps)).epsilon(1e-6).scale(1));
  }

  std::vector<double> ev = eigvals_ascending(h);
  auto r = viz::hessian_eigenvalues(m.loss(), m.params(),
                                    viz::HessianOptions().top_k(3).smallest(true).tol(1e-10));
  CHECK(r.parameters == std::vector<std::string>{"fc1.weight", "fc2.weight"});
  CHECK(r.dim == n);
  CHECK(r.converged);
  const double tol = 1e-8 * std::abs(ev[n - 1]);
  for (std::size_t i = 0; i < 3; ++i) CHECK(std::abs(r.eigenvalues[i] - ev[n - 1 - i]) <= tol);
  CHECK(std::abs(r.smallest - ev[0]) <= tol);
  CHECK(ev[0] < 0);  // not at a minimum: a negative eigenvalue exists and is found

  // Hutchinson: v^T H v has variance 2 sum_{i != j} H_ij^2 for Rademacher v; 4000 samples put
  // the mean within 4 standard errors of the dense trace.
  double trace = 0, offdiag = 0;
  for (std::size_t i = 0; i < n; ++i) {
    trace += h[i * n + i];
    for (std::size_t j = 0; j < n; ++j)
      if (i != j) offdiag += h[i * n + j] * h[i * n + j];
  }
  const std::size_t samples = 4000;
  auto t =
      viz::hessian_trace(m.loss(), m.params(), viz::TraceOptions().max_samples(samples).seed(9));
  CHECK(t.samples == samples);
  CHECK(t.values.size() == samples);
  CHECK_FALSE(t.converged);
  const double se = std::sqrt(2 * offdiag / samples);
  CHECK(std::abs(t.mean - trace) <= 4 * se);
  CHECK(t.std_error == doctest::Approx(se).epsilon(0.1));  // the reported error estimates it
  // with a tolerance it stops early, as PyHessian
  auto t2 = viz::hessian_trace(m.loss(), m.params(), viz::TraceOptions().tol(1e-2).seed(9));
  CHECK(t2.converged);
  CHECK(t2.samples < 100);
  CHECK(t2.samples >= 2);

  // all_parameters adds the biases (4 + 2): a 26-dimensional Hessian, also matched densely
  viz::NamedTensors all = viz::curvature_parameters(m.params(), true);
  CHECK(all.size() == 4);
  std::vector<double> ha = dense_hessian(m.loss(), tensors_of(all));
  std::vector<double> eva = eigvals_ascending(ha);
  auto ra = viz::hessian_eigenvalues(
      m.loss(), m.params(), viz::HessianOptions().all_parameters(true).top_k(2).tol(1e-10));
  CHECK(ra.dim == 26);
  CHECK(std::abs(ra.eigenvalues[0] - eva[25]) <= 1e-8 * std::abs(eva[25]));
  CHECK(std::abs(ra.eigenvalues[1] - eva[24]) <= 1e-8 * std::abs(eva[25]));
}

TEST_CASE("curvature_parameters: more than one dimension by default, and clear errors") {
  Tiny m;
  viz::NamedTensors w = viz::curvature_parameters(m.params());
  REQUIRE(w.size() == 2);
  CHECK(w[0].first == "fc1.weight");
  CHECK(w[1].first == "fc2.weight");
  CHECK(test::error_of([&] {
          viz::curvature_parameters({{"fc1.bias", m.fc1->bias()}});
        }).find("none of the 1 parameters has more than one dimension") != std::string::npos);
  CHECK(test::error_of([&] {
          viz::curvature_parameters({{"buf", zeros({2, 2})}});
        }).find("none of the 1 tensors given requires grad") != std::string::npos);
}

TEST_CASE("the MLP path is twice differentiable (gradgradcheck, float64)") {
  manual_seed(4);
  Tensor x = randn({5, 3}, Dtype::float64).requires_grad_();
  Tensor w1 = randn({4, 3}, Dtype::float64).requires_grad_();
  Tensor b1 = randn({4}, Dtype::float64).requires_grad_();
  Tensor w2 = randn({3, 4}, Dtype::float64).requires_grad_();
  Tensor b2 = randn({3}, Dtype::float64).requires_grad_();
  Tensor y = tensor({0, 2, 1, 2, 0}, {5}, Dtype::int64);
  Tensor t = randn({5, 3}, Dtype::float64);
  auto hidden = [](const TensorList& in, bool use_relu) {
    Tensor h = linear(in[0], in[1], in[2]);
    return linear(use_relu ? relu(h) : tanh(h), in[3], in[4]);
  };
  TensorList in = {x, w1, b1, w2, b2};
  // cross_entropy with int64 targets, relu and tanh hidden layers
  CHECK(
      gradgradcheck([&](const TensorList& i) { return F::cross_entropy(hidden(i, true), y); }, in));
  CHECK(gradgradcheck([&](const TensorList& i) { return F::cross_entropy(hidden(i, false), y); },
                      in));
  // the same loss spelled out: log_softmax, gather, mean
  CHECK(gradgradcheck(
      [&](const TensorList& i) {
        return -mean(gather(log_softmax(hidden(i, false), 1), 1, y.reshape({5, 1})));
      },
      in));
  CHECK(gradgradcheck([&](const TensorList& i) { return F::mse_loss(hidden(i, false), t); }, in));
}

TEST_CASE("hessian_eigenvalues of a tiny CNN match its dense Hessian (conv2d, pooling)") {
  // conv 1->2 3x3 - relu - 2x2 pool (max or average) - linear 8->3, cross-entropy on 4 images
  // 6x6, float64: the Hessian over conv.weight [2, 1, 3, 3] and fc.weight [3, 8] (42 x 42).
  for (bool max_pool : {true, false}) {
    CAPTURE(max_pool);
    manual_seed(5);
    auto conv = std::make_shared<nn::Conv2d>(1, 2, 3);
    auto fc = std::make_shared<nn::Linear>(2 * 2 * 2, 3);
    conv->to(Dtype::float64);
    fc->to(Dtype::float64);
    Tensor x = randn({4, 1, 6, 6}, Dtype::float64);
    Tensor y = tensor({0, 1, 2, 1}, {4}, Dtype::int64);
    viz::LossFn loss = [&] {
      Tensor h = relu((*conv)(x));
      h = max_pool ? max_pool2d(h, {2}) : avg_pool2d(h, {2});
      return F::cross_entropy((*fc)(flatten(h, 1)), y);
    };
    viz::NamedTensors ps;
    for (auto& [n, p] : conv->named_parameters()) ps.emplace_back("conv." + n, p);
    for (auto& [n, p] : fc->named_parameters()) ps.emplace_back("fc." + n, p);
    const TensorList ws = {conv->weight(), fc->weight()};
    const std::vector<double> h = dense_hessian(loss, ws);
    const std::size_t n = 42;
    REQUIRE(h.size() == n * n);
    // double backward through conv2d and pooling: symmetric, and each column the central
    // difference of the gradient
    const double eps = 1e-6;
    for (std::size_t col = 0; col < n; ++col) {
      Tensor p = col < 18 ? ws[0] : ws[1];
      const std::size_t k = col < 18 ? col : col - 18;
      auto grad_at = [&](double shift) {
        const double old = p.data_ptr<double>()[k];
        p.data_ptr<double>()[k] = old + shift;
        TensorList g = grad({loss()}, ws);
        p.data_ptr<double>()[k] = old;
        std::vector<double> flat = g[0].to_vector<double>(), g1 = g[1].to_vector<double>();
        flat.insert(flat.end(), g1.begin(), g1.end());
        return flat;
      };
      const std::vector<double> gp = grad_at(eps), gm = grad_at(-eps);
      for (std::size_t r = 0; r < n; ++r) {
        CHECK(h[r * n + col] == doctest::Approx(h[col * n + r]).epsilon(1e-10).scale(1));
        CHECK(h[r * n + col] ==
              doctest::Approx((gp[r] - gm[r]) / (2 * eps)).epsilon(1e-6).scale(1));
      }
    }
    const std::vector<double> ev = eigvals_ascending(h);
    auto r = viz::hessian_eigenvalues(loss, ps,
                                      viz::HessianOptions().top_k(3).smallest(true).tol(1e-10));
    CHECK(r.parameters == std::vector<std::string>{"conv.weight", "fc.weight"});
    CHECK(r.dim == n);
    CHECK(r.converged);
    const double tol = 1e-8 * std::abs(ev[n - 1]);
    for (std::size_t i = 0; i < 3; ++i) CHECK(std::abs(r.eigenvalues[i] - ev[n - 1 - i]) <= tol);
    CHECK(std::abs(r.smallest - ev[0]) <= tol);
  }
}

TEST_CASE("hessian: errors name the function and the value") {
  Tensor x = randn({3}, Dtype::float64).requires_grad_();
  viz::NamedTensors ps = {{"x", x.reshape({3, 1})}};  // not a leaf
  CHECK(test::error_of([&] {
          viz::hessian_eigenvalues([&] { return sum(x * x); }, ps);
        }).find("must be a leaf that requires grad") != std::string::npos);
  Tensor m = randn({3, 1}, Dtype::float64).requires_grad_();
  viz::NamedTensors pm = {{"m", m}};
  CHECK(test::error_of([&] {
          viz::hessian_eigenvalues([&] { return m * 2.0; }, pm);
        }).find("hvp: the loss must be a scalar, got shape [3, 1]") != std::string::npos);
  CHECK(test::error_of([&] {
          viz::hessian_eigenvalues([&] { return sum(m * m); }, pm, viz::HessianOptions().top_k(4));
        }).find("top_k 4 exceeds the dimension of the Hessian (3)") != std::string::npos);
  CHECK(test::error_of([&] {
          viz::hessian_eigenvalues([&] { return sum(m * m); }, pm,
                                   viz::HessianOptions().top_k(2).max_iter(1));
        }).find("hessian_eigenvalues: max_iter 1 is smaller than top_k 2") != std::string::npos);
  CHECK(test::error_of([&] {
          viz::hessian_eigenvalues([&] { return sum(m * m); }, pm, viz::HessianOptions().tol(-1));
        }).find("hessian_eigenvalues: tol must be positive and finite, got -1") !=
        std::string::npos);
  CHECK(test::error_of([&] {
          viz::hessian_eigenvalues([&] { return sum(m * m * m) * std::nan(""); }, pm);
        }).find("hessian_eigenvalues: a Hessian-vector product is not finite") !=
        std::string::npos);
  CHECK(test::error_of([&] {
          NoGradGuard g;
          viz::hessian_trace([&] { return sum(m.detach() * 2.0); }, pm);
        }).find("the loss does not depend on the parameters") != std::string::npos);
  // a loss linear in the parameters has a zero Hessian
  auto r = viz::hessian_eigenvalues([&] { return sum(m * 2.0); }, pm,
                                    viz::HessianOptions().smallest(true));
  CHECK(r.eigenvalues[0] == 0.0);
  CHECK(r.smallest == 0.0);
}

TEST_CASE("curvature_ratio_map: CSV rows, the dense value at the origin, parameters restored") {
  Tiny m;
  viz::NamedTensors ps = m.params();
  manual_seed(8);
  viz::NamedTensors d, e;
  for (auto& [n, p] : ps) {
    d.emplace_back(n, randn(p.shape(), Dtype::float64));
    e.emplace_back(n, randn(p.shape(), Dtype::float64));
  }
  const auto before = snapshot(ps);
  const std::string path = "test_hessian_map.csv";
  std::remove(path.c_str());
  auto opts = viz::CurvatureMapOptions().progress(false).hessian(viz::HessianOptions().tol(1e-9));
  auto pts = viz::curvature_ratio_map(m.loss(), ps, d, e, {-0.5, 0.0, 0.5}, {0.0, 1.0}, path, opts);
  CHECK(snapshot(ps) == before);
  REQUIRE(pts.size() == 6);
  CHECK(pts[1].a == 0.0);
  CHECK(pts[1].b == 0.0);
  CHECK(pts[3].a == -0.5);
  CHECK(pts[3].b == 1.0);
  std::vector<double> ev =
      eigvals_ascending(dense_hessian(m.loss(), tensors_of(viz::curvature_parameters(ps))));
  CHECK(pts[1].lambda_max == doctest::Approx(ev.back()).epsilon(1e-7));
  CHECK(pts[1].lambda_min == doctest::Approx(ev.front()).epsilon(1e-7));
  CHECK(pts[1].ratio == doctest::Approx(std::abs(ev.front() / ev.back())).epsilon(1e-7));
  for (auto& p : pts) CHECK(p.converged);
  {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    CHECK(line == "a,b,lambda_max,lambda_min,ratio,iterations,converged");
    int rows = 0;
    while (std::getline(f, line)) ++rows;
    CHECK(rows == 6);
  }
  std::remove(path.c_str());

  // restored also when the loss throws half way
  int calls = 0;
  viz::LossFn flaky = [&] {
    if (++calls == 3) throw std::runtime_error("flaky loss");
    return m.loss()();
  };
  CHECK(test::error_of([&] {
          viz::curvature_ratio_map(flaky, ps, d, e, {0.1, 0.2, 0.3}, {0.5}, "", opts);
        }) == "flaky loss");
  CHECK(snapshot(ps) == before);

  // hostile input: clear errors before anything moves
  viz::NamedTensors short_d(d.begin(), d.end() - 1);
  CHECK(test::error_of([&] {
          viz::curvature_ratio_map(m.loss(), ps, short_d, e, {0}, {0}, "", opts);
        }).find("direction d has no entry for parameter 'fc2.bias'") != std::string::npos);
  viz::NamedTensors bad_e = e;
  bad_e[0].second = zeros({2, 2}, Dtype::float64);
  CHECK(test::error_of([&] {
          viz::curvature_ratio_map(m.loss(), ps, d, bad_e, {0}, {0}, "", opts);
        }).find("direction e['fc1.weight'] has shape [2, 2], the parameter has shape [4, 3]") !=
        std::string::npos);
  CHECK(test::error_of([&] {
          viz::curvature_ratio_map(m.loss(), ps, d, e, {}, {0}, "", opts);
        }).find("the a (xs) coordinates are empty") != std::string::npos);
  CHECK(test::error_of([&] {
          viz::curvature_ratio_map(m.loss(), ps, d, e, {0}, {std::nan("")}, "", opts);
        }).find("the b (ys) coordinates hold nan") != std::string::npos);
  CHECK(test::error_of([&] {
          viz::curvature_ratio_map(m.loss(), ps, d, e, {0}, {0}, "/nonexistent/dir/map.csv", opts);
        }).find("cannot write '/nonexistent/dir/map.csv'") != std::string::npos);
  CHECK(snapshot(ps) == before);
}

TEST_CASE("curvature_ratio_map: closed form on a quartic, and a NaN point gives a NaN row") {
  // loss 3 |p|^2 + sum p^4 at p = (a, b): H = diag(6 + 12 a^2, 6 + 12 b^2); NaN where a = 1.
  Tensor p = zeros({1, 2}, Dtype::float64).requires_grad_();
  viz::LossFn loss = [&] {
    Tensor l = 3.0 * sum(p * p) + sum(p * p * p * p);
    return p.data_ptr<double>()[0] == 1.0 ? l * std::nan("") : l;
  };
  viz::NamedTensors ps = {{"p", p}};
  viz::NamedTensors d = {{"p", tensor({1, 0}, {1, 2}, Dtype::float64)}};
  viz::NamedTensors e = {{"p", tensor({0, 1}, {1, 2}, Dtype::float64)}};
  const std::string path = "test_hessian_quartic.csv";
  auto pts = viz::curvature_ratio_map(
      loss, ps, d, e, {-1.0, 0.0, 1.0}, {0.5}, path,
      viz::CurvatureMapOptions().progress(false).hessian(viz::HessianOptions().tol(1e-12)));
  REQUIRE(pts.size() == 3);
  CHECK(pts[0].lambda_max == doctest::Approx(18));
  CHECK(pts[0].lambda_min == doctest::Approx(9));
  CHECK(pts[0].ratio == doctest::Approx(0.5));
  CHECK(pts[1].lambda_max == doctest::Approx(9));
  CHECK(pts[1].lambda_min == doctest::Approx(6));
  CHECK(pts[1].ratio == doctest::Approx(6.0 / 9.0));
  CHECK(std::isnan(pts[2].lambda_max));
  CHECK(std::isnan(pts[2].ratio));
  CHECK_FALSE(pts[2].converged);
  std::ifstream f(path);
  std::string header, r0, r1, r2;
  std::getline(f, header);
  std::getline(f, r0);
  std::getline(f, r1);
  std::getline(f, r2);
  CHECK(r0 == "-1,0.5,18,9,0.5,2,1");
  CHECK(r2.rfind("1,0.5,nan,nan,nan,", 0) == 0);
  f.close();
  std::remove(path.c_str());
  CHECK(p.to_vector<double>() == std::vector<double>{0, 0});
}

TEST_CASE("HessianOperator: reuse_graph off gives the same products; parameter moves are seen") {
  Tensor p = tensor({0.5, -1.0}, {2, 1}, Dtype::float64).requires_grad_();
  viz::LossFn loss = [&] { return sum(p * p * p * p); };  // H = diag(12 p^2)
  Tensor v = ones({2, 1}, Dtype::float64);
  viz::HessianOperator reuse(loss, {p}), fresh(loss, {p}, false);
  CHECK(reuse.apply({v})[0].to_vector<double>() == std::vector<double>{3, 12});
  CHECK(fresh.apply({v})[0].to_vector<double>() == std::vector<double>{3, 12});
  CHECK(reuse.loss_value() == doctest::Approx(0.0625 + 1));
  {
    NoGradGuard g;
    p.mul_(2.0);
  }
  CHECK(fresh.apply({v})[0].to_vector<double>() == std::vector<double>{12, 48});
  // the parameters' version counters moved: the operator records the graph again by itself
  CHECK(reuse.apply({v})[0].to_vector<double>() == std::vector<double>{12, 48});
  p.data_ptr<double>()[0] = 2.0;  // a write that bumps no version needs reset()
  reuse.reset();
  CHECK(reuse.apply({v})[0].to_vector<double>() == std::vector<double>{48, 48});
  CHECK(reuse.products() == 3);
  // a parameter the loss does not use gets a zero product
  Tensor q = ones({3, 1}, Dtype::float64).requires_grad_();
  TensorList hv = viz::hvp(loss, {p, q}, {v, ones({3, 1}, Dtype::float64)});
  CHECK(hv[1].to_vector<double>() == std::vector<double>{0, 0, 0});
}

TEST_CASE("HessianOperator over weighted batches equals the full batch") {
  Tiny m;
  TensorList ps = tensors_of(viz::curvature_parameters(m.params(), true));
  // the mean over 8 samples = 0.5 (mean over the first 4) + 0.5 (mean over the last 4)
  auto half = [&m](int64_t start) -> viz::LossFn {
    return [&m, start] {
      return F::cross_entropy((*m.fc2)(tanh((*m.fc1)(narrow(m.x, 0, start, 4)))),
                              narrow(m.y, 0, start, 4));
    };
  };
  viz::HessianOperator full(m.loss(), ps);
  for (bool reuse : {true, false}) {
    viz::HessianOperator batched({half(0), half(4)}, {0.5, 0.5}, ps, reuse);
    CHECK(batched.size() == 26);
    for (int rep = 0; rep < 2; ++rep) {
      TensorList v;
      for (const Tensor& p : ps) v.push_back(randn(p.shape(), Dtype::float64));
      TensorList a = full.apply(v), b = batched.apply(v);
      for (std::size_t i = 0; i < ps.size(); ++i) {
        std::vector<double> av = a[i].to_vector<double>(), bv = b[i].to_vector<double>();
        for (std::size_t k = 0; k < av.size(); ++k)
          CHECK(bv[k] == doctest::Approx(av[k]).epsilon(1e-12).scale(1));
      }
    }
    CHECK(batched.loss_value() == doctest::Approx(full.loss_value()).epsilon(1e-12));
    auto eb = viz::hessian_eigenvalues(batched, viz::HessianOptions().top_k(2).tol(1e-10));
    auto ef = viz::hessian_eigenvalues(full, viz::HessianOptions().top_k(2).tol(1e-10));
    CHECK(eb.eigenvalues[0] == doctest::Approx(ef.eigenvalues[0]).epsilon(1e-10));
    CHECK(eb.eigenvalues[1] == doctest::Approx(ef.eigenvalues[1]).epsilon(1e-10));
  }
  CHECK(test::error_of([&] {
          viz::HessianOperator({half(0)}, {0.5, 0.5}, ps);
        }).find("HessianOperator: 1 loss terms but 2 weights") != std::string::npos);
}
