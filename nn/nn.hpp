#pragma once
// Umbrella header for xgrad's neural-network library (namespace xg::nn).
#include "nn/module.hpp"
#include "nn/serialize.hpp"
