"""Dose rules as data: weight bases, BSA, limb volume, caps, named published rules."""

from __future__ import annotations

import pytest

import isoperf
from isoperf import InputError, Patient
from isoperf.procedures import dose_rule_library, make_rule, named_rule, resolve_dose

OBESE = Patient(weight=120.0, height=170.0, sex="female")


@pytest.mark.parametrize("basis,weight", [("actual", 120.0), ("ideal", OBESE.ideal_body_weight),
                                          ("adjusted", OBESE.ideal_body_weight + 0.4 * (120 - OBESE.ideal_body_weight))])
def test_weight_bases(basis: str, weight: float) -> None:
    r = resolve_dose(make_rule("2 mg/kg", basis=basis, cap=None, field="d"), OBESE, limb_volume=None, field="d")
    assert r.mg == pytest.approx(2.0 * weight)
    assert r.base_value == pytest.approx(weight) and r.base_unit == "kg"


def test_bsa_and_cap() -> None:
    r = resolve_dose(make_rule("400 mg/m2", basis=None, cap="500 mg", field="d"), OBESE, limb_volume=None, field="d")
    assert r.uncapped_mg == pytest.approx(400 * OBESE.bsa)
    assert r.mg == pytest.approx(min(500.0, 400 * OBESE.bsa))
    assert r.capped is (400 * OBESE.bsa > 500)


def test_every_library_rule_has_a_source_or_is_an_estimate() -> None:
    lib = dose_rule_library()
    assert "hepzato" in lib["melphalan"]
    for drug, rules in lib.items():
        for name, raw in rules.items():
            assert raw.get("source") or (raw.get("estimate") and raw.get("note")), (drug, name)
            named_rule(drug, name, field="x")  # parses


@pytest.mark.parametrize("dose,field,words", [
    ({"drug": "melphalan", "rule": "hepzato", "amount": "1 mg"}, "amount", "either amount or rule"),
    ({"drug": "melphalan"}, "amount", "either amount or rule"),
    ({"drug": "melphalan", "rule": "nope"}, "rule", "known rules"),
    ({"drug": "melphalan", "amount": "100 mg", "basis": "ideal"}, "basis", "mg/kg"),
    ({"drug": "melphalan", "amount": "1 mg/kg", "cap": "2 mg/kg"}, "cap", "mg"),
    ({"drug": "melphalan", "amount": "1 L"}, "amount", "is a volume"),
])
def test_bad_dose_rules(dose: dict, field: str, words: str) -> None:
    with pytest.raises(InputError) as exc:
        isoperf.simulate({"procedures": [{"type": "iv", "doses": [dose]}]})
    assert exc.value.field == f"procedures[0].doses[0].{field}"
    assert words in str(exc.value)


def test_result_reports_rule_and_computed_dose() -> None:
    r = isoperf.simulate({"patient": {"weight": "120 kg", "height": "170 cm", "sex": "female"}, "procedures": [
        {"type": "iv", "doses": [{"drug": "mitomycin_c", "amount": "0.1 mg/kg", "basis": "adjusted"}]}]})
    d = r.to_dict()["procedures"][0]["doses"][0]
    assert d["rule"] == "0.1 mg/kg (adjusted body weight)"
    assert d["amount_mg"] == pytest.approx(0.1 * r.plan.patient.adjusted_body_weight)
    assert r.metrics["mitomycin_c"].dose == pytest.approx(d["amount_mg"])


def test_dose_event_recomputes_for_another_patient_with_its_rule() -> None:
    from regional_protocols import php

    r = isoperf.simulate(php())
    d = r.plan.procedures[0].doses[0]
    assert d.rule == "3 mg/kg"  # as written, parseable by dose_in_mg
    tall = Patient(weight=100.0, height=200.0)
    assert d.amount_for(tall) == pytest.approx(220.0)  # ideal basis and cap kept
    small = Patient(weight=100.0, height=160.0)
    assert d.amount_for(small) == pytest.approx(3.0 * small.ideal_body_weight)
