"""`isoperf compare` and `isoperf advantage`: regional delivery side by side, Collins' regional advantage."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from isoperf._errors import InputError
from isoperf.cli._common import user_errors, write_stdout


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise InputError("--format", f"got {fmt!r}", "use 'table' or 'json'")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _print_table(title: str, columns: list[str], rows: list[list[Any]], notes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from isoperf.result import DISCLAIMER

    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="left" if c in ("protocol", "drug", "target", "quantity") else "right")
    for r in rows:
        table.add_row(*(_fmt(v) for v in r))
    console = Console(width=160)
    console.print(table)
    for n in notes:
        console.print(n, style="yellow", soft_wrap=True)
    console.print(DISCLAIMER, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""

    @app.command("compare")
    def compare_cmd(
        protocols: Annotated[list[Path], typer.Argument(help="protocol TOML files, or one comparison file "
                                                             "with [[protocols]]")],
        format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
        plot: Annotated[Path | None, typer.Option("--plot", help="write concentration curves to this image")] = None,
    ) -> None:
        """Compare protocols for one patient: exposure per drug and regional advantage over the first."""
        from isoperf.analysis import compare, plot_comparison

        with user_errors():
            _check_format(format)
            comp = compare([str(p) for p in protocols])
        if plot is not None:
            plot_comparison(comp, plot)
        if format == "json":
            write_stdout(json.dumps(comp.to_dict(), indent=1))
            return
        df = comp.table()
        notes = [*comp.notes, *(f"FLAG {f}" for r in comp.results for f in r.flags)]
        _print_table("Regional delivery compared (AUC mg*min/L, Cmax mg/L, same patient)", list(df.columns),
                     df.values.tolist(), notes)

    @app.command("advantage")
    def advantage_cmd(
        drug: Annotated[str, typer.Argument(help="drug name or alias (e.g. 5-FU, melphalan)")],
        flow: Annotated[str | None, typer.Option("--flow", help="blood flow of the infused artery, e.g. '0.375 L/min'")]
        = None,
        extraction: Annotated[str | None, typer.Option("--extraction", help="regional extraction in [0, 1)")] = None,
        clearance: Annotated[str | None, typer.Option("--clearance", help="total body clearance (default: the "
                                                                         "drug's, for the patient)")] = None,
        protocol: Annotated[Path | None, typer.Option("--protocol", help="take the patient (and inline drugs) "
                                                                        "from this protocol")] = None,
        rate: Annotated[str, typer.Option("--rate", help="infusion rate of the simulation (saturable drugs)")]
        = "1 mg/min",
        format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """Collins' regional advantage Rd = 1 + CL_TB / (Q (1 - E)): formula and steady-state simulation."""
        from isoperf._units import parse_quantity
        from isoperf.analysis import collins_rd, regional_advantage
        from isoperf.inputs import load_protocol

        with user_errors():
            _check_format(format)
            patient: dict[str, Any] = {}
            drugs: dict[str, Any] = {}
            if protocol is not None:
                spec = load_protocol(protocol)
                patient, drugs = spec.patient.model_dump(), dict(spec.drugs)
            res = regional_advantage(drug, patient=patient, drugs=drugs, infusion_rate=rate)
            out: dict[str, Any] = res.to_dict()
            if flow is not None or extraction is not None:
                if flow is None or extraction is None:
                    raise InputError("--flow", "and --extraction go together", "give both")
                q = parse_quantity(flow, "flow", field="--flow", allow_zero=False)
                e = parse_quantity(extraction, "fraction", field="--extraction", allow_negative=True)
                cl = res.total_clearance if clearance is None else parse_quantity(clearance, "flow",
                                                                                 field="--clearance")
                out["formula"] = {"flow_L_min": q, "extraction": e, "total_clearance_L_min": cl,
                                  "rd": collins_rd(cl, q, e)}
        if format == "json":
            from isoperf.result import DISCLAIMER

            write_stdout(json.dumps({"isoperf_advantage_json": 1, "disclaimer": DISCLAIMER, **out}, indent=1))
            return
        rows: list[list[Any]] = []
        if "formula" in out:
            f = out["formula"]
            rows.append([f"formula with Q = {f['flow_L_min']:.4g} L/min, E = {f['extraction']:.4g}, "
                         f"CL_TB = {f['total_clearance_L_min']:.4g} L/min", f["rd"], None, None])
        for region, val in res.analytic.items():
            rows.append([f"{region}: engine (Q_H = {res.hepatic_blood_flow:.4g} L/min, E = {res.extraction:.4g}, "
                         f"CL_TB = {res.total_clearance:.4g} L/min)", val, res.simulated.get(region),
                         res.relative_error.get(region)])
        notes = [] if res.linear else [
            f"{res.drug} has saturable elimination: E and CL_TB depend on concentration, which differs between "
            f"the routes (E_IA = {res.route_specific.get('extraction_hepatic_artery', float('nan')):.4g}, "
            f"E_IV = {res.route_specific.get('extraction_intravenous', float('nan')):.4g} at {rate}); the formula "
            "uses E linearised at C -> 0, so formula and simulation diverge (see the README (Regional delivery compared))."]
        _print_table(f"Regional advantage of hepatic-artery over IV infusion: {res.drug}",
                     ["quantity", "Rd analytic", "Rd simulated", "relative error"], rows, notes)
