"""Networks in process: rbp.load, rbp.Steady and rbp.Trajectory.

Each computation calls the library the `rbp` command line is built on, so
`net.states` and `net.grad` give what `rbp states` and `rbp grad
--cotangent` write, bit for bit in float64. Shapes: P patterns (or
sequences), T steps, N units, I inputs, O outputs (the last O units).
"""

import ctypes
import json

import numpy as np

from . import _lib
from ._lib import Error, lib

_DTYPES = {np.dtype(np.float32): _lib.F32, np.dtype(np.float64): _lib.F64}


def _precision(dtype, default=np.float64):
    """The network precision a dtype argument names (float32 or float64)."""
    d = np.dtype(default if dtype is None else dtype)
    if d not in _DTYPES:
        raise Error(f"dtype: {d} is neither float32 nor float64")
    return d


def _as_array(a, name, dtype):
    """`a` as a numpy array the library reads: float32 and float64 arrays
    as they are, whatever their strides (the library reads them through
    their strides); other real numbers converted to `dtype`."""
    if isinstance(a, np.ndarray) and a.dtype in _DTYPES:
        return a
    kind = getattr(getattr(a, "dtype", None), "kind", None) or np.asarray(a).dtype.kind
    if kind not in "biuf":
        raise Error(f"{name}: holds {np.asarray(a).dtype} values, expected real numbers (float32 or float64)")
    try:
        return np.asarray(a, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise Error(f"{name}: cannot be read as an array of numbers ({e})") from None


def _address(a):
    """The address of the first element of `a`."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))    # the fast way: writable, contiguous
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data


def _fill(d, a, name):
    """Describes the float32/float64 array `a` in the rbp.h array `d`."""
    n = a.ndim
    if n > _lib.MAX_RANK:
        raise Error(f"{name}: rank {n}, at most {_lib.MAX_RANK} is supported")
    d.data = _address(a) if a.size else None
    d.dtype = _DTYPES[a.dtype]
    d.rank = n
    d.shape[:n] = a.shape
    d.strides[:n] = a.strides
    return d


def _described(a, name, dtype):
    """An rbp.h array describing `a` (converted as `_as_array` does), and
    the numpy array it points into; (None, None) for None."""
    if a is None:
        return None, None
    a = _as_array(a, name, dtype)
    return _fill(_lib.Array(), a, name), a


class _Layout:
    """Where the outputs of a gradient go: every array in one allocation
    (floats first, then the steady patterns' settled flags), and an rbp.h
    struct with their shapes and strides filled in once, so that a call only
    sets the data pointers."""

    def __init__(self, dtype, arrays, flags):
        self.dtype, self.arrays, offset = dtype, [], 0
        self.template = _lib.Gradients()
        for name, shape in arrays:
            self.arrays.append((name, shape, offset))
            d = getattr(self.template, name)
            d.dtype, d.rank = _DTYPES[dtype], len(shape)
            stride = dtype.itemsize
            for k in reversed(range(len(shape))):                 # C order
                d.shape[k], d.strides[k] = shape[k], stride
                stride *= shape[k]
            offset += stride
        self.flags_at, self.flags = offset, flags

    def allocate(self):
        buffer = np.empty(max(self.flags_at + self.flags, 1), np.uint8)
        return buffer, _address(buffer)

    def views(self, buffer):
        return {name: np.ndarray(shape, self.dtype, buffer, at) for name, shape, at in self.arrays}


def _pointer(d):
    return ctypes.byref(d) if d is not None else None


def _solver_json(settings):
    return json.dumps(settings).encode() if settings else None


class Network:
    """A network held by the library. Use rbp.load, rbp.Steady or rbp.Trajectory."""

    def __init__(self, handle):
        self._handle = handle
        self._layouts = {}
        info = _lib.Info()
        _lib.check(lib.rbp_info_get(self._handle, ctypes.byref(info)))
        self.model = "steady" if info.model == _lib.STEADY else "trajectory"
        self.dtype = np.dtype(np.float64 if info.dtype == _lib.F64 else np.float32)
        self.units, self.inputs, self.outputs = info.units, info.inputs, info.outputs
        self.coupling = "dense" if info.dense_coupling else "identity"
        self.symmetric = bool(info.symmetric)
        self.leak = info.leak
        self.activation = info.activation.decode()
        self.loss = info.loss.decode()

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle and lib is not None:
            lib.rbp_free(handle)

    def __repr__(self):
        kind = "Steady" if self.model == "steady" else "Trajectory"
        return (f"rbp.{kind}(units={self.units}, inputs={self.inputs}, outputs={self.outputs}, "
                f"activation={self.activation!r}, dtype={self.dtype.name})")

    # Parameters

    def parameters(self):
        """The parameters, copied: dict of W (N, N), b (N), U (N, I) with
        dense coupling, x0 (N) for trajectories."""
        n = self.units
        shapes = {"W": (n, n), "b": (n,)}
        if self.coupling == "dense":
            shapes["U"] = (n, self.inputs)
        if self.model == "trajectory":
            shapes["x0"] = (n,)
        out = {k: np.empty(s, dtype=np.float64) for k, s in shapes.items()}
        ds = {k: _described(v, k, np.float64)[0] for k, v in out.items()}
        _lib.check(lib.rbp_parameters(self._handle, *(_pointer(ds.get(k)) for k in ("W", "b", "U", "x0"))))
        return out

    W = property(lambda self: self.parameters()["W"], doc="W (N, N), a copy.")
    b = property(lambda self: self.parameters()["b"], doc="b (N), a copy.")
    U = property(lambda self: self.parameters().get("U"), doc="U (N, I), a copy (None with identity coupling).")

    def save(self, path):
        """Writes the network as a checkpoint that rbp reads."""
        _lib.check(lib.rbp_save(self._handle, str(path).encode()))

    # Computations

    def _inputs(self, inputs):
        if inputs is None:
            raise Error("inputs: not given")
        inputs = _as_array(inputs, "inputs", self.dtype)
        if inputs.ndim != (2 if self.model == "steady" else 3):
            raise Error(f"inputs: rank {inputs.ndim}, expected "
                        + ("(P, I)" if self.model == "steady" else "(P, T, I)"))
        return inputs

    def _grad_layout(self, inputs, cotangent):
        """The cached output layout of a gradient of inputs of this shape."""
        key = (inputs.shape[:-1], cotangent)
        layout = self._layouts.get(key)
        if layout is None:
            n, p, steady = self.units, inputs.shape[0], self.model == "steady"
            arrays = [("W", (n, n)), ("b", (n,))]
            if self.coupling == "dense":
                arrays.append(("U", (n, self.inputs)))
            if not steady:
                arrays.append(("x0", (n,)))
            if cotangent:
                arrays.append(("drive", (p, n) if steady else (p, inputs.shape[1], n)))
            arrays.append(("states", (p, n) if steady else (p, inputs.shape[1] + 1, n)))
            layout = self._layouts[key] = _Layout(self.dtype, arrays, p if steady else 0)
        return layout

    def states(self, inputs, initial=None):
        """The forward pass: (P, N) steady states, or (P, T+1, N)
        trajectories with x(0). inputs: (P, I) or (P, T, I); initial: None
        or (P, N). A steady pattern that does not settle has a NaN row
        (`np.isnan(x).any(axis=1)` marks them)."""
        inputs = self._inputs(inputs)
        p, n = inputs.shape[0], self.units
        out = np.empty((p, n) if self.model == "steady" else (p, inputs.shape[1] + 1, n), self.dtype)
        d0 = _described(initial, "initial", self.dtype)[0]
        _lib.check(lib.rbp_states(self._handle, ctypes.byref(_fill(_lib.Array(), inputs, "inputs")), _pointer(d0),
                                  ctypes.byref(_fill(_lib.Array(), out, "states")), None))
        return out

    def grad(self, inputs, cotangent=None, targets=None, mask=None, initial=None, mean=False):
        """Gradients by RBP (steady) or BPTT (trajectory).

        With targets ((P, O) or (P, T, O)), of the built-in loss; with a
        cotangent c = dR/dx ((P, N) or (P, T, N)), of R = <c, x> summed over
        the patterns (their mean with mean=True). Returns a dict: "W", "b",
        "U" (dense coupling), "x0" (trajectories), "drive" (dR/da, with a
        cotangent), "states", "settled" (steady) and "loss" (the loss, or R).
        """
        if (targets is None) == (cotangent is None):
            raise Error("grad: give either targets (the built-in loss) or a cotangent dR/dx, not "
                        + ("neither" if targets is None else "both"))
        inputs = self._inputs(inputs)
        layout = self._grad_layout(inputs, cotangent is not None)
        buffer, base = layout.allocate()
        g = _lib.Gradients.from_buffer_copy(layout.template)
        for name, _, at in layout.arrays:
            getattr(g, name).data = base + at
        if layout.flags:
            g.settled = base + layout.flags_at
        optional = []
        for a, name in ((initial, "initial"), (targets, "targets"), (mask, "mask"), (cotangent, "cotangent")):
            optional.append(None if a is None else ctypes.byref(_fill(_lib.Array(), _as_array(a, name, self.dtype), name)))
        _lib.check(lib.rbp_grad(self._handle, ctypes.byref(_fill(_lib.Array(), inputs, "inputs")), *optional,
                                1 if mean else 0, ctypes.byref(g)))
        out = layout.views(buffer)
        if layout.flags:
            out["settled"] = buffer[layout.flags_at:].view(np.bool_)
        out["loss"] = g.loss
        return out

    def invert(self, x):
        """The drives a = f^-1(x) - W x that make states x steady ((P, N) in
        and out), or a trajectory the network's own ((P, T+1, N) in,
        (P, T, N) out); computed in float64."""
        dx, x = _described(x, "states", self.dtype)
        if self.model == "steady":
            shape = x.shape
        elif x.ndim == 3:
            shape = (x.shape[0], x.shape[1] - 1, x.shape[2])
        else:
            raise Error(f"states: rank {x.ndim}, expected (P, T+1, N)")
        out = np.empty(shape, self.dtype)
        do, _ = _described(out, "drive", self.dtype)
        _lib.check(lib.rbp_invert(self._handle, _pointer(dx), ctypes.byref(do)))
        return out


def _handle_from(call, *args):
    handle = ctypes.c_void_p()
    _lib.check(call(*args, ctypes.byref(handle)))
    return handle


def _weights(W, b, U, outputs, dtype):
    """W, b and U described for the library, the network's precision (W's
    dtype if it is float32 or float64, else float64, unless `dtype` says)
    and O (default N)."""
    own = getattr(W, "dtype", None)
    precision = _precision(dtype, own if own in _DTYPES else np.float64)
    dw, W = _described(W, "W", np.float64)
    db, _ = _described(b, "b", np.float64)
    du, _ = _described(U, "U", np.float64)
    n = W.shape[0] if W.ndim == 2 else 0
    return (dw, db, du), n, (n if outputs is None else outputs), _DTYPES[precision]


class Steady(Network):
    """A steady network x = f(W x + b + U u) from arrays.

    W (N, N), b (N), U (N, I) or None for a network without inputs;
    outputs: O, the targets' width (default: N, every unit); dtype: float32
    or float64 (default: W's, if it is one of them). Solver settings
    (solver="newton", tolerance=1e-12, ...) take the names of the command
    line's flags.
    """

    def __init__(self, W, b, U=None, activation="tanh", loss="mse", outputs=None, symmetric=False,
                 dtype=None, **solver):
        (dw, db, du), _, outputs, precision = _weights(W, b, U, outputs, dtype)
        handle = _handle_from(lib.rbp_steady_new, _pointer(dw), _pointer(db), _pointer(du), activation.encode(),
                              loss.encode(), outputs, 1 if symmetric else 0, precision, _solver_json(solver))
        super().__init__(handle)


class Trajectory(Network):
    """A trajectory network x(t) = (1 - leak) x(t-1) + leak f(W x(t-1) + b + U u(t)).

    As rbp.Steady, with x0 (N), the initial state (default zeros), and
    leak in (0, 1]. Solver settings: bptt ("full", "checkpointed",
    "truncated") and window.
    """

    def __init__(self, W, b, U=None, x0=None, leak=1.0, activation="tanh", loss="mse", outputs=None,
                 dtype=None, **solver):
        (dw, db, du), n, outputs, precision = _weights(W, b, U, outputs, dtype)
        dx, _ = _described(np.zeros(n) if x0 is None else x0, "x0", np.float64)
        handle = _handle_from(lib.rbp_trajectory_new, _pointer(dw), _pointer(db), _pointer(du), _pointer(dx),
                              float(leak), activation.encode(), loss.encode(), outputs, precision,
                              _solver_json(solver))
        super().__init__(handle)


def load(path, dtype=np.float64, **solver):
    """The network of a checkpoint (as `rbp train` writes it): an
    rbp.Steady or rbp.Trajectory computing in `dtype` (float64 by default,
    as the rbp states and rbp grad commands), with the run's solver settings
    unless overridden (solver="newton", tolerance=1e-12, ...)."""
    d = _precision(dtype)
    handle = _handle_from(lib.rbp_load, str(path).encode(), _DTYPES[d], _solver_json(solver))
    net = Network.__new__(Steady)
    Network.__init__(net, handle)
    if net.model == "trajectory":
        net.__class__ = Trajectory
    return net
