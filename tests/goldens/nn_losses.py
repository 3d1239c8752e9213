#!/usr/bin/python3
"""Goldens of tests/nn/test_losses.cpp: every loss and option of PyTorch 1.13, float64.
Prints the C++ initializer of `kGoldens`: {name, {loss values}, {d L / d input}} where
L = sum(loss * linspace(0.5, 1.5, loss.numel())).

Inputs (the test builds the same ones):
  wave(shape, a, b, s) = s * sin(a * k + b) for k = 0, 1, ... (row-major), float64
  X  = wave([4, 5], 0.7, 0.3, 2)      logits / inputs
  X3 = wave([2, 3, 2, 2], 0.7, 0.3, 2) spatial logits
  U  = wave([5], 0.7, 0.3, 2)          unbatched logits
  S  = sigmoid(X)                      probabilities (BCE input)
  Y  = 0.5 + 0.5 * wave([4, 5], 1.3, 0.0, 1)   elementwise targets in [0, 1]
  P  = softmax(wave([4, 5], 0.3, 1.0, 1.5), 1) probability targets
  B  = [[1e4, -1e4, 0], [-1e4, 1e4, 5e3]]      huge logits
  E  = [[100], [-100], [0.5], [-0.5]]          extreme BCE logits
  Q  = [[1], [0], [0.5], [0.25]]               BCE probabilities at the clamp
"""
import math
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def wave(shape, a, b, s):
    n = math.prod(shape)
    return torch.tensor([s * math.sin(a * k + b) for k in range(n)]).reshape(shape)


X = wave([4, 5], 0.7, 0.3, 2)
X3 = wave([2, 3, 2, 2], 0.7, 0.3, 2)
U = wave([5], 0.7, 0.3, 2)
S = torch.sigmoid(X)
Y = 0.5 + 0.5 * wave([4, 5], 1.3, 0.0, 1)
P = torch.softmax(wave([4, 5], 0.3, 1.0, 1.5), 1)
B = torch.tensor([[1e4, -1e4, 0], [-1e4, 1e4, 5e3]])
E = torch.tensor([[100.0], [-100.0], [0.5], [-0.5]])
Q = torch.tensor([[1.0], [0.0], [0.5], [0.25]])
QT = torch.tensor([[0.0], [1.0], [1.0], [0.0]])

T = torch.tensor([1, 0, 4, 2])            # class targets for X
TI = torch.tensor([1, 2, 4, 2])           # with ignore_index = 2
T3 = torch.tensor([0, 1, 2, 1, 2, 0, 1, 0]).reshape(2, 2, 2)  # ignore_index = 1 in some cases
W = torch.tensor([0.2, 0.5, 1.0, 1.5, 0.8])
W3 = torch.tensor([0.3, 1.2, 2.0])
BT = torch.tensor([1, 1])
PW = torch.tensor([0.5, 1.0, 2.0, 3.0, 1.5])   # pos_weight [C]
EW = torch.tensor([[0.5], [1.0], [2.0], [1.5]])  # elementwise weight

cases = [
    ("ce_mean", X, lambda x: F.cross_entropy(x, T)),
    ("ce_sum", X, lambda x: F.cross_entropy(x, T, reduction="sum")),
    ("ce_none", X, lambda x: F.cross_entropy(x, T, reduction="none")),
    ("ce_weight_mean", X, lambda x: F.cross_entropy(x, T, weight=W)),
    ("ce_weight_none", X, lambda x: F.cross_entropy(x, T, weight=W, reduction="none")),
    ("ce_ignore_mean", X, lambda x: F.cross_entropy(x, TI, ignore_index=2)),
    ("ce_ignore_weight_mean", X, lambda x: F.cross_entropy(x, TI, weight=W, ignore_index=2)),
    ("ce_ignore_weight_none", X,
     lambda x: F.cross_entropy(x, TI, weight=W, ignore_index=2, reduction="none")),
    ("ce_smooth_mean", X, lambda x: F.cross_entropy(x, T, label_smoothing=0.1)),
    ("ce_smooth_sum", X, lambda x: F.cross_entropy(x, T, label_smoothing=0.25, reduction="sum")),
    ("ce_smooth_weight_mean", X, lambda x: F.cross_entropy(x, T, weight=W, label_smoothing=0.1)),
    ("ce_smooth_weight_ignore_mean", X,
     lambda x: F.cross_entropy(x, TI, weight=W, ignore_index=2, label_smoothing=0.2)),
    ("ce_smooth_weight_ignore_none", X,
     lambda x: F.cross_entropy(x, TI, weight=W, ignore_index=2, label_smoothing=0.2,
                               reduction="none")),
    ("ce_smooth_weight_ignore_sum", X,
     lambda x: F.cross_entropy(x, TI, weight=W, ignore_index=2, label_smoothing=0.2,
                               reduction="sum")),
    ("ce_prob_mean", X, lambda x: F.cross_entropy(x, P)),
    ("ce_prob_none", X, lambda x: F.cross_entropy(x, P, reduction="none")),
    ("ce_prob_sum", X, lambda x: F.cross_entropy(x, P, reduction="sum")),
    ("ce_prob_weight_mean", X, lambda x: F.cross_entropy(x, P, weight=W)),
    ("ce_prob_smooth_weight_none", X,
     lambda x: F.cross_entropy(x, P, weight=W, label_smoothing=0.3, reduction="none")),
    ("ce_spatial_mean", X3, lambda x: F.cross_entropy(x, T3)),
    ("ce_spatial_weight_ignore_mean", X3,
     lambda x: F.cross_entropy(x, T3, weight=W3, ignore_index=1)),
    ("ce_spatial_smooth_weight_ignore_none", X3,
     lambda x: F.cross_entropy(x, T3, weight=W3, ignore_index=1, label_smoothing=0.1,
                               reduction="none")),
    ("ce_unbatched", U, lambda x: F.cross_entropy(x, torch.tensor(3))),
    ("ce_unbatched_none", U, lambda x: F.cross_entropy(x, torch.tensor(3), reduction="none")),
    ("ce_unbatched_prob", U, lambda x: F.cross_entropy(x, P[0])),
    ("ce_big_none", B, lambda x: F.cross_entropy(x, BT, reduction="none")),
    ("nll_mean", X, lambda x: F.nll_loss(x, T)),
    ("nll_none", X, lambda x: F.nll_loss(x, T, reduction="none")),
    ("nll_weight_ignore_mean", X, lambda x: F.nll_loss(x, TI, weight=W, ignore_index=2)),
    ("nll_weight_ignore_sum", X,
     lambda x: F.nll_loss(x, TI, weight=W, ignore_index=2, reduction="sum")),
    ("nll_spatial_weight_mean", X3, lambda x: F.nll_loss(x, T3, weight=W3)),
    ("nll_unbatched", U, lambda x: F.nll_loss(x, torch.tensor(3))),
    ("mse_mean", X, lambda x: F.mse_loss(x, Y)),
    ("mse_sum", X, lambda x: F.mse_loss(x, Y, reduction="sum")),
    ("mse_none", X, lambda x: F.mse_loss(x, Y, reduction="none")),
    ("l1_mean", X, lambda x: F.l1_loss(x, Y)),
    ("l1_none", X, lambda x: F.l1_loss(x, Y, reduction="none")),
    ("smooth_l1_mean", X, lambda x: F.smooth_l1_loss(x, Y)),
    ("smooth_l1_beta_none", X, lambda x: F.smooth_l1_loss(x, Y, beta=0.5, reduction="none")),
    ("smooth_l1_beta0_sum", X, lambda x: F.smooth_l1_loss(x, Y, beta=0.0, reduction="sum")),
    ("bce_mean", S, lambda x: F.binary_cross_entropy(x, Y)),
    ("bce_sum", S, lambda x: F.binary_cross_entropy(x, Y, reduction="sum")),
    ("bce_weight_none", S,
     lambda x: F.binary_cross_entropy(x, Y, weight=EW, reduction="none")),
    ("bce_clamp_none", Q, lambda x: F.binary_cross_entropy(x, QT, reduction="none")),
    ("bcel_mean", X, lambda x: F.binary_cross_entropy_with_logits(x, Y)),
    ("bcel_pos_weight_none", X,
     lambda x: F.binary_cross_entropy_with_logits(x, Y, pos_weight=PW, reduction="none")),
    ("bcel_weight_pos_weight_sum", X,
     lambda x: F.binary_cross_entropy_with_logits(x, Y, weight=EW, pos_weight=PW,
                                                  reduction="sum")),
    ("bcel_extreme_none", E, lambda x: F.binary_cross_entropy_with_logits(x, QT, reduction="none")),
]


def fmt(t):
    return ", ".join("%.17g" % v for v in t.detach().flatten().tolist())


for name, x0, f in cases:
    x = x0.clone().requires_grad_()
    y = f(x)
    w = torch.linspace(0.5, 1.5, y.numel()).reshape(y.shape)
    (y * w).sum().backward()
    print('    {"%s", {%s},\n     {%s}},' % (name, fmt(y), fmt(x.grad)))
