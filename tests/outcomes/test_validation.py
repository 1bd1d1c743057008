"""One bad-input file per validation rule, each with its specific message; all problems in one pass."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from isoperf._errors import InputErrors
from isoperf.cli import app
from isoperf.outcomes import Mapping, load_cohort, read_cohort, validate_cohort

BAD = Path(__file__).parent / "data" / "bad"

CASES = {
    "missing_column.csv": ["column 'os_event': required column is missing"],
    "negative_time.csv": ["row 2, column 'os_time': value '-3.5': time is negative"],
    "nonnumeric_time.csv": ["row 3, column 'os_time': value 'about 8': time is not a number"],
    "event_codes.csv": ["row 2, column 'os_event': value '2': event code outside the declared coding 0 = censored, "
                        "1 = event"],
    "death_before_treatment.csv": ["row 2, column 'death_date': value '1983-04-20': death date is before the "
                                   "procedure date 1983-05-02"],
    "duplicate_ids.csv": ["row 3, column 'patient_id': value 'P1': duplicate patient id (first seen in row 1)"],
    "unknown_response.csv": ["row 3, column 'best_response': value 'MR': unknown response code"],
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_rule_gives_its_message(name: str) -> None:
    with pytest.raises(InputErrors) as exc:
        load_cohort(BAD / name)
    msgs = [str(e) for e in exc.value.errors]
    assert len(msgs) == len(CASES[name]), msgs
    for expected, got in zip(CASES[name], msgs, strict=True):
        assert got.startswith(expected), got


def test_all_problems_in_one_pass() -> None:
    rep = validate_cohort(read_cohort(BAD / "many_problems.csv"))
    found = {(p.row, p.column) for p in rep.problems}
    assert found == {(2, "os_time"), (3, "os_event"), (3, "best_response"), (3, "patient_id"), (4, "os_time")}
    assert not rep.ok


def test_explicit_exclusion_is_counted_not_silent() -> None:
    rep = validate_cohort(read_cohort(BAD / "many_problems.csv"), exclude_invalid=True)
    assert rep.ok
    assert rep.n_input == 4 and len(rep.cohort) == 1 and rep.n_excluded == 3
    assert list(rep.excluded["row"]) == [2, 3, 4]


def test_declared_event_coding_is_accepted(data_dir: Path) -> None:
    df = read_cohort(data_dir / "lung.csv", mapping=Mapping(columns={"os_time": "time", "os_event": "status"},
                                                            event_codes={"1": 0, "2": 1}))
    rep = validate_cohort(df, required=["os_time", "os_event"])
    assert rep.ok
    assert rep.cohort["os_event"].sum() == 165


def test_code_outside_declared_mapping_is_reported() -> None:
    df = pd.DataFrame({"patient_id": ["a", "b"], "os_time": [1, 2], "os_event": [1, 3]})
    rep = validate_cohort(df, mapping=Mapping(event_codes={"1": 0, "2": 1}))
    assert len(rep.problems) == 1
    assert str(rep.problems[0]) == ("row 2, column 'os_event': value 3: code outside the declared coding "
                                    "(1=0, 2=1); add the code to the event mapping")


@pytest.mark.parametrize("name", list(CASES))
def test_cli_reports_without_traceback(name: str) -> None:
    res = CliRunner().invoke(app, ["cohort", "analyze", str(BAD / name)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert CASES[name][0].split(":")[0] in res.output.replace("\n", " ")


def test_cli_exclude_invalid_counts_rows() -> None:
    res = CliRunner().invoke(app, ["cohort", "analyze", str(BAD / "many_problems.csv"), "--exclude-invalid",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    import json

    d = json.loads(res.stdout)
    assert d["n_input"] == 4 and d["excluded"]["n"] == 3 and d["overall"]["n"] == 1
