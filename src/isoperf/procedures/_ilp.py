"""Isolated liver perfusion: pump circuit into hepatic artery and portal vein, caval-catheter return,
leak to the body, washout (perfusate discarded), reconnection."""

from __future__ import annotations

from dataclasses import dataclass

from isoperf.model import Flow
from isoperf.patient import Patient
from isoperf.procedures._base import connected_flows
from isoperf.procedures._isolated import IsolatedPerfusion
from isoperf.procedures._pk import DrugPK


@dataclass
class IsolatedLiverPerfusion(IsolatedPerfusion):
    hepatic_artery_flow: float = 0.3
    portal_vein_flow: float = 0.5

    @property
    def pump_flow(self) -> float:
        return self.hepatic_artery_flow + self.portal_vein_flow

    def isolated_flows(self, t0: float, t1: float, patient: Patient, pk: DrugPK) -> tuple[list[Flow], str] | None:
        if not (self.start <= t0 and t1 <= self.end):
            return None
        body = [f for f in connected_flows(patient, pk) if "peripheral" in (f.source, f.target)]
        f_tum = patient.tumour_arterial_share
        portal_share = 0.0  # tumour supply is arterial (see data/physiology/liver.toml)
        q_tum = f_tum * self.hepatic_artery_flow + portal_share * self.portal_vein_flow
        q_liv = self.hepatic_artery_flow + self.portal_vein_flow - q_tum
        if t1 <= self.perfusion_end:
            leak = self.leak_at(0.5 * (t0 + t1))
            return [
                *body,
                Flow("circuit", "liver", q_liv),
                Flow("liver", "circuit", q_liv),
                Flow("circuit", "tumour", q_tum),
                Flow("tumour", "circuit", q_tum),
                Flow("circuit", "systemic", leak, counter="leak", sign=1.0),
                Flow("systemic", "circuit", leak, counter="leak", sign=-1.0),
            ], "perfusion"
        # washout: drug-free fluid flushes liver and tumour; the effluent is discarded
        scale = self.washout_flow / (q_liv + q_tum) if (q_liv + q_tum) > 0 else 0.0
        return [*body, Flow("liver", "washout", q_liv * scale), Flow("tumour", "washout", q_tum * scale)], "washout"


    def summary(self) -> dict[str, object]:
        return {
            **super().summary(),
            "perfusion_end_min": self.perfusion_end,
            "circuit_volume_L": self.circuit_volume,
            "hepatic_artery_flow_L_min": self.hepatic_artery_flow,
            "portal_vein_flow_L_min": self.portal_vein_flow,
            "leak_profile_L_min": self.leak_profile,
            "temperature_degC": self.temperature,
            "washout_duration_min": self.washout_duration,
        }
