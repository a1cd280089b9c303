"""Agreement of analogc with PyTorch on the same weights, noise and data.

PyTorch (CPU) evaluates the MNIST MLP of examples/weights/mnist_mlp.safetensors
with noise on the output of every linear layer, as Walking Noise places it:

    additive        y = x + σ·ε
    multiplicative  y = x·(1 + σ·ε)
    mixed           y = x·(1 + σ·ε₁) + σ·ε₂       (σ_add = σ_mul = σ, mul first)

and analogc evaluates validation/mnist_mlp_peer.anl with the same noise set by
--set. Both use T independent trials of the 10,000 test images; the random
numbers differ (each tool has its own generator), so the accuracies agree
statistically: the check is Welch's two-sample t test at 95%, the difference of
the means within t₉₇.₅(ν)·sqrt(s₁²/T₁ + s₂²/T₂), ν the Welch–Satterthwaite degrees
of freedom. (With T = 5 a normal quantile, 1.96, would reject far more often than
5% of the time: t₉₇.₅(4) = 2.78.)

Clean predictions are compared image by image (argmax of the logits).

Run from the repository root, after `cargo build --release`:
    pip install -r validation/requirements.txt
    python3 validation/compare.py [--trials 10] [--analogc target/release/analogc]
It prints the markdown tables recorded in docs/validation.md.
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ["additive", "multiplicative", "mixed"]
SIGMAS = [0.1, 0.5, 1.0]


def mnist_test():
    d = os.path.join(ROOT, "data", "mnist")
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def torch_logits(w, x, kind, sigma, gen):
    """The MLP forward pass with noise after every linear layer (sigma 0: clean)."""
    def noisy(y):
        if sigma == 0:
            return y
        e1 = torch.randn(y.shape, generator=gen)
        if kind == "additive":
            return y + sigma * e1
        if kind == "multiplicative":
            return y * (1 + sigma * e1)
        e2 = torch.randn(y.shape, generator=gen)
        return y * (1 + sigma * e1) + sigma * e2

    h = noisy(x @ w["fc1.weight"].T + w["fc1.bias"]).relu()
    h = noisy(h @ w["fc2.weight"].T + w["fc2.bias"]).relu()
    return noisy(h @ w["fc3.weight"].T + w["fc3.bias"])


def stats(accs):
    m = sum(accs) / len(accs)
    s = math.sqrt(sum((a - m) ** 2 for a in accs) / (len(accs) - 1)) if len(accs) > 1 else 0.0
    return m, s


# Two-sided 95% quantiles of Student's t, ν = 1…30 (the table analogc's eval uses).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t95(df):
    """The 97.5% quantile of Student's t at a real ν ≥ 1 (linear between table rows;
    the Cornish–Fisher expansion beyond 30)."""
    if df >= 30:
        return 1.959964 + (1.959964 ** 3 + 1.959964) / (4 * df)
    lo = max(1, int(math.floor(df)))
    hi = min(30, lo + 1)
    return T95[lo - 1] + (T95[hi - 1] - T95[lo - 1]) * (df - lo)


def welch_half_width(s1, n1, s2, n2):
    """Half the 95% interval of a difference of two means, Welch's t."""
    a, b = s1 ** 2 / n1, s2 ** 2 / n2
    if a + b == 0:
        return 0.0
    df = (a + b) ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1))
    return t95(df) * math.sqrt(a + b)


def analogc_eval(binary, kind, sigma, trials):
    design = {
        "additive": f"additive(sigma = {sigma})",
        "multiplicative": f"multiplicative(sigma = {sigma})",
        "mixed": f"mixed(add = {sigma}, mul = {sigma}, order = mul_first)",
    }[kind]
    out = subprocess.run(
        [binary, "eval", os.path.join(ROOT, "validation", "mnist_mlp_peer.anl"), "--trials", str(trials),
         "--seed", "1", "--json", "--set", f"peer.noise={design}"],
        check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    return [t["accuracy"] for t in r["trials"]], r["clean_accuracy"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--analogc", default=os.path.join(ROOT, "target", "release", "analogc"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    images, labels = mnist_test()
    x = torch.tensor(((images.reshape(-1, 784) / 255.0 - 0.1307) / 0.3081).astype(np.float32))
    w = load_file(os.path.join(ROOT, "examples", "weights", "mnist_mlp.safetensors"))
    y = torch.tensor(labels.astype(np.int64))

    # Clean predictions, image by image: analogc run on all test images.
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(inp, images)
        subprocess.run([args.analogc, "run", os.path.join(ROOT, "validation", "mnist_mlp_peer.anl"), "--input", inp,
                        "--output", outp, "--set", "peer.noise=none"], check=True)
        ours = np.load(outp).argmax(1)
    theirs = torch_logits(w, x, "additive", 0, None).argmax(1).numpy()
    agree = (ours == theirs).mean()
    print("## Clean predictions\n")
    print("| images | same prediction | analogc accuracy | PyTorch accuracy |\n|---|---|---|---|")
    print(f"| {len(labels)} | {100 * agree:.2f}% | {100 * (ours == labels).mean():.2f}% | "
          f"{100 * (theirs == labels).mean():.2f}% |\n")

    print(f"## Noisy accuracy ({args.trials} trials each, noise after every linear layer)\n")
    print("| noise | σ | PyTorch mean ± std | analogc mean ± std | difference | Welch 95% interval | agree |")
    print("|---|---|---|---|---|---|---|")
    failures = 0
    for kind in KINDS:
        for sigma in SIGMAS:
            accs = []
            for t in range(args.trials):
                gen = torch.Generator().manual_seed(1000 * t + 7)
                with torch.no_grad():
                    accs.append((torch_logits(w, x, kind, sigma, gen).argmax(1) == y).float().mean().item())
            tm, ts = stats(accs)
            ours_accs, _ = analogc_eval(args.analogc, kind, sigma, args.trials)
            am, as_ = stats(ours_accs)
            half = welch_half_width(ts, len(accs), as_, len(ours_accs))
            ok = abs(am - tm) <= half
            failures += not ok
            print(f"| {kind} | {sigma} | {100 * tm:.2f} ± {100 * ts:.2f} | {100 * am:.2f} ± {100 * as_:.2f} | "
                  f"{100 * (am - tm):+.2f} | ±{100 * half:.2f} | {'yes' if ok else 'NO'} |")
    sys.exit(1 if failures or agree < 0.999 else 0)


if __name__ == "__main__":
    main()
