"""Prints recipe 1's tables from the run folders run.sh wrote: per model and
σ_train, the clean test accuracy and the walking-noise midpoint σ_test of each
layer and of all layers at once (global); then each layer's weight norm and
activation RMS after the last epoch, and their growth from the first epoch."""

import json
import sys
from pathlib import Path

SIGMAS = ["0", "0.1", "0.5", "1"]


def load(path):
    return json.loads(Path(path).read_text())


def fmt(v):
    return "—" if v is None else f"{v:.3g}"


def main(out):
    out = Path(out)
    for model in ["mnist_mlp", "mnist_lenet5"]:
        runs = {s: out / f"{model}-sigma{s}" for s in SIGMAS}
        runs = {s: r for s, r in runs.items() if (r / "sweep.json").exists() and (r / "sweep.json").stat().st_size}
        if not runs:
            continue
        sweeps = {s: load(r / "sweep.json") for s, r in runs.items()}
        sites = next(iter(sweeps.values()))["sites"]
        print(f"\n{model}: walking-noise midpoint σ_test (accuracy halfway between clean and chance)\n")
        print("| σ_train | clean accuracy | " + " | ".join(sites) + " |")
        print("|---" * (len(sites) + 2) + "|")
        for s, sweep in sweeps.items():
            clean = load(runs[s] / "eval.json")["clean_accuracy"]
            mids = [fmt(sweep["midpoints"][site]) for site in sites]
            print(f"| {s} | {100 * clean:.2f}% | " + " | ".join(mids) + " |")
        print(f"\n{model}: per layer, weight norm and activation RMS after the last epoch (× growth from epoch 1)\n")
        layers = [l["layer"] for l in load(next(iter(runs.values())) / "train.json")["epochs"][0]["layers"]]
        print("| σ_train | " + " | ".join(f"{l} ‖W‖ | {l} RMS" for l in layers) + " |")
        print("|---" * (2 * len(layers) + 1) + "|")
        for s, run in runs.items():
            epochs = load(run / "train.json")["epochs"]
            first, last = epochs[0]["layers"], epochs[-1]["layers"]
            cells = []
            for a, b in zip(first, last):
                for key in ["weight_norm", "activation_rms"]:
                    cells.append(f"{b[key]:.3g} (×{b[key] / a[key]:.2f})")
            print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/walking")
