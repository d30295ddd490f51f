#!/usr/bin/env bash
# Mutation check: plants each bug kept in scripts/mutants/*.patch (one per
# behaviour users rely on), builds, runs the test target named in the
# patch's header, restores the tree, and prints which planted bugs the
# suite caught and which survived. Not part of CI (about a minute per
# mutant); run it after changing tests or the code they guard.
#
#   scripts/mutants.sh                 # every mutant
#   scripts/mutants.sh 03 11           # those whose names start so
#   scripts/mutants.sh --check         # only that every patch still applies
#                                      # (part of the test command)
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

survivors=0
printf '%-28s %-9s %s\n' "mutant" "verdict" "caught by / planted bug"
for patch in "${patches[@]}"; do
  name="$(basename "$patch" .patch)"
  target="$(sed -n 's/^Test target: //p' "$patch")"
  what="$(sed -n 's/^Planted bug: //p' "$patch")"
  expected="$(sed -n 's/^Expected survivor: //p' "$patch")"
  if ! git apply "$patch"; then
    printf '%-28s %-9s %s\n' "$name" "STALE" "the patch no longer applies"
    survivors=$((survivors + 1))
    continue
  fi
  current="$patch"
  if ! swift build --build-tests >"$log" 2>&1; then
    verdict="STALE"; detail="does not build: $(grep -m1 'error:' "$log")"
  elif swift test --skip-build --filter "$target" >"$log" 2>&1; then
    verdict="SURVIVED"; detail="$what${expected:+ (expected: $expected)}"
  else
    verdict="caught"
    detail="$(grep -m1 -o '✘ Test [^ ]*' "$log" | sed 's/✘ Test //')"
  fi
  restore
  printf '%-28s %-9s %s\n' "$name" "$verdict" "$detail"
  if [[ "$verdict" != caught && -z "$expected" ]]; then survivors=$((survivors + 1)); fi
done
rm -f "$log"
swift build --build-tests >/dev/null 2>&1   # leave the build as the tree is
exit $((survivors > 0))
