/* cairn-sweep: AutoML over cairn-train's algorithms. Given a dataset, a
 * target, a metric and a budget it runs trials (separate processes,
 * --parallel at a time), stops bad ones early, logs every trial as a child
 * run of one parent run, and logs/registers the best model.
 * Exit codes as cairn-train's: 0 ok, 1 internal error, 2 bad input (one
 * line), 3 tracking server unreachable (the model is still written);
 * 130/143 after SIGINT/SIGTERM (no run is left RUNNING). */
#include <cblas.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../fitcore.h"
#include "../ensemble.h"
#include "../mlmodel.h"
#include "sweeper.h"

volatile int sw_stop;
static void on_signal(int sig) { sw_stop = sig; }

static int bad_input(const char *msg)
{
    fprintf(stderr, "cairn-sweep: error: %s\n", msg);
    return EXIT_BAD_INPUT;
}

static void usage(FILE *to)
{
    fprintf(to,
        "usage: cairn-sweep --data train.csv --target y [--task auto|classification|regression] [--metric NAME]\n"
        "           [--algos logreg,gbdt,… | --space sweep.yaml] [--budget 300s] [--max-trials N] [--target-score S]\n"
        "           [--parallel P] [--trial-timeout T] [--search auto|random|grid|tpe]\n"
        "           [--early-termination bandit:slack_factor=0.1,evaluation_interval=1,delay_evaluation=0\n"
        "              | median:evaluation_interval=1,delay_evaluation=0 | truncation:truncation_percentage=20,…\n"
        "              | asha:eta=3,min=200 | asha:eta=3,resource=iterations | none]\n"
        "           [--cv K | --folds FILE | --holdout F | --valid valid.csv] [--register-model NAME [--alias A]] [--experiment E]\n"
        "           [--sweep-name N] [--seed S] [--tracking-uri URI] [--output-dir DIR] [--ensemble]\n"
        "metrics: accuracy, AUC_weighted, f1_score_weighted, precision_score_weighted, recall_score_weighted, log_loss;\n"
        "         r2_score, normalized_root_mean_squared_error, normalized_mean_absolute_error, root_mean_squared_error,\n"
        "         mean_absolute_error\n"
        "algorithms: %s\n", algo_names());
}

static const struct pmetric METRICS[] = {
    {"accuracy", "accuracy_score", TASK_CLASSIFICATION, 1, 0},
    {"AUC_weighted", "roc_auc", TASK_CLASSIFICATION, 1, 0},
    {"f1_score_weighted", "f1_score", TASK_CLASSIFICATION, 1, 0},
    {"precision_score_weighted", "precision_score", TASK_CLASSIFICATION, 1, 0},
    {"recall_score_weighted", "recall_score", TASK_CLASSIFICATION, 1, 0},
    {"log_loss", "log_loss", TASK_CLASSIFICATION, 0, 0},
    {"r2_score", "r2_score", TASK_REGRESSION, 1, 0},
    {"normalized_root_mean_squared_error", "root_mean_squared_error", TASK_REGRESSION, 0, 1},
    {"normalized_mean_absolute_error", "mean_absolute_error", TASK_REGRESSION, 0, 1},
    {"root_mean_squared_error", "root_mean_squared_error", TASK_REGRESSION, 0, 0},
    {"mean_absolute_error", "mean_absolute_error", TASK_REGRESSION, 0, 0},
    {"mean_squared_error", "mean_squared_error", TASK_REGRESSION, 0, 0},
};

static int find_metric(const char *name, struct pmetric *out)
{
    for (size_t i = 0; i < sizeof METRICS / sizeof *METRICS; i++)
        if (!strcmp(METRICS[i].name, name) || !strcmp(METRICS[i].internal, name) ||
            (!strcmp(name, "r2") && !strcmp(METRICS[i].name, "r2_score")) ||
            (!strcmp(name, "roc_auc") && !strcmp(METRICS[i].name, "AUC_weighted"))) {
            *out = METRICS[i];
            if (!strcmp(name, "accuracy_score")) out->name = "accuracy";
            return 0;
        }
    return -1;
}

/* "300", "300s", "5m", "1h" */
static int parse_duration(const char *s, double *out)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    size_t n = strlen(buf);
    double mul = 1;
    if (n && (buf[n - 1] == 's' || buf[n - 1] == 'm' || buf[n - 1] == 'h')) {
        mul = buf[n - 1] == 'm' ? 60 : buf[n - 1] == 'h' ? 3600 : 1;
        buf[n - 1] = 0;
    }
    if (parse_double(buf, out) || !(*out > 0) || !isfinite(*out)) return -1;
    *out *= mul;
    return 0;
}

static int parse_policy(const char *text, struct sweep_opts *o, char *err)
{
    o->early_text = text;
    o->interval = 1;
    o->delay = 0;
    o->slack_factor = 0;
    o->slack_amount = 0;
    o->trunc_pct = 20;
    o->asha_eta = 0;
    o->asha_min = 0;
    o->asha_iters = 0;
    if (!strcmp(text, "none")) { o->policy = P_NONE; return 0; }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *colon = strchr(buf, ':'), *args = colon ? colon + 1 : NULL;
    if (colon) *colon = 0;
    int asha = 0;
    if (!strcmp(buf, "bandit")) o->policy = P_BANDIT;
    else if (!strcmp(buf, "median")) o->policy = P_MEDIAN;
    else if (!strcmp(buf, "truncation")) o->policy = P_TRUNCATION;
    else if (!strcmp(buf, "asha")) { o->policy = P_NONE; asha = 1; o->asha_eta = 3; o->asha_min = 0; }
    else return errf(err, "--early-termination must be bandit:…, median:…, truncation:…, asha:… or none");
    char *save = NULL;
    for (char *kv = args ? strtok_r(args, ",", &save) : NULL; kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        double v;
        if (asha && eq && !strncmp(kv, "resource=", 9)) {
            if (!strcmp(eq + 1, "rows") || !strcmp(eq + 1, "sample_size")) o->asha_iters = 0;
            else if (!strcmp(eq + 1, "iterations") || !strcmp(eq + 1, "rounds") || !strcmp(eq + 1, "epochs"))
                o->asha_iters = 1;
            else return errf(err, "--early-termination: resource must be rows or iterations (rounds, epochs)");
            continue;
        }
        if (!eq || parse_double(eq + 1, &v) || !isfinite(v)) return errf(err, "--early-termination: \"%s\" is not key=number", kv);
        *eq = 0;
        const char *k = kv;
        if (!asha && (!strcmp(k, "evaluation_interval") || !strcmp(k, "interval"))) {
            if (v < 1 || v != floor(v)) return errf(err, "--early-termination: %s must be a positive integer", k);
            o->interval = (int)v;
        } else if (!asha && (!strcmp(k, "delay_evaluation") || !strcmp(k, "delay"))) {
            if (v < 0 || v != floor(v)) return errf(err, "--early-termination: %s must be a non-negative integer", k);
            o->delay = (int)v;
        } else if (o->policy == P_BANDIT && (!strcmp(k, "slack_factor") || !strcmp(k, "slack"))) {
            if (v <= 0) return errf(err, "--early-termination: slack_factor must be positive");
            o->slack_factor = v;
        } else if (o->policy == P_BANDIT && !strcmp(k, "slack_amount")) {
            if (v <= 0) return errf(err, "--early-termination: slack_amount must be positive");
            o->slack_amount = v;
        } else if (o->policy == P_TRUNCATION && (!strcmp(k, "truncation_percentage") || !strcmp(k, "pct"))) {
            if (v < 1 || v > 99) return errf(err, "--early-termination: truncation_percentage must be in [1, 99]");
            o->trunc_pct = v;
        } else if (asha && !strcmp(k, "eta")) {
            if (v < 2 || v > 10) return errf(err, "--early-termination: eta must be in [2, 10]");
            o->asha_eta = v;
        } else if (asha && !strcmp(k, "min")) {
            if (v < 10 || v != floor(v)) return errf(err, "--early-termination: min (rows) must be an integer >= 10");
            o->asha_min = (int)v;
        } else return errf(err, "--early-termination %s: unknown setting \"%s\"", buf, k);
    }
    if (o->policy == P_BANDIT && !o->slack_factor && !o->slack_amount) o->slack_factor = 0.1;
    if (o->asha_iters && o->asha_min) return errf(err, "--early-termination: min (rows) applies to resource=rows only");
    return 0;
}

static int parse_args(int argc, char **argv, struct sweep_opts *o)
{
    memset(o, 0, sizeof *o);
    o->holdout = -1;
    o->parallel = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o->parallel < 1) o->parallel = 1;
    o->tracking_uri = getenv("MLFLOW_TRACKING_URI");
    o->experiment = getenv("MLFLOW_EXPERIMENT_NAME");
    o->early_text = "none";
    char msg[ERR_LEN];
    const char *early = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) { snprintf(msg, sizeof msg, "%s needs a value", a); return bad_input(msg); } i++; } while (0)
        const struct fc_flags ff = {&o->data, &o->target, &o->valid, &o->experiment, &o->register_name, &o->alias,
                                    &o->output_dir, &o->tracking_uri, &o->task, &o->cv, &o->holdout, &o->seed};
        int common = fc_common_flag(a, v, &ff, msg);
        if (common < 0) return bad_input(msg);
        if (common) { i++; continue; }
        if (!strcmp(a, "--algos")) { NEED(); o->algos = v; }
        else if (!strcmp(a, "--space")) { NEED(); o->space_file = v; }
        else if (!strcmp(a, "--metric")) { NEED(); o->metric = v; }
        else if (!strcmp(a, "--sweep-name")) { NEED(); o->sweep_name = v; }
        else if (!strcmp(a, "--folds")) { NEED(); o->folds = v; }
        else if (!strcmp(a, "--early-termination")) { NEED(); early = v; }
        else if (!strcmp(a, "--ensemble")) o->ensemble = 1;
        else if (!strcmp(a, "--search")) {
            NEED();
            if (!strcmp(v, "auto")) o->search = S_AUTO;
            else if (!strcmp(v, "random")) o->search = S_RANDOM;
            else if (!strcmp(v, "grid")) o->search = S_GRID;
            else if (!strcmp(v, "tpe")) o->search = S_TPE;
            else return bad_input("--search must be auto, random, grid or tpe");
        } else if (!strcmp(a, "--budget")) {
            NEED();
            if (parse_duration(v, &o->budget)) return bad_input("--budget must be a positive duration like 300s, 5m or 1h");
        } else if (!strcmp(a, "--trial-timeout")) {
            NEED();
            if (parse_duration(v, &o->trial_timeout)) return bad_input("--trial-timeout must be a positive duration like 60s");
        } else if (!strcmp(a, "--max-trials")) {
            long n;
            NEED();
            if (parse_long(v, &n) || n < 1 || n > 100000) return bad_input("--max-trials must be an integer in [1, 100000]");
            o->max_trials = (int)n;
        } else if (!strcmp(a, "--parallel")) {
            long n;
            NEED();
            if (parse_long(v, &n) || n < 1 || n > 256) return bad_input("--parallel must be an integer in [1, 256]");
            o->parallel = (int)n;
        } else if (!strcmp(a, "--target-score")) {
            NEED();
            if (parse_double(v, &o->target_score) || !isfinite(o->target_score)) return bad_input("--target-score must be a number");
            o->has_target_score = 1;
        } else {
            snprintf(msg, sizeof msg, "unknown option %s (see cairn-sweep --help)", a);
            return bad_input(msg);
        }
#undef NEED
    }
    if (!o->data) return bad_input("--data is required");
    if (!o->target) return bad_input("--target is required");
    if (o->algos && o->space_file && 0) return 0;
    if ((o->cv > 0 || o->folds) + (o->holdout > 0) + (o->valid != NULL) > 1)
        return bad_input("use only one of --cv/--folds, --holdout, --valid");
    if (o->alias && !o->register_name) return bad_input("--alias needs --register-model");
    if (early && parse_policy(early, o, msg)) return bad_input(msg);
    if (!o->budget && !o->max_trials) o->budget = 300;
    if (!o->trial_timeout && o->budget) o->trial_timeout = fmax(10, o->budget / 3);
    if (o->sweep_name && (strchr(o->sweep_name, '\'') || strchr(o->sweep_name, '\\') || !*o->sweep_name))
        return bad_input("--sweep-name must be non-empty and contain no quote or backslash");
    return 0;
}

/* ---------------------------------------------------------------- data */
static int load_data(struct sweeper *sw, char *err)
{
    struct sweep_opts *o = &sw->o;
    if (csv_read(o->data, &sw->c, err)) return -1;
    int tcol = csv_column(&sw->c, o->target);
    if (tcol < 0) return errf(err, "target column \"%s\" is not in %s", o->target, o->data);
    sw->rows = fc_filter_rows(&sw->c, tcol, &sw->n);
    if (sw->n < 4) return errf(err, "fewer than 4 rows with a target value");
    if (feat_target_fit(&sw->target, &sw->c, o->target, o->task, sw->rows, sw->n, err)) return -1;
    int K = sw->target.task == TASK_CLASSIFICATION ? sw->target.nclasses : 0;
    if (o->metric) {
        if (find_metric(o->metric, &sw->pm)) return errf(err, "unknown --metric \"%s\" (see cairn-sweep --help)", o->metric);
        if (sw->pm.task != sw->target.task)
            return errf(err, "--metric %s is for %s, but the task is %s", o->metric,
                        sw->pm.task == TASK_REGRESSION ? "regression" : "classification",
                        K ? "classification" : "regression");
    } else find_metric(K ? "accuracy" : "r2_score", &sw->pm);
    double *y = xmalloc((size_t)sw->n * sizeof *y);
    if (feat_target(&sw->target, &sw->c, sw->rows, sw->n, y, err)) { free(y); return -1; }
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < sw->n; i++) { if (y[i] < lo) lo = y[i]; if (y[i] > hi) hi = y[i]; }
    sw->yrange = hi - lo;
    struct rng rng;
    rng_seed(&rng, (uint64_t)o->seed);
    /* validation as Azure AutoML chooses it when not given: > 20,000 rows a 10% holdout,
     * else 10-fold CV under 1,000 rows and 3-fold above */
    sw->fold = xmalloc((size_t)sw->n * sizeof *sw->fold);
    if (o->valid) sw->mode = 2;
    else if (o->folds) {
        sw->mode = 0;
        if (fc_read_folds(o->folds, sw->c.nrows, sw->rows, sw->n, sw->fold, &sw->k, err)) { free(y); return -1; }
    } else if (o->cv) { sw->mode = 0; sw->k = o->cv; }
    else if (o->holdout > 0) sw->mode = 1;
    else if (sw->n > 20000) { sw->mode = 1; o->holdout = 0.1; }
    else { sw->mode = 0; sw->k = sw->n < 1000 ? 10 : 3; }
    if (sw->mode == 0 && sw->n < sw->k) { free(y); return errf(err, "%d rows are too few for %d folds", sw->n, sw->k); }
    if (sw->mode == 2) {
        if (fc_read_valid(o->valid, &sw->target, &sw->vc, &sw->val, &sw->nval, err)) { free(y); return -1; }
        if (!sw->nval) { free(y); return errf(err, "%s has no rows with a target value", o->valid); }
        sw->train = xmalloc((size_t)sw->n * sizeof *sw->train);
        memcpy(sw->train, sw->rows, (size_t)sw->n * sizeof *sw->train);
        sw->ntrain = sw->n;
    } else if (sw->mode == 1) {
        if (fc_holdout_split(y, sw->rows, sw->n, K, o->holdout, &rng, sw->fold, &sw->train, &sw->ntrain, &sw->val,
                             &sw->nval, err)) { free(y); return -1; }
    } else if (!o->folds) fc_assign_folds(y, sw->n, K, sw->k, &rng, sw->fold);
    free(y);
    sw->ntrain_rows = sw->mode == 0 ? sw->n : sw->ntrain;
    sw->perm = xmalloc((size_t)sw->ntrain_rows * sizeof *sw->perm);
    for (int i = 0; i < sw->ntrain_rows; i++) sw->perm[i] = i;
    struct rng prng;
    rng_seed(&prng, (uint64_t)o->seed ^ 0xa5a5ULL);
    rng_shuffle(&prng, sw->perm, sw->ntrain_rows);
    return 0;
}

/* ---------------------------------------------------------------- scheduling */
static int same_config(const struct sweeper *sw, const struct trial *a, const struct trial *b)
{
    if (a->cfg.algo != b->cfg.algo || a->sample_n != b->sample_n) return 0;
    const struct algo_space *as = &sw->space.algos[a->cfg.algo];
    for (int d = 0; d < as->ndims; d++) {
        char x[160], y[160];
        int is_int = dim_is_int(as, &as->dims[d]);
        dim_value(&as->dims[d], is_int, a->cfg.u[d], x, sizeof x);
        dim_value(&as->dims[d], is_int, b->cfg.u[d], y, sizeof y);
        if (strcmp(x, y)) return 0;
    }
    return 1;
}

static int reached_target(const struct sweeper *sw)
{
    if (!sw->o.has_target_score || sw->best < 0) return 0;
    double v = sw->trials[sw->best].value;
    return sw->pm.maximize ? v >= sw->o.target_score : v <= sw->o.target_score;
}

static const char *run_loop(struct sweeper *sw)
{
    const struct sweep_opts *o = &sw->o;
    int P = o->parallel, replaying = sw->nlogged > 0, exhausted = 0;
    const char *why = NULL;
    for (;;) {
        if (sw_stop) { why = "interrupted"; break; }
        double now = now_seconds();
        if (now >= sw->deadline) { why = "budget"; break; }
        if (reached_target(sw)) { why = "target score reached"; break; }
        int i = sw->ntrials;
        int can_start = !exhausted && (!o->max_trials || i < o->max_trials) && sw_running(sw) < P;
        /* trial i sees exactly the trials up to i - P: they must all have finished */
        for (int j = sw->observed; can_start && j <= i - P; j++) {
            int st = sw->trials[j].state;
            if (st == T_PENDING || st == T_RUNNING) can_start = 0;
        }
        if (can_start) {
            while (sw->observed <= i - P) search_observe(sw->se, &sw->trials[sw->observed++]);
            if (sw->ntrials == sw->cap) {
                sw->cap = sw->cap ? 2 * sw->cap : 64;
                sw->trials = xrealloc(sw->trials, (size_t)sw->cap * sizeof *sw->trials);
            }
            struct trial *t = &sw->trials[i];
            memset(t, 0, sizeof *t);
            t->num = i;
            t->score = -INFINITY;
            t->value = NAN;
            if (search_propose(sw->se, t)) { exhausted = 1; continue; }
            sw->ntrials++;
            if (replaying && i < sw->nlogged && sw->logged[i].num == i) {
                if (same_config(sw, t, &sw->logged[i])) {
                    struct trial keep = *t;
                    *t = sw->logged[i];
                    t->rung = keep.rung;
                    t->from_trial = keep.from_trial;
                    t->cost = keep.cost;
                    t->fidelity = keep.fidelity;
                    t->started = t->ended = now_seconds();
                    if (t->state == T_COMPLETED && (sw->best < 0 || trial_better(t, &sw->trials[sw->best]))) sw->best = i;
                    continue;
                }
                fprintf(stderr, "cairn-sweep: warning: trial %d differs from the logged one (another seed, space or "
                                "data?): running new trials from here\n", i);
                replaying = 0;
            } else if (replaying && i >= sw->nlogged) replaying = 0;
            sw_launch(sw, i);
            continue;
        }
        if (!sw_running(sw)) {
            if (exhausted) why = "search space exhausted";
            else if (o->max_trials && sw->ntrials >= o->max_trials) why = "max trials";
            if (why) break;
        }
        sw_poll(sw, fmin(0.25, fmax(0, sw->deadline - now)));
    }
    if (sw_running(sw)) sw_kill_running(sw, sw_stop ? KILL_INTERRUPT : KILL_BUDGET);
    return why;
}

static void upload_dir_files(struct sweeper *sw, const char *dir)
{
    static const char *const F[] = {"leaderboard.csv", "trials.jsonl", "sweep_chart.svg", "data_guardrails.json",
                                     "ensemble.json", NULL};
    if (!sw->tracking || mlf_offline(sw->m) || !sw->parent_uri) return;
    for (int i = 0; F[i]; i++) {
        char path[4400], err[ERR_LEN];
        char *data;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, F[i]);
        if (read_file(path, &data, &len, err)) continue;
        if (mlf_upload(sw->m, sw->parent_uri, F[i], data, len, err)) fprintf(stderr, "cairn-sweep: warning: %s\n", err);
        free(data);
    }
}

int main(int argc, char **argv)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_BAD_INPUT : 0;
    }
    struct sweeper *swp = xcalloc(1, sizeof *swp);
#define sw (*swp)
    sw.best = -1;
    sw.last_done = -1;
    int rc = parse_args(argc, argv, &sw.o);
    if (rc) { free(swp); return rc; }
    struct sweep_opts *o = &sw.o;
    static char dir_buf[4096], adir[4200];
    char err[ERR_LEN], name_buf[128];
    int exit_code = 0;
    const char *status = "FINISHED";
    if (load_data(&sw, err)) { exit_code = bad_input(err); goto done; }
    if (o->space_file ? space_load_yaml(&sw.space, o->space_file, o->algos, sw.target.task, err)
                      : space_default(&sw.space, o->algos, sw.target.task, err)) {
        exit_code = bad_input(err);
        goto done;
    }
    if (!o->sweep_name) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(name_buf, sizeof name_buf, "sweep-%Y%m%d-%H%M%S", &tm);
        o->sweep_name = name_buf;
    }
    if (o->output_dir) snprintf(dir_buf, sizeof dir_buf, "%s", o->output_dir);
    else snprintf(dir_buf, sizeof dir_buf, "cairn-models/%s", o->sweep_name);
    sw.tty = isatty(2);
    const char *fault = getenv("CAIRN_SWEEP_FAULT");
    if (fault) snprintf(sw.fault, sizeof sw.fault, "%s", fault);
    printf("cairn-sweep: %d rows, task %s, metric %s, %s, %d algorithms, parallel %d\n", sw.n,
           sw.target.task == TASK_REGRESSION ? "regression" : "classification", sw.pm.name,
           sw.mode == 0 ? "cross-validation" : sw.mode == 1 ? "holdout" : "validation file", sw.space.nalgos, o->parallel);
    rp_guardrails(&sw);
    if (en_setup(&sw, err)) { exit_code = bad_input(err); goto done; }
    sw.se = search_new(o->search, &sw.space, (uint64_t)o->seed, sw.ntrain_rows, sw.p, o->asha_eta,
                       o->asha_min ? o->asha_min : (sw.ntrain_rows / 27 > 100 ? sw.ntrain_rows / 27 : 100),
                       o->asha_iters);
    if (tr_start(&sw, err)) { exit_code = bad_input(err); goto done; }
    if (sw.tracking) printf("sweep run %s in experiment %s\n", sw.parent_id, sw.exp_id);
    sw.slots = xcalloc((size_t)o->parallel, sizeof *sw.slots);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    openblas_set_num_threads(1);
    sw.t0 = now_seconds();
    sw.deadline = o->budget > 0 ? sw.t0 + o->budget : INFINITY;
    const char *why = run_loop(&sw);
    rp_progress(&sw, 1);
    printf("sweep ended (%s): %d trials\n", why ? why : "done", sw.ntrials);
    if (sw_stop) {
        status = "KILLED";
        exit_code = 128 + sw_stop;
        tr_finish(&sw, status);
        goto done;
    }
    if (sw.best < 0) {
        fprintf(stderr, "cairn-sweep: error: no trial completed\n");
        status = "FAILED";
        exit_code = 1;
        tr_finish(&sw, status);
        goto done;
    }
    /* ---- the winner, refitted on every training row, logged and registered ---- */
    const struct trial *b = &sw.trials[sw.best];
    const struct algo *a = sw.space.algos[b->cfg.algo].a;
    struct hparams hp;
    if (trial_hparams(&sw.space, b, &hp, err)) { exit_code = bad_input(err); goto done; }
    printf("best: trial %d %s %s=%.6g\n", b->num, a->name, sw.pm.name, b->value);
    snprintf(adir, sizeof adir, "%s/sweep", dir_buf);
    if (mkdir_p(adir, err)) fprintf(stderr, "cairn-sweep: warning: %s\n", err);
    /* --ensemble: the greedy ensemble replaces the best trial when it scores higher on the same predictions */
    static struct en_result er;
    int use_ens = 0;
    double model_value = b->value;
    if (o->ensemble) {
        if (en_build(&sw, &er, err)) fprintf(stderr, "cairn-sweep: warning: no ensemble: %s\n", err);
        else {
            use_ens = er.nmembers >= 2 && er.score > er.single_score;
            printf("ensemble: %d trials, %d steps, %s=%.6g (best trial %.6g on the same predictions)%s\n", er.nmembers,
                   er.iters, sw.pm.name, er.value, er.single_value, use_ens ? ": the ensemble is the model"
                                                                            : ": no better, the best trial is the model");
            en_log(&sw, &er, use_ens, adir);
            if (use_ens) model_value = er.value;
            if (sw.tracking && !mlf_offline(sw.m)) {
                char key[160];
                snprintf(key, sizeof key, "ensemble_%s", sw.pm.name);
                mlf_log_metric(sw.m, sw.parent_id, key, er.value, 0);
                mlf_set_tag(sw.m, sw.parent_id, "cairn.model_kind", use_ens ? "ensemble" : "single");
                if (er.run_id[0]) mlf_set_tag(sw.m, sw.parent_id, "cairn.ensemble_run_id", er.run_id);
            }
        }
    }
    openblas_set_num_threads((int)sysconf(_SC_NPROCESSORS_ONLN));
    struct pipeline pl;
    struct metric_set tm, vm;
    const int *fit_rows = sw.mode == 2 ? sw.train : sw.rows;
    int nfit = sw.mode == 2 ? sw.ntrain : sw.n;
    int fit_rc;
    if (use_ens) fit_rc = en_refit(&sw, &er, fit_rows, nfit, &pl, err);
    else
        fit_rc = fc_fit_once(o->seed, a, &hp, &sw.c, &sw.c, &sw.target, fit_rows, nfit, NULL, 0, NULL, NULL, &pl, &tm,
                             &vm, NULL, NULL, err);
    if (fit_rc) {
        fprintf(stderr, "cairn-sweep: error: refitting the best configuration: %s\n", err);
        pipeline_free(&pl);
        exit_code = 1;
        status = "FAILED";
        tr_finish(&sw, status);
        goto done;
    }
    struct fc_model_log ml = {sw.tracking ? sw.m : NULL, sw.exp_id, sw.tracking ? sw.parent_id : NULL, dir_buf,
                              o->register_name, o->alias, "cairn-sweep", sw.pm.name, model_value};
    if (fc_log_model(&ml, &pl, &sw.c, fit_rows, nfit < 5 ? nfit : 5, err)) {
        fprintf(stderr, "cairn-sweep: error: %s\n", err);
        exit_code = 1;
        status = "FAILED";
    }
    pipeline_free(&pl);

    rp_artifacts(&sw, adir);
    upload_dir_files(&sw, adir);
    tr_finish(&sw, status);
done:
    if (sw.m) {
        mlf_flush(sw.m);
        if (!exit_code && (mlf_offline(sw.m) || (o->tracking_uri && *o->tracking_uri && !sw.tracking))) {
            fprintf(stderr, "cairn-sweep: tracking server %s unreachable; the model is in %s\n", mlf_uri(sw.m), dir_buf);
            exit_code = EXIT_UNREACHABLE;
        }
        if (sw.tracking && exit_code < 128) printf("run %s in experiment %s\n", sw.parent_id, sw.exp_id);
        mlf_free(sw.m);
    }
    if (sw.slots) for (int i = 0; i < o->parallel; i++) sb_free(&sw.slots[i].line);
    free(sw.slots);
    en_cleanup(&sw);
    search_free(sw.se);
    space_free(&sw.space);
    sb_free(&sw.guardrails);
    free(sw.trials);
    free(sw.logged);
    free(sw.parent_uri);
    free(sw.rows); free(sw.fold); free(sw.train); free(sw.val); free(sw.perm);
    feat_free(&sw.target);
    csv_free(&sw.c);
    csv_free(&sw.vc);
#undef sw
    free(swp);
    return exit_code;
}
