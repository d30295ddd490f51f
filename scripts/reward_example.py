#!/usr/bin/env python3
"""Train a steady network to maximise a reward written in numpy.

The reward is a function of the whole state, which no built-in loss
expresses: the fixed points of the four xor input patterns should be
mutually orthogonal, each with squared norm `norm2`,

    R = -sum_{p<q} (x_p . x_q)^2 - 1/2 sum_p (|x_p|^2 - norm2)^2

over all N units. Each iteration is the loop of SPEC section 1.4, in
process through the rbp Python package:

    net = rbp.Steady(W, b, U)
    x = net.states(inputs)                    -> x  (forward pass only)
    numpy                                     -> c = dR/dx (the cotangent)
    g = net.grad(inputs, cotangent=c)         -> dR/dW, dR/db, dR/dU
    numpy                                     -> Adam ascent step

`--route files` runs the same loop through files and processes instead
(`rbp states`, `rbp grad --cotangent`, a checkpoint written with h5py), the
route for languages without the library; both routes give the same
numbers. Writes the reward per iteration to OUT/reward.csv and its plot to
OUT/reward.png (with matplotlib); prints the time per iteration; exits
non-zero if the reward did not grow.
"""

import argparse
import os
import subprocess
import sys
import time

import h5py
import numpy as np


def reward_and_cotangent(x, norm2):
    """R and dR/dx for states x (P, N)."""
    gram = x @ x.T                                   # (P, P): x_p . x_q
    off = gram - np.diag(np.diag(gram))
    excess = np.diag(gram) - norm2
    r = -0.5 * np.sum(off ** 2) - 0.5 * np.sum(excess ** 2)
    # d/dx_p of sum_{p<q} (x_p.x_q)^2 = 2 sum_{q != p} (x_p.x_q) x_q
    c = -2.0 * off @ x - 2.0 * excess[:, None] * x
    return r, c


def write_checkpoint(path, params, n, i, o):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "rbp-checkpoint"
        f.attrs["version"] = 1
        f.attrs["model"] = "steady"
        f.attrs["activation"] = "tanh"
        f.attrs["loss"] = "mse"
        f.attrs["units"], f.attrs["inputs"], f.attrs["outputs"] = n, i, o
        for name, value in params.items():
            f["params/" + name] = value


def run_rbp(binary, *args):
    subprocess.run([binary, *args], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--route", choices=["process", "files"], default="process",
                    help="the rbp Python package in process (default), or the rbp binary through files")
    ap.add_argument("--rbp", default=".build/release/rbp", help="the rbp binary (--route files)")
    ap.add_argument("--data", default="datasets/xor.h5", help="a steady dataset: its inputs are the patterns")
    ap.add_argument("--out", default="out/reward", help="output folder")
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--norm2", type=float, default=2.0, help="target squared norm of each state")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    with h5py.File(a.data) as f:
        data_inputs = f["inputs"][()]
        inputs = data_inputs.shape[1]
        outputs = f["targets"].shape[1]
    n = a.units
    rng = np.random.default_rng(a.seed)
    params = {"W": rng.normal(0, 0.3 / np.sqrt(n), (n, n)), "b": rng.normal(0, 0.5, n), "U": rng.normal(0, 0.5, (n, inputs))}
    first, second = {k: np.zeros_like(v) for k, v in params.items()}, {k: np.zeros_like(v) for k, v in params.items()}
    ck, states, cot, grad = (os.path.join(a.out, name) for name in ("checkpoint.h5", "states.h5", "c.h5", "g.h5"))

    def gradient_in_process():
        net = rbp.Steady(params["W"], params["b"], params["U"], outputs=outputs)
        x = net.states(data_inputs)
        r, c = reward_and_cotangent(x, a.norm2)
        g = net.grad(data_inputs, cotangent=c)
        return r, g

    def gradient_through_files():
        write_checkpoint(ck, params, n, inputs, outputs)
        run_rbp(a.rbp, "states", "--checkpoint", ck, "--data", a.data, "--out", states)
        with h5py.File(states) as f:
            x = f["states"][:]
        r, c = reward_and_cotangent(x, a.norm2)
        with h5py.File(cot, "w") as f:
            f["dstates"] = c
        run_rbp(a.rbp, "grad", "--checkpoint", ck, "--data", a.data, "--cotangent", cot, "--out", grad)
        with h5py.File(grad) as f:
            g = {k: f["grad/" + k][:] for k in params}
        for path in (states, cot, grad):
            os.remove(path)
        return r, g

    if a.route == "process":
        import rbp                                   # loads librbp once, before the clock starts
    gradient = gradient_in_process if a.route == "process" else gradient_through_files
    rewards = []
    start = time.perf_counter()
    for step in range(1, a.iterations + 1):
        r, g = gradient()
        rewards.append(float(r))
        for k in params:                             # Adam, ascending R
            first[k] = 0.9 * first[k] + 0.1 * g[k]
            second[k] = 0.999 * second[k] + 0.001 * g[k] ** 2
            m = first[k] / (1 - 0.9 ** step)
            v = second[k] / (1 - 0.999 ** step)
            params[k] = params[k] + a.lr * m / (np.sqrt(v) + 1e-8)
        if step == 1 or step % 10 == 0:
            print(f"iteration {step:4d}  reward {r:.6f}", flush=True)
    elapsed = time.perf_counter() - start

    write_checkpoint(ck, params, n, inputs, outputs)
    with open(os.path.join(a.out, "reward.csv"), "w") as f:
        f.write("iteration,reward\n")
        f.writelines(f"{i + 1},{r!r}\n" for i, r in enumerate(rewards))
    print(f"{a.route}: {len(rewards)} iterations in {elapsed:.3f} s, {1e3 * elapsed / len(rewards):.3f} ms each")
    try:
        import matplotlib
    except ImportError:
        print(f"reward {rewards[0]:.6f} -> {rewards[-1]:.6f} (no matplotlib: no figure)")
    else:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(range(1, len(rewards) + 1), rewards)
        ax.set_xlabel("iteration")
        ax.set_ylabel("reward R")
        ax.set_title("orthogonal fixed points: net.grad(cotangent=dR/dx)")
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "reward.png"), dpi=120)
        print(f"reward {rewards[0]:.6f} -> {rewards[-1]:.6f}; {os.path.join(a.out, 'reward.png')}")
    if not rewards[-1] > rewards[0]:
        sys.exit("the reward did not grow")


if __name__ == "__main__":
    main()
