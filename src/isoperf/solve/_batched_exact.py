"""Batched exact solution of linear segments in symmetric form (numba, parallel over patients).

In every linear segment built by isoperf the compartment block of ``dx/dt = M x + b`` is ``A = S D`` with
``S`` symmetric (paired flows, clearances and decays on the diagonal) and ``D = diag(1/(V kp))``. Then
``y = D^(1/2) x`` obeys ``y' = D^(1/2) S D^(1/2) y + D^(1/2) b``, a symmetric system: real eigenvalues,
orthogonal eigenvectors (cyclic Jacobi, accurate to rounding), and every mode is a scalar linear ODE,
``w' = lam w + beta``, solved exactly: ``w(t+h) = e^(lam h) w(t) + beta h phi1(lam h)``. The other states
(sinks, counters, AUCs) are linear functionals of the compartments with no feedback, so their increments
are exact integrals of the modes: ``int w = w0 h phi1(lam h) + beta h^2 phi2(lam h)``, with
``phi1(z) = (e^z - 1)/z`` and ``phi2(z) = (e^z - 1 - z)/z^2``. AUCs are therefore exact integrals, not
quadrature on the output grid.

The caller checks the symmetric form (``symmetric_form_ok``) and that no state feeds back from a
non-compartment column; otherwise the single-patient engine is used.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


def symmetric_form_ok(matrix: np.ndarray, inv: np.ndarray, tol: float = 1e-12) -> bool:
    """True when every patient's compartment block is ``S D`` with ``S`` symmetric and no non-compartment
    column is non-zero. ``matrix``: (N, size, size); ``inv``: (N, n) = 1 / (V kp)."""
    n = inv.shape[1]
    if np.any(matrix[:, :, n:] != 0):
        return False
    a = matrix[:, :n, :n]
    s = a / inv[:, None, :]
    scale = np.abs(s).max(axis=(1, 2), keepdims=True)
    return bool(np.all(np.abs(s - np.swapaxes(s, 1, 2)) <= tol * np.maximum(scale, 1e-300)))


@nb.njit(cache=True)
def jacobi_eigh(a: np.ndarray, lam: np.ndarray, v: np.ndarray) -> None:
    """Eigen-decomposition of the symmetric ``a`` (overwritten) by cyclic Jacobi: ``a = v diag(lam) v^T``."""
    n = a.shape[0]
    for i in range(n):
        for j in range(n):
            v[i, j] = 1.0 if i == j else 0.0
    for _sweep in range(60):
        off = 0.0
        diag = 0.0
        for i in range(n):
            diag += a[i, i] * a[i, i]
            for j in range(i + 1, n):
                off += a[i, j] * a[i, j]
        if off <= 1e-34 * diag or off == 0.0:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = a[p, q]
                if apq == 0.0:
                    continue
                theta = (a[q, q] - a[p, p]) / (2.0 * apq)
                t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                if theta < 0.0:
                    t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):
                    akp = a[k, p]
                    akq = a[k, q]
                    a[k, p] = c * akp - s * akq
                    a[k, q] = s * akp + c * akq
                for k in range(n):
                    apk = a[p, k]
                    aqk = a[q, k]
                    a[p, k] = c * apk - s * aqk
                    a[q, k] = s * apk + c * aqk
                for k in range(n):
                    vkp = v[k, p]
                    vkq = v[k, q]
                    v[k, p] = c * vkp - s * vkq
                    v[k, q] = s * vkp + c * vkq
    for i in range(n):
        lam[i] = a[i, i]


@nb.njit(cache=True, inline="always")
def _phi1h(lam: float, h: float) -> float:
    """h * (e^(lam h) - 1) / (lam h), exact for lam -> 0."""
    z = lam * h
    if abs(z) < 1e-10:
        return h * (1.0 + 0.5 * z)
    return math.expm1(z) / lam


@nb.njit(cache=True, inline="always")
def _phi2h2(lam: float, h: float) -> float:
    """h^2 * (e^z - 1 - z) / z^2 with z = lam h (series for small |z|)."""
    z = lam * h
    if abs(z) < 1e-3:
        return h * h * (0.5 + z * (1.0 / 6.0 + z * (1.0 / 24.0 + z * (1.0 / 120.0 + z / 720.0))))
    return h * h * (math.expm1(z) - z) / (z * z)


@nb.njit(parallel=True, cache=True)
def linear_segment(
    amat: np.ndarray,  # (N, size, size) assembled matrices
    b: np.ndarray,  # (N, size) constant inputs
    inv: np.ndarray,  # (N, n) 1 / (V kp)
    x: np.ndarray,  # (N, size) state at t0, overwritten with the state at t1
    t0: float,
    t1: float,
    tg: np.ndarray,  # (K,) output times in (t0, t1]
    cmax: np.ndarray,  # (N, n) running maximum concentration (updated)
    tmax: np.ndarray,  # (N, n)
    curves: np.ndarray,  # (N, R, T) concentrations on the whole grid, written at [:, :, j0 + j]
    out_idx: np.ndarray,  # (R,) compartment of each curve row
    j0: int,
    write: bool,
) -> None:
    npat = x.shape[0]
    n = inv.shape[1]
    size = x.shape[1]
    kk = tg.size
    h_seg = t1 - t0
    nr = out_idx.size
    for p in nb.prange(npat):
        sq = np.empty(n)
        for i in range(n):
            sq[i] = math.sqrt(inv[p, i])
        a = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                a[i, j] = 0.5 * (amat[p, i, j] * sq[i] / sq[j] + amat[p, j, i] * sq[j] / sq[i])
        lam = np.empty(n)
        u = np.empty((n, n))
        jacobi_eigh(a, lam, u)
        w0 = np.zeros(n)
        beta = np.zeros(n)
        for k in range(n):
            for i in range(n):
                w0[k] += u[i, k] * sq[i] * x[p, i]
                beta[k] += u[i, k] * sq[i] * b[p, i]
        g = np.empty((n, n))  # concentration_i = sum_k g[i, k] w_k
        for i in range(n):
            for k in range(n):
                g[i, k] = sq[i] * u[i, k]
        # output grid: mode recurrence
        w = w0.copy()
        e = np.empty(n)
        f = np.empty(n)
        h_cached = -1.0
        t_prev = t0
        for j in range(kk):
            h = tg[j] - t_prev
            if h != h_cached:
                for k in range(n):
                    e[k] = math.exp(lam[k] * h)
                    f[k] = beta[k] * _phi1h(lam[k], h)
                h_cached = h
            for k in range(n):
                w[k] = e[k] * w[k] + f[k]
            for i in range(n):
                c = 0.0
                for k in range(n):
                    c += g[i, k] * w[k]
                if c > cmax[p, i]:
                    cmax[p, i] = c
                    tmax[p, i] = tg[j]
            if write:
                for r in range(nr):
                    i = out_idx[r]
                    c = 0.0
                    for k in range(n):
                        c += g[i, k] * w[k]
                    curves[p, r, j0 + j] = c
            t_prev = tg[j]
        # end of segment, directly from t0 (independent of the output grid)
        wend = np.empty(n)
        wint = np.empty(n)
        for k in range(n):
            wend[k] = math.exp(lam[k] * h_seg) * w0[k] + beta[k] * _phi1h(lam[k], h_seg)
            wint[k] = w0[k] * _phi1h(lam[k], h_seg) + beta[k] * _phi2h2(lam[k], h_seg)
        xint = np.zeros(n)
        for i in range(n):
            s_end = 0.0
            s_int = 0.0
            for k in range(n):
                s_end += u[i, k] * wend[k]
                s_int += u[i, k] * wint[k]
            x[p, i] = s_end / sq[i]
            xint[i] = s_int / sq[i]
        for r in range(n, size):
            acc = b[p, r] * h_seg
            for i in range(n):
                acc += amat[p, r, i] * xint[i]
            x[p, r] += acc
