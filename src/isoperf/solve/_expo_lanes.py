"""The exponential kernel for saturable segments, eight patients per SIMD lane group (C++, ``_expo_lanes.cpp``).

Same method, tables and tuning constants as the numba kernel (``_batched_expo.py``, whose docstring describes
it); the tables and constants are passed from there, so they are defined once. The numba kernel runs one patient
at a time and its per-step work (5 modes, 8 nodes, an 8x8 Newton system) stays scalar; here every number of a
patient is one lane of a vector of eight, so one instruction stream advances eight independent patients. Each
lane follows its own patient's step sequence (work done for all lanes is blended per lane or is a pure function
of the lane's own numbers), so a patient's result does not depend on the other patients of its group, on the
chunk or on the thread count. Results equal the numba kernel's to rounding (different operation order and FMA
contraction), not bit for bit. Building, loading, the switch and the threads: :mod:`isoperf.solve._lanes`.
"""

from __future__ import annotations

import ctypes

import numpy as np

from isoperf.solve import _batched_expo as ex
from isoperf.solve import _lanes as lanes
from isoperf.solve._jacobi import CONVERGED, MAX_SWEEPS, NEGLIGIBLE

_P = ctypes.c_void_p
_D = ctypes.c_double
_I = ctypes.c_int64

#: the kernel's size limits (compartments, saturable terms); larger models use the numba kernel
MAX_COMPARTMENTS = 16
MAX_SATURABLE = 4


class _Args(ctypes.Structure):
    """Mirrors ``struct Args`` of ``_expo_lanes.cpp`` (same order)."""

    _fields_ = [(name, _P) for name in (
        "amat", "b", "inv", "sat_state", "sat_sink", "vmax", "km", "sinv", "x", "tg", "cmax", "tmax", "curves",
        "out_idx", "atol", "ok", "stats", "sw", "stage", "next",
        "nodes", "vinv", "clast", "tlast", "fact", "phik", "fall")] + [(name, _D) for name in (
        "t0", "t1", "rtol", "h_min", "sweep_tol", "reuse_rho", "h_hold", "relin_drift", "plain_rho", "h0_pole", "zser",
        "grow_order", "negligible", "converged")] + [(name, _I) for name in (
        "npat", "n", "size", "ns", "kk", "uniform", "nrow", "tlen", "nr", "j0", "write", "max_relin", "slen", "maxit",
        "align_min", "max_sweeps", "err_node0", "err_node1")]


#: the method's tables, contiguous, kept alive for the library's lifetime
_TABLES = {name: np.ascontiguousarray(arr, dtype=np.float64) for name, arr in (
    ("nodes", ex._NODES), ("vinv", ex._VINV), ("clast", ex._CLAST), ("tlast", ex._TLAST), ("fact", ex._FACT),
    ("phik", ex._PHIK), ("fall", ex._FALL))}


def _check(lib: ctypes.CDLL | None) -> ctypes.CDLL | None:
    if lib is not None and (lib.expo_lanes_degree() != ex.DEG or lib.expo_lanes_nser() != ex._NSER
                            or _TABLES["fact"].size != ex._NPHI + 1):
        raise ImportError("isoperf's lane kernel was built for other method tables; reinstall isoperf")
    return lib


_LIB = _check(lanes.LIB)


def fits(n: int, ns: int) -> bool:
    """Whether a model with ``n`` compartments and ``ns`` saturable terms can use this kernel (built, in its limits)."""
    return _LIB is not None and 1 <= n <= MAX_COMPARTMENTS and 1 <= ns <= MAX_SATURABLE


def expo_segment_lanes(
    amat: np.ndarray, b: np.ndarray, inv: np.ndarray,
    sat_state: np.ndarray, sat_sink: np.ndarray, vmax: np.ndarray, km: np.ndarray, sinv: np.ndarray,
    x: np.ndarray, t0: float, t1: float, tg: np.ndarray, uniform: bool,
    cmax: np.ndarray, tmax: np.ndarray, curves: np.ndarray, out_idx: np.ndarray, j0: int, write: bool,
    rtol: float, atol: np.ndarray, h_min: float, ok: np.ndarray, stats: np.ndarray,
    max_relin: int, switch: np.ndarray, stage: np.ndarray,
) -> None:
    """As :func:`isoperf.solve._batched_expo.expo_segment` (same arguments and results), on the lane kernel, with
    as many threads as numba uses."""
    n = inv.shape[0]
    if not fits(n, sat_state.size):
        raise ValueError(f"lane kernel: not built, or {n} compartments and {sat_state.size} saturable terms exceed "
                         f"its limits ({MAX_COMPARTMENTS}, {MAX_SATURABLE})")
    f8, i8, b1 = np.float64, np.int64, np.bool_
    ptr = lanes.ptr
    keep = [np.ascontiguousarray(out_idx, dtype=i8), np.ascontiguousarray(sat_state, dtype=i8),
            np.ascontiguousarray(sat_sink, dtype=i8), np.ascontiguousarray(tg, dtype=f8), np.zeros(1, dtype=i8)]
    out_c, st_c, sk_c, tg_c, counter = keep
    args = _Args(
        amat=ptr(amat, f8, "amat"), b=ptr(b, f8, "b"), inv=ptr(inv, f8, "inv"), sat_state=st_c.ctypes.data,
        sat_sink=sk_c.ctypes.data, vmax=ptr(vmax, f8, "vmax"), km=ptr(km, f8, "km"), sinv=ptr(sinv, f8, "sinv"),
        x=ptr(x, f8, "x"), tg=tg_c.ctypes.data, cmax=ptr(cmax, f8, "cmax"), tmax=ptr(tmax, f8, "tmax"),
        curves=ptr(curves, f8, "curves"), out_idx=out_c.ctypes.data, atol=ptr(atol, f8, "atol"),
        ok=ptr(ok, b1, "ok"), stats=ptr(stats, i8, "stats"), sw=ptr(switch, b1, "switch"),
        stage=ptr(stage, f8, "stage"), next=counter.ctypes.data,
        **{k: v.ctypes.data for k, v in _TABLES.items()},
        t0=t0, t1=t1, rtol=rtol, h_min=h_min, sweep_tol=ex.SWEEP_TOL, reuse_rho=ex.REUSE_RHO, h_hold=ex.H_HOLD,
        relin_drift=ex.RELIN_DRIFT, plain_rho=ex.PLAIN_RHO, h0_pole=ex.H0_POLE, zser=ex._ZSER,
        grow_order=float(ex.GROW_ORDER), negligible=NEGLIGIBLE, converged=CONVERGED,
        npat=x.shape[0], n=n, size=x.shape[1], ns=sat_state.size, kk=tg.size, uniform=int(bool(uniform)),
        nrow=curves.shape[1], tlen=curves.shape[2], nr=out_idx.size, j0=j0, write=int(bool(write)),
        max_relin=max_relin, slen=stage.shape[2], maxit=ex._MAXIT, align_min=ex.ALIGN_MIN, max_sweeps=MAX_SWEEPS,
        err_node0=int(ex._ERR_NODES[0]), err_node1=int(ex._ERR_NODES[1]),
    )
    lanes.run_parts(_LIB.expo_lanes, args, x.shape[0], "exponential")
    del keep
