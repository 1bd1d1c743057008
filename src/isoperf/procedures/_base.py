"""What every procedure provides to the timeline builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from isoperf.model import Compartment, Flow
from isoperf.patient import Patient
from isoperf.procedures._pk import DrugPK


@dataclass(frozen=True)
class DoseEvent:
    """A resolved dose: ``amount`` mg of ``drug`` into ``route`` from ``start`` over ``duration`` min."""

    drug: str
    amount: float
    start: float
    duration: float
    route: str  # circuit | hepatic_artery | portal_vein | systemic
    procedure: str
    rule: str  # the dose as written, e.g. '1.5 mg/kg'; basis and cap are in ``resolved`` (see amount_for)
    flags: tuple[str, ...] = ()
    #: how the amount was computed (rule, basis, body-size value, cap); None for doses built by hand
    resolved: Any = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    def amount_for(self, patient: Patient, limb_volume: float | None = None) -> float:
        """This dose recomputed for another ``patient`` with the same rule (weight basis and cap included)."""
        from isoperf.procedures._dose_rules import make_rule, resolve_dose

        rule = self.resolved.rule if self.resolved is not None else make_rule(self.rule, basis=None, cap=None,
                                                                               field="dose")
        if limb_volume is None and self.resolved is not None and self.resolved.base_unit == "L":
            limb_volume = self.resolved.base_value
        return resolve_dose(rule, patient, limb_volume=limb_volume, field="dose").mg

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"drug": self.drug, "amount_mg": self.amount, "start_min": self.start,
                               "duration_min": self.duration, "route": self.route, "rule": self.rule}
        if self.resolved is not None:
            out.update(self.resolved.to_dict())
        out["flags"] = list(self.flags)
        return out


@dataclass
class Procedure:
    """Base class: a named procedure on the timeline with its doses. Not isolating by default."""

    name: str
    kind: str
    start: float
    end: float
    doses: list[DoseEvent] = field(default_factory=list)
    temperature: float = 37.0
    #: index of the protocol's ``procedures[...]`` entry this procedure comes from; cycle number (1-based)
    spec_index: int = -1
    cycle: int = 1
    #: start of each cycle when one procedure holds several dosing cycles (HAI / IV ``cycles``)
    cycle_starts: list[float] = field(default_factory=list)

    def breakpoints(self) -> list[float]:
        pts = [self.start, self.end]
        for d in self.doses:
            pts += [d.start, d.end]
        return pts

    def isolated_flows(self, t0: float, t1: float, patient: Patient, pk: DrugPK) -> tuple[list[Flow], str] | None:
        """Flows that replace the physiological circulation on ``[t0, t1]``, with a phase label; else None."""
        return None

    def events(self) -> list[tuple[float, str, str]]:
        """Transfers at exact times: (time, compartment, sink)."""
        return []

    def extra_compartments(self, patient: Patient, pk: DrugPK) -> list[Compartment]:
        """Compartments beyond circuit, liver, tumour, systemic, peripheral that this procedure needs."""
        return []

    def connected_extra_flows(self, patient: Patient, pk: DrugPK) -> list[Flow]:
        """Physiological flows of those extra compartments while this procedure is not isolating them."""
        return []

    def summary(self) -> dict[str, object]:
        return {"name": self.name, "type": self.kind, "start_min": self.start, "end_min": self.end,
                "cycle": self.cycle, "doses": [d.to_dict() for d in self.doses]}


def connected_flows(patient: Patient, pk: DrugPK) -> list[Flow]:
    """Physiological circulation: liver and tumour in parallel on the systemic blood; peripheral exchange."""
    q_h = patient.hepatic_blood_flow
    q_t = patient.tumour_blood_flow
    return [
        Flow("systemic", "liver", q_h),
        Flow("liver", "systemic", q_h),
        Flow("systemic", "tumour", q_t),
        Flow("tumour", "systemic", q_t),
        Flow("systemic", "peripheral", pk.q_peripheral),
        Flow("peripheral", "systemic", pk.q_peripheral),
    ]


def arterial_split(patient: Patient) -> dict[str, float]:
    """How drug infused into the hepatic artery divides between liver and tumour (by arterial flow)."""
    q_liver = patient.hepatic_arterial_flow
    q_tum = patient.tumour_blood_flow
    total = q_liver + q_tum
    return {"liver": q_liver / total, "tumour": q_tum / total}
