"""Procedures (ILP, HAI, IV, PHP, limb perfusion): configurations of the one compartment engine."""

from isoperf.procedures._base import DoseEvent, Procedure, arterial_split, connected_flows
from isoperf.procedures._build import (
           Plan,
           build_patient,
           build_plan,
           build_procedures,
           cumulative_doses,
           resolve_drug,
)
from isoperf.procedures._dose_rules import (
           DoseRule,
           ResolvedDose,
           dose_rule_library,
           make_rule,
           named_rule,
           resolve_dose,
)
from isoperf.procedures._ilp import IsolatedLiverPerfusion
from isoperf.procedures._limb import IsolatedLimbPerfusion
from isoperf.procedures._php import PercutaneousHepaticPerfusion, php_filters
from isoperf.procedures._pk import DrugPK, drug_pk

__all__ = ["DoseEvent", "DoseRule", "DrugPK", "IsolatedLimbPerfusion", "IsolatedLiverPerfusion",
           "PercutaneousHepaticPerfusion", "Plan", "Procedure", "ResolvedDose", "arterial_split", "build_patient",
           "build_plan", "build_procedures", "connected_flows", "cumulative_doses", "dose_rule_library", "drug_pk",
           "make_rule", "named_rule", "php_filters", "resolve_dose", "resolve_drug"]
