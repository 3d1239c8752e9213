// Compiled against an installed xgrad (see tests/install/run.sh): include paths and linking work,
// a custom function builds from the public extension header, and the opt-in xtensor interop
// works with the consumer's own flags (no -march=native, no xsimd).
#include <autograd/autograd.hpp>
#include <autograd/extend.hpp>
#include <autograd/xtensor_interop.hpp>
#include <cstdio>
#include <optim/optim.hpp>

/// x^3 with its own backward.
struct Cube : xg::Function<Cube> {
  static xg::Tensor forward(xg::AutogradContext& ctx, const xg::Tensor& x) {
    ctx.save_for_backward({x});
    return x * x * x;
  }
  static xg::TensorList backward(xg::AutogradContext& ctx, const xg::TensorList& g) {
    xg::Tensor x = ctx.get_saved_variables()[0];
    return {g[0] * 3.0 * x * x};
  }
};

int main() {
  xg::Tensor w = xg::tensor({1.0, -2.0}, {2}).requires_grad_();
  xg::optim::SGD opt({w}, xg::optim::SGDOptions(0.5));
  xg::Tensor loss = (w * w).sum();
  loss.backward();
  opt.step();  // w -= 0.5 * 2w = 0
  const auto v = w.to_vector<double>();
  std::printf("consumer: w = [%g, %g]\n", v[0], v[1]);

  xg::Tensor x = xg::tensor({2.0}, {1}).requires_grad_();
  Cube::apply(x).sum().backward();  // 3 x^2 = 12
  const double gx = x.grad().item<double>();
  std::printf("consumer: d(x^3)/dx at 2 = %g\n", gx);

  xt::xarray<float> a = xg::to_xarray<float>(xg::tensor({1.0, 2.0, 3.0}, {3}) * 2.0);
  xg::Tensor back = xg::from_xarray(a);
  std::printf("consumer: interop sum = %g\n", back.sum().item<double>());
  return v[0] == 0.0 && v[1] == 0.0 && gx == 12.0 && back.sum().item<double>() == 12.0 ? 0 : 1;
}
