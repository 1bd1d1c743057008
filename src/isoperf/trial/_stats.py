"""The statistics the founding series reports, computed from a cohort table (real or virtual).

Definitions (the founding abstract's denominators):

- ``operative_mortality``: operative deaths / patients treated (4/50);
- ``cr_rate``, ``pr_rate``: best overall response CR / PR among followed patients (9/41, 28/41);
- ``median_os``: Kaplan-Meier median overall survival of the followed patients (14 months);
- ``median_os[LABEL]``: the same within a subgroup (``arm`` column), e.g. ILP+HAI 18 / ILP only 7.5;
- ``share[LABEL]``: the subgroup's share of the followed patients (not reported by the founding series);
- ``extrahepatic_rate``: extrahepatic (lung) and/or local recurrence among followed patients (40%);
- ``median_os_died`` / ``median_os_alive``: plain median follow-up time of the followed who died /
  are alive (12.5 / 24 months).

The Kaplan-Meier median follows R ``survival`` (smallest time with S(t) <= 0.5; the midpoint when the
curve is exactly 0.5 over an interval); tested against lifelines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan-Meier median survival time (NaN when the curve does not reach 0.5)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    if t.size == 0:
        return float("nan")
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    uniq, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(e.astype(float), first)
    at_risk = t.size - first
    s = np.cumprod(1.0 - deaths / at_risk)
    ev = deaths > 0
    te, se = uniq[ev], s[ev]
    hit = np.nonzero(se <= 0.5 + 1e-12)[0]
    if hit.size == 0:
        return float("nan")
    k = hit[0]
    if abs(se[k] - 0.5) < 1e-12:
        return float(0.5 * (te[k] + te[k + 1])) if k + 1 < te.size else float(te[k])
    return float(te[k])


def statistic_names(labels: list[str]) -> list[str]:
    return ["operative_mortality", "cr_rate", "pr_rate", "median_os",
            *[f"median_os[{lab}]" for lab in labels], *[f"share[{lab}]" for lab in labels],
            "extrahepatic_rate", "median_os_died", "median_os_alive"]


def founding_statistics(cohort: pd.DataFrame, labels: list[str] | None = None) -> dict[str, float]:
    """The founding series' statistics from one cohort table (see the module docstring)."""
    labels = labels if labels is not None else sorted(cohort["arm"].astype(str).unique())
    op = cohort["operative_death"].to_numpy(dtype=float)
    f = cohort["followed"].to_numpy(dtype=bool)
    br = cohort["best_response"].astype(str).to_numpy()[f]
    t = cohort["os_time"].to_numpy(dtype=float)
    e = cohort["os_event"].to_numpy(dtype=bool)
    arm = cohort["arm"].astype(str).to_numpy()
    nf = max(int(f.sum()), 1)
    out = {
        "operative_mortality": float(op.mean()) if op.size else float("nan"),
        "cr_rate": float((br == "CR").sum() / nf),
        "pr_rate": float((br == "PR").sum() / nf),
        "median_os": km_median(t[f], e[f]),
    }
    for lab in labels:
        m = f & (arm == lab)
        out[f"median_os[{lab}]"] = km_median(t[m], e[m])
    for lab in labels:
        out[f"share[{lab}]"] = float((f & (arm == lab)).sum() / nf) if f.any() else float("nan")
    out["extrahepatic_rate"] = float(cohort["extrahepatic_recurrence"].to_numpy(dtype=float)[f].sum() / nf)
    died, alive = f & e, f & ~e
    out["median_os_died"] = float(np.median(t[died])) if died.any() else float("nan")
    out["median_os_alive"] = float(np.median(t[alive])) if alive.any() else float("nan")
    return out


def cohort_statistics(cohort: pd.DataFrame, labels: list[str] | None = None) -> dict[str, float]:
    """The same statistics through the cohort-analysis path real cohorts take (:mod:`isoperf.outcomes`):
    validation to the canonical table, Kaplan-Meier (lifelines, R conventions), response rates and
    operative mortality. Raises when the virtual cohort does not pass validation."""
    from isoperf.outcomes import kaplan_meier, operative_mortality, response_rates, validate_cohort

    report = validate_cohort(cohort)
    report.raise_for_problems()
    c = report.cohort
    labels = labels if labels is not None else sorted(c["arm"].astype(str).unique())
    f = c[c["followed"].fillna(0).astype(int) == 1]

    def med(df: pd.DataFrame, label: str) -> float:
        if len(df) == 0:
            return float("nan")
        m = kaplan_meier(df["os_time"], df["os_event"].astype(int), label=label).median
        return float("nan") if m is None else float(m)

    rr = response_rates(f["best_response"]).rates

    def rate(p: Any) -> float:
        return float("nan") if p.rate is None else float(p.rate)

    out = {
        "operative_mortality": rate(operative_mortality(c)),
        "cr_rate": rate(rr["CR"]),
        "pr_rate": rate(rr["PR"]),
        "median_os": med(f, "followed"),
    }
    for lab in labels:
        out[f"median_os[{lab}]"] = med(f[f["arm"].astype(str) == lab], lab)
    for lab in labels:
        out[f"share[{lab}]"] = float((f["arm"].astype(str) == lab).mean()) if len(f) else float("nan")
    out["extrahepatic_rate"] = float(f["extrahepatic_recurrence"].fillna(0).astype(float).mean()) if len(f) else float("nan")
    died = f[f["os_event"] == 1]["os_time"]
    alive = f[f["os_event"] == 0]["os_time"]
    out["median_os_died"] = float(died.median()) if len(died) else float("nan")
    out["median_os_alive"] = float(alive.median()) if len(alive) else float("nan")
    return out
