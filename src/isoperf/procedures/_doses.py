"""Resolve a dose as written ('1000 mg', '1.5 mg/kg', '750 mg/m2', '13 mg/L') to mg and check published limits."""

from __future__ import annotations

from isoperf._errors import InputError
from isoperf.drugs import DoseLimit, Drug
from isoperf.patient import Patient
from isoperf.procedures._dose_rules import make_rule, resolve_dose, weight_for


def dose_in_mg(text: str, patient: Patient, *, field: str, basis: str = "actual",
               limb_volume: float | None = None) -> float:
    """The dose ``text`` in mg for ``patient`` (mg/kg on the ``basis`` weight, mg/L on ``limb_volume``)."""
    return resolve_dose(make_rule(text, basis=basis, cap=None, field=field), patient, limb_volume=limb_volume,
                        field=field).mg


def _limit_mg(value: float | None, kind: str | None, patient: Patient, basis: str,
              limb_volume: float | None) -> float | None:
    if value is None:
        return None
    if kind == "dose_per_mass":
        return value * weight_for(patient, basis)
    if kind == "dose_per_area":
        return value * patient.bsa
    if kind == "dose_per_volume":
        return value * limb_volume if limb_volume is not None else None
    return value


def check_limit(
    drug: Drug, procedure_kind: str, amount_mg: float, patient: Patient, *, field: str, allow_above_max: bool,
    basis: str = "actual", limb_volume: float | None = None, allow_below_min: bool = True,
) -> tuple[str, ...]:
    """Refuse a dose outside the published range for the procedure unless explicitly allowed; an allowed
    dose outside the range is flagged (the flag travels to every output).

    A per-kg limit is evaluated on the same weight ``basis`` as the dose; a per-litre limit on the limb volume.
    """
    lim: DoseLimit | None = drug.limits.get(procedure_kind)
    if lim is None:
        return ()
    mx = _limit_mg(lim.max_value, lim.max_kind, patient, basis, limb_volume)
    mn = _limit_mg(lim.min_value, lim.min_kind, patient, basis, limb_volume)
    rng = f"published range for {drug.name} in {procedure_kind.upper()}: " + (
        f"{lim.min_text} - {lim.max_text}" if lim.min_text else f"up to {lim.max_text}"
    ) + f" ({lim.source})"
    if mx is not None and amount_mg > mx * (1 + 1e-12):
        if not allow_above_max:
            raise InputError(field, f"{amount_mg:.4g} mg is above the published maximum {mx:.4g} mg",
                             f"{rng}; set allow_outside_range = true on this dose to simulate it anyway")
        return (f"ABOVE PUBLISHED MAXIMUM: {amount_mg:.4g} mg > {mx:.4g} mg ({rng})",)
    if mn is not None and amount_mg < mn * (1 - 1e-12):
        if not allow_below_min:
            raise InputError(field, f"{amount_mg:.4g} mg is below the published minimum {mn:.4g} mg",
                             f"{rng}; set allow_outside_range = true on this dose to simulate it anyway")
        return (f"BELOW PUBLISHED RANGE: {amount_mg:.4g} mg < {mn:.4g} mg ({rng})",)
    return ()
