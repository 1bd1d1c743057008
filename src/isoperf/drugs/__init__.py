"""Drug library (data files with sources)."""

from isoperf.drugs._library import DoseLimit, Drug, Parameter, drug_from_dict, get_drug, list_drugs

__all__ = ["DoseLimit", "Drug", "Parameter", "drug_from_dict", "get_drug", "list_drugs"]
