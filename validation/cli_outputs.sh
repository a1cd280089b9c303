#!/usr/bin/env bash
# Runs every command of an analogc binary on every example (small limits) and
# writes what each printed — stdout, stderr, exit code, files written — into a
# folder, with timings masked. Two folders from two builds compare with
# `diff -r`: how a refactoring shows that the CLI's output did not change.
#
#   validation/cli_outputs.sh path/to/analogc OUT_DIR
set -uo pipefail
bin=$(realpath "$1")
out=$(realpath -m "$2")
cd "$(dirname "$0")/.."
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Masks wall times and rates: JSON fields and the text lines that hold them.
mask() {
  sed -E \
    -e 's/"(seconds|samples_per_second|samples_per_s|clean_samples_per_s|compile_ms|noise_cost|effective_gflops|us_per_batch|gflops|calibration_seconds|prediction_seconds|simulation_seconds|speed_ratio)": ?-?[0-9.e+-]+/"\1":T/g' \
    -e 's/^  [0-9.]+ s(, [0-9]+ samples\/s)?$/  T s/' \
    -e 's/\(([0-9.]+) s\)$/(T s)/' \
    -e 's/ +[0-9.]+s$/ Ts/' \
    -e 's/^prediction .*$/prediction T/' \
    -e "s|$tmp|TMP|g"
}

# run NAME ARGS...: one command, its outputs under NAME.
run() {
  local name=$1
  shift
  "$bin" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  echo "exit $?" >"$out/$name.exit"
  mask <"$tmp/stdout" >"$out/$name.stdout"
  mask <"$tmp/stderr" >"$out/$name.stderr"
}

# files NAME DIR: the files a command wrote (PNG by hash).
files() {
  local file
  mkdir -p "$out/$1.files"
  for file in "$2"/*; do
    case "$file" in
      *.png) sha256sum <"$file" >"$out/$1.files/$(basename "$file").sha256" ;;
      *.json) mask <"$file" >"$out/$1.files/$(basename "$file")" ;;
      *) cp "$file" "$out/$1.files/" ;;
    esac
  done
}

run help --help
for c in check passes run eval analyze fit-ame sweep merge bench emit; do
  run "help-$c" "$c" --help
done
run passes passes

for f in examples/*.anl; do
  m=$(basename "$f" .anl)
  run "$m.check" check "$f"
  for s in ast ir opt; do run "$m.emit-$s" emit --stage "$s" "$f"; done
  run "$m.eval" eval "$f" --limit 300 --trials 3
  run "$m.eval-json" eval "$f" --limit 300 --trials 2 --json --seed 7
  run "$m.eval-interp" eval "$f" --limit 40 --trials 1 --backend interp --json
  run "$m.analyze" analyze "$f"
  run "$m.analyze-json" analyze "$f" --json
  run "$m.analyze-cal" analyze "$f" --calibrate --limit 100 --trials 2
  run "$m.analyze-cal-json" analyze "$f" --calibrate --limit 60 --json
  run "$m.run" run "$f" --input tests/fixtures/run/mnist_one.npy --seed 3
  run "$m.run-out" run "$f" --input tests/fixtures/run/mnist64.npy --output "$tmp/$m.npy"
  sha256sum <"$tmp/$m.npy" >"$out/$m.run-out.sha256" 2>/dev/null
  run "$m.sweep" sweep "$f" --sigma 0.1,1,10 --trials 2 --limit 150 --global --out "$tmp/$m.sweep"
  files "$m.sweep" "$tmp/$m.sweep"
  run "$m.sweep-json" sweep "$f" --sigma 0.5..5:3 --kind mixed --trials 1 --limit 100 --json
  run "$m.sweep-all" sweep "$f" --sites all --kind multiplicative --sigma 0.2,2 --trials 1 --limit 60
  for i in 0 1; do run "$m.shard$i" sweep "$f" --sigma 0.1,1,10 --trials 2 --limit 150 --global --shard "$i/2" --out "$tmp/$m.s$i"; done
  run "$m.merge" merge "$tmp/$m.s0" "$tmp/$m.s1" --out "$tmp/$m.merged"
  files "$m.merge" "$tmp/$m.merged"
  run "$m.merge-json" merge "$tmp/$m.s0" "$tmp/$m.s1" --out "$tmp/$m.merged2" --json
  run "$m.bench" bench "$f" --limit 64 --repeat 1 --threads 1
done
run clif emit --stage clif examples/mnist_mlp_walking.anl
run clif-cranelift emit --stage clif examples/mnist_mlp_abfp.anl --kernels cranelift
run gain-sweep sweep examples/mnist_mlp_abfp.anl --sweep abfp8.format.gain=1,2,4 --trials 1 --limit 100
run sweep-dir-analyze analyze examples/mnist_mlp_walking.anl --calibrate --limit 50 --sweep-dir "$tmp/mnist_mlp_walking.sweep"
run fit-ame fit-ame tests/fixtures/analyze/int8.anl --multipliers 'exact,drum(3),drum(4),mitchell,truncated(bits = 6)' --limit 200 --calibrate-limit 50
run fit-ame-json fit-ame examples/mnist_mlp_approx.anl --multipliers 'exact,drum(3),drum(4),mitchell' --limit 100 --calibrate-limit 40 --json --trials 2
# Errors.
run err-check check tests/fixtures/check-err/E0101-unknown-name.anl examples/mnist_mlp.anl
run err-check-json check tests/fixtures/check-err/E0206-bad-choice.anl --message-format json
run err-data eval examples/mnist_mlp.anl --data nowhere
run err-data2 eval examples/mnist_mlp.anl --data tests/fixtures/data/ds_wide
run err-set eval examples/mnist_mlp.anl --set fc9.noise.sigma=1
run err-input run examples/mnist_mlp.anl --input tests/fixtures/run/wrong_shape.npy
run err-dtype run examples/mnist_mlp.anl --input tests/fixtures/run/wrong_dtype.npy
run err-sweep sweep examples/mnist_mlp.anl --sigma 1..0:3
run err-sweep2 sweep examples/mnist_mlp.anl --trials 0
run err-shard sweep examples/mnist_mlp.anl --shard 3/2
run err-merge merge "$tmp/mnist_mlp.s0" --out "$tmp/m3"
run err-fit fit-ame examples/mnist_mlp.anl --multipliers 'exact,drum(3)'
run err-fit2 fit-ame examples/mnist_mlp.anl --multipliers 'exact,drum(3),drum(4),mitchell'
run err-analyze analyze examples/mnist_mlp.anl --calibrate --trials 0
run err-profile emit --stage ir examples/profiles/aihwkit.anl
run err-nofile eval nowhere.anl
echo "wrote $(ls "$out" | wc -l) entries to $out"
