from __future__ import annotations

import pytest

from isoperf import InputError, parse_quantity
from isoperf._units import dimension_kind


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("1000 mg", "amount", 1000.0),
    ("1 g", "amount", 1000.0),
    ("0.3 L/min", "flow", 0.3),
    ("18 L/h", "flow", 0.3),
    ("300 mL/min", "flow", 0.3),
    ("2 h", "time", 120.0),
    ("1 d", "time", 1440.0),
    ("39.5 degC", "temperature", 39.5),
    ("312.65 K", "temperature", 39.5),
    ("1.5 mg/kg", "dose_per_mass", 1.5),
    ("750 mg/m2", "dose_per_area", 750.0),
    ("750 mg/m**2", "dose_per_area", 750.0),
    ("6 g/h", "mass_rate", 100.0),
    ("25 %", "fraction", 0.25),
    ("20 ug/mL", "concentration", 20.0),
    ("8.9 mL/min/kg", "clearance_per_mass", 0.0089),
    ("17.3 L/m2", "volume_per_area", 17.3),
])
def test_parse_to_canonical(text, kind, value):
    assert parse_quantity(text, kind, field="f") == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(("text", "kind"), [
    ("1.5 mg/kg", "dose_per_mass"), ("750 mg/m2", "dose_per_area"), ("0.3 L/min", "flow"), ("11 L/m2", "volume_per_area"),
    ("0.3 L/min/m2", "clearance_per_area"), ("1000 mg", "amount"), ("5 mg/L", "concentration"),
])
def test_dimension_kind(text, kind):
    assert dimension_kind(text) == kind


@pytest.mark.parametrize(("value", "kind", "fragment"), [
    ("1 L", "amount", "is a volume (L); expected amount in mg"),
    ("1.5 mg/kg", "amount", "per kg"),
    ("1000 mg", "dose_per_mass", "not given per kg"),
    ("-1 mg", "amount", "negative"),
    ("nan L", "volume", "finite"),
    ("abc", "volume", "could not read"),
    (None, "volume", "missing"),
    (3, "volume", "bare number"),
    (True, "volume", "got True"),
])
def test_errors_name_field_and_unit(value, kind, fragment):
    with pytest.raises(InputError) as info:
        parse_quantity(value, kind, field="procedures[0].x")
    assert str(info.value).startswith("procedures[0].x:")
    assert fragment in str(info.value)


def test_convert_to_an_explicit_model_unit():
    from isoperf._units import convert_to_unit

    assert convert_to_unit("30.4375 day", "month", field="f") == pytest.approx(1.0, rel=1e-12)
    assert convert_to_unit("0.5", "", field="f") == 0.5
    with pytest.raises(InputError, match="^arms.x: could not read '3 kg' as month"):
        convert_to_unit("3 kg", "month", field="arms.x")
