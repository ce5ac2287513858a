/* Histogram gradient boosting (LightGBM-style): features binned into ≤ 255
 * quantile bins, leaf-wise growth up to num_leaves, histogram subtraction,
 * K trees per round for K classes. Split thresholds are float32 values and
 * prediction compares (float)x <= threshold, exactly as ONNX's
 * TreeEnsembleRegressor does, so the exported model takes the same paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

#include "model.h"
#include "bins.h"
#include "onnx.h"
#include "vmath.h"

enum { GP_NEST, GP_LR, GP_LEAVES, GP_DEPTH, GP_MINDATA, GP_MINHESS, GP_MAXBIN, GP_L1, GP_L2,
       GP_MINGAIN, GP_FF, GP_BAGF, GP_BAGFREQ, GP_ESR, GP_COUNT };
static const struct param_spec GBDT_PARAMS[] = {
    {"n_estimators", P_INT, 100, 1, 100000, NULL, "num_iterations"},
    {"learning_rate", P_DOUBLE, 0.1, 1e-6, 10, NULL, NULL},
    {"num_leaves", P_INT, 31, 2, 131072, NULL, "max_leaf_nodes"},
    {"max_depth", P_INT, -1, -1, 1000, NULL, NULL},
    {"min_data_in_leaf", P_INT, 20, 1, 1e9, NULL, "min_child_samples"},
    {"min_sum_hessian_in_leaf", P_DOUBLE, 1e-3, 0, 1e12, NULL, "min_child_weight"},
    {"max_bin", P_INT, 255, 2, 255, NULL, NULL},
    {"lambda_l1", P_DOUBLE, 0, 0, 1e12, NULL, "reg_alpha"},
    {"lambda_l2", P_DOUBLE, 0, 0, 1e12, NULL, "reg_lambda"},
    {"min_gain_to_split", P_DOUBLE, 0, 0, 1e12, NULL, "min_split_gain"},
    {"feature_fraction", P_DOUBLE, 1.0, 1e-9, 1.0, NULL, "colsample_bytree"},
    {"bagging_fraction", P_DOUBLE, 1.0, 1e-9, 1.0, NULL, "subsample"},
    {"bagging_freq", P_INT, 0, 0, 1e9, NULL, "subsample_freq"},
    {"early_stopping_rounds", P_INT, 0, 0, 1e9, NULL, NULL},
};

/* One cache line holds four of these: the traversal touches one per level. A leaf points at
 * itself (feature 0, both children itself). */
struct pnode { int feature; float threshold; int left, right; };

struct gbdt {
    int p, nclasses, k, ntrees, nnodes;
    enum link link;
    double *base;                 /* k */
    int *tree_start;              /* ntrees + 1 */
    int *feature;                 /* -1 for a leaf */
    float *threshold;
    int *left, *right;
    double *value;                /* leaf output (learning rate included) */
    struct pnode *pn;             /* the trees as prediction walks them (gbdt_prepare), when not qs */
    struct qs *qs;                /* every tree has ≤ 64 leaves: prediction by leaf bitmasks instead */
};

/* QuickScorer (Lucchese et al., SIGIR 2015) for trees of at most 64 leaves. A tree's leaves are
 * numbered left to right; a split that a row fails (x > threshold: the row goes right) rules
 * out every leaf of its left subtree, which its mask clears. The row's leaf is the leftmost one
 * no failed split ruled out: the lowest bit left after ANDing the masks of every failed split.
 * The splits of all trees are sorted by feature and threshold, so a row's failed splits on a
 * feature are a prefix of that feature's list: one forward scan per feature, no tree walked,
 * no unpredictable branch per node. */
struct qs {
    int *fstart;                  /* p + 1: feature f's splits are [fstart[f], fstart[f + 1]) */
    float *thr;                   /* ascending within a feature */
    int *tree;
    uint64_t *mask;               /* NULL when mask32 holds them */
    uint32_t *mask32;             /* every tree has at most 32 leaves */
    int *leaf_start;              /* ntrees + 1 */
    double *leaf;                 /* leaf values, each tree's left to right */
};

static void qs_free(struct qs *q)
{
    if (!q) return;
    free(q->fstart); free(q->thr); free(q->tree); free(q->mask); free(q->mask32); free(q->leaf_start); free(q->leaf); free(q);
}

static void gbdt_free(void *mp)
{
    struct gbdt *m = mp;
    if (!m) return;
    free(m->base); free(m->tree_start); free(m->feature); free(m->threshold);
    free(m->left); free(m->right); free(m->value); free(m->pn); qs_free(m->qs); free(m);
}

static double tree_value(const struct gbdt *m, int t, const double *x)
{
    int base = m->tree_start[t], node = 0;
    while (m->feature[base + node] >= 0)
        node = (float)x[m->feature[base + node]] <= m->threshold[base + node] ? m->left[base + node]
                                                                             : m->right[base + node];
    return m->value[base + node];
}

static void raw_to_out(const struct gbdt *m, const double *F, int n, double *out)
{
    for (int i = 0; i < n; i++) {
        const double *f = F + (size_t)i * m->k;
        if (m->link == LINK_IDENTITY) out[i] = f[0];
        else if (m->link == LINK_SIGMOID2) {
            double s = 1.0 / (1.0 + exp(-f[0]));
            out[2 * i] = 1.0 / (1.0 + exp(f[0])); out[2 * i + 1] = s;
        } else {
            double mx = f[0], sum = 0, *o = out + (size_t)i * m->k;
            for (int c = 1; c < m->k; c++) if (f[c] > mx) mx = f[c];
            for (int c = 0; c < m->k; c++) { o[c] = exp(f[c] - mx); sum += o[c]; }
            for (int c = 0; c < m->k; c++) o[c] /= sum;
        }
    }
}


/* Numbers tree t's leaves left to right from node `node` (relative to the tree's first node):
 * *next is the next leaf number; returns the first leaf number of this subtree. Splits get their
 * masks; depth ≤ 63 (a tree of ≤ 64 leaves). */
struct qs_split { float thr; int feature, tree; uint64_t mask; };

static int qs_number(const struct gbdt *m, int t, int node, int *next, struct qs_split *sp, int *nsp, double *leaf)
{
    int i = m->tree_start[t] + node, first = *next;
    if (m->feature[i] < 0) {
        leaf[(*next)++] = m->value[i];
        return first;
    }
    qs_number(m, t, m->left[i], next, sp, nsp, leaf);
    int mid = *next;   /* the left subtree's leaves are [first, mid) */
    qs_number(m, t, m->right[i], next, sp, nsp, leaf);
    uint64_t left = ((1ULL << (mid - first)) - 1) << first;   /* < 64 leaves: the right has one */
    sp[(*nsp)++] = (struct qs_split){m->threshold[i], m->feature[i], t, ~left};
    return first;
}

static int cmp_split(const void *a, const void *b)
{
    const struct qs_split *x = a, *y = b;
    if (x->feature != y->feature) return (x->feature > y->feature) - (x->feature < y->feature);
    if (x->thr != y->thr) return (x->thr > y->thr) - (x->thr < y->thr);
    return (x->tree > y->tree) - (x->tree < y->tree);
}

/* NULL when some tree has more than 64 leaves (or a NaN threshold) */
static struct qs *qs_build(const struct gbdt *m)
{
    int nleaves = 0, maxleaves = 0;
    for (int t = 0; t < m->ntrees; t++) {
        int l = 0;
        for (int i = m->tree_start[t]; i < m->tree_start[t + 1]; i++) {
            l += m->feature[i] < 0;
            if (m->feature[i] >= 0 && isnan(m->threshold[i])) return NULL;
        }
        if (l > 64) return NULL;
        nleaves += l;
        if (l > maxleaves) maxleaves = l;
    }
    struct qs *q = xcalloc(1, sizeof *q);
    int nsplit = m->nnodes - nleaves, nsp = 0;
    struct qs_split *sp = xmalloc((size_t)(nsplit ? nsplit : 1) * sizeof *sp);
    q->leaf = xmalloc((size_t)(nleaves ? nleaves : 1) * sizeof *q->leaf);
    q->leaf_start = xmalloc((size_t)(m->ntrees + 1) * sizeof *q->leaf_start);
    int at = 0;
    for (int t = 0; t < m->ntrees; t++) {
        int next = 0;   /* leaf numbers are the tree's own, 0..63 */
        q->leaf_start[t] = at;
        qs_number(m, t, 0, &next, sp, &nsp, q->leaf + at);
        at += next;
    }
    q->leaf_start[m->ntrees] = at;
    qsort(sp, (size_t)nsp, sizeof *sp, cmp_split);
    q->fstart = xcalloc((size_t)m->p + 1, sizeof *q->fstart);
    q->thr = xmalloc((size_t)(nsp ? nsp : 1) * sizeof *q->thr);
    q->tree = xmalloc((size_t)(nsp ? nsp : 1) * sizeof *q->tree);
    if (maxleaves <= 32) q->mask32 = xmalloc((size_t)(nsp ? nsp : 1) * sizeof *q->mask32);
    else q->mask = xmalloc((size_t)(nsp ? nsp : 1) * sizeof *q->mask);
    for (int j = 0; j < nsp; j++) {
        q->thr[j] = sp[j].thr;
        q->tree[j] = sp[j].tree;
        if (q->mask32) q->mask32[j] = (uint32_t)sp[j].mask;
        else q->mask[j] = sp[j].mask;
        q->fstart[sp[j].feature + 1]++;
    }
    for (int f = 0; f < m->p; f++) q->fstart[f + 1] += q->fstart[f];
    free(sp);
    return q;
}

/* Built once per model (after fit and load), shared read-only by every predict call. */
static void gbdt_prepare(struct gbdt *m)
{
    free(m->pn);
    m->pn = NULL;
    qs_free(m->qs);
    m->qs = qs_build(m);
    if (m->qs) return;
    m->pn = xmalloc((size_t)(m->nnodes ? m->nnodes : 1) * sizeof *m->pn);
    for (int t = 0; t < m->ntrees; t++)
        for (int i = m->tree_start[t]; i < m->tree_start[t + 1]; i++) {
            int rel = i - m->tree_start[t];
            m->pn[i] = m->feature[i] < 0 ? (struct pnode){0, 0, rel, rel}
                                         : (struct pnode){m->feature[i], m->threshold[i], m->left[i], m->right[i]};
        }
}

/* The leaf-bitmask path keeps its own copy of every split and leaf: the node arrays go. */
static void gbdt_compact(void *mp)
{
    struct gbdt *m = mp;
    if (!m->qs) return;
    free(m->feature); free(m->threshold); free(m->left); free(m->right); free(m->value);
    m->feature = m->left = m->right = NULL;
    m->threshold = NULL;
    m->value = NULL;
}

/* F (n × k, holding the base scores) += every tree's leaf, in tree order (as the walk sums).
 * wide: 64-bit leaf masks, else 32-bit (every tree has at most 32 leaves: half the bytes to
 * stream per split); a constant at each call, so each call site is its own loop. */
static inline __attribute__((always_inline)) void qs_rows(const struct gbdt *m, const double *X, int n, double *F,
                                                          const int wide)
{
    const struct qs *q = m->qs;
    const int T = m->ntrees, k = m->k, p = m->p;
    const float *restrict thr = q->thr;
    const int *restrict tree = q->tree, *restrict fstart = q->fstart, *restrict leaf_start = q->leaf_start;
    const uint64_t *restrict mask = q->mask;
    const uint32_t *restrict mask32 = q->mask32;
    const double *restrict leaf = q->leaf;
    /* one row at a time: its T masks stay in L1 while the splits stream past */
    uint64_t *restrict v = xmalloc((size_t)(T ? T : 1) * sizeof *v);
    uint32_t *restrict v32 = (uint32_t *)v;
    for (int i = 0; i < n; i++) {
        const double *x = X + (size_t)i * p;
        if (wide) for (int t = 0; t < T; t++) v[t] = ~0ULL;
        else for (int t = 0; t < T; t++) v32[t] = ~0U;
        for (int f = 0; f < p; f++) {
            const float xf = (float)x[f];
            /* the failed splits are [fstart[f], lo): lo is the first threshold >= xf (a NaN fails
             * every split, as the walk sends it right) */
            int lo = fstart[f], hi = fstart[f + 1];
            while (lo < hi) {
                int mid = (lo + hi) >> 1;
                if (xf <= thr[mid]) hi = mid; else lo = mid + 1;
            }
            if (wide) for (int j = fstart[f]; j < lo; j++) v[tree[j]] &= mask[j];
            else for (int j = fstart[f]; j < lo; j++) v32[tree[j]] &= mask32[j];
        }
        double *Fr = F + (size_t)i * k;
        for (int t = 0, c = 0; t < T; t++) {
            Fr[c] += leaf[leaf_start[t] + (wide ? __builtin_ctzll(v[t]) : __builtin_ctz(v32[t]))];
            if (++c == k) c = 0;
        }
    }
    free(v);
}

static void qs_predict(const struct gbdt *m, const double *X, int n, double *F)
{
    if (m->qs->mask32) qs_rows(m, X, n, F, 0);
    else qs_rows(m, X, n, F, 1);
}

static void gbdt_predict(const void *mp, const double *X, int n, double *out)
{
    const struct gbdt *m = mp;
    enum { BLOCK = 256 };
    double *F = xmalloc((size_t)(n ? n : 1) * m->k * sizeof *F);
    for (int i = 0; i < n; i++) memcpy(F + (size_t)i * m->k, m->base, (size_t)m->k * sizeof *F);
    if (m->qs) {
        qs_predict(m, X, n, F);
        raw_to_out(m, F, n, out);
        free(F);
        return;
    }
    float *xf = xmalloc((size_t)BLOCK * (m->p ? m->p : 1) * sizeof *xf);
    for (int s = 0; s < n; s += BLOCK) {
        int bn = n - s < BLOCK ? n - s : BLOCK;
        for (size_t q = 0; q < (size_t)bn * m->p; q++) xf[q] = (float)X[(size_t)s * m->p + q];
        for (int t = 0; t < m->ntrees; t++) {
            const struct pnode *tr = m->pn + m->tree_start[t];
            const double *val = m->value + m->tree_start[t];
            for (int i = 0; i < bn; i++) {
                const float *x = xf + (size_t)i * m->p;
                int node = 0;
                while (tr[node].left != node)   /* a leaf points at itself */
                    node = x[tr[node].feature] <= tr[node].threshold ? tr[node].left : tr[node].right;
                F[(size_t)(s + i) * m->k + t % m->k] += val[node];
            }
        }
    }
    free(xf);
    raw_to_out(m, F, n, out);
    free(F);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* ---- tree growth ---- */
enum { HPAD_F = 3, HB = 512, HG = 4 };
/* one 32-byte bin: g, h, the row count (an exact integer as a double) and a zero pad, so a row's
 * contribution (g, h, 1, 0) is one 4-wide addition */
struct hbin { double g, h, c, pad; };
struct leaf {
    int start, count, depth, node;
    double G, H;
    struct hbin *hist;        /* bins.total */
    double gain;
    int feat, bin;
};

struct grower {
    const struct bins *b;
    const unsigned char *BT;  /* the bins column-major (p × n): a split's partition reads one column */
    const unsigned short *G16; /* NULL, or n × p histogram slots off[j] + bin (when they fit 16 bits) */
    int n, p;
    const double *gh;       /* interleaved (g, h) per row */
    const double *root_gh;  /* non-NULL: the root histogram's (g, h), bin-major, stride root_stride */
    const double *root_c;   /* its counts (exact small integers as doubles), same stride */
    size_t root_stride;
    int root_sums;          /* root_G/root_H hold the sums over rows 0..n-1 (every row in the tree), lane-wise */
    double root_G, root_H;
    int *idx, *tmp;
    int num_leaves, max_depth, min_data;
    double min_hess, l1, l2, min_gain, lr;
    const int *feats;
    int nfeats;
    struct hbin **pool;     /* num_leaves histogram buffers, reused across trees */
    double *vb;             /* a block's (g, h, 1, 0) records: HB × 4 */
    unsigned short *sb;     /* its histogram slot rows: HB × (p rounded up to 16) (NULL: the histogram fits L1, rows swept whole) */
    double *split_tmp;      /* best_split's gains of four features (4 × 256), or one feature's prefix sums */
    /* output tree (local node arrays) */
    int nnodes, cap;
    int *feature, *bin, *left, *right;
    double *value;
    /* the leaves of the last tree: rows idx[start, start+count) got value */
    int nleaves;
    int *leaf_start, *leaf_count, *leaf_node;
};

static double thr_l1(double G, double l1)
{
    if (G > l1) return G - l1;
    if (G < -l1) return G + l1;
    return 0;
}

static double leaf_score(double G, double H, double l1, double l2)
{
    double t = thr_l1(G, l1);
    return t * t / (H + l2 + 1e-300);
}

/* Each row of the leaf adds (g, h, 1, 0) to its bin of every selected feature, rows in order. */
__attribute__((target("avx2"))) static void hist_rows_avx2(const unsigned char *B, const unsigned short *G16, int p,
                                                            const int *off, const int *feats, int nfeats,
                                                            const int *idx, int cnt, const double *gh,
                                                            double *vb, unsigned short *sb, struct hbin *hist)
{
    const __m128d one = _mm_set_pd(0.0, 1.0);
    if (G16 && nfeats == p && sb) {
        size_t ps = ((size_t)p + 15) / 16 * 16;
        /* histogram slots precomputed per (row, feature). A block of HB rows at a time: their
         * (g, h, 1, 0) records and slot rows are gathered into vb and sb, then the block is swept
         * HG features at a time, so those features' bins (HG × ≤ 258 × 32 B) stay in L1 */
        for (int t0 = 0; t0 < cnt; t0 += HB) {
            int bn = cnt - t0 < HB ? cnt - t0 : HB;
            for (int t = 0; t < bn; t++) {
                int r = idx[t0 + t];
                if (t0 + t + 32 < cnt) {   /* the row 32 ahead: both cache lines its slots may span */
                    size_t rp = (size_t)idx[t0 + t + 32];
                    _mm_prefetch((const char *)(gh + 2 * rp), _MM_HINT_T0);
                    _mm_prefetch((const char *)(G16 + rp * p), _MM_HINT_T0);
                    _mm_prefetch((const char *)(G16 + rp * p + p - 1), _MM_HINT_T0);
                }
                _mm256_store_pd(vb + 4 * (size_t)t,
                                _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(gh + 2 * (size_t)r)), one, 1));
                /* the row's slots, 16 at a time (sb rows are ps wide; G16 has 16 readable slots past its end) */
                for (int q = 0; q < p; q += 16)
                    _mm256_store_si256((__m256i *)(sb + (size_t)t * ps + q),
                                       _mm256_loadu_si256((const __m256i *)(G16 + (size_t)r * p + q)));
            }
            double *h = &hist[0].g;
            int j = 0;
            for (; j + HG <= p; j += HG)
                for (int t = 0; t < bn; t++) {
                    const unsigned short *row = sb + (size_t)t * ps + j;
                    __m256d v = _mm256_load_pd(vb + 4 * (size_t)t);
                    for (int q = 0; q < HG; q++) {
                        double *d = h + 4 * (size_t)row[q];
                        _mm256_store_pd(d, _mm256_add_pd(_mm256_load_pd(d), v));
                    }
                }
            for (; j < p; j++)
                for (int t = 0; t < bn; t++) {
                    double *d = h + 4 * (size_t)sb[(size_t)t * ps + j];
                    _mm256_store_pd(d, _mm256_add_pd(_mm256_load_pd(d), _mm256_load_pd(vb + 4 * (size_t)t)));
                }
        }
        return;
    }
    if (G16 && nfeats == p) {   /* histogram in L1: slots precomputed per (row, feature), 4 additions a step */
        for (int t = 0; t < cnt; t++) {
            int r = idx[t];
            if (t + 16 < cnt) {
                _mm_prefetch((const char *)(gh + 2 * (size_t)idx[t + 16]), _MM_HINT_T0);
                _mm_prefetch((const char *)(G16 + (size_t)idx[t + 16] * p), _MM_HINT_T0);
            }
            const unsigned short *row = G16 + (size_t)r * p;
            double *h = &hist[0].g;
            __m256d v = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(gh + 2 * (size_t)r)), one, 1);
            int j = 0;
            for (; j + 4 <= p; j += 4) {
                double *d0 = h + 4 * (size_t)row[j], *d1 = h + 4 * (size_t)row[j + 1];
                double *d2 = h + 4 * (size_t)row[j + 2], *d3 = h + 4 * (size_t)row[j + 3];
                _mm256_store_pd(d0, _mm256_add_pd(_mm256_load_pd(d0), v));
                _mm256_store_pd(d1, _mm256_add_pd(_mm256_load_pd(d1), v));
                _mm256_store_pd(d2, _mm256_add_pd(_mm256_load_pd(d2), v));
                _mm256_store_pd(d3, _mm256_add_pd(_mm256_load_pd(d3), v));
            }
            for (; j < p; j++) {
                double *d = h + 4 * (size_t)row[j];
                _mm256_store_pd(d, _mm256_add_pd(_mm256_load_pd(d), v));
            }
        }
        return;
    }
    for (int t = 0; t < cnt; t++) {
        int r = idx[t];
        if (t + 16 < cnt) {
            _mm_prefetch((const char *)(gh + 2 * (size_t)idx[t + 16]), _MM_HINT_T0);
            _mm_prefetch((const char *)(B + (size_t)idx[t + 16] * p), _MM_HINT_T0);
        }
        const unsigned char *row = B + (size_t)r * p;
        struct hbin *h = hist;
        __m256d v = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(gh + 2 * (size_t)r)), one, 1);
        if (nfeats == p)    /* every feature: no indirection, the row's bytes read in order */
            for (int j = 0; j < p; j++) {
                double *d = &h[off[j] + row[j]].g;
                _mm256_store_pd(d, _mm256_add_pd(_mm256_load_pd(d), v));
            }
        else
            for (int fi = 0; fi < nfeats; fi++) {
                int j = feats[fi];
                double *d = &h[off[j] + row[j]].g;
                _mm256_store_pd(d, _mm256_add_pd(_mm256_load_pd(d), v));
            }
    }
}

/* large[q] -= small[q] for q in [from, to) (element-wise on (g, h, count, pad): the pad stays 0) */
__attribute__((target("avx2"))) static void hist_sub_avx2(struct hbin *large, const struct hbin *small, size_t from,
                                                           size_t to)
{
    for (size_t q = from; q < to; q++)
        _mm256_store_pd(&large[q].g, _mm256_sub_pd(_mm256_load_pd(&large[q].g), _mm256_load_pd(&small[q].g)));
}

static void hist_sub(struct hbin *large, const struct hbin *small, size_t from, size_t to)
{
    if (cpu_avx2()) { hist_sub_avx2(large, small, from, to); return; }
    for (size_t q = from; q < to; q++) {   /* SSE2: the same element-wise subtractions */
        _mm_store_pd(&large[q].g, _mm_sub_pd(_mm_load_pd(&large[q].g), _mm_load_pd(&small[q].g)));
        _mm_store_pd(&large[q].c, _mm_sub_pd(_mm_load_pd(&large[q].c), _mm_load_pd(&small[q].c)));
    }
}

/* lf's histogram over its rows; when large is given (the sibling holding the parent's histogram),
 * large −= lf's histogram on the selected features */
static void build_hist(struct grower *gr, struct leaf *lf, struct hbin *large)
{
    int p = gr->p, total = gr->b->total;
    const int *off = gr->b->off, *idx = gr->idx + lf->start;
    const unsigned char *B = gr->b->B;
    const double *gh = gr->gh;
    struct hbin *hist = lf->hist;
    memset(hist, 0, (size_t)total * sizeof *hist);
    if (cpu_avx2())
        hist_rows_avx2(B, gr->G16, p, off, gr->feats, gr->nfeats, idx, lf->count, gh, gr->vb, gr->sb, hist);
    else {   /* SSE2: the same element-wise additions as the AVX2 path */
        const __m128d one = _mm_set_pd(0.0, 1.0);
        for (int t = 0; t < lf->count; t++) {
            int r = idx[t];
            const unsigned char *row = B + (size_t)r * p;
            struct hbin *h = hist;
            __m128d v = _mm_loadu_pd(gh + 2 * (size_t)r);
            for (int fi = 0; fi < gr->nfeats; fi++) {
                int j = gr->feats[fi];
                struct hbin *hb = &h[off[j] + row[j]];
                _mm_store_pd(&hb->g, _mm_add_pd(_mm_load_pd(&hb->g), v));
                _mm_store_pd(&hb->c, _mm_add_pd(_mm_load_pd(&hb->c), one));
            }
        }
    }
    if (!large) return;
    if (gr->nfeats == p) hist_sub(large, hist, 0, (size_t)total);
    else
        for (int fi = 0; fi < gr->nfeats; fi++) {
            int j = gr->feats[fi];
            hist_sub(large, hist, (size_t)off[j], (size_t)off[j] + gr->b->nthr[j] + 1);
        }
}

static void prefix_scalar(const struct hbin *h, int m, double *P)
{
    double GL = 0, HL = 0, CL = 0;
    for (int s = 0; s < m; s++) {
        GL += h[s].g; HL += h[s].h; CL += h[s].c;
        P[4 * (size_t)s] = GL; P[4 * (size_t)s + 1] = HL; P[4 * (size_t)s + 2] = CL; P[4 * (size_t)s + 3] = 0;
    }
}

/* Four features' candidate splits at once, bin by bin. Lane q runs feature q's prefix sums (the same
 * additions in bin order as prefix_scalar) and evaluates its candidate s < m[q] with the operations of
 * leaf_score; a candidate that leaves fewer than min_data rows or min_hess hessian on a side, or whose
 * gain or left gradient sum is NaN, gets −inf. gain[4 s + q] receives the gains, fmax[q] each
 * feature's largest. The histograms are read up to bin mx − 1 for every lane (the pool's buffers are
 * padded for that; lanes past their m are excluded). With l1 = 0 the soft threshold is the identity
 * (up to the sign of a zero, which squaring drops), so that case skips it. */
static inline __attribute__((always_inline, target("avx2"))) __m256d soft_thr4(__m256d x, __m256d vl1,
                                                                                __m256d vnl1)
{
    return _mm256_or_pd(_mm256_and_pd(_mm256_cmp_pd(x, vl1, _CMP_GT_OQ), _mm256_sub_pd(x, vl1)),
                        _mm256_and_pd(_mm256_cmp_pd(x, vnl1, _CMP_LT_OQ), _mm256_add_pd(x, vl1)));
}

static inline __attribute__((always_inline, target("avx2"))) void
gains4_body(const double *const hp[4], const int m[4], int mx, double G, double H, double count, double min_data,
            double l1, double l2, double parent, double min_hess, double *gain, double fmax[4], int l1z)
{
    const __m256d vl1 = _mm256_set1_pd(l1), vnl1 = _mm256_set1_pd(-l1), vl2 = _mm256_set1_pd(l2),
                  tiny = _mm256_set1_pd(1e-300), vG = _mm256_set1_pd(G), vH = _mm256_set1_pd(H),
                  vp = _mm256_set1_pd(parent), vmh = _mm256_set1_pd(min_hess), ninf = _mm256_set1_pd(-INFINITY),
                  vmd = _mm256_set1_pd(min_data), vmd_hi = _mm256_set1_pd(count - min_data),
                  vm = _mm256_set_pd(m[3], m[2], m[1], m[0]);
    int mn = m[0];   /* below the smallest m every lane is a candidate */
    for (int q = 1; q < 4; q++) mn = m[q] < mn ? m[q] : mn;
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, vmax = ninf;
    for (int s = 0; s < mx; s++) {
        a0 = _mm256_add_pd(a0, _mm256_load_pd(hp[0] + 4 * (size_t)s));
        a1 = _mm256_add_pd(a1, _mm256_load_pd(hp[1] + 4 * (size_t)s));
        a2 = _mm256_add_pd(a2, _mm256_load_pd(hp[2] + 4 * (size_t)s));
        a3 = _mm256_add_pd(a3, _mm256_load_pd(hp[3] + 4 * (size_t)s));
        __m256d lo01 = _mm256_unpacklo_pd(a0, a1), lo23 = _mm256_unpacklo_pd(a2, a3);   /* G0 G1 C0 C1, G2 G3 C2 C3 */
        __m256d hi01 = _mm256_unpackhi_pd(a0, a1), hi23 = _mm256_unpackhi_pd(a2, a3);   /* H0 H1 0 0, H2 H3 0 0 */
        __m256d gl = _mm256_permute2f128_pd(lo01, lo23, 0x20), cl = _mm256_permute2f128_pd(lo01, lo23, 0x31);
        __m256d hl = _mm256_permute2f128_pd(hi01, hi23, 0x20);
        __m256d gr = _mm256_sub_pd(vG, gl), hr = _mm256_sub_pd(vH, hl);
        __m256d tl = l1z ? gl : soft_thr4(gl, vl1, vnl1), tr = l1z ? gr : soft_thr4(gr, vl1, vnl1);
        __m256d sl = _mm256_div_pd(_mm256_mul_pd(tl, tl), _mm256_add_pd(_mm256_add_pd(hl, vl2), tiny));
        __m256d sr = _mm256_div_pd(_mm256_mul_pd(tr, tr), _mm256_add_pd(_mm256_add_pd(hr, vl2), tiny));
        __m256d g = _mm256_sub_pd(_mm256_add_pd(sl, sr), vp);
        /* count - cl >= min_data as cl <= count - min_data: exact, both sides are small integers */
        __m256d ok = _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(hl, vmh, _CMP_GE_OQ), _mm256_cmp_pd(hr, vmh, _CMP_GE_OQ)),
                                   _mm256_and_pd(_mm256_cmp_pd(cl, vmd, _CMP_GE_OQ), _mm256_cmp_pd(cl, vmd_hi, _CMP_LE_OQ)));
        ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(g, g, _CMP_ORD_Q), _mm256_cmp_pd(gl, gl, _CMP_ORD_Q)));
        if (s >= mn) ok = _mm256_and_pd(ok, _mm256_cmp_pd(_mm256_set1_pd((double)s), vm, _CMP_LT_OQ));
        g = _mm256_blendv_pd(ninf, g, ok);
        _mm256_store_pd(gain + 4 * (size_t)s, g);
        vmax = _mm256_max_pd(vmax, g);
    }
    _mm256_storeu_pd(fmax, vmax);
}

__attribute__((target("avx2"))) static void gains4_avx2(const double *const hp[4], const int m[4], int mx, double G,
                                                        double H, double count, double min_data, double l1,
                                                        double l2, double parent, double min_hess, double *gain,
                                                        double fmax[4])
{
    if (l1 == 0) gains4_body(hp, m, mx, G, H, count, min_data, l1, l2, parent, min_hess, gain, fmax, 1);
    else gains4_body(hp, m, mx, G, H, count, min_data, l1, l2, parent, min_hess, gain, fmax, 0);
}

/* The leaf's best split: the largest gain over min_gain, the first in feature, then bin order (what a
 * strict-improvement scan in that order picks). */
static void best_split(struct grower *gr, struct leaf *lf)
{
    lf->gain = 0; lf->feat = -1;
    if (lf->count < 2 * gr->min_data) return;
    if (gr->max_depth > 0 && lf->depth >= gr->max_depth) return;
    double parent = leaf_score(lf->G, lf->H, gr->l1, gr->l2), best = gr->min_gain, *tmp = gr->split_tmp;
    const double count = lf->count, min_data = gr->min_data;
    if (cpu_avx2()) {   /* features four at a time */
        for (int fi = 0; fi < gr->nfeats; fi += 4) {
            int nf = gr->nfeats - fi < 4 ? gr->nfeats - fi : 4, mm[4], mx = 0;
            const double *hp[4];
            double fm[4];
            for (int q = 0; q < 4; q++) {
                int j = gr->feats[fi + (q < nf ? q : 0)];
                hp[q] = &lf->hist[gr->b->off[j]].g;
                mm[q] = q < nf ? gr->b->nthr[j] : 0;
                mx = mm[q] > mx ? mm[q] : mx;
            }
            gains4_avx2(hp, mm, mx, lf->G, lf->H, count, min_data, gr->l1, gr->l2, parent, gr->min_hess, tmp, fm);
            for (int q = 0; q < nf; q++)
                if (fm[q] > best) {
                    best = fm[q];
                    lf->feat = gr->feats[fi + q];
                    int s = 0;
                    while (tmp[4 * s + q] != best) s++;
                    lf->bin = s;
                }
        }
    } else
        for (int fi = 0; fi < gr->nfeats; fi++) {
            int j = gr->feats[fi], m = gr->b->nthr[j];   /* candidate splits s = 0 .. nb - 2 */
            prefix_scalar(lf->hist + gr->b->off[j], m, tmp);
            for (int s = 0; s < m; s++) {
                double GLs = tmp[4 * s], HLs = tmp[4 * s + 1], CLs = tmp[4 * s + 2], HR = lf->H - HLs;
                if (CLs < min_data || CLs > count - min_data || HLs < gr->min_hess || HR < gr->min_hess ||
                    GLs != GLs)
                    continue;
                double g = leaf_score(GLs, HLs, gr->l1, gr->l2) + leaf_score(lf->G - GLs, HR, gr->l1, gr->l2) - parent;
                if (g > best) { best = g; lf->feat = j; lf->bin = s; }
            }
        }
    if (lf->feat >= 0) lf->gain = best;
}

/* Stable partition of rows ix[0..cnt) by Bj[r] <= s: the left rows stay in ix (in order), the
 * right rows go to tp (in order). Returns the number of left rows. AVX-512: 16 rows at a time,
 * bins gathered as dwords (Bj has 3 readable bytes past its end), rows compressed left and right. */
__attribute__((target("avx512f"))) static int partition_avx512(int *ix, int cnt, int *tp, const unsigned char *Bj, int s)
{
    int nl = 0, nr = 0, t = 0;
    const __m512i thr = _mm512_set1_epi32(s), ff = _mm512_set1_epi32(255);
    for (; t + 16 <= cnt; t += 16) {
        __m512i r = _mm512_loadu_si512((const void *)(ix + t));
        __m512i bv = _mm512_and_si512(_mm512_i32gather_epi32(r, (const void *)Bj, 1), ff);
        __mmask16 m = _mm512_cmple_epu32_mask(bv, thr);
        int c = __builtin_popcount((unsigned)m);
        /* nl <= t: the 16-lane store only overwrites rows already loaded */
        _mm512_storeu_si512((void *)(ix + nl), _mm512_maskz_compress_epi32(m, r));
        _mm512_storeu_si512((void *)(tp + nr), _mm512_maskz_compress_epi32((__mmask16)~m, r));
        nl += c; nr += 16 - c;
    }
    for (; t < cnt; t++) {
        int r = ix[t], go = Bj[r] <= s;
        ix[nl] = r; tp[nr] = r;
        nl += go; nr += !go;
    }
    return nl;
}

static int partition_rows(int *ix, int cnt, int *tp, const unsigned char *Bj, int s)
{
    if (cpu_avx512f()) return partition_avx512(ix, cnt, tp, Bj, s);
    int nl = 0, nr = 0;
    for (int t = 0; t < cnt; t++) {   /* branchless: both stores always happen, one cursor advances */
        int r = ix[t], go = Bj[r] <= s;
        ix[nl] = r; tp[nr] = r;
        nl += go; nr += !go;
    }
    return nl;
}

static int new_node(struct grower *gr)
{
    if (gr->nnodes == gr->cap) {
        gr->cap = gr->cap ? gr->cap * 2 : 64;
        gr->feature = xrealloc(gr->feature, (size_t)gr->cap * sizeof *gr->feature);
        gr->bin = xrealloc(gr->bin, (size_t)gr->cap * sizeof *gr->bin);
        gr->left = xrealloc(gr->left, (size_t)gr->cap * sizeof *gr->left);
        gr->right = xrealloc(gr->right, (size_t)gr->cap * sizeof *gr->right);
        gr->value = xrealloc(gr->value, (size_t)gr->cap * sizeof *gr->value);
    }
    int id = gr->nnodes++;
    gr->feature[id] = -1; gr->bin[id] = 0; gr->left[id] = gr->right[id] = 0; gr->value[id] = 0;
    return id;
}

/* Grow one tree on rows idx[0..count). Leaves get −T(G)/(H+λ)·lr. */
static void grow_tree(struct grower *gr, int count)
{
    struct leaf *leaves = xcalloc((size_t)gr->num_leaves, sizeof *leaves);
    int nl = 1;
    gr->nnodes = 0;
    leaves[0].start = 0; leaves[0].count = count; leaves[0].node = new_node(gr);
    int npool = 0;
    leaves[0].hist = gr->pool[npool++];
    if (gr->root_sums) { leaves[0].G = gr->root_G; leaves[0].H = gr->root_H; }   /* from the gradient pass */
    else
        for (int t = 0; t < count; t++) { leaves[0].G += gr->gh[2 * (size_t)gr->idx[t]]; leaves[0].H += gr->gh[2 * (size_t)gr->idx[t] + 1]; }
    if (gr->root_gh) {     /* shared multiclass pass already summed it, in the same row order */
        for (int q = 0; q < gr->b->total; q++) {
            leaves[0].hist[q].g = gr->root_gh[(size_t)q * gr->root_stride];
            leaves[0].hist[q].h = gr->root_gh[(size_t)q * gr->root_stride + 1];
            leaves[0].hist[q].c = gr->root_c[(size_t)q * gr->root_stride];
            leaves[0].hist[q].pad = 0;
        }
    } else
        build_hist(gr, &leaves[0], NULL);
    best_split(gr, &leaves[0]);
    while (nl < gr->num_leaves) {
        int bi = -1;
        for (int l = 0; l < nl; l++)
            if (leaves[l].feat >= 0 && (bi < 0 || leaves[l].gain > leaves[bi].gain)) bi = l;
        if (bi < 0) break;
        struct leaf *lf = &leaves[bi], *rt = &leaves[nl++];
        int j = lf->feat, s = lf->bin, nleft = 0, nright = 0;
        /* stable partition of the leaf's rows */
        nleft = partition_rows(gr->idx + lf->start, lf->count, gr->tmp, gr->BT + (size_t)j * gr->n, s);
        nright = lf->count - nleft;
        memcpy(gr->idx + lf->start + nleft, gr->tmp, (size_t)nright * sizeof *gr->tmp);
        int node = lf->node, ln = new_node(gr), rn = new_node(gr);
        gr->feature[node] = j; gr->bin[node] = s; gr->left[node] = ln; gr->right[node] = rn;
        struct leaf parent = *lf;
        memset(rt, 0, sizeof *rt);
        lf->count = nleft; lf->node = ln; lf->depth = parent.depth + 1;
        rt->start = parent.start + nleft; rt->count = nright; rt->node = rn; rt->depth = parent.depth + 1;
        /* the left sums are the split's prefix of the parent histogram */
        lf->G = lf->H = 0;
        for (int q = 0; q <= s; q++) { lf->G += parent.hist[gr->b->off[j] + q].g; lf->H += parent.hist[gr->b->off[j] + q].h; }
        rt->G = parent.G - lf->G; rt->H = parent.H - lf->H;
        /* histogram of the smaller child; the other is parent − smaller */
        rt->hist = gr->pool[npool++];
        struct leaf *small = nleft <= nright ? lf : rt, *large = small == lf ? rt : lf;
        struct hbin *ph = parent.hist;
        if (small == lf) { lf->hist = rt->hist; rt->hist = ph; } else { lf->hist = ph; }
        /* no histograms when neither child can split: this split made the last leaf, or the
         * children are too deep, or even the larger one is too small */
        if (nl < gr->num_leaves && !(gr->max_depth > 0 && lf->depth >= gr->max_depth) &&
            large->count >= 2 * gr->min_data) {
            build_hist(gr, small, large->hist);
            best_split(gr, lf);
            best_split(gr, rt);
        } else
            lf->feat = rt->feat = -1;
    }
    for (int l = 0; l < nl; l++) {
        gr->value[leaves[l].node] = -thr_l1(leaves[l].G, gr->l1) / (leaves[l].H + gr->l2 + 1e-300) * gr->lr;
        gr->leaf_start[l] = leaves[l].start; gr->leaf_count[l] = leaves[l].count; gr->leaf_node[l] = leaves[l].node;
    }
    gr->nleaves = nl;
    free(leaves);
}

static double binned_tree_value(const struct grower *gr, const unsigned char *row)
{
    int node = 0;
    while (gr->feature[node] >= 0) node = row[gr->feature[node]] <= gr->bin[node] ? gr->left[node] : gr->right[node];
    return gr->value[node];
}

static void append_tree(struct gbdt *m, const struct grower *gr, const struct bins *b, int *cap)
{
    int base = m->nnodes;
    if (m->nnodes + gr->nnodes > *cap) {
        while (m->nnodes + gr->nnodes > *cap) *cap = *cap ? *cap * 2 : 1024;
        m->feature = xrealloc(m->feature, (size_t)*cap * sizeof *m->feature);
        m->threshold = xrealloc(m->threshold, (size_t)*cap * sizeof *m->threshold);
        m->left = xrealloc(m->left, (size_t)*cap * sizeof *m->left);
        m->right = xrealloc(m->right, (size_t)*cap * sizeof *m->right);
        m->value = xrealloc(m->value, (size_t)*cap * sizeof *m->value);
    }
    for (int i = 0; i < gr->nnodes; i++) {
        int f = gr->feature[i];
        m->feature[base + i] = f;
        m->threshold[base + i] = f >= 0 ? b->thr[f][gr->bin[i]] : 0.0f;
        m->left[base + i] = gr->left[i];
        m->right[base + i] = gr->right[i];
        m->value[base + i] = gr->value[i];
    }
    m->nnodes += gr->nnodes;
    m->tree_start = xrealloc(m->tree_start, (size_t)(m->ntrees + 2) * sizeof *m->tree_start);
    m->tree_start[m->ntrees] = base;
    m->tree_start[++m->ntrees] = m->nnodes;
}

/* F(i, c) = F[i * rs + c * cs] */
static double loss_of(const struct gbdt *m, const double *F, const double *y, int n, size_t rs, size_t cs)
{
    double L = 0;
    double *f = xmalloc((size_t)m->k * sizeof *f);
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < m->k; c++) f[c] = F[(size_t)i * rs + (size_t)c * cs];
        if (!m->nclasses) L += (f[0] - y[i]) * (f[0] - y[i]);
        else if (m->k == 1) {
            double z = f[0];
            L += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - y[i] * z;
        } else {
            double mx = f[0], s = 0;
            for (int c = 1; c < m->k; c++) if (f[c] > mx) mx = f[c];
            for (int c = 0; c < m->k; c++) s += exp(f[c] - mx);
            L -= f[(int)y[i]] - mx - log(s);
        }
    }
    free(f);
    return L / n;
}

static void *alloc64(size_t bytes)
{
    size_t sz = (bytes + 63) / 64 * 64;
    void *q = aligned_alloc(64, sz ? sz : 64);
    if (!q) { fprintf(stderr, "out of memory\n"); abort(); }
    return q;
}

/* Softmax gradients for a block of rows at a time: the exps of a whole block (64 rows × k) go through one
 * vm_exp_log call (lane-independent, so the values are those of a per-row call). */
enum { SM_BLOCK = 64 };
struct softmax_scratch { double *ex, *mx, *s, *acc; };

static struct softmax_scratch *softmax_scratch_new(int k)
{
    struct softmax_scratch *sm = xmalloc(sizeof *sm);
    sm->ex = xmalloc((size_t)k * SM_BLOCK * sizeof *sm->ex);
    sm->mx = xmalloc(SM_BLOCK * sizeof *sm->mx);
    sm->s = xmalloc(SM_BLOCK * sizeof *sm->s);
    sm->acc = xmalloc((size_t)k * 8 * sizeof *sm->acc);
    return sm;
}

static void softmax_scratch_free(struct softmax_scratch *sm)
{
    if (!sm) return;
    free(sm->ex); free(sm->mx); free(sm->s); free(sm->acc); free(sm);
}

/* F class-major (F[c * n + i]); writes gh class-major interleaved (g, h). Gs/Hs (k each) get the
 * per-class sums of g and h over rows 0..n-1: row i goes to lane i mod 4, the lanes are added
 * (l0 + l1) + (l2 + l3) at the end. Per class and 4 rows at a time: q = e / s, h = max(q(1 − q),
 * 1e-16), g = q − [y = c]; the tail rows do the same scalar operations, so the AVX2 clone and the
 * plain build compute the same values. */
static inline __attribute__((always_inline)) void softmax_body(const double *F, const int *y, int n, int k, double *gh,
                                                               struct softmax_scratch *sm,
                                                               double *Gs, double *Hs)
{
    double *ex = sm->ex, *mx = sm->mx, *s = sm->s, *acc = sm->acc;
    for (int q = 0; q < 8 * k; q++) acc[q] = 0;
    for (int i0 = 0; i0 < n; i0 += SM_BLOCK) {
        int bn = n - i0 < SM_BLOCK ? n - i0 : SM_BLOCK;
        memcpy(mx, F + i0, (size_t)bn * sizeof *mx);
        for (int c = 1; c < k; c++) {
            const double *Fc = F + (size_t)c * n + i0;
            for (int i = 0; i < bn; i++) mx[i] = Fc[i] > mx[i] ? Fc[i] : mx[i];
        }
        for (int c = 0; c < k; c++) {
            const double *Fc = F + (size_t)c * n + i0;
            double *e = ex + (size_t)c * bn;
            for (int i = 0; i < bn; i++) e[i] = Fc[i] - mx[i];
        }
        vm_exp_log(ex, (size_t)k * bn, NULL, 0);
        for (int i = 0; i < bn; i++) s[i] = 0;
        for (int c = 0; c < k; c++) {
            const double *e = ex + (size_t)c * bn;
            for (int i = 0; i < bn; i++) s[i] += e[i];
        }
        for (int c = 0; c < k; c++) {
            const double *e = ex + (size_t)c * bn;
            double *o = gh + (size_t)c * 2 * n + 2 * (size_t)i0, *ga = acc + 8 * (size_t)c, *ha = ga + 4;
            v4d G4 = V4LD(ga), H4 = V4LD(ha);
            const v4di cv = {c, c, c, c};
            int i = 0;
            for (; i + 4 <= bn; i += 4) {
                v4d q = V4LD(e + i) / V4LD(s + i), h = q * (V4SET1(1.0) - q);
                v4di big = h > V4SET1(1e-16);
                h = (v4d)(((v4di)h & big) | ((v4di)V4SET1(1e-16) & ~big));
                v4di hit = V4LDI(y + i0 + i) == cv;
                v4d g = q - (v4d)((v4di)V4SET1(1.0) & hit);
                V4ST(o + 2 * i, __builtin_shuffle(g, h, (v4di){0, 4, 1, 5}));
                V4ST(o + 2 * i + 4, __builtin_shuffle(g, h, (v4di){2, 6, 3, 7}));
                G4 += g;
                H4 += h;
            }
            V4ST(ga, G4);
            V4ST(ha, H4);
            for (; i < bn; i++) {
                double q = e[i] / s[i], h = q * (1.0 - q);
                h = h > 1e-16 ? h : 1e-16;
                double g = q - (y[i0 + i] == c ? 1.0 : 0.0);
                o[2 * i] = g; o[2 * i + 1] = h;
                ga[i & 3] += g; ha[i & 3] += h;
            }
        }
    }
    for (int c = 0; c < k; c++) {
        const double *ga = acc + 8 * (size_t)c, *ha = ga + 4;
        Gs[c] = (ga[0] + ga[1]) + (ga[2] + ga[3]);
        Hs[c] = (ha[0] + ha[1]) + (ha[2] + ha[3]);
    }
}

__attribute__((target("avx2"))) static void softmax_grads_avx2(const double *F, const int *y, int n, int k, double *gh,
                                                                struct softmax_scratch *sm,
                                                                double *Gs, double *Hs)
{
    softmax_body(F, y, n, k, gh, sm, Gs, Hs);
}

static void softmax_grads(const double *F, const int *y, int n, int k, double *gh, struct softmax_scratch *sm,
                          double *Gs, double *Hs)
{
    if (cpu_avx2()) softmax_grads_avx2(F, y, n, k, gh, sm, Gs, Hs);
    else softmax_body(F, y, n, k, gh, sm, Gs, Hs);
}

/* All k root histograms in one sweep over the rows: each (row, feature) adds the row's W-double
 * record (g, h per class, 1.0 for the count, zero pad) to its bin's record. The records of a block
 * of rows are gathered from the class-major gh into rec (L1-sized, RB × W) first. Every path does
 * the same element-wise IEEE additions in the same order, so results don't depend on the path. */
enum { RB = 32 };
__attribute__((target("avx512f"))) static void root_rows_avx512(const struct bins *b, const unsigned char *B,
                                                                 const unsigned short *G16, const int *rows, int nrows,
                                                                 const double *rec, size_t W, double *hist)
{
    int p = b->p;
    const int *off = b->off;
    if (W == 8 && G16) {
        for (int t = 0; t < nrows; t++) {
            const unsigned short *row = G16 + (size_t)rows[t] * p;
            __m512d v = _mm512_load_pd(rec + (size_t)t * 8);
            int j = 0;
            for (; j + 4 <= p; j += 4) {
                double *d0 = hist + (size_t)row[j] * 8, *d1 = hist + (size_t)row[j + 1] * 8;
                double *d2 = hist + (size_t)row[j + 2] * 8, *d3 = hist + (size_t)row[j + 3] * 8;
                _mm512_store_pd(d0, _mm512_add_pd(_mm512_load_pd(d0), v));
                _mm512_store_pd(d1, _mm512_add_pd(_mm512_load_pd(d1), v));
                _mm512_store_pd(d2, _mm512_add_pd(_mm512_load_pd(d2), v));
                _mm512_store_pd(d3, _mm512_add_pd(_mm512_load_pd(d3), v));
            }
            for (; j < p; j++) {
                double *d = hist + (size_t)row[j] * 8;
                _mm512_store_pd(d, _mm512_add_pd(_mm512_load_pd(d), v));
            }
        }
        return;
    }
    if (W == 8) {
        for (int t = 0; t < nrows; t++) {
            const unsigned char *row = B + (size_t)rows[t] * p;
            __m512d v = _mm512_load_pd(rec + (size_t)t * 8);
            for (int j = 0; j < p; j++) {
                double *dst = hist + (size_t)(off[j] + row[j]) * 8;
                _mm512_store_pd(dst, _mm512_add_pd(_mm512_load_pd(dst), v));
            }
        }
        return;
    }
    for (int t = 0; t < nrows; t++) {
        const unsigned char *row = B + (size_t)rows[t] * p;
        const double *src = rec + (size_t)t * W;
        for (int j = 0; j < p; j++) {
            double *dst = hist + (size_t)(off[j] + row[j]) * W;
            for (size_t e = 0; e < W; e += 8)
                _mm512_store_pd(dst + e, _mm512_add_pd(_mm512_load_pd(dst + e), _mm512_load_pd(src + e)));
        }
    }
}

static void root_hist(const struct bins *b, const unsigned char *B, const unsigned short *G16, const int *rows,
                      int nrows, const double *gh,
                      int n, int k, double *rec, size_t W, double *hist)
{
    int avx512 = cpu_avx512f(), p = b->p;
    memset(hist, 0, (size_t)b->total * W * sizeof *hist);
    for (int t0 = 0; t0 < nrows; t0 += RB) {
        int bn = nrows - t0 < RB ? nrows - t0 : RB;
        for (int c = 0; c < k; c++) {
            const double *g = gh + (size_t)c * 2 * n;
            for (int t = 0; t < bn; t++)
                _mm_store_pd(rec + (size_t)t * W + 2 * c, _mm_loadu_pd(g + 2 * (size_t)rows[t0 + t]));
        }
        if (avx512) { root_rows_avx512(b, B, G16, rows + t0, bn, rec, W, hist); continue; }
        for (int t = 0; t < bn; t++) {
            const unsigned char *row = B + (size_t)rows[t0 + t] * p;
            const double *src = rec + (size_t)t * W;
            for (int j = 0; j < p; j++) {
                double *dst = hist + (size_t)(b->off[j] + row[j]) * W;
                for (size_t e = 0; e < W; e += 2)
                    _mm_store_pd(dst + e, _mm_add_pd(_mm_load_pd(dst + e), _mm_load_pd(src + e)));
            }
        }
    }
}

static void *gbdt_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    const double *v = hp->v;
    int n = d->n, p = d->p, K = d->nclasses, k = K > 2 ? K : 1;
    struct gbdt *m = xcalloc(1, sizeof *m);
    m->p = p; m->nclasses = K; m->k = k;
    m->link = !K ? LINK_IDENTITY : K == 2 ? LINK_SIGMOID2 : LINK_SOFTMAX;
    m->base = xcalloc((size_t)k, sizeof *m->base);
    m->tree_start = xcalloc(1, sizeof *m->tree_start);
    if (!K) {
        for (int i = 0; i < n; i++) m->base[0] += d->y[i];
        m->base[0] /= n;
    } else {
        double *cnt = xcalloc((size_t)K, sizeof *cnt);
        for (int i = 0; i < n; i++) cnt[(int)d->y[i]]++;
        if (k == 1) {
            double q = fmin(fmax(cnt[1] / n, 1e-15), 1 - 1e-15);
            m->base[0] = log(q / (1 - q));
        } else
            for (int c = 0; c < K; c++) m->base[c] = log(fmax(cnt[c] / n, 1e-15));
        free(cnt);
    }
    struct bins b0;
    bins_build(&b0, d->X, n, p, (int)v[GP_MAXBIN]);
    /* The histograms' layout: HPAD_F empty bins after each feature, so that the same bin of
     * different features is not a multiple of 4 KiB
     * apart: such addresses alias in the store-to-load check and serialise the additions. */
    struct bins b = b0;
    b.off = xmalloc((size_t)(p ? p : 1) * sizeof *b.off);
    b.total = 0;
    for (int j = 0; j < p; j++) { b.off[j] = b.total; b.total += b0.nthr[j] + 1 + HPAD_F; }
    double *F = xmalloc((size_t)n * k * sizeof *F), *Fv = xmalloc((size_t)(d->nv ? d->nv : 1) * k * sizeof *Fv);
    for (int c = 0; c < k; c++) for (int i = 0; i < n; i++) F[(size_t)c * n + i] = m->base[c];
    for (int i = 0; i < d->nv; i++) memcpy(Fv + (size_t)i * k, m->base, (size_t)k * sizeof *Fv);
    /* F during fitting is class-major (F[c * n + i]): a tree's leaf updates then touch one
     * contiguous column. gh holds per class the interleaved (g, h) pairs the histograms add. */
    double *gh = xmalloc((size_t)n * k * 2 * sizeof *gh);
    int *yi = xmalloc((size_t)(n ? n : 1) * sizeof *yi);
    for (int i = 0; i < n; i++) yi[i] = K ? (int)d->y[i] : 0;
    struct softmax_scratch *sm = k > 1 ? softmax_scratch_new(k) : NULL;
    double *Gsum = xmalloc((size_t)k * sizeof *Gsum), *Hsum = xmalloc((size_t)k * sizeof *Hsum);
    /* multiclass with every feature: all k root histograms in one sweep over the rows
     * (row-major copy of the gradients, bins × classes accumulators) */
    int shared_root = k > 1 && v[GP_FF] >= 1.0;
    int W = shared_root ? (2 * k + 1 + 7) / 8 * 8 : 0;   /* record: g, h per class, count, zero pad */
    double *ghr = shared_root ? alloc64((size_t)RB * W * sizeof *ghr) : NULL;   /* a block's records */
    double *rooth = shared_root ? alloc64((size_t)(b.total ? b.total : 1) * W * sizeof *rooth) : NULL;
    for (size_t i = 0; shared_root && i < RB; i++)
        for (int e = 2 * k; e < W; e++) ghr[i * W + e] = e == 2 * k ? 1.0 : 0.0;
    int *feats = xmalloc((size_t)p * sizeof *feats), *bag = xmalloc((size_t)n * sizeof *bag);
    struct grower gr = {0};
    gr.b = &b; gr.n = n; gr.p = p;
    gr.idx = xmalloc((size_t)n * sizeof *gr.idx);
    gr.tmp = xmalloc(((size_t)n + 16) * sizeof *gr.tmp);
    gr.num_leaves = (int)v[GP_LEAVES]; gr.max_depth = (int)v[GP_DEPTH]; gr.min_data = (int)v[GP_MINDATA];
    gr.min_hess = v[GP_MINHESS]; gr.l1 = v[GP_L1]; gr.l2 = v[GP_L2]; gr.min_gain = v[GP_MINGAIN];
    gr.lr = v[GP_LR]; gr.feats = feats;
    gr.pool = xmalloc((size_t)gr.num_leaves * sizeof *gr.pool);
    gr.leaf_start = xmalloc((size_t)gr.num_leaves * sizeof *gr.leaf_start);
    gr.leaf_count = xmalloc((size_t)gr.num_leaves * sizeof *gr.leaf_count);
    gr.leaf_node = xmalloc((size_t)gr.num_leaves * sizeof *gr.leaf_node);
    for (int l = 0; l < gr.num_leaves; l++) {   /* + 256 zero bins: gains4 reads up to 255 bins past a feature's start */
        gr.pool[l] = alloc64(((size_t)b.total + 256) * sizeof **gr.pool);
        memset(gr.pool[l], 0, ((size_t)b.total + 256) * sizeof **gr.pool);
    }
    if ((size_t)b.total * sizeof(struct hbin) > 32768) {   /* histogram larger than L1: blocked sweeps */
        gr.vb = alloc64((size_t)HB * 4 * sizeof *gr.vb);
        gr.sb = alloc64((size_t)HB * (((size_t)p + 15) / 16 * 16) * sizeof *gr.sb);   /* rows padded to 16 slots */
    }
    gr.split_tmp = alloc64(4 * 256 * sizeof *gr.split_tmp);
    unsigned char *BT = xcalloc((size_t)(n ? n : 1) * (p ? p : 1) + 64, 1);   /* + gather overrun */
    for (int i0 = 0; i0 < n; i0 += 256)
        for (int j = 0; j < p; j++)
            for (int i = i0; i < n && i < i0 + 256; i++) BT[(size_t)j * n + i] = b.B[(size_t)i * p + j];
    gr.BT = BT;
    unsigned short *G16 = NULL;
    if (b.total <= 65535) {
        G16 = xcalloc((size_t)n * p + 16, sizeof *G16);   /* + the block copy's overrun */
        for (size_t q = 0; q < (size_t)n * p; q++) G16[q] = (unsigned short)(b.off[q % p] + b.B[q]);
    }
    gr.G16 = G16;
    struct rng rng;
    rng_seed(&rng, d->seed);
    int nbag = n, cap = 0, best_round = 0, esr = (int)v[GP_ESR];
    double best_val = INFINITY;
    for (int i = 0; i < n; i++) bag[i] = i;
    int rounds = (int)v[GP_NEST];
    /* validation scores only when something reads them (early stopping, the per-round metric) */
    int track_val = d->nv && (esr > 0 || d->log_step);
    for (int round = 0; round < rounds; round++) {
        /* gradients */
        if (k > 1)
            softmax_grads(F, yi, n, k, gh, sm, Gsum, Hsum);
        else
            for (int i = 0; i < n; i++) {
                double *o = gh + 2 * (size_t)i;
                if (!K) { o[0] = F[i] - d->y[i]; o[1] = 1; }
                else {
                    double q = 1.0 / (1.0 + exp(-F[i]));
                    o[0] = q - d->y[i]; o[1] = fmax(q * (1 - q), 1e-16);
                }
            }
        if (v[GP_BAGF] < 1.0 && v[GP_BAGFREQ] > 0 && round % (int)v[GP_BAGFREQ] == 0) {
            for (int i = 0; i < n; i++) bag[i] = i;
            rng_shuffle(&rng, bag, n);
            nbag = (int)fmax(1, floor(n * v[GP_BAGF]));
            /* keep row order inside the bag: deterministic and cache friendly */
            qsort(bag, (size_t)nbag, sizeof *bag, cmp_int);
        }
        if (shared_root) {
            root_hist(&b, b.B, G16, bag, nbag, gh, n, k, ghr, (size_t)W, rooth);
            gr.root_stride = (size_t)W; gr.root_c = rooth + 2 * (size_t)k;
        }
        for (int c = 0; c < k; c++) {
            /* features for this tree */
            gr.nfeats = p;
            for (int j = 0; j < p; j++) feats[j] = j;
            if (v[GP_FF] < 1.0) {
                rng_shuffle(&rng, feats, p);
                gr.nfeats = (int)fmax(1, floor(p * v[GP_FF] + 0.5));
                for (int a = 1; a < gr.nfeats; a++)  /* sort the chosen ones: same tie-breaking as all features */
                    for (int bb = a; bb > 0 && feats[bb - 1] > feats[bb]; bb--) { int t = feats[bb]; feats[bb] = feats[bb - 1]; feats[bb - 1] = t; }
            }
            gr.gh = gh + (size_t)c * 2 * n;
            gr.root_gh = shared_root ? rooth + (size_t)c * 2 : NULL;
            memcpy(gr.idx, bag, (size_t)nbag * sizeof *bag);
            gr.root_sums = k > 1 && nbag == n;
            if (gr.root_sums) { gr.root_G = Gsum[c]; gr.root_H = Hsum[c]; }
            grow_tree(&gr, nbag);
            if (nbag == n)       /* every row sits in exactly one leaf: no traversal */
                for (int l = 0; l < gr.nleaves; l++) {
                    double lv = gr.value[gr.leaf_node[l]];
                    const int *rr = gr.idx + gr.leaf_start[l];
                    double *Fc = F + (size_t)c * n;
                    for (int t = 0; t < gr.leaf_count[l]; t++) Fc[rr[t]] += lv;
                }
            else
                for (int i = 0; i < n; i++) F[(size_t)c * n + i] += binned_tree_value(&gr, b.B + (size_t)i * p);
            append_tree(m, &gr, &b, &cap);
            if (track_val)
                for (int i = 0; i < d->nv; i++) Fv[(size_t)i * k + c] += tree_value(m, m->ntrees - 1, d->Xv + (size_t)i * p);
        }
        if (d->log_step) d->log_step(d->log_ctx, "train_loss", loss_of(m, F, d->y, n, 1, (size_t)n), round + 1);
        if (track_val) {
            double vl = loss_of(m, Fv, d->yv, d->nv, (size_t)k, 1);
            if (d->log_step) d->log_step(d->log_ctx, "val_loss", vl, round + 1);
            if (vl < best_val - 1e-12) { best_val = vl; best_round = round + 1; }
            else if (esr > 0 && round + 1 - best_round >= esr) break;
        }
    }
    if (esr > 0 && d->nv && best_round > 0 && best_round * k < m->ntrees) {
        m->ntrees = best_round * k;
        m->nnodes = m->tree_start[m->ntrees];
    }
    for (int l = 0; l < gr.num_leaves; l++) free(gr.pool[l]);
    free(gr.split_tmp); free(gr.vb); free(gr.sb);
    free(gr.pool);
    free(gr.leaf_start); free(gr.leaf_count); free(gr.leaf_node);
    free(gr.feature); free(gr.bin); free(gr.left); free(gr.right); free(gr.value); free(gr.idx); free(gr.tmp); free(BT); free(G16);
    free(F); free(Fv); free(gh); free(yi); softmax_scratch_free(sm); free(Gsum); free(Hsum); free(ghr); free(rooth); free(feats); free(bag);
    free(b.off);
    bins_free(&b0);
    (void)err;
    gbdt_prepare(m);
    return m;
}

static void gbdt_save(const struct gbdt *m, struct sbuf *b)
{
    int dims[6] = {m->p, m->nclasses, m->k, m->ntrees, m->nnodes, (int)m->link};
    kv_ints(b, "gbdt.dims", dims, 6);
    kv_dbls(b, "gbdt.base", m->base, m->k);
    kv_ints(b, "gbdt.tree_start", m->tree_start, m->ntrees + 1);
    kv_ints(b, "gbdt.feature", m->feature, m->nnodes);
    double *t = xmalloc((size_t)(m->nnodes ? m->nnodes : 1) * sizeof *t);
    for (int i = 0; i < m->nnodes; i++) t[i] = m->threshold[i];
    kv_dbls(b, "gbdt.threshold", t, m->nnodes);
    free(t);
    kv_ints(b, "gbdt.left", m->left, m->nnodes);
    kv_ints(b, "gbdt.right", m->right, m->nnodes);
    kv_dbls(b, "gbdt.value", m->value, m->nnodes);
}

static void gbdt_save_v(const void *m, struct sbuf *b) { gbdt_save(m, b); }

static void *gbdt_load(const struct kv *kv, char *err)
{
    int *dims;
    if (kv_get_ints(kv, "gbdt.dims", 6, &dims, NULL, err)) return NULL;
    struct gbdt *m = xcalloc(1, sizeof *m);
    m->p = dims[0]; m->nclasses = dims[1]; m->k = dims[2]; m->ntrees = dims[3]; m->nnodes = dims[4];
    m->link = (enum link)dims[5];
    free(dims);
    double *t = NULL;
    if (m->k < 1 || m->ntrees < 0 || m->nnodes < 0 ||
        kv_get_dbls(kv, "gbdt.base", m->k, &m->base, NULL, err) ||
        kv_get_ints(kv, "gbdt.tree_start", m->ntrees + 1, &m->tree_start, NULL, err) ||
        kv_get_ints(kv, "gbdt.feature", m->nnodes, &m->feature, NULL, err) ||
        kv_get_dbls(kv, "gbdt.threshold", m->nnodes, &t, NULL, err) ||
        kv_get_ints(kv, "gbdt.left", m->nnodes, &m->left, NULL, err) ||
        kv_get_ints(kv, "gbdt.right", m->nnodes, &m->right, NULL, err) ||
        kv_get_dbls(kv, "gbdt.value", m->nnodes, &m->value, NULL, err)) {
        free(t);
        gbdt_free(m);
        return NULL;
    }
    m->threshold = xmalloc((size_t)(m->nnodes ? m->nnodes : 1) * sizeof *m->threshold);
    for (int i = 0; i < m->nnodes; i++) m->threshold[i] = (float)t[i];
    free(t);
    /* structural check: children inside their tree, features in range */
    for (int tr = 0; tr < m->ntrees; tr++) {
        int s = m->tree_start[tr], e = m->tree_start[tr + 1];
        if (s < 0 || e > m->nnodes || e <= s) { errf(err, "model file: bad tree layout"); gbdt_free(m); return NULL; }
        for (int i = s; i < e; i++)
            if (m->feature[i] >= m->p || (m->feature[i] >= 0 &&
                (m->left[i] <= i - s || m->right[i] <= i - s || m->left[i] >= e - s || m->right[i] >= e - s))) {
                errf(err, "model file: bad tree node");
                gbdt_free(m);
                return NULL;
            }
    }
    gbdt_prepare(m);
    return m;
}

static void gbdt_onnx(const void *mp, struct onnx_graph *g, const char *in, const char *out)
{
    const struct gbdt *m = mp;
    int nn = m->nnodes, nleaves = 0;
    int64_t *treeids = xmalloc((size_t)(nn ? nn : 1) * sizeof *treeids), *nodeids = xmalloc((size_t)(nn ? nn : 1) * sizeof *nodeids);
    int64_t *featids = xmalloc((size_t)(nn ? nn : 1) * sizeof *featids), *tn = xmalloc((size_t)(nn ? nn : 1) * sizeof *tn);
    int64_t *fn = xmalloc((size_t)(nn ? nn : 1) * sizeof *fn), *miss = xcalloc((size_t)(nn ? nn : 1), sizeof *miss);
    double *vals = xmalloc((size_t)(nn ? nn : 1) * sizeof *vals);
    char **modes = xmalloc((size_t)(nn ? nn : 1) * sizeof *modes);
    int64_t *lt = xmalloc((size_t)(nn ? nn : 1) * sizeof *lt), *ln = xmalloc((size_t)(nn ? nn : 1) * sizeof *ln);
    int64_t *lid = xmalloc((size_t)(nn ? nn : 1) * sizeof *lid);
    double *lw = xmalloc((size_t)(nn ? nn : 1) * sizeof *lw);
    for (int t = 0; t < m->ntrees; t++)
        for (int i = m->tree_start[t]; i < m->tree_start[t + 1]; i++) {
            int local = i - m->tree_start[t], leaf = m->feature[i] < 0;
            treeids[i] = t; nodeids[i] = local;
            featids[i] = leaf ? 0 : m->feature[i];
            modes[i] = leaf ? "LEAF" : "BRANCH_LEQ";
            vals[i] = leaf ? 0 : m->threshold[i];
            tn[i] = leaf ? 0 : m->left[i];
            fn[i] = leaf ? 0 : m->right[i];
            if (leaf) { lt[nleaves] = t; ln[nleaves] = local; lid[nleaves] = t % m->k; lw[nleaves] = m->value[i]; nleaves++; }
        }
    char raw[64];
    snprintf(raw, sizeof raw, "%s", m->link == LINK_IDENTITY ? out : onnx_tmp(g, "tree_scores"));
    struct onnx_node node;
    onnx_node_begin(&node, "TreeEnsembleRegressor", "ai.onnx.ml", (const char *[]){in, NULL}, (const char *[]){raw, NULL});
    onnx_attr_int(&node, "n_targets", m->k);
    onnx_attr_string(&node, "aggregate_function", "SUM");
    onnx_attr_string(&node, "post_transform", "NONE");
    onnx_attr_floats(&node, "base_values", m->base, m->k);
    onnx_attr_ints(&node, "nodes_treeids", treeids, nn);
    onnx_attr_ints(&node, "nodes_nodeids", nodeids, nn);
    onnx_attr_ints(&node, "nodes_featureids", featids, nn);
    onnx_attr_strings(&node, "nodes_modes", modes, nn);
    onnx_attr_floats(&node, "nodes_values", vals, nn);
    onnx_attr_ints(&node, "nodes_truenodeids", tn, nn);
    onnx_attr_ints(&node, "nodes_falsenodeids", fn, nn);
    onnx_attr_ints(&node, "nodes_missing_value_tracks_true", miss, nn);
    onnx_attr_ints(&node, "target_treeids", lt, nleaves);
    onnx_attr_ints(&node, "target_nodeids", ln, nleaves);
    onnx_attr_ints(&node, "target_ids", lid, nleaves);
    onnx_attr_floats(&node, "target_weights", lw, nleaves);
    onnx_node_end(g, &node);
    onnx_apply_link(g, raw, out, m->link);
    free(treeids); free(nodeids); free(featids); free(tn); free(fn); free(miss); free(vals); free(modes);
    free(lt); free(ln); free(lid); free(lw);
}

const struct algo algo_gbdt = {
    "gbdt", "cairn.gbdt.HistGradientBoosting", 0, GBDT_PARAMS, GP_COUNT,
    gbdt_fit, gbdt_predict, gbdt_save_v, gbdt_load, gbdt_onnx, gbdt_free, gbdt_compact,
};
