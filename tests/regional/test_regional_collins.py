"""Collins' regional advantage: the formula and the engine's steady state are the same quantity."""

from __future__ import annotations

import numpy as np
import pytest

from isoperf import InputError
from isoperf.analysis import collins_rd, regional_advantage


def _linear_drug(vc: float, vp: float, qp: float, cl_int: float, cl_e: float, kp: float) -> dict:
    est = {"estimate": True, "note": "test draw"}
    return {"testdrug": {"parameters": {
        "central_volume": {"value": f"{vc!r} L", **est},
        "peripheral_volume": {"value": f"{vp!r} L", **est},
        "intercompartmental_clearance": {"value": f"{qp!r} L/min", **est},
        "hepatic_intrinsic_clearance": {"value": f"{cl_int!r} L/min", **est},
        "extrahepatic_clearance": {"value": f"{cl_e!r} L/min", **est},
        "kp_liver": {"value": f"{kp!r}", **est},
        "kp_tumour": {"value": f"{kp!r}", **est},
    }}}


def test_formula_reproduces_the_worked_5fu_example() -> None:
    # domain.md 1a: CL_TB 1.44 L/min, Q_HA 0.375 L/min, E 0.2 / 0.5 / 0.8 -> 5.8 / 8.7 / 20
    assert collins_rd(1.44, 0.375, 0.2) == pytest.approx(1 + 1.44 / (0.375 * 0.8), rel=1e-15)
    assert [round(collins_rd(1.44, 0.375, e), 1) for e in (0.2, 0.5, 0.8)] == [5.8, 8.7, 20.2]


@pytest.mark.parametrize("kw", [{"total_clearance": 1.0, "flow": 0.0, "extraction": 0.5},
                                {"total_clearance": 1.0, "flow": 0.3, "extraction": 1.0},
                                {"total_clearance": 1.0, "flow": 0.3, "extraction": -0.1},
                                {"total_clearance": -1.0, "flow": 0.3, "extraction": 0.1}])
def test_formula_rejects_bad_input(kw: dict) -> None:
    with pytest.raises(InputError):
        collins_rd(**kw)


def _draws(n: int, seed: int = 20240611) -> list[dict]:
    """Random linear drugs and patients (deterministic: numpy Generator with a fixed seed)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        out.append({
            "vc": rng.uniform(3.0, 60.0), "vp": rng.uniform(0.5, 80.0), "qp": rng.uniform(0.05, 3.0),
            "cl_int": float(np.exp(rng.uniform(np.log(0.02), np.log(20.0)))), "cl_e": rng.uniform(0.05, 3.0),
            "kp": rng.uniform(0.3, 5.0), "weight": rng.uniform(45.0, 120.0), "height": rng.uniform(150.0, 200.0),
            "tumour": [None, "0.05", "0.3"][k % 3], "q_h": rng.uniform(0.6, 2.5),
        })
    return out


@pytest.mark.parametrize("d", _draws(15), ids=lambda d: f"clint{d['cl_int']:.3g}-tum{d['tumour']}")
def test_linear_drugs_agree_with_the_formula(d: dict) -> None:
    q_h = d["q_h"]
    patient = {"weight": f"{d['weight']!r} kg", "height": f"{d['height']!r} cm",
               "override": {"hepatic_blood_flow": f"{q_h!r} L/min"}}
    if d["tumour"] is not None:
        patient["tumour_fraction"] = d["tumour"]
    drugs = _linear_drug(d["vc"], d["vp"], d["qp"], d["cl_int"], d["cl_e"], d["kp"])
    res = regional_advantage("testdrug", patient=patient, drugs=drugs)
    assert res.linear
    # the engine's E and CL_TB as the formula needs them: well-stirred liver on the whole hepatic flow
    assert res.extraction == pytest.approx(d["cl_int"] / (q_h + d["cl_int"]), rel=1e-12)
    assert res.total_clearance == pytest.approx(d["cl_e"] + q_h * res.extraction, rel=1e-12)
    if d["tumour"] is None:  # one infused region: Collins' formula exactly
        assert res.analytic["collins"] == pytest.approx(collins_rd(res.total_clearance, q_h, res.extraction))
        assert set(res.simulated) == {"liver", "collins"}
    else:
        assert "tumour" in res.simulated
    for region, err in res.relative_error.items():
        assert err < 1e-6, (region, res.analytic, res.simulated)


def _fu(rate: str):
    return regional_advantage("5-FU", infusion_rate=rate)


def test_saturable_5fu_diverges_from_the_formula_and_why() -> None:
    """5-FU's hepatic elimination saturates (Vmax 11.2 mg/min, Km 3.4 mg/L). The formula uses E and CL_TB
    linearised at C -> 0. Arterial delivery raises the liver concentration, so the liver extracts a smaller
    fraction (E_IA < E_IV) and Rd falls below the formula as the infusion rate grows; at vanishing rates the
    two agree. Evaluating E and CL_TB at each route's own steady state reproduces the simulation exactly."""
    low, mid, high = _fu("0.001 mg/min"), _fu("1 mg/min"), _fu("10 mg/min")
    errs = [r.relative_error["liver"] for r in (low, mid, high)]
    assert errs[0] < 1e-4
    assert errs[0] < errs[1] < errs[2]
    assert errs[2] > 0.2  # far from agreement at a clinical-scale rate
    assert high.simulated["liver"] < mid.simulated["liver"] < low.simulated["liver"] < low.analytic["liver"]
    for r in (low, mid, high):
        rs = r.route_specific
        assert rs["extraction_hepatic_artery"] < rs["extraction_intravenous"] < r.extraction
        assert rs["rd_route_specific"] == pytest.approx(r.simulated["liver"], rel=1e-6)


def test_linear_drug_route_specific_equals_formula() -> None:
    res = regional_advantage("mitomycin_c")
    rs = res.route_specific
    assert rs["extraction_hepatic_artery"] == pytest.approx(rs["extraction_intravenous"], rel=1e-12)
    assert rs["rd_route_specific"] == pytest.approx(res.analytic["collins"], rel=1e-9)
