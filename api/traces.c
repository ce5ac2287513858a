/* MLflow 3 tracing REST routes: start/get/batch-get/search/delete traces,
 * trace tags, links to runs and prompts, and the four assessment routes.
 * The wire shapes are MLflow 3.17's (service.proto TraceInfoV3, Trace,
 * Assessment): times as protobuf Timestamp/Duration strings, maps as JSON
 * objects, spans as OTLP JSON (stored that way by api/otlp.c). */
#include "common.h"
#include "handlers.h"
#include "search_filter.h"
#include "artifacts_api.h"
#include "otlp.h"
#include "pyfmt.h"
#include "../store/traces.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define MAX_SEARCH_TRACES 500          /* SearchTracesV3: max_results <= 500 */
#define DEFAULT_SEARCH_TRACES 100      /* SEARCH_TRACES_DEFAULT_MAX_RESULTS */
#define MAX_TRACE_LINKS 100            /* MAX_TRACE_LINKS_PER_REQUEST */
#define MAX_TRACE_IDS_PER_REQUEST 1000 /* ours: batch reads and deletes */
#define MAX_TRACE_TAG_KEY_LENGTH 250
#define MAX_TRACE_TAG_VAL_LENGTH 8000
#define MAX_TRACE_NAME_LENGTH 4096     /* MAX_CHARS_IN_TRACE_INFO_TAGS_VALUE */

/* ---- protobuf Timestamp / Duration JSON ---- */

/* RFC 3339 as protobuf prints it: no fraction, or 3, 6 or 9 digits */
static void write_timestamp(struct jw *w, const char *key, int64_t ms)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[48];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf + n, sizeof buf - n, ".%03dZ", frac);
    else
        snprintf(buf + n, sizeof buf - n, "Z");
    jw_kstr(w, key, buf);
}

static void write_duration(struct jw *w, const char *key, int64_t ms)
{
    char buf[40];
    int64_t s = ms / 1000, f = ms % 1000;
    if (f < 0)
        f = -f;
    if (f)
        snprintf(buf, sizeof buf, "%s%" PRId64 ".%03" PRId64 "s", ms < 0 && s == 0 ? "-" : "", s, f);
    else
        snprintf(buf, sizeof buf, "%" PRId64 "s", s);
    jw_kstr(w, key, buf);
}

/* days from 1970-01-01 to y-m-d (proleptic Gregorian) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int parse_timestamp(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || used != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + used;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (!digits || digits > 9)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
            return -1;
        offset_s = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_s) * 1000 + frac_ms;
    return 0;
}

static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    bool neg = *s == '-';
    long long secs = strtoll(s, &end, 10);
    int64_t frac = 0;
    if (end == s || (*end != '.' && *end != 's'))
        return -1;
    if (*end == '.') {
        int digits = 0;
        for (end++; *end >= '0' && *end <= '9'; end++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*end - '0');
        if (!digits || digits > 9)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (*end != 's' || end[1])
        return -1;
    if (secs > INT64_MAX / 1000 || secs < INT64_MIN / 1000)
        return -1;
    *ms = (int64_t)secs * 1000 + (neg ? -frac : frac);
    return 0;
}

/* ---- writers ---- */

static void write_kv_map(struct jw *w, const char *key, const struct kv *kv, size_t n)
{
    if (!n)
        return;
    jw_kobj(w, key);
    for (size_t i = 0; i < n; i++) {
        jw_key(w, kv[i].key);
        jw_str(w, kv[i].value);
    }
    jw_obj_end(w);
}

static void write_assessment(struct jw *w, const struct assessment *x)
{
    jw_obj(w);
    jw_kstr(w, "assessment_id", x->assessment_id);
    jw_kstr(w, "assessment_name", x->name);
    jw_kstr(w, "trace_id", x->trace_id);
    jw_kstr(w, "span_id", x->span_id);
    if (x->source_type || x->source_id) {
        jw_kobj(w, "source");
        jw_kstr(w, "source_type", x->source_type);
        jw_kstr(w, "source_id", x->source_id);
        jw_obj_end(w);
    }
    write_timestamp(w, "create_time", x->create_time);
    write_timestamp(w, "last_update_time", x->last_update_time);
    jw_key(w, x->kind);
    jw_raw(w, x->value_json, strlen(x->value_json));
    jw_kstr(w, "rationale", x->rationale);
    if (x->metadata_json) {
        jw_key(w, "metadata");
        jw_raw(w, x->metadata_json, strlen(x->metadata_json));
    }
    jw_kstr(w, "overrides", x->overrides);
    jw_kbool(w, "valid", x->valid);
    jw_kstr(w, "run_id", x->run_id);
    jw_obj_end(w);
}

static void write_trace_info(struct jw *w, const struct trace_info *t)
{
    char exp[24];
    snprintf(exp, sizeof exp, "%" PRId64, t->experiment_id);
    jw_obj(w);
    jw_kstr(w, "trace_id", t->trace_id);
    jw_kstr(w, "client_request_id", t->client_request_id);
    jw_kobj(w, "trace_location");
    jw_kstr(w, "type", "MLFLOW_EXPERIMENT");
    jw_kobj(w, "mlflow_experiment");
    jw_kstr(w, "experiment_id", exp);
    jw_obj_end(w);
    jw_obj_end(w);
    write_timestamp(w, "request_time", t->request_time);
    if (t->has_duration)
        write_duration(w, "execution_duration", t->execution_duration);
    jw_kstr(w, "state", t->state);
    write_kv_map(w, "trace_metadata", t->metadata, t->n_metadata);
    if (t->n_assessments) {
        jw_karr(w, "assessments");
        for (size_t i = 0; i < t->n_assessments; i++)
            write_assessment(w, &t->assessments[i]);
        jw_arr_end(w);
    }
    write_kv_map(w, "tags", t->tags, t->n_tags);
    jw_kstr(w, "request_preview", t->request_preview);
    jw_kstr(w, "response_preview", t->response_preview);
    jw_obj_end(w);
}

static void write_trace(struct jw *w, const struct trace *t, bool with_spans)
{
    jw_obj(w);
    jw_key(w, "trace_info");
    write_trace_info(w, &t->info);
    if (with_spans && t->n_spans) {
        jw_karr(w, "spans");
        size_t bytes = 0;
        for (size_t i = 0; i < t->n_spans; i++)
            bytes += t->spans[i].content_len + 1;
        sb_reserve(w->sb, bytes + 64);   /* one allocation for the bulk of the reply */
        for (size_t i = 0; i < t->n_spans; i++) {
            const struct span_row *s = &t->spans[i];
            jw_raw(w, s->content, s->content_len ? s->content_len : strlen(s->content));
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void write_trace_info_item(struct jw *w, const void *item)
{
    write_trace_info(w, item);
}

/* ---- readers ---- */

static int get_object(const cJSON *in, const char *field, bool required, const cJSON **out, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return json_missing(field, err);
        return 0;
    }
    if (!cJSON_IsObject(v))
        return error_set(err, BAD, "Invalid value for parameter '%s': expected an object", field);
    *out = v;
    return 0;
}

/* a protobuf map<string, string> as a JSON object */
static int get_string_map(struct arena *a, const cJSON *in, const char *field, struct kv **out, size_t *n,
                          struct error *err)
{
    const cJSON *obj;
    *out = NULL;
    *n = 0;
    if (get_object(in, field, false, &obj, err))
        return -1;
    if (!obj)
        return 0;
    size_t cap = (size_t)cJSON_GetArraySize(obj);
    *out = arena_alloc(a, (cap + 1) * sizeof **out);
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return error_set(err, BAD, "Invalid value for parameter '%s.%s': expected a string", field, e->string);
        (*out)[(*n)++] = (struct kv){ e->string, e->valuestring };
    }
    return 0;
}

static int get_timestamp_field(const cJSON *in, const char *field, int64_t *ms, bool *present, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    *present = v && !cJSON_IsNull(v);
    if (!*present)
        return 0;
    if (!cJSON_IsString(v) || parse_timestamp(v->valuestring, ms))
        return error_set(err, BAD, "Invalid value for parameter '%s': expected an RFC 3339 timestamp", field);
    return 0;
}

static int get_duration_field(const cJSON *in, const char *field, int64_t *ms, bool *present, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    *present = v && !cJSON_IsNull(v);
    if (!*present)
        return 0;
    if (!cJSON_IsString(v) || parse_duration(v->valuestring, ms))
        return error_set(err, BAD, "Invalid value for parameter '%s': expected a duration such as \"1.5s\"", field);
    return 0;
}

static const char *const trace_states[] = { "STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS" };

static int get_state(const cJSON *in, const char **out, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "state");
    *out = "STATE_UNSPECIFIED";
    if (!v || cJSON_IsNull(v))
        return 0;
    for (int i = 0; i < 4; i++)
        if ((cJSON_IsString(v) && !strcmp(v->valuestring, trace_states[i])) ||
            (cJSON_IsNumber(v) && v->valuestring && atoi(v->valuestring) == i && strlen(v->valuestring) == 1)) {
            *out = trace_states[i];
            return 0;
        }
    return error_set(err, BAD, "Invalid value for parameter 'state': must be one of STATE_UNSPECIFIED, OK, "
                     "ERROR, IN_PROGRESS");
}

static int validate_trace_tags(struct arena *a, struct kv *tags, size_t n, struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (validate_key_name(tags[i].key, "key", err) ||
            validate_length("key", tags[i].key, MAX_TRACE_TAG_KEY_LENGTH, err))
            return -1;
        tags[i].value = utf8_truncate(a, tags[i].value, MAX_TRACE_TAG_VAL_LENGTH);
        if (!strcmp(tags[i].key, TRACE_TAG_NAME) &&
            validate_length("Trace name", tags[i].value, MAX_TRACE_NAME_LENGTH, err))
            return -1;
    }
    return 0;
}

static int parse_assessment(struct arena *a, const cJSON *obj, struct assessment *x, struct error *err);

static int parse_trace_info(struct arena *a, const cJSON *ti, struct trace_info *t, struct error *err)
{
    memset(t, 0, sizeof *t);
    const cJSON *loc, *mexp;
    bool present;
    if (json_get_string(ti, "trace_id", true, &t->trace_id, err) ||
        json_get_string(ti, "client_request_id", false, &t->client_request_id, err) ||
        json_get_string(ti, "request_preview", false, &t->request_preview, err) ||
        json_get_string(ti, "response_preview", false, &t->response_preview, err) ||
        get_object(ti, "trace_location", true, &loc, err) ||
        get_object(loc, "mlflow_experiment", true, &mexp, err) ||
        get_experiment_id_lenient(mexp, "experiment_id", &t->experiment_id, err) ||
        get_timestamp_field(ti, "request_time", &t->request_time, &present, err) ||
        get_duration_field(ti, "execution_duration", &t->execution_duration, &t->has_duration, err) ||
        get_state(ti, &t->state, err) ||
        get_string_map(a, ti, "trace_metadata", &t->metadata, &t->n_metadata, err) ||
        get_string_map(a, ti, "tags", &t->tags, &t->n_tags, err) ||
        validate_trace_tags(a, t->tags, t->n_tags, err))
        return -1;
    if (strlen(t->trace_id) > 256)
        return error_set(err, BAD, "Invalid trace ID: longer than 256 characters");
    const cJSON *first;
    size_t n;
    if (json_get_object_array(ti, "assessments", &first, &n, err))
        return -1;
    t->assessments = arena_alloc(a, (n + 1) * sizeof *t->assessments);
    for (const cJSON *e = first; e; e = e->next) {
        struct assessment *as = &t->assessments[t->n_assessments++];
        if (parse_assessment(a, e, as, err))
            return -1;
        as->trace_id = t->trace_id;
        if (!as->assessment_id)
            as->assessment_id = arena_printf(a, "a-%016" PRIx64 "%016" PRIx64, (uint64_t)rand(),
                                             (uint64_t)now_ms() ^ (uint64_t)n);
    }
    return 0;
}

/* ---- start / get ---- */

int api_start_trace_v3(struct request *req, struct response *resp, struct error *err)
{
    const cJSON *trace, *ti;
    struct trace_info in, out;
    if (get_object(req->input, "trace", true, &trace, err) ||
        get_object(trace, "trace_info", true, &ti, err) ||
        parse_trace_info(req->arena, ti, &in, err) ||
        store_start_trace(req->arena, &in, &out, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kobj(&w, "trace");
    jw_key(&w, "trace_info");
    write_trace_info(&w, &out);
    jw_obj_end(&w);
    reply_end(&w);
    return 0;
}

int api_get_trace_info_v3(struct request *req, struct response *resp, struct error *err)
{
    struct trace_info t;
    if (store_get_trace_info(req->arena, req->path_params[0], &t, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kobj(&w, "trace");
    jw_key(&w, "trace_info");
    write_trace_info(&w, &t);
    jw_obj_end(&w);
    reply_end(&w);
    return 0;
}

int api_get_trace(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    bool partial = false, present;
    if (json_get_string(req->input, "trace_id", true, &id, err) ||
        json_get_bool(req->input, "allow_partial", &partial, &present, err))
        return -1;
    struct trace *t;
    size_t n;
    if (store_get_traces(req->arena, &id, 1, NULL, 0, true, partial, &t, &n, err))
        return -1;
    if (!n) {   /* unknown, or not complete yet */
        struct trace_info info;
        if (store_get_trace_info(req->arena, id, &info, err)) {
            if (err->code == ERR_RESOURCE_DOES_NOT_EXIST)
                error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Trace with ID %s is not found.", id);
            return -1;
        }
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST,
                         "Trace with ID %s is not fully exported yet, please try again later.", id);
    }
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "trace");
    write_trace(&w, &t[0], true);
    reply_end(&w);
    return 0;
}

static int get_ids(struct request *req, const char *field, bool required, const char ***ids, size_t *n,
                   struct error *err)
{
    if (get_string_list(req, field, ids, n, err))
        return -1;
    if (required && !cJSON_GetObjectItemCaseSensitive(req->input, field))
        return json_missing(field, err);
    if (*n > MAX_TRACE_IDS_PER_REQUEST)
        return error_set(err, BAD, "Too many trace IDs: %zu (at most %d per request)", *n,
                         MAX_TRACE_IDS_PER_REQUEST);
    return 0;
}

static int get_experiment_ids(struct request *req, int64_t **ids, size_t *n, bool *present, struct error *err)
{
    const char **s;
    *present = cJSON_GetObjectItemCaseSensitive(req->input, "experiment_ids") != NULL;
    if (get_ids(req, "experiment_ids", false, &s, n, err))
        return -1;
    *ids = arena_alloc(req->arena, (*n + 1) * sizeof **ids);
    for (size_t i = 0; i < *n; i++)
        if (parse_experiment_id(s[i], &(*ids)[i], err))
            return -1;
    return 0;
}

static int batch_get(struct request *req, struct response *resp, struct error *err, bool with_spans)
{
    const char **ids;
    size_t n_ids, n_exp, n;
    int64_t *exp;
    bool has_exp;
    struct trace *t;
    if (get_ids(req, "trace_ids", true, &ids, &n_ids, err) ||
        get_experiment_ids(req, &exp, &n_exp, &has_exp, err) ||
        store_get_traces(req->arena, ids, n_ids, has_exp ? exp : NULL, n_exp, with_spans, false, &t, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    if (n) {
        jw_karr(&w, with_spans ? "traces" : "trace_infos");
        for (size_t i = 0; i < n; i++) {
            if (with_spans)
                write_trace(&w, &t[i], true);
            else
                write_trace_info(&w, &t[i].info);
        }
        jw_arr_end(&w);
    }
    reply_end(&w);
    return 0;
}

int api_batch_get_traces(struct request *req, struct response *resp, struct error *err)
{
    return batch_get(req, resp, err, true);
}

int api_batch_get_trace_infos(struct request *req, struct response *resp, struct error *err)
{
    return batch_get(req, resp, err, false);
}

/* ---- search ---- */

static void write_trace_info_v2(struct jw *w, const void *item);

static int search(struct request *req, struct response *resp, struct error *err, const int64_t *exp, size_t n_exp,
                  item_writer write_item)
{
    const char *filter = NULL, *token = NULL;
    const char **order;
    size_t n_order, n;
    struct trace_search s = { .experiment_ids = exp, .n_experiments = n_exp };
    bool present;
    int64_t max_results = DEFAULT_SEARCH_TRACES;
    if (json_get_string(req->input, "filter", false, &filter, err) ||
        json_get_int64(req->input, "max_results", false, &max_results, &present, err) ||
        get_string_list(req, "order_by", &order, &n_order, err) ||
        json_get_string(req->input, "page_token", false, &token, err))
        return -1;
    if (!present)
        max_results = DEFAULT_SEARCH_TRACES;
    if (max_results > MAX_SEARCH_TRACES)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. "
                         "It must be at most %d.", max_results, MAX_SEARCH_TRACES);
    if (max_results < 1)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. "
                         "It must be a positive integer", max_results);
    struct trace_info *out;
    if (sf_parse_trace_filter(req->arena, filter, &s.filter, err) ||
        sf_parse_trace_order_by(req->arena, order, n_order, &s.order, err) ||
        page_token_decode(req->arena, token, &s.offset, err))
        return -1;
    s.limit = max_results;
    if (store_search_traces(req->arena, &s, &out, &n, err))
        return -1;
    /* MLflow hands out a token whenever the page is full */
    struct jw w;
    reply_begin(resp, &w);
    if (n) {
        jw_karr(&w, "traces");
        for (size_t i = 0; i < n; i++)
            write_item(&w, &out[i]);
        jw_arr_end(&w);
    }
    if ((int64_t)n == max_results)
        jw_kstr(&w, "next_page_token", page_token_encode(req->arena, s.offset + max_results));
    reply_end(&w);
    return 0;
}

int api_search_traces_v3(struct request *req, struct response *resp, struct error *err)
{
    const cJSON *first;
    size_t n;
    if (json_get_object_array(req->input, "locations", &first, &n, err))
        return -1;
    if (!cJSON_GetObjectItemCaseSensitive(req->input, "locations"))
        return json_missing("locations", err);
    int64_t *exp = arena_alloc(req->arena, (n + 1) * sizeof *exp);
    size_t m = 0;
    for (const cJSON *e = first; e; e = e->next) {
        const cJSON *mexp;
        if (get_object(e, "mlflow_experiment", false, &mexp, err))
            return -1;
        if (mexp && get_experiment_id_lenient(mexp, "experiment_id", &exp[m++], err))
            return -1;
    }
    return search(req, resp, err, exp, m, write_trace_info_item);
}

/* ---- delete, tags, links ---- */

int api_delete_traces(struct request *req, struct response *resp, struct error *err)
{
    int64_t exp, max_ts = 0, max_traces = 0, deleted;
    bool has_ts, has_max;
    const char **ids;
    size_t n_ids;
    if (get_experiment_id_lenient(req->input, "experiment_id", &exp, err) ||
        json_get_int64(req->input, "max_timestamp_millis", false, &max_ts, &has_ts, err) ||
        json_get_int64(req->input, "max_traces", false, &max_traces, &has_max, err) ||
        get_ids(req, "request_ids", false, &ids, &n_ids, err))
        return -1;
    if (has_max && max_traces < 0)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_traces': must be >= 0",
                         max_traces);
    if (!has_ts && !n_ids)
        return error_set(err, BAD, "Either `max_timestamp_millis` or `trace_ids` must be specified.");
    if (store_delete_traces(req->arena, exp, ids, n_ids, has_ts, max_ts, has_max, max_traces, &deleted, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kint64(&w, "traces_deleted", deleted);
    reply_end(&w);
    return 0;
}

static bool blocked_tag(const char *key, bool deleting)
{
    if (!strcmp(key, "mlflow.trace.archivalFailure"))
        return !deleting;
    return !strcmp(key, TRACE_TAG_SPANS_LOCATION) || !strcmp(key, "mlflow.trace.archiveLocation");
}

int api_set_trace_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *key, *value = NULL;
    if (json_get_string(req->input, "key", true, &key, err) ||
        json_get_string(req->input, "value", false, &value, err))
        return -1;
    if (blocked_tag(key, false))
        return error_set(err, BAD, "Tag '%s' is immutable and cannot be set on a trace.", key);
    struct kv kv = { key, value ? value : "" };
    if (validate_trace_tags(req->arena, &kv, 1, err) ||
        store_set_trace_tag(req->arena, req->path_params[0], kv.key, kv.value, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_trace_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *key;
    if (json_get_string(req->input, "key", true, &key, err))
        return -1;
    if (blocked_tag(key, true))
        return error_set(err, BAD, "Tag '%s' is immutable and cannot be deleted on a trace.", key);
    if (store_delete_trace_tag(req->arena, req->path_params[0], key, err))
        return -1;
    return reply_empty(resp);
}

int api_link_traces_to_run(struct request *req, struct response *resp, struct error *err)
{
    const char **ids, *run_id;
    size_t n;
    if (get_ids(req, "trace_ids", true, &ids, &n, err) ||
        json_get_string(req->input, "run_id", true, &run_id, err))
        return -1;
    if (!n)
        return reply_empty(resp);
    if (n > MAX_TRACE_LINKS)
        return error_set(err, BAD, "Cannot link more than %d traces to a run in a single request. "
                         "Provided %zu traces.", MAX_TRACE_LINKS, n);
    if (store_link_traces_to_run(req->arena, ids, n, run_id, err))
        return -1;
    return reply_empty(resp);
}

int api_link_prompts_to_trace(struct request *req, struct response *resp, struct error *err)
{
    const char *trace_id;
    const cJSON *first;
    size_t n;
    if (json_get_string(req->input, "trace_id", true, &trace_id, err) ||
        json_get_object_array(req->input, "prompt_versions", &first, &n, err))
        return -1;
    if (!cJSON_GetObjectItemCaseSensitive(req->input, "prompt_versions"))
        return json_missing("prompt_versions", err);
    if (n > MAX_TRACE_LINKS)
        return error_set(err, BAD, "Cannot link more than %d prompt versions in a single request", MAX_TRACE_LINKS);
    const char **names = arena_alloc(req->arena, (n + 1) * sizeof *names);
    const char **versions = arena_alloc(req->arena, (n + 1) * sizeof *versions);
    size_t i = 0;
    for (const cJSON *e = first; e; e = e->next, i++) {
        int64_t v;
        bool present;
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(e, "version");
        if (json_get_string(e, "name", true, &names[i], err))
            return -1;
        if (ver && cJSON_IsString(ver)) {
            if (parse_int64(ver->valuestring, &v))
                return error_set(err, BAD, "Invalid prompt version '%s'", ver->valuestring);
        } else if (json_get_int64(e, "version", true, &v, &present, err)) {
            return -1;
        }
        versions[i] = arena_printf(req->arena, "%" PRId64, v);
    }
    if (store_link_prompts_to_trace(req->arena, trace_id, names, versions, n, err))
        return -1;
    return reply_empty(resp);
}

/* ---- assessments ---- */

static const char *json_text(struct arena *a, const cJSON *v)
{
    /* cJSON prints through the thread arena hook; numbers keep their text */
    json_set_thread_arena(a);
    char *s = cJSON_PrintUnformatted(v);
    json_set_thread_arena(NULL);
    return s;
}

/* Assessment (service.proto): assessment_name, source{source_type,
 * source_id}, span_id, rationale, metadata, overrides, valid, and one of
 * feedback / expectation (kept as sent: value or serialized_value, error). */
static int parse_assessment(struct arena *a, const cJSON *obj, struct assessment *x, struct error *err)
{
    memset(x, 0, sizeof *x);
    const cJSON *src, *meta, *fb, *ex;
    bool present;
    if (json_get_string(obj, "assessment_id", false, &x->assessment_id, err) ||
        json_get_string(obj, "assessment_name", false, &x->name, err) ||
        json_get_string(obj, "span_id", false, &x->span_id, err) ||
        json_get_string(obj, "run_id", false, &x->run_id, err) ||
        json_get_string(obj, "rationale", false, &x->rationale, err) ||
        json_get_string(obj, "overrides", false, &x->overrides, err) ||
        get_object(obj, "source", false, &src, err) ||
        get_object(obj, "metadata", false, &meta, err) ||
        get_object(obj, "feedback", false, &fb, err) ||
        get_object(obj, "expectation", false, &ex, err))
        return -1;
    x->valid = true;
    if (json_get_bool(obj, "valid", &x->valid, &present, err))
        return -1;
    if (!present)
        x->valid = true;
    if (src && (json_get_string(src, "source_type", false, &x->source_type, err) ||
                json_get_string(src, "source_id", false, &x->source_id, err)))
        return -1;
    if (meta) {
        for (const cJSON *e = meta->child; e; e = e->next)
            if (!cJSON_IsString(e))
                return error_set(err, BAD, "Invalid value for parameter 'metadata.%s': expected a string",
                                 e->string);
        x->metadata_json = meta->child ? json_text(a, meta) : NULL;
    }
    if (fb && ex)
        return error_set(err, BAD, "An assessment must have either a feedback or an expectation value, not both");
    x->kind = fb ? "feedback" : ex ? "expectation" : NULL;
    x->value_json = fb ? json_text(a, fb) : ex ? json_text(a, ex) : NULL;
    int64_t t = now_ms();
    x->create_time = x->last_update_time = t;
    if (get_timestamp_field(obj, "create_time", &x->create_time, &present, err) ||
        get_timestamp_field(obj, "last_update_time", &x->last_update_time, &present, err))
        return -1;
    return 0;
}

static int reply_assessment(struct response *resp, const struct assessment *x)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "assessment");
    write_assessment(&w, x);
    reply_end(&w);
    return 0;
}

int api_create_assessment(struct request *req, struct response *resp, struct error *err)
{
    const cJSON *obj;
    struct assessment in, out;
    if (get_object(req->input, "assessment", true, &obj, err) || parse_assessment(req->arena, obj, &in, err))
        return -1;
    in.trace_id = req->path_params[0];
    if (!in.name || !*in.name)
        return error_set(err, BAD, "Missing value for required parameter 'assessment_name'.");
    if (!in.kind)
        return error_set(err, BAD, "An assessment must have either a feedback or an expectation value");
    if (!in.source_type)
        return error_set(err, BAD, "Missing value for required parameter 'source'.");
    if (store_create_assessment(req->arena, &in, &out, err))
        return -1;
    return reply_assessment(resp, &out);
}

int api_get_assessment(struct request *req, struct response *resp, struct error *err)
{
    struct assessment out;
    if (store_get_assessment(req->arena, req->path_params[0], req->path_params[1], &out, err))
        return -1;
    return reply_assessment(resp, &out);
}

/* update_mask: a FieldMask, "a,b" in JSON (camelCase) or {"paths": [...]} */
static bool mask_has(const cJSON *mask, const char *snake, const char *camel)
{
    if (cJSON_IsString(mask)) {
        const char *p = mask->valuestring;
        size_t ns = strlen(snake), nc = strlen(camel);
        while (*p) {
            size_t len = strcspn(p, ",");
            if ((len == ns && !strncmp(p, snake, ns)) || (len == nc && !strncmp(p, camel, nc)))
                return true;
            p += len + (p[len] == ',');
        }
        return false;
    }
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(mask, "paths");
    for (const cJSON *e = paths ? paths->child : NULL; e; e = e->next)
        if (cJSON_IsString(e) && (!strcmp(e->valuestring, snake) || !strcmp(e->valuestring, camel)))
            return true;
    return false;
}

int api_update_assessment(struct request *req, struct response *resp, struct error *err)
{
    const cJSON *obj, *mask = cJSON_GetObjectItemCaseSensitive(req->input, "update_mask");
    struct assessment in, out;
    if (get_object(req->input, "assessment", true, &obj, err))
        return -1;
    if (!mask || cJSON_IsNull(mask))
        return json_missing("update_mask", err);
    if (parse_assessment(req->arena, obj, &in, err))
        return -1;
    struct assessment_update u = { 0 };
    if (mask_has(mask, "assessment_name", "assessmentName"))
        u.name = in.name ? in.name : "";
    if (mask_has(mask, "expectation", "expectation")) {
        if (!in.value_json || strcmp(in.kind, "expectation"))
            return error_set(err, BAD, "The update mask names 'expectation' but the assessment has none");
        u.kind = "expectation";
        u.value_json = in.value_json;
    }
    if (mask_has(mask, "feedback", "feedback")) {
        if (u.kind)
            return error_set(err, BAD, "Cannot specify both `expectation` and `feedback` parameters.");
        if (!in.value_json || strcmp(in.kind, "feedback"))
            return error_set(err, BAD, "The update mask names 'feedback' but the assessment has none");
        u.kind = "feedback";
        u.value_json = in.value_json;
    }
    if (mask_has(mask, "rationale", "rationale"))
        u.rationale = in.rationale ? in.rationale : "";
    if (mask_has(mask, "metadata", "metadata"))
        u.metadata_json = in.metadata_json ? in.metadata_json : "{}";
    if (mask_has(mask, "valid", "valid")) {
        u.set_valid = true;
        u.valid = in.valid;
    }
    if (store_update_assessment(req->arena, req->path_params[0], req->path_params[1], &u, &out, err))
        return -1;
    return reply_assessment(resp, &out);
}

int api_delete_assessment(struct request *req, struct response *resp, struct error *err)
{
    if (store_delete_assessment(req->arena, req->path_params[0], req->path_params[1], err))
        return -1;
    return reply_empty(resp);
}

/* ---- analytics: the experiment overview tab ---- */

#define MAX_METRIC_RESULTS 1000   /* MAX_RESULTS_QUERY_TRACE_METRICS */
#define A_(x) (1u << TMA_##x)
#define STATS (A_(SUM) | A_(AVG) | A_(MIN) | A_(MAX) | A_(PERCENTILE))

/* MLflow's TRACES/SPANS/ASSESSMENTS_METRICS_CONFIGS: aggregations and dimensions per metric */
static const struct {
    enum trace_metric_view view;
    const char *name;
    unsigned aggs;
    const char *dims[6];
} metric_configs[] = {
    { TMV_TRACES, "trace_count", A_(COUNT), { "trace_name", "trace_status" } },
    { TMV_TRACES, "session_count", A_(COUNT), { NULL } },
    { TMV_TRACES, "latency", A_(AVG) | A_(MIN) | A_(MAX) | A_(PERCENTILE), { "trace_name" } },
    { TMV_TRACES, "input_tokens", STATS, { "trace_name" } },
    { TMV_TRACES, "output_tokens", STATS, { "trace_name" } },
    { TMV_TRACES, "total_tokens", STATS, { "trace_name" } },
    { TMV_TRACES, "cache_read_input_tokens", STATS, { "trace_name" } },
    { TMV_TRACES, "cache_creation_input_tokens", STATS, { "trace_name" } },
    { TMV_SPANS, "span_count", A_(COUNT),
      { "span_name", "span_type", "span_status", "span_model_name", "span_model_provider" } },
    { TMV_SPANS, "latency", A_(AVG) | A_(MIN) | A_(MAX) | A_(PERCENTILE), { "span_name", "span_status" } },
    { TMV_SPANS, "input_cost", STATS, { "span_model_name", "span_model_provider" } },
    { TMV_SPANS, "output_cost", STATS, { "span_model_name", "span_model_provider" } },
    { TMV_SPANS, "total_cost", STATS, { "span_model_name", "span_model_provider" } },
    { TMV_ASSESSMENTS, "assessment_count", A_(COUNT), { "assessment_name", "assessment_value" } },
    { TMV_ASSESSMENTS, "assessment_value", A_(AVG) | A_(MIN) | A_(MAX) | A_(PERCENTILE), { "assessment_name" } },
};
static const char *const agg_names[] = { "COUNT", "SUM", "AVG", "MIN", "MAX", "PERCENTILE" };
static const char *const view_names[] = { "TRACES", "SPANS", "ASSESSMENTS" };

static int enum_value(const cJSON *v, const char *const *names, int n, int first_number)
{
    for (int i = 0; v && i < n; i++)
        if ((cJSON_IsString(v) && !strcmp(v->valuestring, names[i])) ||
            (cJSON_IsNumber(v) && v->valuestring && atoi(v->valuestring) == i + first_number))
            return i;
    return -1;
}

/* One QueryTraceMetrics filter, appended to acc: span filters only in the
 * SPANS view, assessment filters only in the ASSESSMENTS view (MLflow's
 * _apply_filters). */
static int metric_filter(struct arena *a, const char *text, enum trace_metric_view view, struct sf_filter *acc,
                         struct error *err)
{
    struct sf_filter f;
    if (sf_parse_trace_metric_filter(a, text, &f, err))
        return -1;
    if (f.clauses[0].entity == SF_SPAN && view != TMV_SPANS)
        return error_set(err, BAD, "Filtering by span is only supported for SPANS view type, "
                         "got %s", view_names[view]);
    if (f.clauses[0].entity == SF_ASSESSMENT && view != TMV_ASSESSMENTS)
        return error_set(err, BAD, "Filtering by assessment is only supported for ASSESSMENTS "
                         "view type, got %s", view_names[view]);
    acc->clauses = arena_grow(a, acc->clauses, acc->n * sizeof *acc->clauses, (acc->n + 1) * sizeof *acc->clauses);
    acc->clauses[acc->n++] = f.clauses[0];
    return 0;
}

/* A dimension's value as MLflow's server spells it: assessment_value is the
 * json.dumps of the value it read, from the protobuf Value (numbers are
 * floats) or from an expectation's serialized JSON (json.loads) */
static const char *metric_dimension(struct arena *a, const char *dim, const char *value)
{
    if (!value)
        return "";
    if (strcmp(dim, "assessment_value") || (*value != 'v' && *value != 's'))
        return value;
    struct error perr = {0};
    cJSON *v = json_parse(a, value + 1, strlen(value + 1), &perr);
    if (!v)
        return value + 1;
    struct strbuf sb;
    sb_init(&sb, a, strlen(value) + 8);
    if (*value == 'v')
        py_dumps_proto_value(&sb, v);
    else
        py_dumps_opts(&sb, v, false, true);
    return sb.buf;
}

static int get_required_experiment_ids(struct request *req, int64_t **exp, size_t *n, struct error *err)
{
    bool present;
    if (get_experiment_ids(req, exp, n, &present, err))
        return -1;
    if (!present)
        return error_set(err, BAD, "Missing value for required parameter 'experiment_ids'. "
                         "See the API docs for more information about request parameters.");
    return 0;
}

int api_query_trace_metrics(struct request *req, struct response *resp, struct error *err)
{
    struct trace_metric_query q = { .limit = MAX_METRIC_RESULTS };
    const cJSON *in = req->input, *first;
    size_t n_aggs, n_dims, n_filters;
    const char **dims, **filters, *token = NULL;
    int64_t *exp;
    bool has_interval, present;
    if (get_required_experiment_ids(req, &exp, &q.n_experiments, err) ||
        json_get_string(in, "metric_name", true, &q.metric_name, err) ||
        json_get_object_array(in, "aggregations", &first, &n_aggs, err) ||
        json_get_string_array(req->arena, in, "dimensions", &dims, &n_dims, err) ||
        json_get_string_array(req->arena, in, "filters", &filters, &n_filters, err) ||
        json_get_int64(in, "time_interval_seconds", false, &q.interval_s, &has_interval, err) ||
        json_get_int64(in, "start_time_ms", false, &q.start_ms, &q.has_start, err) ||
        json_get_int64(in, "end_time_ms", false, &q.end_ms, &q.has_end, err) ||
        json_get_int64(in, "max_results", false, &q.limit, &present, err) ||
        json_get_string(in, "page_token", false, &token, err) ||
        page_token_decode(req->arena, token, &q.offset, err))
        return -1;
    q.experiment_ids = exp;
    if (!present)
        q.limit = MAX_METRIC_RESULTS;
    int view = enum_value(cJSON_GetObjectItemCaseSensitive(in, "view_type"), view_names, 3, 1);
    if (view < 0)
        return error_set(err, BAD, "Missing or invalid value for required parameter 'view_type': "
                         "one of TRACES, SPANS, ASSESSMENTS");
    q.view = (enum trace_metric_view)view;
    if (q.limit < 1 || q.limit > MAX_METRIC_RESULTS)
        return error_set(err, BAD, "max_results must be between 1 and %d", MAX_METRIC_RESULTS);
    if (!cJSON_GetObjectItemCaseSensitive(in, "aggregations") || !n_aggs)
        return error_set(err, BAD, "Missing value for required parameter 'aggregations'.");
    if (n_aggs > TRACE_METRIC_MAX_AGGS || n_dims > TRACE_METRIC_MAX_DIMS)
        return error_set(err, BAD, "At most %d aggregations and %d dimensions", TRACE_METRIC_MAX_AGGS,
                         TRACE_METRIC_MAX_DIMS);
    if (has_interval && q.interval_s > 0 && (!q.has_start || !q.has_end))
        return error_set(err, BAD, "start_time_ms and end_time_ms are required if time_interval_seconds is set");
    if (has_interval && (q.interval_s < 0 || (q.interval_s > 0 && q.has_start && q.has_end &&
                                              (q.end_ms - q.start_ms) / (q.interval_s * 1000) > 100000)))
        return error_set(err, BAD, "time_interval_seconds must be positive and give at most 100000 buckets");
    int cfg = -1;
    for (size_t i = 0; i < sizeof metric_configs / sizeof *metric_configs && cfg < 0; i++)
        if (metric_configs[i].view == q.view && !strcmp(metric_configs[i].name, q.metric_name))
            cfg = (int)i;
    if (cfg < 0)
        return error_set(err, BAD, "metric_name '%s' is not a %s metric", q.metric_name, view_names[view]);
    for (const cJSON *e = first; e; e = e->next) {
        int t = enum_value(cJSON_GetObjectItemCaseSensitive(e, "aggregation_type"), agg_names, 6, 1);
        if (t < 0 || !(metric_configs[cfg].aggs & (1u << t)))
            return error_set(err, BAD, "Found invalid aggregation_type for metric '%s'", q.metric_name);
        double pct = 0;
        if (t == TMA_PERCENTILE &&
            (json_get_double(e, "percentile_value", true, &pct, &present, err) || pct < 0 || pct > 100))
            return error_set(err, BAD, "percentile_value must be between 0 and 100");
        q.percentiles[q.n_aggs] = pct;
        q.aggs[q.n_aggs++] = (enum trace_metric_agg)t;
    }
    for (size_t i = 0; i < n_dims; i++) {
        bool ok = false;
        for (int d = 0; d < 6 && metric_configs[cfg].dims[d] && !ok; d++)
            ok = !strcmp(metric_configs[cfg].dims[d], dims[i]);
        if (!ok)
            return error_set(err, BAD, "Found invalid dimension(s): ['%s'].", dims[i]);
        q.dims[q.n_dims++] = dims[i];
    }
    for (size_t i = 0; i < n_filters; i++)
        if (metric_filter(req->arena, filters[i], q.view, &q.filter, err))
            return -1;
    struct trace_metric_point *pts;
    size_t n;
    if (store_query_trace_metrics(req->arena, &q, &pts, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    if (n) {
        jw_karr(&w, "data_points");
        for (size_t i = 0; i < n; i++) {
            jw_obj(&w);
            jw_kstr(&w, "metric_name", q.metric_name);
            size_t k = 0;
            if (q.interval_s > 0 || q.n_dims) {
                jw_kobj(&w, "dimensions");
                if (q.interval_s > 0)
                    jw_kstr(&w, "time_bucket", pts[i].dim_values[k++]);
                for (size_t d = 0; d < q.n_dims; d++, k++)
                    jw_kstr(&w, q.dims[d], metric_dimension(req->arena, q.dims[d], pts[i].dim_values[k]));
                jw_obj_end(&w);
            }
            jw_kobj(&w, "values");
            for (size_t j = 0; j < q.n_aggs; j++) {
                if (!pts[i].has_value[j])
                    continue;
                char key[40];
                if (q.aggs[j] == TMA_PERCENTILE) {
                    struct strbuf pk;
                    sb_init(&pk, req->arena, 32);
                    struct jw kw;
                    jw_init(&kw, &pk);
                    jw_double(&kw, q.percentiles[j]);     /* Python's repr: 50.0, 99.9 */
                    snprintf(key, sizeof key, "P%s", pk.buf);
                } else {
                    snprintf(key, sizeof key, "%s", agg_names[q.aggs[j]]);
                }
                jw_kdouble(&w, key, pts[i].values[j]);
            }
            jw_obj_end(&w);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    if ((int64_t)n == q.limit)
        jw_kstr(&w, "next_page_token", page_token_encode(req->arena, q.offset + q.limit));
    reply_end(&w);
    return 0;
}

/* NPMI of two trace filters (mlflow/store/analytics/trace_correlation.py) */
static double npmi_core(double n11, double n10, double n01, double n00, double smoothing)
{
    double a = n11 + smoothing, b = n10 + smoothing, c = n01 + smoothing, d = n00 + smoothing;
    double total = a + b + c + d, n1 = a + b, n2 = a + c;
    if (n1 <= 0 || n2 <= 0 || a <= 0)
        return NAN;
    if (n10 == 0 && n01 == 0 && n00 == 0)
        return 1.0;
    double pmi = (log(a) + log(total)) - (log(n1) + log(n2));
    double v = pmi / -(log(a) - log(total));
    return v < -1 ? -1 : v > 1 ? 1 : v;
}

int api_calculate_trace_filter_correlation(struct request *req, struct response *resp, struct error *err)
{
    const char *s1, *s2, *base = NULL;
    int64_t *exp;
    size_t n_exp;
    struct sf_filter f1, f2, fb = { 0 };
    if (get_required_experiment_ids(req, &exp, &n_exp, err) ||
        json_get_string(req->input, "filter_string1", true, &s1, err) ||
        json_get_string(req->input, "filter_string2", true, &s2, err) ||
        json_get_string(req->input, "base_filter", false, &base, err) ||
        sf_parse_trace_filter(req->arena, s1, &f1, err) ||
        sf_parse_trace_filter(req->arena, s2, &f2, err) ||
        (base && sf_parse_trace_filter(req->arena, base, &fb, err)))
        return -1;
    struct trace_correlation_counts k = { 0 };
    if (n_exp && store_trace_correlation_counts(req->arena, exp, n_exp, &f1, &f2, &fb, &k, err))
        return -1;
    double npmi = NAN, smoothed = NAN;
    double n11 = (double)k.joint, n10 = (double)(k.filter1 - k.joint), n01 = (double)(k.filter2 - k.joint);
    double n00 = (double)(k.total - k.filter1 - k.filter2 + k.joint);
    if (k.total > 0 && k.filter1 > 0 && k.filter2 > 0 && n10 >= 0 && n01 >= 0 && n00 >= 0) {
        npmi = k.joint == 0 ? -1.0 : npmi_core(n11, n10, n01, n00, 0);
        smoothed = npmi_core(n11, n10, n01, n00, 0.5);   /* Jeffreys prior */
    }
    struct jw w;
    reply_begin(resp, &w);
    if (!isnan(npmi))          /* MLflow leaves an undefined NPMI out */
        jw_kdouble(&w, "npmi", npmi);
    if (!isnan(smoothed))
        jw_kdouble(&w, "npmi_smoothed", smoothed);
    jw_kint64(&w, "filter1_count", k.filter1);
    jw_kint64(&w, "filter2_count", k.filter2);
    jw_kint64(&w, "joint_count", k.joint);
    jw_kint64(&w, "total_count", k.total);
    reply_end(&w);
    return 0;
}

/* ---- the deprecated v2 routes (TraceInfoV2: request_id, timestamp_ms, lists of key/value) ---- */

static void write_kv_list_v2(struct jw *w, const char *key, const struct kv *kv, size_t n)
{
    write_tags(w, key, kv, n);
}

static const char *status_v2(const char *state)
{
    return !strcmp(state, "STATE_UNSPECIFIED") ? "TRACE_STATUS_UNSPECIFIED" : state;
}

static void write_trace_info_v2(struct jw *w, const void *item)
{
    const struct trace_info *t = item;
    char exp[24];
    snprintf(exp, sizeof exp, "%" PRId64, t->experiment_id);
    jw_obj(w);
    jw_kstr(w, "request_id", t->trace_id);
    jw_kstr(w, "experiment_id", exp);
    jw_kint64(w, "timestamp_ms", t->request_time);
    if (t->has_duration)
        jw_kint64(w, "execution_time_ms", t->execution_duration);
    jw_kstr(w, "status", status_v2(t->state));
    write_kv_list_v2(w, "request_metadata", t->metadata, t->n_metadata);
    write_kv_list_v2(w, "tags", t->tags, t->n_tags);
    jw_obj_end(w);
}

static int reply_trace_info_v2(struct response *resp, const struct trace_info *t)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "trace_info");
    write_trace_info_v2(&w, t);
    reply_end(&w);
    return 0;
}

static int get_v2_lists(struct request *req, struct trace_info *t, struct error *err)
{
    if (get_kv_list(req->arena, req->input, "request_metadata", &t->metadata, &t->n_metadata, err) ||
        get_kv_list(req->arena, req->input, "tags", &t->tags, &t->n_tags, err))
        return -1;
    for (size_t i = 0; i < t->n_metadata; i++)
        if (!t->metadata[i].key || !t->metadata[i].value)
            return error_set(err, BAD, "Missing key or value in request_metadata");
    for (size_t i = 0; i < t->n_tags; i++)
        if (!t->tags[i].key || !t->tags[i].value)
            return error_set(err, BAD, "Missing key or value in tags");
    return validate_trace_tags(req->arena, t->tags, t->n_tags, err);
}

int api_start_trace_v2(struct request *req, struct response *resp, struct error *err)
{
    struct trace_info in = { 0 }, out;
    bool present;
    if (get_experiment_id_lenient(req->input, "experiment_id", &in.experiment_id, err) ||
        json_get_int64(req->input, "timestamp_ms", false, &in.request_time, &present, err) ||
        get_v2_lists(req, &in, err))
        return -1;
    uint64_t r[2];
    for (int i = 0; i < 2; i++)
        r[i] = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)&r;
    in.trace_id = arena_printf(req->arena, "%016" PRIx64 "%016" PRIx64, r[0], r[1]);   /* v2 ids: 32 hex digits */
    in.state = "IN_PROGRESS";
    if (store_put_trace_v2(req->arena, &in, &out, err))
        return -1;
    return reply_trace_info_v2(resp, &out);
}

int api_end_trace_v2(struct request *req, struct response *resp, struct error *err)
{
    struct trace_info cur, in, out;
    int64_t end_ms = 0;
    bool present;
    const char *status = NULL;
    if (store_get_trace_info(req->arena, req->path_params[0], &cur, err))
        return -1;
    in = cur;
    if (json_get_int64(req->input, "timestamp_ms", false, &end_ms, &present, err) ||
        json_get_string(req->input, "status", false, &status, err) ||
        get_v2_lists(req, &in, err))
        return -1;
    in.has_duration = true;
    in.execution_duration = end_ms - cur.request_time;
    in.state = "STATE_UNSPECIFIED";
    static const char *const v2[] = { "TRACE_STATUS_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS" };
    for (int i = 0; status && i < 4; i++)
        if (!strcmp(status, v2[i]))
            in.state = trace_states[i];
    if (status && *status && !strcmp(in.state, "STATE_UNSPECIFIED") && strcmp(status, v2[0]))
        return error_set(err, BAD, "Invalid value '%s' for parameter 'status'", status);
    in.n_assessments = 0;
    if (store_put_trace_v2(req->arena, &in, &out, err))
        return -1;
    return reply_trace_info_v2(resp, &out);
}

int api_get_trace_info_v2(struct request *req, struct response *resp, struct error *err)
{
    struct trace_info t;
    if (store_get_trace_info(req->arena, req->path_params[0], &t, err))
        return -1;
    return reply_trace_info_v2(resp, &t);
}

int api_search_traces_v2(struct request *req, struct response *resp, struct error *err)
{
    int64_t *exp;
    size_t n_exp;
    if (get_required_experiment_ids(req, &exp, &n_exp, err))
        return -1;
    return search(req, resp, err, exp, n_exp, write_trace_info_v2);
}

/* GET /ajax-api/{2.0,3.0}/mlflow/get-trace-artifact?request_id=…: the
 * trace's spans as MLflow's traces.json ({"spans": [span dicts]}), built
 * from the spans in the database. Attachments (`path`) are not stored. */
int api_get_trace_artifact(struct request *req, struct response *resp, struct error *err)
{
    const char *id = query_value(req, "request_id"), *path = query_value(req, "path");
    if (!id || !*id)
        return error_set(err, ERR_BAD_REQUEST, "Request must include the \"request_id\" query parameter.");
    struct trace *t;
    size_t n;
    if (store_get_traces(req->arena, &id, 1, NULL, 0, true, true, &t, &n, err))
        return -1;
    if (!n)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Trace with ID '%s' not found.", id);
    if (path && *path)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Attachment '%s' not found for trace '%s'.", path, id);
    struct strbuf body;
    sb_init(&body, req->arena, 1024 + t[0].n_spans * 512);
    sb_puts(&body, "{\"spans\":[");
    for (size_t i = 0; i < t[0].n_spans; i++) {
        if (i)
            sb_putc(&body, ',');
        if (otlp_span_to_mlflow_dict(req->arena, t[0].spans[i].content, &body, err))
            return -1;
    }
    sb_puts(&body, "]}");
    if (req->out.begin(req->out.ctx, 200, "text/plain", (long long)body.len,
                       "Content-Disposition: attachment; filename=traces.json\r\n") ||
        req->out.write(req->out.ctx, body.buf, body.len) || req->out.end(req->out.ctx))
        req->out.abort(req->out.ctx);
    req->streamed = true;
    (void)resp;
    return 0;
}
