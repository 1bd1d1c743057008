"""Kaplan-Meier estimates with R-compatible pointwise confidence intervals and median CIs.

The survival estimate and the event table come from lifelines' ``KaplanMeierFitter``. lifelines'
own interval is the "exponential Greenwood" (R: ``conf.type = "log-log"``); for ``log`` (R's default)
and ``plain`` the interval is computed here from Greenwood's variance, taken from lifelines' event
table exactly as R ``survival::survfit`` does:

* ``se`` = sqrt( sum_{t_i <= t} d_i / (n_i (n_i - d_i)) )  (R's ``std.err``, the SE of the cumulative hazard)
* ``log``:     exp(log S -/+ z se), upper limit capped at 1
* ``log-log``: exp(-exp(log(-log S) +/- z se / log S))
* ``plain``:   S -/+ z se S, clipped to [0, 1]

Limits are undefined (NaN) where S = 0, and for ``log-log`` where S = 1 (R gives NA there too).
The median and its CI follow R's ``print.survfit`` (``survival:::survmean``): the median is the first
time S <= 0.5 (the midpoint to the next drop when S is exactly 0.5 on an interval); its lower limit is
the first time the *lower* CI curve is <= 0.5 and its upper limit the first time the *upper* CI curve is
<= 0.5. "Not reached" (None) when that curve never gets to 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy.stats import norm

from isoperf._errors import InputError

CONF_TYPES = ("log", "log-log", "plain")
DEFAULT_CONF_TYPE = "log"  # R survfit's default; SAS PROC LIFETEST's default is log-log (CONFTYPE=LOGLOG)
_TOL = float(np.finfo(float).eps) ** 0.5  # R: .Machine$double.eps^0.5


def _check_conf_type(conf_type: str) -> str:
    if conf_type not in CONF_TYPES:
        raise InputError("conf_type", f"unknown confidence-interval type {conf_type!r}",
                         f"use one of {', '.join(CONF_TYPES)} (default {DEFAULT_CONF_TYPE}, as R)")
    return conf_type


def pointwise_ci(surv: np.ndarray, se: np.ndarray, conf_type: str, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits from S and R's ``std.err`` (SE of the cumulative hazard); see module docstring."""
    _check_conf_type(conf_type)
    z = norm.ppf(1 - alpha / 2)
    s = np.asarray(surv, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            xx = np.where(s == 0, np.nan, s)
            lower = np.exp(np.log(xx) - z * se)
            upper = np.minimum(np.exp(np.log(xx) + z * se), 1.0)
        elif conf_type == "log-log":
            xx = np.where((s == 0) | (s == 1), np.nan, s)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - z * se / np.log(xx)))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + z * se / np.log(xx)))
        else:
            xx = np.where(s == 0, np.nan, s)
            lower = np.maximum(xx - z * se * xx, 0.0)
            upper = np.minimum(xx + z * se * xx, 1.0)
    upper = np.where(np.isnan(xx), np.nan, upper)
    return lower, upper


def first_below_half(y: np.ndarray, t: np.ndarray) -> float | None:
    """R's ``survmean`` ``minmin``: first time the curve y(t) is <= 0.5 (midpoint rule at exactly 0.5)."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=float)
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return None
    x, yy = t[keep], y[keep]
    if abs(yy[0] - 0.5) < _TOL and (yy < yy[0]).any():
        return float((x[0] + x[np.flatnonzero(yy < yy[0])[0]]) / 2)
    return float(x[0])


@dataclass
class KaplanMeier:
    """A fitted Kaplan-Meier curve (one group). Build it with :func:`kaplan_meier`.

    Attributes
    ----------
    table : one row per distinct observed time: ``time, n_risk, n_event, n_censor, surv, std_err,
        lower, upper`` (R ``survfit`` columns; ``std_err`` is R's, the SE of the cumulative hazard).
    median, median_ci : median survival and its (lower, upper) limits; None = not reached.
    """

    label: str
    table: pd.DataFrame
    conf_type: str
    alpha: float
    n: int
    events: int
    median: float | None
    median_ci: tuple[float | None, float | None]
    fitter: KaplanMeierFitter

    def survival_at(self, times: Sequence[float]) -> pd.DataFrame:
        """S(t) with its CI at landmark times (R ``summary(fit, times=)``): the estimate at the last
        observed time <= t. Beyond the last observed time the estimate is 0 if the curve reached 0 (limits NaN,
        as R) and undefined (NaN) otherwise (R's ``extend=TRUE`` would carry the last value forward)."""
        rows = []
        tt = self.table["time"].to_numpy()
        last = tt[-1] if len(tt) else 0.0
        for t in times:
            k = np.searchsorted(tt, t, side="right") - 1
            n_risk = int((self.fitter.durations >= t).sum())
            if t > last:
                at_zero = len(tt) > 0 and self.table["surv"].iloc[-1] == 0
                rows.append((t, n_risk, 0.0 if at_zero else np.nan, np.nan, np.nan))
            elif k < 0:
                rows.append((t, n_risk, 1.0, np.nan if self.conf_type == "log-log" else 1.0,
                             np.nan if self.conf_type == "log-log" else 1.0))
            else:
                r = self.table.iloc[k]
                rows.append((t, n_risk, r["surv"], r["lower"], r["upper"]))
        return pd.DataFrame(rows, columns=["time", "n_risk", "estimate", "lower", "upper"])

    @property
    def summary(self) -> pd.DataFrame:
        lo, hi = self.median_ci
        return pd.DataFrame({"n": [self.n], "events": [self.events], "median": [self.median],
                             f"median {1 - self.alpha:.0%} lower": [lo], f"median {1 - self.alpha:.0%} upper": [hi]},
                            index=pd.Index([self.label], name="group"))

    def print_summary(self) -> None:
        print(f"<isoperf.outcomes.KaplanMeier> conf_type={self.conf_type}")
        print(self.summary.to_string())


def kaplan_meier(
    durations: Sequence[float] | np.ndarray | pd.Series,
    events: Sequence[int] | np.ndarray | pd.Series,
    *,
    conf_type: str = DEFAULT_CONF_TYPE,
    alpha: float = 0.05,
    label: str = "overall",
) -> KaplanMeier:
    """Fit a Kaplan-Meier curve with lifelines and add R-compatible CIs and median CI."""
    _check_conf_type(conf_type)
    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=float).astype(int)
    if len(d) == 0:
        raise InputError(label, "no patients", "the group is empty")
    kmf = KaplanMeierFitter(alpha=alpha, label=label).fit(d, e)
    et = kmf.event_table
    et = et[et["removed"] > 0]
    n = et["at_risk"].to_numpy(dtype=float)
    dd = et["observed"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(n - dd > 0, dd / (n * (n - dd)), np.where(dd > 0, np.inf, 0.0))
    se = np.sqrt(np.cumsum(inc))
    surv = kmf.survival_function_.iloc[:, 0].reindex(et.index).to_numpy(dtype=float)
    lower, upper = pointwise_ci(surv, se, conf_type, alpha)
    table = pd.DataFrame({
        "time": et.index.to_numpy(dtype=float), "n_risk": n.astype(int), "n_event": dd.astype(int),
        "n_censor": et["censored"].to_numpy(dtype=int), "surv": surv, "std_err": se,
        "lower": lower, "upper": upper,
    })
    t = table["time"].to_numpy()
    med = first_below_half(surv, t)
    ci = (first_below_half(lower, t), first_below_half(upper, t))
    return KaplanMeier(label=label, table=table, conf_type=conf_type, alpha=alpha, n=len(d),
                       events=int(e.sum()), median=med, median_ci=ci, fitter=kmf)
