// clip_grad_norm_ and clip_grad_value_ against PyTorch 1.13 (torch.nn.utils), float64.
//
// Golden values: the output of tests/goldens/clip_grad.py (/usr/bin/python3, torch 1.13.0a0;
// see tests/goldens/README.md).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "autograd/autograd.hpp"
#include "optim/optim.hpp"

using namespace xg;
using namespace xg::optim;

namespace {
struct Params {
  Tensor a = zeros({2}, Dtype::float64).requires_grad_();
  Tensor b = zeros({2, 1}, Dtype::float64).requires_grad_();
  Tensor none = zeros({3}, Dtype::float64).requires_grad_();  // never gets a gradient
  Params() {
    a.set_grad(tensor({3.0, -4.0}, {2}, Dtype::float64));
    b.set_grad(tensor({12.0, 0.0}, {2, 1}, Dtype::float64));
  }
  std::vector<Tensor> all() const { return {a, none, b}; }
  std::vector<double> grads() const {
    std::vector<double> g = a.grad().to_vector<double>();
    g.push_back(b.grad().to_vector<double>()[0]);
    return g;
  }
};

void check_grads(const Params& p, std::vector<double> want) {
  const std::vector<double> got = p.grads();
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("element ", i);
    CHECK(std::abs(got[i] - want[i]) <= 1e-15);
  }
}
}  // namespace

TEST_CASE("optim: clip_grad_norm_ matches PyTorch 1.13 for norms 2, 1, 3 and inf") {
  {
    // ||[3, -4, 12, 0]||_2 = 13 > 5: scale by 5 / (13 + 1e-6).
    Params p;
    CHECK(clip_grad_norm_(p.all(), 5.0) == 13.0);
    check_grads(p, {1.1538460650887643, -1.5384614201183524, 4.615384260355057});
  }
  {
    // Below max_norm: unchanged.
    Params p;
    const uint32_t v = p.a.grad().version();
    CHECK(clip_grad_norm_(p.all(), 100.0) == 13.0);
    check_grads(p, {3.0, -4.0, 12.0});
    CHECK(p.a.grad().version() == v);
  }
  {
    Params p;
    CHECK(clip_grad_norm_(p.all(), 5.0, std::numeric_limits<double>::infinity()) == 12.0);
    check_grads(p, {1.249999895833342, -1.6666665277777895, 4.999999583333368});
  }
  {
    Params p;
    CHECK(clip_grad_norm_(p.all(), 5.0, 1.0) == 19.0);
    check_grads(p, {0.789473642659282, -1.0526315235457093, 3.157894570637128});
  }
  {
    Params p;
    CHECK(std::abs(clip_grad_norm_(p.all(), 5.0, 3.0) - 12.207054953820634) <= 1e-14);
    check_grads(p, {1.2287975132370237, -1.6383966843160316, 4.915190052948095});
  }
  {
    Params p;
    const uint32_t v = p.a.grad().version();
    clip_grad_norm_(p.all(), 5.0);
    CHECK(p.a.grad().version() == v + 1);  // scaled in place
  }
}

TEST_CASE("optim: clip_grad_norm_ edge cases") {
  Tensor x = zeros({2}).requires_grad_();
  CHECK(clip_grad_norm_({x}, 1.0) == 0.0);  // no gradients
  x.set_grad(tensor({std::nan(""), 1.0}));
  CHECK(std::isnan(clip_grad_norm_({x}, 1.0)));
  CHECK_THROWS_WITH_AS(clip_grad_norm_({x}, 1.0, 2.0, true),
                       "clip_grad_norm_: the total norm of order 2.0 for gradients from "
                       "`parameters` is non-finite, so it cannot be clipped",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(clip_grad_norm_({x}, 1.0, 0.0),
                       "clip_grad_norm_: norm_type must be positive or inf, got 0.0",
                       std::invalid_argument);
}

TEST_CASE("optim: clip_grad_value_ clamps every element (float32 and float64)") {
  Params p;
  clip_grad_value_(p.all(), 3.5);
  check_grads(p, {3.0, -3.5, 3.5});
  Tensor f = zeros({3}).requires_grad_();
  f.set_grad(tensor({-10.0, 0.25, 10.0}));
  clip_grad_value_({f}, 0.5);
  CHECK(f.grad().to_vector<float>() == std::vector<float>{-0.5f, 0.25f, 0.5f});
}
