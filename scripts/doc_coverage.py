#!/usr/bin/env python3
"""Public symbols without a documentation comment, from symbol graphs.

Reads the *.symbols.json files under the given folders (what
`swift package generate-documentation` or `swift symbolgraph-extract`
writes) and lists, per source file, every public symbol that has no `///`
summary. Symbols the compiler made (Hashable's hashValue, members that
protocols give the standard library's types) have no source location and
are not counted: their documentation is the protocol's.

    scripts/doc_coverage.py DIR... [--max N] [--list]

Exits 1 when more than N symbols lack a summary: the number can only go
down.
"""

import argparse
import collections
import json
import pathlib
import sys


def undocumented(folders):
    found = collections.defaultdict(set)
    total = 0
    for folder in folders:
        for path in sorted(pathlib.Path(folder).rglob("*.symbols.json")):
            for s in json.loads(path.read_text())["symbols"]:
                if s.get("accessLevel") not in ("public", "open") or "location" not in s:
                    continue
                total += 1
                if s.get("docComment"):
                    continue
                where = s["location"]["uri"].split("/Sources/", 1)[-1]
                line = s["location"]["position"]["line"] + 1
                found[where].add((line, ".".join(s["pathComponents"])))
    return found, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--max", type=int, default=None, help="fail above this many")
    parser.add_argument("--list", action="store_true", help="list every symbol without a summary")
    args = parser.parse_args()
    found, total = undocumented(args.folders)
    missing = sum(len(v) for v in found.values())
    if total == 0:
        print("doc_coverage: no symbol graphs found under " + ", ".join(args.folders), file=sys.stderr)
        return 1
    if args.list:
        for where in sorted(found):
            for line, name in sorted(found[where]):
                print(f"Sources/{where}:{line}: {name}")
    print(f"doc_coverage: {total - missing} of {total} public symbols documented, {missing} without a summary")
    if args.max is not None and missing > args.max:
        print(f"doc_coverage: more than {args.max} without a summary; document the new ones (--list)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
