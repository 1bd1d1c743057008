"""`compare` and `advantage`: the API, the JSON keys and the command line."""

from __future__ import annotations

import json

import pytest
from regional_protocols import PATIENT, php
from typer.testing import CliRunner

from isoperf.analysis import compare
from isoperf.cli import app

COLUMNS = {"protocol", "drug", "dose_mg", "auc_tumour", "auc_liver", "auc_systemic", "cmax_systemic",
           "tumour_to_systemic", "target", "auc_target", "target_to_systemic", "regional_advantage",
           "mass_balance_error", "filtered_mg", "leaked_mg", "washout_mg", "flags"}


@pytest.fixture(scope="module")
def liver():
    return compare(["examples/compare_liver.toml"])


def test_compare_liver_example(liver) -> None:
    rows = {r["protocol"]: r for r in liver.rows}
    assert list(rows) == ["systemic IV", "HAI", "PHP (GEN2 filter)", "ILP (IHP)"]
    assert all(set(r) == COLUMNS for r in liver.rows)
    assert all(r["mass_balance_error"] <= 1e-9 for r in liver.rows)
    assert rows["systemic IV"]["regional_advantage"] == 1.0
    for r in liver.rows:
        assert r["tumour_to_systemic"] == pytest.approx(r["auc_tumour"] / r["auc_systemic"])
        assert r["regional_advantage"] == pytest.approx(
            r["tumour_to_systemic"] / rows["systemic IV"]["tumour_to_systemic"])
    # the filter removes drug on its way back to the body: PHP beats HAI of the same dose
    assert rows["PHP (GEN2 filter)"]["auc_systemic"] < rows["HAI"]["auc_systemic"]
    assert rows["PHP (GEN2 filter)"]["regional_advantage"] > rows["HAI"]["regional_advantage"] > 1.0
    assert rows["PHP (GEN2 filter)"]["filtered_mg"] > 0
    assert rows["ILP (IHP)"]["regional_advantage"] > rows["HAI"]["regional_advantage"]


def test_same_patient_for_all(liver) -> None:
    pats = {json.dumps(r.plan.patient.summary(), sort_keys=True) for r in liver.results}
    assert len(pats) == 1


def test_regional_advantage_does_not_depend_on_the_dose_for_a_linear_drug() -> None:
    def hai(amount: str) -> dict:
        return {"name": amount, "patient": dict(PATIENT), "procedures": [
            {"type": "hai", "doses": [{"drug": "melphalan", "amount": amount, "over": "30 min"}]}]}

    c = compare([{**hai("50 mg"), "name": "iv", "procedures": [{"type": "iv", "doses": [
        {"drug": "melphalan", "amount": "50 mg", "over": "30 min"}]}]}, hai("50 mg"), hai("150 mg")])
    assert c.rows[1]["regional_advantage"] == pytest.approx(c.rows[2]["regional_advantage"], rel=1e-9)
    assert c.rows[1]["protocol"] == "50 mg" and c.rows[2]["protocol"] == "150 mg"


def test_a_different_patient_is_replaced_and_noted() -> None:
    other = php()
    other["patient"] = {"weight": "60 kg", "height": "160 cm"}
    c = compare([php(), other])
    assert c.results[1].plan.patient.weight == 80.0
    assert c.notes and "differs" in c.notes[0]


runner = CliRunner()


def test_cli_compare_table_and_json(tmp_path) -> None:
    res = runner.invoke(app, ["compare", "examples/compare_liver.toml"])
    assert res.exit_code == 0, res.output
    assert "regional advantage" in res.output and "PHP (GEN2 filter)" in res.output
    assert "not a medical device" in res.output
    plot = tmp_path / "cmp.png"
    res = runner.invoke(app, ["compare", "examples/compare_liver.toml", "--format", "json", "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["isoperf_compare_json"] == 1 and "medical device" in out["disclaimer"]
    assert set(out["rows"][0]) == COLUMNS
    assert plot.stat().st_size > 1000


def test_cli_compare_errors_exit_2(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[procedures]]\ntype = "php"\nfilter_extraction = "1.5"\n'
                   '[[procedures.doses]]\ndrug = "melphalan"\namount = "100 mg"\nover = "30 min"\n')
    res = runner.invoke(app, ["compare", str(bad)])
    assert res.exit_code == 2
    assert "filter_extraction" in res.output and "outside [0, 1]" in res.output
    assert "Traceback" not in res.output


def test_cli_advantage() -> None:
    res = runner.invoke(app, ["advantage", "mitomycin_c", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["relative_error"]["collins"] < 1e-6
    res = runner.invoke(app, ["advantage", "5-FU", "--flow", "0.375 L/min", "--extraction", "0.5",
                              "--clearance", "1.44 L/min", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["formula"]["rd"] == pytest.approx(1 + 1.44 / (0.375 * 0.5))
    res = runner.invoke(app, ["advantage", "5-FU"])
    assert res.exit_code == 0 and "saturable" in res.output
    res = runner.invoke(app, ["advantage", "5-FU", "--flow", "0.375 L/min", "--extraction", "1.2"])
    assert res.exit_code == 2 and "[0, 1)" in res.output


def test_auc_advantage_of_hai_equals_collins_steady_state_advantage(liver) -> None:
    """For a linear drug, AUC(0-inf) ratios equal steady-state concentration ratios, so compare's HAI-vs-IV
    regional advantage (tumour) is the engine's Collins tumour advantage (24 h follow-up: melphalan is gone)."""
    from isoperf.analysis import regional_advantage

    rows = {r["protocol"]: r for r in liver.rows}
    rd = regional_advantage("melphalan", patient={"weight": "80 kg", "height": "178 cm", "sex": "male",
                                                  "tumour_fraction": "0.2"})
    assert rows["HAI"]["regional_advantage"] == pytest.approx(rd.analytic["tumour"], rel=1e-6)
