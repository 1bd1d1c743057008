"""Protocols and populations shared by the population tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF_A = ROOT / "examples" / "reference_model.toml"
REF_B = ROOT / "examples" / "reference_model_mm.toml"

#: the benchmark's six IIV targets (reference_model.md), CV 30 %
REF_IIV = {k: {"cv": 0.3} for k in ("hepatic_artery_flow", "portal_vein_flow", "hepatic_intrinsic_clearance",
                                    "extrahepatic_clearance", "central_volume", "leak")}
REF_IIV_B = {**{k: v for k, v in REF_IIV.items() if k != "hepatic_intrinsic_clearance"},
             "hepatic_vmax": {"cv": 0.3}}

#: library drugs: melphalan ILP (mg/kg dose, washout phase, leak profile, 40 degC) then 5-FU by HAI
LIBRARY = """
name = "melphalan ILP then 5-FU HAI"
[patient]
weight = "70 kg"
height = "170 cm"
tumour_fraction = "0.1"

[[procedures]]
type = "ilp"
duration = "60 min"
temperature = "40 degC"
circuit_volume = "1.2 L"
hepatic_artery_flow = "0.35 L/min"
portal_vein_flow = "0.6 L/min"
leak_profile = [["0 min", "0.005 L/min"], ["30 min", "0.02 L/min"]]
washout = { duration = "10 min", flow = "1 L/min" }
[[procedures.doses]]
drug = "melphalan"
amount = "1.5 mg/kg"
over = "10 min"

[[procedures]]
type = "hai"
start = "1440 min"
[[procedures.doses]]
drug = "fluorouracil"
amount = "500 mg"
over = "60 min"

[output]
until = "2880 min"
step = "5 min"
"""

LIBRARY_POP = {
    "seed": 11,
    "covariates": {
        "weight": {"distribution": "lognormal", "median": "75 kg", "cv": 0.2, "min": "45 kg", "max": "130 kg"},
        "height": {"distribution": "normal", "mean": "172 cm", "sd": "9 cm", "min": "150 cm", "max": "200 cm"},
        "age": {"distribution": "uniform", "min": 30, "max": 80},
        "sex": {"female": 0.45},
        "tumour_fraction": {"distribution": "lognormal", "median": 0.1, "cv": 0.6, "max": 0.5},
        "correlation": {"weight:height": 0.5, "sex:height": -0.6},
    },
    "iiv": {"central_volume": {"cv": 0.25}, "hepatic_artery_flow": {"cv": 0.2}, "leak": {"cv": 0.5},
            "melphalan.kp_tumour": {"cv": 0.3}, "hepatic_blood_flow": {"cv": 0.2}},
    "iiv_correlation": {"hepatic_artery_flow:leak": 0.4},
}
