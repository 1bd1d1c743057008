"""``isoperf simulate PROTOCOL``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from isoperf.cli._common import user_errors, write_stdout


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        protocol: Path = typer.Argument(..., help="Protocol file (.toml)."),
        out: Path | None = typer.Option(None, "--out", help="Folder for curves (CSV), metrics (JSON) and plot."),
        fmt: Format = typer.Option(Format.table, "--format", help="table (rich), json (one object) or csv (curves)."),
        plot: Path | None = typer.Option(None, "--plot", help="Write the concentration plot to this file (PNG/SVG)."),
    ) -> None:
        """Simulate a protocol: exposure per compartment, fate of the dose, mass balance."""
        import isoperf
        from isoperf.report import plot_result, print_result

        with user_errors():
            result = isoperf.simulate(protocol)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                result.timeseries().to_csv(out / "curves.csv", index=False)
                (out / "metrics.json").write_text(json.dumps(result.to_dict(), indent=2))
                result.summary.to_csv(out / "summary.csv", index=False)
                if plot is None:
                    plot = out / "concentrations.png"
            if plot is not None:
                plot_result(result, plot)
            if fmt is Format.json:
                write_stdout(json.dumps(result.to_dict()))
            elif fmt is Format.csv:
                write_stdout(result.timeseries().to_csv(index=False))
            else:
                print_result(result)
                if plot is not None:
                    typer.echo(f"plot written to {plot}")
                if out is not None:
                    typer.echo(f"curves, metrics and summary written to {out}/")

    @app.command()
    def describe(protocol: Path = typer.Argument(..., help="Protocol file (.toml).")) -> None:
        """Show the model a protocol builds: physiology, compartments, each segment's flows and eliminations."""
        import isoperf
        from isoperf.report import describe_plan

        with user_errors():
            describe_plan(isoperf.build_plan(isoperf.load_protocol(protocol)))
