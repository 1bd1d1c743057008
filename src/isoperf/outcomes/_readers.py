"""Readers: CSV, Excel, CDISC ADaM ADTTE and REDCap flat exports -> a table in canonical column names.

Readers only rename and decode; :func:`isoperf.outcomes.validate_cohort` checks values and converts
times. The index of the returned table (named ``row``) is the 1-based data row of the source file
(the first row under the header is row 1; ``#`` comment lines above the header are not counted).
"""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from isoperf._errors import InputError
from isoperf.outcomes._schema import TIME_UNITS, Mapping

FORMATS = ("auto", "csv", "excel", "adtte", "redcap")

_ADTTE_UNITS = {"DAYS": "days", "DAY": "days", "D": "days", "WEEKS": "weeks", "WEEK": "weeks",
                "MONTHS": "months", "MONTH": "months", "YEARS": "years", "YEAR": "years"}
_ADTTE_CORE = {"STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALU", "CNSR", "STARTDT", "ADT",
               "TRTP", "TRT01P", "TRTA", "TRT01A", "ARM", "ACTARM", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR",
               "SRCSEQ", "PARAMN"}


def _read_text_table(path: Path) -> pd.DataFrame:
    """A CSV with every value as text; ``#`` comment lines before the header are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(str(path), "file not found") from exc
    lines = text.splitlines(keepends=True)
    k = 0
    while k < len(lines) and lines[k].lstrip().startswith("#"):
        k += 1
    body = "".join(lines[k:])
    if not body.strip():
        raise InputError(str(path), "file has no header row")
    df = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.RangeIndex(1, len(df) + 1, name="row")
    return df


def read_mapping(path: str | Path) -> Mapping:
    """Read a mapping file (TOML or JSON) with keys ``columns``, ``event_codes``, ``response_codes``,
    ``time_unit``."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text()) if p.suffix.lower() == ".toml" else json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise InputError(str(p), "mapping file not found") from exc
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(p), f"mapping file is not valid {p.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    unknown = set(raw) - {"columns", "event_codes", "response_codes", "time_unit"}
    if unknown:
        raise InputError(str(p), f"unknown keys {sorted(unknown)}",
                         "allowed: columns, event_codes, response_codes, time_unit")
    return Mapping(
        columns={str(k): str(v) for k, v in raw.get("columns", {}).items()},
        event_codes={str(k): int(v) for k, v in raw.get("event_codes", {}).items()},
        response_codes={str(k): str(v) for k, v in raw.get("response_codes", {}).items()},
        time_unit=str(raw.get("time_unit", "months")),
    )


def parse_pairs(text: str | None, field: str) -> dict[str, str]:
    """Parse ``a=b,c=d`` (the command-line form of a mapping) into a dict."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(field, f"{part!r} is not of the form key=value", "e.g. 1=0,2=1")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _detect(path: Path, dictionary: Path | None) -> str:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return "excel"
    if dictionary is not None:
        return "redcap"
    head = _read_text_table(path).columns
    if {"USUBJID", "PARAMCD", "AVAL", "CNSR"} <= set(head):
        return "adtte"
    return "csv"


def read_cohort(
    path: str | Path,
    *,
    format: str = "auto",
    mapping: Mapping | None = None,
    dictionary: str | Path | None = None,
    sheet: str | int = 0,
) -> pd.DataFrame:
    """Read a cohort file into canonical column names (values not yet checked).

    Parameters
    ----------
    path : the file.
    format : ``auto`` (by extension and columns), ``csv``, ``excel``, ``adtte`` or ``redcap``.
    mapping : column renames (canonical -> source) and codings; applied by :func:`validate_cohort`,
        which receives it back through ``df.attrs["mapping"]``.
    dictionary : the REDCap data dictionary CSV (required for ``redcap``).
    sheet : Excel sheet name or index.
    """
    p = Path(path)
    if format not in FORMATS:
        raise InputError("format", f"unknown format {format!r}", f"use one of {', '.join(FORMATS)}")
    if not p.exists():
        raise InputError(str(p), "file not found")
    dict_path = Path(dictionary) if dictionary is not None else None
    fmt = _detect(p, dict_path) if format == "auto" else format
    base = Mapping()
    if fmt == "csv":
        df = _read_text_table(p)
    elif fmt == "excel":
        df = pd.read_excel(p, sheet_name=sheet, dtype=str, keep_default_na=False)
        df.columns = [str(c).strip() for c in df.columns]
        df.index = pd.RangeIndex(1, len(df) + 1, name="row")
    elif fmt == "adtte":
        df, base = _adtte(_read_text_table(p), mapping)
    else:
        if dict_path is None:
            raise InputError("dictionary", "a REDCap export needs its data dictionary",
                             "pass --dictionary DataDictionary.csv")
        df, base = _redcap(_read_text_table(p), _read_text_table(dict_path))
    df.attrs["format"] = fmt
    df.attrs["mapping"] = base.merged(mapping)
    return df


def _adtte(raw: pd.DataFrame, mapping: Mapping | None) -> tuple[pd.DataFrame, Mapping]:
    """Long ADTTE (one record per subject and PARAMCD) -> one row per subject.

    For each PARAMCD ``P``: ``p_time`` = AVAL, ``p_event`` = 1 if CNSR == 0 else 0 (ADaM: CNSR 0 is an
    event, any positive CNSR a censoring). Subject-level columns are taken from the subject's first record.
    """
    missing = [c for c in ("USUBJID", "PARAMCD", "AVAL", "CNSR") if c not in raw.columns]
    if missing:
        raise InputError(f"column '{missing[0]}'", "required ADTTE column is missing",
                         "an ADTTE file needs USUBJID, PARAMCD, AVAL and CNSR")
    unit = mapping.time_unit if mapping is not None and mapping.time_unit != "months" else "days"
    if "AVALU" in raw.columns:
        units = {u.strip().upper() for u in raw["AVALU"] if u.strip()}
        if len(units) > 1:
            raise InputError("column 'AVALU'", f"mixed time units {sorted(units)}", "use one unit per file")
        if units:
            u = units.pop()
            if u not in _ADTTE_UNITS:
                raise InputError("column 'AVALU'", f"unknown unit {u!r}", f"use one of {sorted(_ADTTE_UNITS)}")
            unit = _ADTTE_UNITS[u]
    params = list(dict.fromkeys(raw["PARAMCD"].str.strip().str.upper()))
    primary = "OS" if "OS" in params else params[0]
    arm_col = next((c for c in ("TRTP", "TRT01P", "TRTA", "TRT01A", "ARM") if c in raw.columns), None)
    extra = [c for c in raw.columns if c not in _ADTTE_CORE]

    def event_of(v: str) -> str:
        try:
            return "1" if float(v) == 0 else "0"
        except ValueError:
            return v  # validation reports it

    prim = raw[raw["PARAMCD"].str.strip().str.upper() == primary]
    out = pd.DataFrame(index=prim.index)
    out["patient_id"] = prim["USUBJID"]
    if arm_col:
        out["arm"] = prim[arm_col]
    if "STARTDT" in raw.columns:
        out["procedure_date"] = prim["STARTDT"]
    for c in extra:
        out[c] = prim[c]
    for pc in params:
        sub = raw[raw["PARAMCD"].str.strip().str.upper() == pc]
        name = pc.lower()
        if pc == primary:
            out[f"{name}_time"] = sub["AVAL"]
            out[f"{name}_event"] = sub["CNSR"].map(event_of)
        else:
            first = sub.drop_duplicates("USUBJID").set_index("USUBJID")
            out[f"{name}_time"] = out["patient_id"].map(first["AVAL"]).fillna("")
            out[f"{name}_event"] = out["patient_id"].map(first["CNSR"].map(event_of)).fillna("")
    out.index.name = "row"
    if unit not in TIME_UNITS:
        raise InputError("time_unit", f"unknown unit {unit!r}", f"use one of {', '.join(TIME_UNITS)}")
    return out, Mapping(time_unit=unit)


_DICT_NAME = "Variable / Field Name"
_DICT_TYPE = "Field Type"
_DICT_CHOICES = "Choices, Calculations, OR Slider Labels"


def _redcap(data: pd.DataFrame, dd: pd.DataFrame) -> tuple[pd.DataFrame, Mapping]:
    """Decode a REDCap flat (raw) export with its data dictionary: radio/dropdown codes become their
    labels, yesno/truefalse stay 0/1, the first field (the record id) becomes ``patient_id``."""
    for col in (_DICT_NAME, _DICT_TYPE, _DICT_CHOICES):
        if col not in dd.columns:
            raise InputError(f"dictionary column '{col}'", "missing from the REDCap data dictionary",
                             "export the dictionary from REDCap (Project setup > Data dictionary)")
    if "redcap_repeat_instrument" in data.columns:
        rep = data.index[data["redcap_repeat_instrument"].str.strip() != ""].tolist()
        if rep:
            raise InputError("column 'redcap_repeat_instrument'",
                             f"rows {rep[:10]} belong to repeating instruments",
                             "export the patient-level (non-repeating) forms only")
    df = data.copy()
    for _, f in dd.iterrows():
        name, ftype = f[_DICT_NAME].strip(), f[_DICT_TYPE].strip().lower()
        if name not in df.columns or ftype not in ("radio", "dropdown"):
            continue
        choices: dict[str, str] = {}
        for item in f[_DICT_CHOICES].split("|"):
            if "," in item:
                code, label = item.split(",", 1)
                choices[code.strip()] = label.strip()
        df[name] = df[name].map(lambda v, c=choices: c.get(v.strip(), v) if isinstance(v, str) else v)
    record_id = dd[_DICT_NAME].iloc[0].strip()
    drop = [c for c in df.columns if c.startswith("redcap_") or c.endswith("_complete")]
    df = df.drop(columns=drop)
    if record_id in df.columns and record_id != "patient_id":
        df = df.rename(columns={record_id: "patient_id"})
    return df, Mapping()


def describe_source(df: pd.DataFrame) -> dict[str, Any]:
    """What the reader saw (format, time unit) for reports."""
    m: Mapping = df.attrs.get("mapping", Mapping())
    return {"format": df.attrs.get("format", "dataframe"), "time_unit": m.time_unit}
