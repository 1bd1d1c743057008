"""The trial file (TOML): arms, sample size, eligibility, accrual, follow-up, assessments, observed values.

Quantities are strings with units (``"48 month"``, ``"300 mg"``); unknown keys are errors. See
the README (virtual trials) for the annotated format and ``examples/seed_study.toml`` for a complete file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from isoperf._errors import InputError
from isoperf.inputs._load import input_errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Strict):
    """A covariate distribution, truncated to the eligibility range (inverse-CDF sampling)."""

    distribution: Literal["normal", "lognormal", "uniform", "fixed"] = "normal"
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    sd_log: float | None = None
    low: float | None = None
    high: float | None = None
    value: float | None = None
    source: str = ""
    note: str = ""


class DoseRange(_Strict):
    """An ILP dose: uniform between ``min`` and ``max`` (equal for a fixed dose), given to a share of patients."""

    drug: str
    min: str
    max: str | None = None
    share: float = Field(default=1.0, ge=0.0, le=1.0)
    at: str = "0 min"
    over: str = "0 min"
    note: str = ""


class FixedDose(_Strict):
    drug: str
    amount: str
    at: str = "0 min"
    over: str = "0 min"


class FollowOn(_Strict):
    """Follow-on cycles (e.g. hepatic arterial infusion) for the patients who receive them."""

    label_with: str = "with follow-on"
    label_without: str = "without follow-on"
    start: str = "6 week"
    interval: str = "4 week"
    cycles: int = Field(default=6, ge=1)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    procedure: dict[str, Any] = Field(default_factory=lambda: {"type": "hai"})
    doses: list[FixedDose] = Field(default_factory=list)


class Arm(_Strict):
    name: str
    allocation: float = Field(default=1.0, gt=0.0)
    label: str | None = None
    ilp: dict[str, Any] | None = None
    doses: list[DoseRange] = Field(default_factory=list)
    follow_on: FollowOn | None = None
    covariates: dict[str, Distribution] = Field(default_factory=dict)
    eligibility: dict[str, tuple[float, float]] = Field(default_factory=dict)


class Design(_Strict):
    patients: int = Field(ge=1)
    replicates: int = Field(default=200, ge=1)
    accrual: str = "48 month"
    follow_up: str = "12 month"
    loss_to_follow_up: float = Field(default=0.0, ge=0.0, lt=1.0)
    assessment_every: str = "2 month"
    first_assessment: str | None = None
    horizon: str | None = None


class ExposureGrid(_Strict):
    dose_points: int = Field(default=7, ge=2)
    tumour_fractions: list[float] = Field(default_factory=lambda: [0.05, 0.3, 0.6])
    bsa: list[float] = Field(default_factory=lambda: [1.4, 1.65, 1.9, 2.15, 2.4])
    patient: dict[str, Any] = Field(default_factory=dict)


class TrialSpec(_Strict):
    name: str = "trial"
    description: str = ""
    fitted: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    trial: Design
    covariates: dict[str, Distribution] = Field(default_factory=dict)
    eligibility: dict[str, tuple[float, float]] = Field(default_factory=dict)
    arms: list[Arm] = Field(min_length=1)
    observed: dict[str, Any] = Field(default_factory=dict)
    exposure: ExposureGrid = Field(default_factory=ExposureGrid)
    base_dir: str = "."


def load_trial(source: str | Path | dict[str, Any] | TrialSpec) -> TrialSpec:
    """Read and validate a trial file (path, TOML text or dict)."""
    if isinstance(source, TrialSpec):
        return source
    base = "."
    if isinstance(source, dict):
        raw = dict(source)
    else:
        text = str(source)
        path = Path(text)
        if "\n" not in text and path.suffix == ".toml":
            if not path.exists():
                raise InputError("trial", f"file {text!r} not found", "give the path of a trial TOML file")
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            base = str(path.resolve().parent)
        else:
            try:
                raw = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InputError("trial", f"not valid TOML ({exc})", "check the file syntax") from None
    raw.setdefault("base_dir", base)
    try:
        spec = TrialSpec.model_validate(raw)
    except ValidationError as err:
        raise input_errors(err, TrialSpec, "trial file") from None
    names = [a.name for a in spec.arms]
    if len(set(names)) != len(names):
        raise InputError("arms", f"arm names repeat: {names}", "give every arm its own name")
    tables = [("", spec.eligibility, spec.covariates)] + [
        (f"arms[{i}].", a.eligibility, a.covariates) for i, a in enumerate(spec.arms)]
    for prefix, elig, cov in tables:
        for k in elig:
            if k not in ("age", "tumour_fraction", "weight", "height"):
                raise InputError(f"{prefix}eligibility.{k}", "unknown covariate",
                                 "use age, tumour_fraction, weight or height")
        for k in cov:
            if k not in ("age", "tumour_fraction", "weight", "height", "male"):
                raise InputError(f"{prefix}covariates.{k}", "unknown covariate",
                                 "use age, tumour_fraction, weight, height or male")
    return spec
