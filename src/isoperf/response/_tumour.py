"""Tumour burden dynamics, vectorised over patients (a tumour-growth-inhibition structure in the spirit
of Claret et al. 2009: growth, drug-induced kill, resistance and regrowth).

State per patient (volumes in litres): sensitive viable ``S``, resistant viable ``R``, dead ``D``.
Between treatments the viable volume ``V = S + R`` grows by Gompertz's law
``dV/dt = beta V ln(K / V)`` (growth slows as the liver fills; the growth rate of colorectal liver
metastases was found reduced at larger hepatic replacement, see the data file), both populations by the same factor,
and dead tissue is cleared first-order (``dead_cell_half_life``). ``beta`` is set from the doubling
time at a reference volume: ``beta = ln 2 / (DT ln(K / V_ref))``. A treatment with ln-kill ``L`` moves
``S (1 - exp(-L))`` and ``R (1 - exp(-rho L))`` into ``D`` (``rho`` = resistant kill ratio).
What imaging measures is ``S + R + D``; the liver fails when the viable volume ``S + R`` reaches the
lethal burden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LN2 = float(np.log(2.0))
_TINY = 1e-300  # L: a volume that counts as none


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

    def advance(self, t: float, beta: np.ndarray, capacity: np.ndarray, clearance_rate: float) -> None:
        """Gompertz growth of viable cells and first-order clearance of dead tissue from ``self.t`` to ``t``."""
        dt = t - self.t
        if dt < 0:
            raise ValueError("time runs forward only")
        v = np.maximum(self.viable, _TINY)
        v_new = capacity * np.exp(np.log(v / capacity) * np.exp(-beta * dt))
        f = v_new / v
        self.sensitive = self.sensitive * f
        self.resistant = self.resistant * f
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


def gompertz_rate(doubling_time: np.ndarray, capacity: np.ndarray, reference_volume: np.ndarray) -> np.ndarray:
    """``beta`` such that a tumour of ``reference_volume`` doubles (instantaneously) in ``doubling_time``."""
    return LN2 / (np.asarray(doubling_time) * np.log(np.asarray(capacity) / np.asarray(reference_volume)))


def crossing_time(v0: np.ndarray, threshold: np.ndarray, beta: np.ndarray, capacity: np.ndarray, t0: float,
                  t1: float) -> np.ndarray:
    """Time in ``[t0, t1]`` at which Gompertz growth from ``v0`` reaches ``threshold`` (< capacity);
    ``inf`` if it does not."""
    v0 = np.maximum(np.asarray(v0, dtype=float), _TINY)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(v0 / capacity) / np.log(threshold / capacity)   # > 1 while v0 < threshold
        t = t0 + np.log(ratio) / beta
    t = np.where(v0 >= threshold, t0, t)
    t = np.where(threshold >= capacity, np.inf, t)
    return np.where(t <= t1, t, np.inf)


def sum_of_diameters(volume_l: np.ndarray, lesions: float, detection_mm: float) -> np.ndarray:
    """RECIST sum of longest diameters (mm) of ``lesions`` equal spheres holding ``volume_l`` litres.

    A lesion smaller than ``detection_mm`` is counted as disappeared (0 mm).
    """
    v_mm3 = np.maximum(np.asarray(volume_l, dtype=float), 0.0) * 1e6 / lesions
    d = np.cbrt(6.0 * v_mm3 / np.pi)
    return lesions * np.where(d < detection_mm, 0.0, d)
