#!/usr/bin/python3
"""Goldens of tests/autograd/test_pytorch_values.cpp: forward values and gradients of ops with
options or conventions, PyTorch 1.13, float64. Prints the C++ initializer of `goldens`.

x = linspace(-3, 3, 12).reshape(3, 4); L = sum(op(x) * linspace(0.5, 1.5, numel).reshape(shape)).
"""
import torch

torch.set_default_dtype(torch.float64)
x0 = torch.linspace(-3, 3, 12).reshape(3, 4)
ops = {
    "gelu": lambda x: torch.nn.functional.gelu(x),
    "softplus": lambda x: torch.nn.functional.softplus(x, beta=2.0, threshold=1.5),
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.1),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "erf": torch.erf,
    "log_softmax": lambda x: torch.log_softmax(x, 1),
    "softmax": lambda x: torch.softmax(x, 0),
    "logsumexp": lambda x: torch.logsumexp(x, 1),
    "var": lambda x: torch.var(x, 1),
    "var_biased_keepdim": lambda x: torch.var(x, 0, unbiased=False, keepdim=True),
    "clamp": lambda x: torch.clamp(x, -1.0, 2.0),
    "pow_tensor": lambda x: torch.pow(x.abs() + 0.5, x / 3),
    "abs": torch.abs,
    "mean_dims": lambda x: x.mean(dim=(0, 1), keepdim=True) * x,
}
for name, f in ops.items():
    x = x0.clone().requires_grad_()
    y = f(x)
    w = torch.linspace(0.5, 1.5, y.numel()).reshape(y.shape)
    (y * w).sum().backward()
    fv = ", ".join("%.17g" % v for v in y.detach().flatten().tolist())
    gv = ", ".join("%.17g" % v for v in x.grad.flatten().tolist())
    print('    {"%s", {%s},\n     {%s}},' % (name, fv, gv))
