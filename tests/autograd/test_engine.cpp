// The backward engine: golden values, accumulation, hooks, grad modes, xg::grad, second
// derivatives, in-place version checks, anomaly mode and very deep graphs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>

#include "autograd/autograd.hpp"
#include "autograd/detail/impl.hpp"

using namespace xg;

namespace {
Tensor scalar(double v, bool grad = true) {
  Tensor t = tensor({v}, Shape{}, Dtype::float64);
  return grad ? t.requires_grad_() : t;
}
}  // namespace

TEST_CASE("micrograd's README example gives its golden numbers") {
  Tensor a = scalar(-4.0), b = scalar(2.0);
  Tensor c = a + b;
  Tensor d = a * b + pow(b, 3.0);
  c = c + c + 1.0;
  c = c + 1.0 + c + (-a);
  d = d + d * 2.0 + relu(b + a);
  d = d + 3.0 * d + relu(b - a);
  Tensor e = c - d;
  Tensor f = pow(e, 2.0);
  Tensor g = f / 2.0;
  g = g + 10.0 / f;
  g.backward();
  CHECK(g.item<double>() == doctest::Approx(24.7041).epsilon(1e-5));
  CHECK(a.grad().item<double>() == doctest::Approx(138.8338).epsilon(1e-5));
  CHECK(b.grad().item<double>() == doctest::Approx(645.5773).epsilon(1e-5));
}

TEST_CASE("gradients accumulate over a diamond and across backward calls") {
  Tensor x = scalar(3.0);
  Tensor y = x * x + x * 4.0;  // x reached through three paths
  y.backward(Tensor(), true);
  CHECK(x.grad().item<double>() == doctest::Approx(10.0));
  y.backward();
  CHECK(x.grad().item<double>() == doctest::Approx(20.0));
  x.set_grad(Tensor());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("grad_fn names the op and links to its inputs") {
  Tensor x = scalar(1.0), w = scalar(2.0, false);
  Tensor y = tanh(x * w);
  REQUIRE(y.grad_fn().get() != nullptr);
  CHECK(y.grad_fn()->name() == "TanhBackward");
  CHECK(std::string(y.grad_fn()->op()) == "tanh");
  const auto& mul_node = y.grad_fn()->next_functions().at(0);
  CHECK(mul_node->name() == "MulBackward");
  REQUIRE(mul_node->next_functions().size() == 2);
  CHECK(mul_node->next_functions()[0]->name() == "AccumulateGrad");
  CHECK(mul_node->next_functions()[0]->leaf()->is_same(x));
  CHECK(mul_node->next_functions()[1].get() == nullptr);  // w needs no gradient
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
}

TEST_CASE("retain_grad keeps a non-leaf gradient; hooks see and may replace gradients") {
  Tensor x = scalar(2.0);
  Tensor h = x * 3.0;
  h.retain_grad();
  double seen = 0;
  h.register_hook([&](const Tensor& g) {
    seen = g.item<double>();
    return g * 10.0;  // scales what flows on to x
  });
  Tensor leaf_seen;
  x.register_hook([&](const Tensor& g) {
    leaf_seen = g;
    return Tensor();  // keep the gradient as it is
  });
  Tensor y = h * h;  // dy/dh = 2h = 12
  y.backward();
  CHECK(seen == doctest::Approx(12.0));
  CHECK(h.grad().item<double>() == doctest::Approx(12.0));
  CHECK(leaf_seen.item<double>() == doctest::Approx(360.0));
  CHECK(x.grad().item<double>() == doctest::Approx(360.0));
}

TEST_CASE("NoGradGuard and EnableGradGuard are scoped and thread-local") {
  Tensor x = scalar(1.0);
  {
    NoGradGuard no_grad;
    CHECK_FALSE((x * 2.0).requires_grad());
    bool other_thread = false;
    std::thread([&] { other_thread = (x * 2.0).requires_grad(); }).join();
    CHECK(other_thread);
    {
      EnableGradGuard with_grad;
      CHECK((x * 2.0).requires_grad());
    }
    CHECK_FALSE(is_grad_enabled());
  }
  CHECK(is_grad_enabled());
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("detach shares data without history; clone copies data with history") {
  Tensor x = tensor({1, 2, 3}, {3}, Dtype::float64).requires_grad_();
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  {
    NoGradGuard no_grad;
    d.mul_(2.0);
  }
  CHECK(x.to_vector<double>() == std::vector<double>{2, 4, 6});
  Tensor c = x.clone();
  CHECK(c.grad_fn()->name() == "CloneBackward");
  c.sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1});
}

TEST_CASE("xg::grad computes only the gradients that lead to its inputs") {
  Tensor x = scalar(2.0), w = scalar(3.0);
  bool asked_for_w = true;
  Tensor y = x * w;
  y.grad_fn()->pre_hooks().push_back([&](const Tensor& g) {
    asked_for_w = y.grad_fn()->needs_grad(1);
    return g;
  });
  grad({y}, {x});
  CHECK_FALSE(asked_for_w);
}

TEST_CASE("xg::grad returns gradients without touching .grad, and handles unused inputs") {
  Tensor x = scalar(2.0), y = scalar(5.0), unused = scalar(1.0);
  Tensor z = x * x * y;
  TensorList g = grad({z}, {x, y}, {}, true);
  CHECK(g[0].item<double>() == doctest::Approx(20.0));
  CHECK(g[1].item<double>() == doctest::Approx(4.0));
  CHECK_FALSE(x.grad().defined());
  TensorList g2 = grad({z}, {x, unused}, {}, true, false, true);
  CHECK_FALSE(g2[1].defined());
  CHECK_THROWS_WITH_AS(grad({z}, {unused}), doctest::Contains("was not used"),
                       std::invalid_argument);
  // gradient of a non-leaf input
  Tensor h = x * 3.0;
  Tensor out = h * h;
  CHECK(grad({out}, {h})[0].item<double>() == doctest::Approx(12.0));
}

TEST_CASE("create_graph gives second and third derivatives") {
  Tensor x = scalar(1.5);
  Tensor y = pow(x, 4.0);
  Tensor dy = grad({y}, {x}, {}, std::nullopt, true)[0];  // 4x^3
  CHECK(dy.item<double>() == doctest::Approx(4 * std::pow(1.5, 3)));
  Tensor d2y = grad({dy}, {x}, {}, std::nullopt, true)[0];  // 12x^2
  CHECK(d2y.item<double>() == doctest::Approx(12 * 1.5 * 1.5));
  d2y.backward();  // 24x into x.grad
  CHECK(x.grad().item<double>() == doctest::Approx(24 * 1.5));
  // saved outputs are reattached to their node: d/dx tanh'(x) = -2 tanh(x) (1 - tanh(x)^2)
  Tensor t = tanh(x);
  Tensor dt = grad({t}, {x}, {}, std::nullopt, true)[0];
  Tensor d2t = grad({dt}, {x})[0];
  const double th = std::tanh(1.5);
  CHECK(d2t.item<double>() == doctest::Approx(-2 * th * (1 - th * th)));
}

TEST_CASE(
    "Hessian-vector product of a small MLP's loss equals finite differences of its gradient") {
  manual_seed(1);
  const Dtype f64 = Dtype::float64;
  Tensor xb = randn({8, 3}, f64), target = randint(0, 4, {8, 1}, f64);
  Tensor w1 = randn({5, 3}, f64).requires_grad_(), b1 = randn({5}, f64).requires_grad_();
  Tensor w2 = randn({4, 5}, f64).requires_grad_();
  TensorList params{w1, b1, w2};
  auto loss_fn = [&] {
    Tensor logits = linear(tanh(linear(xb, w1, b1)), w2);
    return -gather(log_softmax(logits, 1), 1, target).mean();
  };
  TensorList v;
  for (const Tensor& p : params) v.push_back(randn(p.shape(), f64));
  // Hv = d/dp (g . v) with g = dL/dp recorded.
  TensorList g = grad({loss_fn()}, params, {}, std::nullopt, true);
  Tensor gv = zeros({}, f64);
  for (std::size_t i = 0; i < g.size(); ++i) gv = gv + (g[i] * v[i]).sum();
  TensorList hv = grad({gv}, params);
  // (g(p + eps v) - g(p - eps v)) / 2 eps
  const double eps = 1e-5;
  auto grad_at = [&](double s) {
    {
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(v[i], s);
    }
    TensorList r = grad({loss_fn()}, params);
    {
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(v[i], -s);
    }
    return r;
  };
  TensorList gp = grad_at(eps), gm = grad_at(-eps);
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto h = hv[i].to_vector<double>(), p = gp[i].to_vector<double>(),
         m = gm[i].to_vector<double>();
    for (std::size_t j = 0; j < h.size(); ++j)
      CHECK(h[j] == doctest::Approx((p[j] - m[j]) / (2 * eps)).epsilon(1e-5));
  }
}

TEST_CASE("conv2d and pooling are differentiable twice (closed forms)") {
  Tensor x = randn({1, 1, 4, 4}, Dtype::float64).requires_grad_();
  Tensor w = randn({1, 1, 3, 3}, Dtype::float64).requires_grad_();
  // grad_output of a plain sum needs no grad, but grad_input still depends on the weight:
  // sum(dL/dx) = sum over the 2x2 outputs of sum(w), so d/dw = 4 everywhere
  Tensor gx = grad({conv2d(x, w).sum()}, {x}, {}, std::nullopt, true)[0];
  CHECK(grad({gx.sum()}, {w})[0].to_vector<double>() == std::vector<double>(9, 4.0));
  // L = sum(max_pool(x)^2): dL/dx = 2 max at each window's maximum, so d/dx sum(dL/dx) = 2 there
  Tensor gp = grad({max_pool2d(x, {2, 2}).pow(2.0).sum()}, {x}, {}, std::nullopt, true)[0];
  const std::vector<double> second = grad({gp.sum()}, {x})[0].to_vector<double>();
  const std::vector<double> xv = x.to_vector<double>();
  for (std::size_t k = 0; k < 16; ++k) {
    const std::size_t r = k / 4, c = k % 4, r0 = r / 2 * 2, c0 = c / 2 * 2;
    const double m = std::max(
        {xv[r0 * 4 + c0], xv[r0 * 4 + c0 + 1], xv[(r0 + 1) * 4 + c0], xv[(r0 + 1) * 4 + c0 + 1]});
    CHECK(second[k] == (xv[k] == m ? 2.0 : 0.0));
  }
}

TEST_CASE("a second backward through a freed graph fails; retain_graph allows it") {
  Tensor x = scalar(2.0);
  Tensor y = tanh(x) * x;
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("backward through the graph a second time"),
                       std::runtime_error);
  Tensor z = tanh(x) * x;
  z.backward(Tensor(), true);
  CHECK_NOTHROW(z.backward());
}

TEST_CASE("backward after an in-place change of a saved tensor names the op and both versions") {
  Tensor x = tensor({0.5, 1.0}, {2}, Dtype::float64).requires_grad_();
  Tensor y = exp(x);  // ExpBackward saves its output y
  Tensor z = y * 1.0;
  CHECK(y.version() == 0);
  y.add_(1.0);  // y is a non-leaf: its history is rebased, its data version bumped
  CHECK(y.version() == 1);
  CHECK_THROWS_WITH_AS(z.sum().backward(),
                       doctest::Contains("saved by ExpBackward was modified by an in-place "
                                         "operation: saved at version 0, now at version 1"),
                       std::runtime_error);
}

TEST_CASE("in-place ops on non-leaves are differentiable; on leaves that require grad they fail") {
  Tensor x = tensor({1.0, 2.0}, {2}, Dtype::float64).requires_grad_();
  Tensor y = x * 2.0;
  y.mul_(x);  // y = 2x^2
  CHECK(y.grad_fn()->name() == "MulBackward");
  y.sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{4.0, 8.0});
  CHECK_THROWS_WITH_AS(x.add_(1.0),
                       doctest::Contains("add_: a leaf tensor of shape [2] that requires grad"),
                       std::invalid_argument);
  {
    NoGradGuard no_grad;
    x.add_(1.0);  // optimizer-style update
  }
  CHECK(x.to_vector<double>() == std::vector<double>{2.0, 3.0});
  CHECK(x.version() == 1);
}

TEST_CASE("anomaly mode names the op whose backward produced NaN or Inf") {
  Tensor x = tensor({0.0, 1.0}, {2}, Dtype::float64).requires_grad_();
  {
    AnomalyModeGuard anomaly;
    Tensor y = sqrt(x).sum();
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("SqrtBackward returned nan or inf"),
                         std::runtime_error);
    Tensor y2 = sqrt(x).sum();
    CHECK_THROWS_WITH_AS(y2.backward(), doctest::Contains("created by sqrt on inputs of shape [2]"),
                         std::runtime_error);
  }
  x.set_grad(Tensor());
  sqrt(x).sum().backward();  // without anomaly mode: no check, inf flows through
  CHECK(std::isinf(x.grad().to_vector<double>()[0]));
}

TEST_CASE("a 1,000,000-op chain runs backward and is destroyed without recursion") {
  Tensor x = tensor({0.5}).requires_grad_();
  {
    Tensor h = x;
    for (int k = 0; k < 1000000; ++k) h = k % 3 == 0 ? h + 0.01 : k % 3 == 1 ? h * 0.99 : tanh(h);
    h.backward();
  }  // the (freed) graph is destroyed here
  REQUIRE(x.grad().defined());
  CHECK(std::isfinite(x.grad().item<double>()));
  {
    Tensor h = x;
    for (int k = 0; k < 1000000; ++k) h = k % 3 == 0 ? h + 0.01 : k % 3 == 1 ? h * 0.99 : tanh(h);
  }  // a full graph with saved tensors destroyed without backward
  CHECK(x.grad().defined());
}

TEST_CASE("to(dtype) is differentiable and returns gradients in the input's dtype") {
  Tensor x = tensor({1.0, 2.0}, {2}, Dtype::float64).requires_grad_();
  Tensor y = (x.to(Dtype::float32) * 3.0).sum();
  CHECK(y.dtype() == Dtype::float32);
  y.backward();
  CHECK(x.grad().dtype() == Dtype::float64);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3.0, 3.0});
}

TEST_CASE("tensors outlive the threads that made them, and threads reuse exited threads' memory") {
  Tensor kept;
  std::vector<float> xs;
  for (int round = 0; round < 50; ++round) {
    std::thread([&] {
      Tensor x = randn({4, 4}).requires_grad_();
      Tensor y = (x * 2.0).tanh().sum();
      y.backward();
      kept = x.grad() + 1.0;  // made here, freed on the main thread later
      xs = x.to_vector<float>();
    }).join();
  }
  REQUIRE(kept.shape() == Shape{4, 4});
  Tensor z = kept * 3.0;  // allocations on this thread still work
  const std::vector<float> k = kept.to_vector<float>(), zv = z.to_vector<float>();
  for (std::size_t i = 0; i < 16; ++i) {
    const double th = std::tanh(2.0 * xs[i]);
    CHECK(k[i] == doctest::Approx(2.0 * (1.0 - th * th) + 1.0).epsilon(1e-5));
    CHECK(zv[i] == doctest::Approx(3.0 * k[i]).epsilon(1e-6));
  }
}

TEST_CASE("a backward that returns a gradient of the wrong shape or dtype names node and input") {
  Tensor x = randn({2, 3}).requires_grad_(), y = randn({2, 3}).requires_grad_();
  Tensor out = zeros({2, 3});
  record("mul", out, {x, y}, [](const Tensor& g, Node&) {
    return TensorList{g, sum(g, {0})};
  });  // [3] for y
  CHECK_THROWS_WITH_AS(out.sum().backward(),
                       "MulBackward returned a gradient of shape [3] for input 1 of shape [2, 3]",
                       std::invalid_argument);
  CHECK_FALSE(x.grad().defined());
  // into a non-leaf: its recorded output shape and dtype
  Tensor h = x * 2.0;
  Tensor out2 = zeros({2, 3});
  record("twice", out2, {h},
         [](const Tensor& g, Node&) { return TensorList{g.to(Dtype::float64)}; });
  CHECK_THROWS_WITH_AS(out2.sum().backward(),
                       "TwiceBackward returned a gradient of dtype float64 for input 0 of dtype "
                       "float32 (shape [2, 3])",
                       std::invalid_argument);
}

TEST_CASE("a hook that returns a gradient of another shape or dtype is rejected") {
  Tensor p = tensor({1.0, 2.0, 3.0}).requires_grad_();
  p.register_hook([](const Tensor& g) { return g.to(Dtype::float64); });
  CHECK_THROWS_WITH_AS((p * 2.0).sum().backward(),
                       "register_hook: hook returned a gradient of shape [3] (float64) for a "
                       "tensor of shape [3] (float32)",
                       std::invalid_argument);
  Tensor q = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor h = q * 2.0;
  h.register_hook([](const Tensor& g) { return sum(g); });
  CHECK_THROWS_WITH_AS((h * 3.0).sum().backward(),
                       "register_hook: hook returned a gradient of shape [] (float32) for a "
                       "tensor of shape [3] (float32)",
                       std::invalid_argument);
  Tensor r = tensor({1.0, 2.0}).requires_grad_();
  r.register_hook([](const Tensor& g) { return expand(g.sum(), {2}); });  // same shape: fine
  (r * 2.0).sum().backward();
  CHECK(r.grad().to_vector<double>() == std::vector<double>{4.0, 4.0});
}

TEST_CASE(".grad() never aliases a tensor the user holds") {
  Tensor p = tensor({1.0, 2.0}).requires_grad_();
  Tensor kept = tensor({7.0, 7.0});
  p.register_hook([&kept](const Tensor&) { return kept; });
  (p * 2.0).sum().backward();
  CHECK(p.grad().to_vector<double>() == std::vector<double>{7.0, 7.0});
  p.grad().mul_(3.0);
  CHECK(kept.to_vector<double>() == std::vector<double>{7.0, 7.0});
  // a gradient given to backward() is not taken over either
  Tensor q = tensor({1.0, 2.0}).requires_grad_();
  Tensor g = tensor({5.0, 6.0});
  q.backward(g);
  q.grad().add_(1.0);
  CHECK(g.to_vector<double>() == std::vector<double>{5.0, 6.0});
  CHECK(q.grad().to_vector<double>() == std::vector<double>{6.0, 7.0});
}

TEST_CASE("xg::grad with 100,000 inputs looks each input up in constant time") {
  TensorList xs;
  for (int i = 0; i < 100000; ++i) xs.push_back(scalar(static_cast<double>(i)));
  Tensor y = (stack(xs) * 3.0).sum();
  TensorList g = grad({y}, xs);
  REQUIRE(g.size() == xs.size());
  bool all_three = true;
  for (const Tensor& gi : g) all_three = all_three && gi.item<double>() == 3.0;
  CHECK(all_three);
}

TEST_CASE("grad() through a freed graph names grad, not backward") {
  Tensor x = scalar(2.0);
  Tensor y = tanh(x) * x;
  grad({y}, {x});
  CHECK_THROWS_WITH_AS(
      grad({y}, {x}), doctest::Contains("grad: trying to backward through the graph a second time"),
      std::runtime_error);
  Tensor z = tanh(x) * x;
  z.backward();
  CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("backward: trying to backward"),
                       std::runtime_error);
}

TEST_CASE("a backward pass run inside a hook does not disturb the outer pass") {
  Tensor x = scalar(2.0), w = scalar(3.0);
  Tensor h = x * w;
  double inner = 0;
  bool asked_for_w = true;
  h.register_hook([&](const Tensor&) {
    EnableGradGuard with_grad;  // hooks run with grad mode off
    Tensor a = scalar(5.0);
    inner = grad({a * a}, {a})[0].item<double>();  // nested pass, d(a^2)/da = 10
    asked_for_w = h.grad_fn()->needs_grad(1);
    return Tensor();
  });
  TensorList g = grad({h * h}, {x});  // 2 h w = 36
  CHECK(inner == 10.0);
  CHECK_FALSE(asked_for_w);  // the outer pass is current again after the nested one
  CHECK(g[0].item<double>() == 36.0);
}

TEST_CASE("gradients of several roots and shared subgraphs go through one accumulation") {
  Tensor x = tensor({1.0, 2.0}, {2}, Dtype::float64).requires_grad_();
  Tensor a = x * 2.0, b = x * x;
  backward({a.sum(), b.sum(), a.sum()});  // x gets 2 + 2x + 2
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6.0, 8.0});
  Tensor y = x + x;  // AddBackward sends one gradient tensor to both inputs
  x.set_grad(Tensor());
  y.sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2.0, 2.0});
}

TEST_CASE("post-accumulate-grad hooks run after .grad() was updated, once per accumulation") {
  Tensor p = tensor({1.0, 2.0}, {2}, Dtype::float64).requires_grad_();
  std::vector<std::vector<double>> seen;
  p.register_hook([](const Tensor& g) { return g * 10.0; });  // runs first, replaces
  p.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    CHECK(leaf.is_same(p));
    seen.push_back(leaf.grad().to_vector<double>());
  });
  (p * p).sum().backward();  // grad 2p * 10
  CHECK(seen == std::vector<std::vector<double>>{{20.0, 40.0}});
  (p * 3.0).sum().backward();  // accumulates 30 more: the hook sees the sum
  CHECK(seen.back() == std::vector<double>{50.0, 70.0});
  backward({(p * 1.0).sum(), (p * 2.0).sum()});  // one gradient (summed in the graph): one call
  CHECK(seen.size() == 3);
  CHECK(seen.back() == std::vector<double>{80.0, 100.0});
  // Recorded backward (create_graph) runs them too.
  Tensor q = scalar(3.0);
  int calls = 0;
  q.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    ++calls;
    CHECK(leaf.grad().requires_grad());
  });
  (q * q).backward(Tensor(), true, true);
  CHECK(calls == 1);
  // grad() leaves .grad() alone: no call.
  grad({q * q}, {q});
  CHECK(calls == 1);
  // create_graph made a cycle q -> grad -> its graph -> q (as in PyTorch): break it.
  q.set_grad(Tensor());
}

TEST_CASE("a post-accumulate-grad hook needs a leaf that requires grad") {
  Tensor x = scalar(1.0);
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.register_post_accumulate_grad_hook([](const Tensor&) {}),
                       "register_post_accumulate_grad_hook: only leaf tensors accumulate into "
                       "grad(); this tensor of shape [] was made by MulBackward (use "
                       "register_hook)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(scalar(1.0, false).register_post_accumulate_grad_hook([](const Tensor&) {}),
                       "register_post_accumulate_grad_hook: cannot register a hook on a tensor "
                       "that does not require grad (shape [])",
                       std::invalid_argument);
}

TEST_CASE("queue_callback runs once after every gradient of the pass was accumulated") {
  Tensor a = scalar(2.0), b = scalar(3.0);
  std::vector<std::string> log;
  a.register_post_accumulate_grad_hook([&](const Tensor&) {
    log.push_back("a");
    queue_callback([&] {
      log.push_back("end:a=" + std::to_string(int(a.grad().item<double>())) +
                    ",b=" + std::to_string(int(b.grad().item<double>())));
      queue_callback([&] { log.push_back("queued by a callback"); });
    });
  });
  b.register_post_accumulate_grad_hook([&](const Tensor&) { log.push_back("b"); });
  (a * b).backward();
  REQUIRE(log.size() == 4);
  CHECK(log[3] == "queued by a callback");
  CHECK(log[2] == "end:a=3,b=2");  // after both leaves
  log.clear();
  (a * b).backward();  // the callbacks of the last pass are gone; the hook queues a new one
  CHECK(log.size() == 4);
  CHECK(log[2] == "end:a=6,b=4");
  CHECK_THROWS_WITH_AS(queue_callback([] {}),
                       "queue_callback: no backward pass is running on this thread (call it "
                       "from a hook during backward)",
                       std::invalid_argument);
}

TEST_CASE(
    "queue_callback: a pass nested in a hook runs its own callbacks; a failed pass drops "
    "them") {
  Tensor x = scalar(2.0);
  std::vector<std::string> log;
  Tensor h = x * 3.0;
  h.register_hook([&](const Tensor&) {
    queue_callback([&] { log.push_back("outer"); });
    EnableGradGuard with_grad;
    Tensor c = scalar(1.0);
    c.register_post_accumulate_grad_hook(
        [&](const Tensor&) { queue_callback([&] { log.push_back("inner"); }); });
    (c * 2.0).backward();
    log.push_back("after inner");
    return Tensor();
  });
  h.backward();
  CHECK(log == std::vector<std::string>{"inner", "after inner", "outer"});
  log.clear();
  Tensor y = x * 3.0;
  y.register_hook([&](const Tensor& g) {
    queue_callback([&] { log.push_back("never"); });
    return g.reshape({1});  // wrong shape: the pass throws
  });
  CHECK_THROWS(y.backward());
  (x * 1.0).backward();
  CHECK(log.empty());
}
