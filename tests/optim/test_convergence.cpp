// Convergence: full-batch gradient descent on linear least squares reaches the closed-form
// solution; on an ill-conditioned quadratic, momentum and Adam beat plain GD in a fixed budget.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "autograd/autograd.hpp"
#include "optim/optim.hpp"

using namespace xg;
using namespace xg::optim;

TEST_CASE("optim: full-batch SGD on linear least squares reaches the normal-equation solution") {
  // Data: y = X w + b with X [5, 2]; minimize mean((X w + b - y)^2) over w [1, 2] and b [1].
  // Normal equations (A^T A) [w1, w2, b] = A^T y with the design matrix A = [x1 x2 1]:
  //   x1 = [0, 1, 2, 3, 4], x2 = [1, 0, 1, 0, 1], y = [1, 3, 6, 7, 10]
  //   sum x1^2 = 30, sum x1 x2 = 6, sum x1 = 10, sum x2^2 = 3, sum x2 = 3, n = 5
  //   A^T A = [[30, 6, 10], [6, 3, 3], [10, 3, 5]],  A^T y = [76, 17, 27]
  //   Row 3 gives b = (27 - 10 w1 - 3 w2) / 5. Substituting:
  //     row 1: 30 w1 + 6 w2 + 2 (27 - 10 w1 - 3 w2) = 76   ->  10 w1 = 22   ->  w1 = 2.2
  //     row 2: 6 w1 + 3 w2 + 0.6 (27 - 10 w1 - 3 w2) = 17  ->  1.2 w2 = 0.8 ->  w2 = 2/3
  //     b = (27 - 22 - 2) / 5 = 0.6
  // The loss Hessian 2/5 A^T A has eigenvalues 0.289, 0.952, 13.96, so lr 0.02 is stable and
  // 5000 steps shrink the error by (1 - 0.02 * 0.289)^5000 ~ 3e-13.
  const Tensor X = tensor({0, 1, 1, 0, 2, 1, 3, 0, 4, 1}, {5, 2}, Dtype::float64);
  const Tensor y = tensor({1, 3, 6, 7, 10}, {5}, Dtype::float64);
  for (bool momentum : {false, true}) {
    INFO("momentum ", momentum);
    Tensor w = zeros({1, 2}, Dtype::float64).requires_grad_();
    Tensor b = zeros({1}, Dtype::float64).requires_grad_();
    SGD opt({w, b}, SGDOptions(0.02).momentum(momentum ? 0.9 : 0.0));
    for (int it = 0; it < 5000; ++it) {
      opt.zero_grad();
      Tensor r = linear(X, w, b).reshape({5}) - y;
      (r * r).mean().backward();
      opt.step();
    }
    CHECK(w.to_vector<double>()[0] == doctest::Approx(2.2).epsilon(1e-9));
    CHECK(w.to_vector<double>()[1] == doctest::Approx(2.0 / 3.0).epsilon(1e-9));
    CHECK(b.item<double>() == doctest::Approx(0.6).epsilon(1e-9));
  }
}

TEST_CASE("optim: momentum and Adam beat plain GD on an ill-conditioned quadratic") {
  // f(x) = 0.5 (x_0^2 + 100 x_1^2), condition number 100, x0 = [1, 1], 100 steps.
  // GD is stable only for lr < 2/100; with lr 0.018 the flat direction shrinks by 0.982 per
  // step (f ~ 0.5 * 0.982^200 ~ 0.013). Heavy-ball momentum 0.9 with the same lr contracts
  // both directions by about sqrt(0.9) per step; Nesterov needs lr * 100 < 2 (1 + 0.9) / (1 + 1.8)
  // to be stable, so it runs with lr 0.01; Adam's per-coordinate scaling removes the conditioning.
  auto final_loss = [](const std::function<std::unique_ptr<Optimizer>(Tensor)>& make) {
    Tensor x = tensor({1.0, 1.0}, {2}, Dtype::float64).requires_grad_();
    const Tensor c = tensor({1.0, 100.0}, {2}, Dtype::float64);
    std::unique_ptr<Optimizer> opt = make(x);
    for (int it = 0; it < 100; ++it) {
      opt->zero_grad();
      (0.5 * (c * x * x).sum()).backward();
      opt->step();
    }
    NoGradGuard no_grad;
    return (0.5 * (c * x * x).sum()).item<double>();
  };
  const double gd = final_loss(
      [](Tensor x) { return std::make_unique<SGD>(std::vector<Tensor>{x}, SGDOptions(0.018)); });
  const double momentum = final_loss([](Tensor x) {
    return std::make_unique<SGD>(std::vector<Tensor>{x}, SGDOptions(0.018).momentum(0.9));
  });
  const double nesterov = final_loss([](Tensor x) {
    return std::make_unique<SGD>(std::vector<Tensor>{x},
                                 SGDOptions(0.01).momentum(0.9).nesterov(true));
  });
  const double adam = final_loss(
      [](Tensor x) { return std::make_unique<Adam>(std::vector<Tensor>{x}, AdamOptions(0.1)); });
  MESSAGE("loss after 100 steps: GD ", gd, ", momentum ", momentum, ", Nesterov ", nesterov,
          ", Adam ", adam);
  CHECK(gd > 0.01);
  CHECK(momentum < gd / 100);
  CHECK(nesterov < gd / 100);
  CHECK(adam < gd / 10);
}
