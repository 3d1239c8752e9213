# Values of Debian's Fashion-MNIST files (dataset-fashion-mnist) read with plain Python/NumPy, for
# tests/nn/test_idx.cpp ("FashionMNIST on the installed files").
import gzip

import numpy as np

root = "/usr/share/datasets/fashion-mnist"


def read(name, header):
    return np.frombuffer(gzip.open(f"{root}/{name}").read()[header:], dtype=np.uint8)


train_x = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
train_y = read("train-labels-idx1-ubyte.gz", 8)
test_x = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
test_y = read("t10k-labels-idx1-ubyte.gz", 8)
print("train first labels", list(train_y[:10]), "last", train_y[-1])
print("test first labels", list(test_y[:10]))
print("train[0] pixel sum", int(train_x[0].sum()), "train[0][14][14]", int(train_x[0, 14, 14]))
print("train[59999] pixel sum", int(train_x[-1].sum()), "test[9999] pixel sum", int(test_x[-1].sum()))
pixels = train_x.astype(np.float64) / 255
print("train mean %.17g std %.17g" % (pixels.mean(), pixels.std()))
