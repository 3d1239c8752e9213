#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (small valid and
near-valid files; run again after changing it). Usage: python3 tests/fuzz/make_corpus.py"""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(dims, payload=None):
    n = 1
    for d in dims:
        n *= d
    if payload is None:
        payload = bytes(i % 251 for i in range(n))
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in sorted(tensors):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*shape):
    n = 1
    for d in shape:
        n *= d
    return struct.pack("<%df" % n, *[0.5 * i for i in range(n)])


shutil.rmtree(ROOT, ignore_errors=True)

# IDX, plain (fuzz_idx also gets gzip streams) and the decompressed content for fuzz_idx_gz.
plain = {
    "labels_5": idx([5]),
    "images_2x3x3": idx([2, 3, 3]),
    "rank4": idx([1, 2, 1, 2]),
    "zero_dim": idx([0, 28, 28]),
    "truncated": idx([4, 4])[:-3],
    "trailing": idx([3]) + b"xyz",
    "huge_claim": idx([60000, 28, 28], b"\x01\x02"),
    "float_type": bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\x80\x3f",
}
for name, data in plain.items():
    put("fuzz_idx", name, data)
    put("fuzz_idx_gz", name, data)
put("fuzz_idx", "labels_5.gz", gzip.compress(plain["labels_5"], mtime=0))
put("fuzz_idx", "images.gz", gzip.compress(plain["images_2x3x3"], mtime=0))
put("fuzz_idx", "huge_claim.gz", gzip.compress(plain["huge_claim"], mtime=0))
put("fuzz_idx", "cut.gz", gzip.compress(plain["images_2x3x3"], mtime=0)[:-6])

# safetensors: the fuzz model is Linear(2, 3) + BatchNorm1d(3).
model = [
    ("0.weight", "F32", [3, 2], f32(3, 2)),
    ("0.bias", "F32", [3], f32(3)),
    ("1.weight", "F32", [3], f32(3)),
    ("1.bias", "F32", [3], f32(3)),
    ("1.running_mean", "F32", [3], f32(3)),
    ("1.running_var", "F32", [3], f32(3)),
    ("1.num_batches_tracked", "I64", [], struct.pack("<q", 7)),
]
put("fuzz_safetensors", "model", safetensors(model, {"model": "mlp", "epoch": "3"}))
put("fuzz_safetensors", "model_f64", safetensors(
    [(n, "F64", s, struct.pack("<%dd" % (len(r) // 4), *struct.unpack("<%df" % (len(r) // 4), r)))
     if d == "F32" else (n, d, s, r) for n, d, s, r in model]))
put("fuzz_safetensors", "wrong_shape", safetensors([("0.weight", "F32", [2, 3], f32(2, 3))] + model[1:]))
put("fuzz_safetensors", "extra_key", safetensors(model + [("2.weight", "F32", [1], f32(1))]))
put("fuzz_safetensors", "empty", safetensors([]))
put("fuzz_safetensors", "zero_size", safetensors([("z", "F32", [0, 4294967296], b"")]))
put("fuzz_safetensors", "huge_header_len", struct.pack("<Q", 1 << 62) + b"{}")
put("fuzz_safetensors", "huge_shape", safetensors([("w", "F32", [1 << 31, 1 << 31], b"")]))
put("fuzz_safetensors", "bf16", safetensors([("w", "BF16", [2], b"\0\0\0\0")]))

# DOT: first byte 0 writes .dot, 1 writes .svg (see fuzz_dot.cpp).
dots = {
    "simple": b'digraph { a -> b; b -> c; a -> c [label="x"]; }',
    "clusters": b'digraph G { rankdir=LR; subgraph cluster_0 { label="features"; a; b; } '
                b'node [shape=box, style=filled, fillcolor=lightblue]; a -> b -> c; c -> d [dir=none]; }',
    "record": b'digraph { node [shape=record]; n [label="{ w | data 1.0 | grad 0.5 }"]; '
              b'm [label="<f0> a|<f1> b"]; n -> m:f1; }',
    "html": b'digraph { a [label=<<b>Linear</b><br/>[3, 2]>]; a -> b [color="red:blue"]; }',
    "undirected": b'graph { size="3,3"; a -- b -- c -- a; }',
    "strict": b'strict digraph { edge [weight=2]; a -> b; a -> b; b -> a; }',
    "syntax_error": b'digraph { a -> ; }',
}
for name, text in dots.items():
    put("fuzz_dot", name + "_dot", b"\x00" + text)
for name in ("simple", "html"):  # layout and SVG take 20-80 ms an input: only two seeds
    put("fuzz_dot", name + "_svg", b"\x01" + dots[name])

# The command line's files: first byte 0 metrics.csv, 1 landscape CSV, 2 checkpoint/optimizer.
put("fuzz_cli_files", "metrics", b"\x00epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n"
    b"1,0.5,0.8,0.6,0.78,0.1,12.5\n2,0.4,0.85,0.5,0.82,0.1,12.1\n")
put("fuzz_cli_files", "metrics_short", b"\x00epoch,test_acc\n\n1,0.5\n2,nan\n")
put("fuzz_cli_files", "grid1d", b"\x01index,x,loss,accuracy\n0,-1,2.5,0.1\n1,0,0.5,0.9\n2,1,2.25,0.2\n")
put("fuzz_cli_files", "grid2d", b"\x01index,x,y,loss,accuracy\n0,-1,-1,1,0.5\n1,-1,1,2,0.5\n"
    b"2,1,-1,3,0.5\n3,1,1,4,0.5\n")
put("fuzz_cli_files", "grid_cut", b"\x01index,x,loss,accuracy\n0,-1,2.5,0.1\n1,0,0.")
groups = [{"doubles": {"lr": "0.10000000000000001", "momentum": "0.90000000000000002"},
           "bools": {"nesterov": False}, "shapes": [[3, 2], [3]], "steps": [4, 4]}]
put("fuzz_cli_files", "optimizer", b"\x02" + safetensors(
    [("g0.p0.momentum_buffer", "F32", [3, 2], f32(3, 2)), ("g0.p1.momentum_buffer", "F32", [3], f32(3))],
    {"optimizer": "SGD", "epoch": "2", "groups": json.dumps(groups)}))
put("fuzz_cli_files", "optimizer_bad_name", b"\x02" + safetensors(
    [("g0.p9.exp_avg", "F32", [3], f32(3))],
    {"optimizer": "Adam", "groups": '[{"shapes":[[3]],"steps":[1]}]'}))
put("fuzz_cli_files", "checkpoint", b"\x02" + safetensors(model, {"model": "mlp", "epoch": "3"}))

total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
print("corpus: %d bytes in %s" % (total, ROOT))
