#!/usr/bin/env python3
"""The Python package's cost, measured beside its references in one run.

1. Per-call overhead: net.grad(inputs, cotangent=c) in process on a steady
   network of 32 units and 16 patterns (8 inputs, float64), against the
   same gradient called from Swift in a loop (`rbp bench grad`, the code
   rbp_grad calls). Reports the median time per call of each and the
   overhead in per cent.
2. The reward example (scripts/reward_example.py, 100 iterations, 8
   units, 4 patterns): in process against the file route, and the ratio.

    scripts/bench_python.py [--rbp .build/release/rbp] [--seconds 2]

Needs the release build (scripts/setup.sh builds librbp;
`swift build -c release --product rbp` the binary). Prints the CPU first.
"""

import argparse
import os

# numpy's OpenBLAS keeps worker threads spinning after its calls; on a
# 2-core machine they take the core the gradient runs on. The Swift side
# has none, so the Python side runs without them too.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import subprocess
import sys
import tempfile
import time

import json

import h5py
import numpy as np

import rbp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_call(f, seconds):
    f()
    batch = 1
    while True:
        t = time.perf_counter()
        for _ in range(batch):
            f()
        if time.perf_counter() - t > 0.01:
            break
        batch *= 2
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        for _ in range(batch):
            f()
        times.append((time.perf_counter() - t) / batch * 1e6)
    return float(np.median(times))


def cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rbp", default=os.path.join(ROOT, ".build", "release", "rbp"))
    ap.add_argument("--seconds", type=float, default=0.5, help="timing per round and side")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--patterns", type=int, default=16)
    a = ap.parse_args()
    print(f"CPU: {cpu()}; kernels: {rbp.kernels}; library: {rbp._lib.path}")

    n, p, i = a.units, a.patterns, 8
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.5 / np.sqrt(n), (n, n))
    net = rbp.Steady(W, rng.normal(0, 0.3, n), rng.normal(0, 0.5, (n, i)), outputs=1)
    inputs, c = rng.normal(size=(p, i)), rng.normal(size=(p, n))
    swift_us, python_us = [], []
    with tempfile.TemporaryDirectory() as d:
        net.save(f"{d}/ck.h5")
        with h5py.File(f"{d}/data.h5", "w") as f:
            f.attrs["format"], f.attrs["version"], f.attrs["kind"] = "rbp-dataset", 1, "steady"
            f["inputs"], f["targets"] = inputs, np.zeros((p, 1))
        with h5py.File(f"{d}/c.h5", "w") as f:
            f["dstates"] = c
        # Rounds alternate the two sides, so that both meet the same noise;
        # the best round of each is compared.
        for _ in range(a.rounds):
            swift = subprocess.run([a.rbp, "bench", "grad", "--checkpoint", f"{d}/ck.h5", "--data", f"{d}/data.h5",
                                    "--cotangent", f"{d}/c.h5", "--seconds", str(a.seconds), "--json"],
                                   capture_output=True, text=True, check=True)
            swift_us.append(float(json.loads(swift.stdout.strip().splitlines()[-1])["microseconds"]))
            python_us.append(median_call(lambda: net.grad(inputs, cotangent=c), a.seconds))
    s_best, p_best = min(swift_us), min(python_us)
    print(f"net.grad, {n} units, {p} patterns, f64, best of {a.rounds} alternating rounds: Python {p_best:.2f} µs, "
          f"Swift {s_best:.2f} µs per call; overhead {100 * (p_best / s_best - 1):+.1f} % "
          f"(rounds: Swift {' '.join(f'{x:.0f}' for x in swift_us)}; Python {' '.join(f'{x:.0f}' for x in python_us)})")

    loops = {}
    with tempfile.TemporaryDirectory() as d:
        for route in ("process", "files"):
            r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "reward_example.py"), "--route", route,
                                "--rbp", a.rbp, "--data", os.path.join(ROOT, "datasets", "xor.h5"), "--out",
                                f"{d}/{route}", "--iterations", "100"], check=True, capture_output=True, text=True)
            # "<route>: 100 iterations in S s, ..." : the loop alone, without the interpreter's start.
            line = next(x for x in r.stdout.splitlines() if x.startswith(route + ":"))
            loops[route] = (float(line.split(" in ")[1].split(" s")[0]), open(f"{d}/{route}/reward.csv").read())
    same = loops["process"][1] == loops["files"][1]
    print(f"reward example, 100 iterations: in process {loops['process'][0]:.3f} s, through files "
          f"{loops['files'][0]:.3f} s: {loops['files'][0] / loops['process'][0]:.0f}x faster; "
          f"rewards {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
