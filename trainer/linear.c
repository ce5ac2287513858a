/* Linear models: dummy (prior / mean), linear and ridge (LAPACK), logreg
 * (L-BFGS on the L2-penalised log-loss, scikit-learn's objective:
 * mean loss + ||W||² / (2·C·n), intercept unpenalised). */
#include <cblas.h>
#include <lapacke.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"
#include "onnx.h"
#include "vmath.h"

struct linmodel {
    int p, k, nout;        /* k coefficient columns; nout outputs (classes or 1) */
    enum link link;
    double *W, *b;         /* W: p × k row-major; b: k */
};

static struct linmodel *lin_new(int p, int k, int nout, enum link link)
{
    struct linmodel *m = xcalloc(1, sizeof *m);
    m->p = p; m->k = k; m->nout = nout; m->link = link;
    m->W = xcalloc((size_t)p * k, sizeof *m->W);
    m->b = xcalloc((size_t)k, sizeof *m->b);
    return m;
}

static void lin_free(void *mp)
{
    struct linmodel *m = mp;
    if (!m) return;
    free(m->W); free(m->b); free(m);
}

void linear_predict(const double *X, int n, int p, const double *W, const double *b, int k, enum link link,
                    double *out)
{
    double *Z = link == LINK_SIGMOID2 ? xmalloc((size_t)n * sizeof *Z) : out;
    for (int i = 0; i < n; i++) memcpy(Z + (size_t)i * k, b, (size_t)k * sizeof *b);
    if (p > 0) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, p, 1.0, X, p, W, k, 1.0, Z, k);
    if (link == LINK_SOFTMAX) {
        for (int i = 0; i < n; i++) {
            double *z = Z + (size_t)i * k, mx = z[0], s = 0;
            for (int j = 1; j < k; j++) if (z[j] > mx) mx = z[j];
            for (int j = 0; j < k; j++) { z[j] = exp(z[j] - mx); s += z[j]; }
            for (int j = 0; j < k; j++) z[j] /= s;
        }
    } else if (link == LINK_SIGMOID2) {
        for (int i = 0; i < n; i++) {
            double s = 1.0 / (1.0 + exp(-Z[i]));
            out[2 * i] = 1.0 / (1.0 + exp(Z[i]));
            out[2 * i + 1] = s;
        }
        free(Z);
    }
}

void linear_to_onnx(struct onnx_graph *g, const char *in, const char *out, const double *W, const double *b,
                    int p, int k, enum link link)
{
    char wn[64], bn[64], mm[64], z[64];
    snprintf(wn, sizeof wn, "%s", onnx_tmp(g, "coef"));
    snprintf(bn, sizeof bn, "%s", onnx_tmp(g, "intercept"));
    snprintf(mm, sizeof mm, "%s", onnx_tmp(g, "matmul"));
    snprintf(z, sizeof z, "%s", link == LINK_IDENTITY ? out : onnx_tmp(g, "logits"));
    int64_t wd[2] = {p, k}, bd[1] = {k};
    onnx_init_floats(g, wn, wd, 2, W);
    onnx_init_floats(g, bn, bd, 1, b);
    onnx_op(g, "MatMul", (const char *[]){in, wn, NULL}, mm);
    onnx_op(g, "Add", (const char *[]){mm, bn, NULL}, z);
    onnx_apply_link(g, z, out, link);
}

void onnx_apply_link(struct onnx_graph *g, const char *z, const char *out, enum link link)
{
    char s[64], s0[64], one[64];
    if (link == LINK_IDENTITY) {
        if (strcmp(z, out) != 0) onnx_op(g, "Identity", (const char *[]){z, NULL}, out);
    } else if (link == LINK_SOFTMAX) {
        struct onnx_node n;
        onnx_node_begin(&n, "Softmax", "", (const char *[]){z, NULL}, (const char *[]){out, NULL});
        onnx_attr_int(&n, "axis", 1);
        onnx_node_end(g, &n);
    } else {
        snprintf(s, sizeof s, "%s", onnx_tmp(g, "p1"));
        snprintf(s0, sizeof s0, "%s", onnx_tmp(g, "p0"));
        snprintf(one, sizeof one, "%s", onnx_tmp(g, "neg_logits"));
        /* p0 = sigmoid(−z), not 1 − p1: no cancellation for confident rows */
        onnx_op(g, "Sigmoid", (const char *[]){z, NULL}, s);
        onnx_op(g, "Neg", (const char *[]){z, NULL}, one);
        onnx_op(g, "Sigmoid", (const char *[]){one, NULL}, s0);
        struct onnx_node n;
        onnx_node_begin(&n, "Concat", "", (const char *[]){s0, s, NULL}, (const char *[]){out, NULL});
        onnx_attr_int(&n, "axis", 1);
        onnx_node_end(g, &n);
    }
}

static void lin_predict(const void *mp, const double *X, int n, double *out)
{
    const struct linmodel *m = mp;
    linear_predict(X, n, m->p, m->W, m->b, m->k, m->link, out);
}

static void lin_onnx(const void *mp, struct onnx_graph *g, const char *in, const char *out)
{
    const struct linmodel *m = mp;
    linear_to_onnx(g, in, out, m->W, m->b, m->p, m->k, m->link);
}

static void lin_save(const void *mp, struct sbuf *b)
{
    const struct linmodel *m = mp;
    int dims[4] = {m->p, m->k, m->nout, (int)m->link};
    kv_ints(b, "linear.dims", dims, 4);
    kv_dbls(b, "linear.W", m->W, m->p * m->k);
    kv_dbls(b, "linear.b", m->b, m->k);
}

static void *lin_load(const struct kv *kv, char *err)
{
    int *dims;
    if (kv_get_ints(kv, "linear.dims", 4, &dims, NULL, err)) return NULL;
    struct linmodel *m = xcalloc(1, sizeof *m);
    m->p = dims[0]; m->k = dims[1]; m->nout = dims[2]; m->link = (enum link)dims[3];
    free(dims);
    if (m->p < 0 || m->k < 1 || kv_get_dbls(kv, "linear.W", m->p * m->k, &m->W, NULL, err) ||
        kv_get_dbls(kv, "linear.b", m->k, &m->b, NULL, err)) {
        if (m->p < 0 || m->k < 1) errf(err, "model file: bad linear dimensions");
        lin_free(m);
        return NULL;
    }
    return m;
}

/* ---- dummy ---- */
static const struct param_spec DUMMY_PARAMS[] = {
    {"strategy", P_CHOICE, 0, 0, 0, "prior|mean|median", NULL},
};

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *dummy_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    if (d->nclasses) {
        struct linmodel *m = lin_new(d->p, d->nclasses, d->nclasses, LINK_IDENTITY);
        for (int i = 0; i < d->n; i++) m->b[(int)d->y[i]] += 1.0 / d->n;
        return m;
    }
    struct linmodel *m = lin_new(d->p, 1, 1, LINK_IDENTITY);
    if (hp->v[0] == 2) {
        double *s = xmalloc((size_t)d->n * sizeof *s);
        memcpy(s, d->y, (size_t)d->n * sizeof *s);
        qsort(s, (size_t)d->n, sizeof *s, cmp_dbl);
        m->b[0] = d->n % 2 ? s[d->n / 2] : 0.5 * (s[d->n / 2 - 1] + s[d->n / 2]);
        free(s);
    } else {
        for (int i = 0; i < d->n; i++) m->b[0] += d->y[i];
        m->b[0] /= d->n;
    }
    return m;
}

const struct algo algo_dummy = {
    "dummy", "cairn.dummy.DummyEstimator", 0, DUMMY_PARAMS, 1,
    dummy_fit, lin_predict, lin_save, lin_load, lin_onnx, lin_free, NULL,
};

/* ---- linear / ridge ---- */
static const struct param_spec LINEAR_PARAMS[] = {
    {"alpha", P_DOUBLE, 0.0, 0, 1e12, NULL, NULL},
    {"fit_intercept", P_BOOL, 1, 0, 1, NULL, NULL},
    {"solver", P_CHOICE, 0, 0, 0, "auto|cholesky|svd", NULL},
};
static const struct param_spec RIDGE_PARAMS[] = {
    {"alpha", P_DOUBLE, 1.0, 0, 1e12, NULL, NULL},
    {"fit_intercept", P_BOOL, 1, 0, 1, NULL, NULL},
    {"solver", P_CHOICE, 0, 0, 0, "auto|cholesky|svd", NULL},
};

/* Least squares on [Xc; sqrt(alpha)·I] by SVD (dgelsd): minimum-norm
 * solution when X is rank-deficient, as scikit-learn's lstsq. */
static int ridge_svd(const double *Xc, const double *yc, int n, int p, double alpha, double *w)
{
    int rows = n + (alpha > 0 ? p : 0), ldb = rows > p ? rows : p;
    double *A = xcalloc((size_t)rows * p, sizeof *A), *B = xcalloc((size_t)ldb, sizeof *B);
    memcpy(A, Xc, (size_t)n * p * sizeof *A);
    memcpy(B, yc, (size_t)n * sizeof *B);
    if (alpha > 0) for (int j = 0; j < p; j++) A[(size_t)(n + j) * p + j] = sqrt(alpha);
    double *s = xmalloc((size_t)(p < rows ? p : rows) * sizeof *s);
    lapack_int rank;
    int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, p, 1, A, p, B, 1, s, -1.0, &rank);
    if (!info) memcpy(w, B, (size_t)p * sizeof *w);
    free(A); free(B); free(s);
    return info;
}

static void *ridge_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    if (d->nclasses) { errf(err, "linear and ridge are regression algorithms; use logreg for classification"); return NULL; }
    int n = d->n, p = d->p, intercept = hp->v[1] != 0, solver = (int)hp->v[2];
    double alpha = hp->v[0];
    double *xm = xcalloc((size_t)p, sizeof *xm), ym = 0;
    double *Xc = xmalloc((size_t)n * p * sizeof *Xc), *yc = xmalloc((size_t)n * sizeof *yc);
    if (intercept) {
        for (int i = 0; i < n; i++) {
            ym += d->y[i];
            for (int j = 0; j < p; j++) xm[j] += d->X[(size_t)i * p + j];
        }
        ym /= n;
        for (int j = 0; j < p; j++) xm[j] /= n;
    }
    for (int i = 0; i < n; i++) {
        yc[i] = d->y[i] - ym;
        for (int j = 0; j < p; j++) Xc[(size_t)i * p + j] = d->X[(size_t)i * p + j] - xm[j];
    }
    struct linmodel *m = lin_new(p, 1, 1, LINK_IDENTITY);
    int done = 0;
    if (solver != 2 && (alpha > 0 || solver == 1)) {
        /* normal equations: (XcᵀXc + αI) w = Xcᵀ yc, Cholesky */
        double *A = xcalloc((size_t)p * p, sizeof *A);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, p, n, 1.0, Xc, p, 0.0, A, p);
        for (int j = 0; j < p; j++) A[(size_t)j * p + j] += alpha;
        cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, Xc, p, yc, 1, 0.0, m->W, 1);
        done = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', p, 1, A, p, m->W, 1) == 0;
        free(A);
    }
    if (!done && ridge_svd(Xc, yc, n, p, alpha, m->W) != 0) {
        errf(err, "least squares did not converge (SVD failed)");
        lin_free(m);
        m = NULL;
    }
    if (m) {
        m->b[0] = ym;
        for (int j = 0; j < p; j++) m->b[0] -= xm[j] * m->W[j];
    }
    free(xm); free(Xc); free(yc);
    return m;
}

const struct algo algo_linear = {
    "linear", "cairn.linear.LinearRegression", 0, LINEAR_PARAMS, 3,
    ridge_fit, lin_predict, lin_save, lin_load, lin_onnx, lin_free, NULL,
};
const struct algo algo_ridge = {
    "ridge", "cairn.linear.Ridge", 0, RIDGE_PARAMS, 3,
    ridge_fit, lin_predict, lin_save, lin_load, lin_onnx, lin_free, NULL,
};

/* ---- logreg ---- */
static const struct param_spec LOGREG_PARAMS[] = {
    {"C", P_DOUBLE, 1.0, 1e-12, 1e12, NULL, NULL},
    {"max_iter", P_INT, 100, 1, 1e7, NULL, NULL},
    {"tol", P_DOUBLE, 1e-4, 0, 1, NULL, NULL},
    {"fit_intercept", P_BOOL, 1, 0, 1, NULL, NULL},
    {"penalty", P_CHOICE, 0, 0, 0, "l2|none", NULL},
    {"class_weight", P_CHOICE, 0, 0, 0, "none|balanced", NULL},
};

struct lr_problem {
    const double *X;
    int n, p, k, intercept;
    double lambda;          /* 1 / (C · Σw), 0 without penalty */
    double *Yw;             /* k == 1: y ∈ {0,1} */
    double *sw;             /* sample weights (class_weight) */
    double sw_sum;
    double *Z;              /* k == 1: n scratch */
    /* k ≥ 2: rows in blocks of LR_RB, feature-major inside a block (padding rows are 0 with weight 0) */
    int nblk;
    float *XB;              /* nblk × p × LR_RB, X in float32 (streamed every evaluation; sums stay double) */
    size_t xb_bytes;
    double *wr;             /* nblk × LR_RB: w_i / Σw */
    int *lab;               /* nblk × LR_RB: class of row i */
    unsigned char *same_w;  /* nblk: every row of the block has the same weight (padding rows have 0) */
    double *Xd;             /* p × LR_RB: the current block of XB in double */
    double *Zb;             /* k × LR_RB scratch: scores, then the residual */
    double *acc;            /* (p + 1) × k × 4 lane accumulators of the gradient */
};

enum { LR_RB = 64 };        /* rows per block; a multiple of 8 */

/* GCC 12 reports the accumulator arrays below as maybe-uninitialized once
 * inlined into the AVX2 clone (every element read is written first). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
/* Zb[c][r] = b[c] + Σ_j W[j][c] · Xb[j][r] for classes c0 .. c0+CN−1, 8 rows at a time. */
ALWAYS_INLINE void lr_scores(const double *Xb, const double *W, const double *b, int p, int k, int c0, int CN,
                             double *Zb)
{
    for (int r = 0; r < LR_RB; r += 8) {
        v4d a0[4], a1[4];
        for (int q = 0; q < CN; q++) {
            a0[q] = V4SET1(b[c0 + q]);
            a1[q] = a0[q];
        }
        for (int j = 0; j < p; j++) {
            v4d x0 = V4LD(Xb + (size_t)j * LR_RB + r), x1 = V4LD(Xb + (size_t)j * LR_RB + r + 4);
            for (int q = 0; q < CN; q++) {
                v4d w = V4SET1(W[(size_t)j * k + c0 + q]);
                a0[q] += x0 * w;
                a1[q] += x1 * w;
            }
        }
        for (int q = 0; q < CN; q++) {
            V4ST(Zb + (size_t)(c0 + q) * LR_RB + r, a0[q]);
            V4ST(Zb + (size_t)(c0 + q) * LR_RB + r + 4, a1[q]);
        }
    }
}

/* acc[j][c] (4 lanes) += Σ_r Xb[j][r] · G[c][r] for features j0 .. j0+JN−1, classes c0 .. c0+CN−1. */
ALWAYS_INLINE void lr_grad(const double *Xb, const double *G, int k, int j0, int JN, int c0, int CN, double *acc)
{
    v4d a[2][4];
    for (int t = 0; t < JN; t++)
        for (int q = 0; q < CN; q++) a[t][q] = V4LD(acc + ((size_t)(j0 + t) * k + c0 + q) * 4);
    for (int r = 0; r < LR_RB; r += 4) {
        v4d x[2], g[4];
        for (int t = 0; t < JN; t++) x[t] = V4LD(Xb + (size_t)(j0 + t) * LR_RB + r);
        for (int q = 0; q < CN; q++) g[q] = V4LD(G + (size_t)(c0 + q) * LR_RB + r);
        for (int t = 0; t < JN; t++)
            for (int q = 0; q < CN; q++) a[t][q] += x[t] * g[q];
    }
    for (int t = 0; t < JN; t++)
        for (int q = 0; q < CN; q++) V4ST(acc + ((size_t)(j0 + t) * k + c0 + q) * 4, a[t][q]);
}

/* One row block of the softmax loss: scores, log-loss (returned, weighted),
 * residual (P − Y)·w_i in Zb, its column sums into acc[p][·] and Xbᵀ·residual into acc[0..p−1][·]. */
ALWAYS_INLINE double lr_block(const double *Xb, const double *wr, const int *lab, int same_w, const double *W,
                              const double *b, int p, int k, int intercept, double *Zb, double *acc)
{
    int c = 0;
    for (; c + 4 <= k; c += 4) lr_scores(Xb, W, b, p, k, c, 4, Zb);
    switch (k - c) {
    case 3: lr_scores(Xb, W, b, p, k, c, 3, Zb); break;
    case 2: lr_scores(Xb, W, b, p, k, c, 2, Zb); break;
    case 1: lr_scores(Xb, W, b, p, k, c, 1, Zb); break;
    default: break;
    }
    double mx[LR_RB], s[LR_RB], zt[LR_RB], lg[LR_RB], f = 0;
    for (int r = 0; r < LR_RB; r += 4) {
        v4d m = V4LD(Zb + r);
        for (c = 1; c < k; c++) {
            v4d z = V4LD(Zb + (size_t)c * LR_RB + r);
            v4di gt = z > m;
            m = (v4d)(((v4di)z & gt) | ((v4di)m & ~gt));
        }
        V4ST(mx + r, m);
    }
    /* the true class's score: by selects (exact) for few classes, else indexed */
    if (k > 4)
        for (int r = 0; r < LR_RB; r++) zt[r] = Zb[(size_t)lab[r] * LR_RB + r] - mx[r];
    else for (int r = 0; r < LR_RB; r += 4) {
        v4di lc = V4LDI(lab + r);
        v4d z = V4LD(Zb + r);
        for (c = 1; c < k; c++) {
            v4di sel = lc == (v4di){c, c, c, c};
            z = (v4d)(((v4di)V4LD(Zb + (size_t)c * LR_RB + r) & sel) | ((v4di)z & ~sel));
        }
        V4ST(zt + r, z - V4LD(mx + r));
    }
    for (int r = 0; r < LR_RB; r += 4) V4ST(s + r, V4SET1(0.0));
    for (c = 0; c < k; c++)
        for (int r = 0; r < LR_RB; r += 4) {
            double *z = Zb + (size_t)c * LR_RB + r;
            V4ST(z, V4LD(z) - V4LD(mx + r));
            vexp4_nonpos(z, z);
            V4ST(s + r, V4LD(s + r) + V4LD(z));
        }
    if (same_w) {
        /* one weight w: Σ w·(log s_r − zt_r) = w·(Σ_lanes log Π_r s_r − Σ zt_r). Each lane's product
         * of LR_RB/4 sums in [1, k] stays finite (k^16) and ≥ 1; its rounding (≤ 15 half-ulps) is
         * the size of 16 separate logs' rounding, for a sixteenth of the logs */
        v4d pr = V4LD(s), zs = V4LD(zt);
        for (int r = 4; r < LR_RB; r += 4) { pr = pr * V4LD(s + r); zs = zs + V4LD(zt + r); }
        double pl[4], pz[4];
        V4ST(pl, pr);
        V4ST(pz, zs);
        vlog4_ge1(pl, pl);
        f = wr[0] * (((pl[0] + pl[1]) + (pl[2] + pl[3])) - ((pz[0] + pz[1]) + (pz[2] + pz[3])));
        for (int r = 0; r < LR_RB; r++) s[r] = wr[r] / s[r];
    } else {
        for (int r = 0; r < LR_RB; r += 4) vlog4_ge1(s + r, lg + r);
        for (int r = 0; r < LR_RB; r++) {
            f += wr[r] * (lg[r] - zt[r]);
            s[r] = wr[r] / s[r];
        }
    }
    /* residual: p·w/Σw, minus w/Σw on the true class (x − 0 = x elsewhere, exact; same values either way) */
    if (k > 4) {
        for (c = 0; c < k; c++)
            for (int r = 0; r < LR_RB; r += 4) V4ST(Zb + (size_t)c * LR_RB + r, V4LD(Zb + (size_t)c * LR_RB + r) * V4LD(s + r));
        for (int r = 0; r < LR_RB; r++) Zb[(size_t)lab[r] * LR_RB + r] -= wr[r];
    } else for (int r = 0; r < LR_RB; r += 4) {
        v4di lc = V4LDI(lab + r);
        v4d sr = V4LD(s + r), w = V4LD(wr + r);
        for (c = 0; c < k; c++) {
            v4di sel = lc == (v4di){c, c, c, c};
            double *z = Zb + (size_t)c * LR_RB + r;
            V4ST(z, V4LD(z) * sr - (v4d)((v4di)w & sel));
        }
    }
    if (intercept)
        for (c = 0; c < k; c++) {
            v4d t = V4LD(acc + ((size_t)p * k + c) * 4);
            for (int r = 0; r < LR_RB; r += 4) t += V4LD(Zb + (size_t)c * LR_RB + r);
            V4ST(acc + ((size_t)p * k + c) * 4, t);
        }
    for (int j = 0; j < p; j += 2) {
        int jn = p - j < 2 ? 1 : 2;
        for (c = 0; c + 4 <= k; c += 4)
            if (jn == 2) lr_grad(Xb, Zb, k, j, 2, c, 4, acc); else lr_grad(Xb, Zb, k, j, 1, c, 4, acc);
        switch ((k - c) * 2 + jn - 1) {
        case 7: lr_grad(Xb, Zb, k, j, 2, c, 3, acc); break;
        case 6: lr_grad(Xb, Zb, k, j, 1, c, 3, acc); break;
        case 5: lr_grad(Xb, Zb, k, j, 2, c, 2, acc); break;
        case 4: lr_grad(Xb, Zb, k, j, 1, c, 2, acc); break;
        case 3: lr_grad(Xb, Zb, k, j, 2, c, 1, acc); break;
        case 2: lr_grad(Xb, Zb, k, j, 1, c, 1, acc); break;
        default: break;
        }
    }
    return f;
}

/* one block of X widened to double once (L1-resident), so the kernels convert nothing */
ALWAYS_INLINE void lr_widen(const float *xb, size_t cnt, double *xd)
{
    for (size_t o = 0; o < cnt; o += 8) {
        V4ST(xd + o, V4LDF(xb + o));
        V4ST(xd + o + 4, V4LDF(xb + o + 4));
    }
}

/* lr_widen with one 4-wide conversion per 4 floats (GCC splits V4LDF into 2-wide ones) */
__attribute__((target("avx2"), noinline)) static void lr_widen_avx2(const float *xb, size_t cnt, double *xd)
{
    for (size_t o = 0; o < cnt; o += 8) {
        _mm256_storeu_pd(xd + o, _mm256_cvtps_pd(_mm_loadu_ps(xb + o)));
        _mm256_storeu_pd(xd + o + 4, _mm256_cvtps_pd(_mm_loadu_ps(xb + o + 4)));
    }
}

/* the block loop, inlined into a plain and an AVX2 clone (the same operations; the clone
 * lets the compiler use AVX2 for the inlined vector helpers) */
ALWAYS_INLINE double lr_blocks_body(struct lr_problem *pr, const double *W, const double *b, int avx2)
{
    double f = 0;
    for (int t = 0; t < pr->nblk; t++) {
        if (avx2) lr_widen_avx2(pr->XB + (size_t)t * pr->p * LR_RB, (size_t)pr->p * LR_RB, pr->Xd);
        else lr_widen(pr->XB + (size_t)t * pr->p * LR_RB, (size_t)pr->p * LR_RB, pr->Xd);
        f += lr_block(pr->Xd, pr->wr + (size_t)t * LR_RB, pr->lab + (size_t)t * LR_RB, pr->same_w[t],
                      W, b, pr->p, pr->k, pr->intercept, pr->Zb, pr->acc);
    }
    return f;
}

static double lr_blocks_generic(struct lr_problem *pr, const double *W, const double *b) { return lr_blocks_body(pr, W, b, 0); }

__attribute__((target("avx2"))) static double lr_blocks_avx2(struct lr_problem *pr, const double *W, const double *b)
{
    return lr_blocks_body(pr, W, b, 1);
}

#pragma GCC diagnostic pop

/* f(θ) and ∇f(θ); θ = [W (p × k) | b (k)]. */
static double lr_eval(struct lr_problem *pr, const double *th, double *g)
{
    int n = pr->n, p = pr->p, k = pr->k;
    const double *W = th, *b = th + (size_t)p * k;
    double *gW = g, *gb = g + (size_t)p * k, f = 0;
    if (k == 1) {
        double *Z = pr->Z;
        for (int i = 0; i < n; i++) Z[i] = b[0];
        if (p) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, 1, p, 1.0, pr->X, p, W, 1, 1.0, Z, 1);
        /* Z becomes the residual (P − Y) · w_i / Σw */
        for (int i = 0; i < n; i++) {
            double wi = pr->sw[i] / pr->sw_sum, y = pr->Yw[i], zz = Z[i];
            f += wi * (zz > 0 ? zz + log1p(exp(-zz)) : log1p(exp(zz))) - wi * y * zz;
            Z[i] = wi * (1.0 / (1.0 + exp(-zz)) - y);
        }
        if (p) cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, 1, n, 1.0, pr->X, p, Z, 1, 0.0, gW, 1);
        gb[0] = 0;
        if (pr->intercept)
            for (int i = 0; i < n; i++) gb[0] += Z[i];
    } else {
        memset(pr->acc, 0, (size_t)(p + 1) * k * 4 * sizeof *pr->acc);
        f = cpu_avx2() ? lr_blocks_avx2(pr, W, b) : lr_blocks_generic(pr, W, b);
        for (size_t t = 0; t < (size_t)(p + 1) * k; t++) {
            const double *a = pr->acc + t * 4;
            g[t] = (a[0] + a[1]) + (a[2] + a[3]);
        }
        if (!pr->intercept)
            for (int j = 0; j < k; j++) gb[j] = 0;
    }
    double reg = 0;
    for (size_t t = 0; t < (size_t)p * k; t++) { reg += W[t] * W[t]; gW[t] += pr->lambda * W[t]; }
    return f + 0.5 * pr->lambda * reg;
}

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double maxabs(const double *a, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* L-BFGS, m = 10, backtracking Armijo line search. Returns iterations used. */
static int lbfgs(struct lr_problem *pr, double *th, int dim, int max_iter, double tol,
                 const struct train_data *d)
{
    enum { M = 10 };
    double *g = xmalloc((size_t)dim * sizeof *g), *gn = xmalloc((size_t)dim * sizeof *gn);
    double *dir = xmalloc((size_t)dim * sizeof *dir), *thn = xmalloc((size_t)dim * sizeof *thn);
    double *S = xmalloc((size_t)M * dim * sizeof *S), *Y = xmalloc((size_t)M * dim * sizeof *Y);
    double rho[M], alpha[M];
    int hist = 0, head = 0, it;
    double f = lr_eval(pr, th, g);
    for (it = 0; it < max_iter; it++) {
        if (maxabs(g, dim) <= tol) break;
        /* two-loop recursion */
        for (int t = 0; t < dim; t++) dir[t] = -g[t];
        for (int h = 0; h < hist; h++) {
            int idx = (head - 1 - h + M) % M;
            alpha[idx] = rho[idx] * dot(S + (size_t)idx * dim, dir, dim);
            cblas_daxpy(dim, -alpha[idx], Y + (size_t)idx * dim, 1, dir, 1);
        }
        double gamma = 1.0;
        if (hist) {
            int last = (head - 1 + M) % M;
            gamma = dot(S + (size_t)last * dim, Y + (size_t)last * dim, dim) /
                    dot(Y + (size_t)last * dim, Y + (size_t)last * dim, dim);
        } else {
            double gn2 = sqrt(dot(g, g, dim));
            gamma = gn2 > 0 ? 1.0 / gn2 : 1.0;
        }
        cblas_dscal(dim, gamma, dir, 1);
        for (int h = hist - 1; h >= 0; h--) {
            int idx = (head - 1 - h + M) % M;
            double beta = rho[idx] * dot(Y + (size_t)idx * dim, dir, dim);
            cblas_daxpy(dim, alpha[idx] - beta, S + (size_t)idx * dim, 1, dir, 1);
        }
        double gd = dot(g, dir, dim);
        if (gd >= 0) {  /* not a descent direction: restart from steepest descent */
            for (int t = 0; t < dim; t++) dir[t] = -g[t];
            gd = dot(g, dir, dim);
            hist = 0;
        }
        double step = 1.0, fn = f;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++) {
            for (int t = 0; t < dim; t++) thn[t] = th[t] + step * dir[t];
            fn = lr_eval(pr, thn, gn);
            if (fn <= f + 1e-4 * step * gd) { ok = 1; break; }
            step *= 0.5;
        }
        if (!ok) break;
        double *s = S + (size_t)head * dim, *y = Y + (size_t)head * dim;
        for (int t = 0; t < dim; t++) { s[t] = thn[t] - th[t]; y[t] = gn[t] - g[t]; }
        double sy = dot(s, y, dim);
        if (sy > 1e-12) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % M;
            if (hist < M) hist++;
        }
        memcpy(th, thn, (size_t)dim * sizeof *th);
        memcpy(g, gn, (size_t)dim * sizeof *g);
        double fprev = f;
        f = fn;
        if (d->log_step) d->log_step(d->log_ctx, "train_loss", f, it + 1);
        if (fabs(fprev - f) <= 2.2e-16 * 64 * fmax(fmax(fabs(f), fabs(fprev)), 1.0)) { it++; break; }
    }
    free(g); free(gn); free(dir); free(thn); free(S); free(Y);
    return it;
}

static void *logreg_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    if (!d->nclasses) { errf(err, "logreg is a classification algorithm; use linear or ridge for regression"); return NULL; }
    int K = d->nclasses, k = K == 2 ? 1 : K, n = d->n, p = d->p;
    struct lr_problem pr = {0};
    pr.X = d->X; pr.n = n; pr.p = p; pr.k = k; pr.intercept = hp->v[3] != 0;
    pr.sw = xmalloc((size_t)n * sizeof *pr.sw);
    double *cnt = xcalloc((size_t)K, sizeof *cnt);
    for (int i = 0; i < n; i++) cnt[(int)d->y[i]]++;
    for (int i = 0; i < n; i++) {
        int c = (int)d->y[i];
        pr.sw[i] = hp->v[5] == 1 ? n / (K * cnt[c]) : 1.0;
        pr.sw_sum += pr.sw[i];
    }
    if (k == 1) {
        pr.Yw = xmalloc((size_t)n * sizeof *pr.Yw);
        pr.Z = xmalloc((size_t)n * sizeof *pr.Z);
        for (int i = 0; i < n; i++) pr.Yw[i] = d->y[i];
    } else {
        pr.nblk = (n + LR_RB - 1) / LR_RB;
        size_t rows = (size_t)pr.nblk * LR_RB;
        pr.xb_bytes = rows * (p ? p : 1) * sizeof *pr.XB;
        /* heap memory (kept between fits, see main): the rows are all written below, the last
         * block's padding rows are zeroed here */
        pr.XB = xmalloc(pr.xb_bytes);
        memset(pr.XB + (size_t)(pr.nblk - 1) * (p ? p : 1) * LR_RB, 0, (size_t)(p ? p : 1) * LR_RB * sizeof *pr.XB);
        pr.wr = xcalloc(rows, sizeof *pr.wr);
        pr.lab = xcalloc(rows, sizeof *pr.lab);
        pr.Zb = xmalloc((size_t)k * LR_RB * sizeof *pr.Zb);
        pr.Xd = xmalloc((size_t)(p ? p : 1) * LR_RB * sizeof *pr.Xd);
        pr.acc = xmalloc((size_t)(p + 1) * k * 4 * sizeof *pr.acc);
        /* four rows at a time: one 16-byte store of four floats per feature */
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            float *xb = pr.XB + (size_t)(i / LR_RB) * p * LR_RB + i % LR_RB;
            const double *x0 = d->X + (size_t)i * p;
            for (int j = 0; j < p; j++) {
                v4d v = {x0[j], x0[j + p], x0[j + 2 * p], x0[j + 3 * p]};
                *(v4fu *)(xb + (size_t)j * LR_RB) = __builtin_convertvector(v, v4f);
            }
        }
        for (; i < n; i++) {
            float *xb = pr.XB + (size_t)(i / LR_RB) * p * LR_RB + i % LR_RB;
            for (int j = 0; j < p; j++) xb[(size_t)j * LR_RB] = (float)d->X[(size_t)i * p + j];
        }
        for (i = 0; i < n; i++) {
            pr.wr[i] = pr.sw[i] / pr.sw_sum;
            pr.lab[i] = (int)d->y[i];
        }
        pr.same_w = xmalloc((size_t)pr.nblk);
        for (int t = 0; t < pr.nblk; t++) {
            const double *w = pr.wr + (size_t)t * LR_RB;
            int same = 1;
            for (int r = 1; r < LR_RB && same; r++) same = w[r] == w[0];
            pr.same_w[t] = (unsigned char)same;
        }
    }
    pr.lambda = hp->v[4] == 1 ? 0 : 1.0 / (hp->v[0] * pr.sw_sum);
    int dim = (p + 1) * k;
    double *th = xcalloc((size_t)dim, sizeof *th);
    lbfgs(&pr, th, dim, (int)hp->v[1], hp->v[2], d);
    struct linmodel *m = lin_new(p, k, K, k == 1 ? LINK_SIGMOID2 : LINK_SOFTMAX);
    memcpy(m->W, th, (size_t)p * k * sizeof *th);
    memcpy(m->b, th + (size_t)p * k, (size_t)k * sizeof *th);
    free(th); free(cnt); free(pr.Yw); free(pr.sw); free(pr.Z);
    free(pr.XB); free(pr.wr); free(pr.lab); free(pr.same_w); free(pr.Zb); free(pr.Xd); free(pr.acc);
    return m;
}

const struct algo algo_logreg = {
    "logreg", "cairn.linear.LogisticRegression", 1, LOGREG_PARAMS, 6,
    logreg_fit, lin_predict, lin_save, lin_load, lin_onnx, lin_free, NULL,
};
