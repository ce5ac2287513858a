/* Gaussian naive Bayes (scikit-learn's GaussianNB): per-class means and
 * variances, var_smoothing × the largest feature variance added to every
 * variance, class priors from the frequencies. The joint log-likelihood is
 * log prior − ½Σ log(2πσ²) − ½Σ (x−θ)²/σ²; probabilities are its softmax.
 * ONNX: Unsqueeze, Sub, Mul, ReduceSum, Add, Softmax on [N, K, p]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "onnx.h"

static const struct param_spec NB_PARAMS[] = {
    {"var_smoothing", P_DOUBLE, 1e-9, 0, 1e6, NULL, NULL},
};

struct nb {
    int p, K;
    double *theta, *neg_half_inv_var;   /* K × p */
    double *cst;                        /* K: log prior − ½Σ log(2πσ²) */
};

static void nb_free(void *mp)
{
    struct nb *m = mp;
    if (!m) return;
    free(m->theta); free(m->neg_half_inv_var); free(m->cst); free(m);
}

static void *nb_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    if (!d->nclasses) { errf(err, "gaussian_nb is a classification algorithm"); return NULL; }
    int n = d->n, p = d->p, K = d->nclasses;
    struct nb *m = xcalloc(1, sizeof *m);
    m->p = p; m->K = K;
    m->theta = xcalloc((size_t)K * p, sizeof *m->theta);
    m->neg_half_inv_var = xcalloc((size_t)K * p, sizeof *m->neg_half_inv_var);
    m->cst = xcalloc((size_t)K, sizeof *m->cst);
    double *var = xcalloc((size_t)K * p, sizeof *var), *cnt = xcalloc((size_t)K, sizeof *cnt);
    double *mu = xcalloc((size_t)(p ? p : 1), sizeof *mu), maxvar = 0;
    for (int i = 0; i < n; i++) {
        int c = (int)d->y[i];
        cnt[c]++;
        for (int j = 0; j < p; j++) { m->theta[(size_t)c * p + j] += d->X[(size_t)i * p + j]; mu[j] += d->X[(size_t)i * p + j]; }
    }
    for (int c = 0; c < K; c++)
        for (int j = 0; j < p; j++) m->theta[(size_t)c * p + j] /= cnt[c] > 0 ? cnt[c] : 1;
    for (int j = 0; j < p; j++) mu[j] /= n;
    for (int j = 0; j < p; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) { double e = d->X[(size_t)i * p + j] - mu[j]; s += e * e; }
        if (s / n > maxvar) maxvar = s / n;
    }
    for (int i = 0; i < n; i++) {
        int c = (int)d->y[i];
        for (int j = 0; j < p; j++) {
            double e = d->X[(size_t)i * p + j] - m->theta[(size_t)c * p + j];
            var[(size_t)c * p + j] += e * e;
        }
    }
    double eps = hp->v[0] * maxvar;
    if (!(eps > 0)) eps = 1e-300;
    for (int c = 0; c < K; c++) {
        double prior = cnt[c] / n, s = 0;
        for (int j = 0; j < p; j++) {
            double v = var[(size_t)c * p + j] / (cnt[c] > 0 ? cnt[c] : 1) + eps;
            m->neg_half_inv_var[(size_t)c * p + j] = -0.5 / v;
            s += log(2 * M_PI * v);
        }
        m->cst[c] = (prior > 0 ? log(prior) : -1e300) - 0.5 * s;
    }
    free(var); free(cnt); free(mu);
    return m;
}

static void nb_predict(const void *mp, const double *X, int n, double *out)
{
    const struct nb *m = mp;
    int K = m->K, p = m->p;
    for (int i = 0; i < n; i++) {
        const double *x = X + (size_t)i * p;
        double *o = out + (size_t)i * K, mx = -INFINITY, s = 0;
        for (int c = 0; c < K; c++) {
            double jll = 0;
            for (int j = 0; j < p; j++) {
                double e = x[j] - m->theta[(size_t)c * p + j];
                jll += e * e * m->neg_half_inv_var[(size_t)c * p + j];
            }
            o[c] = jll + m->cst[c];
            if (o[c] > mx) mx = o[c];
        }
        for (int c = 0; c < K; c++) { o[c] = exp(o[c] - mx); s += o[c]; }
        for (int c = 0; c < K; c++) o[c] /= s;
    }
}

static void nb_save(const void *mp, struct sbuf *b)
{
    const struct nb *m = mp;
    int dims[2] = {m->p, m->K};
    kv_ints(b, "nb.dims", dims, 2);
    kv_dbls(b, "nb.theta", m->theta, m->K * m->p);
    kv_dbls(b, "nb.neg_half_inv_var", m->neg_half_inv_var, m->K * m->p);
    kv_dbls(b, "nb.const", m->cst, m->K);
}

static void *nb_load(const struct kv *kv, char *err)
{
    int *dims;
    if (kv_get_ints(kv, "nb.dims", 2, &dims, NULL, err)) return NULL;
    struct nb *m = xcalloc(1, sizeof *m);
    m->p = dims[0]; m->K = dims[1];
    free(dims);
    if (m->p < 0 || m->K < 2 || kv_get_dbls(kv, "nb.theta", m->K * m->p, &m->theta, NULL, err) ||
        kv_get_dbls(kv, "nb.neg_half_inv_var", m->K * m->p, &m->neg_half_inv_var, NULL, err) ||
        kv_get_dbls(kv, "nb.const", m->K, &m->cst, NULL, err)) {
        if (m->p < 0 || m->K < 2) errf(err, "model file: bad gaussian_nb dimensions");
        nb_free(m);
        return NULL;
    }
    return m;
}

static void nb_onnx(const void *mp, struct onnx_graph *g, const char *in, const char *out)
{
    const struct nb *m = mp;
    int64_t kp[2] = {m->K, m->p}, kd[1] = {m->K}, one[1] = {1}, ax = 1, ax2 = 2;
    onnx_init_floats(g, "nb_theta", kp, 2, m->theta);
    onnx_init_floats(g, "nb_neg_half_inv_var", kp, 2, m->neg_half_inv_var);
    onnx_init_floats(g, "nb_const", kd, 1, m->cst);
    onnx_init_int64s(g, "nb_axis1", one, 1, &ax);
    onnx_init_int64s(g, "nb_axis2", one, 1, &ax2);
    onnx_op(g, "Unsqueeze", (const char *[]){in, "nb_axis1", NULL}, "nb_x3");             /* [N, 1, p] */
    onnx_op(g, "Sub", (const char *[]){"nb_x3", "nb_theta", NULL}, "nb_diff");            /* [N, K, p] */
    onnx_op(g, "Mul", (const char *[]){"nb_diff", "nb_diff", NULL}, "nb_sq");
    onnx_op(g, "Mul", (const char *[]){"nb_sq", "nb_neg_half_inv_var", NULL}, "nb_terms");
    struct onnx_node n;
    onnx_node_begin(&n, "ReduceSum", "", (const char *[]){"nb_terms", "nb_axis2", NULL}, (const char *[]){"nb_sum", NULL});
    onnx_attr_int(&n, "keepdims", 0);
    onnx_node_end(g, &n);
    onnx_op(g, "Add", (const char *[]){"nb_sum", "nb_const", NULL}, "nb_jll");
    onnx_apply_link(g, "nb_jll", out, LINK_SOFTMAX);
}

const struct algo algo_gaussian_nb = {
    "gaussian_nb", "cairn.naive_bayes.GaussianNB", 0, NB_PARAMS, 1,
    nb_fit, nb_predict, nb_save, nb_load, nb_onnx, nb_free, NULL,
};
