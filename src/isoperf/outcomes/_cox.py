"""Cox proportional hazards via lifelines' ``CoxPHFitter`` (Efron's method for ties, as R ``coxph``).

A categorical group column is coded as treatment contrasts against a reference level (default: the
first level in sorted order, as R's ``factor``); numeric covariates enter as they are. Hazard ratios,
their Wald CIs and Wald p-values are lifelines' and agree with R ``summary(coxph(...))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError

from isoperf._errors import InputError


@dataclass
class CoxResult:
    """Fitted Cox model. ``summary`` has one row per term: ``hr, lower, upper, p, coef, se``."""

    summary: pd.DataFrame
    reference: str | None
    group: str | None
    alpha: float
    fitter: CoxPHFitter

    def print_summary(self) -> None:
        ref = f", reference {self.group} = {self.reference}" if self.reference is not None else ""
        print(f"<isoperf.outcomes.CoxResult> Efron ties{ref}")
        print(self.summary.to_string())


def cox_ph(
    data: pd.DataFrame,
    *,
    time: str,
    event: str,
    group: str | None = None,
    reference: str | None = None,
    covariates: Sequence[str] = (),
    strata: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> CoxResult:
    """Fit ``Surv(time, event) ~ group + covariates`` (Efron ties). Term names are the group levels
    (e.g. ``'ILP+HAI'``) and the covariate column names."""
    cols = [time, event, *([group] if group else []), *covariates, *(strata or [])]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise InputError(f"column '{missing[0]}'", "not in the cohort table")
    df = data[cols].dropna().copy()
    x = pd.DataFrame({"_T": df[time].astype(float), "_E": df[event].astype(int)}, index=df.index)
    ref = None
    if group:
        g = df[group].astype(str)
        levels = sorted(g.unique())
        if len(levels) < 2:
            raise InputError(f"column '{group}'", "the Cox model needs at least 2 groups")
        ref = levels[0] if reference is None else str(reference)
        if ref not in levels:
            raise InputError("reference", f"{ref!r} is not a level of '{group}'", f"levels: {levels}")
        for lev in levels:
            if lev != ref:
                x[lev] = (g == lev).astype(float)
    for c in covariates:
        try:
            x[c] = pd.to_numeric(df[c])
        except (TypeError, ValueError) as exc:
            raise InputError(f"column '{c}'", "covariate is not numeric", "code it as numbers") from exc
    for c in strata or []:
        x[c] = df[c].astype(str)
    cph = CoxPHFitter(alpha=alpha)
    try:
        cph.fit(x, duration_col="_T", event_col="_E", strata=list(strata) if strata else None,
                fit_options={"precision": 1e-12, "r_precision": 1e-12, "max_steps": 200})
    except ConvergenceError as exc:
        raise InputError("cox", "the Cox model did not converge", "a group may have no events") from exc
    s = cph.summary
    lo_col = next(c for c in s.columns if c.startswith("exp(coef) lower"))
    hi_col = next(c for c in s.columns if c.startswith("exp(coef) upper"))
    out = pd.DataFrame({"hr": s["exp(coef)"], "lower": s[lo_col], "upper": s[hi_col], "p": s["p"],
                        "coef": s["coef"], "se": s["se(coef)"]})
    out.index = pd.Index([str(i) for i in out.index], name="term")
    if not np.all(np.isfinite(out["coef"])):
        raise InputError("cox", "the Cox model has infinite coefficients", "a group may have no events")
    return CoxResult(summary=out, reference=ref, group=group, alpha=alpha, fitter=cph)
