/* MLflow logging for a sweep: a parent run for the sweep, one child run per
 * trial (mlflow.parentRunId set at creation), everything else through the
 * client's batched log-batch; and reading a sweep back to resume it. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweeper.h"

static const char *task_name(int task) { return task == TASK_REGRESSION ? "regression" : "classification"; }

static int post_json(struct sweeper *sw, const char *path, const struct sbuf *body, cJSON **out, char *err)
{
    struct mlf_reply r;
    int rc = mlf_request(sw->m, "POST", path, "application/json", body->data, body->len, &r, err);
    *out = NULL;
    if (!rc) {
        *out = cJSON_Parse(r.body ? r.body : "{}");
        if (!*out) rc = errf(err, "%s: the reply is not JSON", path);
    }
    mlf_reply_free(&r);
    return rc;
}

static const char *jget(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* value of key in a [{key, value}] list */
static const char *kv_list(const cJSON *list, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const char *k = jget(e, "key", NULL);
        if (k && !strcmp(k, key)) return jget(e, "value", NULL);
    }
    return NULL;
}

static double metric_list(const cJSON *list, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const char *k = jget(e, "key", NULL);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
        if (k && !strcmp(k, key) && cJSON_IsNumber(v)) return v->valuedouble;
    }
    return NAN;
}

static void log_config(struct sweeper *sw)
{
    const struct sweep_opts *o = &sw->o;
    char buf[512];
    const char *id = sw->parent_id;
    struct sbuf algos;
    sb_init(&algos);
    for (int i = 0; i < sw->space.nalgos; i++) sb_printf(&algos, "%s%s", i ? "," : "", sw->space.algos[i].a->name);
    mlf_log_param(sw->m, id, "algorithms", algos.data);
    sb_free(&algos);
    mlf_log_param(sw->m, id, "task", task_name(sw->target.task));
    mlf_log_param(sw->m, id, "primary_metric", sw->pm.name);
    mlf_log_param(sw->m, id, "target", o->target);
    static const char *const S[] = {"auto", "random", "grid", "tpe"};
    mlf_log_param(sw->m, id, "search", S[o->search]);
    mlf_log_param(sw->m, id, "early_termination", o->early_text);
    snprintf(buf, sizeof buf, "%d", o->parallel);
    mlf_log_param(sw->m, id, "parallel", buf);
    snprintf(buf, sizeof buf, "%ld", o->seed);
    mlf_log_param(sw->m, id, "seed", buf);
    if (sw->mode == 0) snprintf(buf, sizeof buf, "cv:%d", sw->k);
    else if (sw->mode == 2) snprintf(buf, sizeof buf, "valid_file");
    else snprintf(buf, sizeof buf, "holdout:%g", o->holdout);
    mlf_log_param(sw->m, id, "validation", buf);
    if (o->space_file) mlf_log_param(sw->m, id, "search_space_file", o->space_file);
}

int tr_start(struct sweeper *sw, char *err)
{
    const struct sweep_opts *o = &sw->o;
    if (!o->tracking_uri || !*o->tracking_uri) return 0;
    sw->m = mlf_new(o->tracking_uri);
    const char *exp = o->experiment ? o->experiment : "Default";
    if (mlf_experiment_id(sw->m, exp, sw->exp_id, sizeof sw->exp_id, err)) {
        if (!mlf_offline(sw->m)) return -1;
        fprintf(stderr, "cairn-sweep: warning: %s; sweeping without tracking\n", err);
        return 0;
    }
    /* an earlier sweep of this name in this experiment: resume it */
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"experiment_ids\":[");
    sb_json_str(&b, sw->exp_id);
    sb_puts(&b, "],\"filter\":");
    char filter[400];
    snprintf(filter, sizeof filter, "tags.`cairn.sweep_name` = '%s'", o->sweep_name);
    sb_json_str(&b, filter);
    sb_puts(&b, ",\"max_results\":1,\"order_by\":[\"attributes.start_time DESC\"]}");
    cJSON *j;
    int rc = post_json(sw, "/api/2.0/mlflow/runs/search", &b, &j, err);
    sb_free(&b);
    if (rc) {
        if (!mlf_offline(sw->m)) return -1;
        fprintf(stderr, "cairn-sweep: warning: %s; sweeping without tracking\n", err);
        return 0;
    }
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "runs"), 0);
    if (run) {
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info");
        const char *id = jget(info, "run_id", NULL), *au = jget(info, "artifact_uri", NULL);
        if (id) {
            snprintf(sw->parent_id, sizeof sw->parent_id, "%s", id);
            sw->parent_uri = au ? xstrdup(au) : NULL;
            sw->resumed = 1;
        }
    }
    cJSON_Delete(j);
    if (sw->resumed) {
        struct mlf_reply r;
        sb_init(&b);
        sb_puts(&b, "{\"run_id\":");
        sb_json_str(&b, sw->parent_id);
        sb_puts(&b, ",\"run_uuid\":");
        sb_json_str(&b, sw->parent_id);
        sb_puts(&b, ",\"status\":\"RUNNING\"}");
        rc = mlf_request(sw->m, "POST", "/api/2.0/mlflow/runs/update", "application/json", b.data, b.len, &r, err);
        mlf_reply_free(&r);
        sb_free(&b);
        if (rc || tr_read_back(sw, err)) return mlf_offline(sw->m) ? 0 : -1;
        sw->tracking = 1;
        printf("resuming sweep %s (run %s): %d trials logged\n", o->sweep_name, sw->parent_id, sw->nlogged);
        return 0;
    }
    const char *user = getenv("USER");
    const char *tags[] = {"mlflow.source.type", "LOCAL", "mlflow.source.name", "cairn-sweep", "mlflow.user",
                          user ? user : "unknown", "cairn.sweep_name", o->sweep_name, "cairn.sweep_role", "parent", NULL};
    if (mlf_create_run(sw->m, sw->exp_id, o->sweep_name, tags, sw->parent_id, sizeof sw->parent_id, &sw->parent_uri,
                       err)) {
        if (!mlf_offline(sw->m)) return -1;
        fprintf(stderr, "cairn-sweep: warning: %s; sweeping without tracking\n", err);
        return 0;
    }
    sw->tracking = 1;
    log_config(sw);
    return 0;
}

static int live(const struct sweeper *sw) { return sw->tracking && !mlf_offline(sw->m); }

void tr_trial_started(struct sweeper *sw, struct trial *t)
{
    if (!live(sw)) return;
    const struct algo_space *as = &sw->space.algos[t->cfg.algo];
    const struct algo *a = as->a;
    char name[256], num[16], rung[16], from[16], err[ERR_LEN];
    snprintf(name, sizeof name, "%s_trial_%d_%s", sw->o.sweep_name, t->num, a->name);
    snprintf(num, sizeof num, "%d", t->num);
    snprintf(rung, sizeof rung, "%d", t->rung);
    snprintf(from, sizeof from, "%d", t->from_trial);
    char est[64];
    const char *dot = strrchr(a->estimator_class, '.');
    snprintf(est, sizeof est, "%s", dot ? dot + 1 : a->estimator_class);
    const char *user = getenv("USER");
    const char *tags[] = {"mlflow.parentRunId", sw->parent_id, "mlflow.source.type", "LOCAL", "mlflow.source.name",
                          "cairn-sweep", "mlflow.user", user ? user : "unknown", "estimator_name", est,
                          "estimator_class", a->estimator_class, "run_algorithm", a->name, "cairn.trial_number", num,
                          "cairn.sweep_id", sw->parent_id, "cairn.rung", rung, "cairn.from_trial", from, NULL};
    if (mlf_create_run(sw->m, sw->exp_id, name, tags, t->run_id, sizeof t->run_id, NULL, err)) {
        fprintf(stderr, "cairn-sweep: warning: trial %d: %s\n", t->num, err);
        t->run_id[0] = 0;
        return;
    }
    struct hparams hp;
    if (!trial_hparams(&sw->space, t, &hp, err))
        for (int i = 0; i < a->nparams; i++) {
            char buf[128];
            hparams_format(a, &hp, i, buf, sizeof buf);
            mlf_log_param(sw->m, t->run_id, a->params[i].name, buf);
        }
    /* the searched values as sampled, for resume (a formatted parameter may round them) */
    for (int d = 0; d < as->ndims; d++) {
        char key[96], buf[160];
        snprintf(key, sizeof key, "cairn.space.%s", as->dims[d].name);
        dim_value(&as->dims[d], dim_is_int(as, &as->dims[d]), t->cfg.u[d], buf, sizeof buf);
        mlf_set_tag(sw->m, t->run_id, key, buf);
    }
    char buf[64];
    mlf_log_param(sw->m, t->run_id, "algorithm", a->name);
    mlf_log_param(sw->m, t->run_id, "task", task_name(sw->target.task));
    snprintf(buf, sizeof buf, "%ld", sw->o.seed);
    mlf_log_param(sw->m, t->run_id, "seed", buf);
    snprintf(buf, sizeof buf, "%d", t->sample_n);
    mlf_log_param(sw->m, t->run_id, "sample_size", buf);
    if (sw->o.asha_iters) {
        snprintf(buf, sizeof buf, "%.6g", t->fidelity);
        mlf_log_param(sw->m, t->run_id, "iteration_fraction", buf);
    }
}

void tr_trial_step(struct sweeper *sw, struct trial *t, const char *key, double value, int step)
{
    if (live(sw) && t->run_id[0]) mlf_log_metric(sw->m, t->run_id, key, value, step);
}

void tr_trial_finished(struct sweeper *sw, struct trial *t, const struct metric_set *ms)
{
    if (!live(sw) || !t->run_id[0]) return;
    if (t->state == T_COMPLETED) {
        mlf_log_metric(sw->m, t->run_id, sw->pm.name, t->value, 0);
        for (int i = 0; i < ms->n; i++) {
            char key[128];
            snprintf(key, sizeof key, "val_%s", ms->name[i]);
            mlf_log_metric(sw->m, t->run_id, key, ms->value[i], 0);
        }
    }
    if (t->fit_seconds > 0) mlf_log_metric(sw->m, t->run_id, "fit_time_s", t->fit_seconds, 0);
    mlf_log_metric(sw->m, t->run_id, "trial_time_s", t->ended - t->started, 0);
    mlf_set_tag(sw->m, t->run_id, "cairn.trial_state", trial_state_tag(t));
    if (t->failure[0]) mlf_set_tag(sw->m, t->run_id, "cairn.failure", t->failure);
    char err[ERR_LEN];
    const char *status = t->state == T_COMPLETED ? "FINISHED" : t->state == T_FAILED ? "FAILED" : "KILLED";
    if (mlf_end_run(sw->m, t->run_id, status, err)) fprintf(stderr, "cairn-sweep: warning: %s\n", err);
}

void tr_finish(struct sweeper *sw, const char *status)
{
    if (!live(sw)) return;
    const char *id = sw->parent_id;
    int done = 0, pruned = 0, failed = 0;
    for (int i = 0; i < sw->ntrials; i++) {
        int s = sw->trials[i].state;
        done += s == T_COMPLETED;
        pruned += s == T_PRUNED;
        failed += s == T_FAILED || s == T_KILLED;
    }
    mlf_log_metric(sw->m, id, "num_child_runs", sw->ntrials, 0);
    mlf_log_metric(sw->m, id, "num_completed", done, 0);
    mlf_log_metric(sw->m, id, "num_pruned", pruned, 0);
    mlf_log_metric(sw->m, id, "num_failed", failed, 0);
    mlf_log_metric(sw->m, id, "sweep_time_s", now_seconds() - sw->t0, 0);
    if (sw->best >= 0) {
        const struct trial *b = &sw->trials[sw->best];
        const struct algo_space *as = &sw->space.algos[b->cfg.algo];
        char key[160], buf[160];
        snprintf(key, sizeof key, "best_%s", sw->pm.name);
        mlf_log_metric(sw->m, id, key, b->value, 0);
        /* params cannot change once logged: a resumed sweep whose best moved records it in tags */
        void (*put)(struct mlflow *, const char *, const char *, const char *) = sw->resumed ? mlf_set_tag : mlf_log_param;
        const char *pre = sw->resumed ? "cairn.best." : "best_";
        snprintf(key, sizeof key, "%slearner", pre);
        put(sw->m, id, key, as->a->name);
        struct hparams hp;
        char err[ERR_LEN];
        if (!trial_hparams(&sw->space, b, &hp, err))
            for (int i = 0; i < as->a->nparams; i++) {
                hparams_format(as->a, &hp, i, buf, sizeof buf);
                snprintf(key, sizeof key, "%s%s", pre, as->a->params[i].name);
                put(sw->m, id, key, buf);
            }
        if (b->run_id[0]) {
            mlf_set_tag(sw->m, id, "automl_best_child_run_id", b->run_id);
            mlf_set_tag(sw->m, id, "cairn.best_run_id", b->run_id);
            mlf_set_tag(sw->m, b->run_id, "cairn.best_run", "true");
        }
    }
    mlf_flush(sw->m);
    char err[ERR_LEN];
    if (mlf_end_run(sw->m, id, status, err)) fprintf(stderr, "cairn-sweep: warning: %s\n", err);
}

/* ---------------------------------------------------------------- resume */
static int state_of(const char *tag)
{
    if (!tag) return -1;
    if (!strcmp(tag, "completed")) return T_COMPLETED;
    if (!strcmp(tag, "pruned")) return T_PRUNED;
    if (!strcmp(tag, "failed")) return T_FAILED;
    return -1;
}

static void read_child(struct sweeper *sw, const cJSON *run)
{
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info"), *data = cJSON_GetObjectItemCaseSensitive(run, "data");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(data, "tags"), *params = cJSON_GetObjectItemCaseSensitive(data, "params");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(data, "metrics");
    const char *num = kv_list(tags, "cairn.trial_number"), *st = kv_list(tags, "cairn.trial_state");
    const char *algo = kv_list(params, "algorithm"), *sample = kv_list(params, "sample_size");
    const char *failure = kv_list(tags, "cairn.failure"), *id = jget(info, "run_id", NULL);
    long n;
    int state = state_of(st);
    if (!num || parse_long(num, &n) || n < 0 || n > 1000000 || state < 0 || !algo || !id) return;
    /* a trial ended by the budget or an interruption did not finish: it runs again */
    if (failure && (!strcmp(failure, "interrupted") || !strcmp(failure, "budget exhausted"))) return;
    const char *status = jget(info, "status", NULL);
    if (status && !strcmp(status, "KILLED") && state == T_FAILED) state = T_KILLED;
    int a = -1;
    for (int i = 0; i < sw->space.nalgos; i++) if (!strcmp(sw->space.algos[i].a->name, algo)) a = i;
    if (a < 0) return;
    struct trial t;
    memset(&t, 0, sizeof t);
    t.num = (int)n;
    t.state = state;
    t.cfg.algo = a;
    t.replayed = 1;
    const struct algo_space *as = &sw->space.algos[a];
    for (int d = 0; d < as->ndims; d++) {
        char key[96];
        snprintf(key, sizeof key, "cairn.space.%s", as->dims[d].name);
        const char *v = kv_list(tags, key);
        double u = v ? dim_unit_of(&as->dims[d], dim_is_int(as, &as->dims[d]), v) : -1;
        if (u < 0) return;
        t.cfg.u[d] = u;
    }
    long sn;
    t.sample_n = sample && !parse_long(sample, &sn) ? (int)sn : sw->ntrain_rows;
    t.value = metric_list(metrics, sw->pm.name);
    t.score = state == T_COMPLETED && isfinite(t.value) ? (sw->pm.maximize ? t.value : -t.value) : -INFINITY;
    t.fit_seconds = metric_list(metrics, "fit_time_s");
    snprintf(t.run_id, sizeof t.run_id, "%s", id);
    if (failure) snprintf(t.failure, sizeof t.failure, "%.150s", failure);
    if (t.num >= sw->nlogged) {
        sw->logged = xrealloc(sw->logged, (size_t)(t.num + 1) * sizeof *sw->logged);
        for (int i = sw->nlogged; i <= t.num; i++) { memset(&sw->logged[i], 0, sizeof t); sw->logged[i].num = -1; }
        sw->nlogged = t.num + 1;
    }
    sw->logged[t.num] = t;
}

int tr_read_back(struct sweeper *sw, char *err)
{
    char *token = NULL;
    for (int page = 0; page < 1000; page++) {
        struct sbuf b;
        sb_init(&b);
        sb_puts(&b, "{\"experiment_ids\":[");
        sb_json_str(&b, sw->exp_id);
        char filter[200];
        snprintf(filter, sizeof filter, "tags.mlflow.parentRunId = '%s'", sw->parent_id);
        sb_puts(&b, "],\"filter\":");
        sb_json_str(&b, filter);
        sb_puts(&b, ",\"max_results\":1000");
        if (token) { sb_puts(&b, ",\"page_token\":"); sb_json_str(&b, token); }
        sb_puts(&b, "}");
        free(token);
        token = NULL;
        cJSON *j;
        int rc = post_json(sw, "/api/2.0/mlflow/runs/search", &b, &j, err);
        sb_free(&b);
        if (rc) return -1;
        const cJSON *run;
        cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(j, "runs")) read_child(sw, run);
        const char *nt = jget(j, "next_page_token", NULL);
        if (nt && *nt) token = xstrdup(nt);
        cJSON_Delete(j);
        if (!token) break;
    }
    free(token);
    return 0;
}
