#!/usr/bin/env bash
# Submits a sweep as a Slurm job array of N shards and, after every task has
# succeeded (--dependency=afterok), a job that merges them into OUT/sweep.h5.
#
#   scripts/slurm/submit.sh SPEC.json OUT N [extra sbatch options…]
#
# Prints the two job ids. If a task fails or is cancelled, the merge job
# never starts (Slurm marks it DependencyNeverSatisfied): resubmit that task
# (`sbatch --array=i scripts/slurm/sweep_array.sbatch SPEC.json OUT N`),
# then merge by hand (`rbp sweep merge OUT`). `rbp sweep status OUT` says
# what is done, failed, running and missing at any time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
spec="${1:?usage: submit.sh SPEC.json OUT N [sbatch options…]}"
out="${2:?output folder}"
shards="${3:?number of shards}"
shift 3
array="$(sbatch --parsable --array="0-$((shards - 1))" "$@" "$here/sweep_array.sbatch" "$spec" "$out" "$shards")"
array="${array%%;*}"
merge="$(sbatch --parsable --dependency="afterok:$array" --job-name=rbp-merge --output="rbp-merge-%j.out" \
  --wrap "exec ${RBP:-rbp} sweep merge '$out'")"
echo "array $array, merge $merge"
