/* Random forests and extremely randomized trees (scikit-learn's
 * RandomForest and ExtraTrees estimators with their parameter names and defaults) on the
 * binned features gbdt uses. Trees grow depth-first until pure (or
 * max_depth / min_samples_* stop them). A tree sees each distinct row of
 * its bootstrap sample once, weighted by its number of draws. Classification
 * splits maximise the Gini decrease, regression the squared-error decrease;
 * both are scored in O(1) per row: per candidate feature the node's rows go
 * into a bins × classes histogram (large nodes) or are sorted by bin, and the
 * running Σ count² (exact, in integers) or Σ y is updated as rows move left.
 * Leaves hold class frequencies (or the mean); the forest averages
 * them, as predict_proba does. Exported as one ONNX TreeEnsembleRegressor
 * with n_targets = classes and leaf weights pre-divided by the tree count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <emmintrin.h>

#include "bins.h"
#include "model.h"
#include "onnx.h"

enum { FP_NEST, FP_MAXFEAT, FP_DEPTH, FP_MINSPLIT, FP_MINLEAF, FP_BOOT, FP_MAXSAMPLES, FP_MAXBIN, FP_COUNT };
#define FOREST_PARAMS(boot)                                                          \
    {"n_estimators", P_INT, 100, 1, 100000, NULL, NULL},                             \
    {"max_features", P_NUMCHOICE, -1, 1e-9, 1e9, "auto|sqrt|log2", "colsample_bynode"}, \
    {"max_depth", P_INT, -1, -1, 1000, NULL, NULL},                                  \
    {"min_samples_split", P_INT, 2, 2, 1e9, NULL, NULL},                             \
    {"min_samples_leaf", P_INT, 1, 1, 1e9, NULL, "min_data_in_leaf"},                \
    {"bootstrap", P_BOOL, boot, 0, 1, NULL, NULL},                                   \
    {"max_samples", P_DOUBLE, 1.0, 1e-9, 1.0, NULL, NULL},                           \
    {"max_bin", P_INT, 255, 2, 255, NULL, NULL}
static const struct param_spec RF_PARAMS[] = {FOREST_PARAMS(1)};
static const struct param_spec ET_PARAMS[] = {FOREST_PARAMS(0)};

struct forest {
    int p, nclasses, k, ntrees, nnodes;
    int *tree_start;              /* ntrees + 1 */
    int *feature;                 /* -1 for a leaf */
    float *threshold;
    int *left, *right;            /* tree-local node ids */
    double *value;                /* nnodes × k: leaf class frequencies or mean */
};

static void forest_free(void *mp)
{
    struct forest *m = mp;
    if (!m) return;
    free(m->tree_start); free(m->feature); free(m->threshold); free(m->left); free(m->right); free(m->value);
    free(m);
}

static const double *leaf_of(const struct forest *m, int t, const double *x)
{
    int base = m->tree_start[t], node = 0;
    while (m->feature[base + node] >= 0)
        node = (float)x[m->feature[base + node]] <= m->threshold[base + node] ? m->left[base + node]
                                                                             : m->right[base + node];
    return m->value + (size_t)(base + node) * m->k;
}

/* Trees [t0, t1) added into acc (n × k), not yet divided by the count. */
static void forest_accumulate(const struct forest *m, int t0, int t1, const double *X, int n, double *acc)
{
    for (int i = 0; i < n; i++) {
        const double *x = X + (size_t)i * m->p;
        double *o = acc + (size_t)i * m->k;
        for (int t = t0; t < t1; t++) {
            const double *v = leaf_of(m, t, x);
            for (int c = 0; c < m->k; c++) o[c] += v[c];
        }
    }
}

static void forest_predict(const void *mp, const double *X, int n, double *out)
{
    const struct forest *m = mp;
    memset(out, 0, (size_t)n * m->k * sizeof *out);
    forest_accumulate(m, 0, m->ntrees, X, n, out);
    for (size_t i = 0; i < (size_t)n * m->k; i++) out[i] /= m->ntrees;
}

/* ---- the random stream: util.c's rng_next / rng_below inlined (same numbers) ---- */
static inline uint64_t rng_step(uint64_t *s)
{
    uint64_t x = s[1] * 5, res = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

static inline uint64_t rng_below_fast(struct rng *r, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;
    do v = rng_step(r->s); while (v >= lim);
    return v % n;
}

/* v % n for a fixed n by multiplications: with M = ceil(2^128 / n) (0 for
 * n = 1), the low 128 bits of M·v are the fraction of v / n scaled by 2^128,
 * and their product with n, shifted down 128 bits, is the remainder (exact
 * for every 64-bit v and n, as 128 >= 64 + log2 n). */
typedef unsigned __int128 u128;
static inline uint64_t mod_by_mul(uint64_t v, u128 M, uint64_t n)
{
    u128 f = M * v;
    u128 a = (u128)(uint64_t)f * n, b = (u128)(uint64_t)(f >> 64) * n;
    return (uint64_t)((b + (a >> 64)) >> 64);
}

/* ---- growing one tree ---- */
/* A tree is grown on the distinct rows of its sample, each weighted by how
 * often the bootstrap drew it (1 without bootstrap): the same tree as on the
 * duplicated rows, with ~37% fewer rows to scan. Node sizes, min_samples_*,
 * the Gini sums and the leaf frequencies all count weights. */
struct tnode { int start, count, wsum, depth, id; };

struct builder {
    const struct bins *b;
    const unsigned char *BT;      /* bins column-major (p × n): node rows stay sorted, so reads stream */
    const double *y;
    int n, p, K, extra;
    int mtry, max_depth, min_split, min_leaf;
    struct rng *rng;
    int *idx, *lab, *wt;          /* per node position: row (ascending in a node), class, weight */
    int *tmp, *tmpl, *tmpw;       /* partition scratch */
    unsigned char *vb, *vbest;    /* the node's bins of the feature being scored / of the best cut's feature */
    unsigned char *seen;          /* 256 flags: bins occupied in the node (zero between uses) */
    int *perm;                    /* node positions counting-sorted by bin */
    unsigned *keys;               /* bin << 24 | position, small nodes */
    int *chist;                   /* (max bins) × K class histogram (zero between uses) */
    int *cnt;                     /* 256 bin counters (classification: zero between uses) */
    double *yv;                   /* value of each sorted position (regression) */
    int *tot;                     /* the node's weighted class counts (a slot of totpool) */
    int Kl;                       /* classes present in the node; the split search numbers them 0 .. Kl-1 */
    int *ltot, *g2l;              /* their counts; class -> local number (K each) */
    int *loc;                     /* per node position: local class number */
    int *totpool, totcap;         /* K class counts per stack slot */
    long long totsq;              /* Σ tot² */
    int *cls_l;                   /* K class counts left of the cut */
    int *feats;
    struct tnode *stack;
    /* the tree being grown (local ids) */
    int nnodes, cap;
    int *feature, *bin, *left, *right;
    double *value;
};

static int node_new(struct builder *bd)
{
    if (bd->nnodes == bd->cap) {
        bd->cap = bd->cap ? 2 * bd->cap : 256;
        bd->feature = xrealloc(bd->feature, (size_t)bd->cap * sizeof *bd->feature);
        bd->bin = xrealloc(bd->bin, (size_t)bd->cap * sizeof *bd->bin);
        bd->left = xrealloc(bd->left, (size_t)bd->cap * sizeof *bd->left);
        bd->right = xrealloc(bd->right, (size_t)bd->cap * sizeof *bd->right);
        bd->value = xrealloc(bd->value, (size_t)bd->cap * (bd->K ? bd->K : 1) * sizeof *bd->value);
    }
    int id = bd->nnodes++;
    bd->feature[id] = -1; bd->bin[id] = 0; bd->left[id] = bd->right[id] = 0;
    return id;
}

/* Returns 1 if the node is pure (nothing to split); classification: sets
 * Σ count² for the split search (leaf_value sets the frequencies of leaves),
 * regression: the mean. */
static int node_value(struct builder *bd, const struct tnode *nd)
{
    int k = bd->K ? bd->K : 1, W = nd->wsum, n = nd->count;
    double *v = bd->value + (size_t)nd->id * k;
    const int *wt = bd->wt + nd->start;
    if (bd->K) {
        const int *tot = bd->tot;   /* counted when the parent was partitioned */
        int kl = 0;
        long long sq = 0;
        for (int c = 0; c < k; c++) {   /* two reductions: vectorised */
            sq += (long long)tot[c] * tot[c];
            kl += tot[c] != 0;
        }
        bd->totsq = sq;
        bd->Kl = kl;
        return kl == 1;   /* weights are >= 1 and sum to W: one class present <=> pure */
    }
    const int *rows = bd->idx + nd->start;
    double s = 0, first = bd->y[rows[0]];
    int same = 1;
    for (int t = 0; t < n; t++) {
        double yy = bd->y[rows[t]];
        for (int c = 0; c < wt[t]; c++) s += yy;   /* as often as drawn: the sum of the duplicated rows */
        same &= yy == first;
    }
    v[0] = s / W;
    return same;
}

static void leaf_value(struct builder *bd, const struct tnode *nd)
{
    double *v = bd->value + (size_t)nd->id * bd->K;
    for (int c = 0; c < bd->K; c++) v[c] = (double)bd->tot[c] / nd->wsum;   /* 0 / W = +0.0: as the 0.0 of an absent class */
}

struct cand { double score; int feat, bin; };

/* Gini: Σ_left count²/n_left + Σ_right count²/n_right, from exact integer sums */
static inline void consider(struct cand *best, long long sqL, long long sqR, int nl, int nr, int j, int s)
{
    double score = (double)sqL / nl + (double)sqR / nr;
    if (score > best->score) { best->score = score; best->feat = j; best->bin = s; }
}

/* Sweep a bins × classes histogram (bins base .. base + nb - 1) for the best
 * cut. Returns 0 if all weight sits in one bin, else 1 + (a cut was valid). */
static int sweep_hist(struct builder *bd, const int *h, int base, int nb, int W, int j, struct cand *best)
{
    int K = bd->Kl, min_leaf = bd->min_leaf, *L = bd->cls_l, nl = 0, found = 0;
    const int *tot = bd->ltot;   /* right counts: tot - L */
    memset(L, 0, (size_t)K * sizeof *L);
    long long sqL = 0, sqR = bd->totsq;
    for (int s = 0; s < nb - 1; s++) {
        const int *hv = h + s * K;
        int a_sum = 0;
        for (int q = 0; q < K; q++) {
            long long a = hv[q], l = L[q];
            sqL += (2 * l + a) * a; sqR += (a - 2 * (tot[q] - l)) * a;
            L[q] = (int)(l + a);
            a_sum += (int)a;
        }
        if (!a_sum) continue;
        if (a_sum == W) return 0;            /* first occupied bin holds everything */
        nl += a_sum;
        int nr = W - nl;
        if (nl < min_leaf) continue;
        if (nr < min_leaf) break;
        consider(best, sqL, sqR, nl, nr, j, base + s);
        found = 1;
    }
    return nl ? 1 + found : 0;               /* nl == 0: everything in the last bin */
}

/* The bins flagged in seen[0 .. nb) as a bitmap; the flags are cleared. */
static void occupancy(unsigned char *seen, int nb, uint64_t occ[4])
{
    occ[0] = occ[1] = occ[2] = occ[3] = 0;
    for (int i = 0; i < nb; i += 16) {
        __m128i f = _mm_loadu_si128((const __m128i *)(seen + i));
        uint64_t m = (unsigned)_mm_movemask_epi8(_mm_slli_epi16(f, 7));   /* flags are 0/1 */
        occ[i >> 6] |= m << (i & 63);
        _mm_storeu_si128((__m128i *)(seen + i), _mm_setzero_si128());
    }
}

/* sweep_hist over the occupied bins only (in increasing order), clearing
 * their histogram cells. */
static inline __attribute__((always_inline)) int
sweep_sparse_k(struct builder *bd, int K, int *h, const uint64_t occ[4], int W, int j, struct cand *best)
{
    int min_leaf = bd->min_leaf, *L = bd->cls_l, nl = 0, found = 0, res = -1, w = 0;
    const int *tot = bd->ltot;   /* right counts: tot - L */
    memset(L, 0, (size_t)K * sizeof *L);
    long long sqL = 0, sqR = bd->totsq;
    uint64_t m = occ[0];
    for (;;) {
        while (!m && w < 3) m = occ[++w];
        if (!m) break;
        int s = w * 64 + __builtin_ctzll(m);
        m &= m - 1;
        int *hv = h + s * K, a_sum = 0;
        for (int q = 0; q < K; q++) {
            long long a = hv[q], l = L[q];
            hv[q] = 0;
            sqL += (2 * l + a) * a; sqR += (a - 2 * (tot[q] - l)) * a;
            L[q] = (int)(l + a);
            a_sum += (int)a;
        }
        if (a_sum == W) { res = 0; break; }     /* one bin holds everything */
        nl += a_sum;
        int nr = W - nl;
        if (nl < min_leaf) continue;
        if (nr < min_leaf) { res = 1 + found; break; }
        consider(best, sqL, sqR, nl, nr, j, s);
        found = 1;
    }
    for (;;) {   /* clear the bins not swept */
        while (!m && w < 3) m = occ[++w];
        if (!m) break;
        memset(h + (w * 64 + __builtin_ctzll(m)) * K, 0, (size_t)K * sizeof *h);
        m &= m - 1;
    }
    return res >= 0 ? res : 1 + found;
}

static int sweep_sparse(struct builder *bd, int *h, const uint64_t occ[4], int W, int j, struct cand *best)
{
    switch (bd->Kl) {   /* a constant class count: the class loop unrolls into registers */
    case 2: return sweep_sparse_k(bd, 2, h, occ, W, j, best);
    case 3: return sweep_sparse_k(bd, 3, h, occ, W, j, best);
    default: return sweep_sparse_k(bd, bd->Kl, h, occ, W, j, best);
    }
}

enum { SMALL_NODE = 16,     /* nodes up to this many rows, spread over more than */
       SMALL_RANGE = 4,     /* this × rows bins: insertion sort by bin */
       SPARSE_RATIO = 6 };  /* sparse histogram while (bins it may touch) × classes <= this × rows */

/* Best Gini cut of feature j over the node's rows (or, extra trees, the
 * Gini of a random cut). Returns 0 if the feature is constant in the node. */
static int eval_class(struct builder *bd, const struct tnode *nd, int j, struct cand *best)
{
    const int *rows = bd->idx + nd->start, *lab = bd->loc, *wt = bd->wt + nd->start;   /* local classes */
    const unsigned char *col = bd->BT + (size_t)j * bd->n;
    int n = nd->count, W = nd->wsum, K = bd->Kl, min_leaf = bd->min_leaf, nbins = bd->b->nthr[j] + 1;
    unsigned char *vb = bd->vb;
    if (!bd->extra && n >= nbins * K) {
        /* large node: one pass into a bins × classes histogram */
        int *h = bd->chist;
        for (int t = 0; t < n; t++) {
            int v = col[rows[t]];
            vb[t] = (unsigned char)v;
            h[v * K + lab[t]] += wt[t];
        }
        int res = sweep_hist(bd, h, 0, nbins, W, j, best);
        memset(h, 0, (size_t)nbins * K * sizeof *h);
        return res;
    }
    int est = n < nbins ? n : nbins;   /* most bins the node can occupy */
    if (!bd->extra && est * K <= SPARSE_RATIO * n) {
        /* few classes: the histogram, sweeping only the bins the node occupies */
        int *h = bd->chist;
        uint64_t occ[4] = {0, 0, 0, 0};
        if (nbins <= 64) {   /* the occupied bins in a register */
            uint64_t o = 0;
            for (int t = 0; t < n; t++) {
                int v = col[rows[t]];
                vb[t] = (unsigned char)v;
                h[v * K + lab[t]] += wt[t];
                o |= 1ULL << v;
            }
            occ[0] = o;
        } else {
            unsigned char *seen = bd->seen;
            for (int t = 0; t < n; t++) {
                int v = col[rows[t]];
                vb[t] = (unsigned char)v;
                h[v * K + lab[t]] += wt[t];
                seen[v] = 1;
            }
            occupancy(seen, nbins, occ);
        }
        return sweep_sparse(bd, h, occ, W, j, best);
    }
    int lo = 255, hi = 0, *cnt = bd->cnt;
    if (bd->extra)
        for (int t = 0; t < n; t++) {
            int v = col[rows[t]];
            vb[t] = (unsigned char)v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    else
        for (int t = 0; t < n; t++) {   /* and the rows per bin, for the counting sort */
            int v = col[rows[t]];
            vb[t] = (unsigned char)v;
            cnt[v]++;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    if (lo >= hi) {   /* one bin (or no rows) */
        if (n) cnt[lo] = 0;
        return 0;
    }
    int *L = bd->cls_l;
    if (bd->extra) {
        /* uniform threshold between the node's smallest and largest value
         * (represented by the bin edges), as ExtraTrees draws it */
        const float *thr = bd->b->thr[j];
        double a = lo > 0 ? thr[lo - 1] : thr[0] - 1e-6, b = thr[hi - 1];
        double u = a + rng_uniform(bd->rng) * (b - a);
        int s = lo;
        while (s < hi - 1 && thr[s] < u) s++;
        memset(L, 0, (size_t)K * sizeof *L);
        int nl = 0;
        for (int t = 0; t < n; t++) {
            int w = wt[t] & -(vb[t] <= s);
            L[lab[t]] += w;
            nl += w;
        }
        int nr = W - nl;
        if (nl < min_leaf || nr < min_leaf) return 1;
        long long sqL = 0, sqR = 0;
        for (int c = 0; c < K; c++) {
            long long l = L[c], r = bd->ltot[c] - L[c];
            sqL += l * l; sqR += r * r;
        }
        consider(best, sqL, sqR, nl, nr, j, s);
        return 2;
    }
    if (n == 2) {
        /* two rows in different bins: the one cut between them */
        cnt[lo] = cnt[hi] = 0;
        int t = vb[1] < vb[0], c = lab[t];
        long long w = wt[t], tc = bd->ltot[c];
        int nl = (int)w, nr = W - nl;
        if (nl < min_leaf || nr < min_leaf) return 1;
        consider(best, w * w, bd->totsq - 2 * w * tc + w * w, nl, nr, j, lo);
        return 2;
    }
    int range = hi - lo + 1;
    if (range * K <= n || (n <= SMALL_NODE && range > SMALL_RANGE * n))
        memset(cnt + lo, 0, (size_t)range * sizeof *cnt);   /* (not counting-sorting) */
    if (range * K <= n) {
        /* the node's bin range into a histogram */
        int *h = bd->chist;
        for (int t = 0; t < n; t++) h[(vb[t] - lo) * K + lab[t]] += wt[t];
        int res = sweep_hist(bd, h, lo, range, W, j, best);
        memset(h, 0, (size_t)range * K * sizeof *h);
        return res;
    }
    memset(L, 0, (size_t)K * sizeof *L);
    const int *tot = bd->ltot;   /* right counts: tot - L */
    long long sqL = 0, sqR = bd->totsq;
    int nl = 0, found = 0;
    if (n <= SMALL_NODE && range > SMALL_RANGE * n) {
        unsigned *keys = bd->keys;
        for (int t = 0; t < n; t++) {
            unsigned k = (unsigned)vb[t] << 24 | (unsigned)t;
            int i = t;
            while (i > 0 && keys[i - 1] > k) { keys[i] = keys[i - 1]; i--; }
            keys[i] = k;
        }
        for (int i = 0; i < n; i++) {
            int t = (int)(keys[i] & 0xffffff), c = lab[t], s = (int)(keys[i] >> 24);
            long long w = wt[t], l = L[c];
            sqL += (2 * l + w) * w; sqR += (w - 2 * (tot[c] - l)) * w;
            L[c] = (int)(l + w);
            nl += (int)w;
            if (i + 1 < n && (int)(keys[i + 1] >> 24) == s) continue;
            if (nl < min_leaf) continue;
            int nr = W - nl;
            if (nr < min_leaf) break;
            consider(best, sqL, sqR, nl, nr, j, s);
            found = 1;
        }
        return 1 + found;
    }
    /* counting sort of the (class, weight) pairs by bin; then one pass */
    int *sc = bd->perm, *sw = bd->tmp, pos = 0;
    cnt += lo;
    for (int v = 0; v < range; v++) { int c = cnt[v]; cnt[v] = pos; pos += c; }
    for (int t = 0; t < n; t++) {
        int q = cnt[vb[t] - lo]++;
        sc[q] = lab[t]; sw[q] = wt[t];
    }
    /* cnt[v] is now the end of bin lo + v */
    for (int v = 0, i = 0; v < range - 1; v++) {
        if (cnt[v] == i) continue;
        for (; i < cnt[v]; i++) {
            int c = sc[i];
            long long w = sw[i], l = L[c];
            sqL += (2 * l + w) * w; sqR += (w - 2 * (tot[c] - l)) * w;
            L[c] = (int)(l + w);
            nl += (int)w;
        }
        if (nl < min_leaf) continue;
        int nr = W - nl;
        if (nr < min_leaf) break;
        consider(best, sqL, sqR, nl, nr, j, lo + v);
        found = 1;
    }
    memset(cnt, 0, (size_t)range * sizeof *cnt);
    return 1 + found;
}

/* Best squared-error cut (or a random one) of feature j, regression. Sums
 * add each row as often as it was drawn, in the order of the duplicated
 * rows sorted by bin, so they round exactly as on the duplicated sample. */
static int eval_reg(struct builder *bd, const struct tnode *nd, int j, struct cand *best)
{
    const int *rows = bd->idx + nd->start, *wt = bd->wt + nd->start;
    const unsigned char *col = bd->BT + (size_t)j * bd->n;
    int n = nd->count, W = nd->wsum, min_leaf = bd->min_leaf;
    unsigned char *vb = bd->vb;
    int lo = 255, hi = 0;
    for (int t = 0; t < n; t++) {
        int v = col[rows[t]];
        vb[t] = (unsigned char)v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (lo >= hi) return 0;   /* one bin (or no rows) */
    int cut_lo = lo, cut_hi = hi - 1;   /* candidate cuts: bin <= s goes left */
    if (bd->extra) {
        const float *thr = bd->b->thr[j];
        double a = lo > 0 ? thr[lo - 1] : thr[0] - 1e-6, b = thr[hi - 1];
        double u = a + rng_uniform(bd->rng) * (b - a);
        int s = lo;
        while (s < hi - 1 && thr[s] < u) s++;
        cut_lo = cut_hi = s;
    }
    int range = hi - lo + 1, *cnt = bd->cnt, pos = 0;
    memset(cnt, 0, (size_t)range * sizeof *cnt);
    for (int t = 0; t < n; t++) cnt[vb[t] - lo]++;
    for (int v = 0; v < range; v++) { int c = cnt[v]; cnt[v] = pos; pos += c; }
    double *yv = bd->yv, total = 0;
    int *perm = bd->perm;
    for (int t = 0; t < n; t++) {
        double yy = bd->y[rows[t]];
        int p = cnt[vb[t] - lo]++;
        yv[p] = yy; perm[p] = wt[t];
        for (int c = 0; c < wt[t]; c++) total += yy;
    }
    double sl = 0;
    int i = 0, nl = 0, found = 0;
    for (int s = lo; s <= cut_hi; s++) {
        for (; i < cnt[s - lo]; i++) {
            for (int c = 0; c < perm[i]; c++) sl += yv[i];
            nl += perm[i];
        }
        if (s < cut_lo) continue;
        int nr = W - nl;
        if (nl < min_leaf) continue;
        if (nr < min_leaf) break;
        double sr = total - sl, score = sl * sl / nl + sr * sr / nr;
        if (score > best->score) { best->score = score; best->feat = j; best->bin = s; }
        found = 1;
    }
    return 1 + found;
}

static void grow(struct builder *bd, int count, int wsum)
{
    bd->nnodes = 0;
    int sp = 0;
    struct tnode root = {0, count, wsum, 0, node_new(bd)};
    int K = bd->K;
    if (K) {
        memset(bd->totpool, 0, (size_t)K * sizeof *bd->totpool);
        for (int t = 0; t < count; t++) bd->totpool[bd->lab[t]] += bd->wt[t];
    }
    bd->stack[sp++] = root;
    while (sp) {
        struct tnode nd = bd->stack[--sp];
        bd->tot = bd->totpool + (size_t)sp * K;
        int pure = node_value(bd, &nd);
        if (pure || nd.wsum < bd->min_split || nd.wsum < 2 * bd->min_leaf ||
            (bd->max_depth > 0 && nd.depth >= bd->max_depth)) {
            if (K) leaf_value(bd, &nd);
            continue;
        }
        if (K) {   /* the split search numbers the node's classes 0 .. Kl-1 */
            const int *lab = bd->lab + nd.start, *tot = bd->tot;
            int *loc = bd->loc, *g2l = bd->g2l, *ltot = bd->ltot, kl = 0;
            for (int c = 0; c < K; c++) {
                g2l[c] = kl; ltot[kl] = tot[c];
                kl += tot[c] != 0;
            }
            for (int t = 0; t < nd.count; t++) loc[t] = g2l[lab[t]];
        }
        /* features in random order; stop after mtry non-constant ones once a
         * valid split exists (scikit-learn keeps looking past constants) */
        struct cand best = {-INFINITY, -1, 0};
        int visited = 0;
        for (int f = 0; f < bd->p; f++) {
            int r = f + (int)rng_below_fast(bd->rng, (uint64_t)(bd->p - f));
            int tmpf = bd->feats[f]; bd->feats[f] = bd->feats[r]; bd->feats[r] = tmpf;
            double before = best.score;
            int res = K ? eval_class(bd, &nd, bd->feats[f], &best) : eval_reg(bd, &nd, bd->feats[f], &best);
            if (best.score != before) {   /* keep this feature's bins for the partition */
                unsigned char *tv = bd->vb; bd->vb = bd->vbest; bd->vbest = tv;
            }
            if (res) visited++;
            if (visited >= bd->mtry && best.feat >= 0) break;
        }
        if (best.feat < 0) {
            if (K) leaf_value(bd, &nd);
            continue;
        }
        /* partition rows: bin <= cut to the left, order kept; the children's
         * class counts (stack slots sp + 1 and sp) on the way */
        if ((size_t)(sp + 2) * K > (size_t)bd->totcap) {
            bd->totcap = 2 * (sp + 2) * K;
            bd->totpool = xrealloc(bd->totpool, (size_t)bd->totcap * sizeof *bd->totpool);
            bd->tot = bd->totpool + (size_t)sp * K;
        }
        int *rows = bd->idx + nd.start, *lab = bd->lab + nd.start, *wt = bd->wt + nd.start;
        int nl = 0, nr = 0, wl = 0, j = best.feat, *totl = bd->tot + K;
        const unsigned char *vbest = bd->vbest;
        if (K) memset(totl, 0, (size_t)K * sizeof *totl);
        for (int t = 0; t < nd.count; t++) {   /* branchless: both stores, one cursor moves */
            int r = rows[t], c = lab[t], w = wt[t], go = vbest[t] <= best.bin, wgo = w & -go;
            rows[nl] = r; lab[nl] = c; wt[nl] = w;
            bd->tmp[nr] = r; bd->tmpl[nr] = c; bd->tmpw[nr] = w;
            nl += go; nr += !go; wl += wgo;
            if (K) totl[c] += wgo;
        }
        for (int q = 0; q < K; q++) bd->tot[q] -= totl[q];
        memcpy(rows + nl, bd->tmp, (size_t)nr * sizeof *rows);
        memcpy(lab + nl, bd->tmpl, (size_t)nr * sizeof *lab);
        memcpy(wt + nl, bd->tmpw, (size_t)nr * sizeof *wt);
        int l = node_new(bd), rn = node_new(bd);
        bd->feature[nd.id] = j; bd->bin[nd.id] = best.bin; bd->left[nd.id] = l; bd->right[nd.id] = rn;
        struct tnode a = {nd.start, nl, wl, nd.depth + 1, l}, c = {nd.start + nl, nr, nd.wsum - wl, nd.depth + 1, rn};
        bd->stack[sp++] = c;      /* left first: pre-order like scikit-learn */
        bd->stack[sp++] = a;
    }
}

static void append(struct forest *m, const struct builder *bd, int *cap)
{
    int base = m->nnodes, k = m->k;
    if (base + bd->nnodes > *cap) {
        while (base + bd->nnodes > *cap) *cap = *cap ? 2 * *cap : 4096;
        m->feature = xrealloc(m->feature, (size_t)*cap * sizeof *m->feature);
        m->threshold = xrealloc(m->threshold, (size_t)*cap * sizeof *m->threshold);
        m->left = xrealloc(m->left, (size_t)*cap * sizeof *m->left);
        m->right = xrealloc(m->right, (size_t)*cap * sizeof *m->right);
        m->value = xrealloc(m->value, (size_t)*cap * k * sizeof *m->value);
    }
    for (int i = 0; i < bd->nnodes; i++) {
        int f = bd->feature[i];
        m->feature[base + i] = f;
        m->threshold[base + i] = f >= 0 ? bd->b->thr[f][bd->bin[i]] : 0.0f;
        m->left[base + i] = bd->left[i];
        m->right[base + i] = bd->right[i];
        if (f >= 0) memset(m->value + (size_t)(base + i) * k, 0, (size_t)k * sizeof *m->value);
        else memcpy(m->value + (size_t)(base + i) * k, bd->value + (size_t)i * k, (size_t)k * sizeof *m->value);
    }
    m->nnodes += bd->nnodes;
    m->tree_start = xrealloc(m->tree_start, (size_t)(m->ntrees + 2) * sizeof *m->tree_start);
    m->tree_start[m->ntrees] = base;
    m->tree_start[++m->ntrees] = m->nnodes;
}

static int mtry_of(double v, int p, int classification)
{
    double m;
    if (v == -1) m = classification ? sqrt((double)p) : p;       /* sklearn: sqrt (classifier), 1.0 (regressor) */
    else if (v == -2) m = sqrt((double)p);
    else if (v == -3) m = log2((double)p);
    else if (v <= 1.0) m = v * p;                                 /* a fraction */
    else m = v;
    int r = (int)m;                                               /* sklearn truncates */
    return r < 1 ? 1 : r > p ? p : r;
}

/* Loss of averaged predictions acc/t: log-loss or mean squared error. */
static double avg_loss(const double *acc, int t, const double *y, int n, int K)
{
    double L = 0;
    for (int i = 0; i < n; i++) {
        if (K) L -= log(fmin(fmax(acc[(size_t)i * K + (int)y[i]] / t, 1e-15), 1 - 1e-15));
        else { double e = acc[i] / t - y[i]; L += e * e; }
    }
    return L / n;
}

static void *forest_fit_common(const struct train_data *d, const struct hparams *hp, int extra, char *err)
{
    (void)err;
    const double *v = hp->v;
    int n = d->n, p = d->p, K = d->nclasses, k = K ? K : 1;
    struct forest *m = xcalloc(1, sizeof *m);
    m->p = p; m->nclasses = K; m->k = k;
    m->tree_start = xcalloc(1, sizeof *m->tree_start);
    struct bins b;
    bins_build(&b, d->X, n, p, (int)v[FP_MAXBIN]);
    struct rng rng;
    rng_seed(&rng, d->seed);
    int nsamp = (int)fmax(1, floor(n * v[FP_MAXSAMPLES]));
    struct builder bd = {0};
    bd.b = &b; bd.y = d->y; bd.n = n; bd.p = p; bd.K = K; bd.extra = extra;
    bd.mtry = mtry_of(v[FP_MAXFEAT], p, K > 0);
    bd.max_depth = (int)v[FP_DEPTH]; bd.min_split = (int)v[FP_MINSPLIT]; bd.min_leaf = (int)v[FP_MINLEAF];
    bd.rng = &rng;
    unsigned char *BT = xmalloc((size_t)n * (p ? p : 1));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) BT[(size_t)j * n + i] = b.B[(size_t)i * p + j];
    bd.BT = BT;
    int *yi = xmalloc((size_t)n * sizeof *yi);
    for (int i = 0; i < n; i++) yi[i] = K ? (int)d->y[i] : 0;
    bd.chist = xcalloc((size_t)256 * k, sizeof *bd.chist);
    size_t rows_cap = (size_t)(n ? n : 1);   /* distinct rows of a tree */
    bd.idx = xmalloc(rows_cap * sizeof *bd.idx);
    bd.lab = xmalloc(rows_cap * sizeof *bd.lab);
    bd.wt = xmalloc(rows_cap * sizeof *bd.wt);
    bd.tmp = xmalloc(rows_cap * sizeof *bd.tmp);
    bd.tmpl = xmalloc(rows_cap * sizeof *bd.tmpl);
    bd.tmpw = xmalloc(rows_cap * sizeof *bd.tmpw);
    bd.vb = xmalloc(rows_cap);
    bd.vbest = xmalloc(rows_cap);
    bd.seen = xcalloc(256, 1);
    bd.perm = xmalloc(rows_cap * sizeof *bd.perm);
    bd.keys = xmalloc((size_t)SMALL_NODE * sizeof *bd.keys);
    bd.cnt = xcalloc(256, sizeof *bd.cnt);
    bd.yv = xmalloc(rows_cap * sizeof *bd.yv);
    bd.totcap = 64 * k;
    bd.totpool = xmalloc((size_t)bd.totcap * sizeof *bd.totpool);
    bd.cls_l = xmalloc((size_t)k * sizeof *bd.cls_l);
    bd.ltot = xmalloc((size_t)k * sizeof *bd.ltot);
    bd.g2l = xmalloc((size_t)k * sizeof *bd.g2l);
    bd.loc = xmalloc(rows_cap * sizeof *bd.loc);
    bd.feats = xmalloc((size_t)(p ? p : 1) * sizeof *bd.feats);
    bd.stack = xmalloc((2 * rows_cap + 8) * sizeof *bd.stack);
    int *draws = xmalloc(rows_cap * sizeof *draws);
    double *acc_v = xcalloc((size_t)(d->nv ? d->nv : 1) * k, sizeof *acc_v);
    double *acc_t = d->log_step ? xcalloc((size_t)n * k, sizeof *acc_t) : NULL;
    int cap = 0, ntrees = (int)v[FP_NEST];
    for (int t = 0; t < ntrees; t++) {
        for (int j = 0; j < p; j++) bd.feats[j] = j;
        int count = 0, wsum = 0;
        if (v[FP_BOOT] != 0) {
            /* nsamp draws with replacement: each drawn row once, in row
             * order (cache friendly), weighted by its number of draws */
            memset(draws, 0, (size_t)n * sizeof *draws);
            uint64_t st[4] = {rng.s[0], rng.s[1], rng.s[2], rng.s[3]}, lim = UINT64_MAX - UINT64_MAX % (uint64_t)n;
            u128 M = ~(u128)0 / (uint64_t)n + 1;
            for (int s = 0; s < nsamp; s++) {   /* rng_below(&rng, n), rejection included */
                uint64_t r;
                do r = rng_step(st); while (r >= lim);
                draws[mod_by_mul(r, M, (uint64_t)n)]++;
            }
            memcpy(rng.s, st, sizeof st);
            for (int i = 0; i < n; i++) {   /* branch-free: written always, kept if drawn */
                bd.idx[count] = i; bd.lab[count] = yi[i]; bd.wt[count] = draws[i];
                count += draws[i] != 0;
            }
            wsum = nsamp;
        } else {
            for (int i = 0; i < n; i++) { bd.idx[count] = i; bd.lab[count] = yi[i]; bd.wt[count] = 1; count++; }
            wsum = n;
        }
        grow(&bd, count, wsum);
        append(m, &bd, &cap);
        /* per-tree metrics, like gbdt's rounds: the loss of the first t+1 trees */
        if (d->log_step) {
            forest_accumulate(m, t, t + 1, d->X, n, acc_t);
            d->log_step(d->log_ctx, "train_loss", avg_loss(acc_t, t + 1, d->y, n, K), t + 1);
        }
        if (d->log_step && d->nv) {
            forest_accumulate(m, t, t + 1, d->Xv, d->nv, acc_v);
            d->log_step(d->log_ctx, "val_loss", avg_loss(acc_v, t + 1, d->yv, d->nv, K), t + 1);
        }
    }
    free(bd.idx); free(bd.lab); free(bd.wt); free(bd.tmp); free(bd.tmpl); free(bd.tmpw); free(bd.vb); free(bd.vbest); free(bd.seen); free(bd.perm);
    free(bd.keys); free(bd.cnt); free(bd.yv); free(bd.totpool); free(bd.cls_l); free(bd.ltot); free(bd.g2l); free(bd.loc);
    free(bd.feats); free(bd.stack); free(bd.feature); free(bd.bin); free(bd.left); free(bd.right); free(bd.value);
    free(draws); free(acc_v); free(acc_t); free(BT); free(yi); free(bd.chist);
    bins_free(&b);
    return m;
}

static void *rf_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    return forest_fit_common(d, hp, 0, err);
}

static void *et_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    return forest_fit_common(d, hp, 1, err);
}

static void forest_save(const void *mp, struct sbuf *b)
{
    const struct forest *m = mp;
    int dims[5] = {m->p, m->nclasses, m->k, m->ntrees, m->nnodes};
    kv_ints(b, "forest.dims", dims, 5);
    kv_ints(b, "forest.tree_start", m->tree_start, m->ntrees + 1);
    kv_ints(b, "forest.feature", m->feature, m->nnodes);
    double *t = xmalloc((size_t)(m->nnodes ? m->nnodes : 1) * sizeof *t);
    for (int i = 0; i < m->nnodes; i++) t[i] = m->threshold[i];
    kv_dbls(b, "forest.threshold", t, m->nnodes);
    free(t);
    kv_ints(b, "forest.left", m->left, m->nnodes);
    kv_ints(b, "forest.right", m->right, m->nnodes);
    kv_dbls(b, "forest.value", m->value, m->nnodes * m->k);
}

static void *forest_load(const struct kv *kv, char *err)
{
    int *dims;
    if (kv_get_ints(kv, "forest.dims", 5, &dims, NULL, err)) return NULL;
    struct forest *m = xcalloc(1, sizeof *m);
    m->p = dims[0]; m->nclasses = dims[1]; m->k = dims[2]; m->ntrees = dims[3]; m->nnodes = dims[4];
    free(dims);
    double *t = NULL;
    if (m->k < 1 || m->ntrees < 1 || m->nnodes < 1 ||
        kv_get_ints(kv, "forest.tree_start", m->ntrees + 1, &m->tree_start, NULL, err) ||
        kv_get_ints(kv, "forest.feature", m->nnodes, &m->feature, NULL, err) ||
        kv_get_dbls(kv, "forest.threshold", m->nnodes, &t, NULL, err) ||
        kv_get_ints(kv, "forest.left", m->nnodes, &m->left, NULL, err) ||
        kv_get_ints(kv, "forest.right", m->nnodes, &m->right, NULL, err) ||
        kv_get_dbls(kv, "forest.value", m->nnodes * m->k, &m->value, NULL, err)) {
        if (m->k < 1 || m->ntrees < 1 || m->nnodes < 1) errf(err, "model file: bad forest dimensions");
        free(t);
        forest_free(m);
        return NULL;
    }
    m->threshold = xmalloc((size_t)m->nnodes * sizeof *m->threshold);
    for (int i = 0; i < m->nnodes; i++) m->threshold[i] = (float)t[i];
    free(t);
    for (int tr = 0; tr < m->ntrees; tr++) {
        int s = m->tree_start[tr], e = m->tree_start[tr + 1];
        if (s < 0 || e > m->nnodes || e <= s) { errf(err, "model file: bad tree layout"); forest_free(m); return NULL; }
        for (int i = s; i < e; i++)
            if (m->feature[i] >= m->p || (m->feature[i] >= 0 &&
                (m->left[i] <= i - s || m->right[i] <= i - s || m->left[i] >= e - s || m->right[i] >= e - s))) {
                errf(err, "model file: bad tree node");
                forest_free(m);
                return NULL;
            }
    }
    return m;
}

static void forest_onnx(const void *mp, struct onnx_graph *g, const char *in, const char *out)
{
    const struct forest *m = mp;
    int nn = m->nnodes, k = m->k, nl = 0;
    size_t nt = (size_t)nn * k;
    int64_t *treeids = xmalloc((size_t)nn * sizeof *treeids), *nodeids = xmalloc((size_t)nn * sizeof *nodeids);
    int64_t *featids = xmalloc((size_t)nn * sizeof *featids), *tn = xmalloc((size_t)nn * sizeof *tn);
    int64_t *fn = xmalloc((size_t)nn * sizeof *fn), *miss = xcalloc((size_t)nn, sizeof *miss);
    double *vals = xmalloc((size_t)nn * sizeof *vals);
    char **modes = xmalloc((size_t)nn * sizeof *modes);
    int64_t *lt = xmalloc(nt * sizeof *lt), *ln = xmalloc(nt * sizeof *ln), *lid = xmalloc(nt * sizeof *lid);
    double *lw = xmalloc(nt * sizeof *lw);
    for (int t = 0; t < m->ntrees; t++)
        for (int i = m->tree_start[t]; i < m->tree_start[t + 1]; i++) {
            int local = i - m->tree_start[t], leaf = m->feature[i] < 0;
            treeids[i] = t; nodeids[i] = local;
            featids[i] = leaf ? 0 : m->feature[i];
            modes[i] = leaf ? "LEAF" : "BRANCH_LEQ";
            vals[i] = leaf ? 0 : m->threshold[i];
            tn[i] = leaf ? 0 : m->left[i];
            fn[i] = leaf ? 0 : m->right[i];
            if (!leaf)
                continue;
            for (int c = 0; c < k; c++) {
                double w = m->value[(size_t)i * k + c];
                if (w == 0 && k > 1) continue;   /* absent targets add nothing */
                lt[nl] = t; ln[nl] = local; lid[nl] = c; lw[nl] = w / m->ntrees; nl++;
            }
        }
    double *base = xcalloc((size_t)k, sizeof *base);
    struct onnx_node node;
    onnx_node_begin(&node, "TreeEnsembleRegressor", "ai.onnx.ml", (const char *[]){in, NULL}, (const char *[]){out, NULL});
    onnx_attr_int(&node, "n_targets", k);
    onnx_attr_string(&node, "aggregate_function", "SUM");
    onnx_attr_string(&node, "post_transform", "NONE");
    onnx_attr_floats(&node, "base_values", base, k);
    onnx_attr_ints(&node, "nodes_treeids", treeids, nn);
    onnx_attr_ints(&node, "nodes_nodeids", nodeids, nn);
    onnx_attr_ints(&node, "nodes_featureids", featids, nn);
    onnx_attr_strings(&node, "nodes_modes", modes, nn);
    onnx_attr_floats(&node, "nodes_values", vals, nn);
    onnx_attr_ints(&node, "nodes_truenodeids", tn, nn);
    onnx_attr_ints(&node, "nodes_falsenodeids", fn, nn);
    onnx_attr_ints(&node, "nodes_missing_value_tracks_true", miss, nn);
    onnx_attr_ints(&node, "target_treeids", lt, nl);
    onnx_attr_ints(&node, "target_nodeids", ln, nl);
    onnx_attr_ints(&node, "target_ids", lid, nl);
    onnx_attr_floats(&node, "target_weights", lw, nl);
    onnx_node_end(g, &node);
    free(treeids); free(nodeids); free(featids); free(tn); free(fn); free(miss); free(vals); free(modes);
    free(lt); free(ln); free(lid); free(lw); free(base);
}

const struct algo algo_rf = {
    "rf", "cairn.forest.RandomForest", 0, RF_PARAMS, FP_COUNT,
    rf_fit, forest_predict, forest_save, forest_load, forest_onnx, forest_free, NULL,
};
const struct algo algo_extra_trees = {
    "extra_trees", "cairn.forest.ExtraTrees", 0, ET_PARAMS, FP_COUNT,
    et_fit, forest_predict, forest_save, forest_load, forest_onnx, forest_free, NULL,
};
