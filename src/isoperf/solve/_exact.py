"""Exact solution of a linear segment ``x' = M x + b`` with the matrix exponential.

The state is augmented with a constant 1 so that constant inputs and every integral (AUC, sinks,
counters) come out of one ``expm``: the AUCs are exact integrals, not quadrature on the output grid.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from isoperf.model import Assembled


class LinearPropagator:
    """Propagates the state of one linear segment over arbitrary time steps (expm cached per step)."""

    def __init__(self, seg: Assembled) -> None:
        n = seg.matrix.shape[0]
        z = np.zeros((n + 1, n + 1))
        z[:n, :n] = seg.matrix
        z[:n, n] = seg.inputs
        self._z = z
        self._cache: dict[float, np.ndarray] = {}

    def step(self, h: float) -> np.ndarray:
        key = round(h, 12)
        p = self._cache.get(key)
        if p is None:
            p = expm(self._z * h)
            self._cache[key] = p
        return p

    def advance(self, x: np.ndarray, h: float) -> np.ndarray:
        if h == 0:
            return x.copy()
        p = self.step(h)
        return p[:-1, :-1] @ x + p[:-1, -1]


def solve_linear(seg: Assembled, x0: np.ndarray, t0: float, t1: float, t_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States at ``t_out`` (inside ``(t0, t1]``) and at ``t1``.

    The end state is propagated directly from ``x0`` so that it does not depend on the output grid.
    """
    prop = LinearPropagator(seg)
    out = np.empty((len(t_out), x0.size))
    x, t = x0, t0
    for k, tk in enumerate(t_out):
        x = prop.advance(x, tk - t)
        t = tk
        out[k] = x
    x_end = prop.advance(x0, t1 - t0)
    return out, x_end
