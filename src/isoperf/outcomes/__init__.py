"""Clinical cohort analysis: the canonical cohort table, readers, validation and survival statistics.

Real cohorts (CSV, Excel, CDISC ADaM ADTTE, REDCap) and isoperf's virtual trials share one table
format and this one analysis path. Estimators come from lifelines; confidence intervals and median
CIs follow R ``survival`` and are tested against it. See the README (Clinical cohort analysis).

isoperf is research software, not a medical device, and gives no clinical advice.
"""

from isoperf.outcomes._analyze import CohortAnalysis, analyze_cohort
from isoperf.outcomes._cox import CoxResult, cox_ph
from isoperf.outcomes._km import CONF_TYPES, DEFAULT_CONF_TYPE, KaplanMeier, kaplan_meier, pointwise_ci
from isoperf.outcomes._load import load_cohort
from isoperf.outcomes._logrank import LogRankResult, logrank
from isoperf.outcomes._plot import DISCLAIMER, TimeGrid, at_risk_table, plot_km, save_figure
from isoperf.outcomes._readers import FORMATS, parse_pairs, read_cohort, read_mapping
from isoperf.outcomes._report import SeedReport, seed_report
from isoperf.outcomes._response import (
    Proportion,
    ResponseRates,
    operative_mortality,
    proportion,
    response_rates,
)
from isoperf.outcomes._schema import (
    COLUMNS,
    DAYS_PER_MONTH,
    OPERATIVE_WINDOW_DAYS,
    RESPONSE_CODES,
    Column,
    Mapping,
)
from isoperf.outcomes._validate import Problem, ValidationReport, validate_cohort

__all__ = [
    "CONF_TYPES", "COLUMNS", "DAYS_PER_MONTH", "DEFAULT_CONF_TYPE", "DISCLAIMER", "FORMATS",
    "OPERATIVE_WINDOW_DAYS", "RESPONSE_CODES",
    "CohortAnalysis", "Column", "CoxResult", "KaplanMeier", "LogRankResult", "Mapping", "Problem", "Proportion",
    "ResponseRates", "SeedReport", "TimeGrid", "ValidationReport",
    "analyze_cohort", "at_risk_table", "cox_ph", "kaplan_meier", "load_cohort", "logrank", "operative_mortality",
    "parse_pairs", "plot_km", "pointwise_ci", "proportion", "read_cohort", "read_mapping", "response_rates",
    "save_figure", "seed_report", "validate_cohort",
]

