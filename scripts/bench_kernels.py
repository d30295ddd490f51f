#!/usr/bin/env python3
"""Kernel throughput of rbp against numpy (OpenBLAS) on the same shapes, in
the same run, on this machine.

Runs `rbp bench kernels --json` for the Swift kernels and times the same
products through numpy with preallocated outputs (`np.matmul(..., out=)`),
OpenBLAS limited to the same number of threads, then prints one table:
GFLOP/s of each, the fraction of the machine's FMA peak measured by rbp in
this run, and the ratio rbp / OpenBLAS.

    scripts/bench_kernels.py --rbp .build/release/rbp [--threads 1,2] [--markdown]
"""
import argparse
import json
import os
import subprocess
import sys
import time

NUMPY_WORKER = r'''
import json, sys, time
import numpy as np
cases, seconds = json.loads(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(0)
out = []
for c in cases:
    dt = np.float32 if c["precision"] == "f32" else np.float64
    m, n, k = c["m"], c["n"], c["k"]
    if c["kernel"] == "gemm":
        a = rng.uniform(-1, 1, (k, m) if c["transA"] else (m, k)).astype(dt)
        b = rng.uniform(-1, 1, (n, k) if c["transB"] else (k, n)).astype(dt)
        opa = a.T if c["transA"] else a
        opb = b.T if c["transB"] else b
        res = np.empty((m, n), dt)
        call = lambda: np.matmul(opa, opb, out=res)
        flops = 2.0 * m * n * k
    elif c["kernel"] == "gemv":
        a = rng.uniform(-1, 1, (m, n)).astype(dt)
        x = rng.uniform(-1, 1, m if c["transA"] else n).astype(dt)
        opa = a.T if c["transA"] else a
        res = np.empty(opa.shape[0], dt)
        call = lambda: np.matmul(opa, x, out=res)
        flops = 2.0 * m * n
    else:
        continue
    call()
    t0 = time.perf_counter(); call(); once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(0.02 / once))
    samples, total = [], 0.0
    while total < seconds or len(samples) < 5:
        t0 = time.perf_counter()
        for _ in range(reps):
            call()
        dt_ = time.perf_counter() - t0
        samples.append(dt_ / reps); total += dt_
    samples.sort()
    med = samples[len(samples) // 2]
    out.append(dict(c, gflops=flops / med * 1e-9, seconds=med))
print(json.dumps(out))
'''


def run_rbp(rbp, precision, threads, seconds, sizes):
    cmd = [rbp, "bench", "kernels", "--json", "--precision", precision,
           "--seconds", str(seconds), "--sizes", sizes]
    for t in threads:
        cmd += ["--threads", str(t)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def run_numpy(cases, threads, seconds, python):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    res = subprocess.run([python, "-c", NUMPY_WORKER, json.dumps(cases), str(seconds)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(res.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rbp", default=".build/release/rbp")
    ap.add_argument("--precision", default="f32,f64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--sizes", default="32,64,128,256,512,1024")
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with numpy for the OpenBLAS side")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    mine = run_rbp(args.rbp, args.precision, threads, args.seconds, args.sizes)
    peaks = {(r["precision"], r["threads"]): r["gflops"] for r in mine if r["kernel"] == "peak"}
    rows = []
    for t in threads:
        cases = [r for r in mine if r["threads"] == t and r["kernel"] != "peak"]
        theirs = run_numpy(cases, t, args.seconds, args.python)
        for r, o in zip(cases, theirs):
            rows.append((r, o, peaks.get((r["precision"], t))))

    if args.markdown:
        print("| kernel | prec | threads | shape | rbp GFLOP/s | % of peak | OpenBLAS GFLOP/s | rbp / OpenBLAS |")
        print("|---|---|---:|---|---:|---:|---:|---:|")
    else:
        print(f"{'kernel':6} {'prec':4} {'thr':>3}  {'shape':26} {'rbp':>8} {'%peak':>6} {'OpenBLAS':>9} {'ratio':>6}")
    for r, o, peak in rows:
        frac = f"{100 * r['gflops'] / peak:.0f}%" if peak else "-"
        ratio = r["gflops"] / o["gflops"]
        if args.markdown:
            print(f"| {r['kernel']} | {r['precision']} | {r['threads']} | {r['name']} | "
                  f"{r['gflops']:.1f} | {frac} | {o['gflops']:.1f} | {ratio:.2f} |")
        else:
            print(f"{r['kernel']:6} {r['precision']:4} {r['threads']:>3}  {r['name']:26} "
                  f"{r['gflops']:8.1f} {frac:>6} {o['gflops']:9.1f} {ratio:6.2f}")
    for (prec, t), g in sorted(peaks.items()):
        print(f"peak ({prec}, {t} thread{'s' if t > 1 else ''}, FMA loop in registers): {g:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
