"""``isoperf cohort``: analysis of clinical cohorts (validate, analyze, report)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from isoperf._errors import InputError, InputErrors, IsoperfError

app = typer.Typer(help="Analyse a clinical cohort (survival, response, the founding-series results table).",
                  no_args_is_help=True)

_WIDTH = max(100, shutil.get_terminal_size((160, 24)).columns)
_err = Console(stderr=True, width=_WIDTH)
_out = Console(width=_WIDTH)
_MAX_SHOWN = 25


class ConfType(StrEnum):
    log = "log"
    log_log = "log-log"
    plain = "plain"


class OutFormat(StrEnum):
    table = "table"
    json = "json"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"


InputFormat = Annotated[str, typer.Option("--input-format", help="auto, csv, excel, adtte or redcap.")]
Dictionary = Annotated[Path | None, typer.Option(help="REDCap data dictionary CSV (for REDCap exports).")]
MappingFile = Annotated[Path | None, typer.Option("--mapping", help="Mapping file (TOML or JSON): columns, "
                                                  "event_codes, response_codes, time_unit.")]
MapOpt = Annotated[list[str] | None, typer.Option("--map", help="Column mapping CANONICAL=SOURCE, e.g. "
                                                  "os_time=futime (repeatable).")]
EventCodes = Annotated[str | None, typer.Option(help="Event coding SOURCE=0|1, e.g. '1=0,2=1' (R's lung).")]
ResponseCodes = Annotated[str | None, typer.Option(help="Response coding SOURCE=CR|PR|SD|PD|NE, e.g. 'complete=CR'.")]
TimeUnit = Annotated[str | None, typer.Option(help="Unit of numeric times in the file: days, weeks, months, "
                                              "years (converted to months of 30.4375 days).")]
Exclude = Annotated[bool, typer.Option("--exclude-invalid", help="Exclude rows with problems (they are "
                                       "counted and listed in the output) instead of stopping.")]


def _fail(exc: IsoperfError) -> None:
    if isinstance(exc, InputErrors):
        _err.print(f"[bold red]error:[/] {len(exc.errors)} problem(s) in the input:")
        for e in exc.errors[:_MAX_SHOWN]:
            _err.print(f"  - {escape(str(e))}")
        if len(exc.errors) > _MAX_SHOWN:
            _err.print(f"  ... and {len(exc.errors) - _MAX_SHOWN} more (same check on further rows; fix the first ones "
                       "or declare the coding, then run again)")
    else:
        _err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(code=2)


def _guard(fn: Callable[[], None]) -> None:
    try:
        fn()
    except IsoperfError as exc:
        _fail(exc)


def _load(file: Path, input_format: str, dictionary: Path | None, mapping_file: Path | None,
          maps: list[str] | None, event_codes: str | None, response_codes: str | None, time_unit: str | None,
          exclude_invalid: bool, endpoints: list[tuple[str, str]] | None, required: list[str] | None) -> Any:
    from isoperf.outcomes import Mapping, parse_pairs, read_cohort, read_mapping, validate_cohort

    m = read_mapping(mapping_file) if mapping_file else Mapping()
    cols: dict[str, str] = {}
    for item in maps or []:
        cols.update(parse_pairs(item, "--map"))
    try:
        ev = {k: int(v) for k, v in parse_pairs(event_codes, "--event-codes").items()}
    except ValueError as exc:
        raise InputError("--event-codes", "event codes must map onto 0 or 1", "e.g. 1=0,2=1") from exc
    cli = Mapping(columns=cols, event_codes=ev, response_codes=parse_pairs(response_codes, "--response-codes"),
                  time_unit=time_unit or "months")
    df = read_cohort(file, format=input_format, mapping=m.merged(cli), dictionary=dictionary)
    rep = validate_cohort(df, endpoints=endpoints, required=required, exclude_invalid=exclude_invalid)
    rep.raise_for_problems()
    return rep


def _parse_at(at: str | None) -> list[float]:
    if not at:
        return []
    try:
        vals = [float(x) for x in at.split(",") if x.strip()]
    except ValueError as exc:
        raise InputError("--at", f"{at!r} is not a comma-separated list of numbers", "e.g. --at 12,24,36") from exc
    if any(v < 0 for v in vals):
        raise InputError("--at", "landmark times must be >= 0")
    return vals


def _fmt(x: float | None, nd: int = 2) -> str:
    return "NR" if x is None else f"{x:.{nd}f}"


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Cohort file.")],
    input_format: InputFormat = "auto",
    dictionary: Dictionary = None,
    mapping_file: MappingFile = None,
    map: MapOpt = None,  # noqa: A002
    event_codes: EventCodes = None,
    response_codes: ResponseCodes = None,
    time_unit: TimeUnit = None,
) -> None:
    """Check a cohort file and list every problem (row, column, value) in one pass."""

    def run() -> None:
        rep = _load(file, input_format, dictionary, mapping_file, map, event_codes, response_codes, time_unit,
                    False, None, None)
        _out.print(f"OK: {len(rep.cohort)} patients, columns: {', '.join(rep.cohort.columns)}")

    _guard(run)


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(help="Cohort file (CSV, Excel, ADTTE, REDCap export).")],
    time: Annotated[str, typer.Option(help="Time column (canonical or source name).")] = "os_time",
    event: Annotated[str, typer.Option(help="Event column (1 = event, 0 = censored after coding).")] = "os_event",
    group: Annotated[str | None, typer.Option(help="Group column: KM per group, log-rank, Cox.")] = None,
    strata: Annotated[str | None, typer.Option(help="Stratify the log-rank test by this column.")] = None,
    reference: Annotated[str | None, typer.Option(help="Reference group of the Cox model (default: first "
                                                  "in sorted order, as R).")] = None,
    at: Annotated[str | None, typer.Option(help="Landmark times in months, e.g. 12,24,36.")] = None,
    conf_type: Annotated[ConfType, typer.Option(help="Pointwise CI: log (default, = R survfit), log-log "
                                                "(= SAS PROC LIFETEST, lifelines), plain.")] = ConfType.log,
    format: Annotated[OutFormat, typer.Option(help="table or json (one JSON object on stdout).")] = OutFormat.table,  # noqa: A002
    plot: Annotated[Path | None, typer.Option(help="Write a KM plot (.png or .svg).")] = None,
    at_risk: Annotated[Path | None, typer.Option("--at-risk", help="Write the numbers-at-risk table (CSV) "
                                                 "on the plot's time grid.")] = None,
    input_format: InputFormat = "auto",
    dictionary: Dictionary = None,
    mapping_file: MappingFile = None,
    map: MapOpt = None,  # noqa: A002
    event_codes: EventCodes = None,
    response_codes: ResponseCodes = None,
    time_unit: TimeUnit = None,
    exclude_invalid: Exclude = False,
) -> None:
    """Kaplan-Meier (overall and per group), median with CI, landmark survival, log-rank and Cox."""

    def run() -> None:
        from isoperf.outcomes import analyze_cohort, plot_km, save_figure

        landmarks = _parse_at(at)
        required = [time, event, *([group] if group else []), *([strata] if strata else [])]
        rep = _load(file, input_format, dictionary, mapping_file, map, event_codes, response_codes, time_unit,
                    exclude_invalid, [(time, event)], required)
        a = analyze_cohort(rep.cohort, time=time, event=event, group=group, at=landmarks,
                           conf_type=conf_type.value, strata=strata, reference=reference, n_input=rep.n_input,
                           excluded=rep.excluded)
        if plot is not None or at_risk is not None:
            curves = list(a.groups.values()) or [a.overall]
            fig, table, _ = plot_km(curves, legend_extra=a.legend_text())
            if plot is not None:
                save_figure(fig, plot)
            if at_risk is not None:
                at_risk.parent.mkdir(parents=True, exist_ok=True)
                table.to_csv(at_risk)
        if format is OutFormat.json:
            print(a.to_json())
            return
        _print_analysis(a)

    _guard(run)


def _print_analysis(a: Any) -> None:
    d = a.to_dict()
    pct = f"{d['conf_level']:.0%}"
    t = Table(title=f"Kaplan-Meier: {d['time']} ({d['time_unit']}), conf-type {d['conf_type']}")
    for c in ("group", "n", "events", "median", f"{pct} CI", *[f"S({k})" for k in d["overall"]["survival_at"]]):
        t.add_column(c)
    for name, g in [("overall", d["overall"]), *d["groups"].items()]:
        lo, hi = g["median_ci"]
        sa = [f"{_fmt(v['estimate'], 3)} ({_fmt(v['ci'][0], 3)}-{_fmt(v['ci'][1], 3)})"
              for v in g["survival_at"].values()]
        t.add_row(escape(str(name)), str(g["n"]), str(g["events"]), _fmt(g["median"]), f"{_fmt(lo)} to {_fmt(hi)}", *sa)
    _out.print(t)
    if d["logrank"]:
        lr = d["logrank"]
        _out.print(f"log-rank: chisq = {lr['chisq']:.4f} on {lr['df']} df, p = {lr['p']:.4g}")
    if d["cox"]:
        for term, v in d["cox"]["terms"].items():
            _out.print(f"Cox (Efron): HR {escape(term)} vs {escape(str(d['cox']['reference']))} = {v['hr']:.3f} "
                       f"({v['ci'][0]:.3f}-{v['ci'][1]:.3f}), p = {v['p']:.4g}")
    if d["excluded"]["n"]:
        _out.print(f"excluded rows (--exclude-invalid): {d['excluded']['n']}")
        for r in d["excluded"]["rows"]:
            _out.print(f"  row {r['row']}: {escape(r['reason'])}")
    _out.print("NR = not reached. " + d["disclaimer"])


@app.command()
def report(
    file: Annotated[Path, typer.Argument(help="Cohort file (CSV, Excel, ADTTE, REDCap export).")],
    group: Annotated[str | None, typer.Option(help="Subgroup column (default: arm when it has 2+ values).")] = None,
    format: Annotated[ReportFormat, typer.Option(help="table, json or html.")] = ReportFormat.table,  # noqa: A002
    conf_type: Annotated[ConfType, typer.Option(help="Pointwise CI type for KM medians.")] = ConfType.log,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    input_format: InputFormat = "auto",
    dictionary: Dictionary = None,
    mapping_file: MappingFile = None,
    map: MapOpt = None,  # noqa: A002
    event_codes: EventCodes = None,
    response_codes: ResponseCodes = None,
    time_unit: TimeUnit = None,
    exclude_invalid: Exclude = False,
) -> None:
    """The founding series' results table from patient-level data."""

    def run() -> None:
        from isoperf.outcomes import seed_report

        rep = _load(file, input_format, dictionary, mapping_file, map, event_codes, response_codes, time_unit,
                    exclude_invalid, None, None)
        r = seed_report(rep.cohort, group=group, conf_type=conf_type.value, n_input=rep.n_input,
                        excluded=rep.excluded)
        text = {"table": r.to_text, "json": r.to_json, "html": r.to_html}[format.value]()
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text + ("\n" if not text.endswith("\n") else ""))
        else:
            print(text)

    _guard(run)


