// Exact solution of linear segments, eight patients per SIMD lane group (C++, GCC vector extensions).
//
// The method of solve/_batched_exact.py (its docstring has it): the compartment block A = S D in symmetric form
// D^(1/2) A D^(-1/2), its eigen-decomposition by cyclic Jacobi (the same rotations, _lanes.h), every mode a scalar
// linear ODE w' = lam w + beta solved exactly, the sinks and AUCs as exact integrals of the modes. Here on a uniform
// output grid only (the caller uses the numba kernel otherwise).
//
// Why a second implementation: every patient of a linear segment has the same grid and no step-size control, so
// eight patients advance in lockstep, one vector lane each, with no lane ever idle; the numba kernel works one
// patient at a time over the grid and writes each curve with ordinary stores. Here the curves are built as 8 x 8
// blocks in a small buffer and streamed out (non-temporal stores: on the benchmark machine ~1.75 us per patient's
// 46 KB of curves against ~2.5-2.9 us with ordinary stores, measured).
//
// Grid values with curves: each mode by the exact one-grid-step recurrence w(t + d) = e^(lam d) w(t) + beta d
// phi1(lam d), run as four interleaved chains (w(t + 4d) = e^(4 lam d) w(t) + ..., the coefficients from the
// one-step ones), which never cancels (a slowly decaying mode driven by an input included); the error grows by
// ~ one rounding per four grid steps (~1e-13 relative over a day on a 1-min grid, against 1e-8 required).
// Without curves: the numba kernel's pruned march (_grid_pruned: closed form coef e^(lam tau) + const per
// compartment, stopped as soon as a bound of all later values cannot beat the maximum so far), lanes in lockstep
// until every lane has stopped; where a lane's modes do not allow the bound (lam > 0, or a slowly decaying mode
// driven by an input), every grid value by the recurrence instead.
//
// The threads take blocks of two lane groups: the two eigen-decompositions run interleaved (a Jacobi rotation is a
// chain of divisions and square roots: one group alone waits on their latency; ~15 % less time in Jacobi, measured),
// the rest group by group. The kernel reads only the matrix entries the assembly wrote (``pattern``: the others are
// zero for every patient; the reference model writes 22 and 17 of 85) and visits only the Jacobi pivots of coupled
// compartments (after washout the emptied circuit is coupled to nothing): variant A without curves ~20 % faster,
// the same bits.
//
// Each lane's arithmetic uses its own numbers only (lanes that have stopped marching are masked), so a patient's
// result does not depend on the patients sharing its group, nor on the thread count.
#include "_lanes.h"

namespace {

using namespace lanes;

constexpr int NMAX = 16;  // compartments
constexpr int GB = 32;    // grid points per chunk (the chunk's modes and values stay in L1)

struct LArgs {  // mirrors _exact_lanes.py::_LArgs (ctypes); every array C-contiguous
    const double* amat;     // (size, n, N)
    const double* b;        // (size, N)
    const double* inv;      // (n, N)
    double* x;              // (N, size)
    const double* tg;       // (kk): uniform, tg[j] = t0 + (j + 1) d
    double* cmax;
    double* tmax;           // (N, n)
    double* curves;         // (., nrow, tlen)
    const int64_t* out_row;  // (n): curve row of each compartment, -1: none
    uint8_t* ok;            // (N)
    const double* stage;    // (N, nrow, slen)
    int64_t* next;          // the next block of patients to take (shared by the parts)
    const uint8_t* pattern;  // (size, n): the entries of amat that may be non-zero (the others are 0 for every patient)
    double t0, t1, negligible, converged;
    int64_t npat, n, size, kk, nrow, tlen, j0, write, slen, max_sweeps;
    int64_t any_b;  // 0: b is 0 for every patient (not read)
};

// e^z, phi1(z) = (e^z - 1)/z and phi2(z) = (e^z - 1 - z)/z^2: by their series where |z| < 1 (no cancellation;
// 20 terms leave < 1e-19), from e^z elsewhere
struct Phi12Series {  // c1[k] = 1/(k+1)!, c2[k] = 1/(k+2)!
    double c1[20]{}, c2[20]{};
    constexpr Phi12Series() {
        double f = 1.0;
        for (int k = 0; k < 21; k++) {
            f *= (double)(k + 1);
            if (k < 20) c1[k] = 1.0 / f;
            if (k > 0) c2[k - 1] = 1.0 / f;
        }
    }
};
constexpr Phi12Series PHI12{};

inline void ephi12(vd z, vd& e, vd& f1, vd& f2) {
    e = vexp(z);
    const double* c1 = PHI12.c1;
    const double* c2 = PHI12.c2;
    vd s1 = splat(c1[19]), s2 = splat(c2[19]);
    for (int k = 18; k >= 0; k--) {
        s1 = s1 * z + c1[k];
        s2 = s2 * z + c2[k];
    }
    vl small = vabs(z) < 1.0;
    vd zs = sel(small, splat(1.0), z);  // (no division by ~0 in the unused branch)
    f1 = sel(small, s1, (e - 1.0) / zs);
    f2 = sel(small, s2, (e - 1.0 - z) / (zs * zs));
}

struct LWork {
    int n, nrow;
    int64_t p0 = 0;  // the group: its first patient and its number of patients
    int nl = 0;
    vl sym, live;    // lanes in symmetric form; lanes whose Jacobi has not converged
    std::vector<vd> store;
    vd *sq, *lam, *jv, *ja, *w0, *beta, *vcon, *ed, *cd, *e4, *c4, *wt, *cts, *wend, *wint, *xint, *g, *ga, *cst,
        *ea, *cur, *isq;
    std::vector<vd> sinks;     // increments of the states after the compartments
    std::vector<vd> rowstore;  // the lanes' curve rows of the segment (lane, row, point), 64-byte aligned
    double* rows;
    size_t rowlen;  // points per row, padded to a multiple of eight
    // ``shared``: another group's work whose curve-row buffer this one uses too (the two are finished one after the
    // other), else a buffer of its own
    LWork(int n_, int64_t nrow_, int64_t kk, const LWork* shared = nullptr)
        : n(n_), nrow((int)nrow_), rowlen((size_t)(kk + L - 1) / L * L) {
        const size_t nn = (size_t)n * n, n1 = (size_t)n;
        size_t sizes[] = {n1, n1, nn, nn, n1, n1, nn, n1, n1, n1, n1, n1 * GB, n1 * GB, n1, n1, n1, nn, nn, n1, n1, n1,
                          n1};
        vd** ptrs[] = {&sq, &lam, &jv, &ja, &w0, &beta, &vcon, &ed, &cd, &e4, &c4, &wt, &cts, &wend, &wint, &xint, &g,
                       &ga, &cst, &ea, &cur, &isq};
        size_t total = 0;
        for (size_t k : sizes) total += k;
        store.assign(total, splat(0.0));
        size_t o = 0;
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            *ptrs[k] = store.data() + o;
            o += sizes[k];
        }
        if (shared) {
            rows = shared->rows;
        } else {
            rowstore.resize((size_t)nrow * rowlen);  // (L doubles per vd: L * nrow * rowlen doubles)
            rows = reinterpret_cast<double*>(rowstore.data());
        }
    }
};

// the running maximum of compartment i over ``m`` values ct (slots in ``track`` only), given their maximum m0:
// where it beats the maximum so far, its first grid point (tmax: tg[g0 + slot])
inline void chunk_max_of(const vd* ct, vd m0, vl track, vd& cmx, vd& tmx, const double* tg, int64_t g0) {
    vl up = track & (m0 > cmx);
    if (!any(up)) return;
    cmx = sel(up, m0, cmx);
    for (int l = 0; l < L; l++) {
        if (!up[l]) continue;
        int k = 0;
        while (ct[k][l] != m0[l]) k++;
        tmx[l] = tg[g0 + k];
    }
}

// ct[s] = sum_q vc[q] w_q[s] over the modes; returns the maximum of the m values (the chunk's maximum for
// chunk_max_of, taken while they are in registers). NA > 0: NA modes, their coefficients held in registers (with a
// runtime count they were reloaded for every point, and the loads, not the FMAs, bound the loop); NA = 0: ``na``.
template <int NA>
vd combine(const vd* vc, const vd* const* wq, vd* ct, int m, int na = NA) {
    vd v[NA > 0 ? NA : 1];
    for (int q = 0; q < NA; q++) v[q] = vc[q];
    const vd* coef = NA > 0 ? v : vc;
    const int cnt = NA > 0 ? NA : na;
    vd mx = splat(-HUGE_VAL);
    for (int s = 0; s < m; s++) {
        vd c = coef[0] * wq[0][s];
        for (int q = 1; q < cnt; q++) c += coef[q] * wq[q][s];
        ct[s] = c;
        mx = vmaxg(c, mx);
    }
    return mx;
}

vd combine_any(int na, const vd* vc, const vd* const* wq, vd* ct, int m) {
    switch (na) {
        case 0:
            for (int s = 0; s < m; s++) ct[s] = splat(0.0);
            return m > 0 ? splat(0.0) : splat(-HUGE_VAL);
        case 1: return combine<1>(vc, wq, ct, m);
        case 2: return combine<2>(vc, wq, ct, m);
        case 3: return combine<3>(vc, wq, ct, m);
        case 4: return combine<4>(vc, wq, ct, m);
        case 5: return combine<5>(vc, wq, ct, m);
        case 6: return combine<6>(vc, wq, ct, m);
        case 7: return combine<7>(vc, wq, ct, m);
        case 8: return combine<8>(vc, wq, ct, m);
        default: return combine<0>(vc, wq, ct, m, na);
    }
}

// entry ``e`` of amat for the group (0 where the pattern says it is 0 for every patient: not read)
template <class LD>
inline vd lda(const LArgs& A, LD& ld, int64_t e) {
    return A.pattern[e] ? ld(A.amat, e) : splat(0.0);
}

// the pivots of the eigen-decomposition (jacobi_groups): pairs of compartments coupled, directly or through others,
// in the pattern of the compartment block (those in different blocks keep a_pq = 0)
inline void coupled_pairs(const LArgs& A, uint8_t* pairs) {
    const int n = (int)A.n;
    int comp[NMAX];
    for (int i = 0; i < n; i++) comp[i] = i;
    for (bool changed = true; changed;) {  // labels: the smallest index reachable (n <= 16: a few passes)
        changed = false;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j && (A.pattern[i * n + j] || A.pattern[j * n + i]) && comp[j] < comp[i]) {
                    comp[i] = comp[j];
                    changed = true;
                }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) pairs[i * n + j] = comp[i] == comp[j];
}

// --- a group's symmetric form D^(1/2) A D^(-1/2) (checked: S = A D^-1 symmetric to 1e-12) into W.ja, for the
// eigen-decomposition; W.live: the lanes in symmetric form
void prepare(const LArgs& A, LWork& W, int64_t p0, int nl) {
    const int n = (int)A.n;
    const int64_t N = A.npat;
    W.p0 = p0;
    W.nl = nl;
    auto ld = [&](const double* base, int64_t row) { return load_lanes(base + row * N, p0, nl); };
    vd rinv[NMAX];
    vd* isq = W.isq;
    for (int i = 0; i < n; i++) {
        vd iv = ld(A.inv, i);
        W.sq[i] = vsqrt(iv);
        isq[i] = 1.0 / W.sq[i];
        rinv[i] = 1.0 / iv;
    }
    vd scl = splat(0.0), asy = splat(0.0);
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            vd aij = lda(A, ld, (int64_t)i * n + j), aji = lda(A, ld, (int64_t)j * n + i);
            vd sij = aij * rinv[j], sji = aji * rinv[i];
            scl = vmaxg(vabs(sij), scl);
            asy = vmaxg(vabs(sij - sji), asy);
            vd v = 0.5 * (aij * W.sq[i] * isq[j] + aji * W.sq[j] * isq[i]);
            W.ja[i * n + j] = v;
            W.ja[j * n + i] = v;
        }
    vl sym = asy <= 1e-12 * scl;
    for (int k = 0; k < n * n; k++) W.ja[k] = sel(sym, W.ja[k], splat(0.0));
    W.sym = sym;
    W.live = splatl(-1);
}

// --- the rest, after the eigen-decomposition (W.live: the lanes whose Jacobi did not converge)
void finish(const LArgs& A, LWork& W) {
    const int n = (int)A.n;
    const int64_t N = A.npat, size = A.size, kk = A.kk;
    const double h_seg = A.t1 - A.t0;
    const int64_t p0 = W.p0;
    const int nl = W.nl;
    const vd* isq = W.isq;
    int64_t P[L];
    for (int l = 0; l < L; l++) P[l] = p0 + std::min(l, nl - 1);  // spare lanes repeat the last patient
    auto ld = [&](const double* base, int64_t row) { return load_lanes(base + row * N, p0, nl); };
    const vl bad = ~W.sym | W.live;
    // --- modal initial values and inputs, w0 = V D^(1/2) x and beta = V D^(1/2) b (rows of jv: eigenvectors)
    vd xs[NMAX], bs[NMAX];
    for (int i = 0; i < n; i++) {
        vd xi;
        for (int l = 0; l < L; l++) xi[l] = A.x[P[l] * size + i];
        xs[i] = xi * W.sq[i];
        bs[i] = (A.any_b ? ld(A.b, i) : splat(0.0)) * W.sq[i];
    }
    for (int k = 0; k < n; k++) {
        W.lam[k] = W.ja[k * n + k];
        vd a0 = splat(0.0), a1 = splat(0.0);
        for (int i = 0; i < n; i++) {
            a0 += W.jv[k * n + i] * xs[i];
            a1 += W.jv[k * n + i] * bs[i];
        }
        W.w0[k] = a0;
        W.beta[k] = a1;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) W.vcon[i * n + k] = W.sq[i] * W.jv[k * n + i];  // concentrations from the modes
    vd cmx[NMAX], tmx[NMAX];
    for (int i = 0; i < n; i++)
        for (int l = 0; l < L; l++) {
            cmx[i][l] = A.cmax[P[l] * n + i];
            tmx[i][l] = A.tmax[P[l] * n + i];
        }
    // --- the grid
    if (kk > 0) {
        const double d = A.tg[0] - A.t0;
        for (int k = 0; k < n; k++) {
            vd e, f1, f2;
            ephi12(W.lam[k] * d, e, f1, f2);
            W.ed[k] = e;
            W.cd[k] = W.beta[k] * d * f1;
            vd e2 = e * e, c2 = W.cd[k] * (1.0 + e);  // four grid steps at once, for the interleaved chains
            W.e4[k] = e2 * e2;
            W.c4[k] = c2 * (1.0 + e2);
        }
        if (A.write) {
            // the modes that are not identically zero (w0 = beta = 0 in every lane: e.g. the emptied circuit after
            // washout), and each compartment's coefficients on them (a compartment with none is zero throughout)
            int act[NMAX], na = 0;
            for (int k = 0; k < n; k++)
                if (any((W.w0[k] != 0.0) | (W.beta[k] != 0.0))) act[na++] = k;
            vd vsel[NMAX * NMAX];
            const vd* wsel[NMAX * NMAX];
            int nz[NMAX];
            for (int i = 0; i < n; i++) {
                nz[i] = 0;
                for (int q = 0; q < na; q++) {
                    vd c = W.vcon[i * n + act[q]];
                    if (any(c != 0.0)) {
                        vsel[i * NMAX + nz[i]] = c;
                        wsel[i * NMAX + nz[i]] = W.wt + act[q] * GB;
                        nz[i]++;
                    }
                }
            }
            for (int64_t g0 = 0; g0 < kk; g0 += GB) {
                const int m = (int)std::min<int64_t>(GB, kk - g0);
                PROF_BEGIN(1);
                for (int q = 0; q < na; q++) {
                    const int k = act[q];
                    vd* wt = W.wt + k * GB;
                    vd e = W.ed[k], c = W.cd[k], e4 = W.e4[k], c4 = W.c4[k];
                    vd r0, r1, r2, r3;  // the four chains (points s = 4j + c), in registers
                    if (g0 == 0) {  // the first four points one step at a time from w0
                        r0 = e * W.w0[k] + c;
                        r1 = e * r0 + c;
                        r2 = e * r1 + c;
                        r3 = e * r2 + c;
                    } else {
                        r0 = e4 * wt[GB - 4] + c4;
                        r1 = e4 * wt[GB - 3] + c4;
                        r2 = e4 * wt[GB - 2] + c4;
                        r3 = e4 * wt[GB - 1] + c4;
                    }
                    for (int s = 0; s < m; s += 4) {
                        wt[s] = r0;
                        wt[s + 1] = r1;
                        wt[s + 2] = r2;
                        wt[s + 3] = r3;
                        r0 = e4 * r0 + c4;
                        r1 = e4 * r1 + c4;
                        r2 = e4 * r2 + c4;
                        r3 = e4 * r3 + c4;
                    }
                }
                PROF_END(1);
                for (int i = 0; i < n; i++) {
                    vd* ct = W.cts + i * GB;
                    PROF_BEGIN(2);
                    const vd mx = combine_any(nz[i], vsel + i * NMAX, wsel + i * NMAX, ct, m);
                    PROF_END(2);
                    PROF_BEGIN(3);
                    chunk_max_of(ct, mx, ~bad, cmx[i], tmx[i], A.tg, g0);
                    PROF_END(3);
                    PROF_BEGIN(4);
                    int64_t r = A.out_row[i];
                    if (r >= 0) store_lanes(ct, m, W.rows + r * W.rowlen + g0, (size_t)W.nrow * W.rowlen);
                    PROF_END(4);
                }
            }
        } else {
            // without curves: may every lane march with the bound? (every active lam <= 0, no slowly decaying mode
            // driven by an input)
            vl prunable = splatl(-1);
            for (int k = 0; k < n; k++) {
                vl active = (W.w0[k] != 0.0) | (W.beta[k] != 0.0);
                vl slow = (W.beta[k] != 0.0) & ~(vabs(W.lam[k]) * h_seg > 1e-2);
                prunable &= ~(active & ((W.lam[k] > 0.0) | slow));
            }
            if (!any(~prunable & ~bad)) {
                for (int k = 0; k < n; k++) {
                    vl active = (W.w0[k] != 0.0) | (W.beta[k] != 0.0);
                    vd c = sel(W.beta[k] != 0.0, W.beta[k] / W.lam[k], splat(0.0));
                    vd coef = sel(active, W.w0[k] + c, splat(0.0));
                    W.cur[k] = sel(active, -c, splat(0.0));  // (const, for the moment)
                    W.ea[k] = W.ed[k];
                    for (int i = 0; i < n; i++) {
                        vd g = W.vcon[i * n + k] * coef;
                        W.g[i * n + k] = g;
                        // the bound's term: g e^(lam tau) itself where g > 0 (or lam = 0), else 0 (its supremum later)
                        W.ga[i * n + k] = sel((g > 0.0) | (W.lam[k] == 0.0), g, splat(0.0));
                    }
                }
                for (int i = 0; i < n; i++) {
                    vd c0 = splat(0.0);
                    for (int k = 0; k < n; k++) c0 += W.vcon[i * n + k] * W.cur[k];
                    W.cst[i] = c0;
                }
                for (int i = 0; i < n; i++) {  // compartment by compartment (as _grid_pruned)
                    vd best = cmx[i], c0 = W.cst[i];
                    vl jb = splatl(-1), live = ~bad;
                    for (int k = 0; k < n; k++) W.cur[k] = splat(1.0);
                    for (int64_t j = 0; j < kk && any(live); j++) {
                        vd v = c0, bnd = c0;
                        for (int k = 0; k < n; k++) {
                            vd cq = W.cur[k] * W.ea[k];
                            W.cur[k] = cq;
                            v += W.g[i * n + k] * cq;
                            bnd += W.ga[i * n + k] * cq;
                        }
                        vl up = live & (v > best);
                        best = sel(up, v, best);
                        jb = seli(up, splatl(j), jb);
                        live &= ~(bnd <= best);
                    }
                    cmx[i] = best;
                    for (int l = 0; l < L; l++)
                        if (jb[l] >= 0) tmx[i][l] = A.tg[jb[l]];
                }
            } else {  // every grid value, by the recurrence (as with curves)
                const vd* wall[NMAX];  // every mode's values
                for (int k = 0; k < n; k++) wall[k] = W.wt + k * GB;
                for (int64_t g0 = 0; g0 < kk; g0 += GB) {
                    const int m = (int)std::min<int64_t>(GB, kk - g0);
                    for (int k = 0; k < n; k++) {
                        vd* wt = W.wt + k * GB;
                        vd w = g0 == 0 ? W.w0[k] : wt[GB - 1];
                        for (int s = 0; s < m; s++) {
                            w = W.ed[k] * w + W.cd[k];
                            wt[s] = w;
                        }
                    }
                    for (int i = 0; i < n; i++) {
                        vd* ct = W.cts + i * GB;
                        const vd mx = combine_any(n, W.vcon + i * n, wall, ct, m);
                        chunk_max_of(ct, mx, ~bad, cmx[i], tmx[i], A.tg, g0);
                    }
                }
            }
        }
    }
    // --- end of the segment, directly from t0 (independent of the grid)
    for (int k = 0; k < n; k++) {
        vd e, f1, f2;
        ephi12(W.lam[k] * h_seg, e, f1, f2);
        vd p1 = h_seg * f1, p2 = (h_seg * h_seg) * f2;
        W.wend[k] = e * W.w0[k] + W.beta[k] * p1;
        W.wint[k] = W.w0[k] * p1 + W.beta[k] * p2;
    }
    vd xend[NMAX];
    for (int i = 0; i < n; i++) {
        vd a0 = splat(0.0), a1 = splat(0.0);
        for (int k = 0; k < n; k++) {
            a0 += W.jv[k * n + i] * W.wend[k];
            a1 += W.jv[k * n + i] * W.wint[k];
        }
        xend[i] = a0 * isq[i];
        W.xint[i] = a1 * isq[i];
    }
    // --- back into the batch (a lane not in symmetric form, or whose eigen-solver did not converge, is left to the
    // caller: ok = 0); the curve rows in address order, staged values of earlier segments first
    PROF_BEGIN(5);
    // the other states (sinks, counters, AUCs): exact integrals, b_r h + sum_i A_ri int x_i, for all lanes at once
    W.sinks.resize((size_t)std::max<int64_t>(size - n, 1));
    for (int64_t r = n; r < size; r++) {
        vd acc = A.any_b ? ld(A.b, r) * h_seg : splat(0.0);
        for (int i = 0; i < n; i++)
            if (A.pattern[r * n + i]) acc += ld(A.amat, r * n + i) * W.xint[i];
        W.sinks[r - n] = acc;
    }
    for (int l = 0; l < nl; l++) {
        const int64_t p = P[l];
        if (bad[l]) {
            A.ok[p] = 0;
            continue;
        }
        for (int i = 0; i < n; i++) {
            A.x[p * size + i] = xend[i][l];
            A.cmax[p * n + i] = cmx[i][l];
            A.tmax[p * n + i] = tmx[i][l];
        }
        for (int64_t r = n; r < size; r++) A.x[p * size + r] += W.sinks[r - n][l];
        if (A.write && kk > 0)
            for (int i = 0; i < n; i++) {
                int64_t r = A.out_row[i];
                if (r < 0) continue;
                double* row = A.curves + (p * A.nrow + r) * A.tlen;
                put_row(row, A.stage + (p * A.nrow + r) * A.slen, A.slen, A.j0,
                        W.rows + ((size_t)l * W.nrow + r) * W.rowlen, kk);
            }
    }
#if defined(__AVX512F__)
    if (A.write) _mm_sfence();
#endif
    PROF_END(5);
}

}  // namespace

extern "C" {

// Solve the patients of the batch over [t0, t1]: part ``part`` of ``nparts`` (as expo_lanes: the parts share the
// blocks of eight patients through ``next``). Returns 0, or 1 when the sizes exceed this kernel's limits.
int exact_lanes(const LArgs* args, int64_t part, int64_t nparts) {
    (void)part;
    (void)nparts;
    const LArgs& A = *args;
    if (A.n > NMAX || A.n < 1) return 1;
    // blocks of two lane groups: their eigen-decompositions interleaved (jacobi_groups), the rest group by group
    const int64_t nblk = (A.npat + 2 * L - 1) / (2 * L);
    uint8_t pairs[NMAX * NMAX];
    coupled_pairs(A, pairs);
    const int64_t nrow = A.write ? A.nrow : 0;
    LWork W0((int)A.n, nrow, A.kk), W1((int)A.n, nrow, A.kk, &W0);
    int64_t b;
    while (take_block(A.next, nblk, b)) {
        const int64_t p0 = b * 2 * L, p1 = p0 + L;
        PROF_BEGIN(0);
        prepare(A, W0, p0, (int)std::min<int64_t>(L, A.npat - p0));
        const bool two = p1 < A.npat;
        if (two) prepare(A, W1, p1, (int)std::min<int64_t>(L, A.npat - p1));
        PROF_END(0);
        PROF_BEGIN(10);
        vd* a[2] = {W0.ja, W1.ja};
        vd* v[2] = {W0.jv, W1.jv};
        vl live[2] = {W0.live, W1.live};
        if (two)
            jacobi_groups<2>(a, v, live, (int)A.n, A.negligible, A.converged, A.max_sweeps, pairs);
        else
            jacobi_groups<1>(a, v, live, (int)A.n, A.negligible, A.converged, A.max_sweeps, pairs);
        W0.live = live[0];
        W1.live = live[1];
        PROF_END(10);
        finish(A, W0);
        if (two) finish(A, W1);
    }
    return 0;
}

}  // extern "C"
