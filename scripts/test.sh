#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test: the
# Swift tests of each module (with the end-to-end and h5py interop tests,
# which find the Python environment through RBP_PYTHON), the Python
# package's tests (python/tests) against the command line, sweeps on a real
# one-node Slurm cluster and under mpirun, rbp as a versioned dependency of
# another package, the same binary on emulated older CPUs,
# and the readers and threaded code under Address- and ThreadSanitizer. Temporary files go to a folder of this run, removed at the end
# (also the empty folders the toolchain leaves behind).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export RBP_PYTHON="$PWD/.venv/bin/python"
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/rbp-test.XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
swift test "$@"
# The Python package over the C library, against the command line: both
# from this build (debug), so that they run the same machine code.
swift build --product RBPLibrary
RBP_LIBRARY="$PWD/.build/debug/libRBPLibrary.so" RBP_BINARY="$PWD/.build/debug/rbp" \
  .venv/bin/python -m unittest discover -s python/tests
scripts/cluster_test.sh
scripts/consumer_test.sh
scripts/qemu_test.sh
scripts/sanitize.sh
