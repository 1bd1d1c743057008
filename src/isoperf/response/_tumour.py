"""Tumour burden dynamics, vectorised over patients (a tumour-growth-inhibition structure in the spirit
of Claret et al. 2009: growth, drug-induced kill, resistance and regrowth).

State per patient (volumes in litres): sensitive viable ``S``, resistant viable ``R``, dead ``D``.
Between treatments viable cells grow exponentially at rate ``g = ln 2 / doubling time`` and dead
tissue is cleared first-order (``dead_cell_half_life``). A treatment with ln-kill ``L`` moves
``S (1 - exp(-L))`` and ``R (1 - exp(-rho L))`` into ``D`` (``rho`` = resistant kill ratio).
What imaging measures is ``S + R + D``; the liver fails when the viable volume ``S + R`` reaches the
lethal burden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LN2 = float(np.log(2.0))
_CAP = 1e6  # L


@dataclass
class TumourState:
    """Volumes (L) of sensitive, resistant and dead tumour for a batch of patients at time ``t``."""

    sensitive: np.ndarray
    resistant: np.ndarray
    dead: np.ndarray
    t: float = 0.0

    @classmethod
    def at_baseline(cls, volume: np.ndarray, resistant_fraction: np.ndarray) -> TumourState:
        v = np.asarray(volume, dtype=float)
        r = np.asarray(resistant_fraction, dtype=float)
        return cls(v * (1.0 - r), v * r, np.zeros_like(v))

    @property
    def viable(self) -> np.ndarray:
        return self.sensitive + self.resistant

    @property
    def measured(self) -> np.ndarray:
        return self.sensitive + self.resistant + self.dead

    def advance(self, t: float, growth_rate: np.ndarray, clearance_rate: float) -> None:
        """Grow viable cells and clear dead tissue from ``self.t`` to ``t`` (rates per time unit)."""
        dt = t - self.t
        if dt < 0:
            raise ValueError("time runs forward only")
        f = np.exp(np.minimum(growth_rate * dt, 200.0))
        # capped far above any lethal burden (the patient has died long before): avoids overflow
        self.sensitive = np.minimum(self.sensitive * f, _CAP)
        self.resistant = np.minimum(self.resistant * f, _CAP)
        self.dead = self.dead * np.exp(-clearance_rate * dt)
        self.t = t

    def kill(self, log_kill: np.ndarray, resistant_ratio: float, mask: np.ndarray | None = None) -> None:
        """Apply ln-kill ``log_kill`` (sensitive) and ``resistant_ratio * log_kill`` (resistant)."""
        lk = np.asarray(log_kill, dtype=float)
        if mask is not None:
            lk = np.where(mask, lk, 0.0)
        ks = self.sensitive * -np.expm1(-lk)
        kr = self.resistant * -np.expm1(-resistant_ratio * lk)
        self.sensitive = self.sensitive - ks
        self.resistant = self.resistant - kr
        self.dead = self.dead + ks + kr


def crossing_time(v0: np.ndarray, threshold: np.ndarray, growth_rate: np.ndarray, t0: float,
                  t1: float) -> np.ndarray:
    """Time in ``[t0, t1]`` at which ``v0 * exp(g (t - t0))`` reaches ``threshold``; ``inf`` if it does not."""
    v0 = np.asarray(v0, dtype=float)
    with np.errstate(divide="ignore"):
        t = t0 + np.log(threshold / np.maximum(v0, 1e-300)) / growth_rate
    t = np.where(v0 >= threshold, t0, t)
    return np.where(t <= t1, t, np.inf)


def sum_of_diameters(volume_l: np.ndarray, lesions: float, detection_mm: float) -> np.ndarray:
    """RECIST sum of longest diameters (mm) of ``lesions`` equal spheres holding ``volume_l`` litres.

    A lesion smaller than ``detection_mm`` is counted as disappeared (0 mm).
    """
    v_mm3 = np.maximum(np.asarray(volume_l, dtype=float), 0.0) * 1e6 / lesions
    d = np.cbrt(6.0 * v_mm3 / np.pi)
    return lesions * np.where(d < detection_mm, 0.0, d)
