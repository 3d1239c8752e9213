#!/usr/bin/env python3
"""Communication cost per data-parallel step on paper (tutorial 11).

Ring allreduce of S bytes over N ranks: reduce-scatter then all-gather, 2(N-1) steps of S/N
bytes each, so every rank sends 2(N-1)/N * S bytes and receives as many (full duplex: both at
once). Time per step  t_comm = 2(N-1)/N * S / bandwidth + 2(N-1) * alpha  (alpha: latency of one
message). Compared with the compute time per step t_c measured on one rank (batch B):
  efficiency = t_c / (t_c + t_comm)        (no overlap of backward and communication: the bound)
  speedup    = N * efficiency              (images per second against one rank)
  break-even batch for 50% efficiency: B * t_comm / t_c  (t_c grows linearly with B)
Usage: python3 tutorials/11_comm_cost.py [MLP_MS_PER_STEP] [CNN_MS_PER_STEP]   (batch 64, one rank)
"""
import sys

def mlp_params(sizes):  # nn::MLP: a Linear (weight + bias) between consecutive sizes
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))

def cnn_params(channels=(32, 64), cin=1, k=3, image=28, classes=10):
    # nn::CNN: per block Conv2d(k x k, no bias: BatchNorm follows) + BatchNorm2d (weight, bias)
    p, c, hw = 0, cin, image
    for co in channels:
        p += c * co * k * k + 2 * co
        c, hw = co, hw // 2  # MaxPool2d(2)
    return p + c * hw * hw * classes + classes  # Flatten + Linear(c*hw*hw, classes)

mlp_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
cnn_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 45.0
models = [("MLP 784-256-128-10", mlp_params([784, 256, 128, 10]), mlp_ms),
          ("CNN {32, 64}", cnn_params(), cnn_ms)]
links = [("1 Gb/s", 1e9 / 8), ("100 Gb/s", 100e9 / 8)]  # bytes per second
alphas = [5e-6, 50e-6]
B = 64
for name, p, tc_ms in models:
    S = 4 * p  # float32 gradient bytes
    print(f"\n{name}: {p:,} parameters, S = 4 * {p:,} = {S:,} bytes; t_c = {tc_ms} ms per batch-{B} step")
    print("| N | 2(N-1)/N x S sent per rank | link | bandwidth term | + latency 2(N-1)a, a=5..50 us | t_comm | efficiency | speedup | batch/rank for 50% |")
    print("|---|---|---|---|---|---|---|---|---|")
    for N in (2, 4, 16):
        sent = 2 * (N - 1) / N * S
        for lname, bw in links:
            t_bw = sent / bw * 1e3  # ms
            lat = [2 * (N - 1) * a * 1e3 for a in alphas]
            tcomm = [t_bw + l for l in lat]
            eff = [tc_ms / (tc_ms + t) for t in tcomm]
            be = [B * t / tc_ms for t in tcomm]
            bes = "..".join(f"{b:.0f}" if b >= 1 else "<1" for b in be)
            print(f"| {N} | {sent/1e6:.3f} MB | {lname} | {t_bw:.3f} ms | {lat[0]:.2f}..{lat[1]:.2f} ms "
                  f"| {tcomm[0]:.3f}..{tcomm[1]:.3f} ms | {100*eff[1]:.0f}..{100*eff[0]:.0f}% "
                  f"| {N*eff[1]:.2f}..{N*eff[0]:.2f} | {bes} |")
