"""Batched exact solution of linear segments in symmetric form (numba, parallel over patients).

In every linear segment built by isoperf the compartment block of ``dx/dt = M x + b`` is ``A = S D`` with
``S`` symmetric (paired flows, clearances and decays on the diagonal) and ``D = diag(1/(V kp))``. Then
``y = D^(1/2) x`` obeys ``y' = D^(1/2) S D^(1/2) y + D^(1/2) b``, a symmetric system: real eigenvalues,
orthogonal eigenvectors (cyclic Jacobi, ``_jacobi.py``; uncoupled compartments stay exact), and every mode is
a scalar linear ODE, ``w' = lam w + beta``, solved exactly: ``w(t+h) = e^(lam h) w(t) + beta h phi1(lam h)``.
The other states (sinks, counters, AUCs) are linear functionals of the compartments with no feedback, so
their increments are exact integrals of the modes: ``int w = w0 h phi1(lam h) + beta h^2 phi2(lam h)``, with
``phi1(z) = (e^z - 1)/z`` and ``phi2(z) = (e^z - 1 - z)/z^2``. AUCs are therefore exact integrals, not
quadrature on the output grid.

Patients are processed in blocks of ``BLOCK`` (blocks in parallel, scratch memory per block). Within a
block the work that is the same for every patient (symmetric form, eigen-decomposition, modal projections,
segment ends) runs with the patient as the innermost, contiguous index, so the compiler vectorises it across
patients; each patient's arithmetic still uses only its own numbers, so a result never depends on the block.

Output grid: with curves, on a uniform grid, ``e^(lam (t_j - t0))`` comes from a small table per mode
(``_grid_blocked``) and every reported curve is one vectorised pass per block of grid points, written once;
without curves the grid maximum is found by marching the modes with a bound that stops as soon as no later
point can beat the maximum (``_grid_pruned``). Both give the same Cmax and first Tmax as a full scan.
Indices built from offsets are unsigned in the hot loops: numba wraps negative indices, and a signed
``offset + j`` that LLVM cannot prove non-negative keeps a loop scalar.

Curves are written in address order: on the 2-core benchmark machine a patient's 46 KB of curves took ~1.7 us
as one sequential stream but ~2.7 us when the rows had a ~0.5 KB gap (the earlier segment's grid points,
written in a pass of their own) and ~2.5-3.3 us when the rows were written interleaved. So the caller may
*stage* the grid points before the last segment: the earlier segments write them into a small array
(``stage``, (N, R, S)), and the last segment copies each row's ``S`` staged values in front of its own
(``copy_run``), making every row one stream. Without a stage (``S = 0``) the rows are written in place.

The caller checks the symmetric form (``symmetric_form_ok``); otherwise the single-patient engine is used.
Layout: ``amat[i, j, p]`` (state row, compartment column, patient), as ``BatchedSegment``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from isoperf.solve._jacobi import jacobi_lanes

BLOCK = 32


def symmetric_form_ok(matrix: np.ndarray, inv: np.ndarray, tol: float = 1e-12) -> bool:
    """True when every patient's compartment block is ``S D`` with ``S`` symmetric.
    ``matrix``: (size, n, N); ``inv``: (n, N) = 1 / (V kp)."""
    n = inv.shape[0]
    s = matrix[:n] / inv[None, :, :]
    scale = np.abs(s).max(axis=(0, 1))
    return bool(np.all(np.abs(s - np.swapaxes(s, 0, 1)) <= tol * np.maximum(scale, 1e-300)))


def is_uniform(t0: float, tg: np.ndarray) -> bool:
    if tg.size < 2:
        return False
    d = np.diff(np.concatenate([[t0], tg]))
    return bool(np.all(np.abs(d - d[0]) <= 1e-12 * max(1.0, abs(float(tg[-1])))))


@nb.njit(cache=True, error_model="numpy", boundscheck=False, inline="always")
def copy_run(dst, do, src, so, m):  # noqa: ANN001, ANN201
    """``dst[do:do + m] = src[so:so + m]`` on flat arrays (unsigned indices, so that the copy vectorises)."""
    du = np.uint64(do)
    su = np.uint64(so)
    for j in range(m):
        dst[du + np.uint64(j)] = src[su + np.uint64(j)]


@nb.njit(cache=True, error_model="numpy", boundscheck=False, inline="always")
def copy_stage(cflat, p, r, nrow, tlen, sflat, slen):  # noqa: ANN001, ANN201
    """Row ``r`` of patient ``p``: the staged values of the earlier segments (``S = slen`` grid points) in front."""
    if slen > 0:
        copy_run(cflat, (p * nrow + r) * tlen, sflat, (p * nrow + r) * slen, slen)


@nb.njit(cache=True, error_model="numpy", boundscheck=False, inline="always")
def copy_stages(cflat, p, nr, nrow, tlen, sflat, slen):  # noqa: ANN001, ANN201
    """All ``nr`` curve rows of patient ``p``: the staged values in front (the step-by-step kernels)."""
    for r in range(nr):
        copy_stage(cflat, p, r, nrow, tlen, sflat, slen)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phi1h(lam: float, h: float) -> float:
    """h * (e^(lam h) - 1) / (lam h), exact for lam -> 0."""
    z = lam * h
    if abs(z) < 1e-10:
        return h * (1.0 + 0.5 * z)
    return math.expm1(z) / lam


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phis(lam: float, h: float) -> tuple[float, float, float]:
    """``e^(lam h)``, ``h phi1(lam h)`` and ``h^2 phi2(lam h)`` from one exponential (``expm1`` for small
    ``|lam h|``, where ``e^z - 1`` would cancel; ``exp`` otherwise)."""
    z = lam * h
    if abs(z) < 0.5:
        em1 = math.expm1(z)
        e = em1 + 1.0
    else:  # e - 1 is exact to rounding here (|e - 1| >= 0.39)
        e = math.exp(z)
        em1 = e - 1.0
    if abs(z) < 1e-10:
        p1 = h * (1.0 + 0.5 * z)
    else:
        p1 = em1 / lam
    if abs(z) < 1e-3:
        p2 = h * h * (0.5 + z * (1.0 / 6.0 + z * (1.0 / 24.0 + z * (1.0 / 120.0 + z / 720.0))))
    else:
        p2 = h * h * (em1 - z) / (z * z)
    return e, p1, p2


@nb.njit(cache=True, inline="always", error_model="numpy")
def _slow_driven(lam: float, beta: float, h_seg: float) -> bool:
    """A mode driven by an input whose decay over the segment is slight (``|lam h| <= 1e-2``): its closed
    form ``beta/lam`` would cancel, so it is stepped from grid point to grid point instead."""
    return beta != 0.0 and not abs(lam) * h_seg > 1e-2


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def _modes(n, kk, t0, h_seg, tg, uniform, lam, w0, beta, coef, const, active, pw):  # noqa: ANN001, ANN202
    """w_k(t_j) = coef_k * pw[k, j] + const_k for every active mode (stride-8 power recurrence)."""
    for k in range(n):
        active[k] = w0[k] != 0.0 or beta[k] != 0.0
        if not active[k] or kk == 0:
            continue
        lk = lam[k]
        if not _slow_driven(lk, beta[k], h_seg):
            c = beta[k] / lk if beta[k] != 0.0 else 0.0
            coef[k] = w0[k] + c
            const[k] = -c
            if uniform:
                _powers(pw[k], lk, tg[0] - t0, kk)
            else:
                for j in range(kk):
                    pw[k, j] = math.exp(lk * (tg[j] - t0))
        else:  # slow mode driven by an input: exact step-by-step recurrence (no cancellation)
            coef[k] = 1.0
            const[k] = 0.0
            w = w0[k]
            tp = t0
            for j in range(kk):
                hh = tg[j] - tp
                w = math.exp(lk * hh) * w + beta[k] * _phi1h(lk, hh)
                pw[k, j] = w
                tp = tg[j]


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def _grid_full(p, n, kk, t0, h_seg, tg, uniform, lam, u, sq, w0, beta, coef, const, gi, active, pw, row,  # noqa: ANN001, ANN202
               cmax, tmax, curves, out_row, j0, cflat, nrow, tlen, sflat, slen):
    """Every grid value of every compartment (curves written in place, behind the staged values), then the
    running maximum."""
    _modes(n, kk, t0, h_seg, tg, uniform, lam, w0, beta, coef, const, active, pw)
    for i in range(n):
        cst = 0.0
        for k in range(n):
            if active[k]:
                gi[k] = sq[i] * u[i, k] * coef[k]
                cst += sq[i] * u[i, k] * const[k]
            else:
                gi[k] = 0.0
        r = out_row[i]
        if r >= 0:
            copy_stage(cflat, p, r, nrow, tlen, sflat, slen)
        dst = curves[p, r, j0:j0 + kk] if r >= 0 else row[:kk]
        last = -1
        for k in range(n):
            if gi[k] != 0.0:
                last = k
        if last < 0:
            for j in range(kk):
                dst[j] = cst
            m = cst if kk > 0 else -np.inf
        else:
            first = True
            for k in range(last):
                if gi[k] != 0.0:
                    if first:
                        _axpy_init(dst, gi[k], pw[k], cst, kk)
                        first = False
                    else:
                        _axpy(dst, gi[k], pw[k], kk)
            if first:
                m = _axpy_init_max(dst, gi[last], pw[last], cst, kk)
            else:
                m = _axpy_max(dst, gi[last], pw[last], kk)
        if m > cmax[p, i]:  # first grid point reaching the maximum, as argmax
            for j in range(kk):
                if dst[j] == m:
                    cmax[p, i] = m
                    tmax[p, i] = tg[j]
                    break


_FM = {"nnan", "ninf", "nsz"}  # no reassociation: every value is computed in the written order
#: time points per block of the blocked curve evaluation (the mode powers of a block stay in L1)
JB = 256


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def _blocked_ok(n, h_seg, lam, w0, beta):  # noqa: ANN001, ANN202
    """The blocked evaluation takes every active mode in the closed form ``coef e^(lam tau) + const``
    (the same modes as ``_modes`` on a uniform grid; not a slow mode driven by an input)."""
    for k in range(n):
        if _slow_driven(lam[k], beta[k], h_seg):  # (an input makes the mode active)
            return False
    return True


#: modes combined per pass of the blocked curve evaluation (padding modes have zero coefficients)
NG = 4


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath=_FM, inline="always")
def _comb(dst, o, m, c, g0, g1, g2, g3, ef, q0, first):  # noqa: ANN001, ANN202
    """dst[o + j] (=|+=) c + sum of ``NG`` modes ``g_q ef[(q0 + q) JB + j]``: flat arrays and no call, so
    the loop vectorises (one alias check) and no array views (reference counts) are made per block. Indices
    are unsigned: a signed index gets a negative-index wraparound test per access, which blocks SIMD."""
    ou = np.uint64(o)
    b0 = np.uint64(q0 * JB)
    b1 = b0 + np.uint64(JB)
    b2 = b1 + np.uint64(JB)
    b3 = b2 + np.uint64(JB)
    if first:
        for j in range(m):
            ju = np.uint64(j)
            dst[ou + ju] = c + g0 * ef[b0 + ju] + g1 * ef[b1 + ju] + g2 * ef[b2 + ju] + g3 * ef[b3 + ju]
    else:
        for j in range(m):
            ju = np.uint64(j)
            dst[ou + ju] += g0 * ef[b0 + ju] + g1 * ef[b1 + ju] + g2 * ef[b2 + ju] + g3 * ef[b3 + ju]


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath=_FM)
def _grid_blocked(p, n, kk, t0, tg, lam, u, sq, w0, beta, ef, base, gq, cq, gb, accb, cflat, nrow, tlen,  # noqa: ANN001, ANN202
                  order, out_row, j0, cmax, tmax, sflat, slen):
    """Uniform grid, every mode in closed form ``coef e^(lam tau) + const``. The grid is walked in blocks of
    ``JB`` points: ``e^(lam (t_j - t0)) = base_k E_k[j - jb]`` with the table ``E_k[r] = e^(lam h (r+1))``
    (``e^(lam h)`` and ``e^(8 lam h)`` exact, the rest by products) and ``base_k = E_k[JB-1]^(block)``; each reported
    compartment's block is one vectorised pass over the table, written once into the flat curve buffer
    (``cflat``: (N, nrow, tlen) flattened). Maxima: when every active ``lam <= 0``, each term of a block is
    largest at its first point if its coefficient is positive and at its last if negative, so the sum of
    those bounds every value of the block; blocks that cannot beat the maximum so far are not scanned, and
    for unreported compartments not even evaluated. (The bound is exact term by term; a relative margin of
    1e-12 covers the rounding of the table, which is monotone only to within a few ulps for modes with
    ``|lam h|`` near rounding, and of the grouped sums.)"""
    h = tg[0] - t0
    nn = 0
    decreasing = True
    jlen = max(min(JB, kk), 8)  # table length (a single block needs no more)
    for i in range(n):
        cq[i] = 0.0
    for k in range(n):
        if w0[k] != 0.0 or beta[k] != 0.0:
            c = beta[k] / lam[k] if beta[k] != 0.0 else 0.0
            for i in range(n):
                cq[i] += sq[i] * u[i, k] * -c
            if lam[k] > 0.0:
                decreasing = False
            e8 = math.exp(lam[k] * h * 8)
            row0 = nn * JB
            ef[row0] = math.exp(lam[k] * h)
            for r in range(1, 8):  # (two exponentials per mode; relative error <= 8 + j/8 ulp at point j)
                ef[row0 + r] = ef[row0 + r - 1] * ef[row0]
            r0 = np.uint64(row0)
            for j in range(8, jlen):  # (unsigned indices: see _comb)
                ju = np.uint64(j)
                ef[r0 + ju] = ef[r0 + ju - np.uint64(8)] * e8
            for i in range(n):
                gq[i, nn] = sq[i] * u[i, k] * (w0[k] + c)
            nn += 1
    ng = ((nn + NG - 1) // NG) * NG
    for q in range(nn, ng):  # padding modes: zero coefficient, zero table
        for i in range(n):
            gq[i, q] = 0.0
        for j in range(jlen):
            ef[q * JB + j] = 0.0
    for ii in range(n):  # compartment by compartment, in curve-row order: the curves are one sequential stream
        i = order[ii]
        r_out = out_row[i]
        if r_out >= 0:
            copy_stage(cflat, p, r_out, nrow, tlen, sflat, slen)
        for q in range(ng):
            base[q] = 1.0 if q < nn else 0.0
        for jb in range(0, kk, JB):
            m = min(JB, kk - jb)
            # upper bound of the block's values: with every lam <= 0 each term g e^(lam t) is largest at the
            # block's first point when g > 0 and at its last when g < 0 (term by term, so in floating point too)
            bound = cq[i]
            for q in range(ng):
                gb[q] = gq[i, q] * base[q]
                bound += gb[q] * (ef[q * JB] if gb[q] > 0.0 else ef[q * JB + m - 1])
            for q in range(nn):
                base[q] *= ef[q * JB + JB - 1]
            scan = not decreasing or bound + abs(bound) * 1e-12 + 1e-300 > cmax[p, i]
            if r_out >= 0:
                dst = cflat
                o = (p * nrow + r_out) * tlen + j0 + jb
            elif scan:
                dst = accb
                o = 0
            else:
                continue
            if ng == 0:
                for j in range(m):
                    dst[o + j] = cq[i]
            for q0 in range(0, ng, NG):
                _comb(dst, o, m, cq[i], gb[q0], gb[q0 + 1], gb[q0 + 2], gb[q0 + 3], ef, q0, q0 == 0)
            if scan:
                mx = cmax[p, i]
                jm = -1
                ou = np.uint64(o)
                for j in range(m):
                    v = dst[ou + np.uint64(j)]
                    if v > mx:
                        mx = v
                        jm = j
                if jm >= 0:  # the first grid point reaching the maximum, as argmax
                    cmax[p, i] = mx
                    tmax[p, i] = tg[jb + jm]


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath=_FM)
def _powers(out, lam, h, kk):  # noqa: ANN001, ANN202
    """out[j] = e^(lam h (j+1)): eight exact exponentials, then blocks of eight times e^(8 lam h) (SIMD)."""
    e = np.empty(8)
    for r in range(8):
        e[r] = math.exp(lam * h * (r + 1))
    e8 = e[7]
    base = 1.0
    nb8 = kk // 8
    for b in range(nb8):
        for r in range(8):
            out[8 * b + r] = base * e[r]
        base *= e8
    for j in range(8 * nb8, kk):
        out[j] = base * e[j - 8 * nb8]


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath=_FM)
def _axpy_init(dst, g, x, c, kk):  # noqa: ANN001, ANN202
    for j in range(kk):
        dst[j] = c + g * x[j]


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath=_FM)
def _axpy(dst, g, x, kk):  # noqa: ANN001, ANN202
    for j in range(kk):
        dst[j] += g * x[j]


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _axpy_max(dst, g, x, kk):  # noqa: ANN001, ANN202
    """dst += g x and its maximum (the max reduction may be reordered: a max is exact in any order)."""
    m = -np.inf
    for j in range(kk):
        v = dst[j] + g * x[j]
        dst[j] = v
        m = v if v > m else m
    return m


@nb.njit(cache=True, error_model="numpy", boundscheck=False, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _axpy_init_max(dst, g, x, c, kk):  # noqa: ANN001, ANN202
    m = -np.inf
    for j in range(kk):
        v = c + g * x[j]
        dst[j] = v
        m = v if v > m else m
    return m


@nb.njit(cache=True, error_model="numpy", inline="always")  # inlined: a call passes ~17 arrays (reference counts)
def _grid_pruned(p, n, kk, t0, h_seg, tg, uniform, lam, u, sq, w0, beta, coef, const, active, pw, row,  # noqa: ANN001, ANN202
                 cmax, tmax, ea, cur, idx, g, ga, cst):
    """Running maximum on the grid without curves: march the modes point by point and stop a compartment as
    soon as the bound ``const + sum_k max(g_k e^(lam_k tau), 0)`` (``g_k`` itself for ``lam_k = 0``) cannot
    beat its maximum so far. Every ``lam_k <= 0``, so the bound is non-increasing and bounds every later value,
    term by term (hence in floating point too). Same maxima and first arg-maxima as the full scan. Each
    compartment is marched on its own (the modes' powers recomputed for each; its maximum and bound stay in
    registers): ~15 % less time for the perfusion hour of the reference model than one march of all
    compartments side by side, the same numbers."""
    prunable = True
    for k in range(n):
        active[k] = w0[k] != 0.0 or beta[k] != 0.0
        if active[k] and (lam[k] > 0.0 or _slow_driven(lam[k], beta[k], h_seg)):
            prunable = False
    if not prunable or not uniform:
        _modes(n, kk, t0, h_seg, tg, uniform, lam, w0, beta, coef, const, active, pw)
        for i in range(n):
            cst = 0.0
            for j in range(kk):
                row[j] = 0.0
            for k in range(n):
                if active[k]:
                    g = sq[i] * u[i, k] * coef[k]
                    cst += sq[i] * u[i, k] * const[k]
                    for j in range(kk):
                        row[j] += g * pw[k, j]
            best = cmax[p, i]
            jb = -1
            for j in range(kk):
                v = row[j] + cst
                if v > best:
                    best = v
                    jb = j
            if jb >= 0:
                cmax[p, i] = best
                tmax[p, i] = tg[jb]
        return
    nn = 0
    for k in range(n):
        if active[k]:
            c = beta[k] / lam[k] if beta[k] != 0.0 else 0.0
            idx[nn] = k
            coef[nn] = w0[k] + c
            const[nn] = -c
            ea[nn] = math.exp(lam[k] * (tg[0] - t0))
            nn += 1
    for i in range(n):
        c0 = 0.0
        for q in range(nn):
            k = idx[q]
            g[i, q] = sq[i] * u[i, k] * coef[q]
            # bound term: g e^(lam tau) itself when g > 0 (or lam = 0), else its supremum over later times, 0
            ga[i, q] = g[i, q] if (g[i, q] > 0.0 or lam[k] == 0.0) else 0.0
            c0 += sq[i] * u[i, k] * const[q]
        cst[i] = c0
    for i in range(n):  # compartment by compartment: its running maximum and bound stay in registers
        best = cmax[p, i]
        jb = -1
        c0 = cst[i]
        for q in range(nn):
            cur[q] = 1.0
        for j in range(kk):
            v = c0
            bnd = c0
            for q in range(nn):
                cq_ = cur[q] * ea[q]
                cur[q] = cq_
                v += g[i, q] * cq_
                bnd += ga[i, q] * cq_
            if v > best:
                best = v
                jb = j
            if bnd <= best:
                break
        if jb >= 0:
            cmax[p, i] = best
            tmax[p, i] = tg[jb]


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def row_order(out_row):  # noqa: ANN001, ANN201
    """Compartments with a curve row in row order, then the others (the order of the curve writes)."""
    n = out_row.size
    order = np.empty(n, dtype=np.int64)
    k = 0
    for r in range(n):
        for i in range(n):
            if out_row[i] == r:
                order[k] = i
                k += 1
    for i in range(n):
        if out_row[i] < 0:
            order[k] = i
            k += 1
    return order


@nb.njit(cache=True, error_model="numpy", boundscheck=False, inline="always")
def _lanes_matvec(v, src, dst, n, nl, transpose):  # noqa: ANN001, ANN202
    """Per lane (patient, innermost), ``dst = V^T src`` (``transpose``) or ``dst = V src``; ``v`` (n, n, L)."""
    for r in range(n):
        for lane in range(nl):
            dst[r, lane] = 0.0
        for c in range(n):
            if transpose:
                for lane in range(nl):
                    dst[r, lane] += v[c, r, lane] * src[c, lane]
            else:
                for lane in range(nl):
                    dst[r, lane] += v[r, c, lane] * src[c, lane]


@nb.njit(parallel=True, cache=True, error_model="numpy")
def linear_segment(
    amat: np.ndarray,  # (size, n, N) assembled compartment columns
    b: np.ndarray,  # (size, N) constant inputs
    inv: np.ndarray,  # (n, N) 1 / (V kp)
    x: np.ndarray,  # (N, size) state at t0, overwritten with the state at t1
    t0: float,
    t1: float,
    tg: np.ndarray,  # (K,) output times in (t0, t1]
    uniform: bool,  # tg[j] = t0 + (j + 1) h
    cmax: np.ndarray,  # (N, n) running maximum concentration (updated)
    tmax: np.ndarray,  # (N, n)
    curves: np.ndarray,  # (N, R, T) concentrations on the whole grid, written at [:, r, j0 + j]
    out_row: np.ndarray,  # (n,) curve row of each compartment, -1 if none
    j0: int,
    write: bool,
    ok: np.ndarray,  # (N,) set False for a patient whose block is not in symmetric form (not solved)
    stage: np.ndarray,  # (N, R, S): grid points [0, S) of the earlier segments, copied in front (S = j0), or S = 0
) -> None:
    size, n, npat = amat.shape
    kk = tg.size
    h_seg = t1 - t0
    nblocks = (npat + BLOCK - 1) // BLOCK
    nrow = curves.shape[1]
    tlen = curves.shape[2]
    cflat = curves.reshape(curves.size)  # C-contiguous (the caller guarantees it)
    slen = stage.shape[2]
    sflat = stage.reshape(stage.size)
    order = row_order(out_row)
    for blk in nb.prange(nblocks):
        p0 = blk * BLOCK
        nl = min(npat, p0 + BLOCK) - p0
        # scratch, once per block
        al = np.empty((n, n, BLOCK))
        vl = np.empty((n, n, BLOCK))
        jscr = np.empty((5, BLOCK))
        sym = np.empty(BLOCK, dtype=np.bool_)
        sqb = np.empty((n, BLOCK))
        isqb = np.empty((n, BLOCK))
        rinvb = np.empty((n, BLOCK))
        scl = np.empty(BLOCK)
        asy = np.empty(BLOCK)
        xb = np.empty((n, BLOCK))
        bsb = np.empty((n, BLOCK))
        w0b = np.empty((n, BLOCK))
        betab = np.empty((n, BLOCK))
        wendb = np.empty((n, BLOCK))
        wintb = np.empty((n, BLOCK))
        xendb = np.empty((n, BLOCK))
        xintb = np.empty((n, BLOCK))
        accr = np.empty(BLOCK)
        sq = np.empty(n)
        lam = np.empty(n)
        u = np.empty((n, n))
        w0 = np.empty(n)
        beta = np.empty(n)
        coef = np.empty(n)
        const = np.empty(n)
        gi = np.empty(n)
        active = np.empty(n, dtype=np.bool_)
        pw = np.empty((n, max(kk, 1)))
        row = np.empty(max(kk, 1))
        ea = np.empty(n)
        cur = np.empty(n)
        idx = np.empty(n, dtype=np.int64)
        g = np.empty((n, n))
        ga = np.empty((n, n))
        cst = np.empty(n)
        ngmax = ((n + NG - 1) // NG) * NG
        ef = np.empty(ngmax * JB)
        base = np.empty(ngmax)
        gq = np.empty((n, ngmax))
        cq = np.empty(n)
        gb = np.empty(ngmax)
        accb = np.empty(JB)
        # symmetric form D^(1/2) A D^(-1/2) of every patient of the block, then all eigen-decompositions at once;
        # patients are the innermost (contiguous, vectorised) index, with unsigned patient indices
        pu = np.uint64(p0)
        for i in range(n):
            for lane in range(nl):
                sv = math.sqrt(inv[i, pu + np.uint64(lane)])
                sqb[i, lane] = sv
                isqb[i, lane] = 1.0 / sv
                rinvb[i, lane] = 1.0 / inv[i, pu + np.uint64(lane)]
        for lane in range(nl):
            scl[lane] = 0.0
            asy[lane] = 0.0
        for i in range(n):
            for j in range(i, n):
                for lane in range(nl):
                    aij = amat[i, j, pu + np.uint64(lane)]
                    aji = amat[j, i, pu + np.uint64(lane)]
                    sij = aij * rinvb[j, lane]
                    sji = aji * rinvb[i, lane]
                    scl[lane] = max(scl[lane], abs(sij))
                    asy[lane] = max(asy[lane], abs(sij - sji))
                    v = 0.5 * (aij * sqb[i, lane] * isqb[j, lane] + aji * sqb[j, lane] * isqb[i, lane])
                    al[i, j, lane] = v
                    al[j, i, lane] = v
        for lane in range(nl):
            sym[lane] = asy[lane] <= 1e-12 * scl[lane]
            if not sym[lane]:  # not solved here: a zero matrix costs the Jacobi sweeps nothing
                for i in range(n):
                    for j in range(n):
                        al[i, j, lane] = 0.0
        jacobi_lanes(al, vl, jscr, nl)
        # modal initial values and inputs, w0 = U^T D^(1/2) x and beta = U^T D^(1/2) b, for the whole block
        for i in range(n):
            for lane in range(nl):
                xb[i, lane] = x[pu + np.uint64(lane), i] * sqb[i, lane]
                bsb[i, lane] = b[i, pu + np.uint64(lane)] * sqb[i, lane]
        _lanes_matvec(vl, xb, w0b, n, nl, False)  # (the rows of vl are the eigenvectors)
        _lanes_matvec(vl, bsb, betab, n, nl, False)
        for lane in range(nl):
            p = p0 + lane
            if not sym[lane] or jscr[0, lane] > 0.0:
                ok[p] = False
                continue
            for i in range(n):
                sq[i] = sqb[i, lane]
                lam[i] = al[i, i, lane]
                w0[i] = w0b[i, lane]
                beta[i] = betab[i, lane]
                for k in range(n):
                    u[i, k] = vl[k, i, lane]
            if write and uniform and _blocked_ok(n, h_seg, lam, w0, beta):
                _grid_blocked(p, n, kk, t0, tg, lam, u, sq, w0, beta, ef, base, gq, cq, gb, accb, cflat, nrow, tlen,
                              order, out_row, j0, cmax, tmax, sflat, slen)
            elif write:
                _grid_full(p, n, kk, t0, h_seg, tg, uniform, lam, u, sq, w0, beta, coef, const, gi, active, pw, row,
                           cmax, tmax, curves, out_row, j0, cflat, nrow, tlen, sflat, slen)
            else:
                _grid_pruned(p, n, kk, t0, h_seg, tg, uniform, lam, u, sq, w0, beta, coef, const, active, pw, row,
                             cmax, tmax, ea, cur, idx, g, ga, cst)
        # end of segment for the whole block, directly from t0 (independent of the output grid)
        for k in range(n):
            for lane in range(nl):
                e, p1, p2 = _phis(al[k, k, lane], h_seg)
                wendb[k, lane] = e * w0b[k, lane] + betab[k, lane] * p1
                wintb[k, lane] = w0b[k, lane] * p1 + betab[k, lane] * p2
        _lanes_matvec(vl, wendb, xendb, n, nl, True)
        _lanes_matvec(vl, wintb, xintb, n, nl, True)
        for i in range(n):
            for lane in range(nl):
                xendb[i, lane] = xendb[i, lane] / sqb[i, lane]
                xintb[i, lane] = xintb[i, lane] / sqb[i, lane]
        for lane in range(nl):
            if sym[lane] and not jscr[0, lane] > 0.0:
                for i in range(n):
                    x[p0 + lane, i] = xendb[i, lane]
        for r in range(n, size):
            for lane in range(nl):
                accr[lane] = b[r, pu + np.uint64(lane)] * h_seg
            for i in range(n):
                for lane in range(nl):
                    accr[lane] += amat[r, i, pu + np.uint64(lane)] * xintb[i, lane]
            for lane in range(nl):
                if sym[lane] and not jscr[0, lane] > 0.0:
                    x[p0 + lane, r] += accr[lane]


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def post_concentrations(x: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Every patient's compartment concentrations now, (N, n): ``x[p, i] * inv[i, p]`` (a state after an event)."""
    n, npat = inv.shape
    out = np.empty((npat, n))
    for p in range(npat):
        for i in range(n):
            out[p, i] = x[p, i] * inv[i, p]
    return out


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def post_maxima(conc: np.ndarray, t: float, cmax: np.ndarray, tmax: np.ndarray) -> None:
    """A post-event state after the grid: where ``conc`` beats the maximum, it and ``t`` replace it (in place)."""
    for p in range(conc.shape[0]):
        for i in range(conc.shape[1]):
            if conc[p, i] > cmax[p, i]:
                cmax[p, i] = conc[p, i]
                tmax[p, i] = t


@nb.njit(parallel=True, cache=True, error_model="numpy", boundscheck=False)
def mass_balance_rows(x: np.ndarray, n: int, sinks: np.ndarray, dosed: int, err: np.ndarray) -> None:
    """``err[p] = max(err[p], |held - dosed| / dosed)`` per patient (``|held|`` when nothing was dosed), held =
    compartments + sinks, summed row by row in a fixed order (a patient's value never depends on the batch)."""
    for p in nb.prange(x.shape[0]):  # (rows are independent: the same result on any number of threads)
        held = 0.0
        for i in range(n):
            held += x[p, i]
        for s in sinks:
            held += x[p, s]
        d = x[p, dosed]
        e = abs(held) if d == 0.0 else abs(held - d) / max(abs(d), 1e-300)
        if e > err[p] or e != e:  # a NaN sticks (and fails the caller's check)
            err[p] = e
