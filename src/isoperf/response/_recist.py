"""RECIST 1.1 response categories from the sum of target-lesion diameters.

Eisenhauer EA et al., Eur J Cancer 2009;45:228-47; the target-lesion rules as summarised by
van Persijn van Meerten et al., Eur Radiol 2010;20:1456-67 (PMC2872013).

Per assessment (target lesions only, no new lesions):

- **CR**: disappearance of all target lesions (sum of diameters 0).
- **PR**: at least a 30% decrease of the sum from the baseline sum.
- **PD**: at least a 20% increase of the sum over the smallest sum on study (the nadir, baseline
  included) **and** an absolute increase of at least 5 mm; or a new lesion.
- **SD**: neither.

Best overall response: the best category recorded before progression (CR > PR > SD > PD). Stable
disease counts only when it was measured at least ``min_sd_duration`` after the start; a patient with
no qualifying assessment is NE (not evaluable). Confirmation of CR/PR is not required (RECIST 1.1 for
non-randomised trials requires it; pass ``confirm=True`` to demand a response at the next assessment too,
the worse of the two counting).
"""

from __future__ import annotations

import numpy as np

CATEGORIES: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE")
CR, PR, SD, PD, NE = range(5)
_EPS = 1e-9  # tolerance on the ratios, so that exactly -30% / +20% classify by the rule


def classify(baseline: np.ndarray | float, nadir: np.ndarray | float, current: np.ndarray | float,
             new_lesion: np.ndarray | bool = False) -> np.ndarray:
    """RECIST 1.1 category codes (0 CR, 1 PR, 2 SD, 3 PD) for one assessment, elementwise.

    ``baseline``: sum of diameters at baseline (mm); ``nadir``: smallest sum so far (baseline
    included, current assessment excluded); ``current``: sum now.
    """
    b, n, c = (np.asarray(x, dtype=float) for x in (baseline, nadir, current))
    if np.any(b <= 0):
        raise ValueError("RECIST needs a measurable baseline (sum of diameters > 0)")
    rise = c - n
    progressed = ((rise >= 0.2 * n - _EPS * np.maximum(n, 1.0)) & (rise >= 5.0 - _EPS)) | np.asarray(new_lesion)
    out = np.full(np.broadcast(b, n, c).shape, SD, dtype=np.int8)
    out = np.where((c - b) <= -0.3 * b + _EPS * b, PR, out)
    out = np.where(c <= 0.0, CR, out)
    out = np.where(progressed & (c > 0.0), PD, out)
    return out.astype(np.int8)


def category_names(codes: np.ndarray) -> np.ndarray:
    """Codes -> 'CR', 'PR', 'SD', 'PD', 'NE'."""
    return np.asarray(CATEGORIES, dtype=object)[np.asarray(codes, dtype=int)]


def best_overall_response(codes: np.ndarray, times: np.ndarray, *, min_sd_duration: float = 0.0,
                          confirm: bool = False) -> np.ndarray:
    """Best overall response per patient from a (patients x assessments) array of category codes.

    ``codes`` uses -1 for an assessment that did not take place (death, end of follow-up or after
    progression). ``times`` holds the assessment times (same unit as ``min_sd_duration``).
    """
    codes = np.atleast_2d(np.asarray(codes, dtype=int))
    times = np.asarray(times, dtype=float)
    n, m = codes.shape
    best = np.full(n, NE, dtype=np.int8)
    stopped = np.zeros(n, dtype=bool)
    for j in range(m):
        c = codes[:, j]
        ok = (c >= 0) & ~stopped
        if confirm:
            nxt = codes[:, j + 1] if j + 1 < m else np.full(n, -1)
            # a response counts when the next assessment is a response too; the worse of the two counts
            # (CR then PR = PR); otherwise the response is recorded as SD
            both = (nxt >= 0) & (nxt <= PR)
            c = np.where(c <= PR, np.where(both, np.maximum(c, nxt), SD), c)
        cand = np.where((c == SD) & (times[j] < min_sd_duration - 1e-12), NE, c)
        take = ok & (cand < best)
        best = np.where(take, cand, best).astype(np.int8)
        # PD ends the assessment of response: it counts only when nothing better came before
        stopped |= ok & (c == PD)
    return best
