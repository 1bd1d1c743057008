"""``isoperf trial`` and ``isoperf calibrate``: virtual trials and their calibration to published statistics."""

from __future__ import annotations

import json
import math
import shutil
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from isoperf._errors import InputError, InputErrors, IsoperfError

_WIDTH = max(100, shutil.get_terminal_size((160, 24)).columns)
_err = Console(stderr=True, width=_WIDTH)
_out = Console(width=_WIDTH)


class OutFormat(StrEnum):
    table = "table"
    json = "json"


def _fail(exc: IsoperfError) -> None:
    if isinstance(exc, InputErrors):
        _err.print(f"[bold red]error:[/] {len(exc.errors)} problem(s) in the input:")
        for e in exc.errors[:25]:
            _err.print(f"  - {escape(str(e))}")
    else:
        _err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(code=2)


def _fmt(x: Any, stat: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, list | tuple):
        return "-".join(_fmt(v, stat) for v in x)
    if not isinstance(x, int | float):
        return str(x)
    return f"{100 * x:.0f}%" if stat.endswith(("rate", "mortality")) else f"{x:.1f}"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _plot_replicate(cohort: Any, path: Path, title: str) -> None:
    from isoperf.outcomes import kaplan_meier, plot_km, save_figure, validate_cohort

    c = validate_cohort(cohort).cohort
    f = c[c["followed"].astype(int) == 1]
    curves = [kaplan_meier(g["os_time"], g["os_event"].astype(int), label=str(lab))
              for lab, g in f.groupby("arm", sort=True)]
    fig, _, _ = plot_km(curves, title=title)
    save_figure(fig, path)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""

    @app.command("trial")
    def trial_cmd(
        trial: Annotated[Path, typer.Argument(help="Trial file (TOML), e.g. examples/seed_study.toml.")],
        replicates: Annotated[int | None, typer.Option(help="Number of replicates (default: the file's).")] = None,
        seed: Annotated[int, typer.Option(help="Random seed; a replicate depends only on (seed, replicate).")] = 0,
        workers: Annotated[int, typer.Option(help="Worker processes (results do not depend on it).")] = 1,
        fmt: Annotated[OutFormat, typer.Option("--format", help="table or json.")] = OutFormat.table,
        out: Annotated[Path | None, typer.Option(help="Directory for the summary JSON, per-replicate "
                                                 "statistics, the first replicate's cohort (canonical and "
                                                 "ADTTE CSV), its RECIST assessments and its KM plot.")] = None,
        fitted: Annotated[Path | None, typer.Option(help="Fitted-parameters file (default: the file's `fitted`).")] = None,
        fast: Annotated[bool, typer.Option("--fast", help="Numpy statistics instead of the isoperf.outcomes "
                                           "analysis of every replicate (same definitions, faster).")] = False,
    ) -> None:
        """Run a virtual trial: replicate cohorts and, per statistic, the median and 95% prediction interval."""
        from isoperf.trial import replicate_assessments, run_trial, setup_trial, to_adtte

        try:
            if replicates is not None and replicates < 1:
                raise InputError("--replicates", f"got {replicates}", "give at least 1")
            if workers < 1:
                raise InputError("--workers", f"got {workers}", "give at least 1")
            t0 = time.perf_counter()
            setup = setup_trial(trial, workers=workers, fitted=fitted)

            def progress(done: int, total: int) -> None:
                if fmt == OutFormat.table and _err.is_terminal:
                    _err.print(f"  replicates {done}/{total}", end="\r")

            res = run_trial(setup, replicates=replicates, seed=seed, workers=workers,
                            keep_cohorts=1 if out else 0, analysis="fast" if fast else "outcomes",
                            progress=progress)
            seconds = time.perf_counter() - t0
        except IsoperfError as exc:
            _fail(exc)
            return
        d = res.to_dict()
        d["seconds"] = round(seconds, 2)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "trial_summary.json").write_text(json.dumps(d, indent=1), encoding="utf-8")
            res.per_replicate.to_csv(out / "statistics_per_replicate.csv")
            if res.cohorts:
                c = res.cohorts[0]
                c.to_csv(out / "cohort_replicate_0000.csv", index=False)
                to_adtte(c).to_csv(out / "adtte_replicate_0000.csv", index=False)
                replicate_assessments(setup, seed, 0).to_csv(out / "assessments_replicate_0000.csv", index=False)
                _plot_replicate(c, out / "km_replicate_0000.png", f"{res.name}: replicate 0 (seed {seed})")
        if fmt == OutFormat.json:
            print(json.dumps(d, indent=1))
            return
        if _err.is_terminal:
            _err.print(" " * 40, end="\r")
        t = Table(title=f"{res.name}: {res.replicates} replicates x {res.patients} patients, seed {seed} "
                  f"({seconds:.1f} s)")
        for col in ("statistic", "median", "95% prediction interval", "observed", "inside"):
            t.add_column(col)
        for r in res.summary.itertuples():
            inside = "" if r.inside is None else ("yes" if r.inside else "NO")
            t.add_row(escape(r.statistic), _fmt(r.median, r.statistic), _fmt([r.pi_low, r.pi_high], r.statistic),
                      "" if _missing(r.observed) else _fmt(r.observed, r.statistic), inside)
        _out.print(t)
        _out.print(d["disclaimer"])

    @app.command("calibrate")
    def calibrate_cmd(
        trial: Annotated[Path, typer.Argument(help="Trial file (TOML).")],
        targets: Annotated[Path, typer.Option(help="Targets file (TOML): published statistics to fit.")],
        seed: Annotated[int | None, typer.Option(help="Seed of the common random numbers (default: targets file).")] = None,
        replicates: Annotated[int | None, typer.Option(help="Replicates pooled per evaluation (default: targets file).")] = None,
        maxfev: Annotated[int | None, typer.Option(help="Maximum objective evaluations.")] = None,
        output: Annotated[Path | None, typer.Option("--output", help="Fitted-parameters file to write "
                                                    "(default: the trial file's `fitted`).")] = None,
        report: Annotated[Path | None, typer.Option(help="Directory for the fit-vs-target table (CSV) and plot.")] = None,
        fmt: Annotated[OutFormat, typer.Option("--format", help="table or json.")] = OutFormat.table,
    ) -> None:
        """Fit the uncertain population parameters to published statistics (method of simulated moments)."""
        from isoperf.trial import calibrate, fitted_toml, load_targets, load_trial, setup_trial

        try:
            spec = load_trial(trial)
            tg, cfg = load_targets(targets)
            names = list(cfg.get("parameters", []))
            if not names:
                raise InputError(f"{targets}: calibrate.parameters", "is empty", "list the parameters to fit")
            dest = output or (Path(spec.base_dir) / spec.fitted if spec.fitted else None)
            if dest is None:
                raise InputError("--output", "is missing and the trial file has no `fitted` key",
                                 "give --output FILE")
            # calibration starts from the defaults, never from a previous fit
            setup = setup_trial(spec, fitted="", workers=1)
            t0 = time.perf_counter()

            def progress(i: int, f: float) -> None:
                if fmt == OutFormat.table and i % 50 == 0:
                    _err.print(f"  evaluation {i}: objective {f:.4g} ({time.perf_counter() - t0:.0f} s)")

            res = calibrate(setup, tg, names, replicates=int(replicates or cfg.get("replicates", 100)),
                            seed=int(seed if seed is not None else cfg.get("seed", 0)),
                            maxfev=int(maxfev or cfg.get("maxfev", 1500)), progress=progress)
        except IsoperfError as exc:
            _fail(exc)
            return
        dest.write_text(fitted_toml(res, spec.name), encoding="utf-8")
        if report is not None:
            report.mkdir(parents=True, exist_ok=True)
            res.fit.to_csv(report / "calibration_fit.csv", index=False)
            _fit_plot(res, report / "calibration_fit.png")
        d = {"trial": spec.name, "fitted_file": str(dest), "seconds": round(res.seconds, 1),
             "evaluations": res.evaluations, "objective": res.objective, "seed": res.seed,
             "replicates": res.replicates,
             "parameters": {k: {"value": res.estimate[k], "se": res.se[k], "ci95": list(res.ci95[k])}
                            for k in res.names},
             "fit": res.fit.to_dict(orient="records")}
        if fmt == OutFormat.json:
            print(json.dumps(d, indent=1, default=float))
            return
        t = Table(title=f"fitted parameters ({res.evaluations} evaluations, {res.seconds:.0f} s, "
                  f"objective {res.objective:.3g}) -> {dest}")
        for col in ("parameter", "value", "SE", "95% interval"):
            t.add_column(col)
        for k in res.names:
            t.add_row(k, f"{res.estimate[k]:.4g}", f"{res.se[k]:.2g}", f"{res.ci95[k][0]:.3g} - {res.ci95[k][1]:.3g}")
        _out.print(t)
        f = Table(title="fit vs target")
        for col in ("statistic", "target", "target SD", "simulated", "z"):
            f.add_column(col)
        for r in res.fit.itertuples():
            f.add_row(escape(r.statistic), f"{r.target:.3g}", f"{r.target_sd:.2g}", f"{r.simulated:.3g}", f"{r.z:+.2f}")
        _out.print(f)


def _fit_plot(res: Any, path: Path) -> None:
    from matplotlib.figure import Figure

    from isoperf.result import DISCLAIMER

    fit = res.fit
    fig = Figure(figsize=(7, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(fit)))[::-1]
    ax.errorbar(fit["target"] * 0 + fit["z"] * 0, y, xerr=1.96, fmt="none", ecolor="0.7", capsize=4,
                label="target +/- 1.96 SD")
    ax.plot(fit["z"], y, "o", color="C0", label="simulated (z = (sim - target) / SD)")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{s} (target {t:.3g}, sim {v:.3g})" for s, t, v in
                        zip(fit["statistic"], fit["target"], fit["simulated"], strict=True)], fontsize=7)
    ax.set_xlabel("standardised deviation from the published value")
    ax.set_xlim(-3, 3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=6, color="0.4")
    fig.savefig(path, dpi=120)


