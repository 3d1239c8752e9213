// The int64 dtype (PyTorch's long) for indices and labels: creation, printing, conversion,
// argmax/argmin/max_with_indices, int64 index tensors, comparisons and sum, and the clear errors
// of every floating point op given an int64 tensor. Expected values from PyTorch 1.13.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"
#include "optim/optim.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;
using I = std::vector<int64_t>;
using V = std::vector<double>;

namespace {
Tensor longs(const std::vector<double>& v, const Shape& s) { return tensor(v, s, Dtype::int64); }
Tensor longs(const std::vector<double>& v) { return tensor(v, {v.size()}, Dtype::int64); }
const char* const kNotFloat = ": expected a floating point tensor (float32 or float64), got int64";
}  // namespace

TEST_CASE("int64: dtype name, element size, creation") {
  CHECK(std::string(dtype_name(Dtype::int64)) == "int64");
  CHECK(element_size(Dtype::int64) == 8);
  Tensor t = longs({1, 2, 3});
  CHECK(t.dtype() == Dtype::int64);
  CHECK(t.to_vector<int64_t>() == I{1, 2, 3});
  CHECK(tensor({-2.7, 2.7, -0.5}, {3}, Dtype::int64).to_vector<int64_t>() == I{-2, 2, 0});
  CHECK(zeros({2, 2}, Dtype::int64).to_vector<int64_t>() == I{0, 0, 0, 0});
  CHECK(ones({3}, Dtype::int64).to_vector<int64_t>() == I{1, 1, 1});
  CHECK(full({2}, 7, Dtype::int64).to_vector<int64_t>() == I{7, 7});
  CHECK(arange(4, Dtype::int64).to_vector<int64_t>() == I{0, 1, 2, 3});
  CHECK(arange(1, 8, 3, Dtype::int64).to_vector<int64_t>() == I{1, 4, 7});
  CHECK(linspace(0, 10, 5, Dtype::int64).to_vector<int64_t>() == I{0, 2, 5, 7, 10});
  CHECK(eye(2, Dtype::int64).to_vector<int64_t>() == I{1, 0, 0, 1});
  CHECK(zeros_like(t).dtype() == Dtype::int64);
  CHECK(ones_like(t).to_vector<int64_t>() == I{1, 1, 1});
  CHECK(full_like(t, -4).to_vector<int64_t>() == I{-4, -4, -4});
  CHECK(scalar_tensor(9, Dtype::int64).item<int64_t>() == 9);
  // 2^53 is the largest exact value through a double; created exactly.
  CHECK(full({1}, 9007199254740992.0, Dtype::int64).item<int64_t>() == (int64_t{1} << 53));

  manual_seed(3);
  Tensor r = randint(-5, 5, {1000}, Dtype::int64);
  CHECK(r.dtype() == Dtype::int64);
  int64_t lo = 100, hi = -100;
  for (int64_t v : r.to_vector<int64_t>()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo == -5);
  CHECK(hi == 4);
  const int64_t big = int64_t{1} << 62;  // exact: not routed through a double
  CHECK(randint(big, big + 1, {2}, Dtype::int64).to_vector<int64_t>() == I{big, big});

  CHECK(error_of([] { tensor({NAN}, {1}, Dtype::int64); }) ==
        "tensor: value nan cannot be represented as int64");
  CHECK(error_of([] { full({1}, 1e19, Dtype::int64); }) ==
        "full: value 1e+19 cannot be represented as int64");
  CHECK(error_of([] { randn({2}, Dtype::int64); }) == std::string("randn") + kNotFloat);
  CHECK(error_of([] { rand({2}, Dtype::int64); }) == std::string("rand") + kNotFloat);
}

TEST_CASE("int64: printed like PyTorch, without decimals") {
  CHECK(longs({1, 2, 3}).to_string() == "tensor([1, 2, 3])");
  CHECK(longs({1, 2, 10, 3}, {2, 2}).to_string() == "tensor([[ 1,  2],\n        [10,  3]])");
  CHECK(scalar_tensor(5, Dtype::int64).to_string() == "tensor(5)");
  CHECK(longs({-123456789012.0, 5}).to_string() == "tensor([-123456789012,             5])");
  // PyTorch names the dtype only for an empty int64 tensor.
  CHECK(zeros({0}, Dtype::int64).to_string() == "tensor([], dtype=int64)");
  // summarized as the float tensors are (PyTorch writes ",  ..., ")
  CHECK(arange(2000, Dtype::int64).reshape({2, 1000}).to_string() ==
        "tensor([[   0,    1,    2, ...,  997,  998,  999],\n"
        "        [1000, 1001, 1002, ..., 1997, 1998, 1999]])");
  // Values past 2^53 print exactly (not through a double).
  Tensor big = zeros({1}, Dtype::int64);
  big.data_ptr<int64_t>()[0] = std::numeric_limits<int64_t>::max();
  CHECK(big.to_string() == "tensor([9223372036854775807])");
  // float printing is unchanged
  CHECK(tensor({1, 2.5}).to_string() == "tensor([1.0000, 2.5000])");
}

TEST_CASE("int64: item, to_vector, data_ptr") {
  Tensor t = longs({4, -7}, {2});
  CHECK(t.to_vector<int64_t>() == I{4, -7});
  CHECK(t.to_vector<double>() == V{4, -7});
  CHECK(t.to_vector<int>() == std::vector<int>{4, -7});
  CHECK(select(t, 0, 1).item<int64_t>() == -7);
  CHECK(select(t, 0, 0).item<double>() == 4.0);
  int64_t* p = t.data_ptr<int64_t>();
  p[0] = int64_t{1} << 60;
  CHECK(t.to_vector<int64_t>()[0] == int64_t{1} << 60);
  CHECK(error_of([&] { t.data_ptr<float>(); }) ==
        "data_ptr: tensor has dtype int64, asked for float32");
  CHECK(error_of([&] { tensor({1.0}).data_ptr<int64_t>(); }) ==
        "data_ptr: tensor has dtype float32, asked for int64");
}

TEST_CASE("int64: to() truncates toward zero and is not differentiable") {
  Tensor x = tensor({-2.7, 2.7, -0.5, 3.0, -3.0}, {5}).requires_grad_();
  Tensor l = x.to(Dtype::int64);
  CHECK(l.dtype() == Dtype::int64);
  CHECK(l.to_vector<int64_t>() == I{-2, 2, 0, 3, -3});
  CHECK_FALSE(l.requires_grad());
  CHECK(l.is_leaf());
  CHECK(tensor({-2.7, 1e15 + 0.5}, {2}, Dtype::float64).to(Dtype::int64).to_vector<int64_t>() ==
        I{-2, 1000000000000000});
  // back to float: the values, no graph
  Tensor f = l.to(Dtype::float32);
  CHECK(f.dtype() == Dtype::float32);
  CHECK(f.to_vector<double>() == V{-2, 2, 0, 3, -3});
  CHECK_FALSE(f.requires_grad());
  CHECK(l.to(Dtype::float64).dtype() == Dtype::float64);
  CHECK(l.to(Dtype::int64).is_same(l));
  CHECK(error_of([] {
          tensor({1, NAN}).to(Dtype::int64);
        }) == "to: value nan cannot be represented as int64");
  CHECK(error_of([] { tensor({INFINITY}).to(Dtype::int64); }) ==
        "to: value inf cannot be represented as int64");
}

TEST_CASE("int64: never requires grad") {
  Tensor t = longs({1, 2});
  CHECK(error_of([&] { t.requires_grad_(); }) ==
        "requires_grad_: only floating point tensors can require gradients, got int64");
  CHECK_FALSE(t.requires_grad());
  t.requires_grad_(false);  // allowed
  CHECK_FALSE(t.requires_grad());
  // an int64 result of a recorded float tensor is cut from the graph
  Tensor x = tensor({1.0, 3.0, 2.0}).requires_grad_();
  Tensor i = argmax(x);
  CHECK_FALSE(i.requires_grad());
  CHECK_FALSE(eq(x.to(Dtype::int64), longs({1, 3, 0})).requires_grad());
}

TEST_CASE("int64: floating point ops fail naming the op") {
  const Tensor l = longs({1, 2, 3, 4}, {2, 2});
  const Tensor f = zeros({2, 2});
  auto is = [](const std::string& got, const std::string& op) {
    INFO(got);
    CHECK(got == op + kNotFloat);
  };
  // pointwise
  is(error_of([&] { exp(l); }), "exp");
  is(error_of([&] { log(l); }), "log");
  is(error_of([&] { sqrt(l); }), "sqrt");
  is(error_of([&] { neg(l); }), "neg");
  is(error_of([&] { abs(l); }), "abs");
  is(error_of([&] { pow(l, 2.0); }), "pow");
  is(error_of([&] { pow(2.0, l); }), "pow");
  is(error_of([&] { relu(l); }), "relu");
  is(error_of([&] { sigmoid(l); }), "sigmoid");
  is(error_of([&] { tanh(l); }), "tanh");
  is(error_of([&] { clamp(l, 0.0, 1.0); }), "clamp");
  is(error_of([&] { add(l, 1.0); }), "add");
  is(error_of([&] { l * 2.0; }), "mul");
  is(error_of([&] { l + l; }), "add");
  is(error_of([&] { l / l; }), "div");
  is(error_of([&] { maximum(l, l); }), "maximum");
  is(error_of([&] { where(l, l, l); }), "where");
  is(error_of([&] { dropout(l, 0.5, true); }), "dropout");
  // int64 with float: a dtype mismatch, as float32 with float64
  CHECK(error_of([&] { l + f; }) ==
        "add: dtype mismatch (int64 and float32); convert one with .to()");
  CHECK(error_of([&] { eq(f, l); }) ==
        "eq: dtype mismatch (float32 and int64); convert one with .to()");
  // reductions and softmax
  is(error_of([&] { max(l); }), "max");
  is(error_of([&] { min(l, 0); }), "min");
  is(error_of([&] { var(l); }), "var");
  is(error_of([&] { logsumexp(l, {1}); }), "logsumexp");
  is(error_of([&] { softmax(l, 1); }), "softmax");
  is(error_of([&] { log_softmax(l, 1); }), "log_softmax");
  CHECK(error_of([&] { mean(l); }) ==
        "mean: expected a floating point tensor (float32 or float64), got int64; use "
        ".to(Dtype::float32) first, or sum() for the exact integer total");
  // linear algebra and convolution
  is(error_of([&] { matmul(l, l); }), "matmul");
  is(error_of([&] { mm(l, l); }), "mm");
  is(error_of([&] { linear(l, l); }), "linear");
  CHECK(error_of([&] { matmul(l, f); }) ==
        "matmul: dtype mismatch (int64 and float32); convert one with .to()");
  const Tensor img = zeros({1, 1, 3, 3}, Dtype::int64);
  is(error_of([&] { conv2d(img, img); }), "conv2d");
  is(error_of([&] { max_pool2d(img, {2, 2}); }), "max_pool2d");
  is(error_of([&] { avg_pool2d(img, {2, 2}); }), "avg_pool2d");
  // in-place arithmetic; fill_, zero_ and copy_ work
  Tensor m = longs({1, 2});
  is(error_of([&] { m.add_(1.0); }), "add_");
  is(error_of([&] { m.mul_(m); }), "mul_");
  m.fill_(5);
  CHECK(m.to_vector<int64_t>() == I{5, 5});
  m.copy_(tensor({-1.5, 2.5}));
  CHECK(m.to_vector<int64_t>() == I{-1, 2});
  m.zero_();
  CHECK(m.to_vector<int64_t>() == I{0, 0});
  Tensor g = zeros({2});
  g.copy_(longs({3, 4}));
  CHECK(g.to_vector<double>() == V{3, 4});
}

TEST_CASE("int64: shape ops move the values unchanged") {
  const int64_t big = (int64_t{1} << 60) + 1;  // would lose its low bit through a double
  Tensor t = arange(6, Dtype::int64).reshape({2, 3});
  t.data_ptr<int64_t>()[5] = big;
  auto vals = [](const Tensor& x) {
    CHECK(x.dtype() == Dtype::int64);
    return x.to_vector<int64_t>();
  };
  CHECK(vals(view(t, {3, -1})) == I{0, 1, 2, 3, 4, big});
  CHECK(vals(flatten(t)) == I{0, 1, 2, 3, 4, big});
  CHECK(vals(squeeze(unsqueeze(t, 0))) == I{0, 1, 2, 3, 4, big});
  CHECK(vals(transpose(t, 0, 1)) == I{0, 3, 1, 4, 2, big});
  CHECK(vals(permute(t, {1, 0})) == I{0, 3, 1, 4, 2, big});
  CHECK(vals(t.t()) == I{0, 3, 1, 4, 2, big});
  CHECK(vals(expand(select(t, 0, 1), {2, 3})) == I{3, 4, big, 3, 4, big});
  CHECK(vals(cat({t, t}, 1)) == I{0, 1, 2, 0, 1, 2, 3, 4, big, 3, 4, big});
  CHECK(vals(stack({select(t, 1, 2), select(t, 1, 0)})) == I{2, big, 0, 3});
  CHECK(vals(slice(t, 1, 0, 3, 2)) == I{0, 2, 3, big});
  CHECK(vals(narrow(t, 1, 1, 2)) == I{1, 2, 4, big});
  CHECK(vals(index_select(t, 1, longs({2, 0}))) == I{2, 0, big, 3});
  CHECK(vals(gather(t, 1, longs({2, 2}, {2, 1}))) == I{2, big});
  CHECK(vals(t.clone()) == I{0, 1, 2, 3, 4, big});
  CHECK(vals(t.detach()) == I{0, 1, 2, 3, 4, big});
}

TEST_CASE("argmax and argmin return int64: first index on ties, NaN counts as the extreme") {
  Tensor a = tensor({1, 5, 2, 7, 0, 7}, {2, 3});
  CHECK(argmax(a).dtype() == Dtype::int64);
  CHECK(argmax(a).dim() == 0);
  CHECK(argmax(a).item<int64_t>() == 3);  // the first of the tied 7s
  CHECK(argmin(a).item<int64_t>() == 4);
  CHECK(argmax(a, 1).to_vector<int64_t>() == I{1, 0});
  CHECK(argmax(a, 0).to_vector<int64_t>() == I{1, 0, 1});
  CHECK(argmin(a, -1, true).shape() == Shape{2, 1});
  CHECK(argmin(a, -1, true).to_vector<int64_t>() == I{0, 1});
  CHECK(a.argmin(0).to_vector<int64_t>() == I{0, 1, 0});
  CHECK(argmax(tensor({3, 1, 3})).item<int64_t>() == 0);  // PyTorch: tensor(0)
  CHECK(argmin(tensor({3, 1, 1})).item<int64_t>() == 1);
  CHECK(argmax(tensor({1, NAN, 1, NAN})).item<int64_t>() == 1);  // PyTorch: tensor(1)
  CHECK(argmin(tensor({1, 0, NAN})).item<int64_t>() == 2);
  CHECK(argmax(tensor({NAN, 5})).item<int64_t>() == 0);
  CHECK(argmax(tensor({-INFINITY, -INFINITY})).item<int64_t>() == 0);
  CHECK(argmax(scalar_tensor(4)).item<int64_t>() == 0);
  // int64 input
  CHECK(argmax(longs({2, 9, 9, -1})).item<int64_t>() == 1);
  CHECK(argmin(longs({2, 9, 9, -1})).item<int64_t>() == 3);
  CHECK(error_of([] { argmax(zeros({0})); }) ==
        "argmax: cannot reduce an empty dimension of shape [0]");
}

TEST_CASE("argmax counts indices in integers past 2^24 float32 elements") {
  const std::size_t n = (std::size_t{1} << 24) + 5;
  Tensor a = zeros({n});  // 64 MB
  float* p = a.data_ptr<float>();
  p[n - 1] = 1.0f;
  CHECK(argmax(a).item<int64_t>() == static_cast<int64_t>(n - 1));
  p[n - 1] = 0.0f;
  p[n - 4] = 2.0f;  // 2^24 + 1: not a float32 value
  CHECK(argmax(a).item<int64_t>() == static_cast<int64_t>(n - 4));
  CHECK(argmax(a, 0).item<int64_t>() == static_cast<int64_t>(n - 4));
  p[n - 4] = -2.0f;
  CHECK(argmin(a).item<int64_t>() == static_cast<int64_t>(n - 4));
}

TEST_CASE("max_with_indices / min_with_indices as torch.max(a, dim)") {
  Tensor a = tensor({1, 3, 3, 2, 2, 0}, {2, 3}, Dtype::float64).requires_grad_();
  auto [mv, mi] = max_with_indices(a, 1);
  CHECK(mv.dtype() == Dtype::float64);
  CHECK(mv.to_vector<double>() == V{3, 2});
  CHECK(mi.dtype() == Dtype::int64);
  CHECK(mi.to_vector<int64_t>() == I{1, 0});  // PyTorch: indices=tensor([1, 0])
  CHECK_FALSE(mi.requires_grad());
  auto [nv, ni] = min_with_indices(a, 1);
  CHECK(nv.to_vector<double>() == V{1, 0});
  CHECK(ni.to_vector<int64_t>() == I{0, 2});
  auto [kv, ki] = max_with_indices(a, 0, true);
  CHECK(kv.shape() == Shape{1, 3});
  CHECK(ki.shape() == Shape{1, 3});
  CHECK(ki.to_vector<int64_t>() == I{1, 0, 0});
  // the gradient flows to the element at the index only (ties included)
  sum(mv * tensor({10, 20}, {2}, Dtype::float64)).backward();
  CHECK(a.grad().to_vector<double>() == V{0, 10, 0, 20, 0, 0});
  // NaN is the maximum, with its index
  auto [qv, qi] = max_with_indices(tensor({1, NAN, 2}, {1, 3}), 1);
  CHECK(std::isnan(qv.item<double>()));
  CHECK(qi.item<int64_t>() == 1);
  // 0-d and int64 inputs
  auto [sv, si] = max_with_indices(scalar_tensor(4), 0);
  CHECK(sv.item<double>() == 4);
  CHECK(si.item<int64_t>() == 0);
  auto [lv, li] = min_with_indices(longs({5, -2, -7, -2}, {2, 2}), 0);
  CHECK(lv.to_vector<int64_t>() == I{-7, -2});
  CHECK(li.to_vector<int64_t>() == I{1, 0});
  CHECK(error_of([] {
          max_with_indices(zeros({2, 0}), 1);
        }) == "max_with_indices: cannot reduce an empty dimension of shape [2, 0]");
  CHECK(gradcheck([](const TensorList& x) { return max_with_indices(x[0], 0).first; },
                  {tensor({1, 4, 2, 3, 0, 5}, {2, 3}, Dtype::float64).requires_grad_()}));
}

TEST_CASE("indexing ops take int64 index tensors, with gradients to the float input") {
  Tensor t = arange(12, Dtype::float64).reshape({3, 4});
  CHECK(index_select(t, 1, longs({3, 0})).to_vector<double>() == V{3, 0, 7, 4, 11, 8});
  CHECK(gather(t, 1, longs({0, 3, 2}, {3, 1})).to_vector<double>() == V{0, 7, 10});
  CHECK(scatter_add(zeros({2, 3}), 1, longs({2, 2, 0, 1}, {2, 2}), ones({2, 2}))
            .to_vector<double>() == V{0, 0, 2, 1, 1, 0});
  CHECK(index_add(zeros({3}), 0, longs({2, 2, 0}), ones({3})).to_vector<double>() == V{1, 0, 2});
  Tensor oh = one_hot(longs({2, 0}), 3);
  CHECK(oh.dtype() == Dtype::float32);
  CHECK(oh.to_vector<double>() == V{0, 0, 1, 1, 0, 0});
  Tensor oh64 = one_hot(longs({1}), 2, Dtype::int64);  // PyTorch's one_hot dtype
  CHECK(oh64.dtype() == Dtype::int64);
  CHECK(oh64.to_vector<int64_t>() == I{0, 1});
  // whole-number floats stay accepted
  CHECK(gather(t, 1, tensor({1}, {1, 1})).item<double>() == 1);

  const Tensor i1 = longs({2, 0, 2});
  const Tensor i2 = longs({0, 3, 1, 1, 2, 2}, {3, 2});
  auto x = [](const Shape& s) { return randn(s, Dtype::float64).requires_grad_(); };
  manual_seed(1);
  const std::vector<std::pair<const char*, std::function<Tensor(const TensorList&)>>> fns = {
      {"index_select", [&](const TensorList& v) { return index_select(v[0], 0, i1); }},
      {"gather", [&](const TensorList& v) { return gather(v[0], 1, i2); }},
      {"scatter_add", [&](const TensorList& v) { return scatter_add(v[0], 1, i2, v[1]); }},
      {"index_add", [&](const TensorList& v) { return index_add(v[0], 0, i1, v[1]); }},
  };
  const std::vector<TensorList> inputs = {
      {x({3, 4})}, {x({3, 4})}, {x({3, 4}), x({3, 2})}, {x({3, 4}), x({3, 4})}};
  for (std::size_t k = 0; k < fns.size(); ++k) {
    INFO(fns[k].first);
    CHECK(gradcheck(fns[k].second, inputs[k]));
    CHECK(gradgradcheck(fns[k].second, inputs[k]));
  }
}

TEST_CASE("index errors: not a whole number, out of bounds") {
  const Tensor t = zeros({3, 4});
  CHECK(error_of([&] {
          gather(t, 1, tensor({0.5}, {1, 1}));
        }) == "gather: index 0.5 is not a whole number");
  CHECK(error_of([&] {
          index_select(t, 0, tensor({1, NAN}));
        }) == "index_select: index nan is not a whole number");
  CHECK(error_of([&] {
          gather(t, 1, longs({4}, {1, 1}));
        }) == "gather: index 4 is out of bounds for dimension 1 with size 4");
  CHECK(error_of([&] {
          gather(t, 1, longs({-1}, {1, 1}));
        }) == "gather: index -1 is out of bounds for dimension 1 with size 4");
  CHECK(error_of([&] { index_select(t, 0, longs({3})); }) ==
        "index_select: index 3 is out of bounds for dimension 0 with size 3");
  CHECK(error_of([&] {
          index_add(t, 0, longs({-3}), zeros({1, 4}));
        }) == "index_add: index -3 is out of bounds for dimension 0 with size 3");
  CHECK(error_of([&] {
          scatter_add(t, 0, longs({0, 5}, {1, 2}), zeros({1, 2}));
        }) == "scatter_add: index 5 is out of bounds for dimension 0 with size 3");
  CHECK(error_of([&] {
          scatter_add(t, 0, tensor({2.5}, {1, 1}), zeros({1, 1}));
        }) == "scatter_add: index 2.5 is not a whole number");
  CHECK(error_of([] {
          one_hot(tensor({1, 0.5}), 3);
        }) == "one_hot: class index 0.5 at position 1 is not a whole number");
  CHECK(error_of([] { one_hot(longs({-1}), 3); }) ==
        "one_hot: class index -1 at position 0 is out of range for 3 classes (indices of shape "
        "[1])");
  CHECK(error_of([] { one_hot(longs({3}), 3); }) ==
        "one_hot: class index 3 at position 0 is out of range for 3 classes (indices of shape "
        "[1])");
}

TEST_CASE("editing a saved index or where's condition in place makes backward fail") {
  auto x = [] { return tensor({1, 2, 3, 4}, {2, 2}, Dtype::float64).requires_grad_(); };
  const auto modified = doctest::Contains("was modified by an in-place operation");
  {
    Tensor a = x(), i = longs({1, 0}, {2, 1});
    Tensor y = gather(a, 1, i);
    i.fill_(0);  // would send the gradient to the wrong column
    CHECK_THROWS_WITH_AS(sum(y).backward(), modified, std::runtime_error);
  }
  {
    Tensor a = x(), i = longs({1});
    Tensor y = index_select(a, 0, i);
    i.copy_(longs({0}));
    CHECK_THROWS_WITH_AS(sum(y).backward(), modified, std::runtime_error);
  }
  {
    Tensor a = x(), s = tensor({5, 6}, {2, 1}, Dtype::float64).requires_grad_();
    Tensor i = longs({1, 0}, {2, 1});
    Tensor y = scatter_add(a, 1, i, s);
    i.zero_();
    CHECK_THROWS_WITH_AS(sum(y * y).backward(), modified, std::runtime_error);
  }
  {
    Tensor a = x(), s = tensor({5, 6}, {1, 2}, Dtype::float64).requires_grad_();
    Tensor i = tensor({1}, {1}, Dtype::float64);  // a whole-number float index too
    Tensor y = index_add(a, 0, i, s);
    i.fill_(0);
    CHECK_THROWS_WITH_AS(sum(y * y).backward(), modified, std::runtime_error);
  }
  {
    Tensor a = x(), b = x();
    Tensor c = gt(a.detach(), 2.0);
    Tensor y = where(c, a, b);
    c.fill_(1);  // would send every gradient to a
    CHECK_THROWS_WITH_AS(sum(y).backward(), modified, std::runtime_error);
  }
  {  // unchanged indices: backward works and sends the gradient where the index says
    Tensor a = x(), i = longs({1, 0}, {2, 1});
    sum(gather(a, 1, i)).backward();
    CHECK(a.grad().to_vector<double>() == V{0, 1, 1, 0});
  }
}

TEST_CASE("comparisons and sum on int64: the accuracy idiom") {
  const Tensor a = longs({1, 2, 3}), b = longs({1, 5, 3});
  CHECK(eq(a, b).dtype() == Dtype::int64);
  CHECK(eq(a, b).to_vector<int64_t>() == I{1, 0, 1});
  CHECK(ne(a, b).to_vector<int64_t>() == I{0, 1, 0});
  CHECK(gt(b, a).to_vector<int64_t>() == I{0, 1, 0});
  CHECK(lt(a, b).to_vector<int64_t>() == I{0, 1, 0});
  CHECK(ge(a, longs({2})).to_vector<int64_t>() == I{0, 1, 1});  // broadcast
  CHECK(le(a, longs({2})).to_vector<int64_t>() == I{1, 1, 0});
  CHECK(gt(a, 1.5).to_vector<int64_t>() == I{0, 1, 1});  // compared as numbers, not truncated
  CHECK(lt(a, 2.5).to_vector<int64_t>() == I{1, 1, 0});
  // exact integer sums
  CHECK(sum(a).dtype() == Dtype::int64);
  CHECK(sum(a).item<int64_t>() == 6);
  const int64_t big = int64_t{1} << 53;
  Tensor bigs = full({3}, 0, Dtype::int64);
  bigs.data_ptr<int64_t>()[0] = big;
  bigs.data_ptr<int64_t>()[1] = 1;
  bigs.data_ptr<int64_t>()[2] = 1;
  CHECK(sum(bigs).item<int64_t>() == big + 2);  // a double accumulator would give 2^53
  CHECK(sum(longs({1, 2, 3, 4, 5, 6}, {2, 3}), {1}).to_vector<int64_t>() == I{6, 15});
  CHECK(sum(longs({1, 2, 3, 4, 5, 6}, {2, 3}), {0}, true).to_vector<int64_t>() == I{5, 7, 9});
  CHECK(sum(zeros({0}, Dtype::int64)).item<int64_t>() == 0);
  CHECK(a.sum().item<int64_t>() == 6);

  // an int64 condition selects like a float one
  CHECK(where(longs({1, 0, 2}), tensor({1, 2, 3}), tensor({-1, -2, -3})).to_vector<double>() ==
        V{1, -2, 3});

  Tensor logits = tensor({0.1, 2.0, -1.0, 3.0, 0.5, 0.2, 0.0, 0.0, 1.0, 0.3, 0.9, 0.2}, {4, 3});
  Tensor labels = longs({1, 0, 2, 2});
  Tensor correct = (eq(argmax(logits, 1), labels)).sum();
  CHECK(correct.dtype() == Dtype::int64);
  CHECK(correct.item<int64_t>() == 3);
  CHECK(doctest::Approx((correct.to(Dtype::float32) / 4.0).item<double>()) == 0.75);
}

TEST_CASE("int64: an optimizer refuses int64 parameters") {
  Tensor w = zeros({2}).requires_grad_();
  Tensor labels = longs({1, 2});
  CHECK(error_of([&] {
          optim::SGD({w, labels}, optim::SGDOptions(0.1));
        }) ==
        "SGD: can't optimize an int64 tensor (parameter 1 of group 0); only floating point "
        "tensors have gradients");
}
