#pragma once
// Umbrella header for xgrad's neural-network library (namespace xg::nn).
#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/loss.hpp"
#include "nn/metrics.hpp"
#include "nn/models.hpp"
#include "nn/module.hpp"
#include "nn/sequential.hpp"
#include "nn/serialize.hpp"
