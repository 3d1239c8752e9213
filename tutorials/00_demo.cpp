// xgrad in one page: a two-layer network learns to separate two interleaved half-moons, trained
// with full-batch gradient descent on automatically computed gradients.
//
// Run: ./build/tutorials/demo
#include <cmath>
#include <cstdio>

#include "autograd/autograd.hpp"
#include "optim/optim.hpp"

using namespace xg;

/// n points on two interleaved half circles with a little noise: x [n, 2], int64 labels y [n, 1].
static std::pair<Tensor, Tensor> make_moons(std::size_t n) {
  std::vector<double> xs, ys;
  Tensor noise = randn({n, 2}) * 0.1;
  auto e = noise.to_vector<double>();
  for (std::size_t i = 0; i < n; ++i) {
    const bool upper = i % 2 == 0;
    const double t = M_PI * static_cast<double>(i / 2) / static_cast<double>(n / 2 - 1);
    xs.push_back((upper ? std::cos(t) : 1 - std::cos(t)) + e[2 * i]);
    xs.push_back((upper ? std::sin(t) : 0.5 - std::sin(t)) + e[2 * i + 1]);
    ys.push_back(upper ? 0 : 1);
  }
  return {tensor(xs, {n, 2}), tensor(ys, {n, 1}, Dtype::int64)};
}

/// A leaf parameter initialised uniformly in [-1/sqrt(fan_in), 1/sqrt(fan_in)] (PyTorch's Linear).
static Tensor param(Shape shape, std::size_t fan_in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return ((rand(shape) * 2.0 - 1.0) * bound).requires_grad_();
}

int main() {
  manual_seed(0);
  auto [x, y] = make_moons(200);
  Tensor w1 = param({16, 2}, 2), b1 = param({16}, 2);
  Tensor w2 = param({16, 16}, 16), b2 = param({16}, 16);
  Tensor w3 = param({2, 16}, 16), b3 = param({2}, 16);
  TensorList params{w1, b1, w2, b2, w3, b3};

  auto forward = [&](const Tensor& input) {
    Tensor h = tanh(linear(input, w1, b1));
    h = tanh(linear(h, w2, b2));
    return linear(h, w3, b3);  // logits [n, 2]
  };
  std::printf("xgrad demo: MLP 2-16-16-2 on 200 two-moons points, gradient descent (lr 0.5)\n");
  optim::SGD opt(params, optim::SGDOptions(0.5));
  double loss_value = 0, accuracy = 0;
  for (int step = 0; step <= 500; ++step) {
    Tensor logits = forward(x);
    // cross-entropy: minus the mean log-probability of the right class
    Tensor loss = -gather(log_softmax(logits, 1), 1, y).mean();
    opt.zero_grad();
    loss.backward();
    opt.step();  // p -= 0.5 * p.grad() for every parameter, outside the graph
    loss_value = loss.item<double>();
    // argmax gives int64 class indices; the sum of matches is the number correct
    accuracy = eq(argmax(logits, 1, true), y).sum().item<double>() / static_cast<double>(y.numel());
    if (step % 100 == 0)
      std::printf("step %3d  loss %.4f  accuracy %.1f%%\n", step, loss_value, 100 * accuracy);
  }
  std::printf("final: loss %.4f, training accuracy %.1f%%\n", loss_value, 100 * accuracy);
  // The recorded graph of one loss, followed from the loss back along first inputs.
  Tensor loss = -gather(log_softmax(forward(x), 1), 1, y).mean();
  std::printf("the loss's graph, from the loss back:");
  for (const Node* n = loss.grad_fn().get(); n;
       n = n->next_functions().empty() ? nullptr : n->next_functions()[0].get())
    std::printf(" %s", n->name().c_str());
  std::printf("\n");
  return accuracy > 0.95 ? 0 : 1;
}
