"""Exposure -> tumour response: cell kill per drug (Bliss combination), tumour growth and regrowth,
RECIST 1.1 and the outcome model's parameters with their provenance.

isoperf is research software, not a medical device, and gives no clinical advice.
"""

from isoperf.response._kill import SUPPORTED, bliss_fraction_affected, bliss_log_kill, drug_log_kill
from isoperf.response._parameters import UNITS, ModelParameter, ParameterSet, load_parameters
from isoperf.response._recist import CATEGORIES, best_overall_response, category_names, classify
from isoperf.response._tumour import TumourState, crossing_time, gompertz_rate, sum_of_diameters

__all__ = [
    "CATEGORIES",
    "SUPPORTED",
    "UNITS",
    "ModelParameter",
    "ParameterSet",
    "TumourState",
    "best_overall_response",
    "bliss_fraction_affected",
    "bliss_log_kill",
    "category_names",
    "classify",
    "crossing_time",
    "drug_log_kill",
    "gompertz_rate",
    "load_parameters",
    "sum_of_diameters",
]
