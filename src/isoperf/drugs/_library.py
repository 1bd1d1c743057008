"""The drug library: one annotated TOML file per drug under ``isoperf/data/drugs``.

Every parameter holds a quantity string and either a ``source`` (citation) or ``estimate = true`` with a
``note`` saying what the estimate rests on. Values are parsed once into canonical units.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from isoperf._errors import InputError
from isoperf._units import dimension_kind, parse_quantity

_DATA = "data/drugs"
_ALLOWED_PARAM_KEYS = {"value", "source", "estimate", "note"}


@dataclass(frozen=True)
class Parameter:
    """One drug parameter: canonical value, the kind of quantity, the text as written, and its provenance."""

    name: str
    value: float
    kind: str
    text: str
    source: str = ""
    estimate: bool = False
    note: str = ""

    @property
    def provenance(self) -> str:
        return f"ESTIMATE: {self.note}" if self.estimate else self.source


@dataclass(frozen=True)
class DoseLimit:
    """Published dose range for one procedure (or ``cumulative``)."""

    procedure: str
    max_value: float | None
    max_kind: str | None
    max_text: str | None
    min_value: float | None
    min_kind: str | None
    min_text: str | None
    source: str


@dataclass(frozen=True)
class Drug:
    """A drug as data. ``parameters`` are keyed by name; use :meth:`get` for optional ones."""

    name: str
    display_name: str
    aliases: tuple[str, ...]
    drug_class: str
    parameters: dict[str, Parameter]
    limits: dict[str, DoseLimit] = field(default_factory=dict)
    path: str = ""

    def get(self, name: str) -> Parameter | None:
        return self.parameters.get(name)

    def value(self, name: str, default: float | None = None) -> float:
        p = self.parameters.get(name)
        if p is None:
            if default is None:
                raise KeyError(f"drug {self.name!r} has no parameter {name!r}")
            return default
        return p.value

    @property
    def hepatic_saturable(self) -> bool:
        return "hepatic_vmax" in self.parameters

    @property
    def extrahepatic_saturable(self) -> bool:
        return "extrahepatic_vmax" in self.parameters

    @property
    def linear(self) -> bool:
        return not (self.hepatic_saturable or self.extrahepatic_saturable)


def _parse_parameter(name: str, raw: Any, where: str) -> Parameter:
    fld = f"{where}.parameters.{name}"
    if not isinstance(raw, dict):
        raise InputError(fld, "must be a table with 'value' and 'source' (or 'estimate = true' and 'note')")
    unknown = set(raw) - _ALLOWED_PARAM_KEYS
    if unknown:
        raise InputError(fld, f"unknown key(s) {sorted(unknown)}", f"allowed: {sorted(_ALLOWED_PARAM_KEYS)}")
    text = raw.get("value")
    if not isinstance(text, str):
        raise InputError(f"{fld}.value", f"got {text!r}", "give a quantity string such as '1.5 L/min' or '1'")
    estimate = bool(raw.get("estimate", False))
    source = str(raw.get("source", ""))
    note = str(raw.get("note", ""))
    if not estimate and not source:
        raise InputError(fld, "has no source", "cite a source or mark it 'estimate = true' with a 'note'")
    if estimate and not note:
        raise InputError(fld, "is an estimate without a note", "say what the estimate rests on in 'note'")
    kind = dimension_kind(text)
    if kind is None:
        kind = "molar_mass" if "mol" in text else "dimensionless"
    value = float(text.split()[0]) if kind == "molar_mass" else parse_quantity(text, kind, field=f"{fld}.value",
                                                                               allow_negative=kind == "temperature")
    return Parameter(name=name, value=value, kind=kind, text=text, source=source, estimate=estimate, note=note)


def _parse_limit(proc: str, raw: dict[str, Any], where: str) -> DoseLimit:
    fld = f"{where}.limits.{proc}"
    if "source" not in raw:
        raise InputError(fld, "has no source", "every published dose limit needs its citation")

    def one(key: str) -> tuple[float | None, str | None, str | None]:
        text = raw.get(key)
        if text is None:
            return None, None, None
        kind = dimension_kind(str(text))
        if kind == "concentration":  # mg/L in a dose limit is mg per litre of limb volume
            kind = "dose_per_volume"
        if kind not in ("amount", "dose_per_mass", "dose_per_area", "dose_per_volume"):
            raise InputError(f"{fld}.{key}", f"{text!r} is not a dose", "use mg, mg/kg, mg/m2 or mg/L")
        return parse_quantity(text, kind, field=f"{fld}.{key}"), kind, str(text)

    mx, mxk, mxt = one("max")
    mn, mnk, mnt = one("min")
    return DoseLimit(proc, mx, mxk, mxt, mn, mnk, mnt, str(raw["source"]))


def drug_from_dict(raw: dict[str, Any], *, where: str = "drug") -> Drug:
    """Build a :class:`Drug` from a parsed TOML table (library file or a protocol's inline drug)."""
    if "name" not in raw:
        raise InputError(f"{where}.name", "is missing", "every drug needs a name")
    params = {k: _parse_parameter(k, v, where) for k, v in dict(raw.get("parameters", {})).items()}
    limits = {k: _parse_limit(k, v, where) for k, v in dict(raw.get("limits", {})).items()}
    name = str(raw["name"])
    return Drug(
        name=name,
        display_name=str(raw.get("display_name", name)),
        aliases=tuple(str(a) for a in raw.get("aliases", [])),
        drug_class=str(raw.get("drug_class", "")),
        parameters=params,
        limits=limits,
        path=str(raw.get("_path", "")),
    )


@lru_cache(maxsize=1)
def _library() -> dict[str, Drug]:
    out: dict[str, Drug] = {}
    root = resources.files("isoperf").joinpath(_DATA)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        raw = tomllib.loads(entry.read_text(encoding="utf-8"))
        raw["_path"] = str(Path(str(entry)))
        drug = drug_from_dict(raw, where=f"drug file {entry.name}")
        out[drug.name] = drug
    return out


def list_drugs() -> list[Drug]:
    """All drugs of the shipped library, sorted by name."""
    return list(_library().values())


def _alias_map() -> dict[str, str]:
    amap: dict[str, str] = {}
    for d in _library().values():
        for key in (d.name, d.display_name, *d.aliases):
            amap[key.lower()] = d.name
    return amap


def get_drug(name: str, *, field: str = "drug") -> Drug:
    """Look a drug up by name or alias (case-insensitive). Unknown names suggest the closest one."""
    amap = _alias_map()
    key = str(name).strip().lower()
    if key in amap:
        return _library()[amap[key]]
    close = difflib.get_close_matches(key, list(amap), n=1, cutoff=0.5)
    hint = f"did you mean {amap[close[0]]!r}?" if close else ""
    known = ", ".join(sorted(_library()))
    raise InputError(field, f"unknown drug {name!r}", f"{hint} known drugs: {known}".strip())
