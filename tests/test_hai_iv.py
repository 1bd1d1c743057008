"""HAI and IV are configurations of the same engine; checked against closed-form exposure."""

from __future__ import annotations

import pytest

import isoperf
from isoperf.patient import Patient
from isoperf.procedures import drug_pk


def _proto(kind: str, over: str, cycles: int = 1) -> dict:
    proc = {"type": kind, "start": "0 min", "cycles": cycles,
            "doses": [{"drug": "mitomycin_c", "amount": "10 mg", "at": "0 min", "over": over}]}
    if cycles > 1:
        proc["interval"] = "2 d"
    return {"name": kind, "patient": {"tumour_volume": "0.2 L"}, "procedures": [proc],
            "output": {"until": f"{2 * cycles + 8} d", "step": "30 min"}}


def _clearances() -> tuple[float, float, float]:
    p = Patient(tumour_volume=0.2)
    pk = drug_pk(isoperf.get_drug("mitomycin_c"), p)
    q = p.hepatic_blood_flow
    e = pk.cl_hepatic_int / (q + pk.cl_hepatic_int)  # well-stirred extraction
    return pk.cl_extrahepatic + q * e, e, p.tumour_blood_flow / (p.tumour_blood_flow + p.hepatic_arterial_flow)


@pytest.mark.parametrize("over", ["0 min", "30 min"])
def test_iv_systemic_auc_is_dose_over_total_clearance(over):
    cl_tb, _, _ = _clearances()
    assert cl_tb == pytest.approx(8.9e-3 * 70, rel=1e-12)  # the cited total clearance is reproduced exactly
    res = isoperf.simulate(_proto("iv", over))
    assert res.metrics["mitomycin_c"].auc["systemic"] == pytest.approx(10.0 / cl_tb, rel=1e-6)


@pytest.mark.parametrize("over", ["0 min", "1 d"])
def test_hai_first_pass_extraction(over):
    cl_tb, e, share_tumour = _clearances()
    res = isoperf.simulate(_proto("hai", over))
    expected = 10.0 * ((1 - share_tumour) * (1 - e) + share_tumour) / cl_tb
    assert res.metrics["mitomycin_c"].auc["systemic"] == pytest.approx(expected, rel=1e-6)
    iv = isoperf.simulate(_proto("iv", over)).metrics["mitomycin_c"]
    assert res.metrics["mitomycin_c"].auc["liver"] > iv.auc["liver"]  # the regional advantage


def test_cycles_repeat_the_dose():
    res = isoperf.simulate(_proto("hai", "1 d", cycles=3))
    m = res.metrics["mitomycin_c"]
    assert m.dose == pytest.approx(30.0)
    single = isoperf.simulate(_proto("hai", "1 d")).metrics["mitomycin_c"]
    assert m.auc["tumour"] == pytest.approx(3 * single.auc["tumour"], rel=1e-6)
    assert [p for p, _, _ in res.phases()].count("hai") == 3


def test_ilp_then_hai_chain(examples):
    res = isoperf.simulate(examples / "seed_ilp_hai.toml")
    kinds = [p.kind for p in res.plan.procedures]
    assert kinds == ["ilp", "hai"]
    assert res.metrics["fluorouracil"].dose == pytest.approx(1000 + 3 * 1000)
    assert all(m.mass_balance_error <= 1e-9 for m in res.metrics.values())
