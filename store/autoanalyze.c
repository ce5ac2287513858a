/* Statistics that keep up with the writes (autoanalyze.h). */
#include "autoanalyze.h"
#include "db.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAKE_ROWS 500          /* rows noted before a check */
#define MIN_INTERVAL_MS 1000   /* between two checks */

static atomic_long pending;
static atomic_bool running;
static atomic_long analyzes;
static atomic_llong last_check_ms;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* autovacuum's analyze rule (threshold 50, scale factor 0.1) on the tables a
 * run search reads; a table never analysed counts as empty */
static const char check_sql[] =
    "SELECT format('%I.%I', s.schemaname, s.relname) FROM pg_stat_user_tables s"
    " JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.schemaname = 'cairn' AND s.relname IN ('runs', 'params', 'tags', 'latest_metrics')"
    " AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)";

/* autovacuum's vacuum rule (threshold 50, scale factor 0.2) on the tables
 * whose rows every metrics write rewrites: eight writers into one run
 * rewrite its 1,000 latest rows many times a second, and until autovacuum's
 * next round each update walks the dead versions of the last minute */
static const char vacuum_sql[] =
    "SELECT format('%I.%I', s.schemaname, s.relname) FROM pg_stat_user_tables s"
    " JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.schemaname = 'cairn' AND s.relname IN ('latest_metrics', 'latest_metrics_pending')"
    " AND s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)";

/* runs "VERB table" for each table the query names */
static void each_table(PGconn *pg, const char *query, const char *verb, atomic_long *count)
{
    PGresult *r = PQexec(pg, query);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            char sql[160];
            snprintf(sql, sizeof sql, "%s %s", verb, PQgetvalue(r, i, 0));
            PGresult *a = PQexec(pg, sql);
            if (PQresultStatus(a) == PGRES_COMMAND_OK && count)
                atomic_fetch_add(count, 1);
            PQclear(a);
        }
    }
    PQclear(r);
}

static void *analyze_thread(void *arg)
{
    char *conninfo = arg;
    const char *const keys[] = { "dbname", "connect_timeout", "application_name", NULL };
    const char *const vals[] = { conninfo, "5", "cairn-analyze", NULL };
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (pg && PQstatus(pg) == CONNECTION_OK) {
        /* a long ANALYZE never holds up anything but itself; bounded all the same */
        PQclear(PQexec(pg, "SET statement_timeout TO 60000"));
        each_table(pg, vacuum_sql, "VACUUM", NULL);
        each_table(pg, check_sql, "ANALYZE", &analyzes);
    }
    PQfinish(pg);
    free(conninfo);
    atomic_store(&last_check_ms, mono_ms());
    atomic_store(&running, false);
    return NULL;
}

void store_note_writes(size_t rows)
{
    if (atomic_fetch_add(&pending, (long)rows) + (long)rows < WAKE_ROWS)
        return;
    if (mono_ms() - atomic_load(&last_check_ms) < MIN_INTERVAL_MS)
        return;
    bool idle = false;
    if (!atomic_compare_exchange_strong(&running, &idle, true))
        return;
    const char *ci = db_conninfo();
    char *copy = ci ? strdup(ci) : NULL;
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (!copy || pthread_create(&t, &attr, analyze_thread, copy)) {
        free(copy);
        atomic_store(&running, false);
    } else {
        atomic_store(&pending, 0);
    }
    pthread_attr_destroy(&attr);
}

long store_analyze_count(void)
{
    return atomic_load(&analyzes);
}
