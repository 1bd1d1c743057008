"""Collins' regional (drug-delivery) advantage, analytically and from the engine at steady state.

Collins (J Clin Oncol 1984;2:498-504): for a continuous infusion into the artery of a region with blood flow
``Q`` and steady-state extraction ``E``, versus the same infusion intravenously,

    Rd = (C_region / C_systemic)_intra-arterial / (C_region / C_systemic)_intravenous = 1 + CL_TB / (Q (1 - E)).

In isoperf's engine the infused region is the well-stirred liver compartment: hepatic-artery drug mixes with
the whole hepatic blood flow ``Q_H`` (arterial + portal), ``E = CL_int / (Q_H + CL_int)`` and the total body
clearance is ``CL_TB = CL_extrahepatic + Q_H E``. With a tumour in parallel that receives a share ``1 - a`` of
the arterial infusion, the liver's advantage generalises to ``1 + a CL_TB / (Q_H (1 - a E))`` and the tumour's to
``1 + (1 - a) CL_TB / (Q_T (1 - a E))`` (derivation in the README (Regional delivery compared)). For saturable drugs E and CL_TB depend
on concentration, which differs between the two routes, so the formula (with the linearised E) and the
simulation diverge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from isoperf._errors import InputError
from isoperf.inputs import PatientSpec, ProtocolSpec
from isoperf.procedures import Plan, arterial_split, build_plan, drug_pk
from isoperf.solve import run


def well_stirred_extraction(cl_int: float, flow: float) -> float:
    """Steady-state extraction of a well-stirred organ: ``E = CL_int / (Q + CL_int)``."""
    if not flow > 0:
        raise InputError("flow", f"got {flow!r}", "the organ's blood flow must be > 0")
    if cl_int < 0:
        raise InputError("intrinsic_clearance", f"got {cl_int!r}", "give a clearance >= 0")
    return cl_int / (flow + cl_int)


def collins_rd(total_clearance: float, flow: float, extraction: float) -> float:
    """Collins' regional advantage ``Rd = 1 + CL_TB / (Q (1 - E))`` (L/min, L/min, fraction)."""
    if not flow > 0:
        raise InputError("flow", f"got {flow!r} L/min", "the blood flow of the infused artery must be > 0")
    if not 0.0 <= extraction < 1.0:
        raise InputError("extraction", f"got {extraction!r}", "the regional extraction must lie in [0, 1)")
    if total_clearance < 0:
        raise InputError("clearance", f"got {total_clearance!r} L/min", "total body clearance must be >= 0")
    return 1.0 + total_clearance / (flow * (1.0 - extraction))


@dataclass
class RegionalAdvantage:
    """Analytic and simulated regional advantage of hepatic-artery over intravenous infusion of one drug."""

    drug: str
    linear: bool
    infusion_rate: float  # mg/min
    hepatic_blood_flow: float  # L/min (Q of the well-stirred liver)
    tumour_blood_flow: float
    liver_share: float  # a: share of the arterial infusion that enters the liver compartment
    intrinsic_clearance: float  # L/min (linearised at C -> 0 for saturable drugs)
    extraction: float
    total_clearance: float
    analytic: dict[str, float]
    simulated: dict[str, float]
    steady_state: dict[str, dict[str, float]] = field(default_factory=dict)
    #: route-specific extraction and clearance at the simulated steady states (why saturable drugs diverge)
    route_specific: dict[str, float] = field(default_factory=dict)

    @property
    def relative_error(self) -> dict[str, float]:
        return {k: abs(self.simulated[k] - self.analytic[k]) / abs(self.analytic[k]) for k in self.analytic
                if k in self.simulated}

    def to_dict(self) -> dict[str, Any]:
        return {
            "drug": self.drug, "linear": self.linear, "infusion_rate_mg_min": self.infusion_rate,
            "hepatic_blood_flow_L_min": self.hepatic_blood_flow, "tumour_blood_flow_L_min": self.tumour_blood_flow,
            "liver_share_of_arterial_infusion": self.liver_share,
            "intrinsic_clearance_L_min": self.intrinsic_clearance, "extraction": self.extraction,
            "total_clearance_L_min": self.total_clearance, "analytic": self.analytic, "simulated": self.simulated,
            "relative_error": self.relative_error, "steady_state_mg_L": self.steady_state,
            "route_specific": self.route_specific,
        }


def engine_parameters(plan: Plan, drug: str) -> dict[str, float]:
    """Q_H, Q_T, a, CL_int, E and CL_TB as the engine models them (linearised at C -> 0 if saturable)."""
    pat = plan.patient
    pk = drug_pk(plan.drugs[drug], pat)
    q_h = pat.hepatic_blood_flow
    cl_int = pk.cl_hepatic_int + (pk.vmax_hepatic / pk.km_hepatic if pk.vmax_hepatic > 0 else 0.0)
    cl_e = pk.cl_extrahepatic + (pk.vmax_extrahepatic / pk.km_extrahepatic if pk.vmax_extrahepatic > 0 else 0.0)
    e = well_stirred_extraction(cl_int, q_h)
    a = arterial_split(pat)["liver"] if pat.tumour_blood_flow > 0 else 1.0
    return {"q_h": q_h, "q_t": pat.tumour_blood_flow, "a": a, "cl_int": cl_int, "e": e,
            "cl_tb": cl_e + q_h * e, "linear": float(plan.drugs[drug].linear)}


def analytic_advantage(p: dict[str, float]) -> dict[str, float]:
    """Liver (and tumour) regional advantage of the engine's structure at steady state (linear drug)."""
    a, e, cl_tb = p["a"], p["e"], p["cl_tb"]
    out = {"liver": 1.0 + a * cl_tb / (p["q_h"] * (1.0 - a * e))}
    if a == 1.0:
        out["collins"] = collins_rd(cl_tb, p["q_h"], e)
    if p["q_t"] > 0 and a < 1.0:
        out["tumour"] = 1.0 + (1.0 - a) * cl_tb / (p["q_t"] * (1.0 - a * e))
    return out


def _steady_state(spec: dict[str, Any], route: str, drug: str, rate: float, horizon: float,
                  tol: float) -> dict[str, float]:
    """Concentrations at the end of a continuous infusion long enough to be at steady state (systemic
    concentration unchanged to ``tol`` relative over the second half of the infusion)."""
    for _ in range(8):
        proto = {**spec, "procedures": [{"type": route, "doses": [
            {"drug": drug, "amount": f"{rate * horizon!r} mg", "over": f"{horizon!r} min"}]}],
            "output": {"until": f"{horizon * 1.001!r} min", "step": f"{horizon / 2!r} min"}}
        plan = build_plan(ProtocolSpec.model_validate(proto))
        traj = run(plan.models[drug], plan.grid)
        inv = np.array([1.0 / (c.volume * c.kp) for c in traj.model.compartments])
        k_end = int(np.argmin(np.abs(traj.times - horizon)))
        k_mid = int(np.argmin(np.abs(traj.times - horizon / 2)))
        c_end = traj.states[k_end, : traj.layout.n] * inv
        c_mid = traj.states[k_mid, : traj.layout.n] * inv
        names = traj.model.names
        i_sys = names.index("systemic")
        if abs(c_end[i_sys] - c_mid[i_sys]) <= tol * abs(c_end[i_sys]):
            return {n: float(c_end[i]) for i, n in enumerate(names)}
        horizon *= 4.0
    raise InputError("advantage", "the infusion did not reach steady state", "check the drug's parameters")


def _slowest_time_constant(plan: Plan, drug: str) -> float:
    from isoperf.model import StateLayout, assemble

    model = plan.models[drug]
    lay = StateLayout(model)
    seg = model.segments[-1]
    asm = assemble(model, seg, lay)
    m = asm.matrix[: lay.n, : lay.n].copy()
    for t in asm.saturable:  # linearised at C -> 0
        m[t.state, t.state] -= t.vmax / t.km * t.inv_vol
    keep = [i for i in range(lay.n) if m[i, i] != 0.0]  # compartments not connected (circuit, no tumour)
    lam = np.abs(np.linalg.eigvals(m[np.ix_(keep, keep)]).real)
    if not lam.size or lam.min() <= 1e-12 * lam.max():
        raise InputError(f"drugs.{drug}", "has no elimination, so a continuous infusion never reaches steady state",
                         "give the drug a clearance")
    return 1.0 / float(lam.min())


def regional_advantage(drug: str, *, patient: PatientSpec | dict[str, Any] | None = None,
                       drugs: dict[str, dict[str, Any]] | None = None, infusion_rate: str = "1 mg/min",
                       ) -> RegionalAdvantage:
    """Rd of continuous hepatic-artery vs intravenous infusion of ``drug``: formula and engine steady state.

    ``patient`` and ``drugs`` are a protocol's ``[patient]`` and inline ``[drugs]`` tables; ``infusion_rate``
    matters only for saturable drugs (their Rd depends on it).
    """
    from isoperf._units import parse_quantity

    rate = parse_quantity(infusion_rate, "mass_rate", field="infusion_rate", allow_zero=False)
    pat = patient.model_dump() if isinstance(patient, PatientSpec) else dict(patient or {})
    spec = {"name": f"advantage {drug}", "patient": pat, "drugs": dict(drugs or {})}
    probe = build_plan(ProtocolSpec.model_validate({**spec, "procedures": [
        {"type": "iv", "doses": [{"drug": drug, "amount": "1 mg"}]}]}))
    name = next(iter(probe.drugs))
    p = engine_parameters(probe, name)
    # 60 slowest time constants: the transient is below 1e-26 of the steady state for a linear drug; the
    # check at half the horizon (1e-13 left) guards against a wrong time constant (saturable drugs are slower)
    horizon = 60.0 * _slowest_time_constant(probe, name)
    tol = 1e-10 if p["linear"] else 1e-8  # the nonlinear solver runs at rtol 1e-10
    ss_ha = _steady_state(spec, "hai", name, rate, horizon, tol)
    ss_iv = _steady_state(spec, "iv", name, rate, horizon, tol)
    sim = {"liver": (ss_ha["liver"] / ss_ha["systemic"]) / (ss_iv["liver"] / ss_iv["systemic"])}
    ana = analytic_advantage(p)
    route = _route_specific(probe, name, ss_ha, ss_iv) if p["a"] == 1.0 else {}
    if "collins" in ana:
        sim["collins"] = sim["liver"]
    if "tumour" in ana:
        sim["tumour"] = (ss_ha["tumour"] / ss_ha["systemic"]) / (ss_iv["tumour"] / ss_iv["systemic"])
    return RegionalAdvantage(
        drug=name, linear=bool(p["linear"]), infusion_rate=rate, hepatic_blood_flow=p["q_h"],
        tumour_blood_flow=p["q_t"], liver_share=p["a"], intrinsic_clearance=p["cl_int"], extraction=p["e"],
        total_clearance=p["cl_tb"], analytic=ana, simulated=sim,
        steady_state={"hepatic_artery": ss_ha, "intravenous": ss_iv}, route_specific=route,
    )


def _route_specific(plan: Plan, drug: str, ss_ha: dict[str, float], ss_iv: dict[str, float]) -> dict[str, float]:
    """Extraction and total clearance evaluated at each route's own steady-state concentrations.

    With ``CL_int(C) = CL_int,lin + Vmax/(Km + C)`` (and likewise extrahepatic) the steady state of the engine
    gives exactly ``Rd = ((1 - E_IA) + CL_TB,IA / Q_H) / (1 - E_IV)``; it reduces to Collins' formula when
    ``E_IA = E_IV`` and ``CL_TB,IA = CL_TB,IV`` (linear drugs), and explains the divergence otherwise.
    """
    pk = drug_pk(plan.drugs[drug], plan.patient)
    q_h = plan.patient.hepatic_blood_flow

    def cl_int(c: float) -> float:
        return pk.cl_hepatic_int + (pk.vmax_hepatic / (pk.km_hepatic + c) if pk.vmax_hepatic > 0 else 0.0)

    def cl_e(c: float) -> float:
        sat = pk.vmax_extrahepatic / (pk.km_extrahepatic + c) if pk.vmax_extrahepatic > 0 else 0.0
        return pk.cl_extrahepatic + sat

    out: dict[str, float] = {}
    for key, ss in (("hepatic_artery", ss_ha), ("intravenous", ss_iv)):
        e = well_stirred_extraction(cl_int(ss["liver"]), q_h)
        out[f"extraction_{key}"] = e
        out[f"total_clearance_{key}"] = cl_e(ss["systemic"]) + q_h * e
    out["rd_route_specific"] = ((1.0 - out["extraction_hepatic_artery"]) + out["total_clearance_hepatic_artery"] / q_h
                                ) / (1.0 - out["extraction_intravenous"])
    return out
