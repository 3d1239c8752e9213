#!/usr/bin/python3
"""Reads a safetensors checkpoint written by xgrad with plain Python (struct + json + numpy, no
safetensors package), validates its layout, prints every tensor, and, for the sample written by
tests/nn/test_serialize.cpp ("nn::save sample checkpoint for ..."), checks the values.

    XGRAD_CHECKPOINT_SAMPLE=/tmp/sample.safetensors ./build/tests/xgrad_tests \
        -tc='*safetensors_check*'
    /usr/bin/python3 tests/goldens/safetensors_check.py /tmp/sample.safetensors

With torch installed, it also loads each tensor with torch.from_numpy and prints its dtype.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header_bytes = blob[8 : 8 + n]
    assert n % 8 == 0, f"header length {n} is not a multiple of 8"
    assert header_bytes[:1] == b"{", "header does not start with '{'"
    # Duplicate keys would be silently merged by json.loads: refuse them.
    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=no_dups)
    keys = list(header)
    metadata = header.pop("__metadata__", {})
    if "__metadata__" in keys:
        assert keys[0] == "__metadata__", "xgrad writes __metadata__ first"
    names = [k for k in keys if k != "__metadata__"]
    assert names == sorted(names, key=lambda s: s.encode()), "xgrad writes names sorted"
    data = blob[8 + n :]
    pos = 0
    tensors = {}
    for name in names:  # xgrad lays the data out in name order
        e = header[name]
        assert list(e) == ["dtype", "shape", "data_offsets"], list(e)
        dt = DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        assert begin == pos, f"{name}: data starts at {begin}, expected {pos}"
        count = int(np.prod(e["shape"], dtype=np.int64))
        assert end - begin == count * dt.itemsize, f"{name}: wrong byte count"
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(e["shape"])
        pos = end
    assert pos == len(data), f"{len(data) - pos} trailing bytes"
    return tensors, metadata


def main():
    path = sys.argv[1]
    tensors, metadata = read(path)
    print("metadata:", metadata)
    for name, a in tensors.items():
        print(f"{name}: {a.dtype} {list(a.shape)}\n{a!r}")
    try:
        import torch

        for name, a in tensors.items():
            print(f"torch {name}: {torch.from_numpy(a.copy()).dtype}")
    except ImportError:
        pass
    if set(tensors) == {"d", "e", "n", "s", "w"}:  # the test's sample
        assert metadata == {"epoch": "3", "format": "pt"}
        assert tensors["w"].dtype == np.float32
        assert (tensors["w"] == np.arange(6, dtype=np.float32).reshape(2, 3) / 4).all()
        assert tensors["d"].dtype == np.float64
        assert tensors["d"].tolist() == [3.141592653589793, -0.5]
        assert tensors["n"].dtype == np.int64 and tensors["n"].tolist() == [-3, 2**40]
        assert tensors["s"].shape == () and tensors["s"] == np.float32(7.5)
        assert tensors["e"].shape == (0, 3) and tensors["e"].dtype == np.float32
        print("sample checkpoint: OK")


if __name__ == "__main__":
    main()
