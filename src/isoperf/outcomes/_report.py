"""The founding series' results table, computed from patient-level data.

Layout (as the founding abstract reports it): patients treated, operative (30-day) mortality, patients
followed, median survival (KM) of the followed patients, number alive with their median follow-up and
number dead with their median time to death (plain medians of observed times, as the abstract quotes
them), median survival by subgroup with log-rank p and HR, CR / PR / ORR rates with exact CIs among
the followed patients, and the rate of extrahepatic recurrence.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from isoperf._errors import InputError
from isoperf.outcomes._analyze import CohortAnalysis, analyze_cohort
from isoperf.outcomes._km import DEFAULT_CONF_TYPE, kaplan_meier
from isoperf.outcomes._plot import DISCLAIMER
from isoperf.outcomes._response import operative_mortality, proportion, response_rates


def _f(x: float | None, nd: int = 1) -> str:
    return "not reached" if x is None else f"{x:.{nd}f}"


def _pct(p: dict[str, Any]) -> str:
    if p["rate"] is None:
        return "n/a"
    lo, hi = p["ci"]
    return f"{p['n']}/{p['of']} ({100 * p['rate']:.0f}%; 95% CI {100 * lo:.0f}-{100 * hi:.0f}%)"


def _median_str(m: dict[str, Any]) -> str:
    lo, hi = m["median_ci"]
    return f"{_f(m['median'])} months (95% CI {_f(lo)} to {_f(hi)}; n={m['n']}, {m['events']} deaths)"


@dataclass
class SeedReport:
    """The results table. ``summary`` is the dict behind ``--format json``; ``rows`` the printed lines."""

    summary: dict[str, Any]

    @property
    def rows(self) -> list[tuple[str, str]]:
        s = self.summary
        rows = [
            ("Patients treated", str(s["patients_treated"])),
            ("Operative (30-day) mortality", _pct(s["operative_mortality"])),
            ("Patients followed", str(s["patients_followed"])),
            ("Median survival, followed patients (KM)", _median_str(s["median_survival"])),
            (f"Still alive: n = {s['alive']['n']}, median follow-up", f"{_f(s['alive']['median_time'])} months"),
            (f"Died: n = {s['died']['n']}, median time to death", f"{_f(s['died']['median_time'])} months"),
        ]
        sub = s.get("by_group")
        if sub:
            for lev, m in sub["groups"].items():
                rows.append((f"Median survival, {sub['column']} = {lev}", _median_str(m)))
            if sub.get("logrank"):
                lr = sub["logrank"]
                rows.append(("Log-rank test", f"chisq {lr['chisq']:.2f} on {lr['df']} df, p = {lr['p']:.3g}"))
            if sub.get("cox"):
                for term, v in sub["cox"]["terms"].items():
                    rows.append((f"Hazard ratio {term} vs {sub['cox']['reference']}",
                                 f"{v['hr']:.2f} (95% CI {v['ci'][0]:.2f}-{v['ci'][1]:.2f}), p = {v['p']:.3g}"))
        if s.get("response"):
            for key, label in (("CR", "Complete remission"), ("PR", "Partial remission"),
                               ("ORR", "Overall response (CR + PR)")):
                rows.append((label, _pct(s["response"][key])))
        if s.get("extrahepatic_recurrence"):
            rows.append(("Extrahepatic (lung) and/or local recurrence", _pct(s["extrahepatic_recurrence"])))
        if s["excluded"]["n"]:
            rows.append(("Rows excluded (--exclude-invalid)", str(s["excluded"]["n"])))
        return rows

    def to_text(self) -> str:
        w = max(len(k) for k, _ in self.rows)
        lines = ["isoperf cohort report (founding-series layout)", ""]
        lines += [f"{k:<{w}}  {v}" for k, v in self.rows]
        lines += ["", self.summary["notes"], DISCLAIMER]
        return "\n".join(lines)

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.summary, **kw)

    def to_html(self) -> str:
        body = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.rows)
        return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>isoperf cohort report</title>"
                "<style>body{font-family:sans-serif}th{text-align:left;padding-right:1em}"
                ".disclaimer{color:#555}</style></head><body>\n<h1>Cohort report (founding-series layout)</h1>\n"
                f"<table>\n{body}\n</table>\n<p>{html.escape(self.summary['notes'])}</p>\n"
                f"<p class='disclaimer'>{html.escape(DISCLAIMER)}</p>\n</body></html>\n")

    def print_summary(self) -> None:
        print(self.to_text())


def seed_report(
    cohort: pd.DataFrame,
    *,
    group: str | None = None,
    conf_type: str = DEFAULT_CONF_TYPE,
    n_input: int | None = None,
    excluded: pd.DataFrame | None = None,
) -> SeedReport:
    """Build the founding-series results table from a validated canonical cohort."""
    for c in ("os_time", "os_event"):
        if c not in cohort.columns:
            raise InputError(f"column '{c}'", "required for the report")
    if group is None and "arm" in cohort.columns and cohort["arm"].nunique() >= 2:
        group = "arm"
    if group is not None and group not in cohort.columns:
        raise InputError(f"column '{group}'", "not in the cohort table",
                         f"columns present: {', '.join(map(str, cohort.columns))}")
    followed = cohort[cohort["followed"].fillna(0).astype(int) == 1]
    km = kaplan_meier(followed["os_time"], followed["os_event"].astype(int), conf_type=conf_type,
                      label="followed")
    alive = followed[followed["os_event"] == 0]["os_time"]
    died = followed[followed["os_event"] == 1]["os_time"]

    def med(x: pd.Series) -> float | None:
        return None if len(x) == 0 else float(x.median())

    s: dict[str, Any] = {
        "patients_treated": int(len(cohort)),
        "operative_mortality": operative_mortality(cohort).to_dict(),
        "patients_followed": int(len(followed)),
        "median_survival": {"n": km.n, "events": km.events, "median": km.median,
                            "median_ci": list(km.median_ci)},
        "alive": {"n": int(len(alive)), "median_time": med(alive)},
        "died": {"n": int(len(died)), "median_time": med(died)},
        "by_group": None,
        "response": None,
        "extrahepatic_recurrence": None,
        "time_unit": "months",
        "conf_type": conf_type,
        "n_input": int(n_input if n_input is not None else len(cohort)),
        "excluded": {"n": 0 if excluded is None else len(excluded),
                     "rows": [] if excluded is None else
                     [{"row": int(r.row), "reason": str(r.reason)} for r in excluded.itertuples()]},
        "notes": ("Survival, response and recurrence are among the followed patients; medians of the alive "
                  "and dead are plain medians of observed times; times in months of 30.4375 days; "
                  f"Kaplan-Meier CIs conf-type {conf_type}; exact Clopper-Pearson CIs for rates."),
        "disclaimer": DISCLAIMER,
    }
    if group is not None:
        a: CohortAnalysis = analyze_cohort(followed, group=group, conf_type=conf_type)
        d = a.to_dict()
        s["by_group"] = {"column": group,
                         "groups": {k: {kk: v[kk] for kk in ("n", "events", "median", "median_ci")}
                                    for k, v in d["groups"].items()},
                         "logrank": d["logrank"], "cox": d["cox"]}
    if "best_response" in followed.columns:
        rr = response_rates(followed["best_response"])
        s["response"] = {k: p.to_dict() for k, p in rr.rates.items()}
    if "extrahepatic_recurrence" in followed.columns:
        col = followed["extrahepatic_recurrence"]
        s["extrahepatic_recurrence"] = proportion(int(col.fillna(0).sum()), int(len(col))).to_dict()
        s["extrahepatic_recurrence"]["missing"] = int(col.isna().sum())
    return SeedReport(s)
