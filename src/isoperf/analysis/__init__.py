"""Analysis across simulations: protocol comparison, Collins' regional advantage, sequence metrics."""

from isoperf.analysis._collins import (
    RegionalAdvantage,
    analytic_advantage,
    collins_rd,
    engine_parameters,
    regional_advantage,
    well_stirred_extraction,
)
from isoperf.analysis._compare import (
    Comparison,
    compare,
    comparison_from_dict,
    load_comparison,
    plot_comparison,
)
from isoperf.analysis._sequence import per_procedure, sequence_summary

__all__ = ["Comparison", "RegionalAdvantage", "analytic_advantage", "collins_rd", "compare", "comparison_from_dict",
           "engine_parameters", "load_comparison", "per_procedure", "plot_comparison", "regional_advantage",
           "sequence_summary", "well_stirred_extraction"]
