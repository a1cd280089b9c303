#!/bin/sh
# Recipe 1, Walking Noise: train the MNIST MLP and LeNet-5 clean and with
# additive noise σ_train ∈ {0.1, 0.5, 1} after every layer with weights, sweep
# σ_test one layer at a time (and all at once, `--global`) on each trained
# model, and print the midpoints, the clean accuracies and each layer's growth
# of weight norm and activation RMS (docs/training.md, "Recipe 1").
#
#   examples/recipes/walking/run.sh [OUT]        # default OUT: runs/walking
#
# ANALOGC names the binary (default: target/release/analogc, built first); THREADS the threads of every command (default 1); MODELS the models
# to run (default: "mnist_mlp mnist_lenet5").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-runs/walking}
threads=${THREADS:-1}
if [ -z "${ANALOGC:-}" ]; then
  (cd "$root" && cargo build --release -q -p analogc)
  ANALOGC="$root/target/release/analogc"
fi
mkdir -p "$out"

# The MLP trains on all 55,000 training images, LeNet-5 (about 6 times the
# work per image) on the first 15,000; the sweep evaluates the MLP on the
# whole test set, LeNet-5 on its first 2,000 images.
for model in ${MODELS:-mnist_mlp mnist_lenet5}; do
  case $model in
    mnist_mlp) epochs=5 train_limit=55000 limit=10000 ;;
    mnist_lenet5) epochs=2 train_limit=15000 limit=2000 ;;
  esac
  for sigma in 0 0.1 0.5 1; do
    run="$out/$model-sigma$sigma"
    echo "== $model, σ_train = $sigma" >&2
    "$ANALOGC" train "$here/$model.anl" --init kaiming --epochs "$epochs" --limit "$train_limit" --schedule cosine \
      --set walk.noise.sigma="$sigma" --threads "$threads" --out "$run" >&2
    "$ANALOGC" eval "$run/$model.anl" --trials 1 --threads "$threads" --json > "$run/eval.json"
    "$ANALOGC" sweep "$run/$model.anl" --sigma 1e-2..1e2:17 --global --trials 2 --limit "$limit" \
      --threads "$threads" --json > "$run/sweep.json"
  done
done

python3 "$here/table.py" "$out"
