// Tutorial 10: write your own op. The lecture's loss, the cross-entropy of softmax scores
//   H(p, q) = -(1/N) sum_i sum_j p_ij log q_ij,   q_i = softmax(s_i),
// becomes one autograd Function with a hand-written backward, checked against finite
// differences (gradcheck) and, because a backward can be differentiated again, its second
// derivatives too (gradgradcheck). Two wrong backwards show what each check catches.
//
// Run:  ./build/tutorials/10_custom_op [--out DIR]     (--quick: the same, it takes < 1 s)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "autograd/autograd.hpp"
#include "autograd/extend.hpp"
#include "autograd/gradcheck.hpp"
#include "nn/nn.hpp"
#include "viz/viz.hpp"

using namespace xg;

/// H(p, softmax(s)) averaged over the N rows: scores s [N, C], target probabilities p [N, C]
/// -> a scalar. Both inputs may require grad.
struct SoftmaxCrossEntropy : Function<SoftmaxCrossEntropy> {
  static Tensor forward(AutogradContext& ctx, const Tensor& s, const Tensor& p) {
    ctx.save_for_backward({s, p});  // inputs, not log q: backward recomputes q differentiably
    const double n = static_cast<double>(s.size(0));
    return -(p * log_softmax(s, 1)).sum() / n;  // runs under NoGradGuard: records nothing
  }
  static TensorList backward(AutogradContext& ctx, const TensorList& grad_out) {
    const TensorList saved = ctx.get_saved_variables();
    const Tensor &s = saved[0], &p = saved[1];
    const Tensor g = grad_out[0] / static_cast<double>(s.size(0));  // dL/dH / N, shape []
    Tensor grad_s, grad_p;
    // dH/ds_ik = (q_ik sum_j p_ij - p_ik) / N   [N, C]; (q - p) / N when rows of p sum to 1
    if (ctx.needs_input_grad(0)) grad_s = g * (softmax(s, 1) * sum(p, {1}, true) - p);
    // dH/dp_ik = -log q_ik / N   [N, C]
    if (ctx.needs_input_grad(1)) grad_p = -g * log_softmax(s, 1);
    return {grad_s, grad_p};  // Tensor ops: this backward is itself differentiable
  }
};

/// A plain bug: the 1/N of the mean is forgotten in the gradient of s.
struct ForgotMeanCrossEntropy : Function<ForgotMeanCrossEntropy> {
  static Tensor forward(AutogradContext& ctx, const Tensor& s, const Tensor& p) {
    return SoftmaxCrossEntropy::forward(ctx, s, p);
  }
  static TensorList backward(AutogradContext& ctx, const TensorList& grad_out) {
    const TensorList saved = ctx.get_saved_variables();
    const Tensor g = grad_out[0] / static_cast<double>(saved[0].size(0));
    return {grad_out[0] * (softmax(saved[0], 1) - saved[1]), -g * log_softmax(saved[0], 1)};
  }
};

/// Right values, but q is computed from a detached s (as a raw kernel would): the backward
/// records no dependence on s, so its own derivative with respect to s is lost.
struct DetachedCrossEntropy : Function<DetachedCrossEntropy> {
  static Tensor forward(AutogradContext& ctx, const Tensor& s, const Tensor& p) {
    return SoftmaxCrossEntropy::forward(ctx, s, p);
  }
  static TensorList backward(AutogradContext& ctx, const TensorList& grad_out) {
    const TensorList saved = ctx.get_saved_variables();
    const Tensor &s = saved[0], &p = saved[1];
    const Tensor g = grad_out[0] / static_cast<double>(s.size(0));
    return {g * (softmax(s.detach(), 1) * sum(p, {1}, true) - p), -g * log_softmax(s, 1)};
  }
};

/// Runs one check and prints "passed" or the check's message (which names the worst element).
template <typename Check>
void report(const char* what, Check check) {
  try {
    check();
    std::printf("  %-34s passed\n", what);
  } catch (const std::exception& e) {
    std::printf("  %-34s FAILED: %s\n", what, e.what());
  }
}

/// gradcheck and gradgradcheck of Op on (s, p), both float64 and requiring grad.
template <typename Op>
void check_op(const char* name, const Tensor& s, const Tensor& p) {
  std::printf("%s:\n", name);
  auto fn = [](const TensorList& in) { return Op::apply(in[0], in[1]); };
  report("gradcheck (first derivatives)", [&] { gradcheck(fn, {s, p}); });
  report("gradgradcheck (second derivatives)", [&] { gradgradcheck(fn, {s, p}); });
}

int main(int argc, char** argv) {
  CLI::App app{"Tutorial 10: a custom op (softmax cross-entropy) checked by gradcheck"};
  std::string out = "runs/10_custom_op";
  bool quick = false;
  app.add_option("--out", out, "output folder (made if missing)");
  app.add_flag("--quick", quick, "for CI (this tutorial is always quick)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    std::filesystem::create_directories(out);
    manual_seed(0);
    // 1. Use it like any op: 4 samples, 3 classes; p one-hot (the lecture's labels).
    Tensor s = randn({4, 3}, Dtype::float64).requires_grad_();
    s.set_name("s");
    const Tensor labels = tensor({0, 2, 1, 2}, {4}, Dtype::int64);
    const Tensor p = one_hot(labels, 3, Dtype::float64);
    Tensor loss = SoftmaxCrossEntropy::apply(s, p);  // p needs no grad: backward skips it
    std::printf("H = %.6f, recorded as %s\n", loss.item<double>(), loss.grad_fn()->name().c_str());
    viz::render({loss}, out + "/custom_op_graph.png", viz::GraphOptions().show_values(true));
    loss.backward();
    const Tensor mine = s.grad().clone();

    // 2. The same through the library's cross_entropy (built from primitive ops).
    s.grad().zero_();
    nn::functional::cross_entropy(s, labels).backward();
    const double diff = abs(mine - s.grad()).max().item<double>();
    std::printf(
        "dH/ds (custom op):\n%s\nlargest difference from nn::functional::cross_entropy's: "
        "%.3g\n\n",
        mine.to_string().c_str(), diff);

    // 3. The checks. p is a probability distribution per row, but a free input: gradcheck and
    //    gradgradcheck perturb it, and its rows then no longer sum to 1.
    const Tensor s2 = randn({4, 3}, Dtype::float64).requires_grad_();
    const Tensor p2 = softmax(randn({4, 3}, Dtype::float64), 1).requires_grad_();
    check_op<SoftmaxCrossEntropy>("SoftmaxCrossEntropy (correct)", s2, p2);
    check_op<ForgotMeanCrossEntropy>("ForgotMeanCrossEntropy (no 1/N in dH/ds)", s2, p2);
    check_op<DetachedCrossEntropy>("DetachedCrossEntropy (q from s.detach())", s2, p2);
    std::printf("\ngraph of the custom op: %s/custom_op_graph.png\n", out.c_str());
    return diff < 1e-12 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "10_custom_op: %s\n", e.what());
    return 2;  // bad input (missing data, unwritable folder) or a failure: exit code 2
  }
}
