/* api/search_filter.c: MLflow filter and order_by grammars. Expected
 * results were checked against mlflow 3.17's SearchUtils. */
#include "test.h"
#include "../api/search_filter.h"
#include <stdint.h>

static struct arena A;

static const char *const ent_names[] = {"attribute", "metric", "param", "tag", "dataset"};
static const char *const op_names[] = {"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN",
                                       "NOT IN", "IS NULL", "IS NOT NULL"};

/* "entity key op value ; …" — a compact rendering to compare against. */
static const char *render(const struct sf_filter *f)
{
    struct strbuf sb;
    sb_init(&sb, &A, 128);
    for (size_t i = 0; i < f->n; i++) {
        const struct sf_clause *c = &f->clauses[i];
        sb_printf(&sb, "%s%s %s %s", i ? " ; " : "", ent_names[c->entity], c->key,
                  op_names[c->op]);
        if (c->kind == SF_VAL_STRING)
            sb_printf(&sb, " '%s'", c->str);
        else if (c->kind == SF_VAL_NUMBER)
            sb_printf(&sb, " #%s", c->num_text);
        else if (c->kind == SF_VAL_LIST) {
            sb_puts(&sb, " [");
            for (size_t j = 0; j < c->list_len; j++)
                sb_printf(&sb, "%s%s", j ? "|" : "", c->list[j]);
            sb_puts(&sb, "]");
        }
    }
    return sb.buf;
}

static const char *run_filter(const char *filter)
{
    struct sf_filter f;
    struct error err = {0};
    if (sf_parse_run_filter(&A, filter, &f, &err))
        return arena_printf(&A, "ERR %d %s", err.code, err.message);
    return render(&f);
}

static const char *exp_filter(const char *filter)
{
    struct sf_filter f;
    struct error err = {0};
    if (sf_parse_experiment_filter(&A, filter, &f, &err))
        return arena_printf(&A, "ERR %d %s", err.code, err.message);
    return render(&f);
}

static const struct { const char *in, *out; } run_ok[] = {
    {"", ""},
    {"metrics.acc > 0.9", "metric acc > #0.9"},
    {"metric.acc>=1", "metric acc >= #1"},
    {"metrics.acc != -1", "metric acc != #-1"},
    {"metrics.loss < 1e-3", "metric loss < #1e-3"},
    {"metrics.loss <= .5", "metric loss <= #.5"},
    {"metrics.loss = 1.", "metric loss = #1."},
    {"metrics.`my metric` = 2", "metric my metric = #2"},
    {"metrics.\"my metric\" = 2", "metric my metric = #2"},
    {"metrics.a.b.c > 0", "metric a.b.c > #0"},
    {"metric.`a.b` >= 2", "metric a.b >= #2"},
    {"metrics.1a > 1", "metric 1a > #1"},
    {"metrics. = -.5", "metric  = #-.5"},
    {"params.lr = '0.1'", "param lr = '0.1'"},
    {"param.lr = \"0.1\"", "param lr = '0.1'"},
    {"parameter.lr != 'x'", "param lr != 'x'"},
    {"parameters.lr LIKE '%1'", "param lr LIKE '%1'"},
    {"params.lr like '%1'", "param lr LIKE '%1'"},
    {"params.lr ILIKE '%A'", "param lr ILIKE '%A'"},
    {"params.lr IS NULL", "param lr IS NULL"},
    {"params.lr is not null", "param lr IS NOT NULL"},
    {"params.select = 'a'", "param select = 'a'"},
    {"params.`a-b` = 'x'", "param a-b = 'x'"},
    {"params.\"a b\" = 'x'", "param a b = 'x'"},
    {"params.x = 'it''s'", "param x = 'it''s'"},
    {"params.x = 'a\\'b'", "param x = 'a\\'b'"},
    {"params.x = ''", "param x = ''"},
    {"params.x = 'a AND b'", "param x = 'a AND b'"},
    {"params.x = 'é'", "param x = 'é'"},
    {"tags.t = 'x'", "tag t = 'x'"},
    {"tag.t != 'x'", "tag t != 'x'"},
    {"tags.mlflow.source.type = 'LOCAL'", "tag mlflow.source.type = 'LOCAL'"},
    {"tags.`mlflow.runName` = 'r'", "tag mlflow.runName = 'r'"},
    {"tags.t IS NOT NULL", "tag t IS NOT NULL"},
    {"tags.t IS NULL AND params.p IS NULL", "tag t IS NULL ; param p IS NULL"},
    {"attributes.run_id = 'abc'", "attribute run_id = 'abc'"},
    {"attribute.run_id != 'abc'", "attribute run_id != 'abc'"},
    {"attr.run_id LIKE '%a'", "attribute run_id LIKE '%a'"},
    {"run.status ILIKE 'r%'", "attribute status ILIKE 'r%'"},
    {"run_id IN ('a', 'b')", "attribute run_id IN [a|b]"},
    {"run_id in ('a',)", "attribute run_id IN [a]"},
    {"run_id NOT IN ('a' 'b')", "attribute run_id NOT IN [ab]"},
    {"run_id not in (\"a\", 'b')", "attribute run_id NOT IN [a|b]"},
    {"run_id IN ('a', 'B', 'cD')", "attribute run_id IN [a]"},
    {"run_id IN ('A')", "attribute run_id IN []"},
    {"run_id IN ('a\\'b')", "attribute run_id IN [a'b]"},
    {"run_id IN ('a)b')", "attribute run_id IN [a)b]"},
    {"status = 'RUNNING'", "attribute status = 'RUNNING'"},
    {"user_id = 'me'", "attribute user_id = 'me'"},
    {"artifact_uri LIKE 's3://%'", "attribute artifact_uri LIKE 's3://%'"},
    {"run_name = 'x'", "attribute run_name = 'x'"},
    {"`run name` = 'x'", "attribute run_name = 'x'"},
    {"`Run name` = 'x'", "attribute run_name = 'x'"},
    {"\"Run Name\" LIKE 'x%'", "attribute run_name LIKE 'x%'"},
    {"attributes.`run name` = 'x'", "attribute run_name = 'x'"},
    {"start_time > 1", "attribute start_time > #1"},
    {"attributes.start_time >= 1.5", "attribute start_time >= #1.5"},
    {"end_time != 5", "attribute end_time != #5"},
    {"created > 1000", "attribute start_time > #1000"},
    {"Created <= 1000", "attribute start_time <= #1000"},
    {"datasets.name = 'd'", "dataset name = 'd'"},
    {"dataset.digest != 'd'", "dataset digest != 'd'"},
    {"datasets.context IN ('train', 'eval')", "dataset context IN [train|eval]"},
    {"datasets.name NOT IN ('a')", "dataset name NOT IN [a]"},
    {"datasets.name ILIKE '%x'", "dataset name ILIKE '%x'"},
    {"metrics.a > 1 and params.b = 'x' AND tags.c != 'y'",
     "metric a > #1 ; param b = 'x' ; tag c != 'y'"},
    {"metrics.x>1 AND metrics.y<2", "metric x > #1 ; metric y < #2"},
    {"  params.x='a'  ", "param x = 'a'"},
    {"params.x\t=\n'a'", "param x = 'a'"},
    /* MLflow ignores stray ANDs, even a missing one */
    {"metrics.a > 1 AND", "metric a > #1"},
    {"AND metrics.a > 1", "metric a > #1"},
    {"metrics.a > 1 AND AND metrics.b > 2", "metric a > #1 ; metric b > #2"},
    {"metrics.a > 1 metrics.b > 2", "metric a > #1 ; metric b > #2"},
    {"AND", ""},
};

static const char *const run_bad[] = {
    "name = 'x'", "experiment_id = '1'", "lifecycle_stage = 'active'", "foo.bar = 'x'",
    "run name = 'x'", "params.x = abc", "params.x = `abc`", "params.x = 5", "tags.x = 5",
    "status = 5", "metrics.x < 'NaN'", "metrics.x > 1e+5", "metrics.x > 0x10", "metrics.x > -",
    "metrics.x > 1.5.3", "metrics.x>1and metrics.y<2", "metrics.x IS NULL", "run_id IS NULL",
    "datasets.name IS NULL", "params.x NOT LIKE 'a'", "params.x <> 'a'", "params.x == 'a'",
    "params.x ~ 'a'", "params.x < 'a'", "params.x IN ('a')", "metrics.x LIKE 1",
    "metrics.x IN (1)", "status IN ('a')", "run_name IN ('a')", "status < 'a'",
    "start_time LIKE 1", "start_time = '5'", "end_time IN ('1')", "dataset.digest < 'a'",
    "datasets.foo = 'a'", "datasets.name = 5", "params.x = 'a' OR params.y = 'b'",
    "(params.x = 'a')", "params.x = 'a'; params.y = 'b'", "params.x = 'a';", "params.x =",
    "params.x", "= 'a'", "params.x IS", "params.x IS NOT", "params.x IS 'a'", "params.x NOT 'a'",
    "run_id IN ()", "run_id IN (1, 2)", "run_id IN ('a', 1)", "run_id IN ('a'", "run_id IN 'a'",
    "run_id = ('a')", "run_id IN ('a') extra", "params.x = 'unterminated",
    "params.x = \"unterminated", "tags.`unterminated = 'x'", "metrics.x > 1 OR",
    "metrics.x > 1 -- comment", "'metrics.x' > 1", "metrics.a-b >= 2", "metrics.a b >= 2",
    "metrics.a$b > 1", "metrics.1 > 1", "NOT params.x = 'a'", "params.x = 'a' AND NOT",
    "OR", ";", "(", ")", "'", "\"", "`", "*", "$1 = 'a'",
    "metrics.a > 1 AND (metrics.b > 2)", "metrics.a BETWEEN 1 AND 2", "params.x = NULL",
    "tags.x IS NULL NULL", "metrics.x > 1e400x",
};

static const struct { const char *in, *out; } exp_ok[] = {
    {"", ""},
    {"name = 'x'", "attribute name = 'x'"},
    {"attribute.name LIKE 'x%'", "attribute name LIKE 'x%'"},
    {"name ILIKE '%X'", "attribute name ILIKE '%X'"},
    {"`name` != 'x'", "attribute name != 'x'"},
    {"\"name\" = \"x\"", "attribute name = 'x'"},
    {"creation_time > 1", "attribute creation_time > #1"},
    {"last_update_time <= -5", "attribute last_update_time <= #-5"},
    {"experiment_id = '12'", "attribute experiment_id = '12'"},
    {"experiment_id != ' +7 '", "attribute experiment_id != '7'"},
    {"experiment_id IN ('1', '2')", "attribute experiment_id IN [1|2]"},
    {"experiment_id not in ('1_0')", "attribute experiment_id NOT IN [10]"},
    {"tags.t = 'x'", "tag t = 'x'"},
    {"tag.`a b` LIKE 'x'", "tag a b LIKE 'x'"},
    {"tags.\"x\" != 'y'", "tag x != 'y'"},
    {"tags.a.b IS NULL", "tag a.b IS NULL"},
    {"tags.a IS NOT NULL and name = 'n'", "tag a IS NOT NULL ; attribute name = 'n'"},
};

static const char *const exp_bad[] = {
    "attributes.name = 'x'", "attr.name = 'x'", "metrics.a > 1", "params.a = 'x'",
    "`tag`.a = 'x'", "lifecycle_stage = 'active'", "foo = 'x'", "name IS NULL",
    "creation_time IS NULL", "name like 'x'", "tags.t like 'x'", "name < 'x'",
    "name IN ('x')", "creation_time = '1'", "creation_time > 1.5", "creation_time > 1e3",
    "creation_time LIKE 1", "experiment_id = 1", "experiment_id = 'abc'",
    "experiment_id = '99999999999999999999'", "experiment_id < '1'", "experiment_id LIKE '1'",
    "experiment_id in ('1')", "experiment_id IN ('1', 'x')", "experiment_id = ('1', '2')",
    "tags.t < 'x'", "tags.t = 5", "tags.t IN ('a')", "name = 'a' OR name = 'b'",
};

static const struct { const char *in, *out; } run_order_ok[] = {
    {"metrics.acc", "metric acc ASC"},
    {"metrics.acc DESC", "metric acc DESC"},
    {"metrics.acc desc", "metric acc DESC"},
    {"metrics.acc Asc", "metric acc ASC"},
    {"metrics.acc\tDESC", "metric acc DESC"},
    {"metrics.`my metric` DESC", "metric my metric DESC"},
    {"metrics.\"my metric\" ASC", "metric my metric ASC"},
    {"metrics.`a`.b DESC", "metric a.b DESC"},
    {"tags.`a`.b", "tag `a`.b ASC"},
    {"`metrics`.a DESC", "metric a DESC"},
    {"metric.a.b", "metric a.b ASC"},
    {"params.p", "param p ASC"},
    {"tags.`mlflow.runName` DESC", "tag mlflow.runName DESC"},
    {"start_time", "attribute start_time ASC"},
    {"created DESC", "attribute start_time DESC"},
    {"Created", "attribute start_time ASC"},
    {"run_name", "attribute run_name ASC"},
    {"attributes.run_id ASC", "attribute run_id ASC"},
    {"status", "attribute status ASC"},
    {"user_id", "attribute user_id ASC"},
    {"artifact_uri", "attribute artifact_uri ASC"},
    {"end_time DESC", "attribute end_time DESC"},
};

static const char *const run_order_bad[] = {
    "", " metrics.a", "metrics.a ", "metrics.a DESC ", "tags.t foo", "tags.t DESC extra",
    "`run name`", "experiment_id", "datasets.name", "foo.bar", "metrics.a DESC NULLS LAST",
    "timestamp", "metrics.`a b", "metrics.a,metrics.b", "(metrics.a)", "metrics.a;", "name",
    "'metrics.a'", "DESC",
};

static const char *order_render(const struct sf_order_list *ol)
{
    struct strbuf sb;
    sb_init(&sb, &A, 64);
    for (size_t i = 0; i < ol->n; i++)
        sb_printf(&sb, "%s%s %s %s", i ? " ; " : "", ent_names[ol->items[i].entity],
                  ol->items[i].key, ol->items[i].ascending ? "ASC" : "DESC");
    return sb.buf;
}

static void test_orders(void)
{
    for (size_t i = 0; i < sizeof run_order_ok / sizeof *run_order_ok; i++) {
        struct sf_order_list ol;
        struct error err = {0};
        const char *one[1] = {run_order_ok[i].in};
        int rc = sf_parse_run_order_by(&A, one, 1, &ol, &err);
        CHECK_STR(rc ? err.message : order_render(&ol), run_order_ok[i].out);
    }
    for (size_t i = 0; i < sizeof run_order_bad / sizeof *run_order_bad; i++) {
        struct sf_order_list ol;
        struct error err = {0};
        const char *one[1] = {run_order_bad[i]};
        int rc = sf_parse_run_order_by(&A, one, 1, &ol, &err);
        if (rc == 0)
            fprintf(stderr, "accepted order_by: %s\n", run_order_bad[i]);
        CHECK(rc == -1 && err.code == ERR_INVALID_PARAMETER_VALUE);
    }
    /* several at once; duplicates (after aliasing) are refused */
    const char *many[] = {"metrics.a DESC", "params.b", "start_time ASC"};
    struct sf_order_list ol;
    struct error err = {0};
    CHECK(sf_parse_run_order_by(&A, many, 3, &ol, &err) == 0);
    CHECK_STR(order_render(&ol), "metric a DESC ; param b ASC ; attribute start_time ASC");
    const char *dup1[] = {"created", "start_time DESC"};
    CHECK(sf_parse_run_order_by(&A, dup1, 2, &ol, &err) == -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    CHECK(strstr(err.message, "duplicate fields") != NULL);
    const char *dup2[] = {"metrics.a", "metric.a DESC"};
    CHECK(sf_parse_run_order_by(&A, dup2, 2, &ol, &err) == -1);
    const char *nodup[] = {"metrics.a", "params.a", "tags.a"};
    CHECK(sf_parse_run_order_by(&A, nodup, 3, &ol, &err) == 0);
    const char *nul[] = {NULL};
    CHECK(sf_parse_run_order_by(&A, nul, 1, &ol, &err) == -1);
    CHECK(sf_parse_run_order_by(&A, NULL, 0, &ol, &err) == 0 && ol.n == 0);

    /* experiments: attributes only, no duplicate check (MLflow has none) */
    const char *eok[] = {"name", "experiment_id DESC", "attribute.creation_time ASC",
                         "last_update_time desc", "name DESC"};
    CHECK(sf_parse_experiment_order_by(&A, eok, 5, &ol, &err) == 0);
    CHECK_STR(order_render(&ol), "attribute name ASC ; attribute experiment_id DESC ; "
              "attribute creation_time ASC ; attribute last_update_time DESC ; "
              "attribute name DESC");
    const char *const ebad[] = {"tags.x", "attributes.name", "run_id", "metrics.a DESC",
                                "name sideways", "", "foo"};
    for (size_t i = 0; i < sizeof ebad / sizeof *ebad; i++) {
        const char *one[1] = {ebad[i]};
        err.code = ERR_NONE;
        CHECK(sf_parse_experiment_order_by(&A, one, 1, &ol, &err) == -1);
        CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    }
}

static void test_messages(void)
{
    /* a few of MLflow's messages, word for word */
    CHECK_STR(run_filter("params.x = abc"),
              "ERR 1 Parameter value is either not quoted or unidentified quote types used for "
              "string value abc. Use either single or double quotes.");
    CHECK_STR(run_filter("metrics.x < 'NaN'"),
              "ERR 1 Expected numeric value type for metric. Found 'NaN'");
    CHECK_STR(run_filter("tags.x = 5"),
              "ERR 1 Expected a quoted string value for tag (e.g. 'my-value'). Got value 5");
    CHECK_STR(run_filter("metrics.x IS NULL"),
              "ERR 1 IS NULL / IS NOT NULL is only supported for tags and params, not for "
              "'metric' 'x'");
    CHECK_STR(run_filter("foo.bar = 'x'"),
              "ERR 1 Invalid entity type 'foo'. Valid values are ['metric', 'parameter', "
              "'tag', 'attribute', 'dataset']");
    CHECK_STR(run_filter("params.x = 'a' OR params.y = 'b'"),
              "ERR 1 Invalid clause(s) in filter string: 'OR'");
    CHECK_STR(run_filter("status IN ('a')"),
              "ERR 1 Only ['run_id'] attributes support comparison with a list of quoted "
              "string values.");
    CHECK_STR(run_filter("run_id IN ()"),
              "ERR 1 While parsing a list in the query, expected a non-empty list of string "
              "values, but got empty list");
    CHECK_STR(exp_filter("experiment_id = 'abc'"),
              "ERR 1 Invalid experiment ID 'abc'. Experiment ID must be a valid integer.");
    CHECK_STR(exp_filter("metrics.a > 1"),
              "ERR 1 Invalid entity type 'metrics'. Valid entity types are ('attribute', "
              "'tag', 'tags')");
    CHECK_STR(exp_filter("creation_time > 1.5"),
              "ERR 1 Invalid value for numeric attribute 'creation_time': '1.5'");
}

static void test_values(void)
{
    struct sf_filter f;
    struct error err = {0};
    CHECK(sf_parse_run_filter(&A, "metrics.a > -2.5e3", &f, &err) == 0);
    CHECK(f.n == 1 && f.clauses[0].kind == SF_VAL_NUMBER && f.clauses[0].num == -2500.0);
    CHECK(sf_parse_run_filter(&A, NULL, &f, &err) == 0 && f.n == 0);
    CHECK(sf_parse_experiment_filter(&A, NULL, &f, &err) == 0 && f.n == 0);
    CHECK(sf_parse_experiment_filter(&A, "experiment_id = '-9223372036854775808'", &f, &err) == 0);
    CHECK_STR(f.clauses[0].str, "-9223372036854775808");
    CHECK(sf_parse_experiment_filter(&A, "experiment_id = '9223372036854775808'", &f, &err) == -1);
}

/* Random bytes, grammar fragments glued at random, and huge inputs: every
 * answer is 0 or INVALID_PARAMETER_VALUE, never a crash (ASan/UBSan watch). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fuzz_one(const char *s)
{
    struct sf_filter f;
    struct sf_order_list ol;
    struct error err = {0};
    int ok = 1;
    if (sf_parse_run_filter(&A, s, &f, &err) && err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    err.code = ERR_NONE;
    if (sf_parse_experiment_filter(&A, s, &f, &err) && err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    const char *one[1] = {s};
    err.code = ERR_NONE;
    if (sf_parse_run_order_by(&A, one, 1, &ol, &err) && err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    err.code = ERR_NONE;
    if (sf_parse_experiment_order_by(&A, one, 1, &ol, &err) &&
        err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    err.code = ERR_NONE;   /* issue 21 */
    if (sf_parse_eval_dataset_filter(&A, s, &f, &err) && err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    err.code = ERR_NONE;
    if (sf_parse_eval_dataset_order_by(&A, one, 1, &ol, &err) && err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    err.code = ERR_NONE;
    if (sf_parse_issue_filter(&A, s, &f, &err) && err.code != ERR_INVALID_PARAMETER_VALUE)
        ok = 0;
    err.code = ERR_NONE;   /* issue 12 */
    if (sf_parse_trace_metric_filter(&A, s, &f, &err) ? err.code != ERR_INVALID_PARAMETER_VALUE : f.n != 1)
        ok = 0;
    if (!ok)
        fprintf(stderr, "bad error code for fuzz input\n");
    t_failed += !ok;
}

static void test_fuzz(void)
{
    static const char *const frags[] = {
        "metrics.", "params.", "tags.", "attributes.", "datasets.", "run_id", "status", "name",
        "`", "\"", "'", "(", ")", ",", " ", "AND", "and", "OR", "NOT", "IN", "IS", "NULL",
        "LIKE", "ILIKE", "=", "!=", "<", ">=", "1", "-1.5e3", ".5", "'a'", "\"b\"", "`c`",
        "\\", "''", ";", "--", "é", "\t", "x", "created", "experiment_id", "creation_time",
        "DESC", "asc", "tags.`a b`", "('a', 'b')", "()", "0x1", "$", "\xff", "\x01",
    };
    size_t nfrag = sizeof frags / sizeof *frags;
    char buf[512];
    int rounds = 0;
    for (int i = 0; i < 20000; i++, rounds++) {
        size_t len = 0;
        if (i % 3 == 0) {
            size_t n = next_rand() % 64;
            for (size_t j = 0; j < n; j++)
                buf[len++] = (char)(1 + next_rand() % 255);
        } else {
            size_t n = next_rand() % 12;
            for (size_t j = 0; j < n; j++) {
                const char *fr = frags[next_rand() % nfrag];
                size_t fl = strlen(fr);
                if (len + fl + 2 >= sizeof buf)
                    break;
                memcpy(buf + len, fr, fl);
                len += fl;
                if (next_rand() % 2)
                    buf[len++] = ' ';
            }
        }
        buf[len] = '\0';
        fuzz_one(buf);
        if (i % 1000 == 0)
            arena_reset(&A);
    }
    arena_reset(&A);
    /* huge inputs: long strings, deep parens, unbalanced quotes, many clauses */
    size_t big = 1 << 20;
    char *s = malloc(big + 1);
    const char *const fills[] = {"(", "'", "\"", "`", "a", "1", " AND ", "params.x = 'v' AND "};
    for (size_t k = 0; k < sizeof fills / sizeof *fills; k++) {
        size_t fl = strlen(fills[k]), len = 0;
        while (len + fl <= big) {
            memcpy(s + len, fills[k], fl);
            len += fl;
        }
        s[len] = '\0';
        fuzz_one(s);
        arena_reset(&A);
    }
    memcpy(s, "params.x = '", 12);
    memset(s + 12, 'v', big - 13);
    s[big - 1] = '\'';
    s[big] = '\0';
    struct sf_filter f;
    struct error err = {0};
    CHECK(sf_parse_run_filter(&A, s, &f, &err) == 0 && f.n == 1 &&
          strlen(f.clauses[0].str) == big - 13);
    free(s);
    arena_reset(&A);
    CHECK(rounds == 20000);
}

/* ---- issue 21: evaluation-dataset search, messages as MLflow 3.17 gives them ---- */
static void test_eval_datasets(void)
{
    static const struct { const char *in, *msg; } bad[] = {
        {"name = ", "Invalid clause(s) in filter string: name, ="},
        {"foo = 1", "Invalid attribute key 'foo' specified. Valid keys are: {'created_by', 'created_time', "
                    "'last_update_time', 'last_updated_by', 'name'}"},
        {"x.y = 'a'", "Invalid identifier token 'x' specified"},
        {"created_time > 5.5", "Invalid value for numeric attribute 'created_time': '5.5'"},
        {"created_time = 'a'", "Expected numeric value type for numeric attribute: created_time. Found 'a'"},
        {"name NOT IN ('a')", "List values for 'name' are only supported with the IN comparator."},
        {"created_by IN ('a')", "Only ['name'] attributes support comparison with a list of quoted string values."},
        {"tags.a > 'x'", "Invalid comparator for tag: >"},
        {"name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR"},
        {"tags.a IS NULL", "Invalid comparator for tag: IS NULL"},
        {"name IS NULL", "IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' 'name'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sf_filter f;
        struct error err = {0};
        int rc = sf_parse_eval_dataset_filter(&A, bad[i].in, &f, &err);
        CHECK(rc != 0 && err.code == ERR_INVALID_PARAMETER_VALUE);
        if (rc)
            CHECK_STR(err.message, bad[i].msg);
    }
    struct sf_filter f;
    struct error err = {0};
    CHECK(sf_parse_eval_dataset_filter(&A, "name IN ('a', \"b\") AND tags.`k 1` LIKE 'v%' AND created_time >= 5 "
                                       "AND name > 'm'", &f, &err) == 0);
    CHECK_INT(f.n, 4);
    CHECK(f.clauses[0].op == SF_IN && f.clauses[0].list_len == 2);
    CHECK_STR(f.clauses[1].key, "`k 1`");   /* the key as written, as MLflow takes it */
    CHECK(f.clauses[2].kind == SF_VAL_NUMBER && f.clauses[2].op == SF_GE);
    CHECK(f.clauses[3].op == SF_GT);
    struct sf_order_list ol;
    const char *ok[] = {"name", "created_time DESC", "last_update_time ASC"};
    CHECK(sf_parse_eval_dataset_order_by(&A, ok, 3, &ol, &err) == 0 && ol.n == 3 && !ol.items[1].ascending);
    static const struct { const char *in, *msg; } bad_order[] = {
        {"foo", "Invalid attribute key 'foo' specified. Valid keys are: {'created_time', 'last_update_time', 'name'}"},
        {"tags.a", "Invalid order_by entity: tag"},
        {"name sideways", "Invalid ordering key in order_by clause 'name sideways'."},
    };
    for (size_t i = 0; i < sizeof bad_order / sizeof *bad_order; i++) {
        const char *one[1] = { bad_order[i].in };
        CHECK(sf_parse_eval_dataset_order_by(&A, one, 1, &ol, &err) != 0);
        CHECK_STR(err.message, bad_order[i].msg);
    }
}

/* issue 21: SearchIssues (status / source_run_id with = and !=) */
static void test_issues(void)
{
    struct sf_filter f;
    struct error err = {0};
    CHECK(sf_parse_issue_filter(&A, "status = 'resolved' AND source_run_id != \" r1 \"", &f, &err) == 0);
    CHECK_INT(f.n, 2);
    CHECK_STR(f.clauses[0].key, "status");
    CHECK(f.clauses[0].op == SF_EQ);
    CHECK_STR(f.clauses[0].str, "resolved");
    CHECK_STR(f.clauses[1].key, "source_run_id");
    CHECK(f.clauses[1].op == SF_NE);
    CHECK_STR(f.clauses[1].str, "r1");   /* stripped, as MLflow's value.strip() */
    CHECK(sf_parse_issue_filter(&A, "", &f, &err) == 0 && f.n == 0);
    static const struct { const char *in, *msg; } bad[] = {
        {"name = 'x'", "Invalid filter field 'name'. Supported fields: {'status', 'source_run_id'}"},
        {"status > 'a'", "Invalid comparator '>'. Supported comparators: {'=', '!='}"},
        {"status like 'a'", "Invalid comparator 'LIKE'. Supported comparators: {'=', '!='}"},
        {"status = 'a' OR status = 'b'", NULL},
        {"status = ", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = (struct error){0};
        int rc = sf_parse_issue_filter(&A, bad[i].in, &f, &err);
        CHECK(rc != 0 && err.code == ERR_INVALID_PARAMETER_VALUE);
        if (rc && bad[i].msg)
            CHECK_STR(err.message, bad[i].msg);
    }
}

/* ---- issue 12: QueryTraceMetrics filters, messages as MLflow 3.17's SearchTraceMetricsUtils gives them ---- */
static void test_trace_metric_filters(void)
{
    static const struct { const char *in; enum sf_entity entity; const char *key, *value; } ok[] = {
        {"assessment.type = \"feedback\"", SF_ASSESSMENT, "type", "feedback"},
        {"assessment.name='correctness'", SF_ASSESSMENT, "name", "correctness"},
        {"trace.status = 'OK'", SF_ATTR, "status", "OK"},
        {"trace.tag.mlflow.traceName = 'a b'", SF_TAG, "mlflow.traceName", "a b"},
        {"trace.metadata.`my key` = 'v'", SF_TRACE_METADATA, "my key", "v"},
        {"`span`.type = \"TOOL\"", SF_SPAN, "type", "TOOL"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        struct sf_filter f;
        struct error err = {0};
        CHECK(sf_parse_trace_metric_filter(&A, ok[i].in, &f, &err) == 0 && f.n == 1);
        if (f.n == 1) {
            CHECK_INT(f.clauses[0].entity, ok[i].entity);
            CHECK_STR(f.clauses[0].key, ok[i].key);
            CHECK_STR(f.clauses[0].str, ok[i].value);
            CHECK(f.clauses[0].op == SF_EQ && f.clauses[0].kind == SF_VAL_STRING);
        }
    }
    static const struct { const char *in, *msg; } bad[] = {
        {"status = 'OK'", "Invalid identifier 'status'. Columns should be specified as 'trace.<key>', "
                          "'span.<key>', 'assessment.<key>'."},
        {"run.name = 'x'", "Invalid view type 'run'. Valid values are dict_keys(['trace', 'span', 'assessment'])"},
        {"assessment.kind = 'x'", "Invalid entity 'kind' specified for view type 'assessment'. Valid entities are "
                                  "['name', 'type']"},
        {"trace.name = 'x'", "Invalid entity 'name' specified for view type 'trace'. Valid entities are "
                             "['status', 'tag', 'metadata']"},
        {"trace.tag = 'x'", "Filtering by tag requires a key, e.g. 'trace.tag.<key> = <value>'"},
        {"span.name.x = 'y'", "Filtering by name does not require a key, use 'span.name' instead"},
        {"assessment.type != 'feedback'", "Invalid comparator: '!=', only '=' operator is supported"},
        {"assessment.type LIKE 'f%'", "Invalid comparator: 'LIKE', only '=' operator is supported"},
        {"assessment.name = 5", "Expected a quoted string value for name value (e.g. 'my-value'). Got value 5"},
        {"assessment.name = 'a' AND assessment.type = 'feedback'", "Invalid clause(s) in filter string: AND"},
        {"", "Invalid filter: ''. Expected one filter clause."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sf_filter f;
        struct error err = {0};
        int rc = sf_parse_trace_metric_filter(&A, bad[i].in, &f, &err);
        CHECK(rc != 0 && err.code == ERR_INVALID_PARAMETER_VALUE);
        if (rc)
            CHECK_STR(err.message, bad[i].msg);
    }
}

int main(void)
{
    arena_init(&A);
    for (size_t i = 0; i < sizeof run_ok / sizeof *run_ok; i++)
        CHECK_STR(run_filter(run_ok[i].in), run_ok[i].out);
    for (size_t i = 0; i < sizeof run_bad / sizeof *run_bad; i++) {
        const char *r = run_filter(run_bad[i]);
        if (strncmp(r, "ERR 1 ", 6) != 0)
            fprintf(stderr, "expected an error for: %s (got %s)\n", run_bad[i], r);
        CHECK(strncmp(r, "ERR 1 ", 6) == 0);
    }
    for (size_t i = 0; i < sizeof exp_ok / sizeof *exp_ok; i++)
        CHECK_STR(exp_filter(exp_ok[i].in), exp_ok[i].out);
    for (size_t i = 0; i < sizeof exp_bad / sizeof *exp_bad; i++) {
        const char *r = exp_filter(exp_bad[i]);
        if (strncmp(r, "ERR 1 ", 6) != 0)
            fprintf(stderr, "expected an error for: %s (got %s)\n", exp_bad[i], r);
        CHECK(strncmp(r, "ERR 1 ", 6) == 0);
    }
    test_messages();
    test_values();
    test_orders();
    test_eval_datasets();
    test_issues();
    test_trace_metric_filters();
    test_fuzz();
    arena_free(&A);
    TEST_MAIN_END();
}
