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
_UREG.define("percent_ = 0.01 = pct")
_UREG.define("fraction = [] = frac")

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
    cleaned = text.strip().replace("%", " percent_ ").replace("µ", "u").replace("μ", "u")
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
        try:
            q = _parse(value)
        except Exception as exc:  # pint raises several unrelated exception types
            raise InputError(field, f"could not read {value!r} ({type(exc).__name__})",
                             f"expected a quantity like '1 {unit}'") from None
        if kind == "temperature" and not q.dimensionless:
            # offset units: convert explicitly
            pass
        try:
            target = _UREG.Unit(unit) if unit else _UREG.dimensionless
            number = float(q.to(target).magnitude)
        except pint.DimensionalityError:
            dim = str(q.dimensionality) if not q.dimensionless else "dimensionless"
            raise InputError(
                field,
                f"{value!r} has dimension {dim}",
                f"expected {kind.replace('_', ' ')} in {unit or 'a dimensionless number'} (or any unit convertible to it)",
            ) from None
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


def format_quantity(value: float, kind: str, digits: int = 4) -> str:
    """The inverse of :func:`parse_quantity` for display: ``1000.0, 'amount' -> '1000 mg'``."""
    unit = CANONICAL[kind]
    return f"{value:.{digits}g} {unit}".strip()


def dimension_kind(value: str) -> str | None:
    """Which canonical kind a quantity string belongs to (first match), or None."""
    try:
        q = _parse(value)
    except Exception:
        return None
    for kind, unit in CANONICAL.items():
        if kind in ("dimensionless", "age", "energy_per_mol"):
            continue
        target = _UREG.Unit(unit) if unit else _UREG.dimensionless
        if q.dimensionality == target.dimensionality:
            return kind
    return None
