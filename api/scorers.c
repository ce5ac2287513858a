/* MLflow 3 registered scorers (issue 21): the 7 /api/3.0/mlflow/scorers routes
 * and the UI's scorer/invoke, as MLflow 3.17's handlers.py and
 * SqlAlchemyStore answer them. A serialized scorer is kept as the client
 * sent it; Cairn never deserializes or runs one. */
#include "common.h"
#include "handlers.h"
#include "pyfmt.h"
#include "search_filter.h"
#include "../store/scorers.h"
#include <inttypes.h>
#include <string.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define SCORER_NAME_MAX 256                 /* MLflow's scorer_name column */
#define SERIALIZED_SCORER_MAX (1 << 20)     /* one serialized scorer */
#define SCORER_IDS_MAX 1000                 /* online-configs look-up */
#define SCORER_LIST_EXPERIMENTS_MAX 1000

static const char DECORATOR_BLOCKED[] =
    "Custom scorer registration (using @scorer decorator) is disabled by default outside of Databricks tracking "
    "environments due to security concerns. Custom scorers require arbitrary code execution during "
    "deserialization.\n\nTo use custom scorers:\n1. Configure MLflow to use a Databricks tracking URI, or\n2. "
    "Manage your custom scorer code in a source code repository (e.g., GitHub) and import it directly, or\n3. On "
    "a self-managed MLflow server (or local environment) that you trust to run the scorer's code, set the "
    "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n4. Use built-in scorers or "
    "make_judge() scorers instead.";

static void write_scorer(struct jw *w, const struct scorer_version *s)
{
    jw_obj(w);
    jw_kint64(w, "experiment_id", s->experiment_id);
    jw_kstr(w, "scorer_name", s->scorer_name);
    jw_kint64(w, "scorer_version", s->scorer_version);
    jw_kstr(w, "serialized_scorer", s->serialized_scorer);
    jw_kint64(w, "creation_time", s->creation_time);
    jw_kstr(w, "scorer_id", s->scorer_id);
    jw_obj_end(w);
}

static int reply_scorers(struct response *resp, const struct scorer_version *s, size_t n)
{
    struct jw w;
    reply_begin(resp, &w);
    if (n) {
        jw_karr(&w, "scorers");
        for (size_t i = 0; i < n; i++)
            write_scorer(&w, &s[i]);
        jw_arr_end(&w);
    }
    reply_end(&w);
    return 0;
}

/* experiment_id (required string) and name (required string) */
static int exp_and_name(struct request *req, bool name_required, int64_t *exp, const char **name,
                        struct error *err)
{
    const char *e = NULL;
    *name = NULL;
    if (json_get_string(req->input, "experiment_id", true, &e, err) ||
        json_get_string(req->input, "name", name_required, name, err))
        return -1;
    return parse_experiment_id(e, exp, err);
}

/* version: optional, int-like */
static int version_field(struct request *req, int64_t *version, struct error *err)
{
    bool present;
    *version = -1;
    if (json_get_int64(req->input, "version", false, version, &present, err))
        return -1;
    if (!present)
        *version = -1;
    else if (*version < 0)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'version'", *version);
    return 0;
}

static bool has_call_source(const cJSON *v)
{
    if (cJSON_IsObject(v)) {
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(v, "call_source");
        if (cs && !cJSON_IsNull(cs))
            return true;
    }
    if (cJSON_IsObject(v) || cJSON_IsArray(v))
        for (const cJSON *e = v->child; e; e = e->next)
            if (has_call_source(e))
                return true;
    return false;
}

/* the judge model a serialized scorer names (extract_model_from_serialized_scorer) */
static const char *scorer_model(const cJSON *s)
{
    static const char *const keys[] = { "instructions_judge_pydantic_data", "builtin_scorer_pydantic_data", NULL };
    for (size_t i = 0; keys[i]; i++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, keys[i]);
        if (cJSON_IsObject(d) && d->child) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "model");
            return cJSON_IsString(m) ? m->valuestring : NULL;
        }
    }
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(s, "memory_augmented_judge_data");
    if (cJSON_IsObject(mem) && mem->child)
        return scorer_model(cJSON_GetObjectItemCaseSensitive(mem, "base_judge"));
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(s, "third_party_scorer_data");
    if (cJSON_IsObject(tp) && tp->child) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(tp, "model");
        return cJSON_IsString(m) ? m->valuestring : NULL;
    }
    return NULL;
}

static bool is_gateway_model(const char *m)
{
    return m && !strncmp(m, "gateway:/", 9);
}

/* _validate_serialized_scorer_payload */
static int check_serialized(struct arena *a, const char *text, cJSON **out, struct error *err)
{
    struct error perr;
    if (strlen(text) > SERIALIZED_SCORER_MAX)
        return error_set(err, BAD, "serialized_scorer exceeds the limit of %d bytes", SERIALIZED_SCORER_MAX);
    cJSON *j = json_parse(a, text, strlen(text), &perr);
    if (!j)
        return error_set(err, BAD, "serialized_scorer must be valid JSON");
    if (has_call_source(j))
        return error_set(err, BAD, "%s", DECORATOR_BLOCKED);
    *out = j;
    return 0;
}

/* POST scorers/register */
int api_register_scorer(struct request *req, struct response *resp, struct error *err)
{
    int64_t exp;
    const char *name, *serialized = NULL;
    cJSON *parsed;
    if (exp_and_name(req, true, &exp, &name, err) ||
        json_get_string(req->input, "serialized_scorer", true, &serialized, err) ||
        check_serialized(req->arena, serialized, &parsed, err))
        return -1;
    bool blank = true;
    for (const char *p = name; *p && blank; p++)
        blank = strchr(" \t\n\r\f\v", *p) != NULL;
    if (blank)
        return error_set(err, BAD, "Scorer name cannot be empty or contain only whitespace.");
    if (strlen(name) > SCORER_NAME_MAX)
        return error_set(err, ERR_BAD_REQUEST, "Scorer name exceeds the maximum length of %d characters",
                         SCORER_NAME_MAX);
    const char *model = scorer_model(parsed);
    if (is_gateway_model(model))   /* MLflow resolves the endpoint; Cairn has no AI gateway */
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "GatewayEndpoint not found ('%s'): this server has no "
                         "AI gateway", model + 9);
    struct scorer_version s;
    if (store_register_scorer(req->arena, exp, name, serialized, &s, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kint64(&w, "version", s.scorer_version);
    jw_kstr(&w, "scorer_id", s.scorer_id);
    jw_kstr(&w, "experiment_id", arena_printf(req->arena, "%" PRId64, s.experiment_id));
    jw_kstr(&w, "name", s.scorer_name);
    jw_kstr(&w, "serialized_scorer", s.serialized_scorer);
    jw_kint64(&w, "creation_time", s.creation_time);
    reply_end(&w);
    return 0;
}

/* GET scorers/list: one experiment, several (only the active ones), or every active one */
int api_list_scorers(struct request *req, struct response *resp, struct error *err)
{
    const char *one = NULL, **many = NULL;
    size_t n_many = 0;
    if (json_get_string(req->input, "experiment_id", false, &one, err) ||
        json_get_string_array(req->arena, req->input, "experiment_ids", &many, &n_many, err))
        return -1;
    bool has_many = cJSON_GetObjectItemCaseSensitive(req->input, "experiment_ids") != NULL;
    if (one && *one && has_many)
        return error_set(err, BAD, "Cannot specify both 'experiment_id' and 'experiment_ids'. Use "
                         "'experiment_ids' to scope the query to multiple experiments, or 'experiment_id' to "
                         "scope it to a single experiment.");
    if (n_many > SCORER_LIST_EXPERIMENTS_MAX)
        return error_set(err, BAD, "At most %d experiment_ids are accepted; got %zu", SCORER_LIST_EXPERIMENTS_MAX,
                         n_many);
    int64_t *ids = arena_alloc(req->arena, (n_many + 1) * sizeof *ids);
    size_t n = 0;
    bool check = false;
    if (has_many) {
        for (size_t i = 0; i < n_many; i++)
            if (parse_experiment_id(many[i], &ids[n++], err))
                return -1;
        if (!n)
            return reply_scorers(resp, NULL, 0);
    } else if (one && *one) {
        if (parse_experiment_id(one, &ids[n++], err))
            return -1;
        check = true;
    }
    struct scorer_version *s;
    size_t ns;
    if (store_list_scorers(req->arena, ids, n, check, &s, &ns, err))
        return -1;
    return reply_scorers(resp, s, ns);
}

/* GET scorers/versions */
int api_list_scorer_versions(struct request *req, struct response *resp, struct error *err)
{
    int64_t exp;
    const char *name;
    struct scorer_version *s;
    size_t n;
    if (exp_and_name(req, true, &exp, &name, err) || store_list_scorer_versions(req->arena, exp, name, &s, &n, err))
        return -1;
    return reply_scorers(resp, s, n);
}

/* GET scorers/get */
int api_get_scorer(struct request *req, struct response *resp, struct error *err)
{
    int64_t exp, version;
    const char *name;
    struct scorer_version s;
    if (exp_and_name(req, true, &exp, &name, err) || version_field(req, &version, err) ||
        store_get_scorer(req->arena, exp, name, version, &s, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "scorer");
    write_scorer(&w, &s);
    reply_end(&w);
    return 0;
}

/* DELETE scorers/delete: one version, or the scorer with all of them */
int api_delete_scorer(struct request *req, struct response *resp, struct error *err)
{
    int64_t exp, version;
    const char *name;
    if (exp_and_name(req, true, &exp, &name, err) || version_field(req, &version, err) ||
        store_delete_scorer(exp, name, version, err))
        return -1;
    return reply_empty(resp);
}

static void write_config(struct jw *w, struct arena *a, const struct online_scoring_config *c)
{
    jw_obj(w);
    jw_kstr(w, "online_scoring_config_id", c->online_scoring_config_id);
    jw_kstr(w, "scorer_id", c->scorer_id);
    struct strbuf rate;
    sb_init(&rate, a, 24);
    py_float_repr(&rate, c->sample_rate);   /* a Python float: 0.0, 0.25 */
    jw_key(w, "sample_rate");
    jw_raw(w, rate.buf, rate.len);
    jw_kstr(w, "experiment_id", arena_printf(a, "%" PRId64, c->experiment_id));
    jw_kstr(w, "filter_string", c->filter_string);
    jw_obj_end(w);
}

/* GET scorers/online-configs?scorer_ids=… */
int api_get_online_scoring_configs(struct request *req, struct response *resp, struct error *err)
{
    const char **ids;
    size_t n;
    if (!cJSON_GetObjectItemCaseSensitive(req->input, "scorer_ids"))
        return json_missing("scorer_ids", err);
    if (json_get_string_array(req->arena, req->input, "scorer_ids", &ids, &n, err))
        return -1;
    if (n > SCORER_IDS_MAX)
        return error_set(err, BAD, "At most %d scorer_ids are accepted; got %zu", SCORER_IDS_MAX, n);
    struct online_scoring_config *c;
    size_t nc;
    if (store_get_online_scoring_configs(req->arena, ids, n, &c, &nc, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "configs");
    for (size_t i = 0; i < nc; i++)
        write_config(&w, req->arena, &c[i]);
    jw_arr_end(&w);
    reply_end(&w);
    return 0;
}

/* PUT scorers/online-config */
int api_upsert_online_scoring_config(struct request *req, struct response *resp, struct error *err)
{
    int64_t exp;
    const char *name;
    if (exp_and_name(req, true, &exp, &name, err))
        return -1;
    const cJSON *rate_j = cJSON_GetObjectItemCaseSensitive(req->input, "sample_rate");
    const cJSON *filter_j = cJSON_GetObjectItemCaseSensitive(req->input, "filter_string");
    if (!rate_j || cJSON_IsNull(rate_j))
        return json_missing("sample_rate", err);
    double rate;
    if (cJSON_IsBool(rate_j))
        rate = cJSON_IsTrue(rate_j) ? 1.0 : 0.0;   /* float(True) */
    else if (!(cJSON_IsNumber(rate_j) || cJSON_IsString(rate_j)) || parse_double(rate_j->valuestring, &rate))
        return error_set(err, BAD, "sample_rate must be a number");
    if (!(rate >= 0.0 && rate <= 1.0)) {
        struct strbuf sb;
        sb_init(&sb, req->arena, 24);
        py_float_repr(&sb, rate);
        return error_set(err, BAD, "sample_rate must be between 0.0 and 1.0, got %s", sb.buf);
    }
    const char *filter = NULL;
    if (filter_j && !cJSON_IsNull(filter_j)) {
        if (!cJSON_IsString(filter_j)) {
            struct strbuf sb;
            sb_init(&sb, req->arena, 32);
            py_repr(&sb, filter_j);
            return error_set(err, BAD, "Invalid value %s for parameter 'filter_string' supplied: Value was of type "
                             "'%s'. Expected type 'str' or None.", sb.buf, py_type_name(filter_j));
        }
        filter = filter_j->valuestring;
        struct sf_filter f;
        if (*filter && sf_parse_trace_filter(req->arena, filter, &f, err))
            return -1;
    }
    if (rate > 0) {
        /* automatic evaluation needs a gateway model, which no scorer on Cairn can name */
        struct scorer_version s;
        if (store_get_scorer(req->arena, exp, name, -1, &s, err))
            return -1;
        struct error perr;
        cJSON *j = json_parse(req->arena, s.serialized_scorer, strlen(s.serialized_scorer), &perr);
        if (!j || !is_gateway_model(scorer_model(j)))
            return error_set(err, BAD, "Scorer '%s' does not use a gateway model. Automatic evaluation is only "
                             "supported for scorers that use gateway models.", name);
    }
    struct online_scoring_config c;
    if (store_upsert_online_scoring_config(req->arena, exp, name, rate, filter, &c, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "config");
    write_config(&w, req->arena, &c);
    reply_end(&w);
    return 0;
}

/* POST ajax-api/3.0/mlflow/scorer/invoke: the UI's "run this judge on these
 * traces". Validated as MLflow validates it; Cairn runs no scorers: 501. */
int api_invoke_scorer(struct request *req, struct response *resp, struct error *err)
{
    if (strncmp(req->original_path, "/ajax-api/", 10))   /* MLflow serves it under ajax-api only */
        return error_set(err, ERR_ENDPOINT_NOT_FOUND, "Not Found");
    const cJSON *in = req->input;
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(in, "experiment_id");
    const cJSON *ser = cJSON_GetObjectItemCaseSensitive(in, "serialized_scorer");
    const cJSON *traces = cJSON_GetObjectItemCaseSensitive(in, "trace_ids");
    const cJSON *sname = cJSON_GetObjectItemCaseSensitive(in, "scorer_name");
    const cJSON *sver = cJSON_GetObjectItemCaseSensitive(in, "scorer_version");
    if (!exp || cJSON_IsNull(exp) || (cJSON_IsString(exp) && !*exp->valuestring))
        return error_set(err, BAD, "Missing required parameter: experiment_id");
    if (!ser || cJSON_IsNull(ser) || (cJSON_IsString(ser) && !*ser->valuestring))
        return error_set(err, BAD, "Missing required parameter: serialized_scorer");
    if (!traces || (cJSON_IsArray(traces) && !traces->child))
        return error_set(err, BAD, "Please select at least one trace to evaluate.");
    bool strings = cJSON_IsArray(traces);
    for (const cJSON *t = strings ? traces->child : NULL; t; t = t->next)
        strings = strings && cJSON_IsString(t);
    if (!strings)
        return error_set(err, BAD, "trace_ids must be a list of strings");
    bool no_name = !sname || cJSON_IsNull(sname), no_ver = !sver || cJSON_IsNull(sver);
    if (no_name != no_ver)
        return error_set(err, BAD, "scorer_name and scorer_version must be specified together");
    if (!no_name && (!cJSON_IsString(sname) || !cJSON_IsNumber(sver) || strpbrk(sver->valuestring, ".eE")))
        return error_set(err, BAD, "scorer_name must be a string and scorer_version must be an integer");
    cJSON *parsed;
    if (!cJSON_IsString(ser))
        return error_set(err, BAD, "serialized_scorer must be valid JSON");
    if (check_serialized(req->arena, ser->valuestring, &parsed, err))
        return -1;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(parsed, "name");
    if (!cJSON_IsObject(parsed) || !cJSON_IsString(n))   /* Scorer.model_validate_json */
        return error_set(err, BAD, "Failed to validate scorer: Failed to parse serialized scorer data: "
                         "SerializedScorer.__init__() missing 1 required positional argument: 'name'");
    return error_set(err, ERR_NOT_IMPLEMENTED, "Mlflow server job execution feature is not enabled, please set "
                     "environment variable 'MLFLOW_SERVER_ENABLE_JOB_EXECUTION' to 'true' to enable it. (Cairn "
                     "does not run scorers: call the scorer from a client.)");
}
