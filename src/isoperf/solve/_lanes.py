"""isoperf's lane-parallel kernels (C++, eight patients per SIMD vector): loading and calling.

Two kernels live in one compiled extension, ``_lanes_c`` (built at install time by ``setup.py``; optional: without
a C++17 compiler the install still succeeds and the numba kernels do the same work):

* ``_expo_lanes.cpp`` (:mod:`isoperf.solve._expo_lanes`): the exponential integrator for saturable segments;
* ``_exact_lanes.cpp`` (:mod:`isoperf.solve._exact_lanes`): the exact solution of linear segments.

:func:`available` tells whether the extension is used: it must be built, and compiled for AVX-512 (the kernels hold
eight patients in one AVX-512 register; compiled without it they are correct but slower than the numba kernels:
~5-7x on the benchmark machine). ``ISOPERF_LANES=0`` in the environment switches the extension off,
``ISOPERF_LANES=1`` uses it even without AVX-512 (for tests); otherwise the numba kernels do the work. The
functions are called through ``ctypes`` from a numba ``prange`` loop (:func:`run_parts`): one part per numba
thread, the parts sharing the blocks of patients through a counter, so that no second thread pool competes with
numba's for the cores (numba's OpenMP workers spin for a while after each parallel loop: a pool of the kernels'
own lost ~20 % of a core to them on the benchmark machine).
"""

from __future__ import annotations

import ctypes
import os

import numba as nb
import numpy as np

#: switch: ISOPERF_LANES=0 uses the numba kernels even where the extension is built and fast
ENV = "ISOPERF_LANES"


def _setting() -> str:
    """ISOPERF_LANES: "0" (off), "1" (on, even without AVX-512) or "" (on where compiled for AVX-512)."""
    v = os.environ.get(ENV, "").strip().lower()
    return "0" if v in ("0", "no", "false", "off") else "1" if v in ("1", "yes", "true", "on") else ""


def _load() -> ctypes.CDLL | None:
    setting = _setting()
    if setting == "0":
        return None
    try:
        from isoperf.solve import _lanes_c  # the built extension (an empty module beside the functions)
    except ImportError:
        return None
    lib = ctypes.CDLL(_lanes_c.__file__)
    if not lib.lanes_avx512() and setting != "1":
        return None
    for fn in (lib.expo_lanes, lib.exact_lanes):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
        fn.restype = ctypes.c_int
    return lib


LIB = _load()


def available() -> bool:
    """Whether the lane-parallel kernels are built and enabled."""
    return LIB is not None


def lane_width() -> int:
    """Patients per lane group (8), or 0 when the kernels are not available."""
    return int(LIB.expo_lanes_width()) if LIB is not None else 0


@nb.njit(parallel=True, cache=True, nogil=True)
def _parts(fn, args: int, status: np.ndarray) -> None:  # noqa: ANN001
    """One part of a kernel per numba thread (the parts share the blocks of patients through a counter)."""
    nparts = status.size
    for part in nb.prange(nparts):
        status[part] = fn(args, part, nparts)


def run_parts(fn, args: ctypes.Structure, npat: int, what: str) -> None:  # noqa: ANN001
    """Run kernel ``fn`` on ``args`` (its ``next`` counter set to a fresh zero) on numba's threads."""
    status = np.zeros(max(1, min(nb.get_num_threads(), (npat + 7) // 8)), dtype=np.int32)
    _parts(fn, ctypes.addressof(args), status)
    if status.any():
        raise ValueError(f"{what} lane kernel refused the batch (sizes beyond its limits)")


def ptr(a: np.ndarray, dtype: type, name: str) -> int:
    """The address of ``a``, checked to be C-contiguous of ``dtype`` (the kernels read raw memory)."""
    if a.dtype != dtype or not a.flags.c_contiguous:
        raise TypeError(f"lane kernel: {name} must be a C-contiguous {np.dtype(dtype).name} array")
    return a.ctypes.data
