"""Percutaneous hepatic perfusion (PHP): drug into the hepatic artery; the hepatic venous outflow (liver and
tumour) is aspirated by a double-balloon caval catheter, passed through an extracorporeal filter that removes
a fraction ``E`` of the drug, and returned to the body.

On the engine: while the procedure lasts, ``Flow(liver, "filter", Q*E)`` and ``Flow(liver, systemic, Q*(1-E))``
(same for the tumour) replace the physiological hepatic venous return. ``E`` is piecewise constant in time
(``extraction_profile``), so every change of ``E`` is a segment boundary and solved exactly.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from isoperf.model import Flow
from isoperf.patient import Patient
from isoperf.procedures._base import Procedure
from isoperf.procedures._isolated import piecewise_value
from isoperf.procedures._pk import DrugPK


@lru_cache(maxsize=1)
def php_filters() -> dict[str, dict[str, Any]]:
    """The filter data of ``data/procedures/php.toml`` (extraction values with their sources)."""
    text = resources.files("isoperf").joinpath("data/procedures/php.toml").read_text("utf-8")
    return tomllib.loads(text)["filters"]


@dataclass
class PercutaneousHepaticPerfusion(Procedure):
    #: piecewise-constant filter extraction: list of (from absolute time, E in [0, 1])
    extraction_profile: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 0.86)])
    filter_name: str = "gen2"
    extraction_source: str = ""

    def breakpoints(self) -> list[float]:
        return [*super().breakpoints(), *(t for t, _ in self.extraction_profile if self.start <= t <= self.end)]

    def extraction_at(self, t: float) -> float:
        return piecewise_value(self.extraction_profile, t, self.extraction_profile[0][1])

    def isolated_flows(self, t0: float, t1: float, patient: Patient, pk: DrugPK) -> tuple[list[Flow], str] | None:
        if not (self.start <= t0 and t1 <= self.end):
            return None
        e = self.extraction_at(0.5 * (t0 + t1))
        q_h = patient.hepatic_blood_flow
        q_t = patient.tumour_blood_flow
        return [
            Flow("systemic", "liver", q_h),
            Flow("liver", "filter", q_h * e),
            Flow("liver", "systemic", q_h * (1.0 - e)),
            Flow("systemic", "tumour", q_t),
            Flow("tumour", "filter", q_t * e),
            Flow("tumour", "systemic", q_t * (1.0 - e)),
            Flow("systemic", "peripheral", pk.q_peripheral),
            Flow("peripheral", "systemic", pk.q_peripheral),
        ], "php"

    def mean_extraction(self) -> float:
        pts = [(max(t, self.start), e) for t, e in self.extraction_profile if t < self.end]
        total = 0.0
        for k, (t, e) in enumerate(pts):
            t_next = pts[k + 1][0] if k + 1 < len(pts) else self.end
            total += e * (t_next - t)
        return total / (self.end - self.start) if self.end > self.start else pts[0][1]

    def summary(self) -> dict[str, object]:
        return {
            **super().summary(),
            "filter": self.filter_name,
            "filter_extraction_profile": [[t, e] for t, e in self.extraction_profile],
            "filter_extraction_mean": self.mean_extraction(),
            "filter_extraction_source": self.extraction_source,
        }
