"""Read and validate in one call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from isoperf.outcomes._readers import read_cohort
from isoperf.outcomes._schema import Mapping
from isoperf.outcomes._validate import ValidationReport, validate_cohort


def load_cohort(
    path: str | Path,
    *,
    format: str = "auto",
    mapping: Mapping | None = None,
    dictionary: str | Path | None = None,
    exclude_invalid: bool = False,
    endpoints: Sequence[tuple[str, str]] | None = None,
    required: Iterable[str] | None = None,
) -> ValidationReport:
    """Read and validate a cohort file. Raises :class:`isoperf._errors.InputErrors` listing every
    problem, unless ``exclude_invalid`` (then problem rows are removed and counted in ``excluded``)."""
    df = read_cohort(path, format=format, mapping=mapping, dictionary=dictionary)
    rep = validate_cohort(df, endpoints=endpoints, required=required, exclude_invalid=exclude_invalid)
    rep.raise_for_problems()
    return rep
