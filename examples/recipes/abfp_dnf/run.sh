#!/usr/bin/env bash
# Recipe 3 (docs/training.md): ABFP at a setting where it loses accuracy, and
# three answers: (a) no fine-tuning, (b) Differential Noise Finetuning
# (`train --dnf`: FP32 with noise drawn from the measured ABFP error), (c)
# straight-through fine-tuning through ABFP itself (plain `train`). Every
# accuracy is on the ABFP chip: `eval --trials 5` on the 10,000 test images.
# (b) and (c) use the same epochs, learning rate, samples and seed; their wall
# time is the `train` command's, measured here (with its CPU time).
#
# Run from the repository root: examples/recipes/abfp_dnf/run.sh [OUT_DIR]
# ANALOGC names the binary (default: target/release/analogc, built first).
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ -n "${ANALOGC:-}" ] || cargo build --release -q -p analogc

analogc=${ANALOGC:-target/release/analogc}
out=${1:-runs/recipe3}
dir=examples/recipes/abfp_dnf
threads=1
trials=5
mkdir -p "$out"

# "mean% [lo%, hi%]" of an `eval` run: the mean over chips and its 95% CI.
accuracy() {
  "$analogc" eval "$1" --trials $trials --threads $threads |
    sed -n 's/^  accuracy *\([0-9.]*%\) .*95% CI \(\[[^]]*\]\).*/\1 \2/p'
}

# Runs a command (its output to a log); prints "wall s (cpu s)".
timed() {
  local log=$1 t
  shift
  t=$( { TIMEFORMAT='%R %U %S'; time "$@" > "$log" 2>&1; } 2>&1 )
  awk -v t="$t" 'BEGIN { split(t, x, " "); printf "%.1f s (cpu %.1f s)", x[1], x[2] + x[3] }'
}

echo "| model | setting | (a) no fine-tuning | (b) DNF | (c) straight-through ABFP | time (b) | time (c) |"
echo "|---|---|---|---|---|---|---|"
for spec in "mnist_mlp_abfp_low 10000 2" "mnist_lenet5_abfp_low 5000 2"; do
  read -r name limit epochs <<< "$spec"
  model=$dir/$name.anl
  common=(--epochs "$epochs" --limit "$limit" --lr 1e-3 --seed 0 --threads $threads)
  rm -rf "$out/$name-dnf" "$out/$name-ste"
  a=$(accuracy "$model")
  tb=$(timed "$out/$name-dnf.log" "$analogc" train "$model" "${common[@]}" --dnf --out "$out/$name-dnf")
  b=$(accuracy "$out/$name-dnf/$name.anl")
  tc=$(timed "$out/$name-ste.log" "$analogc" train "$model" "${common[@]}" --out "$out/$name-ste")
  c=$(accuracy "$out/$name-ste/$name.anl")
  echo "| $name | $epochs epochs × $limit samples | $a | $b | $c | $tb | $tc |"
done
