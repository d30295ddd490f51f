"""The Python package against the command line: the same checkpoint and
data through `rbp states` / `rbp grad` (files, read with h5py) and through
rbp.load(...).states / .grad in process must agree bit for bit; errors
carry the command line's message; threads give what serial calls give.

Run: RBP_BINARY=.build/debug/rbp python -m unittest discover -s python/tests
"""

import os
import subprocess
import tempfile
import threading
import unittest

import h5py
import numpy as np

import rbp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("RBP_BINARY", os.path.join(ROOT, ".build", "debug", "rbp"))
DATA = os.path.join(ROOT, "datasets")


def cli(*args, check=True):
    r = subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"rbp {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def read(path, *names):
    with h5py.File(path, "r") as f:
        return [np.asarray(f[n]) for n in names]


def same(test, a, b, what):
    """Bit for bit: same shape, same values, NaN where the other has NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    test.assertEqual(a.shape, b.shape, what)
    test.assertTrue(np.array_equal(a, b, equal_nan=True),
                    f"{what}: differs, max |diff| {np.nanmax(np.abs(a - b)) if a.size else 0}")


def scratch(prefix):
    """A new folder for a test class, or SkipTest without the rbp binary."""
    if not os.access(BINARY, os.X_OK):
        raise unittest.SkipTest(f"no rbp binary at {BINARY} (swift build first)")
    return tempfile.mkdtemp(prefix=prefix)


class InProcess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch("rbp-python-")
        cls.steady = os.path.join(cls.dir, "steady")
        cls.trajectory = os.path.join(cls.dir, "trajectory")
        cli("train", "--data", f"{DATA}/xor.h5", "--out", cls.steady, "--epochs", 5, "--units", 6, "--quiet")
        cli("train", "--data", f"{DATA}/delayed-xor.h5", "--out", cls.trajectory, "--epochs", 3, "--units", 8,
            "--leak", 0.5, "--quiet")
        cls.identity = os.path.join(cls.dir, "identity")
        cli("train", "--data", f"{DATA}/patterns.h5", "--out", cls.identity, "--epochs", 2, "--quiet")

    def dataset(self, name):
        with h5py.File(f"{DATA}/{name}.h5", "r") as f:
            return {k: np.asarray(f[k]) for k in ("inputs", "targets", "mask", "initial") if k in f}

    def cotangent(self, shape, seed):
        return np.random.default_rng(seed).normal(size=shape)

    def check_against_cli(self, run, data, precision):
        ck = os.path.join(run, "checkpoint.h5")
        d = self.dataset(data)
        net = rbp.load(ck, dtype=np.float64 if precision == "f64" else np.float32)
        tmp = tempfile.mkdtemp(dir=self.dir)
        # states
        cli("states", "--checkpoint", ck, "--data", f"{DATA}/{data}.h5", "--out", f"{tmp}/s.h5",
            "--precision", precision)
        (states,) = read(f"{tmp}/s.h5", "states")
        x = net.states(d["inputs"], initial=d.get("initial"))
        self.assertEqual(x.dtype, net.dtype)
        same(self, x, states, f"{data} {precision} states")
        # the gradient of a cotangent
        c = self.cotangent(states.shape if net.model == "steady" else
                           (states.shape[0], states.shape[1] - 1, states.shape[2]), 1)
        with h5py.File(f"{tmp}/c.h5", "w") as f:
            f["dstates"] = c
        for mean in (False, True):
            flags = ["--mean"] if mean else []
            cli("grad", "--checkpoint", ck, "--data", f"{DATA}/{data}.h5", "--cotangent", f"{tmp}/c.h5",
                "--out", f"{tmp}/g.h5", "--precision", precision, *flags)
            g = net.grad(d["inputs"], cotangent=c, initial=d.get("initial"), mean=mean)
            with h5py.File(f"{tmp}/g.h5", "r") as f:
                for name in ("W", "b", "U", "x0", "drive"):
                    if name in f["grad"]:
                        same(self, g[name], f["grad"][name], f"{data} {precision} mean={mean} grad/{name}")
                same(self, g["states"], f["states"], f"{data} {precision} gradient states")
                self.assertEqual(g["loss"], f.attrs["loss"])
        # the gradient of the built-in loss
        cli("grad", "--checkpoint", ck, "--data", f"{DATA}/{data}.h5", "--out", f"{tmp}/l.h5",
            "--precision", precision)
        g = net.grad(d["inputs"], targets=d["targets"], mask=d.get("mask"), initial=d.get("initial"))
        with h5py.File(f"{tmp}/l.h5", "r") as f:
            for name in f["grad"]:
                same(self, g[name], f["grad"][name], f"{data} {precision} loss grad/{name}")
            self.assertEqual(g["loss"], f.attrs["loss"])
        return net, d

    def test_steady_equals_the_command_line_bit_for_bit(self):
        for precision in ("f64", "f32"):
            net, _ = self.check_against_cli(self.steady, "xor", precision)
            self.assertIsInstance(net, rbp.Steady)
        net, _ = self.check_against_cli(self.identity, "patterns", "f64")
        self.assertEqual(net.coupling, "identity")

    def test_trajectory_equals_the_command_line_bit_for_bit(self):
        for precision in ("f64", "f32"):
            net, _ = self.check_against_cli(self.trajectory, "delayed-xor", precision)
            self.assertIsInstance(net, rbp.Trajectory)

    def test_invert_equals_the_command_line(self):
        for run, data in ((self.steady, "xor"), (self.trajectory, "delayed-xor")):
            ck = os.path.join(run, "checkpoint.h5")
            tmp = tempfile.mkdtemp(dir=self.dir)
            cli("states", "--checkpoint", ck, "--data", f"{DATA}/{data}.h5", "--out", f"{tmp}/s.h5")
            cli("invert", "--checkpoint", ck, "--states", f"{tmp}/s.h5", "--out", f"{tmp}/a.h5")
            (states,) = read(f"{tmp}/s.h5", "states")
            (drive,) = read(f"{tmp}/a.h5", "drive")
            same(self, rbp.load(ck).invert(states), drive, f"{data} drive")

    def test_arrays_save_and_the_cli_reads_them(self):
        rng = np.random.default_rng(3)
        n, i, o = 5, 2, 1
        W, b, U = rng.normal(0, 0.3, (n, n)), rng.normal(0, 0.3, n), rng.normal(0, 0.5, (n, i))
        net = rbp.Steady(W, b, U, activation="tanh", outputs=o)
        params = net.parameters()
        same(self, params["W"], W, "W")
        same(self, params["U"], U, "U")
        ck = os.path.join(self.dir, "arrays.h5")
        net.save(ck)
        same(self, rbp.load(ck).parameters()["W"], W, "W after a round trip")
        d = self.dataset("xor")
        tmp = tempfile.mkdtemp(dir=self.dir)
        cli("grad", "--checkpoint", ck, "--data", f"{DATA}/xor.h5", "--out", f"{tmp}/g.h5")
        g = net.grad(d["inputs"], targets=d["targets"])
        with h5py.File(f"{tmp}/g.h5", "r") as f:
            for name in ("W", "b", "U"):
                same(self, g[name], f["grad"][name], f"arrays grad/{name}")
        self.assertIn("loss", cli("eval", "--checkpoint", ck, "--data", f"{DATA}/xor.h5").stdout)
        t = rbp.Trajectory(W, b, U, x0=np.zeros(n), leak=0.5, outputs=o)
        x = t.states(np.zeros((3, 4, i)))
        self.assertEqual(x.shape, (3, 5, n))

    def test_gradient_matches_finite_differences(self):
        # An independent check of the in-process gradient: central
        # differences of R = <c, x> through states() alone.
        rng = np.random.default_rng(4)
        n, i = 4, 3
        W, b, U = rng.normal(0, 0.3, (n, n)), rng.normal(0, 0.3, n), rng.normal(0, 0.5, (n, i))
        u, c = rng.normal(size=(6, i)), rng.normal(size=(6, n))
        g = rbp.Steady(W, b, U, tolerance=1e-13).grad(u, cotangent=c)
        h = 1e-6
        for (r, k) in [(0, 1), (2, 3), (3, 0)]:
            Wp, Wm = W.copy(), W.copy()
            Wp[r, k] += h
            Wm[r, k] -= h
            fp = np.sum(c * rbp.Steady(Wp, b, U, tolerance=1e-13).states(u))
            fm = np.sum(c * rbp.Steady(Wm, b, U, tolerance=1e-13).states(u))
            self.assertAlmostEqual(g["W"][r, k], (fp - fm) / (2 * h), delta=1e-6)

    def test_errors_carry_the_command_lines_message(self):
        missing = os.path.join(self.dir, "missing.h5")
        r = cli("states", "--checkpoint", missing, "--data", f"{DATA}/xor.h5", "--out",
                os.path.join(self.dir, "never.h5"), check=False)
        self.assertNotEqual(r.returncode, 0)
        with self.assertRaises(rbp.Error) as e:
            rbp.load(missing)
        self.assertEqual("Error: " + str(e.exception), r.stderr.strip())
        # A solver setting the command line refuses, refused alike.
        r = cli("states", "--checkpoint", os.path.join(self.steady, "checkpoint.h5"), "--data", f"{DATA}/xor.h5",
                "--out", os.path.join(self.dir, "never.h5"), "--tolerance", "-1", check=False)
        with self.assertRaises(rbp.Error) as e:
            rbp.load(os.path.join(self.steady, "checkpoint.h5"), tolerance=-1.0)
        self.assertIn("--tolerance must be positive", r.stderr)
        self.assertIn("'tolerance' must be positive", str(e.exception))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "never.h5")))

    def test_wrong_shapes_and_dtypes_are_refused(self):
        net = rbp.load(os.path.join(self.steady, "checkpoint.h5"))
        d = self.dataset("xor")
        u = d["inputs"]
        cases = [
            lambda: net.states(u[:, :1]),                                   # I wrong
            lambda: net.states(u.astype(np.complex128)),                    # not real
            lambda: net.states(u, initial=np.zeros((len(u), net.units + 1))),
            lambda: net.grad(u),                                            # no objective
            lambda: net.grad(u, targets=d["targets"], cotangent=np.zeros((len(u), net.units))),
            lambda: net.grad(u, cotangent=np.zeros((len(u) + 1, net.units))),
            lambda: net.grad(u, targets=d["targets"][:, :0]),
            lambda: net.grad(u, targets=d["targets"], mask=-np.ones_like(d["targets"])),
            lambda: net.grad(u, targets=d["targets"], mean=True),
            lambda: net.states(np.full_like(u, np.nan)),
            lambda: net.invert(np.zeros((2, net.units + 1))),
            lambda: rbp.Steady(np.zeros((3, 4)), np.zeros(3)),
            lambda: rbp.Steady(np.zeros((3, 3)), np.zeros(3), activation="sigmoid"),
            lambda: rbp.load(os.path.join(self.steady, "checkpoint.h5"), dtype=np.int32),
            lambda: rbp.load(os.path.join(self.steady, "checkpoint.h5"), epochs=3),
        ]
        for k, case in enumerate(cases):
            with self.assertRaises(rbp.Error, msg=f"case {k}"):
                case()

    def test_strided_and_converted_inputs_give_the_same_result(self):
        net = rbp.load(os.path.join(self.steady, "checkpoint.h5"))
        u = self.dataset("xor")["inputs"]
        x = net.states(u)
        wide = np.zeros((u.shape[0], 2 * u.shape[1]))
        wide[:, ::2] = u
        same(self, net.states(wide[:, ::2]), x, "strided inputs")
        same(self, net.states(np.asfortranarray(u)), x, "Fortran-ordered inputs")
        same(self, net.states(u.tolist()), x, "a list")
        same(self, net.states(u.astype(np.float32)), x, "float32 inputs (exact in float64)")

    def test_four_threads_give_what_serial_calls_give(self):
        rng = np.random.default_rng(5)
        n, i, p = 24, 3, 16
        nets = [rbp.Steady(rng.normal(0, 0.2, (n, n)), rng.normal(0, 0.2, n), rng.normal(0, 0.5, (n, i)))
                for _ in range(4)]
        u, c = rng.normal(size=(p, i)), rng.normal(size=(p, n))
        serial = [net.grad(u, cotangent=c) for net in nets]
        results = [None] * 4

        def work(k):
            for _ in range(5):
                results[k] = nets[k].grad(u, cotangent=c)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in range(4):
            for name in ("W", "b", "U", "drive", "states"):
                same(self, results[k][name], serial[k][name], f"thread {k} {name}")

    def test_history_and_sweep(self):
        h = rbp.read_history(self.steady)
        epochs = np.asarray(h["epoch"])
        self.assertEqual(list(epochs), [1, 2, 3, 4, 5])
        self.assertEqual(len(np.asarray(h["loss"])), 5)
        spec = os.path.join(self.dir, "sweep.json")
        with open(spec, "w") as f:
            f.write('{"data": "%s/xor.h5", "base": {"epochs": 2}, "grid": {"lr": [0.1, 0.2], "seed": [1, 2, 3]}}'
                    % DATA)
        out = os.path.join(self.dir, "sweep")
        cli("sweep", spec, "--out", out, "--quiet")
        cli("sweep", "merge", out)
        s = rbp.read_sweep(out)
        self.assertEqual(len(np.asarray(s["index"])), 6)
        self.assertEqual(sorted(set(np.asarray(s["lr"]).tolist())), [0.1, 0.2])
        self.assertTrue(all(v == "done" for v in np.asarray(s["status"])))
        # With pandas a DataFrame, without it a dict of arrays: the same columns.
        try:
            import pandas
        except ImportError:
            pandas = None
        if pandas is not None:
            self.assertIsInstance(s, pandas.DataFrame)
            self.assertIsInstance(rbp.read_history(self.steady), pandas.DataFrame)
        import sys
        saved = sys.modules.get("pandas")
        sys.modules["pandas"] = None                  # import pandas now fails
        try:
            plain = rbp.read_sweep(out)
            self.assertIsInstance(plain, dict)
            self.assertEqual(sorted(plain), sorted(s.columns) if pandas is not None else sorted(s))
            self.assertIsInstance(rbp.read_history(self.steady), dict)
        finally:
            if saved is None:
                del sys.modules["pandas"]
            else:
                sys.modules["pandas"] = saved
        # Before the merge, from each run's result.json: the same rows.
        os.remove(os.path.join(out, "sweep.h5"))
        unmerged = rbp.read_sweep(out)
        same(self, np.asarray(unmerged["final_loss"]), np.asarray(s["final_loss"]), "final_loss")


if __name__ == "__main__":
    unittest.main()


class FromC(unittest.TestCase):
    """examples/c/states.c, compiled against rbp.h and the library the
    Python package loads, prints what the package computes."""

    def test_the_c_example_agrees_with_python(self):
        import shutil
        cc = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
        if cc is None or not os.access(BINARY, os.X_OK):
            self.skipTest("no C compiler or no rbp binary")
        d = tempfile.mkdtemp(prefix="rbp-c-")
        library = rbp._lib.path
        exe = os.path.join(d, "states")
        subprocess.run([cc, os.path.join(ROOT, "examples", "c", "states.c"), "-I",
                        os.path.join(ROOT, "Sources", "CRBPLibrary", "include"), library,
                        "-Wl,-rpath," + os.path.dirname(library), "-o", exe], check=True)
        cli("train", "--data", f"{DATA}/xor.h5", "--out", f"{d}/run", "--epochs", 3, "--quiet")
        u = np.array([[0.0, 1.0], [1.0, 1.0]])
        r = subprocess.run([exe, f"{d}/run/checkpoint.h5", *(repr(float(v)) for v in u.ravel())], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.split()
        x = np.array([float(v) for k, v in zip(lines[::2], lines[1::2]) if k == "x"])
        dw = np.array([float(v) for k, v in zip(lines[::2], lines[1::2]) if k == "dW"])
        net = rbp.load(f"{d}/run/checkpoint.h5")
        same(self, x.reshape(2, -1), net.states(u), "states from C")
        same(self, dw.reshape(net.units, net.units), net.grad(u, cotangent=np.ones((2, net.units)))["W"], "dR/dW from C")
        bad = subprocess.run([exe, f"{d}/missing.h5"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        with self.assertRaises(rbp.Error) as e:
            rbp.load(f"{d}/missing.h5")
        self.assertEqual(bad.stderr.strip(), "Error: " + str(e.exception))
