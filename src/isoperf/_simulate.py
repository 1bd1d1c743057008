"""The main verb: ``isoperf.simulate(protocol) -> Result``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from isoperf.inputs import ProtocolSpec, load_protocol
from isoperf.procedures import build_plan
from isoperf.result import Result
from isoperf.solve import run


def simulate(
    protocol: str | Path | dict[str, Any] | ProtocolSpec,
    *,
    nonlinear_method: str = "LSODA",
    rtol: float = 1e-10,
) -> Result:
    """Simulate a protocol (a TOML path, a TOML string, a dict or a :class:`ProtocolSpec`).

    Linear segments are solved exactly (eigen-decomposition, matrix-exponential fallback); segments with
    saturable elimination with scipy's ``nonlinear_method`` (LSODA by default; Radau and BDF also work) at
    ``rtol``. Mass balance is checked on every simulation (:class:`isoperf.MassBalanceError` if it fails).
    """
    spec = load_protocol(protocol)
    plan = build_plan(spec)
    trajs = {name: run(model, plan.grid, nonlinear_method=nonlinear_method, rtol=rtol)
             for name, model in plan.models.items()}
    return Result(plan=plan, trajectories=trajs, flags=list(plan.flags))
