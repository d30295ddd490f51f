#!/usr/bin/env python3
"""A trajectory network's outputs against its targets, as a PNG.

    scripts/plot_trajectory.py --gradients G.h5 --data D.h5 --out traj.png [--sequence 0]

G.h5 is written by `rbp grad` (its /states hold x(0…T)); the output units
are the last O units. With two outputs the figure also shows them against
each other (a figure eight for the figure8 task).
"""
import argparse
import sys

import h5py
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gradients", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sequence", type=int, default=0)
    args = ap.parse_args()
    with h5py.File(args.gradients, "r") as g, h5py.File(args.data, "r") as d:
        states = g["states"][()]
        targets = d["targets"][()]
    if states.ndim != 3:
        sys.exit(f"{args.gradients}: /states is not a trajectory (P, T+1, N)")
    p = args.sequence
    outputs = states[p, 1:, -targets.shape[2]:]
    y = targets[p]
    o = y.shape[1]
    fig, axes = plt.subplots(1, 2 if o == 2 else 1, figsize=(10 if o == 2 else 6, 4))
    ax = axes[0] if o == 2 else axes
    for k in range(o):
        ax.plot(y[:, k], "--", color=f"C{k}", label=f"target {k}")
        ax.plot(outputs[:, k], color=f"C{k}", label=f"output {k}")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    if o == 2:
        axes[1].plot(y[:, 0], y[:, 1], "--", color="gray", label="target")
        axes[1].plot(outputs[:, 0], outputs[:, 1], color="C3", label="network")
        axes[1].set_aspect("equal")
        axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
