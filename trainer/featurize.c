#include "featurize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES_AUTO 20

struct count { const char *s; int n; };

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_count(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    if (x->n != y->n) return y->n - x->n;
    return strcmp(x->s, y->s);
}

/* Distinct non-missing values of a column over rows, with counts, most frequent first. */
static struct count *distinct(const struct csv *c, int col, const int *rows, int nrows, int *nd)
{
    char **v = xmalloc((size_t)(nrows ? nrows : 1) * sizeof *v);
    int n = 0;
    for (int i = 0; i < nrows; i++) {
        const char *s = csv_cell(c, rows[i], col);
        if (!csv_is_missing(s)) v[n++] = (char *)s;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    struct count *cnt = xmalloc((size_t)(n ? n : 1) * sizeof *cnt);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k && strcmp(cnt[k - 1].s, v[i]) == 0) cnt[k - 1].n++;
        else { cnt[k].s = v[i]; cnt[k].n = 1; k++; }
    }
    free(v);
    qsort(cnt, (size_t)k, sizeof *cnt, cmp_count);
    *nd = k;
    return cnt;
}

static int is_int_value(double v) { return v == floor(v) && fabs(v) < 1e15; }

struct numlabel { double v; const char *s; };
static int cmp_numlabel(const void *a, const void *b)
{
    const struct numlabel *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

int feat_target_fit(struct featurizer *f, const struct csv *c, const char *target, int task,
                    const int *rows, int nrows, char *err)
{
    int tcol = csv_column(c, target);
    if (tcol < 0) return errf(err, "target column \"%s\" is not in the data", target);
    f->target = xstrdup(target);
    int numeric = 1, integral = 1;
    const char *bad = NULL;
    for (int i = 0; i < nrows; i++) {
        double v;
        const char *s = csv_cell(c, rows[i], tcol);
        if (parse_double(s, &v) || !isfinite(v)) { numeric = 0; if (!bad) bad = s; }
        else if (!is_int_value(v)) integral = 0;
    }
    int nd;
    struct count *cnt = distinct(c, tcol, rows, nrows, &nd);
    if (task == TASK_AUTO)
        task = numeric && !(integral && nd <= MAX_CLASSES_AUTO) ? TASK_REGRESSION : TASK_CLASSIFICATION;
    f->task = task;
    int result = 0;
    if (task == TASK_REGRESSION) {
        if (!numeric) result = errf(err, "target column \"%s\" is not numeric (value \"%s\"); regression needs numbers", target, bad);
    } else if (nd < 2) {
        result = errf(err, "target column \"%s\" has %d distinct value%s; classification needs at least 2",
                      target, nd, nd == 1 ? "" : "s");
    } else if (nd > 1000) {
        result = errf(err, "target column \"%s\" has %d classes (more than 1000); use --task regression", target, nd);
    } else {
        f->nclasses = nd;
        f->classes = xmalloc((size_t)nd * sizeof *f->classes);
        f->classes_int = numeric && integral;
        if (numeric) {
            /* numeric labels sort by value: "2" before "10" */
            struct numlabel *nl = xmalloc((size_t)nd * sizeof *nl);
            for (int k = 0; k < nd; k++) { parse_double(cnt[k].s, &nl[k].v); nl[k].s = cnt[k].s; }
            qsort(nl, (size_t)nd, sizeof *nl, cmp_numlabel);
            for (int k = 0; k < nd; k++) f->classes[k] = xstrdup(nl[k].s);
            free(nl);
        } else {
            for (int k = 0; k < nd; k++) f->classes[k] = xstrdup(cnt[k].s);
            qsort(f->classes, (size_t)nd, sizeof *f->classes, cmp_str);
        }
    }
    free(cnt);
    return result;
}

static void add_dropped(struct featurizer *f, const char *name, const char *why)
{
    struct sbuf b;
    sb_init(&b);
    sb_printf(&b, "%s: %s", name, why);
    f->dropped = xrealloc(f->dropped, (size_t)(f->ndropped + 1) * sizeof *f->dropped);
    f->dropped[f->ndropped++] = b.data;
}

int feat_fit(struct featurizer *f, const struct csv *c, const int *rows, int nrows, int scale, char *err)
{
    int tcol = csv_column(c, f->target);
    f->scaled = scale;
    f->raw_names = xmalloc((size_t)c->ncols * sizeof *f->raw_names);
    f->raw_kinds = xmalloc((size_t)c->ncols * sizeof *f->raw_kinds);
    f->cols = xcalloc((size_t)c->ncols, sizeof *f->cols);
    for (int col = 0; col < c->ncols; col++) {
        if (col == tcol) continue;
        int numeric = 1, nmiss = 0, integral = 1, nvals = 0;
        double sum = 0, sumsq = 0, first = 0;
        for (int i = 0; i < nrows; i++) {
            const char *s = csv_cell(c, rows[i], col);
            double v;
            if (csv_is_missing(s)) { nmiss++; continue; }
            if (parse_double(s, &v) || !isfinite(v)) { numeric = 0; break; }
            if (!is_int_value(v) || strpbrk(s, ".eE")) integral = 0;
            sum += v;
            /* distinct values, as far as "constant" needs them: 0, 1 or more (by value) */
            if (!nvals) { first = v; nvals = 1; }
            else if (v != first) nvals = 2;
        }
        const char *name = c->header[col];
        f->raw_names[f->nraw] = xstrdup(name);
        f->raw_kinds[f->nraw++] = !numeric ? COL_CATEGORICAL : integral && !nmiss ? COL_INTEGER : COL_NUMERIC;
        /* categorical columns need their levels; numeric ones only whether they are constant */
        int nd = nvals;
        struct count *cnt = numeric ? NULL : distinct(c, col, rows, nrows, &nd);
        if (nd <= 1) { add_dropped(f, name, nd ? "constant" : "all values missing"); free(cnt); continue; }
        if (!numeric && nd > 0.9 * (nrows - nmiss) && nrows >= 20) {
            add_dropped(f, name, "identifier (a distinct value on almost every row)");
            free(cnt);
            continue;
        }
        struct fcol *fc = &f->cols[f->ncols++];
        fc->name = xstrdup(name);
        fc->kind = numeric ? COL_NUMERIC : COL_CATEGORICAL;
        fc->scale = 1;
        if (numeric) {
            double mean = sum / (nrows - nmiss);
            for (int i = 0; i < nrows; i++) {
                double v;
                if (!parse_double(csv_cell(c, rows[i], col), &v)) sumsq += (v - mean) * (v - mean);
            }
            fc->fill = mean;
            if (scale) {
                /* missing values become the mean, so they add nothing to the variance */
                double sd = sqrt(sumsq / nrows);
                fc->center = mean;
                fc->scale = sd > 0 ? 1.0 / sd : 1.0;
            }
        } else {
            fc->nlevels = nd < MAX_LEVELS ? nd : MAX_LEVELS;
            fc->levels = xmalloc((size_t)fc->nlevels * sizeof *fc->levels);
            for (int k = 0; k < fc->nlevels; k++) fc->levels[k] = xstrdup(cnt[k].s);
            qsort(fc->levels, (size_t)fc->nlevels, sizeof *fc->levels, cmp_str);
            for (int k = 0; k < fc->nlevels; k++)
                if (strcmp(fc->levels[k], cnt[0].s) == 0) fc->fill_level = k;
        }
        free(cnt);
    }
    /* feature names: numeric columns first, then one block per categorical */
    for (int k = 0; k < f->ncols; k++) f->nfeat += f->cols[k].kind == COL_NUMERIC ? 1 : f->cols[k].nlevels;
    if (f->nfeat == 0) return errf(err, "no usable feature columns (all were dropped: constant or identifiers)");
    f->feat_names = xmalloc((size_t)f->nfeat * sizeof *f->feat_names);
    int j = 0;
    for (int k = 0; k < f->ncols; k++)
        if (f->cols[k].kind == COL_NUMERIC) f->feat_names[j++] = xstrdup(f->cols[k].name);
    for (int k = 0; k < f->ncols; k++)
        for (int l = 0; l < f->cols[k].nlevels; l++) {
            struct sbuf b;
            sb_init(&b);
            sb_printf(&b, "%s=%s", f->cols[k].name, f->cols[k].levels[l]);
            f->feat_names[j++] = b.data;
        }
    return 0;
}

static int level_index(const struct fcol *fc, const char *s)
{
    char *const *hit = bsearch(&s, fc->levels, (size_t)fc->nlevels, sizeof *fc->levels, cmp_str);
    return hit ? (int)(hit - fc->levels) : -1;
}

int feat_transform(const struct featurizer *f, const struct csv *c, const int *rows, int nrows,
                   double *X, char *err)
{
    int *idx = xmalloc((size_t)f->ncols * sizeof *idx);
    for (int k = 0; k < f->ncols; k++) {
        idx[k] = csv_column(c, f->cols[k].name);
        if (idx[k] < 0) { free(idx); return errf(err, "input column \"%s\" is missing", f->cols[k].name); }
    }
    int p = f->nfeat, result = 0;
    for (int i = 0; i < nrows && !result; i++) {
        int r = rows ? rows[i] : i, j = 0, off = 0;
        double *x = X + (size_t)i * p;
        for (int k = 0; k < f->ncols; k++)
            if (f->cols[k].kind == COL_NUMERIC) off++;
        memset(x + off, 0, (size_t)(p - off) * sizeof *x);
        for (int k = 0; k < f->ncols; k++) {
            const struct fcol *fc = &f->cols[k];
            const char *s = csv_cell(c, r, idx[k]);
            if (fc->kind == COL_NUMERIC) {
                double v;
                if (csv_is_missing(s)) v = fc->fill;
                else if (parse_double(s, &v) || !isfinite(v)) {
                    result = errf(err, "row %d: column \"%s\" is numeric, got \"%s\"", r + 2, fc->name, s);
                    break;
                }
                x[j++] = (v - fc->center) * fc->scale;
            } else {
                int l = csv_is_missing(s) ? fc->fill_level : level_index(fc, s);
                if (l >= 0) x[off + l] = 1.0;
                off += fc->nlevels;
            }
        }
    }
    free(idx);
    return result;
}

int feat_target(const struct featurizer *f, const struct csv *c, const int *rows, int nrows,
                double *y, char *err)
{
    int tcol = csv_column(c, f->target);
    if (tcol < 0) return errf(err, "target column \"%s\" is not in the data", f->target);
    for (int i = 0; i < nrows; i++) {
        int r = rows ? rows[i] : i;
        const char *s = csv_cell(c, r, tcol);
        if (f->task == TASK_REGRESSION) {
            if (parse_double(s, &y[i]) || !isfinite(y[i]))
                return errf(err, "row %d: target \"%s\" is not numeric", r + 2, s);
            continue;
        }
        int k = -1;
        for (int m = 0; m < f->nclasses && k < 0; m++) {
            double a, b;
            if (strcmp(f->classes[m], s) == 0 ||
                (f->classes_int && !parse_double(s, &a) && !parse_double(f->classes[m], &b) && a == b)) k = m;
        }
        if (k < 0) return errf(err, "row %d: class \"%s\" was not seen in training", r + 2, s);
        y[i] = k;
    }
    return 0;
}

void feat_free(struct featurizer *f)
{
    free(f->target);
    free_strs(f->classes, f->nclasses);
    free_strs(f->raw_names, f->nraw);
    free(f->raw_kinds);
    for (int k = 0; k < f->ncols; k++) { free(f->cols[k].name); free_strs(f->cols[k].levels, f->cols[k].nlevels); }
    free(f->cols);
    free_strs(f->feat_names, f->nfeat);
    free_strs(f->dropped, f->ndropped);
    memset(f, 0, sizeof *f);
}

void feat_save(const struct featurizer *f, struct sbuf *b)
{
    kv_str(b, "target", f->target);
    kv_int(b, "task", f->task);
    kv_int(b, "classes_int", f->classes_int);
    kv_strs(b, "classes", f->classes, f->nclasses);
    kv_strs(b, "raw_names", f->raw_names, f->nraw);
    kv_ints(b, "raw_kinds", f->raw_kinds, f->nraw);
    kv_int(b, "scaled", f->scaled);
    kv_int(b, "ncols", f->ncols);
    for (int k = 0; k < f->ncols; k++) {
        const struct fcol *fc = &f->cols[k];
        char key[64];
        snprintf(key, sizeof key, "col%d.name", k); kv_str(b, key, fc->name);
        snprintf(key, sizeof key, "col%d.kind", k); kv_int(b, key, fc->kind);
        double num[3] = {fc->fill, fc->center, fc->scale};
        snprintf(key, sizeof key, "col%d.num", k); kv_dbls(b, key, num, 3);
        snprintf(key, sizeof key, "col%d.levels", k); kv_strs(b, key, fc->levels, fc->nlevels);
        snprintf(key, sizeof key, "col%d.fill_level", k); kv_int(b, key, fc->fill_level);
    }
    kv_strs(b, "feat_names", f->feat_names, f->nfeat);
}

int feat_load(struct featurizer *f, const struct kv *kv, char *err)
{
    memset(f, 0, sizeof *f);
    const char *s;
    long v;
    if (kv_get_str(kv, "target", &s, err)) return -1;
    f->target = xstrdup(s);
    if (kv_get_int(kv, "task", &v, err)) return -1;
    f->task = (int)v;
    if (kv_get_int(kv, "classes_int", &v, err)) return -1;
    f->classes_int = (int)v;
    if (kv_get_strs(kv, "classes", -1, &f->classes, &f->nclasses, err)) return -1;
    if (kv_get_strs(kv, "raw_names", -1, &f->raw_names, &f->nraw, err)) return -1;
    if (kv_get_ints(kv, "raw_kinds", f->nraw, &f->raw_kinds, NULL, err)) return -1;
    if (kv_get_int(kv, "scaled", &v, err)) return -1;
    f->scaled = (int)v;
    if (kv_get_int(kv, "ncols", &v, err)) return -1;
    if (v < 0 || v > 1000000) return errf(err, "model file: bad ncols");
    f->cols = xcalloc((size_t)v, sizeof *f->cols);
    for (int k = 0; k < v; k++) {
        struct fcol *fc = &f->cols[k];
        char key[64];
        f->ncols = k + 1;
        snprintf(key, sizeof key, "col%d.name", k);
        if (kv_get_str(kv, key, &s, err)) return -1;
        fc->name = xstrdup(s);
        long kind, fl;
        snprintf(key, sizeof key, "col%d.kind", k);
        if (kv_get_int(kv, key, &kind, err)) return -1;
        fc->kind = (int)kind;
        double *num;
        snprintf(key, sizeof key, "col%d.num", k);
        if (kv_get_dbls(kv, key, 3, &num, NULL, err)) return -1;
        fc->fill = num[0]; fc->center = num[1]; fc->scale = num[2];
        free(num);
        snprintf(key, sizeof key, "col%d.levels", k);
        if (kv_get_strs(kv, key, -1, &fc->levels, &fc->nlevels, err)) return -1;
        snprintf(key, sizeof key, "col%d.fill_level", k);
        if (kv_get_int(kv, key, &fl, err)) return -1;
        fc->fill_level = (int)fl;
    }
    if (kv_get_strs(kv, "feat_names", -1, &f->feat_names, &f->nfeat, err)) return -1;
    return 0;
}
