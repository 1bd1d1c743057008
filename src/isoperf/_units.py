"""Units at the edges: quantity strings are parsed once (pint) into floats in canonical units.

Canonical units inside isoperf: amount mg, volume L, time min, flow/clearance L/min, concentration mg/L,
mass rate mg/min, first-order rate 1/min, body mass kg, length cm, area m2, temperature degC.
Hot code never sees a pint object.
"""

from __future__ import annotations

import math
from functools import lru_cache

import pint

from isoperf._errors import InputError

_UREG = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
_UREG.define("m2 = meter ** 2")

_MASS = _UREG.kilogram.dimensionality
_AREA = _UREG.m2.dimensionality

#: kinds normalised per body size: kind -> (base kind, body unit)
PER_BODY: dict[str, tuple[str, str]] = {
    "dose_per_mass": ("amount", "kg"),
    "dose_per_area": ("amount", "m2"),
    "volume_per_mass": ("volume", "kg"),
    "volume_per_area": ("volume", "m2"),
    "clearance_per_mass": ("flow", "kg"),
    "clearance_per_area": ("flow", "m2"),
}

#: canonical unit for each kind of quantity a field can hold
CANONICAL: dict[str, str] = {
    "amount": "mg",
    "volume": "L",
    "time": "min",
    "flow": "L/min",
    "concentration": "mg/L",
    "mass_rate": "mg/min",
    "rate_constant": "1/min",
    "body_mass": "kg",
    "length": "cm",
    "area": "m2",
    "temperature": "degC",
    "dose_per_mass": "mg/kg",
    "dose_per_area": "mg/m2",
    "dose_per_volume": "mg/L",
    "clearance_per_area": "L/min/m2",
    "clearance_per_mass": "L/min/kg",
    "volume_per_area": "L/m2",
    "volume_per_mass": "L/kg",
    "specific_flow": "mL/min/mL",
    "fraction": "",
    "dimensionless": "",
    "energy_per_mol": "kJ/mol",
    "age": "year",
}


@lru_cache(maxsize=4096)
def _parse(text: str) -> pint.Quantity:
    cleaned = text.strip().replace("%", " percent ").replace("µ", "u").replace("μ", "u")
    return _UREG.Quantity(cleaned) if cleaned else _UREG.Quantity("nan")


def parse_quantity(
    value: object,
    kind: str,
    *,
    field: str,
    allow_zero: bool = True,
    allow_negative: bool = False,
) -> float:
    """Parse ``value`` (e.g. ``"0.3 L/min"``) as a ``kind`` quantity and return a float in canonical units.

    Raises :class:`InputError` naming ``field`` when the value is missing, not a number with a unit,
    of the wrong dimension, NaN, negative or (when ``allow_zero`` is false) zero.
    """
    unit = CANONICAL[kind]
    if value is None:
        raise InputError(field, "is missing", f"give a value in {unit or 'a dimensionless number'}")
    if isinstance(value, bool):
        raise InputError(field, f"got {value!r}", f"expected a quantity like '1 {unit}'")
    if isinstance(value, int | float):
        if unit and kind != "age":
            raise InputError(
                field,
                f"got the bare number {value!r}",
                f"write it with a unit, e.g. '{value} {unit}'",
            )
        number = float(value)
    elif isinstance(value, str):
        got = _canonical(value, kind)
        if isinstance(got, tuple):
            raise InputError(field, *got)
        number = got
    else:
        raise InputError(field, f"got {type(value).__name__} {value!r}", f"expected a string like '1 {unit}'")
    if math.isnan(number) or math.isinf(number):
        raise InputError(field, f"{value!r} is not a finite number", "give a finite value")
    if kind != "temperature":
        if number < 0 and not allow_negative:
            raise InputError(field, f"{value!r} is negative", "give a value >= 0")
        if number == 0 and not allow_zero:
            raise InputError(field, f"{value!r} is zero", "give a value > 0")
    return number


@lru_cache(maxsize=8192)
def _canonical(text: str, kind: str) -> float | tuple[str, str]:
    """Cached conversion of one quantity string: the float, or (problem, hint) for the error message."""
    try:
        q = _parse(text)
    except Exception as exc:  # pint raises several unrelated exception types
        return f"could not read {text!r} ({type(exc).__name__})", f"expected a quantity like '1 {CANONICAL[kind]}'"
    try:
        return _convert(q, kind, text, "")
    except InputError as exc:
        return exc.problem, exc.hint


def _body_denominator(q: pint.Quantity) -> str | None:
    """'kg' if the unit has a body-mass denominator (mg/kg), 'm2' for a body-area one (mg/m2), else None."""
    for name, exp in q.unit_items():
        dim = _UREG.Unit(name).dimensionality
        if exp < 0 and dim == _MASS:
            return "kg"
        if (exp == -1 and dim == _AREA) or (exp == -2 and dim == _UREG.meter.dimensionality):
            return "m2"
    return None


def _convert(q: pint.Quantity, kind: str, text: object, field: str) -> float:
    unit = CANONICAL[kind]
    expected = f"expected {kind.replace('_', ' ')} in {unit or 'a plain number'} (or a unit convertible to it)"
    body = _body_denominator(q)
    if kind in PER_BODY:
        base, body_unit = PER_BODY[kind]
        if body != body_unit:
            raise InputError(field, f"{text!r} is not given per {body_unit}", expected)
        q = q * _UREG.Unit(body_unit)
        target = _UREG.Unit(CANONICAL[base])
    else:
        if body is not None and kind in ("amount", "volume", "flow", "dimensionless", "fraction"):
            raise InputError(field, f"{text!r} is given per {body} of body size", expected)
        target = _UREG.Unit(unit) if unit else _UREG.dimensionless
    try:
        return float(q.to(target).magnitude)
    except pint.DimensionalityError:
        raise InputError(field, f"{text!r} is {_describe(q)}", expected) from None


def _describe(q: pint.Quantity) -> str:
    """'a volume (L)', 'a flow (L/min)', ... or the raw dimensionality for anything else."""
    if q.dimensionless:
        return "a plain number"
    for kind, unit in CANONICAL.items():
        if kind in PER_BODY or not unit or kind in ("age", "length", "body_mass"):
            continue
        if q.dimensionality == _UREG.Unit(unit).dimensionality:
            name = kind.replace("_", " ")
            return f"{'an' if name[0] in 'aeiou' else 'a'} {name} ({unit})"
    return f"of dimension {q.dimensionality}"


@lru_cache(maxsize=4096)
def _to_unit(text: str, unit: str) -> float | tuple[str, str]:
    try:
        q = _parse(text)
        return float(q.to(unit or "dimensionless").magnitude)
    except Exception as exc:  # pint raises several unrelated exception types
        return (f"could not read {text!r} as {unit or 'a number'} ({type(exc).__name__})",
                f"e.g. '1 {unit}'" if unit else "give a plain number")


def convert_to_unit(text: str, unit: str, *, field: str) -> float:
    """Convert a quantity string to an explicit ``unit`` ('' = dimensionless), for models whose internal
    units are not isoperf's canonical ones (months, mm, 1/month, ...). Errors name ``field``.

    pint's month is 1/12 of a 365.25-day year (30.4375 days), the cohort convention.
    """
    got = _to_unit(text, unit)
    if isinstance(got, tuple):
        raise InputError(field, *got)
    return got


@lru_cache(maxsize=4096)
def dimension_kind(value: str) -> str | None:
    """Which canonical kind a quantity string belongs to (first match), or None if it is none of them."""
    try:
        q = _parse(value)
    except Exception:
        return None
    body = _body_denominator(q)
    if body is not None:
        for kind, (_base, body_unit) in PER_BODY.items():
            if body_unit != body:
                continue
            try:
                _convert(q, kind, value, "")
                return kind
            except InputError:
                continue
        return None
    for kind, unit in CANONICAL.items():
        if kind in PER_BODY or kind in ("age", "energy_per_mol", "fraction", "specific_flow"):
            continue
        target = _UREG.Unit(unit) if unit else _UREG.dimensionless
        if q.dimensionality == target.dimensionality:
            return kind
    return None
