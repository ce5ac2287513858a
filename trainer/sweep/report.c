/* What a sweep reports: data guardrails (as Azure AutoML names them), the
 * leaderboard, the trials log (FLAML's JSON-lines fields), an SVG chart of
 * the best score over time and of each algorithm's scores, and the progress
 * line (a terminal) or one log line per trial (not a terminal). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sweeper.h"

const char *state_name(int state)
{
    static const char *const N[] = {"PENDING", "RUNNING", "COMPLETED", "PRUNED", "FAILED", "KILLED"};
    return state >= 0 && state <= T_KILLED ? N[state] : "?";
}

const char *trial_state_tag(const struct trial *t)
{
    return t->state == T_COMPLETED ? "completed" : t->state == T_PRUNED ? "pruned" : "failed";
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void rp_guardrails(struct sweeper *sw)
{
    struct sbuf *g = &sw->guardrails;
    sb_init(g);
    sb_puts(g, "{\"guardrails\": [");
    int first = 1;
#define ITEM(type, result) do { sb_printf(g, "%s{\"type\": \"%s\", \"result\": \"%s\", \"details\": ", first ? "" : ", ", type, result); first = 0; \
    printf("guardrail %-36s %s\n", type, result); } while (0)
    /* class balancing */
    if (sw->target.task == TASK_CLASSIFICATION) {
        int K = sw->target.nclasses, *cnt = xcalloc((size_t)K, sizeof *cnt);
        double *y = xmalloc((size_t)(sw->n ? sw->n : 1) * sizeof *y);
        char err[ERR_LEN];
        if (!feat_target(&sw->target, &sw->c, sw->rows, sw->n, y, err))
            for (int i = 0; i < sw->n; i++) cnt[(int)y[i]]++;
        int mn = sw->n, mx = 0;
        for (int k = 0; k < K; k++) { if (cnt[k] < mn) mn = cnt[k]; if (cnt[k] > mx) mx = cnt[k]; }
        double ratio = mx ? (double)mn / mx : 1;
        ITEM("class_balancing", ratio < 0.2 ? "alerted" : "passed");
        sb_printf(g, "{\"smallest_to_largest\": %.4f, \"classes\": {", ratio);
        for (int k = 0; k < K; k++) {
            sb_puts(g, k ? ", " : "");
            sb_json_str(g, sw->target.classes[k]);
            sb_printf(g, ": %d", cnt[k]);
        }
        sb_puts(g, "}}}");
        if (ratio < 0.2)
            printf("  the smallest class has %.1f%% of the largest's rows: prefer --metric AUC_weighted\n", 100 * ratio);
        free(cnt);
        free(y);
    }
    /* missing values */
    struct sbuf cols;
    sb_init(&cols);
    int nmiss = 0, tcol = csv_column(&sw->c, sw->o.target);
    for (int j = 0; j < sw->c.ncols; j++) {
        if (j == tcol) continue;
        int miss = 0, numeric = 1;
        for (int i = 0; i < sw->n; i++) {
            const char *v = csv_cell(&sw->c, sw->rows[i], j);
            double d;
            if (csv_is_missing(v)) miss++;
            else if (numeric && parse_double(v, &d)) numeric = 0;
        }
        if (!miss) continue;
        sb_printf(&cols, "%s{\"column\": ", nmiss++ ? ", " : "");
        sb_json_str(&cols, sw->c.header[j]);
        sb_printf(&cols, ", \"missing\": %d, \"imputed_with\": \"%s\"}", miss, numeric ? "mean" : "most_frequent");
        printf("  %s: %d missing values imputed with the %s\n", sw->c.header[j], miss, numeric ? "mean" : "most frequent value");
    }
    ITEM("missing_feature_values_imputation", nmiss ? "done" : "passed");
    sb_printf(g, "{\"columns\": [%s]}}", cols.data ? cols.data : "");
    sb_free(&cols);
    /* high cardinality: columns the featurizer drops, categoricals with more levels than it encodes */
    struct featurizer f = {0};
    char err[ERR_LEN];
    f.target = xstrdup(sw->target.target);
    f.task = sw->target.task;
    sb_init(&cols);
    int nhigh = 0;
    if (!feat_fit(&f, &sw->c, sw->rows, sw->n, 0, err)) {
        for (int i = 0; i < f.ndropped; i++) {
            sb_printf(&cols, "%s", nhigh++ ? ", " : "");
            sb_json_str(&cols, f.dropped[i]);
            printf("  dropped %s\n", f.dropped[i]);
        }
        for (int i = 0; i < f.ncols; i++) {
            if (f.cols[i].kind != COL_CATEGORICAL || f.cols[i].nlevels < MAX_LEVELS) continue;
            int j = csv_column(&sw->c, f.cols[i].name), nd = 0;
            char **v = xmalloc((size_t)(sw->n ? sw->n : 1) * sizeof *v);
            for (int r = 0; r < sw->n; r++) v[r] = (char *)csv_cell(&sw->c, sw->rows[r], j);
            qsort(v, (size_t)sw->n, sizeof *v, cmp_str);
            for (int r = 0; r < sw->n; r++) nd += !r || strcmp(v[r], v[r - 1]);
            free(v);
            if (nd <= MAX_LEVELS) continue;
            char msg[300];
            snprintf(msg, sizeof msg, "%s: %d distinct values, the %d most frequent one-hot encoded", f.cols[i].name, nd, MAX_LEVELS);
            sb_printf(&cols, "%s", nhigh++ ? ", " : "");
            sb_json_str(&cols, msg);
            printf("  %s\n", msg);
        }
        sw->p = f.nfeat;
    }
    feat_free(&f);
    ITEM("high_cardinality_feature_detection", nhigh ? "done" : "passed");
    sb_printf(g, "{\"columns\": [%s]}}", cols.data ? cols.data : "");
    sb_free(&cols);
    /* enough rows for the validation */
    int alert = 0;
    char why[200] = "";
    if (sw->mode == 0) {
        if (sw->n / sw->k < 10) { alert = 1; snprintf(why, sizeof why, "%d rows for %d folds: under 10 rows a fold", sw->n, sw->k); }
        if (sw->target.task == TASK_CLASSIFICATION) {
            int K = sw->target.nclasses, *cnt = xcalloc((size_t)K, sizeof *cnt);
            double *y = xmalloc((size_t)(sw->n ? sw->n : 1) * sizeof *y);
            if (!feat_target(&sw->target, &sw->c, sw->rows, sw->n, y, err))
                for (int i = 0; i < sw->n; i++) cnt[(int)y[i]]++;
            for (int k = 0; k < K; k++)
                if (cnt[k] < sw->k) {
                    alert = 1;
                    snprintf(why, sizeof why, "class %.40s has %d rows, fewer than the %d folds", sw->target.classes[k], cnt[k], sw->k);
                }
            free(cnt);
            free(y);
        }
    } else if (sw->nval < 10) { alert = 1; snprintf(why, sizeof why, "only %d validation rows", sw->nval); }
    ITEM("validation_split_handling", alert ? "alerted" : "passed");
    sb_puts(g, "{\"validation\": ");
    char vdesc[64];
    if (sw->mode == 0) snprintf(vdesc, sizeof vdesc, "%d-fold cross-validation", sw->k);
    else snprintf(vdesc, sizeof vdesc, "%s (%d rows)", sw->mode == 2 ? "validation file" : "holdout", sw->nval);
    sb_json_str(g, vdesc);
    sb_puts(g, ", \"message\": ");
    sb_json_str(g, why);
    sb_puts(g, "}}");
    if (alert) printf("  %s\n", why);
    sb_puts(g, "]}\n");
#undef ITEM
}

/* ---------------------------------------------------------------- artifacts */
static int cmp_rank(const void *a, const void *b, void *ctx)
{
    const struct sweeper *sw = ctx;
    const struct trial *x = &sw->trials[*(const int *)a], *y = &sw->trials[*(const int *)b];
    int cx = x->state == T_COMPLETED, cy = y->state == T_COMPLETED;
    if (cx != cy) return cy - cx;
    if (x->sample_n != y->sample_n) return y->sample_n - x->sample_n;
    if (x->fidelity != y->fidelity) return x->fidelity < y->fidelity ? 1 : -1;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->num - y->num;
}

static void config_text(const struct sweeper *sw, const struct trial *t, struct sbuf *b, int json)
{
    const struct algo_space *as = &sw->space.algos[t->cfg.algo];
    int it = t->fidelity > 0 && t->fidelity < 1 ? algo_iter_param(as->a) : -1;
    struct hparams hp;
    char err[ERR_LEN];
    if (it >= 0 && trial_hparams(&sw->space, t, &hp, err)) it = -1;
    if (json) sb_puts(b, "{");
    for (int d = 0; d < as->ndims; d++) {
        char v[160];
        dim_value(&as->dims[d], dim_is_int(as, &as->dims[d]), t->cfg.u[d], v, sizeof v);
        if (it >= 0 && as->dims[d].pidx == it) snprintf(v, sizeof v, "%.0f", hp.v[it]);   /* as run */
        if (json) {
            sb_puts(b, d ? ", " : "");
            sb_json_str(b, as->dims[d].name);
            sb_puts(b, ": ");
            double x;
            if (!parse_double(v, &x)) sb_puts(b, v); else sb_json_str(b, v);
        } else sb_printf(b, "%s%s=%s", d ? ";" : "", as->dims[d].name, v);
    }
    if (json) sb_puts(b, "}");
}

static void write_or_warn(const char *dir, const char *name, const struct sbuf *b)
{
    char path[4200], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (write_file(path, b->data ? b->data : "", b->len, err)) fprintf(stderr, "cairn-sweep: warning: %s\n", err);
}

static void chart(const struct sweeper *sw, struct sbuf *b)
{
    const double W = 900, H = 380, L = 60, T = 30, PW = 360, PH = 290, GAP = 120;
    double lo = INFINITY, hi = -INFINITY, tmax = 1;
    for (int i = 0; i < sw->ntrials; i++) {
        const struct trial *t = &sw->trials[i];
        if (t->state != T_COMPLETED) continue;
        if (t->value < lo) lo = t->value;
        if (t->value > hi) hi = t->value;
        if (t->ended - sw->t0 > tmax) tmax = t->ended - sw->t0;
    }
    if (!isfinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    sb_printf(b, "<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H);
    for (int panel = 0; panel < 2; panel++) {
        double x0 = L + panel * (PW + GAP);
        sb_printf(b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", x0, T, PW, PH);
        sb_printf(b, "<text x=\"%g\" y=\"%g\" font-size=\"13\">%s</text>\n", x0, T - 10,
                  panel ? "scores of each algorithm" : "best score over time");
        sb_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.4g</text>\n", x0 - 4, T + 4, hi);
        sb_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.4g</text>\n", x0 - 4, T + PH, lo);
    }
    sb_printf(b, "<text x=\"%g\" y=\"%g\">%s; time 0 to %.1f s</text>\n", L, T + PH + 20, sw->pm.name, tmax);
    /* best so far, in the order trials ended */
    sb_printf(b, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    int *order = xmalloc((size_t)(sw->ntrials ? sw->ntrials : 1) * sizeof *order), n = 0;
    for (int i = 0; i < sw->ntrials; i++) if (sw->trials[i].state == T_COMPLETED && !sw->trials[i].replayed) order[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sw->trials[order[j]].ended < sw->trials[order[j - 1]].ended; j--) {
            int x = order[j]; order[j] = order[j - 1]; order[j - 1] = x;
        }
    double best = -INFINITY, shown = 0;
    for (int i = 0; i < n; i++) {
        const struct trial *t = &sw->trials[order[i]];
        if (t->score <= best) continue;
        double x = L + PW * (t->ended - sw->t0) / tmax;
        if (isfinite(best)) sb_printf(b, "%.1f,%.1f ", x, T + PH * (hi - shown) / (hi - lo));
        best = t->score;
        shown = t->value;
        sb_printf(b, "%.1f,%.1f ", x, T + PH * (hi - shown) / (hi - lo));
    }
    if (isfinite(best)) sb_printf(b, "%.1f,%.1f", L + PW, T + PH * (hi - shown) / (hi - lo));
    sb_puts(b, "\"/>\n");
    free(order);
    int na = sw->space.nalgos;
    double x0 = L + PW + GAP;
    for (int a = 0; a < na; a++) {
        double cx = x0 + PW * (a + 0.5) / na;
        sb_printf(b, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"end\" transform=\"rotate(-40 %.1f %g)\">%s</text>\n", cx,
                  T + PH + 14, cx, T + PH + 14, sw->space.algos[a].a->name);
        for (int i = 0; i < sw->ntrials; i++) {
            const struct trial *t = &sw->trials[i];
            if (t->cfg.algo != a || t->state != T_COMPLETED) continue;
            double jitter = ((t->num * 7919) % 100 / 100.0 - 0.5) * PW / na * 0.6;
            sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" fill-opacity=\"0.6\"/>\n", cx + jitter,
                      T + PH * (hi - t->value) / (hi - lo), i == sw->best ? "#d62728" : "#2ca02c");
        }
    }
    sb_puts(b, "</svg>\n");
}

void rp_artifacts(struct sweeper *sw, const char *dir)
{
    int *order = xmalloc((size_t)(sw->ntrials ? sw->ntrials : 1) * sizeof *order);
    for (int i = 0; i < sw->ntrials; i++) order[i] = i;
    qsort_r(order, (size_t)sw->ntrials, sizeof *order, cmp_rank, sw);
    struct sbuf b;
    sb_init(&b);
    sb_printf(&b, "rank,trial,run_id,algorithm,state,%s,sample_size,rung,fit_time_s,trial_time_s,params,failure\n", sw->pm.name);
    for (int r = 0; r < sw->ntrials; r++) {
        const struct trial *t = &sw->trials[order[r]];
        sb_printf(&b, "%d,%d,%s,%s,%s,", r + 1, t->num, t->run_id, sw->space.algos[t->cfg.algo].a->name, state_name(t->state));
        if (t->state == T_COMPLETED) sb_printf(&b, "%.10g", t->value);
        sb_printf(&b, ",%d,%d,%.4f,%.4f,\"", t->sample_n, t->rung, t->fit_seconds, t->ended - t->started);
        config_text(sw, t, &b, 0);
        sb_puts(&b, "\",\"");
        for (const char *p = t->failure; *p; p++) { if (*p == '"') sb_puts(&b, "\""); sb_add(&b, p, 1); }
        sb_puts(&b, "\"\n");
    }
    write_or_warn(dir, "leaderboard.csv", &b);
    b.len = 0;
    for (int i = 0; i < sw->ntrials; i++) {
        const struct trial *t = &sw->trials[i];
        sb_printf(&b, "{\"record_id\": %d, \"learner\": \"%s\", \"sample_size\": %d, \"trial_time\": %.4f, "
                      "\"wall_clock_time\": %.4f, \"state\": \"%s\", \"%s\": ",
                  t->num, sw->space.algos[t->cfg.algo].a->name, t->sample_n, t->ended - t->started, t->ended - sw->t0,
                  trial_state_tag(t), sw->pm.name);
        if (t->state == T_COMPLETED) sb_printf(&b, "%.10g, \"validation_loss\": %.10g", t->value, -t->score);
        else sb_puts(&b, "null, \"validation_loss\": null");
        sb_puts(&b, ", \"config\": ");
        config_text(sw, t, &b, 1);
        sb_puts(&b, "}\n");
    }
    write_or_warn(dir, "trials.jsonl", &b);
    b.len = 0;
    chart(sw, &b);
    write_or_warn(dir, "sweep_chart.svg", &b);
    write_or_warn(dir, "data_guardrails.json", &sw->guardrails);
    sb_free(&b);
    free(order);
}

/* ---------------------------------------------------------------- progress */
void rp_progress(struct sweeper *sw, int final)
{
    int done = 0, pruned = 0, failed = 0, running = sw_running(sw);
    for (int i = 0; i < sw->ntrials; i++) {
        int s = sw->trials[i].state;
        done += s == T_COMPLETED;
        pruned += s == T_PRUNED;
        failed += s == T_FAILED || s == T_KILLED;
    }
    double now = now_seconds(), left = isfinite(sw->deadline) ? fmax(0, sw->deadline - now) : NAN;
    char best[128] = "none yet", tl[48] = "";
    if (sw->best >= 0)
        snprintf(best, sizeof best, "%.5g (trial %d, %s)", sw->trials[sw->best].value, sw->trials[sw->best].num,
                 sw->space.algos[sw->trials[sw->best].cfg.algo].a->name);
    if (isfinite(left)) snprintf(tl, sizeof tl, ", %.0f s left", left);
    if (sw->tty) {
        if (!final && now - sw->last_progress < 0.2) return;
        sw->last_progress = now;
        fprintf(stderr, "\r\033[K[cairn-sweep] %d done, %d running, %d pruned, %d failed | best %s %s%s%s", done, running,
                pruned, failed, sw->pm.name, best, tl, final ? "\n" : "");
        fflush(stderr);
        return;
    }
    if (final || sw->last_done < 0) return;
    const struct trial *t = &sw->trials[sw->last_done];
    char val[64] = "";
    if (t->state == T_COMPLETED) snprintf(val, sizeof val, " %s=%.6g", sw->pm.name, t->value);
    printf("trial %d %s %s%s (%.2f s)%s%s | %d done, %d running, %d pruned, %d failed, best %s%s\n", t->num,
           sw->space.algos[t->cfg.algo].a->name, trial_state_tag(t), val, t->ended - t->started, t->failure[0] ? ": " : "",
           t->failure, done, running, pruned, failed, best, tl);
    fflush(stdout);
}
