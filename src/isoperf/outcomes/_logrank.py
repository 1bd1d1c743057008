"""Log-rank test for k groups, optionally stratified (R ``survdiff(Surv(t, e) ~ g + strata(s))``).

Unstratified: lifelines' ``multivariate_logrank_test``. lifelines has no stratified log-rank, so the
stratified statistic is formed as R does it: per stratum the observed-minus-expected vector and its
hypergeometric covariance are summed over strata, and chisq = U' V^- U with k - 1 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines.statistics import multivariate_logrank_test
from scipy.stats import chi2

from isoperf._errors import InputError


@dataclass
class LogRankResult:
    """``chisq``, ``df``, ``p`` plus per-group observed and expected events."""

    chisq: float
    df: int
    p: float
    table: pd.DataFrame
    stratified: bool

    @property
    def summary(self) -> dict[str, float | int]:
        return {"chisq": self.chisq, "df": self.df, "p": self.p}

    def print_summary(self) -> None:
        kind = "stratified log-rank" if self.stratified else "log-rank"
        print(f"<isoperf.outcomes.LogRankResult> {kind}: chisq = {self.chisq:.4f} on {self.df} df, p = {self.p:.4g}")
        print(self.table.to_string())


def _o_e_v(time: np.ndarray, event: np.ndarray, group: np.ndarray, levels: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = len(levels)
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    gi = np.array([levels.index(g) for g in group])
    for t in np.unique(time[event == 1]):
        at_risk = time >= t
        n = at_risk.sum()
        dead = (time == t) & (event == 1)
        d = dead.sum()
        n_g = np.bincount(gi[at_risk], minlength=k).astype(float)
        d_g = np.bincount(gi[dead], minlength=k).astype(float)
        obs += d_g
        exp += d * n_g / n
        if n > 1:
            f = d * (n - d) / (n * n * (n - 1))
            var += f * (np.diag(n_g) * n - np.outer(n_g, n_g))
    return obs, exp, var


def logrank(
    durations: Sequence[float] | np.ndarray | pd.Series,
    events: Sequence[int] | np.ndarray | pd.Series,
    groups: Sequence | np.ndarray | pd.Series,
    *,
    strata: Sequence | np.ndarray | pd.Series | None = None,
) -> LogRankResult:
    """Log-rank test of equal survival in k groups (k >= 2)."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=float).astype(int)
    g = np.asarray(groups).astype(str)
    levels = sorted(set(g))
    if len(levels) < 2:
        raise InputError("group", f"the log-rank test needs at least 2 groups, found {len(levels)}")
    if strata is None:
        res = multivariate_logrank_test(t, g, e)
        obs, exp, _ = _o_e_v(t, e, g, levels)
        chisq, df, p = float(res.test_statistic), int(res.degrees_of_freedom), float(res.p_value)
    else:
        s = np.asarray(strata).astype(str)
        obs = np.zeros(len(levels))
        exp = np.zeros(len(levels))
        var = np.zeros((len(levels), len(levels)))
        for lev in sorted(set(s)):
            m = s == lev
            o_, e_, v_ = _o_e_v(t[m], e[m], g[m], levels)
            obs += o_
            exp += e_
            var += v_
        u = (obs - exp)[:-1]
        v = var[:-1, :-1]
        chisq = float(u @ np.linalg.pinv(v) @ u)
        df = int(np.linalg.matrix_rank(v))
        p = float(chi2.sf(chisq, df))
    table = pd.DataFrame({"n": [int((g == lv).sum()) for lv in levels], "observed": obs, "expected": exp},
                         index=pd.Index(levels, name="group"))
    return LogRankResult(chisq=chisq, df=df, p=p, table=table, stratified=strata is not None)
