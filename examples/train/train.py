#!/usr/bin/env python3
"""Train the example networks used by analogc (numpy only, no deep-learning framework).

Networks (PyTorch state_dict naming and layout, float32):

  mlp     784 -> 256 -> ReLU -> 256 -> ReLU -> 10
  lenet5  conv1 1->6 k5 p2, ReLU, maxpool2 | conv2 6->16 k5 p0, ReLU, maxpool2 |
          flatten (C,H,W) 400 -> 120 -> ReLU -> 84 -> ReLU -> 10

Each is trained on MNIST and on Fashion-MNIST, giving four files:

  mnist_mlp.safetensors  mnist_lenet5.safetensors
  fashion_mlp.safetensors  fashion_lenet5.safetensors

Preprocessing (must match what the compiler's examples apply at inference time):
  x = pixel / 255;  x = (x - mean) / std;  layout [1, 28, 28] (C, H, W)
  MNIST mean 0.1307 std 0.3081; Fashion-MNIST mean 0.2860 std 0.3530.

Dense weights are [out, in] (y = x @ W.T + b); conv weights are [out, in, kh, kw]
and the convolution is a cross-correlation (no kernel flip), exactly as torch.nn.Conv2d.

Usage:
  pip install numpy safetensors
  python3 examples/train/train.py [--data DIR] [--out DIR] [--only NAME] [--epochs N]
  python3 examples/train/train.py --check-grad     # numerical gradient check only

Determinism: every run uses numpy.random.default_rng with a fixed per-model seed
(initialisation and shuffling) and a pinned BLAS thread count (2). With the same numpy /
OpenBLAS build and CPU a rerun gives bit-identical tensors. (The safetensors header is
not byte-stable: the library writes the metadata keys in hash-map order.)
"""

import argparse
import gzip
import os
import struct
import sys
import time

# OpenBLAS/MKL split a matrix product differently for different thread counts, which
# changes float rounding, so the weights depend on the BLAS thread count. Pin it (before
# numpy is imported) so the core count of the machine is not a hidden input; the
# published weights were made with 2 threads. (A different CPU or OpenBLAS build can
# still pick other kernels and change the last bits.) Override from the environment.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view

try:
    from safetensors.numpy import save_file  # noqa: E402
except ImportError:  # pragma: no cover
    sys.exit("safetensors is missing: pip install numpy safetensors")

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# (folder under --data, mean, std, short name used in the output file names)
DATASETS = {
    "mnist": ("mnist", 0.1307, 0.3081),
    "fashion": ("fashion-mnist", 0.2860, 0.3530),
}

# Hyper-parameters per network. Adam (beta1 0.9, beta2 0.999, eps 1e-8),
# learning rate decayed with a cosine schedule from lr to lr * 0.01 over all steps.
HPARAMS = {
    "mlp": dict(epochs=20, batch=128, lr=1e-3, weight_decay=0.0),
    "lenet5": dict(epochs=20, batch=128, lr=2e-3, weight_decay=0.0),
}

# Fixed seeds: one per (dataset, network) so each file can be regenerated alone (--only).
SEEDS = {
    ("mnist", "mlp"): 1001,
    ("mnist", "lenet5"): 1002,
    ("fashion", "mlp"): 2001,
    ("fashion", "lenet5"): 2002,
}


# --------------------------------------------------------------------------- data

def read_idx(path):
    """Read a gzip'd IDX file: magic 00 00 08 NDIM, NDIM big-endian u32 dims, u8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size mismatch")
    return data.reshape(dims)


def load_dataset(data_dir, key):
    folder, mean, std = DATASETS[key]
    d = os.path.join(data_dir, folder)

    def images(name):
        x = read_idx(os.path.join(d, name)).astype(np.float32) / np.float32(255.0)
        x = (x - np.float32(mean)) / np.float32(std)
        return x.reshape(-1, 1, 28, 28).astype(np.float32)  # N, C, H, W

    def labels(name):
        return read_idx(os.path.join(d, name)).astype(np.int64)

    xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    assert xtr.shape == (60000, 1, 28, 28) and xte.shape == (10000, 1, 28, 28)
    return xtr, ytr, xte, yte


# --------------------------------------------------------------------------- layers
# Every layer function returns (output, cache); the matching *_backward takes the
# upstream gradient and the cache and returns input gradient (and parameter grads).

def dense_forward(x, w, b):
    return x @ w.T + b, x


def dense_backward(dy, x, w):
    dw = dy.T @ x
    db = dy.sum(axis=0)
    dx = dy @ w
    return dx, dw, db


def relu_forward(x):
    y = np.maximum(x, 0)
    return y, y > 0


def relu_backward(dy, mask):
    return dy * mask


def im2col(x, kh, kw, pad):
    """[N,C,H,W] -> ([N*Ho*Wo, C*kh*kw], Ho, Wo); stride 1.

    Column order (c, i, j) matches w.reshape(out, C*kh*kw) for w [out, C, kh, kw],
    so y = cols @ w2d.T is PyTorch's cross-correlation.
    """
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w_ = x.shape
    ho, wo = h - kh + 1, w_ - kw + 1
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))  # N, C, Ho, Wo, kh, kw (a view)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)  # copies
    return cols, ho, wo


def conv_forward(x, w, b, pad):
    n = x.shape[0]
    o, c, kh, kw = w.shape
    cols, ho, wo = im2col(x, kh, kw, pad)
    y = cols @ w.reshape(o, -1).T + b  # [N*Ho*Wo, O]
    y = y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)  # N, O, Ho, Wo
    return np.ascontiguousarray(y), (x.shape, cols, ho, wo, pad)


def conv_backward(dy, cache, w, need_dx=True):
    xshape, cols, ho, wo, pad = cache
    n, c, h, w_ = xshape
    o, _, kh, kw = w.shape
    dy2 = np.ascontiguousarray(dy.transpose(0, 2, 3, 1)).reshape(n * ho * wo, o)
    dw = (dy2.T @ cols).reshape(w.shape)
    db = dy2.sum(axis=0)
    if not need_dx:
        return None, dw, db
    # col2im. Compute the column gradients as [kh, kw, C, N, Ho, Wo] so that each
    # kernel tap (i, j) is one contiguous block, then scatter-add every tap onto the
    # padded input (kept as [C, N, H, W] here and transposed back at the end).
    wk = w.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)
    dyt = np.ascontiguousarray(dy.transpose(1, 0, 2, 3)).reshape(o, n * ho * wo)
    dcols = (wk @ dyt).reshape(kh, kw, c, n, ho, wo)
    dxp = np.zeros((c, n, h + 2 * pad, w_ + 2 * pad), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + ho, j:j + wo] += dcols[i, j]
    if pad:
        dxp = dxp[:, :, pad:-pad, pad:-pad]
    return np.ascontiguousarray(dxp.transpose(1, 0, 2, 3)), dw, db


def maxpool2_forward(x):
    """2x2 max pool, stride 2 (H, W even).

    The four taps of every window are strided views; the backward pass routes the
    gradient to the first maximal tap (order: top-left, top-right, bottom-left, bottom-right).
    """
    taps = (x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2])
    y = np.maximum(np.maximum(taps[0], taps[1]), np.maximum(taps[2], taps[3]))
    idx = np.full(y.shape, 3, dtype=np.uint8)
    for k in (2, 1, 0):  # reverse order so the first maximal tap wins
        idx[taps[k] == y] = k
    return y, (x.shape, idx)


def maxpool2_backward(dy, cache):
    shape, idx = cache
    dx = np.zeros(shape, dtype=dy.dtype)
    for k, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        dx[:, :, r::2, c::2] = np.where(idx == k, dy, 0)
    return dx


def softmax_xent(logits, y):
    """Mean cross-entropy loss and its gradient w.r.t. the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
    d = p
    d[np.arange(n), y] -= 1
    return loss, d / n


# --------------------------------------------------------------------------- models

def he_init(rng, shape, fan_in, dtype):
    """He (Kaiming) normal init, std = sqrt(2 / fan_in); biases are zero."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def init_params(name, rng, dtype=np.float32):
    if name == "mlp":
        shapes = [("fc1", 784, 256), ("fc2", 256, 256), ("fc3", 256, 10)]
        p = {}
        for layer, fin, fout in shapes:
            p[f"{layer}.weight"] = he_init(rng, (fout, fin), fin, dtype)
            p[f"{layer}.bias"] = np.zeros(fout, dtype)
        return p
    if name == "lenet5":
        p = {
            "conv1.weight": he_init(rng, (6, 1, 5, 5), 1 * 25, dtype),
            "conv1.bias": np.zeros(6, dtype),
            "conv2.weight": he_init(rng, (16, 6, 5, 5), 6 * 25, dtype),
            "conv2.bias": np.zeros(16, dtype),
        }
        for layer, fin, fout in [("fc1", 400, 120), ("fc2", 120, 84), ("fc3", 84, 10)]:
            p[f"{layer}.weight"] = he_init(rng, (fout, fin), fin, dtype)
            p[f"{layer}.bias"] = np.zeros(fout, dtype)
        return p
    raise ValueError(name)


def mlp_forward(p, x):
    h = x.reshape(x.shape[0], -1)  # flatten C,H,W -> 784
    caches = []
    for i, layer in enumerate(("fc1", "fc2", "fc3")):
        h, c = dense_forward(h, p[f"{layer}.weight"], p[f"{layer}.bias"])
        caches.append(c)
        if i < 2:
            h, m = relu_forward(h)
            caches.append(m)
    return h, caches


def mlp_backward(p, dlogits, caches):
    g = {}
    d = dlogits
    layers = ("fc1", "fc2", "fc3")
    k = len(caches) - 1
    for i in (2, 1, 0):
        layer = layers[i]
        d, g[f"{layer}.weight"], g[f"{layer}.bias"] = dense_backward(d, caches[k], p[f"{layer}.weight"])
        k -= 1
        if i > 0:
            d = relu_backward(d, caches[k])
            k -= 1
    return g


def lenet5_forward(p, x):
    c = {}
    h, c["conv1"] = conv_forward(x, p["conv1.weight"], p["conv1.bias"], pad=2)  # 6x28x28
    h, c["relu1"] = relu_forward(h)
    h, c["pool1"] = maxpool2_forward(h)  # 6x14x14
    h, c["conv2"] = conv_forward(h, p["conv2.weight"], p["conv2.bias"], pad=0)  # 16x10x10
    h, c["relu2"] = relu_forward(h)
    h, c["pool2"] = maxpool2_forward(h)  # 16x5x5
    h = h.reshape(h.shape[0], -1)  # flatten C,H,W -> 400
    h, c["fc1"] = dense_forward(h, p["fc1.weight"], p["fc1.bias"])
    h, c["relu3"] = relu_forward(h)
    h, c["fc2"] = dense_forward(h, p["fc2.weight"], p["fc2.bias"])
    h, c["relu4"] = relu_forward(h)
    h, c["fc3"] = dense_forward(h, p["fc3.weight"], p["fc3.bias"])
    return h, c


def lenet5_backward(p, d, c):
    g = {}
    d, g["fc3.weight"], g["fc3.bias"] = dense_backward(d, c["fc3"], p["fc3.weight"])
    d = relu_backward(d, c["relu4"])
    d, g["fc2.weight"], g["fc2.bias"] = dense_backward(d, c["fc2"], p["fc2.weight"])
    d = relu_backward(d, c["relu3"])
    d, g["fc1.weight"], g["fc1.bias"] = dense_backward(d, c["fc1"], p["fc1.weight"])
    d = d.reshape(d.shape[0], 16, 5, 5)
    d = maxpool2_backward(d, c["pool2"])
    d = relu_backward(d, c["relu2"])
    d, g["conv2.weight"], g["conv2.bias"] = conv_backward(d, c["conv2"], p["conv2.weight"])
    d = maxpool2_backward(d, c["pool1"])
    d = relu_backward(d, c["relu1"])
    _, g["conv1.weight"], g["conv1.bias"] = conv_backward(d, c["conv1"], p["conv1.weight"], need_dx=False)
    return g


MODELS = {
    "mlp": (mlp_forward, mlp_backward),
    "lenet5": (lenet5_forward, lenet5_backward),
}


# --------------------------------------------------------------------------- checks

def conv_reference(x, w, b, pad):
    """Direct (slow, loop) cross-correlation used to validate conv_forward."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, ww = xp.shape
    o, _, kh, kw = w.shape
    ho, wo = h - kh + 1, ww - kw + 1
    y = np.zeros((n, o, ho, wo), x.dtype)
    for a in range(ho):
        for bb in range(wo):
            patch = xp[:, :, a:a + kh, bb:bb + kw]  # N, C, kh, kw
            y[:, :, a, bb] = np.einsum("nchw,ochw->no", patch, w) + b
    return y


def check_gradients():
    """Compare analytic gradients with central finite differences (float64)."""
    rng = np.random.default_rng(0)
    ok = True

    def numgrad(f, arr, eps=1e-6, max_entries=40):
        # Spot-check a random subset of entries.
        flat = arr.reshape(-1)
        idxs = rng.choice(flat.size, size=min(max_entries, flat.size), replace=False)
        out = {}
        for i in idxs:
            old = flat[i]
            flat[i] = old + eps
            fp = f()
            flat[i] = old - eps
            fm = f()
            flat[i] = old
            out[i] = (fp - fm) / (2 * eps)
        return out

    def compare(label, analytic, numeric):
        nonlocal ok
        a = analytic.reshape(-1)
        err = max(abs(a[i] - v) / max(1e-8, abs(a[i]) + abs(v)) for i, v in numeric.items())
        status = "ok" if err < 1e-5 else "FAIL"
        ok &= err < 1e-5
        print(f"  {label:28s} max rel err {err:.2e}  {status}")

    # 1) conv forward against the loop reference, and conv backward alone.
    for pad in (0, 2):
        x = rng.standard_normal((2, 3, 7, 6))
        w = rng.standard_normal((4, 3, 3, 5))
        b = rng.standard_normal(4)
        y, cache = conv_forward(x, w, b, pad)
        ref = conv_reference(x, w, b, pad)
        err = np.abs(y - ref).max()
        ok &= err < 1e-10
        print(f"  conv forward pad={pad} vs loop reference: max abs err {err:.1e}")
        r = rng.standard_normal(y.shape)  # loss = sum(r * conv(x))
        dx, dw, db = conv_backward(r, cache, w)
        f = lambda: float((conv_forward(x, w, b, pad)[0] * r).sum())
        compare(f"conv pad={pad} dx", dx, numgrad(f, x))
        compare(f"conv pad={pad} dw", dw, numgrad(f, w))
        compare(f"conv pad={pad} db", db, numgrad(f, b))

    # 2) whole networks end to end (float64 parameters, tiny batch).
    for name in ("mlp", "lenet5"):
        fwd, bwd = MODELS[name]
        p = init_params(name, rng, np.float64)
        for k in p:  # non-zero biases so their gradients are exercised too
            if k.endswith("bias"):
                p[k] = rng.standard_normal(p[k].shape) * 0.1
        x = rng.standard_normal((3, 1, 28, 28))
        y = rng.integers(0, 10, 3)
        logits, caches = fwd(p, x)
        _, d = softmax_xent(logits, y)
        g = bwd(p, d, caches)
        f = lambda: float(softmax_xent(fwd(p, x)[0], y)[0])
        for k in p:
            compare(f"{name} {k}", g[k], numgrad(f, p[k], max_entries=12))
    print("gradient check:", "PASSED" if ok else "FAILED")
    return ok


# --------------------------------------------------------------------------- training

def evaluate(fwd, p, x, y, batch=1000):
    correct = 0
    for i in range(0, len(x), batch):
        logits, _ = fwd(p, x[i:i + batch])
        correct += int((logits.argmax(axis=1) == y[i:i + batch]).sum())
    return correct / len(x)


def train(name, dataset, data, hp, seed, log=print):
    xtr, ytr, xte, yte = data
    fwd, bwd = MODELS[name]
    rng = np.random.default_rng(seed)
    p = init_params(name, rng)

    # Adam state
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v_) for k, v_ in p.items()}
    n = len(xtr)
    steps_per_epoch = (n + hp["batch"] - 1) // hp["batch"]
    total = hp["epochs"] * steps_per_epoch
    t = 0
    for epoch in range(hp["epochs"]):
        t0 = time.time()
        perm = rng.permutation(n)
        loss_sum = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * hp["batch"]:(s + 1) * hp["batch"]]
            logits, caches = fwd(p, xtr[idx])
            loss, d = softmax_xent(logits, ytr[idx])
            loss_sum += loss * len(idx)
            g = bwd(p, d.astype(np.float32), caches)
            # cosine decay from lr to 0.01*lr over all steps
            lr = hp["lr"] * (0.01 + 0.99 * 0.5 * (1 + float(np.cos(np.pi * t / total))))
            t += 1
            c1 = 1 - b1 ** t
            c2 = 1 - b2 ** t
            for k in p:
                gk = g[k]
                if hp["weight_decay"] and k.endswith("weight"):
                    gk = gk + hp["weight_decay"] * p[k]
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                p[k] -= (lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + eps)).astype(np.float32)
        log(f"  [{dataset}_{name}] epoch {epoch + 1:2d}/{hp['epochs']}  loss {loss_sum / n:.4f}  "
            f"({time.time() - t0:.1f}s)")
    acc = evaluate(fwd, p, xte, yte)
    return p, acc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(REPO_ROOT, "data"),
                    help="folder holding mnist/ and fashion-mnist/ (default: the repository's data/)")
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "examples", "weights"),
                    help="output folder (default: examples/weights)")
    ap.add_argument("--only", default=None,
                    help="train one model only: mnist_mlp, mnist_lenet5, fashion_mlp or fashion_lenet5")
    ap.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    ap.add_argument("--check-grad", action="store_true", help="run the numerical gradient check and exit")
    args = ap.parse_args()

    if not check_gradients():
        sys.exit("gradient check failed")
    if args.check_grad:
        return

    jobs = [(ds, net) for ds in ("mnist", "fashion") for net in ("mlp", "lenet5")]
    if args.only:
        jobs = [j for j in jobs if f"{j[0]}_{j[1]}" == args.only]
        if not jobs:
            sys.exit(f"unknown model {args.only!r}")
    os.makedirs(args.out, exist_ok=True)

    results = []
    cache = {}
    for ds, net in jobs:
        if ds not in cache:
            cache[ds] = load_dataset(args.data, ds)
        hp = dict(HPARAMS[net])
        if args.epochs is not None:
            hp["epochs"] = args.epochs
        seed = SEEDS[(ds, net)]
        print(f"training {ds}_{net}: {hp}, seed {seed}")
        t0 = time.time()
        p, acc = train(net, ds, cache[ds], hp, seed)
        wall = time.time() - t0
        folder, mean, std = DATASETS[ds]
        meta = {
            "dataset": folder,
            "test_accuracy": f"{acc:.4f}",
            "architecture": net,
            "input_shape": "1,28,28",
            "preprocessing": f"x = pixel/255; x = (x - {mean:.4f}) / {std:.4f}",
            "normalize_mean": f"{mean:.4f}",
            "normalize_std": f"{std:.4f}",
            "layout": "input [1,28,28] C,H,W; dense weight [out,in]; conv weight [out,in,kh,kw], cross-correlation",
            "epochs": str(hp["epochs"]),
            "seed": str(seed),
            "trainer": "examples/train/train.py (numpy, Adam)",
        }
        path = os.path.join(args.out, f"{ds}_{net}.safetensors")
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in p.items()}, path, metadata=meta)
        print(f"  -> {path}: test accuracy {acc * 100:.2f}%  wall {wall:.0f}s")
        results.append((f"{ds}_{net}", acc, wall))

    print("\nsummary")
    for name, acc, wall in results:
        print(f"  {name:16s} {acc * 100:6.2f}%  {wall:6.0f}s")


if __name__ == "__main__":
    main()
