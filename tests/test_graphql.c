/* GraphQL: the parser (api/graphql_parse.c) on the UI's real queries, the
 * language features, and hostile input; the executor's validation and
 * limits (api/graphql.c), which run before any resolver touches a store. */
#include "test.h"
#include "../api/graphql_parse.h"
#include "../api/handlers.h"
#include "../api/json.h"

static const char get_run_query[] =
    "query GetRun($data: MlflowGetRunInput!) @component(name: \"MLflow.ExperimentRunTracking\") {\n"
    "  mlflowGetRun(input: $data) {\n"
    "    apiError { helpUrl code message __typename }\n"
    "    run {\n"
    "      info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId __typename }\n"
    "      experiment { experimentId name tags { key value __typename } artifactLocation lifecycleStage\n"
    "                   lastUpdateTime __typename }\n"
    "      modelVersions { status version name source __typename }\n"
    "      data { metrics { key value step timestamp __typename } params { key value __typename }\n"
    "             tags { key value __typename } __typename }\n"
    "      inputs { datasetInputs { dataset { digest name profile schema source sourceType __typename }\n"
    "               tags { key value __typename } __typename } modelInputs { modelId __typename } __typename }\n"
    "      outputs { modelOutputs { modelId step __typename } __typename }\n"
    "      __typename\n"
    "    }\n"
    "    __typename\n"
    "  }\n"
    "}\n";

static struct gql_document *parse(struct arena *a, const char *src, char *msg, size_t n)
{
    struct gql_document *d = NULL;
    return gql_parse(a, src, strlen(src), &d, msg, n) ? NULL : d;
}

static void test_parse_ui_query(void)
{
    struct arena a;
    arena_init(&a);
    char msg[256];
    struct gql_document *d = parse(&a, get_run_query, msg, sizeof msg);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_INT(d->n_ops, 1);
    CHECK_STR(d->ops[0].kind, "query");
    CHECK_STR(d->ops[0].name, "GetRun");
    CHECK_INT(d->ops[0].n_vars, 1);
    CHECK_STR(d->ops[0].vars[0].name, "data");
    CHECK_STR(d->ops[0].vars[0].type, "MlflowGetRunInput!");
    CHECK(d->ops[0].vars[0].non_null);
    const struct gql_selection *root = &d->ops[0].set->items[0];
    CHECK_STR(root->name, "mlflowGetRun");
    CHECK_INT(root->n_args, 1);
    CHECK_STR(root->args[0].name, "input");
    CHECK_INT(root->args[0].value->kind, GV_VARIABLE);
    CHECK_STR(root->args[0].value->text, "data");
    CHECK_INT(root->set->n, 3);
    CHECK_STR(root->set->items[1].name, "run");
    CHECK_INT(root->set->items[1].set->n, 7);
    arena_free(&a);
}

static void test_parse_features(void)
{
    struct arena a;
    arena_init(&a);
    char msg[256];
    struct gql_document *d = parse(&a,
        "# a comment\n"
        "query Q($id: String = \"x\", $ids: [String!]!) {\n"
        "  r: mlflowGetRun(input: {runId: $id, n: -12, f: 1.5e3, b: true, z: null, e: ACTIVE_ONLY,\n"
        "                          l: [\"a\\u00e9\\n\", \"\"\"block \\\"\"\" text\"\"\"], o: {k: {k2: 1}}}) {\n"
        "    ...Frag @include(if: true)\n"
        "    ... on MlflowGetRunResponse { apiError { code } }\n"
        "    ... { __typename }\n"
        "  }\n"
        "}\n"
        "fragment Frag on MlflowGetRunResponse { run { info { runId } } }\n"
        "mutation M { testMutation(inputString: \"y\") { output } }\n", msg, sizeof msg);
    CHECK(d != NULL);
    if (!d) {
        fprintf(stderr, "%s\n", msg);
        return;
    }
    CHECK_INT(d->n_ops, 2);
    CHECK_INT(d->n_frags, 1);
    CHECK_STR(d->frags[0].name, "Frag");
    CHECK_STR(d->frags[0].type_condition, "MlflowGetRunResponse");
    CHECK_STR(d->ops[0].vars[0].default_value->text, "x");
    CHECK_STR(d->ops[0].vars[1].type, "[String!]!");
    const struct gql_selection *r = &d->ops[0].set->items[0];
    CHECK_STR(r->alias, "r");
    CHECK_STR(r->name, "mlflowGetRun");
    const struct gql_value *in = r->args[0].value;
    CHECK_INT(in->kind, GV_OBJECT);
    CHECK_INT(in->n, 8);
    CHECK_STR(in->keys[1], "n");
    CHECK_INT(in->items[1]->kind, GV_INT);
    CHECK_STR(in->items[1]->text, "-12");
    CHECK_INT(in->items[2]->kind, GV_FLOAT);
    CHECK(in->items[3]->kind == GV_BOOL && in->items[3]->boolean);
    CHECK_INT(in->items[4]->kind, GV_NULL);
    CHECK_INT(in->items[5]->kind, GV_ENUM);
    CHECK_STR(in->items[6]->items[0]->text, "a\xc3\xa9\n");
    CHECK_STR(in->items[6]->items[1]->text, "block \"\"\" text");
    CHECK_INT(r->set->n, 3);
    CHECK_INT(r->set->items[0].kind, GS_SPREAD);
    CHECK_INT(r->set->items[0].n_directives, 1);
    CHECK_INT(r->set->items[1].kind, GS_INLINE);
    CHECK_STR(r->set->items[1].type_condition, "MlflowGetRunResponse");
    CHECK_INT(r->set->items[2].kind, GS_INLINE);
    CHECK(r->set->items[2].type_condition == NULL);
    CHECK_STR(d->ops[1].kind, "mutation");
    arena_free(&a);
}

static const char *const bad_queries[] = {
    "", "   ", "{", "}", "{ }", "query", "query {", "{ a(", "{ a(x:) }", "{ a(x: 1 }", "{ a { b }",
    "{ a: }", "{ ... }", "{ ...on }", "fragment on on T { a }", "fragment F { a }", "{ a(x: $) }",
    "query ($x) { a }", "query ($x: ) { a }", "{ a(x: \"unterminated) }", "{ a(x: \"\\q\") }",
    "{ a(x: \"\\u12\") }", "{ a(x: \"\\ud800\") }", "{ a(x: \"\\u0000\") }", "{ a(x: 01) }", "{ a(x: 1.) }",
    "{ a(x: 1e) }", "{ a(x: 1x) }", "{ a(x: .5) }", "{ a } extra", "type Q { a: String }", "{ a(x: [1, 2) }",
    "{ a(x: {k 1}) }", "{ a(x: \"\n\") }", "{ a ~ }", "{ a(x: \"\"\"open) }", "query Q($a: [Int) { a }",
    "{ a(x: {k: 1) }", "\x01", "{ \xff }", "query Q($a: Int = $b) { a }", "{ a() }",
};

static void test_parse_errors(void)
{
    struct arena a;
    arena_init(&a);
    for (size_t i = 0; i < sizeof bad_queries / sizeof *bad_queries; i++) {
        char msg[256];
        struct gql_document *d = parse(&a, bad_queries[i], msg, sizeof msg);
        if (d)
            fprintf(stderr, "accepted: %s\n", bad_queries[i]);
        CHECK(d == NULL);
        CHECK(!strncmp(msg, "Syntax Error: ", 14));
    }
    /* an embedded NUL, and the size limit */
    char msg[256];
    struct gql_document *d;
    CHECK(gql_parse(&a, "{ a\0 }", 6, &d, msg, sizeof msg) == -1);
    size_t big = GQL_MAX_SOURCE + 1;
    char *src = malloc(big + 1);
    memset(src, ' ', big);
    memcpy(src, "{ a }", 5);
    src[big] = '\0';
    CHECK(gql_parse(&a, src, big, &d, msg, sizeof msg) == -1);
    CHECK(strstr(msg, "limit") != NULL);
    free(src);
    arena_free(&a);
}

/* deep nesting and node floods fail fast with a message, never a stack overflow */
static void test_parse_hostile(void)
{
    struct arena a;
    arena_init(&a);
    char msg[256];
    struct strbuf sb;
    sb_init(&sb, &a, 1 << 16);
    for (int i = 0; i < 5000; i++)
        sb_puts(&sb, "{ a ");
    CHECK(parse(&a, sb.buf, msg, sizeof msg) == NULL);
    CHECK(strstr(msg, "nesting") != NULL);

    sb_init(&sb, &a, 1 << 16);
    sb_puts(&sb, "{ a(x: ");
    for (int i = 0; i < 20000; i++)
        sb_putc(&sb, '[');
    CHECK(parse(&a, sb.buf, msg, sizeof msg) == NULL);
    CHECK(strstr(msg, "nesting") != NULL);

    sb_init(&sb, &a, 1 << 16);
    sb_putc(&sb, '{');
    for (int i = 0; i < 25000 && sb.len < GQL_MAX_SOURCE - 8; i++)
        sb_puts(&sb, " a");
    sb_putc(&sb, '}');
    CHECK(parse(&a, sb.buf, msg, sizeof msg) == NULL);
    CHECK(strstr(msg, "nodes") != NULL);
    arena_free(&a);
}

/* ---- the executor, on requests that never reach a store ---- */

static int run_graphql(struct arena *a, const char *body, const char **out, struct error *err)
{
    struct request req = { .arena = a, .method = "POST", .path = "/graphql" };
    req.input = json_parse(a, body, strlen(body), err);
    if (!req.input)
        return -1;
    struct response resp = { .status = 200, .content_type = "application/json" };
    sb_init(&resp.body, a, 256);
    int rc = api_graphql(&req, &resp, err);
    *out = resp.body.buf;
    return rc;
}

static void expect_reply(const char *body, const char *want)
{
    struct arena a;
    arena_init(&a);
    struct error err = { 0 };
    const char *out = NULL;
    int rc = run_graphql(&a, body, &out, &err);
    CHECK_INT(rc, 0);
    if (rc == 0 && !strstr(out, want))
        fprintf(stderr, "reply %s\n  lacks %s\n", out, want);
    CHECK(rc == 0 && strstr(out, want) != NULL);
    arena_free(&a);
}

static void expect_400(const char *body, const char *want)
{
    struct arena a;
    arena_init(&a);
    struct error err = { 0 };
    const char *out = NULL;
    CHECK_INT(run_graphql(&a, body, &out, &err), -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    if (!strstr(err.message, want))
        fprintf(stderr, "message %s\n  lacks %s\n", err.message, want);
    CHECK(strstr(err.message, want) != NULL);
    arena_free(&a);
}

static void test_execute(void)
{
    /* resolvers that need no store: the echo fields, __typename, aliases, fragments, variables */
    expect_reply("{\"query\": \"{ test(inputString: \\\"hi\\\") { output __typename } }\"}",
                 "{\"data\":{\"test\":{\"output\":\"hi\",\"__typename\":\"Test\"}},\"errors\":null}");
    expect_reply("{\"query\": \"query Q($s: String) { a: test(inputString: $s) { ...F } __typename }"
                 " fragment F on Test { o: output }\", \"variables\": {\"s\": \"v\"}}",
                 "{\"data\":{\"a\":{\"o\":\"v\"},\"__typename\":\"Query\"},\"errors\":null}");
    expect_reply("{\"query\": \"mutation { testMutation(inputString: \\\"m\\\") { output } }\"}",
                 "{\"data\":{\"testMutation\":{\"output\":\"m\"}},\"errors\":null}");
    expect_reply("{\"query\": \"query A { test(inputString: \\\"x\\\") { output } } query B { test(inputString:"
                 " \\\"y\\\") { output } }\", \"operationName\": \"B\"}", "\"output\":\"y\"");
    expect_reply("{\"query\": \"{ test(inputString: \\\"x\\\") { output @skip(if: true) __typename } }\"}",
                 "{\"test\":{\"__typename\":\"Test\"}}");
    /* validation: data null, the message in errors, HTTP 200 (as MLflow) */
    expect_reply("{\"query\": \"{ bogus }\"}",
                 "{\"data\":null,\"errors\":[\"Cannot query field 'bogus' on type 'Query'.\"]}");
    expect_reply("{\"query\": \"{ mlflowGetRun(input: {runId: \\\"x\\\"}) { run { nofield } } }\"}",
                 "Cannot query field 'nofield' on type 'MlflowRunExtension'.");
    expect_reply("{\"query\": \"{ mlflowGetRun(input: {runId: \\\"x\\\"}) { run { info } } }\"}",
                 "must have a selection of subfields");
    expect_reply("{\"query\": \"{ mlflowGetRun(input: {runId: \\\"x\\\"}) { run { info { runId { x } } } } }\"}",
                 "must not have a selection");
    expect_reply("{\"query\": \"{ __schema { types { name } } }\"}", "Introspection");
    expect_reply("{\"query\": \"query A { test { output } } query B { test { output } }\"}",
                 "Must provide operation name if query contains multiple operations.");
    expect_reply("{\"query\": \"query A { test { output } }\", \"operationName\": \"Z\"}",
                 "Unknown operation named 'Z'.");
    expect_reply("{\"query\": \"query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) { run { info { runId } } } }\"}",
                 "Variable '$d' of required type 'MlflowGetRunInput!' was not provided.");
    expect_reply("{\"query\": \"{ ...F } fragment F on Query { ...F }\"}", "within itself");
    expect_reply("{\"query\": \"{ ...G }\"}", "Unknown fragment 'G'.");
    expect_reply("{\"query\": \"subscription { test { output } }\"}", "Subscriptions are not supported.");
    /* MLflow's check_query_safety limits */
    expect_reply("{\"query\": \"{ mlflowGetRun(input: {}) { run { data { metrics { key } } inputs { datasetInputs {"
                 " dataset { name } tags { key } } } experiment { tags { key } } } } }\"}", "\"errors\":[");
    expect_reply("{\"query\": \"{ a0: test { output } a1: test { output } a2: test { output } a3: test { output }"
                 " a4: test { output } a5: test { output } a6: test { output } a7: test { output } a8: test { output }"
                 " a9: test { output } a10: test { output } }\"}", "at most 10 root fields");
    expect_reply("{\"query\": \"{ test { a0: output a1: output a2: output a3: output a4: output a5: output"
                 " a6: output a7: output a8: output a9: output a10: output } }\"}", "at most 10 aliases");
    /* an exponential fragment fan-out stops at the selection limit */
    expect_reply("{\"query\": \"{ test { ...F1 } } fragment F1 on Test { ...F2 ...F2 } fragment F2 on Test"
                 " { ...F3 ...F3 } fragment F3 on Test { ...F4 ...F4 } fragment F4 on Test { ...F5 ...F5 }"
                 " fragment F5 on Test { ...F6 ...F6 } fragment F6 on Test { ...F7 ...F7 } fragment F7 on Test"
                 " { ...F8 ...F8 } fragment F8 on Test { ...F9 ...F9 } fragment F9 on Test { ...F10 ...F10 }"
                 " fragment F10 on Test { ...F11 ...F11 } fragment F11 on Test { output output }\"}",
                 "Query exceeds maximum total selections of 1000");
    /* malformed requests: 400 */
    expect_400("{}", "must include a 'query'");
    expect_400("{\"query\": 5}", "must include a 'query'");
    expect_400("{\"query\": \"{ a\"}", "Syntax Error");
    expect_400("{\"query\": \"{ a }\", \"variables\": [1]}", "must be an object");
    expect_400("{\"query\": \"{ a }\", \"operationName\": 3}", "must be a string");
}

/* input objects: unknown fields refused before any store call */
static void test_inputs(void)
{
    struct arena a;
    arena_init(&a);
    struct error err = { 0 };
    const char *out;
    CHECK_INT(run_graphql(&a, "{\"query\": \"{ mlflowGetRun(input: {bogus: 1}) { run { info { runId } } } }\"}",
                          &out, &err), 0);
    CHECK(strstr(out, "Field 'bogus' is not defined by type 'MlflowGetRunInput'.") != NULL);
    CHECK(strstr(out, "\"mlflowGetRun\":null") != NULL);
    CHECK_INT(run_graphql(&a, "{\"query\": \"query Q($d: MlflowGetRunInput) { mlflowGetRun(input: $d) { run {"
                          " info { runId } } } }\", \"variables\": {\"d\": \"notanobject\"}}", &out, &err), 0);
    CHECK(strstr(out, "to be an object") != NULL);
    arena_free(&a);
}

int main(void)
{
    json_init();
    test_parse_ui_query();
    test_parse_features();
    test_parse_errors();
    test_parse_hostile();
    test_execute();
    test_inputs();
    TEST_MAIN_END();
}
