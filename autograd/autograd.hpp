#pragma once
// Umbrella header for xgrad's autograd core.
#include "autograd/engine.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/memory.hpp"
#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
