#!/usr/bin/env bash
# The readers and the threaded code under the sanitizers, each in a build
# of its own (.build-asan, .build-tsan): the HDF5 reader, format, fuzz and
# kernel tests under AddressSanitizer (the damaged-file fuzz test with 400
# of its 1200 cases: each case forks, and a fork of the instrumented
# process is slow); the threaded kernel, trainer and microbatch tests under
# ThreadSanitizer. Leaks are not checked: the only ones reported come from
# XCTest and Foundation's Process, not from rbp.
#
#   scripts/sanitize.sh            # part of scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RBP_PYTHON="${RBP_PYTHON:-$PWD/.venv/bin/python}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export TSAN_OPTIONS="halt_on_error=1"
# The test command may start this before its setup has made the Python
# environment some tests use (RBP_SETUP_DONE: a file that appears then).
wait_for_setup() {
  [[ -z "${RBP_SETUP_DONE:-}" ]] && return
  while [[ ! -e "$RBP_SETUP_DONE" ]]; do sleep 1; done
}
echo "--- AddressSanitizer: HDF5 readers, formats, fuzzing, kernels"
log="$(mktemp "${TMPDIR:-/tmp}/rbp-sanitize.XXXXXX")"
trap 'rm -f "$log"' EXIT
# (The linker's notes about the sanitizer's own symbols are not ours: only the
# build's status counts here; the normal build enforces zero warnings.)
# Failing tests and the sanitizer's report are shown, not the passing ones.
swift build --build-tests --sanitize=address --scratch-path .build-asan >"$log" 2>&1 || { cat "$log"; exit 1; }
wait_for_setup
RBP_TEST_FUZZ_CASES=400 swift test --skip-build --sanitize=address --scratch-path .build-asan \
  --filter "RBPStoreTests|RBPKernelsTests" 2>&1 | grep -E "✘|Test run|ERROR: AddressSanitizer|SUMMARY"
echo "--- ThreadSanitizer: threaded GEMM, microbatches, the trainer, sweeps"
swift build --build-tests --sanitize=thread --scratch-path .build-tsan >"$log" 2>&1 || { cat "$log"; exit 1; }
swift test --skip-build --sanitize=thread --scratch-path .build-tsan \
  --filter "GEMMTests|MicrobatchTests|GradientDescentTests|NonFiniteTrainingTests|StreamingTests" 2>&1 \
  | grep -E "✘|Test run|WARNING: ThreadSanitizer|SUMMARY"
echo "sanitize: passed"
