"""isoperf: simulate, plan and analyse isolated regional chemotherapy.

Research and teaching software: not a medical device, gives no clinical advice.

The public API is re-exported here; implementation lives in private modules.
"""

from isoperf._errors import InputError, InputErrors, IsoperfError, MassBalanceError
from isoperf._simulate import simulate
from isoperf._units import parse_quantity
from isoperf.drugs import Drug, get_drug, list_drugs
from isoperf.inputs import ProtocolSpec, load_protocol
from isoperf.patient import Patient
from isoperf.population import simulate_population
from isoperf.procedures import Plan, build_plan
from isoperf.result import DISCLAIMER, Result

__version__ = "0.1.0"

#: verbs of the analysis layers, imported on first use (lifelines, matplotlib) to keep ``import isoperf`` light
_LAZY = {
    "compare": "isoperf.analysis",
    "regional_advantage": "isoperf.analysis",
    "collins_rd": "isoperf.analysis",
    "read_cohort": "isoperf.outcomes",
    "validate_cohort": "isoperf.outcomes",
    "analyze_cohort": "isoperf.outcomes",
    "seed_report": "isoperf.outcomes",
    "load_trial": "isoperf.trial",
    "run_trial": "isoperf.trial",
    "calibrate": "isoperf.trial",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'isoperf' has no attribute {name!r}")


__all__ = [
    "DISCLAIMER",
    "Drug",
    "InputError",
    "InputErrors",
    "IsoperfError",
    "MassBalanceError",
    "Patient",
    "Plan",
    "ProtocolSpec",
    "Result",
    "analyze_cohort",
    "build_plan",
    "calibrate",
    "collins_rd",
    "compare",
    "get_drug",
    "list_drugs",
    "load_protocol",
    "load_trial",
    "parse_quantity",
    "read_cohort",
    "regional_advantage",
    "run_trial",
    "seed_report",
    "simulate",
    "simulate_population",
    "validate_cohort",
]
