"""Resolve a dose as written ('1000 mg', '1.5 mg/kg', '750 mg/m2') to mg and check published limits."""

from __future__ import annotations

from isoperf._errors import InputError
from isoperf._units import dimension_kind, parse_quantity
from isoperf.drugs import DoseLimit, Drug
from isoperf.patient import Patient

_DOSE_KINDS = ("amount", "dose_per_mass", "dose_per_area")


def dose_in_mg(text: str, patient: Patient, *, field: str) -> float:
    kind = dimension_kind(str(text)) if isinstance(text, str) else None
    if kind not in _DOSE_KINDS:
        parse_quantity(text, "amount", field=field)  # raises the precise error (missing, bare number, ...)
        raise InputError(field, f"{text!r} is not a dose", "give mg, mg/kg (actual weight) or mg/m2 (BSA)")
    value = parse_quantity(text, kind, field=field, allow_zero=False)
    if kind == "dose_per_mass":
        return value * patient.weight
    if kind == "dose_per_area":
        return value * patient.bsa
    return value


def _limit_mg(value: float | None, kind: str | None, patient: Patient) -> float | None:
    if value is None:
        return None
    if kind == "dose_per_mass":
        return value * patient.weight
    if kind == "dose_per_area":
        return value * patient.bsa
    return value


def check_limit(
    drug: Drug, procedure_kind: str, amount_mg: float, patient: Patient, *, field: str, allow_above_max: bool
) -> tuple[str, ...]:
    """Refuse a dose above the published maximum for the procedure unless explicitly allowed (then flag it)."""
    lim: DoseLimit | None = drug.limits.get(procedure_kind)
    if lim is None:
        return ()
    mx = _limit_mg(lim.max_value, lim.max_kind, patient)
    mn = _limit_mg(lim.min_value, lim.min_kind, patient)
    rng = f"published range for {drug.name} in {procedure_kind.upper()}: " + (
        f"{lim.min_text} - {lim.max_text}" if lim.min_text else f"up to {lim.max_text}"
    ) + f" ({lim.source})"
    if mx is not None and amount_mg > mx * (1 + 1e-12):
        if not allow_above_max:
            raise InputError(field, f"{amount_mg:.4g} mg is above the published maximum {mx:.4g} mg",
                             f"{rng}; set allow_above_max = true on this dose to simulate it anyway")
        return (f"ABOVE PUBLISHED MAXIMUM: {amount_mg:.4g} mg > {mx:.4g} mg ({rng})",)
    if mn is not None and amount_mg < mn * (1 - 1e-12):
        return (f"below published range: {amount_mg:.4g} mg < {mn:.4g} mg ({rng})",)
    return ()
