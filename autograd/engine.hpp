#pragma once
// The backward engine's functional entry point (torch.autograd.grad).
#include <functional>

#include "autograd/tensor.hpp"

namespace xg {

/// Gradients of `outputs` with respect to `inputs`, weighted by `grad_outputs` (default: ones for
/// one-element outputs). Leaves' .grad() are not touched. retain_graph defaults to create_graph;
/// create_graph records the backward pass so the results can be differentiated again.
/// allow_unused returns an undefined Tensor for an input the outputs do not depend on.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs = {},
                std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                bool allow_unused = false);

/// Backpropagates from several tensors at once into the leaves' .grad().
void backward(const TensorList& tensors, const TensorList& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

/// Queues `callback` to run once when the backward pass running on this thread has finished
/// (every gradient computed and accumulated), before backward()/grad() returns; callbacks run in
/// the order queued, with the caller's grad mode. Call it from a hook during backward (PyTorch's
/// Variable._execution_engine.queue_callback); outside a pass it throws. A pass that throws
/// drops its callbacks.
void queue_callback(std::function<void()> callback);

}  // namespace xg
