"""Protocol builders shared by the regional-delivery tests (a plain module, not a conftest)."""

from __future__ import annotations

from typing import Any

PATIENT = {"weight": "80 kg", "height": "178 cm", "sex": "male", "tumour_fraction": "0.2"}


def php(**proc: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"type": "php", "washout": {"duration": "30 min"},
                         "doses": [{"drug": "melphalan", "rule": "hepzato", "over": "30 min"}]}
    p.update(proc)
    return {"name": "php", "patient": dict(PATIENT), "procedures": [p], "output": {"until": "600 min"}}


def limb(**proc: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"type": "limb", "limb": "leg", "limb_volume": "9 L", "circuit_volume": "0.8 L",
                         "perfusion_flow": "0.4 L/min", "duration": "60 min",
                         "washout": {"duration": "10 min", "flow": "0.4 L/min"},
                         "doses": [{"drug": "melphalan", "rule": "limb_leg"}]}
    p.update(proc)
    return {"name": "limb", "patient": dict(PATIENT), "procedures": [p], "output": {"until": "600 min"}}
