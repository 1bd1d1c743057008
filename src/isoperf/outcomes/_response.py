"""Proportions with exact (Clopper-Pearson) CIs: response rates and operative mortality."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy.stats import binomtest

from isoperf.outcomes._schema import RESPONSE_CODES


@dataclass(frozen=True)
class Proportion:
    """k of n with the exact Clopper-Pearson CI (scipy ``binomtest(...).proportion_ci('exact')``)."""

    k: int
    n: int
    rate: float | None
    ci: tuple[float | None, float | None]

    def to_dict(self) -> dict[str, object]:
        return {"n": self.k, "of": self.n, "rate": self.rate, "ci": list(self.ci)}


def proportion(k: int, n: int, *, conf_level: float = 0.95) -> Proportion:
    """k / n with its exact CI; rate and CI are None when n = 0."""
    if n == 0:
        return Proportion(0, 0, None, (None, None))
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=conf_level, method="exact")
    return Proportion(int(k), int(n), k / n, (float(ci.low), float(ci.high)))


@dataclass
class ResponseRates:
    """CR, PR, SD, PD, NE, missing and ORR (CR + PR) among the patients given, with exact CIs.

    The denominator is every patient given; a missing response is counted in ``missing`` (and so as a
    non-responder), never dropped.
    """

    rates: dict[str, Proportion]

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"n": p.k, "of": p.n, "rate": p.rate, "lower": p.ci[0], "upper": p.ci[1]} for p in self.rates.values()],
            index=pd.Index(list(self.rates), name="response"))

    def print_summary(self) -> None:
        print("<isoperf.outcomes.ResponseRates> exact (Clopper-Pearson) CIs")
        print(self.summary.to_string())


def response_rates(best_response: pd.Series, *, conf_level: float = 0.95) -> ResponseRates:
    """Response rates from a column of CR/PR/SD/PD/NE (missing allowed)."""
    s = best_response.astype("string")
    n = len(s)
    rates = {c: proportion(int((s == c).sum()), n, conf_level=conf_level) for c in RESPONSE_CODES}
    rates["missing"] = proportion(int(s.isna().sum()), n, conf_level=conf_level)
    rates["ORR"] = proportion(int(s.isin(["CR", "PR"]).sum()), n, conf_level=conf_level)
    return ResponseRates(rates)


def operative_mortality(cohort: pd.DataFrame, *, conf_level: float = 0.95) -> Proportion:
    """Deaths within 30 days of the procedure among all patients treated (column ``operative_death``)."""
    col = cohort["operative_death"].fillna(0).astype(int)
    return proportion(int(col.sum()), len(col), conf_level=conf_level)
