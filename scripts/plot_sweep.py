#!/usr/bin/env python3
"""A sweep's final validation loss against one swept parameter, as a PNG.

    scripts/plot_sweep.py DIR/sweep.h5 --param lr --out sweep.png

Each successful run is a point (failed runs are marked at the top); runs
that share the parameter's value are joined by their median.
"""
import argparse
import json
import math
import sys
from collections import defaultdict

import h5py
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep")
    ap.add_argument("--param", required=True, help="a configuration key, e.g. lr, units, seed")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ok, failed = defaultdict(list), []
    with h5py.File(args.sweep, "r") as f:
        if f.attrs.get("format") != "rbp-sweep":
            sys.exit(f"{args.sweep}: not an rbp-sweep file")
        for name in f["runs"]:
            g = f["runs"][name]
            config = json.loads(g.attrs["config"])
            if args.param not in config:
                sys.exit(f"{args.sweep}: run {name} has no '{args.param}' in its configuration")
            x = config[args.param]
            if g.attrs["status"] == "ok" and math.isfinite(g.attrs["final_val_loss"]):
                ok[x].append(float(g.attrs["final_val_loss"]))
            else:
                failed.append(x)
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = sorted(ok)
    for x in xs:
        ax.scatter([x] * len(ok[x]), ok[x], color="tab:blue", alpha=0.7)
    medians = [sorted(ok[x])[len(ok[x]) // 2] for x in xs]
    ax.plot(xs, medians, color="tab:blue", label="median over runs")
    if failed:
        top = max(max(v) for v in ok.values()) if ok else 1
        ax.scatter(failed, [top * 1.5] * len(failed), marker="x", color="tab:red", label="failed")
    ax.set_yscale("log")
    if all(isinstance(x, (int, float)) and x > 0 for x in xs) and len(xs) > 1 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    ax.set_xlabel(args.param)
    ax.set_ylabel("final validation loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
