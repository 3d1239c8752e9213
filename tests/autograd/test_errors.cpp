// Every misuse throws an exception naming the op and the shapes or dtypes involved.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"
#include "tests/test_util.hpp"

using namespace xg;

#define CHECK_MESSAGE_IS(expr, text, type) CHECK_THROWS_WITH_AS(expr, doctest::Contains(text), type)

TEST_CASE("mismatched shapes") {
  CHECK_MESSAGE_IS(zeros({2, 3}) + zeros({4}),
                   "add: shapes [2, 3] and [4] cannot be broadcast together",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(mul(zeros({2, 3}), zeros({3, 2})),
                   "mul: shapes [2, 3] and [3, 2] cannot be broadcast", std::invalid_argument);
  CHECK_MESSAGE_IS(cat({zeros({2, 3}), zeros({2, 4})}, 0),
                   "cat: shapes [2, 3] and [2, 4] must match except in dimension 0",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(stack({zeros({2}), zeros({3})}),
                   "stack: expects each tensor to be equal size, got [2] and [3]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(expand(zeros({2, 3}), {2, 4}),
                   "expand: tensor of shape [2, 3] cannot be expanded to shape [2, 4]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(reshape(zeros({2, 3}), {4}),
                   "reshape: shape [4] is invalid for a tensor of shape [2, 3] (6 elements)",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(tensor({1, 2, 3}, {2, 2}),
                   "tensor: 3 values cannot fill shape [2, 2] (4 elements)", std::invalid_argument);
  Tensor p = zeros({2});
  CHECK_MESSAGE_IS(p.add_(zeros({3, 2})),
                   "add_: cannot broadcast [3, 2] into the in-place target of shape [2]",
                   std::invalid_argument);
}

TEST_CASE("matmul inner dimensions") {
  CHECK_MESSAGE_IS(matmul(zeros({64, 784}), zeros({256, 10})),
                   "matmul: shapes [64, 784] and [256, 10] cannot be multiplied (784 != 256)",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(mm(zeros({2, 3}), zeros({2, 3})),
                   "mm: shapes [2, 3] and [2, 3] cannot be multiplied (3 != 2)",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(mm(zeros({2, 3, 1}), zeros({2, 3})),
                   "mm: expected 2-D tensors, got shapes [2, 3, 1] and [2, 3]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(matmul(zeros({2, 3, 4}), zeros({5, 4, 2})),
                   "matmul: batch dimensions of shapes [2, 3, 4] and [5, 4, 2] cannot be broadcast",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(
      linear(zeros({8, 784}), zeros({10, 783})),
      "linear: input of shape [8, 784] and weight of shape [10, 783] cannot be multiplied",
      std::invalid_argument);
}

TEST_CASE("bad axis or index") {
  CHECK_MESSAGE_IS(sum(zeros({2, 3}), {2}),
                   "sum: dimension 2 out of range for a tensor of shape [2, 3] (expected -2 to 1)",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(softmax(zeros({4}), -2),
                   "softmax: dimension -2 out of range for a tensor of shape [4]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(select(zeros({3, 4}), 1, 4),
                   "select: index 4 is out of range for dimension 1 of size 4 (shape [3, 4])",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(narrow(zeros({3}), 0, 2, 2),
                   "narrow: start 2 and length 2 exceed dimension 0 of size 3",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(index_select(zeros({3, 4}), 0, tensor({0, 3})),
                   "index_select: index 3 is out of bounds for dimension 0 with size 3",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(gather(zeros({3, 4}), 1, tensor({5}, {1, 1})),
                   "gather: index 5 is out of bounds for dimension 1 with size 4",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(
      gather(zeros({3, 4}), 1, tensor({0}, {1})),
      "gather: index of shape [1] must have the same rank as the tensor of shape [3, 4]",
      std::invalid_argument);
  CHECK_MESSAGE_IS(permute(zeros({2, 3}), {0, 0}), "permute: dimension 0 repeated",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(permute(zeros({2, 3}), {0}), "permute: got 1 dims for a tensor of shape [2, 3]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(one_hot(tensor({3}), 3),
                   "one_hot: class index 3 at position 0 is out of range for 3 classes",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(zeros({2, 2}).item<float>(),
                   "item: only a one-element tensor can be converted to a scalar, got shape [2, 2]",
                   std::invalid_argument);
}

TEST_CASE("backward on a non-scalar without a gradient, or with a wrong one") {
  Tensor x = ones({2, 3}).requires_grad_();
  Tensor y = x * 2.0;
  CHECK_MESSAGE_IS(
      y.backward(),
      "backward: grad can be created implicitly only for one-element outputs, got shape [2, 3]",
      std::invalid_argument);
  CHECK_MESSAGE_IS(
      y.backward(ones({3})),
      "backward: gradient of shape [3] (float32) does not match output of shape [2, 3] (float32)",
      std::invalid_argument);
}

TEST_CASE("second backward after the graph was freed") {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  CHECK_MESSAGE_IS(y.backward(),
                   "backward: trying to backward through the graph a second time: the saved "
                   "tensors of SumBackward were freed",
                   std::runtime_error);
}

TEST_CASE("gradients of tensors that do not require grad") {
  Tensor x = ones({2});
  CHECK_MESSAGE_IS(
      (x * 2.0).sum().backward(),
      "backward: element 0 of tensors (shape []) does not require grad and has no grad_fn",
      std::invalid_argument);
  Tensor w = ones({2}).requires_grad_();
  CHECK_MESSAGE_IS(grad({(w * x).sum()}, {x}), "grad: input 0 (shape [2]) does not require grad",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(x.register_hook([](const Tensor& g) { return g; }),
                   "register_hook: cannot register a hook on a tensor that does not require grad",
                   std::invalid_argument);
  CHECK_MESSAGE_IS((w * 2.0).requires_grad_(false),
                   "requires_grad_: can only change requires_grad of leaf tensors",
                   std::invalid_argument);
}

TEST_CASE("dtype mismatch") {
  CHECK_MESSAGE_IS(ones({2}) + ones({2}, Dtype::float64),
                   "add: dtype mismatch (float32 and float64); convert one with .to()",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(matmul(ones({2, 2}), ones({2, 2}, Dtype::float64)),
                   "matmul: dtype mismatch (float32 and float64)", std::invalid_argument);
  CHECK_MESSAGE_IS(ones({2}).data_ptr<double>(),
                   "data_ptr: tensor has dtype float32, asked for float64", std::invalid_argument);
  Tensor p = ones({2}).requires_grad_();
  CHECK_MESSAGE_IS(
      p.set_grad(ones({2}, Dtype::float64)),
      "set_grad: gradient of shape [2] (float64) does not match tensor of shape [2] (float32)",
      std::invalid_argument);
}

TEST_CASE("bad arguments") {
  CHECK_MESSAGE_IS(clamp(ones({2}), 1.0, 0.0), "clamp: min 1 is larger than max 0",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(dropout(ones({2}), 1.5, true), "dropout: probability must be in [0, 1], got 1.5",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(var(ones({1})), "var: 1 elements leave no degrees of freedom with correction 1",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(arange(0, 5, -1), "arange: cannot go from 0 to 5 in steps of -1",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(max(zeros({0})),
                   "max: expected a reduction dim to be given for an empty tensor of shape [0]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(Tensor().shape(), "Tensor::shape: the tensor is undefined",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(add(Tensor(), ones({1})), "add: expected a defined tensor",
                   std::invalid_argument);
}

TEST_CASE("an undefined tensor argument is named by the op that got it") {
  const Tensor u, x = ones({2, 2}), i = zeros({2, 2});
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"add", [&] { add(u, 1.0); }},
      {"mul", [&] { mul(x, u); }},
      {"pow", [&] { pow(u, x); }},
      {"pow", [&] { pow(2.0, u); }},
      {"exp", [&] { exp(u); }},
      {"relu", [&] { relu(u); }},
      {"clamp", [&] { clamp(u, 0.0, 1.0); }},
      {"maximum", [&] { maximum(x, u); }},
      {"where", [&] { where(x, u, x); }},
      {"where", [&] { where(x, x, u); }},
      {"sum", [&] { sum(u); }},
      {"sum", [&] { sum(u, {0}); }},
      {"mean", [&] { mean(u); }},
      {"var", [&] { var(u); }},
      {"max", [&] { max(u); }},
      {"min", [&] { min(u, 0); }},
      {"logsumexp", [&] { logsumexp(u, {0}); }},
      {"softmax", [&] { softmax(u, 0); }},
      {"log_softmax", [&] { log_softmax(u, 0); }},
      {"matmul", [&] { matmul(x, u); }},
      {"mm", [&] { mm(u, x); }},
      {"bmm", [&] { bmm(u, x); }},
      {"linear", [&] { linear(u, x); }},
      {"reshape", [&] { reshape(u, {4}); }},
      {"view", [&] { view(u, {-1}); }},
      {"flatten", [&] { flatten(u); }},
      {"squeeze", [&] { squeeze(u); }},
      {"unsqueeze", [&] { unsqueeze(u, 0); }},
      {"transpose", [&] { transpose(u, 0, 1); }},
      {"permute", [&] { permute(u, {0}); }},
      {"expand", [&] { expand(u, {2}); }},
      {"sum_to", [&] { sum_to(u, {2}); }},
      {"cat",
       [&] {
         cat({x, u});
       }},
      {"stack",
       [&] {
         stack({x, u});
       }},
      {"slice", [&] { slice(u, 0, 0, 1); }},
      {"narrow", [&] { narrow(u, 0, 0, 1); }},
      {"select", [&] { select(u, 0, 0); }},
      {"index_select", [&] { index_select(u, 0, zeros({1})); }},
      {"gather", [&] { gather(u, 0, i); }},
      {"gather", [&] { gather(x, 0, u); }},
      {"scatter_add", [&] { scatter_add(x, 0, u, x); }},
      {"index_add", [&] { index_add(x, 0, u, x); }},
      {"conv2d",
       [&] {
         conv2d(u, ones({1, 1, 1, 1}));
       }},
      {"max_pool2d",
       [&] {
         max_pool2d(u, {2, 2});
       }},
      {"avg_pool2d",
       [&] {
         avg_pool2d(u, {2, 2});
       }},
      {"dropout", [&] { dropout(u, 0.5, true); }},
      {"one_hot", [&] { one_hot(u, 3); }},
      {"clone", [&] { u.clone(); }},
      {"to", [&] { u.to(Dtype::float64); }},
      {"t", [&] { u.t(); }},
  };
  for (const auto& [op, call] : calls) {
    INFO("op: " << op);
    const std::string msg = xg::test::error_of(call);
    CHECK(msg.rfind(op + ": ", 0) == 0);
    CHECK(msg.find("defined") != std::string::npos);
  }
}

TEST_CASE("sum_to and view name what is wrong") {
  CHECK_MESSAGE_IS(sum_to(ones({2, 3}), {4}), "sum_to: shape [2, 3] cannot be summed to [4]",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(sum_to(ones({3}), {2, 3}), "sum_to: shape [3] cannot be summed to [2, 3]",
                   std::invalid_argument);
  CHECK(sum_to(ones({2, 3}), {1, 3}).to_vector<double>() == std::vector<double>{2, 2, 2});
  CHECK(sum_to(ones({2, 3}), {}).item<double>() == 6.0);
  CHECK_MESSAGE_IS(view(ones({4}), {-1, -1}), "view: only one dimension can be inferred",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(view(ones({4}), {3, 2}),
                   "view: shape [3, 2] is invalid for a tensor of shape [4] (4 elements)",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(view(ones({4}), {int64_t(1) << 62, 8}),
                   "view: shape [4611686018427387904, 8] has too many elements",
                   std::invalid_argument);
  CHECK_MESSAGE_IS(softmax(zeros({0, 5}), 2), "softmax: dimension 2 out of range",
                   std::invalid_argument);
}
