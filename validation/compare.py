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
5% of the time: t₉₇.₅(4) = 2.78.) The test is validation/welch.py, which needs
only the standard library and is tested in CI by validation/test_welch.py.

Clean predictions are compared image by image (argmax of the logits).

Run from the repository root, after `cargo build --release`:
    pip install -r validation/requirements.txt
    python3 validation/compare.py [--trials 10] [--analogc target/release/analogc]
It prints the markdown tables recorded in docs/validation.md.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file

from welch import agreement, spread

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
            ours_accs, _ = analogc_eval(args.analogc, kind, sigma, args.trials)
            theirs_spread, ours_spread = spread(accs), spread(ours_accs)
            verdict = agreement(accs, ours_accs)
            failures += not verdict.agree
            print(f"| {kind} | {sigma} | {100 * theirs_spread.mean:.2f} ± {100 * theirs_spread.std:.2f} | "
                  f"{100 * ours_spread.mean:.2f} ± {100 * ours_spread.std:.2f} | {100 * verdict.difference:+.2f} | "
                  f"±{100 * verdict.half_width:.2f} | {'yes' if verdict.agree else 'NO'} |")
    sys.exit(1 if failures or agree < 0.999 else 0)


if __name__ == "__main__":
    main()
