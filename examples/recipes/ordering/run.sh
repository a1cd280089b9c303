#!/usr/bin/env bash
# Recipe 2 (docs/training.md): does training on the ordered model keep the
# accuracy on an ordered chip? Fine-tunes the bundled MNIST MLP (trained
# without the chip) for one epoch three ways — on the non-ordered model, on the
# ordered model with the exact ordered gradient, and with the linear shortcut —
# and deploys each on both models, over 10 simulated chips.
#
#   examples/recipes/ordering/run.sh            # from the repository root
#   ANALOGC=path/to/analogc EPOCHS=2 THREADS=2 OUT=runs/ordering examples/recipes/ordering/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ -n "${ANALOGC:-}" ] || cargo build --release -q -p analogc
A=${ANALOGC:-target/release/analogc}
OUT=${OUT:-runs/recipes/ordering}
EPOCHS=${EPOCHS:-1}
THREADS=${THREADS:-2}
M=examples/recipes/ordering/mnist_mlp_ordered.anl
UNORDERED="--set tight.accumulate=exact"
TRAIN="--epochs $EPOCHS --lr 1e-4 --seed 1 --threads $THREADS"
mkdir -p "$OUT"

train() { # name, extra options
  local name=$1; shift
  local start=$SECONDS
  "$A" train "$M" $TRAIN "$@" --out "$OUT/$name" --json > "$OUT/$name.train.json"
  echo $((SECONDS - start)) > "$OUT/$name.seconds"
}
train unordered $UNORDERED
train ordered_exact --ordered-grad exact
train ordered_linear --ordered-grad linear

deploy() { # weights, deploy name, extra options
  "$A" eval "$M" --weights "$1" --trials 10 --threads "$THREADS" --json "${@:3}" > "$OUT/$2"
}
for trained in bundled unordered ordered_exact ordered_linear; do
  w="$OUT/$trained/mnist_mlp_ordered.safetensors"
  [ "$trained" = bundled ] && w=examples/weights/mnist_mlp.safetensors
  deploy "$w" "$trained.on_unordered.json" $UNORDERED
  deploy "$w" "$trained.on_ordered.json"
done

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rows = [("bundled (no fine-tuning)", "bundled"), ("non-ordered model", "unordered"),
        ("ordered model, exact gradient", "ordered_exact"), ("ordered model, linear shortcut", "ordered_linear")]
def acc(name):
    d = json.load(open(f"{out}/{name}.json"))
    lo, hi = d["accuracy"]["ci95"]
    return f'{100 * d["accuracy"]["mean"]:.2f}% ± {100 * (hi - lo) / 2:.2f}'
print("| fine-tuned on | deployed on the non-ordered model | deployed on the ordered chip | training time |")
print("|---|---|---|---|")
for label, key in rows:
    secs = "—" if key == "bundled" else open(f"{out}/{key}.seconds").read().strip() + " s"
    print(f"| {label} | {acc(key + '.on_unordered')} | {acc(key + '.on_ordered')} | {secs} |")
PY
