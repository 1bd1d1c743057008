"""One call for the survival analysis of a cohort: KM overall and per group, landmarks, log-rank, Cox."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from isoperf._errors import InputError, InputErrors
from isoperf.outcomes._cox import CoxResult, cox_ph
from isoperf.outcomes._km import DEFAULT_CONF_TYPE, KaplanMeier, kaplan_meier
from isoperf.outcomes._logrank import LogRankResult, logrank
from isoperf.outcomes._plot import DISCLAIMER


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


@dataclass
class CohortAnalysis:
    """Result of :func:`analyze_cohort`. ``to_dict()`` is the documented JSON layout."""

    time: str
    event: str
    group: str | None
    conf_type: str
    alpha: float
    at: tuple[float, ...]
    overall: KaplanMeier
    groups: dict[str, KaplanMeier]
    logrank: LogRankResult | None
    cox: CoxResult | None
    n_input: int
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "reason"]))
    time_unit: str = "months"

    def _curve_dict(self, km: KaplanMeier) -> dict[str, Any]:
        lm = km.survival_at(self.at)
        return {
            "n": km.n,
            "events": km.events,
            "median": _num(km.median),
            "median_ci": [_num(km.median_ci[0]), _num(km.median_ci[1])],
            "survival_at": {f"{r.time:g}": {"estimate": _num(r.estimate), "ci": [_num(r.lower), _num(r.upper)],
                                           "n_risk": int(r.n_risk)} for r in lm.itertuples()},
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": self.time, "event": self.event, "group": self.group, "time_unit": self.time_unit,
            "conf_type": self.conf_type, "conf_level": 1 - self.alpha,
            "n_input": self.n_input,
            "excluded": {"n": len(self.excluded),
                         "rows": [{"row": int(r.row), "reason": str(r.reason)} for r in self.excluded.itertuples()]},
            "overall": self._curve_dict(self.overall),
            "groups": {k: self._curve_dict(v) for k, v in self.groups.items()},
            "logrank": None, "cox": None, "disclaimer": DISCLAIMER,
        }
        if self.logrank is not None:
            out["logrank"] = {"chisq": self.logrank.chisq, "df": self.logrank.df, "p": self.logrank.p}
        if self.cox is not None:
            s = self.cox.summary
            out["cox"] = {"reference": self.cox.reference, "ties": "efron",
                          "terms": {t: {"hr": float(r.hr), "ci": [float(r.lower), float(r.upper)], "p": float(r.p)}
                                    for t, r in s.iterrows()}}
        return out

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @property
    def summary(self) -> pd.DataFrame:
        rows = [self.overall, *self.groups.values()]
        pct = f"{1 - self.alpha:.0%}"
        df = pd.DataFrame([{"group": km.label, "n": km.n, "events": km.events, "median": km.median,
                            f"{pct} lower": km.median_ci[0], f"{pct} upper": km.median_ci[1]} for km in rows])
        for t in self.at:
            df[f"S({t:g})"] = [km.survival_at([t])["estimate"].iloc[0] for km in rows]
        return df.set_index("group")

    def print_summary(self) -> None:
        print(f"<isoperf.outcomes.CohortAnalysis> time={self.time} ({self.time_unit}), event={self.event}, "
              f"conf_type={self.conf_type}, n={self.overall.n}, excluded rows={len(self.excluded)}")
        print(self.summary.to_string(na_rep="NR"))
        if self.logrank is not None:
            self.logrank.print_summary()
        if self.cox is not None:
            self.cox.print_summary()
        print(DISCLAIMER)

    def legend_text(self) -> str | None:
        parts = []
        if self.cox is not None and len(self.cox.summary) == 1:
            r = self.cox.summary.iloc[0]
            parts.append(f"HR {self.cox.summary.index[0]} vs {self.cox.reference}: {r.hr:.2f} "
                         f"({r.lower:.2f}-{r.upper:.2f})")
        if self.logrank is not None:
            parts.append(f"log-rank p = {self.logrank.p:.3g}")
        return "; ".join(parts) or None


def analyze_cohort(
    cohort: pd.DataFrame,
    *,
    time: str = "os_time",
    event: str = "os_event",
    group: str | None = None,
    at: Sequence[float] = (),
    conf_type: str = DEFAULT_CONF_TYPE,
    alpha: float = 0.05,
    strata: str | None = None,
    reference: str | None = None,
    n_input: int | None = None,
    excluded: pd.DataFrame | None = None,
    time_unit: str = "months",
) -> CohortAnalysis:
    """Kaplan-Meier overall and per ``group``, survival at ``at``, log-rank (stratified by ``strata``)
    and a Cox model of ``group`` (reference level ``reference``; default the first sorted level).

    ``cohort`` must already be validated (see :func:`validate_cohort`): missing values here are errors.
    """
    errors = []
    for c in (time, event, group, strata):
        if c is not None and c not in cohort.columns:
            errors.append(InputError(f"column '{c}'", "not in the cohort table",
                                     f"columns present: {', '.join(map(str, cohort.columns))}"))
    if errors:
        raise InputErrors(errors)
    for c in (time, event, group, strata):
        if c is not None and cohort[c].isna().any():
            rows = cohort.index[cohort[c].isna()].tolist()[:10]
            raise InputError(f"column '{c}'", f"missing values in rows {rows}",
                             "fill them in or exclude the rows explicitly (--exclude-invalid)")
    t = cohort[time].astype(float).to_numpy()
    e = cohort[event].astype(int).to_numpy()
    overall = kaplan_meier(t, e, conf_type=conf_type, alpha=alpha, label="overall")
    groups: dict[str, KaplanMeier] = {}
    lr = cx = None
    if group is not None:
        g = cohort[group].astype(str).to_numpy()
        for lev in sorted(set(g)):
            m = g == lev
            groups[lev] = kaplan_meier(t[m], e[m], conf_type=conf_type, alpha=alpha, label=lev)
        if len(groups) >= 2:
            lr = logrank(t, e, g, strata=None if strata is None else cohort[strata].astype(str).to_numpy())
            if all(km.events > 0 for km in groups.values()):
                cx = cox_ph(pd.DataFrame({"_t": t, "_e": e, "_g": g}), time="_t", event="_e", group="_g",
                            reference=reference, alpha=alpha)
                cx.group = group
    return CohortAnalysis(time=time, event=event, group=group, conf_type=conf_type, alpha=alpha,
                          at=tuple(float(a) for a in at), overall=overall, groups=groups, logrank=lr, cox=cx,
                          n_input=int(n_input if n_input is not None else len(cohort)),
                          excluded=excluded if excluded is not None else pd.DataFrame(columns=["row", "reason"]),
                          time_unit=time_unit)


