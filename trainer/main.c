/* cairn-train: fit / predict on CSV data, logging to any MLflow server.
 * Exit codes: 0 ok, 1 internal error, 2 bad input (one-line message),
 * 3 the tracking server stayed unreachable (the model is still written). */
#include <cblas.h>
#include <libgen.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "fitcore.h"
#include "featurize.h"
#include "metrics.h"
#include "mlflow.h"
#include "mlmodel.h"
#include "model.h"
#include "pipeline.h"
#include "report.h"
#include "serve.h"

enum { EXIT_BAD_INPUT = 2, EXIT_UNREACHABLE = 3 };
enum { MAX_CLI_PARAMS = 64, MAX_TAGS = 32 };

struct fit_opts {
    const char *data, *target, *valid, *algo, *experiment, *run_name, *register_name, *alias, *output_dir,
        *tracking_uri, *parent_run_id, *folds;
    int task, cv, threads, no_refit, no_evaluation;
    double holdout;
    long seed;
    int nparams, ntags;
    const char *params[MAX_CLI_PARAMS], *tags[MAX_TAGS];
};

static int bad_input(const char *msg)
{
    fprintf(stderr, "cairn-train: error: %s\n", msg);
    return EXIT_BAD_INPUT;
}

static void usage(FILE *to)
{
    fprintf(to,
        "usage: cairn-train fit --data train.csv --target y --algo NAME [--task auto|classification|regression]\n"
        "           [--param k=v …] [--cv K | --holdout F | --valid valid.csv] [--seed S] [--threads N]\n"
        "           [--experiment E] [--run-name R] [--tracking-uri URI] [--tag k=v …] [--parent-run-id ID]\n"
        "           [--output-dir DIR] [--register-model NAME [--alias A]] [--folds FILE [--no-refit]]\n"
        "           [--no-evaluation]\n"
        "       cairn-train predict --model DIR|models:/… --data x.csv [--output out.csv] [--tracking-uri URI]\n"
        "       cairn-train explain --model DIR|models:/… --data labelled.csv --output-dir DIR [--n-repeats 5]\n"
        "           [--max-rows 2000] [--seed S] [--tracking-uri URI]\n"
        "       cairn-train serve --model DIR|models:/NAME@ALIAS|models:/NAME/N|runs:/ID/PATH [--host H] [--port P]\n"
        "           [--workers N] [--tracking-uri URI] [--reload-alias SECONDS] [--max-body BYTES] [--max-rows N]\n"
        "algorithms: %s\n", algo_names());
}

/* ---------------------------------------------------------------- logging */
struct tracker {
    struct mlflow *m;
    char exp_id[64], run_id[64];
    char *artifact_uri;
    int active;
};

static void log_step_cb(void *ctx, const char *key, double value, int step)
{
    struct tracker *t = ctx;
    if (t->active) mlf_log_metric(t->m, t->run_id, key, value, step);
}

static void log_metrics(struct tracker *t, const char *prefix, const struct metric_set *ms)
{
    for (int i = 0; t->active && i < ms->n; i++) {
        char key[128];
        snprintf(key, sizeof key, "%s%s", prefix, ms->name[i]);
        mlf_log_metric(t->m, t->run_id, key, ms->value[i], 0);
    }
}

/* ---------------------------------------------------------------- data */
struct fold_log { struct tracker *t; int K; };

static int fold_logged(void *ctx, int k, const struct metric_set *vm, double fit_seconds)
{
    struct fold_log *fl = ctx;
    const char *name = fl->K ? "accuracy_score" : "r2_score";
    if (fl->t->active) mlf_log_metric(fl->t->m, fl->t->run_id, fl->K ? "cv_fold_accuracy_score" : "cv_fold_r2_score",
                                      metric_get(vm, name), k);
    printf("fold %d: %s=%.6f fit %.4f s\n", k, name, metric_get(vm, name), fit_seconds);
    return 0;
}

/* Confusion matrix + curves or residuals on `rows`, and permutation
 * importance on up to EVAL_IMPORTANCE_ROWS of them (a seeded sample). */
enum { EVAL_IMPORTANCE_ROWS = 2000, EVAL_REPEATS = 5 };
static int evaluation_report(const struct pipeline *pl, const struct csv *c, const int *rows, int n, uint64_t seed,
                             struct report *rep, char *err)
{
    int p = pl->f.nfeat, K = pl->f.task == TASK_CLASSIFICATION ? pl->f.nclasses : 0, nout = K ? K : 1, rc = -1;
    double *X = xmalloc((size_t)(n ? n : 1) * (p ? p : 1) * sizeof *X), *y = xmalloc((size_t)(n ? n : 1) * sizeof *y);
    double *P = xmalloc((size_t)(n ? n : 1) * nout * sizeof *P);
    int *sample = NULL;
    if (feat_transform(&pl->f, c, rows, n, X, err) || feat_target(&pl->f, c, rows, n, y, err)) goto out;
    pl->algo->predict(pl->model, X, n, P);
    if (K) report_classification(rep, P, y, n, K, pl->f.classes); else report_regression(rep, P, y, n);
    int ns = n;
    sample = xmalloc((size_t)(n ? n : 1) * sizeof *sample);
    memcpy(sample, rows, (size_t)n * sizeof *sample);
    if (n > EVAL_IMPORTANCE_ROWS) {
        struct rng rng;
        rng_seed(&rng, seed ^ 0x5eedULL);
        rng_shuffle(&rng, sample, n);
        ns = EVAL_IMPORTANCE_ROWS;
    }
    rc = report_permutation_importance(rep, pl, c, sample, ns, EVAL_REPEATS, seed, err);
out:
    free(X); free(y); free(P); free(sample);
    return rc;
}

/* ---------------------------------------------------------------- fit */
__attribute__((noinline)) static int parse_fit(int argc, char **argv, struct fit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->holdout = -1;
    o->threads = 1;
    o->tracking_uri = getenv("MLFLOW_TRACKING_URI");
    o->experiment = getenv("MLFLOW_EXPERIMENT_NAME");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char msg[ERR_LEN];
#define NEED() do { if (!v) { snprintf(msg, sizeof msg, "%s needs a value", a); return bad_input(msg); } i++; } while (0)
        const struct fc_flags ff = {&o->data, &o->target, &o->valid, &o->experiment, &o->register_name, &o->alias,
                                    &o->output_dir, &o->tracking_uri, &o->task, &o->cv, &o->holdout, &o->seed};
        int common = fc_common_flag(a, v, &ff, msg);
        if (common < 0) return bad_input(msg);
        if (common) { i++; continue; }
        if (!strcmp(a, "--algo")) { NEED(); o->algo = v; }
        else if (!strcmp(a, "--run-name")) { NEED(); o->run_name = v; }
        else if (!strcmp(a, "--parent-run-id")) { NEED(); o->parent_run_id = v; }
        else if (!strcmp(a, "--folds")) { NEED(); o->folds = v; }
        else if (!strcmp(a, "--no-refit")) o->no_refit = 1;
        else if (!strcmp(a, "--no-evaluation")) o->no_evaluation = 1;
        else if (!strcmp(a, "--param")) {
            NEED();
            if (o->nparams == MAX_CLI_PARAMS) return bad_input("too many --param");
            o->params[o->nparams++] = v;
        } else if (!strcmp(a, "--tag")) {
            NEED();
            if (o->ntags == MAX_TAGS || !strchr(v, '=')) return bad_input("--tag expects key=value");
            o->tags[o->ntags++] = v;
        } else if (!strcmp(a, "--threads")) {
            long n;
            NEED();
            if (parse_long(v, &n) || n < 1 || n > 1024) return bad_input("--threads must be in [1, 1024]");
            o->threads = (int)n;
        } else {
            snprintf(msg, sizeof msg, "unknown option %s (see cairn-train --help)", a);
            return bad_input(msg);
        }
#undef NEED
    }
    if (!o->data) return bad_input("--data is required");
    if (!o->target) return bad_input("--target is required");
    if (!o->algo) return bad_input("--algo is required");
    if ((o->cv > 0 || o->folds) + (o->holdout > 0) + (o->valid != NULL) > 1)
        return bad_input("use only one of --cv/--folds, --holdout, --valid");
    if (o->no_refit && !o->folds && !o->cv) return bad_input("--no-refit needs --cv or --folds");
    if (o->alias && !o->register_name) return bad_input("--alias needs --register-model");
    return 0;
}

__attribute__((noinline)) static void dataset_json(const char *path, const char *text_digest, const struct csv *c, const struct featurizer *f,
                         struct sbuf *b)
{
    char *copy = xstrdup(path), *base = basename(copy), *dot = strrchr(base, '.');
    if (dot) *dot = 0;
    char abs[4096];
    if (!realpath(path, abs)) snprintf(abs, sizeof abs, "%s", path);
    struct sbuf src, schema, profile;
    sb_init(&src); sb_init(&schema); sb_init(&profile);
    sb_puts(&src, "{\"uri\": ");
    sb_json_str(&src, abs);
    sb_puts(&src, "}");
    sb_puts(&schema, "{\"mlflow_colspec\": ");
    signature_inputs_json(f, &schema);
    sb_puts(&schema, "}");
    sb_printf(&profile, "{\"num_rows\": %d, \"num_elements\": %lld}", c->nrows, (long long)c->nrows * c->ncols);
    sb_puts(b, "{\"name\":");
    sb_json_str(b, base);
    sb_puts(b, ",\"digest\":");
    char d8[9];
    memcpy(d8, text_digest, 8);
    d8[8] = 0;
    sb_json_str(b, d8);
    sb_puts(b, ",\"source_type\":\"local\",\"source\":");
    sb_json_str(b, src.data);
    sb_puts(b, ",\"schema\":");
    sb_json_str(b, schema.data);
    sb_puts(b, ",\"profile\":");
    sb_json_str(b, profile.data);
    sb_puts(b, "}");
    sb_free(&src); sb_free(&schema); sb_free(&profile);
    free(copy);
}

static int cmd_fit(int argc, char **argv)
{
    struct fit_opts o;
    int rc = parse_fit(argc, argv, &o);
    if (rc) return rc;
    char err[ERR_LEN];
    const struct algo *a = algo_find(o.algo);
    if (!a) {
        snprintf(err, sizeof err, "unknown algorithm \"%s\" (known: %s)", o.algo, algo_names());
        return bad_input(err);
    }
    struct hparams hp;
    hparams_defaults(a, &hp);
    for (int i = 0; i < o.nparams; i++)
        if (hparams_set(a, &hp, o.params[i], err)) return bad_input(err);
    openblas_set_num_threads(o.threads);

    /* ---- all input validation happens before anything is logged ---- */
    struct csv c = {0}, vc = {0};
    char *raw;
    size_t rawlen;
    if (read_file(o.data, &raw, &rawlen, err)) return bad_input(err);
    char digest[65];
    sha256_hex(raw, rawlen, digest);
    int parsed = csv_parse(raw, rawlen, o.data, &c, err);
    free(raw);
    if (parsed) return bad_input(err);
    int tcol = csv_column(&c, o.target);
    if (tcol < 0) { snprintf(err, sizeof err, "target column \"%s\" is not in %s", o.target, o.data); csv_free(&c); return bad_input(err); }
    int n, *rows = fc_filter_rows(&c, tcol, &n);
    struct featurizer target = {0};
    int exit_code = 0;
    struct tracker t = {0};
    struct pipeline pl = {0};
    int *train = NULL, *val = NULL, *fold = NULL, ntrain = 0, nval = 0;
    double *ytmp = NULL;
    char *out_dir = NULL;
    if (n < 2) { exit_code = bad_input("fewer than 2 rows with a target value"); goto done; }
    if (feat_target_fit(&target, &c, o.target, o.task, rows, n, err)) { exit_code = bad_input(err); goto done; }
    if (o.valid) {
        if (fc_read_valid(o.valid, &target, &vc, &val, &nval, err)) { exit_code = bad_input(err); goto done; }
        train = xmalloc((size_t)n * sizeof *train);
        memcpy(train, rows, (size_t)n * sizeof *train);
        ntrain = n;
    }
    /* targets for stratification */
    ytmp = xmalloc((size_t)n * sizeof *ytmp);
    if (feat_target(&target, &c, rows, n, ytmp, err)) { exit_code = bad_input(err); goto done; }
    struct rng rng;
    rng_seed(&rng, (uint64_t)o.seed);
    fold = xmalloc((size_t)n * sizeof *fold);
    int K = target.task == TASK_CLASSIFICATION ? target.nclasses : 0;
    if (!o.valid && !o.cv && !o.folds) {
        /* holdout (default 0.2): a 1/round(1/F) stratified share */
        double h = o.holdout > 0 ? o.holdout : 0.2;
        if (fc_holdout_split(ytmp, rows, n, K, h, &rng, fold, &train, &ntrain, &val, &nval, err)) {
            exit_code = bad_input(err);
            goto done;
        }
    } else if (o.folds) {
        if (fc_read_folds(o.folds, c.nrows, rows, n, fold, &o.cv, err)) { exit_code = bad_input(err); goto done; }
    } else if (o.cv) {
        if (n < o.cv) { exit_code = bad_input("fewer rows than --cv folds"); goto done; }
        fc_assign_folds(ytmp, n, K, o.cv, &rng, fold);
    }
    const struct csv *valc = o.valid ? &vc : &c;

    /* ---- tracking ---- */
    char run_name[256];
    if (o.run_name) snprintf(run_name, sizeof run_name, "%s", o.run_name);
    else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
        snprintf(run_name, sizeof run_name, "%s-%s", a->name, ts);
    }
    if (o.tracking_uri && *o.tracking_uri) {
        t.m = mlf_new(o.tracking_uri);
        const char *user = getenv("USER");
        char est_name[64];
        const char *dotp = strrchr(a->estimator_class, '.');
        snprintf(est_name, sizeof est_name, "%s", dotp ? dotp + 1 : a->estimator_class);
        const char **tags = xmalloc((2 * (MAX_TAGS + 8) + 1) * sizeof *tags);
        int nt = 0;
        char *tag_copies[MAX_TAGS] = {0};
        tags[nt++] = "mlflow.source.type"; tags[nt++] = "LOCAL";
        tags[nt++] = "mlflow.source.name"; tags[nt++] = "cairn-train";
        tags[nt++] = "mlflow.user"; tags[nt++] = user ? user : "unknown";
        tags[nt++] = "estimator_name"; tags[nt++] = est_name;
        tags[nt++] = "estimator_class"; tags[nt++] = a->estimator_class;
        if (o.parent_run_id) { tags[nt++] = "mlflow.parentRunId"; tags[nt++] = o.parent_run_id; }
        for (int i = 0; i < o.ntags; i++) {
            tag_copies[i] = xstrdup(o.tags[i]);
            char *eq = strchr(tag_copies[i], '=');
            *eq = 0;
            tags[nt++] = tag_copies[i]; tags[nt++] = eq + 1;
        }
        tags[nt] = NULL;
        const char *exp = o.experiment ? o.experiment : "Default";
        if (mlf_experiment_id(t.m, exp, t.exp_id, sizeof t.exp_id, err) ||
            mlf_create_run(t.m, t.exp_id, run_name, tags, t.run_id, sizeof t.run_id, &t.artifact_uri, err)) {
            fprintf(stderr, "cairn-train: warning: %s; training without tracking\n", err);
            if (!mlf_offline(t.m)) { /* a deterministic server-side refusal, e.g. a deleted experiment */
                for (int i = 0; i < o.ntags; i++) free(tag_copies[i]);
                free(tags);
                exit_code = bad_input(err);
                goto done;
            }
        } else t.active = 1;
        for (int i = 0; i < o.ntags; i++) free(tag_copies[i]);
        free(tags);
    }
    if (t.active) {
        for (int i = 0; i < a->nparams; i++) {
            char buf[128];
            hparams_format(a, &hp, i, buf, sizeof buf);
            mlf_log_param(t.m, t.run_id, a->params[i].name, buf);
        }
        char buf[64];
        mlf_log_param(t.m, t.run_id, "algorithm", a->name);
        mlf_log_param(t.m, t.run_id, "task", target.task == TASK_REGRESSION ? "regression" : "classification");
        snprintf(buf, sizeof buf, "%ld", o.seed);
        mlf_log_param(t.m, t.run_id, "seed", buf);
        if (o.cv) snprintf(buf, sizeof buf, "cv:%d", o.cv);
        else if (o.valid) snprintf(buf, sizeof buf, "valid_file");
        else snprintf(buf, sizeof buf, "holdout:%g", o.holdout > 0 ? o.holdout : 0.2);
        mlf_log_param(t.m, t.run_id, "validation", buf);
        snprintf(buf, sizeof buf, "%d", o.threads);
        mlf_log_param(t.m, t.run_id, "threads", buf);
        struct featurizer probe = {0};
        probe.target = target.target;
        /* dataset input: the schema of the raw columns */
        struct featurizer tmpf = {0};
        tmpf.target = xstrdup(target.target);
        tmpf.task = target.task;
        char ferr[ERR_LEN];
        if (!feat_fit(&tmpf, &c, rows, n, 0, ferr)) {
            struct sbuf ds;
            sb_init(&ds);
            dataset_json(o.data, digest, &c, &tmpf, &ds);
            if (mlf_log_dataset(t.m, t.run_id, ds.data, "training", err))
                fprintf(stderr, "cairn-train: warning: log-inputs: %s\n", err);
            sb_free(&ds);
        }
        feat_free(&tmpf);
        (void)probe;
    }

    /* ---- training ---- */
    double t0 = now_seconds();
    struct metric_set train_m, val_m, cv_sum = {0}, cv_sq = {0};
    if (o.cv) {
        struct fold_log fl = {&t, K};
        if (fc_cross_validate(o.seed, a, &hp, &c, &target, rows, n, fold, o.cv, fold_logged, &fl, &cv_sum, &cv_sq, NULL,
                              err)) {
            exit_code = bad_input(err);
            goto done;
        }
        if (o.no_refit) {
            for (int i = 0; i < cv_sum.n; i++) {
                double mean = cv_sum.value[i];
                printf("cv %s=%.6f\n", cv_sum.name[i], mean);
                if (t.active) {
                    char key[128];
                    snprintf(key, sizeof key, "val_%s", cv_sum.name[i]);
                    mlf_log_metric(t.m, t.run_id, key, mean, 0);
                }
            }
            if (t.active) {
                mlf_flush(t.m);
                if (!mlf_offline(t.m)) mlf_end_run(t.m, t.run_id, "FINISHED", err);
            }
            goto done;
        }
        if (fc_fit_once(o.seed, a, &hp, &c, &c, &target, rows, n, NULL, 0, log_step_cb, &t, &pl,
                        &train_m, &val_m, NULL, NULL, err)) {
            exit_code = bad_input(err);
            goto done;
        }
        val_m = cv_sum;
    } else if (fc_fit_once(o.seed, a, &hp, &c, valc, &target, train, ntrain, val, nval, log_step_cb, &t,
                           &pl, &train_m, &val_m, NULL, NULL, err)) {
        exit_code = bad_input(err);
        goto done;
    }
    double fit_time = now_seconds() - t0;
    const char *primary = K ? "accuracy_score" : "r2_score";
    double primary_val = metric_get(&val_m, primary);
    printf("%s: %s=%.6f (validation), fit %.3f s\n", a->name, primary, primary_val, fit_time);
    if (t.active) {
        log_metrics(&t, "training_", &train_m);
        log_metrics(&t, "val_", &val_m);
        mlf_log_metric(t.m, t.run_id, "training_score", metric_get(&train_m, primary), 0);
        if (o.cv) {
            for (int i = 0; i < cv_sq.n; i++) {
                char key[128];
                snprintf(key, sizeof key, "val_%s_std", cv_sq.name[i]);
                mlf_log_metric(t.m, t.run_id, key, cv_sq.value[i], 0);
            }
        }
        mlf_log_metric(t.m, t.run_id, "fit_time_s", fit_time, 0);
        mlf_log_metric(t.m, t.run_id, "peak_rss_mb", peak_rss_kb() / 1024.0, 0);
    }

    /* ---- the model: logged model first (its id goes into MLmodel), then files ---- */
    struct sbuf out_dir_buf;
    sb_init(&out_dir_buf);
    if (o.output_dir) sb_puts(&out_dir_buf, o.output_dir);
    else sb_printf(&out_dir_buf, "cairn-models/%s", run_name);
    out_dir = out_dir_buf.data;
    int nex = ntrain && train ? (ntrain < 5 ? ntrain : 5) : (n < 5 ? n : 5);
    struct fc_model_log ml = {t.m, t.exp_id, t.active ? t.run_id : NULL, out_dir, o.register_name, o.alias,
                              "cairn-train", primary, primary_val};
    if (fc_log_model(&ml, &pl, &c, train ? train : rows, nex, err)) {
        fprintf(stderr, "cairn-train: error: %s\n", err);
        exit_code = 1;
        goto done;
    }
    if (!o.no_evaluation) {
        /* held-out rows when there are some; with --cv, the training rows */
        const struct csv *ec = nval ? valc : &c;
        const int *erows = nval ? val : o.cv ? rows : train;
        int en = nval ? nval : o.cv ? n : ntrain;
        struct report rep = {0};
        char edir[4200];
        snprintf(edir, sizeof edir, "%s/evaluation", out_dir);
        if (evaluation_report(&pl, ec, erows, en, (uint64_t)o.seed, &rep, err) || report_write(&rep, edir, err))
            fprintf(stderr, "cairn-train: warning: evaluation artifacts: %s\n", err);
        else if (t.active && !mlf_offline(t.m)) {
            for (int i = 0; i < rep.n; i++) {
                char rel[256];
                snprintf(rel, sizeof rel, "evaluation/%s", rep.name[i]);
                if (mlf_upload(t.m, t.artifact_uri, rel, rep.body[i].data, rep.body[i].len, err)) {
                    fprintf(stderr, "cairn-train: warning: evaluation upload: %s\n", err);
                    break;
                }
            }
        }
        report_free(&rep);
    }
    if (t.active) {
        mlf_flush(t.m);
        if (!mlf_offline(t.m) && mlf_end_run(t.m, t.run_id, "FINISHED", err))
            fprintf(stderr, "cairn-train: warning: %s\n", err);
        printf("run %s in experiment %s\n", t.run_id, t.exp_id);
    }
done:
    if (t.m) {
        if (exit_code == EXIT_BAD_INPUT && t.active && !mlf_offline(t.m)) {
            mlf_flush(t.m);
            char e2[ERR_LEN];
            mlf_end_run(t.m, t.run_id, "FAILED", e2);
        }
        mlf_flush(t.m);
        if (!exit_code && mlf_offline(t.m)) {
            fprintf(stderr, "cairn-train: tracking server %s unreachable; the model is in %s\n",
                    mlf_uri(t.m), o.output_dir ? o.output_dir : "./cairn-models");
            exit_code = EXIT_UNREACHABLE;
        }
        mlf_free(t.m);
    }
    free(t.artifact_uri);
    free(out_dir);
    pipeline_free(&pl);
    feat_free(&target);
    free(rows); free(train); free(val); free(fold); free(ytmp);
    csv_free(&c);
    csv_free(&vc);
    return exit_code;
}

/* ---------------------------------------------------------------- predict */
static int fetch_model(const char *uri, const char *tracking_uri, char *dir, size_t dirlen, char *err)
{
    if (!tracking_uri || !*tracking_uri) return errf(err, "%s needs --tracking-uri or MLFLOW_TRACKING_URI", uri);
    struct mlflow *m = mlf_new(tracking_uri);
    char *art = NULL, *data = NULL;
    size_t len;
    int rc = -1;
    if (mlf_resolve_model_uri(m, uri, &art, err)) goto out;
    if (mlf_download(m, art, "model.cairn", &data, &len, err)) goto out;
    snprintf(dir, dirlen, "/tmp/cairn-model-XXXXXX");
    if (!mkdtemp(dir)) { errf(err, "cannot create a temporary directory"); goto out; }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.cairn", dir);
    rc = write_file(path, data, len, err);
out:
    free(art); free(data);
    mlf_free(m);
    return rc;
}

static int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *output = NULL, *tracking = getenv("MLFLOW_TRACKING_URI");
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return bad_input("every option needs a value");
        if (!strcmp(argv[i], "--model")) model = v;
        else if (!strcmp(argv[i], "--data")) data = v;
        else if (!strcmp(argv[i], "--output")) output = v;
        else if (!strcmp(argv[i], "--tracking-uri")) tracking = v;
        else {
            char msg[ERR_LEN];
            snprintf(msg, sizeof msg, "unknown option %s", argv[i]);
            return bad_input(msg);
        }
        i++;
    }
    if (!model || !data) return bad_input("predict needs --model and --data");
    char err[ERR_LEN], dir[4096], path[4200];
    int fetched = 0;
    if (strncmp(model, "models:/", 8) == 0 || strncmp(model, "runs:/", 6) == 0) {
        if (fetch_model(model, tracking, dir, sizeof dir, err)) return bad_input(err);
        fetched = 1;
    } else snprintf(dir, sizeof dir, "%s", model);
    snprintf(path, sizeof path, "%s/model.cairn", dir);
    struct pipeline pl;
    int lrc = pipeline_load(path, &pl, err);
    if (fetched) { unlink(path); rmdir(dir); }
    if (lrc) return bad_input(err);
    struct csv c;
    if (csv_read(data, &c, err)) { pipeline_free(&pl); return bad_input(err); }
    double *P;
    if (pipeline_predict_csv(&pl, &c, &P, err)) { csv_free(&c); pipeline_free(&pl); return bad_input(err); }
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) { perror(output); csv_free(&c); pipeline_free(&pl); free(P); return 1; }
    struct sbuf b;
    sb_init(&b);
    int K = pl.f.task == TASK_CLASSIFICATION ? pl.f.nclasses : 0;
    sb_puts(&b, "prediction");
    for (int k = 0; k < K; k++) sb_printf(&b, ",prob_%s", pl.f.classes[k]);
    sb_puts(&b, "\n");
    for (int i = 0; i < c.nrows; i++) {
        if (K) {
            const double *p = P + (size_t)i * K;
            sb_puts(&b, pl.f.classes[argmax_row(p, K)]);
            for (int k = 0; k < K; k++) sb_printf(&b, ",%.17g", p[k]);
        } else sb_printf(&b, "%.17g", P[i]);
        sb_puts(&b, "\n");
    }
    fwrite(b.data, 1, b.len, out);
    if (output) fclose(out);
    sb_free(&b);
    free(P);
    csv_free(&c);
    pipeline_free(&pl);
    return 0;
}

/* ---------------------------------------------------------------- explain */
static int cmd_explain(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *output = NULL, *tracking = getenv("MLFLOW_TRACKING_URI");
    long repeats = EVAL_REPEATS, max_rows = EVAL_IMPORTANCE_ROWS, seed = 0;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return bad_input("every option needs a value");
        if (!strcmp(argv[i], "--model")) model = v;
        else if (!strcmp(argv[i], "--data")) data = v;
        else if (!strcmp(argv[i], "--output-dir")) output = v;
        else if (!strcmp(argv[i], "--tracking-uri")) tracking = v;
        else if (!strcmp(argv[i], "--n-repeats")) {
            if (parse_long(v, &repeats) || repeats < 1 || repeats > 1000) return bad_input("--n-repeats must be in [1, 1000]");
        } else if (!strcmp(argv[i], "--max-rows")) {
            if (parse_long(v, &max_rows) || max_rows < 1) return bad_input("--max-rows must be a positive integer");
        } else if (!strcmp(argv[i], "--seed")) {
            if (parse_long(v, &seed) || seed < 0) return bad_input("--seed must be a non-negative integer");
        } else {
            char msg[ERR_LEN];
            snprintf(msg, sizeof msg, "unknown option %s", argv[i]);
            return bad_input(msg);
        }
        i++;
    }
    if (!model || !data || !output) return bad_input("explain needs --model, --data and --output-dir");
    char err[ERR_LEN], dir[4096], path[4200];
    int fetched = 0;
    if (strncmp(model, "models:/", 8) == 0 || strncmp(model, "runs:/", 6) == 0) {
        if (fetch_model(model, tracking, dir, sizeof dir, err)) return bad_input(err);
        fetched = 1;
    } else snprintf(dir, sizeof dir, "%s", model);
    snprintf(path, sizeof path, "%s/model.cairn", dir);
    struct pipeline pl;
    int lrc = pipeline_load(path, &pl, err);
    if (fetched) { unlink(path); rmdir(dir); }
    if (lrc) return bad_input(err);
    struct csv c;
    if (csv_read(data, &c, err)) { pipeline_free(&pl); return bad_input(err); }
    int rc = 0, tcol = csv_column(&c, pl.f.target), n = 0, *rows = NULL;
    struct report rep = {0};
    if (tcol < 0) {
        snprintf(err, sizeof err, "target column \"%s\" is not in %s (explain needs labelled rows)", pl.f.target, data);
        rc = bad_input(err);
        goto out;
    }
    rows = fc_filter_rows(&c, tcol, &n);
    if (n < 2) { rc = bad_input("fewer than 2 rows with a target value"); goto out; }
    if (n > max_rows) {
        struct rng rng;
        rng_seed(&rng, (uint64_t)seed ^ 0x5eedULL);
        rng_shuffle(&rng, rows, n);
        n = (int)max_rows;
    }
    if (report_permutation_importance(&rep, &pl, &c, rows, n, (int)repeats, (uint64_t)seed, err)) { rc = bad_input(err); goto out; }
    if (report_write(&rep, output, err)) { fprintf(stderr, "cairn-train: error: %s\n", err); rc = 1; goto out; }
    printf("permutation importance of %d columns on %d rows written to %s\n", pl.f.nraw, n, output);
out:
    report_free(&rep);
    free(rows);
    csv_free(&c);
    pipeline_free(&pl);
    return rc;
}

int main(int argc, char **argv)
{
    /* A batch trainer allocates and frees the same large working sets fold after fold: keep them
     * in the heap (up to glibc's 32 MiB cap) and don't trim it, so later fits reuse memory that is
     * already mapped instead of faulting fresh pages in every time */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_BAD_INPUT : 0;
    }
    if (!strcmp(argv[1], "fit")) return cmd_fit(argc, argv);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc, argv);
    if (!strcmp(argv[1], "explain")) return cmd_explain(argc, argv);
    if (!strcmp(argv[1], "serve")) return cmd_serve(argc, argv);
    fprintf(stderr, "cairn-train: error: unknown command \"%s\" (fit, predict, explain, serve)\n", argv[1]);
    return EXIT_BAD_INPUT;
}
