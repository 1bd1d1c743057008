"""IIV on the pump flows carries over to a washout flush that runs at the pump flow."""

from __future__ import annotations

import copy
import tomllib

import pytest

import isoperf


def test_washout_flush_follows_each_patients_pump_flow(examples):
    pop = {"n": 3, "seed": 3, "iiv": {"hepatic_artery_flow": {"cv": 0.3}, "portal_vein_flow": {"cv": 0.3}}}
    table = isoperf.simulate_population(examples / "seed_ilp.toml", pop, n=3, seed=3).table
    base = tomllib.loads((examples / "seed_ilp.toml").read_text())
    assert "flow" not in base["procedures"][0]["washout"]  # the flush runs at the pump flow
    for i in range(3):
        proto = copy.deepcopy(base)
        proc = proto["procedures"][0]
        proc["hepatic_artery_flow"] = f"{float(table['procedures[0].hepatic_artery_flow'][i])!r} L/min"
        proc["portal_vein_flow"] = f"{float(table['procedures[0].portal_vein_flow'][i])!r} L/min"
        single = isoperf.simulate(proto)
        for drug in ("fluorouracil", "mitomycin_c"):
            m = single.metrics[drug]
            assert table[f"{drug}.auc.systemic"][i] == pytest.approx(m.auc["systemic"], rel=1e-8)
            assert table[f"{drug}.fate.washout"][i] == pytest.approx(m.fate["washout"], rel=1e-8)
