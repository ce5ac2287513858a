#include "bins.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

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

/* Order-preserving map of a double's bits to an unsigned key (−0 sorts just below +0; they
 * compare equal as doubles and are merged below exactly as a comparison sort merges them). */
static unsigned long long dkey(double x)
{
    unsigned long long u;
    memcpy(&u, &x, sizeof u);
    return u >> 63 ? ~u : u | 0x8000000000000000ULL;
}

static double dkey_inv(unsigned long long k)
{
    unsigned long long u = k >> 63 ? k & 0x7fffffffffffffffULL : ~k;
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* LSD radix sort of (key, row) pairs, 8 bits a pass; passes where every key shares the byte are
 * skipped. Leaves the sorted pairs in *k / *r (which may swap with the scratch buffers). */
static void radix_sort(unsigned long long **k, unsigned **r, unsigned long long **k2, unsigned **r2, int n)
{
    size_t (*cnt)[256] = xcalloc(8, sizeof *cnt);
    const unsigned long long *kk = *k;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 8; d++) cnt[d][(kk[i] >> (8 * d)) & 255]++;
    for (int d = 0; d < 8; d++) {
        if (n && cnt[d][(kk[0] >> (8 * d)) & 255] == (size_t)n) continue;
        size_t pos[256], acc = 0;
        for (int v = 0; v < 256; v++) { pos[v] = acc; acc += cnt[d][v]; }
        const unsigned long long *ks = *k;
        const unsigned *rs = *r;
        unsigned long long *kd = *k2;
        unsigned *rd = *r2;
        for (int i = 0; i < n; i++) {
            size_t q = pos[(ks[i] >> (8 * d)) & 255]++;
            kd[q] = ks[i]; rd[q] = rs[i];
        }
        unsigned long long *tk = *k; *k = *k2; *k2 = tk;
        unsigned *tr = *r; *r = *r2; *r2 = tr;
        kk = *k;
    }
    free(cnt);
}

void bins_build(struct bins *b, const double *X, int n, int p, int max_bin)
{
    b->p = p;
    b->nthr = xcalloc((size_t)p, sizeof *b->nthr);
    b->thr = xcalloc((size_t)p, sizeof *b->thr);
    b->B = xmalloc((size_t)n * p);
    size_t nn = (size_t)(n ? n : 1);
    unsigned long long *key = xmalloc(nn * sizeof *key), *key2 = xmalloc(nn * sizeof *key2);
    unsigned *row = xmalloc(nn * sizeof *row), *row2 = xmalloc(nn * sizeof *row2);
    double *v = xmalloc(nn * sizeof *v);
    int *cnt = xmalloc(nn * sizeof *cnt), *start = xmalloc((nn + 1) * sizeof *start);
    for (int j = 0; j < p; j++) {
        for (int i = 0; i < n; i++) { key[i] = dkey(X[(size_t)i * p + j]); row[i] = (unsigned)i; }
        radix_sort(&key, &row, &key2, &row2, n);
        /* distinct values (as doubles compare), their counts and where their rows start */
        int nu = 0;
        for (int i = 0; i < n; i++) {
            double x = dkey_inv(key[i]);
            if (!nu || x != v[nu - 1]) { start[nu] = i; cnt[nu] = 0; v[nu++] = x; }
            cnt[nu - 1]++;
        }
        start[nu] = n;
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
        /* every row of a distinct value gets that value's bin; bins ascend with the values */
        for (int u = 0, lo = 0; u < nu; u++) {
            float xf = (float)v[u];
            int bin = lo;
            if (xf != xf) bin = bin_of(thr, nt, v[u]);    /* NaN: not ordered */
            else { while (lo < nt && !(xf <= thr[lo])) lo++; bin = lo; }
            for (int i = start[u]; i < start[u + 1]; i++) b->B[(size_t)row[i] * p + j] = (unsigned char)bin;
        }
    }
    free(key); free(key2); free(row); free(row2); free(v); free(cnt); free(start);
    b->off = xmalloc((size_t)(p ? p : 1) * sizeof *b->off);
    b->total = 0;
    for (int j = 0; j < p; j++) { b->off[j] = b->total; b->total += b->nthr[j] + 1; }
}

void bins_free(struct bins *b)
{
    for (int j = 0; j < b->p; j++) free(b->thr[j]);
    free(b->thr); free(b->nthr); free(b->B); free(b->off);
}

