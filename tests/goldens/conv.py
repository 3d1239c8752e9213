#!/usr/bin/python3
"""Goldens of tests/autograd/test_conv.cpp ("... matches PyTorch" cases): conv2d, max_pool2d and
avg_pool2d values and gradients, PyTorch 1.13, float64, printed with "%.10g" in the order the
test checks them. Inputs are sin(0), sin(1), ... (no ties in a pooling window); the loss
weights are cos(0), cos(1), ...
"""
import torch
import torch.nn.functional as F

d = torch.float64


def show(name, t):
    print("%s %s:" % (name, list(t.shape)))
    print(", ".join("%.10g" % v for v in t.detach().flatten().tolist()))


def sin_range(*shape):
    n = 1
    for s in shape:
        n *= s
    return torch.sin(torch.arange(n, dtype=d)).reshape(*shape)


def cos_like(y):
    return torch.cos(torch.arange(y.numel(), dtype=d)).reshape(y.shape)


print("# conv2d matches PyTorch")
x = sin_range(2, 2, 5, 4).requires_grad_()
w = (torch.arange(24, dtype=d) / 10 - 1.1).reshape(2, 2, 3, 2).requires_grad_()
b = torch.tensor([0.3, -0.2], dtype=d).requires_grad_()
y = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 1), dilation=(1, 2))
(y * cos_like(y)).sum().backward()
show("y", y)
show("x.grad", x.grad)
show("w.grad", w.grad)
show("b.grad", b.grad)

print("# max_pool2d matches PyTorch")
x = sin_range(1, 2, 5, 6).requires_grad_()
y = F.max_pool2d(x, (3, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 2))
(y * cos_like(y)).sum().backward()
show("y", y)
show("x.grad", x.grad)

print("# avg_pool2d matches PyTorch (padding counted in the average)")
y = F.avg_pool2d(sin_range(1, 2, 5, 6), (3, 3), stride=(2, 1), padding=(1, 1))  # count_include_pad
show("y", y)

print("# max_pool2d: a window whose taps all miss the input gives -inf and no gradient")
x = torch.randn(1, 1, 3, 1, dtype=d).requires_grad_()
y = F.max_pool2d(x, 2, stride=1, padding=1, dilation=2)
show("y", y)

print("# conv2d with groups matches PyTorch")
x = sin_range(2, 4, 5, 4).requires_grad_()
w = (torch.arange(48, dtype=d) / 20 - 1.1).reshape(6, 2, 2, 2).requires_grad_()
b = torch.tensor([0.3, -0.2, 0.1, 0.5, -0.4, 0.25], dtype=d).requires_grad_()
y = F.conv2d(x, w, b, stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2)
(y * cos_like(y)).sum().backward()
show("y", y)
show("x.grad", x.grad)
show("w.grad", w.grad)
show("b.grad", b.grad)

print("# conv2d depthwise (groups = channels) matches PyTorch")
x = sin_range(1, 3, 4, 4).requires_grad_()
w = (torch.arange(27, dtype=d) / 10 - 1.3).reshape(3, 1, 3, 3).requires_grad_()
y = F.conv2d(x, w, None, padding=1, groups=3)
(y * cos_like(y)).sum().backward()
show("y", y)
show("x.grad", x.grad)
show("w.grad", w.grad)
