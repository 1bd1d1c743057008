"""The three example formats (CSV, ADTTE, REDCap) give identical results, shaped like the founding series."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from isoperf.cli import app
from isoperf.outcomes import analyze_cohort, load_cohort, seed_report

EX = Path(__file__).resolve().parents[2] / "examples" / "cohort"
CSV = EX / "founding_synthetic.csv"
ADTTE = EX / "founding_synthetic_adtte.csv"
REDCAP = EX / "founding_synthetic_redcap.csv"
DICT = EX / "founding_synthetic_redcap_dictionary.csv"


def _cohorts() -> dict[str, pd.DataFrame]:
    return {"csv": load_cohort(CSV).cohort, "adtte": load_cohort(ADTTE).cohort,
            "redcap": load_cohort(REDCAP, dictionary=DICT).cohort}


def test_formats_are_detected() -> None:
    from isoperf.outcomes import read_cohort

    assert read_cohort(CSV).attrs["format"] == "csv"
    assert read_cohort(ADTTE).attrs["format"] == "adtte"
    assert read_cohort(REDCAP, dictionary=DICT).attrs["format"] == "redcap"


def test_same_patients_and_times() -> None:
    c = _cohorts()
    cols = ["patient_id", "arm", "os_time", "os_event", "best_response", "extrahepatic_recurrence", "followed",
            "operative_death"]
    base = c["csv"][cols].reset_index(drop=True)
    for name in ("adtte", "redcap"):
        pd.testing.assert_frame_equal(c[name][cols].reset_index(drop=True), base, check_dtype=False, obj=name)


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_identical_analysis(conf_type: str) -> None:
    out = {k: analyze_cohort(v, group="arm", at=[6, 12, 24, 36], conf_type=conf_type).to_dict()
           for k, v in _cohorts().items()}
    assert out["csv"] == out["adtte"] == out["redcap"]


def test_identical_report() -> None:
    out = {k: seed_report(v).summary for k, v in _cohorts().items()}
    assert out["csv"] == out["adtte"] == out["redcap"]


def test_identical_cli_json() -> None:
    runner = CliRunner()
    outs = []
    for args in ([str(CSV)], [str(ADTTE)], [str(REDCAP), "--dictionary", str(DICT)]):
        res = runner.invoke(app, ["cohort", "analyze", *args, "--group", "arm", "--at", "12,24", "--format", "json"])
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1] == outs[2]


def test_example_is_shaped_like_the_founding_series() -> None:
    s = seed_report(_cohorts()["csv"]).summary
    assert s["patients_treated"] == 50
    assert (s["operative_mortality"]["n"], s["operative_mortality"]["of"]) == (4, 50)
    assert s["patients_followed"] == 41
    assert (s["response"]["CR"]["n"], s["response"]["PR"]["n"], s["response"]["CR"]["of"]) == (9, 28, 41)
    assert s["alive"]["n"] == 11
    assert 12 <= s["median_survival"]["median"] <= 16
    g = s["by_group"]["groups"]
    assert 6 <= g["ILP only"]["median"] <= 9 and 15 <= g["ILP+HAI"]["median"] <= 21
    assert abs(s["extrahepatic_recurrence"]["rate"] - 0.40) < 0.02


def test_files_are_labelled_synthetic() -> None:
    for p in (CSV, ADTTE, REDCAP):
        assert "SYNTHETIC" in p.read_text().splitlines()[0]
