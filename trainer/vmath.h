/* Four-lane vector math shared by the trainers (logreg, mlp): GCC vector
 * extension types, a table exp for x ≤ 0 and a series log for s ≥ 1. One
 * source, inlined into each caller's SSE2 baseline and AVX2 clones. No FMA
 * (-std=c11 does not contract), so every path gives bit-identical results.
 * Loads and stores go through unaligned, may_alias types. */
#ifndef CAIRN_VMATH_H
#define CAIRN_VMATH_H

#include <stddef.h>

typedef double v4d __attribute__((vector_size(32)));
typedef long long v4di __attribute__((vector_size(32)));
typedef unsigned long long v4du64 __attribute__((vector_size(32)));
typedef double v4du __attribute__((vector_size(32), aligned(8), may_alias));
typedef float v4f __attribute__((vector_size(16)));
typedef int v4si __attribute__((vector_size(16)));
typedef float v4fu __attribute__((vector_size(16), aligned(4), may_alias));
typedef int v4siu __attribute__((vector_size(16), aligned(4), may_alias));
/* four ints (e.g. class labels) widened to 64-bit lanes, for compares against v4di */
#define V4LDI(ptr) __builtin_convertvector(*(const v4siu *)(ptr), v4di)
#define V4LD(ptr) (*(const v4du *)(ptr))
#define V4ST(ptr, v) (*(v4du *)(ptr) = (v))
#define V4SET1(x) ((v4d){(x), (x), (x), (x)})
/* four floats widened to doubles (exact) */
#define V4LDF(ptr) __builtin_convertvector(*(const v4fu *)(ptr), v4d)
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* 2^(j/32), j = 0..31, correctly rounded */
extern const double vm_exp2_32[32];

/* exp(x) for four x ≤ 0 (x < −700 gives 0): x = (32·e + j)·ln2/32 + r, |r| ≤ ln2/64,
 * exp(x) = 2^e · 2^(j/32) · (1 + q(r)), q the degree-6 Taylor polynomial (truncation < 4e-18);
 * |rel err| < 5e-16. exp(0) = 1 exactly. */
ALWAYS_INLINE void vexp4_nonpos(const double *in, double *out)
{
    const double shift = 0x1.8p52, inv = 46.166241308446828384 /* 32/ln2 */,
                 ln2hi = 6.93147180369123816490e-01 / 32, ln2lo = 1.90821492927058770002e-10 / 32;
    v4d x = V4LD(in);
    v4di under = x < V4SET1(-700.0);
    x = (v4d)(((v4di)x & ~under) | ((v4di)V4SET1(-700.0) & under));
    v4d t = x * V4SET1(inv) + V4SET1(shift), kd = t - V4SET1(shift);
    v4d r = (x - kd * V4SET1(ln2hi)) - kd * V4SET1(ln2lo);
    v4du64 nb = (v4du64)t - (v4du64)V4SET1(shift), j = nb & 31;
    v4d sc = (v4d)(((nb - j) << 47) + ((v4du64){1023, 1023, 1023, 1023} << 52));
    v4d tab = {vm_exp2_32[j[0]], vm_exp2_32[j[1]], vm_exp2_32[j[2]], vm_exp2_32[j[3]]};
    v4d q = V4SET1(1.0 / 720);
    q = q * r + V4SET1(1.0 / 120);
    q = q * r + V4SET1(1.0 / 24);
    q = q * r + V4SET1(1.0 / 6);
    q = q * r + V4SET1(0.5);
    q = q * r + V4SET1(1.0);
    q = q * r;
    v4d e = (tab + tab * q) * sc;
    V4ST(out, (v4d)((v4di)e & ~under));
}

/* log(s) for four s ≥ 1 (finite): s = 2^e · m, m ∈ [√½, √2), log m = 2·atanh(f), f = (m−1)/(m+1),
 * |f| < 0.1716, the atanh series to f^23 (truncation < 1e-18). */
ALWAYS_INLINE void vlog4_ge1(const double *in, double *out)
{
    v4d s = V4LD(in);
    v4du64 bits = (v4du64)s;
    /* e such that m = s / 2^e lands in [√½, √2): bias the exponent field by the mantissa of √½ */
    v4du64 off = bits - (v4du64)V4SET1(0x1.6a09e667f3bcdp-1);
    v4du64 eb = off >> 52;                                   /* e (s ≥ 1 keeps it ≥ 0) */
    v4d m = (v4d)(bits - (eb << 52));
    v4d e = {(double)(long long)eb[0], (double)(long long)eb[1], (double)(long long)eb[2], (double)(long long)eb[3]};
    v4d f = (m - V4SET1(1.0)) / (m + V4SET1(1.0)), f2 = f * f;
    v4d pl = V4SET1(1.0 / 23);
    static const double c[11] = {1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11, 1.0 / 9, 1.0 / 7,
                                 1.0 / 5, 1.0 / 3, 1.0};
    for (int i = 0; i < 11; i++) pl = pl * f2 + V4SET1(c[i]);
    v4d lm = (f + f) * pl;
    V4ST(out, e * V4SET1(6.93147180369123816490e-01) + (lm + e * V4SET1(1.90821492927058770002e-10)));
}

/* x[i] = exp(x[i]) for x[i] ≤ 0, n values; s[i] = log(s[i]) for s[i] ≥ 1, ns values
 * (either array may be NULL with a 0 count); AVX2 or SSE2, same results */
void vm_exp_log(double *x, size_t n, double *s, size_t ns);

#endif
