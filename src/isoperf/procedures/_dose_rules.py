"""Dose rules as data: mg, mg/kg (actual, ideal or adjusted weight), mg/m2, mg/L of limb volume, with caps.

A protocol dose states its rule (``amount = "3 mg/kg"``, ``basis = "ideal"``, ``cap = "220 mg"``) or names a
published one from ``data/dose_rules.toml`` (``rule = "hepzato"``). :func:`resolve_dose` turns it into mg and
keeps the rule, the body-size value used and whether the cap applied, so every output can say how the
dose was computed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from isoperf._errors import InputError
from isoperf._units import dimension_kind, parse_quantity
from isoperf.patient import Patient

_DOSE_KINDS = ("amount", "dose_per_mass", "dose_per_area", "dose_per_volume")
BASES = ("actual", "ideal", "adjusted")
_BASIS_NAME = {"actual": "actual body weight", "ideal": "ideal body weight", "adjusted": "adjusted body weight"}


@dataclass(frozen=True)
class DoseRule:
    """A dose rule as written: ``amount`` text with its kind, the weight basis and an optional cap (mg)."""

    amount: str
    kind: str
    per_unit: float
    basis: str = "actual"
    cap: float | None = None
    cap_text: str | None = None
    name: str | None = None
    source: str = ""

    def describe(self) -> str:
        txt = self.amount
        if self.kind == "dose_per_mass":
            txt += f" ({_BASIS_NAME[self.basis]})"
        elif self.kind == "dose_per_area":
            txt += " (body surface area)"
        elif self.kind == "dose_per_volume":
            txt += " (limb volume)"
        if self.cap_text:
            txt += f", capped at {self.cap_text}"
        if self.name:
            txt = f"{self.name}: {txt}"
        return txt


@dataclass(frozen=True)
class ResolvedDose:
    """The dose in mg, how it was computed and what it would have been without the cap."""

    mg: float
    uncapped_mg: float
    rule: DoseRule
    base_value: float | None  # kg, m2 or L the rule was multiplied by (None for plain mg)
    base_unit: str | None

    @property
    def capped(self) -> bool:
        return self.mg < self.uncapped_mg

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.describe(),
            "rule_name": self.rule.name,
            "rule_source": self.rule.source,
            "amount_as_written": self.rule.amount,
            "basis": self.rule.basis if self.rule.kind == "dose_per_mass" else None,
            "base_value": self.base_value,
            "base_unit": self.base_unit,
            "uncapped_mg": self.uncapped_mg,
            "capped": self.capped,
            "amount_mg": self.mg,
        }


@lru_cache(maxsize=1)
def dose_rule_library() -> dict[str, dict[str, dict[str, Any]]]:
    """``data/dose_rules.toml``: ``{drug: {rule name: table}}``."""
    text = resources.files("isoperf").joinpath("data/dose_rules.toml").read_text("utf-8")
    return tomllib.loads(text)


def _dose_kind(text: str, field: str) -> str:
    kind = dimension_kind(str(text)) if isinstance(text, str) else None
    if kind == "concentration":  # a dose in mg/L is mg per litre of limb volume
        kind = "dose_per_volume"
    if kind not in _DOSE_KINDS:
        parse_quantity(text, "amount", field=field)  # raises the precise error (missing, a volume, ...)
        raise InputError(field, f"{text!r} is not a dose",
                         "give mg, mg/kg (with basis actual|ideal|adjusted), mg/m2 (BSA) or mg/L (limb volume)")
    return kind


def weight_for(patient: Patient, basis: str) -> float:
    if basis == "ideal":
        return patient.ideal_body_weight
    if basis == "adjusted":
        return patient.adjusted_body_weight
    return patient.weight


def make_rule(amount: str, *, basis: str | None, cap: str | None, field: str, name: str | None = None,
              source: str = "") -> DoseRule:
    kind = _dose_kind(amount, field)
    per_unit = parse_quantity(amount, kind, field=field, allow_zero=False)
    if basis is not None and basis not in BASES:
        raise InputError(field.rsplit(".", 1)[0] + ".basis", f"got {basis!r}", f"use one of {', '.join(BASES)}")
    if basis not in (None, "actual") and kind != "dose_per_mass":
        raise InputError(field.rsplit(".", 1)[0] + ".basis", f"basis {basis!r} given for {amount!r}",
                         "a weight basis applies only to mg/kg doses")
    cap_mg = None
    if cap is not None:
        cap_field = field.rsplit(".", 1)[0] + ".cap"
        if _dose_kind(cap, cap_field) != "amount":
            raise InputError(cap_field, f"{cap!r} is not an amount", "give the cap in mg, e.g. '220 mg'")
        cap_mg = parse_quantity(cap, "amount", field=cap_field, allow_zero=False)
    return DoseRule(amount=amount, kind=kind, per_unit=per_unit, basis=basis or "actual", cap=cap_mg,
                    cap_text=cap, name=name, source=source)


def named_rule(drug: str, name: str, *, field: str, basis: str | None = None, cap: str | None = None) -> DoseRule:
    rules = dose_rule_library().get(drug, {})
    if name not in rules:
        known = ", ".join(sorted(rules)) or "none"
        raise InputError(field, f"unknown dose rule {name!r} for {drug}", f"known rules for {drug}: {known}")
    raw = rules[name]
    source = raw.get("source") or f"ESTIMATE: {raw.get('note', '')}"
    return make_rule(raw["amount"], basis=basis or raw.get("basis"), cap=cap or raw.get("cap"), field=field,
                     name=name, source=source)


def resolve_dose(rule: DoseRule, patient: Patient, *, limb_volume: float | None, field: str) -> ResolvedDose:
    """Compute the dose in mg for ``patient`` (``limb_volume`` in L for mg/L rules)."""
    base: float | None
    unit: str | None
    if rule.kind == "dose_per_mass":
        base, unit = weight_for(patient, rule.basis), "kg"
    elif rule.kind == "dose_per_area":
        base, unit = patient.bsa, "m2"
    elif rule.kind == "dose_per_volume":
        if limb_volume is None:
            raise InputError(field, f"{rule.amount!r} is a dose per litre of limb volume",
                             "mg/L doses exist only for limb perfusion (type = 'limb' with limb_volume)")
        base, unit = limb_volume, "L"
    else:
        base, unit = None, None
    mg = rule.per_unit * base if base is not None else rule.per_unit
    capped = min(mg, rule.cap) if rule.cap is not None else mg
    return ResolvedDose(mg=capped, uncapped_mg=mg, rule=rule, base_value=base, base_unit=unit)
