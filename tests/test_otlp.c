/* api/otlp.c (the /v1/traces decoder) and the trace search grammar in
 * api/search_filter.c. The decoder also runs under a deterministic mutation
 * fuzzer here (ASan+UBSan in make test): truncations, byte flips and
 * insertions of a valid request must never crash, and whatever still decodes
 * must convert or be refused cleanly. OTLP_FUZZ_ITERATIONS=N runs longer. */
#include "test.h"
#include "../api/otlp.h"
#include "../api/search_filter.h"
#include "../api/json.h"
#include <stdint.h>
#include <zlib.h>

static struct arena A;

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

/* A request with one root span and one child, built with protobuf-c. */
static uint8_t *sample(size_t *len)
{
    static uint8_t tid[16] = {0xc0, 0x1b, 0xa5, 0xec, 0x9b, 0xf1, 0x7c, 0x6e, 0, 0xb9, 0x59, 2, 0x80, 0xac, 0x48, 0x61};
    static uint8_t sid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, cid[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    AnyValue v_in = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT, v_x = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
             v_type = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT, v_dbl = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
             v_tag = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    v_x.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v_x.int_value = 3;
    KeyValue kv_x = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv_x.key = "x";
    kv_x.value = &v_x;
    KeyValue *list_items[1] = { &kv_x };
    Opentelemetry__Proto__Common__V1__KeyValueList kvl = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    kvl.n_values = 1;
    kvl.values = list_items;
    v_in.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    v_in.kvlist_value = &kvl;
    v_type.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v_type.string_value = "LLM";
    v_dbl.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v_dbl.double_value = 0.1;
    v_tag.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v_tag.string_value = "ana";
    KeyValue a1 = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT, a2 = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
             a3 = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT, a4 = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    a1.key = "mlflow.spanInputs";
    a1.value = &v_in;
    a2.key = "mlflow.spanType";
    a2.value = &v_type;
    a3.key = "score";
    a3.value = &v_dbl;
    a4.key = "mlflow.traceTag.owner";
    a4.value = &v_tag;
    KeyValue *root_attrs[4] = { &a1, &a2, &a3, &a4 };
    Opentelemetry__Proto__Trace__V1__Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    st.message = "boom";
    Opentelemetry__Proto__Trace__V1__Span root = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT,
                                          child = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    root.trace_id = (ProtobufCBinaryData){ 16, tid };
    root.span_id = (ProtobufCBinaryData){ 8, sid };
    root.name = "outer";
    root.start_time_unix_nano = 1796282577828398232ull;
    root.end_time_unix_nano = 1796282578491233829ull;
    root.n_attributes = 4;
    root.attributes = root_attrs;
    root.status = &st;
    child = root;
    child.span_id = (ProtobufCBinaryData){ 8, cid };
    child.parent_span_id = (ProtobufCBinaryData){ 8, sid };
    child.name = "inner";
    child.n_attributes = 1;
    child.status = NULL;
    Opentelemetry__Proto__Trace__V1__Span *spans[2] = { &root, &child };
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.n_spans = 2;
    ss.spans = spans;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = { &ss };
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = { &rs };
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    uint8_t *buf = arena_alloc(&A, *len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
    return buf;
}

static const char *ROOT_JSON =
    "{\"trace_id\":\"wBul7JvxfG4AuVkCgKxIYQ==\",\"span_id\":\"AQIDBAUGBwg=\",\"name\":\"outer\","
    "\"start_time_unix_nano\":1796282577828398232,\"end_time_unix_nano\":1796282578491233829,"
    "\"attributes\":[{\"key\":\"mlflow.spanInputs\",\"value\":{\"kvlist_value\":{\"values\":[{\"key\":\"x\","
    "\"value\":{\"int_value\":3}}]}}},{\"key\":\"mlflow.spanType\",\"value\":{\"string_value\":\"LLM\"}},"
    "{\"key\":\"score\",\"value\":{\"double_value\":0.1}},{\"key\":\"mlflow.traceTag.owner\",\"value\":"
    "{\"string_value\":\"ana\"}},{\"key\":\"mlflow.traceRequestId\",\"value\":{\"string_value\":"
    "\"tr-c01ba5ec9bf17c6e00b9590280ac4861\"}}],\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"boom\"}}";

static void test_decode(void)
{
    size_t len, n;
    uint8_t *buf = sample(&len);
    struct span_in *spans;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *er = otlp_unpack(&A, buf, len);
    CHECK(er != NULL);
    if (!er)
        return;
    CHECK_INT(otlp_collect(&A, er, &spans, &n), 0);
    CHECK_INT(n, 2);
    CHECK_STR(spans[0].row.trace_id, "tr-c01ba5ec9bf17c6e00b9590280ac4861");
    CHECK_STR(spans[0].row.span_id, "0102030405060708");
    CHECK(spans[0].row.parent_span_id == NULL);
    CHECK_STR(spans[1].row.parent_span_id, "0102030405060708");
    CHECK_STR(spans[0].row.span_type, "LLM");
    CHECK_STR(spans[0].row.status, "ERROR");
    CHECK_STR(spans[1].row.status, "UNSET");
    CHECK_INT(spans[0].row.start_ns, 1796282577828398232ll);
    CHECK_STR(spans[0].inputs_json, "{\"x\": 3}");
    CHECK_INT(spans[0].n_trace_tags, 1);
    CHECK_STR(spans[0].trace_tags[0].key, "owner");
    CHECK_STR(spans[0].row.content, ROOT_JSON);
    CHECK_INT(spans[1].n_trace_tags, 0);   /* only the root carries trace tags */
}

static void test_json(void)
{
    const char *body =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[]},\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":[{"
        "\"traceId\":\"c01ba5ec9bf17c6e00b9590280ac4861\",\"spanId\":\"0102030405060708\",\"name\":\"outer\","
        "\"kind\":1,\"startTimeUnixNano\":\"1796282577828398232\",\"endTimeUnixNano\":1796282578491233829,"
        "\"attributes\":[{\"key\":\"mlflow.spanInputs\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"x\","
        "\"value\":{\"intValue\":\"3\"}}]}}},{\"key\":\"mlflow.spanType\",\"value\":{\"stringValue\":\"LLM\"}},"
        "{\"key\":\"score\",\"value\":{\"doubleValue\":0.1}},{\"key\":\"mlflow.traceTag.owner\",\"value\":"
        "{\"stringValue\":\"ana\"}}],\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"boom\"}}]}]}]}";
    size_t n;
    struct span_in *spans;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *er = otlp_from_json(&A, body, strlen(body));
    CHECK(er != NULL);
    if (!er)
        return;
    CHECK_INT(otlp_collect(&A, er, &spans, &n), 0);
    CHECK_INT(n, 1);
    CHECK_STR(spans[0].row.content, ROOT_JSON);   /* protobuf and JSON give the same stored span */
    static const char *const bad[] = {
        "[]", "{\"resourceSpans\":{}}", "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"-1\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":1}]}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"status\":{\"code\":7}}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"a\",\"value\":{\"intValue\":\"1.5\"}}]}]}]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(otlp_from_json(&A, bad[i], strlen(bad[i])) == NULL);
    /* decodes, but a span without ids cannot become an MLflow span */
    const char *noid = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"x\"}]}]}]}";
    er = otlp_from_json(&A, noid, strlen(noid));
    CHECK(er != NULL && otlp_collect(&A, er, &spans, &n) == -1);
}

/* prefixes buf[0..*len) with a length-delimited field header (len < 2^14) */
static void wrap(uint8_t *buf, size_t *len, uint8_t tag)
{
    uint8_t hdr[3];
    size_t h = 0;
    hdr[h++] = tag;
    if (*len < 128) {
        hdr[h++] = (uint8_t)*len;
    } else {
        hdr[h++] = (uint8_t)(0x80 | (*len & 0x7f));
        hdr[h++] = (uint8_t)(*len >> 7);
    }
    memmove(buf + h, buf, *len);
    memcpy(buf, hdr, h);
    *len += h;
}

static void test_hostile_protobuf(void)
{
    /* an attribute value of 1,000 nested arrays: refused before protobuf-c
     * would recurse that deep */
    size_t cap = 16 << 10, len;
    uint8_t *deep = arena_alloc(&A, cap);
    uint8_t inner[] = { 0x0a, 0x01, 'x' };     /* AnyValue{string_value:"x"} */
    memcpy(deep, inner, sizeof inner);
    len = sizeof inner;
    for (int i = 0; i < 1000; i++) {
        wrap(deep, &len, 0x0a);                /* ArrayValue.values */
        wrap(deep, &len, 0x2a);                /* AnyValue.array_value */
    }
    wrap(deep, &len, 0x12);                    /* KeyValue.value */
    wrap(deep, &len, 0x4a);                    /* Span.attributes */
    wrap(deep, &len, 0x12);                    /* ScopeSpans.spans */
    wrap(deep, &len, 0x12);                    /* ResourceSpans.scope_spans */
    wrap(deep, &len, 0x0a);                    /* request.resource_spans */
    CHECK(len < cap);
    CHECK(otlp_unpack(&A, deep, len) == NULL);
    static const uint8_t junk[][6] = { {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x0a, 0x7f, 0, 0, 0, 0},
                                       {0x0b, 0, 0, 0, 0, 0}, {0x08, 0x80, 0x80, 0x80, 0x80, 0x80} };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        CHECK(otlp_unpack(&A, junk[i], sizeof junk[i]) == NULL);
}

/* splitmix64: deterministic mutations */
static uint64_t rng_state = 0x5eed;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_fuzz(void)
{
    size_t len;
    uint8_t *orig = sample(&len);
    long iterations = getenv("OTLP_FUZZ_ITERATIONS") ? atol(getenv("OTLP_FUZZ_ITERATIONS")) : 30000;
    long decoded = 0, converted = 0;
    uint8_t *buf = malloc(len + 64);
    for (long it = 0; it < iterations; it++) {
        struct arena a;
        arena_init(&a);
        size_t n = len;
        memcpy(buf, orig, len);
        int edits = 1 + (int)(rng() % 4);
        for (int e = 0; e < edits; e++) {
            switch (rng() % 4) {
            case 0: buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8)); break;
            case 1: buf[rng() % n] = (uint8_t)rng(); break;
            case 2: n = 1 + rng() % n; break;                           /* truncate */
            case 3: if (n < len + 60) { size_t at = rng() % n; memmove(buf + at + 1, buf + at, n - at);
                                        buf[at] = (uint8_t)rng(); n++; } break;
            }
        }
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *er = otlp_unpack(&a, buf, n);
        if (er) {
            decoded++;
            struct span_in *spans;
            size_t ns;
            if (otlp_collect(&a, er, &spans, &ns) == 0)
                converted++;
        }
        arena_free(&a);
    }
    free(buf);
    CHECK(decoded > 0 && decoded < iterations);   /* both paths exercised */
    CHECK(converted > 0);
    printf("fuzz: %ld mutated requests, %ld decoded, %ld converted\n", iterations, decoded, converted);
}

static void test_inflate(void)
{
    size_t len;
    uint8_t *orig = sample(&len);
    uLongf zlen = compressBound(len) + 32;
    uint8_t *z = arena_alloc(&A, zlen);
    z_stream s;
    memset(&s, 0, sizeof s);
    CHECK(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    s.next_in = orig;
    s.avail_in = (uInt)len;
    s.next_out = z;
    s.avail_out = (uInt)zlen;
    CHECK(deflate(&s, Z_FINISH) == Z_STREAM_END);
    size_t gz = zlen - s.avail_out;
    deflateEnd(&s);
    char *out;
    size_t out_len;
    CHECK_INT(otlp_inflate(&A, (const char *)z, gz, true, &out, &out_len), 0);
    CHECK(out_len == len && memcmp(out, orig, len) == 0);
    CHECK_INT(otlp_inflate(&A, (const char *)z, gz - 5, true, &out, &out_len), -1);    /* truncated */
    CHECK_INT(otlp_inflate(&A, (const char *)orig, len, true, &out, &out_len), -1);    /* not gzip */
    /* 40 MiB of zeros in a few KiB: over the limit, refused while inflating */
    size_t big = 40u << 20;
    uint8_t *zeros = calloc(1, big);
    uLongf blen = compressBound(big);
    uint8_t *bomb = malloc(blen);
    CHECK(compress(bomb, &blen, zeros, big) == Z_OK);
    struct arena a;
    arena_init(&a);
    CHECK_INT(otlp_inflate(&a, (const char *)bomb, blen, false, &out, &out_len), 1);
    arena_free(&a);
    free(zeros);
    free(bomb);
}

static const char *trace_filter(const char *f)
{
    struct sf_filter out;
    struct error err = {0};
    if (sf_parse_trace_filter(&A, f, &out, &err))
        return "ERR";
    struct strbuf sb;
    sb_init(&sb, &A, 64);
    static const char *const ents[] = {"attr", "metric", "param", "tag", "dataset", "meta", "span", "feedback",
                                       "expectation"};
    for (size_t i = 0; i < out.n; i++)
        sb_printf(&sb, "%s%s:%s:%d:%s", i ? " ; " : "", ents[out.clauses[i].entity], out.clauses[i].key,
                  (int)out.clauses[i].op,
                  out.clauses[i].str ? out.clauses[i].str : out.clauses[i].num_text ? out.clauses[i].num_text
                  : out.clauses[i].kind == SF_VAL_LIST ? "[list]" : "-");
    return sb.buf;
}

static void test_trace_filter(void)
{
    CHECK_STR(trace_filter("trace.status = 'OK'"), "attr:status:0:OK");
    CHECK_STR(trace_filter("attributes.timestamp > 10 AND tag.a = 'b'"), "attr:timestamp_ms:4:10 ; tag:a:0:b");
    CHECK_STR(trace_filter("name = 'foo'"), "tag:mlflow.traceName:0:foo");
    CHECK_STR(trace_filter("trace.name IN ('a', 'b')"), "tag:mlflow.traceName:8:[list]");
    CHECK_STR(trace_filter("run_id = 'r1'"), "meta:mlflow.sourceRun:0:r1");
    CHECK_STR(trace_filter("metadata.`mlflow.user` IS NOT NULL"), "meta:mlflow.user:11:-");
    CHECK_STR(trace_filter("span.type = 'LLM'"), "span:type:0:LLM");
    CHECK_STR(trace_filter("span.attributes.model LIKE 'gpt%'"), "span:attributes.model:6:gpt%");
    CHECK_STR(trace_filter("text ILIKE '%hello%'"), "span:content:7:%hello%");
    CHECK_STR(trace_filter("feedback.relevance >= 0.5"), "feedback:relevance:5:0.5");
    CHECK_STR(trace_filter("expectation.answer = 'yes'"), "expectation:answer:0:yes");
    CHECK_STR(trace_filter("trace.execution_time_ms <= 1e3"), "attr:execution_time_ms:3:1e3");
    static const char *const bad[] = {
        "trace.bogus = 'x'", "trace.timestamp_ms = 'x'", "tag.a > 'b'", "span.foo = 'x'", "span.content = 'x'",
        "span.attributes. = 'x'", "nope.x = 'y'", "a = 'b' OR c = 'd'", "trace.status IN 'x'", "feedback. = 1",
        "tag.a = 'b'; tag.c = 'd'", "trace.request_id IN ('a'", "((((", "trace.status = ",
        "trace.timestamp_ms IN (1, 2)", "tag.a IN ('x')",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *r = trace_filter(bad[i]);
        if (strcmp(r, "ERR"))
            fprintf(stderr, "accepted: %s -> %s\n", bad[i], r);
        CHECK_STR(r, "ERR");
    }
    struct sf_order_list ol;
    struct error err = {0};
    const char *ok[] = { "timestamp_ms DESC", "name", "tag.team ASC", "metadata.k" };
    CHECK_INT(sf_parse_trace_order_by(&A, ok, 4, &ol, &err), 0);
    CHECK_STR(ol.items[1].key, "mlflow.traceName");
    const char *dup[] = { "timestamp_ms", "timestamp DESC" };
    CHECK_INT(sf_parse_trace_order_by(&A, dup, 2, &ol, &err), -1);
    const char *span[] = { "span.name" };
    CHECK_INT(sf_parse_trace_order_by(&A, span, 1, &ol, &err), -1);
}

int main(void)
{
    json_init();
    arena_init(&A);
    test_decode();
    test_json();
    test_hostile_protobuf();
    test_inflate();
    test_trace_filter();
    test_fuzz();
    arena_free(&A);
    TEST_MAIN_END();
}
