"""Exposure -> kill (Bliss), Gompertz tumour dynamics against scipy, parameter provenance."""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from isoperf._errors import InputError
from isoperf.response import (
    UNITS,
    TumourState,
    bliss_fraction_affected,
    bliss_log_kill,
    crossing_time,
    drug_log_kill,
    gompertz_rate,
    load_parameters,
    sum_of_diameters,
)


@pytest.fixture(scope="module")
def params():
    return load_parameters()


def test_every_parameter_has_provenance():
    raw = tomllib.loads(resources.files("isoperf").joinpath("data/response/model.toml").read_text("utf-8"))
    table = raw["parameters"]
    assert set(table) == set(UNITS)
    for name, p in table.items():
        has_source = bool(p.get("source"))
        labelled = bool(p.get("estimate")) or bool(p.get("fitted"))
        assert has_source or labelled, name
        if labelled and not has_source:
            assert p.get("note"), f"{name}: an estimate / fitted value needs a note"


def test_parameter_without_provenance_is_refused(params):
    with pytest.raises(InputError, match="provenance"):
        params.updated({"fu_emax": {"value": 3.0}}, where="test")
    with pytest.raises(InputError, match="unknown parameter"):
        params.updated({"fu_emx": {"value": 3.0, "estimate": True, "note": "x"}}, where="test")
    with pytest.raises(InputError, match="bare number"):
        params.updated({"dead_cell_half_life": {"value": 3.0, "estimate": True, "note": "x"}}, where="test")


def test_units_are_converted(params):
    assert params["dead_cell_half_life"] == pytest.approx(14 / (365.25 / 12))
    assert params["detection_diameter"] == pytest.approx(10.0)
    assert params["background_gompertz_b"] == pytest.approx(0.075)


def test_emax_and_log_linear_kill(params):
    auc50 = params["fu_auc50"]
    assert drug_log_kill("fluorouracil", auc50, params) == pytest.approx(params["fu_emax"] / 2)
    a = np.linspace(0, 5 * auc50, 50)
    assert np.all(np.diff(drug_log_kill("fluorouracil", a, params)) > 0)
    k = params["mmc_log_kill_per_auc"]
    assert drug_log_kill("mitomycin_c", 150.0, params) == pytest.approx(150.0 * k)
    assert drug_log_kill("mitomycin_c", 300.0, params) == pytest.approx(2 * drug_log_kill("mitomycin_c", 150.0, params))
    with pytest.raises(KeyError):
        drug_log_kill("aspirin", 1.0, params)


def test_bliss_independence(params):
    aucs = {"fluorouracil": 9000.0, "mitomycin_c": 150.0, "cisplatin": 600.0}
    combined = bliss_log_kill(aucs, params)
    fa = [1 - np.exp(-drug_log_kill(d, a, params)) for d, a in aucs.items()]
    # the surviving fractions multiply: fraction affected 1 - prod(1 - fa_i)
    assert 1 - np.exp(-combined) == pytest.approx(float(bliss_fraction_affected(fa)), rel=1e-12)
    assert bliss_fraction_affected([0.5, 0.5]) == pytest.approx(0.75)


def test_gompertz_growth_matches_ode():
    cap, ref, dt_ = 1.6, 0.016, 1.3
    beta = float(gompertz_rate(dt_, cap, ref))
    # instantaneous doubling time at the reference volume
    assert np.log(2) / (beta * np.log(cap / ref)) == pytest.approx(dt_)
    st = TumourState.at_baseline(np.array([0.4]), np.array([0.01]))
    st.kill(np.array([3.0]), 0.1)
    s0, r0, d0 = st.sensitive[0], st.resistant[0], st.dead[0]
    kd = 0.7

    def rhs(_t, y):
        v = y[0] + y[1]
        g = beta * np.log(cap / v)
        return [g * y[0], g * y[1], -kd * y[2]]

    sol = solve_ivp(rhs, (0, 7.5), [s0, r0, d0], method="DOP853", rtol=1e-12, atol=1e-15, dense_output=True)
    for t in (0.5, 2.0, 7.5):
        st.advance(t, np.array([beta]), np.array([cap]), kd)
        np.testing.assert_allclose([st.sensitive[0], st.resistant[0], st.dead[0]], sol.sol(t), rtol=1e-8)


def test_crossing_time_is_the_root():
    cap, beta = 1.5, 0.12
    v0, thr = np.array([0.01, 0.3, 1.3]), np.array([1.2, 1.2, 1.2])
    t = crossing_time(v0, thr, np.full(3, beta), np.full(3, cap), 0.0, np.inf)
    assert t[2] == 0.0
    for i in (0, 1):
        st = TumourState.at_baseline(v0[i:i + 1], np.zeros(1))
        st.advance(float(t[i]), np.array([beta]), np.array([cap]), 0.0)
        assert st.viable[0] == pytest.approx(1.2, rel=1e-10)
    assert np.isinf(crossing_time(np.array([0.01]), np.array([1.2]), np.array([beta]), np.array([cap]), 0.0, 1.0))[0]
    assert np.isinf(crossing_time(np.array([0.01]), np.array([1.6]), np.array([beta]), np.array([cap]), 0.0, np.inf))[0]


def test_kill_conserves_volume_and_spares_resistant_cells():
    st = TumourState.at_baseline(np.array([0.5, 0.5]), np.array([0.1, 0.1]))
    before = st.measured.copy()
    st.kill(np.array([5.0, 5.0]), 0.1, mask=np.array([True, False]))
    np.testing.assert_allclose(st.measured, before)
    assert st.sensitive[0] == pytest.approx(0.45 * np.exp(-5.0))
    assert st.resistant[0] == pytest.approx(0.05 * np.exp(-0.5))
    assert st.dead[1] == 0.0


def test_sum_of_diameters():
    # 2 lesions of 0.5 L each: spheres of diameter (6 V / pi)^(1/3)
    d = (6 * 0.5e6 / np.pi) ** (1 / 3)
    assert sum_of_diameters(1.0, 2, 10.0) == pytest.approx(2 * d)
    assert sum_of_diameters(1e-7, 2, 10.0) == 0.0  # below the detection diameter: disappeared
