"""A trial file made ready to simulate: units parsed, parameters merged, exposure tables built."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isoperf._errors import InputError
from isoperf._units import parse_quantity
from isoperf.drugs import get_drug
from isoperf.response import SUPPORTED, ParameterSet, load_parameters
from isoperf.response._parameters import _convert
from isoperf.trial._exposure import ExposureTable, build_exposure_table
from isoperf.trial._noise import MAX_DOSE_ENTRIES
from isoperf.trial._spec import Arm, Distribution, TrialSpec, load_trial

DEFAULT_COVARIATES: dict[str, Distribution] = {
    "age": Distribution(distribution="normal", mean=60.0, sd=10.0, note="estimate"),
    "tumour_fraction": Distribution(distribution="lognormal", median=0.25, sd_log=0.6, note="estimate"),
    "weight": Distribution(distribution="normal", mean=72.0, sd=12.0, note="estimate"),
    "height": Distribution(distribution="normal", mean=172.0, sd=9.0, note="estimate"),
    "male": Distribution(distribution="fixed", value=0.6, note="estimate: probability of male sex"),
}
DEFAULT_ELIGIBILITY: dict[str, tuple[float, float]] = {
    "age": (18.0, 85.0), "tumour_fraction": (0.01, 0.9), "weight": (40.0, 140.0), "height": (145.0, 200.0),
}


def months(text: str, field: str) -> float:
    return _convert(text, "month", field)


@dataclass(frozen=True)
class ArmSetup:
    name: str
    label: str
    allocation: float
    ilp: bool
    doses: list[dict[str, Any]]            # drug, min_mg, max_mg, share
    ilp_table: ExposureTable | None
    follow_on: bool
    label_with: str
    label_without: str
    fo_start: float
    fo_interval: float
    fo_cycles: int
    fo_probability: float | None
    fo_table: ExposureTable | None
    fo_drugs: list[tuple[str, float]]      # (drug, mg)
    covariates: dict[str, Distribution] | None = None
    eligibility: dict[str, tuple[float, float]] | None = None


@dataclass(frozen=True)
class TrialSetup:
    spec: TrialSpec
    params: ParameterSet
    arms: list[ArmSetup]
    patients: int
    accrual: float
    follow_up: float
    loss_to_follow_up: float
    assessment_times: tuple[float, ...]
    covariates: dict[str, Distribution]
    eligibility: dict[str, tuple[float, float]]

    @property
    def horizon(self) -> float:
        return self.accrual + self.follow_up


def _mg(text: str, field: str) -> float:
    return parse_quantity(text, "amount", field=field)


def _response_drug(name: str, field: str) -> str:
    """The library name of a drug that has an exposure-response model; an error naming ``field`` otherwise."""
    drug = get_drug(name, field=field).name
    if drug not in SUPPORTED:
        raise InputError(field, f"no exposure-response model for {drug!r}", f"known: {', '.join(SUPPORTED)}")
    return drug


def _arm(i: int, arm: Arm, spec: TrialSpec, workers: int) -> ArmSetup:
    where = f"arms[{i}]"
    doses = []
    if len(arm.doses) > MAX_DOSE_ENTRIES:
        raise InputError(f"{where}.doses", f"{len(arm.doses)} entries", f"at most {MAX_DOSE_ENTRIES}")
    for j, d in enumerate(arm.doses):
        f = f"{where}.doses[{j}]"
        drug = _response_drug(d.drug, f"{f}.drug")
        lo = _mg(d.min, f"{f}.min")
        hi = lo if d.max is None else _mg(d.max, f"{f}.max")
        if hi < lo:
            raise InputError(f"{f}.max", f"{d.max!r} is below min {d.min!r}", "give max >= min")
        doses.append({"drug": drug, "min_mg": lo, "max_mg": hi, "share": d.share, "at": d.at, "over": d.over})
    grid = spec.exposure
    ilp_table = None
    if arm.ilp is not None:
        if not doses:
            raise InputError(f"{where}.doses", "an ILP arm has no doses", "add [[arms.doses]] entries")
        proc = {"type": "ilp", **arm.ilp}
        ilp_table = build_exposure_table(proc, doses, dose_points=grid.dose_points,
                                         tumour_fractions=tuple(grid.tumour_fractions), bsa=tuple(grid.bsa),
                                         patient=grid.patient, workers=workers)
    fo = arm.follow_on
    fo_table, fo_drugs = None, []
    if fo is not None:
        fdoses = []
        for j, d in enumerate(fo.doses):
            f = f"{where}.follow_on.doses[{j}]"
            drug = _response_drug(d.drug, f"{f}.drug")
            mg = _mg(d.amount, f"{f}.amount")
            fdoses.append({"drug": drug, "min_mg": mg, "max_mg": mg, "at": d.at, "over": d.over})
            fo_drugs.append((drug, mg))
        if not fdoses:
            raise InputError(f"{where}.follow_on.doses", "no doses", "add [[arms.follow_on.doses]] entries")
        fo_table = build_exposure_table(dict(fo.procedure), fdoses, dose_points=2,
                                        tumour_fractions=tuple(grid.tumour_fractions), bsa=tuple(grid.bsa),
                                        patient=grid.patient, workers=workers)
    return ArmSetup(
        name=arm.name, label=arm.label or arm.name, allocation=arm.allocation, ilp=arm.ilp is not None,
        doses=doses, ilp_table=ilp_table, follow_on=fo is not None,
        label_with=fo.label_with if fo else arm.label or arm.name,
        label_without=fo.label_without if fo else arm.label or arm.name,
        fo_start=months(fo.start, f"{where}.follow_on.start") if fo else 0.0,
        fo_interval=months(fo.interval, f"{where}.follow_on.interval") if fo else 0.0,
        fo_cycles=fo.cycles if fo else 0, fo_probability=fo.probability if fo else None,
        fo_table=fo_table, fo_drugs=fo_drugs,
        covariates=dict(arm.covariates) or None,
        eligibility={k: (float(v[0]), float(v[1])) for k, v in arm.eligibility.items()} or None,
    )


def trial_parameters(spec: TrialSpec, fitted: str | Path | None = None) -> ParameterSet:
    """Default parameters, then the trial's ``fitted`` file, then the trial's own ``[parameters]``."""
    params = load_parameters()
    path = fitted if fitted is not None else spec.fitted
    if path:
        p = Path(path)
        if not p.is_absolute():
            p = Path(spec.base_dir) / p
        if not p.exists():
            raise InputError("fitted", f"file {str(path)!r} not found",
                             "run `isoperf calibrate` first, or remove the `fitted` key")
        params = params.updated(tomllib.loads(p.read_text(encoding="utf-8")).get("parameters", {}), where=str(p))
    if spec.parameters:
        params = params.updated(spec.parameters, where="parameters")
    return params


def setup_trial(source: Any, *, workers: int = 1, fitted: str | Path | None = None,
                params: ParameterSet | None = None) -> TrialSetup:
    """Load a trial file and prepare it (builds the exposure tables with the PK engine)."""
    spec = load_trial(source)
    d = spec.trial
    every = months(d.assessment_every, "trial.assessment_every")
    if every <= 0:
        raise InputError("trial.assessment_every", f"{d.assessment_every!r}", "give a positive interval")
    first = every if d.first_assessment is None else months(d.first_assessment, "trial.first_assessment")
    accrual = months(d.accrual, "trial.accrual")
    follow_up = months(d.follow_up, "trial.follow_up")
    horizon = accrual + follow_up if d.horizon is None else months(d.horizon, "trial.horizon")
    n = int((horizon - first) // every) + 1 if horizon >= first else 0
    times = tuple(first + k * every for k in range(n))
    cov = {**DEFAULT_COVARIATES, **spec.covariates}
    elig = {**DEFAULT_ELIGIBILITY, **{k: (float(v[0]), float(v[1])) for k, v in spec.eligibility.items()}}
    checks = [("eligibility", elig)] + [(f"arms[{i}].eligibility", dict(a.eligibility)) for i, a in enumerate(spec.arms)]
    for where, table in checks:
        for k, (lo, hi) in table.items():
            if not lo < hi:
                raise InputError(f"{where}.{k}", f"range [{lo}, {hi}] is empty", "give [low, high] with low < high")
    arms = [_arm(i, a, spec, workers) for i, a in enumerate(spec.arms)]
    return TrialSetup(spec=spec, params=params or trial_parameters(spec, fitted), arms=arms, patients=d.patients,
                      accrual=accrual, follow_up=follow_up, loss_to_follow_up=d.loss_to_follow_up,
                      assessment_times=times, covariates=cov, eligibility=elig)
