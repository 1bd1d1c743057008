"""The result of a simulation: tidy time series, per-drug metrics, the fate of the dose, mass balance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from isoperf.model import SINK_FATE
from isoperf.procedures import Plan
from isoperf.solve import Trajectory

REPORTED = ("circuit", "liver", "tumour", "systemic")
DISCLAIMER = "isoperf is research software, not a medical device, and gives no clinical advice."


def _concentrations(traj: Trajectory, states: np.ndarray) -> np.ndarray:
    inv = np.array([1.0 / (c.volume * c.kp) for c in traj.model.compartments])
    return states[:, : traj.layout.n] * inv


@dataclass
class DrugMetrics:
    drug: str
    dose: float
    auc: dict[str, float]
    cmax: dict[str, float]
    tmax: dict[str, float]
    fate: dict[str, float]
    mass_balance_error: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "dose": self.dose,
            "auc": self.auc,
            "cmax": self.cmax,
            "tmax": self.tmax,
            "fate": self.fate,
            "mass_balance_error": self.mass_balance_error,
        }


def drug_metrics(traj: Trajectory) -> DrugMetrics:
    lay, x = traj.layout, traj.final
    names = traj.model.names
    auc = {c: float(x[lay.auc[c]]) for c in names}
    conc = _concentrations(traj, traj.states)
    times = traj.times
    if traj.post_event.size:
        conc = np.vstack([conc, _concentrations(traj, traj.post_event)])
        times = np.concatenate([times, traj.event_times[: len(traj.post_event)]])
    k = conc.argmax(axis=0)
    cmax = {c: float(conc[k[i], i]) for i, c in enumerate(names)}
    tmax = {c: float(times[k[i]]) for i, c in enumerate(names)}
    fate: dict[str, float] = {"leaked": float(x[lay.counter["leak"]])}
    for part in ("washout", "eliminated", "filtered"):
        fate[part] = float(sum(x[lay.sink[s]] for s, p in SINK_FATE.items() if p == part and s in lay.sink))
    fate["remaining"] = float(x[: lay.n].sum())
    for s in lay.sink:
        fate[s] = float(x[lay.sink[s]])
    fate["remaining_by_compartment"] = {c: float(x[lay.comp[c]]) for c in names}  # type: ignore[assignment]
    return DrugMetrics(traj.model.drug, float(x[lay.dosed]), auc, cmax, tmax, fate, traj.mass_balance_error)


@dataclass
class Result:
    """What :func:`isoperf.simulate` returns."""

    plan: Plan
    trajectories: dict[str, Trajectory]
    flags: list[str] = field(default_factory=list)

    @cached_property
    def metrics(self) -> dict[str, DrugMetrics]:
        return {d: drug_metrics(t) for d, t in self.trajectories.items()}

    @property
    def drugs(self) -> list[str]:
        return list(self.trajectories)

    def timeseries(self) -> pd.DataFrame:
        """Tidy curves: one row per (time, drug, compartment) with amount (mg) and concentration (mg/L)."""
        frames = []
        for drug, tr in self.trajectories.items():
            conc = _concentrations(tr, tr.states)
            amt = tr.states[:, : tr.layout.n]
            for i, c in enumerate(tr.model.names):
                frames.append(pd.DataFrame({"time_min": tr.times, "drug": drug, "compartment": c,
                                            "amount_mg": amt[:, i], "concentration_mg_L": conc[:, i]}))
        return pd.concat(frames, ignore_index=True)

    def phases(self) -> list[tuple[str, float, float]]:
        first = next(iter(self.trajectories.values()))
        return list(first.model.phases)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON layout (see README, 'JSON output')."""
        out: dict[str, Any] = {"isoperf_json": 1, "protocol": self.plan.protocol.name, "disclaimer": DISCLAIMER,
                               "drugs": {}, "flags": self.flags,
                               "patient": self.plan.patient.summary(),
                               "procedures": [p.summary() for p in self.plan.procedures],
                               "phases": [{"phase": p, "start_min": a, "end_min": b} for p, a, b in self.phases()]}
        for d, m in self.metrics.items():
            entry = m.to_dict()
            keys = (*REPORTED, "peripheral", *self.trajectories[d].model.meta.get("extra_compartments", ()))
            entry["auc"] = {c: entry["auc"][c] for c in keys}
            entry["cmax"] = {c: entry["cmax"][c] for c in keys}
            entry["tmax"] = {c: entry["tmax"][c] for c in keys}
            entry["solver"] = self.trajectories[d].solver
            out["drugs"][d] = entry
        # per-procedure and cumulative metrics of treatment sequences (the README (Regional delivery compared))
        from isoperf.analysis import sequence_summary

        out.update(sequence_summary(self))
        return out

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for d, m in self.metrics.items():
            for c in REPORTED:
                rows.append({"drug": d, "compartment": c, "AUC (mg*min/L)": m.auc[c], "Cmax (mg/L)": m.cmax[c],
                             "Tmax (min)": m.tmax[c]})
        return pd.DataFrame(rows)

    @property
    def fate_table(self) -> pd.DataFrame:
        rows = []
        for d, m in self.metrics.items():
            rows.append({"drug": d, "dose (mg)": m.dose, **{f"{k} (mg)": v for k, v in m.fate.items()
                         if k in ("leaked", "washout", "eliminated", "filtered", "remaining")},
                         "mass balance error": m.mass_balance_error})
        return pd.DataFrame(rows)

    def print_summary(self) -> None:
        from isoperf.report import print_result

        print_result(self)
