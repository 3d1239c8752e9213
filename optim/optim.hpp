#pragma once
// Umbrella header for xgrad's optimizers, LR schedulers and gradient clipping.
#include "optim/adagrad.hpp"
#include "optim/adam.hpp"
#include "optim/clip_grad.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"
#include "optim/options.hpp"
#include "optim/rmsprop.hpp"
#include "optim/sgd.hpp"
