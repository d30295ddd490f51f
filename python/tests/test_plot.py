"""python -m rbp.plot: each figure is written from what the command line
wrote, and a bad input is one line on stderr with exit status 1."""

import os
import subprocess
import sys
import unittest

import rbp
from test_in_process import DATA, cli, scratch

try:
    import matplotlib  # noqa: F401
except ImportError:
    matplotlib = None


@unittest.skipIf(matplotlib is None, "matplotlib is not installed")
class Plots(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch("rbp-plot-")

    def plot(self, *args):
        return subprocess.run([sys.executable, "-m", "rbp.plot", *map(str, args)], capture_output=True, text=True)

    def assertPNG(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", path)

    def test_every_figure(self):
        d = self.dir
        cli("train", "--data", f"{DATA}/xor.h5", "--out", f"{d}/xor", "--epochs", 4, "--quiet")
        cli("fixed-points", "--checkpoint", f"{d}/xor/checkpoint.h5", "--data", f"{DATA}/xor.h5", "--starts", 3,
            "--out", f"{d}/fp.h5")
        cli("train", "--data", f"{DATA}/figure8.h5", "--out", f"{d}/f8", "--epochs", 3, "--quiet")
        cli("states", "--checkpoint", f"{d}/f8/checkpoint.h5", "--data", f"{DATA}/figure8.h5", "--out", f"{d}/s.h5")
        with open(f"{d}/spec.json", "w") as f:
            f.write('{"data": "%s/xor.h5", "base": {"epochs": 2}, "grid": {"lr": [0.1, 0.3], "units": [3, 4]}}' % DATA)
        cli("sweep", f"{d}/spec.json", "--out", f"{d}/sweep", "--quiet")
        cli("sweep", "merge", f"{d}/sweep")
        for args, out in [
            (["history", f"{d}/xor"], f"{d}/xor/history.png"),
            (["fixed-points", f"{d}/fp.h5"], f"{d}/fp.png"),
            (["trajectory", f"{d}/s.h5", "--data", f"{DATA}/figure8.h5", "--out", f"{d}/t.png"], f"{d}/t.png"),
            (["sweep", f"{d}/sweep", "--x", "lr", "--hue", "units"], f"{d}/sweep/final_val_loss-by-lr.png"),
        ]:
            r = self.plot(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), out)
            self.assertPNG(out)

    def test_bad_inputs_are_one_line_errors(self):
        for args, words in [
            (["history", f"{self.dir}/nothing"], "no such checkpoint"),
            (["fixed-points", f"{DATA}/xor.h5"], "is not an rbp-fixed-points file"),
            (["sweep", DATA, "--x", "lr"], "is not a sweep folder"),
        ]:
            r = self.plot(*args)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(words, r.stderr)


if __name__ == "__main__":
    unittest.main()
