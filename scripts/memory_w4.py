#!/usr/bin/env python3
"""Peak resident memory of one training epoch, full against checkpointed BPTT.

    scripts/memory_w4.py [--rbp .build/release/rbp] [--steps 5000] [--keep DIR]

Writes W4's problem with long sequences as an rbp dataset (64 sequences of
T steps, N = I = O = 512, identity coupling, float32 on disk: about
1.3 GB for T = 5000), then runs `rbp train` for one epoch of one minibatch
of all 64 sequences twice, `--bptt full` and `--bptt checkpointed`, each in
a fresh child whose peak resident set size (ru_maxrss) the kernel reports.
Prints both peaks, the ratio and the two losses of the epoch (the same
gradient, so they must agree). Runs under the project's .venv (numpy,
h5py), created by scripts/setup.sh when missing.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_dataset(path, steps, p=64, n=512, seed=7):
    import h5py
    import numpy as np
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "rbp-dataset"
        f.attrs["version"] = 1
        f.attrs["kind"] = "trajectory"
        inputs = f.create_dataset("inputs", (p, steps, n), dtype="f4", chunks=(1, min(steps, 256), n))
        targets = f.create_dataset("targets", (p, steps, n), dtype="f4", chunks=(1, min(steps, 256), n))
        for q in range(p):   # a sequence at a time: this script stays small too
            inputs[q] = rng.normal(0, 1, (steps, n)).astype("f4")
            targets[q] = rng.uniform(-0.5, 0.5, (steps, n)).astype("f4")


def peak_of(command):
    """Runs `command` in a child of a fresh Python (so no parent's peak is
    inherited) and returns (exit status, peak RSS in bytes, seconds)."""
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.time(); r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t)\n")
    out = subprocess.run([sys.executable, "-c", probe] + command, capture_output=True, text=True, check=True).stdout
    status, kib, seconds = out.split()
    return int(status), int(kib) * 1024, float(seconds)


def ensure_python():
    """Runs again under the project's .venv (scripts/setup.sh creates it)
    when this Python lacks numpy or h5py."""
    try:
        import h5py  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(ROOT, ".venv", "bin", "python")
    if not os.path.exists(python):
        subprocess.run([os.path.join(ROOT, "scripts", "setup.sh")], check=True)
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(ROOT, ".venv")):
        sys.exit("memory_w4: numpy and h5py are missing from .venv; run scripts/setup.sh")
    os.execv(python, [python] + sys.argv)


def main():
    ensure_python()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rbp", default=os.path.join(ROOT, ".build", "release", "rbp"))
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", help="folder for the dataset and the runs (default: a temporary one, removed)")
    args = ap.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="rbp-memory-")
    os.makedirs(folder, exist_ok=True)
    data = os.path.join(folder, f"w4-T{args.steps}.h5")
    if not os.path.exists(data):
        t = time.time()
        write_dataset(data, args.steps)
        print(f"memory_w4: wrote {data} ({os.path.getsize(data) / 2**30:.2f} GiB) in {time.time() - t:.0f} s",
              file=sys.stderr)
    results = {}
    for mode in ("full", "checkpointed"):
        out = os.path.join(folder, mode)
        command = [args.rbp, "train", "--data", data, "--out", out, "--units", "512", "--coupling", "identity",
                   "--epochs", "1", "--batch", "64", "--precision", "f32", "--threads", str(args.threads),
                   "--bptt", mode, "--quiet"]
        status, peak, seconds = peak_of(command)
        if status != 0:
            sys.exit(f"memory_w4: rbp train --bptt {mode} failed with status {status}")
        import h5py
        with h5py.File(os.path.join(out, "checkpoint.h5"), "r") as f:
            loss = float(f["history/loss"][-1])
        results[mode] = (peak, seconds, loss)
        print(f"memory_w4: --bptt {mode}: peak {peak / 2**20:.0f} MiB, {seconds:.1f} s, epoch loss {loss}",
              file=sys.stderr)
    full, checkpointed = results["full"][0], results["checkpointed"][0]
    print(f"| T | full BPTT peak | checkpointed peak | ratio |\n|---:|---:|---:|---:|\n"
          f"| {args.steps} | {full / 2**20:.0f} MiB | {checkpointed / 2**20:.0f} MiB | {checkpointed / full:.3f} |")
    if not args.keep:
        import shutil
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
