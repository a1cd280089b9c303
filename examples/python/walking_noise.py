"""The README's Walking-Noise figure from the Python API: accuracy against the
read-noise σ on one layer of the MNIST MLP at a time, with each curve's midpoint.

    pip install ./python matplotlib
    python examples/python/walking_noise.py                 # the README's grid: 25 σ, 5 chips, 10,000 images
    python examples/python/walking_noise.py --quick         # 9 σ, 2 chips, 1,000 images (seconds)

Writes walking-noise.png (or --out) and prints the sweep's table.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import analogc  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller grid: 9 σ, 2 trials, 1000 images")
    parser.add_argument("--out", default="walking-noise.png", help="the figure's file")
    args = parser.parse_args()

    model = analogc.load(ROOT / "examples/mnist_mlp_walking.anl")
    if args.quick:
        result = model.sweep(sigma="1e-2..1e2:9", trials=2, limit=1000)
    else:
        result = model.sweep(sigma="1e-2..1e2:25", trials=5)
    print(result)

    sweep = result.to_dict()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for site in sweep["sites"]:
        points = [p for p in sweep["points"] if p["site"] == site]
        sigma = [p["value"] for p in points]
        mean = [100 * p["accuracy"]["mean"] for p in points]
        low = [100 * p["accuracy"]["ci95"][0] for p in points]
        high = [100 * p["accuracy"]["ci95"][1] for p in points]
        (line,) = ax.plot(sigma, mean, marker="o", markersize=3, label=site)
        ax.fill_between(sigma, low, high, color=line.get_color(), alpha=0.2)
        midpoint = sweep["midpoints"].get(site)
        if midpoint is not None:
            ax.axvline(midpoint, color=line.get_color(), linestyle=":", linewidth=1)
    ax.axhline(100 * sweep["midpoint_level"], color="gray", linestyle="--", linewidth=1, label="midpoint level")
    ax.axhline(100 * sweep["chance"], color="gray", linestyle=":", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("σ of the additive read noise on the site")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Walking Noise: {sweep['model']}, {sweep['settings']['trials']} chips per point")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
