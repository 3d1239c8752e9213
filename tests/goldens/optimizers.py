#!/usr/bin/python3
"""Goldens of tests/optim/test_optimizers.cpp: the first three steps of every optimizer
configuration on x0 = [1, -2], loss = 0.5 * sum(c * x^2) with c = [1, 3], PyTorch 1.13.
Prints the entries of kTorch (float64) and the two float32 trajectories.
"""
import torch

O = torch.optim


def run(cls, dtype=torch.float64, **kw):
    x = torch.tensor([1.0, -2.0], dtype=dtype, requires_grad=True)
    c = torch.tensor([1.0, 3.0], dtype=dtype)
    opt = cls([x], **kw)
    out = []
    for _ in range(3):
        opt.zero_grad()
        (0.5 * (c * x * x).sum()).backward()
        opt.step()
        out.append(x.detach().tolist())
    return out


# The configurations of configs() in the test, by name.
cfgs = {
    "sgd_plain": (O.SGD, dict(lr=0.1)),
    "sgd_momentum": (O.SGD, dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": (O.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    "sgd_nesterov": (O.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": (O.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    "sgd_maximize": (O.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.1, maximize=True)),
    "adam_plain": (O.Adam, dict(lr=0.1)),
    "adam_weight_decay": (O.Adam, dict(lr=0.1, weight_decay=0.1)),
    "adam_amsgrad": (O.Adam, dict(lr=0.5, betas=(0.9, 0.5), amsgrad=True)),
    "adam_no_amsgrad": (O.Adam, dict(lr=0.5, betas=(0.9, 0.5))),
    "adam_maximize": (O.Adam, dict(lr=0.1, maximize=True)),
    "adamw_decay": (O.AdamW, dict(lr=0.1, weight_decay=0.1)),
    "adamw_amsgrad": (O.AdamW, dict(lr=0.5, betas=(0.9, 0.5), weight_decay=0.1, amsgrad=True)),
    "rmsprop_plain": (O.RMSprop, dict(lr=0.01)),
    "rmsprop_centered": (O.RMSprop, dict(lr=0.01, centered=True)),
    "rmsprop_momentum": (O.RMSprop, dict(lr=0.01, momentum=0.9)),
    "rmsprop_all": (O.RMSprop, dict(lr=0.01, alpha=0.9, centered=True, momentum=0.9,
                                    weight_decay=0.1)),
    "rmsprop_maximize": (O.RMSprop, dict(lr=0.01, maximize=True)),
    "adagrad_plain": (O.Adagrad, dict(lr=0.1)),
    "adagrad_all": (O.Adagrad, dict(lr=0.1, lr_decay=0.5, weight_decay=0.1,
                                    initial_accumulator_value=0.2)),
    "adagrad_maximize": (O.Adagrad, dict(lr=0.1, eps=0.1, maximize=True)),
}
print("# kTorch (float64)")
for name, (cls, kw) in cfgs.items():
    print('{"%s", {%s}},' % (name, ", ".join("{%r, %r}" % tuple(s) for s in run(cls, **kw))))
print("# float32: adam, then nesterov")
print(run(O.Adam, torch.float32, lr=0.1))
print(run(O.SGD, torch.float32, lr=0.1, momentum=0.9, nesterov=True))
