"""Figures of what the rbp command line writes, as PNG files.

    python -m rbp.plot history RUN/ [--out history.png]
    python -m rbp.plot trajectory STATES.h5 [--data D.h5] [--sequence 0] [--out trajectory.png]
    python -m rbp.plot fixed-points FP.h5 [--out fixed-points.png]
    python -m rbp.plot sweep DIR --x lr --y final_val_loss [--hue units] [--out sweep.png]

history: training and validation loss per epoch (log scale), and the
validation accuracy when the run has one. trajectory: the output units of
one sequence of `rbp states` (or `rbp grad`) against the dataset's targets
(the last O units; with two outputs, also one against the other).
fixed-points: the states of `rbp fixed-points` projected on their first
two principal components, coloured by pattern, stable points filled,
unstable ones crosses, each pattern's own state (reached from its initial
state) ringed. sweep: one point per finished run, the median of each x
joined, one line per hue. Needs matplotlib (pip install "rbp[plot]").
"""

import argparse
import math
import os
import sys

import numpy as np

from ._lib import Error
from .results import _h5py, read_history, read_sweep


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise Error('python -m rbp.plot needs matplotlib (pip install "rbp[plot]" or pip install matplotlib)') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def history(run, title=None):
    h = read_history(run)
    plt = _pyplot()
    epochs = np.asarray(h["epoch"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(epochs, np.asarray(h["loss"]), label="training loss")
    if "val_loss" in h:
        ax.semilogy(epochs, np.asarray(h["val_loss"]), label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if "val_accuracy" in h and np.isfinite(np.asarray(h["val_accuracy"], dtype=float)).any():
        ax2 = ax.twinx()
        ax2.plot(epochs, np.asarray(h["val_accuracy"]), color="tab:green", alpha=0.6, label="validation accuracy")
        ax2.set_ylim(0, 1.05)
        ax2.set_ylabel("accuracy")
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title(title or os.path.basename(os.path.normpath(run)))
    return fig


def trajectory(states_file, data=None, sequence=0, title=None):
    h5py = _h5py()
    with h5py.File(states_file, "r") as f:
        if "states" not in f:
            raise Error(f"{states_file}: has no /states (write one with rbp states)")
        states = np.asarray(f["states"])
    if states.ndim != 3:
        raise Error(f"{states_file}: /states is {states.shape}, not trajectories (P, T+1, N)")
    if not 0 <= sequence < states.shape[0]:
        raise Error(f"--sequence {sequence}: {states_file} has sequences 0…{states.shape[0] - 1}")
    targets = None
    if data:
        with h5py.File(data, "r") as f:
            targets = np.asarray(f["targets"][sequence])
        if targets.shape[0] != states.shape[1] - 1:
            raise Error(f"{data}: /targets has {targets.shape[0]} steps, {states_file} has {states.shape[1] - 1}")
    o = targets.shape[1] if targets is not None else states.shape[2]
    outputs = states[sequence, 1:, -o:]
    plt = _pyplot()
    pair = o == 2
    fig, axes = plt.subplots(1, 2 if pair else 1, figsize=(10 if pair else 6, 4))
    ax = axes[0] if pair else axes
    for k in range(o):
        if targets is not None:
            ax.plot(targets[:, k], "--", color=f"C{k % 10}", label=f"target {k}")
        ax.plot(outputs[:, k], color=f"C{k % 10}", label=f"output {k}" if o <= 10 else None)
    ax.set_xlabel("step t")
    if o <= 10:
        ax.legend(fontsize=8)
    if pair:
        if targets is not None:
            axes[1].plot(targets[:, 0], targets[:, 1], "--", color="gray", label="target")
        axes[1].plot(outputs[:, 0], outputs[:, 1], color="C3", label="network")
        axes[1].set_aspect("equal")
        axes[1].legend(fontsize=8)
    ax.set_title(title or f"{os.path.basename(states_file)}, sequence {sequence}")
    return fig


def fixed_points(file, title=None):
    h5py = _h5py()
    with h5py.File(file, "r") as f:
        if f.attrs.get("format") != "rbp-fixed-points":
            raise Error(f"{file}: is not an rbp-fixed-points file (attribute 'format')")
        x = np.asarray(f["states"])
        pattern, stable, reached = (np.asarray(f[k]) for k in ("pattern", "stable", "reached"))
    if x.shape[0] == 0:
        raise Error(f"{file}: holds no fixed points")
    centred = x - x.mean(axis=0)
    # The first two principal components (fewer if the states span fewer).
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    if xy.shape[1] == 1:
        xy = np.hstack([xy, np.zeros_like(xy)])
    explained = s ** 2 / max((s ** 2).sum(), 1e-300)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    patterns = np.unique(pattern)
    cmap = plt.get_cmap("tab20" if len(patterns) > 10 else "tab10")
    for k, p in enumerate(patterns):
        colour = cmap(k % cmap.N)
        here = pattern == p
        s_, u_ = here & (stable == 1), here & (stable == 0)
        ax.scatter(xy[s_, 0], xy[s_, 1], color=colour, s=40, label=f"pattern {p}" if len(patterns) <= 12 else None)
        ax.scatter(xy[u_, 0], xy[u_, 1], color=colour, marker="x", s=40)
        r_ = here & (reached == 1)
        ax.scatter(xy[r_, 0], xy[r_, 1], facecolors="none", edgecolors="black", s=140, linewidths=1)
    ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f} %)")
    ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f} %)" if len(explained) > 1 else "")
    ax.set_title(title or f"{len(x)} fixed points: ● stable, × unstable, ○ reached from the initial state",
                 fontsize=9)
    if len(patterns) <= 12:
        ax.legend(fontsize=7, loc="best")
    return fig


def sweep(folder, x, y, hue=None, title=None):
    table = read_sweep(folder)
    columns = {k: np.asarray(table[k]) for k in table}
    for name in filter(None, (x, y, hue)):
        if name not in columns:
            raise Error(f"{folder}: no column '{name}' (columns: {', '.join(sorted(columns))})")
    done = columns["status"] == "done"
    xs = columns[x][done].astype(float)
    ys = columns[y][done].astype(float)
    hues = columns[hue][done] if hue else np.zeros(len(xs))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, h in enumerate(sorted(set(hues.tolist()), key=str)):
        here = hues == h
        colour = f"C{k % 10}"
        ax.scatter(xs[here], ys[here], color=colour, alpha=0.5, s=18)
        levels = np.unique(xs[here])
        medians = [np.nanmedian(ys[here & (xs == v)]) for v in levels]
        ax.plot(levels, medians, color=colour, label=f"{hue} = {h}" if hue else "median")
    if len(xs) and (xs > 0).all() and xs.max() > 10 * xs.min():
        ax.set_xscale("log")
    finite = ys[np.isfinite(ys)]
    if len(finite) and (finite > 0).all() and finite.max() > 10 * finite.min():
        ax.set_yscale("log")
    failed = int((~done).sum())
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{os.path.basename(os.path.normpath(folder))}: {int(done.sum())} runs"
                 + (f", {failed} not done" if failed else ""), fontsize=10)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m rbp.plot", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="figure", required=True)
    h = sub.add_parser("history", help="learning curves of a run")
    h.add_argument("run", help="a run folder or its checkpoint.h5")
    t = sub.add_parser("trajectory", help="outputs of one sequence against the targets")
    t.add_argument("states", help="a file with /states (P, T+1, N): rbp states or rbp grad")
    t.add_argument("--data", help="the dataset, for the targets (and O, the outputs)")
    t.add_argument("--sequence", type=int, default=0)
    f = sub.add_parser("fixed-points", help="the fixed points of rbp fixed-points, in PCA")
    f.add_argument("file")
    s = sub.add_parser("sweep", help="a metric against a setting, one point per run")
    s.add_argument("folder")
    s.add_argument("--x", required=True, help="a setting, e.g. lr")
    s.add_argument("--y", default="final_val_loss", help="a result, e.g. final_val_loss (default)")
    s.add_argument("--hue", help="a setting that colours the runs, e.g. units")
    for p in (h, t, f, s):
        p.add_argument("--out", help="the PNG to write (default: beside the input)")
        p.add_argument("--title")
    a = ap.parse_args(argv)
    try:
        if a.figure == "history":
            out = a.out or os.path.join(a.run if os.path.isdir(a.run) else os.path.dirname(a.run) or ".", "history.png")
            fig = history(a.run, a.title)
        elif a.figure == "trajectory":
            out = a.out or os.path.splitext(a.states)[0] + "-trajectory.png"
            fig = trajectory(a.states, a.data, a.sequence, a.title)
        elif a.figure == "fixed-points":
            out = a.out or os.path.splitext(a.file)[0] + ".png"
            fig = fixed_points(a.file, a.title)
        else:
            out = a.out or os.path.join(a.folder, f"{a.y}-by-{a.x}.png")
            fig = sweep(a.folder, a.x, a.y, a.hue, a.title)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
    except (Error, OSError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
