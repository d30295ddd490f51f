#!/usr/bin/env bash
# Sweeps on a real cluster: a one-node Slurm cluster from Debian's packages
# (scripts/slurm/local_cluster.sh) and Open MPI. A 13-run sweep is run as a
# 4-task job array from the shipped template; one task is cancelled
# mid-run (scancel: SIGTERM, the runs in progress save their state); the
# incomplete merge must be refused; the task is resubmitted alone and the
# merge must then give, run for run, the results of a one-process sweep,
# with byte-identical checkpoints. A changed spec must be refused. The same
# sweep under `mpirun -n 2` must give the same results too.
#
#   scripts/cluster_test.sh            # uses .build/debug/rbp (RBP=… for another)
#
# Installs slurm and Open MPI with apt when missing; skips, saying so, only
# when they cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
rbp="$(cd "$(dirname "${RBP:-.build/debug/rbp}")" && pwd)/$(basename "${RBP:-.build/debug/rbp}")"
[[ -x "$rbp" ]] || { echo "cluster_test: no rbp binary at $rbp (swift build first)" >&2; exit 1; }
py="$root/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/rbp-cluster.XXXXXX")"
cluster="$work/cluster"
cleanup() { scripts/slurm/local_cluster.sh stop "$cluster" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

if ! command -v mpirun >/dev/null; then
  (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq openmpi-bin) >/dev/null 2>&1 || true
fi
if ! command -v mpirun >/dev/null; then
  echo "cluster_test: SKIPPED: openmpi-bin cannot be installed here" >&2
  exit 0
fi
if ! setup="$(scripts/slurm/local_cluster.sh start "$cluster" 2>"$work/cluster.err")"; then
  if ! command -v slurmctld >/dev/null; then
    echo "cluster_test: SKIPPED: slurm cannot be installed here ($(tail -1 "$work/cluster.err"))" >&2
    exit 0
  fi
  cat "$work/cluster.err" >&2
  echo "cluster_test: the Slurm cluster did not start" >&2
  exit 1
fi
eval "$setup"
fail() { echo "cluster_test: FAILED: $*" >&2; exit 1; }
wait_jobs() {   # until none of the given jobs is queued or running
  for _ in $(seq 1200); do
    [[ -z "$(squeue -h -j "$1" 2>/dev/null)" ]] && return 0
    sleep 0.25
  done
  fail "jobs $1 still queued after 5 minutes"
}

# 13 runs of about a second each: 12 from the grid (units 6 and 12 make the
# cost uneven), 1 listed.
cat > "$work/spec.json" <<JSON
{"data": "$root/datasets/figure8.h5", "base": {"epochs": 1000},
 "grid": {"units": [6, 12], "seed": [0, 1, 2, 3, 4, 5]},
 "runs": [{"epochs": 60, "units": 8, "seed": 9}]}
JSON
sed 's/"epochs": 1000/"epochs": 1001/' "$work/spec.json" > "$work/changed.json"

start=$(date +%s%N)
"$rbp" sweep "$work/spec.json" --out "$work/reference" --jobs 2 --quiet
echo "cluster_test: one-process sweep (--jobs 2): $(( ($(date +%s%N) - start) / 1000000 )) ms"

# --- Slurm: a 4-task array from the template, one task cancelled mid-run.
out="$work/array"
export RBP="$rbp"
array="$(sbatch --parsable --array=0-3 --cpus-per-task=1 --output="$work/task-%a.out" \
  scripts/slurm/sweep_array.sbatch "$work/spec.json" "$out" 4)"
array="${array%%;*}"
# Cancel task 1 while one of its runs is in progress (locked, no result yet).
in_progress() {
  "$py" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
try:
    runs = [r["name"] for r in json.load(open(f"{out}/manifest.json"))["runs"] if r["shard"] == 1]
except (OSError, ValueError):
    sys.exit(1)
sys.exit(0 if any(os.path.exists(f"{out}/runs/{r}/lock") and not os.path.exists(f"{out}/runs/{r}/result.json") for r in runs) else 1)
PY
}
for _ in $(seq 1200); do in_progress && break; sleep 0.1; done
in_progress || fail "task 1 never had a run in progress to cancel"
sleep 0.2
scancel "${array}_1"
wait_jobs "$array"
grep -q "SIGTERM" "$work/task-1.out" || fail "task 1 did not stop on SIGTERM: $(cat "$work/task-1.out")"
if "$rbp" sweep merge "$out" 2>"$work/merge.err"; then fail "merge accepted an incomplete sweep"; fi
grep -q "have no result" "$work/merge.err" || fail "merge refused without saying what is missing: $(cat "$work/merge.err")"
"$rbp" sweep status "$out"
resubmitted="$(sbatch --parsable --array=1 --cpus-per-task=1 --output="$work/again-%a.out" \
  scripts/slurm/sweep_array.sbatch "$work/spec.json" "$out" 4)"
wait_jobs "${resubmitted%%;*}"
"$rbp" sweep merge "$out" || fail "merge after the resubmission: $(cat "$work"/again-*.out)"

# --- mpirun -n 2 (Open MPI sets OMPI_COMM_WORLD_RANK/SIZE).
mpirun --oversubscribe --allow-run-as-root -n 2 "$rbp" sweep "$work/spec.json" --out "$work/mpi" --quiet
"$rbp" sweep merge "$work/mpi"

# --- Same results, run for run, and the same checkpoints.
compare() {
  "$rbp" sweep export "$work/reference" --json --out "$work/a.json"
  "$rbp" sweep export "$1" --json --out "$work/b.json"
  "$py" - "$work/a.json" "$work/b.json" "$1" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
drop = {"seconds"}
strip = lambda rows: [{k: v for k, v in r.items() if k not in drop} for r in rows]
if strip(a) != strip(b):
    sys.exit(f"{sys.argv[3]}: results differ from the one-process sweep")
print(f"cluster_test: {sys.argv[3]}: {len(b)} runs equal to the one-process sweep")
PY
  for ck in "$work"/reference/runs/*/checkpoint.h5; do
    cmp -s "$ck" "$1/runs/$(basename "$(dirname "$ck")")/checkpoint.h5" || fail "$1: $(dirname "$ck") checkpoint differs"
  done
}
compare "$out"
compare "$work/mpi"

# --- A changed spec is refused, naming the way out.
if "$rbp" sweep "$work/changed.json" --out "$out" --shards 4 --shard 0/4 --quiet 2>"$work/changed.err"; then
  fail "a changed spec was accepted"
fi
grep -q -- "--rerun-changed" "$work/changed.err" || fail "changed spec: $(cat "$work/changed.err")"
echo "cluster_test: Slurm array (one task cancelled and resubmitted), mpirun -n 2, changed-spec refusal: passed"
