"""Simulation results and metrics."""

from isoperf.result._result import DISCLAIMER, REPORTED, DrugMetrics, Result, drug_metrics

__all__ = ["DISCLAIMER", "REPORTED", "DrugMetrics", "Result", "drug_metrics"]
