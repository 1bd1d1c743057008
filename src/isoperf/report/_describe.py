"""A human-readable account of the model a protocol builds: physiology, PK, and each phase's flows."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from isoperf.procedures import Plan
from isoperf.result import DISCLAIMER


def describe_plan(plan: Plan, console: Console | None = None) -> None:
    """Print what the engine will solve, segment by segment (mrgsolve-style model listing)."""
    console = console or Console()
    console.print(f"[bold]{plan.protocol.name}[/bold]")
    phys = Table(title="Patient physiology (derived unless overridden)")
    phys.add_column("quantity")
    phys.add_column("value", justify="right")
    for k, v in plan.patient.summary().items():
        phys.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(phys)
    for drug, model in plan.models.items():
        comp = Table(title=f"{drug}: compartments")
        for col in ("compartment", "volume (L)", "Kp"):
            comp.add_column(col)
        for c in model.compartments:
            comp.add_row(c.name, f"{c.volume:.4g}", f"{c.kp:.3g}")
        console.print(comp)
        seg_t = Table(title=f"{drug}: segments (events happen at their boundaries)")
        for col in ("from (min)", "to (min)", "phase", "flows (L/min)", "elimination", "inputs (mg/min)"):
            seg_t.add_column(col, overflow="fold")
        for s in model.segments:
            flows = ", ".join(f"{f.source}->{f.target} {f.rate:.4g}" for f in s.flows if f.rate > 0)
            elim = ", ".join(
                [f"CL {c.compartment} {c.clearance:.4g} L/min" for c in s.clearances if c.clearance > 0]
                + [f"MM {m.compartment} Vmax {m.vmax:.4g} mg/min Km {m.km:.4g} mg/L" for m in s.saturables if m.vmax > 0]
                + [f"k {d.compartment} {d.rate:.4g}/min" for d in s.decays if d.rate > 0])
            inputs = ", ".join(f"{i.compartment} {i.rate:.4g}" for i in s.infusions)
            seg_t.add_row(f"{s.start:g}", f"{s.end:g}", s.phase, flows, elim, inputs)
        console.print(seg_t)
        if model.events:
            console.print("events: " + "; ".join(
                f"{type(e).__name__.lower()} {getattr(e, 'amount', '')} "
                f"{e.compartment}{' -> ' + e.sink if hasattr(e, 'sink') else ''} at {e.time:g} min"
                for e in model.events))
    console.print(f"[dim]{DISCLAIMER}[/dim]")
