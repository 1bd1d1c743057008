"""What people see: terminal tables and plots."""

from isoperf.report._console import print_result
from isoperf.report._describe import describe_plan
from isoperf.report._plot import plot_result

__all__ = ["describe_plan", "plot_result", "print_result"]
