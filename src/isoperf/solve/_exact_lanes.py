"""The exact solution of linear segments, eight patients per SIMD lane group (C++, ``_exact_lanes.cpp``).

The numba kernel's method (``_batched_exact.py``): symmetric form, cyclic Jacobi (the same rotations), modes solved
exactly, sinks and AUCs as exact integrals. On a uniform output grid (or none) only; ``linear_segment`` handles
the rest. All patients of a segment share its grid and have no step-size control, so eight advance in lockstep,
one lane each; the curves are built as 8 x 8 blocks and streamed out past the caches. The grid values with curves
come from the exact one-grid-step recurrence of each mode (four interleaved chains), without curves from the
numba kernel's pruned march; results equal the numba kernel's to rounding (~1e-13 relative), not bit for bit, and
do not depend on the patients sharing a lane group or on the thread count. Building, loading, the switch and the
threads: :mod:`isoperf.solve._lanes`.
"""

from __future__ import annotations

import ctypes

import numpy as np

from isoperf.solve import _lanes as lanes
from isoperf.solve._jacobi import CONVERGED, MAX_SWEEPS, NEGLIGIBLE

#: the kernel's size limit (compartments); larger models use the numba kernel
MAX_COMPARTMENTS = 16


class _LArgs(ctypes.Structure):
    """Mirrors ``struct LArgs`` of ``_exact_lanes.cpp`` (same order)."""

    _fields_ = [(name, ctypes.c_void_p) for name in (
        "amat", "b", "inv", "x", "tg", "cmax", "tmax", "curves", "out_row", "ok", "stage", "next", "pattern")] + [
        (name, ctypes.c_double) for name in ("t0", "t1", "negligible", "converged")] + [
        (name, ctypes.c_int64) for name in ("npat", "n", "size", "kk", "nrow", "tlen", "j0", "write", "slen",
                                            "max_sweeps", "any_b")]


def fits(n: int, kk: int, uniform: bool) -> bool:
    """Whether a segment (``n`` compartments, ``kk`` grid points) can use this kernel: built, within its limits, on
    a uniform grid or none."""
    return lanes.LIB is not None and 1 <= n <= MAX_COMPARTMENTS and (uniform or kk == 0)


def linear_segment_lanes(
    amat: np.ndarray, b: np.ndarray, inv: np.ndarray, x: np.ndarray, t0: float, t1: float, tg: np.ndarray,
    uniform: bool, cmax: np.ndarray, tmax: np.ndarray, curves: np.ndarray, out_row: np.ndarray, j0: int,
    write: bool, ok: np.ndarray, stage: np.ndarray, *, pattern: np.ndarray | None = None,
    inputs_zero: bool = False,
) -> None:
    """As :func:`isoperf.solve._batched_exact.linear_segment` (same arguments and results), on the lane kernel, with
    as many threads as numba uses.

    ``pattern`` (size, n) bool: the entries of ``amat`` that may be non-zero (as ``BatchedSegment.written``); the
    others must be 0 for every patient, and are not read. ``inputs_zero``: ``b`` is 0 throughout (not read).
    Defaults: every entry read. Results are the same either way (a term that is 0 adds nothing)."""
    n = inv.shape[0]
    if not fits(n, tg.size, uniform):
        raise ValueError(f"lane kernel: not built, or {n} compartments / a non-uniform grid beyond its limits")
    f8 = np.float64
    ptr = lanes.ptr
    size = x.shape[1]
    pat = (np.ones((size, n), dtype=np.uint8) if pattern is None else
           np.ascontiguousarray(pattern, dtype=np.uint8).reshape(size, n))
    keep = [np.ascontiguousarray(tg, dtype=f8), np.ascontiguousarray(out_row, dtype=np.int64),
            np.zeros(1, dtype=np.int64), pat]
    tg_c, row_c, counter, pat_c = keep
    args = _LArgs(
        amat=ptr(amat, f8, "amat"), b=ptr(b, f8, "b"), inv=ptr(inv, f8, "inv"), x=ptr(x, f8, "x"),
        tg=tg_c.ctypes.data, cmax=ptr(cmax, f8, "cmax"), tmax=ptr(tmax, f8, "tmax"), curves=ptr(curves, f8, "curves"),
        out_row=row_c.ctypes.data, ok=ptr(ok, np.bool_, "ok"), stage=ptr(stage, f8, "stage"),
        next=counter.ctypes.data, pattern=pat_c.ctypes.data, t0=t0, t1=t1,
        negligible=NEGLIGIBLE, converged=CONVERGED,
        npat=x.shape[0], n=n, size=size, kk=tg.size, nrow=curves.shape[1], tlen=curves.shape[2], j0=j0,
        write=int(bool(write)), slen=stage.shape[2], max_sweeps=MAX_SWEEPS, any_b=0 if inputs_zero else 1,
    )
    lanes.run_parts(lanes.LIB.exact_lanes, args, x.shape[0], "exact")
    del keep
