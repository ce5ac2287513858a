/* MLflow 3 labelling (issue 21): the 22 routes of issues, label schemas and
 * review queues, as MLflow 3.17's handlers.py, SqlAlchemyStore and the
 * validation modules of mlflow/genai/{label_schemas,review_queues} answer
 * them. Fields are validated and normalised here; store/labeling.c keeps them. */
#include "common.h"
#include "handlers.h"
#include "pyfmt.h"
#include "search_filter.h"
#include "../store/auth_store.h"
#include "../store/labeling.h"
#include <inttypes.h>
#include <string.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define SEARCH_MAX_RESULTS_THRESHOLD 50000
#define SEARCH_MAX_RESULTS_DEFAULT 1000
#define ISSUES_DEFAULT_MAX_RESULTS 100
#define LABEL_SCHEMAS_DEFAULT_MAX_RESULTS 100
/* mlflow/genai/label_schemas/validation.py */
#define LS_NAME_MAX 250
#define LS_INSTRUCTION_MAX 1000
#define LS_LABEL_MAX 64
#define LS_OPTIONS_MAX 10
/* mlflow/genai/review_queues/validation.py */
#define RQ_NAME_MAX 250
#define RQ_USER_MAX 250
#define RQ_SCHEMA_ID_MAX 36
#define RQ_ITEM_ID_MAX 50
#define RQ_USERS_MAX 10
/* Cairn's own bounds where MLflow has none (README "Limits") */
#define ISSUE_NAME_MAX 250                 /* MLflow's column */
#define ISSUE_TEXT_MAX (1 << 20)           /* description, one root cause or category */
#define ISSUE_LIST_MAX 1000                /* root causes, categories */
#define ITEM_IDS_MAX 1000                  /* one add/remove call */

static const char SEE_DOCS[] = " See the API docs for more information about request parameters.";

/* ---- small helpers ---- */

static int req_string(struct request *req, const char *field, const char **out, struct error *err)
{
    *out = NULL;
    return json_get_string(req->input, field, true, out, err);
}

static int req_experiment(struct request *req, const char **text, int64_t *id, struct error *err)
{
    return req_string(req, "experiment_id", text, err) || parse_experiment_id(*text, id, err) ? -1 : 0;
}

/* repr() of a list of str */
static const char *repr_list(struct arena *a, const char *const *v, size_t n)
{
    struct strbuf sb;
    sb_init(&sb, a, 16);
    sb_putc(&sb, '[');
    for (size_t i = 0; i < n; i++)
        sb_printf(&sb, "%s%s", i ? ", " : "", py_repr_dup(a, v[i]));
    sb_putc(&sb, ']');
    return sb.buf;
}

/* str.strip() (ASCII whitespace and the C0 separators Python strips) */
static const char *strip(struct arena *a, const char *s)
{
    while (*s && strchr(" \t\n\r\f\v\x1c\x1d\x1e\x1f", *s))
        s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\n\r\f\v\x1c\x1d\x1e\x1f", s[n - 1]))
        n--;
    return arena_strndup(a, s, n);
}

/* str.lower() for ASCII (see compat/DIFFERENCES.md) */
static const char *lower(struct arena *a, const char *s)
{
    char *o = arena_strdup(a, s);
    for (char *p = o; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return o;
}

/* A proto enum given by name or number: -1 absent, or the number */
static int get_enum(struct arena *a, const cJSON *in, const char *field, const char *const *names, int count,
                    int *out, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    *out = -1;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v)) {
        for (int i = 0; i < count; i++)
            if (!strcmp(v->valuestring, names[i])) {
                *out = i;
                return 0;
            }
        int64_t n;
        if (!parse_int64(v->valuestring, &n) && n >= 0 && n <= INT32_MAX) {
            *out = (int)n;
            return 0;
        }
    } else if (cJSON_IsNumber(v) && !strpbrk(v->valuestring, ".eE")) {
        int64_t n;
        if (!parse_int64(v->valuestring, &n) && n >= 0 && n <= INT32_MAX) {
            *out = (int)n;
            return 0;
        }
    }
    struct strbuf sb;
    sb_init(&sb, a, 32);
    py_dumps(&sb, v);
    return error_set(err, BAD, "Invalid value %s for enum field '%s'.", sb.buf, field);
}

/* max_results of the label-schema and review-queue lists (1..50000, the handler's bound) */
static int list_max_results(struct request *req, int64_t dflt, int64_t *out, int64_t *offset, struct error *err)
{
    bool present;
    const char *token = NULL;
    if (json_get_int64(req->input, "max_results", false, out, &present, err))
        return -1;
    if (!present)
        *out = dflt;
    else if (*out < 1 || *out > SEARCH_MAX_RESULTS_THRESHOLD)
        return error_set(err, BAD, "max_results must be between 1 and %d.%s", SEARCH_MAX_RESULTS_THRESHOLD,
                         SEE_DOCS);
    if (json_get_string(req->input, "page_token", false, &token, err))
        return -1;
    *offset = 0;
    return token && *token ? page_token_decode(req->arena, token, offset, err) : 0;
}

typedef void (*list_writer)(struct jw *w, struct arena *a, const void *item);

/* a page: the first max_results of the n fetched (max_results + 1 asked for);
 * an empty page omits the array; next_page_token is always there (`token or ""`) */
static int reply_list(struct request *req, struct response *resp, const char *field, const void *items, size_t n,
                      size_t size, list_writer write, int64_t max_results, int64_t offset)
{
    struct jw w;
    reply_begin(resp, &w);
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    if (shown) {
        jw_karr(&w, field);
        for (size_t i = 0; i < shown; i++)
            write(&w, req->arena, (const char *)items + i * size);
        jw_arr_end(&w);
    }
    jw_kstr(&w, "next_page_token", n > (size_t)max_results ? page_token_encode(req->arena, offset + max_results) : "");
    reply_end(&w);
    return 0;
}

/* a list of non-empty strings for the JSON text a store column keeps (NULL when empty) */
static int json_list_text(struct request *req, const char *field, const char **out, struct error *err)
{
    const char **v;
    size_t n;
    *out = NULL;
    if (get_string_list(req, field, &v, &n, err))
        return -1;
    if (n > ISSUE_LIST_MAX)
        return error_set(err, BAD, "At most %d %s are accepted; got %zu", ISSUE_LIST_MAX, field, n);
    if (!n)
        return 0;
    struct strbuf sb;
    struct jw w;
    sb_init(&sb, req->arena, 64);
    jw_init(&w, &sb);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        if (strlen(v[i]) > ISSUE_TEXT_MAX)
            return error_set(err, BAD, "An entry of %s exceeds the limit of %d bytes", field, ISSUE_TEXT_MAX);
        jw_str(&w, v[i]);
    }
    jw_arr_end(&w);
    *out = sb.buf;
    return 0;
}

/* ================================================================ issues */

static const char *const ISSUE_STATUSES[] = { "pending", "rejected", "resolved", NULL };
static const char *const ISSUE_SEVERITIES[] = { "not_an_issue", "low", "medium", "high", NULL };

/* IssueStatus(value) / IssueSeverity(value): MLflow lets the ValueError out as a 500 */
static int issue_enum(struct request *req, const char *field, const char *const *allowed, const char **out,
                      struct error *err)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->input, field);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return json_invalid_type(v, field, err);
    for (size_t i = 0; allowed[i]; i++)
        if (!strcmp(v->valuestring, allowed[i])) {
            *out = allowed[i];
            return 0;
        }
    return error_set(err, BAD, "%s is not a valid Issue%s", py_repr_dup(req->arena, v->valuestring),
                     !strcmp(field, "status") ? "Status" : "Severity");
}

static void write_json_list(struct jw *w, const char *key, const char *text)
{
    if (text && strcmp(text, "[]")) {
        jw_key(w, key);
        jw_raw(w, text, strlen(text));
    }
}

static void write_issue(struct jw *w, struct arena *a, const void *p)
{
    const struct issue *i = p;
    jw_obj(w);
    jw_kstr(w, "issue_id", i->issue_id);
    jw_kstr(w, "experiment_id", arena_printf(a, "%" PRId64, i->experiment_id));
    jw_kstr(w, "name", i->name);
    jw_kstr(w, "description", i->description);
    jw_kstr(w, "status", i->status);
    if (i->severity && *i->severity)
        jw_kstr(w, "severity", i->severity);
    write_json_list(w, "root_causes", i->root_causes);
    if (i->source_run_id && *i->source_run_id)
        jw_kstr(w, "source_run_id", i->source_run_id);
    jw_kint64(w, "created_timestamp", i->created_timestamp);
    jw_kint64(w, "last_updated_timestamp", i->last_updated_timestamp);
    if (i->created_by && *i->created_by)
        jw_kstr(w, "created_by", i->created_by);
    write_json_list(w, "categories", i->categories);
    if (i->trace_count >= 0)
        jw_kint64(w, "trace_count", i->trace_count);
    jw_obj_end(w);
}

static int reply_issue(struct request *req, struct response *resp, const struct issue *i)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "issue");
    write_issue(&w, req->arena, i);
    reply_end(&w);
    return 0;
}

static int text_field(struct request *req, const char *field, const char **out, size_t max, struct error *err)
{
    if (json_get_string(req->input, field, false, out, err))
        return -1;
    if (*out && strlen(*out) > max)
        return error_set(err, BAD, "'%s' exceeds the limit of %zu bytes", field, max);
    return 0;
}

/* POST /api/3.0/mlflow/issues */
int api_create_issue(struct request *req, struct response *resp, struct error *err)
{
    struct issue in = { 0 };
    const char *exp_text, *name, *desc;
    if (req_string(req, "name", &name, err) || req_string(req, "description", &desc, err) ||
        req_experiment(req, &exp_text, &in.experiment_id, err))
        return -1;
    in.name = name;
    in.description = desc;
    if (utf8_len(name) > ISSUE_NAME_MAX)
        return error_set(err, BAD, "Issue name must be at most %d characters; got %zu.", ISSUE_NAME_MAX,
                         utf8_len(name));
    if (strlen(desc) > ISSUE_TEXT_MAX)
        return error_set(err, BAD, "'description' exceeds the limit of %d bytes", ISSUE_TEXT_MAX);
    if (text_field(req, "source_run_id", &in.source_run_id, 32, err) ||
        text_field(req, "created_by", &in.created_by, 255, err) ||
        json_list_text(req, "root_causes", &in.root_causes, err) ||
        json_list_text(req, "categories", &in.categories, err) ||
        issue_enum(req, "status", ISSUE_STATUSES, &in.status, err) ||
        issue_enum(req, "severity", ISSUE_SEVERITIES, &in.severity, err))
        return -1;
    if (in.source_run_id && !*in.source_run_id)
        in.source_run_id = NULL;   /* `or None` */
    if (in.created_by && !*in.created_by)
        in.created_by = NULL;
    if (!in.status)
        in.status = "pending";
    struct issue out;
    if (store_create_issue(req->arena, &in, &out, err))
        return -1;
    return reply_issue(req, resp, &out);
}

/* GET /api/3.0/mlflow/issues/{issue_id} */
int api_get_issue(struct request *req, struct response *resp, struct error *err)
{
    struct issue out;
    if (store_get_issue(req->arena, req->path_params[0], &out, err))
        return -1;
    return reply_issue(req, resp, &out);
}

/* PATCH /api/3.0/mlflow/issues/{issue_id} */
int api_update_issue(struct request *req, struct response *resp, struct error *err)
{
    const char *status, *severity, *name = NULL, *desc = NULL, *id_in_body;
    if (req_string(req, "issue_id", &id_in_body, err) ||   /* the handler's schema asks for it in the body too */
        issue_enum(req, "status", ISSUE_STATUSES, &status, err) ||
        issue_enum(req, "severity", ISSUE_SEVERITIES, &severity, err) ||
        text_field(req, "name", &name, ISSUE_NAME_MAX * 4, err) ||
        text_field(req, "description", &desc, ISSUE_TEXT_MAX, err))
        return -1;
    if (name && utf8_len(name) > ISSUE_NAME_MAX)
        return error_set(err, BAD, "Issue name must be at most %d characters; got %zu.", ISSUE_NAME_MAX,
                         utf8_len(name));
    struct issue out;   /* name and description: `or None` */
    if (store_update_issue(req->arena, req->path_params[0], status, name && *name ? name : NULL,
                           desc && *desc ? desc : NULL, severity, &out, err))
        return -1;
    return reply_issue(req, resp, &out);
}

/* POST /api/3.0/mlflow/issues/search */
int api_search_issues(struct request *req, struct response *resp, struct error *err)
{
    struct issue_search s = { .experiment_id = -1 };
    const char *exp = NULL, *filter = NULL, *token = NULL;
    bool present;
    int64_t max_results;
    if (json_get_string(req->input, "experiment_id", false, &exp, err) ||
        json_get_string(req->input, "filter_string", false, &filter, err) ||
        json_get_string(req->input, "page_token", false, &token, err) ||
        json_get_bool(req->input, "include_trace_count", &s.include_trace_count, &present, err) ||
        json_get_int64(req->input, "max_results", false, &max_results, &present, err))
        return -1;
    if (!present)
        max_results = ISSUES_DEFAULT_MAX_RESULTS;
    else if (max_results < 1)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be "
                         "a positive integer", max_results);
    else if (max_results > SEARCH_MAX_RESULTS_THRESHOLD)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be at "
                         "most %d", max_results, SEARCH_MAX_RESULTS_THRESHOLD);
    if (exp && *exp && parse_experiment_id(exp, &s.experiment_id, err))
        return -1;
    if (page_token_decode(req->arena, token && *token ? token : NULL, &s.offset, err) ||
        sf_parse_issue_filter(req->arena, filter, &s.filter, err))
        return -1;
    s.limit = max_results + 1;
    struct issue *v;
    size_t n;
    if (store_search_issues(req->arena, &s, &v, &n, err))
        return -1;
    return reply_list(req, resp, "issues", v, n, sizeof *v, write_issue, max_results, s.offset);
}

/* POST /ajax-api/3.0/mlflow/issues/invoke: the UI's "detect issues with a
 * judge". Validated as MLflow validates it; Cairn runs no jobs: 501. */
int api_invoke_issue_detection(struct request *req, struct response *resp, struct error *err)
{
    (void)resp;
    if (strncmp(req->original_path, "/ajax-api/", 10))   /* MLflow serves it under ajax-api only */
        return error_set(err, ERR_ENDPOINT_NOT_FOUND, "Not Found");
    const cJSON *in = req->input;
    const char *exp, *provider, *s = NULL;
    const cJSON *traces = cJSON_GetObjectItemCaseSensitive(in, "trace_ids");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(in, "categories");
    if (req_string(req, "experiment_id", &exp, err))
        return -1;
    if (!traces || cJSON_IsNull(traces))
        return error_set(err, BAD, "Missing value for required parameter 'trace_ids'.%s", SEE_DOCS);
    if (!cJSON_IsArray(traces))
        return json_invalid_type(traces, "trace_ids", err);
    for (const cJSON *t = traces->child; t; t = t->next)
        if (!cJSON_IsString(t))
            return json_invalid_type(traces, "trace_ids", err);
    if (!cats || cJSON_IsNull(cats))
        return error_set(err, BAD, "Missing value for required parameter 'categories'.%s", SEE_DOCS);
    if (!cJSON_IsArray(cats))
        return json_invalid_type(cats, "categories", err);
    if (req_string(req, "provider", &provider, err) ||
        json_get_string(in, "model", false, &s, err) || json_get_string(in, "secret_id", false, &s, err) ||
        json_get_string(in, "endpoint_name", false, &s, err))
        return -1;
    if (!traces->child)
        return error_set(err, BAD, "Please select at least one trace to analyze.");
    return error_set(err, ERR_NOT_IMPLEMENTED, "Mlflow server job execution feature is not enabled, please set "
                     "environment variable 'MLFLOW_SERVER_ENABLE_JOB_EXECUTION' to 'true' to enable it. (Cairn "
                     "does not run issue detection jobs.)");
}

/* ================================================================ label schemas */

static const char *const LS_TYPES[] = { "LABEL_SCHEMA_TYPE_UNSPECIFIED", "FEEDBACK", "EXPECTATION" };

/* one LabelSchemaInput, parsed (the oneof) and spelled for the store */
struct ls_input {
    const char *type;            /* pass_fail | categorical | numeric | text */
    const char *config;          /* the variant's JSON as answered */
    const char *class_name;      /* InputPassFail, … (MLflow's messages) */
    const cJSON *v;              /* the variant object */
    bool multi_select;
};

static const struct { const char *key, *type, *class_name; } LS_VARIANTS[] = {
    { "pass_fail", "pass_fail", "InputPassFail" }, { "categorical", "categorical", "InputCategorical" },
    { "numeric", "numeric", "InputNumeric" }, { "text", "text", "InputText" },
};

static const char *class_of(const char *type)
{
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(LS_VARIANTS[i].type, type))
            return LS_VARIANTS[i].class_name;
    return "?";
}

static int bad_field(struct arena *a, const cJSON *v, const char *field, struct error *err)
{
    struct strbuf sb;
    sb_init(&sb, a, 32);
    py_dumps(&sb, v);
    return error_set(err, BAD, "Invalid value %s for field '%s'.", sb.buf, field);
}

/* _input_from_proto, then the variant's fields as protobuf parses them */
static int parse_input(struct arena *a, const cJSON *input, struct ls_input *out, struct error *err)
{
    *out = (struct ls_input){ 0 };
    if (input && !cJSON_IsNull(input) && !cJSON_IsObject(input))
        return bad_field(a, input, "input", err);
    int found = 0;
    for (size_t i = 0; input && i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, LS_VARIANTS[i].key);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsObject(v))
            return bad_field(a, v, LS_VARIANTS[i].key, err);
        if (found++)
            return error_set(err, BAD, "Message type \"mlflow.label_schemas.LabelSchemaInput\" should not have "
                             "multiple \"input\" oneof fields.");
        out->type = LS_VARIANTS[i].type;
        out->class_name = LS_VARIANTS[i].class_name;
        out->v = v;
    }
    if (!found)
        return error_set(err, BAD, "Label schema `input` must have exactly one of `pass_fail`, `categorical`, "
                         "`numeric`, or `text` set; got an empty oneof.");
    const cJSON *v = out->v;
    struct strbuf sb;
    struct jw w;
    sb_init(&sb, a, 64);
    jw_init(&w, &sb);
    jw_obj(&w);
    if (!strcmp(out->type, "pass_fail")) {
        const char *pos = "", *neg = "";
        if (json_get_string(v, "positive_label", false, &pos, err) ||
            json_get_string(v, "negative_label", false, &neg, err))
            return -1;
        jw_kstr(&w, "positive_label", pos);
        jw_kstr(&w, "negative_label", neg);
    } else if (!strcmp(out->type, "categorical")) {
        const char **opts;
        size_t n;
        bool present;
        if (json_get_string_array(a, v, "options", &opts, &n, err) ||
            json_get_bool(v, "multi_select", &out->multi_select, &present, err))
            return -1;
        jw_karr(&w, "options");
        for (size_t i = 0; i < n; i++)
            jw_str(&w, opts[i]);
        jw_arr_end(&w);
        jw_kbool(&w, "multi_select", out->multi_select);
    } else if (!strcmp(out->type, "numeric")) {
        static const char *const keys[] = { "min_value", "max_value" };
        for (int k = 0; k < 2; k++) {
            double d;
            bool present;
            if (json_get_double(v, keys[k], false, &d, &present, err))
                return -1;
            if (present) {
                jw_key(&w, keys[k]);
                struct strbuf f;
                sb_init(&f, a, 24);
                py_float_repr(&f, d);
                jw_raw(&w, f.buf, f.len);
            }
        }
    } else {
        int64_t max;
        bool present;
        if (json_get_int64(v, "max_length", false, &max, &present, err))
            return -1;
        if (present)
            jw_kint64(&w, "max_length", max);
    }
    jw_obj_end(&w);
    out->config = sb.buf;
    return 0;
}

/* _validate_input: the variant's rules */
static int validate_input(struct arena *a, const struct ls_input *in, struct error *err)
{
    struct error perr;
    cJSON *c = json_parse(a, in->config, strlen(in->config), &perr);
    if (!strcmp(in->type, "pass_fail")) {
        const char *f[2] = { "positive_label", "negative_label" };
        const char *s[2];
        for (int k = 0; k < 2; k++) {
            s[k] = cJSON_GetObjectItemCaseSensitive(c, f[k])->valuestring;
            if (!*s[k])
                return error_set(err, BAD, "`InputPassFail.%s` must be a non-empty string; got ''.", f[k]);
            if (utf8_len(s[k]) > LS_LABEL_MAX)
                return error_set(err, BAD, "`InputPassFail.%s` must be at most %d characters; got %zu.", f[k],
                                 LS_LABEL_MAX, utf8_len(s[k]));
        }
        if (!strcmp(s[0], s[1]))
            return error_set(err, BAD, "`InputPassFail.positive_label` and `negative_label` must be distinct; got "
                             "%s for both.", py_repr_dup(a, s[0]));
    } else if (!strcmp(in->type, "categorical")) {
        const cJSON *opts = cJSON_GetObjectItemCaseSensitive(c, "options");
        int n = cJSON_GetArraySize(opts);
        if (!n)
            return error_set(err, BAD, "`InputCategorical.options` must be a non-empty list; got [].");
        if (n > LS_OPTIONS_MAX)
            return error_set(err, BAD, "`InputCategorical.options` must have at most %d entries; got %d.",
                             LS_OPTIONS_MAX, n);
        for (const cJSON *o = opts->child; o; o = o->next) {
            const char *s = o->valuestring;
            if (!*s)
                return error_set(err, BAD, "`InputCategorical.options` entries must be non-empty strings; got ''.");
            if (utf8_len(s) > LS_LABEL_MAX)
                return error_set(err, BAD, "`InputCategorical.options` entries must be at most %d characters; got "
                                 "%zu for %s.", LS_LABEL_MAX, utf8_len(s), py_repr_dup(a, s));
            for (const cJSON *p = opts->child; p != o; p = p->next)
                if (!strcmp(p->valuestring, s))
                    return error_set(err, BAD, "`InputCategorical.options` must be deduplicated; %s appears twice.",
                                     py_repr_dup(a, s));
        }
    } else if (!strcmp(in->type, "numeric")) {
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(c, "min_value");
        const cJSON *hi = cJSON_GetObjectItemCaseSensitive(c, "max_value");
        if (lo && hi && lo->valuedouble >= hi->valuedouble)
            return error_set(err, BAD, "`InputNumeric.min_value` must be strictly less than `max_value`; got "
                             "min=%s, max=%s.", lo->valuestring, hi->valuestring);
    } else {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "max_length");
        int64_t max;
        if (m && !parse_int64(m->valuestring, &max) && max < 1)
            return error_set(err, BAD, "`InputText.max_length` must be at least 1; got %" PRId64 ".", max);
    }
    return 0;
}

static int validate_ls_name(struct arena *a, const char *name, struct error *err)
{
    if (!*name)
        return error_set(err, BAD, "Label schema `name` must be a non-empty string; got ''.");
    if (utf8_len(name) > LS_NAME_MAX)
        return error_set(err, BAD, "Label schema `name` must be at most %d characters; got %zu.", LS_NAME_MAX,
                         utf8_len(name));
    if (!strcmp(lower(a, strip(a, name)), "feedback"))
        return error_set(err, BAD, "`%s` is reserved for the experiment's default question and cannot be used for "
                         "another label schema.", name);
    return 0;
}

static int validate_instruction(const char *s, struct error *err)
{
    if (s && utf8_len(s) > LS_INSTRUCTION_MAX)
        return error_set(err, BAD, "Label schema `instruction` must be at most %d characters; got %zu.",
                         LS_INSTRUCTION_MAX, utf8_len(s));
    return 0;
}

static void write_label_schema(struct jw *w, struct arena *a, const void *p)
{
    const struct label_schema *s = p;
    jw_obj(w);
    jw_kstr(w, "schema_id", s->schema_id);
    jw_kstr(w, "experiment_id", arena_printf(a, "%" PRId64, s->experiment_id));
    jw_kstr(w, "name", s->name);
    jw_kstr(w, "type", !strcmp(s->type, "feedback") ? "FEEDBACK" : "EXPECTATION");
    if (s->instruction)
        jw_kstr(w, "instruction", s->instruction);
    jw_kbool(w, "enable_comment", s->enable_comment);
    jw_kobj(w, "input");
    jw_key(w, s->input_type);
    jw_raw(w, s->input_config, strlen(s->input_config));
    jw_obj_end(w);
    if (s->created_by)
        jw_kstr(w, "created_by", s->created_by);
    jw_kint64(w, "created_at", s->created_time);
    jw_kint64(w, "last_updated_at", s->last_update_time);
    jw_kbool(w, "is_default", s->is_default);
    jw_obj_end(w);
}

static int reply_label_schema(struct request *req, struct response *resp, const struct label_schema *s)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "label_schema");
    write_label_schema(&w, req->arena, s);
    reply_end(&w);
    return 0;
}

/* POST label-schemas/create */
int api_create_label_schema(struct request *req, struct response *resp, struct error *err)
{
    struct label_schema in = { 0 };
    const char *exp_text, *name;
    int type;
    bool present;
    struct ls_input input;
    if (req_experiment(req, &exp_text, &in.experiment_id, err) || req_string(req, "name", &name, err) ||
        get_enum(req->arena, req->input, "type", LS_TYPES, 3, &type, err))
        return -1;
    if (type != 1 && type != 2)
        return error_set(err, BAD, "Label schema `type` must be one of FEEDBACK or EXPECTATION; got proto enum "
                         "value %d.", type < 0 ? 0 : type);
    if (parse_input(req->arena, cJSON_GetObjectItemCaseSensitive(req->input, "input"), &input, err) ||
        json_get_string(req->input, "instruction", false, &in.instruction, err) ||
        json_get_bool(req->input, "enable_comment", &in.enable_comment, &present, err) ||
        validate_ls_name(req->arena, name, err) || validate_instruction(in.instruction, err) ||
        validate_input(req->arena, &input, err))
        return -1;
    in.name = name;
    in.type = type == 1 ? "feedback" : "expectation";
    in.input_type = input.type;
    in.input_config = input.config;
    struct label_schema out;
    if (store_create_label_schema(req->arena, &in, &out, err))
        return -1;
    return reply_label_schema(req, resp, &out);
}

/* GET label-schemas/get */
int api_get_label_schema(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    struct label_schema out;
    if (req_string(req, "schema_id", &id, err) || store_get_label_schema(req->arena, id, &out, err))
        return -1;
    return reply_label_schema(req, resp, &out);
}

/* GET label-schemas/get-by-name */
int api_get_label_schema_by_name(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_text, *name;
    int64_t exp;
    struct label_schema out;
    if (req_experiment(req, &exp_text, &exp, err) || req_string(req, "name", &name, err) ||
        store_get_label_schema_by_name(req->arena, exp, name, &out, err))
        return -1;
    return reply_label_schema(req, resp, &out);
}

/* GET label-schemas/list */
int api_list_label_schemas(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_text;
    int64_t exp, max_results, offset;
    struct label_schema *v;
    size_t n;
    if (req_experiment(req, &exp_text, &exp, err) ||
        list_max_results(req, LABEL_SCHEMAS_DEFAULT_MAX_RESULTS, &max_results, &offset, err) ||
        store_list_label_schemas(req->arena, exp, offset, max_results + 1, &v, &n, err))
        return -1;
    return reply_list(req, resp, "label_schemas", v, n, sizeof *v, write_label_schema, max_results, offset);
}

struct ls_update_ctx {
    struct arena *a;
    const struct label_schema_update *u;
    const struct ls_input *input;   /* NULL: unchanged */
};

/* validate_schema_for_update, against the schema as stored */
static int check_ls_update(void *p, const struct label_schema *cur, struct error *err)
{
    struct ls_update_ctx *x = p;
    if (cur->is_default)
        return error_set(err, BAD, "The experiment's default question cannot be edited.");
    if ((x->u->name && validate_ls_name(x->a, x->u->name, err)) || validate_instruction(x->u->instruction, err))
        return -1;
    if (!x->input)
        return 0;
    if (validate_input(x->a, x->input, err))
        return -1;
    if (strcmp(x->input->type, cur->input_type))
        return error_set(err, BAD, "A label schema's input type cannot be changed after creation (existing: %s, "
                         "got: %s).", class_of(cur->input_type), x->input->class_name);
    if (!strcmp(cur->input_type, "categorical")) {
        struct error perr;
        cJSON *c = json_parse(x->a, cur->input_config, strlen(cur->input_config), &perr);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "multi_select")) != x->input->multi_select)
            return error_set(err, BAD, "`InputCategorical.multi_select` cannot be changed after creation.");
    }
    return 0;
}

/* PATCH label-schemas/update */
int api_update_label_schema(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    struct label_schema_update u = { .enable_comment = -1 };
    struct ls_input input;
    struct ls_update_ctx x = { .a = req->arena, .u = &u };
    bool comment, present;
    const cJSON *in_j = cJSON_GetObjectItemCaseSensitive(req->input, "input");
    if (req_string(req, "schema_id", &id, err) || json_get_string(req->input, "name", false, &u.name, err) ||
        json_get_string(req->input, "instruction", false, &u.instruction, err) ||
        json_get_bool(req->input, "enable_comment", &comment, &present, err))
        return -1;
    if (present)
        u.enable_comment = comment;
    if (in_j && !cJSON_IsNull(in_j)) {
        if (parse_input(req->arena, in_j, &input, err))
            return -1;
        x.input = &input;
        u.input_type = input.type;
        u.input_config = input.config;
    }
    u.check = check_ls_update;
    u.ctx = &x;
    struct label_schema out;
    if (store_update_label_schema(req->arena, id, &u, &out, err))
        return -1;
    return reply_label_schema(req, resp, &out);
}

/* DELETE label-schemas/delete */
int api_delete_label_schema(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    if (req_string(req, "schema_id", &id, err) || store_delete_label_schema(id, err))
        return -1;
    return reply_empty(resp);
}

/* ================================================================ review queues */

static const char *const RQ_TYPES[] = { "REVIEW_QUEUE_TYPE_UNSPECIFIED", "USER", "CUSTOM" };
static const char *const RI_TYPES[] = { "REVIEW_ITEM_TYPE_UNSPECIFIED", "TRACE" };
static const char *const RI_STATUSES[] = { "REVIEW_STATUS_UNSPECIFIED", "PENDING", "COMPLETE", "DECLINED" };
static const char *const RI_STATUS_VALUES[] = { "", "pending", "complete", "declined" };

static int non_empty(const char *v, const char *field, size_t max, struct arena *a, struct error *err)
{
    if (!*v)
        return error_set(err, BAD, "`%s` must be a non-empty string; got %s.", field, py_repr_dup(a, v));
    if (utf8_len(v) > max)
        return error_set(err, BAD, "`%s` must be at most %zu characters; got %zu.", field, max, utf8_len(v));
    return 0;
}

static const char *normalize_user(struct arena *a, const char *u)
{
    return lower(a, strip(a, u));
}

/* normalise (strip, and lower for users), check and de-duplicate, keeping the order */
static int normalize_set(struct arena *a, const char **v, size_t *n, bool users, struct error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        const char *s = users ? normalize_user(a, v[i]) : strip(a, v[i]);
        if (non_empty(s, users ? "user" : "schema_id", users ? RQ_USER_MAX : RQ_SCHEMA_ID_MAX, a, err))
            return -1;
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(v[j], s);
        if (!dup)
            v[k++] = s;
    }
    *n = k;
    if (users && k > RQ_USERS_MAX)
        return error_set(err, BAD, "A review queue can have at most %d assigned users; got %zu.", RQ_USERS_MAX, k);
    return 0;
}

/* validate_custom_queue_name */
static int custom_queue_name(struct arena *a, const char *name, const char **out, struct error *err)
{
    *out = strip(a, name);
    if (non_empty(*out, "name", RQ_NAME_MAX, a, err))
        return -1;
    if (!strcmp(lower(a, *out), "default"))
        return error_set(err, BAD, "`%s` is a reserved queue name and cannot be used for a custom queue.", *out);
    return 0;
}

/* validate_item_ids_for_attach */
static int item_ids(struct request *req, const char ***v, size_t *n, struct error *err)
{
    if (get_string_list(req, "item_ids", v, n, err))
        return -1;
    if (!*n)
        return error_set(err, BAD, "`item_ids` must be a non-empty list; got [].");
    if (*n > ITEM_IDS_MAX)
        return error_set(err, BAD, "At most %d item_ids are accepted; got %zu", ITEM_IDS_MAX, *n);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        const char *s = strip(req->arena, (*v)[i]);
        if (non_empty(s, "item_id", RQ_ITEM_ID_MAX, req->arena, err))
            return -1;
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp((*v)[j], s);
        if (!dup)
            (*v)[k++] = s;
    }
    *n = k;
    return 0;
}

static void write_strings(struct jw *w, const char *key, const char *const *v, size_t n)
{
    if (!n)
        return;
    jw_karr(w, key);
    for (size_t i = 0; i < n; i++)
        jw_str(w, v[i]);
    jw_arr_end(w);
}

static void write_queue(struct jw *w, struct arena *a, const void *p)
{
    const struct review_queue *q = p;
    jw_obj(w);
    jw_kstr(w, "queue_id", q->queue_id);
    jw_kstr(w, "experiment_id", arena_printf(a, "%" PRId64, q->experiment_id));
    jw_kstr(w, "name", q->name);
    jw_kstr(w, "queue_type", !strcmp(q->queue_type, "user") ? "USER" : "CUSTOM");
    if (q->created_by)
        jw_kstr(w, "created_by", q->created_by);
    jw_kint64(w, "creation_time_ms", q->creation_time_ms);
    jw_kint64(w, "last_update_time_ms", q->last_update_time_ms);
    write_strings(w, "users", q->users, q->n_users);
    write_strings(w, "schema_ids", q->schema_ids, q->n_schema_ids);
    jw_obj_end(w);
}

static void write_item(struct jw *w, struct arena *a, const void *p)
{
    const struct review_item *i = p;
    (void)a;
    jw_obj(w);
    jw_kstr(w, "queue_id", i->queue_id);
    jw_kstr(w, "item_type", "TRACE");
    jw_kstr(w, "item_id", i->item_id);
    const char *st = "PENDING";
    for (int k = 1; k < 4; k++)
        if (!strcmp(i->status, RI_STATUS_VALUES[k]))
            st = RI_STATUSES[k];
    jw_kstr(w, "status", st);
    if (i->completed_by)
        jw_kstr(w, "completed_by", i->completed_by);
    if (i->completed_time_ms >= 0)
        jw_kint64(w, "completed_time_ms", i->completed_time_ms);
    jw_kint64(w, "creation_time_ms", i->creation_time_ms);
    jw_kint64(w, "last_update_time_ms", i->last_update_time_ms);
    jw_obj_end(w);
}

static int reply_queue(struct request *req, struct response *resp, const struct review_queue *q)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "review_queue");
    write_queue(&w, req->arena, q);
    reply_end(&w);
    return 0;
}

/* With auth on, a custom queue may not take a registered username (it would
 * shadow that user's personal queue); compared case-insensitively. */
static int shadows_user(struct request *req, const char *name, const char *verb, struct error *err)
{
    struct auth_user_row *users;
    size_t n;
    if (!req->user)
        return 0;
    if (auth_users_list(req->arena, &users, &n, err))
        return -1;
    const char *target = lower(req->arena, strip(req->arena, name));
    for (size_t i = 0; *target && i < n; i++)
        if (!strcmp(lower(req->arena, strip(req->arena, users[i].username)), target))
            return error_set(err, BAD, "'%s' is a registered user. A custom review queue cannot %s a username%s; "
                             "assign that user to a queue instead.", users[i].username, verb,
                             !strcmp(verb, "use") ? " as its name" : "");
    return 0;
}

/* POST review-queues/create */
int api_create_review_queue(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_text, *name;
    int64_t exp;
    int type;
    struct review_queue in = { 0 };
    if (req_experiment(req, &exp_text, &exp, err) || req_string(req, "name", &name, err) ||
        get_enum(req->arena, req->input, "queue_type", RQ_TYPES, 3, &type, err))
        return -1;
    if (type != 1 && type != 2)
        return error_set(err, BAD, "`queue_type` must be one of USER or CUSTOM; got proto enum value %d.",
                         type < 0 ? 0 : type);
    if (get_string_list(req, "users", &in.users, &in.n_users, err) ||
        get_string_list(req, "schema_ids", &in.schema_ids, &in.n_schema_ids, err) ||
        normalize_set(req->arena, in.users, &in.n_users, true, err) ||
        normalize_set(req->arena, in.schema_ids, &in.n_schema_ids, false, err))
        return -1;
    if (type == 1) {   /* a user queue: named after its one user, all the experiment's schemas */
        in.name = normalize_user(req->arena, name);
        if (non_empty(in.name, "name", RQ_NAME_MAX, req->arena, err))
            return -1;
        if (!in.n_users) {
            in.users = arena_alloc(req->arena, sizeof *in.users);
            in.users[0] = in.name;
            in.n_users = 1;
        } else if (in.n_users != 1 || strcmp(in.users[0], in.name)) {
            return error_set(err, BAD, "A user queue must have exactly one assigned user equal to its name; got "
                             "name=%s and users=%s.", py_repr_dup(req->arena, in.name),
                             repr_list(req->arena, in.users, in.n_users));
        }
        if (in.n_schema_ids)
            return error_set(err, BAD, "A user queue cannot have explicitly-attached schemas; it resolves to all "
                             "of the experiment's label schemas.");
        in.queue_type = "user";
    } else {
        if (shadows_user(req, name, "use", err) || custom_queue_name(req->arena, name, &in.name, err))
            return -1;
        in.queue_type = "custom";
    }
    in.created_by = req->user ? req->user->username : NULL;   /* the owner: the caller, never the client */
    struct review_queue out;
    if (store_create_review_queue(req->arena, exp, &in, &out, err))
        return -1;
    return reply_queue(req, resp, &out);
}

/* POST review-queues/get-or-create-user */
int api_get_or_create_user_queue(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_text, *user;
    int64_t exp;
    if (req_experiment(req, &exp_text, &exp, err) || req_string(req, "user", &user, err))
        return -1;
    user = normalize_user(req->arena, user);
    if (non_empty(user, "name", RQ_NAME_MAX, req->arena, err))
        return -1;
    struct review_queue out;
    if (store_get_or_create_user_queue(req->arena, exp, user, &out, err))
        return -1;
    return reply_queue(req, resp, &out);
}

/* GET review-queues/get */
int api_get_review_queue(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    struct review_queue out;
    if (req_string(req, "queue_id", &id, err) || store_get_review_queue(req->arena, id, &out, err))
        return -1;
    return reply_queue(req, resp, &out);
}

/* GET review-queues/get-by-name */
int api_get_review_queue_by_name(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_text, *name;
    int64_t exp;
    struct review_queue out;
    if (req_experiment(req, &exp_text, &exp, err) || req_string(req, "name", &name, err) ||
        store_get_review_queue_by_name(req->arena, exp, name, &out, err))
        return -1;
    return reply_queue(req, resp, &out);
}

/* GET review-queues/list */
int api_list_review_queues(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_text, *user = NULL, *item = NULL;
    int64_t exp, max_results, offset;
    if (req_experiment(req, &exp_text, &exp, err) ||
        list_max_results(req, SEARCH_MAX_RESULTS_DEFAULT, &max_results, &offset, err) ||
        json_get_string(req->input, "user", false, &user, err) ||
        json_get_string(req->input, "item_id", false, &item, err))
        return -1;
    if (user)
        user = normalize_user(req->arena, user);
    /* set by the permission rule for a caller who sees only the queues assigned to it */
    const cJSON *member = req->user ? cJSON_GetObjectItemCaseSensitive(req->input, "cairn.member") : NULL;
    struct review_queue *v;
    size_t n;
    if (store_list_review_queues(req->arena, exp, user, item, cJSON_IsString(member) ? member->valuestring : NULL,
                                 offset, max_results + 1, &v, &n, err))
        return -1;
    return reply_list(req, resp, "review_queues", v, n, sizeof *v, write_queue, max_results, offset);
}

/* POST review-queues/update: users / schema_ids only with their update_* flag */
int api_update_review_queue(struct request *req, struct response *resp, struct error *err)
{
    const char *id, *name = NULL, *owner = NULL;
    bool present;
    struct review_queue_update u = { 0 };
    if (req_string(req, "queue_id", &id, err) ||
        json_get_bool(req->input, "update_users", &u.set_users, &present, err) ||
        json_get_bool(req->input, "update_schema_ids", &u.set_schema_ids, &present, err) ||
        get_string_list(req, "users", &u.users, &u.n_users, err) ||
        get_string_list(req, "schema_ids", &u.schema_ids, &u.n_schema_ids, err) ||
        json_get_string(req->input, "name", false, &name, err) ||
        json_get_string(req->input, "new_owner", false, &owner, err))
        return -1;
    if (owner) {
        u.new_owner = strip(req->arena, owner);
        if (non_empty(u.new_owner, "new_owner", RQ_USER_MAX, req->arena, err))
            return -1;
    }
    if (name && (shadows_user(req, name, "be renamed to", err) || custom_queue_name(req->arena, name, &u.name, err)))
        return -1;
    if (u.set_users && normalize_set(req->arena, u.users, &u.n_users, true, err))
        return -1;
    if (u.set_schema_ids && normalize_set(req->arena, u.schema_ids, &u.n_schema_ids, false, err))
        return -1;
    struct review_queue out;
    if (store_update_review_queue(req->arena, id, &u, &out, err))
        return -1;
    return reply_queue(req, resp, &out);
}

/* POST review-queues/delete */
int api_delete_review_queue(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    if (req_string(req, "queue_id", &id, err) || store_delete_review_queue(id, err))
        return -1;
    return reply_empty(resp);
}

/* POST review-queues/items/add */
int api_add_review_items(struct request *req, struct response *resp, struct error *err)
{
    const char *id, **ids;
    size_t n;
    int type;
    if (req_string(req, "queue_id", &id, err) || item_ids(req, &ids, &n, err) ||
        get_enum(req->arena, req->input, "item_type", RI_TYPES, 2, &type, err))
        return -1;
    if (type != -1 && type != 0 && type != 1)   /* absent or UNSPECIFIED: the default, trace */
        return error_set(err, BAD, "`item_type` must be TRACE; got proto enum value %d.", type);
    struct review_item *v;
    size_t nv;
    if (store_add_review_items(req->arena, id, "trace", ids, n, &v, &nv, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    if (nv) {
        jw_karr(&w, "items");
        for (size_t i = 0; i < nv; i++)
            write_item(&w, req->arena, &v[i]);
        jw_arr_end(&w);
    }
    reply_end(&w);
    return 0;
}

/* POST review-queues/items/remove */
int api_remove_review_items(struct request *req, struct response *resp, struct error *err)
{
    const char *id, **ids;
    size_t n;
    if (req_string(req, "queue_id", &id, err) || item_ids(req, &ids, &n, err) ||
        store_remove_review_items(req->arena, id, ids, n, err))
        return -1;
    return reply_empty(resp);
}

/* GET review-queues/items/list */
int api_list_review_items(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    int64_t max_results, offset;
    int status;
    if (req_string(req, "queue_id", &id, err) ||
        list_max_results(req, SEARCH_MAX_RESULTS_DEFAULT, &max_results, &offset, err) ||
        get_enum(req->arena, req->input, "status", RI_STATUSES, 4, &status, err))
        return -1;
    if (status < -1 || status > 3)
        return error_set(err, BAD, "`status` must be one of PENDING, COMPLETE, or DECLINED; got proto enum value "
                         "%d.", status);
    struct review_item *v;
    size_t n;
    if (store_list_review_items(req->arena, id, status > 0 ? RI_STATUS_VALUES[status] : NULL, offset,
                                max_results + 1, &v, &n, err))
        return -1;
    return reply_list(req, resp, "items", v, n, sizeof *v, write_item, max_results, offset);
}

/* POST review-queues/items/set-status */
int api_set_review_item_status(struct request *req, struct response *resp, struct error *err)
{
    const char *id, *item, *by = NULL;
    int status;
    if (req_string(req, "queue_id", &id, err) || req_string(req, "item_id", &item, err) ||
        get_enum(req->arena, req->input, "status", RI_STATUSES, 4, &status, err) ||
        json_get_string(req->input, "completed_by", false, &by, err))
        return -1;
    if (status < 1 || status > 3)
        return error_set(err, BAD, "`status` must be one of PENDING, COMPLETE, or DECLINED; got proto enum value "
                         "%d.", status < 0 ? 0 : status);
    /* attribution is the authenticated caller's (reopening clears it); without auth, the client's */
    if (req->user)
        by = status == 1 ? NULL : req->user->username;
    if (by)
        by = normalize_user(req->arena, by);
    if (status == 1 && by)
        return error_set(err, BAD, "`completed_by` must not be set when reopening an item to `pending`.");
    if (status != 1 && (!by || !*by))
        return error_set(err, BAD, "`completed_by` is required when setting status to `%s`.",
                         RI_STATUS_VALUES[status]);
    if (by && utf8_len(by) > RQ_USER_MAX)
        return error_set(err, BAD, "`completed_by` must be at most %d characters; got %zu.", RQ_USER_MAX,
                         utf8_len(by));
    struct review_item out;
    if (store_set_review_item_status(req->arena, id, strip(req->arena, item), RI_STATUS_VALUES[status], by, &out,
                                     err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "item");
    write_item(&w, req->arena, &out);
    reply_end(&w);
    return 0;
}
