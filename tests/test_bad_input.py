"""Bad input: one clear message naming the field; exit code 2 and no traceback at the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import isoperf
from isoperf.cli import app
from tests.protocols import ilp

CASES = {
    "negative volume": ({"procedures.0.circuit_volume": "-1.5 L"}, "procedures[0].circuit_volume", "negative"),
    "zero volume": ({"procedures.0.circuit_volume": "0 L"}, "procedures[0].circuit_volume", "zero"),
    "nan flow": ({"procedures.0.portal_vein_flow": "nan L/min"}, "procedures[0].portal_vein_flow", "finite"),
    "negative flow": ({"procedures.0.hepatic_artery_flow": "-0.3 L/min"}, "procedures[0].hepatic_artery_flow",
                      "negative"),
    "no pump flow": ({"procedures.0.hepatic_artery_flow": "0 L/min", "procedures.0.portal_vein_flow": "0 L/min"},
                     "procedures[0].hepatic_artery_flow", "both zero"),
    "zero dose": ({"procedures.0.doses.0.amount": "0 mg"}, "procedures[0].doses[0].amount", "zero"),
    "nan dose": ({"procedures.0.doses.0.amount": "nan mg"}, "procedures[0].doses[0].amount", "finite"),
    "dose in litres": ({"procedures.0.doses.0.amount": "20 L"}, "procedures[0].doses[0].amount", "is a volume (L)"),
    "flow in mg": ({"procedures.0.portal_vein_flow": "0.5 mg"}, "procedures[0].portal_vein_flow",
                   "expected flow in L/min"),
    "bare number": ({"procedures.0.circuit_volume": 1.5}, "procedures[0].circuit_volume", "got 1.5"),
    "unknown drug": ({"procedures.0.doses.0.drug": "mitomicin"}, "procedures[0].doses[0].drug",
                     "did you mean 'mitomycin_c'"),
    "typo key": ({"procedures.0.portal_flow": "0.5 L/min"}, "procedures[0].portal_flow",
                 "did you mean 'portal_vein_flow'"),
    "typo patient key": ({"patient.wieght": "70 kg"}, "patient.wieght", "did you mean 'weight'"),
    "washout before dose": ({"procedures.0.doses.0.at": "70 min"}, "procedures[0].doses[0].at",
                            "after the washout at 60 min"),
    "dose above maximum": ({"procedures.0.doses.0.amount": "60 mg"}, "procedures[0].doses[0].amount",
                           "above the published maximum 50 mg"),
    "dose below minimum": ({"procedures.0.doses.0.amount": "2 mg"}, "procedures[0].doses[0].amount",
                           "below the published minimum 5 mg"),
    "unknown procedure": ({"procedures.0.type": "ilq"}, "procedures[0].type", "ilp"),
    "temperature absurd": ({"procedures.0.temperature": "80 degC"}, "procedures[0].temperature", "20-45 degC"),
    "until before end": ({"output.until": "30 min"}, "output.until", "before the last procedure"),
    "missing duration": ({"procedures.0.duration": None}, "procedures[0].duration", "missing"),
    "wrong weight unit": ({"patient.weight": "70 L"}, "patient.weight", "expected body mass in kg"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_names_the_field(case):
    changes, field, fragment = CASES[case]
    with pytest.raises(isoperf.IsoperfError) as info:
        isoperf.simulate(ilp(**changes))
    msg = str(info.value)
    assert field in msg, msg
    assert fragment in msg, msg


@pytest.mark.parametrize(("amount", "flag"), [("60 mg", "ABOVE PUBLISHED MAXIMUM"), ("2 mg", "BELOW PUBLISHED RANGE")])
def test_outside_range_runs_when_explicitly_allowed_and_is_flagged(amount, flag):
    p = ilp(**{"procedures.0.doses.0.amount": amount})
    p["procedures"][0]["doses"][0]["allow_outside_range"] = True
    res = isoperf.simulate(p)
    assert any(flag in f for f in res.flags)
    assert res.to_dict()["flags"] == res.flags


@pytest.mark.parametrize("text,field", [
    ('name = "x"\n[[procedures]]\ntype = "ilp"\nduration = "60 min"\ncircuit_volume = "-1 L"\n'
     'hepatic_artery_flow = "0.3 L/min"\nportal_vein_flow = "0.5 L/min"\n'
     '[[procedures.doses]]\ndrug = "mitomycin_c"\namount = "20 mg"\n', "procedures[0].circuit_volume"),
    ('name = "x"\n[[procedures]]\ntype = "ilp"\nduration = "60 min"\ncircuit_volume = "1 L"\n'
     'hepatic_artery_flow = "0.3 L/min"\nportal_vein_flow = "0.5 L/min"\n'
     '[[procedures.doses]]\ndrug = "5-FU"\namount = "2000 mg"\n', "procedures[0].doses[0].amount"),
    ('name = "x"\n[[procedures]\n', "protocol"),
])
def test_cli_exit_code_2_and_message(tmp_path, text, field):
    f = tmp_path / "p.toml"
    f.write_text(text)
    res = CliRunner().invoke(app, ["simulate", str(f)])
    assert res.exit_code == 2
    assert field in res.output
    assert "Traceback" not in res.output


def test_cli_missing_file(tmp_path):
    res = CliRunner().invoke(app, ["simulate", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2
    assert "not found" in res.output


def test_a_comparison_file_given_to_simulate_says_what_to_run(examples):
    res = CliRunner().invoke(app, ["simulate", str(examples / "compare_liver.toml")])
    assert res.exit_code == 2
    assert "isoperf compare" in res.output
