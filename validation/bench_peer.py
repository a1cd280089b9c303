"""PyTorch peer of `analogc bench`: the MNIST MLP 784-256-256-10 (or LeNet-5,
`--model lenet5`) with the same weights and data, additive noise N(0, 0.1²)
after every dense and conv layer, on the CPU with 2 threads; prints samples/s
(median of 5 passes over the test set, or the first `--limit` images).

    python3 validation/bench_peer.py [--model mlp|lenet5] [--batch 64] [--noise 0.1] [--limit N]
"""
import argparse, gzip, time
import numpy as np
import torch
from safetensors.numpy import load_file

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=64)
p.add_argument("--noise", type=float, default=0.1)
p.add_argument("--repeat", type=int, default=5)
p.add_argument("--model", choices=["mlp", "lenet5"], default="mlp")
p.add_argument("--limit", type=int, default=10000)
a = p.parse_args()
torch.set_num_threads(2)
w = {k: torch.from_numpy(v) for k, v in load_file(f"examples/weights/mnist_{a.model}.safetensors").items()}
with gzip.open("data/mnist/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32)
x = torch.from_numpy((x[: a.limit] / 255.0 - 0.1307) / 0.3081)
F = torch.nn.functional


def noisy(h):
    return h + a.noise * torch.randn_like(h) if a.noise > 0 else h


@torch.no_grad()
def run():
    for i in range(0, len(x), a.batch):
        h = x[i : i + a.batch]
        if a.model == "lenet5":
            h = h.reshape(-1, 1, 28, 28)
            h = F.max_pool2d(torch.relu(noisy(F.conv2d(h, w["conv1.weight"], w["conv1.bias"], padding=2))), 2)
            h = F.max_pool2d(torch.relu(noisy(F.conv2d(h, w["conv2.weight"], w["conv2.bias"]))), 2)
            h = h.flatten(1)
            h = torch.relu(noisy(F.linear(h, w["fc1.weight"], w["fc1.bias"])))
            h = torch.relu(noisy(F.linear(h, w["fc2.weight"], w["fc2.bias"])))
            noisy(F.linear(h, w["fc3.weight"], w["fc3.bias"]))
            continue
        h = torch.relu(noisy(torch.nn.functional.linear(h, w["fc1.weight"], w["fc1.bias"])))
        h = torch.relu(noisy(torch.nn.functional.linear(h, w["fc2.weight"], w["fc2.bias"])))
        noisy(torch.nn.functional.linear(h, w["fc3.weight"], w["fc3.bias"]))


rates = []
for _ in range(a.repeat):
    t = time.perf_counter()
    run()
    rates.append(len(x) / (time.perf_counter() - t))
print(f"pytorch {torch.__version__}: {a.model}, batch {a.batch}, noise {a.noise}: {sorted(rates)[len(rates) // 2]:.0f} samples/s")
