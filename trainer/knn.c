/* k nearest neighbours (scikit-learn's KNeighbors*, brute force, euclidean)
 * on the standardised features. Squared distances come from one dgemm per
 * block of query rows: ‖x‖² − 2·x·t + ‖t‖²; the k smallest are kept by
 * insertion (ties go to the lower training index). The ONNX graph is the
 * same computation with standard ops: MatMul + Add for the distances, TopK
 * (largest=0) for the neighbours, Gather of one-hot labels (or targets) and
 * ReduceMean — or weights 1/d with weights=distance. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "onnx.h"

enum { KP_K, KP_WEIGHTS, KP_COUNT };
static const struct param_spec KNN_PARAMS[] = {
    {"n_neighbors", P_INT, 5, 1, 1e6, NULL, NULL},
    {"weights", P_CHOICE, 0, 0, 0, "uniform|distance", NULL},
};

struct knn {
    int p, nclasses, n, k, distance;
    double *T, *y, *tnorm;       /* n × p training rows, targets, ‖t‖² */
};

static void knn_free(void *mp)
{
    struct knn *m = mp;
    if (!m) return;
    free(m->T); free(m->y); free(m->tnorm); free(m);
}

static void norms(struct knn *m)
{
    m->tnorm = xmalloc((size_t)m->n * sizeof *m->tnorm);
    for (int i = 0; i < m->n; i++) {
        double s = 0;
        for (int j = 0; j < m->p; j++) s += m->T[(size_t)i * m->p + j] * m->T[(size_t)i * m->p + j];
        m->tnorm[i] = s;
    }
}

static void *knn_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    struct knn *m = xcalloc(1, sizeof *m);
    m->p = d->p; m->nclasses = d->nclasses; m->n = d->n;
    m->k = (int)hp->v[KP_K] < d->n ? (int)hp->v[KP_K] : d->n;
    m->distance = (int)hp->v[KP_WEIGHTS];
    m->T = xmalloc((size_t)d->n * d->p * sizeof *m->T);
    memcpy(m->T, d->X, (size_t)d->n * d->p * sizeof *m->T);
    m->y = xmalloc((size_t)d->n * sizeof *m->y);
    memcpy(m->y, d->y, (size_t)d->n * sizeof *m->y);
    norms(m);
    (void)err;
    return m;
}

static void knn_predict(const void *mp, const double *X, int n, double *out)
{
    const struct knn *m = mp;
    enum { BLOCK = 128 };
    int K = m->nclasses, nout = K ? K : 1, k = m->k;
    double *G = xmalloc((size_t)BLOCK * m->n * sizeof *G), *bd = xmalloc((size_t)k * sizeof *bd);
    int *bi = xmalloc((size_t)k * sizeof *bi);
    for (int s = 0; s < n; s += BLOCK) {
        int bn = n - s < BLOCK ? n - s : BLOCK;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bn, m->n, m->p, -2.0, X + (size_t)s * m->p, m->p, m->T,
                    m->p, 0.0, G, m->n);
        for (int i = 0; i < bn; i++) {
            const double *g = G + (size_t)i * m->n, *x = X + (size_t)(s + i) * m->p;
            double xn = 0;
            for (int j = 0; j < m->p; j++) xn += x[j] * x[j];
            int have = 0;
            for (int t = 0; t < m->n; t++) {
                double dd = g[t] + m->tnorm[t];
                if (have == k && dd >= bd[k - 1]) continue;
                int pos = have < k ? have++ : k - 1;
                while (pos > 0 && bd[pos - 1] > dd) { bd[pos] = bd[pos - 1]; bi[pos] = bi[pos - 1]; pos--; }
                bd[pos] = dd; bi[pos] = t;
            }
            double *o = out + (size_t)(s + i) * nout, wsum = 0;
            memset(o, 0, (size_t)nout * sizeof *o);
            for (int j = 0; j < k; j++) {
                double w = 1;
                if (m->distance) w = 1.0 / fmax(sqrt(fmax(bd[j] + xn, 0)), 1e-12);
                if (K) o[(int)m->y[bi[j]]] += w; else o[0] += w * m->y[bi[j]];
                wsum += w;
            }
            for (int c = 0; c < nout; c++) o[c] /= wsum;
        }
    }
    free(G); free(bd); free(bi);
}

static void knn_save(const void *mp, struct sbuf *b)
{
    const struct knn *m = mp;
    int dims[5] = {m->p, m->nclasses, m->n, m->k, m->distance};
    kv_ints(b, "knn.dims", dims, 5);
    kv_dbls(b, "knn.X", m->T, m->n * m->p);
    kv_dbls(b, "knn.y", m->y, m->n);
}

static void *knn_load(const struct kv *kv, char *err)
{
    int *dims;
    if (kv_get_ints(kv, "knn.dims", 5, &dims, NULL, err)) return NULL;
    struct knn *m = xcalloc(1, sizeof *m);
    m->p = dims[0]; m->nclasses = dims[1]; m->n = dims[2]; m->k = dims[3]; m->distance = dims[4];
    free(dims);
    if (m->p < 0 || m->n < 1 || m->k < 1 || m->k > m->n) {
        errf(err, "model file: bad knn dimensions");
        knn_free(m);
        return NULL;
    }
    if (kv_get_dbls(kv, "knn.X", m->n * m->p, &m->T, NULL, err) || kv_get_dbls(kv, "knn.y", m->n, &m->y, NULL, err)) {
        knn_free(m);
        return NULL;
    }
    for (int i = 0; i < m->n; i++)
        if (m->nclasses && (m->y[i] < 0 || m->y[i] >= m->nclasses)) {
            errf(err, "model file: bad knn label");
            knn_free(m);
            return NULL;
        }
    norms(m);
    return m;
}

static void knn_onnx(const void *mp, struct onnx_graph *g, const char *in, const char *out)
{
    const struct knn *m = mp;
    int K = m->nclasses, nout = K ? K : 1;
    /* distances: Add(MatMul(x, −2·Tᵀ), ‖t‖²) [+ ‖x‖² for weights] */
    double *Tt = xmalloc((size_t)m->p * m->n * sizeof *Tt);
    for (int i = 0; i < m->n; i++)
        for (int j = 0; j < m->p; j++) Tt[(size_t)j * m->n + i] = -2.0 * m->T[(size_t)i * m->p + j];
    int64_t td[2] = {m->p, m->n}, nd[1] = {m->n}, kd[1] = {1}, kk = m->k;
    onnx_init_floats(g, "knn_train_t", td, 2, Tt);
    onnx_init_floats(g, "knn_train_norm", nd, 1, m->tnorm);
    onnx_init_int64s(g, "knn_k", kd, 1, &kk);
    free(Tt);
    onnx_op(g, "MatMul", (const char *[]){in, "knn_train_t", NULL}, "knn_cross");
    onnx_op(g, "Add", (const char *[]){"knn_cross", "knn_train_norm", NULL}, "knn_dist");
    struct onnx_node n;
    onnx_node_begin(&n, "TopK", "", (const char *[]){"knn_dist", "knn_k", NULL},
                    (const char *[]){"knn_nd", "knn_idx", NULL});
    onnx_attr_int(&n, "axis", 1);
    onnx_attr_int(&n, "largest", 0);
    onnx_attr_int(&n, "sorted", 1);
    onnx_node_end(g, &n);
    /* neighbour targets: one-hot rows (classes) or values */
    double *Y = xcalloc((size_t)m->n * nout, sizeof *Y);
    for (int i = 0; i < m->n; i++) {
        if (K) Y[(size_t)i * K + (int)m->y[i]] = 1; else Y[i] = m->y[i];
    }
    int64_t yd[2] = {m->n, nout};
    onnx_init_floats(g, "knn_targets", yd, 2, Y);
    free(Y);
    onnx_node_begin(&n, "Gather", "", (const char *[]){"knn_targets", "knn_idx", NULL}, (const char *[]){"knn_nbr", NULL});
    onnx_attr_int(&n, "axis", 0);
    onnx_node_end(g, &n);                       /* [N, k, nout] */
    int64_t ax1[1] = {1};
    if (!m->distance) {
        onnx_node_begin(&n, "ReduceMean", "", (const char *[]){"knn_nbr", NULL}, (const char *[]){out, NULL});
        onnx_attr_ints(&n, "axes", ax1, 1);
        onnx_attr_int(&n, "keepdims", 0);
        onnx_node_end(g, &n);
        return;
    }
    /* w = 1 / max(sqrt(max(d + ‖x‖², 0)), 1e-12); out = Σ w·y / Σ w */
    double zero = 0, tiny = 1e-12;
    int64_t scalar_dims[1] = {1};
    onnx_init_floats(g, "knn_zero", scalar_dims, 1, &zero);
    onnx_init_floats(g, "knn_tiny", scalar_dims, 1, &tiny);
    onnx_init_int64s(g, "knn_axis1", scalar_dims, 1, ax1);
    int64_t ax2 = 2;
    onnx_init_int64s(g, "knn_axis2", scalar_dims, 1, &ax2);
    onnx_node_begin(&n, "ReduceSumSquare", "", (const char *[]){in, NULL}, (const char *[]){"knn_xnorm", NULL});
    onnx_attr_ints(&n, "axes", ax1, 1);
    onnx_attr_int(&n, "keepdims", 1);
    onnx_node_end(g, &n);
    onnx_op(g, "Add", (const char *[]){"knn_nd", "knn_xnorm", NULL}, "knn_d2");
    onnx_op(g, "Max", (const char *[]){"knn_d2", "knn_zero", NULL}, "knn_d2p");
    onnx_op(g, "Sqrt", (const char *[]){"knn_d2p", NULL}, "knn_d");
    onnx_op(g, "Max", (const char *[]){"knn_d", "knn_tiny", NULL}, "knn_dc");
    onnx_op(g, "Reciprocal", (const char *[]){"knn_dc", NULL}, "knn_w");                 /* [N, k] */
    onnx_op(g, "Unsqueeze", (const char *[]){"knn_w", "knn_axis2", NULL}, "knn_w3");      /* [N, k, 1] */
    onnx_op(g, "Mul", (const char *[]){"knn_nbr", "knn_w3", NULL}, "knn_wy");
    onnx_node_begin(&n, "ReduceSum", "", (const char *[]){"knn_wy", "knn_axis1", NULL}, (const char *[]){"knn_num", NULL});
    onnx_attr_int(&n, "keepdims", 0);
    onnx_node_end(g, &n);
    onnx_node_begin(&n, "ReduceSum", "", (const char *[]){"knn_w", "knn_axis1", NULL}, (const char *[]){"knn_den", NULL});
    onnx_attr_int(&n, "keepdims", 1);
    onnx_node_end(g, &n);
    onnx_op(g, "Div", (const char *[]){"knn_num", "knn_den", NULL}, out);
}

const struct algo algo_knn = {
    "knn", "cairn.neighbors.KNeighbors", 1, KNN_PARAMS, KP_COUNT,
    knn_fit, knn_predict, knn_save, knn_load, knn_onnx, knn_free, NULL,
};
