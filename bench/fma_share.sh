#!/bin/sh
# Issue 16, item 1: the host GEMM's rate on fc1 and fc2 of the MNIST MLP (batch
# 64, one thread, every noise off) as a share of the FMA peak `analogc bench`
# measures in the same run. On a shared machine runs come at different speeds:
# each line is one run's own ratio; read the best runs.
#
#   bench/fma_share.sh [RUNS] [ANALOGC]        # defaults: 8, target/release/analogc
set -eu
runs=${1:-8}
analogc=${2:-target/release/analogc}
i=0
while [ "$i" -lt "$runs" ]; do
  "$analogc" bench examples/mnist_mlp_walking.anl --threads 1 --limit 2000 --repeat 3 \
    --set image.noise=none --set h1.noise=none --set h2.noise=none \
    --set fc1.noise=none --set fc2.noise=none --set fc3.noise=none |
    awk '/FMA peak/ { p = $3 } /^  fc1 / { a = $4 } /^  fc2 / { b = $4 }
         END { printf "peak %.0f GFLOP/s  fc1 %.1f (%.0f%%)  fc2 %.1f (%.0f%%)\n", p, a, 100 * a / p, b, 100 * b / p }'
  i=$((i + 1))
done
