"""Reading what runs and sweeps leave behind: rbp.read_history and
rbp.read_sweep. Both return a pandas DataFrame when pandas is installed,
and a dict of numpy arrays (one per column) otherwise.
"""

import json
import math
import os

import numpy as np

from ._lib import Error


def _table(columns):
    try:
        import pandas
    except ImportError:
        return columns
    return pandas.DataFrame(columns)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise Error("reading rbp's files needs h5py (pip install h5py)") from None
    return h5py


def read_history(run):
    """The per-epoch history of a run: `run` is a run folder (its
    checkpoint.h5 is read) or a checkpoint file. Columns: epoch (1, 2, ...)
    and every series of /history (loss, val_loss, lr, ...)."""
    path = os.path.join(run, "checkpoint.h5") if os.path.isdir(run) else run
    if not os.path.exists(path):
        raise Error(f"{path}: no such checkpoint")
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "rbp-checkpoint":
            raise Error(f"{path}: is not an rbp-checkpoint file (attribute 'format')")
        if "history" not in f:
            raise Error(f"{path}: has no /history (a checkpoint written by another tool has none)")
        series = {name: np.asarray(f["history"][name]) for name in sorted(f["history"])}
    epochs = max((len(v) for v in series.values()), default=0)
    bad = [name for name, v in series.items() if len(v) != epochs]
    if bad:
        raise Error(f"{path}: /history/{bad[0]}: has {len(series[bad[0]])} values, the others {epochs}")
    return _table({"epoch": np.arange(1, epochs + 1), **series})


_RUN_COLUMNS = ["index", "name", "status", "reason", "epochs", "seconds", "final_loss", "final_val_loss",
                "final_accuracy", "best_epoch", "best_val_loss", "solved", "hash"]


def _row_from_group(name, g):
    a = g.attrs
    text = lambda k: a[k].decode() if isinstance(a.get(k), bytes) else str(a.get(k, ""))
    number = lambda k: float(a[k]) if k in a else math.nan
    row = {"index": int(a["index"]), "name": name, "status": text("status").replace("ok", "done"),
           "reason": text("reason"), "epochs": int(a.get("epochs", 0)), "seconds": number("seconds"),
           "final_loss": number("final_loss"), "final_val_loss": number("final_val_loss"),
           "final_accuracy": number("final_accuracy"), "best_epoch": int(a["best_epoch"]) if "best_epoch" in a else -1,
           "best_val_loss": number("best_val_loss"), "solved": bool(a.get("solved", 0)), "hash": text("hash")}
    return row, json.loads(text("config") or "{}")


def _row_from_result(name, record):
    n = lambda k: math.nan if record.get(k) is None else float(record[k])
    row = {"index": int(record.get("index", -1)), "name": name, "status": record.get("status", ""),
           "reason": record.get("reason", ""), "epochs": int(record.get("epochs", 0)), "seconds": n("seconds"),
           "final_loss": n("final_loss"), "final_val_loss": n("final_val_loss"),
           "final_accuracy": n("final_accuracy"),
           "best_epoch": -1 if record.get("best_epoch") is None else int(record["best_epoch"]),
           "best_val_loss": n("best_val_loss"), "solved": bool(record.get("solved", False)),
           "hash": record.get("hash", "")}
    config = record.get("config") or {}
    return row, config if isinstance(config, dict) else {}


def read_sweep(folder):
    """One row per run of a sweep folder: its outcome (index, name, status,
    epochs, final_loss, final_val_loss, final_accuracy, best_epoch,
    best_val_loss, solved, seconds, ...) and its resolved hyperparameters
    (lr, units, seed, ...). Reads the merged DIR/sweep.h5 (`rbp sweep
    merge`), else each run's result.json."""
    merged = os.path.join(folder, "sweep.h5")
    rows = []
    if os.path.exists(merged):
        h5py = _h5py()
        with h5py.File(merged, "r") as f:
            if f.attrs.get("format") != "rbp-sweep":
                raise Error(f"{merged}: is not an rbp-sweep file (attribute 'format')")
            runs = f.get("runs", {})
            rows = [_row_from_group(name, runs[name]) for name in runs]
    else:
        runs = os.path.join(folder, "runs")
        if not os.path.isdir(runs):
            raise Error(f"{folder}: is not a sweep folder (no sweep.h5 and no runs/)")
        for name in sorted(os.listdir(runs)):
            result = os.path.join(runs, name, "result.json")
            if os.path.exists(result):
                with open(result) as r:
                    rows.append(_row_from_result(name, json.load(r)))
    rows.sort(key=lambda r: r[0]["index"])
    keys = sorted({k for _, config in rows for k in config if k not in _RUN_COLUMNS})
    columns = {k: [row[k] for row, _ in rows] for k in _RUN_COLUMNS}
    for k in keys:
        columns[k] = [config.get(k) for _, config in rows]
    return _table({k: np.asarray(v) if all(x is not None for x in v) else np.asarray(v, dtype=object)
                   for k, v in columns.items()})
