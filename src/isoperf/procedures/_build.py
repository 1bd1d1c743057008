"""From a validated protocol to a Plan: the patient, the procedures on a timeline and one DrugModel per drug."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from isoperf._errors import InputError
from isoperf._units import parse_quantity
from isoperf.drugs import Drug, drug_from_dict, get_drug
from isoperf.inputs import PatientSpec, ProcedureSpec, ProtocolSpec
from isoperf.model import (
    Bolus,
    Clearance,
    Compartment,
    Decay,
    DrugModel,
    Flow,
    Infusion,
    Saturable,
    Segment,
    Transfer,
)
from isoperf.patient import DERIVED, Patient
from isoperf.procedures._base import DoseEvent, Procedure, arterial_split, connected_flows
from isoperf.procedures._doses import check_limit, dose_in_mg
from isoperf.procedures._ilp import IsolatedLiverPerfusion
from isoperf.procedures._pk import DrugPK, drug_pk

DEFAULT_FOLLOW_UP = 1440.0  # min after the last procedure ends, when output.until is not given
_DEFAULT_ROUTE = {"ilp": "circuit", "hai": "hepatic_artery", "iv": "systemic"}
_TINY_VOLUME = 1.0  # L: volume given to an absent compartment (no tumour / no circuit); it holds no drug


@dataclass
class Plan:
    protocol: ProtocolSpec
    patient: Patient
    drugs: dict[str, Drug]
    procedures: list[Procedure]
    models: dict[str, DrugModel]
    grid: np.ndarray
    flags: list[str] = field(default_factory=list)


def build_patient(spec: PatientSpec) -> Patient:
    q = parse_quantity
    overrides = {
        k: q(v, DERIVED[k], field=f"patient.override.{k}", allow_zero=k == "tumour_volume")
        if k in DERIVED else float("nan")
        for k, v in spec.override.items()
    }
    bad = [k for k in overrides if k not in DERIVED]
    if bad:
        raise InputError(f"patient.override.{bad[0]}", "unknown key", f"allowed: {', '.join(DERIVED)}")
    age = spec.age if isinstance(spec.age, float | int) else q(spec.age, "age", field="patient.age")
    return Patient(
        weight=q(spec.weight, "body_mass", field="patient.weight", allow_zero=False),
        height=q(spec.height, "length", field="patient.height", allow_zero=False),
        sex=spec.sex,
        age=float(age),
        tumour_volume=None if spec.tumour_volume is None else q(spec.tumour_volume, "volume", field="patient.tumour_volume"),
        tumour_fraction=None if spec.tumour_fraction is None
        else q(spec.tumour_fraction, "fraction", field="patient.tumour_fraction"),
        bsa_formula=spec.bsa_formula,
        overrides=overrides,
    )


def resolve_drug(name: str, inline: dict[str, dict[str, Any]], *, field: str) -> Drug:
    """An inline drug table (``[drugs.NAME]``) wins; ``base = 'libname'`` starts from a library drug."""
    if name in inline:
        raw = dict(inline[name])
        base = raw.pop("base", None)
        if base is not None:
            lib = get_drug(str(base), field=f"drugs.{name}.base")
            params = {k: {"value": p.text, "source": p.source, "estimate": p.estimate, "note": p.note}
                      for k, p in lib.parameters.items()}
            params.update(raw.get("parameters", {}))
            raw = {"display_name": lib.display_name, "drug_class": lib.drug_class, **raw, "parameters": params}
            raw.setdefault("limits", {k: {"max": v.max_text, "source": v.source} for k, v in lib.limits.items()
                                      if v.max_text})
        raw.setdefault("name", name)
        return drug_from_dict(raw, where=f"drugs.{name}")
    return get_drug(name, field=field)


def _time(text: str | None, field: str, default: float | None = None, *, positive: bool = False) -> float:
    if text is None:
        if default is None:
            raise InputError(field, "is missing", "give a time such as '60 min'")
        return default
    return parse_quantity(text, "time", field=field, allow_zero=not positive)


def build_procedure(i: int, spec: ProcedureSpec, patient: Patient, drugs: dict[str, Drug],
                    inline: dict[str, dict[str, Any]], flags: list[str]) -> Procedure:
    where = f"procedures[{i}]"
    start = _time(spec.start, f"{where}.start")
    name = spec.name or f"{spec.type.upper()} #{i + 1}"
    doses: list[DoseEvent] = []
    period = 0.0
    if spec.cycles > 1:
        period = _time(spec.interval, f"{where}.interval", positive=True)
    for j, d in enumerate(spec.doses):
        f = f"{where}.doses[{j}]"
        drug = drugs.get(d.drug) or resolve_drug(d.drug, inline, field=f"{f}.drug")
        drugs[drug.name] = drug
        amount = dose_in_mg(d.amount, patient, field=f"{f}.amount")
        dflags = check_limit(drug, spec.type, amount, patient, field=f"{f}.amount", allow_above_max=d.allow_above_max)
        flags.extend(f"{name}, {drug.name}: {m}" for m in dflags)
        at = _time(d.at, f"{f}.at")
        over = _time(d.over, f"{f}.over")
        route = d.into or _DEFAULT_ROUTE[spec.type]
        if route == "circuit" and spec.type != "ilp":
            raise InputError(f"{f}.into", "'circuit' exists only during an isolated perfusion",
                             "use hepatic_artery, portal_vein or systemic")
        for c in range(spec.cycles):
            doses.append(DoseEvent(drug.name, amount, start + c * period + at, over, route, name, d.amount, dflags))
    if spec.type == "ilp":
        duration = _time(spec.duration, f"{where}.duration", positive=True)
        for j, d in enumerate(doses):
            if d.end > start + duration + 1e-12:
                raise InputError(f"{where}.doses[{j}].at",
                                 f"the dose ends at {d.end - start:g} min, after the washout at {duration:g} min",
                                 "every ILP dose must be given before the end of perfusion")
        wash = _time(spec.washout.duration, f"{where}.washout.duration")
        q_ha = parse_quantity(spec.hepatic_artery_flow, "flow", field=f"{where}.hepatic_artery_flow")
        q_pv = parse_quantity(spec.portal_vein_flow, "flow", field=f"{where}.portal_vein_flow")
        if q_ha + q_pv <= 0:
            raise InputError(f"{where}.hepatic_artery_flow", "and portal_vein_flow are both zero",
                             "the pump must perfuse the liver: give a flow > 0")
        v_circ = parse_quantity(spec.circuit_volume, "volume", field=f"{where}.circuit_volume", allow_zero=False)
        leak_profile = _leak_profile(spec, where, start, v_circ)
        wflow = q_ha + q_pv if spec.washout.flow is None else parse_quantity(
            spec.washout.flow, "flow", field=f"{where}.washout.flow")
        temperature = parse_quantity(spec.temperature, "temperature", field=f"{where}.temperature")
        if not 20.0 <= temperature <= 45.0:
            raise InputError(f"{where}.temperature", f"{spec.temperature!r} is outside 20-45 degC",
                             "give the perfusate temperature, e.g. '39.5 degC'")
        return IsolatedLiverPerfusion(
            name=name, kind="ilp", start=start, end=start + duration + wash, doses=doses, temperature=temperature,
            circuit_volume=v_circ, hepatic_artery_flow=q_ha, portal_vein_flow=q_pv, leak_profile=leak_profile,
            washout_duration=wash, washout_flow=wflow,
        )
    end = max([d.end for d in doses], default=start)
    if spec.duration is not None:
        end = max(end, start + _time(spec.duration, f"{where}.duration"))
    return Procedure(name=name, kind=spec.type, start=start, end=end, doses=doses)


def _leak_profile(spec: ProcedureSpec, where: str, start: float, v_circ: float) -> list[tuple[float, float]]:
    def leak_flow(text: str, field: str) -> float:
        # an exchange flow ('0.01 L/min') or a share of the circuit volume per minute ('0.5 %/min')
        try:
            return parse_quantity(text, "flow", field=field)
        except InputError:
            try:
                return parse_quantity(text, "rate_constant", field=field) * v_circ
            except InputError:
                raise InputError(field, f"{text!r} is neither a flow nor a rate",
                                 "give an exchange flow ('0.01 L/min') or a rate ('0.5 %/min')") from None

    if spec.leak is not None and spec.leak_profile is not None:
        raise InputError(f"{where}.leak_profile", "given together with leak", "give one of them")
    if spec.leak_profile is not None:
        prof = []
        for k, (t, v) in enumerate(spec.leak_profile):
            prof.append((start + _time(t, f"{where}.leak_profile[{k}][0]"), leak_flow(v, f"{where}.leak_profile[{k}][1]")))
        times = [p[0] for p in prof]
        if times != sorted(times) or times[0] != start:
            raise InputError(f"{where}.leak_profile", "times must increase and start at 0 min",
                             "e.g. [['0 min', '0.01 L/min'], ['30 min', '0.02 L/min']]")
        return prof
    return [(start, leak_flow(spec.leak if spec.leak is not None else "0 L/min", f"{where}.leak"))]


def _check_overlap(procs: list[Procedure]) -> None:
    order = sorted(range(len(procs)), key=lambda k: procs[k].start)
    for a, b in zip(order, order[1:], strict=False):
        if procs[b].start < procs[a].end - 1e-9:
            raise InputError(f"procedures[{b}].start",
                             f"{procs[b].name} starts at {procs[b].start:g} min, before {procs[a].name} ends "
                             f"({procs[a].end:g} min)", "procedures of a protocol must not overlap in time")


def _route_split(route: str, iso: IsolatedLiverPerfusion | None, patient: Patient) -> dict[str, float]:
    if route in ("circuit", "systemic"):
        return {route: 1.0}
    if route == "portal_vein":
        return {"liver": 1.0}
    if iso is not None:  # arterial line of the pump
        f = patient.tumour_arterial_share
        return {"liver": 1.0 - f, "tumour": f}
    return arterial_split(patient)


def _drug_model(drug: Drug, pk: DrugPK, patient: Patient, procs: list[Procedure], grid_end: float,
                t_start: float) -> DrugModel:
    ilps = [p for p in procs if isinstance(p, IsolatedLiverPerfusion)]
    v_circ = ilps[0].circuit_volume if ilps else _TINY_VOLUME
    v_tum = patient.tumour_volume_l
    comps = (
        Compartment("circuit", v_circ),
        Compartment("liver", patient.liver_volume, pk.kp_liver),
        Compartment("tumour", v_tum if v_tum > 0 else _TINY_VOLUME, pk.kp_tumour),
        Compartment("systemic", pk.v_central),
        Compartment("peripheral", pk.v_peripheral if pk.v_peripheral > 0 else _TINY_VOLUME),
    )
    mine = [d for p in procs for d in p.doses if d.drug == drug.name]
    pts = {t_start, grid_end}
    for p in procs:
        pts.update(t for t in p.breakpoints() if t_start <= t <= grid_end)
    times = sorted(pts)
    elim = (
        Clearance("liver", pk.cl_hepatic_int, "eliminated_hepatic"),
        Clearance("systemic", pk.cl_extrahepatic, "eliminated_extrahepatic"),
    )
    sat = (
        Saturable("liver", pk.vmax_hepatic, pk.km_hepatic, "eliminated_hepatic"),
        Saturable("systemic", pk.vmax_extrahepatic, pk.km_extrahepatic, "eliminated_extrahepatic"),
    )
    segments = []
    for t0, t1 in zip(times, times[1:], strict=False):
        if t1 - t0 <= 1e-12:
            continue
        flows: list[Flow] | None = None
        phase = "connected"
        decays: tuple[Decay, ...] = ()
        iso = None
        for p in procs:
            got = p.isolated_flows(t0, t1, patient, pk)
            if got is not None:
                flows, phase = got
                iso = p if isinstance(p, IsolatedLiverPerfusion) else None
                if phase == "perfusion":
                    decays = (Decay("circuit", pk.perfusate_decay(p.temperature), "degraded"),)
                break
        if flows is None:
            flows = connected_flows(patient, pk)
        infusions = []
        for d in mine:
            if d.duration > 0 and d.start <= t0 and t1 <= d.end:
                rate = d.amount / d.duration
                for comp, share in _route_split(d.route, iso, patient).items():
                    infusions.append(Infusion(comp, rate * share))
        if phase == "connected":  # label by the protocol (any drug) so every drug shows the same phases
            active = [d for p in procs for d in p.doses if d.duration > 0 and d.start <= t0 and t1 <= d.end]
            if active:
                phase = next(p.kind for p in procs if p.name == active[0].procedure)
        segments.append(Segment(t0, t1, phase, tuple(flows), elim, decays, sat, tuple(infusions)))
    events: list[Bolus | Transfer] = []
    for d in mine:
        if d.duration == 0:
            iso = next((p for p in ilps if p.start <= d.start <= p.perfusion_end), None)
            for comp, share in _route_split(d.route, iso, patient).items():
                events.append(Bolus(d.start, comp, d.amount * share))
    for p in procs:
        for t, comp, sink in p.events():
            events.append(Transfer(t, comp, sink))
    phases = []
    for s in segments:
        if phases and phases[-1][0] == s.phase and phases[-1][2] == s.start:
            phases[-1] = (s.phase, phases[-1][1], s.end)
        else:
            phases.append((s.phase, s.start, s.end))
    return DrugModel(drug=drug.name, compartments=comps, segments=tuple(segments), events=tuple(events),
                     phases=tuple(phases), meta={"tumour_present": v_tum > 0, "circuit_present": bool(ilps)})


def build_plan(spec: ProtocolSpec) -> Plan:
    patient = build_patient(spec.patient)
    drugs: dict[str, Drug] = {}
    flags: list[str] = []
    procs = [build_procedure(i, p, patient, drugs, spec.drugs, flags) for i, p in enumerate(spec.procedures)]
    _check_overlap(procs)
    if not any(p.doses for p in procs):
        raise InputError("procedures", "no dose is given", "add [[procedures.doses]] with drug and amount")
    step = parse_quantity(spec.output.step, "time", field="output.step", allow_zero=False)
    last = max(p.end for p in procs)
    until = _time(spec.output.until, "output.until", last + DEFAULT_FOLLOW_UP, positive=True)
    t_start = min(0.0, *(p.start for p in procs))
    if until <= last:
        raise InputError("output.until", f"{until:g} min ends before the last procedure ({last:g} min)",
                         "follow the patient beyond the last procedure")
    n = int(round((until - t_start) / step))
    if n > 2_000_000:
        raise InputError("output.step", f"{n} output points are too many", "use a coarser step")
    grid = t_start + step * np.arange(n + 1)
    grid = grid[grid <= until + 1e-9]
    if abs(grid[-1] - until) > 1e-9:
        grid = np.append(grid, until)
    grid[-1] = until
    models = {}
    for name, drug in drugs.items():
        models[name] = _drug_model(drug, drug_pk(drug, patient), patient, procs, until, t_start)
    return Plan(spec, patient, drugs, procs, models, grid, flags)
