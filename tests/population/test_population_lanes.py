"""The lane-parallel builds of the exponential and exact kernels (solve/_expo_lanes.cpp, _exact_lanes.cpp): built,
equal to the numba kernels they replace, independent of the patients sharing a lane group and of the thread count,
the per-lane Newton solve exact. (Their agreement with the single-patient engine is tested by every population
test: they are the default.)"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import isoperf
import isoperf.population._run as run_mod
from isoperf.population import Sample, build_batch, solve_drug
from isoperf.solve import _lanes

from .protocols_population import REF_B, ROOT
from .test_population_equivalence import late_iv_on_uneven_grid

SEED_ILP = ROOT / "examples" / "seed_ilp.toml"
HAI = ROOT / "examples" / "hai_5fu_cycles.toml"
REF_A = ROOT / "examples" / "reference_model.toml"
LIMB = ROOT / "examples" / "limb_melphalan.toml"
PHP = ROOT / "examples" / "php_melphalan.toml"
needs_lanes = pytest.mark.skipif(not _lanes.available(), reason="lane kernels not built or switched off")


def test_lane_kernels_are_built():
    """``make test`` installs isoperf with its C++ kernels; without them populations run ~2x slower on the numba
    kernels. ``ISOPERF_LANES=0`` switches them off on purpose; compiled without AVX-512 they are not used unless
    ``ISOPERF_LANES=1`` asks for them."""
    import importlib.util

    if _lanes._setting() == "0":
        pytest.skip(f"switched off by {_lanes.ENV}=0")
    assert importlib.util.find_spec("isoperf.solve._lanes_c") is not None, \
        "the C++ lane kernels were not built (is a C++17 compiler installed?)"
    if not _lanes.available():
        pytest.skip("built without AVX-512: the numba kernels are used (ISOPERF_LANES=1 forces the lane builds)")
    assert _lanes.lane_width() == 8


FACTORS = ("hepatic_artery_flow", "central_volume", "hepatic_vmax", "extrahepatic_clearance", "leak")


def _factors(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: np.exp(0.3 * rng.standard_normal(n)) for k in FACTORS}


def _models(path, n: int, seed: int = 5, factors: dict | None = None):
    plan = isoperf.build_plan(isoperf.load_protocol(path))
    factors = _factors(n, seed) if factors is None else factors
    models, _, _ = build_batch(plan, Sample(np.arange(n), {}, factors))
    return plan, models


def _run(plan, model, n: int, kernel: str, curves: bool = True):
    buf = np.zeros((n, 4, plan.grid.size)) if curves else None
    return solve_drug(model, plan.grid, n, curves=buf, impl=kernel)


@needs_lanes
@pytest.mark.parametrize("path", [REF_B, SEED_ILP, HAI, "uneven"],
                         ids=["reference B", "5-FU saturable + MMC", "HAI cycles", "B + late IV, non-uniform grid"])
@pytest.mark.parametrize("curves", [True, False], ids=["curves", "metrics only"])
def test_lanes_equal_numba_kernel(path, curves):
    """Same method, tables and step-size rules: the same trajectories to rounding (the two compile the arithmetic
    in different orders, with and without FMA contraction). Tmax is compared exactly where the maxima are sharp
    (reference B); the 5-FU peripheral peak is so flat that neighbouring grid points agree to ~1e-10."""
    if path == "uneven":
        path = late_iv_on_uneven_grid(REF_B, "3000 mg")
    n = 37  # not a multiple of the lane width: the last group has spare lanes
    plan, models = _models(path, n)
    used = False
    for model in models.values():
        a = _run(plan, model, n, "lanes", curves)
        b = _run(plan, model, n, "numba", curves)
        if "exponential integrator" not in b.solver:
            continue
        used = True
        assert "8-lane C++" in a.solver and "numba" in b.solver
        lay = a.layout
        scale = np.abs(b.final[:, lay.dosed])[:, None]
        assert np.max(np.abs(a.final - b.final) / scale) < 1e-9
        assert np.max(np.abs(a.cmax - b.cmax) / np.maximum(b.cmax, 1e-300)) < 1e-9
        if path == REF_B:
            assert np.array_equal(a.tmax, b.tmax)
        if curves:
            peak = np.max(np.abs(b.curves), axis=2, keepdims=True)
            assert np.max(np.abs(a.curves - b.curves) / np.maximum(peak, 1e-300)) < 1e-9
        assert np.all(a.mass_balance_error <= 1e-9)
    assert used


@needs_lanes
@pytest.mark.parametrize("case", [(SEED_ILP, "fluorouracil", 21, 5), (REF_A, "reference_drug", 19, 7)],
                         ids=["exponential kernel (5-FU)", "exact kernel (variant A)"])
@pytest.mark.parametrize("curves", [True, False], ids=["curves", "metrics only"])
def test_a_patient_does_not_depend_on_its_lane_group_or_the_threads(case, curves):
    """Patient i alone, in a group with others, at another lane (the batch reversed) and with 1 or 2 threads: the
    same bits. A lane that does not take part in a step's operation has its result blended away, and work done for
    every lane at once (the per-step tables) is a pure function of each lane's own numbers."""
    import numba

    path, drug, n, i = case
    f = _factors(n, 8)
    plan, models = _models(path, n, factors=f)
    whole = _run(plan, models[drug], n, "lanes", curves)
    _, rev = _models(path, n, factors={k: v[::-1].copy() for k, v in f.items()})
    reversed_ = _run(plan, rev[drug], n, "lanes", curves)
    _, one = _models(path, 1, factors={k: v[[i]] for k, v in f.items()})
    alone = _run(plan, one[drug], 1, "lanes", curves)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = _run(plan, models[drug], n, "lanes", curves)
    finally:
        numba.set_num_threads(threads)
    for other, idx in ((reversed_, np.arange(n)[::-1]), (single, np.arange(n)), (alone, np.array([i]))):
        assert np.array_equal(whole.final[idx], other.final)
        assert np.array_equal(whole.cmax[idx], other.cmax) and np.array_equal(whole.tmax[idx], other.tmax)
        if curves:
            assert np.array_equal(whole.curves[idx], other.curves)


@needs_lanes
def test_default_kernels_are_the_lane_builds():
    plan, models = _models(REF_B, 3)
    out = solve_drug(models["reference_drug"], plan.grid, 3)
    assert out.solver == "exponential integrator, exact linear part (rtol 1e-08, 8-lane C++)"  # both segments
    plan, models = _models(REF_A, 3)
    assert solve_drug(models["reference_drug"], plan.grid, 3).solver == \
        "exact (symmetric eigen-decomposition, 8-lane C++)"
    with pytest.raises(ValueError, match="impl"):
        solve_drug(models["reference_drug"], plan.grid, 3, impl="cuda")
    assert run_mod.DEFAULT_IMPL == "lanes"


@needs_lanes
@pytest.mark.parametrize("size", [1, 3, 8, 16])
def test_lane_newton_solve_equals_numpy(size):
    """Eight transposed Newton matrices factorised side by side, each lane with its own row exchanges (a lane
    with a small leading pivot next to lanes without), then solved: each equals ``numpy.linalg.solve``; a
    singular lane is reported as such without disturbing the others."""
    lib = _lanes.LIB
    lib.expo_lanes_lu_solve.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.expo_lanes_lu_solve.restype = ctypes.c_int
    rng = np.random.default_rng(size)
    for trial in range(10):
        mats = np.eye(size) + rng.standard_normal((8, size, size)) * (0.3 if trial % 2 else 3.0)
        if size > 1:
            mats[::2, 0, 0] = 1e-3  # even lanes must exchange rows, odd ones may not
        if trial == 0 and size > 1:
            mats[3] = 0.0  # a singular lane
        rhs = rng.standard_normal((8, size))
        at = np.ascontiguousarray(np.transpose(mats, (2, 1, 0)))  # (row of J^T, column, lane)
        x = rhs.T.copy()  # (row, lane); overwritten by the solution
        bits = lib.expo_lanes_lu_solve(at.ctypes.data, x.ctypes.data, size)
        for lane in range(8):
            if trial == 0 and size > 1 and lane == 3:
                assert bits & (1 << lane)
                continue
            assert not bits & (1 << lane)
            expected = np.linalg.solve(mats[lane], rhs[lane])
            assert np.allclose(x[:, lane], expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


@needs_lanes
@pytest.mark.parametrize("path", [REF_A, LIMB, PHP, SEED_ILP, HAI, "uneven"],
                         ids=["reference A", "limb melphalan", "PHP melphalan", "ILP 5-FU + MMC", "HAI cycles",
                              "A + late IV, non-uniform grid"])
@pytest.mark.parametrize("curves", [True, False], ids=["curves", "metrics only"])
def test_exact_lanes_equal_numba_kernel(path, curves):
    """The linear segments (every drug with linear elimination, the linear segments of the others): the lane
    kernel's grid values come from the modes' one-grid-step recurrence (with curves) or the closed-form march
    (without), the numba kernel's from a power table: equal to ~1e-13. A non-uniform grid is left to the numba
    kernel segment by segment (the uniform segments of the same protocol still run on lanes)."""
    if path == "uneven":
        path = late_iv_on_uneven_grid(REF_A, "100 mg")
    n = 29
    plan, models = _models(path, n)
    for model in models.values():
        a = _run(plan, model, n, "lanes", curves)
        b = _run(plan, model, n, "numba", curves)
        lay = a.layout
        # (a drug with saturable segments also runs the exponential kernel's two builds, equal to ~1e-11)
        tol = 1e-9 if "exponential" in a.solver else 1e-11
        scale = np.abs(b.final[:, lay.dosed])[:, None]
        assert np.max(np.abs(a.final - b.final) / scale) < tol
        assert np.max(np.abs(a.cmax - b.cmax) / np.maximum(b.cmax, 1e-300)) < tol
        if curves:
            peak = np.max(np.abs(b.curves), axis=2, keepdims=True)
            assert np.max(np.abs(a.curves - b.curves) / np.maximum(peak, 1e-300)) < tol
        assert np.all(a.mass_balance_error <= 1e-9)
        if "8-lane C++" not in a.solver:
            assert "exponential" in a.solver  # (no linear segment at all)


@needs_lanes
@pytest.mark.parametrize("path", [REF_A, LIMB, PHP, SEED_ILP, HAI],
                         ids=["reference A", "limb melphalan", "PHP melphalan", "ILP 5-FU + MMC", "HAI cycles"])
@pytest.mark.parametrize("curves", [True, False], ids=["curves", "metrics only"])
def test_exact_lanes_skip_only_zeros(path, curves, monkeypatch):
    """The exact lane kernel reads only the matrix entries the assembly wrote (``BatchedSegment.written``), leaves
    the inputs unread where no infusion runs, and visits only the Jacobi pivots of compartments coupled in that
    pattern (after washout the emptied circuit is coupled to nothing). All of it is meant to change no number: the
    same bits as reading every entry and visiting every pivot. And the pattern is true: with the work arrays reused
    across chunks of other patients, every entry outside ``written`` is exactly zero."""
    from isoperf.model import StateLayout
    from isoperf.population._assemble import batched_assemble, inverse_volumes
    from isoperf.solve import _exact_lanes

    n = 27
    plan, models = _models(path, n)
    full = _exact_lanes.linear_segment_lanes
    for model in models.values():
        a = _run(plan, model, n, "lanes", curves)
        monkeypatch.setattr(_exact_lanes, "linear_segment_lanes", lambda *args, **_: full(*args))
        b = _run(plan, model, n, "lanes", curves)
        monkeypatch.setattr(_exact_lanes, "linear_segment_lanes", full)
        assert np.array_equal(a.final, b.final)
        assert np.array_equal(a.cmax, b.cmax) and np.array_equal(a.tmax, b.tmax)
        if curves:
            assert np.array_equal(a.curves, b.curves)
    work: dict = {}
    for seed in (1, 2, 3):  # the same work arrays, other patients (in one, the leak factor exactly 0 for all)
        f = _factors(n, seed)
        if seed == 2:
            f["leak"] = np.zeros(n)
        _, models = _models(path, n, factors=f)
        for name, model in models.items():
            lay = StateLayout(model)
            for k, s in enumerate(model.segments):
                seg = batched_assemble(model, s, lay, n, work.get((name, k)), inverse_volumes(model, n))
                work[(name, k)] = seg.work
                assert not np.any(seg.matrix[~seg.written]), (name, k)
                if not seg.any_inputs:
                    assert not np.any(seg.inputs)
