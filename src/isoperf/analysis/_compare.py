"""Compare protocols for the same patient: per drug, tumour, liver and systemic exposure and the regional
advantage of each protocol over the first one.

``regional advantage = (AUC_target / AUC_systemic) / (AUC_target / AUC_systemic of the first protocol)`` where the
target is the tumour (liver-directed and systemic protocols) or the limb (limb perfusion). For a linear drug it
does not depend on the dose, so protocols with different doses compare fairly.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from isoperf._errors import InputError
from isoperf._simulate import simulate
from isoperf.inputs import ProtocolSpec, load_protocol
from isoperf.result import DISCLAIMER, Result

_COMPARE_KEYS = {"name", "description", "patient", "drugs", "protocols", "output"}


@dataclass
class Comparison:
    """What :func:`compare` returns: one row per (protocol, drug) and the simulated results."""

    rows: list[dict[str, Any]]
    results: list[Result]
    patient: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        cols = {"protocol": "protocol", "drug": "drug", "dose_mg": "dose (mg)", "auc_tumour": "tumour AUC",
                "auc_liver": "liver AUC", "auc_systemic": "systemic AUC", "cmax_systemic": "systemic Cmax",
                "tumour_to_systemic": "tumour/systemic", "regional_advantage": "regional advantage"}
        df = pd.DataFrame(self.rows)
        out = df[list(cols)].rename(columns=cols)
        if any(r["target"] != "tumour" for r in self.rows):
            out.insert(len(out.columns) - 1, "target", df["target"])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"isoperf_compare_json": 1, "disclaimer": DISCLAIMER, "units": {
            "auc": "mg*min/L", "cmax": "mg/L", "dose": "mg"}, "patient": self.patient, "notes": self.notes,
            "protocols": [{"name": r.plan.protocol.name, "procedures": [p.kind for p in r.plan.procedures],
                           "flags": r.flags} for r in self.results],
            "rows": self.rows}


def _target(result: Result) -> str:
    kinds = {p.kind for p in result.plan.procedures}
    return "limb" if kinds == {"limb"} else "tumour"


def _rows(results: list[Result]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    first: dict[str, float] = {}
    for k, res in enumerate(results):
        target = _target(res)
        for drug, m in res.metrics.items():
            sys_auc = m.auc["systemic"]
            ratio = m.auc["tumour"] / sys_auc if sys_auc > 0 else float("nan")
            t_ratio = m.auc[target] / sys_auc if sys_auc > 0 else float("nan")
            if k == 0:
                first[drug] = t_ratio
            rows.append({
                "protocol": res.plan.protocol.name, "drug": drug, "dose_mg": m.dose,
                "auc_tumour": m.auc["tumour"], "auc_liver": m.auc["liver"], "auc_systemic": sys_auc,
                "cmax_systemic": m.cmax["systemic"], "tumour_to_systemic": ratio, "target": target,
                "auc_target": m.auc[target], "target_to_systemic": t_ratio,
                "regional_advantage": t_ratio / first[drug] if drug in first else None,
                "mass_balance_error": m.mass_balance_error,
                "filtered_mg": m.fate["filtered"], "leaked_mg": m.fate["leaked"], "washout_mg": m.fate["washout"],
                "flags": [f for f in res.flags if drug in f],
            })
    return rows


def load_comparison(path: str | Path) -> list[ProtocolSpec]:
    """A comparison file: shared ``[patient]`` / ``[drugs]`` / ``[output]`` and a list of ``[[protocols]]``."""
    p = Path(path)
    if not p.exists():
        raise InputError("compare", f"file {str(p)!r} not found", "give the path of a .toml file")
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError("compare", f"{str(p)!r} is not valid TOML ({exc})", "check the line it names") from None
    return comparison_from_dict(raw)


def comparison_from_dict(raw: dict[str, Any]) -> list[ProtocolSpec]:
    unknown = set(raw) - _COMPARE_KEYS
    if unknown:
        raise InputError(f"compare.{sorted(unknown)[0]}", "unknown key", f"allowed keys: {', '.join(sorted(_COMPARE_KEYS))}")
    protos = raw.get("protocols")
    if not isinstance(protos, list) or len(protos) < 1:
        raise InputError("compare.protocols", "is missing", "add [[protocols]] tables, one per protocol")
    out = []
    for i, pr in enumerate(protos):
        if "patient" in pr:
            raise InputError(f"protocols[{i}].patient", "a comparison has one patient",
                             "give [patient] once at the top of the file")
        merged = {**pr, "patient": raw.get("patient", {}),
                  "drugs": {**raw.get("drugs", {}), **pr.get("drugs", {})}}
        if "output" not in pr and "output" in raw:
            merged["output"] = raw["output"]
        try:
            out.append(load_protocol(merged))
        except InputError as exc:
            raise InputError(f"protocols[{i}].{exc.field}", exc.problem, exc.hint) from None
    return out


def _expand(sources: list[Any]) -> list[ProtocolSpec]:
    specs: list[ProtocolSpec] = []
    for s in sources:
        if isinstance(s, str | Path) and Path(s).suffix == ".toml" and Path(s).exists():
            raw = tomllib.loads(Path(s).read_text("utf-8"))
            if "protocols" in raw:
                specs.extend(comparison_from_dict(raw))
                continue
        specs.append(load_protocol(s))
    return specs


def compare(protocols: list[Any], *, patient: dict[str, Any] | None = None) -> Comparison:
    """Simulate ``protocols`` (paths, TOML strings, dicts, specs or comparison files) for one patient.

    The patient is ``patient`` if given, else the first protocol's; a protocol that states a different
    patient is run with the common one, and the comparison notes it.
    """
    specs = _expand(list(protocols))
    if not specs:
        raise InputError("compare", "no protocol given", "give at least one protocol")
    common = patient if patient is not None else specs[0].patient.model_dump()
    notes: list[str] = []
    results = []
    names: set[str] = set()
    for s in specs:
        if s.patient.model_dump() != common:
            notes.append(f"{s.name}: its [patient] differs; it was run for the common patient")
        name = s.name
        while name in names:
            name += "'"
        names.add(name)
        spec = ProtocolSpec.model_validate({**s.model_dump(), "name": name, "patient": common})
        results.append(simulate(spec))
    return Comparison(rows=_rows(results), results=results, patient=results[0].plan.patient.summary(), notes=notes)


def plot_comparison(comp: Comparison, path: str | Path, *, drug: str | None = None) -> Path:
    """Systemic and target concentration curves of every protocol (log scale) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for res in comp.results:
        ts = res.timeseries()
        d = drug or res.drugs[0]
        for ax, comp_name in zip(axes, ("systemic", _target(res)), strict=True):
            sel = ts[(ts.drug == d) & (ts.compartment == comp_name) & (ts.concentration_mg_L > 0)]
            ax.plot(sel.time_min, sel.concentration_mg_L, label=f"{res.plan.protocol.name} ({d})")
    axes[0].set_title("systemic")
    axes[1].set_title("target (tumour or limb)")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("time (min)")
        ax.set_ylabel("concentration (mg/L)")
    axes[1].legend(fontsize=7)
    fig.suptitle(DISCLAIMER, fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
