/* store/ against a real PostgreSQL (CAIRN_TEST_PGHOST): migrations, the
 * log-batch write path (dedup, write-once params, latest-metric rule, no
 * half-written batch), concurrent writers on one run without deadlock, and
 * search. Skips cleanly without a database. */
#include "tests/test.h"
#include "store/autoanalyze.h"
#include "store/db.h"
#include "store/migrate.h"
#include "store/tracking.h"
#include "api/search_filter.h"
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char conninfo[512];

static int make_database(const char *host)
{
    char ci[600];
    snprintf(ci, sizeof ci, "host=%s user=postgres dbname=postgres", host);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    char db[64], sql[128];
    snprintf(db, sizeof db, "cairn_test_store_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    snprintf(conninfo, sizeof conninfo, "host=%s user=postgres dbname=%s", host, db);
    return ok ? 0 : -1;
}

static const char *new_run(struct arena *a, int64_t exp_id)
{
    struct error err;
    struct run_create rc = { .experiment_id = exp_id, .user_id = "u", .start_time = now_ms(), .run_name = "r" };
    struct run run;
    if (store_create_run(a, &rc, &run, &err)) {
        fprintf(stderr, "create run: %s\n", err.message);
        return NULL;
    }
    return run.info.run_id;
}

static void test_batch_semantics(struct arena *a, int64_t exp_id)
{
    struct error err;
    const char *run_id = new_run(a, exp_id);
    CHECK(run_id != NULL);
    struct metric m[4] = {
        { .key = "loss", .value = 0.5, .timestamp = 10, .step = 1 },
        { .key = "loss", .value = 0.4, .timestamp = 11, .step = 2 },
        { .key = "loss", .value = 9.0, .timestamp = 99, .step = 0 },   /* older step: not the latest */
        { .key = "nan", .value = NAN, .timestamp = 1, .step = 0 },
    };
    struct kv p[1] = { { "alpha", "0.1" } };
    struct kv t[1] = { { "mlflow.runName", "renamed" } };
    struct log_batch b = { m, 4, p, 1, t, 1 };
    CHECK_INT(store_log_batch(a, run_id, &b, &err), 0);
    CHECK_INT(store_log_batch(a, run_id, &b, &err), 0);   /* a retried batch writes nothing twice */
    struct metric *hist;
    size_t n;
    CHECK_INT(store_metric_history(a, run_id, "loss", 0, -1, &hist, &n, &err), 0);
    CHECK_INT(n, 3);
    struct run run;
    CHECK_INT(store_get_run(a, run_id, &run, &err), 0);
    CHECK_STR(run.info.run_name, "renamed");   /* the tag renames the run */
    CHECK_INT(run.n_metrics, 2);
    for (size_t i = 0; i < run.n_metrics; i++) {
        if (!strcmp(run.metrics[i].key, "loss")) {
            CHECK(run.metrics[i].value == 0.4);
            CHECK_INT(run.metrics[i].step, 2);
        } else {
            CHECK(isnan(run.metrics[i].value));
        }
    }
    /* params are write-once: a changed value fails and the whole batch is rolled back */
    struct metric m2 = { .key = "other", .value = 1, .timestamp = 1, .step = 0 };
    struct kv p2 = { "alpha", "0.2" };
    struct log_batch b2 = { &m2, 1, &p2, 1, NULL, 0 };
    CHECK_INT(store_log_batch(a, run_id, &b2, &err), -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    CHECK(strstr(err.message, "Changing param values is not allowed") != NULL);
    CHECK_INT(store_metric_history(a, run_id, "other", 0, -1, &hist, &n, &err), 0);
    CHECK_INT(n, 0);
    /* a deleted run takes no writes */
    CHECK_INT(store_set_run_lifecycle(run_id, true, &err), 0);
    CHECK_INT(store_log_batch(a, run_id, &b, &err), -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    CHECK_INT(store_log_batch(a, "nosuchrun", &b, &err), -1);
    CHECK_INT(err.code, ERR_RESOURCE_DOES_NOT_EXIST);
}

struct writer {
    const char *run_id;
    int seed;
    int errors;
};

/* 8 writers, one run, 1000 metrics each with keys in shuffled orders */
static void *write_shuffled(void *p)
{
    struct writer *w = p;
    struct arena a;
    arena_init(&a);
    for (int round = 0; round < 3; round++) {
        struct metric *m = arena_alloc(&a, 1000 * sizeof *m);
        unsigned s = (unsigned)(w->seed * 7919 + round);
        for (int i = 0; i < 1000; i++) {
            m[i].key = arena_printf(&a, "k%03d", i % 200);
            m[i].value = w->seed + i;
            m[i].timestamp = round;
            m[i].step = i;
        }
        for (int i = 999; i > 0; i--) {
            s = s * 1103515245 + 12345;
            int j = (int)(s % (unsigned)(i + 1));
            struct metric tmp = m[i];
            m[i] = m[j];
            m[j] = tmp;
        }
        struct log_batch b = { m, 1000, NULL, 0, NULL, 0 };
        struct error err;
        if (store_log_batch(&a, w->run_id, &b, &err)) {
            fprintf(stderr, "writer %d: %s\n", w->seed, err.message);
            w->errors++;
        }
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

/* An aggregate over the run's latest_metrics rows is want, and no row of the
 * run is left parked (sql/013). */
static void check_latest_rows(const char *run_id, const char *aggregate, const char *want)
{
    PGconn *c = PQconnectdb(conninfo);
    const char *v[1] = { run_id };
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s, (SELECT count(*) FROM cairn.latest_metrics_pending WHERE run_uuid = $1)"
                              " FROM cairn.latest_metrics WHERE run_uuid = $1", aggregate);
    PGresult *r = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
    CHECK_STR(PQgetvalue(r, 0, 0), want);
    CHECK_STR(PQgetvalue(r, 0, 1), "0");
    PQclear(r);
    PQfinish(c);
}

static void test_concurrent_writers(struct arena *a, int64_t exp_id)
{
    const char *run_id = new_run(a, exp_id);
    pthread_t th[8];
    struct writer w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct writer){ run_id, i + 1, 0 };
        pthread_create(&th[i], NULL, write_shuffled, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    CHECK_INT(errors, 0);
    struct run run;
    struct error err;
    CHECK_INT(store_get_run(a, run_id, &run, &err), 0);
    CHECK_INT(run.n_metrics, 200);
    /* whichever writer folded whose points (sql/013): key k's steps are k,
     * k+200, ..., k+800, each written by every writer in every round with
     * value seed + step; the latest is the highest seed's at round 2 */
    int right = 0;
    for (size_t i = 0; i < run.n_metrics; i++) {
        const struct metric *m = &run.metrics[i];
        int k = atoi(m->key + 1);
        right += m->step == k + 800 && m->timestamp == 2 && m->value == 8 + k + 800;
    }
    CHECK_INT(right, 200);
    /* 8 writers x 3 rounds x 5 distinct points per key; their step ranges
     * overlap, so distinct steps are unknown */
    check_latest_rows(run_id, "count(*) FILTER (WHERE n_rows = 120 AND n_steps = -1"
                      " AND min_step = substr(key, 2)::int AND max_step = substr(key, 2)::int + 800)", "200");
}

/* A parked row left behind (its server died before folding it) is folded
 * by the run's next metrics write. */
static void test_orphan_parked_row(struct arena *a)
{
    const char *run_id = new_run(a, 0);
    struct error err;
    struct metric m1[2] = { { .key = "a", .value = 1, .timestamp = 1, .step = 1 },
                            { .key = "b", .value = 1, .timestamp = 1, .step = 1 } };
    struct log_batch b1 = { m1, 2, NULL, 0, NULL, 0 };
    CHECK_INT(store_log_batch(a, run_id, &b1, &err), 0);
    PGconn *c = PQconnectdb(conninfo);
    const char *v[1] = { run_id };
    PGresult *r = PQexecParams(c, "INSERT INTO cairn.latest_metrics_pending (run_uuid, keys, vals, ts, steps,"
                                  " n_rows, n_steps, min_step, max_step, parked_at) VALUES ($1, '{a,c}',"
                                  " '{7,NaN}', '{5,5}', '{9,3}', '{1,1}', '{1,1}', '{9,3}', '{9,3}',"
                                  " now() - interval '1 minute')", 1, NULL, v, NULL, NULL, 0);
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    struct metric m2[1] = { { .key = "b", .value = 2, .timestamp = 2, .step = 2 } };
    struct log_batch b2 = { m2, 1, NULL, 0, NULL, 0 };
    CHECK_INT(store_log_batch(a, run_id, &b2, &err), 0);
    PQfinish(c);
    check_latest_rows(run_id, "string_agg(format('%s=%s@%s/%s:%s', key, value, step, n_rows, n_steps), ' '"
                      " ORDER BY key)", "a=7@9/2:2 b=2@2/2:2 c=NaN@3/1:1");
}

static void test_search(struct arena *a)
{
    struct error err;
    int64_t exp_id;
    CHECK_INT(store_create_experiment(a, "search-exp", NULL, "mlflow-artifacts:", NULL, 0, &exp_id, &err), 0);
    for (int i = 0; i < 5; i++) {
        const char *id = new_run(a, exp_id);
        struct metric m = { .key = "acc", .value = i / 10.0, .timestamp = 1, .step = 0 };
        struct log_batch b = { &m, 1, NULL, 0, NULL, 0 };
        CHECK_INT(store_log_batch(a, id, &b, &err), 0);
    }
    struct sf_clause c = { .entity = SF_METRIC, .key = "acc", .op = SF_GE, .kind = SF_VAL_NUMBER,
                           .num_text = "0.2", .num = 0.2 };
    struct sf_order o = { .entity = SF_METRIC, .key = "acc", .ascending = false };
    struct run_search s = { .experiment_ids = &exp_id, .n_experiments = 1, .filter = { &c, 1 },
                            .order = { &o, 1 }, .view = VIEW_ACTIVE_ONLY, .offset = 0, .limit = 10 };
    struct run *runs;
    size_t n;
    CHECK_INT(store_search_runs(a, &s, &runs, &n, &err), 0);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK(runs[0].metrics[0].value == 0.4);
        CHECK(runs[2].metrics[0].value == 0.2);
    }
    int64_t dup;
    CHECK_INT(store_create_experiment(a, "search-exp", NULL, "mlflow-artifacts:", NULL, 0, &dup, &err), -1);
    CHECK_INT(err.code, ERR_RESOURCE_ALREADY_EXISTS);
}

/* The sampled chart view against MLflow 3.17's rule computed here in SQL
 * directly: NTILE buckets over (step, timestamp, value), the first row of
 * each, and the global last row replacing the last sample of a full page. */
static size_t expected_sample(const char *run_id, const char *key, int64_t limit, long long lo, long long hi,
                              long long *steps_out, size_t cap)
{
    PGconn *c = PQconnectdb(conninfo);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "WITH pts AS (SELECT * FROM cairn.metrics WHERE run_uuid = '%s' AND key = '%s'"
             " AND step BETWEEN %lld AND %lld),"
             " b AS (SELECT step, timestamp, value, ntile(%lld) OVER (ORDER BY step, timestamp, value) AS t FROM pts)"
             " SELECT DISTINCT ON (t) step FROM b ORDER BY t, step, timestamp, value", run_id, key, lo, hi,
             (long long)limit);
    PGresult *r = PQexec(c, sql);
    size_t n = 0;
    for (int i = 0; i < PQntuples(r) && n < cap; i++)
        steps_out[n++] = atoll(PQgetvalue(r, i, 0));
    PQclear(r);
    snprintf(sql, sizeof sql, "SELECT max(step) FROM cairn.metrics WHERE run_uuid = '%s' AND key = '%s'"
             " AND step BETWEEN %lld AND %lld", run_id, key, lo, hi);
    r = PQexec(c, sql);
    long long last = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    if (limit == 1) {
        steps_out[0] = last;
        return 1;
    }
    if (n && steps_out[n - 1] != last) {
        if ((int64_t)n >= limit)
            steps_out[n - 1] = last;
        else
            steps_out[n++] = last;
    }
    return n;
}

static void check_sample(struct arena *a, const char *run_id, const char *key, int64_t limit, bool range,
                         long long lo, long long hi)
{
    struct error err;
    struct metric *m;
    size_t n;
    static long long want[8000];
    CHECK_INT(store_metric_history_sampled(a, run_id, key, range, lo, range, hi, limit, &m, &n, &err), 0);
    size_t wn = expected_sample(run_id, key, limit, range ? lo : -1, range ? hi : 1LL << 60, want, 7999);
    CHECK_INT(n, wn);
    size_t same = 0;
    for (size_t i = 0; i < n && i < wn; i++)
        same += m[i].step == want[i];
    CHECK_INT(same, wn);
}

static void test_sampled_history(struct arena *a)
{
    struct error err;
    const char *run_id = new_run(a, 0);
    /* a dense curve (probed), and one with repeated steps and gaps (scanned) */
    for (int part = 0; part < 5; part++) {
        static struct metric m[1000], g[1000];
        for (int i = 0; i < 1000; i++) {
            int step = part * 1000 + i;
            m[i] = (struct metric){ .key = "dense", .value = step * 0.5, .timestamp = step, .step = step };
            g[i] = (struct metric){ .key = "gappy", .value = i, .timestamp = i, .step = (step / 3) * 2 };
        }
        struct log_batch b = { m, 1000, NULL, 0, NULL, 0 };
        CHECK_INT(store_log_batch(a, run_id, &b, &err), 0);
        struct log_batch b2 = { g, 1000, NULL, 0, NULL, 0 };
        CHECK_INT(store_log_batch(a, run_id, &b2, &err), 0);
    }
    int64_t limits[] = { 1, 2, 7, 320, 2500, 5000, 6000 };
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        check_sample(a, run_id, "dense", limits[i], false, 0, 0);
        check_sample(a, run_id, "gappy", limits[i], false, 0, 0);
        check_sample(a, run_id, "dense", limits[i], true, 123, 4321);
        check_sample(a, run_id, "gappy", limits[i], true, 10, 3000);
    }
    struct metric *m;
    size_t n;
    CHECK_INT(store_metric_history_sampled(a, run_id, "nosuchkey", false, 0, false, 0, 100, &m, &n, &err), 0);
    CHECK_INT(n, 0);
    CHECK_INT(store_metric_history_sampled(a, "nosuchrun", "dense", false, 0, false, 0, 100, &m, &n, &err), -1);
    CHECK_INT(err.code, ERR_RESOURCE_DOES_NOT_EXIST);
}

/* Every search the compiler emits can run on an index: with sequential
 * scans priced out, no plan may still scan a tracking table end to end. */
static void test_searches_use_indexes(struct arena *a)
{
    static const char *const filters[] = {
        "metrics.acc > 0.5", "params.alpha = '0.1'", "tags.team = 'x'", "attributes.status = 'FINISHED'",
        "run_name = 'r'", "metrics.acc > 0.5 AND params.alpha = '0.1' AND tags.team != 'y'",
        "attributes.run_id IN ('a', 'b')", "datasets.name = 'd'", "params.alpha IS NULL", "",
    };
    static const char *const orders[] = { "metrics.acc DESC", "params.alpha", "start_time DESC", "tags.team" };
    PGconn *c = PQconnectdb(conninfo);
    PQclear(PQexec(c, "SET search_path TO cairn; SET enable_seqscan TO off"));
    int64_t exp = 0;
    for (size_t f = 0; f < sizeof filters / sizeof *filters; f++) {
        for (size_t o = 0; o < sizeof orders / sizeof *orders; o++) {
            struct error err;
            struct run_search s = { .experiment_ids = &exp, .n_experiments = 1, .view = VIEW_ACTIVE_ONLY,
                                    .limit = 101 };
            const char *order[1] = { orders[o] };
            CHECK_INT(sf_parse_run_filter(a, filters[f], &s.filter, &err), 0);
            CHECK_INT(sf_parse_run_order_by(a, order, 1, &s.order, &err), 0);
            struct strbuf sql;
            struct sql_params p;
            sb_init(&sql, a, 512);
            sql_params_init(&p, a);
            CHECK_INT(search_runs_sql(a, &s, &sql, &p, &err), 0);
            const char *ex = arena_printf(a, "EXPLAIN %s", sql.buf);
            PGresult *r = PQexecParams(c, ex, p.n, NULL, p.values, NULL, NULL, 0);
            bool ok = PQresultStatus(r) == PGRES_TUPLES_OK, seq = false;
            for (int i = 0; ok && i < PQntuples(r); i++)
                seq |= strstr(PQgetvalue(r, i, 0), "Seq Scan") != NULL;
            if (!ok || seq)
                fprintf(stderr, "filter \"%s\" order \"%s\": %s\n", filters[f], orders[o],
                        ok ? "sequential scan" : PQerrorMessage(c));
            CHECK(ok && !seq);
            PQclear(r);
        }
    }
    PQfinish(c);
}

/* issue 19: a burst of writes gets the search tables analysed at once, not
 * at autovacuum's next round (a minute later) */
static void test_analyze_after_burst(struct arena *a)
{
    struct error err;
    long before = store_analyze_count();
    for (int i = 0; i < 12; i++) {
        const char *run_id = new_run(a, 0);
        CHECK(run_id != NULL);
        struct metric *m = arena_alloc(a, 60 * sizeof *m);
        struct kv p[1] = { { "p", "3" } };
        for (int k = 0; k < 60; k++)
            m[k] = (struct metric){ .key = arena_printf(a, "burst%d", k), .value = k, .timestamp = 1, .step = 0 };
        struct log_batch b = { .metrics = m, .n_metrics = 60, .params = p, .n_params = 1 };
        CHECK_INT(store_log_batch(a, run_id, &b, &err), 0);
    }
    PGconn *c = PQconnectdb(conninfo);
    bool analysed = false;
    /* PostgreSQL's activity counters reach pg_stat within a second or so */
    for (int t = 0; t < 100 && !analysed; t++) {
        PGresult *r = PQexec(c, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
                                " WHERE schemaname = 'cairn' AND relname = 'latest_metrics'");
        analysed = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t") && store_analyze_count() > before;
        PQclear(r);
        if (!analysed) {
            usleep(100 * 1000);
            /* a note after the counters arrived starts the next check */
            store_note_writes(1000);
        }
    }
    PQfinish(c);
    CHECK(analysed);
}

int main(void)
{
    const char *host = getenv("CAIRN_TEST_PGHOST");
    if (!host || !*host) {
        printf("tests/test_store.c: skipped (no CAIRN_TEST_PGHOST): 0 passed, 0 failed\n");
        return 0;
    }
    struct error err = { 0 };
    if (make_database(host) || migrate(conninfo, "mlflow-artifacts:", &err) || db_init(conninfo, 8, &err)) {
        fprintf(stderr, "set-up failed: %s\n", err.message);
        return 1;
    }
    CHECK_INT(migrate(conninfo, "mlflow-artifacts:", &err), 0);   /* idempotent */
    struct arena a;
    arena_init(&a);
    struct experiment e;
    CHECK_INT(store_get_experiment(&a, 0, &e, &err), 0);
    CHECK_STR(e.name, "Default");
    CHECK_STR(e.artifact_location, "mlflow-artifacts:/0");
    test_batch_semantics(&a, 0);
    test_concurrent_writers(&a, 0);
    test_orphan_parked_row(&a);
    test_search(&a);
    test_sampled_history(&a);
    test_searches_use_indexes(&a);
    test_analyze_after_burst(&a);
    arena_free(&a);
    db_shutdown();
    TEST_MAIN_END();
}
