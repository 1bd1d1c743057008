"""Calibration by the method of simulated moments (MSM) with common random numbers.

The uncertain population parameters are fitted to published summary statistics:

1. every virtual patient's uniforms are drawn once (``seed``, replicate, patient index) for
   ``replicates`` replicates of the trial, and re-used for every parameter value (common random
   numbers), so the objective is a deterministic function of the parameters;
2. the statistics are computed on the pooled virtual cohort with the same code as for a real cohort
   (:func:`isoperf.trial.founding_statistics`);
3. the objective is ``sum_k ((sim_k - target_k) / sd_k)^2`` where ``sd_k`` is the sampling SD of the
   published statistic (binomial ``sqrt(p (1 - p) / n)`` for proportions; ``median / sqrt(events)`` for a
   median, the exponential-model approximation); it is minimised with Nelder-Mead (scipy) over
   parameters transformed to the real line (logit for probabilities and fractions, log otherwise);
4. uncertainty: the MSM sandwich ``Cov = (J' W J)^-1 (1 + n_obs / n_sim)`` with ``W = diag(1/sd^2)`` and the
   Jacobian ``J`` of the simulated statistics by central differences, mapped back by the delta method;
   95% intervals are computed on the transformed scale.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit

from isoperf._errors import InputError
from isoperf.response import ParameterSet
from isoperf.trial._engine import Outcomes, simulate_batch
from isoperf.trial._noise import patient_noise
from isoperf.trial._run import subgroup_labels
from isoperf.trial._setup import TrialSetup
from isoperf.trial._stats import founding_statistics

#: parameters bounded in (0, 1): fitted on the logit scale; all others on the log scale
_UNIT_INTERVAL = {"operative_risk", "resistant_fraction_median", "hai_probability", "lethal_tumour_fraction",
                  "doubling_reference_fraction"}


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    sd: float
    n: int
    source: str


def load_targets(path: str | Path) -> tuple[list[Target], dict[str, Any]]:
    """Read a targets file: ``[targets.NAME] value, n, events?, source`` and ``[calibrate]`` settings."""
    p = Path(path)
    if not p.exists():
        raise InputError("targets", f"file {str(path)!r} not found", "give the path of a targets TOML file")
    raw = tomllib.loads(p.read_text(encoding="utf-8"))
    out = []
    for name, t in raw.get("targets", {}).items():
        where = f"targets.{name}"
        if "value" not in t or "n" not in t:
            raise InputError(where, "needs value and n", "e.g. { value = 0.22, n = 41, source = '...' }")
        v, n = float(t["value"]), int(t["n"])
        if name.startswith("median"):
            events = float(t.get("events", 0.75 * n))
            sd = v / math.sqrt(max(events, 1.0))
        else:
            sd = math.sqrt(max(v * (1 - v), 1.0 / n) / n)
        out.append(Target(name, v, float(t.get("sd", sd)), n, str(t.get("source", ""))))
    if not out:
        raise InputError("targets", "no [targets.*] entries", "give at least one target")
    return out, raw.get("calibrate", {})


def _to_x(name: str, v: float) -> float:
    return float(logit(v)) if name in _UNIT_INTERVAL else math.log(v)


def _from_x(name: str, x: float) -> float:
    return float(expit(x)) if name in _UNIT_INTERVAL else math.exp(x)


def _pooled(out: Outcomes) -> pd.DataFrame:
    from isoperf.response import category_names

    return pd.DataFrame({"arm": out.label.astype(str), "os_time": out.os_time, "os_event": out.os_event,
                         "best_response": category_names(out.best_response).astype(str),
                         "extrahepatic_recurrence": out.extrahepatic, "operative_death": out.operative_death,
                         "followed": out.followed})


@dataclass
class CalibrationResult:
    names: list[str]
    estimate: dict[str, float]
    se: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    targets: list[Target]
    fit: pd.DataFrame
    objective: float
    evaluations: int
    seconds: float
    seed: int
    replicates: int
    params: ParameterSet


def _unit(name: str) -> str:
    from isoperf.response import UNITS

    return UNITS[name]


def _fmt_value(name: str, v: float) -> str:
    u = _unit(name)
    return f"{v:.6g}" if not u else f'"{v:.6g} {u}"'


def calibrate(setup: TrialSetup, targets: list[Target], names: list[str], *, replicates: int = 100,
              seed: int = 0, maxfev: int = 800, progress: Callable[[int, float], None] | None = None,
              ) -> CalibrationResult:
    """Fit ``names`` to ``targets`` (see the module docstring). Reproducible from ``seed``."""
    t0 = time.perf_counter()
    for k in names:
        if k not in setup.params.parameters:
            raise InputError("calibrate.parameters", f"unknown parameter {k!r}",
                             f"known: {', '.join(setup.params.parameters)}")
    labels = subgroup_labels(setup)
    noise = np.concatenate([patient_noise(seed, r, setup.patients) for r in range(replicates)])
    base = setup.params
    tv = np.array([t.value for t in targets])
    tsd = np.array([t.sd for t in targets])
    evals = [0]

    def stats_at(x: np.ndarray) -> np.ndarray:
        p = base.with_values(**{k: _from_x(k, xi) for k, xi in zip(names, x, strict=True)})
        s = founding_statistics(_pooled(simulate_batch(setup, noise, p)), labels)
        v = np.array([s.get(t.name, math.nan) for t in targets])
        # a median that is not reached counts as far beyond the target
        return np.where(np.isfinite(v), v, 10 * tv)

    def objective(x: np.ndarray) -> float:
        evals[0] += 1
        r = float(np.sum(((stats_at(x) - tv) / tsd) ** 2))
        if progress:
            progress(evals[0], r)
        return r

    x0 = np.array([_to_x(k, base[k]) for k in names])
    best = minimize(objective, x0, method="Nelder-Mead",
                    options={"maxfev": maxfev, "xatol": 1e-3, "fatol": 1e-4, "adaptive": True,
                             "initial_simplex": np.vstack([x0, x0 + 0.5 * np.eye(len(x0))])})
    x = best.x
    if evals[0] < maxfev:  # one restart from the optimum guards against a collapsed simplex
        best2 = minimize(objective, x, method="Nelder-Mead",
                         options={"maxfev": maxfev - evals[0], "xatol": 1e-3, "fatol": 1e-4, "adaptive": True,
                                  "initial_simplex": np.vstack([x, x + 0.2 * np.eye(len(x))])})
        if best2.fun <= best.fun:
            best, x = best2, best2.x
    # --- uncertainty: MSM sandwich with a finite-difference Jacobian ---------------------------------
    h = 0.25
    jac = np.empty((len(targets), len(names)))
    for i in range(len(names)):
        e = np.zeros(len(names))
        e[i] = h
        jac[:, i] = (stats_at(x + e) - stats_at(x - e)) / (2 * h)
    w = np.diag(1.0 / tsd**2)
    n_obs = max(t.n for t in targets)
    factor = 1.0 + n_obs / (replicates * setup.patients)
    try:
        cov = np.linalg.pinv(jac.T @ w @ jac) * factor
    except np.linalg.LinAlgError:
        cov = np.full((len(names), len(names)), np.nan)
    sx = np.sqrt(np.maximum(np.diag(cov), 0.0))
    est = {k: _from_x(k, xi) for k, xi in zip(names, x, strict=True)}
    se, ci = {}, {}
    for k, xi, s in zip(names, x, sx, strict=True):
        d = est[k] * (1 - est[k]) if k in _UNIT_INTERVAL else est[k]   # delta method
        se[k] = float(d * s)
        ci[k] = (_from_x(k, xi - 1.96 * s), _from_x(k, xi + 1.96 * s))
    sim = stats_at(x)
    fit = pd.DataFrame({"statistic": [t.name for t in targets], "target": tv, "target_sd": tsd, "simulated": sim,
                        "z": (sim - tv) / tsd, "source": [t.source for t in targets]})
    params = base.with_values(**est)
    return CalibrationResult(names, est, se, ci, targets, fit, float(best.fun), evals[0],
                             time.perf_counter() - t0, seed, replicates, params)


def fitted_toml(result: CalibrationResult, trial_name: str) -> str:
    """The fitted-parameters file (values in the model's internal units, written with their unit)."""
    lines = [
        f"# Fitted by `isoperf calibrate` for trial {trial_name!r}: method of simulated moments with common random",
        f"# numbers (seed {result.seed}, {result.replicates} replicates x patients), {result.evaluations} evaluations,",
        f"# {result.seconds:.0f} s, objective {result.objective:.3g}. se: asymptotic MSM standard error (delta method);",
        "# ci95: 95% interval computed on the logit / log scale. Re-run `isoperf calibrate` to refresh.",
        "[parameters]",
    ]
    for k in result.names:
        lo, hi = result.ci95[k]
        u = _unit(k)
        se = f"{result.se[k]:.4g}" if not u else f'"{result.se[k]:.4g} {u}"'
        ci = f"[{lo:.6g}, {hi:.6g}]" if not u else f'["{lo:.6g} {u}", "{hi:.6g} {u}"]'
        lines.append(f'{k} = {{ value = {_fmt_value(k, result.estimate[k])}, fitted = true, se = {se}, '
                     f'ci95 = {ci}, note = "fitted by isoperf calibrate (MSM) to the founding series" }}')
    return "\n".join(lines) + "\n"
