"""The exponential kernel for saturable segments (solve/_batched_expo.py): equal to the single-patient engine,
to the explicit Dormand-Prince kernel it replaces, independent of the batch, mass-conserving."""

from __future__ import annotations

import inspect
import tomllib

import numpy as np
import pytest

import isoperf.population._run as run_mod
from isoperf.population import Sample, build_batch, simulate_population, solve_drug
from isoperf.solve import _expo_lanes, _lanes

from .protocols_population import REF_B, REF_IIV_B, ROOT
from .test_population_equivalence import REL, _compare, late_iv_on_uneven_grid

SEED_ILP = ROOT / "examples" / "seed_ilp.toml"
#: 5-FU (hepatic and extrahepatic Michaelis-Menten) and mitomycin C by ILP, body size and PK varied
SEED_POP = {"seed": 7,
            "covariates": {"weight": {"distribution": "lognormal", "median": "75 kg", "cv": 0.2,
                                      "min": "45 kg", "max": "130 kg"}},
            "iiv": {"central_volume": {"cv": 0.3}, "hepatic_blood_flow": {"cv": 0.2},
                    "fluorouracil.hepatic_vmax": {"cv": 0.3}, "fluorouracil.extrahepatic_vmax": {"cv": 0.3}}}


def _raw(path) -> dict:
    return tomllib.loads(path.read_text())


def _solve(path, n: int, saturable: str, seed: int = 3):
    plan = __import__("isoperf").build_plan(__import__("isoperf").load_protocol(path))
    rng = np.random.default_rng(seed)
    factors = {"hepatic_artery_flow": np.exp(0.3 * rng.standard_normal(n)),
               "central_volume": np.exp(0.3 * rng.standard_normal(n)),
               "hepatic_vmax": np.exp(0.3 * rng.standard_normal(n))}
    models, _, _ = build_batch(plan, Sample(np.arange(n), {}, factors))
    out = {}
    for name, model in models.items():
        curves = np.zeros((n, 4, plan.grid.size))
        out[name] = solve_drug(model, plan.grid, n, curves=curves, saturable=saturable)
    return out


def test_variant_b_exponential_kernel_is_used_and_equals_single_engine():
    out = _solve(REF_B, 8, "exponential")["reference_drug"]
    assert "exponential integrator" in out.solver
    assert "Dormand-Prince" not in out.solver  # the saturated perfusion segment too (Newton collocation)
    worst = _compare(_raw(REF_B), {"seed": 21, "iiv": REF_IIV_B}, n=200)
    assert worst < REL


def test_5fu_library_protocol_equals_single_engine():
    """examples/seed_ilp.toml: 5-FU with two saturable terms (liver and systemic) and mitomycin C. The
    peripheral 5-FU peak is so flat that for some patients two neighbouring grid points agree to ~1e-10, and
    which one holds Tmax differs between the batched kernels (both of them, identically) and the single-patient
    Radau; Tmax is therefore not compared here (Cmax is, to 1e-8)."""
    out = _solve(SEED_ILP, 4, "exponential")
    assert any("exponential integrator" in o.solver for o in out.values())
    worst = _compare(_raw(SEED_ILP), SEED_POP, n=200, tmax_exact=False)
    assert worst < REL


@pytest.mark.parametrize("path", [REF_B, SEED_ILP], ids=["variant B", "seed_ilp"])
def test_exponential_and_dp5_kernels_agree(path):
    new, old = _solve(path, 64, "exponential"), _solve(path, 64, "dp5")
    for name in new:
        a, b = new[name], old[name]
        lay = a.layout
        scale = np.abs(b.final[:, lay.dosed])[:, None]
        assert np.max(np.abs(a.final - b.final) / scale) < 1e-9, name
        aucs = [lay.auc[c] for c in a.model.names]
        rel = np.abs(a.final[:, aucs] - b.final[:, aucs]) / np.maximum(np.abs(b.final[:, aucs]), 1e-300)
        assert rel.max() < REL, name
        assert np.max(np.abs(a.cmax - b.cmax) / np.maximum(b.cmax, 1e-300)) < REL, name
        peak = np.max(np.abs(b.curves), axis=2, keepdims=True)
        assert np.max(np.abs(a.curves - b.curves) / np.maximum(peak, 1e-300)) < REL, name
        assert np.all(a.mass_balance_error <= 1e-9)


def test_unknown_kernel_is_refused():
    plan = __import__("isoperf").build_plan(__import__("isoperf").load_protocol(REF_B))
    models, _, _ = build_batch(plan, Sample(np.arange(2), {}, {}))
    with pytest.raises(ValueError, match="saturable"):
        solve_drug(models["reference_drug"], plan.grid, 2, saturable="rk4")


def test_exponential_kernel_does_not_depend_on_the_batch(monkeypatch):
    monkeypatch.setattr(run_mod, "DEFAULT_SATURABLE", "exponential")
    pop = {"seed": 9, "iiv": REF_IIV_B}
    full = simulate_population(_raw(SEED_ILP), SEED_POP, n=150, chunk=150).table
    parts = simulate_population(_raw(SEED_ILP), SEED_POP, n=150, chunk=17).table
    cols = [c for c in full.columns if full[c].dtype.kind == "f"]
    assert np.array_equal(full[cols].to_numpy(), parts[cols].to_numpy())
    b1 = simulate_population(_raw(REF_B), pop, n=120, chunk=120).table
    b2 = simulate_population(_raw(REF_B), pop, n=120, chunk=13).table
    cols = [c for c in b1.columns if b1[c].dtype.kind == "f"]
    assert np.array_equal(b1[cols].to_numpy(), b2[cols].to_numpy())


@pytest.mark.parametrize("max_relin", [0, 1], ids=["exponential only", "switch to dp5"])
def test_non_uniform_grid_and_switch_inside_a_segment_equal_single_engine(monkeypatch, max_relin):
    """A grid whose last step is shorter (every grid value evaluated directly, no propagation), and a large IV
    infusion late in the follow-up: its segment starts with everything far below Km and the liver passes Km
    during the infusion. The exponential kernel integrates every segment through; with ``MAX_RELIN = 1`` the
    patients needing a second linearisation in a segment (the perfusion hour: a liver from empty to ~9 Km)
    restart that segment on the explicit kernel (the hand-over path)."""
    import isoperf.solve._batched_ode as ode

    calls: list[tuple[float, int]] = []
    orig = ode.nonlinear_segment

    def spy(*args):  # noqa: ANN002, ANN202
        bound = inspect.signature(orig.py_func).bind(*args).arguments
        calls.append((float(bound["t0"]), int(bound["sel"].size)))
        return orig(*args)

    monkeypatch.setattr(ode, "nonlinear_segment", spy)
    monkeypatch.setattr(run_mod, "MAX_RELIN", max_relin)
    raw = late_iv_on_uneven_grid(REF_B, "3000 mg")
    worst = _compare(raw, {"seed": 4, "iiv": REF_IIV_B}, n=30)
    assert worst < REL
    if max_relin:
        assert any(t0 == 0.0 and k > 0 for t0, k in calls)  # switched inside the perfusion segment
    else:
        assert not calls  # the exponential kernel throughout


KERNELS = ["numba", pytest.param("lanes", marks=pytest.mark.skipif(not _lanes.available(),
                                                                    reason="lane kernel not built"))]


def _mean_steps(monkeypatch, n: int, kernel: str) -> tuple[float, float]:  # noqa: ANN001
    """Mean accepted steps per patient of the exponential kernel (``kernel``: its numba or its lane build) on
    variant B: perfusion hour, after it."""
    import isoperf.solve._batched_expo as expo

    module, name = (expo, "expo_segment") if kernel == "numba" else (_expo_lanes, "expo_segment_lanes")
    seen: dict[float, np.ndarray] = {}
    orig = getattr(module, name)

    def spy(*args):  # noqa: ANN002, ANN202
        orig(*args)
        bound = inspect.signature(getattr(orig, "py_func", orig)).bind(*args).arguments
        seen[float(bound["t0"])] = bound["stats"].copy()  # accepted steps, linearisations, Newton iterations

    monkeypatch.setattr(module, name, spy)
    monkeypatch.setattr(run_mod, "DEFAULT_IMPL", kernel)
    out = _solve(REF_B, n, "exponential")["reference_drug"]
    assert np.all(out.mass_balance_error <= 1e-9)
    return float(seen[0.0][:, 0].mean()), float(seen[60.0][:, 0].mean())


@pytest.mark.parametrize("kernel", KERNELS)
def test_first_step_is_sized_from_the_remainder_not_from_the_full_slope(monkeypatch, kernel):
    """The linear part is exact, so a segment's first step is bounded by how fast the Michaelis-Menten remainder
    can vary (a fraction of the time to its pole, c = -Km), not by the explicit-method rule on the full right-hand
    side (which started the perfusion hour at ~1e-7 min and spent ~8 steps growing out of it: ~43 accepted
    steps per patient there, ~21 after reconnection)."""
    perfusion, after = _mean_steps(monkeypatch, 64, kernel)
    assert perfusion < 39.0, perfusion
    assert after < 19.5, after


@pytest.mark.parametrize("kernel", KERNELS)
def test_accepted_steps_grow_with_exponent_one_sixth(monkeypatch, kernel):
    """An accepted step grows by 0.9 err^(-1/6), not err^(-1/(DEG+1)): along a transient the estimate also falls
    from one step to the next, so the h^9 model alone grows the step too timidly. With 1/9 the reference model
    took ~36 steps in the perfusion hour and ~17.7 after it; with 1/6 ~31 and ~14.8 (64 patients)."""
    perfusion, after = _mean_steps(monkeypatch, 64, kernel)
    assert perfusion < 33.5, perfusion
    assert after < 16.3, after


def _late_iv(amount: str, over: str) -> dict:
    """Variant B with an IV infusion of ``amount`` over ``over`` at 1200 min, on the uniform 1-min grid: the
    systemic maxima move into that infusion, to its last grid point before its end, inside a step (a short
    infusion: inside the segment's first steps), the rise all in the forced part of the step's solution."""
    raw = _raw(REF_B)
    raw["procedures"].append({"type": "iv", "start": "1200 min",
                              "doses": [{"drug": "reference_drug", "amount": amount, "over": over}]})
    return raw


@pytest.mark.parametrize("path", [REF_B, SEED_ILP, ROOT / "examples" / "hai_5fu_cycles.toml",
                                  ROOT / "examples" / "seed_ilp_hai.toml", ROOT / "examples" / "systemic_5fu.toml",
                                  ("3000 mg", "30.5 min"), ("25 mg", "1.05 min"), "uneven"],
                         ids=["reference B", "5-FU saturable + MMC", "HAI cycles", "ILP then HAI", "systemic 5-FU",
                              "B + late IV, 3000 mg over 30.5 min", "B + late IV, 25 mg over 1.05 min",
                              "B + late IV, non-uniform grid"])
def test_metrics_only_skips_no_grid_value_that_holds_a_maximum(path):
    """Without curves the exponential kernel computes a step's grid values only for the compartments that an
    upper bound of the exact trajectory lets reach their maximum so far (most steps after the peaks compute
    none). Cmax, Tmax and every state equal, bit for bit, those of the run that computes every grid value
    (with curves), over protocols whose maxima fall early, late and in later infusion cycles, on uniform and
    non-uniform grids. (Only the drugs with saturable segments: the exact kernel's metrics march evaluates in
    another order than its curves, to within ~5e-16.)"""
    if isinstance(path, tuple):
        path = _late_iv(*path)
    elif path == "uneven":
        path = late_iv_on_uneven_grid(REF_B, "3000 mg")
    plan = __import__("isoperf").build_plan(__import__("isoperf").load_protocol(path))
    n = 48
    rng = np.random.default_rng(11)
    factors = {k: np.exp(0.3 * rng.standard_normal(n)) for k in
               ("hepatic_artery_flow", "central_volume", "hepatic_vmax", "extrahepatic_clearance", "leak")}
    models, _, _ = build_batch(plan, Sample(np.arange(n), {}, factors))
    used = False
    for model in models.values():
        full = solve_drug(model, plan.grid, n, curves=np.zeros((n, 4, plan.grid.size)))
        metrics = solve_drug(model, plan.grid, n, curves=None)
        if "exponential integrator" not in metrics.solver:
            continue
        used = True
        assert np.array_equal(full.cmax, metrics.cmax) and np.array_equal(full.tmax, metrics.tmax)
        assert np.array_equal(full.final, metrics.final)
    assert used


@pytest.mark.parametrize("size", [1, 3, 8, 16])
def test_newton_solve_with_the_transposed_factors_equals_numpy(size):
    """The Newton matrix is stored transposed, factorised by ``_lu_factor`` (partial pivoting) and solved by
    ``_lu_solve_t``; the result must equal ``numpy.linalg.solve`` on the untransposed matrix, for matrices that
    need row exchanges (a small leading pivot) and for well-conditioned ones. (The kernel's accuracy tests alone
    would not catch a wrong solve: Newton checks its residual and would only converge more slowly.)"""
    from isoperf.solve._batched_expo import _lu_factor, _lu_solve_t

    rng = np.random.default_rng(size)
    for trial in range(20):
        jmat = np.eye(size) + rng.standard_normal((size, size)) * (0.3 if trial % 2 else 3.0)
        if size > 1:
            jmat[0, 0] = 1e-3  # forces a row exchange in the factorisation of the transpose
        rhs = rng.standard_normal(size)
        fac = np.ascontiguousarray(jmat.T)
        piv = np.empty(size, dtype=np.int64)
        rdg = np.empty(size)
        assert _lu_factor(fac, size, piv, rdg)
        x = rhs.copy()
        _lu_solve_t(fac, x, size, piv, rdg)
        expected = np.linalg.solve(jmat, rhs)
        assert np.allclose(x, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
        if size > 1 and trial == 0:
            assert (piv != np.arange(size)).any()
