#!/usr/bin/python3
"""Goldens of tests/optim/test_clip_grad.cpp: torch.nn.utils.clip_grad_norm_ (max_norm 5 or 100,
norms 2, inf, 1, 3) and clip_grad_value_, PyTorch 1.13, float64. Gradients a.grad = [3, -4],
b.grad = [[12], [0]]; prints the total norm and the clipped [a0, a1, b0] per case.
"""
import math

import torch
from torch.nn.utils import clip_grad_norm_, clip_grad_value_


def params():
    a = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    a.grad = torch.tensor([3.0, -4.0], dtype=torch.float64)
    b.grad = torch.tensor([[12.0], [0.0]], dtype=torch.float64)
    return a, b


def grads(a, b):
    return "{%r, %r, %r}" % (a.grad[0].item(), a.grad[1].item(), b.grad[0, 0].item())


for max_norm, norm_type in [(5.0, 2.0), (100.0, 2.0), (5.0, math.inf), (5.0, 1.0), (5.0, 3.0)]:
    a, b = params()
    n = clip_grad_norm_([a, b], max_norm, norm_type)
    print("clip_grad_norm_(max_norm=%r, norm_type=%r): norm %r, grads %s"
          % (max_norm, norm_type, n.item(), grads(a, b)))
a, b = params()
clip_grad_value_([a, b], 3.5)
print("clip_grad_value_(3.5): grads %s" % grads(a, b))
