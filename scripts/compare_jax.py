#!/usr/bin/env python3
"""rbp against JAX on the reference workloads W1-W4 (SPEC section 6), same run.

    scripts/compare_jax.py [--rbp .build/release/rbp] [--precision f32] [--seconds 1] [--rounds 3]

Creates .venv-jax (JAX for the CPU, numpy, h5py) when it is missing and
runs inside it; builds rbp in release mode when the default binary is
missing. For each workload and for 1 and 2 CPUs, each side runs in
its own process pinned to those CPUs (os.sched_setaffinity): rbp through
`rbp bench workloads --json`, JAX through `jit` (and `vmap` for W2's 256
networks). Both time one gradient step (forward and backward, dL/dW and
dL/db): tanh units, mse on all units, identity coupling with I = N, x(0) =
0, W with spectral norm about 0.5; W3 solves for the fixed point from 0
until the largest change of a sweep is under 1e-6 and the adjoint likewise,
rbp with its default (auto) solvers, which sweep this contractive W in
blocks (Gauss-Seidel), JAX by plain relaxation.

Before timing, the two are checked against each other on the same random
problem: the script writes a W1-sized and a W3-sized problem as an rbp
dataset and checkpoint, and `rbp grad --precision f64` must agree with
JAX's f64 gradient.

Each case runs in `--rounds` rounds that alternate the two sides (rbp,
then JAX, then rbp again ...), each round timing at least `--seconds`: on
a shared machine a slow spell then falls on both sides, and each side is
represented by its best round (the lowest of its round medians).

The `sweep` case is the one users meet: 64 training runs (8 learning rates
x 8 seeds) of a trajectory network N = 32, T = 50, P = B = 16, I = 4,
O = 2 with dense input coupling, Adam, 30 full-batch epochs, each epoch
validated on the training set. rbp runs it through `rbp sweep --jobs CPUs`
(`rbp bench workloads --only sweep`: the whole process, data read and
results written); JAX as one jitted program, `vmap` over the 64 runs and
`lax.scan` over the epochs, timed after compilation (the compile time is
printed beside it).

Prints one markdown table: each side's best round median in milliseconds
per step (JAX's with the min-max of all its samples), the ratio JAX time /
rbp time, each side's nominal GFLOP/s as a share of the
FMA peak `rbp bench kernels` measures in the same run, and the engine
efficiency: the workload's GFLOP/s over the rate rbp's own GEMM reaches at
the workload's shape (its `X·W` row in `rbp bench kernels`).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-jax")

WORKLOADS = {
    "W1": dict(kind="trajectory", n=64, t=100, b=32, nets=1),
    "W2": dict(kind="trajectory", n=32, t=50, b=16, nets=256),
    "W3": dict(kind="steady", n=256, b=64),
    "W4": dict(kind="trajectory", n=512, t=50, b=64, nets=1),
    "sweep": dict(kind="sweep", n=32, t=50, b=16, i=4, o=2, runs=64, epochs=30),
}
# rbp's GEMM at each workload's shape: the row layout the engine uses (B x N times N x N).
GEMM_ROW = {"W1": "X·W 32x64·64x64", "W2": "X·W 16x32·32x32", "W3": "X·W 64x256·256x256", "W4": "X·W 64x512·512x512",
            "sweep": "X·W 16x32·32x32"}


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if sys.prefix == VENV:
        return
    if not os.path.exists(python):
        print(f"compare_jax: creating {VENV} (jax[cpu], numpy, h5py)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "jax[cpu]", "numpy", "h5py"], check=True)
    os.execv(python, [python] + sys.argv)


def problem(w, seed=7):
    """The workload's random problem, as numpy arrays (float64)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    n, b = w["n"], w["b"]
    W = rng.normal(0, 0.25 / np.sqrt(n), (n, n))            # spectral norm about 0.5
    bias = rng.normal(0, 0.1, n)
    if w["kind"] == "steady":
        u = rng.normal(0, 1, (b, n))
        y = rng.uniform(-0.5, 0.5, (b, n))
    else:
        u = rng.normal(0, 1, (b, w["t"], n))
        y = rng.uniform(-0.5, 0.5, (b, w["t"], n))
    return W, bias, u, y


def jax_functions(precision):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", precision == "f64")

    def bptt_loss(W, b, u, y):
        # u, y: (B, T, N); x(0) = 0; x(t) = tanh(x(t-1) W^T + b + u(t)); L = 1/B sum 1/2 (x - y)^2
        def step(x, inputs):
            ut, yt = inputs
            x = jnp.tanh(x @ W.T + b + ut)
            return x, 0.5 * jnp.sum((x - yt) ** 2)
        x0 = jnp.zeros((u.shape[0], W.shape[0]), u.dtype)
        _, losses = jax.lax.scan(step, x0, (jnp.swapaxes(u, 0, 1), jnp.swapaxes(y, 0, 1)))
        return jnp.sum(losses) / u.shape[0]

    bptt_grad = jax.jit(jax.value_and_grad(bptt_loss, argnums=(0, 1)))
    many_grad = jax.jit(jax.vmap(jax.value_and_grad(bptt_loss, argnums=(0, 1)), in_axes=(0, 0, None, None)))

    def steady_grad(W, b, u, y, tolerance=1e-6, limit=1000):
        # Relaxation from 0 to a fixed point, the adjoint by relaxation, the sensitivity lemma.
        a = b + u
        def forward(state):
            x, _, k = state
            new = jnp.tanh(x @ W.T + a)
            return new, jnp.max(jnp.abs(new - x)), k + 1
        x, _, _ = jax.lax.while_loop(lambda s: (s[1] >= tolerance) & (s[2] < limit), forward,
                                     (jnp.zeros_like(a), jnp.array(jnp.inf, a.dtype), 0))
        d = 1 - x ** 2
        g = x - y
        def adjoint(state):
            s, _, k = state
            new = d * (s @ W + g)
            return new, jnp.max(jnp.abs(new - s)), k + 1
        s, _, _ = jax.lax.while_loop(lambda s: (s[1] >= tolerance) & (s[2] < limit), adjoint,
                                     (jnp.zeros_like(a), jnp.array(jnp.inf, a.dtype), 0))
        p = u.shape[0]
        loss = 0.5 * jnp.sum((x - y) ** 2) / p
        return loss, (s.T @ x / p, jnp.sum(s, axis=0) / p)

    return jax, jnp, bptt_grad, many_grad, jax.jit(steady_grad)


def jax_sweep(precision):
    """The sweep workload as one JAX function of the runs' learning rates
    and initial parameters: vmap over the runs, scan over the epochs (the
    gradient, Adam's step, the loss after it as validation)."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", precision == "f64")
    w = WORKLOADS["sweep"]
    n, o, epochs = w["n"], w["o"], w["epochs"]

    def loss(params, u, y):
        W, U, bias, x0 = params
        def step(x, inputs):
            ut, yt = inputs
            x = jnp.tanh(x @ W.T + ut @ U.T + bias)
            return x, 0.5 * jnp.sum((x[:, n - o:] - yt) ** 2)
        x = jnp.broadcast_to(x0, (u.shape[0], n))
        _, losses = jax.lax.scan(step, x, (jnp.swapaxes(u, 0, 1), jnp.swapaxes(y, 0, 1)))
        return jnp.sum(losses) / u.shape[0]

    def train(params, lr, u, y):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        def epoch(carry, k):
            params, m, v = carry
            value, g = jax.value_and_grad(loss)(params, u, y)
            m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
            v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
            c1, c2 = 1 - 0.9 ** (k + 1.0), 1 - 0.999 ** (k + 1.0)
            params = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), params, m, v)
            return (params, m, v), (value, loss(params, u, y))
        (params, _, _), curves = jax.lax.scan(epoch, (params, zeros, zeros), jnp.arange(epochs))
        return params, curves

    return jax, jnp, jax.jit(jax.vmap(train, in_axes=(0, 0, None, None)))


def sweep_problem(jnp, precision):
    """The sweep's data and each run's initial parameters and learning rate."""
    import numpy as np
    w = WORKLOADS["sweep"]
    n, t, b, i, o, runs = w["n"], w["t"], w["b"], w["i"], w["o"], w["runs"]
    dtype = jnp.float64 if precision == "f64" else jnp.float32
    rng = np.random.default_rng(11)
    u = jnp.array(rng.normal(0, 1, (b, t, i)), dtype)
    y = jnp.array(np.tanh(rng.normal(0, 1, (b, t, o))), dtype)
    params = (jnp.array(rng.normal(0, 1 / np.sqrt(n), (runs, n, n)), dtype),
              jnp.array(rng.normal(0, 1 / np.sqrt(i), (runs, n, i)), dtype),
              jnp.zeros((runs, n), dtype), jnp.zeros((runs, n), dtype))
    lrs = jnp.array(np.repeat([0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05], runs // 8), dtype)
    return params, lrs, u, y


def write_problem(path_data, path_ck, w, W, bias, u, y):
    import h5py
    import numpy as np
    n = w["n"]
    with h5py.File(path_data, "w") as f:
        f.attrs["format"], f.attrs["version"], f.attrs["kind"] = "rbp-dataset", 1, w["kind"]
        f["inputs"], f["targets"] = u, y
    with h5py.File(path_ck, "w") as f:
        f.attrs["format"], f.attrs["version"], f.attrs["model"] = "rbp-checkpoint", 1, w["kind"]
        f.attrs["activation"], f.attrs["loss"], f.attrs["coupling"] = "tanh", "mse", "identity"
        f.attrs["units"], f.attrs["inputs"], f.attrs["outputs"] = n, n, n
        f["params/W"], f["params/b"] = W, bias
        if w["kind"] == "trajectory":
            f["params/x0"] = np.zeros(n)


def check_agreement(rbp, tmp):
    """rbp grad (f64) against JAX (f64) on the same W1- and W3-sized problems."""
    import h5py
    import numpy as np
    jax, jnp, bptt_grad, _, steady_grad = jax_functions("f64")
    for name in ("W1", "W3"):
        w = WORKLOADS[name]
        W, bias, u, y = problem(w, seed=11)
        data, ck, out = (os.path.join(tmp, f"{name}-{x}.h5") for x in ("data", "ck", "grad"))
        write_problem(data, ck, w, W, bias, u, y)
        extra = ["--tolerance", "1e-12", "--adjoint-tolerance", "1e-12"] if w["kind"] == "steady" else []
        subprocess.run([rbp, "grad", "--checkpoint", ck, "--data", data, "--out", out, "--precision", "f64"] + extra,
                       check=True)
        with h5py.File(out) as f:
            loss, gW, gb = f.attrs["loss"], f["grad/W"][:], f["grad/b"][:]
        if w["kind"] == "steady":
            jloss, (jW, jb) = steady_grad(jnp.array(W), jnp.array(bias), jnp.array(u), jnp.array(y), 1e-13, 10000)
        else:
            jloss, (jW, jb) = bptt_grad(jnp.array(W), jnp.array(bias), jnp.array(u), jnp.array(y))
        worst = max(np.max(np.abs(gW - np.asarray(jW))) / np.max(np.abs(jW)),
                    np.max(np.abs(gb - np.asarray(jb))) / np.max(np.abs(jb)), abs(loss - float(jloss)) / abs(float(jloss)))
        print(f"compare_jax: {name} f64 gradients agree to {worst:.1e} (relative to the largest component)")
        if worst > 1e-8:
            sys.exit(f"compare_jax: {name}: rbp and JAX disagree ({worst:.1e})")


def w3_accuracy(rbp, tmp, precision):
    """W3's gradient at the timed settings (the timed precision, forward and
    adjoint to 1e-6) on each side, against the converged f64
    gradient: the largest error relative to the largest component."""
    import h5py
    import numpy as np
    w = WORKLOADS["W3"]
    W, bias, u, y = problem(w)
    data, ck, out = (os.path.join(tmp, f"W3-{x}.h5") for x in ("data", "ck", "grad-timed"))
    write_problem(data, ck, w, W, bias, u, y)
    subprocess.run([rbp, "grad", "--checkpoint", ck, "--data", data, "--out", out, "--precision", precision,
                    "--tolerance", "1e-6", "--adjoint-tolerance", "1e-6"],
                   check=True)
    with h5py.File(out) as f:
        rW, rb = f["grad/W"][:].astype(np.float64), f["grad/b"][:].astype(np.float64)
    jax, jnp, _, _, steady64 = jax_functions("f64")
    _, (W64, b64) = steady64(*(jnp.array(a) for a in (W, bias, u, y)), 1e-13, 10000)
    W64, b64 = np.asarray(W64), np.asarray(b64)
    dtype = jnp.float64 if precision == "f64" else jnp.float32
    _, _, _, _, steady = jax_functions(precision)
    _, (jW, jb) = steady(*(jnp.array(a, dtype) for a in (W, bias, u, y)))
    scale = max(np.max(np.abs(W64)), np.max(np.abs(b64)))
    def error(gW, gb):
        return max(np.max(np.abs(np.asarray(gW, np.float64) - W64)), np.max(np.abs(np.asarray(gb, np.float64) - b64))) / scale
    return error(rW, rb), error(jW, jb)


def time_jax(name, precision, seconds):
    """Median, min, max milliseconds of one JAX gradient step, or of the
    whole sweep, and the seconds its first call took (compilation
    included); this process is pinned by the caller."""
    if name == "sweep":
        jax, jnp, sweep = jax_sweep(precision)
        params, lrs, u, y = sweep_problem(jnp, precision)
        call = lambda: sweep(params, lrs, u, y)
    else:
        jax, jnp, bptt_grad, many_grad, steady_grad = jax_functions(precision)
        dtype = jnp.float64 if precision == "f64" else jnp.float32
        w = WORKLOADS[name]
        W, bias, u, y = (jnp.array(a, dtype) for a in problem(w))
        if name == "W2":
            Ws = jnp.stack([jnp.array(problem(w, seed=100 + k)[0], dtype) for k in range(w["nets"])])
            bs = jnp.zeros((w["nets"], w["n"]), dtype)
            call = lambda: many_grad(Ws, bs, u, y)
        elif w["kind"] == "steady":
            call = lambda: steady_grad(W, bias, u, y)
        else:
            call = lambda: bptt_grad(W, bias, u, y)
    t0 = time.perf_counter()
    jax.block_until_ready(call())
    first = time.perf_counter() - t0
    samples, total = [], 0.0
    while total < seconds or len(samples) < 5:
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        dt = time.perf_counter() - t0
        samples.append(dt * 1e3)
        total += dt
    samples.sort()
    return samples[len(samples) // 2], samples[0], samples[-1], first


def pinned(cpus, argv):
    """Runs argv pinned to the first `cpus` CPUs; returns its stdout."""
    chosen = sorted(os.sched_getaffinity(0))[:cpus]
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, chosen)).stdout


def nominal_flops(name):
    w = WORKLOADS[name]
    if w["kind"] == "steady":
        return None                       # rbp reports its own count (sweeps taken)
    if w["kind"] == "sweep":              # the gradients alone
        return 6.0 * w["n"] ** 2 * w["b"] * w["t"] * w["runs"] * w["epochs"]
    return 6.0 * w["n"] ** 2 * w["b"] * w["t"] * w["nets"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rbp", default=os.path.join(ROOT, ".build", "release", "rbp"))
    ap.add_argument("--precision", default="f32", choices=["f32", "f64"])
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum timing per round, case and side")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds of the two sides per case; each side's best round median is reported")
    ap.add_argument("--only", default="W1,W2,W3,W4,sweep")
    ap.add_argument("--cpus", default="1,2")
    ap.add_argument("--jax-worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--check-worker", help=argparse.SUPPRESS)
    ap.add_argument("--accuracy-worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    ensure_venv()
    if a.check_worker:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            check_agreement(a.check_worker, tmp)
        return
    if a.accuracy_worker:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(w3_accuracy(a.accuracy_worker[0], tmp, a.accuracy_worker[1])))
        return
    if a.jax_worker:
        median, low, high, first = time_jax(a.jax_worker[0], a.jax_worker[1], a.seconds)
        print(json.dumps({"ms": median, "min": low, "max": high, "first_s": first}))
        return
    rbp = os.path.abspath(a.rbp)
    if not os.path.exists(rbp):
        default = os.path.join(ROOT, ".build", "release", "rbp")
        if rbp != default:
            sys.exit(f"compare_jax: --rbp {a.rbp}: no such file")
        print("compare_jax: building rbp (swift build -c release)", file=sys.stderr)
        subprocess.run(["swift", "build", "-c", "release", "--product", "rbp"], cwd=ROOT, check=True)
    # JAX runs only in worker processes: this one forks the pinned runs.
    subprocess.run([sys.executable, os.path.abspath(__file__), "--check-worker", rbp], check=True)
    if "W3" in a.only.split(","):
        rbp_error, jax_error = json.loads(subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--accuracy-worker", rbp, a.precision],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(f"compare_jax: W3 {a.precision} gradient at the timed settings against the converged f64 one "
              f"(largest error over the largest component): rbp {rbp_error:.1e}, JAX {jax_error:.1e}")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"compare_jax: {cpu}, {len(os.sched_getaffinity(0))} CPUs, {a.precision}, "
          f"{time.strftime('%Y-%m-%d')}, {subprocess.run([rbp, '--version'], capture_output=True, text=True).stdout.strip()}")
    rows = []
    compile_notes = []
    for cpus in (int(c) for c in a.cpus.split(",")):
        kernels = [json.loads(l) for l in pinned(cpus, [rbp, "bench", "kernels", "--precision", a.precision, "--threads", "1",
                                                        "--json", "--seconds", "0.3"]).splitlines() if l.startswith("{")]
        peak1 = next(k["gflops"] for k in kernels if k["kernel"] == "peak")
        gemm = {k["name"]: k["gflops"] for k in kernels if k["kernel"] != "peak"}
        peak = peak1 * cpus
        for name in a.only.split(","):
            # Rounds alternate the two sides, so that a slow spell of the
            # shared machine falls on both; each side keeps its best round.
            r = j = None
            for _ in range(a.rounds):
                rr = json.loads(pinned(cpus, [rbp, "bench", "workloads", "--only", name, "--precision", a.precision,
                                              "--threads", str(cpus), "--json", "--seconds", str(a.seconds)]
                                       ).strip().splitlines()[-1])
                jj = json.loads(pinned(cpus, [sys.executable, os.path.abspath(__file__), "--seconds", str(a.seconds),
                                              "--jax-worker", name, a.precision]).strip().splitlines()[-1])
                if r is None or rr["ms"] < r["ms"]:
                    r = rr
                if j is None:
                    j = jj
                else:
                    j = {"ms": min(j["ms"], jj["ms"]), "min": min(j["min"], jj["min"]), "max": max(j["max"], jj["max"]),
                         "first_s": min(j["first_s"], jj["first_s"])}
            flops = nominal_flops(name) or r["gflops"] * r["ms"] * 1e6
            jax_gflops = flops / (j["ms"] * 1e-3) * 1e-9
            efficiency = r["gflops"] / (gemm[GEMM_ROW[name]] * cpus) if GEMM_ROW[name] in gemm else float("nan")
            rows.append((name, cpus, r["ms"], j["ms"], j["min"], j["max"], j["ms"] / r["ms"], r["gflops"] / peak,
                         jax_gflops / peak, efficiency))
            print(f"compare_jax: {name} {cpus} CPU: rbp {r['ms']:.3f} ms, JAX {j['ms']:.3f} ms "
                  f"(its first call, compilation included: {j['first_s']:.2f} s)", file=sys.stderr)
            if name == "sweep":
                compile_notes.append(f"sweep on {cpus} CPU: JAX's first call (compilation included) took "
                                     f"{j['first_s']:.2f} s; the table counts JAX after compilation, rbp whole process")
    print()
    print("| workload | CPUs | rbp ms | JAX ms (min–max) | JAX / rbp | rbp % of peak | JAX % of peak | rbp engine efficiency |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, cpus, rms, jms, jlo, jhi, ratio, rpeak, jpeak, eff in rows:
        print(f"| {name} | {cpus} | {rms:.3f} | {jms:.3f} ({jlo:.3f}–{jhi:.3f}) | {ratio:.2f} | {100 * rpeak:.0f}% | "
              f"{100 * jpeak:.0f}% | {100 * eff:.0f}% |")
    for note in compile_notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
