"""Batched exponential integrator for segments with saturable (Michaelis-Menten) elimination (numba).

Why: after reconnection the compartment systems are mildly stiff (liver exchange plus Vmax/Km, ~3 /min)
while the solution itself varies on the slow modes (~0.01-0.1 /min). An explicit method is then bound by
stability and, at rtol 1e-10, by its polynomial order on the slow exponentials; both bounds disappear when
the linear part is solved exactly and only the (small, smooth) nonlinear remainder is approximated.

Method (exponential collocation with a frozen linearisation; one independent adaptive step sequence per
patient, patients in parallel, so a patient's result does not depend on the batch):

* ``dx/dt = A x + b - F(x)`` on the compartments, ``F_s = Vmax c/(Km + c)`` on the saturable ones. The
  linear part is ``J0 = A - diag(F'(x*))`` (slopes at a linearisation state ``x*``): ``J0`` keeps the
  symmetric form ``S D`` of the compartment block, so ``D^(1/2) J0 D^(-1/2)`` has real eigenvalues and
  orthogonal eigenvectors (the decomposition of ``solve/_batched_exact.py``), computed once per
  linearisation, not per step. The remainder ``G_s(t) = F'_s(x*) x_s - F_s(x)`` (a scalar per saturable
  term) is the only thing approximated.
* Over a step ``[t, t + h]`` each ``G_s`` is the degree-4 polynomial through its values at ``tau = 0, 1/4,
  1/2, 3/4, 1`` (``tau = (s - t)/h``). With a polynomial forcing every mode is solved exactly:
  ``w(T) = e^(lam T) w0 + sum_k k! P_k T^(k+1) phi_(k+1)(lam T)`` (``P_k`` the forcing's coefficients in
  ``s - t``). The node values are found by fixed-point (Picard) sweeps, which contract because the
  remainder's slope is small (``h |F' - F'(x*)|`` per sweep); when they do not, the step is rejected, halved
  and the linearisation is renewed at the current state. Local error ``O(h^6)``; the error estimate is the
  contribution of the degree-4 coefficient (the error of the degree-3 interpolant), a conservative bound.
* Steps are not tied to the output grid: the grid values are the same exact formula evaluated inside the
  step (on a uniform grid by exact propagation from one grid point to the next, ``phi`` values computed once
  per linearisation), so Cmax/Tmax and the curves come from the integrated trajectory itself.
* Sinks, counters and AUCs are exact integrals of that trajectory (``int w`` uses ``phi_(k+2)``); the
  saturable flux into its sink is ``F'(x*) int x_s - int G_s``, the same flux the compartment lost, so the
  mass balance holds to rounding.
* Where a saturable term is strongly nonlinear (its concentration, or that of a compartment feeding it, above
  Km: a saturated liver during perfusion) a frozen linearisation is of no use and an explicit method is
  cheaper; such a patient is handed back to the caller (``switch``), which runs the Dormand-Prince kernel
  (``_batched_ode.py``) for that segment. The decision depends only on the patient's own state.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from isoperf.solve._batched_exact import eigh_blocks
from isoperf.solve._batched_ode import copy_patient

_NODES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
#: coefficients in tau of the degree-4 interpolant: g_k = sum_i _VINV[k, i] G(tau_i)
_VINV = np.linalg.inv(np.vander(_NODES, 5, increasing=True))
_FACT = np.array([float(math.factorial(k)) for k in range(8)])
_IFACT = 1.0 / _FACT
_PHI6 = np.array([1.0 / math.factorial(j + 6) for j in range(17)])  # phi_6(z) = sum_j z^j/(j+6)!
_NPHI = 7  # phi_0 .. phi_6
#: k!/(k-m)! (m-th derivative of t^k is _FALL[k, m] t^(k-m))
_FALL = np.array([[math.factorial(k) / math.factorial(k - mm) if mm <= k else 0.0 for mm in range(5)]
                  for k in range(5)])
_MAXIT = 12
#: Picard sweeps stop when the last one moved the end state by less than this fraction of the tolerance
SWEEP_TOL = 1e-2


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phis(z, out):  # noqa: ANN001, ANN202
    """``out[k] = phi_k(z)``, k = 0..6 (``phi_0 = e^z``, ``phi_(k+1) = (phi_k - 1/k!)/z``)."""
    if abs(z) < 1.0:
        # phi_6 by its series (Horner, 17 terms: |z|^17 6!/23! < 1e-19), then the stable backward recurrence
        # phi_k = 1/k! + z phi_(k+1)
        s = _PHI6[16]
        for j in range(15, -1, -1):
            s = _PHI6[j] + z * s
        out[6] = s
        for k in range(5, -1, -1):
            out[k] = _IFACT[k] + z * out[k + 1]
    else:
        out[0] = math.exp(z)
        rz = 1.0 / z
        for k in range(1, _NPHI):
            out[k] = (out[k - 1] - _IFACT[k - 1]) * rz


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sat_flux(vm, km, si, amount):  # noqa: ANN001, ANN202
    c = si * amount
    return vm * c / (km + c)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sat_slope(vm, km, si, amount):  # noqa: ANN001, ANN202
    c = si * amount
    d = km + c
    return vm * km * si / (d * d)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _mode_coefficients(gv, ev, beta, gc, qc, ns, n):  # noqa: ANN001, ANN202
    """Polynomial coefficients of the saturable remainder from its node values (gc), projected on the
    modes and added to the constant input (qc)."""
    for q in range(ns):
        for k in range(5):
            acc = 0.0
            for ni in range(5):
                acc += _VINV[k, ni] * gv[q, ni]
            gc[q, k] = acc
    for j in range(n):
        for k in range(5):
            acc = beta[j] if k == 0 else 0.0
            for q in range(ns):
                acc += ev[q, j] * gc[q, k]
            qc[j, k] = acc


@nb.njit(parallel=True, cache=True, error_model="numpy")
def expo_segment(
    amat: np.ndarray, b: np.ndarray, inv: np.ndarray,  # (size, n, N), (size, N), (n, N)
    sat_state: np.ndarray, sat_sink: np.ndarray, vmax: np.ndarray, km: np.ndarray, sinv: np.ndarray,  # (S, N)
    x: np.ndarray, t0: float, t1: float, tg: np.ndarray, uniform: bool,
    cmax: np.ndarray, tmax: np.ndarray, curves: np.ndarray, out_idx: np.ndarray, j0: int, write: bool,
    rtol: float, atol: np.ndarray, h_min: float, ok: np.ndarray, stats: np.ndarray,
    max_relin: int, switch: np.ndarray,
) -> None:
    """Integrate every patient of the batch over ``[t0, t1]`` (see the module docstring). ``stats[p]``:
    accepted steps, linearisations, Picard sweeps (added). ``switch[p]`` is set for a patient found strongly
    nonlinear (a saturable concentration, or that of a compartment feeding it, above Km; or more than
    ``max_relin`` linearisations; ``max_relin = 0``: never): its state is left as it was, and the caller
    integrates the segment with the explicit kernel."""
    npat = x.shape[0]
    n = inv.shape[0]
    size = x.shape[1]
    m = size - n
    ns = sat_state.size
    kk = tg.size
    nr = out_idx.size
    dgrid = tg[1] - tg[0] if kk > 1 else 0.0
    for p in nb.prange(npat):
        # --- this patient's numbers (contiguous copies; the batch layout is patient-last)
        a = np.empty((n, n))
        bl = np.empty(n)
        rl = np.empty((m, n))
        bnc = np.empty(m)
        vm = np.empty(ns)
        kml = np.empty(ns)
        sil = np.empty(ns)
        dh = np.empty(n)
        ivl = np.empty(n)
        copy_patient(amat, b, vmax, km, sinv, p, n, m, ns, a, bl, rl, bnc, vm, kml, sil)
        for i in range(n):
            ivl[i] = inv[i, p]
            dh[i] = math.sqrt(inv[i, p])
        # --- scratch
        msym = np.empty((n, n))
        vec = np.empty((n, n))
        lam = np.empty(n)
        sub = np.empty((n, n))
        dsub = np.empty(n)
        esc = np.empty(n)
        idx = np.empty(n, dtype=np.int64)
        slope = np.empty(ns)
        ev = np.empty((ns, n))  # modal image of a unit forcing on saturable state s
        beta = np.empty(n)
        w = np.empty(n)
        wn = np.empty(n)
        wint = np.empty(n)
        wg = np.empty(n)
        u = np.empty(n)
        un = np.empty(n)
        uint = np.empty(n)
        erru = np.empty(n)
        errw = np.empty(n)
        ph = np.empty(_NPHI)
        phin = np.empty((5, n, _NPHI))  # phi_k(tau_i h lam_j)
        gv = np.empty((ns, 5))  # G_s at the nodes
        gc = np.empty((ns, 5))  # coefficients in tau
        qc = np.empty((n, 5))  # modal forcing coefficients in tau
        pc = np.empty((n, 5))  # ... in s - t (absolute time offset)
        dq = np.empty(5)
        rg = np.empty((n, 5))  # R(g) coefficients per mode
        edg = np.empty(n)  # e^(lam dgrid)
        cdg = np.empty((n, 5))  # dgrid^(m+1) phi_(m+1)(lam dgrid)
        for i in range(n):
            u[i] = x[p, i]
        if max_relin > 0:
            # a saturable compartment, or one that feeds it, above Km: it will (or does) saturate
            for q in range(ns):
                i = sat_state[q]
                for j in range(n):
                    if (j == i or a[i, j] > 0.0) and sil[q] * ivl[j] / ivl[i] * u[j] > kml[q]:
                        switch[p] = True
        if switch[p]:
            continue
        t = t0
        relin = True
        have_slope = False
        gslope = np.zeros(ns)
        h = 0.0
        jn = 0
        failed = False
        nsteps = 0
        nlin = 0
        while t < t1:
            if relin:
                have_slope = False
                if max_relin > 0 and nlin >= max_relin:
                    switch[p] = True  # strongly nonlinear here: the caller uses the explicit kernel
                    break
                # --- linearise at u: J0 = A - diag(F'(u)) in symmetric form, eigen-decomposition
                nlin += 1
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
                eigh_blocks(msym, lam, vec, sub, dsub, esc, idx)
                for j in range(n):
                    acc = 0.0
                    for i in range(n):
                        acc += vec[i, j] * dh[i] * bl[i]
                    beta[j] = acc
                    for q in range(ns):
                        ev[q, j] = dh[sat_state[q]] * vec[sat_state[q], j]
                    if kk > 1 and uniform:
                        _phis(lam[j] * dgrid, ph)
                        edg[j] = ph[0]
                        dpow = dgrid
                        for mm in range(5):
                            cdg[j, mm] = dpow * ph[mm + 1]
                            dpow *= dgrid
                if h == 0.0:
                    # initial step: as for explicit methods, from the size of the solution and its slope
                    d0 = 0.0
                    d1 = 0.0
                    for i in range(n):
                        acc = bl[i]
                        for j in range(n):
                            acc += a[i, j] * u[j]
                        for q in range(ns):
                            if sat_state[q] == i:
                                acc -= _sat_flux(vm[q], kml[q], sil[q], u[i])
                        sc = atol[p] + rtol * abs(u[i])
                        d0 += (u[i] / sc) ** 2
                        d1 += (acc / sc) ** 2
                    d0 = math.sqrt(d0 / n)
                    d1 = math.sqrt(d1 / n)
                    h = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
                relin = False
            h = min(h, t1 - t)
            last = t + h >= t1
            if last:
                h = t1 - t
            # modal state at the step start
            for j in range(n):
                acc = 0.0
                for i in range(n):
                    acc += vec[i, j] * dh[i] * u[i]
                w[j] = acc
            for j in range(n):
                zq = 0.25 * h * lam[j]
                if abs(zq) >= 1.0:
                    # e^(tau z) from powers of e^(z/4); phi_k by the forward recurrence
                    eq = math.exp(zq)
                    e_ = 1.0
                    for ni in range(1, 5):
                        e_ *= eq
                        z_ = ni * zq
                        rz = 1.0 / z_
                        phin[ni, j, 0] = e_
                        for k in range(1, _NPHI):
                            phin[ni, j, k] = (phin[ni, j, k - 1] - _IFACT[k - 1]) * rz
                else:
                    for ni in range(1, 5):
                        _phis(ni * zq, ph)
                        for k in range(_NPHI):
                            phin[ni, j, k] = ph[k]
            # remainder at the start; initial guess: its slope at the end of the previous step (same
            # linearisation), else constant
            for q in range(ns):
                i = sat_state[q]
                g0 = slope[q] * u[i] - _sat_flux(vm[q], kml[q], sil[q], u[i])
                dg = gslope[q] if have_slope else 0.0
                for ni in range(5):
                    gv[q, ni] = g0 + dg * _NODES[ni] * h
            conv = False
            nsw = 0
            for _sweep in range(_MAXIT):
                nsw += 1
                _mode_coefficients(gv, ev, beta, gc, qc, ns, n)
                delta = 0.0
                for ni in range(1, 5):
                    tau = _NODES[ni]
                    for j in range(n):
                        acc = phin[ni, j, 0] * w[j]
                        tp = tau
                        for k in range(5):
                            acc += h * qc[j, k] * _FACT[k] * tp * phin[ni, j, k + 1]
                            tp *= tau
                        wn[j] = acc
                    for q in range(ns):
                        i = sat_state[q]
                        acc = 0.0
                        for j in range(n):
                            acc += vec[i, j] * wn[j]
                        ui = acc / dh[i]
                        gnew = slope[q] * ui - _sat_flux(vm[q], kml[q], sil[q], ui)
                        sc = atol[p] + rtol * abs(ui)
                        dl = h * abs(gnew - gv[q, ni]) / sc
                        if dl > delta:
                            delta = dl
                        gv[q, ni] = gnew
                stats[p, 2] += 1
                if delta <= SWEEP_TOL:
                    conv = True
                    break
            if not conv:
                if nlin > 0 and h * 0.5 < h_min:
                    failed = True
                    break
                h *= 0.5
                relin = True
                continue
            # final coefficients from the converged node values
            _mode_coefficients(gv, ev, beta, gc, qc, ns, n)
            # end of step, its integral and the error estimate (the degree-4 term)
            for j in range(n):
                acc = phin[4, j, 0] * w[j]
                acc2 = h * phin[4, j, 1] * w[j]
                for k in range(5):
                    acc += h * qc[j, k] * _FACT[k] * phin[4, j, k + 1]
                    acc2 += h * h * qc[j, k] * _FACT[k] * phin[4, j, k + 2]
                wn[j] = acc
                wint[j] = acc2
                e4 = 0.0
                for q in range(ns):
                    e4 += ev[q, j] * gc[q, 4]
                errw[j] = h * e4 * _FACT[4] * phin[4, j, 5]
            err = 0.0
            for i in range(n):
                acc = 0.0
                acc2 = 0.0
                acc3 = 0.0
                for j in range(n):
                    acc += vec[i, j] * wn[j]
                    acc2 += vec[i, j] * wint[j]
                    acc3 += vec[i, j] * errw[j]
                un[i] = acc / dh[i]
                uint[i] = acc2 / dh[i]
                erru[i] = acc3 / dh[i]
                sc = atol[p] + rtol * max(abs(u[i]), abs(un[i]))
                err += (erru[i] / sc) ** 2
            err = math.sqrt(err / n)
            if err > 1.0:
                h *= max(0.2, 0.9 * err ** -0.2)
                if h < h_min:
                    failed = True
                    break
                continue
            # --- accepted: grid values inside (t, t + h]
            tn = t1 if last else t + h
            rh = 1.0 / h
            for j in range(n):
                hp = 1.0
                for k in range(5):
                    pc[j, k] = qc[j, k] * hp
                    hp *= rh
            first = True
            gi = 0.0
            while jn < kk and (tg[jn] <= tn):
                tt = tg[jn]
                if first or not uniform:
                    off = tt - t
                    for j in range(n):
                        _phis(lam[j] * off, ph)
                        acc = ph[0] * w[j]
                        op = off
                        for k in range(5):
                            acc += pc[j, k] * _FACT[k] * op * ph[k + 1]
                            op *= off
                        wg[j] = acc
                    if uniform:
                        # exact propagation from this point over g grid steps: w <- e^(lam dt) w + R(g), R a
                        # degree-4 polynomial in g (the forcing's Taylor coefficients at this point)
                        for j in range(n):
                            for mm in range(5):
                                acc = 0.0
                                op = 1.0
                                for k in range(mm, 5):
                                    acc += pc[j, k] * _FALL[k, mm] * op
                                    op *= off
                                dq[mm] = acc
                            dpow = 1.0
                            for d in range(5):
                                acc = 0.0
                                for mm in range(5 - d):
                                    acc += cdg[j, mm] * dq[mm + d]
                                rg[j, d] = acc * dpow * _IFACT[d]
                                dpow *= dgrid
                    first = False
                    gi = 0.0
                else:
                    for j in range(n):
                        acc = rg[j, 4]
                        for d in range(3, -1, -1):
                            acc = acc * gi + rg[j, d]
                        wg[j] = edg[j] * wg[j] + acc
                    gi += 1.0
                for i in range(n):
                    acc = 0.0
                    for j in range(n):
                        acc += vec[i, j] * wg[j]
                    c = ivl[i] * acc / dh[i]
                    if c > cmax[p, i]:
                        cmax[p, i] = c
                        tmax[p, i] = tt
                if write:
                    for r in range(nr):
                        i = out_idx[r]
                        acc = 0.0
                        for j in range(n):
                            acc += vec[i, j] * wg[j]
                        curves[p, r, j0 + jn] = ivl[i] * acc / dh[i]
                jn += 1
            # non-compartment rows: exact integrals; saturable flux = slope * int x_s - int G_s
            for r in range(m):
                row = n + r
                acc = bnc[r] * h
                for i in range(n):
                    acc += rl[r, i] * uint[i]
                for q in range(ns):
                    if sat_sink[q] == row:
                        gint = 0.0
                        for k in range(5):
                            gint += gc[q, k] / (k + 1)
                        acc += slope[q] * uint[sat_state[q]] - h * gint
                x[p, row] += acc
            for q in range(ns):
                acc = 0.0
                for k in range(1, 5):
                    acc += k * gc[q, k]
                gslope[q] = acc / h
            have_slope = True
            for i in range(n):
                u[i] = un[i]
            t = tn
            nsteps += 1
            if max_relin > 0:
                for q in range(ns):
                    if sil[q] * u[sat_state[q]] > kml[q]:
                        switch[p] = True  # saturated: strongly nonlinear, the explicit kernel is cheaper
                if switch[p]:
                    break
            h = h * (5.0 if err == 0.0 else min(5.0, 0.9 * err ** -0.2))
            # renew the linearisation when the remainder's slope has drifted (slow Picard contraction)
            if nsw >= 5:
                relin = True
        ok[p] = not failed
        stats[p, 0] += nsteps
        stats[p, 1] += nlin
        if not switch[p]:
            for i in range(n):
                x[p, i] = u[i]
