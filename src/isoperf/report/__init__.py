"""What people see: terminal tables and plots."""

from isoperf.report._console import print_result
from isoperf.report._plot import plot_result

__all__ = ["plot_result", "print_result"]
