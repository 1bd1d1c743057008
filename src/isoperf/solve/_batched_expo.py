"""Batched exponential integrator for segments with saturable (Michaelis-Menten) elimination (numba).

Why: the compartment systems are mildly stiff (liver exchange plus Vmax/Km, ~3 /min) while the solution
varies on the slow modes (~0.01-0.5 /min), and a saturable term is a smooth function of one compartment. An
explicit method is bound by stability and, at rtol ~1e-10, by its polynomial order (~500 Dormand-Prince steps
for the saturated perfusion hour of the reference model); both bounds disappear when the linear part is
solved exactly and only the (smooth, scalar) nonlinear remainder is approximated, by a polynomial of high
degree.

Method (exponential collocation on Chebyshev nodes with Newton iterations; one independent adaptive step
sequence per patient, patients in parallel, so a patient's result does not depend on the batch):

* ``dx/dt = A x + b - F(x)`` on the compartments, ``F_s = Vmax c/(Km + c)`` on the saturable ones. The
  linear part is ``J0 = A - diag(F'(x*))`` (slopes at a linearisation state ``x*``): ``J0`` keeps the
  symmetric form ``S D`` of the compartment block, so ``D^(1/2) J0 D^(-1/2)`` has real eigenvalues and
  orthogonal eigenvectors (the Jacobi decomposition of ``solve/_jacobi.py``). The remainder
  ``G_s(t) = F'_s(x*) x_s - F_s(x)`` (a scalar per saturable term) is the only thing approximated. The
  linearisation is renewed at the start of a step when a slope has drifted by more than ``RELIN_DRIFT``
  (relative: by a factor ~200); in between, the Newton iterations below absorb the drift (a liver passing
  from far below to far above Km included), so that an eigen-decomposition is rarely needed (~1 per segment
  on the reference model; the accuracy does not depend on it, the error estimate below controls it).
* Over a step ``[t, t + h]`` each ``G_s`` is the degree-``DEG`` polynomial through its values at the
  Chebyshev-Lobatto nodes ``tau_i = (1 - cos(i pi/DEG))/2`` (``tau = (s - t)/h``). With a polynomial forcing
  every mode is solved exactly: ``w(T) = e^(lam T) w0 + sum_k k! P_k T^(k+1) phi_(k+1)(lam T)`` (``P_k`` the
  forcing's coefficients in ``s - t``); ``phi_k`` by its series and the backward recurrence for
  ``|z| <= 3``, by the forward recurrence from ``e^z`` above (both stable there to ~1e-14 up to
  ``phi_(DEG+2)``).
* The node values of the saturable states are linear in the node values of ``G``: ``u_q(tau_i) = a_qi +
  sum K_(qi,rl) G_r(tau_l)`` (``K`` the modal solution projected on the saturable states, built once per
  step). The collocation equations ``G_q(tau_i) = F'_q(x*) u_q - F_q(u_q)`` (``DEG`` unknowns per saturable
  term) are solved by a simplified Newton method (the matrix ``I - dG/du K`` factorised once per step) on
  that small dense system, so the step size is not bound by a fixed-point contraction. A factorised matrix is
  kept by the later steps of the same size and linearisation (as the tables below) while ``dG/du`` at the
  nodes has drifted by at most ``REUSE_RHO`` in the norm of the contraction bound (``|d dG/du| sum |K|``); a
  step that does not converge with a kept matrix is retried with its own. Where the plain
  (fixed-point) iteration already contracts strongly, ``||dG/du K||_inf <= PLAIN_RHO`` (a remainder that
  hardly varies, e.g. far below or far above Km), it is used instead and the factorisation is skipped (a
  few more, cheaper, iterations). It stops when the residual, or from the second correction on the
  distance to the solution estimated from the contraction rate (``theta/(1 - theta) |correction|``), is
  below ``SWEEP_TOL`` of the tolerance. When it does not converge the step is rejected and halved.
* Error estimate: the effect of the forcing's last two Chebyshev coefficients (``T_(DEG-1)``, ``T_DEG``:
  conservative, and not fooled by one coefficient that happens to be small) on the solution at the middle of
  the step and at its end. The interior matters: collocation is superconvergent at the step end, and the grid
  values come from inside the step. Step-size exponent ``1/(DEG + 1)`` after a rejection and ``1/GROW_ORDER``
  (6) for growing an accepted step: the estimate also falls along the solution's transients (at the start of
  the perfusion hour ~10x from one step to the next of the same size), so the ``h^(DEG + 1)`` model alone grows
  the step too timidly (measured on variant B: 54 -> 46 steps per patient, ~7 % less time, the same
  accuracy). The step size is held when the controller would grow it by a factor below ``H_HOLD``, and the
  step's tables (``phi`` values at the nodes, kernel ``K``) are kept while the step size and the linearisation
  are. The first step of a segment is bounded by how fast the remainder can vary, not by the full right-hand
  side (the linear part is exact): a fraction ``H0_POLE`` of the time to the pole of each saturable term
  (``c = -Km`` at the current rate of change of ``c``) and at most the fastest mode's time constant. On the
  reference model (variant B, rtol 1e-8 as the population runner uses) this takes ~31 steps for the perfusion
  hour and ~15 for 60-1440 min (Dormand-Prince 5(4) at 1e-10: ~500 and ~110), with grid values within ~2e-9
  (relative to the peak) of a tight reference.
* Steps are not tied to the output grid (except that a step over ``ALIGN_MIN`` uniform grid points or more is
  shortened to end on the last of them): the grid values are the same exact formula evaluated inside the
  step (on a uniform grid by exact propagation from one grid point to the next, ``phi`` values computed once
  per linearisation; from the step start itself when it is a grid point, otherwise from the first grid point
  by the formula), so Cmax/Tmax and the curves come from the integrated trajectory itself. The grid
  points of a step are handled in chunks of ``GB``: the propagation's polynomial part for the whole chunk
  (vectorised), then one ``e^(lam dt)`` recurrence per mode, then every compartment over the chunk. Without
  curves (metrics only) a step computes grid values only for the compartments that an upper bound of the exact
  trajectory over the step lets exceed their maximum so far (``_step_need``), none at all in most steps after
  the peaks: on variant B that skips ~90 % of the 60-1440 min grid work (95 -> 75 us per patient, one thread),
  and Cmax/Tmax stay bit-identical to the run that computes every grid value.
* Sinks, counters and AUCs are exact integrals of that trajectory (``int w`` uses ``phi_(k+2)``); the
  saturable flux into its sink is ``F'(x*) int x_s - int G_s``, the same flux the compartment lost, so the
  mass balance holds to rounding.
* Cost: the per-step work is written with the ``DEG`` collocation nodes as the innermost loop (the ``phi``
  series and recurrences of every node and mode side by side, the saturable-state kernel, the Newton
  residuals). numba vectorises such a loop only when its trip count is not a compile-time constant (a loop
  over a constant 8 is unrolled, and numba does not run LLVM's SLP vectorizer), so the kernel build's node
  loops run to ``nd``, the node count as a runtime number; elsewhere that did not pay. The scratch is 2-D
  with the loop's variable alone as the last index: numba wraps negative indices, and an index
  ``offset + i`` that LLVM cannot prove non-negative turns vector loads into gathers.
* ``max_relin > 0`` hands a patient needing more linearisations than that in one segment back to the caller
  (``switch``), which then runs the Dormand-Prince kernel (``_batched_ode.py``) for that segment.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from isoperf.solve._batched_exact import copy_run, copy_stages
from isoperf.solve._batched_ode import copy_patient
from isoperf.solve._jacobi import jacobi_lanes

#: degree of the collocation polynomial (DEG + 1 Chebyshev-Lobatto nodes, the first one the step start)
DEG = 8
_NN = DEG + 1
_NODES = 0.5 * (1.0 - np.cos(np.arange(_NN) * np.pi / DEG))
_NODES[0] = 0.0
_NODES[-1] = 1.0
#: coefficients in tau of the interpolant: g_k = sum_i _VINV[k, i] G(tau_i)
_VINV = np.linalg.inv(np.vander(_NODES, _NN, increasing=True))
#: the last two Chebyshev coefficients (of T_(DEG-1) and T_DEG in 2 tau - 1) of the interpolant from its node
#: values, and those two polynomials in powers of tau
_CLAST = np.linalg.inv(np.polynomial.chebyshev.chebvander(2.0 * _NODES - 1.0, DEG))[DEG - 1:]
_TLAST = np.zeros((2, DEG + 1))
for _r, _d in enumerate((DEG - 1, DEG)):
    _TLAST[_r, :_d + 1] = np.polynomial.polynomial.polyfromroots(
        0.5 * (1.0 + np.cos((np.arange(_d) + 0.5) * np.pi / _d))) * 2.0 ** (2 * _d - 1)
_KPHI = DEG + 2  # phi_0 .. phi_(DEG+2)
_NPHI = _KPHI + 1
_FACT = np.array([float(math.factorial(k)) for k in range(_NPHI + 1)])
_IFACT = 1.0 / _FACT
_NSER = 24
#: phi_K(z) = sum_j z^j/(j+K)!, |z| <= _ZSER: 24 terms leave < 1e-17 relative
_PHIK = np.array([1.0 / math.factorial(j + _KPHI) for j in range(_NSER)])
_ZSER = 3.0
#: k!/(k-m)! (m-th derivative of t^k is _FALL[k, m] t^(k-m))
_FALL = np.array([[math.factorial(k) / math.factorial(k - mm) if mm <= k else 0.0 for mm in range(_NN)]
                  for k in range(_NN)])
_MAXIT = 10
#: nodes where the error estimate is evaluated: the middle of the step and its end
_ERR_NODES = np.array([DEG // 2, DEG])
#: grid points per chunk of the in-step grid evaluation (the mode and compartment tables stay in L1)
GB = 64
#: patients per parallel block (scratch arrays are allocated once per block)
PATIENT_BLOCK = 16
#: Newton stops when the residual (or the estimated distance to the solution) is below this fraction of the
#: tolerance
SWEEP_TOL = 1e-3
#: a factorised Newton matrix is reused by later steps of the same size while dG/du has drifted by at most this
#: (in the contraction-bound norm); the iteration then contracts about as fast as with a fresh one
REUSE_RHO = 0.02
#: the step size is kept (and with it the step's phi values and kernel) when the controller would grow it by a
#: factor between 1 and this: a few more steps, many of which reuse the tables
H_HOLD = 1.5
#: exponent 1/GROW_ORDER of the error estimate in the growth of an accepted step (rejections use 1/(DEG + 1))
GROW_ORDER = 6
#: a step over this many grid points or more is shortened to end on the last of them
ALIGN_MIN = 8
#: the linearisation is renewed when a saturable slope has drifted by more than this (relative)
RELIN_DRIFT = 0.995
#: the plain iteration replaces Newton's in a step where its contraction bound ||dG/du K||_inf is at most this
PLAIN_RHO = 0.05
#: the first step of a segment: this fraction of the time to the pole of a saturable term (c = -Km at the current
#: rate of change of c), and at most the fastest mode's time constant
H0_POLE = 0.25


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phis(z, out):  # noqa: ANN001, ANN202
    """``out[k] = phi_k(z)``, k = 0.._KPHI (``phi_0 = e^z``, ``phi_(k+1) = (phi_k - 1/k!)/z``)."""
    if abs(z) <= _ZSER:
        s = _PHIK[_NSER - 1]
        for j in range(_NSER - 2, -1, -1):
            s = _PHIK[j] + z * s
        out[_KPHI] = s
        for k in range(_KPHI - 1, -1, -1):
            out[k] = _IFACT[k] + z * out[k + 1]
    else:
        out[0] = math.exp(z)
        rz = 1.0 / z
        for k in range(1, _NPHI):
            out[k] = (out[k - 1] - _IFACT[k - 1]) * rz


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phis_many(zs, nz, out, ibig):  # noqa: ANN001, ANN202
    """``out[k, j] = phi_k(zs[j])`` for ``j < nz`` (as :func:`_phis`, the arguments' independent recurrences
    side by side so that they vectorise or overlap; ``ibig``: scratch of length >= nz)."""
    # (the loops over the terms innermost: their trip counts are constants, so they are unrolled and the loop over
    # the arguments vectorises with the sums in registers)
    for ix in range(nz):
        z = zs[ix]
        s = _PHIK[_NSER - 1]
        for it in range(_NSER - 2, -1, -1):
            s = _PHIK[it] + z * s
        out[_KPHI, ix] = s
        for k in range(_KPHI - 1, -1, -1):
            s = _IFACT[k] + z * s
            out[k, ix] = s
    # |z| > _ZSER: forward recurrence from e^z (indices collected first: a branch inside the loop above would
    # be if-converted into masked scatters, costly even when no argument needs it)
    nbig = 0
    for ix in range(nz):
        if abs(zs[ix]) > _ZSER:
            ibig[nbig] = ix
            nbig += 1
    for ib in range(nbig):
        ix = ibig[ib]
        z = zs[ix]
        out[0, ix] = math.exp(z)
        rz = 1.0 / z
        for k in range(1, _NPHI):
            out[k, ix] = (out[k - 1, ix] - _IFACT[k - 1]) * rz


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sat_flux(vm, km, si, amount):  # noqa: ANN001, ANN202
    c = si * amount
    return vm * c / (km + c)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sat_slope(vm, km, si, amount):  # noqa: ANN001, ANN202
    c = si * amount
    d = km + c
    return vm * km * si / (d * d)


@nb.njit(cache=True, error_model="numpy")
def _lu_factor(a, nsz, piv, rdg):  # noqa: ANN001, ANN202
    """LU factorisation of ``a`` in place (partial pivoting, multipliers below the diagonal; ``rdg``: the
    reciprocals of U's diagonal, as :func:`_lu_solve_t` uses them). False if singular."""
    for k in range(nsz):
        pk = k
        amax = abs(a[k, k])
        for i in range(k + 1, nsz):
            if abs(a[i, k]) > amax:
                amax = abs(a[i, k])
                pk = i
        if amax == 0.0:
            return False
        piv[k] = pk
        if pk != k:
            for j in range(nsz):
                tmp = a[k, j]
                a[k, j] = a[pk, j]
                a[pk, j] = tmp
        rk = 1.0 / a[k, k]
        rdg[k] = rk
        for i in range(k + 1, nsz):
            f = a[i, k] * rk
            a[i, k] = f
            if f != 0.0:
                for j in range(k + 1, nsz):
                    a[i, j] -= f * a[k, j]
    return True


@nb.njit(cache=True, inline="always", error_model="numpy")
def _lu_solve_t(a, rhs, nsz, piv, rdg):  # noqa: ANN001, ANN202
    """Solve ``J x = rhs`` with the factors of ``J^T`` by :func:`_lu_factor` (``piv``, ``rdg`` as it returns
    them; ``rhs`` overwritten by the solution). ``P J^T = L U`` gives ``J = U^T L^T P``, so both triangular
    solves run through rows of the factors: each step updates the rest of the right-hand side (contiguous,
    independent updates) instead of accumulating a dot product, whose chain of dependent additions made the
    solve latency-bound (variant B's perfusion hour, Newton iterations: ~21 -> ~18 us per patient)."""
    for k in range(nsz):
        yk = rhs[k] * rdg[k]
        rhs[k] = yk
        for i in range(k + 1, nsz):
            rhs[i] -= a[k, i] * yk
    for k in range(nsz - 1, 0, -1):
        xk = rhs[k]
        for i in range(k):
            rhs[i] -= a[k, i] * xk
    for k in range(nsz - 1, -1, -1):
        pk = piv[k]
        if pk != k:
            tmp = rhs[k]
            rhs[k] = rhs[pk]
            rhs[pk] = tmp


@nb.njit(cache=True, inline="always", error_model="numpy")
def _linearise(a, bl, dh, ivl, vm, kml, sil, sat_state, u, uniform_grid, dgrid,  # noqa: ANN001, ANN202, PLR0913
               slope, lam, vec, vcon, beta, ev, pr, edg, cdg, prev, msym, ja, jv, jscr, ph):
    """Linearise one patient at ``u``: ``J0 = A - diag(F'(u))`` in symmetric form and its eigen-decomposition
    (``lam``, ``vec``), the modal images of the inputs and of the saturable terms, and, on a uniform grid
    (``uniform_grid``), the one-grid-step propagators. False if the eigen-solver did not converge."""
    n = lam.size
    ns = sat_state.size
    for q in range(ns):
        slope[q] = _sat_slope(vm[q], kml[q], sil[q], u[sat_state[q]])
    for i in range(n):
        for j in range(n):
            msym[i, j] = dh[i] * a[i, j] / dh[j]
    for q in range(ns):
        i = sat_state[q]
        msym[i, i] -= slope[q]
    for i in range(n):
        for j in range(i + 1, n):
            s_ = 0.5 * (msym[i, j] + msym[j, i])
            msym[i, j] = s_
            msym[j, i] = s_
    for i in range(n):
        for j in range(n):
            ja[i, j, 0] = msym[i, j]
    jacobi_lanes(ja, jv, jscr, 1)
    if jscr[0, 0] > 0.0:  # not converged (not seen in practice): the caller hands the patient on
        return False
    for i in range(n):
        lam[i] = ja[i, i, 0]
        for j in range(n):
            vec[i, j] = jv[j, i, 0]  # (rows of jv: eigenvectors)
    for i in range(n):
        c_ = ivl[i] / dh[i]
        for j in range(n):
            vcon[i, j] = c_ * vec[i, j]
    for j in range(n):
        acc = 0.0
        for i in range(n):
            acc += vec[i, j] * dh[i] * bl[i]
        beta[j] = acc
        for q in range(ns):
            ev[q, j] = dh[sat_state[q]] * vec[sat_state[q], j]
            pr[q, j] = vec[sat_state[q], j] / dh[sat_state[q]]
        if uniform_grid:
            _phis(lam[j] * dgrid, ph)
            edg[j] = ph[0]
            dpow = dgrid
            for mm in range(_NN):
                cdg[j, mm] = dpow * ph[mm + 1]
                dpow *= dgrid
    for q in range(ns):
        for r in range(ns):
            for j in range(n):
                prev[(q * ns + r) * n + j] = pr[q, j] * ev[r, j]
    return True


@nb.njit(cache=True, inline="always", error_model="numpy")
def _first_step(a, bl, lam, vm, kml, sil, sat_state, u, span):  # noqa: ANN001, ANN202
    """The first step of a segment (``span`` long) from the linearisation (see the module docstring)."""
    n = lam.size
    ns = sat_state.size
    # the linear part is exact, so the step is bound by how fast the remainder varies: a fraction of the time
    # to the pole of each saturable term (c = -Km, at the current rate of change of c) and of the fastest mode's
    # time constant
    h = span
    lmax = 0.0
    for j in range(n):
        if abs(lam[j]) > lmax:
            lmax = abs(lam[j])
    if lmax * h > 1.0:
        h = 1.0 / lmax
    for q in range(ns):
        i = sat_state[q]
        acc = bl[i] - _sat_flux(vm[q], kml[q], sil[q], u[i])
        for j in range(n):
            acc += a[i, j] * u[j]
        dc = abs(sil[q] * acc)
        dist = kml[q] + sil[q] * u[i]
        if H0_POLE * dist < h * dc:
            h = H0_POLE * dist / dc
    return h


@nb.njit(cache=True, inline="always", error_model="numpy")
def _step_sinks(x, p, h, bnc, rl, uint, sat_state, sat_sink, slope, gc):  # noqa: ANN001, ANN202
    """Non-compartment rows of patient ``p`` over an accepted step: exact integrals (``uint``: the compartments'
    integrals over the step); a saturable flux is ``slope * int x_s - int G_s``."""
    n = uint.size
    ns = sat_state.size
    for r in range(bnc.size):
        row = n + r
        acc = bnc[r] * h
        for i in range(n):
            acc += rl[r, i] * uint[i]
        for q in range(ns):
            if sat_sink[q] == row:
                gint = 0.0
                for k in range(_NN):
                    gint += gc[q, k] / (k + 1)
                acc += slope[q] * uint[sat_state[q]] - h * gint
        x[p, row] += acc


@nb.njit(cache=True, inline="always", error_model="numpy")
def _step_need(p, h, n, lam, w, qc, vcon, ph3, fb, cmax, need):  # noqa: ANN001, ANN202
    """Flags the compartments of patient ``p`` that may exceed their maximum so far inside the accepted step of
    length ``h`` (modal start ``w``, forcing coefficients ``qc`` in tau, the step's phi table ``ph3`` whose
    ``ph3[0, j, DEG - 1]`` is ``e^(lam_j h)``), from an upper bound
    of the exact trajectory term by term: a mode's free part ``a e^(lam s)`` is largest at one end of the step
    (``a`` at its start if ``a > 0``, ``a e^(lam h)`` at its end otherwise), and its forced part is at most
    ``sum_k |qc_k| int_0^h e^(lam s) ds``, the forcing being at most ``sum_k |qc_k|`` in size over the step. A
    relative margin of 1e-9 of the terms' sizes covers the rounding of the grid values computed inside the step.
    Without flags no grid value of the step can change a maximum, and they are not computed (metrics only).
    (``fb``: scratch of length n.)"""
    for j in range(n):
        fj = 0.0
        for k in range(_NN):
            fj += abs(qc[j, k])
        eh = ph3[0, j, DEG - 1]
        fb[j] = fj * ((eh - 1.0) / lam[j] if lam[j] * h < -1e-3 else h * max(1.0, eh))
    for i in range(n):
        ub = 0.0
        sc = 0.0
        for j in range(n):
            a_ = vcon[i, j] * w[j]
            f_ = abs(vcon[i, j]) * fb[j]
            ub += max(a_, a_ * ph3[0, j, DEG - 1]) + f_
            sc += abs(a_) + f_
        need[i] = ub + 1e-9 * sc + 1e-300 > cmax[p, i]


@nb.njit(cache=True, inline="always", error_model="numpy")
def _step_grid(p, t, tn, h, jn, qc, lam, w, edg, cdg, vcon, tg, uniform, dgrid,  # noqa: ANN001, ANN202, PLR0913
               cmax, tmax, cflat, orow, write, nrow, tlen, j0,
               pc, zw, phm, ibig, wrt, cg, rg, need):
    """Grid values inside an accepted step ``(t, tn]`` of patient ``p`` (modal start ``w``, forcing coefficients
    ``qc`` in tau): maxima into ``cmax``/``tmax`` and, if ``write``, the curves; without curves only the
    compartments flagged in ``need`` (see :func:`_step_need`), none at all when no flag is set. Returns the next
    grid index. (The arrays of the step are contiguous, one patient's; ``edg`` is padded with zeros to ``npd``, a
    multiple of four; the rest is scratch: ``zw`` (2, npd), ``wrt`` (2, npd, GB), zero beyond the n modes, ``cg``
    (2, GB), ``rg`` (n + 1, DEG + 1); numba inlines at most 30 arguments.)"""
    n = lam.size
    npd = edg.size  # modes padded to a multiple of four (zero beyond n)
    dq = rg[n]
    kk = tg.size
    zm, wcur = zw[0], zw[1]
    wt, rt = wrt[0], wrt[1]
    ct, gval = cg[0], cg[1]
    rh = 1.0 / h
    for j in range(n):
        hp = 1.0
        for k in range(_NN):
            pc[j, k] = qc[j, k] * hp
            hp *= rh
    jb = jn
    while jn < kk and tg[jn] <= tn:
        jn += 1
    mstep = jn - jb
    if not write:
        anyc = False
        for i in range(n):
            anyc = anyc or need[i]
        if not anyc:
            return jn
    # a step starting on a grid point: its grid points all by the recurrence, from the step start
    aligned = uniform and jb > 0 and tg[jb - 1] == t
    sh = 1 if aligned else 0
    need_rg = uniform and mstep > 1 - sh
    off = 0.0
    for g0 in range(0, mstep, GB):
        gm = min(GB, mstep - g0)
        gs = 0  # points of the chunk already in wt
        if (g0 == 0 and not aligned) or not uniform:
            # the first point of the step (every point on a non-uniform grid): the exact formula
            gs = 1 if uniform else gm
            for g in range(gs):
                off = tg[jb + g0 + g] - t
                for j in range(n):
                    zm[j] = lam[j] * off
                _phis_many(zm, n, phm, ibig)
                for j in range(n):
                    acc = phm[0, j] * w[j]
                    op = off
                    for k in range(_NN):
                        acc += pc[j, k] * _FACT[k] * op * phm[k + 1, j]
                        op *= off
                    wt[j, g] = acc
        if need_rg:
            # further grid points: exact propagation from the first one (from the step start if aligned)
            # over g grid steps, w <- e^(lam dt) w + R(g), R a polynomial in g (the forcing's Taylor
            # coefficients there)
            for j in range(n):
                for mm in range(_NN):
                    acc = 0.0
                    op = 1.0
                    for k in range(mm, _NN):
                        acc += pc[j, k] * _FALL[k, mm] * op
                        op *= off
                    dq[mm] = acc
                dpow = 1.0
                for d in range(_NN):
                    acc = 0.0
                    for mm in range(_NN - d):
                        acc += cdg[j, mm] * dq[mm + d]
                    rg[j, d] = acc * dpow * _IFACT[d]
                    dpow *= dgrid
            need_rg = False
        if uniform and gs < gm:
            # R(g) for the chunk (vectorised over g), then the recurrence (one chain per mode)
            for g in range(gm):
                gval[g] = float(g0 + g - 1 + sh)
            for j in range(n):
                for g in range(gm):  # (g = 0 of the first chunk unused unless aligned)
                    acc = rg[j, _NN - 1]
                    gi = gval[g]
                    for d in range(_NN - 2, -1, -1):
                        acc = acc * gi + rg[j, d]
                    rt[j, g] = acc
            for j in range(n):
                if g0 > 0:
                    wcur[j] = wt[j, GB - 1]
                else:
                    wcur[j] = w[j] if aligned else wt[j, 0]
            # four modes' chains side by side in registers (the padding modes stay zero): a chain through an
            # array element per mode waited on store-to-load forwarding
            for jg in range(0, npd, 4):
                e0 = edg[jg]
                e1 = edg[jg + 1]
                e2 = edg[jg + 2]
                e3 = edg[jg + 3]
                w0 = wcur[jg]
                w1 = wcur[jg + 1]
                w2 = wcur[jg + 2]
                w3 = wcur[jg + 3]
                for g in range(gs, gm):
                    w0 = e0 * w0 + rt[jg, g]
                    wt[jg, g] = w0
                    w1 = e1 * w1 + rt[jg + 1, g]
                    wt[jg + 1, g] = w1
                    w2 = e2 * w2 + rt[jg + 2, g]
                    wt[jg + 2, g] = w2
                    w3 = e3 * w3 + rt[jg + 3, g]
                    wt[jg + 3, g] = w3
        # compartments from the modes (vectorised over the chunk), maxima, curves
        for i in range(n):
            if not write and not need[i]:
                continue
            v_ = vcon[i, 0]
            for g in range(gm):
                ct[g] = v_ * wt[0, g]
            for j in range(1, n):
                v_ = vcon[i, j]
                for g in range(gm):
                    ct[g] += v_ * wt[j, g]
            # maximum of the chunk branch-free (four independent chains), then its first position
            mx = cmax[p, i]
            m0 = mx
            m1 = mx
            m2 = mx
            m3 = mx
            g4 = gm - gm % 4
            for g in range(0, g4, 4):
                v0 = ct[g]
                v1 = ct[g + 1]
                v2 = ct[g + 2]
                v3 = ct[g + 3]
                m0 = v0 if v0 > m0 else m0
                m1 = v1 if v1 > m1 else m1
                m2 = v2 if v2 > m2 else m2
                m3 = v3 if v3 > m3 else m3
            for g in range(g4, gm):
                v0 = ct[g]
                m0 = v0 if v0 > m0 else m0
            m0 = m1 if m1 > m0 else m0
            m2 = m3 if m3 > m2 else m2
            m0 = m2 if m2 > m0 else m0
            if m0 > mx:
                for g in range(gm):
                    if ct[g] == m0:
                        cmax[p, i] = m0
                        tmax[p, i] = tg[jb + g0 + g]
                        break
            if write and orow[i] >= 0:
                copy_run(cflat, (p * nrow + orow[i]) * tlen + j0 + jb + g0, ct, 0, gm)
    return jn


@nb.njit(parallel=True, cache=True, error_model="numpy")
def expo_segment(
    amat: np.ndarray, b: np.ndarray, inv: np.ndarray,  # (size, n, N), (size, N), (n, N)
    sat_state: np.ndarray, sat_sink: np.ndarray, vmax: np.ndarray, km: np.ndarray, sinv: np.ndarray,  # (S, N)
    x: np.ndarray, t0: float, t1: float, tg: np.ndarray, uniform: bool,
    cmax: np.ndarray, tmax: np.ndarray, curves: np.ndarray, out_idx: np.ndarray, j0: int, write: bool,
    rtol: float, atol: np.ndarray, h_min: float, ok: np.ndarray, stats: np.ndarray,
    max_relin: int, switch: np.ndarray, stage: np.ndarray,
) -> None:
    """Integrate every patient of the batch over ``[t0, t1]`` (see the module docstring). ``stats[p]``:
    accepted steps, linearisations, Newton iterations (added). ``switch[p]`` is set for a patient that needed
    more than ``max_relin`` linearisations (``max_relin = 0``: never): its state is left as it was, and the
    caller integrates the segment with the explicit kernel. ``stage`` (N, R, S): the earlier segments' grid
    values, copied in front of each curve row (``S = j0``; ``S = 0``: none, see ``_batched_exact.py``)."""
    npat = x.shape[0]
    n = inv.shape[0]
    size = x.shape[1]
    m = size - n
    ns = sat_state.size
    nu = ns * DEG  # Newton unknowns
    kk = tg.size
    nr = out_idx.size
    dgrid = tg[1] - tg[0] if kk > 1 else 0.0
    nrow = curves.shape[1]
    tlen = curves.shape[2]
    cflat = curves.reshape(curves.size)  # C-contiguous (the caller guarantees it)
    slen = stage.shape[2]
    sflat = stage.reshape(stage.size)
    nblk = (npat + PATIENT_BLOCK - 1) // PATIENT_BLOCK
    # the node count as a number the compiler cannot see to be the constant DEG (n >= 1): a loop over a constant
    # 8 is unrolled and stays scalar (numba does not run LLVM's SLP vectorizer), over a runtime count it is
    # vectorised. Used where that pays (the kernel build: ~4 % of variant B's time); elsewhere it did not.
    nd = min(DEG, n * DEG)
    for blk in nb.prange(nblk):
        # --- scratch (~60 arrays), allocated once per block of patients instead of once per patient
        a = np.empty((n, n))
        bl = np.empty(n)
        rl = np.empty((m, n))
        bnc = np.empty(m)
        vm = np.empty(ns)
        kml = np.empty(ns)
        sil = np.empty(ns)
        dh = np.empty(n)
        ivl = np.empty(n)
        msym = np.empty((n, n))
        vec = np.empty((n, n))
        npd = (n + 3) // 4 * 4  # modes padded to a multiple of four for the grid recurrence (_step_grid)
        vcon = np.empty((n, n))  # concentrations from the modes
        lam = np.empty(n)
        ja = np.empty((n, n, 1))  # the Jacobi solver's layout (one lane)
        jv = np.empty((n, n, 1))
        jscr = np.empty((5, 1))
        slope = np.empty(ns)
        ev = np.empty((ns, n))  # modal image of a unit forcing on saturable state s
        pr = np.empty((ns, n))  # saturable state s from the modes
        beta = np.empty(n)
        w = np.empty(n)
        wn = np.empty(n)
        wint = np.empty(n)
        u = np.empty(n)
        un = np.empty(n)
        uint = np.empty(n)
        erru = np.empty(n)
        errw = np.empty(n)
        ph = np.empty(_NPHI)
        nv = n * DEG
        # flat layouts, the node index (1..DEG, stored 0..DEG-1) fastest (loops over the nodes run to nd where
        # they should vectorise, see the module docstring)
        xz = np.empty(nv)  # tau_i h lam_j at [j DEG + i]
        ibig = np.empty(nv, dtype=np.int64)
        phv = np.empty((_NPHI, nv))  # phi_k(tau_i h lam_j) at [k, j DEG + i]
        ph3 = phv.reshape((_NPHI, n, DEG))  # the same, [k, j, i]
        ht = np.empty(DEG)  # h tau_i
        tpw = np.empty((_NN, DEG))  # (h tau_i)^(k+1)
        acc8 = np.empty(DEG)
        # (2-D, the vectorised loop's variable alone as the last index: no negative-index wraparound, which
        # would turn the loads into gathers)
        ps = np.empty((_NN, DEG))  # response of a saturable state at node i to a tau^k forcing, [k, i]
        kmat = np.empty((ns * ns * _NN, DEG))  # ... of state q to the node value l of G_r, [(q ns + r) NN + l, i]
        prev = np.empty(ns * ns * n)  # pr[q, j] ev[r, j]
        afree = np.empty((ns, DEG))  # saturable states at the nodes without the remainder
        gnw = np.empty((ns, DEG))
        dgv = np.empty((ns, DEG))  # dG/du at the nodes
        dlv = np.empty((ns, DEG))
        wgt = np.empty((ns, DEG))  # h over the error weight of a saturable state at the nodes
        jac = np.empty((nu, nu))  # the transposed Newton matrix (see _lu_solve_t)
        res = np.empty(nu)
        piv = np.empty(nu, dtype=np.int64)
        rdg = np.empty(nu)  # 1/U's diagonal (see _lu_factor)
        dlu = np.empty((ns, DEG))  # dG/du at the nodes when the Newton matrix was factorised
        ksum = np.empty(nu)  # row sums of |K| (fixed with the tables)
        gv = np.empty((ns, _NN))  # G_s at the nodes
        gc = np.empty((ns, _NN))  # coefficients in tau
        gprev = np.zeros((ns, _NN))
        clast = np.empty((2, ns))
        etab = np.empty((2, 2, n))  # per-step table of the error estimate
        qc = np.empty((n, _NN))  # modal forcing coefficients in tau
        pc = np.empty((n, _NN))  # ... in s - t (absolute time offset)
        rg = np.empty((n + 1, _NN))  # R(g) coefficients per mode, and a row of scratch
        wrt = np.zeros((2, npd, GB))  # modes at the grid points of a chunk, and R(g) there
        cg = np.empty((2, GB))  # one compartment over the chunk, and g
        zw = np.zeros((2, npd))
        phm = np.empty((_NPHI, n))
        orow = np.full(n, -1, dtype=np.int64)
        for r in range(nr):
            orow[out_idx[r]] = r
        edg = np.zeros(npd)  # e^(lam dgrid)
        fb = np.empty(n)  # bound of a mode's forced part over the step
        need = np.ones(n, dtype=np.bool_)  # compartments whose grid values a step must compute (metrics only)
        cdg = np.empty((n, _NN))  # dgrid^(m+1) phi_(m+1)(lam dgrid)
        for p in range(blk * PATIENT_BLOCK, min(npat, (blk + 1) * PATIENT_BLOCK)):
            # --- this patient's numbers (contiguous copies; the batch layout is patient-last)
            copy_patient(amat, b, vmax, km, sinv, p, n, m, ns, a, bl, rl, bnc, vm, kml, sil)
            for i in range(n):
                ivl[i] = inv[i, p]
                dh[i] = math.sqrt(inv[i, p])
            for q in range(ns):
                for k in range(_NN):
                    gprev[q, k] = 0.0
            for i in range(n):
                u[i] = x[p, i]
            if write:  # the staged values in front of each row (the rows are then written step by step, interleaved:
                # buffering a patient's rows to write them out in address order did not measurably change the time)
                copy_stages(cflat, p, nr, nrow, tlen, sflat, slen)
            t = t0
            relin = True
            have_prev = False
            hprev = 0.0
            h = 0.0
            hk = -1.0  # step size of the per-step tables (phi values, kernel), -1: none
            hlu = -1.0  # step size of the factorised Newton matrix (kept with the tables), -1: none
            plain = False
            stale = False
            jn = 0
            failed = False
            nsteps = 0
            nlin = 0
            while t < t1:
                if relin:
                    have_prev = False
                    if max_relin > 0 and nlin >= max_relin:
                        switch[p] = True
                        break
                    # --- linearise at u: J0 = A - diag(F'(u)) in symmetric form, eigen-decomposition
                    nlin += 1
                    if not _linearise(a, bl, dh, ivl, vm, kml, sil, sat_state, u, kk > 1 and uniform, dgrid, slope,
                                      lam, vec, vcon, beta, ev, pr, edg, cdg, prev, msym, ja, jv, jscr, ph):
                        failed = True
                        break
                    if h == 0.0:
                        h = _first_step(a, bl, lam, vm, kml, sil, sat_state, u, t1 - t)
                    relin = False
                    hk = -1.0
                    hlu = -1.0
                h = min(h, t1 - t)
                last = t + h >= t1
                if last:
                    h = t1 - t
                tn = t1 if last else t + h
                if uniform and not last and jn < kk and tg[jn] <= tn:
                    # a step over ALIGN_MIN grid points or more ends on the last one (the next step's grid values then
                    # start from its initial state, without phi values of their own)
                    jl = min(kk - 1, jn + int((tn - tg[jn]) / dgrid))
                    while jl > jn and tg[jl] > tn:
                        jl -= 1
                    if jl - jn + 1 >= ALIGN_MIN and tg[jl] < tn:
                        tn = tg[jl]
                        h = tn - t
                # modal state at the step start
                for j in range(n):
                    acc = 0.0
                    for i in range(n):
                        acc += vec[i, j] * dh[i] * u[i]
                    w[j] = acc
                # per-step tables (phi values at the nodes, kernel): kept while the step size and the linearisation
                # are (the step-size controller holds h when it would grow it by less than H_HOLD)
                if h != hk:
                    hk = h
                    # phi_k at every node and mode at once: the series (then the backward recurrence) for all,
                    # vectorised; the forward recurrence from e^z replaces it where |z| > _ZSER (same values as _phis)
                    for i in range(DEG):
                        ht[i] = _NODES[i + 1] * h
                    for j in range(n):
                        for i in range(DEG):
                            xz[j * DEG + i] = ht[i] * lam[j]
                    _phis_many(xz, nv, phv, ibig)
                    for i in range(DEG):
                        tpw[0, i] = ht[i]
                    for k in range(1, _NN):
                        for i in range(DEG):
                            tpw[k, i] = tpw[k - 1, i] * _NODES[i + 1]
                    # kernel of the saturable states' node values on the remainder's node values (the node loop, of
                    # constant length, innermost: it vectorises)
                    for q in range(ns):
                        for r in range(ns):
                            o_ = (q * ns + r) * n
                            for k in range(_NN):
                                for i in range(DEG):
                                    ps[k, i] = 0.0
                            for j in range(n):
                                pj = prev[o_ + j]
                                for k in range(_NN):
                                    for i in range(nd):
                                        ps[k, i] += pj * ph3[k + 1, j, i]
                            for k in range(_NN):
                                fk = _FACT[k]
                                for i in range(DEG):
                                    ps[k, i] = ps[k, i] * fk * tpw[k, i]
                            o_ = (q * ns + r) * _NN
                            for ll in range(_NN):
                                for i in range(nd):
                                    acc = 0.0
                                    for k in range(_NN):
                                        acc += ps[k, i] * _VINV[k, ll]
                                    kmat[o_ + ll, i] = acc
                    # the error estimate's response of every mode to T_(DEG-1) and T_DEG, at its two nodes
                    for ie in range(2):
                        ni = _ERR_NODES[ie]
                        tau = _NODES[ni]
                        for j in range(n):
                            e7 = 0.0
                            e8 = 0.0
                            tp = tau
                            for k in range(_NN):
                                f = _FACT[k] * tp * ph3[k + 1, j, ni - 1]
                                e7 += _TLAST[0, k] * f
                                e8 += _TLAST[1, k] * f
                                tp *= tau
                            etab[ie, 0, j] = e7
                            etab[ie, 1, j] = e8
                # free response of the saturable states at the nodes (from the step's start state)
                for q in range(ns):
                    for i in range(DEG):
                        acc = 0.0
                        for j in range(n):
                            acc += pr[q, j] * (ph3[0, j, i] * w[j] + ht[i] * beta[j] * ph3[1, j, i])
                        afree[q, i] = acc
                # remainder at the start; initial guess: the previous step's polynomial extrapolated (same
                # linearisation), else constant
                for q in range(ns):
                    i = sat_state[q]
                    g0 = slope[q] * u[i] - _sat_flux(vm[q], kml[q], sil[q], u[i])
                    gv[q, 0] = g0
                    for ni in range(1, _NN):
                        if have_prev:
                            tt = 1.0 + _NODES[ni] * h / hprev
                            acc = gprev[q, _NN - 1]
                            for k in range(_NN - 2, -1, -1):
                                acc = acc * tt + gprev[q, k]
                            gv[q, ni] = acc
                        else:
                            gv[q, ni] = g0
                conv = False
                nit = 0
                dprev = 0.0
                for _it in range(_MAXIT):
                    nit += 1
                    for q in range(ns):
                        for i in range(DEG):
                            acc8[i] = afree[q, i]
                        for r in range(ns):
                            o_ = (q * ns + r) * _NN
                            for ll in range(_NN):
                                gl_ = gv[r, ll]
                                for i in range(DEG):
                                    acc8[i] += kmat[o_ + ll, i] * gl_
                        sq_ = slope[q]
                        vq = vm[q]
                        kq = kml[q]
                        sq2 = sil[q]
                        for i in range(DEG):  # (two divisions per node: the loop stays scalar, see above)
                            uu = acc8[i]
                            c_ = sq2 * uu
                            rd = 1.0 / (kq + c_)
                            gn = sq_ * uu - vq * c_ * rd
                            wq = h / (atol[p] + rtol * abs(uu))
                            gnw[q, i] = gn
                            dgv[q, i] = sq_ - vq * kq * sq2 * (rd * rd)
                            dlv[q, i] = abs(gn - gv[q, i + 1]) * wq
                            wgt[q, i] = wq
                    delta = 0.0
                    for q in range(ns):
                        for i in range(DEG):
                            res[q * DEG + i] = gnw[q, i] - gv[q, i + 1]
                            if dlv[q, i] > delta:
                                delta = dlv[q, i]
                    stats[p, 2] += 1
                    if delta <= SWEEP_TOL:
                        conv = True
                        break
                    # simplified Newton: (I - dG/du K) dG = G(u) - G, the matrix at the first iterate of the first
                    # step of this size (kept while the step size and the linearisation are, as the tables; a step
                    # that does not converge with a kept matrix is retried with its own)
                    if nit == 1:
                        # a factorised matrix of this step size and linearisation is kept while dG/du has moved by
                        # at most REUSE_RHO in the same norm as the contraction bound below (|d dG/du| sum|K|)
                        stale = hlu == h
                        if stale:
                            drift = 0.0
                            for q in range(ns):
                                for i in range(DEG):
                                    d_ = abs(dgv[q, i] - dlu[q, i]) * ksum[q * DEG + i]
                                    if d_ > drift:
                                        drift = d_
                            stale = drift <= REUSE_RHO
                    if nit == 1 and not stale:  # a fresh matrix (and the plain-iteration test)
                        rho = 0.0
                        for q in range(ns):
                            for ni in range(1, _NN):
                                row = q * DEG + ni - 1
                                rs_ = 0.0
                                ks_ = 0.0
                                for r in range(ns):
                                    o_ = (q * ns + r) * _NN
                                    for ll in range(1, _NN):
                                        kv_ = kmat[o_ + ll, ni - 1]
                                        v_ = -dgv[q, ni - 1] * kv_
                                        jac[r * DEG + ll - 1, row] = v_
                                        rs_ += abs(v_)
                                        ks_ += abs(kv_)
                                if rs_ > rho:
                                    rho = rs_
                                jac[row, row] += 1.0
                                ksum[row] = ks_
                                dlu[q, ni - 1] = dgv[q, ni - 1]
                        plain = rho <= PLAIN_RHO
                        hlu = -1.0
                        if not plain:
                            if not _lu_factor(jac, nu, piv, rdg):
                                break
                            hlu = h
                    if not plain:
                        _lu_solve_t(jac, res, nu, piv, rdg)
                    dnorm = 0.0
                    for q in range(ns):
                        for ni in range(1, _NN):
                            dg_ = res[q * DEG + ni - 1]
                            gv[q, ni] += dg_
                            dl_ = abs(dg_) * wgt[q, ni - 1]
                            if dl_ > dnorm:
                                dnorm = dl_
                    # from the second correction on: the distance to the solution estimated from the contraction
                    # rate, theta/(1 - theta) |correction|; small enough, the iterate is taken without the residual
                    # that would confirm it
                    if nit > 1:
                        theta = dnorm / dprev
                        if theta < 0.5 and theta * dnorm <= (1.0 - theta) * SWEEP_TOL:
                            conv = True
                            break
                    dprev = dnorm
                if not conv:
                    if stale:  # (with a kept matrix: retried with its own)
                        hlu = -1.0
                        continue
                    if h * 0.5 < h_min:
                        failed = True
                        break
                    h *= 0.5
                    have_prev = False
                    continue
                # final coefficients from the converged node values
                for q in range(ns):
                    for k in range(_NN):
                        acc = 0.0
                        for ni in range(_NN):
                            acc += _VINV[k, ni] * gv[q, ni]
                        gc[q, k] = acc
                    for r in range(2):
                        acc2 = 0.0
                        for ni in range(_NN):
                            acc2 += _CLAST[r, ni] * gv[q, ni]
                        clast[r, q] = acc2
                for j in range(n):
                    for k in range(_NN):
                        acc = beta[j] if k == 0 else 0.0
                        for q in range(ns):
                            acc += ev[q, j] * gc[q, k]
                        qc[j, k] = acc
                # end of step and its integral
                for j in range(n):
                    acc = ph3[0, j, DEG - 1] * w[j]
                    acc2 = h * ph3[1, j, DEG - 1] * w[j]
                    for k in range(_NN):
                        acc += h * qc[j, k] * _FACT[k] * ph3[k + 1, j, DEG - 1]
                        acc2 += h * h * qc[j, k] * _FACT[k] * ph3[k + 2, j, DEG - 1]
                    wn[j] = acc
                    wint[j] = acc2
                for i in range(n):
                    acc = 0.0
                    acc2 = 0.0
                    for j in range(n):
                        acc += vec[i, j] * wn[j]
                        acc2 += vec[i, j] * wint[j]
                    un[i] = acc / dh[i]
                    uint[i] = acc2 / dh[i]
                # error estimate: the effect of the last Chebyshev term at every node (the solution inside the
                # step, not only its end: the grid values come from it)
                err = 0.0
                for ie in range(2):
                    for j in range(n):
                        e7 = etab[ie, 0, j]
                        e8 = etab[ie, 1, j]
                        c7 = 0.0
                        c8 = 0.0
                        for q in range(ns):
                            c7 += ev[q, j] * clast[0, q]
                            c8 += ev[q, j] * clast[1, q]
                        errw[j] = h * (abs(c7 * e7) + abs(c8 * e8))
                    en = 0.0
                    for i in range(n):
                        acc3 = 0.0
                        for j in range(n):
                            acc3 += abs(vec[i, j]) * errw[j]
                        erru[i] = acc3 / dh[i]
                        sc = atol[p] + rtol * max(abs(u[i]), abs(un[i]))
                        en += (erru[i] / sc) ** 2
                    if en > err:
                        err = en
                err = math.sqrt(err / n)
                if err > 1.0:
                    h *= max(0.2, 0.9 * err ** (-1.0 / (DEG + 1)))
                    have_prev = False
                    if h < h_min:
                        failed = True
                        break
                    continue
                # --- accepted: grid values inside (t, tn]
                if not write:
                    _step_need(p, h, n, lam, w, qc, vcon, ph3, fb, cmax, need)
                jn = _step_grid(p, t, tn, h, jn, qc, lam, w, edg, cdg, vcon, tg, uniform, dgrid, cmax, tmax, cflat,
                                orow, write, nrow, tlen, j0, pc, zw, phm, ibig, wrt, cg, rg, need)
                _step_sinks(x, p, h, bnc, rl, uint, sat_state, sat_sink, slope, gc)
                for q in range(ns):
                    for k in range(_NN):
                        gprev[q, k] = gc[q, k]
                have_prev = True
                hprev = h
                for i in range(n):
                    u[i] = un[i]
                t = tn
                nsteps += 1
                fac = 5.0 if err == 0.0 else min(5.0, 0.9 * err ** (-1.0 / GROW_ORDER))
                if fac < 1.0 or fac > H_HOLD:
                    h *= fac
                # renew the linearisation when a slope has drifted
                for q in range(ns):
                    s_new = _sat_slope(vm[q], kml[q], sil[q], u[sat_state[q]])
                    if abs(s_new - slope[q]) > RELIN_DRIFT * max(s_new, slope[q]):
                        relin = True
            ok[p] = not failed
            stats[p, 0] += nsteps
            stats[p, 1] += nlin
            if not switch[p]:
                for i in range(n):
                    x[p, i] = u[i]
