/* The fit / evaluate / log core shared by cairn-train and cairn-sweep. */
#include "fitcore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ensemble.h"
#include "mlmodel.h"

int fc_common_flag(const char *a, const char *v, const struct fc_flags *f, char *msg)
{
    static const char *const STR[] = {"--data", "--target", "--valid", "--experiment", "--register-model", "--alias",
                                      "--output-dir", "--tracking-uri"};
    const char **dst[] = {f->data, f->target, f->valid, f->experiment, f->register_name, f->alias, f->output_dir,
                          f->tracking_uri};
    int str = -1;
    for (int i = 0; i < (int)(sizeof STR / sizeof *STR); i++) if (!strcmp(a, STR[i])) str = i;
    if (str < 0 && strcmp(a, "--task") && strcmp(a, "--cv") && strcmp(a, "--holdout") && strcmp(a, "--seed")) return 0;
    if (!v) { errf(msg, "%s needs a value", a); return -1; }
    if (str >= 0) { *dst[str] = v; return 1; }
    if (!strcmp(a, "--task")) {
        if (!strcmp(v, "auto")) *f->task = TASK_AUTO;
        else if (!strcmp(v, "classification")) *f->task = TASK_CLASSIFICATION;
        else if (!strcmp(v, "regression")) *f->task = TASK_REGRESSION;
        else { errf(msg, "--task must be auto, classification or regression"); return -1; }
    } else if (!strcmp(a, "--cv")) {
        long k;
        if (parse_long(v, &k) || k < 2 || k > 100) { errf(msg, "--cv must be an integer in [2, 100]"); return -1; }
        *f->cv = (int)k;
    } else if (!strcmp(a, "--holdout")) {
        if (parse_double(v, f->holdout) || !(*f->holdout > 0 && *f->holdout < 1)) {
            errf(msg, "--holdout must be a fraction in (0, 1)");
            return -1;
        }
    } else if (parse_long(v, f->seed) || *f->seed < 0) {
        errf(msg, "--seed must be a non-negative integer");
        return -1;
    }
    return 1;
}

int fc_read_valid(const char *path, const struct featurizer *target, struct csv *vc, int **val, int *nval, char *err)
{
    if (csv_read(path, vc, err)) return -1;
    int vt = csv_column(vc, target->target);
    if (vt < 0) return errf(err, "target column \"%s\" is not in %s", target->target, path);
    *val = fc_filter_rows(vc, vt, nval);
    double *yv = xmalloc((size_t)(*nval ? *nval : 1) * sizeof *yv);
    int bad = feat_target(target, vc, *val, *nval, yv, err);
    free(yv);
    return bad ? -1 : 0;
}

int fc_holdout_split(const double *y, const int *rows, int n, int nclasses, double h, struct rng *rng, int *fold,
                     int **train, int *ntrain, int **val, int *nval, char *err)
{
    int parts = (int)fmax(2, floor(1.0 / h + 0.5));
    fc_assign_folds(y, n, nclasses, parts, rng, fold);
    *train = xmalloc((size_t)(n ? n : 1) * sizeof **train);
    *val = xmalloc((size_t)(n ? n : 1) * sizeof **val);
    *ntrain = *nval = 0;
    for (int i = 0; i < n; i++) {
        if (fold[i] == 0) (*val)[(*nval)++] = rows[i];
        else (*train)[(*ntrain)++] = rows[i];
    }
    if (!*nval || !*ntrain) return errf(err, "not enough rows for a holdout split");
    return 0;
}

/* A fold per data row (one integer per line, an optional header line), as
 * a benchmark writes it once for every library; rows without a target
 * are skipped like the data's. */
int fc_read_folds(const char *path, int nrows, const int *rows, int n, int *fold, int *k, char *err)
{
    char *text;
    size_t len;
    if (read_file(path, &text, &len, err)) return -1;
    int *all = xmalloc((size_t)(nrows ? nrows : 1) * sizeof *all), count = 0, maxf = -1, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        long v;
        if (parse_long(line, &v)) {
            if (count == 0 && line == text) continue;   /* header */
            rc = errf(err, "%s: \"%.40s\" is not a fold number", path, line);
            break;
        }
        if (v < 0 || v > 99) { rc = errf(err, "%s: fold %ld is out of range [0, 99]", path, v); break; }
        if (count == nrows) { rc = errf(err, "%s has more lines than the data has rows (%d)", path, nrows); break; }
        all[count++] = (int)v;
        if (v > maxf) maxf = (int)v;
    }
    if (!rc && count != nrows) rc = errf(err, "%s has %d folds for %d data rows", path, count, nrows);
    if (!rc && maxf < 1) rc = errf(err, "%s: need at least 2 folds", path);
    if (!rc) {
        for (int i = 0; i < n; i++) fold[i] = all[rows[i]];
        *k = maxf + 1;
    }
    free(all);
    free(text);
    return rc;
}

int *fc_filter_rows(const struct csv *c, int tcol, int *n)
{
    int *rows = xmalloc((size_t)(c->nrows ? c->nrows : 1) * sizeof *rows), k = 0;
    for (int i = 0; i < c->nrows; i++)
        if (!csv_is_missing(csv_cell(c, i, tcol))) rows[k++] = i;
    *n = k;
    return rows;
}

void fc_assign_folds(const double *y, int n, int nclasses, int k, struct rng *rng, int *fold)
{
    int *order = xmalloc((size_t)(n ? n : 1) * sizeof *order);
    for (int i = 0; i < n; i++) order[i] = i;
    rng_shuffle(rng, order, n);
    if (!nclasses) {
        for (int i = 0; i < n; i++) fold[order[i]] = i % k;
    } else {
        int pos = 0;
        for (int c = 0; c < nclasses; c++)
            for (int i = 0; i < n; i++)
                if ((int)y[order[i]] == c) fold[order[i]] = pos++ % k;
    }
    free(order);
}

static void copy_target(struct featurizer *f, const struct featurizer *target)
{
    f->target = xstrdup(target->target);
    f->task = target->task;
    f->nclasses = target->nclasses;
    f->classes_int = target->classes_int;
    if (f->nclasses) {
        f->classes = xmalloc((size_t)f->nclasses * sizeof *f->classes);
        for (int k = 0; k < f->nclasses; k++) f->classes[k] = xstrdup(target->classes[k]);
    }
}

int fc_fit_ensemble(long seed, int m, const struct algo *const *algos, const struct hparams *hps, const double *weights,
                    const struct csv *c, const struct featurizer *target, const int *train, int ntrain,
                    struct pipeline *pl, char *err)
{
    memset(pl, 0, sizeof *pl);
    pl->algo = &algo_ensemble;
    copy_target(&pl->f, target);
    int scale = 0;
    if (m < 1 || m > ENS_MAX_MEMBERS) return errf(err, "an ensemble needs 1 to %d members", ENS_MAX_MEMBERS);
    for (int i = 0; i < m; i++) scale |= algos[i]->needs_scaling;
    if (feat_fit(&pl->f, c, train, ntrain, scale, err)) return -1;
    int p = pl->f.nfeat, K = pl->f.task == TASK_CLASSIFICATION ? pl->f.nclasses : 0;
    double *X = xmalloc((size_t)(ntrain ? ntrain : 1) * p * sizeof *X), *y = xmalloc((size_t)(ntrain ? ntrain : 1) * sizeof *y);
    struct ens_member mem[ENS_MAX_MEMBERS];
    memset(mem, 0, sizeof mem);
    int rc = -1, fitted = 0;
    if (feat_transform(&pl->f, c, train, ntrain, X, err) || feat_target(&pl->f, c, train, ntrain, y, err)) goto out;
    struct train_data d = {ntrain, p, K, X, y, 0, NULL, NULL, (uint64_t)seed, NULL, NULL};
    for (; fitted < m; fitted++) {
        mem[fitted].a = algos[fitted];
        mem[fitted].hp = hps[fitted];
        mem[fitted].weight = weights[fitted];
        mem[fitted].model = algos[fitted]->fit(&d, &hps[fitted], err);
        if (!mem[fitted].model) goto out;
    }
    pl->model = ensemble_make(K ? K : 1, m, mem);
    rc = 0;
out:
    if (rc) for (int i = 0; i < fitted; i++) algos[i]->free(mem[i].model);
    free(X); free(y);
    return rc;
}

__attribute__((noinline)) int fc_fit_once(long seed, const struct algo *a, const struct hparams *hp, const struct csv *c,
                                          const struct csv *vc, const struct featurizer *target, const int *train,
                                          int ntrain, const int *val, int nval, fc_step_fn log_step, void *log_ctx,
                                          struct pipeline *pl, struct metric_set *train_m, struct metric_set *val_m,
                                          double *fit_seconds, double *val_pred, char *err)
{
    int skip_train_metrics = fit_seconds != NULL;
    memset(pl, 0, sizeof *pl);
    pl->algo = a;
    pl->hp = *hp;
    struct featurizer *f = &pl->f;
    copy_target(f, target);
    if (feat_fit(f, c, train, ntrain, a->needs_scaling, err)) return -1;
    int p = f->nfeat, K = f->task == TASK_CLASSIFICATION ? f->nclasses : 0, nout = K ? K : 1;
    double *X = xmalloc((size_t)ntrain * p * sizeof *X), *y = xmalloc((size_t)ntrain * sizeof *y);
    double *Xv = xmalloc((size_t)(nval ? nval : 1) * p * sizeof *Xv), *yv = xmalloc((size_t)(nval ? nval : 1) * sizeof *yv);
    int rc = -1;
    if (feat_transform(f, c, train, ntrain, X, err) || feat_target(f, c, train, ntrain, y, err)) goto out;
    if (nval && (feat_transform(f, vc, val, nval, Xv, err) || feat_target(f, vc, val, nval, yv, err))) goto out;
    struct train_data d = {ntrain, p, K, X, y, nval, Xv, yv, (uint64_t)seed, log_step, log_ctx};
    double t0 = now_seconds();
    pl->model = a->fit(&d, hp, err);
    if (fit_seconds) *fit_seconds = now_seconds() - t0;
    if (!pl->model) goto out;
    double *P = xmalloc((size_t)(ntrain > nval ? ntrain : nval) * nout * sizeof *P);
    memset(train_m, 0, sizeof *train_m);
    if (!skip_train_metrics) {   /* cross-validation folds only report validation scores */
        a->predict(pl->model, X, ntrain, P);
        if (K) metrics_classification(P, y, ntrain, K, train_m); else metrics_regression(P, y, ntrain, train_m);
    }
    memset(val_m, 0, sizeof *val_m);
    if (nval) {
        a->predict(pl->model, Xv, nval, P);
        if (K) metrics_classification(P, yv, nval, K, val_m); else metrics_regression(P, yv, nval, val_m);
        if (val_pred) memcpy(val_pred, P, (size_t)nval * nout * sizeof *P);
    }
    free(P);
    rc = 0;
out:
    free(X); free(y); free(Xv); free(yv);
    return rc;
}

int fc_cross_validate(long seed, const struct algo *a, const struct hparams *hp, const struct csv *c,
                      const struct featurizer *target, const int *rows, int n, const int *fold, int k,
                      fc_fold_fn fold_done, void *ctx, struct metric_set *mean, struct metric_set *std, double *oof,
                      char *err)
{
    int *tr = xmalloc((size_t)(n ? n : 1) * sizeof *tr), *te = xmalloc((size_t)(n ? n : 1) * sizeof *te);
    int *te_pos = oof ? xmalloc((size_t)(n ? n : 1) * sizeof *te_pos) : NULL;
    int nout = target->task == TASK_CLASSIFICATION ? target->nclasses : 1, rc = 0;
    double *pred = oof ? xmalloc((size_t)(n ? n : 1) * nout * sizeof *pred) : NULL;
    struct metric_set sum = {0}, sq = {0};
    for (int f = 0; f < k && !rc; f++) {
        int ntr = 0, nte = 0;
        for (int i = 0; i < n; i++) {
            if (fold[i] == f) { if (te_pos) te_pos[nte] = i; te[nte++] = rows[i]; }
            else tr[ntr++] = rows[i];
        }
        if (!ntr || !nte) { errf(err, "fold %d is empty or holds every row", f); rc = -1; break; }
        struct pipeline fp;
        struct metric_set tm, vm;
        double fit_s;
        if (fc_fit_once(seed, a, hp, c, c, target, tr, ntr, te, nte, NULL, NULL, &fp, &tm, &vm, &fit_s, pred, err)) {
            pipeline_free(&fp);
            rc = -1;
            break;
        }
        pipeline_free(&fp);
        if (oof)
            for (int i = 0; i < nte; i++) memcpy(oof + (size_t)te_pos[i] * nout, pred + (size_t)i * nout, nout * sizeof *pred);
        for (int i = 0; i < vm.n; i++) {
            sum.name[i] = sq.name[i] = vm.name[i];
            sum.value[i] += vm.value[i];
            sq.value[i] += vm.value[i] * vm.value[i];
        }
        sum.n = sq.n = vm.n;
        if (fold_done && fold_done(ctx, f, &vm, fit_s)) rc = 1;
        if (rc == 1 && f == k - 1) rc = 0;   /* stopping after the last fold changes nothing */
        if (rc == 1) break;
    }
    if (rc == 0) {
        *mean = sum;
        if (std) *std = sq;
        for (int i = 0; i < sum.n; i++) {
            double mu = sum.value[i] / k;
            mean->value[i] = mu;
            if (std) std->value[i] = sqrt(fmax(sq.value[i] / k - mu * mu, 0));
        }
    }
    free(tr); free(te); free(te_pos); free(pred);
    return rc;
}

static int upload_files(struct mlflow *m, const char *dir, const char *artifact_uri, char *err)
{
    for (int i = 0; MODEL_FILES[i]; i++) {
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", dir, MODEL_FILES[i]);
        char *data;
        size_t len;
        if (read_file(path, &data, &len, err)) return -1;
        int rc = mlf_upload(m, artifact_uri, MODEL_FILES[i], data, len, err);
        free(data);
        if (rc) return -1;
    }
    return 0;
}

int fc_log_model(const struct fc_model_log *ml, const struct pipeline *pl, const struct csv *c, const int *example_rows,
                 int nexample, char *err)
{
    struct mlflow *m = ml->m && ml->run_id && !mlf_offline(ml->m) ? ml->m : NULL;
    const struct algo *a = pl->algo;
    char model_id[128] = "";
    char *model_uri = NULL;
    if (m) {
        struct sbuf params;
        sb_init(&params);
        sb_puts(&params, "[");
        for (int i = 0; i < a->nparams && i < 100; i++) {
            char buf[128];
            hparams_format(a, &pl->hp, i, buf, sizeof buf);
            sb_puts(&params, i ? ",{\"key\":" : "{\"key\":");
            sb_json_str(&params, a->params[i].name);
            sb_puts(&params, ",\"value\":");
            sb_json_str(&params, buf);
            sb_puts(&params, "}");
        }
        sb_puts(&params, "]");
        if (mlf_create_logged_model(m, ml->exp_id, "model", ml->run_id, "cairn", params.data, model_id,
                                    sizeof model_id, &model_uri, err)) {
            fprintf(stderr, "%s: warning: logged model: %s\n", ml->tool, err);
            model_id[0] = 0;
        } else if (mlf_log_outputs(m, ml->run_id, model_id, 0, err))
            fprintf(stderr, "%s: warning: runs/outputs: %s\n", ml->tool, err);
        sb_free(&params);
    }
    struct model_meta meta = {ml->run_id, model_id[0] ? model_id : NULL, model_uri, ml->primary_metric,
                              ml->primary_value};
    if (write_model_dir(ml->out_dir, pl, c, example_rows, nexample, &meta, err)) {
        free(model_uri);
        return -1;
    }
    printf("model written to %s\n", ml->out_dir);
    if (model_id[0]) {
        int up = upload_files(m, ml->out_dir, model_uri, err);
        if (up) fprintf(stderr, "%s: warning: model upload: %s\n", ml->tool, err);
        if (mlf_finalize_logged_model(m, model_id, !up, err))
            fprintf(stderr, "%s: warning: finalize logged model: %s\n", ml->tool, err);
        if (!up && ml->register_name) {
            char source[256], version[32];
            snprintf(source, sizeof source, "models:/%s", model_id);
            if (mlf_register(m, ml->register_name, source, ml->run_id, model_id, ml->alias, version, sizeof version, err))
                fprintf(stderr, "%s: warning: registration: %s\n", ml->tool, err);
            else printf("registered %s version %s%s%s\n", ml->register_name, version, ml->alias ? " as @" : "",
                        ml->alias ? ml->alias : "");
        }
    }
    free(model_uri);
    return 0;
}
