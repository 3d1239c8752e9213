#pragma once
// Umbrella header for xgrad's neural-network library (namespace xg::nn).
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/models.hpp"
#include "nn/module.hpp"
#include "nn/sequential.hpp"
#include "nn/serialize.hpp"
