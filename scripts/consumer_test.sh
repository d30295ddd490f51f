#!/usr/bin/env bash
# Uses rbp as a versioned dependency, as a new user would: snapshots the
# working tree (tracked and new, unignored files) into a local bare git
# repository tagged with the version in Sources/RBPKernels/Version.swift,
# builds Tests/Consumer against it with `.package(url:, from:)`, whose
# executables are the library examples of docs/library.md and the README's
# Swift example (through the umbrella product RBP), and runs each.
# Fails if the manifest has unsafe flags, if SwiftPM refuses the package as
# a dependency, if an example does not compile (missing imports), or if one
# fails to run. SwiftPM refuses unsafe flags in a package required by
# version from a remote repository, as a release on GitHub is, but this
# swift (6.3) builds them from a file:// repository without a word: the
# manifest is checked for them directly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if grep -n "unsafeFlags" "$root/Package.swift"; then
  echo "consumer_test: Package.swift uses unsafeFlags: SwiftPM refuses such a package as a versioned dependency" >&2
  exit 1
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/rbp-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
version="$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' "$root/Sources/RBPKernels/Version.swift")"
[[ -n "$version" ]] || { echo "consumer_test: no version in Version.swift" >&2; exit 1; }

# The snapshot, tagged, then a bare clone of it: the "released" rbp.
mkdir "$work/snapshot"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -I{} sh -c 'test -e "{}" && cp --parents -P "{}" "$0"' "$work/snapshot")
(cd "$work/snapshot" && git init -q && git add -A \
  && git -c user.name=rbp -c user.email=rbp@localhost commit -qm "rbp $version" \
  && git tag "$version")
git clone -q --bare "$work/snapshot" "$work/rbp.git"

# The consumer, with the library page's examples as its sources.
cp -r "$root/Tests/Consumer" "$work/consumer"
python3 - "$root/docs/library.md" "$work/consumer/Sources" <<'PY'
import pathlib, re, sys
readme, out = pathlib.Path(sys.argv[1]).read_text(), pathlib.Path(sys.argv[2])
for heading, target in [("## Library: a steady-state gradient", "SteadyExample"),
                        ("## Library: a trajectory gradient", "TrajectoryExample"),
                        ("## Any reward R(x): objectives and cotangents", "RewardExample"),
                        ("## Use it from your package", "MinimalExample")]:
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```swift\n(.*?)```", section, re.S)
    code = next(b for b in blocks if b.lstrip().startswith(("import", "//")) and "import RBP" in b)
    (out / target).mkdir(parents=True, exist_ok=True)
    (out / target / "main.swift").write_text(code)
readme = (pathlib.Path(sys.argv[1]).parent.parent / "README.md").read_text()
blocks = re.findall(r"```swift\n(.*?)```", readme, re.S)
assert len(blocks) == 1 and "import RBP\n" in blocks[0], "README: expected one Swift example, importing RBP"
(out / "ReadmeExample").mkdir(parents=True, exist_ok=True)
(out / "ReadmeExample" / "main.swift").write_text(blocks[0])
PY
cd "$work/consumer"
export RBP_REPOSITORY="file://$work/rbp.git" RBP_VERSION="$version"
swift build 2>&1 | tee "$work/build.log" | grep -E "error|warning: .*unsafe|Compiling|Build" || true
if ! grep -q "Build complete" "$work/build.log"; then
  cat "$work/build.log" >&2
  echo "consumer_test: the consumer of rbp $version did not build" >&2
  exit 1
fi
grep -q "\"version\" : \"$version\"" Package.resolved \
  || { echo "consumer_test: rbp was not resolved as version $version" >&2; cat Package.resolved >&2; exit 1; }
for example in SteadyExample TrajectoryExample RewardExample MinimalExample; do
  echo "--- $example"
  .build/debug/$example
done
# The README's example reads the demo's network: trained here as the demo
# trains it, by the command line of this tree.
echo "--- ReadmeExample"
(cd "$root" && swift build --product rbp >/dev/null)
"$root/.build/debug/rbp" train --data "$root/datasets/patterns.h5" --out out/demo/patterns --epochs 300 \
  --stop-when-solved --quiet
.build/debug/ReadmeExample
echo "consumer_test: rbp $version as a versioned dependency builds and runs the Swift examples of docs/library.md" \
  "and the README"
