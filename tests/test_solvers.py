"""Every solver cross-checked: exact (expm) and Radau against scipy LSODA/BDF at rtol 1e-10, and analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import isoperf
from isoperf.model import (
    Bolus,
    Clearance,
    Compartment,
    DrugModel,
    Flow,
    Infusion,
    Segment,
    StateLayout,
    Transfer,
)
from isoperf.model import assemble as assemble_segment
from isoperf.solve import run


def _scipy_run(model: DrugModel, grid: np.ndarray, method: str = "Radau") -> np.ndarray:
    """Integrate the same DrugModel with scipy (Radau: not the engine's LSODA) at rtol 1e-10, restarting at events."""
    lay = StateLayout(model)
    x = np.zeros(lay.size)
    out = np.zeros((grid.size, lay.size))

    def events_at(t: float, x: np.ndarray) -> np.ndarray:
        x = x.copy()
        for e in model.events:
            if e.time == t and isinstance(e, Bolus):
                x[lay.comp[e.compartment]] += e.amount
                x[lay.dosed] += e.amount
            elif e.time == t and isinstance(e, Transfer):
                x[lay.sink[e.sink]] += x[lay.comp[e.compartment]]
                x[lay.comp[e.compartment]] = 0
        return x

    x = events_at(model.segments[0].start, x)
    for seg in model.segments:
        a = assemble_segment(model, seg, lay)

        def f(_t, y, a=a):
            dy = a.matrix @ y + a.inputs
            for s in a.saturable:
                c = s.inv_vol * y[s.state]
                r = s.vmax * c / (s.km + c)
                dy[s.state] -= r
                dy[s.sink] += r
            return dy

        mask = (grid > seg.start) & (grid <= seg.end)
        t_eval = np.unique(np.r_[grid[mask], seg.end])
        sol = solve_ivp(f, (seg.start, seg.end), x, method=method, rtol=1e-10, atol=1e-12, t_eval=t_eval)
        assert sol.success
        out[mask] = sol.y.T[np.searchsorted(t_eval, grid[mask])]
        x = events_at(seg.end, sol.y[:, -1])
    return out


@pytest.mark.parametrize("file", ["seed_ilp.toml", "reference_model.toml", "reference_model_mm.toml"])
def test_engine_equals_scipy_at_tight_tolerance(examples, file):
    plan = isoperf.build_plan(isoperf.load_protocol(examples / file))
    for model in plan.models.values():
        lay = StateLayout(model)
        ours = run(model, plan.grid)
        ref = _scipy_run(model, plan.grid)
        for name in ("liver", "tumour", "systemic"):
            got, want = ours.final[lay.auc[name]], ref[-1, lay.auc[name]]
            assert got == pytest.approx(want, rel=2e-7), (model.drug, name)
        # curves: compare where concentrations matter (above 1e-6 of the peak)
        n = lay.n
        scale = np.abs(ref[:, :n]).max(axis=0)
        err = np.abs(ours.states[:, :n] - ref[:, :n]) / np.maximum(scale, 1e-300)
        assert err.max() < 1e-7, (model.drug, err.max())


def test_nonlinear_engine_against_bdf(examples):
    plan = isoperf.build_plan(isoperf.load_protocol(examples / "reference_model_mm.toml"))
    model = plan.models["reference_drug"]
    ours = run(model, plan.grid)
    bdf = _scipy_run(model, plan.grid, method="BDF")
    lay = StateLayout(model)
    assert ours.final[lay.auc["tumour"]] == pytest.approx(bdf[-1, lay.auc["tumour"]], rel=1e-6)


def _one_compartment(dose: float, cl: float, v: float, infusion: float | None) -> DrugModel:
    comps = (Compartment("systemic", v),)
    seg_in = Segment(0.0, 30.0, "iv", clearances=(Clearance("systemic", cl, "eliminated_extrahepatic"),),
                     infusions=(Infusion("systemic", dose / 30.0),) if infusion else ())
    seg_out = Segment(30.0, 600.0, "connected", clearances=(Clearance("systemic", cl, "eliminated_extrahepatic"),))
    events = () if infusion else (Bolus(0.0, "systemic", dose),)
    return DrugModel("x", comps, (seg_in, seg_out), events)


@pytest.mark.parametrize("infusion", [None, 30.0])
def test_one_compartment_analytic(infusion):
    dose, cl, v = 100.0, 0.5, 10.0
    k = cl / v
    model = _one_compartment(dose, cl, v, infusion)
    grid = np.linspace(0, 600, 601)
    tr = run(model, grid)
    lay = StateLayout(model)
    t = grid
    if infusion is None:
        conc = dose / v * np.exp(-k * t)
        auc_600 = dose / cl * (1 - np.exp(-k * 600))
    else:
        r = dose / 30.0
        c30 = r / cl * (1 - np.exp(-k * 30))
        conc = np.where(t <= 30, r / cl * (1 - np.exp(-k * t)), c30 * np.exp(-k * (t - 30)))
        auc_600 = r / cl * 30 - r / cl * (1 - np.exp(-k * 30)) / k + c30 / k * (1 - np.exp(-k * 570))
    got = tr.states[:, 0] / v
    np.testing.assert_allclose(got[1:], conc[1:], rtol=1e-12)
    assert tr.final[lay.auc["systemic"]] == pytest.approx(auc_600, rel=1e-12)


def test_two_compartment_flow_steady_state():
    """Constant infusion into a flow-connected pair reaches the analytic steady state C = R / CL."""
    comps = (Compartment("systemic", 5.0), Compartment("liver", 1.0, kp=2.0))
    seg = Segment(0.0, 10000.0, "x",
                  flows=(Flow("systemic", "liver", 1.5), Flow("liver", "systemic", 1.5)),
                  clearances=(Clearance("liver", 0.5, "eliminated_hepatic"),),
                  infusions=(Infusion("systemic", 2.0),))
    model = DrugModel("x", comps, (seg,), ())
    tr = run(model, np.array([0.0, 10000.0]))
    c_liv = tr.final[1] / (1.0 * 2.0)
    c_sys = tr.final[0] / 5.0
    # steady state: R = CL_int * C_liv and Q (C_sys - C_liv) = CL_int C_liv
    assert c_liv == pytest.approx(2.0 / 0.5, rel=1e-10)
    assert c_sys == pytest.approx(c_liv * (1 + 0.5 / 1.5), rel=1e-10)


@pytest.mark.parametrize("file", ["seed_ilp.toml", "reference_model.toml", "seed_ilp_hai.toml"])
def test_eigen_path_equals_matrix_exponential_path(examples, file):
    from isoperf.solve._exact import LinearPropagator

    plan = isoperf.build_plan(isoperf.load_protocol(examples / file))
    rng = np.random.default_rng(1)
    checked = 0
    for model in plan.models.values():
        lay = StateLayout(model)
        for seg in model.segments:
            a = assemble_segment(model, seg, lay)
            if a.saturable:
                continue
            prop = LinearPropagator(a, lay.n)
            assert prop.eig.ok
            x0 = np.abs(rng.normal(size=lay.size)) * 10
            dt = np.array([0.0, 0.3, 1.0, 17.0, seg.end - seg.start])
            fast = prop.states(x0, dt)
            prop.eig.ok = False
            slow = prop.states(x0, dt)
            np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12 * np.abs(slow).max())
            checked += 1
    assert checked > 0


def test_phi_functions_against_50_digit_decimal():
    """e^z, phi1(z) = (e^z - 1)/z, phi2(z) = (e^z - 1 - z)/z^2 of the exact path to ~1e-15 relative, against
    50-digit decimal arithmetic: across the series/closed-form switch at |z| = 0.1, at z = 0, tiny and large z."""
    from decimal import Decimal, getcontext

    from isoperf.solve._exact import _phis

    getcontext().prec = 50
    z = np.concatenate([-np.logspace(-14, 2.5, 300), np.logspace(-14, 1.5, 200),
                        [0.0, -0.0999999999, -0.1, -0.1000000001, 0.0999999999, 0.1, 0.1000000001]])
    e, p1, p2 = _phis(z)
    for x, got in zip(z, np.stack([e, p1, p2], axis=1), strict=True):
        if x == 0:
            want = [Decimal(1), Decimal(1), Decimal(1) / 2]
        else:
            d = Decimal(float(x))
            ex = d.exp()
            want = [ex, (ex - 1) / d, (ex - 1 - d) / (d * d)]
        for g, w in zip(got, want, strict=True):
            assert abs(Decimal(float(g)) - w) <= Decimal("2e-15") * abs(w), (x, g, w)


def test_defective_matrix_falls_back_to_the_matrix_exponential():
    """A compartment block without a basis of eigenvectors (a Jordan block: two compartments in series with the
    same rate) is refused by the eigen path (its eigenvectors' condition number is huge) and solved by the matrix
    exponential, which matches the closed form: x1 = e^-t, x2 = t e^-t."""
    from isoperf.model._assemble import Assembled
    from isoperf.solve._exact import LinearPropagator, _Eigen

    k = np.array([[-1.0, 0.0], [1.0, -1.0]])
    assert not _Eigen(k).ok
    assert _Eigen(np.array([[-1.0, 0.0], [1.0, -2.0]])).ok
    prop = LinearPropagator(Assembled(matrix=k, inputs=np.zeros(2), saturable=()), 2)
    t = np.array([0.5, 1.0, 3.0])
    x = prop.states(np.array([1.0, 0.0]), t)
    assert np.allclose(x[:, 0], np.exp(-t), rtol=1e-12)
    assert np.allclose(x[:, 1], t * np.exp(-t), rtol=1e-12)
