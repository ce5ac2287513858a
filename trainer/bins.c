#include "bins.h"

#include <stdlib.h>

#include "util.h"

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bin_of(const float *thr, int nthr, double x)
{
    float xf = (float)x;
    int lo = 0, hi = nthr;  /* first threshold with xf <= thr */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (xf <= thr[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
}

void bins_build(struct bins *b, const double *X, int n, int p, int max_bin)
{
    b->p = p;
    b->nthr = xcalloc((size_t)p, sizeof *b->nthr);
    b->thr = xcalloc((size_t)p, sizeof *b->thr);
    b->B = xmalloc((size_t)n * p);
    double *v = xmalloc((size_t)n * sizeof *v);
    for (int j = 0; j < p; j++) {
        for (int i = 0; i < n; i++) v[i] = X[(size_t)i * p + j];
        qsort(v, (size_t)n, sizeof *v, cmp_dbl);
        int nu = 0;
        for (int i = 0; i < n; i++) if (!nu || v[i] != v[nu - 1]) v[nu++] = v[i];
        /* counts of each distinct value */
        int *cnt = xcalloc((size_t)(nu ? nu : 1), sizeof *cnt);
        for (int i = 0; i < n; i++) {
            double x = X[(size_t)i * p + j];
            int lo = 0, hi = nu - 1;
            while (lo < hi) { int mid = (lo + hi) / 2; if (v[mid] < x) lo = mid + 1; else hi = mid; }
            cnt[lo]++;
        }
        float *thr = xmalloc((size_t)(nu ? nu : 1) * sizeof *thr);
        int nt = 0;
        double per_bin = (double)n / max_bin, acc = 0;
        for (int u = 0; u + 1 < nu; u++) {
            acc += cnt[u];
            if (nu > max_bin && acc < per_bin * (nt + 1)) continue;
            float t = (float)(0.5 * (v[u] + v[u + 1]));
            if (nt && t <= thr[nt - 1]) continue;
            if (nt == max_bin - 1) break;
            thr[nt++] = t;
        }
        b->nthr[j] = nt;
        b->thr[j] = thr;
        for (int i = 0; i < n; i++) b->B[(size_t)i * p + j] = (unsigned char)bin_of(thr, nt, X[(size_t)i * p + j]);
        free(cnt);
    }
    free(v);
    b->off = xmalloc((size_t)(p ? p : 1) * sizeof *b->off);
    b->total = 0;
    for (int j = 0; j < p; j++) { b->off[j] = b->total; b->total += b->nthr[j] + 1; }
}

void bins_free(struct bins *b)
{
    for (int j = 0; j < b->p; j++) free(b->thr[j]);
    free(b->thr); free(b->nthr); free(b->B); free(b->off);
}

