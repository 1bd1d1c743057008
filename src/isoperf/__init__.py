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
    "build_plan",
    "get_drug",
    "list_drugs",
    "load_protocol",
    "parse_quantity",
    "simulate",
    "simulate_population",
]
