#!/usr/bin/env bash
# The main command: installs what is missing, builds in release mode, trains
# a steady-state network by recurrent backpropagation on `patterns` (pattern
# completion), a trajectory network by BPTT on `figure8`, and a steady
# network on a reward written in numpy, in process through the Python
# package (scripts/reward_example.py), prints the results and writes the
# figures to out/demo/ (python -m rbp.plot), or to the folder given.
#
#   scripts/demo.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product rbp
rbp=.build/release/rbp
py=.venv/bin/python
out="${1:-out/demo}"
mkdir -p "$out"

echo "== patterns: associative memory, steady states, recurrent backpropagation"
"$rbp" train --data datasets/patterns.h5 --out "$out/patterns" --epochs 300 --stop-when-solved --threads 2 \
  --overwrite
"$rbp" eval --checkpoint "$out/patterns/checkpoint.h5" --data datasets/patterns.h5 --test
"$rbp" fixed-points --checkpoint "$out/patterns/checkpoint.h5" --data datasets/patterns.h5 --starts 10 \
  --out "$out/patterns/fixed-points.h5"

echo "== figure8: trajectories, backpropagation through time"
"$rbp" train --data datasets/figure8.h5 --out "$out/figure8" --epochs 2000 --stop-when-solved --overwrite
"$rbp" eval --checkpoint "$out/figure8/checkpoint.h5" --data datasets/figure8.h5
"$rbp" grad --checkpoint "$out/figure8/checkpoint.h5" --data datasets/figure8.h5 --out "$out/figure8/gradients.h5"

echo "== any reward: numpy computes ∂R/∂x, net.grad(cotangent=...) returns ∂R/∂θ, in process"
"$py" scripts/reward_example.py --out "$out/reward"

echo "== a small sweep: learning rate × seed on xor"
"$rbp" sweep scripts/example_sweep.json --out "$out/sweep" --jobs 2 --quiet
"$rbp" sweep merge "$out/sweep"

plot="$py -m rbp.plot"
$plot history "$out/patterns" --out "$out/patterns-history.png" --title "patterns (RBP)" >/dev/null
$plot fixed-points "$out/patterns/fixed-points.h5" --out "$out/patterns-fixed-points.png" >/dev/null
$plot history "$out/figure8" --out "$out/figure8-history.png" --title "figure8 (BPTT)" >/dev/null
$plot trajectory "$out/figure8/gradients.h5" --data datasets/figure8.h5 --out "$out/figure8.png" >/dev/null
$plot sweep "$out/sweep" --x lr --y final_val_loss --hue seed --out "$out/sweep-lr.png" >/dev/null
cp "$out/reward/reward.png" "$out/reward.png"
echo "figures: $(ls "$out"/*.png | tr '\n' ' ')"
