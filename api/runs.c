/* /api/2.0/mlflow/runs/… */
#include "common.h"
#include "pyfmt.h"
#include "handlers.h"
#include "search_filter.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SEARCH_RUNS_MAX 50000

/* ---- validation shared by the log endpoints ---- */

static int validate_tag(struct arena *a, struct kv *t, const char *path, struct error *err)
{
    char p[64];
    snprintf(p, sizeof p, "%s%skey", path, *path ? "." : "");
    if (!t->key)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter '%s'.", p);
    if (!t->value)
        t->value = "";
    if (validate_key_name(t->key, p, err) || validate_length(p, t->key, MAX_ENTITY_KEY_LENGTH, err))
        return -1;
    t->value = utf8_truncate(a, t->value, MAX_TAG_VAL_LENGTH);   /* MLflow truncates tag values */
    return 0;
}

static int validate_param(struct arena *a, struct kv *p, const char *path, struct error *err)
{
    char k[64];
    snprintf(k, sizeof k, "%s%skey", path, *path ? "." : "");
    if (!p->key)
        return json_missing(k, err);
    if (!p->value)
        p->value = "";
    if (validate_key_name(p->key, k, err) || validate_length("Param key", p->key, MAX_ENTITY_KEY_LENGTH, err))
        return -1;
    p->value = utf8_truncate(a, p->value, MAX_PARAM_VAL_LENGTH);  /* and param values */
    return 0;
}

/* Reads one metric object as LogMetric and LogBatch carry it. */
static int read_metric(const cJSON *obj, const char *path, struct metric *m, struct error *err)
{
    char p[64];
    bool present;
    memset(m, 0, sizeof *m);
    snprintf(p, sizeof p, "%s%s", path, *path ? ".name" : "name");   /* MLflow's _validate_metric path */
    /* MLflow names the field with its place in a batch ("metrics[0].timestamp") */
    static const char *const required[] = { "key", "value", "timestamp" };
    for (size_t i = 0; i < 3; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, required[i]);
        bool empty = cJSON_IsString(f) && !*f->valuestring;
        if (empty && !*path && i == 2)
            continue;   /* LogMetric checks timestamp's type first: "" is a str, not missing */
        if (!f || cJSON_IsNull(f) || empty)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter '%s%s%s'. "
                             "See the API docs for more information about request parameters.",
                             path, *path ? "." : "", required[i]);
    }
    if (json_get_string(obj, "key", true, &m->key, err))
        return -1;
    if (validate_key_name(m->key, p, err) || validate_length("Metric name", m->key, MAX_ENTITY_KEY_LENGTH, err))
        return -1;
    if (json_get_double(obj, "value", true, &m->value, &present, err) ||
        json_get_int64(obj, "timestamp", true, &m->timestamp, &present, err))
        return -1;
    if (m->timestamp < 0) {
        char value[64];
        struct arena ta;
        arena_init(&ta);
        struct strbuf vb;
        sb_init(&vb, &ta, 32);
        py_float_repr(&vb, m->value);
        snprintf(value, sizeof value, "%s", vb.buf);
        arena_free(&ta);
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid value %" PRId64 " for parameter '%s%stimestamp' supplied: metric '%s' (value=%s). "
                         "Timestamp must be a nonnegative long (64-bit integer) ", m->timestamp, path,
                         *path ? "." : "", m->key, value);
    }
    m->step = 0;
    if (json_get_int64(obj, "step", false, &m->step, &present, err) ||
        json_get_string(obj, "model_id", false, &m->model_id, err) ||
        json_get_string(obj, "dataset_name", false, &m->dataset_name, err) ||
        json_get_string(obj, "dataset_digest", false, &m->dataset_digest, err))
        return -1;
    return 0;
}

/* Keeps the last value of each duplicated key (a later tag wins). */
static size_t dedup_last(struct kv *v, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        bool later = false;
        for (size_t j = i + 1; j < n && !later; j++)
            later = !strcmp(v[i].key, v[j].key);
        if (!later)
            v[out++] = v[i];
    }
    return out;
}

/* ---- random run names, adjective-noun-NNN as MLflow makes them ---- */

static const char *const adjectives[] = {
    "able", "agreeable", "amazing", "ambitious", "bold", "brave", "bright", "calm", "capable", "carefree",
    "casual", "classy", "clean", "clever", "colorful", "cool", "crawling", "dapper", "defiant", "delicate",
    "dazzling", "eager", "efficient", "enchanting", "fearless", "fun", "funny", "gentle", "gifted", "glamorous",
    "gregarious", "handsome", "honorable", "illustrious", "industrious", "innocent", "intelligent", "judicious",
    "kindly", "languid", "learned", "legendary", "likeable", "loud", "luminous", "lyrical", "magnificent",
    "marvelous", "masked", "melodic", "merciful", "mercurial", "monumental", "mysterious", "nebulous", "nervous",
    "nimble", "nosy", "omniscient", "orderly", "overjoyed", "peaceful", "painted", "persistent", "placid",
    "polite", "popular", "powerful", "puzzled", "rambunctious", "rare", "rebellious", "respected", "resilient",
    "righteous", "receptive", "redolent", "resilient", "rogue", "rumbling", "salty", "sassy", "secretive",
    "selective", "sedate", "serious", "shivering", "skillful", "sincere", "smiling", "sneaky", "sophisticated",
    "spiffy", "stately", "suave", "stylish", "tasteful", "thoughtful", "thundering", "traveling", "treasured",
    "trusting", "unequaled", "upbeat", "unique", "unleashed", "useful", "upset", "valuable", "vaunted",
    "victorious", "welcoming", "whimsical", "wise", "worried", "youthful", "zealous",
};
static const char *const nouns[] = {
    "ant", "ape", "asp", "auk", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf", "carp", "cat",
    "chimp", "cod", "colt", "conch", "cow", "crab", "crane", "croc", "crow", "cub", "deer", "doe", "dog",
    "dolphin", "donkey", "dove", "duck", "eel", "elk", "fawn", "finch", "fish", "flea", "fly", "foal", "fowl",
    "fox", "frog", "gnat", "gnu", "goat", "goose", "grouse", "grub", "gull", "hare", "hawk", "hen", "hog",
    "horse", "hound", "jay", "kit", "kite", "koi", "lamb", "lark", "loon", "lynx", "mare", "midge", "mink",
    "mole", "moose", "moth", "mouse", "mule", "newt", "owl", "ox", "panda", "penguin", "perch", "pig", "pug",
    "quail", "ram", "rat", "ray", "robin", "roo", "rook", "seal", "shad", "shark", "sheep", "shoat", "shrew",
    "shrike", "shrimp", "skink", "skunk", "sloth", "slug", "smelt", "snail", "snake", "snipe", "sow", "sponge",
    "squid", "squirrel", "stag", "steed", "stoat", "stork", "swan", "tern", "toad", "trout", "turtle", "vole",
    "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
};

const char *random_run_name(struct arena *a)
{
    unsigned int r[3];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        r[0] = (unsigned)rand(), r[1] = (unsigned)rand(), r[2] = (unsigned)rand();
    return arena_printf(a, "%s-%s-%u", adjectives[r[0] % (sizeof adjectives / sizeof *adjectives)],
                        nouns[r[1] % (sizeof nouns / sizeof *nouns)], r[2] % 1000);
}

/* ---- handlers ---- */

static int reply_run(struct response *resp, const struct run *run, bool with_outputs)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "run");
    write_run(&w, run, true, with_outputs);
    reply_end(&w);
    return 0;
}

int api_create_run(struct request *req, struct response *resp, struct error *err)
{
    struct run_create rc = { 0 };
    struct kv *tags;
    size_t n_tags;
    bool has_start;
    const char *run_name = NULL, *eid = NULL;
    if (json_get_string(req->input, "experiment_id", false, &eid, err) ||
        json_get_string(req->input, "user_id", false, &rc.user_id, err) ||
        json_get_int64(req->input, "start_time", false, &rc.start_time, &has_start, err) ||
        json_get_string(req->input, "run_name", false, &run_name, err) ||
        get_kv_list(req->arena, req->input, "tags", &tags, &n_tags, err))
        return -1;
    /* MLflow's schema does not require it; its store then fails on the
     * database's integer column: BAD_REQUEST */
    if (!eid || !*eid)
        return error_set(err, ERR_BAD_REQUEST, "Missing value for required parameter 'experiment_id'. "
                         "See the API docs for more information about request parameters.");
    if (parse_experiment_id(eid, &rc.experiment_id, err))
        return -1;
    if (!has_start)
        rc.start_time = now_ms();
    const char *tag_name = NULL;
    for (size_t i = 0; i < n_tags; i++) {
        char path[32];
        snprintf(path, sizeof path, "tags[%zu]", i);
        if (validate_tag(req->arena, &tags[i], path, err))
            return -1;
        if (!strcmp(tags[i].key, "mlflow.runName"))
            tag_name = tags[i].value;
    }
    n_tags = dedup_last(tags, n_tags);
    if (run_name && !*run_name)
        run_name = NULL;
    if (run_name && tag_name && strcmp(run_name, tag_name))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
                         "values (run_name='%s', mlflow.runName='%s').", run_name, tag_name);
    rc.run_name = run_name ? run_name : tag_name ? tag_name : random_run_name(req->arena);
    if (!tag_name) {
        struct kv *all = arena_alloc(req->arena, (n_tags + 1) * sizeof *all);
        memcpy(all, tags, n_tags * sizeof *all);
        all[n_tags].key = "mlflow.runName";
        all[n_tags].value = rc.run_name;
        tags = all;
        n_tags++;
    }
    rc.tags = tags;
    rc.n_tags = n_tags;
    struct run run;
    if (store_create_run(req->arena, &rc, &run, err))
        return -1;
    return reply_run(resp, &run, false);
}

int api_get_run(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    struct run run;
    if (get_run_id(req->input, &run_id, err) || store_get_run(req->arena, run_id, &run, err))
        return -1;
    return reply_run(resp, &run, true);
}

static const char *const run_statuses[] = { "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED" };

int api_update_run(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    struct run_update u = { 0 };
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(req->input, "status");
    if (get_run_id(req->input, &run_id, err) ||
        json_get_int64(req->input, "end_time", false, &u.end_time, &u.has_end_time, err))
        return -1;
    if (status && (cJSON_IsArray(status) || cJSON_IsObject(status)))   /* MLflow's schema: a string */
        return json_invalid_type(status, "status", err);
    if (json_get_string(req->input, "run_name", false, &u.run_name, err))
        return -1;
    if (status && !cJSON_IsNull(status)) {
        const char *s = cJSON_IsString(status) || cJSON_IsNumber(status) ? status->valuestring : "";
        for (size_t i = 0; i < sizeof run_statuses / sizeof *run_statuses; i++) {
            char num[4];
            snprintf(num, sizeof num, "%zu", i + 1);
            if (!strcmp(s, run_statuses[i]) || !strcmp(s, num))
                u.status = run_statuses[i];
        }
        if (!u.status)
            return invalid_value_error(err, "status", s, "must be one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED");
    }
    if (u.run_name && !*u.run_name)
        u.run_name = NULL;
    struct run_info info;
    if (store_update_run(req->arena, run_id, &u, &info, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "run_info");
    write_run_info(&w, &info);
    reply_end(&w);
    return 0;
}

static int set_lifecycle(struct request *req, struct response *resp, struct error *err, bool deleted)
{
    const char *run_id;
    if (json_get_string(req->input, "run_id", true, &run_id, err) || store_set_run_lifecycle(run_id, deleted, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_run(struct request *req, struct response *resp, struct error *err)
{
    return set_lifecycle(req, resp, err, true);
}

int api_restore_run(struct request *req, struct response *resp, struct error *err)
{
    return set_lifecycle(req, resp, err, false);
}

int api_set_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    struct kv tag = { 0 };
    if (get_run_id(req->input, &run_id, err) ||
        json_get_string(req->input, "key", true, &tag.key, err) ||
        json_get_string(req->input, "value", false, &tag.value, err) ||
        validate_tag(req->arena, &tag, "", err))
        return -1;
    struct log_batch b = { .tags = &tag, .n_tags = 1 };
    if (store_log_batch(req->arena, run_id, &b, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id, *key;
    if (json_get_string(req->input, "run_id", true, &run_id, err) ||
        json_get_string(req->input, "key", true, &key, err) ||
        store_delete_run_tag(run_id, key, err))
        return -1;
    return reply_empty(resp);
}

int api_log_param(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    struct kv param = { 0 };
    if (get_run_id(req->input, &run_id, err) ||
        json_get_string(req->input, "key", true, &param.key, err) ||
        json_get_string(req->input, "value", false, &param.value, err) ||
        validate_param(req->arena, &param, "", err))
        return -1;
    if (store_log_param(req->arena, run_id, &param, err))
        return -1;
    return reply_empty(resp);
}

int api_log_metric(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    struct metric m;
    if (get_run_id(req->input, &run_id, err) || read_metric(req->input, "", &m, err))
        return -1;
    struct log_batch b = { .metrics = &m, .n_metrics = 1 };
    if (store_log_batch(req->arena, run_id, &b, err))
        return -1;
    return reply_empty(resp);
}

static int batch_limit(const char *what, size_t limit, size_t n, struct error *err)
{
    if (n <= limit)
        return 0;
    return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                     "A batch logging request can contain at most %zu %s. Got %zu %s. Please split up %s "
                     "across multiple requests and try again.", limit, what, n, what, what);
}

int api_log_batch(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    const cJSON *metrics_json;
    size_t n_metrics;
    struct kv *params, *tags;
    size_t n_params, n_tags;
    if (json_get_string(req->input, "run_id", true, &run_id, err) ||
        json_get_object_array(req->input, "metrics", &metrics_json, &n_metrics, err) ||
        get_kv_list(req->arena, req->input, "params", &params, &n_params, err) ||
        get_kv_list(req->arena, req->input, "tags", &tags, &n_tags, err))
        return -1;
    if (batch_limit("metrics", MAX_METRICS_PER_BATCH, n_metrics, err) ||
        batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, n_params, err) ||
        batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags, err) ||
        batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, n_metrics + n_params + n_tags, err))
        return -1;
    struct metric *metrics = arena_alloc(req->arena, (n_metrics ? n_metrics : 1) * sizeof *metrics);
    size_t i = 0;
    for (const cJSON *m = metrics_json; m; m = m->next, i++) {
        char path[32];
        snprintf(path, sizeof path, "metrics[%zu]", i);
        if (read_metric(m, path, &metrics[i], err))
            return -1;
    }
    for (i = 0; i < n_params; i++) {
        char path[32];
        snprintf(path, sizeof path, "params[%zu]", i);
        if (validate_param(req->arena, &params[i], path, err))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(params[i].key, params[j].key))
                return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                 "Duplicate parameter keys have been submitted: ['%s']. Please ensure the "
                                 "request contains only one param value per param key.", params[i].key);
    }
    for (i = 0; i < n_tags; i++) {
        char path[32];
        snprintf(path, sizeof path, "tags[%zu]", i);
        if (validate_tag(req->arena, &tags[i], path, err))
            return -1;
    }
    n_tags = dedup_last(tags, n_tags);
    struct log_batch b = { metrics, n_metrics, params, n_params, tags, n_tags };
    if (store_log_batch(req->arena, run_id, &b, err))   /* an empty batch too: the run must exist, active */
        return -1;
    return reply_empty(resp);
}

static int read_dataset(struct arena *a, const cJSON *obj, struct dataset_input *di, struct error *err)
{
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(obj, "dataset");
    if (!ds || !cJSON_IsObject(ds))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'dataset'.");
    struct dataset *d = &di->dataset;
    if (json_get_string(ds, "name", true, &d->name, err) || json_get_string(ds, "digest", true, &d->digest, err) ||
        json_get_string(ds, "source_type", true, &d->source_type, err) ||
        json_get_string(ds, "source", true, &d->source, err) ||
        json_get_string(ds, "schema", false, &d->schema, err) ||
        json_get_string(ds, "profile", false, &d->profile, err) ||
        get_kv_list(a, obj, "tags", &di->tags, &di->n_tags, err))
        return -1;
    if (validate_length("name", d->name, 500, err) || validate_length("digest", d->digest, 36, err) ||
        validate_length("source", d->source, 65535, err) || validate_length("schema", d->schema, 1048575, err) ||
        validate_length("profile", d->profile, 16777215, err))
        return -1;
    for (size_t i = 0; i < di->n_tags; i++) {
        if (!di->tags[i].key)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'key'.");
        if (!di->tags[i].value)
            di->tags[i].value = "";
        if (validate_length("key", di->tags[i].key, 255, err) || validate_length("value", di->tags[i].value, 500, err))
            return -1;
    }
    di->n_tags = dedup_last(di->tags, di->n_tags);
    return 0;
}

static int read_models(struct arena *a, const cJSON *in, struct model_io **out, size_t *n, struct error *err)
{
    const cJSON *first;
    if (json_get_object_array(in, "models", &first, n, err))
        return -1;
    *out = arena_alloc(a, (*n ? *n : 1) * sizeof **out);
    size_t i = 0;
    for (const cJSON *m = first; m; m = m->next, i++) {
        bool present;
        (*out)[i].step = 0;
        if (json_get_string(m, "model_id", true, &(*out)[i].model_id, err) ||
            json_get_int64(m, "step", false, &(*out)[i].step, &present, err))
            return -1;
    }
    return 0;
}

int api_log_inputs(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    const cJSON *first;
    size_t n;
    struct model_io *models;
    size_t n_models;
    if (json_get_string(req->input, "run_id", true, &run_id, err) ||
        json_get_object_array(req->input, "datasets", &first, &n, err) ||
        read_models(req->arena, req->input, &models, &n_models, err))
        return -1;
    struct dataset_input *inputs = arena_alloc(req->arena, (n ? n : 1) * sizeof *inputs);
    size_t i = 0;
    for (const cJSON *d = first; d; d = d->next, i++)
        if (read_dataset(req->arena, d, &inputs[i], err))
            return -1;
    if (store_log_inputs(req->arena, run_id, inputs, n, models, n_models, err))
        return -1;
    return reply_empty(resp);
}

int api_log_outputs(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id;
    struct model_io *models;
    size_t n_models;
    if (json_get_string(req->input, "run_id", true, &run_id, err))
        return -1;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req->input, "models");
    if (!m || cJSON_IsNull(m))   /* required here, optional in log-inputs */
        return json_missing("models", err);
    if (read_models(req->arena, req->input, &models, &n_models, err) ||
        store_log_outputs(req->arena, run_id, models, n_models, err))
        return -1;
    return reply_empty(resp);
}

/* search results leave out model inputs, as MLflow's do */
static void write_search_run(struct jw *w, const void *run)
{
    write_run(w, run, false, true);
}

int api_search_runs(struct request *req, struct response *resp, struct error *err)
{
    struct run_search s = { 0 };
    const char *filter = NULL, *token = NULL;
    const char **order_by, **exp_ids;
    size_t n_order, n_exp;
    int64_t max_results;
    if (get_string_list(req, "experiment_ids", &exp_ids, &n_exp, err) ||
        get_max_results(req->input, MAXR_RUNS, 1000, SEARCH_RUNS_MAX, &max_results, err) ||
        json_get_string(req->input, "filter", false, &filter, err) ||
        json_get_string(req->input, "page_token", false, &token, err) ||
        get_string_list(req, "order_by", &order_by, &n_order, err) ||
        get_view_type(req->input, "run_view_type", &s.view, err) ||
        page_token_decode(req->arena, token, &s.offset, err) ||
        sf_parse_run_filter(req->arena, filter, &s.filter, err) ||
        sf_parse_run_order_by(req->arena, order_by, n_order, &s.order, err))
        return -1;
    int64_t *ids = arena_alloc(req->arena, (n_exp ? n_exp : 1) * sizeof *ids);
    for (size_t i = 0; i < n_exp; i++)
        if (parse_experiment_id(exp_ids[i], &ids[i], err))
            return -1;
    s.experiment_ids = ids;
    s.n_experiments = n_exp;
    s.limit = max_results + 1;
    struct run *runs = NULL;
    size_t n = 0;
    if (n_exp && store_search_runs(req->arena, &s, &runs, &n, err))
        return -1;
    return reply_page(req, resp, "runs", runs, n, sizeof *runs, write_search_run, max_results, s.offset);
}
