"""The outcome model's population parameters: read from ``data/response/model.toml`` with provenance.

Each parameter is a number (dimensionless) or a quantity string; it is converted once to the model's
internal unit (months for times, mg*min/L for tumour AUC, millimetres for diameters, 1/month for rates).
A parameter carries a ``source`` (citation), or ``estimate = true`` with a ``note``, or ``fitted = true``.
Fitted values from :func:`isoperf.trial.calibrate` are applied with :meth:`ParameterSet.updated`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from isoperf._errors import InputError
from isoperf._units import convert_to_unit

#: internal unit of every parameter ('' = dimensionless number)
UNITS: dict[str, str] = {
    "doubling_time_mean": "month",
    "doubling_time_cv": "",
    "doubling_reference_fraction": "",
    "capacity_fraction": "",
    "fu_emax": "",
    "fu_auc50": "mg*min/L",
    "fu_hill": "",
    "mmc_log_kill_per_auc": "L/(mg*min)",
    "cisplatin_log_kill_per_auc": "L/(mg*min)",
    "melphalan_log_kill_per_auc": "L/(mg*min)",
    "sensitivity_median": "",
    "sensitivity_sd_log": "",
    "resistant_fraction_median": "",
    "resistant_fraction_sd_logit": "",
    "resistant_kill_ratio": "",
    "dead_cell_half_life": "month",
    "hai_sensitivity_ratio": "",
    "target_lesions": "",
    "detection_diameter": "mm",
    "min_sd_duration": "month",
    "lethal_tumour_fraction": "",
    "lethal_fraction_sd_log": "",
    "extrahepatic_rate": "1/month",
    "extrahepatic_death_median": "month",
    "extrahepatic_death_sd_log": "",
    "operative_risk": "",
    "operative_reference_fraction": "",
    "operative_odds_ratio_per_10pct": "",
    "hai_probability": "",
    "background_gompertz_a": "1/year",
    "background_gompertz_b": "1/year",
}

_ALLOWED = {"value", "source", "estimate", "fitted", "note", "se", "ci95", "unit"}


def _convert(raw: Any, unit: str, field: str) -> float:
    if isinstance(raw, bool):
        raise InputError(field, f"got {raw!r}", "give a number or a quantity string")
    if isinstance(raw, int | float):
        if unit:
            raise InputError(field, f"got the bare number {raw!r}", f"write it with a unit, e.g. '{raw} {unit}'")
        return float(raw)
    if isinstance(raw, str):
        return convert_to_unit(raw, unit, field=field)
    raise InputError(field, f"got {type(raw).__name__} {raw!r}", "give a number or a quantity string")


@dataclass(frozen=True)
class ModelParameter:
    """One parameter: value in the internal unit, the text as written, and its provenance."""

    name: str
    value: float
    text: str
    source: str = ""
    estimate: bool = False
    fitted: bool = False
    note: str = ""
    se: float | None = None
    ci95: tuple[float, float] | None = None

    @property
    def status(self) -> str:
        if self.fitted:
            return "fitted"
        return "estimate" if self.estimate else "literature"

    @property
    def provenance(self) -> str:
        return self.source or self.note


def _read_parameter(name: str, raw: Any, where: str) -> ModelParameter:
    field_ = f"{where}.{name}"
    if name not in UNITS:
        raise InputError(field_, "unknown parameter", f"known: {', '.join(UNITS)}")
    if not isinstance(raw, dict):
        raw = {"value": raw}
    extra = set(raw) - _ALLOWED
    if extra:
        raise InputError(f"{field_}.{sorted(extra)[0]}", "unknown key", f"allowed: {', '.join(sorted(_ALLOWED))}")
    if "value" not in raw:
        raise InputError(field_, "has no value", "give value = ...")
    source, estimate, fitted = str(raw.get("source", "")), bool(raw.get("estimate")), bool(raw.get("fitted"))
    if not (source or estimate or fitted):
        raise InputError(field_, "has no provenance", "give source = '...', or estimate = true / fitted = true with a note")
    if (estimate or fitted) and not raw.get("note") and not source:
        raise InputError(field_, "is an estimate / fitted value without a note", "say what it rests on in note = '...'")
    unit = UNITS[name]
    value = _convert(raw["value"], unit, f"{field_}.value")
    se = None if raw.get("se") is None else _convert(raw["se"], unit, f"{field_}.se")
    ci = raw.get("ci95")
    ci95 = None if ci is None else (_convert(ci[0], unit, f"{field_}.ci95"), _convert(ci[1], unit, f"{field_}.ci95"))
    return ModelParameter(name, value, str(raw["value"]), source, estimate, fitted, str(raw.get("note", "")), se, ci95)


@dataclass(frozen=True)
class ParameterSet:
    """All parameters of the outcome model, by name (``params["doubling_time_mean"]`` is a float)."""

    parameters: dict[str, ModelParameter] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.parameters[name].value

    def values(self) -> dict[str, float]:
        return {k: p.value for k, p in self.parameters.items()}

    def with_values(self, **values: float) -> ParameterSet:
        """A copy with some values replaced (provenance kept); used by calibration."""
        params = dict(self.parameters)
        for k, v in values.items():
            if k not in params:
                raise KeyError(k)
            params[k] = replace(params[k], value=float(v), text=repr(float(v)))
        return ParameterSet(params)

    def updated(self, table: dict[str, Any], *, where: str) -> ParameterSet:
        """A copy with the entries of a TOML ``[parameters]`` table applied (fitted files, trial overrides)."""
        params = dict(self.parameters)
        for name, raw in table.items():
            params[name] = _read_parameter(name, raw, where)
        return ParameterSet(params)

    def table(self) -> list[dict[str, Any]]:
        """One row per parameter: name, value, unit, status (literature / estimate / fitted), provenance."""
        return [{"name": p.name, "value": p.value, "unit": UNITS[p.name] or "-", "status": p.status,
                 "se": p.se, "provenance": p.provenance} for p in self.parameters.values()]


def load_parameters(path: str | Path | None = None) -> ParameterSet:
    """The default parameter set (``isoperf/data/response/model.toml``), or the one in ``path``."""
    if path is None:
        text = resources.files("isoperf").joinpath("data/response/model.toml").read_text(encoding="utf-8")
        where = "data/response/model.toml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    data = tomllib.loads(text)
    table = data.get("parameters", {})
    params = {name: _read_parameter(name, raw, f"{where}: parameters") for name, raw in table.items()}
    missing = [k for k in UNITS if k not in params]
    if path is None and missing:
        raise InputError(where, f"parameters missing: {', '.join(missing)}", "every model parameter needs a value")
    return ParameterSet(params)
