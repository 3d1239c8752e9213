#pragma once
// Umbrella header for xgrad's neural-network library (namespace xg::nn).
#include "nn/functional.hpp"
#include "nn/loss.hpp"
#include "nn/metrics.hpp"
#include "nn/module.hpp"
