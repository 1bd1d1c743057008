"""Property tests (hypothesis): invariants that must hold for any reasonable protocol."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import isoperf
from tests.protocols import ilp

flows = st.floats(min_value=0.05, max_value=1.5)
leaks = st.floats(min_value=0.0, max_value=0.05)
doses = st.floats(min_value=5.0, max_value=50.0)
cfg = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _proto(q_ha: float, q_pv: float, leak: float, dose: float, drug: str = "mitomycin_c", over: str = "10 min"):
    return ilp(**{
        "procedures.0.hepatic_artery_flow": f"{q_ha} L/min",
        "procedures.0.portal_vein_flow": f"{q_pv} L/min",
        "procedures.0.leak": f"{leak} L/min",
        "procedures.0.doses.0.amount": f"{dose} mg",
        "procedures.0.doses.0.drug": drug,
        "procedures.0.doses.0.over": over,
    })


@cfg
@given(flows, flows, leaks, doses, st.sampled_from(["mitomycin_c", "fluorouracil", "melphalan", "cisplatin"]))
def test_mass_balance_and_non_negativity(q_ha, q_pv, leak, dose, drug):
    if drug == "fluorouracil":
        dose = 300 + (dose - 5) / 45 * 950  # 300-1250 mg, the published ILP range
    res = isoperf.simulate(_proto(q_ha, q_pv, leak, dose, drug))
    m = res.metrics[drug]
    assert m.mass_balance_error <= 1e-9
    total = m.fate["remaining"] + m.fate["eliminated"] + m.fate["washout"] + m.fate["filtered"]
    assert total == pytest.approx(dose, rel=1e-9)
    tr = res.trajectories[drug]
    assert tr.states.min() >= -1e-9 * dose


@cfg
@given(flows, flows, leaks, doses, st.floats(min_value=0.1, max_value=1.0))
def test_linear_drug_scales_with_dose(q_ha, q_pv, leak, dose, factor):
    a = isoperf.simulate(_proto(q_ha, q_pv, leak, dose)).metrics["mitomycin_c"]
    scaled = _proto(q_ha, q_pv, leak, dose * factor)
    scaled["procedures"][0]["doses"][0]["allow_outside_range"] = True  # may fall below 5 mg: a pure property
    b = isoperf.simulate(scaled).metrics["mitomycin_c"]
    for c in ("circuit", "liver", "tumour", "systemic"):
        assert b.auc[c] == pytest.approx(factor * a.auc[c], rel=1e-9)
        assert b.cmax[c] == pytest.approx(factor * a.cmax[c], rel=1e-9)


@cfg
@given(flows, flows, doses, st.sampled_from(["mitomycin_c", "fluorouracil"]))
def test_zero_leak_means_no_drug_in_body_during_perfusion(q_ha, q_pv, dose, drug):
    if drug == "fluorouracil":
        dose = 300 + (dose - 5) / 45 * 950  # 300-1250 mg, the published ILP range
    res = isoperf.simulate(_proto(q_ha, q_pv, 0.0, dose, drug))
    ts = res.timeseries()
    body = ts[(ts.compartment.isin(["systemic", "peripheral"])) & (ts.time_min <= 60)]
    assert (body.amount_mg == 0).all()
    assert res.metrics[drug].fate["leaked"] == 0
    after = ts[(ts.compartment == "systemic") & (ts.time_min > 61)]
    assert (after.amount_mg > 0).any()  # reconnection releases what the liver still holds


def test_units_do_not_change_the_result():
    a = isoperf.simulate(_proto(0.3, 0.5, 0.01, 20.0, over="10 min"))
    p = _proto(0.3, 0.5, 0.01, 20.0, over="10 min")
    proc = p["procedures"][0]
    proc["hepatic_artery_flow"] = "18 L/h"
    proc["portal_vein_flow"] = "500 mL/min"
    proc["leak"] = "0.6 L/h"
    proc["circuit_volume"] = "1500 mL"
    proc["duration"] = "1 h"
    proc["doses"][0]["amount"] = "0.02 g"
    proc["doses"][0]["over"] = "600 s"
    p["patient"]["weight"] = "70000 g"
    p["output"]["until"] = "10 h"
    b = isoperf.simulate(p)
    ma, mb = a.metrics["mitomycin_c"], b.metrics["mitomycin_c"]
    for c in ("circuit", "liver", "tumour", "systemic"):
        assert mb.auc[c] == pytest.approx(ma.auc[c], rel=1e-12)


def test_infusion_rate_in_g_per_h_equals_mg_per_min():
    """The same 5-FU infusion written as 1000 mg over 10 min and as 6 g/h for 10 min (via 'over')."""
    a = isoperf.simulate(_proto(0.3, 0.5, 0.01, 1000.0, "fluorouracil", over="10 min"))
    b = isoperf.simulate(_proto(0.3, 0.5, 0.01, 1000.0, "fluorouracil", over=f"{10 / 60} h"))
    assert b.metrics["fluorouracil"].auc["tumour"] == pytest.approx(a.metrics["fluorouracil"].auc["tumour"], rel=1e-9)


@pytest.mark.parametrize("drug", ["mitomycin_c", "fluorouracil"])
@pytest.mark.parametrize("step", ["7 min", "0.5 min", "60 min"])
def test_event_results_do_not_depend_on_output_grid(drug, step):
    base = _proto(0.3, 0.5, 0.01, 20.0 if drug == "mitomycin_c" else 1000.0, drug)
    ref = isoperf.simulate(base).metrics[drug]
    other = dict(base)
    other["output"] = {"until": "600 min", "step": step}
    got = isoperf.simulate(other).metrics[drug]
    for c in ("circuit", "liver", "tumour", "systemic"):
        assert got.auc[c] == pytest.approx(ref.auc[c], rel=1e-9)
    for k in ("washout", "eliminated", "leaked", "remaining"):
        assert got.fate[k] == pytest.approx(ref.fate[k], rel=1e-8, abs=1e-12)
    # the washout happens at 60 min whatever the grid: the circuit is empty right after it
    ts = isoperf.simulate(other).timeseries()
    circ = ts[(ts.compartment == "circuit") & (ts.time_min > 60)]
    assert np.all(circ.amount_mg == 0)
