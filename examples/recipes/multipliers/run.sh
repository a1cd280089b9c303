#!/usr/bin/env bash
# Recipe 5 (docs/training.md): retraining through approximate multipliers, as
# TorchApprox and AdaPT users do. For the int8 MNIST MLP and LeNet-5 and each
# multiplier: accuracy with the bundled weights, then after fine-tuning through
# the multiplier (straight-through on the product: the exact product's
# gradient), and whether the AME, computed before retraining, still ranks the
# multipliers by their accuracy after it.
#
#   examples/recipes/multipliers/run.sh         # from the repository root
#   ANALOGC=path/to/analogc LIMIT=20000 THREADS=2 OUT=runs/mult examples/recipes/multipliers/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ -n "${ANALOGC:-}" ] || cargo build --release -q -p analogc
A=${ANALOGC:-target/release/analogc}
OUT=${OUT:-runs/recipes/multipliers}
LIMIT=${LIMIT:-10000}   # training images read (the last 1,000 of them validate)
THREADS=${THREADS:-2}
MULTIPLIERS=(exact mitchell "drum(4)" "drum(3)" "truncated(8)" "truncated(9)" "truncated(10)")
mkdir -p "$OUT"

for model in mnist_mlp_approx mnist_lenet5_approx; do
  file=examples/$model.anl
  case $model in
    mnist_mlp_approx) layers=(fc1 fc2 fc3) ;;
    mnist_lenet5_approx) layers=(conv1 conv2 fc1 fc2 fc3) ;;
  esac
  list=$(IFS=,; echo "${MULTIPLIERS[*]}")
  "$A" fit-ame "$file" --multipliers "$list" --limit 5000 --threads "$THREADS" --json > "$OUT/$model.fit-ame.json"
  for i in "${!MULTIPLIERS[@]}"; do
    m=${MULTIPLIERS[$i]}
    set_m=()
    for l in "${layers[@]}"; do set_m+=(--set "$l.multiplier=$m"); done
    run="$OUT/$model.$i"
    start=$SECONDS
    "$A" train "$file" "${set_m[@]}" --epochs 1 --limit "$LIMIT" --val 1000 --lr 3e-4 --seed 1 \
      --threads "$THREADS" --out "$run" --json > "$run.train.json"
    echo $((SECONDS - start)) > "$run.seconds"
    "$A" eval "$file" "${set_m[@]}" --weights "$run/$model.safetensors" --limit 5000 --trials 1 \
      --threads "$THREADS" --json > "$run.after.json"
  done
done

python3 - "$OUT" "${MULTIPLIERS[@]}" <<'PY'
import json, sys
out, multipliers = sys.argv[1], sys.argv[2:]
def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r
def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den else float("nan")
for model in ["mnist_mlp_approx", "mnist_lenet5_approx"]:
    fit = json.load(open(f"{out}/{model}.fit-ame.json"))
    # fit-ame simulated each multiplier on the bundled weights: the accuracy before.
    ame = {p["multiplier"]: p["ame"] for p in fit["multipliers"]}
    accuracy = {p["multiplier"]: p["accuracy"] for p in fit["multipliers"]}
    print(f"\n{model}\n")
    print("| multiplier | AME (before) | accuracy before | after fine-tuning | recovered | fine-tuning time |")
    print("|---|---|---|---|---|---|")
    a, before, after = [], [], []
    for i, m in enumerate(multipliers):
        b = accuracy[m]
        f = json.load(open(f"{out}/{model}.{i}.after.json"))["clean_accuracy"]
        secs = open(f"{out}/{model}.{i}.seconds").read().strip()
        a.append(ame[m]); before.append(b); after.append(f)
        print(f"| {m} | {ame[m]:.3f} | {100*b:.2f}% | {100*f:.2f}% | {100*(f-b):+.2f} | {secs} s |")
    print(f"\nSpearman(AME, accuracy): before retraining {spearman(a, before):+.2f}, after {spearman(a, after):+.2f}")
PY
