#!/usr/bin/env bash
# Builds the DocC documentation of the public modules (RBPKernels, RBPCore,
# RBPStore, RBPTrain, RBPAnalysis) with swift-docc-plugin, warnings as
# errors (a broken symbol link, an undocumented parameter in a documented
# parameter list), then fails for any public symbol without a summary line
# (scripts/doc_coverage.py).
#
#   scripts/docs.sh [OUT]       # archives in OUT (default .build/docs)
#
# Open OUT/RBPCore.doccarchive with `docc preview`, or serve it as static
# files (they are built for static hosting).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.build/docs}"
mkdir -p "$out"
graphs="$(mktemp -d "${TMPDIR:-/tmp}/rbp-symbols.XXXXXX")"
trap 'rm -rf "$graphs"' EXIT
for target in RBPKernels RBPCore RBPStore RBPTrain RBPAnalysis; do
  log="$graphs/$target.log"
  if ! swift package --allow-writing-to-directory "$out" generate-documentation --target "$target" \
      --warnings-as-errors --transform-for-static-hosting --output-path "$out/$target.doccarchive" \
      --verbose >"$log" 2>&1; then
    grep -E "error|warning" "$log" >&2 || tail -20 "$log" >&2
    echo "docs: $target's documentation did not build" >&2
    exit 1
  fi
  # The symbol graphs the plugin extracted, for the coverage count.
  dir="$(sed -n "s/^target symbol graph directory path: '\(.*\)'$/\1/p" "$log" | head -1)"
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    echo "docs: the plugin did not say where $target's symbol graphs are; cannot count its summaries" >&2
    exit 1
  fi
  cp -r "$dir" "$graphs/$target"
  echo "docs: $target → $out/$target.doccarchive"
done
python3 scripts/doc_coverage.py "$graphs" --max 0
