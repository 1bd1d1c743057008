"""Solvers: exact matrix exponential for linear segments, stiff integrator for saturable ones."""

from isoperf.solve._driver import MASS_BALANCE_TOL, Trajectory, mass_balance_error, run
from isoperf.solve._exact import LinearPropagator, solve_linear
from isoperf.solve._ode import solve_nonlinear

__all__ = ["MASS_BALANCE_TOL", "LinearPropagator", "Trajectory", "mass_balance_error", "run", "solve_linear",
           "solve_nonlinear"]
