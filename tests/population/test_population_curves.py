"""Batched curves (the blocked closed-form evaluation of ``solve/_batched_exact.py`` and its fallbacks) equal
the single-patient engine's trajectory on the output grid, and the symmetric eigen-solver behind them is
accurate and independent of the other patients of its block."""

from __future__ import annotations

import numpy as np
import pytest

import isoperf
from isoperf.population import Sample, build_batch, solve_drug
from isoperf.population._batch import unstack_model
from isoperf.result._result import REPORTED
from isoperf.solve import run
from isoperf.solve._jacobi import eigh_many

from .protocols_population import REF_A, ROOT

REL = 1e-8


def _curves_vs_single(path, n: int, seed: int) -> float:
    plan = isoperf.build_plan(isoperf.load_protocol(path))
    rng = np.random.default_rng(seed)
    factors = {k: np.exp(0.3 * rng.standard_normal(n)) for k in
               ("hepatic_artery_flow", "portal_vein_flow", "central_volume", "extrahepatic_clearance", "leak",
                "perfusion_flow", "limb_volume")}
    models, _, _ = build_batch(plan, Sample(np.arange(n), {}, factors))
    worst = 0.0
    for model in models.values():
        curves = np.full((n, len(REPORTED), plan.grid.size), np.nan)
        out = solve_drug(model, plan.grid, n, curves=curves)
        rows = [out.layout.comp[c] for c in REPORTED]
        for i in range(n):
            single = unstack_model(model, i)
            traj = run(single, plan.grid)
            inv = np.array([1.0 / (c.volume * c.kp) for c in single.compartments])
            ref = (traj.states[:, rows] * inv[rows]).T
            peak = np.maximum(np.max(np.abs(ref), axis=1, keepdims=True), 1e-300)
            worst = max(worst, float(np.max(np.abs(curves[i] - ref) / peak)))
    return worst


@pytest.mark.parametrize("path", [REF_A, ROOT / "examples" / "limb_melphalan.toml",
                                  ROOT / "examples" / "hai_5fu_cycles.toml", ROOT / "examples" / "seed_ilp.toml"],
                         ids=["reference A (5 modes, then 4)", "limb (6 compartments)", "HAI infusions",
                              "5-FU saturable + MMC"])
def test_batched_curves_equal_single_engine(path):
    assert _curves_vs_single(path, 40, seed=2) < REL


def test_jacobi_matches_lapack_and_keeps_uncoupled_compartments_exact():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((300, 6, 6))
    m = m + m.transpose(0, 2, 1)
    m[:100, 2, :] = 0.0  # an uncoupled compartment (e.g. the emptied circuit)
    m[:100, :, 2] = 0.0
    m[:100, 2, 2] = -0.7
    lam, vec = eigh_many(m)
    recon = np.einsum("pij,pj,pkj->pik", vec, lam, vec)
    assert np.max(np.abs(recon - m)) < 1e-13 * np.max(np.abs(m))
    assert np.max(np.abs(np.einsum("pji,pjk->pik", vec, vec) - np.eye(6))) < 1e-14
    assert np.allclose(np.sort(lam, axis=1), np.linalg.eigvalsh(m), rtol=0, atol=1e-13 * np.max(np.abs(m)))
    k = np.argmax(np.abs(vec[:100, 2, :]), axis=1)  # the uncoupled one: exactly its diagonal, exactly e_2
    assert np.all(lam[np.arange(100), k] == -0.7)
    assert np.all(vec[np.arange(100), 2, k] == 1.0)
    assert np.all(np.abs(vec[np.arange(100), 2, :]).sum(axis=1) == 1.0)


def test_jacobi_lane_does_not_depend_on_its_neighbours():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((64, 5, 5))
    m = m + m.transpose(0, 2, 1)
    lam_all, vec_all = eigh_many(m, lanes=32)
    for i in (0, 17, 63):
        lam_1, vec_1 = eigh_many(m[i:i + 1], lanes=8)  # alone, in another lane width
        assert np.array_equal(lam_1[0], lam_all[i])
        assert np.array_equal(vec_1[0], vec_all[i])


def test_mass_balance_rows_flags_lost_mass_and_nan():
    from isoperf.solve._batched_exact import mass_balance_rows

    # states: 2 compartments, sink at 2, a counter at 3 (not held), dosed at 4
    x = np.array([[60.0, 30.0, 10.0, 99.0, 100.0],   # balanced
                  [60.0, 30.0, 9.0, 0.0, 100.0],     # 1 mg lost
                  [np.nan, 30.0, 10.0, 0.0, 100.0],  # broken
                  [0.0, 0.0, 0.0, 0.0, 0.0]])        # nothing dosed
    err = np.zeros(4)
    mass_balance_rows(x, 2, np.array([2]), 4, err)
    assert err[0] == 0.0
    assert err[1] == pytest.approx(0.01, rel=1e-12)
    assert np.isnan(err[2])
    assert err[3] == 0.0
    mass_balance_rows(np.zeros((4, 5)), 2, np.array([2]), 4, err)  # a later check keeps the worst (and NaN)
    assert err[1] == pytest.approx(0.01, rel=1e-12) and np.isnan(err[2])


def _staged_and_in_place(plan, n: int, saturable: str, monkeypatch) -> tuple[list, list, list]:
    """Every drug of ``plan`` solved twice: the curves of the earlier segments staged (copied in front of the
    last segment's rows) and written in place. Returns both outcomes and whether the first was staged."""
    import isoperf.population._run as run_mod

    rng = np.random.default_rng(5)
    factors = {k: np.exp(0.3 * rng.standard_normal(n)) for k in ("hepatic_artery_flow", "central_volume")}
    models, _, _ = build_batch(plan, Sample(np.arange(n), {}, factors))
    outs: list[list] = [[], []]
    staged = []
    for k, share in enumerate((1.0, -1.0)):
        monkeypatch.setattr(run_mod, "STAGE_MAX_SHARE", share)
        for model in models.values():
            curves = np.full((n, len(REPORTED), plan.grid.size), np.nan)
            outs[k].append(solve_drug(model, plan.grid, n, curves=curves, saturable=saturable))
            if k == 0:
                masks = [(plan.grid > s.start) & (plan.grid <= s.end) for s in model.segments]
                last, _ = run_mod._staging(masks, plan.grid, model.segments[0].start, curves, n, True, {})
                staged.append(last >= 0)
    return outs[0], outs[1], staged


@pytest.mark.parametrize("path,saturable", [
    (REF_A, "exponential"), (ROOT / "examples" / "reference_model_mm.toml", "exponential"),
    (ROOT / "examples" / "reference_model_mm.toml", "dp5"), (ROOT / "examples" / "hai_5fu_cycles.toml", "exponential"),
    (ROOT / "examples" / "seed_ilp.toml", "exponential"), ("uneven", "exponential")],
    ids=["A: exact kernel", "B: exponential kernel", "B: Dormand-Prince kernel", "HAI: many segments",
         "5-FU saturable + MMC", "non-uniform grid: full evaluation"])
def test_staged_curves_equal_curves_written_in_place(path, saturable, monkeypatch):
    """Staging the grid points before the last segment only changes the order in which the curves are written
    (so that each row is one stream in memory): every value, maximum and state is bit-for-bit the same."""
    if path == "uneven":
        from .test_population_equivalence import late_iv_on_uneven_grid

        plan = isoperf.build_plan(isoperf.load_protocol(late_iv_on_uneven_grid(REF_A, "100 mg")))
    else:
        plan = isoperf.build_plan(isoperf.load_protocol(path))
    staged, in_place, was_staged = _staged_and_in_place(plan, 24, saturable, monkeypatch)
    assert all(was_staged)
    for a, b in zip(staged, in_place, strict=True):
        assert not np.isnan(a.curves).any()
        assert np.array_equal(a.curves, b.curves)
        assert np.array_equal(a.cmax, b.cmax) and np.array_equal(a.tmax, b.tmax)
        assert np.array_equal(a.final, b.final)


def test_stage_is_used_only_for_a_short_fully_covered_prefix():
    import isoperf.population._run as run_mod

    grid = np.arange(0.0, 101.0)
    masks = [(grid > 0) & (grid <= 10), (grid > 10) & (grid <= 100)]
    buf = np.zeros((3, 4, grid.size))
    last, stage = run_mod._staging(masks, grid, 0.0, buf, 3, True, {})
    assert last == 1 and stage.shape == (3, 4, 11)
    assert run_mod._staging(masks, grid, 0.0, buf, 3, False, {})[0] == -1  # no curves
    assert run_mod._staging([masks[0] | masks[1]], grid, 0.0, buf, 3, True, {})[0] == -1  # one segment
    long_first = [(grid > 0) & (grid <= 60), (grid > 60) & (grid <= 100)]
    assert run_mod._staging(long_first, grid, 0.0, buf, 3, True, {})[0] == -1  # prefix over a quarter of the grid
    gap = [(grid > 2) & (grid <= 10), masks[1]]
    assert run_mod._staging(gap, grid, 0.0, buf, 3, True, {})[0] == -1  # points 1, 2 covered by no segment
