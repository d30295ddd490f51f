#!/usr/bin/env bash
# One binary, every x86-64 CPU: runs the kernel tests and a short training
# under user-mode QEMU as older CPUs, from the same debug build the tests
# use. `-cpu Haswell` has AVX2 + FMA and no AVX-512, so the dispatch must
# choose the avx2 kernels; `-cpu Nehalem` has neither, so it must choose the
# generic ones. An instruction the CPU lacks would stop the run with SIGILL.
# Each emulated training must also write the checkpoint, byte for byte, that
# the same kernels write natively (forced with RBP_ISA).
#
#   scripts/qemu_test.sh            # after `swift build --build-tests`
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "$(uname -m)" != x86_64 ]]; then
  echo "qemu_test: skipped, not an x86-64 machine"; exit 0
fi
if ! command -v qemu-x86_64 >/dev/null; then
  echo "qemu_test: installing qemu-user"
  apt_get() { if [[ $(id -u) -eq 0 ]]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq && DEBIAN_FRONTEND=noninteractive apt_get install -y -qq qemu-user >/dev/null
fi
swift build --build-tests 2>&1 | grep -E "error|warning" && exit 1
bin="$(swift build --show-bin-path)"
tests="$bin/rbpPackageTests.xctest"
rbp="$bin/rbp"
work="$(mktemp -d "${TMPDIR:-/tmp}/rbp-qemu.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$rbp" datasets make xor --out "$work/xor.h5" >/dev/null
train() {  # train <out> [runner...]: a few epochs of xor, one thread
  local out="$1"; shift
  "$@" "$rbp" train --data "$work/xor.h5" --units 4 --epochs 30 --seed 3 --threads 1 --out "$out" >/dev/null
}

emulate() {  # emulate <cpu> <isa>: the kernel tests and a training on that CPU
  local cpu="$1" isa="$2" version
  echo "--- -cpu $cpu (expects the $isa kernels)"
  version="$(qemu-x86_64 -cpu "$cpu" "$rbp" --version 2>/dev/null)"
  [[ "$version" == *"kernels: $isa"* ]] || { echo "qemu_test: $cpu chose: $version" >&2; return 1; }
  RBP_EXPECT_ISA="$isa" qemu-x86_64 -cpu "$cpu" "$tests" --testing-library swift-testing \
    --filter RBPKernelsTests \
    2>&1 | tail -3
  train "$work/emulated-$isa" qemu-x86_64 -cpu "$cpu"
  RBP_ISA="$isa" train "$work/native-$isa"
  cmp "$work/emulated-$isa/checkpoint.h5" "$work/native-$isa/checkpoint.h5" \
    || { echo "qemu_test: training under -cpu $cpu differs from native $isa" >&2; return 1; }
  echo "training under -cpu $cpu: checkpoint identical to native RBP_ISA=$isa"
}

# The two CPUs at once (each emulation keeps about one core busy); their
# output is shown in order.
pids=()
for pair in Haswell:avx2 Nehalem:generic; do
  emulate "${pair%%:*}" "${pair##*:}" > "$work/${pair%%:*}.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in 0 1; do wait "${pids[$i]}" || failed=1; done
cat "$work/Haswell.log" "$work/Nehalem.log"
[[ $failed -eq 0 ]] || { echo "qemu_test: failed" >&2; exit 1; }
echo "qemu_test: passed"
