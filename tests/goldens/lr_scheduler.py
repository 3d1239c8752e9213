#!/usr/bin/python3
"""Goldens of tests/optim/test_lr_scheduler.cpp: get_last_lr() of each scheduler after
construction and after each step, for SGD with two groups (lr 0.1 and 0.05), PyTorch 1.13.
Prints one schedule per line, in the order the test checks them.
"""
import warnings

import torch

# SequentialLR passes an epoch to its children, which PyTorch 1.13 warns about.
warnings.filterwarnings("ignore", category=UserWarning)

S = torch.optim.lr_scheduler


def opt():
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.1)


def run(make, n=10):
    o = opt()
    s = make(o)
    out = [s.get_last_lr()]
    for _ in range(n):
        o.step()
        s.step()
        out.append(s.get_last_lr())
    return out


def seq(o):
    w = S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=3)
    c = S.CosineAnnealingLR(o, T_max=5, eta_min=0.0)
    return S.SequentialLR(o, [w, c], milestones=[3])


def seq3(o):
    w = S.LinearLR(o, start_factor=0.5, total_iters=2)
    e = S.ExponentialLR(o, gamma=0.5)
    st = S.StepLR(o, step_size=2, gamma=0.1)
    return S.SequentialLR(o, [w, e, st], milestones=[2, 5])


def plateau(metrics, **kw):
    o = opt()
    s = S.ReduceLROnPlateau(o, **kw)
    out = []
    for m in metrics:
        s.step(m)
        out.append(s._last_lr)
    return out


schedules = [
    ("StepLR", run(lambda o: S.StepLR(o, step_size=3, gamma=0.5))),
    ("MultiStepLR", run(lambda o: S.MultiStepLR(o, milestones=[5, 2, 5], gamma=0.1))),
    ("ExponentialLR", run(lambda o: S.ExponentialLR(o, gamma=0.9))),
    ("CosineAnnealingLR", run(lambda o: S.CosineAnnealingLR(o, T_max=4, eta_min=0.01), 12)),
    ("LinearLR warmup", run(lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0,
                                                 total_iters=4))),
    ("LinearLR decay", run(lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                total_iters=5))),
    ("SequentialLR warmup+cosine", run(seq)),
    ("SequentialLR three", run(seq3)),
    ("ReduceLROnPlateau min", plateau(
        [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.92, 0.93, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        patience=2, factor=0.5, cooldown=1, min_lr=0.02)),
    ("ReduceLROnPlateau max abs", plateau(
        [0.5, 0.55, 0.56, 0.5605, 0.57, 0.571, 0.6, 0.6, 0.6, 0.6], mode="max",
        threshold_mode="abs", threshold=0.02, patience=1, factor=0.1)),
]
for name, sched in schedules:
    print("# " + name)
    print("{" + ", ".join("{%r, %r}" % tuple(lr) for lr in sched) + "}")
