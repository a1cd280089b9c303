"""How the MLP's cost grows with layer width, batch and threads (issue 16, item 7).

Writes the MLP 784-W-W-10 (ReLU, no noise) with random weights for each width W
into a temporary folder, runs `analogc bench --json` on each (width, batch,
threads) in rounds, and prints a markdown table of the medians over the rounds:

- samples/s of the whole pass over the test images (`bench` measures it twice
  per run, with and without the model's noise, which are the same here), µs
  per batch and GFLOP/s (2 FLOPs per multiply-accumulate);
- the speed-up of the most threads over the fewest;
- the dense layers alone: `bench`'s per-layer times (one thread, one batch of
  min(batch, 64), the most the compiled code takes at once; median of 50).

    cargo build --release -p analogc
    python3 bench/scaling.py [--rounds 3] [--widths 256,512,...] [--raw runs.json]
    python3 bench/scaling.py --from runs.json     # the table of an earlier run

Each round runs every configuration once, so a busy moment of a shared machine
touches one round of many configurations rather than every round of one.
µs per batch is each thread's: threads × batch ÷ samples/s, so perfect
scaling over threads keeps it constant. The last line gives the machine's load
average over the runs.
"""
import argparse
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INPUT = 784
CLASSES = 10
# Samples in the MNIST test set: the most one pass can use.
TEST_SAMPLES = 10_000


def macs_per_sample(width):
    return INPUT * width + width * width + width * CLASSES


def write_safetensors(path, tensors):
    """`tensors`: (name, shape, array('f')) in order; F32, little-endian."""
    header, offset = {}, 0
    for name, shape, data in tensors:
        size = 4 * len(data)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, data in tensors:
            if sys.byteorder != "little":
                data = array("f", data)
                data.byteswap()
            data.tofile(f)


def uniform(rng, count, bound):
    out = array("f")
    row = 4096
    for start in range(0, count, row):
        out.extend(rng.uniform(-bound, bound) for _ in range(min(row, count - start)))
    return out


def write_model(folder, width):
    """The model file of width `width` and its weights (nn.Linear's default bounds, ±1/√fan-in)."""
    rng = random.Random(width)
    tensors = []
    for name, fan_in, fan_out in [("fc1", INPUT, width), ("fc2", width, width), ("fc3", width, CLASSES)]:
        bound = fan_in**-0.5
        tensors.append((f"{name}.weight", [fan_out, fan_in], uniform(rng, fan_out * fan_in, bound)))
        tensors.append((f"{name}.bias", [fan_out], uniform(rng, fan_out, bound)))
    write_safetensors(os.path.join(folder, f"mlp_{width}.safetensors"), tensors)
    path = os.path.join(folder, f"mlp_{width}.anl")
    with open(path, "w") as f:
        f.write(
            f"""model mlp_{width} {{
  weights "mlp_{width}.safetensors"
  input image: u8[1, 28, 28] {{
    scale(1/255)
    normalize(mean = 0.1307, std = 0.3081)
    flatten
  }}
  fc1 = dense(image, {width})
  h1  = relu(fc1)
  fc2 = dense(h1, {width})
  h2  = relu(fc2)
  fc3 = dense(h2, {CLASSES})
  output logits = fc3
}}
"""
        )
    return path


def samples_for(width, batch, threads, flop):
    """About `flop` FLOPs per thread per pass, at least two batches per thread,
    whole batches, at most the test set."""
    n = max(int(flop * threads / (2 * macs_per_sample(width))), 2 * batch * threads)
    n = -(-n // batch) * batch
    return min(n, TEST_SAMPLES)


def bench(analogc, model, batch, threads, limit):
    data = os.path.join(ROOT, "data", "mnist")
    cmd = [analogc, "bench", model, "--data", data, "--batch", str(batch), "--threads", str(threads)]
    cmd += ["--limit", str(limit), "--repeat", "1", "--json"]
    load = os.getloadavg()[0]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout), load=load)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--analogc", default=os.path.join(ROOT, "target", "release", "analogc"))
    ap.add_argument("--widths", default="256,512,1024,2048,4096")
    ap.add_argument("--batches", default="1,4,16,64,256")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flop", type=float, default=1e10, help="FLOPs per thread in one timed pass")
    ap.add_argument("--raw", help="also write every round's figures to this JSON file")
    ap.add_argument("--from", dest="source", help="print the table of a --raw file instead of measuring")
    args = ap.parse_args()
    if args.source:
        with open(args.source) as f:
            runs = {(c["width"], c["batch"], c["threads"]): c["runs"] for c in json.load(f)}
    else:
        ints = lambda s: [int(v) for v in s.split(",")]
        configs = [(w, b, t) for w in ints(args.widths) for b in ints(args.batches) for t in ints(args.threads)]
        runs = measure(args, configs)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump([{"width": w, "batch": b, "threads": t, "runs": r} for (w, b, t), r in runs.items()], f)
    print_table(runs)


def measure(args, configs):
    runs = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as folder:
        models = {w: write_model(folder, w) for w in sorted({w for w, _, _ in configs})}
        for r in range(args.rounds):
            for c in configs:
                w, b, t = c
                runs[c].append(bench(args.analogc, models[w], b, t, samples_for(w, b, t, args.flop)))
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    return runs


def dense_us(run):
    """The dense layers' time for one batch of min(batch, 64), one thread."""
    return sum(layer["us_per_batch"] for layer in run["layers"] if layer["op"] == "dense")


def print_table(runs):
    widths, batches, threads = (sorted({c[i] for c in runs}) for i in range(3))
    configs = list(runs)
    rates = lambda c: [r[k] for r in runs[c] for k in ("samples_per_s", "clean_samples_per_s")]
    rate = {c: statistics.median(rates(c)) for c in configs}
    head = "| width | MACs/sample | batch |"
    rule = "|---|---|---|"
    for t in threads:
        head += f" {t} thr samples/s | µs/batch | GFLOP/s |"
        rule += "---|---|---|"
    if len(threads) > 1:
        head += f" {threads[-1]} vs {threads[0]} thr |"
        rule += "---|"
    head += " dense layers alone, 1 thr: µs/batch | GFLOP/s |"
    rule += "---|---|"
    print(head)
    print(rule)
    for w in widths:
        macs = macs_per_sample(w)
        for b in batches:
            row = f"| {w} | {macs / 1e6:.2f} M | {b} |"
            for t in threads:
                s = rate[(w, b, t)]
                row += f" {s:,.0f} | {t * b / s * 1e6:,.1f} | {2 * macs * s / 1e9:.1f} |"
            if len(threads) > 1:
                row += f" {rate[(w, b, threads[-1])] / rate[(w, b, threads[0])]:.2f}× |"
            # bench times each layer on one thread, whatever --threads is.
            us = statistics.median(dense_us(r) for t in threads for r in runs[(w, b, t)])
            row += f" {us:,.1f} | {2 * macs * min(b, 64) / us / 1e3:.1f} |"
            print(row)
    loads = sorted(r["load"] for c in configs for r in runs[c])
    print(f"\nload average (1 min) over the runs: median {statistics.median(loads):.1f}, {loads[0]:.1f}–{loads[-1]:.1f}")


if __name__ == "__main__":
    main()
