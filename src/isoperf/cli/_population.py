"""``isoperf population``: simulate a virtual population of a protocol; per-patient table and summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from isoperf._errors import InputError, InputErrors, IsoperfError


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""

    @app.command("population")
    def population(
        protocol: Annotated[Path, typer.Argument(help="protocol TOML (may hold a [population] table)")],
        n: Annotated[int | None, typer.Option("--n", help="number of virtual patients (overrides population.n)")] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="random seed (overrides population.seed)")] = None,
        chunk: Annotated[int, typer.Option("--chunk", help="patients solved together (bounds memory)")] = 4096,
        curves: Annotated[bool, typer.Option("--curves", help="also write concentration curves (Parquet)")] = False,
        out: Annotated[Path | None, typer.Option("--out", help="per-patient table as FILE.parquet (curves go to "
                                                                "FILE.curves.parquet)")] = None,
        population_file: Annotated[Path | None, typer.Option(
            "--population", help="population TOML, if not in the protocol")] = None,
        scheduler: Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address")] = None,
        workers: Annotated[int | None, typer.Option("--workers", help="local Dask cluster of N processes")] = None,
    ) -> None:
        """Simulate N virtual patients (covariates and IIV from [population]); print summary statistics."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Table

        from isoperf.population import simulate_population
        from isoperf.result import DISCLAIMER

        err = Console(stderr=True)
        console = Console()
        try:
            if out is not None and out.suffix != ".parquet":
                raise InputError("--out", f"{str(out)!r} is not a .parquet file", "e.g. --out results.parquet")
            if curves and out is None:
                raise InputError("--curves", "needs --out", "the curves are written next to the table")
            curves_path = out.with_suffix(".curves.parquet") if curves and out is not None else None
            with Progress(TextColumn("[bold]patients"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task("population", total=None)

                def tick(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                res = simulate_population(protocol, population_file, n=n, seed=seed, chunk=chunk,
                                          curves=curves, curves_path=curves_path, scheduler=scheduler,
                                          workers=workers, progress=tick)
        except (InputError, InputErrors, IsoperfError) as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None
        summ = res.summary
        rows = [c for c in summ.index if ".auc." in c or ".cmax." in c or c.endswith(".fate.leaked")]
        table = Table(title=f"{res.info['protocol']}: {res.n} virtual patients (seed {res.info['seed']})")
        for col in ("metric", "mean", "sd", "p5", "median", "p95"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for r in rows:
            s = summ.loc[r]
            table.add_row(r, *(f"{s[c]:.4g}" for c in ("mean", "sd", "p5", "median", "p95")))
        console.print(table)
        if out is not None:
            res.to_parquet(out)
            console.print(f"per-patient table: {out}")
            if curves_path is not None:
                console.print(f"curves: {curves_path}")
        console.print(DISCLAIMER)
