"""Batched adaptive integrator for segments with saturable (Michaelis-Menten) elimination (numba).

Dormand-Prince 5(4) (Dormand & Prince, J Comput Appl Math 1980;6:19-26), one independent adaptive step
sequence per patient, patients in parallel (``prange``): a patient's result does not depend on the batch.

Why an explicit method is enough here: the compartment models are mildly stiff at most. The fastest mode
is a flow or clearance over a volume (for the reference model |lambda| <= ~4 /min), so the explicit
stability bound (h <= ~3.3/|lambda|) is close to the 1-min output grid on which every step has to land
anyway; the step count is set by accuracy (rtol 1e-10, as the single-patient engine) and by the grid, not by
stiffness. A segment whose step would fall below ``h_min`` reports failure and the caller falls back to the
single-patient stiff engine.

Only the compartment states are integrated by the Runge-Kutta stages. The other states (sinks, counters,
AUCs) have no feedback: their derivative is linear in the compartments plus the saturable fluxes, so their
step increment is the same Runge-Kutta quadrature applied to those linear functionals (and they take part
in the error control).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from isoperf.solve._batched_exact import copy_stages

# Dormand-Prince 5(4) tableau
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.array([
    [0, 0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
])
_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_E = np.array([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])


@nb.njit(cache=True, inline="always", error_model="numpy")
def _rhs(xc, a, b, sat_state, vmax, km, sinv, n, kout, flux):  # noqa: ANN001, ANN202
    """Compartment derivatives of one patient (local, contiguous copies of its matrix and parameters)."""
    for i in range(n):
        acc = b[i]
        for j in range(n):
            acc += a[i, j] * xc[j]
        kout[i] = acc
    for s in range(sat_state.size):
        i = sat_state[s]
        c = sinv[s] * xc[i]
        r = vmax[s] * c / (km[s] + c)
        kout[i] -= r
        flux[s] = r


@nb.njit(cache=True, inline="always", error_model="numpy")
def copy_patient(amat, b, vmax, km, sinv, p, n, m, ns, a, bl, rl, bnc, vm, kml, sil):  # noqa: ANN001, ANN201
    """Copy patient ``p``'s numbers from the patient-last batch layout into contiguous scratch."""
    for i in range(n):
        bl[i] = b[i, p]
        for j in range(n):
            a[i, j] = amat[i, j, p]
    for r in range(m):
        bnc[r] = b[n + r, p]
        for j in range(n):
            rl[r, j] = amat[n + r, j, p]
    for q in range(ns):
        vm[q] = vmax[q, p]
        kml[q] = km[q, p]
        sil[q] = sinv[q, p]


@nb.njit(parallel=True, cache=True, error_model="numpy")
def nonlinear_segment(
    amat: np.ndarray, b: np.ndarray, inv: np.ndarray,  # (size, n, N), (size, N), (n, N)
    sat_state: np.ndarray, sat_sink: np.ndarray, vmax: np.ndarray, km: np.ndarray, sinv: np.ndarray,  # (S, N)
    x: np.ndarray, t0: float, t1: float, tg: np.ndarray,
    cmax: np.ndarray, tmax: np.ndarray, curves: np.ndarray, out_idx: np.ndarray, j0: int, write: bool,
    rtol: float, atol: np.ndarray, h_min: float, ok: np.ndarray, sel: np.ndarray, stage: np.ndarray,
) -> None:
    """``sel``: the patients to integrate (indices into the batch). ``stage`` (N, R, S): the earlier segments' grid
    values, copied in front of each curve row (``S = j0``; ``S = 0``: none, see ``_batched_exact.py``)."""
    npat = sel.size
    n = inv.shape[0]
    size = x.shape[1]
    m = size - n
    ns = sat_state.size
    kk = tg.size
    nr = out_idx.size
    nrow = curves.shape[1]
    tlen = curves.shape[2]
    cflat = curves.reshape(curves.size)  # C-contiguous (the caller guarantees it)
    slen = stage.shape[2]
    sflat = stage.reshape(stage.size)
    for pi in nb.prange(npat):
        p = sel[pi]
        if write:
            copy_stages(cflat, p, nr, nrow, tlen, sflat, slen)
        ks = np.zeros((7, n))
        xst = np.zeros((7, n))
        fl = np.zeros((7, max(ns, 1)))
        xc = np.empty(n)
        xb = np.empty(n)
        xe = np.empty(n)
        esum = np.empty(n)
        nc_new = np.empty(m)
        # this patient's numbers, copied once into contiguous scratch (the batch layout is patient-last)
        a = np.empty((n, n))
        bl = np.empty(n)
        rl = np.empty((m, n))
        bnc = np.empty(m)
        vm = np.empty(max(ns, 1))
        kml = np.empty(max(ns, 1))
        sil = np.empty(max(ns, 1))
        copy_patient(amat, b, vmax, km, sinv, p, n, m, ns, a, bl, rl, bnc, vm, kml, sil)
        for i in range(n):
            xc[i] = x[p, i]
        t = t0
        _rhs(xc, a, bl, sat_state, vm, kml, sil, n, ks[0], fl[0])
        d0 = 0.0
        d1 = 0.0
        for i in range(n):
            sc = atol[p] + rtol * abs(xc[i])
            d0 += (xc[i] / sc) ** 2
            d1 += (ks[0, i] / sc) ** 2
        d0 = math.sqrt(d0 / n)
        d1 = math.sqrt(d1 / n)
        h = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h = min(h, t1 - t0)
        jn = 0  # next output index
        failed = False
        while t < t1:
            t_next = tg[jn] if jn < kk else t1
            land = False
            hs = h
            if t + hs >= t_next:
                hs = t_next - t
                land = True
            for i in range(n):
                xst[0, i] = xc[i]
            for st in range(1, 7):
                for i in range(n):
                    acc = xc[i]
                    for q in range(st):
                        acc += hs * _A[st, q] * ks[q, i]
                    xst[st, i] = acc
                _rhs(xst[st], a, bl, sat_state, vm, kml, sil, n, ks[st], fl[st])
            err = 0.0
            for i in range(n):
                es = 0.0
                yb = 0.0
                ye = 0.0
                for st in range(7):
                    es += _E[st] * ks[st, i]
                    yb += _B[st] * xst[st, i]
                    ye += _E[st] * xst[st, i]
                esum[i] = es
                xb[i] = yb
                xe[i] = ye
                sc = atol[p] + rtol * max(abs(xc[i]), abs(xst[6, i]))
                err += (hs * es / sc) ** 2
            # non-compartment rows: the same quadrature of their (linear + saturable) derivatives
            for r in range(m):
                row = n + r
                acc = bnc[r]
                eacc = 0.0
                for i in range(n):
                    acc += rl[r, i] * xb[i]
                    eacc += rl[r, i] * xe[i]
                for s in range(ns):
                    if sat_sink[s] == row:
                        fb = 0.0
                        fe = 0.0
                        for st in range(7):
                            fb += _B[st] * fl[st, s]
                            fe += _E[st] * fl[st, s]
                        acc += fb
                        eacc += fe
                nc_new[r] = x[p, row] + hs * acc
                sc = atol[p] + rtol * max(abs(x[p, row]), abs(nc_new[r]))
                err += (hs * eacc / sc) ** 2
            err = math.sqrt(err / size)
            if err <= 1.0:
                t = t_next if land else t + hs
                for i in range(n):
                    xc[i] = xst[6, i]
                    ks[0, i] = ks[6, i]
                for s in range(ns):
                    fl[0, s] = fl[6, s]
                for r in range(m):
                    x[p, n + r] = nc_new[r]
                if land and jn < kk and t == tg[jn]:
                    for i in range(n):
                        c = inv[i, p] * xc[i]
                        if c > cmax[p, i]:
                            cmax[p, i] = c
                            tmax[p, i] = t
                    if write:
                        for r in range(nr):
                            curves[p, r, j0 + jn] = inv[out_idx[r], p] * xc[out_idx[r]]
                    jn += 1
                fac = 5.0 if err == 0.0 else min(5.0, 0.9 * err ** -0.2)
                if not land or hs >= h:
                    h = hs * fac
            else:
                h = hs * max(0.2, 0.9 * err ** -0.2)
                if h < h_min:
                    failed = True
                    break
        ok[p] = not failed
        for i in range(n):
            x[p, i] = xc[i]
