"""Validation of a cohort table: every problem found in one pass, with row, column and value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from isoperf._errors import InputError, InputErrors
from isoperf.outcomes._schema import (
    BINARY_COLUMNS,
    DATE_COLUMNS,
    DAYS_PER_MONTH,
    RESPONSE_CODES,
    TIME_UNITS,
    Mapping,
    to_months,
)

_TRUE = {"1", "1.0", "yes", "y", "true", "t"}
_FALSE = {"0", "0.0", "no", "n", "false", "f"}


@dataclass(frozen=True)
class Problem:
    """One problem in the input. ``row`` is the 1-based data row (header not counted); None for the file."""

    row: int | None
    column: str
    value: Any
    problem: str
    hint: str = ""

    def to_error(self) -> InputError:
        where = f"row {self.row}, column '{self.column}'" if self.row is not None else f"column '{self.column}'"
        what = self.problem if self.row is None else f"value {_show(self.value)}: {self.problem}"
        return InputError(where, what, self.hint)

    def __str__(self) -> str:
        return str(self.to_error())


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "(empty)"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_cohort`.

    Attributes
    ----------
    cohort : the canonical table (problem rows removed only when ``exclude_invalid=True``).
    problems : every problem found (also those in excluded rows).
    excluded : rows removed by the explicit ``exclude_invalid`` option, with the reason.
    n_input : number of rows read.
    """

    cohort: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "reason"]))
    n_input: int = 0
    exclude_invalid: bool = False

    @property
    def ok(self) -> bool:
        """True when the cohort can be analysed (no problems, or problem rows explicitly excluded)."""
        if not self.problems:
            return True
        return self.exclude_invalid and all(p.row is not None for p in self.problems)

    @property
    def n_excluded(self) -> int:
        return len(self.excluded)

    def raise_for_problems(self) -> None:
        """Raise :class:`InputErrors` listing every problem unless the report is ``ok``."""
        if not self.ok:
            raise InputErrors([p.to_error() for p in self.problems])

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"row": p.row, "column": p.column, "value": p.value, "problem": p.problem} for p in self.problems],
            columns=["row", "column", "value", "problem"],
        )

    def print_summary(self) -> None:
        print(f"<isoperf.outcomes.ValidationReport> rows read: {self.n_input}, problems: "
              f"{len(self.problems)}, excluded rows: {self.n_excluded}")
        for p in self.problems:
            print(f"  {p}")


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or (
        isinstance(v, str) and v.strip() == "")


def _key(v: Any) -> str:
    """The string form of a code for looking it up in a mapping (2.0 -> '2')."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def validate_cohort(
    df: pd.DataFrame,
    *,
    mapping: Mapping | None = None,
    endpoints: Sequence[tuple[str, str]] | None = None,
    required: Iterable[str] | None = None,
    exclude_invalid: bool = False,
) -> ValidationReport:
    """Check a cohort table and turn it into the canonical table.

    Parameters
    ----------
    df : a table in canonical column names (see :func:`read_cohort`); its index holds the source row
        numbers when it came from :func:`read_cohort`, otherwise row i is reported as i + 1.
    mapping : declared codings (``event_codes``, ``response_codes``) and the unit of numeric times.
        Column renames in the mapping are applied first.
    endpoints : (time column, event column) pairs to check; default ``os_time/os_event`` plus
        ``pfs_time/pfs_event`` when present.
    required : required columns; default ``patient_id`` plus the endpoint columns.
    exclude_invalid : remove rows with problems instead of failing; they are counted in ``excluded``.
        Problems of the whole table (missing columns) are never excluded.
    """
    mapping = mapping or df.attrs.get("mapping") or Mapping()
    problems: list[Problem] = []
    data = df.copy()
    if mapping.columns:
        missing_src = [src for src in mapping.columns.values() if src not in data.columns]
        for src in missing_src:
            canon = next(k for k, v in mapping.columns.items() if v == src)
            problems.append(Problem(None, src, None, f"mapped to '{canon}' but not in the file",
                                    f"columns present: {', '.join(map(str, data.columns))}"))
        data = data.rename(columns={v: k for k, v in mapping.columns.items() if v in data.columns})
    if data.index.name != "row":
        data.index = pd.RangeIndex(1, len(data) + 1, name="row")
    data.columns = [str(c).strip() for c in data.columns]
    if mapping.time_unit not in TIME_UNITS:
        raise InputError("time_unit", f"unknown unit {mapping.time_unit!r}", f"use one of {', '.join(TIME_UNITS)}")
    unit = mapping.time_unit

    # Dates first: they can provide os_time / os_event.
    for col in DATE_COLUMNS:
        if col in data.columns:
            raw = data[col]
            parsed = pd.to_datetime(raw, errors="coerce")
            for row, v, p in zip(data.index, raw, parsed, strict=True):
                if pd.isna(p) and not _is_missing(v):
                    problems.append(Problem(row, col, v, "not a date", "write dates as YYYY-MM-DD"))
            data[col] = parsed
    derived = _derive_os(data, problems)

    if endpoints is None:
        endpoints = [("os_time", "os_event")]
        if "pfs_time" in data.columns or "pfs_event" in data.columns:
            endpoints.append(("pfs_time", "pfs_event"))
    req = list(required) if required is not None else ["patient_id", *[c for e in endpoints for c in e]]
    for col in req:
        if col not in data.columns:
            hint = f"columns present: {', '.join(map(str, df.columns))}"
            if col in ("os_time", "os_event"):
                hint = ("give os_time/os_event, or procedure_date with last_followup_date/death_date, "
                        "or map your columns (--map os_time=YOURCOL); " + hint)
            problems.append(Problem(None, col, None, "required column is missing", hint))

    for tcol, ecol in endpoints:
        if tcol in data.columns and not (tcol == "os_time" and derived):
            data[tcol] = _check_time(data, tcol, unit, problems)
        if ecol in data.columns and not (ecol == "os_event" and derived):
            data[ecol] = _check_codes(data, ecol, mapping, problems, event=True)
    for col in BINARY_COLUMNS:
        if col in data.columns and col not in {e for _, e in endpoints}:
            data[col] = _check_codes(data, col, mapping, problems, event=False)
    if "best_response" in data.columns:
        data["best_response"] = _check_response(data, mapping, problems)
    if "patient_id" in data.columns:
        ids = data["patient_id"].map(lambda v: None if _is_missing(v) else _key(v))
        first: dict[str, int] = {}
        for row, v in zip(data.index, ids, strict=True):
            if v is None:
                problems.append(Problem(row, "patient_id", None, "patient id is missing"))
            elif v in first:
                problems.append(Problem(row, "patient_id", v, f"duplicate patient id (first seen in row {first[v]})",
                                        "each patient must appear once; remove or rename the duplicate"))
            else:
                first[v] = row
        data["patient_id"] = ids.astype("string")
    if "arm" in data.columns:
        data["arm"] = data["arm"].map(lambda v: pd.NA if _is_missing(v) else _key(v)).astype("string")

    if "os_time" in data.columns and "os_event" in data.columns and "operative_death" not in data.columns:
        window = 30.0 / DAYS_PER_MONTH
        data["operative_death"] = ((data["os_event"] == 1) & (data["os_time"] <= window + 1e-12)).astype("Int64")
    if "followed" not in data.columns and "operative_death" in data.columns:
        data["followed"] = (1 - data["operative_death"]).astype("Int64")

    problems.sort(key=lambda p: -1 if p.row is None else p.row)  # file-level first, then by row (stable)
    excluded = pd.DataFrame(columns=["row", "reason"])
    if exclude_invalid:
        bad: dict[int, list[str]] = {}
        for p in problems:
            if p.row is not None:
                bad.setdefault(p.row, []).append(f"{p.column}: {p.problem}")
        if bad:
            rows = sorted(bad)
            excluded = pd.DataFrame({"row": rows, "reason": ["; ".join(bad[r]) for r in rows]})
            data = data.drop(index=list(bad))
        for tcol, ecol in endpoints:
            for c in (tcol, ecol):
                if c in data.columns:
                    data[c] = pd.to_numeric(data[c])
    return ValidationReport(cohort=data, problems=problems, excluded=excluded, n_input=len(df),
                            exclude_invalid=exclude_invalid)


def _derive_os(data: pd.DataFrame, problems: list[Problem]) -> bool:
    """Derive os_time (months) and os_event from dates when os_time is absent. Returns True if derived."""
    if "procedure_date" not in data.columns:
        return False
    has_death = "death_date" in data.columns
    has_fu = "last_followup_date" in data.columns
    for col, label in (("death_date", "death"), ("last_followup_date", "last follow-up")):
        if col in data.columns:
            for row, start, end in zip(data.index, data["procedure_date"], data[col], strict=True):
                if not pd.isna(start) and not pd.isna(end) and end < start:
                    problems.append(Problem(row, col, end.date().isoformat(),
                                            f"{label} date is before the procedure date "
                                            f"{start.date().isoformat()}", "check both dates"))
    if "os_time" in data.columns or not (has_death or has_fu):
        return False
    death = data["death_date"] if has_death else pd.Series(pd.NaT, index=data.index)
    fu = data["last_followup_date"] if has_fu else pd.Series(pd.NaT, index=data.index)
    end = death.where(death.notna(), fu)
    for row, start, e in zip(data.index, data["procedure_date"], end, strict=True):
        if pd.isna(start) or pd.isna(e):
            col = "procedure_date" if pd.isna(start) else "last_followup_date"
            problems.append(Problem(row, col, None, "date missing: survival time cannot be derived",
                                    "give procedure_date and a death or last follow-up date"))
    days = (end - data["procedure_date"]).dt.days.astype("float64")
    data["os_time"] = days / DAYS_PER_MONTH
    data["os_event"] = death.notna().astype("Int64")
    return True


def _check_time(data: pd.DataFrame, col: str, unit: str, problems: list[Problem]) -> pd.Series:
    out = []
    for row, v in zip(data.index, data[col], strict=True):
        if _is_missing(v):
            problems.append(Problem(row, col, None, "time is missing", "every patient needs a time"))
            out.append(np.nan)
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            problems.append(Problem(row, col, v, "time is not a number", "write times as plain numbers, e.g. 14.2"))
            out.append(np.nan)
            continue
        if not np.isfinite(x):
            problems.append(Problem(row, col, v, "time is not finite"))
            out.append(np.nan)
        elif x < 0:
            problems.append(Problem(row, col, v, "time is negative", "times count from the procedure and are >= 0"))
            out.append(np.nan)
        else:
            out.append(to_months(x, unit))
    return pd.Series(out, index=data.index, dtype="float64")


def _check_codes(data: pd.DataFrame, col: str, mapping: Mapping, problems: list[Problem], *, event: bool) -> pd.Series:
    out: list[Any] = []
    codes = mapping.event_codes if event else {}
    for row, v in zip(data.index, data[col], strict=True):
        if _is_missing(v):
            if event:
                problems.append(Problem(row, col, None, "event status is missing", "use 1 = event, 0 = censored"))
            out.append(pd.NA)
            continue
        k = _key(v)
        if codes:
            if k in codes:
                out.append(int(codes[k]))
                continue
            declared = ", ".join(f"{a}={b}" for a, b in codes.items())
            problems.append(Problem(row, col, v, f"code outside the declared coding ({declared})",
                                    "add the code to the event mapping"))
            out.append(pd.NA)
            continue
        low = k.lower()
        if event and k in ("0", "1"):
            out.append(int(k))
        elif not event and (low in _TRUE or low in _FALSE):
            out.append(1 if low in _TRUE else 0)
        else:
            if event:
                problems.append(Problem(row, col, v, "event code outside the declared coding 0 = censored, 1 = event",
                                        "declare the coding, e.g. --event-codes 1=0,2=1 (R's lung: 1 censored, 2 dead)"))
            else:
                problems.append(Problem(row, col, v, "not a yes/no value", "use 1/0 (or yes/no, true/false)"))
            out.append(pd.NA)
    return pd.Series(out, index=data.index, dtype="Int64")


def _check_response(data: pd.DataFrame, mapping: Mapping, problems: list[Problem]) -> pd.Series:
    codes = {k.strip().upper(): v for k, v in mapping.response_codes.items()}
    out: list[Any] = []
    for row, v in zip(data.index, data["best_response"], strict=True):
        if _is_missing(v):
            out.append(pd.NA)
            continue
        k = _key(v).upper()
        k = codes.get(k, k)
        if k in RESPONSE_CODES:
            out.append(k)
        else:
            problems.append(Problem(row, "best_response", v, "unknown response code",
                                    f"use one of {', '.join(RESPONSE_CODES)} or map it (--response-codes)"))
            out.append(pd.NA)
    return pd.Series(out, index=data.index, dtype="string")
