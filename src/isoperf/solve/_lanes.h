// Helpers shared by isoperf's lane-parallel kernels (_expo_lanes.cpp, _exact_lanes.cpp): eight patients per vector
// (GCC vector extensions; one AVX-512 register, two AVX2 ones), lane masks, e^x, cyclic Jacobi across lanes, 8 x 8
// transposes and streaming stores for the curves.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// Profiling (off unless compiled with -DEXPO_PROF): time-stamp-counter ticks per part of a step, summed over the
// threads' blocks and printed to stderr at the end of each call.
#ifdef EXPO_PROF
#include <atomic>
#include <cstdio>
#include <x86intrin.h>
inline std::atomic<unsigned long long> prof_ticks[16];
inline std::atomic<unsigned long long> prof_count[16];
#define PROF_BEGIN(k) unsigned long long prof_t##k = __rdtsc()
#define PROF_END(k) prof_ticks[k] += __rdtsc() - prof_t##k
#define PROF_ADD(k, v) prof_count[k] += (unsigned long long)(v)
#else
#define PROF_BEGIN(k)
#define PROF_END(k)
#define PROF_ADD(k, v)
#endif

namespace lanes {

constexpr int L = 8;  // lanes
typedef double vd __attribute__((vector_size(64)));
typedef long long vl __attribute__((vector_size(64)));  // lane masks (-1 true, 0 false) and lane integers

// ----------------------------------------------------------------------------------------------- lane helpers
inline vd splat(double v) { return vd{v, v, v, v, v, v, v, v}; }
inline vl splatl(long long v) { return vl{v, v, v, v, v, v, v, v}; }
inline vd sel(vl m, vd a, vd b) { return m ? a : b; }
inline vl seli(vl m, vl a, vl b) { return m ? a : b; }
#if defined(__AVX512F__)
inline bool any(vl m) { return _mm512_test_epi64_mask((__m512i)m, (__m512i)m) != 0; }
#else
inline bool any(vl m) {
    long long r = 0;
    for (int l = 0; l < L; l++) r |= m[l];
    return r != 0;
}
#endif
inline vd vabs(vd x) { return x < 0.0 ? -x : x; }
// max/min as the scalar kernel's comparisons: ``a if a > b else b``
inline vd vmaxg(vd a, vd b) { return a > b ? a : b; }
inline vd vmin(vd a, vd b) { return b < a ? b : a; }
inline vd vsqrt(vd x) {
    vd r = x;
    for (int l = 0; l < L; l++) r[l] = __builtin_sqrt(x[l]);
    return r;
}
inline vd vpow(vd x, double e) {  // x^e lane by lane (step-size factors: a few per step)
    vd r = x;
    for (int l = 0; l < L; l++) r[l] = std::pow(x[l], e);
    return r;
}
// e^x to ~1 ulp: x = n ln2 + r, |r| <= ln2/2, Taylor polynomial to r^13 (remainder < 5e-18), times 2^n;
// x < -708 gives 0 (the exact value is below 1e-307)
inline vd vexp(vd x) {
    const vd shifter = splat(6755399441055744.0);  // 1.5 2^52: adding it rounds to an integer
    vd xc = x < -708.0 ? splat(-708.0) : x;
    xc = xc > 709.0 ? splat(709.0) : xc;
    vd t = xc * 1.4426950408889634 + shifter;
    vd nf = t - shifter;
    vd r = (xc - nf * 6.93147180369123816490e-01) - nf * 1.90821492927058770002e-10;
    static const double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                 1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,      1.0 / 720.0,
                                 1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,         0.5,
                                 1.0,                1.0};
    vd p = splat(c[0]);
    for (int k = 1; k < 14; k++) p = p * r + c[k];
    vl ni = (vl)t - (vl)shifter;
    vd scale = (vd)((ni + 1023) << 52);
    return x < -708.0 ? splat(0.0) : p * scale;
}

// row[p0 + l] for the lanes of a group of nl patients from p0 (spare lanes repeat the last one): one vector load for a
// full group (the batch layout is patient-last)
inline vd load_lanes(const double* row, int64_t p0, int nl) {
    vd v;
    if (nl == L) {
        std::memcpy(&v, row + p0, sizeof(vd));
    } else {
        for (int l = 0; l < L; l++) v[l] = row[p0 + std::min(l, nl - 1)];
    }
    return v;
}

// A curve row written out: dst[0:k1] = front[0:k1] (the staged values of earlier segments), then dst[k1:k1+k2] =
// src[0:k2]. Rows of STREAM_MIN points or more go out with non-temporal stores where the vector width allows: the
// curves are written once and not read again by the kernel, and streaming them past the caches saves reading every
// destination line first (on the benchmark machine ~1.75 against ~2.5-2.9 us per 46 KB); a short row (a stage,
// read again by the next segment) is copied through the caches.
constexpr size_t STREAM_MIN = 256;

inline void write_row(double* dst, const double* front, size_t k1, const double* src, size_t k2) {
    const size_t k = k1 + k2;
    size_t i = 0;
#if defined(__AVX512F__)
    auto at = [&](size_t j) { return j < k1 ? front[j] : src[j - k1]; };
    if (k >= STREAM_MIN) {
        while (i < k && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0) {
            dst[i] = at(i);
            i++;
        }
        for (; i + 8 <= k1; i += 8) _mm512_stream_pd(dst + i, _mm512_loadu_pd(front + i));
        if (i < k1 && i + 8 <= k) {  // the block across the end of the front part
            alignas(64) double t[8];
            for (int j = 0; j < 8; j++) t[j] = at(i + j);
            _mm512_stream_pd(dst + i, _mm512_load_pd(t));
            i += 8;
        }
        for (; i + 8 <= k; i += 8) _mm512_stream_pd(dst + i, _mm512_loadu_pd(src + (i - k1)));
    }
#endif
    if (i < k1) {
        std::memcpy(dst + i, front + i, sizeof(double) * (k1 - i));
        i = k1;
    }
    std::memcpy(dst + i, src + (i - k1), sizeof(double) * (k - i));
}

// a segment's curve row: its kk points at j0, behind the slen staged points of the earlier segments (slen = j0
// when staged, 0 when not)
inline void put_row(double* row, const double* stage, int64_t slen, int64_t j0, const double* src, int64_t kk) {
    if (slen == j0) {
        write_row(row, stage, (size_t)slen, src, (size_t)kk);
    } else {
        if (slen > 0) std::memcpy(row, stage, sizeof(double) * (size_t)slen);
        write_row(row + j0, nullptr, 0, src, (size_t)kk);
    }
}

// The parts of a kernel call (one per thread) share its blocks of patients: each takes the next block ``b`` of
// ``nblk`` from the counter ``next`` until none is left (false).
inline bool take_block(int64_t* next, int64_t nblk, int64_t& b) {
    b = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
    return b < nblk;
}

// ----------------------------------------------------------------------------------------------- Jacobi
// cyclic Jacobi on the lanes in ``live[g]`` of G lane groups at once (solve/_jacobi.py: the same rotations, per lane);
// live[g] becomes the lanes that did not converge. The groups' rotations are independent: interleaved, one group's
// divisions and square roots run while the other's wait (a rotation is a chain of them: one group alone is bound by
// their latency). A lane whose rotation is skipped (converged, not live, or its pivot negligible) gets tt = 0, and a
// rotation by tt = 0 leaves every number as it is: a lane's result does not depend on the lanes it shares groups with.
// ``pairs`` (n x n, or null: all): the pivots (p, q) to visit; one left out must have a_pq = 0 in every lane throughout
// (p and q in different blocks of a block-diagonal matrix: the rotations within a block keep the others' zeros), which
// makes its rotation the identity, so leaving it out changes no number.
template <int G>
inline void jacobi_groups(vd* const* a, vd* const* v, vl* live, int n, double negligible, double converged,
                          int64_t max_sweeps, const uint8_t* pairs = nullptr) {
    const double neg2 = negligible * negligible;
    for (int g = 0; g < G; g++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) v[g][i * n + j] = splat(i == j ? 1.0 : 0.0);
    for (int64_t sweep = 0; sweep < max_sweeps; sweep++) {
        vd big[G];
        for (int g = 0; g < G; g++) big[g] = splat(0.0);
        for (int p = 0; p < n - 1; p++) {
            for (int q = p + 1; q < n; q++) {
                if (pairs && !pairs[p * n + q]) continue;
                vd tt[G], sn[G], tau[G];
                vl turn = splatl(0);
                for (int g = 0; g < G; g++) {
                    vd* ag = a[g];
                    vd apq = ag[p * n + q], app = ag[p * n + p], aqq = ag[q * n + q];
                    vd d = 0.5 * (aqq - app);
                    vd den = vabs(d) + vsqrt(d * d + apq * apq);
                    vl small = (apq * apq <= neg2 * vabs(app * aqq)) | ~live[g];
                    vd t = apq / (den + sel(den == 0.0, splat(1.0), splat(0.0)));
                    t = sel(d >= 0.0, t, -t);
                    t = sel(small, splat(0.0), t);
                    vd c = 1.0 / vsqrt(1.0 + t * t);
                    sn[g] = t * c;
                    tau[g] = sn[g] / (1.0 + c);
                    tt[g] = t;
                    ag[p * n + p] = app - t * apq;
                    ag[q * n + q] = aqq + t * apq;
                    ag[p * n + q] = sel(small, apq, splat(0.0));
                    big[g] = vmaxg(vabs(t), big[g]);
                    turn |= (vl)(t != 0.0);
                }
                if (!any(turn)) continue;
                for (int g = 0; g < G; g++) {
                    vd* ag = a[g];
                    vd* vg = v[g];
                    const vd s_ = sn[g], u = tau[g];
                    for (int r = 0; r < n; r++) {
                        if (r == p || r == q) continue;
                        int rp0 = std::min(r, p), rp1 = std::max(r, p), rq0 = std::min(r, q), rq1 = std::max(r, q);
                        vd arp = ag[rp0 * n + rp1], arq = ag[rq0 * n + rq1];
                        ag[rp0 * n + rp1] = arp - s_ * (arq + u * arp);
                        ag[rq0 * n + rq1] = arq + s_ * (arp - u * arq);
                    }
                    for (int r = 0; r < n; r++) {
                        vd vrp = vg[p * n + r], vrq = vg[q * n + r];
                        vg[p * n + r] = vrp - s_ * (vrq + u * vrp);
                        vg[q * n + r] = vrq + s_ * (vrp - u * vrq);
                    }
                }
            }
        }
        vl left = splatl(0);
        for (int g = 0; g < G; g++) {
            live[g] = live[g] & ~(big[g] <= converged);
            left |= live[g];
        }
        if (!any(left)) return;
    }
}

// one lane group: returns the lanes of ``live0`` that did not converge
inline vl jacobi(vd* a, vd* v, vl live0, int n, double negligible, double converged, int64_t max_sweeps) {
    vl live = live0;
    jacobi_groups<1>(&a, &v, &live, n, negligible, converged, max_sweeps);
    return live;
}


// ----------------------------------------------------------------------------------------------- curves
inline void transpose8(const vd* r, vd* o) {
    const vl lo = {0, 8, 2, 10, 4, 12, 6, 14}, hi = {1, 9, 3, 11, 5, 13, 7, 15};
    const vl lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
    const vl lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
    vd t0 = __builtin_shuffle(r[0], r[1], lo), t1 = __builtin_shuffle(r[0], r[1], hi);
    vd t2 = __builtin_shuffle(r[2], r[3], lo), t3 = __builtin_shuffle(r[2], r[3], hi);
    vd t4 = __builtin_shuffle(r[4], r[5], lo), t5 = __builtin_shuffle(r[4], r[5], hi);
    vd t6 = __builtin_shuffle(r[6], r[7], lo), t7 = __builtin_shuffle(r[6], r[7], hi);
    vd u0 = __builtin_shuffle(t0, t2, lo2), u2 = __builtin_shuffle(t0, t2, hi2);
    vd u1 = __builtin_shuffle(t1, t3, lo2), u3 = __builtin_shuffle(t1, t3, hi2);
    vd u4 = __builtin_shuffle(t4, t6, lo2), u6 = __builtin_shuffle(t4, t6, hi2);
    vd u5 = __builtin_shuffle(t5, t7, lo2), u7 = __builtin_shuffle(t5, t7, hi2);
    o[0] = __builtin_shuffle(u0, u4, lo4);
    o[1] = __builtin_shuffle(u1, u5, lo4);
    o[2] = __builtin_shuffle(u2, u6, lo4);
    o[3] = __builtin_shuffle(u3, u7, lo4);
    o[4] = __builtin_shuffle(u0, u4, hi4);
    o[5] = __builtin_shuffle(u1, u5, hi4);
    o[6] = __builtin_shuffle(u2, u6, hi4);
    o[7] = __builtin_shuffle(u3, u7, hi4);
}

// rows[g][l] -> dst[l stride + g], g < gmax rounded up to a multiple of eight (dst 64-byte aligned, with room):
// 8 x 8 blocks transposed in registers, one aligned store per lane and block
inline void store_lanes(const vd* rows, int gmax, double* dst, size_t stride) {
    for (int gb = 0; gb < gmax; gb += 8) {
        vd o[8];
        transpose8(rows + gb, o);
        for (int l = 0; l < L; l++) *reinterpret_cast<vd*>(dst + l * stride + gb) = o[l];
    }
}


}  // namespace lanes
