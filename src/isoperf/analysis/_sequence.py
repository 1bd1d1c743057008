"""Per-procedure and cumulative metrics of a treatment sequence (ILP then HAI cycles, PHP every 6-8 weeks).

Procedure ``k`` owns the window from its start to the start of the next procedure (the last one to the end of
follow-up), so the windows tile the simulated time and their AUCs add up to the total AUC. An HAI / IV
procedure with dosing cycles is split into one window per cycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from isoperf.solve import Trajectory, run


def _state_at(traj: Trajectory, t: float) -> np.ndarray | None:
    return traj.state_before(t)


def per_procedure(result: Any) -> list[dict[str, Any]]:
    """For each procedure and drug: dose given, AUC per compartment and systemic Cmax in its window."""
    plan = result.plan
    wins = sorted(((t, p, k + 1) for p in plan.procedures for k, t in enumerate(p.cycle_starts or [p.start])),
                  key=lambda w: w[0])
    t_end = float(plan.grid[-1])
    bounds = [w[0] for w in wins[1:]] + [t_end]
    out = []
    for drug, traj in result.trajectories.items():
        need = [t for t in [wins[0][0], *bounds] if _state_at(traj, t) is None and t != t_end]
        if need:  # window boundaries off the output grid: solve once more with them on the grid
            traj = run(traj.model, np.union1d(traj.times, need))
        lay = traj.layout
        inv = np.array([1.0 / (c.volume * c.kp) for c in traj.model.compartments])
        conc = traj.states[:, : lay.n] * inv
        names = traj.model.names
        i_sys = names.index("systemic")
        for (t0, p, cycle), t1 in zip(wins, bounds, strict=True):
            x0 = _state_at(traj, t0)
            x0 = np.zeros(lay.size) if x0 is None else x0
            x1 = traj.final if t1 == t_end else _state_at(traj, t1)
            assert x1 is not None
            in_win = (traj.times >= t0) & (traj.times <= t1)
            given = sum(d.amount for d in p.doses if d.drug == drug and t0 <= d.start < t1)
            out.append({
                "procedure": p.name, "type": p.kind, "cycle": cycle if p.cycle_starts else p.cycle, "drug": drug,
                "start_min": t0, "window_end_min": t1, "dose_mg": float(given),
                "auc": {c: float(x1[lay.auc[c]] - x0[lay.auc[c]]) for c in names},
                "cmax_systemic": float(conc[in_win, i_sys].max(initial=0.0)),
            })
    return out


def sequence_summary(result: Any) -> dict[str, Any]:
    """``{"per_procedure": [...], "cumulative": {drug: {...}}}`` for JSON output."""
    return {"per_procedure": per_procedure(result), "cumulative": getattr(result.plan, "cumulative", {})}
