// Compiled against an installed xgrad (see tests/install/run.sh): include paths and linking work.
#include <autograd/autograd.hpp>
#include <cstdio>
#include <optim/optim.hpp>

int main() {
  xg::Tensor w = xg::tensor({1.0, -2.0}, {2}).requires_grad_();
  xg::optim::SGD opt({w}, xg::optim::SGDOptions(0.5));
  xg::Tensor loss = (w * w).sum();
  loss.backward();
  opt.step();  // w -= 0.5 * 2w = 0
  const auto v = w.to_vector<double>();
  std::printf("consumer: w = [%g, %g]\n", v[0], v[1]);
  return v[0] == 0.0 && v[1] == 0.0 ? 0 : 1;
}
