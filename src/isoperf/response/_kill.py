"""Exposure -> cell kill: one exposure-response model per drug, combined by Bliss independence.

Every model returns the natural-log kill ``L >= 0`` of the sensitive cell population at unit patient
sensitivity: the surviving fraction is ``exp(-s * L)`` for a patient with sensitivity ``s``.

- 5-fluorouracil: Emax (Hill) model on the tumour AUC, ``L = Emax * AUC^h / (AUC50^h + AUC^h)``.
- mitomycin C, cisplatin, melphalan (alkylating / cross-linking): log-linear kill ``L = k * AUC``.

Bliss independence: the drugs act independently, so surviving fractions multiply and ln-kills add
(``1 - fa = prod_i (1 - fa_i)``). All numbers are estimates or fitted values (see the data file).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from isoperf.response._parameters import ParameterSet

#: drug name -> parameter holding its log-linear kill per unit tumour AUC
LOG_LINEAR: dict[str, str] = {
    "mitomycin_c": "mmc_log_kill_per_auc",
    "cisplatin": "cisplatin_log_kill_per_auc",
    "melphalan": "melphalan_log_kill_per_auc",
}
EMAX: tuple[str, ...] = ("fluorouracil",)
SUPPORTED: tuple[str, ...] = (*EMAX, *LOG_LINEAR)


def drug_log_kill(drug: str, auc: np.ndarray | float, params: ParameterSet) -> np.ndarray:
    """Natural-log kill of the sensitive population for tumour AUC ``auc`` (mg*min/L) of one drug."""
    a = np.maximum(np.asarray(auc, dtype=float), 0.0)
    if drug in EMAX:
        h = params["fu_hill"]
        ah = a**h
        return params["fu_emax"] * ah / (params["fu_auc50"] ** h + ah)
    if drug in LOG_LINEAR:
        return params[LOG_LINEAR[drug]] * a
    raise KeyError(f"no exposure-response model for drug {drug!r}; known: {', '.join(SUPPORTED)}")


def bliss_log_kill(aucs: Mapping[str, np.ndarray | float], params: ParameterSet) -> np.ndarray:
    """Combined ln-kill of several drugs under Bliss independence (ln-kills add)."""
    total: np.ndarray = np.zeros(())
    for drug, auc in aucs.items():
        total = total + drug_log_kill(drug, auc, params)
    return np.asarray(total, dtype=float)


def bliss_fraction_affected(fractions: list[np.ndarray | float]) -> np.ndarray:
    """Bliss combination of fractions affected: ``1 - prod(1 - fa_i)``."""
    out = np.ones(())
    for fa in fractions:
        out = out * (1.0 - np.asarray(fa, dtype=float))
    return 1.0 - out
