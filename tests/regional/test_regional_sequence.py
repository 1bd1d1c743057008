"""Treatment sequences: chained procedures, per-procedure and cumulative metrics, overlap errors."""

from __future__ import annotations

import numpy as np
import pytest
from regional_protocols import PATIENT, php

import isoperf
from isoperf import InputError
from isoperf.analysis import per_procedure

ILP = {"type": "ilp", "name": "ILP", "duration": "60 min", "circuit_volume": "1.5 L",
       "hepatic_artery_flow": "0.3 L/min", "portal_vein_flow": "0.5 L/min", "leak": "0.01 L/min",
       "washout": {"duration": "5 min"}, "doses": [{"drug": "mitomycin_c", "amount": "30 mg"}]}
HAI = {"type": "hai", "name": "HAI", "start": "3 days", "cycles": 3, "interval": "7 days",
       "doses": [{"drug": "mitomycin_c", "amount": "10 mg", "over": "120 min"}]}


def _seq() -> dict:
    return {"name": "seq", "patient": dict(PATIENT), "procedures": [dict(ILP), dict(HAI)],
            "output": {"until": "20 days", "step": "7 min"}}


def test_cycles_become_procedures_and_windows_add_up() -> None:
    r = isoperf.simulate(_seq())
    assert [p.name for p in r.plan.procedures] == ["ILP", "HAI"]
    assert r.plan.procedures[1].cycle_starts == [4320.0, 4320.0 + 10080.0, 4320.0 + 20160.0]
    rows = per_procedure(r)  # window starts (4320 ...) are off the 7-min grid: solved again on them
    assert [(x["procedure"], x["cycle"]) for x in rows] == [("ILP", 1), ("HAI", 1), ("HAI", 2), ("HAI", 3)]
    m = r.metrics["mitomycin_c"]
    for c in ("liver", "tumour", "systemic"):
        assert sum(x["auc"][c] for x in rows) == pytest.approx(m.auc[c], rel=1e-9)
    assert sum(x["dose_mg"] for x in rows) == pytest.approx(m.dose)
    hai = [x for x in rows if x["type"] == "hai"]
    # linear drug, cycles a week apart: the 2nd and 3rd cycle windows see almost the same exposure
    assert hai[1]["auc"]["systemic"] == pytest.approx(hai[2]["auc"]["systemic"], rel=1e-3)
    assert m.mass_balance_error <= 1e-9


def test_cumulative_mitomycin_against_its_renal_threshold() -> None:
    r = isoperf.simulate(_seq())
    cum = r.to_dict()["cumulative"]["mitomycin_c"]
    bsa = r.plan.patient.bsa
    assert cum["total_mg"] == pytest.approx(60.0)
    assert cum["total_mg_per_m2"] == pytest.approx(60.0 / bsa)
    assert cum["limit"] == "30 mg/m2" and "Verweij" in cum["limit_source"]
    assert cum["above_limit"] is (60.0 / bsa > 30.0)
    assert any("CUMULATIVE" in f for f in r.flags) is cum["above_limit"]
    one = _seq()
    one["procedures"][1] = {**HAI, "cycles": 1}
    cum1 = isoperf.simulate(one).to_dict()["cumulative"]["mitomycin_c"]
    assert cum1["total_mg"] == pytest.approx(40.0) and cum1["above_limit"] is False


def test_php_every_six_weeks() -> None:
    spec = php(cycles=3, interval="6 weeks")
    spec["output"] = {"until": "100 days", "step": "30 min"}
    r = isoperf.simulate(spec)
    assert [p.start for p in r.plan.procedures] == [0.0, 60480.0, 120960.0]
    m = r.metrics["melphalan"]
    assert m.mass_balance_error <= 1e-9
    assert m.dose == pytest.approx(3 * r.plan.procedures[0].doses[0].amount)
    rows = per_procedure(r)
    sys_auc = [x["auc"]["systemic"] for x in rows]
    assert np.allclose(sys_auc, sys_auc[0], rtol=1e-6)  # melphalan is gone long before the next cycle


def test_overlapping_procedures_are_an_error() -> None:
    spec = _seq()
    spec["procedures"][1] = {**HAI, "start": "30 min"}
    with pytest.raises(InputError) as exc:
        isoperf.simulate(spec)
    assert exc.value.field == "procedures[1].start"
    assert "before ILP ends" in str(exc.value) and "must not overlap" in str(exc.value)


def test_cycle_interval_shorter_than_the_procedure_is_an_error() -> None:
    spec = php(cycles=2, interval="45 min")  # each PHP lasts 60 min
    with pytest.raises(InputError) as exc:
        isoperf.simulate(spec)
    assert exc.value.field == "procedures[0].interval"
    assert "overlap" in str(exc.value)


def test_isolated_procedures_share_one_circuit_volume() -> None:
    spec = _seq()
    spec["procedures"] = [dict(ILP), {**ILP, "name": "ILP2", "start": "2 days", "circuit_volume": "2 L"}]
    with pytest.raises(InputError) as exc:
        isoperf.simulate(spec)
    assert exc.value.field == "procedures[1].circuit_volume"


def test_window_boundaries_off_the_grid_need_no_second_solve(monkeypatch) -> None:
    """Procedure and cycle starts are segment boundaries, whose states the trajectory keeps."""
    import isoperf.analysis._sequence as seq

    spec = {"patient": {"tumour_volume": "0.2 L"}, "output": {"step": "7 min"},
            "procedures": [{"type": "hai", "start": "100 min", "cycles": 2, "interval": "1 d",
                            "doses": [{"drug": "mitomycin_c", "amount": "10 mg", "over": "2 h"}]}]}
    r = isoperf.simulate(spec)
    monkeypatch.setattr(seq, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("second solve")))
    rows = seq.per_procedure(r)
    assert sum(x["auc"]["systemic"] for x in rows) == pytest.approx(r.metrics["mitomycin_c"].auc["systemic"],
                                                                    rel=1e-9)
