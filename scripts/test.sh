#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (Swift
# unit tests of each module, and the end-to-end and h5py interop tests,
# which find the Python environment through RBP_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export RBP_PYTHON="$PWD/.venv/bin/python"
swift test "$@"
