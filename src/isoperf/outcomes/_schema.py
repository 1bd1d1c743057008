"""The canonical cohort table: one row per patient, wide format, times in months.

Real cohorts (CSV, Excel, CDISC ADaM ADTTE, REDCap) and the virtual trials of isoperf are turned into
this one pandas table and analysed by the same code. See the README (Clinical cohort analysis) for the user documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Days per month used whenever a time is derived from dates or given in days: 365.25 / 12.
DAYS_PER_MONTH: float = 365.25 / 12  # 30.4375

#: Days in one input time unit.
TIME_UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": DAYS_PER_MONTH, "years": 365.25}


def to_months(x: float, unit: str) -> float:
    """Convert a time in ``unit`` to months of 30.4375 days (days / 30.4375, exactly as from dates)."""
    if unit == "months":
        return x
    if unit == "years":
        return x * 12.0
    return x * TIME_UNITS[unit] / DAYS_PER_MONTH

#: Window (days after the procedure) within which a death counts as operative mortality.
OPERATIVE_WINDOW_DAYS: float = 30.0

#: Response categories (RECIST-style best overall response).
RESPONSE_CODES: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE")

#: Event coding of the canonical table.
EVENT_CODES: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class Column:
    """One documented column of the canonical table."""

    name: str
    dtype: str
    description: str
    required: bool = False


#: The documented columns. Other columns are kept as covariates, unchanged.
COLUMNS: tuple[Column, ...] = (
    Column("patient_id", "string", "Unique patient identifier.", required=True),
    Column("arm", "string", "Treatment / arm / subgroup label (e.g. 'ILP+HAI', 'ILP only')."),
    Column("procedure_date", "datetime64", "Date of the procedure (time origin)."),
    Column("last_followup_date", "datetime64", "Date last known alive (censoring date)."),
    Column("death_date", "datetime64", "Date of death (empty if alive)."),
    Column("os_time", "float64", "Overall survival time in months from the procedure; derived from the "
           "dates when absent.", required=True),
    Column("os_event", "int64", "1 = died (event), 0 = censored; derived from death_date when absent.",
           required=True),
    Column("pfs_time", "float64", "Progression-free survival time in months (optional)."),
    Column("pfs_event", "int64", "1 = progression or death, 0 = censored (optional)."),
    Column("best_response", "string", "Best overall response: CR, PR, SD, PD or NE (not evaluable)."),
    Column("extrahepatic_recurrence", "int64", "1 = extrahepatic (lung) and/or local recurrence, 0 = none."),
    Column("operative_death", "int64", "1 = died within 30 days of the procedure; derived from os_time / "
           "os_event when absent."),
    Column("followed", "int64", "1 = patient has follow-up after the procedure; defaults to 1 for every "
           "patient who is not an operative death."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BINARY_COLUMNS: tuple[str, ...] = ("os_event", "pfs_event", "extrahepatic_recurrence", "operative_death",
                                   "followed")
DATE_COLUMNS: tuple[str, ...] = ("procedure_date", "last_followup_date", "death_date")


@dataclass
class Mapping:
    """How a source file's columns and codes map onto the canonical table.

    ``columns`` maps *canonical name -> source column name*. ``event_codes`` maps source values of the
    event columns onto 0/1 (e.g. R's ``lung``: ``{"1": 0, "2": 1}``); ``response_codes`` maps source
    response labels onto CR/PR/SD/PD/NE. ``time_unit`` is the unit of time columns given as numbers.
    """

    columns: dict[str, str] = field(default_factory=dict)
    event_codes: dict[str, int] = field(default_factory=dict)
    response_codes: dict[str, str] = field(default_factory=dict)
    time_unit: str = "months"

    def merged(self, other: Mapping | None) -> Mapping:
        """This mapping updated by ``other`` (``other`` wins)."""
        if other is None:
            return self
        return Mapping(
            columns={**self.columns, **other.columns},
            event_codes={**self.event_codes, **other.event_codes},
            response_codes={**self.response_codes, **other.response_codes},
            time_unit=other.time_unit if other.time_unit != "months" else self.time_unit,
        )
