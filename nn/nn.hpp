#pragma once
// Umbrella header for xgrad's neural-network library (namespace xg::nn).
#include "nn/dataloader.hpp"
#include "nn/dataset.hpp"
#include "nn/fashion_mnist.hpp"
#include "nn/idx.hpp"
#include "nn/module.hpp"
#include "nn/synthetic.hpp"
#include "nn/train.hpp"
