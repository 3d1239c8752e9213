"""Goldens of tests/autograd/test_inplace.cpp (index_fill, masked_fill, index_copy, index_put).

Run with /usr/bin/python3 (PyTorch 1.13); every printed value appears in the test.
"""
import torch

f64 = torch.float64
w = torch.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=f64)
x = torch.arange(6.0, dtype=f64).reshape(2, 3).requires_grad_()
out = x.index_fill(1, torch.tensor([0, 2]), -1.0)
(out * w).sum().backward()
print("index_fill", out.flatten().tolist(), "x.grad", x.grad.flatten().tolist())
print("index_fill dim -2", x.index_fill(-2, torch.tensor([1]), 7.0).flatten().tolist())

x.grad = None
out = x.masked_fill(torch.tensor([True, False, True]), 9.0)
(out * w).sum().backward()
print("masked_fill", out.flatten().tolist(), "x.grad", x.grad.flatten().tolist())
print("masked_fill gt", x.masked_fill(x > 3.5, 0.0).flatten().tolist())

w2 = torch.tensor([[1.0, 2], [3, 4], [5, 6]], dtype=f64)
s = torch.zeros(3, 2, dtype=f64, requires_grad=True)
src = torch.tensor([[1.0, 2], [3, 4]], dtype=f64, requires_grad=True)
out = s.index_copy(0, torch.tensor([2, 0]), src)
(out * w2).sum().backward()
print("index_copy", out.flatten().tolist(), "self.grad", s.grad.flatten().tolist(),
      "source.grad", src.grad.flatten().tolist())

for acc in (False, True):
    s = torch.zeros(3, 2, dtype=f64, requires_grad=True)
    v = torch.tensor([1.0, 2, 3], dtype=f64, requires_grad=True)
    out = s.index_put((torch.tensor([0, 2, 1]), torch.tensor([1, 0, 1])), v, accumulate=acc)
    (out * w2).sum().backward()
    print("index_put accumulate", acc, out.flatten().tolist(), "self.grad",
          s.grad.flatten().tolist(), "values.grad", v.grad.tolist())

s = torch.ones(3, 2, dtype=f64, requires_grad=True)
v = torch.tensor([1.0, 2, 3], dtype=f64, requires_grad=True)
out = s.index_put((torch.tensor([0, 2, 0]), torch.tensor([1, 0, 1])), v, accumulate=True)
(out * w2).sum().backward()
print("index_put duplicates", out.flatten().tolist(), "values.grad", v.grad.tolist())

r = torch.tensor([5.0, 6], dtype=f64, requires_grad=True)
rows = torch.zeros(3, 2, dtype=f64).index_put((torch.tensor([1, 2]),), r)
(rows * w2).sum().backward()
print("index_put rows", rows.flatten().tolist(), "values.grad", r.grad.tolist())
print("index_put 0-d value",
      torch.zeros(2, 2).index_put((torch.tensor([1]), torch.tensor([0])), torch.tensor(4.0))
      .flatten().tolist())

# in-place exactness: fill_/copy_ on a recorded tensor overwrite inf
x = torch.tensor([0.0, 1.0], requires_grad=True)
print("log(x).fill_(5)", torch.log(x).fill_(5).tolist())
print("log(x).copy_([2, 3])", torch.log(x).copy_(torch.tensor([2.0, 3.0])).tolist())
