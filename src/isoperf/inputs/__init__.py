"""Inputs: the protocol file format and its loader."""

from isoperf.inputs._load import load_protocol
from isoperf.inputs._schema import DoseSpec, OutputSpec, PatientSpec, ProcedureSpec, ProtocolSpec, WashoutSpec

__all__ = ["DoseSpec", "OutputSpec", "PatientSpec", "ProcedureSpec", "ProtocolSpec", "WashoutSpec", "load_protocol"]
