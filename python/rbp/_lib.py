"""The C library librbp, loaded with ctypes, and the structs of rbp.h.

The library is found, in order, at $RBP_LIBRARY, inside this package
(rbp/_lib/librbp.so, where scripts/build-library.sh puts a copy), and in
the build folders of the source tree this package sits in (.build/release,
then .build/debug). ctypes.CDLL releases the GIL for the length of every
call, so Python threads can compute on several networks at once.
"""

import ctypes
import os
import pathlib

F32, F64 = 1, 2
STEADY, TRAJECTORY = 0, 1
MAX_RANK = 4


class Error(Exception):
    """An error from rbp: the command line's one-line message."""


class Array(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_RANK),
        ("strides", ctypes.c_int64 * MAX_RANK),
    ]


class Info(ctypes.Structure):
    _fields_ = [
        ("model", ctypes.c_int32),
        ("dtype", ctypes.c_int32),
        ("units", ctypes.c_int64),
        ("inputs", ctypes.c_int64),
        ("outputs", ctypes.c_int64),
        ("dense_coupling", ctypes.c_int32),
        ("symmetric", ctypes.c_int32),
        ("leak", ctypes.c_double),
        ("activation", ctypes.c_char * 16),
        ("loss", ctypes.c_char * 16),
    ]


class Gradients(ctypes.Structure):
    _fields_ = [
        ("W", Array),
        ("b", Array),
        ("U", Array),
        ("x0", Array),
        ("drive", Array),
        ("states", Array),
        ("settled", ctypes.c_void_p),      # int8_t *
        ("loss", ctypes.c_double),
        ("unsettled", ctypes.c_int64),
    ]


def _candidates():
    if os.environ.get("RBP_LIBRARY"):
        yield pathlib.Path(os.environ["RBP_LIBRARY"])
        return
    here = pathlib.Path(__file__).resolve().parent
    yield here / "_lib" / "librbp.so"
    for root in (here.parent.parent, *here.parents):
        for config in ("release", "debug"):
            yield root / ".build" / config / "librbp.so"


def _load():
    tried = []
    for path in _candidates():
        tried.append(str(path))
        if path.is_file():
            return ctypes.CDLL(str(path)), str(path)
    raise ImportError(
        "rbp: cannot find librbp.so (looked at " + ", ".join(dict.fromkeys(tried)) + "); build it with "
        "scripts/build-library.sh in the rbp source tree, or set RBP_LIBRARY to its path")


lib, path = _load()

_handle = ctypes.c_void_p
_array_p = ctypes.POINTER(Array)
_int = ctypes.c_int32
_str = ctypes.c_char_p

for name, result, args in [
    ("rbp_version", _str, []),
    ("rbp_kernels", _str, []),
    ("rbp_last_error", _str, []),
    ("rbp_load", _int, [_str, _int, _str, ctypes.POINTER(_handle)]),
    ("rbp_steady_new", _int, [_array_p, _array_p, _array_p, _str, _str, ctypes.c_int64, _int, _int, _str,
                              ctypes.POINTER(_handle)]),
    ("rbp_trajectory_new", _int, [_array_p, _array_p, _array_p, _array_p, ctypes.c_double, _str, _str,
                                  ctypes.c_int64, _int, _str, ctypes.POINTER(_handle)]),
    ("rbp_info_get", _int, [_handle, ctypes.POINTER(Info)]),
    ("rbp_parameters", _int, [_handle, _array_p, _array_p, _array_p, _array_p]),
    ("rbp_save", _int, [_handle, _str]),
    ("rbp_states", _int, [_handle, _array_p, _array_p, _array_p, ctypes.c_void_p]),
    ("rbp_grad", _int, [_handle, _array_p, _array_p, _array_p, _array_p, _array_p, _int,
                        ctypes.POINTER(Gradients)]),
    ("rbp_invert", _int, [_handle, _array_p, _array_p]),
]:
    function = getattr(lib, name)
    function.restype = result
    function.argtypes = args

lib.rbp_free.restype = None
lib.rbp_free.argtypes = [_handle]


def check(status):
    """Raises Error with the library's message unless `status` is RBP_OK."""
    if status != 0:
        raise Error(lib.rbp_last_error().decode("utf-8", "replace"))
