"""From a validated protocol to a Plan: the patient, the procedures on a timeline and one DrugModel per drug."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from isoperf._errors import InputError
from isoperf._units import parse_quantity
from isoperf.drugs import Drug, drug_from_dict, get_drug
from isoperf.inputs import DoseSpec, PatientSpec, ProcedureSpec, ProtocolSpec
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
from isoperf.procedures._dose_rules import ResolvedDose, make_rule, named_rule, resolve_dose
from isoperf.procedures._doses import check_limit
from isoperf.procedures._ilp import IsolatedLiverPerfusion
from isoperf.procedures._limb import IsolatedLimbPerfusion, limb_constants, limb_constants_text
from isoperf.procedures._php import PercutaneousHepaticPerfusion, php_filters
from isoperf.procedures._pk import DrugPK, drug_pk

DEFAULT_FOLLOW_UP = 1440.0  # min after the last procedure ends, when output.until is not given
_DEFAULT_ROUTE = {"ilp": "circuit", "hai": "hepatic_artery", "iv": "systemic", "php": "hepatic_artery",
                  "limb": "circuit"}
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
    #: per drug: total dose over the whole sequence, in mg and mg/m2, against any published cumulative limit
    cumulative: dict[str, dict[str, Any]] = field(default_factory=dict)


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


_ONLY_FOR = {
    "filter": ("php",), "filter_extraction": ("php",), "filter_extraction_profile": ("php",),
    "limb": ("limb",), "limb_volume": ("limb",), "perfusion_flow": ("limb",), "limb_blood_flow": ("limb",),
    "hepatic_artery_flow": ("ilp",), "portal_vein_flow": ("ilp",),
    "circuit_volume": ("ilp", "limb"), "leak": ("ilp", "limb"), "leak_profile": ("ilp", "limb"),
}


def _check_keys(spec: ProcedureSpec, where: str) -> None:
    for key, kinds in _ONLY_FOR.items():
        if getattr(spec, key) is not None and spec.type not in kinds:
            raise InputError(f"{where}.{key}", f"does not apply to a procedure of type {spec.type!r}",
                             f"it is a setting of {' / '.join(kinds)} procedures; remove it")


def _fraction(text: str, field: str) -> float:
    val = parse_quantity(text, "fraction", field=field, allow_negative=True)
    if not 0.0 <= val <= 1.0:
        raise InputError(field, f"{text!r} is outside [0, 1]",
                         "the filter extraction is the fraction of drug removed per pass, e.g. '0.86' or '86 %'")
    return val


def _extraction_profile(spec: ProcedureSpec, where: str, start: float) -> tuple[list[tuple[float, float]], str, str]:
    """PHP filter extraction: constant, a piecewise-constant profile, or a named filter's data (default gen2)."""
    given = [k for k in ("filter_extraction", "filter_extraction_profile") if getattr(spec, k) is not None]
    if len(given) > 1:
        raise InputError(f"{where}.filter_extraction_profile", "given together with filter_extraction",
                         "give one of them")
    if spec.filter_extraction is not None:
        e = _fraction(spec.filter_extraction, f"{where}.filter_extraction")
        return [(start, e)], spec.filter or "user", "protocol"
    if spec.filter_extraction_profile is not None:
        prof = [(start + _time(t, f"{where}.filter_extraction_profile[{k}][0]"),
                 _fraction(v, f"{where}.filter_extraction_profile[{k}][1]"))
                for k, (t, v) in enumerate(spec.filter_extraction_profile)]
        times = [p[0] for p in prof]
        if not prof or times != sorted(set(times)) or times[0] != start:
            raise InputError(f"{where}.filter_extraction_profile", "times must increase and start at 0 min",
                             "e.g. [['0 min', '0.95'], ['30 min', '0.80']]")
        return prof, spec.filter or "user", "protocol"
    filters = php_filters()
    name = spec.filter or "gen2"
    if name not in filters:
        raise InputError(f"{where}.filter", f"unknown filter {name!r}", f"known filters: {', '.join(filters)}")
    raw = filters[name]
    prof = [(start + _time(t, f"php.toml filters.{name}.profile"), _fraction(v, f"php.toml filters.{name}.profile"))
            for t, v in raw["profile"]]
    src = "; ".join(str(v["source"]) for v in raw.values() if isinstance(v, dict) and "source" in v)
    return prof, name, f"{src}. {raw.get('profile_estimate', '')}".strip()


def _resolve(d: DoseSpec, drug: Drug, spec: ProcedureSpec, patient: Patient, limb_volume: float | None,
             f: str) -> ResolvedDose:
    if (d.amount is None) == (d.rule is None):
        raise InputError(f"{f}.amount", "give either amount or rule (not both, not neither)",
                         "e.g. amount = '1.5 mg/kg' or rule = 'hepzato'")
    if d.rule is not None:
        rule = named_rule(drug.name, d.rule, field=f"{f}.rule", basis=d.basis, cap=d.cap)
        return resolve_dose(rule, patient, limb_volume=limb_volume, field=f"{f}.rule")
    assert d.amount is not None
    rule = make_rule(d.amount, basis=d.basis, cap=d.cap, field=f"{f}.amount")
    return resolve_dose(rule, patient, limb_volume=limb_volume, field=f"{f}.amount")


def build_procedure(i: int, spec: ProcedureSpec, patient: Patient, drugs: dict[str, Drug],
                    inline: dict[str, dict[str, Any]], flags: list[str]) -> Procedure:
    """The first (or only) cycle of ``spec`` (see :func:`build_procedures` for all cycles)."""
    return build_procedures(i, spec, patient, drugs, inline, flags)[0]


def build_procedures(i: int, spec: ProcedureSpec, patient: Patient, drugs: dict[str, Drug],
                     inline: dict[str, dict[str, Any]], flags: list[str]) -> list[Procedure]:
    """One procedure per cycle: ``cycles = N`` with ``interval`` repeats the whole procedure N times."""
    where = f"procedures[{i}]"
    _check_keys(spec, where)
    start = _time(spec.start, f"{where}.start")
    name = spec.name or f"{spec.type.upper()} #{i + 1}"
    period = 0.0
    if spec.cycles > 1:
        period = _time(spec.interval, f"{where}.interval", positive=True)
    limb_volume = None
    if spec.type == "limb":
        limb_volume = parse_quantity(spec.limb_volume, "volume", field=f"{where}.limb_volume", allow_zero=False)
    resolved: list[tuple[DoseSpec, Drug, ResolvedDose, tuple[str, ...]]] = []
    for j, d in enumerate(spec.doses):
        f = f"{where}.doses[{j}]"
        drug = drugs.get(d.drug) or resolve_drug(d.drug, inline, field=f"{f}.drug")
        drugs[drug.name] = drug
        res = _resolve(d, drug, spec, patient, limb_volume, f)
        dflags = check_limit(drug, spec.type, res.mg, patient, field=f"{f}.amount" if d.amount else f"{f}.rule",
                             allow_above_max=d.allow_outside_range or d.allow_above_max,
                             allow_below_min=d.allow_outside_range or d.allow_above_max,
                             basis=res.rule.basis, limb_volume=limb_volume)
        resolved.append((d, drug, res, dflags))
    # isolating procedures (ILP, PHP, limb) repeat as a whole, one procedure per cycle; HAI / IV cycles are
    # dosing cycles of one procedure (its ``cycle_starts``)
    repeat = spec.type in ("ilp", "php", "limb")
    out = []
    doses: list[DoseEvent] = []
    for c in range(spec.cycles):
        c_start = start + c * period
        c_name = f"{name} cycle {c + 1}" if spec.cycles > 1 and repeat else name
        if repeat:
            doses = []
        for j, (d, drug, res, dflags) in enumerate(resolved):
            f = f"{where}.doses[{j}]"
            if repeat or c == 0:
                flags.extend(f"{c_name}, {drug.name}: {m}" for m in dflags)
            at = _time(d.at, f"{f}.at")
            over = _time(d.over, f"{f}.over")
            route = d.into or _DEFAULT_ROUTE[spec.type]
            if route == "circuit" and spec.type not in ("ilp", "limb"):
                raise InputError(f"{f}.into", "'circuit' exists only during an isolated perfusion",
                                 "use hepatic_artery, portal_vein or systemic")
            if spec.type == "limb" and route != "circuit":
                raise InputError(f"{f}.into", f"{route!r} is not part of an isolated limb perfusion",
                                 "limb perfusion doses go into the circuit")
            doses.append(DoseEvent(drug.name, res.mg, c_start + at, over, route, c_name,
                                   res.rule.amount, dflags, res))
        if repeat:
            proc = _one_procedure(spec, where, c_name, c_start, doses, patient, limb_volume)
            proc.spec_index, proc.cycle = i, c + 1
            out.append(proc)
    if not repeat:
        proc = _one_procedure(spec, where, name, start, doses, patient, limb_volume)
        proc.spec_index = i
        proc.cycle_starts = [start + c * period for c in range(spec.cycles)] if spec.cycles > 1 else []
        out.append(proc)
    return out


def _isolation_settings(spec: ProcedureSpec, where: str, start: float, doses: list[DoseEvent],
                        total_flow: float) -> dict[str, Any]:
    duration = _time(spec.duration, f"{where}.duration", positive=True)
    for j, d in enumerate(doses):
        if d.end > start + duration + 1e-12:
            raise InputError(f"{where}.doses[{j}].at",
                             f"the dose ends at {d.end - start:g} min, after the washout at {duration:g} min",
                             f"every {spec.type.upper()} dose must be given before the end of perfusion")
    wash = _time(spec.washout.duration, f"{where}.washout.duration")
    v_circ = parse_quantity(spec.circuit_volume, "volume", field=f"{where}.circuit_volume", allow_zero=False)
    wflow = total_flow if spec.washout.flow is None else parse_quantity(
        spec.washout.flow, "flow", field=f"{where}.washout.flow")
    temperature = parse_quantity(spec.temperature, "temperature", field=f"{where}.temperature")
    if not 20.0 <= temperature <= 45.0:
        raise InputError(f"{where}.temperature", f"{spec.temperature!r} is outside 20-45 degC",
                         "give the perfusate temperature, e.g. '39.5 degC'")
    return {"duration": duration, "wash": wash, "v_circ": v_circ, "wflow": wflow, "temperature": temperature,
            "wflow_follows_pump": spec.washout.flow is None}


def _one_procedure(spec: ProcedureSpec, where: str, name: str, start: float, doses: list[DoseEvent],
                   patient: Patient, limb_volume: float | None) -> Procedure:
    if spec.type == "ilp":
        q_ha = parse_quantity(spec.hepatic_artery_flow, "flow", field=f"{where}.hepatic_artery_flow")
        q_pv = parse_quantity(spec.portal_vein_flow, "flow", field=f"{where}.portal_vein_flow")
        if q_ha + q_pv <= 0:
            raise InputError(f"{where}.hepatic_artery_flow", "and portal_vein_flow are both zero",
                             "the pump must perfuse the liver: give a flow > 0")
        iso = _isolation_settings(spec, where, start, doses, q_ha + q_pv)
        leak_profile = _leak_profile(spec, where, start, iso["v_circ"])
        return IsolatedLiverPerfusion(
            name=name, kind="ilp", start=start, end=start + iso["duration"] + iso["wash"], doses=doses,
            temperature=iso["temperature"], circuit_volume=iso["v_circ"], hepatic_artery_flow=q_ha,
            portal_vein_flow=q_pv, leak_profile=leak_profile, washout_duration=iso["wash"], washout_flow=iso["wflow"],
            washout_follows_pump=iso["wflow_follows_pump"],
        )
    if spec.type == "limb":
        assert limb_volume is not None
        q_perf = parse_quantity(spec.perfusion_flow, "flow", field=f"{where}.perfusion_flow", allow_zero=False)
        iso = _isolation_settings(spec, where, start, doses, q_perf)
        if spec.leak is None and spec.leak_profile is None:
            spec = spec.model_copy(update={"leak": limb_constants_text("tourniquet_leak_rate")})
        leak_profile = _leak_profile(spec, where, start, iso["v_circ"])
        q_blood = (limb_constants()["specific_limb_blood_flow"] * limb_volume if spec.limb_blood_flow is None
                   else parse_quantity(spec.limb_blood_flow, "flow", field=f"{where}.limb_blood_flow"))
        return IsolatedLimbPerfusion(
            name=name, kind="limb", start=start, end=start + iso["duration"] + iso["wash"], doses=doses,
            temperature=iso["temperature"], limb=spec.limb or "unspecified", limb_volume=limb_volume,
            circuit_volume=iso["v_circ"], perfusion_flow=q_perf, limb_blood_flow=q_blood, leak_profile=leak_profile,
            washout_duration=iso["wash"], washout_flow=iso["wflow"], washout_follows_pump=iso["wflow_follows_pump"],
        )
    end = max([d.end for d in doses], default=start)
    if spec.type == "php":
        end += _time(spec.washout.duration, f"{where}.washout.duration")
        if spec.washout.flow is not None:
            raise InputError(f"{where}.washout.flow", "does not apply to PHP",
                             "PHP washout is filtration after the infusion; give only washout.duration")
    if spec.duration is not None:
        dur_end = start + _time(spec.duration, f"{where}.duration")
        if spec.type == "php" and dur_end < end - 1e-12:
            raise InputError(f"{where}.duration", f"ends before the infusion and washout ({end - start:g} min)",
                             "give a longer duration or leave it out")
        end = max(end, dur_end)
    if spec.type == "php":
        if end <= start:
            raise InputError(f"{where}.duration", "the PHP lasts 0 min", "give doses with 'over' or a duration")
        prof, fname, src = _extraction_profile(spec, where, start)
        return PercutaneousHepaticPerfusion(name=name, kind="php", start=start, end=end, doses=doses,
                                            extraction_profile=prof, filter_name=fname, extraction_source=src)
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
            idx = procs[b].spec_index if procs[b].spec_index >= 0 else b
            what = "interval" if procs[a].spec_index == procs[b].spec_index else "start"
            raise InputError(f"procedures[{idx}].{what}",
                             f"{procs[b].name} starts at {procs[b].start:g} min, before {procs[a].name} ends "
                             f"({procs[a].end:g} min)", "procedures of a protocol must not overlap in time")


def _check_shared_volumes(procs: list[Procedure]) -> None:
    """Isolated procedures share one circuit compartment, limb procedures one limb compartment."""
    for attr, comp in (("circuit_volume", "circuit"), ("limb_volume", "limb")):
        vols = [(p, getattr(p, attr)) for p in procs if hasattr(p, attr)]
        for p, v in vols[1:]:
            if abs(v - vols[0][1]) > 1e-12 * max(1.0, v):
                raise InputError(f"procedures[{p.spec_index}].{attr}",
                                 f"{v:g} L differs from {vols[0][1]:g} L of {vols[0][0].name}",
                                 f"procedures of one protocol share the {comp} compartment: use the same {attr}")


def cumulative_doses(drugs: dict[str, Drug], procs: list[Procedure], patient: Patient,
                     flags: list[str]) -> dict[str, dict[str, Any]]:
    """Total dose per drug over the sequence, against the drug's published cumulative limit (flagged if above)."""
    out: dict[str, dict[str, Any]] = {}
    for name, drug in drugs.items():
        total = sum(d.amount for p in procs for d in p.doses if d.drug == name)
        entry: dict[str, Any] = {"total_mg": total, "total_mg_per_m2": total / patient.bsa,
                                 "total_mg_per_kg": total / patient.weight,
                                 "procedures": sum(1 for p in procs if any(d.drug == name for d in p.doses))}
        lim = drug.limits.get("cumulative")
        if lim is not None and lim.max_value is not None:
            per = {"dose_per_area": patient.bsa, "dose_per_mass": patient.weight}.get(lim.max_kind or "", 1.0)
            lim_mg = lim.max_value * per
            entry.update({"limit": lim.max_text, "limit_mg": lim_mg, "limit_source": lim.source,
                          "above_limit": total > lim_mg * (1 + 1e-12)})
            if entry["above_limit"]:
                flags.append(f"{name}: CUMULATIVE DOSE {total:.4g} mg ({total / patient.bsa:.3g} mg/m2) is above the "
                             f"published threshold {lim.max_text} ({lim_mg:.4g} mg; {lim.source})")
        out[name] = entry
    return out


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
    circuits = [p for p in procs if isinstance(p, IsolatedLiverPerfusion | IsolatedLimbPerfusion)]
    v_circ = circuits[0].circuit_volume if circuits else _TINY_VOLUME
    v_tum = patient.tumour_volume_l
    comps = [
        Compartment("circuit", v_circ),
        Compartment("liver", patient.liver_volume, pk.kp_liver),
        Compartment("tumour", v_tum if v_tum > 0 else _TINY_VOLUME, pk.kp_tumour),
        Compartment("systemic", pk.v_central),
        Compartment("peripheral", pk.v_peripheral if pk.v_peripheral > 0 else _TINY_VOLUME),
    ]
    # extra compartments declared by procedures (e.g. the limb) and their physiological connections
    extra_flows: dict[str, list[Flow]] = {}
    for p in procs:
        for c in p.extra_compartments(patient, pk):
            if c.name not in extra_flows:
                comps.append(c)
                extra_flows[c.name] = p.connected_extra_flows(patient, pk)
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
        owner: Procedure | None = None
        for p in procs:
            got = p.isolated_flows(t0, t1, patient, pk)
            if got is not None:
                flows, phase = got
                owner = p
                iso = p if isinstance(p, IsolatedLiverPerfusion) else None
                if phase == "perfusion":
                    decays = (Decay("circuit", pk.perfusate_decay(p.temperature), "degraded"),)
                break
        if flows is None:
            flows = connected_flows(patient, pk)
        isolated_here = {c.name for c in owner.extra_compartments(patient, pk)} if owner is not None else set()
        for comp, extra in extra_flows.items():
            if comp not in isolated_here:
                flows = [*flows, *extra]
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
    return DrugModel(drug=drug.name, compartments=tuple(comps), segments=tuple(segments), events=tuple(events),
                     phases=tuple(phases), meta={"tumour_present": v_tum > 0, "circuit_present": bool(circuits),
                                                 "extra_compartments": list(extra_flows)})


def build_plan(spec: ProtocolSpec) -> Plan:
    patient = build_patient(spec.patient)
    drugs: dict[str, Drug] = {}
    flags: list[str] = []
    procs = [q for i, p in enumerate(spec.procedures)
             for q in build_procedures(i, p, patient, drugs, spec.drugs, flags)]
    _check_overlap(procs)
    _check_shared_volumes(procs)
    cumulative = cumulative_doses(drugs, procs, patient, flags)
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
    return Plan(spec, patient, drugs, procs, models, grid, flags, cumulative)
