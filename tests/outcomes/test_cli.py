"""CLI: JSON layout of ``analyze``, report formats, plots, mapping options."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from isoperf.cli import app
from isoperf.outcomes import DISCLAIMER

DATA = Path(__file__).parent / "data"
EX = Path(__file__).resolve().parents[2] / "examples" / "cohort"
runner = CliRunner()


def _lung_json(*extra: str) -> dict:
    res = runner.invoke(app, ["cohort", "analyze", str(DATA / "lung.csv"), "--time", "time", "--event", "status",
                              "--event-codes", "1=0,2=1", "--group", "sex", "--format", "json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_analyze_json_layout_and_values() -> None:
    d = _lung_json("--at", "3,6,12")
    for key in ("overall", "groups", "logrank", "cox"):
        assert key in d
    for g in (d["overall"], d["groups"]["1"], d["groups"]["2"]):
        assert set(g) >= {"n", "events", "median", "median_ci", "survival_at"}
        assert set(g["survival_at"]) == {"3", "6", "12"}
        assert set(g["survival_at"]["12"]) >= {"estimate", "ci"}
    assert d["overall"]["n"] == 228 and d["overall"]["events"] == 165
    # times in the file are taken as months here (no --time-unit): the median is R's 310 (days as given)
    assert d["overall"]["median"] == 310 and d["overall"]["median_ci"] == [285, 363]
    assert set(d["logrank"]) == {"chisq", "df", "p"} and d["logrank"]["df"] == 1
    assert d["cox"]["reference"] == "1" and set(d["cox"]["terms"]) == {"2"}
    assert set(d["cox"]["terms"]["2"]) == {"hr", "ci", "p"}
    assert abs(d["cox"]["terms"]["2"]["hr"] / 0.588002818563589 - 1) < 1e-6


def test_time_unit_days_converts_to_months() -> None:
    d = _lung_json("--time-unit", "days")
    assert abs(d["overall"]["median"] - 310 / 30.4375) < 1e-12
    assert d["time_unit"] == "months"


def test_not_reached_is_null() -> None:
    res = runner.invoke(app, ["cohort", "analyze", str(DATA / "aml.csv"), "--time", "time", "--event", "status",
                              "--group", "x", "--format", "json"])
    d = json.loads(res.stdout)
    assert d["groups"]["Maintained"]["median_ci"] == [18, None]


def test_conf_type_option() -> None:
    d = _lung_json("--conf-type", "log-log")
    assert d["conf_type"] == "log-log" and d["overall"]["median_ci"] == [284, 361]


def test_mapping_file_and_map_option(tmp_path: Path) -> None:
    m = tmp_path / "map.toml"
    m.write_text('[columns]\nos_time = "time"\nos_event = "status"\n[event_codes]\n"1" = 0\n"2" = 1\n')
    res = runner.invoke(app, ["cohort", "analyze", str(DATA / "lung.csv"), "--mapping", str(m), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["overall"]["events"] == 165
    res = runner.invoke(app, ["cohort", "analyze", str(DATA / "lung.csv"), "--map", "os_time=time",
                              "--map", "os_event=status", "--event-codes", "1=0,2=1", "--format", "json"])
    assert json.loads(res.stdout)["overall"]["events"] == 165


def test_excel_input(tmp_path: Path) -> None:
    x = tmp_path / "lung.xlsx"
    pd.read_csv(DATA / "lung.csv").to_excel(x, index=False)
    res = runner.invoke(app, ["cohort", "analyze", str(x), "--time", "time", "--event", "status",
                              "--event-codes", "1=0,2=1", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["overall"]["median"] == 310


def test_table_output_and_plots(tmp_path: Path) -> None:
    for ext in ("png", "svg"):
        p = tmp_path / f"km.{ext}"
        ar = tmp_path / f"atrisk_{ext}.csv"
        res = runner.invoke(app, ["cohort", "analyze", str(EX / "founding_synthetic.csv"), "--group", "arm",
                                  "--at", "12,24", "--plot", str(p), "--at-risk", str(ar)])
        assert res.exit_code == 0, res.output
        assert p.stat().st_size > 1000
        assert "log-rank" in res.output and "research software" in res.output
        assert pd.read_csv(ar).shape[0] == 6
    assert (tmp_path / "km.svg").read_text().lstrip().startswith("<?xml")


def test_bad_plot_suffix_is_user_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["cohort", "analyze", str(EX / "founding_synthetic.csv"), "--plot",
                              str(tmp_path / "km.pdf")])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_missing_file_and_bad_options() -> None:
    for args in (["cohort", "analyze", "nope.csv"], ["cohort", "analyze", str(DATA / "aml.csv"), "--time", "time",
                                                     "--event", "status", "--at", "a,b"],
                 ["cohort", "analyze", str(DATA / "aml.csv"), "--time", "time", "--event", "status",
                  "--group", "nosuch"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output


def test_report_formats(tmp_path: Path) -> None:
    res = runner.invoke(app, ["cohort", "report", str(EX / "founding_synthetic.csv")])
    assert res.exit_code == 0, res.output
    assert "Patients treated" in res.stdout and "4/50 (8%" in res.stdout and DISCLAIMER in res.stdout
    res = runner.invoke(app, ["cohort", "report", str(EX / "founding_synthetic.csv"), "--format", "json"])
    d = json.loads(res.stdout)
    assert d["patients_followed"] == 41 and d["disclaimer"] == DISCLAIMER
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["cohort", "report", str(EX / "founding_synthetic.csv"), "--format", "html",
                              "--group", "sex", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "<table>" in text and DISCLAIMER in text and "sex = female" in text


def test_validate_command() -> None:
    res = runner.invoke(app, ["cohort", "validate", str(EX / "founding_synthetic.csv")])
    assert res.exit_code == 0 and "50 patients" in res.stdout


def test_stratified_logrank_on_cli_matches_r() -> None:
    """R: survdiff(Surv(time, status) ~ trt + strata(celltype), data = veteran) -> chisq 0.701743346844319."""
    res = runner.invoke(app, ["cohort", "analyze", str(DATA / "veteran.csv"), "--time", "time", "--event", "status",
                              "--group", "trt", "--strata", "celltype", "--format", "json"])
    assert res.exit_code == 0, res.output
    lr = json.loads(res.stdout)["logrank"]
    assert abs(lr["chisq"] / 0.701743346844319 - 1) < 1e-6 and lr["df"] == 1


def test_help_texts() -> None:
    for cmd in (["cohort", "--help"], ["cohort", "analyze", "--help"], ["cohort", "report", "--help"]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 0
    assert "log-log" in runner.invoke(app, ["cohort", "analyze", "--help"]).output
