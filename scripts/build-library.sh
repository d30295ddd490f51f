#!/usr/bin/env bash
# Builds the C library (the RBPLibrary product, header
# Sources/CRBPLibrary/include/rbp.h) in release mode, and installs it under
# the name librbp.so in .build/release/ and in python/rbp/_lib/, where the
# Python package finds it (`pip install ./python` copies it from there).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product RBPLibrary
built="$(swift build -c release --show-bin-path)/libRBPLibrary.so"
cp -f "$built" .build/release/librbp.so.tmp && mv -f .build/release/librbp.so.tmp .build/release/librbp.so
mkdir -p python/rbp/_lib
cp -f "$built" python/rbp/_lib/librbp.so.tmp && mv -f python/rbp/_lib/librbp.so.tmp python/rbp/_lib/librbp.so
