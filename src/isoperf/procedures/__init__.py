"""Procedures (ILP, HAI, IV): configurations of the one compartment engine."""

from isoperf.procedures._base import DoseEvent, Procedure, arterial_split, connected_flows
from isoperf.procedures._build import Plan, build_patient, build_plan, resolve_drug
from isoperf.procedures._ilp import IsolatedLiverPerfusion
from isoperf.procedures._pk import DrugPK, drug_pk

__all__ = ["DoseEvent", "DrugPK", "IsolatedLiverPerfusion", "Plan", "Procedure", "arterial_split", "build_patient",
           "build_plan", "connected_flows", "drug_pk", "resolve_drug"]
