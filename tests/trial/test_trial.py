"""Virtual trials: determinism across workers, the emitted cohort, statistics, exposure table, calibration, CLI."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from typer.testing import CliRunner

import isoperf
from isoperf._errors import InputError
from isoperf.cli import app
from isoperf.outcomes import kaplan_meier, read_cohort, validate_cohort
from isoperf.trial import (
    cohort_statistics,
    founding_statistics,
    interpolation_error,
    km_median,
    load_targets,
    patient_noise,
    run_trial,
    setup_trial,
    simulate_replicate,
    to_adtte,
)
from isoperf.trial._calibrate import Target, calibrate
from isoperf.trial._exposure import patient_for_bsa

ILP = {"duration": "60 min", "circuit_volume": "1.5 L", "hepatic_artery_flow": "0.15 L/min",
       "portal_vein_flow": "0.45 L/min", "leak": "0.1 %/min"}


def small_trial(**over) -> dict:
    t = {
        "name": "small",
        "trial": {"patients": 40, "accrual": "24 month", "follow_up": "12 month", "loss_to_follow_up": 0.1,
                  "assessment_every": "2 month"},
        "arms": [{
            "name": "ILP", "ilp": dict(ILP),
            "doses": [{"drug": "fluorouracil", "min": "300 mg", "max": "1250 mg"},
                      {"drug": "mitomycin_c", "min": "5 mg", "max": "50 mg"},
                      {"drug": "cisplatin", "min": "50 mg", "share": 0.1}],
            "follow_on": {"label_with": "ILP+HAI", "label_without": "ILP only", "start": "6 week",
                          "interval": "4 week", "cycles": 4, "procedure": {"type": "hai"},
                          "doses": [{"drug": "mitomycin_c", "amount": "10 mg", "over": "30 min"}]},
        }],
        "exposure": {"dose_points": 3, "tumour_fractions": [0.05, 0.6], "bsa": [1.6, 2.2]},
        "observed": {"operative_mortality": 0.08, "median_os": 14.0},
    }
    t.update(over)
    return t


@pytest.fixture(scope="module")
def setup():
    return setup_trial(small_trial())


def test_replicate_identical_for_any_number_of_workers(setup):
    one = run_trial(setup, replicates=6, seed=11, workers=1, keep_cohorts=6, analysis="fast")
    two = run_trial(setup, replicates=6, seed=11, workers=2, keep_cohorts=6, analysis="fast")
    pd.testing.assert_frame_equal(one.per_replicate, two.per_replicate)
    assert len(one.cohorts) == len(two.cohorts) == 6
    for a, b in zip(one.cohorts, two.cohorts, strict=True):
        pd.testing.assert_frame_equal(a, b)
    # a replicate does not depend on how many replicates are run, nor on the patients after it
    pd.testing.assert_frame_equal(simulate_replicate(setup, 11, 4), one.cohorts[4])
    assert not one.cohorts[0].equals(one.cohorts[1])
    other_seed = simulate_replicate(setup, 12, 4)
    assert not np.allclose(other_seed["os_time"], one.cohorts[4]["os_time"])


def test_patient_draws_depend_only_on_seed_replicate_and_index():
    a = patient_noise(3, 2, 10)
    b = patient_noise(3, 2, range(5, 10))
    np.testing.assert_array_equal(a[5:], b)
    assert not np.array_equal(patient_noise(3, 1, 10), a)


def test_emitted_cohort_passes_validation_without_problems(setup):
    for r in range(3):
        df = simulate_replicate(setup, 5, r)
        report = validate_cohort(df)
        assert report.problems == [], [str(p) for p in report.problems]
        assert report.ok
        c = report.cohort
        assert set(c["best_response"].dropna()) <= {"CR", "PR", "SD", "PD", "NE"}
        assert (c["pfs_time"] <= c["os_time"] + 1e-12).all()
        assert (c["hpfs_time"] <= c["os_time"] + 1e-12).all()
        # an operative death is a death within 30 days, and such patients are not followed
        od = c["operative_death"] == 1
        assert (c.loc[od, "os_time"] <= 30 / (365.25 / 12) + 1e-9).all()
        assert (c.loc[od, "followed"] == 0).all()
        adtte = to_adtte(df)
        assert set(adtte["PARAMCD"]) == {"OS", "PFS", "HPFS"}
        assert len(adtte) == 3 * len(df)
        assert set(adtte["CNSR"]) <= {0, 1}


def test_fast_statistics_equal_the_outcomes_analysis(setup):
    labels = ["ILP+HAI", "ILP only"]
    for r in range(4):
        df = simulate_replicate(setup, 21, r)
        fast, slow = founding_statistics(df, labels), cohort_statistics(df, labels)
        assert fast.keys() == slow.keys()
        for k in fast:
            if math.isnan(fast[k]):
                assert math.isnan(slow[k]), k
            else:
                assert fast[k] == pytest.approx(slow[k], rel=1e-12, abs=1e-12), k


def test_km_median_matches_the_r_golden_tested_estimator_and_lifelines():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(3, 80))
        t = np.round(rng.exponential(10, n), 1)   # ties included
        e = rng.random(n) < 0.7
        ours = km_median(t, e)
        r_like = kaplan_meier(t, e.astype(int)).median   # isoperf.outcomes: tested against R survival
        assert (math.isnan(ours) and r_like is None) or ours == pytest.approx(r_like), (t, e)
        fit = KaplanMeierFitter().fit(t, e)
        if not np.any(np.isclose(fit.survival_function_.to_numpy(), 0.5, atol=1e-12)):
            ref = fit.median_survival_time_   # lifelines differs only where S(t) is exactly 0.5
            assert (math.isnan(ours) and math.isinf(ref)) or ours == pytest.approx(ref)
    # R survfit: when the curve is exactly 0.5 over an interval, the median is its midpoint
    assert km_median(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4, bool)) == pytest.approx(2.5)
    assert math.isnan(km_median(np.array([1.0, 2.0, 3.0]), np.array([1, 0, 0], bool)))


def test_exposure_table_against_the_engine(setup):
    arm = setup.arms[0]
    doses = arm.doses
    # linear drug (mitomycin C): AUC proportional to dose, so the interpolation is exact
    err_mmc = interpolation_error(arm.ilp_table, {"type": "ilp", **ILP}, doses, "mitomycin_c", tumour_fraction=0.05,
                                  bsa=1.6)
    assert err_mmc["max_relative_error"] < 1e-6
    # saturable 5-FU on a deliberately coarse 3-point grid: measured, and bounded
    err_fu = interpolation_error(arm.ilp_table, {"type": "ilp", **ILP}, doses, "fluorouracil", tumour_fraction=0.05,
                                 bsa=2.2)
    assert 0 < err_fu["max_relative_error"] < 0.1
    # the table reproduces the engine exactly on the grid
    res = isoperf.simulate({"patient": {**patient_for_bsa(2.2), "tumour_fraction": "0.6"},
                            "procedures": [{"type": "ilp", **ILP, "doses": [
                                {"drug": "fluorouracil", "amount": "1250 mg"}]}],
                            "output": {"until": "720 min", "step": "60 min"}})
    auc = res.to_dict()["drugs"]["fluorouracil"]["auc"]["tumour"]
    assert float(arm.ilp_table("fluorouracil", np.array(1250.0), np.array(0.6), np.array(2.2))) == pytest.approx(
        auc, rel=1e-6)
    # and varies with body size (why BSA is an axis of the table)
    assert float(arm.ilp_table("fluorouracil", np.array(1250.0), np.array(0.6), np.array(1.6))) != pytest.approx(
        auc, rel=0.02)


def test_calibration_recovers_known_parameters(setup):
    """Pseudo-observed statistics from known parameters; the fit starts elsewhere and must come back."""
    truth = {"operative_risk": 0.12, "extrahepatic_rate": 0.05}
    p_true = setup.params.with_values(**truth)
    from isoperf.trial._calibrate import _pooled
    from isoperf.trial._engine import simulate_batch

    noise = np.concatenate([patient_noise(99, r, setup.patients) for r in range(40)])
    stats = founding_statistics(_pooled(simulate_batch(setup, noise, p_true)), [])
    targets = [Target("operative_mortality", stats["operative_mortality"], 0.03, 50, "pseudo"),
               Target("extrahepatic_rate", stats["extrahepatic_rate"], 0.05, 41, "pseudo")]
    start = setup.params.with_values(operative_risk=0.04, extrahepatic_rate=0.02)
    from dataclasses import replace

    res = calibrate(replace(setup, params=start), targets, list(truth), replicates=40, seed=99, maxfev=300)
    assert res.objective < 0.05
    assert res.estimate["operative_risk"] == pytest.approx(0.12, rel=0.15)
    assert res.estimate["extrahepatic_rate"] == pytest.approx(0.05, rel=0.15)
    for k in truth:
        lo, hi = res.ci95[k]
        assert lo < res.estimate[k] < hi and res.se[k] > 0
    # reproducible from the seed
    again = calibrate(replace(setup, params=start), targets, list(truth), replicates=40, seed=99, maxfev=300)
    assert again.estimate == res.estimate and again.se == res.se


def test_bad_trial_input_names_the_field(tmp_path):
    with pytest.raises(InputError, match="arms\\[0\\].doses\\[0\\].max"):
        setup_trial(small_trial(arms=[{"name": "A", "ilp": dict(ILP),
                                       "doses": [{"drug": "fluorouracil", "min": "500 mg", "max": "300 mg"}]}]))
    with pytest.raises(InputError, match="trial.accrual"):
        setup_trial(small_trial(trial={"patients": 10, "accrual": "ten months"}))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[trial]\npatients = 5\npatiens = 3\n[[arms]]\nname = "A"\n')
    r = CliRunner().invoke(app, ["trial", str(bad)])
    assert r.exit_code == 2
    assert "trial.patiens" in r.output and "Traceback" not in r.output
    assert "did you mean 'patients'" in r.output


def test_untreated_arm_has_no_operative_deaths_and_no_responses():
    s = setup_trial(small_trial(arms=[{"name": "untreated"}]))
    df = simulate_replicate(s, 1, 0)
    assert validate_cohort(df).problems == []
    assert set(df["best_response"]) <= {"SD", "PD", "NE"}
    assert (df["follow_on_cycles"] == 0).all()
    assert (df["operative_death"] == 0).all()


def test_cli_trial_json_layout_and_outputs(tmp_path):
    path = tmp_path / "t.toml"
    lines = ['name = "small"', "[trial]", "patients = 30", 'accrual = "24 month"', 'follow_up = "12 month"',
             "[exposure]", "dose_points = 2", "tumour_fractions = [0.05, 0.6]", "bsa = [1.9]",
             "[[arms]]", 'name = "ILP"', "[arms.ilp]"] + [f'{k} = "{v}"' for k, v in ILP.items()] + [
             "[[arms.doses]]", 'drug = "mitomycin_c"', 'min = "5 mg"', 'max = "50 mg"',
             "[observed]", "median_os = 14.0"]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["trial", str(path), "--replicates", "3", "--seed", "4", "--format", "json",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert {"trial", "seed", "replicates", "patients", "statistics", "disclaimer"} <= set(d)
    st = d["statistics"]["median_os"]
    assert {"median", "pi95", "observed", "inside_pi", "replicates_not_reached"} <= set(st)
    assert st["observed"] == 14.0
    for f in ("trial_summary.json", "statistics_per_replicate.csv", "cohort_replicate_0000.csv",
              "adtte_replicate_0000.csv", "assessments_replicate_0000.csv", "km_replicate_0000.png"):
        assert (out / f).exists(), f
    assert validate_cohort(pd.read_csv(out / "cohort_replicate_0000.csv")).problems == []
    # the ADTTE file reads back through the real-cohort reader to the same statistics
    wide = pd.read_csv(out / "cohort_replicate_0000.csv")
    back = read_cohort(out / "adtte_replicate_0000.csv", format="adtte")
    report = validate_cohort(back)
    assert report.problems == [], [str(p) for p in report.problems]
    a, b = cohort_statistics(wide, ["ILP"]), cohort_statistics(report.cohort, ["ILP"])
    for k in a:
        assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == pytest.approx(b[k], rel=1e-9), k
    assert set(back.columns) >= {"hpfs_time", "hpfs_event", "pfs_time", "best_response"}


def test_targets_and_fitted_files_of_the_seed_study(examples):
    targets, cfg = load_targets(examples / "seed_study_targets.toml")
    assert {t.name for t in targets} >= {"operative_mortality", "cr_rate", "pr_rate", "median_os",
                                         "median_os[ILP+HAI]", "median_os[ILP only]", "extrahepatic_rate"}
    fitted = tomllib.loads((examples / "seed_study_fitted.toml").read_text())["parameters"]
    assert set(fitted) == set(cfg["parameters"])
    assert all(v["fitted"] for v in fitted.values())


def test_assessments_reproduce_the_best_response(setup):
    """The per-assessment RECIST table is consistent with each patient's best overall response."""
    from isoperf.response import classify
    from isoperf.trial import replicate_assessments

    df = simulate_replicate(setup, 8, 0)
    ass = replicate_assessments(setup, 8, 0)
    assert set(ass["category"]) <= {"CR", "PR", "SD", "PD"}
    order = {"CR": 0, "PR": 1, "SD": 2, "PD": 3, "NE": 4}
    for pid, g in ass.groupby("patient_id"):
        g = g.sort_values("time")
        # no assessment after progression
        assert (g["category"] == "PD").sum() <= 1 and (g["category"].iloc[:-1] != "PD").all()
        # recompute each category from the diameters (baseline from the change, nadir running)
        base = float(g["sum_of_diameters"].iloc[0] / (1 + g["change_from_baseline"].iloc[0]))
        nadir = base
        for sld, cat in zip(g["sum_of_diameters"], g["category"], strict=True):
            assert int(classify(base, nadir, sld)) == order[cat]
            nadir = min(nadir, sld)
        best = df.loc[df["patient_id"] == pid, "best_response"].iloc[0]
        assert order[best] == min(order[c] for c in g["category"])
    # patients never assessed are NE
    never = set(df["patient_id"]) - set(ass["patient_id"])
    assert (df.loc[df["patient_id"].isin(never), "best_response"] == "NE").all()


def test_cycle_on_an_assessment_day_comes_after_the_assessment():
    from isoperf.trial import simulate_batch

    base = small_trial()
    arm = dict(base["arms"][0])
    arm["follow_on"] = {**arm["follow_on"], "start": "2 month", "interval": "2 month"}
    with_fo = setup_trial(small_trial(arms=[arm]))
    without = setup_trial(small_trial(arms=[{k: v for k, v in arm.items() if k != "follow_on"}]))
    noise = patient_noise(2, 0, 40)
    a, b = simulate_batch(with_fo, noise), simulate_batch(without, noise)
    assert with_fo.assessment_times[0] == pytest.approx(2.0)
    np.testing.assert_array_equal(a.assessment_sld[:, 0], b.assessment_sld[:, 0])
    assert a.follow_on_cycles.sum() > 0
    later = np.isfinite(a.assessment_sld[:, 1]) & np.isfinite(b.assessment_sld[:, 1]) & (a.follow_on_cycles > 0)
    assert later.any() and np.all(a.assessment_sld[later, 1] <= b.assessment_sld[later, 1] + 1e-9)


def test_exposure_grid_is_solved_on_the_batched_population_path():
    """The exposure table's grid points go through the batched population solver in one batch; the AUCs
    equal one ``isoperf.simulate`` per point to 1e-8."""
    from isoperf.trial import _exposure as ex

    proc = {"type": "ilp", "duration": "60 min", "circuit_volume": "1.5 L", "hepatic_artery_flow": "0.15 L/min",
            "portal_vein_flow": "0.45 L/min", "leak": "0.1 %/min"}
    jobs = []
    for j in range(3):
        for tf in (0.05, 0.6):
            for b in (1.6, 2.2):
                ds = [{"drug": "fluorouracil", "amount": f"{300 + j * 400} mg", "over": "5 min"},
                      {"drug": "mitomycin_c", "amount": f"{5 + j * 20} mg", "over": "5 min"}]
                jobs.append(ex._protocol(proc, ds, ex.patient_for_bsa(b), tf))
    batched = ex._batched_tumour_auc(jobs)
    assert batched is not None
    for got, job in zip(batched, jobs, strict=True):
        want = ex._tumour_auc(job)
        for drug in ("fluorouracil", "mitomycin_c"):
            assert got[drug] == pytest.approx(want[drug], rel=1e-8)
