"""Per-patient DrugModels for a whole batch at once, built by the engine's own (scalar) builder.

The builder (``Patient`` physiology, ``drug_pk``, the procedures' flows, ``_drug_model``) is run once with
numpy arrays in place of the per-patient numbers, so each number of the resulting DrugModel is an array over
the batch and is computed by exactly the code that builds a single patient. Arrays are
:class:`BatchArray`: a branch such as ``if x > 0`` is allowed when every patient takes the same side, and
raises :class:`BranchDivergence` otherwise; any scalar-only call (``math.sqrt``, ``float``) raises too. On
either, the batch is built patient by patient with plain floats and stacked (same result, slower).

How a sampled population is applied (documented in the README (Virtual populations)):

* covariates (weight, height, sex, age, tumour_fraction | tumour_volume) replace the protocol patient's
  values; derived physiology comes from :class:`isoperf.Patient` (overrides in the protocol are kept);
* IIV on a physiology value (``liver_volume``, ``tumour_volume``, ``hepatic_blood_flow``,
  ``arterial_fraction``, ``tumour_arterial_share``) multiplies the patient's derived value (as an override);
* IIV on a drug parameter (``central_volume``, ``hepatic_intrinsic_clearance``, ...) multiplies the
  resolved per-patient value in :class:`DrugPK` for every drug, or for one drug as ``"drug.parameter"``;
* IIV on a procedure setting (``hepatic_artery_flow``, ``portal_vein_flow``, ``leak``, ``circuit_volume``,
  ``washout_flow``; limb perfusion: ``perfusion_flow``, ``limb_blood_flow``, ``limb_volume``) multiplies it
  in every procedure that has it (``leak`` scales the whole leak profile);
* doses written per kg or per m2 are recomputed for each patient (``DoseEvent.amount_for``: the dose's own
  weight basis and cap).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from isoperf._errors import InputError
from isoperf.model import Bolus, DrugModel, Segment, Transfer
from isoperf.patient import Patient
from isoperf.population._sample import Sample
from isoperf.procedures import Plan
from isoperf.procedures._build import _drug_model
from isoperf.procedures._doses import _limit_mg
from isoperf.procedures._pk import drug_pk

#: IIV target -> DrugPK field
PK_TARGETS = {
    "central_volume": "v_central",
    "peripheral_volume": "v_peripheral",
    "intercompartmental_clearance": "q_peripheral",
    "hepatic_intrinsic_clearance": "cl_hepatic_int",
    "hepatic_vmax": "vmax_hepatic",
    "hepatic_km": "km_hepatic",
    "extrahepatic_clearance": "cl_extrahepatic",
    "extrahepatic_vmax": "vmax_extrahepatic",
    "extrahepatic_km": "km_extrahepatic",
    "kp_liver": "kp_liver",
    "kp_tumour": "kp_tumour",
}
#: IIV target -> Patient property whose value becomes an override
PATIENT_TARGETS = {
    "liver_volume": "liver_volume",
    "tumour_volume": "tumour_volume_l",
    "hepatic_blood_flow": "hepatic_blood_flow",
    "arterial_fraction": "arterial_fraction",
    "tumour_arterial_share": "tumour_arterial_share",
}
#: IIV target -> procedure attribute
PROCEDURE_TARGETS = ("hepatic_artery_flow", "portal_vein_flow", "leak", "circuit_volume", "washout_flow",
                     "perfusion_flow", "limb_blood_flow", "limb_volume")
#: the Patient values the builder reads (copied into a PatientBatch)
_PATIENT_VALUES = ("weight", "height", "age", "bsa", "bsa_mosteller", "bsa_dubois", "ideal_body_weight",
                   "adjusted_body_weight", "standard_liver_volume", "tumour_volume_l", "liver_volume",
                   "hepatic_blood_flow", "arterial_fraction", "hepatic_arterial_flow", "portal_flow",
                   "tumour_arterial_share", "tumour_blood_flow")


class BranchDivergence(Exception):
    """Patients of a batch would take different branches of the model builder."""


class BatchArray(np.ndarray):
    """An array of per-patient values that may be used in an ``if`` only when all patients agree."""

    def __bool__(self) -> bool:
        a = np.asarray(self)
        if a.all():
            return True
        if not a.any():
            return False
        raise BranchDivergence("patients of the batch take different branches")

    def __float__(self) -> float:
        raise TypeError("a batch of values is not one float")


def _batch(values: Any) -> BatchArray:
    return np.asarray(values, dtype=float).view(BatchArray)


def all_targets(drug_names: list[str]) -> list[str]:
    return [*PK_TARGETS, *PATIENT_TARGETS, *PROCEDURE_TARGETS,
            *(f"{d}.{p}" for d in drug_names for p in PK_TARGETS)]


def check_targets(names: list[str], drug_names: list[str]) -> None:
    allowed = all_targets(drug_names)
    for n in names:
        if n not in allowed:
            import difflib

            close = difflib.get_close_matches(n, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed[:20]) + ", ..."
            raise InputError(f"population.iiv.{n}", "is not a parameter isoperf can vary", hint)


@dataclass
class PatientBatch:
    """Duck-typed stand-in for :class:`Patient` whose values are arrays over a batch."""

    sex: np.ndarray
    bsa_formula: str
    values: dict[str, np.ndarray]

    def __getattr__(self, name: str) -> Any:
        vals = self.__dict__.get("values", {})
        if name in vals:
            return vals[name]
        raise AttributeError(name)


def _patients(plan: Plan, sample: Sample) -> list[Patient]:
    base = plan.patient
    cov = sample.covariates
    pat_iiv = {k: v for k, v in sample.factors.items() if k in PATIENT_TARGETS}
    out = []
    for i in range(len(sample)):
        kw: dict[str, Any] = {}
        for name in ("weight", "height", "age"):
            if name in cov:
                kw[name] = float(cov[name][i])
        if "sex" in cov:
            kw["sex"] = str(cov["sex"][i])
        if "tumour_fraction" in cov:
            kw["tumour_fraction"], kw["tumour_volume"] = float(cov["tumour_fraction"][i]), None
        if "tumour_volume" in cov:
            kw["tumour_volume"], kw["tumour_fraction"] = float(cov["tumour_volume"][i]), None
        p = dataclasses.replace(base, **kw) if kw else base
        if pat_iiv:
            ov = dict(p.overrides)
            for name, f in pat_iiv.items():  # in the order given; each one on the values before any IIV
                ov[name] = getattr(p, PATIENT_TARGETS[name]) * float(f[i])
            p = dataclasses.replace(p, overrides=ov)
        out.append(p)
    return out


def patient_batch(patients: list[Patient]) -> PatientBatch:
    vals = {k: _batch([getattr(p, k) for p in patients]) for k in _PATIENT_VALUES}
    return PatientBatch(np.array([p.sex for p in patients]), patients[0].bsa_formula, vals)


def _procedures(plan: Plan, patient: Any, factors: dict[str, Any], per_patient_dose: bool) -> list[Any]:
    procs = []
    for proc in plan.procedures:
        changes: dict[str, Any] = {}
        if per_patient_dose:  # the dose's own rule (weight basis, cap) on this patient's body size
            changes["doses"] = [dataclasses.replace(d, amount=d.amount_for(patient)) for d in proc.doses]
        for name in PROCEDURE_TARGETS:
            if name not in factors:
                continue
            if name == "leak" and hasattr(proc, "leak_profile"):
                changes["leak_profile"] = [(t, q * factors[name]) for t, q in proc.leak_profile]
            elif hasattr(proc, name):
                changes[name] = getattr(proc, name) * factors[name]
        new = dataclasses.replace(proc, **changes) if changes else proc
        if changes and getattr(new, "washout_follows_pump", False):  # the flush runs at this patient's pump flow
            new = dataclasses.replace(new, washout_flow=new.pump_flow)
        procs.append(new)
    return procs


def _pk(drug: Any, patient: Any, factors: dict[str, Any]) -> Any:
    pk = drug_pk(drug, patient)
    changes = {}
    for target, fieldname in PK_TARGETS.items():
        f = factors.get(f"{drug.name}.{target}", None)
        g = factors.get(target, None)
        if f is None and g is None:
            continue
        v = getattr(pk, fieldname)
        if g is not None:
            v = v * g
        if f is not None:
            v = v * f
        changes[fieldname] = v
    return dataclasses.replace(pk, **changes) if changes else pk


def _build(plan: Plan, patient: Any, factors: dict[str, Any], per_patient_dose: bool
           ) -> tuple[dict[str, DrugModel], dict[str, Any]]:
    procs = _procedures(plan, patient, factors, per_patient_dose)
    until, t_start = float(plan.grid[-1]), float(plan.grid[0])
    models, params = {}, {}
    for name, drug in plan.drugs.items():
        pk = _pk(drug, patient, factors)
        models[name] = _drug_model(drug, pk, patient, procs, until, t_start)
        for target, fieldname in PK_TARGETS.items():
            if target in factors or f"{name}.{target}" in factors:
                params[f"{name}.{target}"] = getattr(pk, fieldname)
        for proc in procs:
            for d in proc.doses:
                if d.drug != name:
                    continue
                params.setdefault(f"{name}.dose_mg", 0.0)
                params[f"{name}.dose_mg"] = params[f"{name}.dose_mg"] + d.amount
                out = _outside_range(drug, proc.kind, d, patient)
                key = f"{name}.dose_outside_range"
                params[key] = (params[key] | out) if key in params else out
    for k, proc in enumerate(procs):
        for target in PROCEDURE_TARGETS:
            if target in factors:
                v = proc.leak_at(proc.start) if target == "leak" and hasattr(proc, "leak_at") else getattr(
                    proc, target, None)
                if v is not None:
                    params[f"procedures[{k}].{target}"] = v
    return models, params


def _outside_range(drug: Any, kind: str, d: Any, patient: Any) -> Any:
    """Whether this patient's dose lies outside the drug's published range for the procedure (the protocol's
    own patient is checked, and refused unless allowed, when the plan is built; here it is only flagged)."""
    lim = drug.limits.get(kind)
    if lim is None:
        return np.asarray(False) if not isinstance(d.amount, np.ndarray) else np.zeros(len(d.amount), dtype=bool)
    basis = d.resolved.rule.basis if d.resolved is not None else "actual"
    limb = d.resolved.base_value if d.resolved is not None and d.resolved.base_unit == "L" else None
    mx = _limit_mg(lim.max_value, lim.max_kind, patient, basis, limb)
    mn = _limit_mg(lim.min_value, lim.min_kind, patient, basis, limb)
    out = np.zeros(np.shape(d.amount), dtype=bool)
    if mx is not None:
        out = out | (np.asarray(d.amount) > np.asarray(mx) * (1 + 1e-12))
    if mn is not None:
        out = out | (np.asarray(d.amount) < np.asarray(mn) * (1 - 1e-12))
    return np.asarray(out)


def _varies(plan: Plan, sample: Sample) -> bool:
    return bool(sample.covariates) or any(k in PATIENT_TARGETS for k in sample.factors)


def build_batch(plan: Plan, sample: Sample) -> tuple[dict[str, DrugModel], dict[str, np.ndarray], str]:
    """Batched DrugModels (numbers are arrays of length ``len(sample)``), the per-patient values (physiology,
    doses and the varied parameters; read-only where they are the same for every patient, and possibly shared
    with the models: copy before changing one) and how they were built ("vectorised" or "per patient")."""
    n = len(sample)
    patient_varies = _varies(plan, sample)
    patients = _patients(plan, sample) if patient_varies else None
    pb: Any = patient_batch(patients) if patients is not None else plan.patient
    factors = {k: _batch(v) for k, v in sample.factors.items()}
    try:
        models, params = _build(plan, pb, factors, patient_varies)
        how = "vectorised"
    except (BranchDivergence, TypeError, ValueError):
        ps = patients if patients is not None else [plan.patient] * n
        singles = [_build(plan, ps[i], {k: float(v[i]) for k, v in sample.factors.items()}, patient_varies)
                   for i in range(n)]
        models = {d: stack_models([s[0][d] for s in singles]) for d in plan.drugs}
        params = {k: np.array([s[1][k] for s in singles]) for k in singles[0][1]} if singles else {}
        how = "per patient"
    if patients is not None:
        values = {k: np.asarray(getattr(pb, k), dtype=float) for k in _PATIENT_VALUES}
        values["sex"] = _labels(pb.sex)
    else:  # every patient has the protocol's physiology: one cached read-only column per value
        values = {k: _constant_column(float(getattr(plan.patient, k)), n) for k in _PATIENT_VALUES}
        values["sex"] = _constant_labels(str(plan.patient.sex), n)
    for k, v in params.items():  # a per-patient column as it is (no copy), a plain number broadcast
        a = np.asarray(v, dtype=bool if k.endswith("_outside_range") else float)
        values[k] = a if a.shape == (n,) else np.broadcast_to(a, (n,)).copy()
    return models, values, how


@functools.lru_cache(maxsize=64)
def _constant_labels(label: str, n: int) -> np.ndarray:
    """A read-only object column of one label (cached, as :func:`_constant_column`)."""
    out = np.full(n, label, dtype=object)
    out.flags.writeable = False
    return out


def _labels(a: Any) -> np.ndarray:
    """Text labels as an object array whose equal entries share one str (a table column of objects takes
    references instead of a new str per patient: ~375 us per chunk of 8192 for the sex column)."""
    a = np.asarray(a)
    if a.dtype == object:
        return a
    out = np.empty(a.shape, dtype=object)
    rest = np.ones(a.shape, dtype=bool)
    while rest.any():
        label = a[np.argmax(rest)]
        same = a == label
        out[same] = str(label)
        rest &= ~same
    return out


# --- stacking / unstacking ---------------------------------------------------------------------------

def _map_numbers(obj: Any, fn: Any) -> Any:
    """Rebuild a model object with ``fn`` applied to every number field (floats and arrays)."""
    if isinstance(obj, tuple):
        return tuple(_map_numbers(o, fn) for o in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if f.name in ("start", "end", "time") and isinstance(obj, Segment | Bolus | Transfer):
                continue
            if isinstance(v, np.ndarray) or (isinstance(v, int | float) and not isinstance(v, bool)):
                changes[f.name] = fn(v)
            elif isinstance(v, tuple):
                changes[f.name] = _map_numbers(v, fn)
        return dataclasses.replace(obj, **changes)
    return obj


def column(value: Any, n: int) -> np.ndarray:
    """A model number as a float array of length ``n`` (scalars broadcast)."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64 and value.shape == (n,):
        return value  # already a per-patient column: no copy, no broadcast
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _constant_column(float(value), n)
    return np.broadcast_to(np.asarray(value, dtype=float), (n,))


@functools.lru_cache(maxsize=512)
def _constant_column(value: float, n: int) -> np.ndarray:
    """A read-only column of one value (cached: the same constants recur in every chunk)."""
    out = np.full(n, value)
    out.flags.writeable = False
    return out


def unstack_model(model: DrugModel, i: int) -> DrugModel:
    """Patient ``i``'s DrugModel with plain floats (for the single-patient engine)."""
    return _map_numbers(model, lambda v: float(np.asarray(v).reshape(-1)[i]) if np.ndim(v) else float(v))


def stack_models(models: list[DrugModel]) -> DrugModel:
    """One DrugModel whose numbers are arrays over ``models`` (which must share their structure)."""
    first = models[0]
    flat: list[list[float]] = [[] for _ in models]
    for k, m in enumerate(models):
        _map_numbers(m, lambda v, k=k: flat[k].append(float(v)) or v)
        if (len(m.segments) != len(first.segments) or len(m.events) != len(first.events)
                or any(len(a.flows) != len(b.flows) or a.start != b.start or a.phase != b.phase
                       for a, b in zip(m.segments, first.segments, strict=True))):
            raise BranchDivergence("patients of the batch have models of different structure")
    cols = np.array(flat).T  # (numbers, patients)
    it = iter(range(cols.shape[0]))
    return _map_numbers(first, lambda v: cols[next(it)].view(BatchArray))


__all__ = ["BatchArray", "BranchDivergence", "build_batch", "check_targets", "column",
           "stack_models", "unstack_model"]
