#!/usr/bin/python3
"""Loss-landscape evaluation speed for PyTorch (CPU): the twin of bench/landscape.cpp.

Usage: /usr/bin/python3 torch_landscape.py [GRID=-1:1:7] [THREADS=1,2]

Data:   /usr/share/datasets/fashion-mnist/t10k-*-ubyte.gz (10,000 test images) read with
        gzip+numpy, pixels uint8 -> float32 / 255, no other normalization.
Model:  Flatten Linear(784,256) ReLU Linear(256,128) ReLU Linear(128,10), PyTorch's default init
        after torch.manual_seed(0); not trained (a point's cost does not depend on the values).
Grid:   f(a, b) = L(theta* + a d + b e) on GRID x GRID; d, e random directions, filter-normalized
        with biasbn as Li et al.'s net_plotter.py (d_j *= ||w_j|| / (||d_j|| + 1e-10) per row,
        1-D tensors zeroed).
Point:  parameters set in place (p = w + a d + b e), then one full evaluation as the paper's
        evaluation.py: eval mode, torch.no_grad, batches of 1000 in order, loss =
        sum(F.cross_entropy(batch) * batch size) / N, accuracy from argmax.
Timing: wall time over the whole grid / points, for each torch thread count in THREADS
        (torch.set_num_threads; OpenBLAS is not used by torch's Linear here: it runs on its own
        GEMM through MKL-DNN or the BLAS it was built with). The best is the RESULT.
"""
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = os.environ.get("XGRAD_DATA", "/usr/share/datasets/fashion-mnist")


def load_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    magic, = struct.unpack(">I", buf[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def parse_axis(spec):
    lo, hi, n = spec.split(":")
    return np.linspace(float(lo), float(hi), int(n))


def filter_normalized(weights, gen):
    out = []
    for w in weights:
        d = torch.randn(w.size(), generator=gen)
        if d.dim() <= 1:
            d.fill_(0)  # ignore = biasbn
        else:
            for dj, wj in zip(d, w):
                dj.mul_(wj.norm() / (dj.norm() + 1e-10))
        out.append(d)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    grid = args[0] if args else "-1:1:7"
    threads = [int(t) for t in (args[1] if len(args) > 1 else "1,2").split(",")]

    t0 = time.perf_counter()
    x = load_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))
    y = load_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).view(-1, 784)
    y = torch.from_numpy(y.astype(np.int64))
    load_s = time.perf_counter() - t0

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                          nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
    params = list(model.parameters())
    w = [p.data.clone() for p in params]
    gen = torch.Generator().manual_seed(1)
    dx = filter_normalized(w, gen)
    dy = filter_normalized(w, gen)
    xs = parse_axis(grid)
    ys = parse_axis(grid)
    points = len(xs) * len(ys)
    n = x.shape[0]
    print("# model=mlp params=%d images=%d grid=%sx%s points=%d batch=1000 torch=%s mkldnn=%s"
          " load_s=%.2f" % (sum(p.numel() for p in params), n, grid, grid, points,
                            torch.__version__, torch.backends.mkldnn.enabled, load_s))

    best, best_t = float("inf"), None
    for nt in threads:
        torch.set_num_threads(nt)
        losses = np.zeros((len(xs), len(ys)))
        t0 = time.perf_counter()
        with torch.no_grad():
            for i, a in enumerate(xs):
                for j, b in enumerate(ys):
                    for p, w0, d0, e0 in zip(params, w, dx, dy):
                        p.copy_(w0).add_(d0, alpha=float(a)).add_(e0, alpha=float(b))
                    total, correct = 0.0, 0
                    for k in range(0, n, 1000):
                        out = model(x[k:k + 1000])
                        yb = y[k:k + 1000]
                        total += F.cross_entropy(out, yb).item() * yb.shape[0]
                        correct += (out.argmax(1) == yb).sum().item()
                    losses[i, j] = total / n
        dt = time.perf_counter() - t0
        print("MODE impl=torch threads=%d s_per_point=%.4f total_s=%.2f loss_center=%.6f"
              % (nt, dt / points, dt, losses[len(xs) // 2, len(ys) // 2]), flush=True)
        if dt / points < best:
            best, best_t = dt / points, nt
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT bench=landscape impl=torch model=mlp images=%d grid=%s points=%d "
          "best_threads=%d s_per_point=%.4f peak_rss_mb=%.0f" % (n, grid, points, best_t, best, rss))


if __name__ == "__main__":
    main()
