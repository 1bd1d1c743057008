"""Every regional example runs, balances its mass (filter, washout and leak included) and says what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

import isoperf

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODALITY = {"php_melphalan.toml": "php", "limb_melphalan.toml": "limb", "hai_5fu_cycles.toml": "hai",
            "systemic_5fu.toml": "iv"}


@pytest.mark.parametrize("name", list(MODALITY))
def test_example_runs_with_mass_balance(name: str) -> None:
    text = (EXAMPLES / name).read_text("utf-8")
    assert "not a medical device" in text  # documented, with the disclaimer
    r = isoperf.simulate(EXAMPLES / name)
    assert MODALITY[name] in {p.kind for p in r.plan.procedures}
    for m in r.metrics.values():
        assert m.mass_balance_error <= 1e-9
        parts = m.fate["remaining"] + m.fate["eliminated"] + m.fate["washout"] + m.fate["filtered"]
        assert parts == pytest.approx(m.dose, rel=1e-9)


def test_php_example_filters_and_repeats() -> None:
    r = isoperf.simulate(EXAMPLES / "php_melphalan.toml")
    assert [p.name for p in r.plan.procedures] == ["PHP #1 cycle 1", "PHP #1 cycle 2"]
    assert r.metrics["melphalan"].fate["filtered"] > 0.8 * r.metrics["melphalan"].dose


def test_sequence_example_flags_cumulative_mitomycin() -> None:
    r = isoperf.simulate(EXAMPLES / "hai_5fu_cycles.toml")
    assert r.to_dict()["cumulative"]["mitomycin_c"]["above_limit"] is True
    assert any("CUMULATIVE" in f and "mitomycin_c" in f for f in r.flags)
