#!/usr/bin/env python3
"""Learning curves of a checkpoint's /history as a PNG.

    scripts/plot_history.py OUT/checkpoint.h5 --out curves.png [--title T]

Plots the training and validation loss per epoch (log scale) and, when the
run recorded it, the validation accuracy.
"""
import argparse
import sys

import h5py
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    with h5py.File(args.checkpoint, "r") as f:
        if f.attrs.get("format") != "rbp-checkpoint":
            sys.exit(f"{args.checkpoint}: not an rbp-checkpoint file")
        if "history" not in f:
            sys.exit(f"{args.checkpoint}: no /history (train with rbp train)")
        h = {k: f["history"][k][()] for k in f["history"]}
        title = args.title or f"{f.attrs['model']} network, {int(f.attrs['units'])} units"
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(h["loss"]) + 1)
    ax.semilogy(epochs, h["loss"], label="training loss")
    if "val_loss" in h:
        ax.semilogy(epochs, h["val_loss"], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if "val_accuracy" in h:
        ax2 = ax.twinx()
        ax2.plot(epochs, h["val_accuracy"], color="tab:green", alpha=0.6, label="validation accuracy")
        ax2.set_ylim(0, 1.05)
        ax2.set_ylabel("accuracy")
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
