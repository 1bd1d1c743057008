"""Exact solution of a linear segment ``x' = M x + b``.

State layout: compartment amounts ``A`` (first n entries), then linear functionals of them (sinks,
counters, AUCs, dose given), which never feed back. So ``A' = K A + u`` and ``R' = W A + c``, and

    A(t)   = exp(Kt) A0 + t phi1(Kt) u
    int A  = t phi1(Kt) A0 + t^2 phi2(Kt) u
    R(t)   = R0 + W int A + c t

with ``phi1(z) = (e^z - 1)/z`` and ``phi2(z) = (e^z - 1 - z)/z^2``. The AUCs are exact integrals.

Two evaluations of the same formulas: an eigen-decomposition of K (fast, vectorised over the whole
output grid) when K is well conditioned, and otherwise the matrix exponential of the augmented matrix
(Van Loan's block form), which always works. Tests check the two against each other.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import expm

from isoperf.model import Assembled

#: eigenvector condition number (1-norm) above which the eigen path is not trusted
MAX_CONDITION = 1e6


#: Taylor coefficients of phi2(z) = sum_k z^k / (k + 2)!, k = 0..8 (for |z| < 0.1 the next term is < 3e-17)
_PHI2_SERIES = tuple(1.0 / math.factorial(k + 2) for k in range(9))


def _phis(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``e^z``, ``phi1(z)`` and ``phi2(z)`` elementwise, from one ``expm1``.

    ``phi1 = expm1(z)/z`` is accurate to rounding for every ``z != 0`` (expm1 does not cancel); ``phi2 = (expm1(z)
    - z)/z^2`` cancels for small ``z`` and is taken from its series (Horner) where ``|z| < 0.1``."""
    em1 = np.expm1(z)
    zero = z == 0.0
    zs = np.where(zero, 1.0, z)
    p1 = em1 / zs
    p1[zero] = 1.0
    p2 = (em1 - zs) / (zs * zs)
    small = np.abs(z) < 0.1
    if small.any():
        s = z[small]
        acc = np.full_like(s, _PHI2_SERIES[-1])
        for c in _PHI2_SERIES[-2::-1]:
            acc *= s
            acc += c
        p2[small] = acc
    return np.exp(z), p1, p2


class _Eigen:
    def __init__(self, k: np.ndarray) -> None:
        lam, v = np.linalg.eig(k)
        self.ok = bool(np.all(np.isfinite(lam)))
        if self.ok:
            try:
                vinv = np.linalg.inv(v)
            except np.linalg.LinAlgError:  # (defective: no basis of eigenvectors)
                self.ok = False
            else:
                # the 1-norm condition number of the eigenvectors, from the inverse needed anyway (an SVD for the
                # 2-norm one cost as much as the eigen-decomposition; the two differ by at most a factor n)
                cond = np.abs(v).sum(axis=0).max() * np.abs(vinv).sum(axis=0).max()
                self.ok = bool(np.isfinite(cond) and cond < MAX_CONDITION)
                self.lam, self.v, self.vinv = lam, v, vinv

    def evaluate(self, a0: np.ndarray, u: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Amounts and their integrals at offsets ``dt`` (shape (T,)) from ``a0``: arrays (T, n)."""
        c0 = self.vinv @ a0
        cu = self.vinv @ u
        z = np.outer(dt, self.lam)
        t = dt[:, None]
        e, p1, p2 = _phis(z)
        p1 *= t
        amounts = (e * c0 + p1 * cu) @ self.v.T
        integrals = (p1 * c0 + (t * t) * p2 * cu) @ self.v.T
        if np.iscomplexobj(amounts):
            amounts, integrals = amounts.real, integrals.real
        return amounts, integrals


class LinearPropagator:
    """Propagates the full state of one linear segment (eigen fast path, expm fallback)."""

    def __init__(self, seg: Assembled, n: int) -> None:
        m = seg.matrix
        if np.any(m[:, n:]):
            raise ValueError("functional states must not feed back into the dynamics")
        self.n = n
        self.k = m[:n, :n]
        self.u = seg.inputs[:n]
        self.w = m[n:, :n]
        self.c = seg.inputs[n:]
        self._z = None
        self.eig = _Eigen(self.k)

    def states(self, x0: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """Full states at offsets ``dt`` from ``x0``; shape (T, size)."""
        dt = np.asarray(dt, dtype=float)
        if self.eig.ok:
            a, ia = self.eig.evaluate(x0[: self.n], self.u, dt)
        else:
            a, ia = self._expm(x0[: self.n], dt)
        r = x0[self.n:] + ia @ self.w.T + np.outer(dt, self.c)
        return np.hstack([a, r])

    def _expm(self, a0: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        if self._z is None:
            # Van Loan block matrix on [A; int A; 1]
            z = np.zeros((2 * n + 1, 2 * n + 1))
            z[:n, :n] = self.k
            z[:n, 2 * n] = self.u
            z[n:2 * n, :n] = np.eye(n)
            self._z = z
        y0 = np.concatenate([a0, np.zeros(n), [1.0]])
        out = np.array([expm(self._z * h) @ y0 if h else y0 for h in dt])
        return out[:, :n], out[:, n:2 * n]


def solve_linear(seg: Assembled, x0: np.ndarray, t0: float, t1: float, t_out: np.ndarray,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
    """States at ``t_out`` (inside ``(t0, t1]``) and at ``t1``, all from ``x0`` directly.

    Every point is computed from the segment's start, so no error accumulates along the grid and the
    end state does not depend on the output grid.
    """
    prop = LinearPropagator(seg, n)
    dt = np.concatenate([np.asarray(t_out, dtype=float) - t0, [t1 - t0]])
    xs = prop.states(x0, dt)
    return xs[:-1], xs[-1]
