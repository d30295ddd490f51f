#!/usr/bin/env bash
# Kernel throughput against numpy/OpenBLAS on this machine, in one run:
# installs what is missing, builds in release mode, prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product rbp
.venv/bin/python scripts/bench_kernels.py --rbp .build/release/rbp "$@"
