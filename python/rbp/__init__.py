"""rbp in process: recurrent backpropagation and BPTT from Python.

    import rbp
    net = rbp.load("run/checkpoint.h5")            # steady or trajectory
    x = net.states(inputs)                         # (P, N), or (P, T+1, N)
    g = net.grad(inputs, cotangent=c)              # dict: W, b, U, drive, states, ...
    a = net.invert(x)                              # the drives that make x steady
    h = rbp.read_history("run/")                   # per-epoch metrics

The computations run in the C library librbp, the code the `rbp` command
line runs; numpy arrays go in without copies when they are float32 or
float64, and the GIL is released while the library computes.
"""

from ._lib import Error, lib as _library
from .network import Network, Steady, Trajectory, load
from .results import read_history, read_sweep

__version__ = _library.rbp_version().decode()
kernels = _library.rbp_kernels().decode()

__all__ = ["Error", "Network", "Steady", "Trajectory", "load", "read_history", "read_sweep", "__version__",
           "kernels"]
