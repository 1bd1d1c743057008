"""Isolated limb perfusion: the limb compartment, the tourniquet leak and the mg/L dose rule."""

from __future__ import annotations

import pytest
from regional_protocols import limb

import isoperf
from isoperf import InputError
from isoperf.inputs import load_protocol
from isoperf.procedures import build_plan


def test_mass_balance_and_json_keys() -> None:
    r = isoperf.simulate(limb())
    m = r.metrics["melphalan"]
    assert m.mass_balance_error <= 1e-9
    out = r.to_dict()["drugs"]["melphalan"]
    assert set(out["auc"]) == {"circuit", "liver", "tumour", "systemic", "peripheral", "limb"}
    assert out["auc"]["limb"] > 5 * out["auc"]["systemic"]  # isolation: high regional exposure
    total = m.fate["washout"] + m.fate["eliminated"] + m.fate["remaining"]
    assert total == pytest.approx(m.dose, rel=1e-9)


def test_liver_protocols_keep_their_keys() -> None:
    r = isoperf.simulate("examples/reference_model.toml")
    assert set(r.to_dict()["drugs"]["reference_drug"]["auc"]) == {"circuit", "liver", "tumour", "systemic",
                                                                  "peripheral"}


def test_mg_per_litre_limb_volume_rule() -> None:
    r = isoperf.simulate(limb())
    dose = r.to_dict()["procedures"][0]["doses"][0]
    assert dose["amount_mg"] == pytest.approx(13.0 * 9.0)
    assert dose["base_unit"] == "L" and dose["base_value"] == 9.0 and "Oncolex" in dose["rule_source"]
    arm = isoperf.simulate(limb(limb="arm", limb_volume="3 L", doses=[{"drug": "melphalan", "rule": "limb_arm"}]))
    assert arm.metrics["melphalan"].dose == pytest.approx(30.0)
    alt = isoperf.simulate(limb(doses=[{"drug": "melphalan", "rule": "limb_leg_wieberdink"}]))
    assert alt.metrics["melphalan"].dose == pytest.approx(90.0)
    assert "ESTIMATE" in alt.to_dict()["procedures"][0]["doses"][0]["rule_source"]


def test_dose_outside_the_published_range_is_refused_or_flagged() -> None:
    spec = limb(doses=[{"drug": "melphalan", "amount": "15 mg/L"}])
    with pytest.raises(InputError) as exc:
        isoperf.simulate(spec)
    assert "above the published maximum" in str(exc.value) and "13 mg/L" in str(exc.value)
    spec["procedures"][0]["doses"][0]["allow_outside_range"] = True
    assert any("ABOVE PUBLISHED MAXIMUM" in f for f in isoperf.simulate(spec).flags)
    low = limb(doses=[{"drug": "melphalan", "amount": "5 mg/L"}])  # below the range: refused too
    with pytest.raises(InputError, match="below the published minimum"):
        isoperf.simulate(low)
    low["procedures"][0]["doses"][0]["allow_outside_range"] = True
    flags = isoperf.simulate(low).to_dict()["flags"]
    assert any("BELOW PUBLISHED RANGE" in f and "10 mg/L - 13 mg/L" in f for f in flags)


@pytest.mark.parametrize("vol", ["0 L", "-2 L"])
def test_limb_volume_must_be_positive(vol: str) -> None:
    with pytest.raises(InputError) as exc:
        isoperf.simulate(limb(limb_volume=vol))
    assert exc.value.field == "procedures[0].limb_volume"


def test_limb_volume_is_required() -> None:
    spec = limb()
    del spec["procedures"][0]["limb_volume"]
    with pytest.raises(InputError) as exc:
        isoperf.simulate(spec)
    assert exc.value.field == "procedures[0].limb_volume" and "missing" in str(exc.value)


def test_mg_per_litre_outside_limb_perfusion_is_an_error() -> None:
    spec = {"procedures": [{"type": "iv", "doses": [{"drug": "melphalan", "amount": "10 mg/L"}]}]}
    with pytest.raises(InputError) as exc:
        isoperf.simulate(spec)
    assert "limb" in str(exc.value)


def test_leak_drives_systemic_exposure_during_perfusion() -> None:
    tight = isoperf.simulate(limb(leak="0 %/min"))
    leaky = isoperf.simulate(limb(leak="1 %/min"))
    assert tight.metrics["melphalan"].fate["leaked"] == 0.0
    assert leaky.metrics["melphalan"].fate["leaked"] > 0.0
    # nothing reaches the body before the tourniquet is released when there is no leak
    ts = tight.timeseries()
    before = ts[(ts.compartment == "systemic") & (ts.time_min <= 70.0)]
    assert before.amount_mg.abs().max() == 0.0
    # the default leak is the cited 0.32 %/min of the perfusate volume
    plan = build_plan(load_protocol(limb()))
    assert plan.procedures[0].leak_profile[0][1] == pytest.approx(0.0032 * 0.8)


def test_limb_stays_connected_outside_the_procedure() -> None:
    plan = build_plan(load_protocol(limb()))
    seg = plan.models["melphalan"].segments[-1]
    assert seg.phase == "connected"
    assert any(f.source == "systemic" and f.target == "limb" for f in seg.flows)
    iso = plan.models["melphalan"].segments[0]
    assert not any("systemic" in (f.source, f.target) and "limb" in (f.source, f.target) for f in iso.flows)
