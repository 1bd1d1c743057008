"""Run a DrugModel through its segments and events; return the trajectory on the output grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from isoperf._errors import MassBalanceError
from isoperf.model import Bolus, DrugModel, StateLayout, Transfer, assemble
from isoperf.solve._exact import solve_linear
from isoperf.solve._ode import solve_nonlinear

MASS_BALANCE_TOL = 1e-9


@dataclass
class Trajectory:
    """Raw solver output for one drug: full state on the grid, plus each event's pre/post states."""

    model: DrugModel
    layout: StateLayout
    times: np.ndarray  # (T,)
    states: np.ndarray  # (T, size); at an event time: the state just before the event
    final: np.ndarray  # state at the end of the last segment (after any events there)
    event_times: np.ndarray
    pre_event: np.ndarray  # (E, size)
    post_event: np.ndarray  # (E, size)
    mass_balance_error: float
    solver: dict[str, str]
    #: the first segment's start and every segment end, with the state there before any event
    boundary_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    boundary_states: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))

    def state_before(self, t: float) -> np.ndarray | None:
        """The state at ``t`` before any event there, if ``t`` is on the output grid or a segment boundary."""
        for times, states in ((self.times, self.states), (self.boundary_times, self.boundary_states)):
            hit = np.flatnonzero(np.abs(times - t) <= 1e-9)
            if hit.size:
                return states[hit[0]]
        return None


def _apply_events(model: DrugModel, layout: StateLayout, x: np.ndarray, t: float) -> np.ndarray:
    x = x.copy()
    for e in model.events:
        if e.time != t:
            continue
        if isinstance(e, Bolus):
            x[layout.comp[e.compartment]] += e.amount
            x[layout.dosed] += e.amount
        elif isinstance(e, Transfer):
            i = layout.comp[e.compartment]
            x[layout.sink[e.sink]] += x[i]
            x[i] = 0.0
    return x


def mass_balance_error(layout: StateLayout, x: np.ndarray) -> np.ndarray:
    """Relative error of ``compartments + sinks = dosed`` (rows of ``x``), relative to the dose given."""
    x = np.atleast_2d(x)
    held = x[:, : layout.n].sum(axis=1) + x[:, list(layout.sink.values())].sum(axis=1)
    dosed = x[:, layout.dosed]
    denom = np.maximum(np.abs(dosed), 1e-300)
    err = np.abs(held - dosed) / denom
    return np.where(dosed == 0, np.abs(held), err)


def run(model: DrugModel, grid: np.ndarray, *, nonlinear_method: str = "LSODA", rtol: float = 1e-10) -> Trajectory:
    """Simulate ``model``; ``grid`` is the output time grid (min), within the model's time span."""
    layout = StateLayout(model)
    grid = np.asarray(grid, dtype=float)
    x = np.zeros(layout.size)
    t0 = model.segments[0].start
    event_times = np.array(sorted({e.time for e in model.events}))
    pre, post = [], []
    states = np.empty((grid.size, layout.size))
    # grid points at the very start report the state before any event there
    start_mask = grid == t0
    states[start_mask] = x
    bounds_t, bounds_x = [t0], [x.copy()]
    if t0 in event_times:
        pre.append(x.copy())
        x = _apply_events(model, layout, x, t0)
        post.append(x.copy())
    scale = max(model.total_dose, 1e-12)
    used = set()
    for seg in model.segments:
        a = assemble(model, seg, layout)
        mask = (grid > seg.start) & (grid <= seg.end)
        t_out = grid[mask]
        if seg.linear:
            out, x_end = solve_linear(a, x, seg.start, seg.end, t_out, layout.n)
            used.add("exact (eigen / matrix exponential)")
        else:
            out, x_end = solve_nonlinear(a, x, seg.start, seg.end, t_out, scale=scale,
                                         method=nonlinear_method, rtol=rtol)
            used.add(f"scipy {nonlinear_method} (rtol {rtol:g})")
        states[mask] = out
        x = x_end
        bounds_t.append(seg.end)
        bounds_x.append(x.copy())
        if seg.end in event_times:
            pre.append(x.copy())
            x = _apply_events(model, layout, x, seg.end)
            post.append(x.copy())
    err_grid = mass_balance_error(layout, states)
    err_end = mass_balance_error(layout, x)
    err = float(max(err_grid.max(initial=0.0), err_end.max()))
    if not err <= MASS_BALANCE_TOL:
        raise MassBalanceError(
            f"mass balance of {model.drug} failed: relative error {err:.3g} > {MASS_BALANCE_TOL:g}. "
            "This is a bug in isoperf; please report it with the protocol."
        )
    size = layout.size
    return Trajectory(
        model=model,
        layout=layout,
        times=grid,
        states=states,
        final=x,
        event_times=event_times,
        pre_event=np.array(pre).reshape(-1, size),
        post_event=np.array(post).reshape(-1, size),
        mass_balance_error=err,
        solver={"linear segments": "exact (eigen / matrix exponential)",
                "nonlinear segments": f"scipy {nonlinear_method}"}
        if len(used) > 1 else {"segments": next(iter(used), "none")},
        boundary_times=np.array(bounds_t),
        boundary_states=np.array(bounds_x),
    )
