"""Tumour exposure (AUC per drug) of a procedure as a function of dose and tumour fraction, by the real engine.

A virtual trial needs the tumour AUC of every drug for thousands of patients. The PK engine is run once
per point of a (dose x tumour fraction) grid for a typical patient and the AUC is interpolated:

- drugs do not interact in the PK model, so one simulation with every drug at its j-th grid dose gives
  each drug's AUC at that dose;
- for linear drugs (mitomycin C, cisplatin, melphalan) the AUC is proportional to dose, so linear
  interpolation in dose is exact; for 5-FU (saturable elimination) it is a monotone cubic (PCHIP)
  interpolation on the grid, whose error is measured by :func:`interpolation_error` and reported in
  the README (virtual trials);
- between tumour fractions the AUC is interpolated linearly.

- the patient's body surface area (which sets liver volume and hepatic blood flow, and the systemic
  volumes) is a third axis, interpolated linearly.

Between-patient variability of PK parameters beyond body size and tumour burden is not propagated; the
between-patient variability of the response is in the sensitivity.
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


def _batched_tumour_auc(protocols: list[dict[str, Any]]) -> list[dict[str, float]] | None:
    """Tumour AUCs of all grid points in one batched solve (the population path), or None when the grid
    points do not share one model structure. Equal to per-point ``isoperf.simulate`` to 1e-8 (tested)."""
    from isoperf.inputs import load_protocol
    from isoperf.model import StateLayout
    from isoperf.population._batch import BranchDivergence, stack_models
    from isoperf.population._run import solve_drug
    from isoperf.procedures import build_plan

    plans = [build_plan(load_protocol(p)) for p in protocols]
    grid = plans[0].grid
    if any(len(p.grid) != len(grid) or not np.array_equal(p.grid, grid) for p in plans):
        return None
    out: list[dict[str, float]] = [{} for _ in plans]
    for drug in plans[0].models:
        try:
            stacked = stack_models([p.models[drug] for p in plans])
        except BranchDivergence:
            return None
        auc = solve_drug(stacked, grid, len(plans)).final[:, StateLayout(plans[0].models[drug]).auc["tumour"]]
        for k, a in enumerate(auc):
            out[k][drug] = float(a)
    return out


def _bilinear_weights(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and weight of the upper node for linear interpolation (clamped to the grid)."""
    if len(grid) == 1:
        return np.zeros(x.shape, dtype=int), np.zeros(x.shape)
    xc = np.clip(x, grid[0], grid[-1])
    idx = np.clip(np.searchsorted(grid, xc) - 1, 0, len(grid) - 2)
    return idx, (xc - grid[idx]) / (grid[idx + 1] - grid[idx])


@dataclass(frozen=True)
class ExposureTable:
    """Tumour AUC (mg*min/L) per drug on a (dose x tumour fraction x body surface area) grid."""

    drugs: tuple[str, ...]
    doses: dict[str, np.ndarray]          # drug -> dose grid (mg), shared index j
    tumour_fractions: np.ndarray
    bsa: np.ndarray                       # m2 (Mosteller)
    auc: dict[str, np.ndarray]            # drug -> (n_doses, n_fractions, n_bsa)

    def __call__(self, drug: str, dose: np.ndarray, tumour_fraction: np.ndarray,
                 bsa: np.ndarray | float | None = None) -> np.ndarray:
        """Interpolated tumour AUC of ``drug`` at ``dose`` (mg), ``tumour_fraction`` and ``bsa`` (m2)."""
        dose = np.asarray(dose, dtype=float)
        shape = np.broadcast(dose, np.asarray(tumour_fraction), np.asarray(1.0 if bsa is None else bsa)).shape
        dose = np.broadcast_to(dose, shape)
        tf = np.broadcast_to(np.asarray(tumour_fraction, dtype=float), shape)
        b = np.broadcast_to(np.asarray(self.bsa[len(self.bsa) // 2] if bsa is None else bsa, dtype=float), shape)
        grid, table = self.doses[drug], self.auc[drug]
        it, wt = _bilinear_weights(self.tumour_fractions, tf)
        ib, wb = _bilinear_weights(self.bsa, b)
        out = np.zeros(shape)
        for dk, wk in ((0, 1.0 - wt), (1, wt)):
            for dm, wm in ((0, 1.0 - wb), (1, wb)):
                k = np.minimum(it + dk, len(self.tumour_fractions) - 1)
                m = np.minimum(ib + dm, len(self.bsa) - 1)
                vals = np.empty(shape)
                for kk in np.unique(k):
                    for mm in np.unique(m):
                        sel = (k == kk) & (m == mm)
                        if not sel.any():
                            continue
                        col = table[:, kk, mm]
                        if len(grid) == 1:  # a fixed dose: proportional scaling (exact for linear drugs)
                            vals[sel] = col[0] / max(grid[0], 1e-300) * dose[sel]
                        else:
                            vals[sel] = PchipInterpolator(grid, col, extrapolate=True)(dose[sel])
                out += wk * wm * vals
        return out

    def to_json(self) -> str:
        return json.dumps({"drugs": self.drugs, "doses": {k: v.tolist() for k, v in self.doses.items()},
                           "tumour_fractions": self.tumour_fractions.tolist(), "bsa": self.bsa.tolist(),
                           "auc": {k: v.tolist() for k, v in self.auc.items()}})


def _grid_doses(doses: list[dict[str, Any]], points: int) -> dict[str, np.ndarray]:
    out = {}
    for d in doses:
        lo, hi = float(d["min_mg"]), float(d["max_mg"])
        out[d["drug"]] = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    return out


def patient_for_bsa(bsa: float, height_cm: float = 175.0) -> dict[str, str]:
    """A patient template of height ``height_cm`` whose Mosteller BSA is ``bsa`` m2."""
    return {"height": f"{height_cm:g} cm", "weight": f"{bsa * bsa * 3600.0 / height_cm!r} kg"}


def build_exposure_table(procedure: dict[str, Any], doses: list[dict[str, Any]], *, dose_points: int = 7,
                         tumour_fractions: list[float] | tuple[float, ...] = (0.05, 0.3, 0.6),
                         bsa: list[float] | tuple[float, ...] = (1.85,),
                         patient: dict[str, Any] | None = None, workers: int = 1) -> ExposureTable:
    """Run the engine on the grid. ``doses``: dicts with drug, min_mg, max_mg, at, over."""
    key = json.dumps({"p": procedure, "d": doses, "n": dose_points, "tf": list(tumour_fractions),
                      "bsa": list(bsa), "pat": patient or {}}, sort_keys=True)
    return _cached_table(key, workers)


@lru_cache(maxsize=32)
def _cached_table(key: str, workers: int) -> ExposureTable:
    spec = json.loads(key)
    procedure, doses, points, tfs, bsas, patient = (spec["p"], spec["d"], spec["n"], spec["tf"], spec["bsa"],
                                                     spec["pat"])
    grids = _grid_doses(doses, points)
    n = max(len(g) for g in grids.values())
    jobs = []
    for j in range(n):
        ds = [{"drug": d["drug"], "amount": f"{float(grids[d['drug']][min(j, len(grids[d['drug']]) - 1)])!r} mg",
               "at": d.get("at", "0 min"), "over": d.get("over", "0 min"), "allow_above_max": True} for d in doses]
        for tf in tfs:
            for b in bsas:
                jobs.append(_protocol(procedure, ds, {**patient, **patient_for_bsa(b)}, tf))
    results = _batched_tumour_auc(jobs)
    if results is None:  # grid points of different model structure: one engine run per point
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_tumour_auc, jobs))
        else:
            results = [_tumour_auc(p) for p in jobs]
    drugs = tuple(d["drug"] for d in doses)
    auc = {}
    for d in drugs:
        m = len(grids[d])
        arr = np.array([r[d] for r in results]).reshape(n, len(tfs), len(bsas))
        auc[d] = arr[:m]
    return ExposureTable(drugs, grids, np.asarray(tfs, dtype=float), np.asarray(bsas, dtype=float), auc)


def interpolation_error(table: ExposureTable, procedure: dict[str, Any], doses: list[dict[str, Any]],
                        drug: str, *, tumour_fraction: float, bsa: float = 1.85) -> dict[str, float]:
    """Relative error of the interpolated AUC of ``drug`` at the dose midpoints of the grid (engine = truth)."""
    grid = table.doses[drug]
    mids = 0.5 * (grid[1:] + grid[:-1])
    errs = []
    for dose in mids:
        ds = [{"drug": d["drug"], "amount": f"{float(dose if d['drug'] == drug else d['min_mg'])!r} mg",
               "at": d.get("at", "0 min"), "over": d.get("over", "0 min"), "allow_above_max": True} for d in doses]
        truth = _tumour_auc(_protocol(procedure, ds, patient_for_bsa(bsa), tumour_fraction))[drug]
        approx = float(table(drug, np.array(dose), np.array(tumour_fraction), np.array(bsa)))
        errs.append(abs(approx - truth) / truth)
    return {"max_relative_error": float(max(errs)), "mean_relative_error": float(np.mean(errs)),
            "points": len(errs)}
