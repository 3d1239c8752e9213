#pragma once
// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (PyTorch 1.13).
#include <limits>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg::optim {

/// Scales the gradients of `params` in place by max_norm / (total + 1e-6) when their total
/// norm exceeds max_norm; returns the total norm (over all gradients as one vector). norm_type is
/// p > 0 or infinity (max |g|). Parameters without a gradient are skipped; none gives 0.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
/// Clamps every gradient element of `params` in place to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace xg::optim
