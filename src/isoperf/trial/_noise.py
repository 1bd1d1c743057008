"""Per-patient random numbers: a virtual patient's draws depend only on (seed, replicate, patient index).

Every patient gets ``N_NOISE`` independent uniforms from ``numpy.random.default_rng([seed, replicate, i])``;
the model turns them into covariates, doses, sensitivities and event times by inverse-CDF transforms.
So a replicate is identical for any number of workers or chunking, and calibration can re-use the same
uniforms for every parameter value (common random numbers).
"""

from __future__ import annotations

import numpy as np

N_NOISE = 40
#: column of each draw
COL = {
    "arm": 0, "age": 1, "tumour_fraction": 2, "weight": 3, "height": 4, "male": 5,
    "sensitivity": 18, "resistant": 19, "doubling": 20, "lethal": 21, "operative": 22, "operative_time": 23,
    "lost": 24, "extrahepatic": 25, "extrahepatic_death": 26, "background": 27, "entry": 28, "follow_on": 29,
    "follow_on_death": 30,
}
DOSE_COLS = tuple(range(6, 12))    # dose level within the range, per ILP dose entry
SHARE_COLS = tuple(range(12, 18))  # whether the patient receives that drug (share)
MAX_DOSE_ENTRIES = len(DOSE_COLS)


def patient_noise(seed: int, replicate: int, patients: int | range) -> np.ndarray:
    """Uniforms of shape (patients, N_NOISE) for one replicate."""
    idx = range(patients) if isinstance(patients, int) else patients
    out = np.empty((len(idx), N_NOISE))
    for k, i in enumerate(idx):
        out[k] = np.random.default_rng([int(seed), int(replicate), int(i)]).random(N_NOISE)
    return out
