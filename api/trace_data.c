/* Issue 14: spans uploaded as a trace's traces.json artifact (clients that
 * do not send spans over OTLP: MLflow 3.0-3.3, or a 3.x client whose span
 * export failed) are also read into PostgreSQL, so that search_traces and
 * traces/get see them as they see OTLP spans. The upload itself stays as
 * MLflow keeps it (the file in the artifact store); reading it in is best
 * effort and never fails the upload.
 *
 * Each span dict (MLflow 3's Span.to_dict, or MLflow 2's with `context`) is
 * turned into the OTLP span the 3.17 client would have sent for it
 * (attribute values JSON-decoded, as Span.to_otel_proto does), then stored
 * by the same code as POST /v1/traces. */
#include "common.h"
#include "otlp.h"
#include "trace_data.h"
#include "../store/traces.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_DATA_MAX (32u << 20)   /* bytes of traces.json read in, as an OTLP body */
#define TRACE_DATA_DEPTH 48          /* attribute value nesting, as OTLP */

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event SpanEvent;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || !s[i])
            return false;
    return true;
}

/* "…/traces/tr-<32 hex>/artifacts/traces.json": the trace id, else NULL */
static const char *trace_id_of(struct arena *a, const char *rel)
{
    static const char tail[] = "/artifacts/traces.json";
    size_t n = strlen(rel), tn = sizeof tail - 1, idn = 35;
    if (n < tn + idn + 8 || strcmp(rel + n - tn, tail))
        return NULL;
    const char *id = rel + n - tn - idn;
    if (strncmp(id - 8, "/traces/", 8) && !(id - 7 == rel && !strncmp(rel, "traces/", 7)))
        return NULL;
    if (strncmp(id, "tr-", 3) || !is_hex(id + 3, 32))
        return NULL;
    return arena_strndup(a, id, idn);
}

static long long tee_read(void *p, char *buf, size_t len)
{
    struct trace_data_upload *t = p;
    long long r = t->read(t->ctx, buf, len);
    if (r > 0 && !t->over) {
        if (t->body.len + (size_t)r > TRACE_DATA_MAX)
            t->over = true;
        else
            sb_putn(&t->body, buf, (size_t)r);
    }
    return r;
}

bool trace_data_begin(struct request *req, const char *rel, struct trace_data_upload *t)
{
    memset(t, 0, sizeof *t);
    t->trace_id = trace_id_of(req->arena, rel);
    if (!t->trace_id)
        return false;
    t->rel = rel;
    t->read = req->body.read;
    t->ctx = req->body.ctx;
    sb_init(&t->body, req->arena, req->body.content_length > 0 && req->body.content_length < TRACE_DATA_MAX
                                      ? (size_t)req->body.content_length + 1 : 65536);
    req->body.read = tee_read;
    req->body.ctx = t;
    return true;
}

/* ---- MLflow span dicts -> OTLP spans ---- */

static int any_from_json(struct arena *a, const cJSON *v, AnyValue *out, int depth);

static int kvs_from_object(struct arena *a, const cJSON *o, KeyValue ***kvs, size_t *n, bool decode, int depth)
{
    *n = 0;
    *kvs = arena_alloc(a, ((size_t)cJSON_GetArraySize(o) + 1) * sizeof **kvs);
    for (const cJSON *e = o ? o->child : NULL; e; e = e->next) {
        KeyValue *kv = arena_alloc(a, sizeof *kv);
        opentelemetry__proto__common__v1__key_value__init(kv);
        kv->key = e->string ? e->string : "";
        kv->value = arena_alloc(a, sizeof *kv->value);
        opentelemetry__proto__common__v1__any_value__init(kv->value);
        const cJSON *val = e;
        if (decode && cJSON_IsString(e)) {
            /* MLflow keeps span attributes JSON-dumped; its OTLP export sends the decoded value */
            struct error perr;
            cJSON *dec = json_parse(a, e->valuestring, strlen(e->valuestring), &perr);
            if (dec)
                val = dec;
        }
        if (any_from_json(a, val, kv->value, depth + 1))
            return -1;
        (*kvs)[(*n)++] = kv;
    }
    return 0;
}

static int any_from_json(struct arena *a, const cJSON *v, AnyValue *out, int depth)
{
    if (depth > TRACE_DATA_DEPTH)
        return -1;
    if (cJSON_IsString(v)) {
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        out->string_value = v->valuestring;
    } else if (cJSON_IsBool(v)) {
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        out->bool_value = cJSON_IsTrue(v);
    } else if (cJSON_IsNumber(v)) {
        /* json_parse keeps the literal: an integer stays exact */
        const char *lit = v->valuestring;
        int64_t i;
        if (lit && !strpbrk(lit, ".eE") && !parse_int64(lit, &i)) {
            out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
            out->int_value = i;
        } else {
            out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
            out->double_value = v->valuedouble;
        }
    } else if (cJSON_IsArray(v)) {
        ArrayValue *arr = arena_alloc(a, sizeof *arr);
        opentelemetry__proto__common__v1__array_value__init(arr);
        arr->values = arena_alloc(a, ((size_t)cJSON_GetArraySize(v) + 1) * sizeof *arr->values);
        for (const cJSON *e = v->child; e; e = e->next) {
            AnyValue *item = arena_alloc(a, sizeof *item);
            opentelemetry__proto__common__v1__any_value__init(item);
            if (any_from_json(a, e, item, depth + 1))
                return -1;
            arr->values[arr->n_values++] = item;
        }
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
        out->array_value = arr;
    } else if (cJSON_IsObject(v)) {
        KeyValueList *l = arena_alloc(a, sizeof *l);
        opentelemetry__proto__common__v1__key_value_list__init(l);
        if (kvs_from_object(a, v, &l->values, &l->n_values, false, depth))
            return -1;
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
        out->kvlist_value = l;
    }   /* null: left unset, as MLflow leaves it */
    return 0;
}

/* base64 (MLflow 3) or "0x…" hex (MLflow 2) id of n bytes */
static int id_bytes(struct arena *a, const cJSON *v, size_t n, ProtobufCBinaryData *out)
{
    if (!cJSON_IsString(v))
        return -1;
    const char *s = v->valuestring;
    out->data = arena_alloc(a, n);
    out->len = n;
    if (!strncmp(s, "0x", 2)) {
        size_t len = strlen(s + 2);
        if (len > 2 * n || !is_hex(s + 2, len))
            return -1;
        char buf[33] = { 0 };
        memset(buf, '0', 2 * n - len);
        memcpy(buf + 2 * n - len, s + 2, len);
        for (size_t i = 0; i < n; i++) {
            unsigned b;
            sscanf(buf + 2 * i, "%2x", &b);
            out->data[i] = (uint8_t)b;
        }
        return 0;
    }
    return otlp_unbase64(s, out->data, n);
}

static uint64_t u64_of(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return 0;
    return v->valuestring ? strtoull(v->valuestring, NULL, 10) : (uint64_t)v->valuedouble;
}

static int status_code(const char *s)
{
    if (!s)
        return 0;
    if (!strcmp(s, "STATUS_CODE_OK") || !strcmp(s, "OK"))
        return 1;
    if (!strcmp(s, "STATUS_CODE_ERROR") || !strcmp(s, "ERROR"))
        return 2;
    return 0;
}

static int span_from_dict(struct arena *a, const cJSON *d, const ProtobufCBinaryData *trace_id, Span *s)
{
    opentelemetry__proto__trace__v1__span__init(s);
    if (!cJSON_IsObject(d))
        return -1;
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(d, "context");   /* MLflow 2 */
    const cJSON *sid = ctx ? cJSON_GetObjectItemCaseSensitive(ctx, "span_id")
                           : cJSON_GetObjectItemCaseSensitive(d, "span_id");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(d, ctx ? "parent_id" : "parent_span_id");
    s->trace_id = *trace_id;   /* the trace's own id: an MLflow 2 trace's spans carry another */
    if (id_bytes(a, sid, 8, &s->span_id) || (pid && !cJSON_IsNull(pid) && id_bytes(a, pid, 8, &s->parent_span_id)))
        return -1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "name");
    s->name = cJSON_IsString(name) ? name->valuestring : "";
    s->start_time_unix_nano = u64_of(cJSON_GetObjectItemCaseSensitive(d, ctx ? "start_time" : "start_time_unix_nano"));
    s->end_time_unix_nano = u64_of(cJSON_GetObjectItemCaseSensitive(d, ctx ? "end_time" : "end_time_unix_nano"));
    Status *st = arena_alloc(a, sizeof *st);
    opentelemetry__proto__trace__v1__status__init(st);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(d, "status");
    const cJSON *code = ctx ? cJSON_GetObjectItemCaseSensitive(d, "status_code")
                            : cJSON_GetObjectItemCaseSensitive(status, "code");
    const cJSON *msg = ctx ? cJSON_GetObjectItemCaseSensitive(d, "status_message")
                           : cJSON_GetObjectItemCaseSensitive(status, "message");
    st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)status_code(cJSON_GetStringValue(code));
    if (cJSON_IsString(msg))
        st->message = msg->valuestring;
    s->status = st;
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(d, "attributes");
    if (cJSON_IsObject(attrs) && kvs_from_object(a, attrs, &s->attributes, &s->n_attributes, true, 0))
        return -1;
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(d, "events");
    if (cJSON_IsArray(events)) {
        s->events = arena_alloc(a, ((size_t)cJSON_GetArraySize(events) + 1) * sizeof *s->events);
        for (const cJSON *e = events->child; e; e = e->next) {
            SpanEvent *ev = arena_alloc(a, sizeof *ev);
            opentelemetry__proto__trace__v1__span__event__init(ev);
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(e, "name");
            ev->name = cJSON_IsString(en) ? en->valuestring : "";
            ev->time_unix_nano = u64_of(cJSON_GetObjectItemCaseSensitive(e, ctx ? "timestamp" : "time_unix_nano"));
            const cJSON *ea = cJSON_GetObjectItemCaseSensitive(e, "attributes");
            if (cJSON_IsObject(ea) && kvs_from_object(a, ea, &ev->attributes, &ev->n_attributes, false, 0))
                return -1;
            s->events[s->n_events++] = ev;
        }
    }
    return 0;
}

/* The artifact location the trace was given, as a path under the proxied
 * root ("mlflow-artifacts:/1/traces/tr-…/artifacts" -> "1/traces/tr-…/artifacts"). */
static bool upload_is_the_traces(const struct trace_info *t, const char *rel)
{
    const char *loc = NULL;
    for (size_t i = 0; i < t->n_tags; i++)
        if (!strcmp(t->tags[i].key, TRACE_TAG_ARTIFACT_LOCATION))
            loc = t->tags[i].value;
    if (!loc || strncmp(loc, "mlflow-artifacts:", 17))
        return false;
    loc += 17;
    if (!strncmp(loc, "//", 2)) {   /* mlflow-artifacts://host:port/path */
        const char *slash = strchr(loc + 2, '/');
        loc = slash ? slash : "";
    }
    while (*loc == '/')
        loc++;
    size_t n = strlen(loc);
    while (n && loc[n - 1] == '/')
        n--;
    return n && !strncmp(rel, loc, n) && !strcmp(rel + n, "/traces.json");
}

static int load(struct arena *a, const struct trace_data_upload *t, size_t *n_spans, struct error *err)
{
    struct trace_info info;
    if (store_get_trace_info(a, t->trace_id, &info, err))
        return -1;
    if (!upload_is_the_traces(&info, t->rel))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "not the trace's artifact location");
    struct error perr;
    cJSON *root = json_parse(a, t->body.buf, t->body.len, &perr);
    if (!root) {   /* deeper or larger than request bodies may be: cJSON's own limits */
        json_set_thread_arena(a);
        root = cJSON_ParseWithLength(t->body.buf, t->body.len);
        json_set_thread_arena(NULL);
    }
    const cJSON *spans = root ? cJSON_GetObjectItemCaseSensitive(root, "spans") : NULL;
    if (!cJSON_IsArray(spans))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "no \"spans\" array");
    ProtobufCBinaryData tid = { 16, arena_alloc(a, 16) };
    for (size_t i = 0; i < 16; i++) {
        unsigned b;
        sscanf(t->trace_id + 3 + 2 * i, "%2x", &b);
        tid.data[i] = (uint8_t)b;
    }
    size_t cap = (size_t)cJSON_GetArraySize(spans), n = 0;
    struct span_in *rows = arena_alloc(a, (cap + 1) * sizeof *rows);
    for (const cJSON *d = spans->child; d; d = d->next) {
        Span s;
        if (span_from_dict(a, d, &tid, &s) || otlp_span_to_row(a, &s, &rows[n]))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "span %zu cannot be read", n);
        n++;
    }
    *n_spans = n;
    return n ? store_log_spans(a, info.experiment_id, rows, n, err) : 0;
}

void trace_data_end(struct request *req, struct trace_data_upload *t, bool stored)
{
    req->body.read = t->read;
    req->body.ctx = t->ctx;
    if (!stored)
        return;
    struct error err = { 0 };
    size_t n = 0;
    if (t->over)
        error_set(&err, ERR_INVALID_PARAMETER_VALUE, "larger than %u bytes", TRACE_DATA_MAX);
    else if (!load(req->arena, t, &n, &err))
        return;
    fprintf(stderr, "cairn: %s kept as an artifact only (spans not read into the database: %s)\n", t->rel,
            err.message);
}
