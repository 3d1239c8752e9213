// Every op through gradcheck and gradgradcheck (float64 central differences), one row each:
// broadcasting, size-1 dims and inputs made non-contiguous in PyTorch terms (transpose/permute
// before the op) included.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

#include "autograd/autograd.hpp"

using namespace xg;

namespace {
enum class Init { normal, positive };

struct Case {
  std::string name;
  std::vector<Shape> shapes;
  std::function<Tensor(const TensorList&)> fn;
  Init init = Init::normal;
};

Tensor input(const Shape& s, Init init) {
  Tensor t = init == Init::positive ? add(rand(s, Dtype::float64), 0.5) : randn(s, Dtype::float64);
  return t.requires_grad_();
}

Tensor idx(const std::vector<double>& v, const Shape& s) { return tensor(v, s, Dtype::float64); }

std::vector<Case> cases() {
  const Init pos = Init::positive;
  return {
      // arithmetic with broadcasting
      {"add", {{3, 4}, {3, 4}}, [](auto x) { return x[0] + x[1]; }},
      {"add/broadcast row", {{3, 4}, {4}}, [](auto x) { return x[0] + x[1]; }},
      {"add/outer size-1 dims", {{3, 1}, {1, 4}}, [](auto x) { return x[0] + x[1]; }},
      {"add/scalar", {{2, 3}}, [](auto x) { return x[0] + 1.5; }},
      {"sub/broadcast 3-D", {{2, 3, 4}, {3, 1}}, [](auto x) { return x[0] - x[1]; }},
      {"sub/scalar minus tensor", {{4}}, [](auto x) { return 2.0 - x[0]; }},
      {"mul/broadcast column", {{3, 4}, {3, 1}}, [](auto x) { return x[0] * x[1]; }},
      {"mul/scalar", {{5}}, [](auto x) { return x[0] * -3.0; }},
      {"mul/0-d times matrix", {{}, {2, 3}}, [](auto x) { return x[0] * x[1]; }},
      {"div/broadcast", {{3, 4}, {4}}, [](auto x) { return x[0] / x[1]; }, pos},
      {"div/scalar over tensor", {{4}}, [](auto x) { return 2.0 / x[0]; }, pos},
      {"neg", {{2, 3}}, [](auto x) { return -x[0]; }},
      {"pow/scalar 3", {{2, 3}}, [](auto x) { return pow(x[0], 3.0); }},
      {"pow/scalar 2", {{2, 3}}, [](auto x) { return pow(x[0], 2.0); }},
      {"pow/scalar -1.5", {{4}}, [](auto x) { return pow(x[0], -1.5); }, pos},
      {"pow/tensor exponent", {{3, 2}, {2}}, [](auto x) { return pow(x[0], x[1]); }, pos},
      {"pow/scalar base", {{4}}, [](auto x) { return pow(2.0, x[0]); }},
      {"exp", {{2, 3}}, [](auto x) { return exp(x[0]); }},
      {"log", {{2, 3}}, [](auto x) { return log(x[0]); }, pos},
      {"sqrt", {{2, 3}}, [](auto x) { return sqrt(x[0]); }, pos},
      {"abs", {{2, 3}}, [](auto x) { return abs(x[0]); }},
      {"sin", {{4}}, [](auto x) { return sin(x[0]); }},
      {"cos", {{4}}, [](auto x) { return cos(x[0]); }},
      {"erf", {{4}}, [](auto x) { return erf(x[0]); }},
      {"clamp", {{3, 4}}, [](auto x) { return clamp(x[0], -0.5, 0.5); }},
      {"clamp/min only", {{3, 4}}, [](auto x) { return clamp(x[0], 0.1, std::nullopt); }},
      {"maximum/broadcast", {{3, 4}, {4}}, [](auto x) { return maximum(x[0], x[1]); }},
      {"minimum", {{3, 4}, {3, 4}}, [](auto x) { return minimum(x[0], x[1]); }},
      {"where/broadcast",
       {{3, 4}, {4}},
       [](auto x) { return where(gt(x[0].detach(), 0.0), x[0], x[1]); }},
      // activations
      {"relu", {{3, 4}}, [](auto x) { return relu(x[0]); }},
      {"leaky_relu", {{3, 4}}, [](auto x) { return leaky_relu(x[0], 0.2); }},
      {"sigmoid", {{3, 4}}, [](auto x) { return sigmoid(x[0]); }},
      {"tanh", {{3, 4}}, [](auto x) { return tanh(x[0]); }},
      {"gelu", {{3, 4}}, [](auto x) { return gelu(x[0]); }},
      {"softplus/beta 2", {{3, 4}}, [](auto x) { return softplus(x[0], 2.0, 20.0); }},
      // reductions
      {"sum/all", {{3, 4}}, [](auto x) { return sum(x[0]); }},
      {"sum/dim 0 keepdim", {{3, 4}}, [](auto x) { return sum(x[0], {0}, true); }},
      {"sum/dims -1,0 of 3-D",
       {{2, 3, 4}},
       [](auto x) {
         return sum(x[0], {-1, 0});
       }},
      {"mean/all", {{3, 4}}, [](auto x) { return mean(x[0]); }},
      {"mean/dim 1", {{3, 4}}, [](auto x) { return mean(x[0], {1}); }},
      {"var/all", {{3, 4}}, [](auto x) { return var(x[0]); }},
      {"var/dim 0 keepdim biased", {{3, 4}}, [](auto x) { return var(x[0], {0}, true, 0); }},
      {"max/all", {{3, 4}}, [](auto x) { return max(x[0]); }},
      {"max/dim 1", {{3, 4}}, [](auto x) { return max(x[0], 1); }},
      {"min/dim 0 keepdim", {{3, 4}}, [](auto x) { return min(x[0], 0, true); }},
      {"min/all", {{5}}, [](auto x) { return min(x[0]); }},
      {"max_with_indices/dim 1", {{3, 4}}, [](auto x) { return max_with_indices(x[0], 1).first; }},
      {"logsumexp/dim 1", {{3, 4}}, [](auto x) { return logsumexp(x[0], {1}); }},
      {"logsumexp/all keepdim", {{3, 4}}, [](auto x) { return logsumexp(x[0], {}, true); }},
      {"softmax/dim 1", {{3, 4}}, [](auto x) { return softmax(x[0], 1); }},
      {"softmax/3-D middle dim", {{2, 3, 2}}, [](auto x) { return softmax(x[0], 1); }},
      {"log_softmax/dim 0", {{3, 4}}, [](auto x) { return log_softmax(x[0], 0); }},
      {"log_softmax/dim -1", {{2, 5}}, [](auto x) { return log_softmax(x[0], -1); }},
      // 0-d tensors take dim 0 / -1 as one element (PyTorch); zero-size tensors reduce to 0/-inf
      {"sum/0-d dim 0", {{}}, [](auto x) { return sum(x[0], {0}); }},
      {"mean/0-d dim -1 keepdim", {{}}, [](auto x) { return mean(x[0], {-1}, true); }},
      {"max/0-d dim 0", {{}}, [](auto x) { return max(x[0], 0) * x[0]; }},
      {"logsumexp/0-d", {{}}, [](auto x) { return logsumexp(x[0], {0}); }},
      {"softmax/0-d", {{}}, [](auto x) { return softmax(x[0], 0) * x[0]; }},
      {"log_softmax/0-d", {{}}, [](auto x) { return log_softmax(x[0], -1) + x[0]; }},
      {"sum/empty dim", {{0, 3}}, [](auto x) { return sum(x[0], {0}); }},
      {"softmax/empty rows", {{0, 4}}, [](auto x) { return softmax(x[0], 1); }},
      // linear algebra
      {"matmul/2-D", {{3, 4}, {4, 2}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/1-D dot", {{4}, {4}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/1-D @ 2-D", {{4}, {4, 3}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/2-D @ 1-D", {{3, 4}, {4}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/3-D @ 2-D", {{2, 3, 4}, {4, 2}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/batched broadcast",
       {{2, 1, 3, 4}, {3, 4, 2}},
       [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/1-D @ 3-D", {{4}, {2, 4, 3}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/empty inner", {{2, 0}, {0, 3}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"matmul/empty rows", {{0, 3}, {3, 2}}, [](auto x) { return matmul(x[0], x[1]); }},
      {"linear/empty inner with bias",
       {{3, 0}, {4, 0}, {4}},
       [](auto x) { return linear(x[0], x[1], x[2]); }},
      {"matmul/transposed input",
       {{4, 3}, {4, 2}},
       [](auto x) { return matmul(x[0].transpose(0, 1), x[1]); }},
      {"mm/transpose flags", {{4, 3}, {2, 4}}, [](auto x) { return mm(x[0], x[1], true, true); }},
      {"mm/transpose a", {{4, 3}, {4, 2}}, [](auto x) { return mm(x[0], x[1], true, false); }},
      {"bmm/transpose b",
       {{2, 3, 4}, {2, 5, 4}},
       [](auto x) { return bmm(x[0], x[1], false, true); }},
      {"linear/3-D input with bias",
       {{2, 3, 4}, {5, 4}, {5}},
       [](auto x) { return linear(x[0], x[1], x[2]); }},
      // shape and indexing
      {"reshape",
       {{3, 4}},
       [](auto x) {
         return reshape(x[0], {2, 6}) * 2.0;
       }},
      {"view -1",
       {{3, 4}},
       [](auto x) {
         return view(x[0], {-1, 2});
       }},
      {"flatten", {{2, 3, 2}}, [](auto x) { return flatten(x[0], 1); }},
      {"squeeze", {{3, 1, 2}}, [](auto x) { return squeeze(x[0]); }},
      {"squeeze/dim", {{3, 1}}, [](auto x) { return squeeze(x[0], 1); }},
      {"unsqueeze", {{3, 2}}, [](auto x) { return unsqueeze(x[0], 1) * x[0].unsqueeze(0).sum(); }},
      {"transpose", {{2, 3, 4}}, [](auto x) { return transpose(x[0], 0, 2); }},
      {"permute",
       {{2, 3, 4}},
       [](auto x) {
         return permute(x[0], {1, 2, 0});
       }},
      {"permute then add",
       {{2, 3}, {3, 2}},
       [](auto x) {
         return permute(x[0], {1, 0}) + x[1];
       }},
      {"expand",
       {{3, 1}},
       [](auto x) {
         return expand(x[0], {2, 3, 4});
       }},
      {"sum_to",
       {{2, 3, 4}},
       [](auto x) {
         return sum_to(x[0], {3, 1});
       }},
      {"cat/dim 1",
       {{2, 3}, {2, 1}},
       [](auto x) {
         return cat({x[0], x[1]}, 1);
       }},
      {"stack/dim 0",
       {{2, 3}, {2, 3}},
       [](auto x) {
         return stack({x[0], x[1]}, 0);
       }},
      {"slice/step 2", {{5, 3}}, [](auto x) { return slice(x[0], 0, 1, 5, 2); }},
      {"narrow", {{3, 5}}, [](auto x) { return narrow(x[0], 1, 1, 3); }},
      {"select", {{3, 4}}, [](auto x) { return select(x[0], 1, -1); }},
      {"stack/0-d",
       {{}, {}},
       [](auto x) {
         return stack({x[0], x[1]});
       }},
      {"gather/0-d", {{}}, [](auto x) { return gather(x[0], 0, idx({0}, {})); }},
      {"pow/negative base, whole exponents",
       {{4}},
       [](auto x) {
         return pow(add(x[0], -3.0), idx({2, 3, -1, 0}, {4}));
       },
       pos},
      {"index_select/repeats",
       {{4, 3}},
       [](auto x) {
         return index_select(x[0], 0, idx({3, 0, 3}, {3}));
       }},
      {"gather/dim 1",
       {{3, 4}},
       [](auto x) {
         return gather(x[0], 1, idx({0, 3, 1, 1, 2, 2}, {3, 2}));
       }},
      {"scatter_add",
       {{3, 4}, {3, 2}},
       [](auto x) {
         return scatter_add(x[0], 1, idx({0, 3, 1, 1, 2, 2}, {3, 2}), x[1]);
       }},
      {"index_add",
       {{4, 3}, {2, 3}},
       [](auto x) {
         return index_add(x[0], 0, idx({1, 1}, {2}), x[1]);
       }},
      {"index_fill/dim 1",
       {{3, 4}},
       [](auto x) {
         return index_fill(x[0], 1, idx({3, 0}, {2}), 2.5);
       }},
      {"masked_fill/broadcast mask",
       {{3, 4}},
       [](auto x) {
         return masked_fill(x[0], idx({1, 0, 0, 1}, {4}), -1.0);
       }},
      {"index_copy/dim 1",
       {{3, 4}, {3, 2}},
       [](auto x) {
         return index_copy(x[0], 1, idx({2, 0}, {2}), x[1]);
       }},
      {"index_put/broadcast values",
       {{3, 4}, {4}},
       [](auto x) {
         return index_put(x[0], {idx({2, 0}, {2})}, x[1]);
       }},
      {"index_put/two indices",
       {{3, 4, 2}, {3, 1}},
       [](auto x) {
         return index_put(x[0], {idx({2, 0, 1}, {3}), idx({3, 3, 0}, {3})}, x[1]);
       }},
      {"index_put/accumulate duplicates",
       {{3, 4}, {3}},
       [](auto x) {
         return index_put(x[0], {idx({1, 1, 2}, {3}), idx({0, 0, 3}, {3})}, x[1], true);
       }},
      {"clone", {{2, 3}}, [](auto x) { return x[0].clone(); }},
      {"dropout/seeded",
       {{4, 5}},
       [](auto x) {
         manual_seed(7);
         return dropout(x[0], 0.3, true);
       }},
      // in-place ops on a non-leaf rebase its history
      {"mul_/in place",
       {{3, 4}, {4}},
       [](auto x) {
         Tensor y = x[0] * 1.0;
         y.mul_(x[1]);
         return y;
       }},
      {"add_/in place with alpha",
       {{3, 4}, {3, 4}},
       [](auto x) {
         Tensor y = sin(x[0]);  // saves its input, not y, so y may change in place
         y.add_(x[1], 0.5);
         return y;
       }},
      {"div_/in place",
       {{3}, {3}},
       [](auto x) {
         Tensor y = x[0] * 2.0;
         y.div_(x[1]);
         return y;
       },
       pos},
      {"fill_/in place",
       {{3, 4}},
       [](auto x) {
         Tensor y = sin(x[0]);  // saves its input, not y
         y.fill_(2.0);
         return y * x[0];
       }},
      {"copy_/in place broadcast",
       {{3, 4}, {4}},
       [](auto x) {
         Tensor y = x[0] * 2.0;
         y.copy_(x[1]);
         return y;
       }},
      // convolution and pooling: their backward passes are recorded ops (twice differentiable)
      {"conv2d/stride 2 padding 1 dilation 2",
       {{2, 2, 6, 5}, {3, 2, 3, 2}, {3}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {2, 1}, {1, 1}, {2, 1});
       }},
      {"conv2d/groups 2",
       {{2, 4, 5, 4}, {6, 2, 2, 3}, {6}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {1, 2}, {1, 1}, {1, 1}, 2);
       }},
      {"conv2d/3x3 no bias",
       {{2, 2, 5, 4}, {3, 2, 3, 3}},
       [](auto x) { return conv2d(x[0], x[1]); }},
      {"conv2d/stride 2 no bias",
       {{2, 3, 7, 6}, {2, 3, 3, 3}},
       [](auto x) {
         return conv2d(x[0], x[1], Tensor(), {2, 2});
       }},
      {"conv2d/padding 1 (same size)",
       {{2, 2, 5, 5}, {3, 2, 3, 3}, {3}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1});
       }},
      {"conv2d/dilation 2 padding 2 no bias",
       {{1, 2, 6, 6}, {2, 2, 3, 3}},
       [](auto x) {
         return conv2d(x[0], x[1], Tensor(), {1, 1}, {2, 2}, {2, 2});
       }},
      {"conv2d/depthwise groups 3 stride 2",
       {{2, 3, 6, 5}, {3, 1, 3, 3}, {3}},
       [](auto x) {
         return conv2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 1}, 3);
       }},
      {"conv2d/input transposed first",
       {{2, 2, 4, 5}, {2, 2, 2, 2}, {2}},
       [](auto x) { return conv2d(x[0].transpose(2, 3), x[1], x[2]); }},
      {"max_pool2d",
       {{2, 2, 4, 5}},
       [](auto x) {
         return max_pool2d(x[0], {2, 2}, {2, 1}, {1, 0});
       }},
      {"max_pool2d/2x2 stride 2 (fast path)",
       {{2, 2, 4, 6}},
       [](auto x) {
         return max_pool2d(x[0], {2, 2});
       }},
      {"max_pool2d/overlapping dilation 2",
       {{1, 2, 6, 6}},
       [](auto x) {
         return max_pool2d(x[0], {3, 2}, {1, 1}, {1, 1}, {2, 2});
       }},
      {"avg_pool2d",
       {{2, 2, 4, 5}},
       [](auto x) {
         return avg_pool2d(x[0], {3, 2}, {1, 2}, {1, 1});
       }},
      {"avg_pool2d/2x2",
       {{2, 3, 4, 4}},
       [](auto x) {
         return avg_pool2d(x[0], {2, 2});
       }},
  };
}
}  // namespace

TEST_CASE("every op passes gradcheck and gradgradcheck in float64") {
  manual_seed(0);
  int checked = 0;
  for (const Case& c : cases()) {
    TensorList inputs;
    for (const Shape& s : c.shapes) inputs.push_back(input(s, c.init));
    INFO("op: " << c.name);
    try {
      CHECK(gradcheck(c.fn, inputs));
      CHECK(gradgradcheck(c.fn, inputs));
      ++checked;
    } catch (const std::exception& e) {
      FAIL_CHECK(e.what());
    }
  }
  CHECK(checked == static_cast<int>(cases().size()));
}

TEST_CASE("gradcheck reports the input, the worst element and both values on a wrong gradient") {
  // A deliberately wrong gradient: the value is x^2 but the graph only sees 0 * x.
  auto wrong = [](const TensorList& in) { return (in[0] * in[0]).detach() + 0.0 * in[0]; };
  Tensor x = tensor({1.0, 2.0}, {2}, Dtype::float64).requires_grad_();
  try {
    gradcheck(wrong, {x});
    FAIL("gradcheck accepted a wrong gradient");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("input 0") != std::string::npos);
    CHECK(msg.find("analytic 0") != std::string::npos);
    CHECK(msg.find("input element 1: analytic 0, numeric 4") != std::string::npos);
  }
  GradcheckOptions quiet;
  quiet.raise_exception = false;
  CHECK_FALSE(gradcheck(wrong, {x}, quiet));
}
