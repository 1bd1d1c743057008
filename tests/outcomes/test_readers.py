"""Readers: ADTTE details, REDCap decoding, mapping files, dates -> months."""

from __future__ import annotations

from pathlib import Path

import pytest

from isoperf._errors import InputError
from isoperf.outcomes import DAYS_PER_MONTH, load_cohort, read_cohort, read_mapping, validate_cohort

EX = Path(__file__).resolve().parents[2] / "examples" / "cohort"


def test_month_length() -> None:
    assert DAYS_PER_MONTH == 30.4375


def test_adtte_cnsr_and_params(tmp_path: Path) -> None:
    p = tmp_path / "adtte.csv"
    p.write_text(
        "USUBJID,PARAMCD,AVAL,AVALU,CNSR,STARTDT,TRT01P\n"
        "S1,OS,365.25,DAYS,0,2020-01-01,A\n"
        "S1,PFS,100,DAYS,0,2020-01-01,A\n"
        "S2,OS,30.4375,DAYS,2,2020-02-01,B\n"  # ADaM: any CNSR > 0 is a censoring
        "S2,PFS,30.4375,DAYS,1,2020-02-01,B\n")
    c = load_cohort(p).cohort
    assert c["os_time"].tolist() == [12.0, 1.0]
    assert c["os_event"].tolist() == [1, 0]
    assert c["pfs_event"].tolist() == [1, 0] and c["arm"].tolist() == ["A", "B"]


def test_adtte_bad_cnsr_reported(tmp_path: Path) -> None:
    p = tmp_path / "adtte.csv"
    p.write_text("USUBJID,PARAMCD,AVAL,CNSR\nS1,OS,10,0\nS2,OS,-4,x\n")
    rep = validate_cohort(read_cohort(p))
    assert {(q.row, q.column) for q in rep.problems} == {(2, "os_time"), (2, "os_event")}


def test_adtte_missing_core_column(tmp_path: Path) -> None:
    p2 = tmp_path / "adtte2.csv"
    p2.write_text("USUBJID,PARAMCD,AVAL\nS1,OS,10\n")
    with pytest.raises(InputError, match="CNSR"):
        read_cohort(p2, format="adtte")


def test_redcap_needs_dictionary() -> None:
    with pytest.raises(InputError, match="data dictionary"):
        read_cohort(EX / "founding_synthetic_redcap.csv", format="redcap")


def test_redcap_decodes_choices() -> None:
    df = read_cohort(EX / "founding_synthetic_redcap.csv", dictionary=EX / "founding_synthetic_redcap_dictionary.csv")
    assert set(df["best_response"]) == {"CR", "PR", "SD", "PD", "NE"}
    assert set(df["sex"]) == {"male", "female"} and "record_id" not in df.columns


def test_mapping_file_json(tmp_path: Path) -> None:
    m = tmp_path / "m.json"
    m.write_text('{"columns": {"os_time": "t"}, "event_codes": {"dead": 1, "alive": 0}, "time_unit": "days"}')
    mp = read_mapping(m)
    assert mp.columns == {"os_time": "t"} and mp.event_codes == {"dead": 1, "alive": 0} and mp.time_unit == "days"
    bad = tmp_path / "b.json"
    bad.write_text('{"colums": {}}')
    with pytest.raises(InputError, match="unknown keys"):
        read_mapping(bad)


def test_dates_give_months_and_operative_deaths() -> None:
    c = load_cohort(EX / "founding_synthetic.csv").cohort
    days = (c["death_date"].fillna(c["last_followup_date"]) - c["procedure_date"]).dt.days
    assert (c["os_time"] == days / 30.4375).all()
    assert int(c["operative_death"].sum()) == 4
    assert (c.loc[c["operative_death"] == 1, "os_time"] <= 30 / 30.4375).all()
