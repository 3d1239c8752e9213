#pragma once
// Umbrella header for xgrad's neural-network library (namespace xg::nn).
#include "nn/module.hpp"
#include "nn/functional.hpp"
#include "nn/loss.hpp"
#include "nn/metrics.hpp"
