/* Multi-layer perceptron as scikit-learn's MLPClassifier/MLPRegressor:
 * Glorot-uniform init, minibatch Adam, L2 penalty alpha/(2·batch), log-loss
 * (softmax, or one logistic unit for two classes) or squared error, stop
 * after n_iter_no_change epochs without a tol improvement of the training
 * loss (or of the validation score with early_stopping). Forward and
 * backward passes are dgemm calls on row-major minibatches. Regression
 * targets are standardised while training and the scale is folded back into
 * the last layer, so the model (and its ONNX graph) predicts raw values. */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "onnx.h"
#include "vmath.h"

enum { MP_HIDDEN, MP_ACT, MP_ALPHA, MP_BATCH, MP_LR, MP_MAXITER, MP_TOL, MP_NOCHANGE, MP_EARLY, MP_VALFRAC,
       MP_B1, MP_B2, MP_EPS, MP_SHUFFLE, MP_COUNT };
static const struct param_spec MLP_PARAMS[] = {
    {"hidden_layer_sizes", P_SIZES, 100, 0, 0, NULL, NULL},
    {"activation", P_CHOICE, 0, 0, 0, "relu|tanh|logistic|identity", NULL},
    {"alpha", P_DOUBLE, 1e-4, 0, 1e6, NULL, NULL},
    {"batch_size", P_INT, 0, 0, 1e9, NULL, NULL},       /* 0: min(200, n) */
    {"learning_rate_init", P_DOUBLE, 1e-3, 1e-9, 10, NULL, NULL},
    {"max_iter", P_INT, 200, 1, 1e6, NULL, NULL},
    {"tol", P_DOUBLE, 1e-4, 0, 1e6, NULL, NULL},
    {"n_iter_no_change", P_INT, 10, 1, 1e6, NULL, NULL},
    {"early_stopping", P_BOOL, 0, 0, 1, NULL, NULL},
    {"validation_fraction", P_DOUBLE, 0.1, 1e-3, 0.9, NULL, NULL},
    {"beta_1", P_DOUBLE, 0.9, 0, 0.999999, NULL, NULL},
    {"beta_2", P_DOUBLE, 0.999, 0, 0.999999999, NULL, NULL},
    {"epsilon", P_DOUBLE, 1e-8, 1e-300, 1, NULL, NULL},
    {"shuffle", P_BOOL, 1, 0, 1, NULL, NULL},
};
enum act { ACT_RELU, ACT_TANH, ACT_LOGISTIC, ACT_IDENTITY };

#define MAX_LAYERS 4
struct mlp {
    int p, nclasses, nlayers, act;
    int size[MAX_LAYERS + 1];      /* size[0] = p, size[nlayers] = outputs */
    enum link link;
    double *W[MAX_LAYERS], *b[MAX_LAYERS];
};

static void mlp_free(void *mp)
{
    struct mlp *m = mp;
    if (!m) return;
    for (int l = 0; l < m->nlayers; l++) { free(m->W[l]); free(m->b[l]); }
    free(m);
}

static void activate(int act, double *z, size_t n)
{
    switch (act) {
    case ACT_RELU: for (size_t i = 0; i < n; i++) z[i] = z[i] > 0 ? z[i] : 0; break;
    case ACT_TANH: for (size_t i = 0; i < n; i++) z[i] = tanh(z[i]); break;
    case ACT_LOGISTIC: for (size_t i = 0; i < n; i++) z[i] = 1.0 / (1.0 + exp(-z[i])); break;
    default: break;
    }
}

/* float32 training passes (the weights, Adam and the loss stay double) */
static void activate_f(int act, float *z, size_t n)
{
    switch (act) {
    case ACT_RELU: {
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {        /* z > 0 ? z : +0, as a mask */
            v4f x = *(v4fu *)(z + i);
            *(v4fu *)(z + i) = (v4f)((v4si)x & (v4si)(x > (v4f){0, 0, 0, 0}));
        }
        for (; i < n; i++) z[i] = z[i] > 0 ? z[i] : 0;
        break;
    }
    case ACT_TANH: for (size_t i = 0; i < n; i++) z[i] = (float)tanh(z[i]); break;
    case ACT_LOGISTIC: for (size_t i = 0; i < n; i++) z[i] = (float)(1.0 / (1.0 + exp(-(double)z[i]))); break;
    default: break;
    }
}

static void activate_grad_f(int act, const float *a, float *delta, size_t n)
{
    switch (act) {
    case ACT_RELU: {
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {        /* a ≤ 0 ? +0 : delta, as a mask */
            v4f x = *(const v4fu *)(a + i);
            *(v4fu *)(delta + i) = (v4f)((v4si)*(v4fu *)(delta + i) & ~(v4si)(x <= (v4f){0, 0, 0, 0}));
        }
        for (; i < n; i++) delta[i] = a[i] <= 0 ? 0.0f : delta[i];
        break;
    }
    case ACT_TANH: for (size_t i = 0; i < n; i++) delta[i] *= 1 - a[i] * a[i]; break;
    case ACT_LOGISTIC: for (size_t i = 0; i < n; i++) delta[i] *= a[i] * (1 - a[i]); break;
    default: break;
    }
}

/* gb[j] = Σ_i D[i][j] in double, each column summed in row order (16 columns at a time) */
ALWAYS_INLINE void colsum_f_body(const float *D, int n, int out, double *gb)
{
    int j = 0;
    for (; j + 16 <= out; j += 16) {
        v4d a0 = V4SET1(0.0), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i++) {
            const float *r = D + (size_t)i * out + j;
            a0 += V4LDF(r); a1 += V4LDF(r + 4); a2 += V4LDF(r + 8); a3 += V4LDF(r + 12);
        }
        V4ST(gb + j, a0); V4ST(gb + j + 4, a1); V4ST(gb + j + 8, a2); V4ST(gb + j + 12, a3);
    }
    for (; j + 4 <= out; j += 4) {
        v4d a0 = V4SET1(0.0);
        for (int i = 0; i < n; i++) a0 += V4LDF(D + (size_t)i * out + j);
        V4ST(gb + j, a0);
    }
    for (; j < out; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += D[(size_t)i * out + j];
        gb[j] = s;
    }
}
static void colsum_f_generic(const float *D, int n, int out, double *gb) { colsum_f_body(D, n, out, gb); }
__attribute__((target("avx2"))) static void colsum_f_avx2(const float *D, int n, int out, double *gb)
{
    colsum_f_body(D, n, out, gb);
}
static void colsum_f(const float *D, int n, int out, double *gb)
{
    if (cpu_avx2()) colsum_f_avx2(D, n, out, gb); else colsum_f_generic(D, n, out, gb);
}

/* Af[l+1] = act(Af[l]·Wf[l] + bf[l]) in float32; the last layer's raw scores stay in Af[nlayers]. */
static void forward_f(const struct mlp *m, float *const *Wf, float *const *bf, float **Af, int n)
{
    for (int l = 0; l < m->nlayers; l++) {
        int in = m->size[l], out = m->size[l + 1];
        float *Z = Af[l + 1];
        for (int i = 0; i < n; i++) memcpy(Z + (size_t)i * out, bf[l], (size_t)out * sizeof *Z);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, Af[l], in, Wf[l], out, 1.0f, Z, out);
        if (l + 1 < m->nlayers) activate_f(m->act, Z, (size_t)n * out);
    }
}

/* A[l+1] = act(A[l]·W[l] + b[l]); the last layer's raw scores stay in A[nlayers]. */
static void forward(const struct mlp *m, double **A, int n)
{
    for (int l = 0; l < m->nlayers; l++) {
        int in = m->size[l], out = m->size[l + 1];
        double *Z = A[l + 1];
        for (int i = 0; i < n; i++) memcpy(Z + (size_t)i * out, m->b[l], (size_t)out * sizeof *Z);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0, A[l], in, m->W[l], out, 1.0, Z, out);
        if (l + 1 < m->nlayers) activate(m->act, Z, (size_t)n * out);
    }
}

static double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

static void mlp_predict(const void *mp, const double *X, int n, double *out)
{
    const struct mlp *m = mp;
    enum { BLOCK = 1024 };
    double *A[MAX_LAYERS + 1];
    for (int l = 1; l <= m->nlayers; l++) A[l] = xmalloc((size_t)BLOCK * m->size[l] * sizeof *A[l]);
    int K = m->size[m->nlayers];
    for (int s = 0; s < n; s += BLOCK) {
        int bn = n - s < BLOCK ? n - s : BLOCK;
        A[0] = (double *)X + (size_t)s * m->p;
        forward(m, A, bn);
        /* the link: identity for regression, softmax or logistic for classes */
        double *Z = A[m->nlayers];
        if (m->link == LINK_IDENTITY) memcpy(out + (size_t)s * K, Z, (size_t)bn * K * sizeof *Z);
        else if (m->link == LINK_SIGMOID2)
            for (int i = 0; i < bn; i++) {
                double *o = out + (size_t)(s + i) * 2;
                o[1] = sigmoid(Z[i]);
                o[0] = sigmoid(-Z[i]);
            }
        else
            for (int i = 0; i < bn; i++) {
                const double *z = Z + (size_t)i * K;
                double *o = out + (size_t)(s + i) * K, mx = z[0], sum = 0;
                for (int c = 1; c < K; c++) if (z[c] > mx) mx = z[c];
                for (int c = 0; c < K; c++) { o[c] = exp(z[c] - mx); sum += o[c]; }
                for (int c = 0; c < K; c++) o[c] /= sum;
            }
    }
    for (int l = 1; l <= m->nlayers; l++) free(A[l]);
}

/* Output activation in place and the loss summed over the batch; Z becomes
 * the output-layer delta (out − y). */
static double output_delta(const struct mlp *m, double *Z, const double *y, int n, double ymu, double ysd,
                           double *scratch)
{
    int K = m->size[m->nlayers];
    double L = 0;
    if (m->link == LINK_SOFTMAX) {
        /* shift every row by its max, one exp over the whole batch, then normalise;
         * −log p_t = log Σ − (z_t − max), capped at −log(1e-300) */
        double *s = scratch, *zt = scratch + n;
        for (int i = 0; i < n; i++) {
            double *z = Z + (size_t)i * K, mx = z[0];
            for (int c = 1; c < K; c++) if (z[c] > mx) mx = z[c];
            for (int c = 0; c < K; c++) z[c] -= mx;
            zt[i] = z[(int)y[i]];
        }
        vm_exp_log(Z, (size_t)n * K, NULL, 0);
        for (int i = 0; i < n; i++) {
            double *z = Z + (size_t)i * K, t = 0;
            for (int c = 0; c < K; c++) t += z[c];
            s[i] = t;
            double inv = 1.0 / t;
            for (int c = 0; c < K; c++) z[c] *= inv;
            z[(int)y[i]] -= 1;
        }
        vm_exp_log(NULL, 0, s, (size_t)n);
        for (int i = 0; i < n; i++) L += fmin(s[i] - zt[i], 690.7755278982137);
        return L;
    }
    for (int i = 0; i < n; i++) {
        double *z = Z + (size_t)i * K;
        if (m->link == LINK_IDENTITY) {
            double t = (y[i] - ymu) / ysd, e = z[0] - t;
            L += 0.5 * e * e;
            z[0] = e;
        } else {
            double q = sigmoid(z[0]), t = y[i];
            L -= t * log(fmax(q, 1e-300)) + (1 - t) * log(fmax(1 - q, 1e-300));
            z[0] = q - t;
        }
    }
    return L;
}

/* Adam: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; w −= lr_t·m / (√v + ε). The same IEEE
 * operations in every lane and path (SSE2, AVX2, scalar tail), so results don't depend on the CPU. */
struct adam_coef { double b1, c1, b2, c2, lr_t, eps; };

static void adam_sse2(double *w, const double *g, double *mm, double *vv, size_t n, const struct adam_coef *a)
{
    size_t i = 0;
    const __m128d b1 = _mm_set1_pd(a->b1), c1 = _mm_set1_pd(a->c1), b2 = _mm_set1_pd(a->b2),
                  c2 = _mm_set1_pd(a->c2), lr = _mm_set1_pd(a->lr_t), eps = _mm_set1_pd(a->eps);
    for (; i + 2 <= n; i += 2) {
        __m128d gi = _mm_loadu_pd(g + i);
        __m128d mi = _mm_add_pd(_mm_mul_pd(b1, _mm_loadu_pd(mm + i)), _mm_mul_pd(c1, gi));
        __m128d vi = _mm_add_pd(_mm_mul_pd(b2, _mm_loadu_pd(vv + i)), _mm_mul_pd(_mm_mul_pd(c2, gi), gi));
        _mm_storeu_pd(mm + i, mi);
        _mm_storeu_pd(vv + i, vi);
        __m128d st = _mm_div_pd(_mm_mul_pd(lr, mi), _mm_add_pd(_mm_sqrt_pd(vi), eps));
        _mm_storeu_pd(w + i, _mm_sub_pd(_mm_loadu_pd(w + i), st));
    }
    for (; i < n; i++) {
        mm[i] = a->b1 * mm[i] + a->c1 * g[i];
        vv[i] = a->b2 * vv[i] + a->c2 * g[i] * g[i];
        w[i] -= a->lr_t * mm[i] / (sqrt(vv[i]) + a->eps);
    }
}

__attribute__((target("avx2"))) static void adam_avx2(double *w, const double *g, double *mm, double *vv, size_t n,
                                                      const struct adam_coef *a)
{
    size_t i = 0;
    const __m256d b1 = _mm256_set1_pd(a->b1), c1 = _mm256_set1_pd(a->c1), b2 = _mm256_set1_pd(a->b2),
                  c2 = _mm256_set1_pd(a->c2), lr = _mm256_set1_pd(a->lr_t), eps = _mm256_set1_pd(a->eps);
    for (; i + 4 <= n; i += 4) {
        __m256d gi = _mm256_loadu_pd(g + i);
        __m256d mi = _mm256_add_pd(_mm256_mul_pd(b1, _mm256_loadu_pd(mm + i)), _mm256_mul_pd(c1, gi));
        __m256d vi = _mm256_add_pd(_mm256_mul_pd(b2, _mm256_loadu_pd(vv + i)), _mm256_mul_pd(_mm256_mul_pd(c2, gi), gi));
        _mm256_storeu_pd(mm + i, mi);
        _mm256_storeu_pd(vv + i, vi);
        __m256d st = _mm256_div_pd(_mm256_mul_pd(lr, mi), _mm256_add_pd(_mm256_sqrt_pd(vi), eps));
        _mm256_storeu_pd(w + i, _mm256_sub_pd(_mm256_loadu_pd(w + i), st));
    }
    adam_sse2(w + i, g + i, mm + i, vv + i, n - i, a);
}

static void adam(double *w, const double *g, double *mm, double *vv, size_t n, const struct adam_coef *a)
{
    if (cpu_avx2()) adam_avx2(w, g, mm, vv, n, a); else adam_sse2(w, g, mm, vv, n, a);
}

static double penalty(const struct mlp *m)
{
    double s = 0;
    for (int l = 0; l < m->nlayers; l++) {
        size_t cnt = (size_t)m->size[l] * m->size[l + 1], i = 0;
        const double *w = m->W[l];
        double a[4] = {0, 0, 0, 0};
        for (; i + 4 <= cnt; i += 4)
            for (int t = 0; t < 4; t++) a[t] += w[i + t] * w[i + t];
        for (; i < cnt; i++) a[0] += w[i] * w[i];
        s += (a[0] + a[1]) + (a[2] + a[3]);
    }
    return s;
}

static double accuracy_or_r2(const struct mlp *m, const double *X, const double *y, int n)
{
    int K = m->nclasses, nout = K ? K : 1;
    double *P = xmalloc((size_t)n * nout * sizeof *P), score = 0;
    mlp_predict(m, X, n, P);
    if (K) {
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < K; c++) if (P[(size_t)i * K + c] > P[(size_t)i * K + best]) best = c;
            score += best == (int)y[i];
        }
        score /= n;
    } else {
        double mu = 0, sse = 0, sst = 0;
        for (int i = 0; i < n; i++) mu += y[i];
        mu /= n;
        for (int i = 0; i < n; i++) { sse += (P[i] - y[i]) * (P[i] - y[i]); sst += (y[i] - mu) * (y[i] - mu); }
        score = sst > 0 ? 1 - sse / sst : 0;
    }
    free(P);
    return score;
}

static double mean_loss(const struct mlp *m, const double *X, const double *y, int n)
{
    int K = m->nclasses, nout = K ? K : 1;
    double *P = xmalloc((size_t)n * nout * sizeof *P), L = 0;
    mlp_predict(m, X, n, P);
    for (int i = 0; i < n; i++)
        L += K ? -log(fmin(fmax(P[(size_t)i * K + (int)y[i]], 1e-15), 1 - 1e-15)) : (P[i] - y[i]) * (P[i] - y[i]);
    free(P);
    return L / n;
}

/* Fold the target scaling into the last layer: raw = z·sd + mu. */
static void fold_scale(struct mlp *m, double mu, double sd)
{
    int l = m->nlayers - 1;
    for (int i = 0; i < m->size[l]; i++) m->W[l][i] *= sd;
    m->b[l][0] = m->b[l][0] * sd + mu;
}

static void unfold_scale(struct mlp *m, double mu, double sd)
{
    int l = m->nlayers - 1;
    for (int i = 0; i < m->size[l]; i++) m->W[l][i] /= sd;
    m->b[l][0] = (m->b[l][0] - mu) / sd;
}

static struct mlp *mlp_copy(const struct mlp *src)
{
    struct mlp *m = xmalloc(sizeof *m);
    *m = *src;
    for (int l = 0; l < m->nlayers; l++) {
        size_t wn = (size_t)m->size[l] * m->size[l + 1];
        m->W[l] = xmalloc(wn * sizeof *m->W[l]);
        memcpy(m->W[l], src->W[l], wn * sizeof *m->W[l]);
        m->b[l] = xmalloc((size_t)m->size[l + 1] * sizeof *m->b[l]);
        memcpy(m->b[l], src->b[l], (size_t)m->size[l + 1] * sizeof *m->b[l]);
    }
    return m;
}

static void *mlp_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    (void)err;
    const double *v = hp->v;
    int K = d->nclasses, hidden[3], nh = hparams_sizes(v[MP_HIDDEN], hidden);
    struct mlp *m = xcalloc(1, sizeof *m);
    m->p = d->p; m->nclasses = K; m->act = (int)v[MP_ACT]; m->nlayers = nh + 1;
    m->size[0] = d->p;
    for (int l = 0; l < nh; l++) m->size[l + 1] = hidden[l];
    m->size[nh + 1] = K > 2 ? K : 1;
    m->link = !K ? LINK_IDENTITY : K == 2 ? LINK_SIGMOID2 : LINK_SOFTMAX;
    struct rng rng;
    rng_seed(&rng, d->seed);
    for (int l = 0; l < m->nlayers; l++) {
        int in = m->size[l], out = m->size[l + 1];
        double bound = sqrt((m->act == ACT_LOGISTIC ? 2.0 : 6.0) / (in + out));
        m->W[l] = xmalloc((size_t)in * out * sizeof *m->W[l]);
        m->b[l] = xmalloc((size_t)out * sizeof *m->b[l]);
        for (size_t i = 0; i < (size_t)in * out; i++) m->W[l][i] = (2 * rng_uniform(&rng) - 1) * bound;
        for (int i = 0; i < out; i++) m->b[l][i] = (2 * rng_uniform(&rng) - 1) * bound;
    }
    /* rows: a validation share held out for early_stopping */
    int n = d->n, *order = xmalloc((size_t)n * sizeof *order), nes = 0;
    for (int i = 0; i < n; i++) order[i] = i;
    if (v[MP_EARLY] != 0 && n >= 10) {
        rng_shuffle(&rng, order, n);
        nes = (int)fmax(1, floor(n * v[MP_VALFRAC]));
    }
    int ntr = n - nes, *tr = order + nes;
    double ymu = 0, ysd = 1;
    if (!K) {
        double s2 = 0;
        for (int i = 0; i < ntr; i++) ymu += d->y[tr[i]];
        ymu /= ntr;
        for (int i = 0; i < ntr; i++) s2 += (d->y[tr[i]] - ymu) * (d->y[tr[i]] - ymu);
        ysd = sqrt(s2 / ntr);
        if (!(ysd > 0)) ysd = 1;
    }
    double *Xes = NULL, *yes = NULL;
    if (nes) {
        Xes = xmalloc((size_t)nes * d->p * sizeof *Xes);
        yes = xmalloc((size_t)nes * sizeof *yes);
        for (int i = 0; i < nes; i++) {
            memcpy(Xes + (size_t)i * d->p, d->X + (size_t)order[i] * d->p, (size_t)d->p * sizeof *Xes);
            yes[i] = d->y[order[i]];
        }
    }
    int B = (int)v[MP_BATCH];
    if (B <= 0) B = ntr < 200 ? ntr : 200;
    if (B > ntr) B = ntr;
    /* buffers: float32 activations and deltas per layer, float32 weights, gradients, Adam moments */
    float *Af[MAX_LAYERS + 1], *Df[MAX_LAYERS + 1], *Wf[MAX_LAYERS], *bf[MAX_LAYERS], *Gf;
    double *gW[MAX_LAYERS], *gb[MAX_LAYERS], *mW[MAX_LAYERS], *vW[MAX_LAYERS], *mb[MAX_LAYERS], *vb[MAX_LAYERS];
    size_t gmax = 0;
    for (int l = 0; l <= m->nlayers; l++) {
        Af[l] = xmalloc((size_t)B * m->size[l] * sizeof *Af[l]);
        Df[l] = l ? xmalloc((size_t)B * m->size[l] * sizeof *Df[l]) : NULL;
    }
    for (int l = 0; l < m->nlayers; l++) {
        size_t wn = (size_t)m->size[l] * m->size[l + 1], bn = (size_t)m->size[l + 1];
        if (wn > gmax) gmax = wn;
        Wf[l] = xmalloc(wn * sizeof *Wf[l]); bf[l] = xmalloc(bn * sizeof *bf[l]);
        gW[l] = xmalloc(wn * sizeof *gW[l]); gb[l] = xmalloc(bn * sizeof *gb[l]);
        mW[l] = xcalloc(wn, sizeof *mW[l]); vW[l] = xcalloc(wn, sizeof *vW[l]);
        mb[l] = xcalloc(bn, sizeof *mb[l]); vb[l] = xcalloc(bn, sizeof *vb[l]);
    }
    Gf = xmalloc(gmax * sizeof *Gf);
    double *Zo = xmalloc((size_t)B * m->size[m->nlayers] * sizeof *Zo), *Zs = xmalloc((size_t)2 * B * sizeof *Zs);
    float *Xf = xmalloc((size_t)n * d->p * sizeof *Xf + 1);
    for (size_t t = 0; t < (size_t)n * d->p; t++) Xf[t] = (float)d->X[t];
    double *yb = xmalloc((size_t)B * sizeof *yb);
    double lr = v[MP_LR], b1 = v[MP_B1], b2 = v[MP_B2], eps = v[MP_EPS], alpha = v[MP_ALPHA], tol = v[MP_TOL];
    double best_loss = INFINITY, best_score = -INFINITY;
    int no_improve = 0, max_iter = (int)v[MP_MAXITER], n_no_change = (int)v[MP_NOCHANGE];
    long step = 0;
    struct mlp *best = NULL;
    for (int epoch = 0; epoch < max_iter; epoch++) {
        if (v[MP_SHUFFLE] != 0) rng_shuffle(&rng, tr, ntr);
        double epoch_loss = 0;
        for (int s = 0; s < ntr; s += B) {
            int bn = ntr - s < B ? ntr - s : B;
            for (int i = 0; i < bn; i++) {
                memcpy(Af[0] + (size_t)i * d->p, Xf + (size_t)tr[s + i] * d->p, (size_t)d->p * sizeof *Af[0]);
                yb[i] = d->y[tr[s + i]];
            }
            int L = m->nlayers;
            for (int l = 0; l < L; l++) {
                size_t wn = (size_t)m->size[l] * m->size[l + 1];
                for (size_t t = 0; t < wn; t++) Wf[l][t] = (float)m->W[l][t];
                for (int t = 0; t < m->size[l + 1]; t++) bf[l][t] = (float)m->b[l][t];
            }
            forward_f(m, Wf, bf, Af, bn);
            size_t nout = (size_t)bn * m->size[L];
            for (size_t t = 0; t < nout; t++) Zo[t] = Af[L][t];
            double loss = output_delta(m, Zo, yb, bn, ymu, ysd, Zs);
            /* Zo now holds the output delta */
            for (size_t t = 0; t < nout; t++) Df[L][t] = (float)Zo[t];
            for (int l = L - 1; l >= 0; l--) {
                int in = m->size[l], out = m->size[l + 1];
                /* gW = (A[l]ᵀ·D[l+1] + alpha·W) / bn; gb = mean(D[l+1]) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, bn, 1.0f, Af[l], in, Df[l + 1], out,
                            0.0f, Gf, out);
                double *W = m->W[l], *g = gW[l], ab = alpha / bn, ib = 1.0 / bn;
                for (size_t t = 0; t < (size_t)in * out; t++) g[t] = ib * Gf[t] + ab * W[t];
                if (l == L - 1) {
                    for (int j = 0; j < out; j++) gb[l][j] = 0;
                    for (int i = 0; i < bn; i++)
                        for (int j = 0; j < out; j++) gb[l][j] += Zo[(size_t)i * out + j];
                } else colsum_f(Df[l + 1], bn, out, gb[l]);
                for (int j = 0; j < out; j++) gb[l][j] /= bn;
                if (l > 0) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bn, in, out, 1.0f, Df[l + 1], out, Wf[l], out,
                                0.0f, Df[l], in);
                    activate_grad_f(m->act, Af[l], Df[l], (size_t)bn * in);
                }
            }
            loss += 0.5 * alpha * penalty(m);
            epoch_loss += loss;     /* Σ per-row loss + the penalty once per batch, as sklearn's loss·batch */
            step++;
            struct adam_coef ac = {b1, 1 - b1, b2, 1 - b2, lr * sqrt(1 - pow(b2, (double)step)) / (1 - pow(b1, (double)step)),
                                   eps};
            for (int l = 0; l < L; l++) {
                adam(m->W[l], gW[l], mW[l], vW[l], (size_t)m->size[l] * m->size[l + 1], &ac);
                adam(m->b[l], gb[l], mb[l], vb[l], (size_t)m->size[l + 1], &ac);
            }
        }
        epoch_loss /= ntr;
        if (d->log_step) {
            d->log_step(d->log_ctx, "train_loss", epoch_loss, epoch + 1);
            if (d->nv) {
                if (!K) fold_scale(m, ymu, ysd);
                d->log_step(d->log_ctx, "val_loss", mean_loss(m, d->Xv, d->yv, d->nv), epoch + 1);
                if (!K) unfold_scale(m, ymu, ysd);
            }
        }
        /* scikit-learn's _update_no_improvement_count */
        if (nes) {
            if (!K) fold_scale(m, ymu, ysd);
            double score = accuracy_or_r2(m, Xes, yes, nes);
            if (score < best_score + tol) no_improve++; else no_improve = 0;
            if (score > best_score) {
                best_score = score;
                mlp_free(best);
                best = mlp_copy(m);
            }
            if (!K) unfold_scale(m, ymu, ysd);
        } else {
            if (epoch_loss > best_loss - tol) no_improve++; else no_improve = 0;
            if (epoch_loss < best_loss) best_loss = epoch_loss;
        }
        if (no_improve > n_no_change) break;
    }
    if (best) {            /* early stopping keeps the best validation weights */
        mlp_free(m);
        m = best;
    } else if (!K) fold_scale(m, ymu, ysd);
    for (int l = 0; l <= m->nlayers; l++) { free(Af[l]); free(Df[l]); }
    free(Gf); free(Zo); free(Zs); free(Xf);
    for (int l = 0; l < m->nlayers; l++) { free(Wf[l]); free(bf[l]); free(gW[l]); free(gb[l]); free(mW[l]); free(vW[l]); free(mb[l]); free(vb[l]); }
    free(yb); free(order); free(Xes); free(yes);
    return m;
}

static void mlp_save(const void *mp, struct sbuf *b)
{
    const struct mlp *m = mp;
    int dims[4 + MAX_LAYERS + 1] = {m->p, m->nclasses, m->nlayers, m->act};
    for (int l = 0; l <= m->nlayers; l++) dims[4 + l] = m->size[l];
    kv_ints(b, "mlp.dims", dims, 5 + m->nlayers);
    for (int l = 0; l < m->nlayers; l++) {
        char key[32];
        snprintf(key, sizeof key, "mlp.W%d", l);
        kv_dbls(b, key, m->W[l], m->size[l] * m->size[l + 1]);
        snprintf(key, sizeof key, "mlp.b%d", l);
        kv_dbls(b, key, m->b[l], m->size[l + 1]);
    }
}

static void *mlp_load(const struct kv *kv, char *err)
{
    int *dims, nd;
    if (kv_get_ints(kv, "mlp.dims", -1, &dims, &nd, err)) return NULL;
    struct mlp *m = xcalloc(1, sizeof *m);
    if (nd < 6 || dims[2] < 1 || dims[2] > MAX_LAYERS || nd != 5 + dims[2]) {
        free(dims); free(m);
        errf(err, "model file: bad mlp dimensions");
        return NULL;
    }
    m->p = dims[0]; m->nclasses = dims[1]; m->nlayers = dims[2]; m->act = dims[3];
    for (int l = 0; l <= m->nlayers; l++) m->size[l] = dims[4 + l];
    free(dims);
    m->link = !m->nclasses ? LINK_IDENTITY : m->nclasses == 2 ? LINK_SIGMOID2 : LINK_SOFTMAX;
    for (int l = 0; l < m->nlayers; l++) {
        char key[32];
        snprintf(key, sizeof key, "mlp.W%d", l);
        if (m->size[l] < 1 || m->size[l + 1] < 1 ||
            kv_get_dbls(kv, key, m->size[l] * m->size[l + 1], &m->W[l], NULL, err)) {
            if (m->size[l] < 1 || m->size[l + 1] < 1) errf(err, "model file: bad mlp layer size");
            mlp_free(m);
            return NULL;
        }
        snprintf(key, sizeof key, "mlp.b%d", l);
        if (kv_get_dbls(kv, key, m->size[l + 1], &m->b[l], NULL, err)) { mlp_free(m); return NULL; }
    }
    return m;
}

static void mlp_onnx(const void *mp, struct onnx_graph *g, const char *in, const char *out)
{
    static const char *const ops[] = {"Relu", "Tanh", "Sigmoid", "Identity"};
    const struct mlp *m = mp;
    char cur[64], next[64];
    snprintf(cur, sizeof cur, "%s", in);
    for (int l = 0; l < m->nlayers; l++) {
        int last = l + 1 == m->nlayers;
        char z[64];
        snprintf(z, sizeof z, "%s", last && m->link == LINK_IDENTITY ? out : onnx_tmp(g, "layer"));
        linear_to_onnx(g, cur, z, m->W[l], m->b[l], m->size[l], m->size[l + 1], LINK_IDENTITY);
        if (last) {
            onnx_apply_link(g, z, out, m->link);
            break;
        }
        snprintf(next, sizeof next, "%s", onnx_tmp(g, "hidden"));
        onnx_op(g, ops[m->act], (const char *[]){z, NULL}, next);
        snprintf(cur, sizeof cur, "%s", next);
    }
}

const struct algo algo_mlp = {
    "mlp", "cairn.neural_network.MLP", 1, MLP_PARAMS, MP_COUNT,
    mlp_fit, mlp_predict, mlp_save, mlp_load, mlp_onnx, mlp_free, NULL,
};
