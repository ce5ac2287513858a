#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int argmax_row(const double *p, int k)
{
    int b = 0;
    for (int j = 1; j < k; j++) if (p[j] > p[b]) b = j;
    return b;
}

static void add(struct metric_set *m, const char *name, double v)
{
    if (m->n < MAX_METRICS) { m->name[m->n] = name; m->value[m->n++] = v; }
}

double metric_get(const struct metric_set *m, const char *name)
{
    for (int i = 0; i < m->n; i++) if (strcmp(m->name[i], name) == 0) return m->value[i];
    return NAN;
}

struct sv { double s; int pos; };
static int cmp_sv(const void *a, const void *b)
{
    const struct sv *x = a, *y = b;
    return x->s < y->s ? -1 : x->s > y->s;
}

double roc_auc_binary(const double *s, const int *pos, int n)
{
    struct sv *v = xmalloc((size_t)n * sizeof *v);
    long np = 0;
    for (int i = 0; i < n; i++) { v[i].s = s[i]; v[i].pos = pos[i] != 0; np += v[i].pos; }
    long nn = n - np;
    if (!np || !nn) { free(v); return NAN; }
    qsort(v, (size_t)n, sizeof *v, cmp_sv);
    /* Mann–Whitney U with average ranks for ties */
    double rank_sum = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double avg = 0.5 * (i + 1 + j);
        for (int t = i; t < j; t++) if (v[t].pos) rank_sum += avg;
        i = j;
    }
    free(v);
    return (rank_sum - (double)np * (np + 1) / 2) / ((double)np * nn);
}

void metrics_classification(const double *P, const double *y, int n, int K, struct metric_set *out)
{
    memset(out, 0, sizeof *out);
    double *tp = xcalloc((size_t)K, sizeof *tp), *pc = xcalloc((size_t)K, sizeof *pc), *sup = xcalloc((size_t)K, sizeof *sup);
    double correct = 0, ll = 0;
    for (int i = 0; i < n; i++) {
        int t = (int)y[i], p = argmax_row(P + (size_t)i * K, K);
        sup[t]++; pc[p]++;
        if (p == t) { correct++; tp[t]++; }
        double q = fmin(fmax(P[(size_t)i * K + t], 1e-15), 1 - 1e-15);
        ll -= log(q);
    }
    double prec = 0, rec = 0, f1 = 0;
    for (int c = 0; c < K; c++) {
        double pr = pc[c] ? tp[c] / pc[c] : 0, rc = sup[c] ? tp[c] / sup[c] : 0;
        double w = sup[c] / n;
        prec += w * pr; rec += w * rc;
        f1 += w * (pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0);
    }
    /* ROC AUC: binary on the positive class; multiclass one-vs-rest weighted by support */
    double *s = xmalloc((size_t)n * sizeof *s), auc = 0, wsum = 0;
    int *pos = xmalloc((size_t)n * sizeof *pos);
    for (int c = (K == 2 ? 1 : 0); c < K; c++) {
        for (int i = 0; i < n; i++) { s[i] = P[(size_t)i * K + c]; pos[i] = (int)y[i] == c; }
        double a = roc_auc_binary(s, pos, n);
        if (isnan(a)) continue;
        double w = K == 2 ? 1 : sup[c];
        auc += w * a; wsum += w;
    }
    add(out, "accuracy_score", correct / n);
    add(out, "precision_score", prec);
    add(out, "recall_score", rec);
    add(out, "f1_score", f1);
    add(out, "log_loss", ll / n);
    if (wsum > 0) add(out, "roc_auc", auc / wsum);
    free(tp); free(pc); free(sup); free(s); free(pos);
}

void metrics_regression(const double *pred, const double *y, int n, struct metric_set *out)
{
    memset(out, 0, sizeof *out);
    double mean = 0, sse = 0, sae = 0, sst = 0;
    for (int i = 0; i < n; i++) mean += y[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        double e = pred[i] - y[i];
        sse += e * e; sae += fabs(e); sst += (y[i] - mean) * (y[i] - mean);
    }
    add(out, "mean_squared_error", sse / n);
    add(out, "root_mean_squared_error", sqrt(sse / n));
    add(out, "mean_absolute_error", sae / n);
    add(out, "r2_score", sst > 0 ? 1 - sse / sst : (sse == 0 ? 1.0 : 0.0));
}
