"""Rich tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from isoperf.result import DISCLAIMER, REPORTED, Result


def _g(x: float) -> str:
    return f"{x:.4g}"


def print_result(result: Result, console: Console | None = None) -> None:
    console = console or Console()
    p = result.plan.patient
    console.print(f"[bold]{result.plan.protocol.name}[/bold]  patient {p.weight:g} kg, {p.height:g} cm, "
                  f"BSA {p.bsa:.2f} m2, liver {p.liver_volume:.2f} L, tumour {p.tumour_volume_l:.2f} L")
    for proc in result.plan.procedures:
        console.print(f"  {proc.name}: {proc.kind.upper()} {proc.start:g}-{proc.end:g} min; doses: " + ", ".join(
            f"{d.drug} {d.amount:.4g} mg ({d.rule}) at {d.start:g} min" + (f" over {d.duration:g} min" if d.duration else "")
            for d in proc.doses[:4]) + (" ..." if len(proc.doses) > 4 else ""))
    t = Table(title="Exposure per drug and compartment")
    for col in ("drug", "compartment", "AUC (mg*min/L)", "Cmax (mg/L)", "Tmax (min)"):
        t.add_column(col, justify="right" if col[0].isupper() else "left")
    for drug, m in result.metrics.items():
        for c in REPORTED:
            t.add_row(drug, c, _g(m.auc[c]), _g(m.cmax[c]), _g(m.tmax[c]))
    console.print(t)
    f = Table(title="Fate of the dose (mg)")
    for col in ("drug", "dose", "leaked to body", "washout", "eliminated", "filtered", "remaining", "mass-balance error"):
        f.add_column(col, justify="right" if col != "drug" else "left")
    for drug, m in result.metrics.items():
        fa = m.fate
        f.add_row(drug, _g(m.dose), _g(fa["leaked"]), _g(fa["washout"]), _g(fa["eliminated"]), _g(fa["filtered"]),
                  _g(fa["remaining"]), f"{m.mass_balance_error:.1e}")
    console.print(f)
    for flag in result.flags:
        console.print(f"[bold red]FLAG[/bold red] {flag}")
    console.print(f"[dim]{DISCLAIMER}[/dim]")
