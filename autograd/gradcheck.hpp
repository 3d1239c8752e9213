#pragma once
// Numerical gradient checks (torch.autograd.gradcheck / gradgradcheck), float64 central
// differences against the engine's analytic gradients.
#include <functional>
#include <string>

#include "autograd/tensor.hpp"

namespace xg {

/// A function under test: float64 inputs -> one output tensor.
using CheckedFn = std::function<Tensor(const TensorList&)>;

struct GradcheckOptions {
  double eps = 1e-6;   ///< finite-difference step
  double atol = 1e-5;  ///< absolute tolerance
  double rtol = 1e-3;  ///< relative tolerance
  /// Throw std::runtime_error describing the worst element (else just return false).
  bool raise_exception = true;
};

/// Compares d fn / d inputs (every input that requires grad) from backward with central
/// differences. On failure names the input, the worst element, and both values.
bool gradcheck(const CheckedFn& fn, const TensorList& inputs, GradcheckOptions options = {});

/// Checks second derivatives: runs gradcheck on (inputs, v) -> grad(fn(inputs), inputs, v,
/// create_graph=true) for a random v.
bool gradgradcheck(const CheckedFn& fn, const TensorList& inputs, GradcheckOptions options = {});

}  // namespace xg
