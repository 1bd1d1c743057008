"""The benchmark reference model, expressed as ordinary protocols, against an independent solution."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import isoperf
from isoperf.cli import app
from tests.reference_solution import TYP, solve_reference


def _cli_json(path: str) -> dict:
    res = CliRunner().invoke(app, ["simulate", path, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize(("file", "variant"), [("reference_model.toml", "A"), ("reference_model_mm.toml", "B")])
def test_cli_json_matches_independent_solution(examples, file, variant):
    out = _cli_json(str(examples / file))
    d = out["drugs"]["reference_drug"]
    ref = solve_reference(variant)
    pairs = {
        "tumour AUC": (d["auc"]["tumour"], ref["auc_tumour"]),
        "systemic AUC": (d["auc"]["systemic"], ref["auc_systemic"]),
        "liver AUC": (d["auc"]["liver"], ref["auc_liver"]),
        "eliminated": (d["fate"]["eliminated"], ref["eliminated"]),
        "washout": (d["fate"]["washout"], ref["washout"]),
    }
    for name, (got, want) in pairs.items():
        assert got == pytest.approx(want, rel=1e-6), name
    assert d["fate"]["leaked"] == pytest.approx(ref["leaked"], rel=1e-6)
    assert d["fate"]["remaining"] == pytest.approx(ref["remaining"], rel=1e-4, abs=1e-9)
    assert d["mass_balance_error"] <= 1e-9
    assert d["dose"] == pytest.approx(1000.0)


def test_variant_a_matches_analytic_eigen_solution(examples):
    """reference_model.md, 'Variant A structure': x(t) = D^-1/2 U exp(L t) U^T D^1/2 x0 per phase."""
    th = TYP
    names = ["circ", "liv", "tum", "sys", "per"]
    vol = np.array([th["V_circ"], th["V_liv"], th["V_tum"], th["V_sys"], th["V_per"]])

    def s_matrix(p: float) -> np.ndarray:
        s = np.zeros((5, 5))

        def flow(i: int, j: int, q: float) -> None:
            s[i, i] -= q
            s[j, j] -= q
            s[i, j] += q
            s[j, i] += q

        flow(0, 1, p * ((1 - th["f_tum"]) * th["Q_ha"] + th["Q_pv"]))
        flow(0, 2, p * th["f_tum"] * th["Q_ha"])
        flow(0, 3, p * th["Q_leak"])
        flow(3, 1, (1 - p) * th["Q_h"])
        flow(3, 2, (1 - p) * th["f_tum"] * 0.25 * th["Q_h"])
        flow(3, 4, th["Q_per"])
        s[1, 1] -= th["CL_int"]
        s[3, 3] -= th["CL_sys"]
        return s

    def phase(p: float, x0: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        dh = 1 / np.sqrt(vol)
        m = dh[:, None] * s_matrix(p) * dh[None, :]
        keep = np.ones(5, bool) if p else np.arange(5) != 0
        lam, u = np.linalg.eigh(m[np.ix_(keep, keep)])
        y0 = (dh * x0)[keep]
        c = u.T @ y0
        x = np.zeros(5)
        x[keep] = (u @ (np.exp(lam * t) * c)) / dh[keep]
        integ = np.zeros(5)
        integ[keep] = (u @ (np.expm1(lam * t) / lam * c)) / dh[keep]  # integral of amounts
        return x, integ

    x60, i1 = phase(1.0, np.array([1000.0, 0, 0, 0, 0]), 60.0)
    x60[0] = 0.0
    _, i2 = phase(0.0, x60, 1380.0)
    auc = (i1 + i2) / vol
    res = isoperf.simulate(examples / "reference_model.toml")
    m = res.metrics["reference_drug"]
    for k, name in ((1, "liver"), (2, "tumour"), (3, "systemic")):
        assert m.auc[name] == pytest.approx(auc[k], rel=1e-9), names[k]


def test_reference_mass_balance_and_pre_washout_reporting(examples):
    res = isoperf.simulate(examples / "reference_model.toml")
    ts = res.timeseries()
    circ = ts[(ts.compartment == "circuit")].set_index("time_min")["concentration_mg_L"]
    assert len(circ) == 1441
    assert circ.loc[60.0] > 0  # pre-washout value at the event time
    assert (circ.loc[61.0:] == 0).all()
    assert res.metrics["reference_drug"].mass_balance_error <= 1e-9
