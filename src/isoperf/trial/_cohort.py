"""A replicate's virtual patients as a cohort table in the canonical cohort format (the README (Clinical cohort analysis)).

Wide table, one row per patient, times in months: ``os_time/os_event``, ``pfs_time/pfs_event``,
``best_response`` (CR/PR/SD/PD/NE), ``extrahepatic_recurrence``, ``operative_death``, ``followed`` and
``arm`` (the subgroup actually treated, e.g. 'ILP+HAI' / 'ILP only'), plus hepatic PFS
(``hpfs_time/hpfs_event``) and covariates. :func:`to_adtte` gives the long CDISC ADTTE-shaped form
(PARAMCD OS, PFS, HPFS; AVAL in months; CNSR = 1 - event).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from isoperf.response import category_names
from isoperf.trial._engine import Outcomes
from isoperf.trial._setup import TrialSetup


def to_cohort(out: Outcomes, setup: TrialSetup, replicate: int) -> pd.DataFrame:
    """The canonical cohort table of one replicate."""
    n = len(out.os_time)
    df = pd.DataFrame({
        "patient_id": [f"R{replicate:04d}-P{i + 1:04d}" for i in range(n)],
        "arm": out.label.astype(str),
        "allocated_arm": np.asarray([setup.arms[a].name for a in out.arm], dtype=object),
        "os_time": out.os_time,
        "os_event": out.os_event.astype(np.int64),
        "pfs_time": out.pfs_time,
        "pfs_event": out.pfs_event.astype(np.int64),
        "hpfs_time": out.hpfs_time,
        "hpfs_event": out.hpfs_event.astype(np.int64),
        "best_response": category_names(out.best_response).astype(str),
        "extrahepatic_recurrence": out.extrahepatic.astype(np.int64),
        "operative_death": out.operative_death.astype(np.int64),
        "followed": out.followed.astype(np.int64),
        "replicate": replicate,
        "age": np.round(out.age, 1),
        "male": out.male.astype(np.int64),
        "tumour_fraction": out.tumour_fraction,
        "follow_on_cycles": out.follow_on_cycles.astype(np.int64),
        "cause_of_death": out.cause.astype(str),
    })
    for drug, dose in out.doses.items():
        df[f"dose_{drug}_mg"] = dose
    return df


#: subject-level columns carried on every ADTTE record (as ADSL variables are in ADaM)
ADTTE_SUBJECT_COLUMNS: tuple[str, ...] = ("best_response", "extrahepatic_recurrence", "operative_death", "followed")


def to_adtte(cohort: pd.DataFrame) -> pd.DataFrame:
    """Long ADTTE-shaped table: USUBJID, ARM, PARAMCD (OS, PFS, HPFS), PARAM, AVAL (months), AVALU, CNSR,
    plus the subject-level columns; ``isoperf.outcomes.read_cohort`` reads it back to the same cohort."""
    params = [("OS", "Overall survival", "os"), ("PFS", "Progression-free survival", "pfs"),
              ("HPFS", "Hepatic progression-free survival", "hpfs")]
    parts = []
    for code, label, stem in params:
        part = pd.DataFrame({
            "USUBJID": cohort["patient_id"], "ARM": cohort["arm"], "PARAMCD": code, "PARAM": label,
            "AVAL": cohort[f"{stem}_time"], "AVALU": "MONTHS", "CNSR": 1 - cohort[f"{stem}_event"],
        })
        for c in ADTTE_SUBJECT_COLUMNS:
            part[c] = cohort[c]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def assessments_table(out: Outcomes, cohort: pd.DataFrame) -> pd.DataFrame:
    """One row per patient and RECIST assessment that took place: ``patient_id``, ``time`` (months),
    ``sum_of_diameters`` (mm), ``change_from_baseline`` (fraction) and ``category`` (CR/PR/SD/PD)."""
    if out.assessment_codes is None or out.assessment_sld is None or out.baseline_sld is None:
        raise ValueError("these outcomes carry no assessments")
    from isoperf.response import category_names

    times = np.asarray(out.assessment_times, dtype=float)
    pi, ai = np.nonzero(out.assessment_codes >= 0)
    sld = out.assessment_sld[pi, ai]
    return pd.DataFrame({
        "patient_id": cohort["patient_id"].to_numpy()[pi],
        "time": times[ai],
        "sum_of_diameters": sld,
        "change_from_baseline": sld / out.baseline_sld[pi] - 1.0,
        "category": category_names(out.assessment_codes[pi, ai]).astype(str),
    })
