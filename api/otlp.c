/* POST /v1/traces: OTLP/HTTP span ingest, as MLflow 3.17's server takes it
 * (mlflow/server/otel_api.py): protobuf or JSON bodies, gzip/deflate
 * Content-Encoding, the x-mlflow-experiment-id header, all spans of a
 * request stored in one transaction or none. Protobuf is decoded by
 * protobuf-c code generated from the OpenTelemetry protos (proto/); each
 * span is stored as the OTLP JSON that get_trace sends back. */
#include "common.h"
#include "handlers.h"
#include "otlp.h"
#include "../store/traces.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define OTLP_MAX_BODY (32u << 20)          /* bytes on the wire, and after decompression */
#define OTLP_MAX_SPANS 100000              /* spans per request */
#define OTLP_MAX_DEPTH 48                  /* protobuf message nesting (AnyValue in AnyValue …) */
#define REQUEST_ID_ATTR "mlflow.traceRequestId"
#define TRACE_TAG_ATTR_PREFIX "mlflow.traceTag."

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest ExportRequest;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event SpanEvent;
typedef Opentelemetry__Proto__Trace__V1__Span__Link SpanLink;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;

/* ---- protobuf: depth guard, then protobuf-c into the request arena ---- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* protobuf-c unpacks nested messages recursively: a body of nested
 * AnyValues would overflow a worker's stack. Walk the wire format against
 * the descriptors first and refuse deep or malformed input. */
static int wire_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end, int depth)
{
    if (depth > OTLP_MAX_DEPTH)
        return -1;
    while (p < end) {
        uint64_t tag, v;
        if (read_varint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF)
            return -1;
        switch (tag & 7) {
        case 0:
            if (read_varint(&p, end, &v))
                return -1;
            break;
        case 1:
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        case 2: {
            if (read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            const ProtobufCFieldDescriptor *f =
                d ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                wire_ok(f->descriptor, p, p + v, depth + 1))
                return -1;
            p += v;
            break;
        }
        default:   /* groups are not part of proto3 */
            return -1;
        }
    }
    return 0;
}

static void *pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size ? size : 1);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;   /* arena memory */
}

ExportRequest *otlp_unpack(struct arena *a, const uint8_t *body, size_t len)
{
    if (wire_ok(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor, body,
                body + len, 0))
        return NULL;
    ProtobufCAllocator alloc = { pb_alloc, pb_free, a };
    return opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(&alloc, len, body);
}

/* ---- OTLP JSON into the same structs ---- */

static const cJSON *jfield(const cJSON *o, const char *camel, const char *snake)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, camel);
    if (!v && snake)
        v = cJSON_GetObjectItemCaseSensitive(o, snake);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int hex_bytes(struct arena *a, const cJSON *v, ProtobufCBinaryData *out)
{
    out->len = 0;
    out->data = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    size_t n = strlen(v->valuestring);
    if (n % 2)
        return -1;
    out->data = arena_alloc(a, n / 2 + 1);
    for (size_t i = 0; i < n; i += 2) {
        unsigned b;
        if (sscanf(v->valuestring + i, "%2x", &b) != 1 || !strchr("0123456789abcdefABCDEF", v->valuestring[i + 1]))
            return -1;
        out->data[i / 2] = (uint8_t)b;
    }
    out->len = n / 2;
    return 0;
}

/* uint64/int64 in proto JSON: a number or a decimal string */
static int j_u64(const cJSON *v, uint64_t *out)
{
    *out = 0;
    if (!v)
        return 0;
    const char *s = cJSON_IsString(v) || cJSON_IsNumber(v) ? v->valuestring : NULL;
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = x;
    return 0;
}

static int j_any(struct arena *a, const cJSON *v, AnyValue *out);

static int j_kvs(struct arena *a, const cJSON *arr, KeyValue ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return -1;
    size_t cap = (size_t)cJSON_GetArraySize(arr);
    *out = arena_alloc(a, (cap + 1) * sizeof **out);
    for (const cJSON *e = arr->child; e; e = e->next) {
        if (!cJSON_IsObject(e))
            return -1;
        KeyValue *kv = arena_alloc(a, sizeof *kv);
        opentelemetry__proto__common__v1__key_value__init(kv);
        const cJSON *k = jfield(e, "key", NULL), *val = jfield(e, "value", NULL);
        if (!k || !cJSON_IsString(k))
            return -1;
        kv->key = k->valuestring;
        kv->value = arena_alloc(a, sizeof *kv->value);
        opentelemetry__proto__common__v1__any_value__init(kv->value);
        if (val && j_any(a, val, kv->value))
            return -1;
        (*out)[(*n)++] = kv;
    }
    return 0;
}

static int j_any(struct arena *a, const cJSON *v, AnyValue *out)
{
    const cJSON *x;
    if (!cJSON_IsObject(v))
        return -1;
    if ((x = jfield(v, "stringValue", "string_value"))) {
        if (!cJSON_IsString(x))
            return -1;
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        out->string_value = x->valuestring;
    } else if ((x = jfield(v, "boolValue", "bool_value"))) {
        if (!cJSON_IsBool(x))
            return -1;
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        out->bool_value = cJSON_IsTrue(x);
    } else if ((x = jfield(v, "intValue", "int_value"))) {
        int64_t i;
        if (!(cJSON_IsString(x) || cJSON_IsNumber(x)) || parse_int64(x->valuestring, &i))
            return -1;
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        out->int_value = i;
    } else if ((x = jfield(v, "doubleValue", "double_value"))) {
        double d;
        if (!(cJSON_IsString(x) || cJSON_IsNumber(x)) || parse_double(x->valuestring, &d))
            return -1;
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
        out->double_value = d;
    } else if ((x = jfield(v, "arrayValue", "array_value"))) {
        ArrayValue *arr = arena_alloc(a, sizeof *arr);
        opentelemetry__proto__common__v1__array_value__init(arr);
        const cJSON *vals = cJSON_IsObject(x) ? jfield(x, "values", NULL) : NULL;
        if (!cJSON_IsObject(x) || (vals && !cJSON_IsArray(vals)))
            return -1;
        size_t cap = vals ? (size_t)cJSON_GetArraySize(vals) : 0;
        arr->values = arena_alloc(a, (cap + 1) * sizeof *arr->values);
        for (const cJSON *e = vals ? vals->child : NULL; e; e = e->next) {
            AnyValue *item = arena_alloc(a, sizeof *item);
            opentelemetry__proto__common__v1__any_value__init(item);
            if (j_any(a, e, item))
                return -1;
            arr->values[arr->n_values++] = item;
        }
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
        out->array_value = arr;
    } else if ((x = jfield(v, "kvlistValue", "kvlist_value"))) {
        KeyValueList *l = arena_alloc(a, sizeof *l);
        opentelemetry__proto__common__v1__key_value_list__init(l);
        if (!cJSON_IsObject(x) || j_kvs(a, jfield(x, "values", NULL), &l->values, &l->n_values))
            return -1;
        out->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
        out->kvlist_value = l;
    } else if ((x = jfield(v, "bytesValue", "bytes_value"))) {
        return -1;   /* base64 bytes: not produced by any tracing SDK we serve */
    }
    return 0;
}

static int j_status_code(const cJSON *v, int *code)
{
    *code = 0;
    if (!v)
        return 0;
    static const char *const names[] = { "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR" };
    for (int i = 0; i < 3; i++)
        if ((cJSON_IsString(v) && !strcmp(v->valuestring, names[i])) ||
            (cJSON_IsNumber(v) && v->valuestring && !strcmp(v->valuestring, (const char[]){ (char)('0' + i), 0 }))) {
            *code = i;
            return 0;
        }
    return -1;
}

static int j_span(struct arena *a, const cJSON *o, Span *s)
{
    const cJSON *x;
    opentelemetry__proto__trace__v1__span__init(s);
    if (!cJSON_IsObject(o) ||
        hex_bytes(a, jfield(o, "traceId", "trace_id"), &s->trace_id) ||
        hex_bytes(a, jfield(o, "spanId", "span_id"), &s->span_id) ||
        hex_bytes(a, jfield(o, "parentSpanId", "parent_span_id"), &s->parent_span_id) ||
        j_u64(jfield(o, "startTimeUnixNano", "start_time_unix_nano"), &s->start_time_unix_nano) ||
        j_u64(jfield(o, "endTimeUnixNano", "end_time_unix_nano"), &s->end_time_unix_nano) ||
        j_kvs(a, jfield(o, "attributes", NULL), &s->attributes, &s->n_attributes))
        return -1;
    if ((x = jfield(o, "name", NULL))) {
        if (!cJSON_IsString(x))
            return -1;
        s->name = x->valuestring;
    }
    if ((x = jfield(o, "status", NULL))) {
        Status *st = arena_alloc(a, sizeof *st);
        opentelemetry__proto__trace__v1__status__init(st);
        int code;
        const cJSON *m = cJSON_IsObject(x) ? jfield(x, "message", NULL) : NULL;
        if (!cJSON_IsObject(x) || j_status_code(jfield(x, "code", NULL), &code) || (m && !cJSON_IsString(m)))
            return -1;
        st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)code;
        if (m)
            st->message = m->valuestring;
        s->status = st;
    }
    if ((x = jfield(o, "links", NULL))) {
        if (!cJSON_IsArray(x))
            return -1;
        size_t cap = (size_t)cJSON_GetArraySize(x);
        s->links = arena_alloc(a, (cap + 1) * sizeof *s->links);
        for (const cJSON *e = x->child; e; e = e->next) {
            SpanLink *l = arena_alloc(a, sizeof *l);
            opentelemetry__proto__trace__v1__span__link__init(l);
            if (!cJSON_IsObject(e) || hex_bytes(a, jfield(e, "traceId", "trace_id"), &l->trace_id) ||
                hex_bytes(a, jfield(e, "spanId", "span_id"), &l->span_id) ||
                j_kvs(a, jfield(e, "attributes", NULL), &l->attributes, &l->n_attributes))
                return -1;
            s->links[s->n_links++] = l;
        }
    }
    if ((x = jfield(o, "events", NULL))) {
        if (!cJSON_IsArray(x))
            return -1;
        size_t cap = (size_t)cJSON_GetArraySize(x);
        s->events = arena_alloc(a, (cap + 1) * sizeof *s->events);
        for (const cJSON *e = x->child; e; e = e->next) {
            SpanEvent *ev = arena_alloc(a, sizeof *ev);
            opentelemetry__proto__trace__v1__span__event__init(ev);
            const cJSON *nm = cJSON_IsObject(e) ? jfield(e, "name", NULL) : NULL;
            if (!cJSON_IsObject(e) || (nm && !cJSON_IsString(nm)) ||
                j_u64(jfield(e, "timeUnixNano", "time_unix_nano"), &ev->time_unix_nano) ||
                j_kvs(a, jfield(e, "attributes", NULL), &ev->attributes, &ev->n_attributes))
                return -1;
            if (nm)
                ev->name = nm->valuestring;
            s->events[s->n_events++] = ev;
        }
    }
    return 0;
}

/* resourceSpans[].scopeSpans[].spans[] (resources other than attributes ignored) */
ExportRequest *otlp_from_json(struct arena *a, const char *body, size_t len)
{
    struct error perr;
    cJSON *root = json_parse(a, body, len, &perr);
    if (!root || !cJSON_IsObject(root))
        return NULL;
    ExportRequest *req = arena_alloc(a, sizeof *req);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(req);
    const cJSON *rs = jfield(root, "resourceSpans", "resource_spans");
    if (!rs)
        return req;
    if (!cJSON_IsArray(rs))
        return NULL;
    req->resource_spans = arena_alloc(a, ((size_t)cJSON_GetArraySize(rs) + 1) * sizeof *req->resource_spans);
    for (const cJSON *r = rs->child; r; r = r->next) {
        ResourceSpans *out = arena_alloc(a, sizeof *out);
        opentelemetry__proto__trace__v1__resource_spans__init(out);
        const cJSON *ss = cJSON_IsObject(r) ? jfield(r, "scopeSpans", "scope_spans") : NULL;
        if (!cJSON_IsObject(r) || (ss && !cJSON_IsArray(ss)))
            return NULL;
        size_t ns = ss ? (size_t)cJSON_GetArraySize(ss) : 0;
        out->scope_spans = arena_alloc(a, (ns + 1) * sizeof *out->scope_spans);
        for (const cJSON *sc = ss ? ss->child : NULL; sc; sc = sc->next) {
            ScopeSpans *so = arena_alloc(a, sizeof *so);
            opentelemetry__proto__trace__v1__scope_spans__init(so);
            const cJSON *spans = cJSON_IsObject(sc) ? jfield(sc, "spans", NULL) : NULL;
            if (!cJSON_IsObject(sc) || (spans && !cJSON_IsArray(spans)))
                return NULL;
            size_t nsp = spans ? (size_t)cJSON_GetArraySize(spans) : 0;
            so->spans = arena_alloc(a, (nsp + 1) * sizeof *so->spans);
            for (const cJSON *sp = spans ? spans->child : NULL; sp; sp = sp->next) {
                Span *s = arena_alloc(a, sizeof *s);
                if (j_span(a, sp, s))
                    return NULL;
                so->spans[so->n_spans++] = s;
            }
            out->scope_spans[out->n_scope_spans++] = so;
        }
        req->resource_spans[req->n_resource_spans++] = out;
    }
    return req;
}

/* ---- spans to rows ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *base64(struct arena *a, const uint8_t *d, size_t n)
{
    char *out = arena_alloc(a, (n + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        out[o++] = b64chars[(v >> 18) & 63];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static const char *hex(struct arena *a, const uint8_t *d, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *out = arena_alloc(a, 2 * n + 1);   /* zeroed: NUL-terminated */
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    return out;
}

/* Exactly n bytes from standard base64 (as stored by base64() above); -1 otherwise. */
int otlp_unbase64(const char *in, uint8_t *out, size_t n)
{
    size_t len = strlen(in), o = 0;
    if (len != (n + 2) / 3 * 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        unsigned v = 0;
        for (size_t k = 0; k < 4; k++) {
            const char *p = in[i + k] == '=' ? NULL : strchr(b64chars, in[i + k]);
            if (in[i + k] != '=' && (!p || !in[i + k]))
                return -1;
            v = v << 6 | (p ? (unsigned)(p - b64chars) : 0);
        }
        for (size_t k = 0; k < 3 && o < n; k++)
            out[o++] = (uint8_t)(v >> (16 - 8 * k));
    }
    return o == n ? 0 : -1;
}

/* An AnyValue as protobuf's JSON (snake_case, int64 as a number), which is
 * how MLflow's get_trace sends span attributes. */
static void write_any(struct jw *w, const AnyValue *v);

static void write_kv_list(struct jw *w, KeyValue *const *kv, size_t n)
{
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kstr(w, "key", kv[i]->key ? kv[i]->key : "");
        jw_key(w, "value");
        write_any(w, kv[i]->value);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void write_any(struct jw *w, const AnyValue *v)
{
    jw_obj(w);
    switch (v ? v->value_case : 0) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        jw_kstr(w, "string_value", v->string_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        jw_kbool(w, "bool_value", v->bool_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        jw_kint64(w, "int_value", v->int_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        jw_kdouble(w, "double_value", v->double_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        jw_kobj(w, "array_value");
        if (v->array_value && v->array_value->n_values) {
            jw_karr(w, "values");
            for (size_t i = 0; i < v->array_value->n_values; i++)
                write_any(w, v->array_value->values[i]);
            jw_arr_end(w);
        }
        jw_obj_end(w);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        jw_kobj(w, "kvlist_value");
        if (v->kvlist_value && v->kvlist_value->n_values) {
            jw_key(w, "values");
            write_kv_list(w, v->kvlist_value->values, v->kvlist_value->n_values);
        }
        jw_obj_end(w);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        jw_kstr(w, "bytes_value", base64(w->sb->arena, v->bytes_value.data, v->bytes_value.len));
        break;
    default:
        break;
    }
    jw_obj_end(w);
}

/* The value as Python's json.dumps writes it (", " and ": "), which is
 * how MLflow keeps attribute values and builds previews. */
static void py_json(struct strbuf *sb, const AnyValue *v)
{
    char num[40];
    switch (v ? v->value_case : 0) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        json_escape(sb, v->string_value, strlen(v->string_value));
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        sb_puts(sb, v->bool_value ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        snprintf(num, sizeof num, "%" PRId64, v->int_value);
        sb_puts(sb, num);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE: {
        struct jw w;
        jw_init(&w, sb);
        if (isnan(v->double_value))
            sb_puts(sb, "NaN");
        else if (isinf(v->double_value))
            sb_puts(sb, v->double_value > 0 ? "Infinity" : "-Infinity");
        else
            jw_double(&w, v->double_value);
        break;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        sb_putc(sb, '[');
        for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
            if (i)
                sb_puts(sb, ", ");
            py_json(sb, v->array_value->values[i]);
        }
        sb_putc(sb, ']');
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        sb_putc(sb, '{');
        for (size_t i = 0; v->kvlist_value && i < v->kvlist_value->n_values; i++) {
            KeyValue *kv = v->kvlist_value->values[i];
            if (i)
                sb_puts(sb, ", ");
            json_escape(sb, kv->key ? kv->key : "", kv->key ? strlen(kv->key) : 0);
            sb_puts(sb, ": ");
            py_json(sb, kv->value);
        }
        sb_putc(sb, '}');
        break;
    default:
        sb_puts(sb, "null");
        break;
    }
}

static const char *preview(struct arena *a, const AnyValue *v)
{
    if (!v || v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET)
        return NULL;
    struct strbuf sb;
    sb_init(&sb, a, 128);
    py_json(&sb, v);
    return utf8_truncate(a, sb.buf, 1000);
}

static const char *status_name(int code)
{
    return code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK ? "OK"
         : code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR ? "ERROR" : "UNSET";
}

/* One span: its row and its OTLP JSON. -1: MLflow cannot convert it (422). */
int otlp_span_to_row(struct arena *a, const Span *s, struct span_in *out)
{
    memset(out, 0, sizeof *out);
    if (s->trace_id.len != 16 || s->span_id.len != 8 || (s->parent_span_id.len && s->parent_span_id.len != 8))
        return -1;
    if (s->start_time_unix_nano > INT64_MAX || s->end_time_unix_nano > INT64_MAX)
        return -1;
    struct span_row *r = &out->row;
    char *tid = arena_alloc(a, 3 + 32 + 1);
    memcpy(tid, "tr-", 3);
    memcpy(tid + 3, hex(a, s->trace_id.data, 16), 32);
    r->trace_id = tid;
    r->span_id = hex(a, s->span_id.data, 8);
    r->parent_span_id = s->parent_span_id.len ? hex(a, s->parent_span_id.data, 8) : NULL;
    r->name = s->name ? s->name : "";
    r->start_ns = (int64_t)s->start_time_unix_nano;
    r->has_end = s->end_time_unix_nano != 0;
    r->end_ns = (int64_t)s->end_time_unix_nano;
    int code = s->status ? (int)s->status->code : 0;
    r->status = status_name(code);

    struct strbuf sb;
    sb_init(&sb, a, 512);
    struct jw w;
    jw_init(&w, &sb);
    jw_obj(&w);
    jw_kstr(&w, "trace_id", base64(a, s->trace_id.data, 16));
    jw_kstr(&w, "span_id", base64(a, s->span_id.data, 8));
    if (s->parent_span_id.len)
        jw_kstr(&w, "parent_span_id", base64(a, s->parent_span_id.data, 8));
    jw_kstr(&w, "name", r->name);
    jw_kint64(&w, "start_time_unix_nano", r->start_ns);
    if (r->has_end)
        jw_kint64(&w, "end_time_unix_nano", r->end_ns);
    /* attributes, with mlflow.traceRequestId set to the server's trace id
     * (MLflow does not trust the client's) */
    size_t n_tags = 0;
    out->trace_tags = arena_alloc(a, (s->n_attributes + 1) * sizeof *out->trace_tags);
    AnyValue request_id = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    request_id.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    request_id.string_value = (char *)r->trace_id;
    bool had_request_id = false;
    jw_karr(&w, "attributes");
    for (size_t i = 0; i < s->n_attributes; i++) {
        const KeyValue *kv = s->attributes[i];
        const char *key = kv->key ? kv->key : "";
        const AnyValue *v = kv->value;
        bool is_str = v && v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        if (!strcmp(key, REQUEST_ID_ATTR)) {
            if (had_request_id)
                continue;
            v = &request_id;
            had_request_id = true;
        } else if (!strcmp(key, "mlflow.spanType") && is_str) {
            r->span_type = v->string_value;
        } else if (!strcmp(key, "mlflow.spanInputs")) {
            out->inputs_json = preview(a, v);
        } else if (!strcmp(key, "mlflow.spanOutputs")) {
            out->outputs_json = preview(a, v);
        } else if (!strncmp(key, TRACE_TAG_ATTR_PREFIX, strlen(TRACE_TAG_ATTR_PREFIX)) && !s->parent_span_id.len &&
                   key[strlen(TRACE_TAG_ATTR_PREFIX)]) {
            struct strbuf tv;
            sb_init(&tv, a, 64);
            if (is_str)
                sb_puts(&tv, v->string_value);
            else
                py_json(&tv, v);
            out->trace_tags[n_tags++] = (struct kv){ key + strlen(TRACE_TAG_ATTR_PREFIX),
                                                     utf8_truncate(a, tv.buf, 8000) };
        }
        jw_obj(&w);
        jw_kstr(&w, "key", key);
        jw_key(&w, "value");
        write_any(&w, v);
        jw_obj_end(&w);
    }
    if (!had_request_id) {
        jw_obj(&w);
        jw_kstr(&w, "key", REQUEST_ID_ATTR);
        jw_key(&w, "value");
        write_any(&w, &request_id);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    out->n_trace_tags = n_tags;
    if (s->n_events) {
        jw_karr(&w, "events");
        for (size_t i = 0; i < s->n_events; i++) {
            const SpanEvent *e = s->events[i];
            jw_obj(&w);
            jw_kint64(&w, "time_unix_nano", (int64_t)e->time_unix_nano);
            jw_kstr(&w, "name", e->name ? e->name : "");
            if (e->n_attributes) {
                jw_key(&w, "attributes");
                write_kv_list(&w, e->attributes, e->n_attributes);
            }
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    /* span links, as MLflow keeps them: ids of the OTLP sizes only (it drops wider ones) */
    size_t n_links = 0;
    for (size_t i = 0; i < s->n_links; i++)
        n_links += s->links[i]->trace_id.len == 16 && s->links[i]->span_id.len == 8;
    if (n_links) {
        jw_karr(&w, "links");
        for (size_t i = 0; i < s->n_links; i++) {
            const SpanLink *l = s->links[i];
            if (l->trace_id.len != 16 || l->span_id.len != 8)
                continue;
            jw_obj(&w);
            jw_kstr(&w, "trace_id", base64(a, l->trace_id.data, 16));
            jw_kstr(&w, "span_id", base64(a, l->span_id.data, 8));
            if (l->n_attributes) {
                jw_key(&w, "attributes");
                write_kv_list(&w, l->attributes, l->n_attributes);
            }
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    jw_kobj(&w, "status");
    if (code == 1 || code == 2)
        jw_kstr(&w, "code", code == 1 ? "STATUS_CODE_OK" : "STATUS_CODE_ERROR");
    if (s->status && s->status->message && *s->status->message)
        jw_kstr(&w, "message", s->status->message);
    jw_obj_end(&w);
    jw_obj_end(&w);
    r->content = sb.buf;
    return 0;
}

/* ---- the route ---- */

static int detail(struct response *resp, int status, const char *msg)
{
    resp->status = status;
    resp->content_type = "application/json";
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_kstr(&w, "detail", msg);
    jw_obj_end(&w);
    return 0;
}

/* FastAPI's answer for a missing required header */
static int missing_header(struct response *resp, const char *name)
{
    resp->status = 422;
    sb_printf(&resp->body, "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"header\",\"%s\"],"
              "\"msg\":\"Field required\",\"input\":null}]}", name);
    return 0;
}

/* Reads the body up to OTLP_MAX_BODY; 1 when it is larger. */
static int read_all(struct request *req, char **out, size_t *len)
{
    long long cl = req->body.content_length;
    if (cl > (long long)OTLP_MAX_BODY)
        return 1;
    size_t cap = cl >= 0 ? (size_t)cl + 1 : 65536, used = 0;
    char *buf = arena_alloc(req->arena, cap);
    for (;;) {
        if (used + 1 >= cap) {
            buf = arena_grow(req->arena, buf, cap, cap * 2);
            cap *= 2;
        }
        long long n = req->body.read(req->body.ctx, buf + used, cap - used - 1);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > OTLP_MAX_BODY)
            return 1;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
}

/* gzip or deflate (zlib or raw): 0, -1 malformed, 1 larger than the limit */
int otlp_inflate(struct arena *a, const char *in, size_t n, bool gzip, char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, gzip ? 16 + MAX_WBITS : 32 + MAX_WBITS) != Z_OK)
        return -1;
    size_t cap = n * 4 + 1024, used = 0;
    if (cap > OTLP_MAX_BODY + 1)
        cap = OTLP_MAX_BODY + 1;
    char *buf = arena_alloc(a, cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (used == cap) {
            if (cap > OTLP_MAX_BODY) {
                inflateEnd(&z);
                return 1;
            }
            size_t ncap = cap * 2 > OTLP_MAX_BODY + 1 ? OTLP_MAX_BODY + 1 : cap * 2;
            buf = arena_grow(a, buf, cap, ncap);
            cap = ncap;
        }
        z.next_out = (Bytef *)buf + used;
        z.avail_out = (uInt)(cap - used);
        rc = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            return -1;
        }
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {   /* truncated stream */
            inflateEnd(&z);
            return -1;
        }
    }
    inflateEnd(&z);
    if (used > OTLP_MAX_BODY)
        return 1;
    buf = arena_grow(a, buf, cap, used + 1);
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    return 0;
}

int otlp_collect(struct arena *a, const ExportRequest *er, struct span_in **spans, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < er->n_resource_spans; i++)
        for (size_t j = 0; j < er->resource_spans[i]->n_scope_spans; j++)
            total += er->resource_spans[i]->scope_spans[j]->n_spans;
    if (total > OTLP_MAX_SPANS)
        return 1;
    *spans = arena_alloc(a, (total + 1) * sizeof **spans);
    *n = 0;
    for (size_t i = 0; i < er->n_resource_spans; i++)
        for (size_t j = 0; j < er->resource_spans[i]->n_scope_spans; j++) {
            const ScopeSpans *ss = er->resource_spans[i]->scope_spans[j];
            for (size_t k = 0; k < ss->n_spans; k++)
                if (otlp_span_to_row(a, ss->spans[k], &(*spans)[(*n)++]))
                    return -1;
        }
    return 0;
}

int api_otlp_traces(struct request *req, struct response *resp, struct error *err)
{
    const char *exp_header = req->header ? req->header(req, "x-mlflow-experiment-id") : NULL;
    if (!exp_header)
        return missing_header(resp, "x-mlflow-experiment-id");
    const char *ct = req->content_type ? req->content_type : "";
    size_t ctn = strcspn(ct, ";");
    while (ctn && (ct[ctn - 1] == ' ' || ct[ctn - 1] == '\t'))
        ctn--;
    bool proto = ctn == 22 && !strncasecmp(ct, "application/x-protobuf", 22);
    bool json = ctn == 16 && !strncasecmp(ct, "application/json", 16);
    if (!proto && !json)
        return detail(resp, 400, arena_printf(req->arena, "Invalid Content-Type: %s. Expected: "
                                              "application/x-protobuf or application/json",
                                              req->content_type ? req->content_type : "None"));
    char *body;
    size_t len;
    int rc = read_all(req, &body, &len);
    if (rc > 0)
        return detail(resp, 413, arena_printf(req->arena, "Request body exceeds the limit of %u bytes",
                                              OTLP_MAX_BODY));
    if (rc < 0)
        return detail(resp, 400, "Failed to read the request body");
    const char *enc = req->header(req, "Content-Encoding");
    if (enc && *enc && strcasecmp(enc, "identity")) {
        bool gzip = !strcasecmp(enc, "gzip");
        if (!gzip && strcasecmp(enc, "deflate"))
            return detail(resp, 400, arena_printf(req->arena, "Unsupported Content-Encoding: %s", enc));
        char *plain;
        size_t plain_len;
        rc = otlp_inflate(req->arena, body, len, gzip, &plain, &plain_len);
        if (rc > 0)
            return detail(resp, 413, arena_printf(req->arena, "Decompressed body exceeds the limit of %u bytes",
                                                  OTLP_MAX_BODY));
        if (rc < 0)
            return detail(resp, 400, arena_printf(req->arena, "Failed to decompress %s payload", enc));
        body = plain;
        len = plain_len;
    }
    ExportRequest *er = proto ? otlp_unpack(req->arena, (const uint8_t *)body, len)
                              : otlp_from_json(req->arena, body, len);
    if (!er)
        return detail(resp, 400, "Invalid OpenTelemetry format");
    if (!er->n_resource_spans)
        return detail(resp, 400, "Invalid OpenTelemetry format - no spans found");
    struct span_in *spans;
    size_t n;
    rc = otlp_collect(req->arena, er, &spans, &n);
    if (rc > 0)
        return detail(resp, 413, arena_printf(req->arena, "Too many spans in one request (at most %d)",
                                              OTLP_MAX_SPANS));
    if (rc < 0)
        return detail(resp, 422, "Cannot convert OpenTelemetry span to MLflow span");
    if (n) {
        int64_t exp;
        struct error perr = { 0 };
        if (parse_experiment_id(exp_header, &exp, &perr) || store_log_spans(req->arena, exp, spans, n, &perr)) {
            resp->status = error_http_status(perr.code);
            error_to_json(&perr, &resp->body);
            return 0;
        }
        const char *run_id = req->header(req, "x-mlflow-run-id");
        if (run_id && *run_id) {
            /* best effort, as MLflow: a bad run id does not fail the export */
            const char **roots = arena_alloc(req->arena, n * sizeof *roots);
            size_t n_roots = 0;
            for (size_t i = 0; i < n && n_roots < 100; i++)
                if (!spans[i].row.parent_span_id)
                    roots[n_roots++] = spans[i].row.trace_id;
            if (n_roots)
                store_link_traces_to_run(req->arena, roots, n_roots, run_id, &perr);
        }
    }
    (void)err;
    resp->status = 200;
    resp->content_type = "application/x-protobuf";   /* an empty ExportTraceServiceResponse */
    return 0;
}

/* ---- stored OTLP JSON -> MLflow's span dict (traces.json, get-trace-artifact) ---- */

/* An AnyValue in our stored form, as Python's json.dumps writes the decoded value. */
static void py_json_stored(struct strbuf *sb, const cJSON *v)
{
    const cJSON *x = v ? v->child : NULL;
    if (!x) {
        sb_puts(sb, "null");
        return;
    }
    if (!strcmp(x->string, "string_value")) {
        json_escape(sb, x->valuestring, strlen(x->valuestring));
    } else if (!strcmp(x->string, "bool_value")) {
        sb_puts(sb, cJSON_IsTrue(x) ? "true" : "false");
    } else if (!strcmp(x->string, "int_value") || !strcmp(x->string, "double_value")) {
        /* json_parse keeps each number's literal text (int64 exact); the
         * deep-span fallback parser does not: print the double */
        if (x->valuestring) {
            sb_puts(sb, x->valuestring);
        } else if (!strcmp(x->string, "int_value")) {
            sb_printf(sb, "%.0f", x->valuedouble);
        } else {
            struct jw w;
            jw_init(&w, sb);
            jw_double(&w, x->valuedouble);
        }
    } else if (!strcmp(x->string, "array_value")) {
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(x, "values");
        sb_putc(sb, '[');
        for (const cJSON *e = vals ? vals->child : NULL; e; e = e->next) {
            py_json_stored(sb, e);
            if (e->next)
                sb_puts(sb, ", ");
        }
        sb_putc(sb, ']');
    } else if (!strcmp(x->string, "kvlist_value")) {
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(x, "values");
        sb_putc(sb, '{');
        for (const cJSON *e = vals ? vals->child : NULL; e; e = e->next) {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
            json_escape(sb, k && k->valuestring ? k->valuestring : "", k && k->valuestring ? strlen(k->valuestring) : 0);
            sb_puts(sb, ": ");
            py_json_stored(sb, cJSON_GetObjectItemCaseSensitive(e, "value"));
            if (e->next)
                sb_puts(sb, ", ");
        }
        sb_putc(sb, '}');
    } else {
        json_escape(sb, x->valuestring ? x->valuestring : "", x->valuestring ? strlen(x->valuestring) : 0);
    }
}

static void copy_field(struct jw *w, const cJSON *span, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(span, key);
    jw_key(w, key);
    if (!v)
        jw_raw(w, "null", 4);
    else if (cJSON_IsString(v))
        jw_str(w, v->valuestring);
    else if (v->valuestring)
        jw_raw(w, v->valuestring, strlen(v->valuestring));
    else
        jw_int64(w, (int64_t)v->valuedouble);
}

int otlp_span_to_mlflow_dict(struct arena *a, const char *content, struct strbuf *out, struct error *err)
{
    /* stored spans nest AnyValues up to OTLP_MAX_DEPTH: deeper than json_parse
     * allows for request bodies, but bounded by our own ingest check */
    struct error perr;
    cJSON *span = json_parse(a, content, strlen(content), &perr);
    if (!span) {
        json_set_thread_arena(a);
        span = cJSON_ParseWithLength(content, strlen(content));
        json_set_thread_arena(NULL);
    }
    if (!span)
        return error_set(err, ERR_INTERNAL_ERROR, "A stored span could not be read");
    struct jw w;
    jw_init(&w, out);
    jw_obj(&w);
    copy_field(&w, span, "trace_id");
    copy_field(&w, span, "span_id");
    copy_field(&w, span, "parent_span_id");
    copy_field(&w, span, "name");
    copy_field(&w, span, "start_time_unix_nano");
    copy_field(&w, span, "end_time_unix_nano");
    jw_karr(&w, "events");
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(span, "events");
    for (const cJSON *e = events ? events->child : NULL; e; e = e->next) {
        jw_obj(&w);
        copy_field(&w, e, "name");
        copy_field(&w, e, "time_unix_nano");
        jw_kobj(&w, "attributes");
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(e, "attributes");
        for (const cJSON *kv = attrs ? attrs->child : NULL; kv; kv = kv->next) {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
            struct strbuf v;
            sb_init(&v, a, 32);
            py_json_stored(&v, cJSON_GetObjectItemCaseSensitive(kv, "value"));
            jw_key(&w, k && k->valuestring ? k->valuestring : "");
            jw_raw(&w, v.buf, v.len);   /* event attributes keep their values, not dumped strings */
        }
        jw_obj_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(span, "status");
    const cJSON *code = st ? cJSON_GetObjectItemCaseSensitive(st, "code") : NULL;
    const cJSON *msg = st ? cJSON_GetObjectItemCaseSensitive(st, "message") : NULL;
    jw_kobj(&w, "status");
    jw_kstr(&w, "code", code && code->valuestring ? code->valuestring : "STATUS_CODE_UNSET");
    jw_kstr(&w, "message", msg && msg->valuestring ? msg->valuestring : "");
    jw_obj_end(&w);
    jw_kobj(&w, "attributes");
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(span, "attributes");
    for (const cJSON *kv = attrs ? attrs->child : NULL; kv; kv = kv->next) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
        struct strbuf v;
        sb_init(&v, a, 32);
        py_json_stored(&v, cJSON_GetObjectItemCaseSensitive(kv, "value"));
        jw_kstr(&w, k && k->valuestring ? k->valuestring : "", v.buf);   /* MLflow keeps them JSON-dumped */
    }
    jw_obj_end(&w);
    jw_karr(&w, "links");
    const cJSON *links = cJSON_GetObjectItemCaseSensitive(span, "links");
    for (const cJSON *l = links ? links->child : NULL; l; l = l->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(l, "trace_id");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(l, "span_id");
        uint8_t tb[16], sb[8];
        if (!cJSON_IsString(t) || !cJSON_IsString(sp) || otlp_unbase64(t->valuestring, tb, 16) ||
            otlp_unbase64(sp->valuestring, sb, 8))
            continue;
        jw_obj(&w);
        jw_kstr(&w, "trace_id", arena_printf(a, "tr-%s", hex(a, tb, 16)));   /* Link.to_dict */
        jw_kstr(&w, "span_id", hex(a, sb, 8));
        const cJSON *la = cJSON_GetObjectItemCaseSensitive(l, "attributes");
        jw_key(&w, "attributes");
        if (!la || !la->child) {
            jw_raw(&w, "null", 4);
        } else {
            jw_obj(&w);
            for (const cJSON *kv = la->child; kv; kv = kv->next) {
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
                struct strbuf v;
                sb_init(&v, a, 32);
                py_json_stored(&v, cJSON_GetObjectItemCaseSensitive(kv, "value"));
                jw_key(&w, k && k->valuestring ? k->valuestring : "");
                jw_raw(&w, v.buf, v.len);   /* decoded values, as Link.from_otel_proto keeps them */
            }
            jw_obj_end(&w);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    return 0;
}
