"""Virtual trials: a trial file -> virtual patients -> replicate cohorts in the cohort-analysis format
-> the founding series' statistics with 95% prediction intervals; calibration by simulated moments.

isoperf is research software, not a medical device, and gives no clinical advice.
"""

from isoperf.trial._calibrate import CalibrationResult, Target, calibrate, fitted_toml, load_targets
from isoperf.trial._cohort import assessments_table, to_adtte, to_cohort
from isoperf.trial._engine import Outcomes, simulate_batch
from isoperf.trial._exposure import ExposureTable, build_exposure_table, interpolation_error
from isoperf.trial._noise import N_NOISE, patient_noise
from isoperf.trial._run import (
    TrialResult,
    replicate_assessments,
    run_trial,
    simulate_replicate,
    subgroup_labels,
)
from isoperf.trial._setup import TrialSetup, setup_trial, trial_parameters
from isoperf.trial._spec import TrialSpec, load_trial
from isoperf.trial._stats import cohort_statistics, founding_statistics, km_median, statistic_names

__all__ = [
    "N_NOISE",
    "CalibrationResult",
    "ExposureTable",
    "Outcomes",
    "Target",
    "TrialResult",
    "TrialSetup",
    "TrialSpec",
    "assessments_table",
    "build_exposure_table",
    "calibrate",
    "cohort_statistics",
    "fitted_toml",
    "founding_statistics",
    "interpolation_error",
    "km_median",
    "load_targets",
    "load_trial",
    "patient_noise",
    "replicate_assessments",
    "run_trial",
    "setup_trial",
    "simulate_batch",
    "simulate_replicate",
    "statistic_names",
    "subgroup_labels",
    "to_adtte",
    "to_cohort",
    "trial_parameters",
]
