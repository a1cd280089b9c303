"""PyTorch peer of `analogc train`: the same network, initial weights, data,
batch order and optimizer, trained side by side.

    python3 validation/train_peer.py agree [--model mlp|lenet5] [--epochs 1] [--steps 100] [--schedule constant|cosine]
    python3 validation/train_peer.py bench [--model mlp|lenet5] [--limit 6400] [--rounds 3]

`agree` (no noise): writes PyTorch-initialized weights and a model file using
them, trains with `analogc train --init keep --optimizer sgd` and with PyTorch
on the same per-epoch order (analogc's Philox shuffle, reimplemented below and
checked against analogc's own), compares the per-step losses of the first
`--steps` steps and the final test accuracies (and, for scale, PyTorch f32
against the same network trained in f64), loads analogc's trained weights into
the PyTorch module with `load_state_dict(strict=True)` and evaluates them there
too.

`bench`: training samples/s of both on the same job (additive noise N(0, 0.1²)
after every dense/conv layer, batch 64, 2 threads), one epoch over the first
`--limit` training images, paired rounds after one warm-up round of each, medians.

Needs numpy, torch, safetensors (`validation/requirements.txt`) and a release
build (`cargo build --release`).
"""
import argparse, gzip, json, math, os, statistics, subprocess, sys, tempfile, time
import numpy as np
import torch
from safetensors.torch import save_file, load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "analogc")
DATA = os.path.join(ROOT, "data", "mnist")
F = torch.nn.functional

# ---- analogc's data order: rng::permutation(seed, epoch, SHUFFLE_SITE, n) ----
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
SHUFFLE_SITE, PER_CHIP, MASK = 0x2000_0000, 0xFFFF_FFFF, 0xFFFF_FFFF


def philox(c, k):
    c0, c1, c2, c3 = c
    k0, k1 = k
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0), p1 & MASK, ((p0 >> 32) ^ c3 ^ k1), p0 & MASK
    return c0, c1, c2, c3


def epoch_order(n, seed, epoch):
    key = (seed & MASK, seed >> 32)
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        w = philox((i >> 1, SHUFFLE_SITE, PER_CHIP, epoch), key)
        x = (w[i & 1] << 32) | w[2 + (i & 1)]
        j = (x * (i + 1)) >> 64
        p[i], p[j] = p[j], p[i]
    return p


# ---- data and networks ----
def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16 if "images" in name else 8)


def split(which):
    x = idx(f"{which}-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28)
    y = idx(f"{which}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


def preprocess(u8):
    # As analogc's input steps, in f32: scale(1/255), normalize(0.1307, 0.3081).
    x = u8.to(torch.float32) * torch.tensor(1 / 255, dtype=torch.float32)
    return (x - torch.tensor(0.1307, dtype=torch.float32)) / torch.tensor(0.3081, dtype=torch.float32)


class Net(torch.nn.Module):
    def __init__(self, model, noise=0.0):
        super().__init__()
        self.model, self.noise = model, noise
        if model == "lenet5":
            self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = torch.nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = torch.nn.Linear(400, 120), torch.nn.Linear(120, 84), torch.nn.Linear(84, 10)
        else:
            self.fc1, self.fc2, self.fc3 = torch.nn.Linear(784, 256), torch.nn.Linear(256, 256), torch.nn.Linear(256, 10)

    def noisy(self, h):
        return h + self.noise * torch.randn_like(h) if self.noise > 0 else h

    def forward(self, x):
        if self.model == "lenet5":
            x = F.max_pool2d(torch.relu(self.noisy(self.conv1(x))), 2)
            x = F.max_pool2d(torch.relu(self.noisy(self.conv2(x))), 2)
        x = x.flatten(1)
        x = torch.relu(self.noisy(self.fc1(x)))
        x = torch.relu(self.noisy(self.fc2(x)))
        return self.noisy(self.fc3(x))


MODEL = {
    "mlp": """model peer_mlp {{
  weights "init.safetensors"
  data "{data}"
  input image: u8[1, 28, 28] {{
    scale(1/255)
    normalize(mean = 0.1307, std = 0.3081)
    flatten
  }}
  fc1 = dense(image, 256){n}
  h1 = relu(fc1)
  fc2 = dense(h1, 256){n}
  h2 = relu(fc2)
  fc3 = dense(h2, 10){n}
  output logits = fc3
}}
""",
    "lenet5": """model peer_lenet5 {{
  weights "init.safetensors"
  data "{data}"
  input image: u8[1, 28, 28] {{
    scale(1/255)
    normalize(mean = 0.1307, std = 0.3081)
  }}
  conv1 = conv2d(image, 6, 5, padding = 2){n}
  r1 = relu(conv1)
  p1 = maxpool2d(r1, 2)
  conv2 = conv2d(p1, 16, 5){n}
  r2 = relu(conv2)
  p2 = maxpool2d(r2, 2)
  flat = flatten(p2)
  fc1 = dense(flat, 120){n}
  h1 = relu(fc1)
  fc2 = dense(h1, 84){n}
  h2 = relu(fc2)
  fc3 = dense(h2, 10){n}
  output logits = fc3
}}
""",
}


def setup(model, noise, seed, folder):
    torch.manual_seed(seed)
    net = Net(model, noise)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(folder, "init.safetensors"))
    n = f" {{ noise additive(sigma = {noise}, during = both) }}" if noise > 0 else ""
    path = os.path.join(folder, "model.anl")
    with open(path, "w") as f:
        f.write(MODEL[model].format(data=DATA, n=n))
    return net, path


def analogc(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"analogc {' '.join(args)} failed:\n{r.stderr}")
    return json.loads(r.stdout)


def torch_train(net, x, y, n, epochs, seed, lr, momentum, batch, dtype=torch.float32, schedule="constant"):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    total = epochs * ((n + batch - 1) // batch)
    losses = []
    for e in range(epochs):
        order = torch.tensor(epoch_order(n, seed, e))
        for i in range(0, n, batch):
            if schedule == "cosine":  # analogc's `Schedule::Cosine`, PyTorch's CosineAnnealingLR stepped per update
                for group in opt.param_groups:
                    group["lr"] = lr * (1 + math.cos(math.pi * len(losses) / total)) / 2
            b = order[i : i + batch]
            loss = F.cross_entropy(net(preprocess(x[b]).to(dtype)), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy(net, x, y, dtype=torch.float32):
    return (net(preprocess(x).to(dtype)).argmax(1) == y).double().mean().item()


def agree(a):
    torch.set_num_threads(2)
    xs, ys = split("train")
    xt, yt = split("t10k")
    n = len(xs) - a.val
    with tempfile.TemporaryDirectory() as tmp:
        net, path = setup(a.model, 0.0, a.seed, tmp)
        net64 = Net(a.model).double()
        net64.load_state_dict({k: v.double() for k, v in net.state_dict().items()})
        run = os.path.join(tmp, "run")
        opts = ["--init", "keep", "--optimizer", "sgd", "--lr", str(a.lr), "--momentum", str(a.momentum),
                "--epochs", str(a.epochs), "--seed", str(a.seed), "--val", str(a.val), "--batch", str(a.batch),
                "--schedule", a.schedule]
        t0 = time.time()
        ours = analogc("train", path, *opts, "--out", run, "--json")
        t_ours = time.time() - t0
        t0 = time.time()
        theirs = torch_train(net, xs, ys, n, a.epochs, a.seed, a.lr, a.momentum, a.batch, schedule=a.schedule)
        t_theirs = time.time() - t0
        steps = min(a.steps, len(theirs))
        rel = [abs(o - t) / abs(t) for o, t in zip(ours["step_losses"][:steps], theirs[:steps])]
        # PyTorch against itself in f64: how far rounding alone moves the trajectory
        # (its steps) and the result (its test accuracy after the same epochs).
        double = torch_train(net64, xs, ys, n, a.epochs, a.seed, a.lr, a.momentum, a.batch, torch.float64, a.schedule)[:steps]
        rel64 = [abs(d - t) / abs(d) for d, t in zip(double, theirs[:steps])]
        ev = analogc("eval", os.path.join(run, "model.anl"), "--json", "--trials", "1")
        trained = Net(a.model)
        trained.load_state_dict(load_file(os.path.join(run, "model.safetensors")), strict=True)
        print(f"model {a.model}, {a.epochs} epoch(s) of {n} samples, SGD lr {a.lr} ({a.schedule}) momentum {a.momentum}, batch {a.batch}, seed {a.seed}")
        print(f"per-step loss, first {steps} steps: max relative difference {max(rel):.2e} (median {statistics.median(rel):.2e});"
              f" first {steps // 2} steps: max {max(rel[: steps // 2]):.2e}")
        whole = [abs(o - t) / abs(t) for o, t in zip(ours["step_losses"], theirs)]
        apart = next((i for i, r in enumerate(whole) if r > 1e-2), None)
        print(f"  all {len(whole)} steps: median relative difference {statistics.median(whole):.2e}; "
              f"first step above 1e-2: {'none' if apart is None else apart + 1}")
        first = next((i for i, r in enumerate(rel) if r > 1e-4), None)
        if first is not None:
            print(f"  first step above 1e-4: {first + 1} (relative differences of steps 1..{first + 1}: "
                  f"{', '.join(f'{r:.1e}' for r in rel[: first + 1][-5:])})")
        print(f"  step 1: analogc {ours['step_losses'][0]:.6f}  pytorch {theirs[0]:.6f};  step {steps}: analogc {ours['step_losses'][steps - 1]:.6f}  pytorch {theirs[steps - 1]:.6f}")
        print(f"  for scale, PyTorch f32 against PyTorch f64 on the same steps: max {max(rel64):.2e} (median {statistics.median(rel64):.2e});"
              f" first {steps // 2} steps: max {max(rel64[: steps // 2]):.2e}")
        print("  first steps:", " ".join(f"{r:.1e}" for r in rel[:12]), "| f64:", " ".join(f"{r:.1e}" for r in rel64[:12]))
        print(f"test accuracy: analogc {100 * ev['clean_accuracy']:.2f}%  pytorch {100 * accuracy(net, xt, yt):.2f}%  "
              f"analogc's weights in pytorch (load_state_dict strict) {100 * accuracy(trained, xt, yt):.2f}%  "
              f"(pytorch in f64: {100 * accuracy(net64, xt, yt, torch.float64):.2f}%)")
        print(f"wall time: analogc {t_ours:.1f} s (validation included), pytorch {t_theirs:.1f} s")


def bench(a):
    torch.set_num_threads(2)
    xs, ys = split("train")
    rates = {"analogc": [], "pytorch": []}
    with tempfile.TemporaryDirectory() as tmp:
        # Round 0 of each is a warm-up and not counted: PyTorch's first epoch
        # pays its lazy initialization (about half its speed), analogc's run
        # the first read of the data files.
        for r in range(a.rounds + 1):
            net, path = setup(a.model, 0.1, a.seed, tmp)
            rep = analogc("train", path, "--init", "keep", "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9",
                          "--epochs", "1", "--limit", str(a.limit), "--val", "1000", "--threads", "2", "--json")
            t0 = time.perf_counter()
            torch_train(net, xs, ys, a.limit, 1, a.seed, 0.01, 0.9, 64)
            if r > 0:
                rates["pytorch"].append(a.limit / (time.perf_counter() - t0))
                rates["analogc"].append(rep["epochs"][0]["samples_per_second"])
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{a.model}, noisy training, batch 64, 2 threads, {a.limit} samples, {a.rounds} paired rounds (median):")
    for k, v in rates.items():
        print(f"  {k:8} {med[k]:9.0f} samples/s   rounds: {', '.join(f'{x:.0f}' for x in v)}")
    print(f"  ratio analogc / pytorch: {med['analogc'] / med['pytorch']:.2f}")


p = argparse.ArgumentParser()
p.add_argument("mode", choices=["agree", "bench", "order"])
p.add_argument("--model", choices=["mlp", "lenet5"], default="mlp")
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
p.add_argument("--batch", type=int, default=64)
p.add_argument("--val", type=int, default=5000)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=6400)
p.add_argument("--rounds", type=int, default=3)
a = p.parse_args()
if a.mode == "order":
    # The first indices of epoch 0 of 55,000 at seed 0, to compare with analogc's `epoch_order`.
    print(epoch_order(55000, 0, 0)[:8])
else:
    {"agree": agree, "bench": bench}[a.mode](a)
