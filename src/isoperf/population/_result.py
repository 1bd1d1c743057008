"""What :func:`isoperf.simulate_population` returns: one row per patient, summary statistics, curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from isoperf.result import DISCLAIMER

#: physiology columns of the table (Patient value -> column)
PHYSIOLOGY_COLUMNS = {
    "sex": "sex",
    "weight": "weight_kg",
    "height": "height_cm",
    "age": "age_y",
    "bsa": "bsa_m2",
    "liver_volume": "liver_volume_L",
    "tumour_volume_l": "tumour_volume_L",
    "hepatic_blood_flow": "hepatic_blood_flow_L_min",
    "tumour_arterial_share": "tumour_arterial_share",
}


@dataclass
class PopulationResult:
    """Per-patient metrics (``table``), their ``summary`` and, when asked for, the curves.

    ``table`` columns: ``patient`` (index), physiology (``weight_kg`` ...), IIV factors (``iiv.<name>``) and
    the varied values (``<drug>.<parameter>``, ``procedures[k].<setting>``), and per drug ``<drug>.dose_mg``,
    ``<drug>.dose_outside_range`` (bool),
    ``<drug>.auc.<compartment>`` (mg*min/L), ``<drug>.cmax.<compartment>`` (mg/L), ``<drug>.tmax.<compartment>``
    (min), ``<drug>.fate.<part>`` (mg) and ``<drug>.mass_balance_error``.
    ``curves[drug]``: (N, 4, T) concentrations of circuit, liver, tumour, systemic on ``times`` (only when
    curves were kept in memory); ``curves_path``: the Parquet file they were written to.
    """

    table: pd.DataFrame
    times: np.ndarray
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    curves_path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    disclaimer: str = DISCLAIMER

    @property
    def n(self) -> int:
        return len(self.table)

    @property
    def summary(self) -> pd.DataFrame:
        """Mean, SD and the 5/25/50/75/95th percentiles of every numeric column (patient index excluded)."""
        num = self.table.drop(columns=["patient"]).select_dtypes("number")
        q = num.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).T
        q.columns = ["p5", "p25", "median", "p75", "p95"]
        out = pd.DataFrame({"mean": num.mean(), "sd": num.std(ddof=1)})
        return out.join(q)

    def to_parquet(self, path: str | Path) -> None:
        self.table.to_parquet(path, index=False)
