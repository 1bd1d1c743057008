"""Run a virtual trial: replicates -> cohorts -> the founding statistics -> median and 95% prediction interval."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from isoperf.result import DISCLAIMER
from isoperf.trial._cohort import assessments_table, to_cohort
from isoperf.trial._engine import simulate_batch
from isoperf.trial._noise import patient_noise
from isoperf.trial._setup import TrialSetup
from isoperf.trial._stats import cohort_statistics, founding_statistics, statistic_names


def subgroup_labels(setup: TrialSetup) -> list[str]:
    labels: list[str] = []
    for a in setup.arms:
        for lab in ((a.label_with, a.label_without) if a.follow_on else (a.label,)):
            if lab not in labels:
                labels.append(lab)
    return labels if len(labels) > 1 else []


def simulate_replicate(setup: TrialSetup, seed: int, replicate: int) -> pd.DataFrame:
    """The cohort table of one replicate; depends only on (trial, parameters, seed, replicate)."""
    noise = patient_noise(seed, replicate, setup.patients)
    return to_cohort(simulate_batch(setup, noise), setup, replicate)


def replicate_assessments(setup: TrialSetup, seed: int, replicate: int) -> pd.DataFrame:
    """The RECIST assessments (one row per patient and assessment) of one replicate."""
    out = simulate_batch(setup, patient_noise(seed, replicate, setup.patients))
    return assessments_table(out, to_cohort(out, setup, replicate))


def _chunk(args: tuple[TrialSetup, int, list[int], int, str]) -> tuple[list[dict[str, float]], list[pd.DataFrame]]:
    setup, seed, reps, keep, analysis = args
    labels = subgroup_labels(setup)
    stats, cohorts = [], []
    stat = cohort_statistics if analysis == "outcomes" else founding_statistics
    for r in reps:
        df = simulate_replicate(setup, seed, r)
        stats.append(stat(df, labels))
        if r < keep:
            cohorts.append(df)
    return stats, cohorts


@dataclass
class TrialResult:
    """Statistics per replicate, their summary (median, 95% PI, observed) and the kept cohorts."""

    name: str
    seed: int
    replicates: int
    patients: int
    per_replicate: pd.DataFrame
    observed: dict[str, Any]
    cohorts: list[pd.DataFrame] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for stat in self.per_replicate.columns:
            v = self.per_replicate[stat].to_numpy(dtype=float)
            ok = v[np.isfinite(v)]
            obs = self.observed.get(stat)
            med = float(np.median(ok)) if ok.size else math.nan
            lo, hi = (float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975))) if ok.size else (math.nan, math.nan)
            inside = None
            if isinstance(obs, int | float):
                inside = bool(lo <= obs <= hi)
            elif isinstance(obs, list | tuple) and len(obs) == 2:
                inside = bool(obs[0] <= med <= obs[1])
            rows.append({"statistic": stat, "median": med, "pi_low": lo, "pi_high": hi, "observed": obs,
                         "inside": inside, "not_reached": int(v.size - ok.size)})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "trial": self.name, "seed": self.seed, "replicates": self.replicates, "patients": self.patients,
            "statistics": {r.statistic: {"median": _num(r.median), "pi95": [_num(r.pi_low), _num(r.pi_high)],
                                         "observed": self.observed.get(r.statistic), "inside_pi": r.inside,
                                         "replicates_not_reached": r.not_reached}
                           for r in s.itertuples()},
            "time_unit": "months",
            "disclaimer": DISCLAIMER,
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def run_trial(setup: TrialSetup, *, replicates: int | None = None, seed: int = 0, workers: int = 1,
              keep_cohorts: int = 0, analysis: str = "outcomes",
              progress: Callable[[int, int], None] | None = None) -> TrialResult:
    """Run ``replicates`` replicates (default: the trial file's). Identical for any ``workers``.

    ``analysis='outcomes'`` analyses every replicate's cohort with :mod:`isoperf.outcomes` (validation,
    lifelines Kaplan-Meier), exactly as a real cohort; ``'fast'`` uses the numpy path of calibration
    (same definitions; tested to agree).
    """
    if analysis not in ("outcomes", "fast"):
        raise ValueError(f"analysis must be 'outcomes' or 'fast', got {analysis!r}")
    r_total = replicates if replicates is not None else setup.spec.trial.replicates
    reps = list(range(r_total))
    size = max(1, math.ceil(r_total / max(workers, 1) / 4)) if workers > 1 else max(1, r_total)
    chunks = [reps[i:i + size] for i in range(0, r_total, size)]
    jobs = [(setup, seed, c, keep_cohorts, analysis) for c in chunks]
    stats: list[dict[str, float]] = []
    cohorts: list[pd.DataFrame] = []
    done = 0
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for s, c in pool.map(_chunk, jobs):
                stats += s
                cohorts += c
                done += len(s)
                if progress:
                    progress(done, r_total)
    else:
        for job in jobs:
            s, c = _chunk(job)
            stats += s
            cohorts += c
            done += len(s)
            if progress:
                progress(done, r_total)
    cols = statistic_names(subgroup_labels(setup))
    per = pd.DataFrame(stats, columns=cols)
    per.index.name = "replicate"
    observed = {k: v for k, v in setup.spec.observed.items()}
    return TrialResult(setup.spec.name, seed, r_total, setup.patients, per, observed, cohorts)
