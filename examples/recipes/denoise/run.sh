#!/bin/sh
# Recipe 4 (issue 13): denoise blocks in a trained, frozen network
# (Azizi et al., arXiv 2409.18553). For the MNIST MLP and LeNet-5 under a
# deployment noise that costs them about ten points, at two parameter budgets
# and three placements (the most sensitive layers first, the least sensitive
# first, a random order), this inserts the blocks (`analogc denoise`), trains
# the blocks alone under that noise (`analogc train --train <blocks>`: the
# loss is cross-entropy on the noisy forward) and evaluates the result over
# 5 simulated chips (`analogc eval --trials 5`). docs/training.md, "Recipe 4",
# holds the table this prints and what it says.
#
#   sh examples/recipes/denoise/run.sh            # from the repository root
#
# The MLP's blocks train for 2 epochs of the 55,000 training samples; LeNet-5's
# for one epoch of the first 10,000 (a conv block's backward is not on the fast
# path: a full epoch takes about 4 CPU-minutes). ANALOGC (default
# target/release/analogc, built first), OUT (default runs/recipe-denoise), MODELS (default
# both) and THREADS (default 1) may be set in the environment.
set -eu
cd "$(dirname "$0")/../../.."
[ -n "${ANALOGC:-}" ] || cargo build --release -q -p analogc
A=${ANALOGC:-target/release/analogc}
OUT=${OUT:-runs/recipe-denoise}
THREADS=${THREADS:-1}
MODELS=${MODELS:-mnist_mlp_deploy mnist_lenet5_deploy}
BUDGETS="2% 0.5%"
PLACES="sensitive insensitive random"

# "mean ± half-width of the 95% CI" of the noisy accuracy `eval` prints.
noisy() {
  sed -n 's/^  accuracy *\([0-9.]*\)%.*CI \[\([0-9.]*\)%, \([0-9.]*\)%\].*/\1 \2 \3/p' "$1" |
    awk '{ printf "%.2f ± %.2f", $1, ($3 - $2) / 2 }'
}
clean() {
  sed -n 's/^  clean accuracy *\([0-9.]*\)%.*/\1/p' "$1"
}

mkdir -p "$OUT"
TABLE="$OUT/table.md"
echo "| model | budget | placement | blocks (after: hidden) | parameters added | noisy accuracy with blocks | clean accuracy with blocks |" >"$TABLE"
echo "|---|---|---|---|---|---|---|" >>"$TABLE"
BASELINES=""
for model in $MODELS; do
  file=examples/recipes/denoise/$model.anl
  case $model in
    mnist_lenet5_deploy) training="--epochs 1 --limit 10000" ;;
    *) training="--epochs 2" ;;
  esac
  mkdir -p "$OUT/$model"
  "$A" eval "$file" --trials 5 --threads "$THREADS" >"$OUT/$model/eval.txt"
  BASELINES="$BASELINES| $model | $(clean "$OUT/$model/eval.txt")% | $(noisy "$OUT/$model/eval.txt")% |
"
  for budget in $BUDGETS; do
    for place in $PLACES; do
      dir=$OUT/$model/$(echo "$budget" | tr -d %)pct/$place
      rm -rf "$dir" && mkdir -p "$(dirname "$dir")"
      "$A" denoise "$file" --budget "$budget" --place "$place" --threads "$THREADS" --out "$dir" >"$dir.txt"
      cat "$dir.txt"
      blocks=$(sed -n 's/.* --train \([^ ]*\) --out .*/\1/p' "$dir.txt")
      # shellcheck disable=SC2086 # $training holds several options
      "$A" train "$dir/$model.anl" --train "$blocks" $training --threads "$THREADS" --out "$dir/trained"
      "$A" eval "$dir/trained/$model.anl" --trials 5 --threads "$THREADS" >"$dir/eval.txt"
      where=$(awk '$4 ~ /_denoise/ { printf "%s%s: %s", sep, $2, $5; sep = ", " }' "$dir.txt")
      added=$(sed -n 's/^added \([0-9]*\) parameters: \([0-9.]*%\).*/\1 (\2)/p' "$dir.txt")
      echo "| $model | $budget | $place | $where | $added | $(noisy "$dir/eval.txt")% | $(clean "$dir/eval.txt")% |" >>"$TABLE"
    done
  done
done
echo
echo "| model | clean accuracy | noisy accuracy without blocks |"
echo "|---|---|---|"
printf "%s" "$BASELINES"
echo
cat "$TABLE"
