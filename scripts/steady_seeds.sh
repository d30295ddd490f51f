#!/usr/bin/env bash
# Trains the shipped `patterns` task with default settings for seeds 1..N
# and counts how many runs finish and are solved by `rbp eval --test` on
# the saved checkpoint: the measurement behind the README's steady-state
# figures. Usage: scripts/steady_seeds.sh [N=20] [f32|f64] [more train flags]
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}; precision=${2:-f32}; shift $(( $# > 2 ? 2 : $# ))
rbp=.build/release/rbp
[ -x "$rbp" ] || swift build -c release >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
finished=0; solved=0
for seed in $(seq 1 "$n"); do
  if "$rbp" train --data datasets/patterns.h5 --out "$out/$seed" --epochs 300 --stop-when-solved \
       --seed "$seed" --precision "$precision" --quiet "$@" 2>"$out/err"; then
    finished=$((finished + 1))
  else
    echo "seed $seed: $(cat "$out/err")"
  fi
  eval=$("$rbp" eval --checkpoint "$out/$seed/checkpoint.h5" --data datasets/patterns.h5 --test 2>&1)
  epochs=$(.venv/bin/python -c "import h5py,sys; print(h5py.File(sys.argv[1])['/'].attrs['epoch'])" "$out/$seed/checkpoint.h5" 2>/dev/null)
  echo "seed $seed: epochs $epochs, eval --test: $eval"
  case "$eval" in *" solved"*) solved=$((solved + 1)) ;; esac
done
echo "patterns $precision: $finished of $n runs finished, $solved of $n solved"
