"""Plot grid contract, at-risk numbers, and exact binomial CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isoperf.outcomes import TimeGrid, at_risk_table, kaplan_meier, plot_km, proportion, response_rates

DATA = Path(__file__).parent / "data"


def _vet_curves() -> list:
    df = pd.read_csv(DATA / "veteran.csv")
    return [kaplan_meier(s["time"], s["status"], label=str(k)) for k, s in df.groupby("trt")]


def test_axis_ticks_and_table_share_one_grid() -> None:
    curves = _vet_curves()
    fig, table, grid = plot_km(curves)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_xticks(), np.array(grid.ticks))
    assert list(table.columns) == list(grid.ticks)
    # the numbers drawn under the axis sit at the tick positions
    tab_ax = fig.axes[1]
    xs = sorted({round(t.get_position()[0], 9) for t in tab_ax.texts})
    assert xs == sorted(round(t, 9) for t in grid.ticks)


def test_explicit_grid_is_used() -> None:
    grid = TimeGrid.from_max(400, step=100)
    assert grid.ticks == (0, 100, 200, 300, 400)
    fig, table, g = plot_km(_vet_curves(), grid=grid)
    assert g is grid and list(fig.axes[0].get_xticks()) == [0, 100, 200, 300, 400]


def test_at_risk_counts_match_km_table() -> None:
    """At risk at t = patients with time >= t (R's n.risk at t); events / censored cumulative to t."""
    km = _vet_curves()[0]
    grid = TimeGrid((0.0, 8.0, 100.0, 999.0))
    t = at_risk_table([km], grid)
    d = np.asarray(km.fitter.durations)
    e = np.asarray(km.fitter.event_observed)
    assert t.loc[(km.label, "at risk")].tolist() == [len(d), (d >= 8).sum(), (d >= 100).sum(), (d >= 999).sum()]
    row8 = km.table[km.table.time == 8].iloc[0]
    assert t.loc[(km.label, "at risk"), 8.0] == row8.n_risk
    assert t.loc[(km.label, "events"), 999.0] == e.sum()
    assert t.loc[(km.label, "events"), 100.0] + t.loc[(km.label, "censored"), 100.0] + \
        t.loc[(km.label, "at risk"), 100.0] >= len(d)


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    # R: binom.test(k, n)$conf.int
    (9, 41, 0.10560803322606095, 0.37613746543400262),
    (28, 41, 0.51913361316107565, 0.81915060309171606),
    (4, 50, 0.022227963654929777, 0.192342783595962796),
    (9, 17, 0.27811830033110652, 0.77016731273400962),
    (0, 10, 0.0, 0.30849710781876083),
])
def test_clopper_pearson_matches_r_binom_test(k: int, n: int, lo: float, hi: float) -> None:
    p = proportion(k, n)
    assert p.ci[0] == pytest.approx(lo, rel=1e-9, abs=1e-15) and p.ci[1] == pytest.approx(hi, rel=1e-9)


def test_response_rates_count_missing_in_denominator() -> None:
    rr = response_rates(pd.Series(["CR", "PR", "PR", None, "SD"], dtype="string"))
    s = rr.summary
    assert s.loc["ORR", "n"] == 3 and s.loc["ORR", "of"] == 5 and s.loc["missing", "n"] == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.booleans()), min_size=1, max_size=40))
def test_at_risk_table_accounts_for_every_patient(obs: list[tuple[int, bool]]) -> None:
    t = np.array([o[0] for o in obs], dtype=float)
    e = np.array([int(o[1]) for o in obs])
    km = kaplan_meier(t, e)
    grid = TimeGrid.from_max(float(t.max()) if t.max() > 0 else 1.0)
    tab = at_risk_table([km], grid)
    at_risk = tab.loc[("overall", "at risk")].to_numpy()
    assert at_risk[0] == len(t) and np.all(np.diff(at_risk) <= 0)
    for tick in grid.ticks:
        gone = tab.loc[("overall", "events"), tick] + tab.loc[("overall", "censored"), tick]
        exactly_at = int((t == tick).sum())
        assert gone + tab.loc[("overall", "at risk"), tick] == len(t) + exactly_at
    # the KM confidence band contains the estimate wherever it is defined
    tb = km.table.dropna(subset=["lower", "upper"])
    assert np.all(tb["lower"] <= tb["surv"] + 1e-12) and np.all(tb["surv"] <= tb["upper"] + 1e-12)
