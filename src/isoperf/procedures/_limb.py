"""Isolated limb perfusion: a tourniquet isolates the limb; a pump circulates perfusate between the
circuit and the limb; perfusate leaks to the body (tourniquet leak, %/min of the perfusate volume); at the
end the perfusate is discarded and the limb is flushed (washout); then the limb is reconnected.

The limb is an extra compartment (``limb``) declared by the procedure; with the limb connected it exchanges
with the systemic blood at the limb's blood flow.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from isoperf._units import parse_quantity
from isoperf.model import Compartment, Flow
from isoperf.patient import Patient
from isoperf.procedures._base import connected_flows
from isoperf.procedures._isolated import IsolatedPerfusion
from isoperf.procedures._pk import DrugPK


@dataclass
class IsolatedLimbPerfusion(IsolatedPerfusion):
    limb: str = "leg"
    limb_volume: float = 10.0
    circuit_volume: float = 1.0
    perfusion_flow: float = 0.5
    limb_blood_flow: float = 0.3

    @property
    def pump_flow(self) -> float:
        return self.perfusion_flow

    def extra_compartments(self, patient: Patient, pk: DrugPK) -> list[Compartment]:
        return [Compartment("limb", self.limb_volume, pk.kp_limb)]

    def connected_extra_flows(self, patient: Patient, pk: DrugPK) -> list[Flow]:
        return [Flow("systemic", "limb", self.limb_blood_flow), Flow("limb", "systemic", self.limb_blood_flow)]

    def isolated_flows(self, t0: float, t1: float, patient: Patient, pk: DrugPK) -> tuple[list[Flow], str] | None:
        if not (self.start <= t0 and t1 <= self.end):
            return None
        body = connected_flows(patient, pk)  # liver, tumour and peripheral stay connected; the limb does not
        if t1 <= self.perfusion_end:
            leak = self.leak_at(0.5 * (t0 + t1))
            return [
                *body,
                Flow("circuit", "limb", self.perfusion_flow),
                Flow("limb", "circuit", self.perfusion_flow),
                Flow("circuit", "systemic", leak, counter="leak", sign=1.0),
                Flow("systemic", "circuit", leak, counter="leak", sign=-1.0),
            ], "perfusion"
        return [*body, Flow("limb", "washout", self.washout_flow)], "washout"


    def summary(self) -> dict[str, object]:
        return {
            **super().summary(),
            "perfusion_end_min": self.perfusion_end,
            "limb": self.limb,
            "limb_volume_L": self.limb_volume,
            "circuit_volume_L": self.circuit_volume,
            "perfusion_flow_L_min": self.perfusion_flow,
            "limb_blood_flow_L_min": self.limb_blood_flow,
            "leak_profile_L_min": self.leak_profile,
            "temperature_degC": self.temperature,
            "washout_duration_min": self.washout_duration,
        }


@lru_cache(maxsize=1)
def _limb_raw() -> dict[str, Any]:
    return tomllib.loads(resources.files("isoperf").joinpath("data/physiology/limb.toml").read_text("utf-8"))


def limb_constants_text(name: str) -> str:
    """A value of ``data/physiology/limb.toml`` as written (e.g. '0.32 %/min')."""
    return str(_limb_raw()["parameters"][name]["value"])


@lru_cache(maxsize=1)
def limb_constants() -> dict[str, float]:
    """Limb physiology constants in canonical units (specific flow in L/min per L)."""
    kinds = {"specific_limb_blood_flow": "specific_flow", "tourniquet_leak_rate": "rate_constant"}
    return {k: parse_quantity(v["value"], kinds[k], field=f"limb.toml {k}") for k, v in _limb_raw()["parameters"].items()}
