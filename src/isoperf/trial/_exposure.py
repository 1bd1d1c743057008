"""Tumour exposure (AUC per drug) of a procedure as a function of dose and tumour fraction, by the real engine.

A virtual trial needs the tumour AUC of every drug for thousands of patients. The PK engine is run once
per point of a (dose x tumour fraction) grid for a typical patient and the AUC is interpolated:

- drugs do not interact in the PK model, so one simulation with every drug at its j-th grid dose gives
  each drug's AUC at that dose;
- for linear drugs (mitomycin C, cisplatin, melphalan) the AUC is proportional to dose, so linear
  interpolation in dose is exact; for 5-FU (saturable elimination) it is a monotone cubic (PCHIP)
  interpolation on the grid, whose error is measured by :func:`interpolation_error` and reported in
  ``docs/trial.md``;
- between tumour fractions the AUC is interpolated linearly.

Between-patient variability of body size is not propagated into the PK (its effect on the tumour AUC of
an isolated perfusion is small); between-patient variability of the response is in the sensitivity.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator

from isoperf._units import parse_quantity

_CLEARED_AFTER = 720.0  # min after the last dose ends: 5-FU, mitomycin C and cisplatin are cleared by then


def _protocol(procedure: dict[str, Any], doses: list[dict[str, Any]], patient: dict[str, Any],
              tumour_fraction: float) -> dict[str, Any]:
    proc = copy.deepcopy(procedure)
    proc["doses"] = doses
    pat = {"weight": "70 kg", "height": "175 cm", **patient, "tumour_fraction": str(tumour_fraction)}
    last = max((parse_quantity(d.get("at", "0 min"), "time", field="at")
                + parse_quantity(d.get("over", "0 min"), "time", field="over") for d in doses), default=0.0)
    end = max(last, parse_quantity(proc.get("duration", "0 min"), "time", field="duration"))
    until = f"{end + _CLEARED_AFTER:g} min"
    return {"name": "exposure grid point", "patient": pat, "procedures": [proc], "output": {"until": until, "step": "60 min"}}


def _tumour_auc(protocol: dict[str, Any]) -> dict[str, float]:
    import isoperf

    result = isoperf.simulate(protocol)
    return {name: float(m["auc"]["tumour"]) for name, m in result.to_dict()["drugs"].items()}


@dataclass(frozen=True)
class ExposureTable:
    """Tumour AUC (mg*min/L) per drug on a (dose x tumour fraction) grid, with interpolation."""

    drugs: tuple[str, ...]
    doses: dict[str, np.ndarray]          # drug -> dose grid (mg), shared index j
    tumour_fractions: np.ndarray
    auc: dict[str, np.ndarray]            # drug -> (n_doses, n_fractions)

    def __call__(self, drug: str, dose: np.ndarray, tumour_fraction: np.ndarray) -> np.ndarray:
        """Interpolated tumour AUC of ``drug`` at ``dose`` (mg) and ``tumour_fraction`` (arrays)."""
        dose = np.asarray(dose, dtype=float)
        tf = np.clip(np.asarray(tumour_fraction, dtype=float), self.tumour_fractions[0], self.tumour_fractions[-1])
        grid = self.doses[drug]
        table = self.auc[drug]
        if np.ptp(grid) == 0:  # a fixed dose: scale linearly (exact for linear drugs, documented otherwise)
            per_tf = table[0] / max(grid[0], 1e-300)
            col = np.stack([np.interp(tf, self.tumour_fractions, per_tf)], axis=0)[0]
            return col * dose
        cols = np.empty((len(self.tumour_fractions),) + dose.shape)
        for k in range(len(self.tumour_fractions)):
            cols[k] = PchipInterpolator(grid, table[:, k], extrapolate=True)(dose)
        # linear in tumour fraction
        idx = np.clip(np.searchsorted(self.tumour_fractions, tf) - 1, 0, len(self.tumour_fractions) - 2)
        f0, f1 = self.tumour_fractions[idx], self.tumour_fractions[idx + 1]
        w = (tf - f0) / (f1 - f0)
        lo = np.take_along_axis(cols, idx[None, ...], axis=0)[0] if dose.ndim else cols[idx]
        hi = np.take_along_axis(cols, (idx + 1)[None, ...], axis=0)[0] if dose.ndim else cols[idx + 1]
        return (1.0 - w) * lo + w * hi

    def to_json(self) -> str:
        return json.dumps({"drugs": self.drugs, "doses": {k: v.tolist() for k, v in self.doses.items()},
                           "tumour_fractions": self.tumour_fractions.tolist(),
                           "auc": {k: v.tolist() for k, v in self.auc.items()}})


def _grid_doses(doses: list[dict[str, Any]], points: int) -> dict[str, np.ndarray]:
    out = {}
    for d in doses:
        lo, hi = float(d["min_mg"]), float(d["max_mg"])
        out[d["drug"]] = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    return out


def build_exposure_table(procedure: dict[str, Any], doses: list[dict[str, Any]], *, dose_points: int = 9,
                         tumour_fractions: list[float] | tuple[float, ...] = (0.05, 0.15, 0.3, 0.5, 0.75),
                         patient: dict[str, Any] | None = None, workers: int = 1) -> ExposureTable:
    """Run the engine on the grid. ``doses``: dicts with drug, min_mg, max_mg, at, over."""
    key = json.dumps({"p": procedure, "d": doses, "n": dose_points, "tf": list(tumour_fractions),
                      "pat": patient or {}}, sort_keys=True)
    return _cached_table(key, workers)


@lru_cache(maxsize=32)
def _cached_table(key: str, workers: int) -> ExposureTable:
    spec = json.loads(key)
    procedure, doses, points, tfs, patient = spec["p"], spec["d"], spec["n"], spec["tf"], spec["pat"]
    grids = _grid_doses(doses, points)
    n = max(len(g) for g in grids.values())
    jobs = []
    for j in range(n):
        ds = [{"drug": d["drug"], "amount": f"{float(grids[d['drug']][min(j, len(grids[d['drug']]) - 1)])!r} mg",
               "at": d.get("at", "0 min"), "over": d.get("over", "0 min"), "allow_above_max": True} for d in doses]
        for tf in tfs:
            jobs.append(_protocol(procedure, ds, patient, tf))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_tumour_auc, jobs))
    else:
        results = [_tumour_auc(p) for p in jobs]
    drugs = tuple(d["drug"] for d in doses)
    auc = {}
    for d in drugs:
        m = len(grids[d])
        arr = np.array([r[d] for r in results]).reshape(n, len(tfs))
        auc[d] = arr[:m]
    return ExposureTable(drugs, grids, np.asarray(tfs, dtype=float), auc)


def interpolation_error(table: ExposureTable, procedure: dict[str, Any], doses: list[dict[str, Any]],
                        drug: str, *, tumour_fraction: float, patient: dict[str, Any] | None = None) -> dict[str, float]:
    """Relative error of the interpolated AUC of ``drug`` at the dose midpoints of the grid (engine = truth)."""
    grid = table.doses[drug]
    mids = 0.5 * (grid[1:] + grid[:-1])
    errs = []
    for dose in mids:
        ds = [{"drug": d["drug"], "amount": f"{float(dose if d['drug'] == drug else d['min_mg'])!r} mg",
               "at": d.get("at", "0 min"), "over": d.get("over", "0 min"), "allow_above_max": True} for d in doses]
        truth = _tumour_auc(_protocol(procedure, ds, patient or {}, tumour_fraction))[drug]
        approx = float(table(drug, np.array(dose), np.array(tumour_fraction)))
        errs.append(abs(approx - truth) / truth)
    return {"max_relative_error": float(max(errs)), "mean_relative_error": float(np.mean(errs)),
            "points": len(errs)}
