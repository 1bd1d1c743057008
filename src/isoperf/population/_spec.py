"""The ``[population]`` table: covariate distributions, inter-individual variability, seed.

It may sit in the protocol file (``[population]``) or in a separate TOML file (a ``[population]`` table or
the bare keys). Quantities are strings with units, as everywhere in isoperf; bare numbers are allowed for
dimensionless covariates (age in years, fractions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from isoperf._errors import InputError, InputErrors
from isoperf.inputs import ProtocolSpec, load_protocol
from isoperf.inputs._load import input_errors, read_toml

Number = Annotated[str | float, Field(description="a quantity string ('75 kg') or a plain number")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CovariateSpec(_Strict):
    """One continuous covariate. ``normal``: mean, sd; ``lognormal``: median, cv; ``uniform``: min, max;
    ``fixed``: value. ``min``/``max`` truncate normal and log-normal draws (by inverse CDF, not clipping)."""

    distribution: Literal["normal", "lognormal", "uniform", "fixed"] = "normal"
    mean: Number | None = None
    sd: Number | None = None
    median: Number | None = None
    cv: float | None = Field(default=None, gt=0)
    min: Number | None = None
    max: Number | None = None
    value: Number | None = None


class SexSpec(_Strict):
    female: float = Field(default=0.5, ge=0, le=1, description="share of female patients")


class CovariatesSpec(_Strict):
    weight: CovariateSpec | None = None
    height: CovariateSpec | None = None
    age: CovariateSpec | None = None
    sex: SexSpec | None = None
    tumour_fraction: CovariateSpec | None = None
    tumour_volume: CovariateSpec | None = None
    #: correlations of the underlying standard normals, as {"weight:height" = 0.5}; "sex" may take part
    #: (its latent normal points towards female, so "sex:height" = -0.6 makes women shorter)
    correlation: dict[str, float] = Field(default_factory=dict)


class IIVSpec(_Strict):
    """Log-normal inter-individual variability: ``theta_i = theta * exp(omega * eta_i)``,
    ``omega = sqrt(ln(1 + cv**2))`` (so the median is the typical value and the CV is exact)."""

    cv: float = Field(gt=0)


class PopulationSpec(_Strict):
    n: int | None = Field(default=None, ge=1)
    seed: int = Field(default=0, ge=0)
    covariates: CovariatesSpec = Field(default_factory=CovariatesSpec)
    iiv: dict[str, IIVSpec] = Field(default_factory=dict)
    #: correlations of the IIV etas, as {"hepatic_artery_flow:portal_vein_flow" = 0.5}
    iiv_correlation: dict[str, float] = Field(default_factory=dict)


def _read_toml(source: str | Path) -> dict[str, Any]:
    return read_toml(source, "protocol")


def parse_population(raw: dict[str, Any] | PopulationSpec | None) -> PopulationSpec:
    if isinstance(raw, PopulationSpec):
        return raw
    try:
        return PopulationSpec.model_validate(raw or {})
    except ValidationError as exc:
        errs = input_errors(exc, PopulationSpec, "population")
        raise InputErrors([InputError(f"population.{e.field}", e.problem, e.hint) for e in errs.errors]) from None


def load_population(
    protocol: str | Path | dict[str, Any] | ProtocolSpec, population: str | Path | dict[str, Any] | PopulationSpec | None = None
) -> tuple[ProtocolSpec, PopulationSpec]:
    """The protocol and its population: ``population`` (a file, TOML string, dict or spec) wins over a
    ``[population]`` table in the protocol file; neither given means no variability (every patient typical)."""
    pop_raw: Any = None
    if isinstance(protocol, str | Path) and not isinstance(protocol, ProtocolSpec):
        raw = _read_toml(protocol)
        pop_raw = raw.pop("population", None)
        spec = load_protocol(raw)
    elif isinstance(protocol, dict):
        raw = dict(protocol)
        pop_raw = raw.pop("population", None)
        spec = load_protocol(raw)
    else:
        spec = load_protocol(protocol)
    if population is not None:
        if isinstance(population, str | Path):
            r = _read_toml(population)
            pop_raw = r.get("population", r)
        else:
            pop_raw = population
    return spec, parse_population(pop_raw)
