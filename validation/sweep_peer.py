"""PyTorch peer of the README's Walking-Noise sweep,

    analogc sweep examples/mnist_mlp_walking.anl --sigma 1e-2..1e2:25 --trials 5 --out DIR

the same grid on the same weights and data: the MNIST MLP 784-256-256-10
(`examples/weights/mnist_mlp.safetensors`), the 10,000 MNIST test images, for
each site fc1, fc2, fc3 in turn additive noise N(0, σ²) after that dense layer
(after its bias, before the ReLU) and no other noise, 25 σ log-spaced from 1e-2
to 1e2, 5 trials of fresh draws each, plus the clean pass; the accuracy of each
point. PyTorch on the CPU with 2 threads, the whole test set as one batch
(`--batch` to change), no Python loop over samples.

    python validation/sweep_peer.py                       # the grid once: its time and midpoints
    python validation/sweep_peer.py --hoist               # the clean part before each site computed once
    python validation/sweep_peer.py --rounds 3 --bin target/release/analogc --bin OTHER
                                                          # paired rounds: each binary's whole command, then the peer

The peer's time is the grid's (data and weights loaded, no `import torch`);
analogc's is its whole command (process start, parse, data, plots, files).
"""
import argparse, gzip, os, statistics, subprocess, tempfile, time
import numpy as np
import torch
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "examples/mnist_mlp_walking.anl"
SITES = ["fc1", "fc2", "fc3"]
F = torch.nn.functional


def idx(name):
    with gzip.open(os.path.join(ROOT, "data", "mnist", name)) as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16 if "images" in name else 8)


def load():
    w = {k: torch.from_numpy(v) for k, v in load_file(os.path.join(ROOT, "examples/weights/mnist_mlp.safetensors")).items()}
    x = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    x = torch.from_numpy((x / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081))
    y = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    return w, x, y


@torch.no_grad()
def layers(w, h, start, site, sigma, gen):
    """The layers from `start` (0: fc1) on `h`, noise after `site`'s dense layer."""
    for i in range(start, 3):
        name = SITES[i]
        h = F.linear(h, w[f"{name}.weight"], w[f"{name}.bias"])
        if name == site and sigma is not None:
            h = h + sigma * torch.randn(h.shape, generator=gen)
        if i < 2:
            h = torch.relu(h)
    return h


@torch.no_grad()
def clean_input(w, h, site):
    """The clean activations entering `site`'s dense layer."""
    for i in range(SITES.index(site)):
        h = torch.relu(F.linear(h, w[f"{SITES[i]}.weight"], w[f"{SITES[i]}.bias"]))
    return h


def sweep(w, x, y, grid, trials, batch, hoist):
    """Accuracy per (site, σ): the mean over trials; and the clean accuracy."""
    gen = torch.Generator().manual_seed(0)
    hits = lambda h, yb: (h.argmax(1) == yb).sum().item()
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    clean = sum(hits(layers(w, xb, 0, None, None, gen), yb) for xb, yb in batches) / len(x)
    acc = {}
    for site in SITES:
        start = SITES.index(site) if hoist else 0
        inputs = [(clean_input(w, xb, site) if hoist else xb, yb) for xb, yb in batches]
        for sigma in grid:
            total = sum(hits(layers(w, hb, start, site, float(sigma), gen), yb) for _ in range(trials) for hb, yb in inputs)
            acc[site, sigma] = total / (trials * len(x))
    return clean, acc


def midpoints(clean, acc, grid):
    """σ where each site's accuracy first falls halfway from clean to chance (log-interpolated)."""
    half = (clean + 0.1) / 2
    out = {}
    for site in SITES:
        a = [acc[site, s] for s in grid]
        for i in range(1, len(grid)):
            if a[i] <= half < a[i - 1]:
                t = (a[i - 1] - half) / (a[i - 1] - a[i])
                out[site] = float(np.exp(np.log(grid[i - 1]) + t * (np.log(grid[i]) - np.log(grid[i - 1]))))
                break
    return out


def peer_seconds(a, w, x, y, grid):
    t = time.perf_counter()
    clean, acc = sweep(w, x, y, grid, a.trials, a.batch, a.hoist)
    return time.perf_counter() - t, clean, acc


def analogc_seconds(binary, out):
    t = time.perf_counter()
    subprocess.run([binary, "sweep", MODEL, "--sigma", "1e-2..1e2:25", "--trials", "5", "--out", out],
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


p = argparse.ArgumentParser()
p.add_argument("--trials", type=int, default=5)
p.add_argument("--batch", type=int, default=10000)
p.add_argument("--hoist", action="store_true", help="compute the clean layers before each site once")
p.add_argument("--rounds", type=int, default=0, help="paired rounds with the --bin binaries")
p.add_argument("--bin", action="append", default=[], help="an analogc binary to time (repeatable)")
a = p.parse_args()
torch.set_num_threads(2)
grid = np.logspace(-2, 2, 25)
w, x, y = load()
if a.rounds == 0:
    seconds, clean, acc = peer_seconds(a, w, x, y, grid)
    print(f"pytorch {torch.__version__}: {3 * len(grid)} points x {a.trials} trials x {len(x)} images "
          f"(+ clean), batch {a.batch}{', hoisted' if a.hoist else ''}: {seconds:.2f} s")
    print(f"  clean {100 * clean:.2f}%, midpoints " + ", ".join(f"{k} {v:.2f}" for k, v in midpoints(clean, acc, grid).items()))
else:
    times = {b: [] for b in a.bin}
    times["pytorch"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for i, b in enumerate(a.bin):
                times[b].append(analogc_seconds(b, os.path.join(tmp, f"r{r}-{i}")))
            times["pytorch"].append(peer_seconds(a, w, x, y, grid)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"README sweep, {a.rounds} paired rounds (median; peer batch {a.batch}{', hoisted' if a.hoist else ''}):")
    for k, v in times.items():
        print(f"  {k}: {med[k]:.2f} s   rounds: {', '.join(f'{s:.2f}' for s in v)}   "
              f"pytorch / it: {med['pytorch'] / med[k]:.2f}x")
