/* store/search_sql.c: filter/order AST → parameterised SQL. User text must
 * reach the SQL only as $n parameters. */
#include "test.h"
#include "../api/search_filter.h"

static struct arena A;

struct built {
    int rc;
    const char *sql;
    struct sql_params params;
    struct error err;
};

static struct built runs(const char *filter, const char *const *order, size_t n_order,
                         const int64_t *exps, size_t n_exps, enum view_type view)
{
    struct built b = {0};
    struct run_search s = {0};
    s.experiment_ids = exps;
    s.n_experiments = n_exps;
    s.view = view;
    s.offset = 0;
    s.limit = 101;
    if (sf_parse_run_filter(&A, filter, &s.filter, &b.err) ||
        sf_parse_run_order_by(&A, order, n_order, &s.order, &b.err)) {
        b.rc = -2;
        return b;
    }
    struct strbuf sql;
    sb_init(&sql, &A, 256);
    sql_params_init(&b.params, &A);
    b.rc = search_runs_sql(&A, &s, &sql, &b.params, &b.err);
    b.sql = sql.buf;
    return b;
}

static struct built exps(const char *filter, const char *const *order, size_t n_order,
                         enum view_type view)
{
    struct built b = {0};
    struct experiment_search s = {0};
    s.view = view;
    s.offset = 200;
    s.limit = 1001;
    if (sf_parse_experiment_filter(&A, filter, &s.filter, &b.err) ||
        sf_parse_experiment_order_by(&A, order, n_order, &s.order, &b.err)) {
        b.rc = -2;
        return b;
    }
    struct strbuf sql;
    sb_init(&sql, &A, 256);
    sql_params_init(&b.params, &A);
    b.rc = search_experiments_sql(&A, &s, &sql, &b.params, &b.err);
    b.sql = sql.buf;
    return b;
}

static const char *param(const struct built *b, int n)
{
    return n >= 1 && n <= b->params.n ? b->params.values[n - 1] : "(none)";
}

static bool has(const struct built *b, const char *needle)
{
    bool ok = b->sql && strstr(b->sql, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  sql lacks \"%s\":\n  %s\n", needle, b->sql ? b->sql : "(null)");
    return ok;
}

static const int64_t one_exp[] = {1};
static const int64_t two_exps[] = {1, 2};

static void test_runs_default(void)
{
    struct built b = runs(NULL, NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK_INT(b.rc, 0);
    CHECK_STR(b.sql, "SELECT r.run_uuid FROM runs r WHERE r.experiment_id = $1::bigint AND "
              "r.lifecycle_stage = 'active' ORDER BY r.start_time DESC, r.run_uuid ASC "
              "OFFSET $2::bigint LIMIT $3::bigint");
    CHECK_INT(b.params.n, 3);
    CHECK_STR(param(&b, 1), "1");
    CHECK_STR(param(&b, 2), "0");
    CHECK_STR(param(&b, 3), "101");

    b = runs("", NULL, 0, two_exps, 2, VIEW_DELETED_ONLY);
    CHECK(has(&b, "r.experiment_id = ANY($1::bigint[])"));
    CHECK(has(&b, "r.lifecycle_stage = 'deleted'"));
    CHECK_STR(param(&b, 1), "{1,2}");

    b = runs("", NULL, 0, NULL, 0, VIEW_ALL);
    CHECK_INT(b.rc, 0);
    CHECK(!strstr(b.sql, "lifecycle_stage"));
    CHECK_STR(param(&b, 1), "{}");
}

static void test_runs_filters(void)
{
    struct built b = runs("metrics.acc > 0.9", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "EXISTS (SELECT 1 FROM latest_metrics x WHERE x.run_uuid = r.run_uuid AND "
                  "x.key = $2 AND x.value > $3::float8 AND x.value < 'NaN'::float8)"));
    CHECK_STR(param(&b, 2), "acc");
    CHECK_STR(param(&b, 3), "0.90000000000000002");

    b = runs("metrics.acc != 1e400", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "x.value <> $3::float8)"));
    CHECK_STR(param(&b, 3), "Infinity");
    b = runs("metrics.acc <= -1e400", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK_STR(param(&b, 3), "-Infinity");
    CHECK(!strstr(b.sql, "'NaN'"));

    b = runs("params.lr = '0.1'", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "EXISTS (SELECT 1 FROM params x WHERE x.run_uuid = r.run_uuid AND "
                  "x.key = $2 AND left(x.value, 200) = $3)"));
    CHECK_STR(param(&b, 2), "lr");
    CHECK_STR(param(&b, 3), "0.1");

    b = runs("tags.t != 'x'", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "EXISTS (SELECT 1 FROM tags x WHERE x.run_uuid = r.run_uuid AND "
                  "x.key = $2 AND x.value <> $3)"));
    b = runs("tags.t LIKE 'x%'", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "x.value LIKE $3)"));
    b = runs("params.t ILIKE 'x%'", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "x.value ILIKE $3)"));

    b = runs("params.p IS NULL", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "NOT EXISTS (SELECT 1 FROM params x WHERE x.run_uuid = r.run_uuid AND "
                  "x.key = $2)"));
    b = runs("tags.t IS NOT NULL", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, " AND EXISTS (SELECT 1 FROM tags x WHERE x.run_uuid = r.run_uuid AND "
                  "x.key = $2)"));

    b = runs("attributes.run_name = 'r1'", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "EXISTS (SELECT 1 FROM tags x WHERE x.run_uuid = r.run_uuid AND "
                  "x.key = 'mlflow.runName' AND left(x.value, 200) = $2)"));
    CHECK_STR(param(&b, 2), "r1");
    /* a value of 200 characters or more compares in full too */
    static char long_value[300];
    memset(long_value, 'v', 250);
    b = runs(arena_printf(&A, "tags.t = '%s'", long_value), NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "left(x.value, 200) = left($3, 200) AND x.value = $3"));

    b = runs("status = 'FINISHED' AND user_id LIKE 'a%' AND artifact_uri ILIKE 's3%'",
             NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "r.status = $2 AND r.user_id LIKE $3 AND r.artifact_uri ILIKE $4"));

    b = runs("run_id IN ('a', 'b\"c', 'D')", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "r.run_uuid = ANY($2::text[])"));
    CHECK_STR(param(&b, 2), "{\"a\",\"b\\\"c\"}");
    b = runs("run_id NOT IN ('A')", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "r.run_uuid <> ALL($2::text[])"));
    CHECK_STR(param(&b, 2), "{}");
    b = runs("run_id = 'abc'", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "r.run_uuid = $2"));

    b = runs("start_time >= 1700000000000 AND created < 1.5 AND end_time != "
             "99999999999999999999", NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "r.start_time >= $2::bigint AND r.start_time < $3::numeric AND "
                  "r.end_time <> $4::numeric"));
    CHECK_STR(param(&b, 2), "1700000000000");

    b = runs("datasets.name = 'd' AND datasets.digest IN ('x') AND datasets.context != 'train'",
             NULL, 0, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "EXISTS (SELECT 1 FROM run_inputs i JOIN datasets d ON d.dataset_uuid = "
                  "i.dataset_uuid WHERE i.run_uuid = r.run_uuid AND d.name = $2)"));
    CHECK(has(&b, "d.digest = ANY($3::text[])"));
    CHECK(has(&b, "it.key = 'mlflow.data.context' AND it.value <> $4)"));
}

static void test_runs_order(void)
{
    const char *o1[] = {"metrics.acc DESC", "params.p", "tags.t DESC"};
    struct built b = runs("metrics.acc > 1", o1, 3, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK_INT(b.rc, 0);
    CHECK(has(&b, "FROM runs r LEFT JOIN latest_metrics o0 ON o0.run_uuid = r.run_uuid AND "
                  "o0.key = $1 LEFT JOIN params o1 ON o1.run_uuid = r.run_uuid AND o1.key = $2 "
                  "LEFT JOIN tags o2 ON o2.run_uuid = r.run_uuid AND o2.key = $3 WHERE "
                  "r.experiment_id = $4::bigint"));
    CHECK(has(&b, "ORDER BY CASE WHEN o0.value IS NULL THEN 2 WHEN o0.value = 'NaN'::float8 "
                  "THEN 1 ELSE 0 END, o0.value DESC, o1.value ASC NULLS LAST, "
                  "o2.value DESC NULLS LAST, r.start_time DESC, r.run_uuid ASC OFFSET"));
    CHECK_STR(param(&b, 1), "acc");
    CHECK_STR(param(&b, 2), "p");
    CHECK_STR(param(&b, 3), "t");
    CHECK_STR(param(&b, 4), "1");
    CHECK_STR(param(&b, 5), "acc");     /* the filter's key */

    const char *o2[] = {"created ASC"};
    b = runs("", o2, 1, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "ORDER BY r.start_time ASC, r.run_uuid ASC OFFSET"));
    const char *o3[] = {"run_name DESC", "status", "end_time", "user_id", "artifact_uri",
                        "run_id DESC"};
    b = runs("", o3, 6, one_exp, 1, VIEW_ACTIVE_ONLY);
    CHECK(has(&b, "ORDER BY r.name DESC, r.status ASC, r.end_time ASC, r.user_id ASC, "
                  "r.artifact_uri ASC, r.run_uuid DESC, r.start_time DESC, r.run_uuid ASC"));
}

static void test_experiments(void)
{
    struct built b = exps(NULL, NULL, 0, VIEW_ACTIVE_ONLY);
    CHECK_STR(b.sql, "SELECT e.experiment_id FROM experiments e WHERE e.lifecycle_stage = "
              "'active' ORDER BY e.creation_time DESC, e.experiment_id ASC "
              "OFFSET $1::bigint LIMIT $2::bigint");
    CHECK_STR(param(&b, 1), "200");
    CHECK_STR(param(&b, 2), "1001");

    b = exps("name LIKE 'a%' AND tags.t = 'v' AND tags.u IS NULL AND creation_time > 5 AND "
             "experiment_id IN ('1', '2') AND experiment_id != '3'", NULL, 0, VIEW_ALL);
    CHECK_INT(b.rc, 0);
    CHECK(has(&b, "FROM experiments e WHERE e.name LIKE $1 AND EXISTS (SELECT 1 FROM "
                  "experiment_tags x WHERE x.experiment_id = e.experiment_id AND x.key = $2 "
                  "AND left(x.value, 200) = $3) AND NOT EXISTS (SELECT 1 FROM experiment_tags x WHERE "
                  "x.experiment_id = e.experiment_id AND x.key = $4) AND e.creation_time > "
                  "$5::bigint AND e.experiment_id = ANY($6::bigint[]) AND e.experiment_id <> "
                  "$7::bigint ORDER BY"));
    CHECK_STR(param(&b, 6), "{1,2}");
    CHECK_STR(param(&b, 7), "3");

    const char *o[] = {"name", "last_update_time DESC"};
    b = exps("", o, 2, VIEW_DELETED_ONLY);
    CHECK(has(&b, "WHERE e.lifecycle_stage = 'deleted' ORDER BY e.name ASC, "
                  "e.last_update_time DESC, e.experiment_id DESC OFFSET"));
    const char *o2[] = {"experiment_id ASC", "name"};
    b = exps("", o2, 2, VIEW_ALL);
    CHECK(has(&b, "FROM experiments e ORDER BY e.experiment_id ASC, e.name ASC OFFSET"));
}

/* Hostile keys and values go to parameters; the SQL text never holds them. */
static void test_injection(void)
{
    static const char *const evil[] = {
        "params.`x'; DROP TABLE runs; --` = 'a'",
        "params.p = 'a''; DROP TABLE runs; --'",
        "tags.\"t\\\" OR 1=1 --\" = \"v) OR (1=1\"",
        "run_id IN ('a\"}; or 1=1 --', 'b')",
        "metrics.`m) OR 1=1 --` > 1",
        "datasets.context = '$1 OR TRUE'",
        "attributes.run_name LIKE '%'' OR ''1''=''1'",
    };
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        const char *order[] = {"params.`o; DELETE FROM runs` DESC"};
        struct built b = runs(evil[i], order, 1, one_exp, 1, VIEW_ACTIVE_ONLY);
        CHECK_INT(b.rc, 0);
        CHECK(b.sql && !strstr(b.sql, "DROP") && !strstr(b.sql, "DELETE") &&
              !strstr(b.sql, "1=1") && !strstr(b.sql, "--") && !strstr(b.sql, "TRUE"));
        bool found = false;
        for (int p = 0; p < b.params.n; p++)
            found = found || strstr(b.params.values[p], "DROP") ||
                    strstr(b.params.values[p], "1=1") || strstr(b.params.values[p], "TRUE") ||
                    strstr(b.params.values[p], "'1'");
        if (!found)
            fprintf(stderr, "  hostile text not in the parameters: %s\n", evil[i]);
        CHECK(found);
    }
    struct built b = exps("tags.`k'); DROP TABLE experiments; --` = 'x''; DELETE'", NULL, 0,
                          VIEW_ACTIVE_ONLY);
    CHECK_INT(b.rc, 0);
    CHECK(!strstr(b.sql, "DROP") && !strstr(b.sql, "DELETE"));
    CHECK_STR(param(&b, 1), "k'); DROP TABLE experiments; --");
    CHECK_STR(param(&b, 2), "x''; DELETE");
}

/* Hand-built ASTs the parser would never produce: refused, not compiled. */
static void test_bad_ast(void)
{
    struct sf_clause c = {.entity = SF_ATTR, .key = "lifecycle_stage; DROP", .op = SF_EQ,
                          .kind = SF_VAL_STRING, .str = "x"};
    struct run_search s = {.experiment_ids = one_exp, .n_experiments = 1,
                           .filter = {&c, 1}, .view = VIEW_ACTIVE_ONLY, .limit = 10};
    struct strbuf sql;
    struct sql_params p;
    struct error err = {0};
    sb_init(&sql, &A, 64);
    sql_params_init(&p, &A);
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);

    c = (struct sf_clause){.entity = SF_METRIC, .key = "m", .op = SF_LIKE,
                           .kind = SF_VAL_STRING, .str = "x"};
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    c = (struct sf_clause){.entity = SF_PARAM, .key = "m", .op = SF_GT,
                           .kind = SF_VAL_STRING, .str = "x"};
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    c = (struct sf_clause){.entity = SF_DATASET, .key = "source", .op = SF_EQ,
                           .kind = SF_VAL_STRING, .str = "x"};
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    c = (struct sf_clause){.entity = SF_ATTR, .key = "start_time", .op = SF_EQ,
                           .kind = SF_VAL_STRING, .str = "x"};
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    struct sf_order o = {SF_ATTR, "experiment_id", true};
    s.filter.n = 0;
    s.order = (struct sf_order_list){&o, 1};
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    o = (struct sf_order){SF_DATASET, "name", true};
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    s.order.n = 0;
    s.offset = -1;
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);
    s.offset = 0;
    s.view = (enum view_type)7;
    CHECK(search_runs_sql(&A, &s, &sql, &p, &err) == -1);

    struct experiment_search e = {.filter = {&c, 1}, .view = VIEW_ALL, .limit = -1};
    c = (struct sf_clause){.entity = SF_ATTR, .key = "experiment_id", .op = SF_EQ,
                           .kind = SF_VAL_STRING, .str = "1 OR 1=1"};
    sb_init(&sql, &A, 64);
    CHECK(search_experiments_sql(&A, &e, &sql, &p, &err) == -1);
    c = (struct sf_clause){.entity = SF_METRIC, .key = "m", .op = SF_EQ,
                           .kind = SF_VAL_NUMBER, .num_text = "1", .num = 1};
    CHECK(search_experiments_sql(&A, &e, &sql, &p, &err) == -1);
    e.filter.n = 0;
    sb_init(&sql, &A, 64);
    sql_params_init(&p, &A);
    CHECK(search_experiments_sql(&A, &e, &sql, &p, &err) == 0);
    CHECK(!strstr(sql.buf, "LIMIT"));   /* negative limit: no LIMIT */
}

static void test_params_growth(void)
{
    struct sql_params p;
    sql_params_init(&p, &A);
    for (int i = 1; i <= 1000; i++)
        CHECK_INT(sql_param_add(&p, &A, arena_printf(&A, "%d", i)), i);
    CHECK_STR(p.values[999], "1000");
    CHECK_STR(p.values[0], "1");
}

int main(void)
{
    arena_init(&A);
    test_runs_default();
    test_runs_filters();
    test_runs_order();
    test_experiments();
    test_injection();
    test_bad_ast();
    test_params_growth();
    arena_free(&A);
    TEST_MAIN_END();
}
