#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test: the
# Swift tests of each module (with the end-to-end and h5py interop tests,
# which find the Python environment through RBP_PYTHON), rbp as a versioned
# dependency of another package, and the same binary on emulated older
# CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export RBP_PYTHON="$PWD/.venv/bin/python"
swift test "$@"
scripts/consumer_test.sh
scripts/qemu_test.sh
