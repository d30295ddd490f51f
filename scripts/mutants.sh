#!/usr/bin/env bash
# Mutation check: plants each bug kept in scripts/mutants/*.patch (one per
# behaviour users rely on), builds, runs the tests that should catch it,
# restores the tree, and prints which planted bugs the suite caught, by
# which test, and which survived. Not part of CI (about 25 s per mutant,
# some 15 minutes for all); run it after changing tests or the code they
# guard.
#
#   scripts/mutants.sh                 # every mutant
#   scripts/mutants.sh 03 11           # those whose names start so
#   scripts/mutants.sh --check         # only that every patch still applies
#                                      # (part of the test command)
#
# A patch's header names its test target (or targets, joined by `|`) and,
# on a `Caught by:` line, the tests written to catch it (both --filter
# patterns). Those run first; when they
# all pass, the whole target runs, stopped at its first failing test, so a
# mutant is "survived" only when the whole target passes. A catch outside
# the named tests is reported as such: add the test to the header.
#
# A patch may name itself an expected survivor, with the reason (07: --jobs,
# which only a timing check could see; 03: a guard the library's own checks
# make redundant); the script exits 1 when any other mutant survives.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == --check ]]; then
  stale=0
  for patch in scripts/mutants/*.patch; do
    if ! git apply --check "$patch" 2>/dev/null; then
      echo "mutants: $patch no longer applies: plant the same bug where the code now is" >&2
      stale=$((stale + 1))
    fi
  done
  [[ $stale -eq 0 ]] && echo "mutants: all $(ls scripts/mutants/*.patch | wc -l) patches apply"
  exit $((stale > 0))
fi
if ! git diff --quiet -- Sources Tests; then
  echo "mutants: Sources or Tests have uncommitted changes; commit or stash them first" >&2
  exit 2
fi
scripts/setup.sh >/dev/null
export RBP_PYTHON="$PWD/.venv/bin/python"
log="$(mktemp "${TMPDIR:-/tmp}/rbp-mutant.XXXXXX")"
current=""
restore() { if [[ -n "$current" ]]; then git apply -R "$current"; current=""; fi; }
trap 'restore; rm -f "$log"; exit 130' INT TERM

patches=()
if [[ $# -eq 0 ]]; then patches=(scripts/mutants/*.patch)
else for prefix in "$@"; do patches+=(scripts/mutants/"$prefix"*.patch); done; fi

# Runs `swift test --filter $1`, stopped at its first failing test; prints
# that test's name and returns 1, or returns 0 when every test passed.
first_failure() {
  setsid swift test --skip-build --filter "$1" >"$log" 2>&1 &
  local pid=$! failed=""
  while kill -0 "$pid" 2>/dev/null; do
    failed="$(grep -m1 -o '✘ Test [^ ]*' "$log" | sed 's/✘ Test //')"
    if [[ -n "$failed" ]]; then kill -- -"$pid" 2>/dev/null; break; fi
    sleep 0.2
  done
  if wait "$pid"; then return 0; fi
  [[ -n "$failed" ]] || failed="$(grep -m1 -o '✘ Test [^ ]*' "$log" | sed 's/✘ Test //')"
  echo "${failed:-the test process failed: $(grep -m1 -iE 'error|fatal' "$log")}"
  return 1
}

survivors=0
start=$SECONDS
printf '%-32s %-9s %5s  %s\n' "mutant" "verdict" "secs" "caught by / planted bug"
for patch in "${patches[@]}"; do
  name="$(basename "$patch" .patch)"
  began=$SECONDS
  target="$(sed -n 's/^Test target: //p' "$patch")"
  named="$(sed -n 's/^Caught by: //p' "$patch")"
  what="$(sed -n 's/^Planted bug: //p' "$patch")"
  expected="$(sed -n 's/^Expected survivor: //p' "$patch")"
  if ! git apply "$patch"; then
    printf '%-32s %-9s %5s  %s\n' "$name" "STALE" "-" "the patch no longer applies"
    survivors=$((survivors + 1))
    continue
  fi
  current="$patch"
  if ! swift build --build-tests >"$log" 2>&1; then
    verdict="STALE"; detail="does not build: $(grep -m1 'error:' "$log")"
  elif [[ -n "$named" ]] && detail="$(first_failure "$named")"; [[ -n "$named" && -n "$detail" ]]; then
    verdict="caught"
  elif detail="$(first_failure "$target")"; [[ -n "$detail" ]]; then
    verdict="caught"
    [[ -n "$named" ]] && detail="$detail (not by the named tests: $named)"
  else
    verdict="SURVIVED"; detail="$what${expected:+ (expected: $expected)}"
  fi
  restore
  printf '%-32s %-9s %5s  %s\n' "$name" "$verdict" "$((SECONDS - began))" "$detail"
  if [[ "$verdict" != caught && -z "$expected" ]]; then survivors=$((survivors + 1)); fi
done
rm -f "$log"
swift build --build-tests >/dev/null 2>&1   # leave the build as the tree is
echo "mutants: ${#patches[@]} in $((SECONDS - start)) s, $survivors unexpected survivors"
exit $((survivors > 0))
