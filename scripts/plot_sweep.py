#!/usr/bin/env python3
"""A sweep's final validation loss against one swept setting, as a PNG.

    rbp sweep export DIR --csv --out runs.csv
    scripts/plot_sweep.py runs.csv --param lr --out sweep.png

Reads the export (one row per run, its resolved settings as columns). Each
finished run is a point (failed and missing runs are marked at the top);
runs that share the setting's value are joined by their median.
"""
import argparse
import csv
import math
import sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export", help="the CSV written by rbp sweep export DIR --csv")
    ap.add_argument("--param", required=True, help="a setting's column, e.g. lr, units, seed")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ok, failed = defaultdict(list), []
    with open(args.export, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "status" not in rows[0]:
        sys.exit(f"{args.export}: not an rbp sweep export (no 'status' column)")
    column = args.param.replace("-", "_")
    if column not in rows[0]:
        sys.exit(f"{args.export}: no column '{column}'; columns: {', '.join(rows[0])}")
    for row in rows:
        x = value(row[column])
        loss = float(row["final_val_loss"]) if row["final_val_loss"] else math.nan
        if row["status"] == "done" and math.isfinite(loss):
            ok[x].append(loss)
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
        ax.scatter(failed, [top * 1.5] * len(failed), marker="x", color="tab:red", label="failed or missing")
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
