// Tensor creation, metadata, conversion, printing and indexing values.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "autograd/autograd.hpp"

using namespace xg;

using V = std::vector<double>;

TEST_CASE("creation functions give the expected shapes, dtypes and values") {
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dim() == 2);
  CHECK(t.numel() == 6);
  CHECK(t.size(-1) == 3);
  CHECK(t.dtype() == Dtype::float32);
  CHECK(t.to_vector<double>() == V{1, 2, 3, 4, 5, 6});
  CHECK(zeros({2, 2}).to_vector<double>() == V{0, 0, 0, 0});
  CHECK(ones({3}, Dtype::float64).dtype() == Dtype::float64);
  CHECK(full({2}, 7.5).to_vector<double>() == V{7.5, 7.5});
  CHECK(zeros_like(t).shape() == t.shape());
  CHECK(ones_like(t).to_vector<double>() == V(6, 1.0));
  CHECK(arange(4).to_vector<double>() == V{0, 1, 2, 3});
  CHECK(arange(1, 2, 0.25).to_vector<double>() == V{1, 1.25, 1.5, 1.75});
  CHECK(linspace(0, 1, 5).to_vector<double>() == V{0, 0.25, 0.5, 0.75, 1});
  CHECK(eye(2).to_vector<double>() == V{1, 0, 0, 1});
  CHECK(scalar_tensor(3.0).dim() == 0);
  CHECK(scalar_tensor(3.0).item<double>() == 3.0);
  CHECK(tensor({1, 2}).shape() == Shape{2});
}

TEST_CASE("random tensors are reproducible with manual_seed and in range") {
  manual_seed(42);
  Tensor a = randn({100});
  manual_seed(42);
  Tensor b = randn({100});
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  for (float v : rand({1000}).to_vector<float>()) CHECK((v >= 0.0f && v < 1.0f));
  for (double v : randint(-2, 3, {1000}).to_vector<double>())
    CHECK((v >= -2 && v < 3 && v == int(v)));
  Tensor r = randn({20000}, Dtype::float64);
  CHECK(mean(r).item<double>() == doctest::Approx(0.0).epsilon(0.03));
  CHECK(var(r).item<double>() == doctest::Approx(1.0).epsilon(0.03));
}

TEST_CASE("dtype conversion, item and to_vector") {
  Tensor t = tensor({1.5, -2.25}, {2});
  Tensor d = t.to(Dtype::float64);
  CHECK(d.dtype() == Dtype::float64);
  CHECK(d.to_vector<double>() == V{1.5, -2.25});
  CHECK(d.to(Dtype::float64).is_same(d));
  CHECK(tensor({3.0}, {1}).item<float>() == 3.0f);
  CHECK(tensor({3.0}, {1}).item<int>() == 3);
  CHECK(t.to_vector<int>() == std::vector<int>{1, -2});
}

TEST_CASE("tensors print like PyTorch") {
  Tensor m = tensor({1, 2, 3, 4}, {2, 2}).requires_grad_();
  CHECK(m.to_string() ==
        "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], requires_grad=true)");
  CHECK(scalar_tensor(0.5).to_string() == "tensor(0.5000)");
  CHECK(tensor({-1, 10}, {2}, Dtype::float64).to_string() ==
        "tensor([-1.0000, 10.0000], dtype=float64)");
  CHECK((m * 2.0).to_string() ==
        "tensor([[2.0000, 4.0000],\n        [6.0000, 8.0000]], grad_fn=<MulBackward>)");
  CHECK(tensor({1e-6, 1}, {2}).to_string() == "tensor([1.0000e-06, 1.0000e+00])");
  CHECK(zeros({2, 1, 2}).to_string() ==
        "tensor([[[0.0000, 0.0000]],\n\n        [[0.0000, 0.0000]]])");
  std::ostringstream os;
  os << arange(2000);
  CHECK(os.str() ==
        "tensor([   0.0000,    1.0000,    2.0000, ..., 1997.0000, 1998.0000, 1999.0000])");
  CHECK(Tensor().to_string() == "tensor(undefined)");
}

TEST_CASE("indexing along an axis: select, slice, narrow, index_select, gather") {
  Tensor t = arange(12).reshape({3, 4});
  CHECK(select(t, 0, 1).to_vector<double>() == V{4, 5, 6, 7});
  CHECK(select(t, 1, -1).to_vector<double>() == V{3, 7, 11});
  CHECK(slice(t, 1, 1, 4, 2).to_vector<double>() == V{1, 3, 5, 7, 9, 11});
  CHECK(slice(t, 0, -2, 100).shape() == Shape{2, 4});
  CHECK(narrow(t, 0, 1, 2).to_vector<double>() == V{4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(index_select(t, 1, tensor({3, 0})).to_vector<double>() == V{3, 0, 7, 4, 11, 8});
  CHECK(gather(t, 1, tensor({0, 3, 2}, {3, 1})).to_vector<double>() == V{0, 7, 10});
  CHECK(argmax(tensor({1, 5, 2, 7, 0, 3}, {2, 3}), 1).to_vector<double>() == V{1, 0});
  CHECK(argmax(tensor({1, 5, 2, 7, 0, 3}, {2, 3})).item<double>() == 3);
  CHECK(one_hot(tensor({2, 0}), 3).to_vector<double>() == V{0, 0, 1, 1, 0, 0});
}

TEST_CASE("shape ops give PyTorch's values") {
  Tensor t = arange(6).reshape({2, 3});
  CHECK(t.t().to_vector<double>() == V{0, 3, 1, 4, 2, 5});
  CHECK(permute(arange(24).reshape({2, 3, 4}), {2, 0, 1}).shape() == Shape{4, 2, 3});
  CHECK(permute(arange(24).reshape({2, 3, 4}), {2, 0, 1}).to_vector<double>()[1] == 4);
  CHECK(expand(tensor({1, 2}, {2, 1}), {2, 3}).to_vector<double>() == V{1, 1, 1, 2, 2, 2});
  CHECK(cat({t, t}, 0).shape() == Shape{4, 3});
  CHECK(cat({t, ones({2, 1})}, 1).to_vector<double>() == V{0, 1, 2, 1, 3, 4, 5, 1});
  CHECK(stack({t, t}, 2).shape() == Shape{2, 3, 2});
  CHECK(flatten(zeros({2, 3, 4}), 1).shape() == Shape{2, 12});
  CHECK(view(t, {-1}).shape() == Shape{6});
  CHECK(unsqueeze(t, -1).shape() == Shape{2, 3, 1});
  CHECK(squeeze(zeros({1, 2, 1})).shape() == Shape{2});
  CHECK(sum(t, {0}).to_vector<double>() == V{3, 5, 7});
  CHECK(sum(t, {1}, true).shape() == Shape{2, 1});
  CHECK(max(t, 0).to_vector<double>() == V{3, 4, 5});
  CHECK(matmul(t, t.t()).to_vector<double>() == V{5, 14, 14, 50});
  CHECK(matmul(tensor({1, 2, 3}), tensor({4, 5, 6})).item<double>() == 32);
  CHECK(matmul(zeros({5, 2, 3}), zeros({3, 4})).shape() == Shape{5, 2, 4});
}

TEST_CASE("reductions and softmax are numerically stable and exact on simple inputs") {
  Tensor big = tensor({1000, 1001, 1002}, {1, 3});
  Tensor s = softmax(big, 1);
  CHECK(sum(s).item<double>() == doctest::Approx(1.0));
  CHECK(log_softmax(big, 1).to_vector<double>()[2] == doctest::Approx(-0.40760596));
  CHECK(logsumexp(big, {1}).item<double>() == doctest::Approx(1002.40760596));
  Tensor ninf = tensor({-INFINITY, -INFINITY}, {2});
  CHECK(std::isinf(logsumexp(ninf, {0}).item<double>()));
  CHECK(var(tensor({1, 2, 3, 4}, {4})).item<double>() == doctest::Approx(5.0 / 3.0));
  CHECK(mean(tensor({1, 2, 3, 4}, {2, 2}), {1}).to_vector<double>() == V{1.5, 3.5});
}
