"""Solve one drug's batched DrugModel for every patient of a batch: segments, events, metrics, curves.

Linear segments: exact symmetric-form eigen solution (``solve/_batched_exact.py``). Segments with saturable
elimination: by default an exponential integrator on the exact linear part (``solve/_batched_expo.py``). Both run
on their lane-parallel C++ builds (``solve/_lanes.py``: eight patients per SIMD vector) where those are installed
and the segment fits them, else on numba;
``saturable="dp5"`` selects the explicit Dormand-Prince 5(4) kernel (``solve/_batched_ode.py``), which is
also used when the compartment block is not in symmetric form. A batch whose structure the fast
kernels cannot take (a non-symmetric compartment block) and any patient whose adaptive integration fails
are solved by the single-patient engine (:func:`isoperf.solve.run`) instead, so every patient gets a result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoperf._errors import MassBalanceError
from isoperf.model import Bolus, DrugModel, StateLayout, Transfer
from isoperf.population._assemble import batched_assemble, inverse_volumes
from isoperf.population._batch import column, unstack_model
from isoperf.result._result import REPORTED, drug_metrics
from isoperf.solve import MASS_BALANCE_TOL, run

RTOL = 1e-10  # as the single-patient engine
ATOL_REL = 1e-13
H_MIN = 1e-9  # min
#: kernel for segments with saturable elimination: "exponential" or "dp5"
SATURABLE_METHODS = ("exponential", "dp5")
#: the kernel used when ``solve_drug`` is not told (``simulate_population`` uses this)
DEFAULT_SATURABLE = "exponential"
EXPO_RTOL = 1e-8
#: implementation of the exact and exponential kernels: "lanes" (eight patients per SIMD lane group, C++; used
#: where it is built, see isoperf.solve._lanes.available, and the segment fits it) or "numba"
IMPLS = ("lanes", "numba")
DEFAULT_IMPL = "lanes"
#: a patient whose saturable segment needs more linearisations of the exponential kernel than this is handed
#: to the explicit kernel for that segment (0: never; the exponential kernel's Newton collocation integrates
#: saturated segments too, e.g. the perfusion hour, in ~36 steps instead of ~500)
MAX_RELIN = 0


@dataclass
class DrugOutcome:
    model: DrugModel
    layout: StateLayout
    final: np.ndarray  # (N, size)
    cmax: np.ndarray  # (N, n)
    tmax: np.ndarray  # (N, n)
    curves: np.ndarray | None  # (N, len(REPORTED), T) concentrations, mg/L
    mass_balance_error: np.ndarray  # (N,)
    solver: str


def _apply_events(model: DrugModel, layout: StateLayout, x: np.ndarray, t: float, n: int) -> None:
    for e in model.events:
        if e.time != t:
            continue
        if isinstance(e, Bolus):
            amt = column(e.amount, n)
            x[:, layout.comp[e.compartment]] += amt
            x[:, layout.dosed] += amt
        elif isinstance(e, Transfer):
            i = layout.comp[e.compartment]
            x[:, layout.sink[e.sink]] += x[:, i]
            x[:, i] = 0.0


#: "no staged values" for the kernels
NO_STAGE = np.zeros((1, 1, 0))
#: the grid points before the last segment are staged when they are at most this share of the grid
STAGE_MAX_SHARE = 0.25


def _staging(masks: list[np.ndarray], grid: np.ndarray, t0: float, buf: np.ndarray, n: int, write: bool,
             work: dict) -> tuple[int, np.ndarray]:
    """Whether the curves of the segments before the last one with grid points go into a stage array first
    (returns that segment's index, or -1, and the stage (n, R, S), S its first grid index). Only for a prefix
    of at most ``STAGE_MAX_SHARE`` of the grid that the earlier segments and ``t0`` cover completely."""
    with_points = [k for k, m in enumerate(masks) if m.any()]
    if not write or len(with_points) < 2:
        return -1, NO_STAGE
    last = with_points[-1]
    s = int(np.argmax(masks[last]))
    covered = (grid == t0) | np.logical_or.reduce(masks[:last])
    if s > STAGE_MAX_SHARE * grid.size or not covered[:s].all():
        return -1, NO_STAGE
    stage = work.get("stage")
    if stage is None or stage.shape[0] < n or stage.shape[1:] != (buf.shape[1], s):
        stage = work["stage"] = np.empty((n, buf.shape[1], s))
    return last, stage[:n]


def _mass_balance(layout: StateLayout, x: np.ndarray, err: np.ndarray) -> None:
    """Update ``err`` with every patient's relative mass-balance error now (numba, row by row)."""
    from isoperf.solve._batched_exact import mass_balance_rows

    mass_balance_rows(x, layout.n, np.array(list(layout.sink.values()), dtype=np.int64), layout.dosed, err)


def _single(model: DrugModel, grid: np.ndarray, i: int, layout: StateLayout, out: DrugOutcome,
            rows: list[int]) -> None:
    traj = run(unstack_model(model, i), grid)
    met = drug_metrics(traj)
    out.final[i] = traj.final
    names = model.names
    out.cmax[i] = [met.cmax[c] for c in names]
    out.tmax[i] = [met.tmax[c] for c in names]
    out.mass_balance_error[i] = traj.mass_balance_error
    if out.curves is not None:
        out.curves[i] = (traj.states[:, rows] * np.array([1.0 / (c.volume * c.kp) for c in
                                                           traj.model.compartments])[rows]).T


def solve_drug(model: DrugModel, grid: np.ndarray, n: int, *, curves: np.ndarray | None = None,
               index: np.ndarray | None = None, work: dict | None = None,
               saturable: str | None = None, impl: str | None = None) -> DrugOutcome:
    """Solve ``model`` (numbers are arrays over ``n`` patients) on ``grid``.

    ``curves``: optional preallocated (n, 4, len(grid)) array for the concentrations of circuit, liver,
    tumour and systemic. ``work``: scratch arrays kept between chunks (avoids writing fresh memory pages).
    ``saturable``: the kernel for segments with Michaelis-Menten terms ("exponential" or "dp5"); ``expo_kernel``:
    the implementation of the exact and exponential kernels ("lanes", used where it is built and the segment fits
    it, or "numba"; both give the same results to rounding)."""
    saturable = DEFAULT_SATURABLE if saturable is None else saturable
    if saturable not in SATURABLE_METHODS:
        raise ValueError(f"saturable must be one of {SATURABLE_METHODS}, not {saturable!r}")
    impl = DEFAULT_IMPL if impl is None else impl
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, not {impl!r}")
    from isoperf.solve import _exact_lanes, _expo_lanes
    from isoperf.solve._batched_exact import (  # numba: on first use
        is_uniform,
        linear_segment,
        post_concentrations,
        post_maxima,
        symmetric_form_ok,
    )
    from isoperf.solve._batched_expo import expo_segment
    from isoperf.solve._batched_ode import nonlinear_segment

    layout = StateLayout(model)
    nc = layout.n
    rows = [layout.comp[c] for c in REPORTED]
    out_row = np.full(nc, -1, dtype=np.int64)
    out_row[rows] = np.arange(len(rows))
    out_idx = np.array(rows, dtype=np.int64)
    inv = inverse_volumes(model, n)  # (nc, n)
    x = np.zeros((n, layout.size))
    t0 = model.segments[0].start
    event_times = sorted({e.time for e in model.events})
    cmax = np.zeros((n, nc))
    tmax = np.full((n, nc), float(grid[0]))
    write = curves is not None
    # the kernels write the curves through a flat view: a strided buffer is filled via a contiguous copy
    buf = curves if curves is not None else np.zeros((1, 1, 1))
    if not buf.flags.c_contiguous:
        buf = np.ascontiguousarray(buf)
    work = work if work is not None else {}
    masks = [(grid > s.start) & (grid <= s.end) for s in model.segments]
    last, stage = _staging(masks, grid, t0, buf, n, write, work)
    if write:
        (stage if last >= 0 else buf)[:, :, np.flatnonzero(grid == t0)] = 0.0
    post: list[tuple[float, np.ndarray]] = []
    if t0 in event_times:
        _apply_events(model, layout, x, t0, n)
        post.append((t0, post_concentrations(x, inv)))
    mb = np.zeros(n)
    redo = np.zeros(n, dtype=bool)
    solver = set()
    segs = []
    for k, s in enumerate(model.segments):
        seg = batched_assemble(model, s, layout, n, work.get(k), inv)
        work[k] = seg.work
        segs.append(seg)
    scale = column(model.total_dose, n)
    atol = np.ascontiguousarray(np.maximum(scale, 1e-300) * ATOL_REL)
    for k, (seg, mask) in enumerate(zip(segs, masks, strict=True)):
        tg = np.ascontiguousarray(grid[mask])
        j0 = int(np.argmax(mask)) if mask.any() else 0
        # staged: the segments before the last one with grid points write into the stage, which that one copies
        # in front of each row (see _batched_exact.py: the curves are then written in address order)
        target = stage if k < last else buf
        front = stage if k == last else NO_STAGE
        if seg.linear:
            ok = np.ones(n, dtype=np.bool_)
            uniform = is_uniform(seg.start, tg)
            lanes = impl == "lanes" and _exact_lanes.fits(nc, tg.size, uniform)
            args = (seg.matrix, seg.inputs, inv, x, seg.start, seg.end, tg, uniform, cmax, tmax, target, out_row, j0,
                    write, ok, front)
            if lanes:  # (reads only the entries the assembly wrote: the others are zero)
                _exact_lanes.linear_segment_lanes(*args, pattern=seg.written, inputs_zero=not seg.any_inputs)
            else:
                linear_segment(*args)
            redo |= ~ok
            solver.add(f"exact (symmetric eigen-decomposition, {'8-lane C++' if lanes else 'numba'})")
        else:
            ok = np.ones(n, dtype=np.bool_)
            sel = np.arange(n)
            if saturable == "exponential" and symmetric_form_ok(seg.matrix, inv):
                x0, cmax0, tmax0 = x.copy(), cmax.copy(), tmax.copy()
                switch = np.zeros(n, dtype=np.bool_)
                stats = np.zeros((n, 3), dtype=np.int64)
                kernel = (_expo_lanes.expo_segment_lanes if impl == "lanes" and
                          _expo_lanes.fits(nc, seg.sat_state.size) else expo_segment)
                kernel(seg.matrix, seg.inputs, inv, seg.sat_state, seg.sat_sink, seg.sat_vmax, seg.sat_km,
                       seg.sat_inv, x, seg.start, seg.end, tg, is_uniform(seg.start, tg), cmax, tmax, target,
                       out_idx, j0, write, EXPO_RTOL, atol, H_MIN, ok, stats, MAX_RELIN, switch, front)
                sel = np.flatnonzero(switch)
                if sel.size < n:
                    built = "8-lane C++" if kernel is not expo_segment else "numba"
                    solver.add(f"exponential integrator, exact linear part (rtol {EXPO_RTOL:g}, {built})")
                x[sel], cmax[sel], tmax[sel] = x0[sel], cmax0[sel], tmax0[sel]
            if sel.size:
                nonlinear_segment(seg.matrix, seg.inputs, inv, seg.sat_state, seg.sat_sink, seg.sat_vmax,
                                  seg.sat_km, seg.sat_inv, x, seg.start, seg.end, tg, cmax, tmax, target, out_idx,
                                  j0, write, RTOL, atol, H_MIN, ok, sel, front)
                solver.add(f"Dormand-Prince 5(4) (rtol {RTOL:g})")
            redo |= ~ok
        _mass_balance(layout, x, mb)
        if seg.end in event_times:
            _apply_events(model, layout, x, seg.end, n)
            post.append((seg.end, post_concentrations(x, inv)))
    for t, conc in post:  # post-event states come after the grid, as in the single-patient metrics
        post_maxima(conc, t, cmax, tmax)
    _mass_balance(layout, x, mb)
    if curves is not None and buf is not curves:
        curves[...] = buf
    out = DrugOutcome(model, layout, x, cmax, tmax, curves, mb, " + ".join(sorted(solver)))
    for i in np.flatnonzero(redo):
        _single(model, grid, int(i), layout, out, rows)
    if redo.any() and "single" not in out.solver:
        out.solver += f" + single-patient engine for {int(redo.sum())} patient(s)"
    bad = np.flatnonzero(~(out.mass_balance_error <= MASS_BALANCE_TOL))
    if bad.size:
        who = int(index[bad[0]]) if index is not None else int(bad[0])
        raise MassBalanceError(
            f"mass balance of {model.drug} failed for patient {who}: relative error "
            f"{out.mass_balance_error[bad[0]]:.3g} > {MASS_BALANCE_TOL:g}. This is a bug in isoperf; please "
            "report it with the protocol and population.")
    return out
