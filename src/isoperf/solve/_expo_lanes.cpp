// Exponential integrator for saturable segments, eight patients per SIMD lane group (C++, GCC vector extensions).
//
// The same method as solve/_batched_expo.py (its docstring has it: exact linear part in modal form, the
// Michaelis-Menten remainder as a degree-8 polynomial on Chebyshev-Lobatto nodes, simplified Newton on the
// collocation equations, error estimate from the last two Chebyshev coefficients), step for step and with the
// same tables and tuning constants, which the Python side passes in (nothing numeric is defined twice).
//
// Why a second implementation: the numba kernel runs one patient at a time, and its per-step work (5 modes,
// 8 nodes, an 8x8 Newton system) is a web of short dependent loops that numba keeps scalar; on the benchmark
// machine it was latency-bound at ~95 us per patient of the reference model's variant B. Here every number of
// a patient is one lane of a vector of eight (one AVX-512 register, two AVX2 ones), so the same instruction
// stream advances eight independent patients.
//
// Each lane follows its own patient's step sequence exactly as the scalar algorithm would: a lane that does
// not take part in an operation (it has finished, its Newton iteration has converged, its step was rejected)
// has that operation's result blended away, and work done for all lanes at once is either blended per lane
// or a pure function of that lane's own numbers (the per-step tables: recomputing them for a lane whose step
// size did not change gives the same bits). A patient's result therefore does not depend on which patients
// share its group, nor on the thread count.
//
// Threads: the caller's (numba's prange, so that no second thread pool competes with numba's for the cores); each
// takes blocks of eight patients from a shared counter.
#include "_lanes.h"

namespace {

using namespace lanes;

constexpr int DEG = 8;
constexpr int NN = DEG + 1;
constexpr int KPHI = DEG + 2;
constexpr int NPHI = KPHI + 1;
constexpr int NSER = 24;
constexpr int GB = 32;  // grid points per chunk (the chunk's modes and values stay in L1)
constexpr int NMAX = 16;  // compartments
constexpr int SMAX = 4;   // saturable terms

// ----------------------------------------------------------------------------------------------- arguments
struct Args {  // mirrors _expo_lanes.py::_Args (ctypes); every array C-contiguous
    const double* amat;  // (size, n, N)
    const double* b;     // (size, N)
    const double* inv;   // (n, N)
    const int64_t* sat_state;
    const int64_t* sat_sink;  // (S)
    const double* vmax;
    const double* km;
    const double* sinv;  // (S, N)
    double* x;           // (N, size)
    const double* tg;    // (kk)
    double* cmax;
    double* tmax;        // (N, n)
    double* curves;      // (., nrow, tlen)
    const int64_t* out_idx;  // (nr)
    const double* atol;  // (N)
    uint8_t* ok;
    int64_t* stats;      // (N, 3)
    uint8_t* sw;         // (N)
    const double* stage;  // (N, nrow, slen)
    int64_t* next;        // the next block of patients to take (shared by the parts)
    // method tables (solve/_batched_expo.py)
    const double* nodes;  // (NN)
    const double* vinv;   // (NN, NN)
    const double* clast;  // (2, NN)
    const double* tlast;  // (2, NN)
    const double* fact;   // (NPHI + 1)
    const double* phik;   // (NSER)
    const double* fall;   // (NN, NN)
    double t0, t1, rtol, h_min;
    double sweep_tol, reuse_rho, h_hold, relin_drift, plain_rho, h0_pole, zser, grow_order;
    double negligible, converged;  // Jacobi (solve/_jacobi.py)
    int64_t npat, n, size, ns, kk, uniform, nrow, tlen, nr, j0, write, max_relin, slen;
    int64_t maxit, align_min, max_sweeps, err_node0, err_node1;
};

// ----------------------------------------------------------------------------------------------- workspace
struct Work {
    int n, ns, m, nu, nv;
    std::vector<vd> store;
    vd *a, *bl, *rl, *bnc, *vm, *kml, *sil, *dh, *ivl;
    vd *slope, *lam, *vec, *vcon, *beta, *ev, *pr, *edg, *cdg, *prev;  // linearisation
    vd *t_slope, *t_lam, *t_vec, *t_vcon, *t_beta, *t_ev, *t_pr, *t_edg, *t_cdg, *t_prev;  // ... new, blended
    vd *msym, *ja, *jv;
    vd *u, *un, *uin, *w, *wn, *wint, *xs, *cmx, *tmx;
    vd *ht, *xz, *phv, *tpw, *ps, *kmat, *etab, *acc8;
    vd *afree, *gnw, *dgv, *dlv, *wgt, *jac, *jtmp, *res, *rtmp, *rdg, *rdgt, *dlu, *ksum, *ksumt, *gv, *gc, *gprev,
        *clast;
    vd *qc, *pc, *rg, *dq, *errw, *erru, *fb, *wt, *ct, *phm, *ph1, *fpv, *thr;
    vd *c_rg, *c_e, *c_vc, *c_w, *cts;  // the grid drain's current jobs (lane by lane) and values
    vl *piv, *pivt, *need, *trk, *trkm, *vmask;
    // grid jobs of the accepted steps, per lane (uniform grid, with curves): see Kernel::record_jobs
    std::vector<double> jobs[L];
    int njobs[L] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::vector<vl> lstore;
    // the lanes' curve rows of this segment (lane, row, grid point), copied out row by row at the end of the
    // group: each row is then one sequential stream (written step by step, the rows of eight patients would be
    // 32 interleaved streams of short runs)
    std::vector<vd> rowstore;  // (64-byte aligned)
    double* rows;
    size_t rowlen;  // points per row, padded to a multiple of eight

    Work(int n_, int ns_, int m_, int64_t nrow, int64_t kk)
        : n(n_), ns(ns_), m(m_), nu(ns_ * DEG), nv(n_ * DEG), rowlen((size_t)(kk + L - 1) / L * L) {
        rowstore.resize((size_t)L * nrow * rowlen / L);
        rows = reinterpret_cast<double*>(rowstore.data());
        size_t need_d = 0;
        auto plan = [&](size_t k) { size_t o = need_d; need_d += k; return o; };
        // (offsets first, pointers after the one allocation)
        struct Item { vd** p; size_t k; };
        std::vector<Item> items = {
            {&a, (size_t)n * n}, {&bl, (size_t)n}, {&rl, (size_t)std::max(m, 1) * n}, {&bnc, (size_t)std::max(m, 1)},
            {&vm, (size_t)ns}, {&kml, (size_t)ns}, {&sil, (size_t)ns}, {&dh, (size_t)n}, {&ivl, (size_t)n},
            {&slope, (size_t)ns}, {&lam, (size_t)n}, {&vec, (size_t)n * n}, {&vcon, (size_t)n * n}, {&beta, (size_t)n},
            {&ev, (size_t)ns * n}, {&pr, (size_t)ns * n}, {&edg, (size_t)n}, {&cdg, (size_t)n * NN},
            {&prev, (size_t)ns * ns * n},
            {&t_slope, (size_t)ns}, {&t_lam, (size_t)n}, {&t_vec, (size_t)n * n}, {&t_vcon, (size_t)n * n},
            {&t_beta, (size_t)n}, {&t_ev, (size_t)ns * n}, {&t_pr, (size_t)ns * n}, {&t_edg, (size_t)n},
            {&t_cdg, (size_t)n * NN}, {&t_prev, (size_t)ns * ns * n},
            {&msym, (size_t)n * n}, {&ja, (size_t)n * n}, {&jv, (size_t)n * n},
            {&u, (size_t)n}, {&un, (size_t)n}, {&uin, (size_t)n}, {&w, (size_t)n}, {&wn, (size_t)n}, {&wint, (size_t)n},
            {&xs, (size_t)std::max(m, 1)}, {&cmx, (size_t)n}, {&tmx, (size_t)n},
            {&ht, (size_t)DEG}, {&xz, (size_t)nv}, {&phv, (size_t)NPHI * nv}, {&tpw, (size_t)NN * DEG},
            {&ps, (size_t)NN * DEG}, {&kmat, (size_t)ns * ns * NN * DEG}, {&etab, (size_t)4 * n}, {&acc8, (size_t)DEG},
            {&afree, (size_t)ns * DEG}, {&gnw, (size_t)ns * DEG}, {&dgv, (size_t)ns * DEG}, {&dlv, (size_t)ns * DEG},
            {&wgt, (size_t)ns * DEG}, {&jac, (size_t)nu * nu}, {&jtmp, (size_t)nu * nu}, {&res, (size_t)nu},
            {&rtmp, (size_t)nu}, {&rdg, (size_t)nu}, {&rdgt, (size_t)nu}, {&dlu, (size_t)ns * DEG}, {&ksum, (size_t)nu},
            {&ksumt, (size_t)nu}, {&gv, (size_t)ns * NN}, {&gc, (size_t)ns * NN}, {&gprev, (size_t)ns * NN},
            {&clast, (size_t)2 * ns},
            {&qc, (size_t)n * NN}, {&pc, (size_t)n * NN}, {&rg, (size_t)n * NN}, {&dq, (size_t)NN}, {&errw, (size_t)n},
            {&erru, (size_t)n}, {&fb, (size_t)n}, {&wt, (size_t)n * GB}, {&ct, (size_t)GB},
            {&phm, (size_t)NPHI * n}, {&ph1, (size_t)NPHI}, {&fpv, (size_t)n}, {&thr, (size_t)n},
            {&c_rg, (size_t)n * NN}, {&c_e, (size_t)n}, {&c_vc, (size_t)n * n}, {&c_w, (size_t)n},
            {&cts, (size_t)n * GB},
        };
        std::vector<size_t> offs;
        for (auto& it : items) offs.push_back(plan(it.k));
        store.assign(need_d, splat(0.0));
        for (size_t k = 0; k < items.size(); k++) *items[k].p = store.data() + offs[k];
        lstore.assign(2 * (size_t)nu + 2 * n + (size_t)n * GB + GB, splatl(0));
        piv = lstore.data();
        pivt = piv + nu;
        need = pivt + nu;
        trk = need + n;
        trkm = trk + n;
        vmask = trkm + (size_t)n * GB;
    }
    vd& ph3(int k, int j, int i) { return phv[(size_t)k * nv + j * DEG + i]; }
};

// std::vector<vd> needs 64-byte alignment: C++17 aligned new does it (checked at start-up below)

// ----------------------------------------------------------------------------------------------- Newton solve
// LU factorisation with partial pivoting, lane by lane (as _lu_factor); returns the singular lanes
vl lu_factor(vd* a, vl* piv, vd* rdg, int nu) {
    vl sing = splatl(0);
    for (int k = 0; k < nu; k++) {
        vd amax = vabs(a[k * nu + k]);
        vl pk = splatl(k);
        for (int i = k + 1; i < nu; i++) {
            vd v = vabs(a[i * nu + k]);
            vl up = v > amax;
            amax = sel(up, v, amax);
            pk = seli(up, splatl(i), pk);
        }
        sing |= amax == 0.0;
        piv[k] = pk;
        for (int i = k + 1; i < nu && any(pk != (long long)k); i++) {
            vl mi = pk == (long long)i;
            if (!any(mi)) continue;
            for (int j = 0; j < nu; j++) {
                vd tk = a[k * nu + j], ti = a[i * nu + j];
                a[k * nu + j] = sel(mi, ti, tk);
                a[i * nu + j] = sel(mi, tk, ti);
            }
        }
        vd rk = 1.0 / a[k * nu + k];
        rdg[k] = rk;
        for (int i = k + 1; i < nu; i++) {
            vd f = a[i * nu + k] * rk;
            a[i * nu + k] = f;
            for (int j = k + 1; j < nu; j++) a[i * nu + j] -= f * a[k * nu + j];
        }
    }
    return sing;
}

// J x = rhs with the factors of J^T (as _lu_solve_t)
void lu_solve_t(const vd* a, vd* rhs, const vl* piv, const vd* rdg, int nu) {
    for (int k = 0; k < nu; k++) {
        vd yk = rhs[k] * rdg[k];
        rhs[k] = yk;
        for (int i = k + 1; i < nu; i++) rhs[i] -= a[k * nu + i] * yk;
    }
    for (int k = nu - 1; k > 0; k--) {
        vd xk = rhs[k];
        for (int i = 0; i < k; i++) rhs[i] -= a[k * nu + i] * xk;
    }
    for (int k = nu - 1; k >= 0; k--) {
        vl pk = piv[k];
        if (!any(pk != (long long)k)) continue;
        for (int i = k + 1; i < nu; i++) {
            vl mi = pk == (long long)i;
            if (!any(mi)) continue;
            vd tk = rhs[k], ti = rhs[i];
            rhs[k] = sel(mi, ti, tk);
            rhs[i] = sel(mi, tk, ti);
        }
    }
}

// ----------------------------------------------------------------------------------------------- numerics
struct Kernel {
    const Args& A;
    Work& W;
    int n, ns, m, nu, nv;
    double ifact[NPHI + 1];
    int64_t orow[NMAX];  // curve row of each compartment, -1: not reported
    Kernel(const Args& a, Work& w) : A(a), W(w), n(w.n), ns(w.ns), m(w.m), nu(w.nu), nv(w.nv) {
        for (int k = 0; k <= NPHI; k++) ifact[k] = 1.0 / A.fact[k];
        for (int i = 0; i < n; i++) orow[i] = -1;
        for (int r = 0; r < A.nr; r++) orow[A.out_idx[r]] = r;
    }

    // phi_k(z), k = 0 .. KPHI, for one vector of arguments: the series and backward recurrence (|z| <= zser), the
    // forward recurrence from e^z where |z| > zser (as _phis)
    void phis(vd z, vd* out, size_t stride) {
        vl big = vabs(z) > A.zser;
        bool some_big = any(big);
        if (!some_big || any(~big)) {  // (each part only where some lane needs it: per mode, lanes mostly agree)
            vd s = splat(A.phik[NSER - 1]);
            for (int it = NSER - 2; it >= 0; it--) s = A.phik[it] + z * s;
            out[KPHI * stride] = s;
            for (int k = KPHI - 1; k >= 0; k--) {
                s = ifact[k] + z * s;
                out[k * stride] = s;
            }
        }
        if (some_big) {
            vd e = vexp(z);
            vd rz = 1.0 / z;
            vd pk = e;
            out[0] = sel(big, e, out[0]);
            for (int k = 1; k < NPHI; k++) {
                pk = (pk - ifact[k - 1]) * rz;
                out[k * stride] = sel(big, pk, out[k * stride]);
            }
        }
    }

    vd sat_flux(int q, vd amount) {
        vd c = W.sil[q] * amount;
        return W.vm[q] * c / (W.kml[q] + c);
    }
    vd sat_slope(int q, vd amount) {
        vd c = W.sil[q] * amount;
        vd d = W.kml[q] + c;
        return W.vm[q] * W.kml[q] * W.sil[q] / (d * d);
    }

    // linearise the lanes in ``mk`` at u (as _linearise): into the t_ arrays, then blended; returns the lanes of mk
    // whose eigen-decomposition did not converge
    vl linearise(vl mk, bool uniform_grid, double dgrid) {
        vd* a = W.a;
        for (int q = 0; q < ns; q++) W.t_slope[q] = sat_slope(q, W.u[A.sat_state[q]]);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) W.msym[i * n + j] = W.dh[i] * a[i * n + j] / W.dh[j];
        for (int q = 0; q < ns; q++) {
            int i = (int)A.sat_state[q];
            W.msym[i * n + i] -= W.t_slope[q];
        }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                vd s = 0.5 * (W.msym[i * n + j] + W.msym[j * n + i]);
                W.msym[i * n + j] = s;
                W.msym[j * n + i] = s;
            }
        for (int k = 0; k < n * n; k++) W.ja[k] = W.msym[k];
        vl bad = jacobi(W.ja, W.jv, mk, n, A.negligible, A.converged, A.max_sweeps) & mk;
        for (int i = 0; i < n; i++) {
            W.t_lam[i] = W.ja[i * n + i];
            for (int j = 0; j < n; j++) W.t_vec[i * n + j] = W.jv[j * n + i];
        }
        for (int i = 0; i < n; i++) {
            vd c = W.ivl[i] / W.dh[i];
            for (int j = 0; j < n; j++) W.t_vcon[i * n + j] = c * W.t_vec[i * n + j];
        }
        for (int j = 0; j < n; j++) {
            vd acc = splat(0.0);
            for (int i = 0; i < n; i++) acc += W.t_vec[i * n + j] * W.dh[i] * W.bl[i];
            W.t_beta[j] = acc;
            for (int q = 0; q < ns; q++) {
                int s = (int)A.sat_state[q];
                W.t_ev[q * n + j] = W.dh[s] * W.t_vec[s * n + j];
                W.t_pr[q * n + j] = W.t_vec[s * n + j] / W.dh[s];
            }
            if (uniform_grid) {
                phis(W.t_lam[j] * dgrid, W.ph1, 1);
                W.t_edg[j] = W.ph1[0];
                double dpow = dgrid;
                for (int mm = 0; mm < NN; mm++) {
                    W.t_cdg[j * NN + mm] = dpow * W.ph1[mm + 1];
                    dpow *= dgrid;
                }
            }
        }
        for (int q = 0; q < ns; q++)
            for (int r = 0; r < ns; r++)
                for (int j = 0; j < n; j++) W.t_prev[(q * ns + r) * n + j] = W.t_pr[q * n + j] * W.t_ev[r * n + j];
        vl put = mk & ~bad;
        auto blend = [&](vd* dst, const vd* src, int k) {
            for (int i = 0; i < k; i++) dst[i] = sel(put, src[i], dst[i]);
        };
        blend(W.slope, W.t_slope, ns);
        blend(W.lam, W.t_lam, n);
        blend(W.vec, W.t_vec, n * n);
        blend(W.vcon, W.t_vcon, n * n);
        blend(W.beta, W.t_beta, n);
        blend(W.ev, W.t_ev, ns * n);
        blend(W.pr, W.t_pr, ns * n);
        if (uniform_grid) {
            blend(W.edg, W.t_edg, n);
            blend(W.cdg, W.t_cdg, n * NN);
        }
        blend(W.prev, W.t_prev, ns * ns * n);
        return bad;
    }

    // the first step of a segment (as _first_step), every lane
    vd first_step(vd span) {
        vd h = span;
        vd lmax = splat(0.0);
        for (int j = 0; j < n; j++) lmax = vmaxg(vabs(W.lam[j]), lmax);
        h = sel(lmax * h > 1.0, 1.0 / lmax, h);
        for (int q = 0; q < ns; q++) {
            int i = (int)A.sat_state[q];
            vd acc = W.bl[i] - sat_flux(q, W.u[i]);
            for (int j = 0; j < n; j++) acc += W.a[i * n + j] * W.u[j];
            vd dc = vabs(W.sil[q] * acc);
            vd dist = W.kml[q] + W.sil[q] * W.u[i];
            h = sel(A.h0_pole * dist < h * dc, A.h0_pole * dist / dc, h);
        }
        return h;
    }

    // per-step tables for step sizes h (every lane: a pure function of the lane's h and linearisation)
    void tables(vd h) {
        for (int i = 0; i < DEG; i++) W.ht[i] = A.nodes[i + 1] * h;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < DEG; i++) W.xz[j * DEG + i] = W.ht[i] * W.lam[j];
        PROF_BEGIN(13);
        for (int ix = 0; ix < nv; ix++) phis(W.xz[ix], W.phv + ix, (size_t)nv);
        PROF_END(13);
        PROF_BEGIN(14);
        for (int i = 0; i < DEG; i++) W.tpw[i] = W.ht[i];
        for (int k = 1; k < NN; k++)
            for (int i = 0; i < DEG; i++) W.tpw[k * DEG + i] = W.tpw[(k - 1) * DEG + i] * A.nodes[i + 1];
        for (int q = 0; q < ns; q++)
            for (int r = 0; r < ns; r++) {
                // response of saturable state q at node i to a tau^k forcing of term r (sums in registers), then
                // its kernel on the node values of G_r: K[l][i] = sum_k ps[k][i] vinv[k][l]
                const vd* pv = W.prev + (q * ns + r) * n;
                for (int k = 0; k < NN; k++) {
                    double fk = A.fact[k];
                    for (int i = 0; i < DEG; i++) {
                        vd acc = pv[0] * W.ph3(k + 1, 0, i);
                        for (int j = 1; j < n; j++) acc += pv[j] * W.ph3(k + 1, j, i);
                        W.ps[k * DEG + i] = acc * fk * W.tpw[k * DEG + i];
                    }
                }
                vd* km = W.kmat + (size_t)(q * ns + r) * NN * DEG;
                for (int i = 0; i < DEG; i++) {
                    vd pk[NN];
                    for (int k = 0; k < NN; k++) pk[k] = W.ps[k * DEG + i];
                    for (int ll = 0; ll < NN; ll++) {
                        vd acc = pk[0] * A.vinv[ll];
                        for (int k = 1; k < NN; k++) acc += pk[k] * A.vinv[k * NN + ll];
                        km[ll * DEG + i] = acc;
                    }
                }
            }
        PROF_END(14);
        const int en[2] = {(int)A.err_node0, (int)A.err_node1};
        for (int ie = 0; ie < 2; ie++) {
            int ni = en[ie];
            double tau = A.nodes[ni];
            for (int j = 0; j < n; j++) {
                vd e7 = splat(0.0), e8 = splat(0.0);
                double tp = tau;
                for (int k = 0; k < NN; k++) {
                    vd f = A.fact[k] * tp * W.ph3(k + 1, j, ni - 1);
                    e7 += A.tlast[k] * f;
                    e8 += A.tlast[NN + k] * f;
                    tp *= tau;
                }
                W.etab[(ie * 2 + 0) * n + j] = e7;
                W.etab[(ie * 2 + 1) * n + j] = e8;
            }
        }
    }

    // The compartments that may exceed their maximum so far inside the accepted step of length h (as _step_need):
    // an upper bound of the exact trajectory term by term (a mode's free part is largest at one end of the step,
    // its forced part at most sum_k |qc_k| int_0^h e^(lam s) ds) plus a 1e-9 relative margin for rounding. Grid
    // values of the other compartments cannot change a maximum; they are computed only to be written.
    void step_need(vl acc, vd h) {
        for (int j = 0; j < n; j++) {
            vd fj = splat(0.0);
            for (int k = 0; k < NN; k++) fj += vabs(W.qc[j * NN + k]);
            vd eh = W.ph3(0, j, DEG - 1);
            W.fb[j] = fj * sel(W.lam[j] * h < -1e-3, (eh - 1.0) / W.lam[j], h * vmaxg(splat(1.0), eh));
        }
        for (int i = 0; i < n; i++) {
            vd ub = splat(0.0), sc = splat(0.0);
            for (int j = 0; j < n; j++) {
                vd a_ = W.vcon[i * n + j] * W.w[j];
                vd f_ = vabs(W.vcon[i * n + j]) * W.fb[j];
                vd ae = a_ * W.ph3(0, j, DEG - 1);
                ub += vmaxg(ae, a_) + f_;  // max(a_, a_ e^(lam h)), as the scalar max(): equal values alike
                sc += vabs(a_) + f_;
            }
            W.thr[i] = ub + 1e-9 * sc + 1e-300;
            W.need[i] = acc & (W.thr[i] > W.cmx[i]);
        }
    }

    // the modes at offset ``off`` into the step by the exact formula (modal start w, forcing coefficients pc in
    // s - t): out[j stride]
    void modes_at(vd off, vd* out, int stride) {
        for (int j = 0; j < n; j++) {
            phis(W.lam[j] * off, W.phm + j, (size_t)n);
            vd a_ = W.phm[j] * W.w[j];
            vd op = off;
            for (int k = 0; k < NN; k++) {
                a_ += W.pc[j * NN + k] * A.fact[k] * op * W.phm[(k + 1) * n + j];
                op *= off;
            }
            out[j * stride] = a_;
        }
    }

    // A step's first grid point by the exact formula (into fpv; lanes whose step starts on a grid point, or that
    // have no point in the step, at offset 0), and the coefficients of R(g), the forcing's contribution over one
    // grid step from there (into rg): the uniform-grid recurrence w <- e^(lam dt) w + R(g)
    void step_start(const int64_t* jb, const int64_t* ms, vl aligned, vd t, vd& off) {
        const double* tg = A.tg;
        for (int l = 0; l < L; l++) off[l] = (!aligned[l] && ms[l] > 0) ? tg[jb[l]] - t[l] : 0.0;
        modes_at(off, W.fpv, 1);
        const double dgrid = tg[1] - tg[0];
        for (int j = 0; j < n; j++) {
            for (int mm = 0; mm < NN; mm++) {
                vd a_ = splat(0.0), op = splat(1.0);
                for (int k = mm; k < NN; k++) {
                    a_ += W.pc[j * NN + k] * A.fall[k * NN + mm] * op;
                    op *= off;
                }
                W.dq[mm] = a_;
            }
            double dpow = 1.0;
            for (int d = 0; d < NN; d++) {
                vd a_ = splat(0.0);
                for (int mm = 0; mm < NN - d; mm++) a_ += W.cdg[j * NN + mm] * W.dq[mm + d];
                W.rg[j * NN + d] = a_ * dpow * ifact[d];
                dpow *= dgrid;
            }
        }
    }

    // the forcing coefficients of the accepted steps in s - t (pc from qc, which is in tau)
    void step_pc(vd h) {
        vd rh = 1.0 / h;
        for (int j = 0; j < n; j++) {
            vd hp = splat(1.0);
            for (int k = 0; k < NN; k++) {
                W.pc[j * NN + k] = W.qc[j * NN + k] * hp;
                hp *= rh;
            }
        }
    }

    // the grid points of the accepted steps (t, tn] of the lanes in acc: first index jb and count ms per lane
    // (jn advanced past them); returns the largest count
    int64_t step_points(vl acc, vd tn, int64_t* jn, int64_t* jb, int64_t* ms) {
        int64_t mmax = 0;
        for (int l = 0; l < L; l++) {
            jb[l] = jn[l];
            if (acc[l])
                while (jn[l] < A.kk && A.tg[jn[l]] <= tn[l]) jn[l]++;
            ms[l] = jn[l] - jb[l];
            mmax = std::max(mmax, ms[l]);
        }
        return mmax;
    }

    vl step_aligned(vd t, const int64_t* jb) {
        vl aligned = splatl(0);
        if (A.uniform)
            for (int l = 0; l < L; l++) aligned[l] = (jb[l] > 0 && A.tg[jb[l] - 1] == t[l]) ? -1 : 0;
        return aligned;
    }

    // the modes at the grid points g0 .. g0+gmax-1 of the lanes' steps into wt (as the first half of _step_grid)
    void grid_modes(int64_t g0, int gmax, const int64_t* jb, const int64_t* gm, vl aligned, vd sh, vd t, vd& off) {
        const double* tg = A.tg;
        if (A.uniform) {
            PROF_BEGIN(10);
            if (g0 == 0) step_start(jb, gm, aligned, t, off);
            PROF_END(10);
            PROF_BEGIN(11);
            // R(g) by Horner, and the recurrence (one chain per mode; the Horner values of later points do not
            // wait on it)
            for (int j = 0; j < n; j++) {
                const vd* rg = W.rg + j * NN;
                vd e = W.edg[j];
                vd* wt = W.wt + j * GB;
                vd wc = g0 == 0 ? W.w[j] : wt[GB - 1];
                for (int g = 0; g < gmax; g++) {
                    vd gi = (double)(g0 + g - 1) + sh;
                    vd r = rg[NN - 1];
                    for (int d = NN - 2; d >= 0; d--) r = r * gi + rg[d];
                    wc = e * wc + r;
                    if (g0 == 0 && g == 0) wc = sel(aligned, wc, W.fpv[j]);
                    wt[g] = wc;
                }
            }
            PROF_END(11);
        } else {
            // every point by the exact formula (non-uniform grid)
            for (int g = 0; g < gmax; g++) {
                vd of;
                for (int l = 0; l < L; l++) of[l] = g < gm[l] ? tg[jb[l] + g0 + g] - t[l] : 0.0;
                modes_at(of, W.wt + g, GB);
            }
        }
    }

    // Grid values inside the accepted steps (t, tn] of the lanes in ``acc`` (as _step_grid): maxima into cmx/tmx
    // (only for the compartments step_need flags: the others cannot change), and with curves every reported row.
    // Lanes step independently, so a chunk covers each lane's own next grid points (``gm[l]`` of them).
    void step_grid(vl acc, vd t, vd tn, vd h, int64_t* jn, const int64_t* P, int nl) {
        const double* tg = A.tg;
        const bool write = A.write != 0;
        int64_t jb[L], ms[L];
        int64_t mmax = step_points(acc, tn, jn, jb, ms);
        if (mmax == 0) return;
        vl pts;
        for (int l = 0; l < L; l++) pts[l] = ms[l] > 0 ? -1 : 0;
        bool vals[NMAX], track[NMAX], anyv = false;
        for (int i = 0; i < n; i++) {
            track[i] = any(W.need[i] & pts);
            vals[i] = track[i] || (write && orow[i] >= 0);
            anyv = anyv || vals[i];
        }
        if (!anyv) return;
        step_pc(h);
        vl aligned = step_aligned(t, jb);
        vd sh = sel(aligned, splat(1.0), splat(0.0));
        vd off = splat(0.0);
        for (int64_t g0 = 0; g0 < mmax; g0 += GB) {
            int gmax = (int)std::min<int64_t>(GB, mmax - g0);
            int64_t gm[L];
            vl gmv;
            for (int l = 0; l < L; l++) {
                gm[l] = std::max<int64_t>(0, std::min<int64_t>(GB, ms[l] - g0));
                gmv[l] = gm[l];
            }
            PROF_ADD(6, gmax);
            for (int l = 0; l < L; l++) PROF_ADD(7, gm[l]);
            grid_modes(g0, gmax, jb, gm, aligned, sh, t, off);
            PROF_BEGIN(8);
            for (int i = 0; i < n; i++) {
                if (!vals[i]) continue;
                vd* ct = W.ct;
                const vd* vc = W.vcon + i * n;
                for (int g = 0; g < gmax; g++) {
                    vd c_ = vc[0] * W.wt[g];
                    for (int j = 1; j < n; j++) c_ += vc[j] * W.wt[j * GB + g];
                    ct[g] = c_;
                }
                if (track[i]) {
                    // the chunk's maximum (four independent chains), then, for the lanes where it is a new
                    // maximum, its first position
                    vl ci = W.need[i];
                    const vd lo = splat(-HUGE_VAL);
                    vd m0 = lo, m1 = lo, m2 = lo, m3 = lo;
                    int g = 0;
                    for (; g + 4 <= gmax; g += 4) {
                        m0 = vmaxg(sel(splatl(g) < gmv, ct[g], lo), m0);
                        m1 = vmaxg(sel(splatl(g + 1) < gmv, ct[g + 1], lo), m1);
                        m2 = vmaxg(sel(splatl(g + 2) < gmv, ct[g + 2], lo), m2);
                        m3 = vmaxg(sel(splatl(g + 3) < gmv, ct[g + 3], lo), m3);
                    }
                    for (; g < gmax; g++) m0 = vmaxg(sel(splatl(g) < gmv, ct[g], lo), m0);
                    m0 = vmaxg(m1, m0);
                    m2 = vmaxg(m3, m2);
                    m0 = vmaxg(m2, m0);
                    vl up = ci & (m0 > W.cmx[i]);
                    if (any(up)) {
                        W.cmx[i] = sel(up, m0, W.cmx[i]);
                        for (int l = 0; l < L; l++) {
                            if (!up[l]) continue;
                            int gg = 0;
                            while (ct[gg][l] != m0[l]) gg++;
                            W.tmx[i][l] = tg[jb[l] + g0 + gg];
                        }
                    }
                }
                PROF_BEGIN(9);
                if (write && orow[i] >= 0) {
                    double* dst[L];
                    for (int l = 0; l < L; l++) dst[l] = W.rows + (l * A.nr + orow[i]) * W.rowlen + jb[l] + g0;
                    store_rows(ct, gmax, gm, dst, acc, nl);
                }
                PROF_END(9);
            }
            PROF_END(8);
        }
    }

    // --- curves on a uniform grid: each accepted step is recorded as a grid job of its lane (its first grid
    // point, the coefficients of R(g), the propagators and the maxima's thresholds), and at the end of the segment
    // all lanes' jobs are evaluated in lockstep (drain): every lane has the same grid points, so nearly every slot
    // of the vector computes a real point, while step by step the lanes' differing step sizes left about half of
    // them idle. A job's layout: ms, jb, sh, v0[n], rg[n NN], edg[n], vcon[n n], thr[n].
    int job_size() const { return 3 + n + n * NN + n + n * n + n; }

    void record_jobs(vl acc, vd t, vd tn, vd h, int64_t* jn, int nl) {
        int64_t jb[L], ms[L];
        if (step_points(acc, tn, jn, jb, ms) == 0) return;
        step_pc(h);
        vl aligned = step_aligned(t, jb);
        vd off;
        step_start(jb, ms, aligned, t, off);
        // the first point; on a step that starts on a grid point, one recurrence step from the start (R(0) = rg[0])
        for (int j = 0; j < n; j++) W.fpv[j] = sel(aligned, W.edg[j] * W.w[j] + W.rg[j * NN], W.fpv[j]);
        const int js = job_size();
        for (int l = 0; l < nl; l++) {
            if (!acc[l] || ms[l] == 0) continue;
            std::vector<double>& q = W.jobs[l];
            size_t o = (size_t)W.njobs[l]++ * js;
            if (q.size() < o + js) q.resize(std::max(2 * q.size(), o + js));
            double* J = q.data() + o;
            J[0] = (double)ms[l];
            J[1] = (double)jb[l];
            J[2] = aligned[l] ? 1.0 : 0.0;
            double* v0 = J + 3;
            double* rg = v0 + n;
            double* e = rg + n * NN;
            double* vc = e + n;
            double* th = vc + n * n;
            for (int j = 0; j < n; j++) {
                v0[j] = W.fpv[j][l];
                e[j] = W.edg[j][l];
                th[j] = W.thr[j][l];
                for (int d = 0; d < NN; d++) rg[j * NN + d] = W.rg[j * NN + d][l];
            }
            for (int k = 0; k < n * n; k++) vc[k] = W.vcon[k][l];
        }
    }

    void drain(int nl) {
        const double* tg = A.tg;
        const int js = job_size();
        // every lane has the same grid points and takes its next job in the slot after the last one ended, so
        // the lanes with work are all at the same grid point (pos): one vector per row and slot
        int64_t pos = 0, kq[L];
        vl rem = splatl(0), fresh = splatl(0), more;
        vd giv = splat(0.0);
        bool comp[NMAX];
        for (int l = 0; l < L; l++) {
            kq[l] = 0;
            more[l] = W.njobs[l] > 0 ? -1 : 0;
        }
        for (int i = 0; i < n; i++) {
            W.trk[i] = splatl(0);
            comp[i] = orow[i] >= 0;
        }
        while (true) {
            int nsl = 0;
            while (nsl < GB) {
                // lanes whose job is done take their next one
                vl ld = (rem == 0) & more;
                if (any(ld)) {
                    for (int l = 0; l < L; l++) {
                        if (!ld[l]) continue;
                        const double* J = W.jobs[l].data() + (size_t)kq[l]++ * js;
                        const double *v0 = J + 3, *rg = v0 + n, *e = rg + n * NN, *vc = e + n, *th = vc + n * n;
                        for (int j = 0; j < n; j++) {
                            W.c_w[j][l] = v0[j];
                            W.c_e[j][l] = e[j];
                            for (int d = 0; d < NN; d++) W.c_rg[j * NN + d][l] = rg[j * NN + d];
                            W.trk[j][l] = th[j] > W.cmx[j][l] ? -1 : 0;
                        }
                        for (int k = 0; k < n * n; k++) W.c_vc[k][l] = vc[k];
                        giv[l] = J[2];
                        rem[l] = (long long)J[0];
                        fresh[l] = -1;
                        more[l] = kq[l] < W.njobs[l] ? -1 : 0;
                    }
                    for (int i = 0; i < n; i++) comp[i] = orow[i] >= 0 || any(W.trk[i]);
                }
                vl valid = rem > 0;
                if (!any(valid)) break;
                // a run of slots in which no lane changes job: the coefficients stay in registers
                long long run = GB - nsl;
                for (int l = 0; l < L; l++)
                    if (valid[l]) run = std::min(run, rem[l]);
                const int S = (int)run;
                vd base = sel(fresh, giv, giv + 1.0);  // R's argument at the run's second slot
                for (int j = 0; j < n; j++) {
                    vd c[NN];
                    for (int d = 0; d < NN; d++) c[d] = W.c_rg[j * NN + d];
                    vd e = W.c_e[j], w = W.c_w[j];
                    vd* wt = W.wt + j * GB + nsl;
                    vd r = c[NN - 1];
                    for (int d = NN - 2; d >= 0; d--) r = r * giv + c[d];
                    w = sel(fresh, w, e * w + r);  // (a lane's first point is its job's v0)
                    wt[0] = w;
                    for (int sl = 1; sl < S; sl++) {
                        vd gi = base + (double)(sl - 1);
                        vd r2 = c[NN - 1];
                        for (int d = NN - 2; d >= 0; d--) r2 = r2 * gi + c[d];
                        w = e * w + r2;
                        wt[sl] = w;
                    }
                    W.c_w[j] = w;
                }
                giv = base + (double)(S - 1);
                fresh = splatl(0);
                for (int i = 0; i < n; i++) {
                    vl* tm = W.trkm + i * GB + nsl;
                    if (!comp[i]) {
                        for (int sl = 0; sl < S; sl++) tm[sl] = splatl(0);
                        continue;
                    }
                    vd vc[NMAX];
                    for (int j = 0; j < n; j++) vc[j] = W.c_vc[i * n + j];
                    vd* ct = W.cts + i * GB + nsl;
                    vl tk = W.trk[i] & valid;
                    for (int sl = 0; sl < S; sl++) {
                        vd c_ = vc[0] * W.wt[nsl + sl];
                        for (int j = 1; j < n; j++) c_ += vc[j] * W.wt[j * GB + nsl + sl];
                        ct[sl] = c_;
                        tm[sl] = tk;
                    }
                }
                for (int sl = 0; sl < S; sl++) W.vmask[nsl + sl] = valid;
                rem = seli(valid, rem - (long long)S, rem);
                nsl += S;
            }
            if (nsl == 0) break;
            // maxima: the batch's maximum over the tracked slots (four chains), then the first position where new
            for (int i = 0; i < n; i++) {
                const vd* ct = W.cts + i * GB;
                const vl* tm = W.trkm + i * GB;
                vl anyt = splatl(0);
                for (int sl = 0; sl < nsl; sl++) anyt |= tm[sl];
                if (!any(anyt)) continue;
                const vd lo = splat(-HUGE_VAL);
                vd m0 = lo, m1 = lo, m2 = lo, m3 = lo;
                int sl = 0;
                for (; sl + 4 <= nsl; sl += 4) {
                    m0 = vmaxg(sel(tm[sl], ct[sl], lo), m0);
                    m1 = vmaxg(sel(tm[sl + 1], ct[sl + 1], lo), m1);
                    m2 = vmaxg(sel(tm[sl + 2], ct[sl + 2], lo), m2);
                    m3 = vmaxg(sel(tm[sl + 3], ct[sl + 3], lo), m3);
                }
                for (; sl < nsl; sl++) m0 = vmaxg(sel(tm[sl], ct[sl], lo), m0);
                m0 = vmaxg(m1, m0);
                m2 = vmaxg(m3, m2);
                m0 = vmaxg(m2, m0);
                vl up = m0 > W.cmx[i];
                if (!any(up)) continue;
                W.cmx[i] = sel(up, m0, W.cmx[i]);
                for (int l = 0; l < L; l++) {
                    if (!up[l]) continue;
                    int g = 0;
                    while (!(tm[g][l] && ct[g][l] == m0[l])) g++;
                    W.tmx[i][l] = tg[pos + g];
                }
            }
            for (int i = 0; i < n; i++)
                if (orow[i] >= 0) store_lanes(W.cts + i * GB, nsl, W.rows + orow[i] * W.rowlen + pos, A.nr * W.rowlen);
            pos += nsl;
        }
        for (int l = 0; l < L; l++) W.njobs[l] = 0;
    }

    // rows[g][l] -> dst[l][g] for g < gm[l], lanes l < nl in ``acc``: 8 x 8 blocks transposed in registers, so that
    // each lane's run is written with whole-vector stores
    static void store_rows(const vd* rows, int gmax, const int64_t* gm, double* const* dst, vl acc, int nl) {
        for (int gb = 0; gb < gmax; gb += 8) {
            vd r[8], o[8];
            for (int k = 0; k < 8; k++) r[k] = gb + k < gmax ? rows[gb + k] : splat(0.0);
            transpose8(r, o);
            for (int l = 0; l < nl; l++) {
                if (!acc[l] || gm[l] <= gb) continue;
                if (gm[l] >= gb + 8) {
                    std::memcpy(dst[l] + gb, &o[l], sizeof(vd));
                } else {
                    for (int g = gb; g < gm[l]; g++) dst[l][g] = o[l][g - gb];
                }
            }
        }
    }

};

// ----------------------------------------------------------------------------------------------- one lane group
void run_block(const Args& A, Work& W, int64_t p0, int nl) {
    Kernel K(A, W);
    const int n = W.n, ns = W.ns, m = W.m, nu = W.nu;
    const int64_t N = A.npat, size = A.size, kk = A.kk;
    const bool uniform = A.uniform != 0, write = A.write != 0;
    const double t0 = A.t0, t1 = A.t1, rtol = A.rtol;
    const double dgrid = kk > 1 ? A.tg[1] - A.tg[0] : 0.0;
    const double* tg = A.tg;
    int64_t P[L];
    for (int l = 0; l < L; l++) P[l] = p0 + std::min(l, nl - 1);  // spare lanes repeat the last patient

    // --- the patients' numbers (the batch layout is patient-last)
    auto ld = [&](const double* base, int64_t row) { return load_lanes(base + row * N, p0, nl); };
    for (int i = 0; i < n; i++) {
        W.bl[i] = ld(A.b, i);
        for (int j = 0; j < n; j++) W.a[i * n + j] = ld(A.amat, (int64_t)i * n + j);
        W.ivl[i] = ld(A.inv, i);
        W.dh[i] = vsqrt(W.ivl[i]);
    }
    for (int r = 0; r < m; r++) {
        W.bnc[r] = ld(A.b, n + r);
        for (int j = 0; j < n; j++) W.rl[r * n + j] = ld(A.amat, (int64_t)(n + r) * n + j);
    }
    for (int q = 0; q < ns; q++) {
        W.vm[q] = ld(A.vmax, q);
        W.kml[q] = ld(A.km, q);
        W.sil[q] = ld(A.sinv, q);
    }
    vd atl;
    for (int l = 0; l < L; l++) atl[l] = A.atol[P[l]];
    for (int i = 0; i < n; i++)
        for (int l = 0; l < L; l++) {
            W.u[i][l] = A.x[P[l] * size + i];
            W.cmx[i][l] = A.cmax[P[l] * n + i];
            W.tmx[i][l] = A.tmax[P[l] * n + i];
        }
    for (int r = 0; r < m; r++)
        for (int l = 0; l < L; l++) W.xs[r][l] = A.x[P[l] * size + n + r];
    for (int k = 0; k < ns * NN; k++) W.gprev[k] = splat(0.0);

    // --- per-lane control state
    vd t = splat(t0), h = splat(0.0), hk = splat(-1.0), hlu = splat(-1.0), hprev = splat(0.0);
    vl relin = splatl(-1), have_prev = splatl(0), plain = splatl(0), stale = splatl(0), failed = splatl(0),
       sw = splatl(0);
    vl nsteps = splatl(0), nlin = splatl(0), nnewt = splatl(0);
    int64_t jn[L] = {0, 0, 0, 0, 0, 0, 0, 0};
    const double SW = A.sweep_tol;

    while (true) {
        vl act = (t < t1) & ~failed & ~sw;
        if (!any(act)) break;
        // --- linearise where asked (at the segment start and when a slope has drifted)
        PROF_ADD(0, 1);
        vl rm = act & relin;
        if (any(rm)) {
            PROF_BEGIN(0);
            have_prev &= ~rm;
            if (A.max_relin > 0) {
                vl s_ = rm & (nlin >= (long long)A.max_relin);
                sw |= s_;
                rm &= ~s_;
                act &= ~s_;
            }
            nlin -= rm;  // (masks are -1)
            vl bad = K.linearise(rm, kk > 1 && uniform, dgrid);
            failed |= bad;
            rm &= ~bad;
            act &= ~bad;
            vd h0 = K.first_step(t1 - t);
            h = sel(rm & (h == 0.0), h0, h);
            relin &= ~rm;
            hk = sel(rm, splat(-1.0), hk);
            hlu = sel(rm, splat(-1.0), hlu);
            PROF_END(0);
            if (!any(act)) continue;
        }
        // --- the step [t, tn]
        h = sel(act, vmin(h, t1 - t), h);
        vl last = act & (t + h >= t1);
        h = sel(last, t1 - t, h);
        vd tn = sel(last, splat(t1), t + h);
        if (uniform) {
            for (int l = 0; l < L; l++) {
                if (!act[l] || last[l] || jn[l] >= kk || tg[jn[l]] > tn[l]) continue;
                // a step over ALIGN_MIN grid points or more ends on the last one
                int64_t jl = std::min(kk - 1, jn[l] + (int64_t)((tn[l] - tg[jn[l]]) / dgrid));
                while (jl > jn[l] && tg[jl] > tn[l]) jl--;
                if (jl - jn[l] + 1 >= A.align_min && tg[jl] < tn[l]) {
                    tn[l] = tg[jl];
                    h[l] = tn[l] - t[l];
                }
            }
        }
        for (int j = 0; j < n; j++) {  // modal state at the step start
            vd acc = splat(0.0);
            for (int i = 0; i < n; i++) acc += W.vec[i * n + j] * W.dh[i] * W.u[i];
            W.w[j] = acc;
        }
        vl rb = act & (h != hk);
        if (any(rb)) {
            PROF_BEGIN(2);
            K.tables(h);
            hk = sel(rb, h, hk);
            PROF_END(2);
            PROF_ADD(2, 1);
        }
        PROF_BEGIN(3);
        for (int q = 0; q < ns; q++)  // free response of the saturable states at the nodes
            for (int i = 0; i < DEG; i++) {
                vd acc = splat(0.0);
                for (int j = 0; j < n; j++)
                    acc += W.pr[q * n + j] * (W.ph3(0, j, i) * W.w[j] + W.ht[i] * W.beta[j] * W.ph3(1, j, i));
                W.afree[q * DEG + i] = acc;
            }
        for (int q = 0; q < ns; q++) {  // remainder at the start; initial guess
            int s = (int)A.sat_state[q];
            vd g0 = W.slope[q] * W.u[s] - K.sat_flux(q, W.u[s]);
            W.gv[q * NN] = g0;
            for (int ni = 1; ni < NN; ni++) {
                vd tt = 1.0 + A.nodes[ni] * h / hprev;
                vd acc = W.gprev[q * NN + NN - 1];
                for (int k = NN - 2; k >= 0; k--) acc = acc * tt + W.gprev[q * NN + k];
                W.gv[q * NN + ni] = sel(have_prev, acc, g0);
            }
        }
        PROF_END(3);
        // --- simplified Newton on the collocation equations
        PROF_BEGIN(4);
        vl na = act, conv = splatl(0);
        vd dprev = splat(0.0);
        for (int it = 0; it < A.maxit && any(na); it++) {
            nnewt -= na;
            vd delta = splat(0.0);
            for (int q = 0; q < ns; q++) {
                for (int i = 0; i < DEG; i++) W.acc8[i] = W.afree[q * DEG + i];
                for (int r = 0; r < ns; r++) {
                    int o = (q * ns + r) * NN;
                    for (int ll = 0; ll < NN; ll++) {
                        vd g_ = W.gv[r * NN + ll];
                        for (int i = 0; i < DEG; i++) W.acc8[i] += W.kmat[(o + ll) * DEG + i] * g_;
                    }
                }
                vd sq = W.slope[q], vq = W.vm[q], kq = W.kml[q], sq2 = W.sil[q];
                for (int i = 0; i < DEG; i++) {
                    vd uu = W.acc8[i];
                    vd c = sq2 * uu;
                    // 1/(Km + c) and the error weight h/(atol + rtol |u|) from one division
                    vd d1 = kq + c, d2 = atl + rtol * vabs(uu);
                    vd r12 = 1.0 / (d1 * d2);
                    vd rd = d2 * r12;
                    vd gn = sq * uu - vq * c * rd;
                    vd wq = h * d1 * r12;
                    W.gnw[q * DEG + i] = gn;
                    W.dgv[q * DEG + i] = sq - vq * kq * sq2 * (rd * rd);
                    vd dl = vabs(gn - W.gv[q * NN + i + 1]) * wq;
                    W.wgt[q * DEG + i] = wq;
                    delta = vmaxg(dl, delta);
                    W.res[q * DEG + i] = gn - W.gv[q * NN + i + 1];
                }
            }
            vl c1 = na & (delta <= SW);
            conv |= c1;
            na &= ~c1;
            if (!any(na)) break;
            if (it == 0) {
                // a factorised matrix of this step size and linearisation is kept while dG/du has moved by at most
                // reuse_rho in the contraction-bound norm
                vd drift = splat(0.0);
                for (int k = 0; k < nu; k++) drift = vmaxg(vabs(W.dgv[k] - W.dlu[k]) * W.ksum[k], drift);
                vl st = na & (hlu == h) & (drift <= A.reuse_rho);
                stale = seli(na, st, stale);
                vl fresh = na & ~st;
                if (any(fresh)) {
                    vd rho = splat(0.0);
                    for (int q = 0; q < ns; q++)
                        for (int ni = 1; ni < NN; ni++) {
                            int row = q * DEG + ni - 1;
                            vd rs = splat(0.0), ks = splat(0.0);
                            for (int r = 0; r < ns; r++) {
                                int o = (q * ns + r) * NN;
                                for (int ll = 1; ll < NN; ll++) {
                                    vd kv = W.kmat[(o + ll) * DEG + ni - 1];
                                    vd v = -W.dgv[row] * kv;
                                    W.jtmp[(r * DEG + ll - 1) * nu + row] = v;
                                    rs += vabs(v);
                                    ks += vabs(kv);
                                }
                            }
                            rho = vmaxg(rs, rho);
                            W.jtmp[row * nu + row] += 1.0;
                            W.ksumt[row] = ks;
                        }
                    for (int k = 0; k < nu; k++) {
                        W.ksum[k] = sel(fresh, W.ksumt[k], W.ksum[k]);
                        W.dlu[k] = sel(fresh, W.dgv[k], W.dlu[k]);
                    }
                    plain = seli(fresh, rho <= A.plain_rho, plain);
                    hlu = sel(fresh, splat(-1.0), hlu);
                    vl fac = fresh & ~plain;
                    if (any(fac)) {
                        vl sing = lu_factor(W.jtmp, W.pivt, W.rdgt, nu);
                        na &= ~(fac & sing);
                        vl good = fac & ~sing;
                        for (int k = 0; k < nu * nu; k++) W.jac[k] = sel(good, W.jtmp[k], W.jac[k]);
                        for (int k = 0; k < nu; k++) {
                            W.piv[k] = seli(good, W.pivt[k], W.piv[k]);
                            W.rdg[k] = sel(good, W.rdgt[k], W.rdg[k]);
                        }
                        hlu = sel(good, h, hlu);
                    }
                }
            }
            vl sl = na & ~plain;
            if (any(sl)) {
                for (int k = 0; k < nu; k++) W.rtmp[k] = W.res[k];
                lu_solve_t(W.jac, W.rtmp, W.piv, W.rdg, nu);
                for (int k = 0; k < nu; k++) W.res[k] = sel(sl, W.rtmp[k], W.res[k]);
            }
            vd dnorm = splat(0.0);
            for (int q = 0; q < ns; q++)
                for (int ni = 1; ni < NN; ni++) {
                    vd dg = W.res[q * DEG + ni - 1];
                    W.gv[q * NN + ni] = sel(na, W.gv[q * NN + ni] + dg, W.gv[q * NN + ni]);
                    dnorm = vmaxg(vabs(dg) * W.wgt[q * DEG + ni - 1], dnorm);
                }
            if (it > 0) {
                // the distance to the solution from the contraction rate, theta/(1 - theta) |correction|
                vd theta = dnorm / dprev;
                vl c2 = na & (theta < 0.5) & (theta * dnorm <= (1.0 - theta) * SW);
                conv |= c2;
                na &= ~c2;
            }
            dprev = sel(na, dnorm, dprev);
        }
        PROF_END(4);
        vl ncv = act & ~conv;
        if (any(ncv)) {
            hlu = sel(ncv & stale, splat(-1.0), hlu);  // a kept matrix: retried with its own
            vl r2 = ncv & ~stale;
            vl fl = r2 & (h * 0.5 < A.h_min);
            failed |= fl;
            vl hv = r2 & ~fl;
            h = sel(hv, h * 0.5, h);
            have_prev &= ~hv;
        }
        vl go = act & conv;
        if (!any(go)) continue;
        // --- final coefficients, step end, error estimate
        PROF_BEGIN(5);
        for (int q = 0; q < ns; q++) {
            for (int k = 0; k < NN; k++) {
                vd acc = splat(0.0);
                for (int ni = 0; ni < NN; ni++) acc += A.vinv[k * NN + ni] * W.gv[q * NN + ni];
                W.gc[q * NN + k] = acc;
            }
            for (int r = 0; r < 2; r++) {
                vd acc = splat(0.0);
                for (int ni = 0; ni < NN; ni++) acc += A.clast[r * NN + ni] * W.gv[q * NN + ni];
                W.clast[r * ns + q] = acc;
            }
        }
        for (int j = 0; j < n; j++)
            for (int k = 0; k < NN; k++) {
                vd acc = k == 0 ? W.beta[j] : splat(0.0);
                for (int q = 0; q < ns; q++) acc += W.ev[q * n + j] * W.gc[q * NN + k];
                W.qc[j * NN + k] = acc;
            }
        for (int j = 0; j < n; j++) {
            vd acc = W.ph3(0, j, DEG - 1) * W.w[j];
            vd acc2 = h * W.ph3(1, j, DEG - 1) * W.w[j];
            for (int k = 0; k < NN; k++) {
                acc += h * W.qc[j * NN + k] * A.fact[k] * W.ph3(k + 1, j, DEG - 1);
                acc2 += h * h * W.qc[j * NN + k] * A.fact[k] * W.ph3(k + 2, j, DEG - 1);
            }
            W.wn[j] = acc;
            W.wint[j] = acc2;
        }
        for (int i = 0; i < n; i++) {
            vd acc = splat(0.0), acc2 = splat(0.0);
            for (int j = 0; j < n; j++) {
                acc += W.vec[i * n + j] * W.wn[j];
                acc2 += W.vec[i * n + j] * W.wint[j];
            }
            W.un[i] = acc / W.dh[i];
            W.uin[i] = acc2 / W.dh[i];
        }
        vd err = splat(0.0);
        for (int ie = 0; ie < 2; ie++) {
            for (int j = 0; j < n; j++) {
                vd c7 = splat(0.0), c8 = splat(0.0);
                for (int q = 0; q < ns; q++) {
                    c7 += W.ev[q * n + j] * W.clast[q];
                    c8 += W.ev[q * n + j] * W.clast[ns + q];
                }
                W.errw[j] = h * (vabs(c7 * W.etab[(ie * 2) * n + j]) + vabs(c8 * W.etab[(ie * 2 + 1) * n + j]));
            }
            vd en = splat(0.0);
            for (int i = 0; i < n; i++) {
                vd acc3 = splat(0.0);
                for (int j = 0; j < n; j++) acc3 += vabs(W.vec[i * n + j]) * W.errw[j];
                vd eu = acc3 / W.dh[i];
                vd sc = atl + rtol * vmaxg(vabs(W.u[i]), vabs(W.un[i]));
                vd e_ = eu / sc;
                en += e_ * e_;
            }
            err = vmaxg(en, err);
        }
        err = vsqrt(err / (double)n);
        PROF_END(5);
        vl rej = go & (err > 1.0);
        if (any(rej)) {
            vd f = vmaxg(splat(0.2), 0.9 * vpow(err, -1.0 / (DEG + 1)));
            h = sel(rej, h * f, h);
            have_prev &= ~rej;
            failed |= rej & (h < A.h_min);
        }
        vl acc = go & ~rej;
        if (!any(acc)) continue;
        // --- accepted: grid values inside (t, tn], sinks, the next step
        PROF_BEGIN(6);
        PROF_BEGIN(12);
        K.step_need(acc, h);
        PROF_END(12);
        if (write && uniform)
            K.record_jobs(acc, t, tn, h, jn, nl);
        else
            K.step_grid(acc, t, tn, h, jn, P, nl);
        PROF_END(6);
        // sinks: exact integrals over the step; a saturable flux is slope int x_s - int G_s (as _step_sinks)
        for (int r = 0; r < m; r++) {
            int64_t row = n + r;
            vd s_ = W.bnc[r] * h;
            for (int i = 0; i < n; i++) s_ += W.rl[r * n + i] * W.uin[i];
            for (int q = 0; q < ns; q++) {
                if (A.sat_sink[q] != row) continue;
                vd gint = splat(0.0);
                for (int k = 0; k < NN; k++) gint += W.gc[q * NN + k] / (double)(k + 1);
                s_ += W.slope[q] * W.uin[A.sat_state[q]] - h * gint;
            }
            W.xs[r] = sel(acc, W.xs[r] + s_, W.xs[r]);
        }
        for (int k = 0; k < ns * NN; k++) W.gprev[k] = sel(acc, W.gc[k], W.gprev[k]);
        have_prev |= acc;
        hprev = sel(acc, h, hprev);
        for (int i = 0; i < n; i++) W.u[i] = sel(acc, W.un[i], W.u[i]);
        t = sel(acc, tn, t);
        nsteps -= acc;
        vd fac = sel(err == 0.0, splat(5.0), vmin(splat(5.0), 0.9 * vpow(err, -1.0 / A.grow_order)));
        h = sel(acc & ((fac < 1.0) | (fac > A.h_hold)), h * fac, h);
        for (int q = 0; q < ns; q++) {  // renew the linearisation when a slope has drifted
            vd s_new = K.sat_slope(q, W.u[A.sat_state[q]]);
            relin |= acc & (vabs(s_new - W.slope[q]) > A.relin_drift * vmaxg(s_new, W.slope[q]));
        }
    }
    if (write && uniform) {
        PROF_BEGIN(15);
        K.drain(nl);
        PROF_END(15);
    }
    // --- back into the batch; the curve rows in address order: the staged values of the earlier segments, then
    // this segment's
    PROF_BEGIN(1);
    if (write)
        for (int l = 0; l < nl; l++)
            for (int r = 0; r < A.nr; r++) {
                double* row = A.curves + (P[l] * A.nrow + r) * A.tlen;
                put_row(row, A.stage + (P[l] * A.nrow + r) * A.slen, A.slen, A.j0, W.rows + (l * A.nr + r) * W.rowlen,
                        A.kk);
            }
#if defined(__AVX512F__)
    if (write) _mm_sfence();
#endif
    PROF_END(1);
    for (int l = 0; l < nl; l++) {
        int64_t p = P[l];
        A.ok[p] = failed[l] ? 0 : 1;
        if (sw[l]) A.sw[p] = 1;
        A.stats[p * 3 + 0] += nsteps[l];
        A.stats[p * 3 + 1] += nlin[l];
        A.stats[p * 3 + 2] += nnewt[l];
        if (!sw[l])
            for (int i = 0; i < n; i++) A.x[p * size + i] = W.u[i][l];
        for (int r = 0; r < m; r++) A.x[p * size + n + r] = W.xs[r][l];
        for (int i = 0; i < n; i++) {
            A.cmax[p * n + i] = W.cmx[i][l];
            A.tmax[p * n + i] = W.tmx[i][l];
        }
    }
}

}  // namespace

extern "C" {

// Integrate the patients of the batch over [t0, t1]: part ``part`` of ``nparts``, each part run by one of the
// caller's threads (numba's, see _expo_lanes.py), which take blocks of eight patients from the shared counter
// ``next`` until none is left. Returns 0, or 1 when the sizes exceed this kernel's limits (the caller then uses
// the numba kernel).
int expo_lanes(const Args* args, int64_t part, int64_t nparts) {
    (void)part;
    (void)nparts;
    const Args& A = *args;
    if (A.n > NMAX || A.ns > SMAX || A.ns < 1 || A.n < 1) return 1;
    if (reinterpret_cast<uintptr_t>(std::vector<vd>(1).data()) % alignof(vd) != 0) return 1;
    const int64_t nblk = (A.npat + L - 1) / L;
    Work W((int)A.n, (int)A.ns, (int)(A.size - A.n), A.write ? A.nr : 0, A.kk);
    int64_t b;
    while (take_block(A.next, nblk, b)) {
        int64_t p0 = b * L;
        run_block(A, W, p0, (int)std::min<int64_t>(L, A.npat - p0));
    }
    return 0;
}

#ifdef EXPO_PROF
void expo_lanes_prof_dump(double t0, double t1) {
    std::fprintf(stderr, "expo_lanes prof [%g, %g]:", t0, t1);
    for (int k = 0; k < 16; k++) {
        std::fprintf(stderr, " %d:%llu/%llu", k, prof_ticks[k].load(), prof_count[k].load());
        prof_ticks[k] = 0;
        prof_count[k] = 0;
    }
    std::fprintf(stderr, "\n");
}
#endif

// For the tests: factorise eight transposed matrices ``at`` (nu, nu, 8: lanes last) with the kernel's per-lane
// pivoting and solve J x = rhs (rhs: (nu, 8), overwritten); returns a bit per singular lane.
int expo_lanes_lu_solve(const double* at, double* rhs, int nu) {
    if (nu < 1 || nu > DEG * SMAX) return -1;
    std::vector<vd> a((size_t)nu * nu), r((size_t)nu), rdg((size_t)nu);
    std::vector<vl> piv((size_t)nu);
    for (int k = 0; k < nu * nu; k++) std::memcpy(&a[k], at + (size_t)k * L, sizeof(vd));
    for (int k = 0; k < nu; k++) std::memcpy(&r[k], rhs + (size_t)k * L, sizeof(vd));
    vl sing = lu_factor(a.data(), piv.data(), rdg.data(), nu);
    lu_solve_t(a.data(), r.data(), piv.data(), rdg.data(), nu);
    for (int k = 0; k < nu; k++) std::memcpy(rhs + (size_t)k * L, &r[k], sizeof(vd));
    int bits = 0;
    for (int l = 0; l < L; l++) bits |= sing[l] ? 1 << l : 0;
    return bits;
}

int expo_lanes_width(void) { return L; }
int expo_lanes_degree(void) { return DEG; }
int expo_lanes_nser(void) { return NSER; }

}  // extern "C"
