#!/usr/bin/env bash
# The main command: installs what is missing, builds in release mode, trains
# a steady-state network by recurrent backpropagation on `patterns` (pattern
# completion), a trajectory network by BPTT on `figure8`, and a steady
# network on a reward written in numpy (scripts/reward_example.py), prints
# the results and writes the figures to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product rbp
rbp=.build/release/rbp
py=.venv/bin/python
out=out/demo
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

echo "== any reward: numpy computes ∂R/∂x, rbp grad --cotangent returns ∂R/∂θ"
"$py" scripts/reward_example.py --rbp "$rbp" --out "$out/reward"

echo "== a small sweep: learning rate × seed on xor"
"$rbp" sweep scripts/example_sweep.json --out "$out/sweep" --jobs 2 --quiet
"$rbp" sweep merge "$out/sweep"

"$py" scripts/plot_history.py "$out/patterns/checkpoint.h5" --out "$out/patterns-history.png" --title "patterns (RBP)"
"$py" scripts/plot_history.py "$out/figure8/checkpoint.h5" --out "$out/figure8-history.png" --title "figure8 (BPTT)"
"$py" scripts/plot_trajectory.py --gradients "$out/figure8/gradients.h5" --data datasets/figure8.h5 --out "$out/figure8.png"
"$rbp" sweep export "$out/sweep" --csv --out "$out/sweep/runs.csv"
"$py" scripts/plot_sweep.py "$out/sweep/runs.csv" --param lr --out "$out/sweep-lr.png"
cp "$out/reward/reward.png" "$out/reward.png"
echo "figures: $(ls "$out"/*.png | tr '\n' ' ')"
