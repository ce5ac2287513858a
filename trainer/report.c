#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

enum { MAX_CURVE_POINTS = 400, MAX_SCATTER = 2000, MAX_CURVES = 12 };
static const char *const PALETTE[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};

void report_free(struct report *r)
{
    for (int i = 0; i < r->n; i++) { free(r->name[i]); sb_free(&r->body[i]); }
    r->n = 0;
}

static struct sbuf *report_add(struct report *r, const char *name)
{
    if (r->n == MAX_REPORT_FILES) return NULL;
    r->name[r->n] = xstrdup(name);
    sb_init(&r->body[r->n]);
    return &r->body[r->n++];
}

int report_write(const struct report *r, const char *dir, char *err)
{
    if (mkdir_p(dir, err)) return -1;
    for (int i = 0; i < r->n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, r->name[i]);
        if (write_file(path, r->body[i].data ? r->body[i].data : "", r->body[i].len, err)) return -1;
    }
    return 0;
}

/* ---- SVG ---- */
static void xml_text(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '&': sb_puts(b, "&amp;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        default: sb_add(b, s, 1);
        }
    }
}

static void svg_begin(struct sbuf *b, int w, int h, const char *title)
{
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              w, h, w, h);
    sb_printf(b, "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">", w / 2);
    xml_text(b, title);
    sb_puts(b, "</text>\n");
}

static void svg_text(struct sbuf *b, double x, double y, const char *anchor, const char *s, int rotate)
{
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", x, y, anchor);
    if (rotate) sb_printf(b, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
    sb_puts(b, ">");
    xml_text(b, s);
    sb_puts(b, "</text>\n");
}

/* A plot frame: data [x0,x1]×[y0,y1] mapped into the pixel box. */
struct frame { double px, py, pw, ph, x0, x1, y0, y1; };
static double fx(const struct frame *f, double x) { return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw; }
static double fy(const struct frame *f, double y) { return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph; }

static void svg_axes(struct sbuf *b, const struct frame *f, const char *xlabel, const char *ylabel)
{
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n",
              f->px, f->py, f->pw, f->ph);
    for (int t = 0; t <= 5; t++) {
        double xv = f->x0 + (f->x1 - f->x0) * t / 5, yv = f->y0 + (f->y1 - f->y0) * t / 5;
        char buf[32];
        snprintf(buf, sizeof buf, "%.3g", xv);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", fx(f, xv), f->py,
                  fx(f, xv), f->py + f->ph);
        svg_text(b, fx(f, xv), f->py + f->ph + 16, "middle", buf, 0);
        snprintf(buf, sizeof buf, "%.3g", yv);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", f->px, fy(f, yv),
                  f->px + f->pw, fy(f, yv));
        svg_text(b, f->px - 6, fy(f, yv) + 4, "end", buf, 0);
    }
    svg_text(b, f->px + f->pw / 2, f->py + f->ph + 36, "middle", xlabel, 0);
    svg_text(b, f->px - 44, f->py + f->ph / 2, "middle", ylabel, 1);
}

static void svg_polyline(struct sbuf *b, const struct frame *f, const double *x, const double *y, int n,
                         const char *color, int dashed)
{
    sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", color,
              dashed ? " stroke-dasharray=\"4 4\"" : "");
    for (int i = 0; i < n; i++) sb_printf(b, "%s%.1f,%.1f", i ? " " : "", fx(f, x[i]), fy(f, y[i]));
    sb_puts(b, "\"/>\n");
}

static void json_dbls(struct sbuf *b, const double *v, int n)
{
    sb_puts(b, "[");
    for (int i = 0; i < n; i++) { if (i) sb_puts(b, ", "); sb_double(b, v[i]); }
    sb_puts(b, "]");
}

/* ---- confusion matrix ---- */
static void confusion(struct report *r, const double *P, const double *y, int n, int K, char *const *classes)
{
    long *cm = xcalloc((size_t)K * K, sizeof *cm), *rowsum = xcalloc((size_t)K, sizeof *rowsum);
    for (int i = 0; i < n; i++) {
        int t = (int)y[i], p = argmax_row(P + (size_t)i * K, K);
        cm[(size_t)t * K + p]++;
        rowsum[t]++;
    }
    struct sbuf *j = report_add(r, "confusion_matrix.json");
    sb_puts(j, "{\"labels\": [");
    for (int c = 0; c < K; c++) { if (c) sb_puts(j, ", "); sb_json_str(j, classes[c]); }
    sb_puts(j, "], \"rows\": \"true\", \"columns\": \"predicted\", \"matrix\": [");
    for (int a = 0; a < K; a++) {
        sb_puts(j, a ? ", [" : "[");
        for (int c = 0; c < K; c++) sb_printf(j, "%s%ld", c ? ", " : "", cm[(size_t)a * K + c]);
        sb_puts(j, "]");
    }
    sb_printf(j, "], \"n\": %d}\n", n);
    int cell = K <= 10 ? 48 : K <= 30 ? 24 : 12, left = 110, top = 50, size = cell * K;
    struct sbuf *s = report_add(r, "confusion_matrix.svg");
    svg_begin(s, left + size + 30, top + size + 60, "Confusion matrix (rows: true, columns: predicted)");
    for (int a = 0; a < K; a++) {
        for (int c = 0; c < K; c++) {
            long v = cm[(size_t)a * K + c];
            double frac = rowsum[a] ? (double)v / rowsum[a] : 0;
            int shade = (int)(255 - 200 * frac);
            sb_printf(s, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" stroke=\"#fff\"/>\n",
                      left + c * cell, top + a * cell, cell, cell, shade, shade);
            if (cell >= 24) {
                char buf[32];
                snprintf(buf, sizeof buf, "%ld", v);
                sb_printf(s, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"%d\" fill=\"%s\">%s</text>\n",
                          left + c * cell + cell / 2, top + a * cell + cell / 2 + 4, cell >= 48 ? 12 : 9,
                          frac > 0.5 ? "white" : "black", buf);
            }
        }
        svg_text(s, left - 6, top + a * cell + cell / 2.0 + 4, "end", classes[a], 0);
        char lab[64];
        snprintf(lab, sizeof lab, "%s", classes[a]);
        sb_printf(s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"start\" font-size=\"10\" transform=\"rotate(60 %.1f %d)\">",
                  left + a * cell + cell / 2.0, top + size + 10, left + a * cell + cell / 2.0, top + size + 10);
        xml_text(s, lab);
        sb_puts(s, "</text>\n");
    }
    sb_puts(s, "</svg>\n");
    free(cm); free(rowsum);
}

/* ---- ROC and precision-recall, one-vs-rest per class (binary: the positive class) ---- */
struct scored { double s; int pos; };
static int cmp_desc(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;
    return x > y ? -1 : x < y;
}

struct curve { int n; double *fpr, *tpr, *prec, *rec, *thr; double auc, ap; };

static void curve_build(struct curve *cv, const double *P, const double *y, int n, int K, int c)
{
    struct scored *v = xmalloc((size_t)n * sizeof *v);
    long npos = 0;
    for (int i = 0; i < n; i++) { v[i].s = P[(size_t)i * K + c]; v[i].pos = (int)y[i] == c; npos += v[i].pos; }
    long nneg = n - npos;
    qsort(v, (size_t)n, sizeof *v, cmp_desc);
    int cap = n + 2;
    cv->fpr = xmalloc((size_t)cap * sizeof *cv->fpr); cv->tpr = xmalloc((size_t)cap * sizeof *cv->tpr);
    cv->prec = xmalloc((size_t)cap * sizeof *cv->prec); cv->rec = xmalloc((size_t)cap * sizeof *cv->rec);
    cv->thr = xmalloc((size_t)cap * sizeof *cv->thr);
    cv->n = 0;
    cv->fpr[0] = 0; cv->tpr[0] = 0; cv->prec[0] = 1; cv->rec[0] = 0; cv->thr[0] = INFINITY; cv->n = 1;
    long tp = 0, fp = 0;
    double auc = 0, ap = 0, prev_rec = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && v[j].s == v[i].s) { tp += v[j].pos; fp += !v[j].pos; j++; }
        double tpr = npos ? (double)tp / npos : 0, fpr = nneg ? (double)fp / nneg : 0;
        double prec = (double)tp / (tp + fp);
        auc += (fpr - cv->fpr[cv->n - 1]) * (tpr + cv->tpr[cv->n - 1]) / 2;
        ap += (tpr - prev_rec) * prec;       /* scikit-learn's average_precision_score */
        prev_rec = tpr;
        cv->fpr[cv->n] = fpr; cv->tpr[cv->n] = tpr; cv->prec[cv->n] = prec; cv->rec[cv->n] = tpr; cv->thr[cv->n] = v[i].s;
        cv->n++;
        i = j;
    }
    cv->auc = npos && nneg ? auc : NAN;
    cv->ap = npos ? ap : NAN;
    /* thin long curves for the files: keep ≤ MAX_CURVE_POINTS, ends included */
    if (cv->n > MAX_CURVE_POINTS) {
        int m = 0;
        for (int t = 0; t < MAX_CURVE_POINTS; t++) {
            int src = (int)((double)t * (cv->n - 1) / (MAX_CURVE_POINTS - 1));
            cv->fpr[m] = cv->fpr[src]; cv->tpr[m] = cv->tpr[src]; cv->prec[m] = cv->prec[src];
            cv->rec[m] = cv->rec[src]; cv->thr[m] = cv->thr[src]; m++;
        }
        cv->n = m;
    }
    free(v);
}

static void curve_free(struct curve *cv)
{
    free(cv->fpr); free(cv->tpr); free(cv->prec); free(cv->rec); free(cv->thr);
}

static void curves(struct report *r, const double *P, const double *y, int n, int K, char *const *classes)
{
    int first = K == 2 ? 1 : 0, nc = K - first;
    struct curve *cv = xcalloc((size_t)nc, sizeof *cv);
    for (int c = first; c < K; c++) curve_build(&cv[c - first], P, y, n, K, c);
    for (int kind = 0; kind < 2; kind++) {
        const char *stem = kind ? "precision_recall_curve" : "roc_curve";
        char name[64];
        snprintf(name, sizeof name, "%s.json", stem);
        struct sbuf *j = report_add(r, name);
        sb_puts(j, "{\"curves\": [");
        for (int c = 0; c < nc; c++) {
            sb_puts(j, c ? ", {\"class\": " : "{\"class\": ");
            sb_json_str(j, classes[c + first]);
            if (!kind) {
                sb_puts(j, ", \"auc\": "); sb_double(j, cv[c].auc);
                sb_puts(j, ", \"fpr\": "); json_dbls(j, cv[c].fpr, cv[c].n);
                sb_puts(j, ", \"tpr\": "); json_dbls(j, cv[c].tpr, cv[c].n);
            } else {
                sb_puts(j, ", \"average_precision\": "); sb_double(j, cv[c].ap);
                sb_puts(j, ", \"recall\": "); json_dbls(j, cv[c].rec, cv[c].n);
                sb_puts(j, ", \"precision\": "); json_dbls(j, cv[c].prec, cv[c].n);
            }
            sb_puts(j, ", \"thresholds\": "); json_dbls(j, cv[c].thr, cv[c].n);
            sb_puts(j, "}");
        }
        sb_printf(j, "], \"one_vs_rest\": %s}\n", K > 2 ? "true" : "false");
        snprintf(name, sizeof name, "%s.svg", stem);
        struct sbuf *s = report_add(r, name);
        int shown = nc < MAX_CURVES ? nc : MAX_CURVES;
        svg_begin(s, 640, 460, kind ? "Precision-recall curve" : "ROC curve");
        struct frame f = {70, 40, 400, 360, 0, 1, 0, 1};
        svg_axes(s, &f, kind ? "recall" : "false positive rate", kind ? "precision" : "true positive rate");
        if (!kind) svg_polyline(s, &f, (double[]){0, 1}, (double[]){0, 1}, 2, "#999", 1);
        for (int c = 0; c < shown; c++) {
            const char *col = PALETTE[c % (sizeof PALETTE / sizeof *PALETTE)];
            if (kind) svg_polyline(s, &f, cv[c].rec, cv[c].prec, cv[c].n, col, 0);
            else svg_polyline(s, &f, cv[c].fpr, cv[c].tpr, cv[c].n, col, 0);
            char lab[160];
            snprintf(lab, sizeof lab, "%.40s (%s %.3f)", classes[c + first], kind ? "AP" : "AUC", kind ? cv[c].ap : cv[c].auc);
            sb_printf(s, "<rect x=\"485\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", 50 + 18 * c, col);
            svg_text(s, 502, 55 + 18 * c, "start", lab, 0);
        }
        if (shown < nc) {
            char more[64];
            snprintf(more, sizeof more, "(%d more in the JSON)", nc - shown);
            svg_text(s, 485, 55 + 18 * shown, "start", more, 0);
        }
        sb_puts(s, "</svg>\n");
    }
    for (int c = 0; c < nc; c++) curve_free(&cv[c]);
    free(cv);
}

void report_classification(struct report *r, const double *P, const double *y, int n, int K, char *const *classes)
{
    confusion(r, P, y, n, K, classes);
    curves(r, P, y, n, K, classes);
}

/* ---- residuals ---- */
void report_regression(struct report *r, const double *pred, const double *y, int n)
{
    int stride = n > MAX_SCATTER ? (n + MAX_SCATTER - 1) / MAX_SCATTER : 1, m = 0;
    double *px = xmalloc((size_t)(n ? n : 1) * sizeof *px), *res = xmalloc((size_t)(n ? n : 1) * sizeof *res);
    double lo = INFINITY, hi = -INFINITY, rmax = 0, sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        double e = y[i] - pred[i];
        sum += e; sq += e * e;
        if (i % stride) continue;
        px[m] = pred[i]; res[m] = e; m++;
        if (pred[i] < lo) lo = pred[i];
        if (pred[i] > hi) hi = pred[i];
        if (fabs(e) > rmax) rmax = fabs(e);
    }
    struct sbuf *j = report_add(r, "residuals.json");
    sb_printf(j, "{\"n\": %d, \"shown\": %d, \"mean_residual\": ", n, m);
    sb_double(j, n ? sum / n : 0);
    sb_puts(j, ", \"rmse\": ");
    sb_double(j, n ? sqrt(sq / n) : 0);
    sb_puts(j, ", \"predicted\": ");
    json_dbls(j, px, m);
    sb_puts(j, ", \"residual\": ");
    json_dbls(j, res, m);
    sb_puts(j, "}\n");
    struct sbuf *s = report_add(r, "residuals.svg");
    svg_begin(s, 560, 460, "Residuals (true - predicted) vs predicted");
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    if (!(rmax > 0)) rmax = 1;
    struct frame f = {80, 40, 440, 360, lo, hi, -rmax * 1.05, rmax * 1.05};
    svg_axes(s, &f, "predicted", "residual");
    svg_polyline(s, &f, (double[]){lo, hi}, (double[]){0, 0}, 2, "#d62728", 1);
    for (int i = 0; i < m; i++)
        sb_printf(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#1f77b4\" fill-opacity=\"0.5\"/>\n", fx(&f, px[i]),
                  fy(&f, res[i]));
    sb_puts(s, "</svg>\n");
    free(px); free(res);
}

/* ---- permutation importance ---- */
static double score_of(const struct pipeline *pl, const struct csv *c, const double *y, double *X, double *P, char *err,
                       int *bad)
{
    int n = c->nrows, K = pl->f.task == TASK_CLASSIFICATION ? pl->f.nclasses : 0;
    if (feat_transform(&pl->f, c, NULL, n, X, err)) { *bad = 1; return NAN; }
    pl->algo->predict(pl->model, X, n, P);
    if (K) {
        double ok = 0;
        for (int i = 0; i < n; i++) ok += argmax_row(P + (size_t)i * K, K) == (int)y[i];
        return ok / n;
    }
    double mu = 0, sse = 0, sst = 0;
    for (int i = 0; i < n; i++) mu += y[i];
    mu /= n;
    for (int i = 0; i < n; i++) { sse += (P[i] - y[i]) * (P[i] - y[i]); sst += (y[i] - mu) * (y[i] - mu); }
    return sst > 0 ? 1 - sse / sst : 0;
}

struct imp { int col; double mean, sd; };
static int cmp_imp(const void *a, const void *b)
{
    const struct imp *x = a, *y = b;
    if (x->mean != y->mean) return x->mean > y->mean ? -1 : 1;
    return x->col - y->col;
}

int report_permutation_importance(struct report *r, const struct pipeline *pl, const struct csv *c, const int *rows,
                                  int n, int n_repeats, uint64_t seed, char *err)
{
    const struct featurizer *f = &pl->f;
    int K = f->task == TASK_CLASSIFICATION ? f->nclasses : 0, nout = K ? K : 1, rc = -1, bad = 0;
    /* a view of the rows: permuting a column only moves cell pointers */
    struct csv sub = {c->ncols, n, c->header, xmalloc((size_t)n * c->ncols * sizeof(char *)), NULL};
    for (int i = 0; i < n; i++)
        memcpy(sub.cells + (size_t)i * c->ncols, c->cells + (size_t)(rows ? rows[i] : i) * c->ncols,
               (size_t)c->ncols * sizeof(char *));
    double *y = xmalloc((size_t)n * sizeof *y), *X = xmalloc((size_t)n * (f->nfeat ? f->nfeat : 1) * sizeof *X);
    double *P = xmalloc((size_t)n * nout * sizeof *P), *drops = xmalloc((size_t)(n_repeats ? n_repeats : 1) * f->nraw * sizeof *drops);
    char **saved = xmalloc((size_t)n * sizeof *saved);
    int *perm = xmalloc((size_t)n * sizeof *perm);
    struct imp *imp = xmalloc((size_t)(f->nraw ? f->nraw : 1) * sizeof *imp);
    struct rng rng;
    rng_seed(&rng, seed);
    if (feat_target(f, &sub, NULL, n, y, err)) goto out;
    double base = score_of(pl, &sub, y, X, P, err, &bad);
    if (bad) goto out;
    for (int k = 0; k < f->nraw; k++) {
        int col = csv_column(&sub, f->raw_names[k]);
        if (col < 0) { errf(err, "input column \"%s\" is missing", f->raw_names[k]); goto out; }
        for (int i = 0; i < n; i++) saved[i] = sub.cells[(size_t)i * sub.ncols + col];
        double s = 0, s2 = 0;
        for (int t = 0; t < n_repeats; t++) {
            for (int i = 0; i < n; i++) perm[i] = i;
            rng_shuffle(&rng, perm, n);
            for (int i = 0; i < n; i++) sub.cells[(size_t)i * sub.ncols + col] = saved[perm[i]];
            double d = base - score_of(pl, &sub, y, X, P, err, &bad);
            if (bad) goto out;
            drops[(size_t)k * n_repeats + t] = d;
            s += d; s2 += d * d;
        }
        for (int i = 0; i < n; i++) sub.cells[(size_t)i * sub.ncols + col] = saved[i];
        imp[k].col = k;
        imp[k].mean = s / n_repeats;
        imp[k].sd = sqrt(fmax(s2 / n_repeats - imp[k].mean * imp[k].mean, 0));
    }
    qsort(imp, (size_t)f->nraw, sizeof *imp, cmp_imp);
    struct sbuf *j = report_add(r, "permutation_importance.json");
    sb_printf(j, "{\"scoring\": \"%s\", \"baseline_score\": ", K ? "accuracy" : "r2");
    sb_double(j, base);
    sb_printf(j, ", \"n_repeats\": %d, \"n_rows\": %d, \"seed\": %llu, \"features\": [", n_repeats, n,
              (unsigned long long)seed);
    for (int k = 0; k < f->nraw; k++) {
        sb_puts(j, k ? ", {\"feature\": " : "{\"feature\": ");
        sb_json_str(j, f->raw_names[imp[k].col]);
        sb_puts(j, ", \"importance_mean\": "); sb_double(j, imp[k].mean);
        sb_puts(j, ", \"importance_std\": "); sb_double(j, imp[k].sd);
        sb_puts(j, ", \"importances\": "); json_dbls(j, drops + (size_t)imp[k].col * n_repeats, n_repeats);
        sb_puts(j, "}");
    }
    sb_puts(j, "]}\n");
    int shown = f->nraw < 30 ? f->nraw : 30, bar_h = 18, left = 200, width = 360;
    struct sbuf *s = report_add(r, "permutation_importance.svg");
    char title[128];
    snprintf(title, sizeof title, "Permutation importance (drop in %s, %d repeats)", K ? "accuracy" : "R\xc2\xb2", n_repeats);
    svg_begin(s, left + width + 80, 60 + shown * bar_h + 40, title);
    double mx = 0, mn = 0;
    for (int k = 0; k < shown; k++) {
        if (imp[k].mean + imp[k].sd > mx) mx = imp[k].mean + imp[k].sd;
        if (imp[k].mean < mn) mn = imp[k].mean;
    }
    if (!(mx > mn)) mx = mn + 1;
    struct frame fr = {left, 40, width, shown * bar_h, mn, mx, 0, 1};
    sb_printf(s, "<line x1=\"%.1f\" y1=\"40\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", fx(&fr, 0), fx(&fr, 0),
              40 + shown * bar_h);
    for (int k = 0; k < shown; k++) {
        double y0 = 40 + k * bar_h + 3, x0 = fx(&fr, fmin(0, imp[k].mean)), x1 = fx(&fr, fmax(0, imp[k].mean));
        sb_printf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"#1f77b4\"/>\n", x0, y0, x1 - x0,
                  bar_h - 6);
        sb_printf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                  fx(&fr, imp[k].mean - imp[k].sd), y0 + (bar_h - 6) / 2.0, fx(&fr, imp[k].mean + imp[k].sd),
                  y0 + (bar_h - 6) / 2.0);
        char lab[96];
        snprintf(lab, sizeof lab, "%.40s", f->raw_names[imp[k].col]);
        svg_text(s, left - 6, y0 + bar_h / 2.0 + 1, "end", lab, 0);
        snprintf(lab, sizeof lab, "%.4f", imp[k].mean);
        svg_text(s, fx(&fr, mx) + 6, y0 + bar_h / 2.0 + 1, "start", lab, 0);
    }
    if (shown < f->nraw) {
        char more[64];
        snprintf(more, sizeof more, "(%d more in the JSON)", f->nraw - shown);
        svg_text(s, left, 40 + shown * bar_h + 20, "start", more, 0);
    }
    sb_puts(s, "</svg>\n");
    rc = 0;
out:
    free(sub.cells); free(y); free(X); free(P); free(drops); free(saved); free(perm); free(imp);
    return rc;
}
