"""The virtual patient: covariates, doses, tumour exposure, cell kill, tumour course, RECIST, survival.

Vectorised over patients; every random quantity is an inverse-CDF transform of the patient's own
uniforms (:mod:`isoperf.trial._noise`), so results depend only on (seed, replicate, patient index).
Times are in months (30.4375 days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri

from isoperf.outcomes._schema import DAYS_PER_MONTH
from isoperf.patient._physiology import liver_constants
from isoperf.response import (
    ParameterSet,
    TumourState,
    best_overall_response,
    bliss_log_kill,
    classify,
    crossing_time,
    sum_of_diameters,
)
from isoperf.response._recist import PD
from isoperf.response._tumour import LN2, gompertz_rate
from isoperf.trial._noise import COL, DOSE_COLS, SHARE_COLS
from isoperf.trial._setup import ArmSetup, TrialSetup
from isoperf.trial._spec import Distribution

OPERATIVE_WINDOW = 30.0 / DAYS_PER_MONTH  # months (30 days)
_EPS = 1e-9


def _draw(dist: Distribution, u: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """Inverse-CDF draw from ``dist`` truncated to ``bounds`` (eligibility)."""
    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)
    if dist.distribution == "fixed":
        return np.full_like(u, float(dist.value if dist.value is not None else 0.0))
    if dist.distribution == "uniform":
        a = max(lo, dist.low if dist.low is not None else lo)
        b = min(hi, dist.high if dist.high is not None else hi)
        return a + u * (b - a)
    if dist.distribution == "normal":
        mu, sd = float(dist.mean or 0.0), float(dist.sd or 1.0)
        za, zb = (lo - mu) / sd, (hi - mu) / sd
        return mu + sd * ndtri(np.clip(ndtr(za) + u * (ndtr(zb) - ndtr(za)), 1e-12, 1 - 1e-12))
    mu, sd = float(np.log(dist.median or 1.0)), float(dist.sd_log or 1.0)
    with np.errstate(divide="ignore"):
        za, zb = (np.log(max(lo, 0.0)) - mu) / sd, (np.log(hi) - mu) / sd
    return np.exp(mu + sd * ndtri(np.clip(ndtr(za) + u * (ndtr(zb) - ndtr(za)), 1e-12, 1 - 1e-12)))


def _z(u: np.ndarray) -> np.ndarray:
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


@dataclass
class Outcomes:
    """Per-patient results of one batch (arrays of equal length)."""

    arm: np.ndarray            # allocated arm index
    label: np.ndarray          # subgroup label (str)
    age: np.ndarray
    male: np.ndarray
    tumour_fraction: np.ndarray
    doses: dict[str, np.ndarray]
    follow_on_cycles: np.ndarray
    operative_death: np.ndarray
    followed: np.ndarray
    os_time: np.ndarray
    os_event: np.ndarray
    pfs_time: np.ndarray
    pfs_event: np.ndarray
    hpfs_time: np.ndarray
    hpfs_event: np.ndarray
    extrahepatic: np.ndarray
    best_response: np.ndarray  # codes 0 CR .. 4 NE
    cause: np.ndarray          # str: operative, hepatic, extrahepatic, background, alive
    assessment_codes: np.ndarray | None = None  # (patients, assessments): RECIST code, -1 = not assessed
    assessment_sld: np.ndarray | None = None    # (patients, assessments): sum of diameters (mm), NaN = not assessed
    baseline_sld: np.ndarray | None = None      # (patients,) mm
    assessment_times: tuple[float, ...] = ()    # months


def simulate_batch(setup: TrialSetup, noise: np.ndarray, params: ParameterSet | None = None) -> Outcomes:
    """Simulate the patients whose uniforms are the rows of ``noise``."""
    p = params or setup.params
    n = noise.shape[0]
    weights = np.array([a.allocation for a in setup.arms], dtype=float)
    edges = np.cumsum(weights) / weights.sum()
    arm_idx = np.minimum(np.searchsorted(edges, noise[:, COL["arm"]], side="right"), len(setup.arms) - 1)
    cols = {k: np.empty(n) for k in ("age", "tf", "weight", "height")}
    male = np.zeros(n, dtype=bool)
    for a, arm in enumerate(setup.arms):
        m = arm_idx == a
        cov = {**setup.covariates, **(arm.covariates or {})}
        el = {**setup.eligibility, **(arm.eligibility or {})}
        for key, name in (("age", "age"), ("tf", "tumour_fraction"), ("weight", "weight"), ("height", "height")):
            cols[key][m] = _draw(cov[name], noise[m, COL[name]], el.get(name))
        male[m] = noise[m, COL["male"]] < float(cov["male"].value if cov["male"].value is not None else 0.5)
    c = liver_constants()
    bsa = np.sqrt(cols["weight"] * cols["height"] / 3600.0)
    slv = np.maximum(c["korean_slv_slope"] * bsa + c["korean_slv_intercept"], 0.1)

    out_label = np.empty(n, dtype=object)
    res: dict[str, np.ndarray] = {k: np.zeros(n) for k in (
        "os_time", "pfs_time", "hpfs_time", "follow_on_cycles")}
    ev: dict[str, np.ndarray] = {k: np.zeros(n, dtype=bool) for k in (
        "os_event", "pfs_event", "hpfs_event", "extrahepatic", "operative_death", "followed")}
    best = np.full(n, 4, dtype=np.int8)
    n_ass = len(setup.assessment_times)
    a_codes = np.full((n, n_ass), -1, dtype=np.int8)
    a_sld = np.full((n, n_ass), np.nan)
    b_sld = np.zeros(n)
    cause = np.empty(n, dtype=object)
    dose_out: dict[str, np.ndarray] = {}
    for a, arm in enumerate(setup.arms):
        m = arm_idx == a
        if not m.any():
            continue
        r = _simulate_arm(setup, arm, p, noise[m], cols["age"][m], cols["tf"][m], slv[m], bsa[m])
        out_label[m] = r["label"]
        for k in res:
            res[k][m] = r[k]
        for k in ev:
            ev[k][m] = r[k]
        best[m] = r["best"]
        a_codes[m] = r["codes"]
        a_sld[m] = r["sld"]
        b_sld[m] = r["baseline_sld"]
        cause[m] = r["cause"]
        for drug, v in r["doses"].items():
            dose_out.setdefault(drug, np.zeros(n))[m] = v
    return Outcomes(arm=arm_idx, label=out_label, age=cols["age"], male=male, tumour_fraction=cols["tf"],
                    doses=dose_out, follow_on_cycles=res["follow_on_cycles"], operative_death=ev["operative_death"],
                    followed=ev["followed"], os_time=res["os_time"], os_event=ev["os_event"],
                    pfs_time=res["pfs_time"], pfs_event=ev["pfs_event"], hpfs_time=res["hpfs_time"],
                    hpfs_event=ev["hpfs_event"], extrahepatic=ev["extrahepatic"], best_response=best, cause=cause,
                    assessment_codes=a_codes, assessment_sld=a_sld, baseline_sld=b_sld,
                    assessment_times=tuple(setup.assessment_times))


def _simulate_arm(setup: TrialSetup, arm: ArmSetup, p: ParameterSet, u: np.ndarray, age: np.ndarray,
                  tf: np.ndarray, slv: np.ndarray, bsa: np.ndarray) -> dict:
    n = u.shape[0]
    inf = np.full(n, np.inf)
    # --- doses and tumour exposure of the ILP -----------------------------------------------------
    doses: dict[str, np.ndarray] = {}
    aucs: dict[str, np.ndarray] = {}
    for j, d in enumerate(arm.doses):
        gets = u[:, SHARE_COLS[j]] < d["share"]
        dose = np.where(gets, d["min_mg"] + u[:, DOSE_COLS[j]] * (d["max_mg"] - d["min_mg"]), 0.0)
        doses[d["drug"]] = doses.get(d["drug"], 0.0) + dose
        if arm.ilp_table is not None:
            aucs[d["drug"]] = aucs.get(d["drug"], 0.0) + np.where(gets, arm.ilp_table(d["drug"], dose, tf, bsa), 0.0)
    lnk_ilp = bliss_log_kill(aucs, p) * np.ones(n) if aucs else np.zeros(n)
    lnk_fo = np.zeros(n)
    if arm.follow_on and arm.fo_table is not None:
        fo_auc = {drug: arm.fo_table(drug, np.full(n, mg), tf, bsa) for drug, mg in arm.fo_drugs}
        lnk_fo = bliss_log_kill(fo_auc, p) * np.ones(n) * p["hai_sensitivity_ratio"]
    # --- patient-level parameters ---------------------------------------------------------------
    sens = p["sensitivity_median"] * np.exp(p["sensitivity_sd_log"] * _z(u[:, COL["sensitivity"]]))
    rfrac = expit(logit(p["resistant_fraction_median"]) + p["resistant_fraction_sd_logit"] * _z(u[:, COL["resistant"]]))
    mean = p["doubling_time_mean"]
    s2 = np.log1p(p["doubling_time_cv"] ** 2)
    dt = np.exp(np.log(mean) - 0.5 * s2 + np.sqrt(s2) * _z(u[:, COL["doubling"]]))
    capacity = p["capacity_fraction"] * slv
    g = gompertz_rate(dt, capacity, p["doubling_reference_fraction"] * slv)
    kd = LN2 / p["dead_cell_half_life"]
    v0 = tf * slv
    lethal = np.minimum(np.maximum(
        p["lethal_tumour_fraction"] * np.exp(p["lethal_fraction_sd_log"] * _z(u[:, COL["lethal"]])), 1.2 * tf),
        0.98 * p["capacity_fraction"]) * slv
    # --- competing events -----------------------------------------------------------------------
    if arm.ilp:
        lo = logit(p["operative_risk"]) + np.log(p["operative_odds_ratio_per_10pct"]) * (
            tf - p["operative_reference_fraction"]) / 0.1
        op_dead = u[:, COL["operative"]] < expit(lo)
    else:
        op_dead = np.zeros(n, dtype=bool)
    t_op = np.where(op_dead, (0.02 + 0.98 * u[:, COL["operative_time"]]) * OPERATIVE_WINDOW, np.inf)
    followed = ~op_dead & (u[:, COL["lost"]] >= setup.loss_to_follow_up)
    t_ex = -np.log1p(-u[:, COL["extrahepatic"]]) / max(p["extrahepatic_rate"], 1e-300)
    t_exd = t_ex + p["extrahepatic_death_median"] * np.exp(
        p["extrahepatic_death_sd_log"] * _z(u[:, COL["extrahepatic_death"]]))
    a_, b_ = p["background_gompertz_a"], p["background_gompertz_b"]   # per year
    e = -np.log1p(-u[:, COL["background"]])
    t_bg = 12.0 * np.log1p(b_ * e / (a_ * np.exp(b_ * age))) / b_
    entry = u[:, COL["entry"]] * setup.accrual
    censor = np.where(followed, setup.horizon - entry, np.minimum(OPERATIVE_WINDOW * (1 + 1e-6), setup.horizon - entry))
    other_death = np.minimum.reduce([t_op, t_exd, t_bg])
    prob_fo = arm.fo_probability if arm.fo_probability is not None else p["hai_probability"]
    planned = arm.follow_on & (u[:, COL["follow_on"]] < prob_fo) & ~op_dead
    # --- tumour course over the event timeline ----------------------------------------------------
    state = TumourState.at_baseline(v0, rfrac)
    lesions, det = p["target_lesions"], p["detection_diameter"]
    base = sum_of_diameters(v0, lesions, 0.0)
    if arm.ilp:
        state.kill(sens * lnk_ilp, p["resistant_kill_ratio"])
    events = [(t, 0, k) for k, t in enumerate(setup.assessment_times)]
    if arm.follow_on:
        events += [(arm.fo_start + k * arm.fo_interval, 1, k) for k in range(arm.fo_cycles)]
    events.sort(key=lambda x: (x[0], x[1]))  # a cycle on an assessment day comes after the assessment
    t_hep = inf.copy()
    nadir = base.copy()
    pd_time = inf.copy()
    codes = np.full((n, len(setup.assessment_times)), -1, dtype=np.int8)
    slds = np.full((n, len(setup.assessment_times)), np.nan)
    cycles = np.zeros(n)
    for t, kind, k in events:
        if t > setup.horizon:
            break
        cross = crossing_time(state.viable, lethal, g, capacity, state.t, t)
        t_hep = np.where(np.isinf(t_hep), cross, t_hep)
        state.advance(t, g, capacity, kd)
        alive = t < np.minimum(other_death, t_hep)
        if kind == 0:
            active = alive & (t <= censor) & np.isinf(pd_time)
            sld = sum_of_diameters(state.measured, lesions, det)
            code = classify(base, nadir, sld)
            codes[active, k] = code[active]
            slds[active, k] = sld[active]
            pd_time = np.where(active & (code == PD), t, pd_time)
            nadir = np.where(active, np.minimum(nadir, sld), nadir)
        else:
            give = planned & alive & np.isinf(pd_time) & (t_ex > t)
            state.kill(sens * lnk_fo, p["resistant_kill_ratio"], mask=give)
            cycles += give
    cross = crossing_time(state.viable, lethal, g, capacity, state.t, np.inf)
    t_hep = np.where(np.isinf(t_hep), cross, t_hep)
    # --- endpoints -----------------------------------------------------------------------------
    death = np.minimum(other_death, t_hep)
    os_event = death <= censor
    os_time = np.minimum(death, censor)
    prog = np.minimum(pd_time, t_ex)
    pfs_time = np.minimum.reduce([prog, death, censor])
    pfs_event = np.minimum(prog, death) <= censor
    hpfs_time = np.minimum.reduce([pd_time, death, censor])
    hpfs_event = np.minimum(pd_time, death) <= censor
    extra = (t_ex < death) & (t_ex <= censor)
    best = best_overall_response(codes, np.asarray(setup.assessment_times), min_sd_duration=p["min_sd_duration"])
    cause = np.full(n, "alive", dtype=object)
    which = np.argmin(np.stack([t_op, t_hep, t_exd, t_bg]), axis=0)
    names = np.array(["operative", "hepatic", "extrahepatic", "background"], dtype=object)
    cause = np.where(os_event, names[which], cause)
    label = np.where(cycles > 0, arm.label_with, arm.label_without) if arm.follow_on else np.full(n, arm.label, dtype=object)
    # operative death: death within 30 days of the procedure (cohort schema); no procedure, no operative death
    op_death = os_event & (os_time <= OPERATIVE_WINDOW + _EPS) & bool(arm.ilp)
    return {"label": label, "os_time": os_time, "os_event": os_event, "pfs_time": pfs_time, "pfs_event": pfs_event,
            "hpfs_time": hpfs_time, "hpfs_event": hpfs_event, "extrahepatic": extra, "operative_death": op_death,
            "followed": followed, "best": best, "cause": cause, "doses": doses, "follow_on_cycles": cycles,
            "codes": codes, "sld": slds, "baseline_sld": base}
