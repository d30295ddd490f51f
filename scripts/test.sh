#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test:
# - that every Swift file is laid out as .swift-format says;
# - the Swift tests of each module (with the end-to-end, documentation and
#   h5py interop tests, which find the Python environment through
#   RBP_PYTHON);
# - that every planted bug of scripts/mutants/ still applies;
# - the DocC documentation of the public modules, warnings as errors, and
#   a summary for every public symbol (scripts/docs.sh);
# - the demo (scripts/demo.sh, release build), into a scratch folder;
# - the Python package's tests (python/tests) against the command line;
# - sweeps on a real one-node Slurm cluster and under mpirun;
# - rbp as a versioned dependency of another package;
# - the same binary on emulated older CPUs;
# - the readers and threaded code under Address- and ThreadSanitizer (in
#   the background, from the start: their builds are apart from the others).
# Temporary files go to a folder of this run, removed at the end (also the
# empty folders the toolchain leaves behind).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase prints its wall time at its end, so a slow one stands out, and
# the CPU time of its processes (a phase that waits shows less CPU than wall
# time; one that keeps both cores busy, twice as much).
cpu_file="$(mktemp)"
trap 'rm -f "$cpu_file"' EXIT
cpu_seconds() {  # user + system seconds of this shell's finished children
  awk 'END { split($0, f, /[ ms]+/); print int(f[1] * 60 + f[2] + f[3] * 60 + f[4]) }' "$cpu_file"
}
phase() {
  local name="$1" start=$SECONDS cpu
  shift
  times > "$cpu_file"   # a builtin with a redirection runs in this shell
  cpu="$(cpu_seconds)"
  "$@"
  times > "$cpu_file"
  echo "=== $name: $((SECONDS - start)) s (CPU $(( $(cpu_seconds) - cpu )) s)"
}
export RBP_PYTHON="$PWD/.venv/bin/python"
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/rbp-test.XXXXXX")"
export TMPDIR
# The sanitizer builds have scratch folders of their own (.build-asan,
# .build-tsan), so they run beside the other phases, which leave a core idle
# much of the time (tests waiting on child processes, the cluster, qemu);
# their output is shown when they end. They are the longest phase, so they
# start first, before the setup, when HDF5's headers are already there;
# their tests wait for the setup (the Python environment).
sanitizer_log="$TMPDIR/sanitizers.log"
setup_done="$TMPDIR/setup-done"
# Under SCHED_IDLE: the phases in front are the critical path, and the
# sanitizers take only the CPU they leave idle. (Run beside them at the
# same priority they made the Swift tests take 192-217 s instead of about
# 110; `nice -n 19` did not help, because SwiftPM starts its compilers at
# priority 0 again, whereas the scheduling policy is inherited.)
idle=(chrt --idle 0)
"${idle[@]}" true 2>/dev/null || idle=(nice -n 19)
sanitizer_pid=""
start_sanitizers() {
  ( cpu_file="$TMPDIR/sanitizers.cpu"; export RBP_SETUP_DONE="$setup_done"
    phase sanitizers "${idle[@]}" scripts/sanitize.sh ) > "$sanitizer_log" 2>&1 &
  sanitizer_pid=$!
}
kill_tree() {  # a process and everything it started
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
trap '[[ -n "$sanitizer_pid" ]] && kill_tree "$sanitizer_pid"; rm -rf "$TMPDIR" "$cpu_file"' EXIT
if pkg-config --exists hdf5 2>/dev/null; then start_sanitizers; fi
phase setup scripts/setup.sh
touch "$setup_done"
[[ -n "$sanitizer_pid" ]] || start_sanitizers
# The layout every Swift file keeps (.swift-format); `swift format format -i
# -r` on the same paths fixes what this finds.
swift_files=(Sources Tests Benchmarks/KernelBenchmarks Benchmarks/WorkloadBenchmarks Package.swift Benchmarks/Package.swift)
phase format swift format lint --strict --parallel -r "${swift_files[@]}"
phase "swift tests" swift test "$@"
phase "mutant patches" scripts/mutants.sh --check
phase documentation scripts/docs.sh "$TMPDIR/docs"
# The README's first command, as a user runs it (release build).
phase demo scripts/demo.sh "$TMPDIR/demo"
# The Python package over the C library, against the command line: both
# from this build (debug), so that they run the same machine code.
python_tests() {
  swift build --product RBPLibrary
  RBP_LIBRARY="$PWD/.build/debug/libRBPLibrary.so" RBP_BINARY="$PWD/.build/debug/rbp" \
    .venv/bin/python -m unittest discover -s python/tests
}
phase "python tests" python_tests
phase cluster scripts/cluster_test.sh
phase consumer scripts/consumer_test.sh
phase qemu scripts/qemu_test.sh
sanitizers_ok=0
wait "$sanitizer_pid" || sanitizers_ok=$?
cat "$sanitizer_log"
if [[ $sanitizers_ok -ne 0 ]]; then echo "sanitizers: failed" >&2; exit 1; fi
echo "=== all: $SECONDS s"
