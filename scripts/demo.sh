#!/usr/bin/env bash
# The main command: installs what is missing, builds in release mode and
# measures the kernels against numpy/OpenBLAS on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product rbp
.venv/bin/python scripts/bench_kernels.py --rbp .build/release/rbp "$@"
