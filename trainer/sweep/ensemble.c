/* --ensemble: Caruana et al.'s ensemble selection (2004) — greedy forward
 * selection with replacement from a library of the sweep's best full-size
 * trials, on the same validation predictions every trial was scored on
 * (pooled out-of-fold predictions under cross-validation, the holdout or
 * validation-file predictions otherwise). Trials write their predictions to
 * a private directory; only the best ENS_LIBRARY are kept. The ensemble is
 * logged as its own child run of the sweep. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fitcore.h"
#include "sweeper.h"

int en_setup(struct sweeper *sw, char *err)
{
    sw->nout = sw->target.task == TASK_CLASSIFICATION ? sw->target.nclasses : 1;
    if (!sw->o.ensemble) return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(sw->ens_dir, sizeof sw->ens_dir, "%.40s/cairn-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(sw->ens_dir)) {
        sw->ens_dir[0] = 0;
        return errf(err, "--ensemble: cannot make a temporary directory: %s", strerror(errno));
    }
    return 0;
}

void en_pred_path(const struct sweeper *sw, int num, char *buf, size_t len)
{
    snprintf(buf, len, "%s/t%d.pred", sw->ens_dir, num);
}

int en_val_rows(const struct sweeper *sw) { return sw->mode == 0 ? sw->n : sw->nval; }

static int full_size(const struct sweeper *sw, const struct trial *t) { return t->sample_n == sw->ntrain_rows; }

static int ranks_above(const struct trial *a, const struct trial *b)
{
    return a->score != b->score ? a->score > b->score : a->num < b->num;
}

void en_trial_done(struct sweeper *sw, struct trial *t)
{
    if (!sw->ens_dir[0]) return;
    char path[128];
    if (t->state != T_COMPLETED || !full_size(sw, t)) {
        en_pred_path(sw, t->num, path, sizeof path);
        unlink(path);
        t->has_pred = 0;
        return;
    }
    t->has_pred = 1;
    /* a trial ranked below ENS_LIBRARY others never climbs back: more trials only push it down */
    for (int i = 0; i < sw->ntrials; i++) {
        struct trial *c = &sw->trials[i];
        if (!c->has_pred) continue;
        int above = 0;
        for (int j = 0; j < sw->ntrials && above < ENS_LIBRARY; j++)
            above += j != i && sw->trials[j].state == T_COMPLETED && full_size(sw, &sw->trials[j]) &&
                     !sw->trials[j].replayed && ranks_above(&sw->trials[j], c);
        if (above >= ENS_LIBRARY) {
            en_pred_path(sw, c->num, path, sizeof path);
            unlink(path);
            c->has_pred = 0;
        }
    }
}

void en_cleanup(struct sweeper *sw)
{
    if (!sw->ens_dir[0]) return;
    DIR *d = opendir(sw->ens_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[400];
            snprintf(path, sizeof path, "%s/%s", sw->ens_dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(sw->ens_dir);
    sw->ens_dir[0] = 0;
}

/* The primary metric of averaged predictions P (n × K), signed so that higher is
 * better; accuracy and log loss directly (the greedy loop calls this often). */
static double score_of(const struct sweeper *sw, const double *P, const double *y, int n, double *value)
{
    struct metric_set ms = {0};
    int K = sw->nout;
    const char *m = sw->pm.internal;
    if (sw->target.task == TASK_REGRESSION) metrics_regression(P, y, n, &ms);
    else if (!strcmp(m, "accuracy_score") || !strcmp(m, "log_loss")) {
        double acc = 0, ll = 0;
        for (int i = 0; i < n; i++) {
            const double *p = P + (size_t)i * K;
            int t = (int)y[i];
            acc += argmax_row(p, K) == t;
            ll -= log(fmin(fmax(p[t], 1e-15), 1 - 1e-15));
        }
        ms.n = 1;
        ms.name[0] = m;
        ms.value[0] = !strcmp(m, "log_loss") ? ll / n : acc / n;
    } else metrics_classification(P, y, n, K, &ms);
    return sw_score_of(sw, &ms, value);
}

static int read_pred(const struct sweeper *sw, int num, double *out, size_t count, char *err)
{
    char path[128], *data;
    size_t len;
    en_pred_path(sw, num, path, sizeof path);
    if (read_file(path, &data, &len, err)) return -1;
    int rc = 0;
    if (len != count * sizeof *out) rc = errf(err, "%s: %zu bytes, expected %zu", path, len, count * sizeof *out);
    else memcpy(out, data, len);
    free(data);
    return rc;
}

int en_build(struct sweeper *sw, struct en_result *r, char *err)
{
    memset(r, 0, sizeof *r);
    int n = en_val_rows(sw), K = sw->nout;
    size_t cnt = (size_t)n * K;
    /* the library: the best full-size trials with predictions; one knn and one
     * gaussian_nb at most (their ONNX graphs use fixed tensor names) */
    int lib[ENS_LIBRARY], L = 0, *order = xmalloc((size_t)(sw->ntrials ? sw->ntrials : 1) * sizeof *order), no = 0;
    for (int i = 0; i < sw->ntrials; i++) if (sw->trials[i].has_pred) order[no++] = i;
    for (int a = 0; a < no; a++)   /* insertion sort by rank: the library is small */
        for (int b = a; b > 0 && ranks_above(&sw->trials[order[b]], &sw->trials[order[b - 1]]); b--) {
            int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t;
        }
    int seen_knn = 0, seen_nb = 0;
    for (int i = 0; i < no && L < ENS_LIBRARY; i++) {
        const char *name = sw->space.algos[sw->trials[order[i]].cfg.algo].a->name;
        if (!strcmp(name, "knn") && seen_knn++) continue;
        if (!strcmp(name, "gaussian_nb") && seen_nb++) continue;
        lib[L++] = order[i];
    }
    free(order);
    if (L == 0) return errf(err, "no full-size trial left validation predictions");
    int fast = sw->target.task == TASK_REGRESSION || !strcmp(sw->pm.internal, "accuracy_score") ||
               !strcmp(sw->pm.internal, "log_loss");
    int iters = fast ? ENS_ITERS : ENS_ITERS / 2, Lc = fast ? L : (L < 12 ? L : 12);
    double *pred = xmalloc(cnt * Lc * sizeof *pred), *y = xmalloc((size_t)(n ? n : 1) * sizeof *y);
    double *sum = xcalloc(cnt ? cnt : 1, sizeof *sum), *cand = xmalloc((cnt ? cnt : 1) * sizeof *cand);
    int rc = 0;
    for (int c = 0; c < Lc && !rc; c++) rc = read_pred(sw, sw->trials[lib[c]].num, pred + cnt * c, cnt, err);
    if (!rc) {
        if (sw->mode == 0) rc = feat_target(&sw->target, &sw->c, sw->rows, n, y, err);
        else rc = feat_target(&sw->target, sw->mode == 2 ? &sw->vc : &sw->c, sw->val, n, y, err);
    }
    if (rc) goto out;
    int counts[ENS_LIBRARY] = {0}, best_counts[ENS_LIBRARY] = {0};
    double best = -INFINITY;
    /* the best trial as the ensemble sees it: its pooled score */
    int single = -1;
    for (int c = 0; c < Lc; c++) if (lib[c] == sw->best) single = c;
    if (single >= 0) r->single_score = score_of(sw, pred + cnt * single, y, n, &r->single_value);
    else { r->single_score = -INFINITY; r->single_value = NAN; }
    for (int it = 0; it < iters; it++) {
        int pick = -1;
        double pick_s = -INFINITY, pick_v = NAN;
        for (int c = 0; c < Lc; c++) {
            const double *pc = pred + cnt * c;
            for (size_t j = 0; j < cnt; j++) cand[j] = (sum[j] + pc[j]) / (it + 1);
            double v, s = score_of(sw, cand, y, n, &v);
            if (pick < 0 || s > pick_s) { pick = c; pick_s = s; pick_v = v; }
        }
        const double *pp = pred + cnt * pick;
        for (size_t j = 0; j < cnt; j++) sum[j] += pp[j];
        counts[pick]++;
        r->curve[it] = pick_v;
        r->ran = it + 1;
        if (pick_s > best) {   /* the best prefix wins; ties keep the smaller ensemble */
            best = pick_s;
            memcpy(best_counts, counts, sizeof counts);
            r->iters = it + 1;
        }
    }
    r->score = best;
    for (int c = 0; c < Lc; c++)
        if (best_counts[c]) { r->trial[r->nmembers] = lib[c]; r->count[r->nmembers++] = best_counts[c]; }
    /* the chosen ensemble's predictions, every metric */
    memset(sum, 0, cnt * sizeof *sum);
    for (int m = 0; m < r->nmembers; m++) {
        int c = 0;
        while (lib[c] != r->trial[m]) c++;
        for (size_t j = 0; j < cnt; j++) sum[j] += r->count[m] * pred[cnt * c + j] / r->iters;
    }
    r->score = score_of(sw, sum, y, n, &r->value);
    if (sw->target.task == TASK_REGRESSION) metrics_regression(sum, y, n, &r->ms);
    else metrics_classification(sum, y, n, K, &r->ms);
    r->ok = 1;
out:
    free(pred); free(y); free(sum); free(cand);
    return rc;
}

int en_refit(struct sweeper *sw, const struct en_result *r, const int *rows, int n, struct pipeline *pl, char *err)
{
    const struct algo *algos[ENS_LIBRARY];
    struct hparams hps[ENS_LIBRARY];
    double w[ENS_LIBRARY];
    for (int m = 0; m < r->nmembers; m++) {
        const struct trial *t = &sw->trials[r->trial[m]];
        algos[m] = sw->space.algos[t->cfg.algo].a;
        w[m] = (double)r->count[m] / r->iters;
        if (trial_hparams(&sw->space, t, &hps[m], err)) return -1;
    }
    return fc_fit_ensemble(sw->o.seed, r->nmembers, algos, hps, w, &sw->c, &sw->target, rows, n, pl, err);
}

/* The ensemble as a child run of the sweep, and ensemble.json in dir. */
void en_log(struct sweeper *sw, struct en_result *r, int selected, const char *dir)
{
    struct sbuf trials, weights, algos, runs, js;
    sb_init(&trials); sb_init(&weights); sb_init(&algos); sb_init(&runs); sb_init(&js);
    sb_printf(&js, "{\"selected\": %s, \"iterations\": %d, \"%s\": ", selected ? "true" : "false", r->iters, sw->pm.name);
    sb_double(&js, r->value);
    sb_printf(&js, ", \"best_single_trial\": %d, \"best_single_%s\": ", sw->best, sw->pm.name);
    if (isfinite(r->single_value)) sb_double(&js, r->single_value); else sb_puts(&js, "null");
    sb_puts(&js, ", \"members\": [");
    for (int m = 0; m < r->nmembers; m++) {
        const struct trial *t = &sw->trials[r->trial[m]];
        const char *name = sw->space.algos[t->cfg.algo].a->name;
        double w = (double)r->count[m] / r->iters;
        sb_printf(&trials, "%s%d", m ? "," : "", t->num);
        sb_printf(&weights, "%s%.4g", m ? "," : "", w);
        sb_printf(&algos, "%s%s", m ? "," : "", name);
        sb_printf(&runs, "%s%s", m ? "," : "", t->run_id);
        sb_printf(&js, "%s{\"trial\": %d, \"run_id\": \"%s\", \"algorithm\": \"%s\", \"weight\": %.6g, \"%s\": ",
                  m ? ", " : "", t->num, t->run_id, name, w, sw->pm.name);
        sb_double(&js, t->value);
        sb_puts(&js, "}");
    }
    sb_puts(&js, "]}\n");
    char path[4400], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/ensemble.json", dir);
    if (write_file(path, js.data, js.len, err)) fprintf(stderr, "cairn-sweep: warning: %s\n", err);
    if (sw->tracking && !mlf_offline(sw->m)) {
        char name[256], buf[64];
        snprintf(name, sizeof name, "%s_ensemble", sw->o.sweep_name);
        const char *user = getenv("USER");
        const char *tags[] = {"mlflow.parentRunId", sw->parent_id, "mlflow.source.type", "LOCAL", "mlflow.source.name",
                              "cairn-sweep", "mlflow.user", user ? user : "unknown", "run_algorithm", "ensemble",
                              "estimator_name", "WeightedEnsemble", "estimator_class", "cairn.ensemble.WeightedEnsemble",
                              "cairn.sweep_id", sw->parent_id, "cairn.sweep_role", "ensemble", "cairn.ensemble_selected",
                              selected ? "true" : "false", NULL};
        if (mlf_create_run(sw->m, sw->exp_id, name, tags, r->run_id, sizeof r->run_id, NULL, err)) {
            fprintf(stderr, "cairn-sweep: warning: ensemble run: %s\n", err);
            r->run_id[0] = 0;
        } else {
            mlf_log_param(sw->m, r->run_id, "algorithm", "ensemble");
            mlf_log_param(sw->m, r->run_id, "ensemble_method", "caruana_greedy_with_replacement");
            snprintf(buf, sizeof buf, "%d", r->iters);
            mlf_log_param(sw->m, r->run_id, "ensemble_iterations", buf);
            snprintf(buf, sizeof buf, "%d", r->nmembers);
            mlf_log_param(sw->m, r->run_id, "ensemble_size", buf);
            mlf_log_param(sw->m, r->run_id, "member_trials", trials.data);
            mlf_log_param(sw->m, r->run_id, "member_weights", weights.data);
            mlf_log_param(sw->m, r->run_id, "member_algorithms", algos.data);
            mlf_log_param(sw->m, r->run_id, "member_run_ids", runs.data);
            mlf_log_param(sw->m, r->run_id, "validation", sw->mode == 0 ? "pooled_out_of_fold" : "holdout");
            mlf_log_metric(sw->m, r->run_id, sw->pm.name, r->value, 0);
            for (int i = 0; i < r->ms.n; i++) {
                char key[128];
                snprintf(key, sizeof key, "val_%s", r->ms.name[i]);
                mlf_log_metric(sw->m, r->run_id, key, r->ms.value[i], 0);
            }
            char key[128];
            snprintf(key, sizeof key, "val_running_%s", sw->pm.name);
            for (int it = 0; it < r->ran; it++) mlf_log_metric(sw->m, r->run_id, key, r->curve[it], it + 1);
            if (isfinite(r->single_value)) {
                snprintf(key, sizeof key, "best_single_%s", sw->pm.name);
                mlf_log_metric(sw->m, r->run_id, key, r->single_value, 0);
            }
            mlf_end_run(sw->m, r->run_id, "FINISHED", err);
        }
    }
    sb_free(&trials); sb_free(&weights); sb_free(&algos); sb_free(&runs); sb_free(&js);
}
