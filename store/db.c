#include "db.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STMTS 512
#define TX_RETRIES 8

struct db_conn {
    PGconn *pg;
    bool in_use;
    bool broken;                   /* reset before the next use */
    bool dead;                     /* stopped answering: reconnected before the next use */
    int generation;                /* db_reconnect_all() count when it connected */
    bool prepared[MAX_STMTS];
    char sqlstate[6];
    struct arena scratch;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct db_conn *conns;
    int size;
    char *conninfo;
    /* issue 15: a stalled database gives 503 within bounded times */
    int connect_s, statement_ms, acquire_ms;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, NULL, 5, 30000, 10000 };

/* How long past statement_timeout Cairn waits for a reply itself: the
 * server enforces statement_timeout, but a stopped one enforces nothing. */
#define CLIENT_MARGIN_MS 2000

void db_set_timeouts(int connect_s, int statement_ms, int acquire_ms)
{
    pool.connect_s = connect_s;
    pool.statement_ms = statement_ms;
    pool.acquire_ms = acquire_ms;
}

static long long mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the reply to what was sent can be read without blocking, at
 * most until deadline. False when the database stopped answering or the
 * connection failed: the connection is then marked dead. */
static bool wait_ready(struct db_conn *c, long long deadline)
{
    for (;;) {
        int flush = PQflush(c->pg);
        if (flush < 0)
            break;
        if (flush == 0) {
            if (!PQconsumeInput(c->pg))
                break;
            if (!PQisBusy(c->pg))
                return true;
        }
        long long left = deadline - mono_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = { PQsocket(c->pg), (short)(POLLIN | (flush ? POLLOUT : 0)), 0 };
        if (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
            break;
    }
    c->dead = true;
    c->broken = true;
    return false;
}

/* The result of a query sent with PQsend*: like PQexec (the first error,
 * else the last result), but bounded by the statement budget. NULL when
 * the send failed or the database stopped answering. */
static PGresult *await_result(struct db_conn *c, int sent)
{
    if (!sent) {
        c->broken = true;
        return NULL;
    }
    long long deadline = mono_now_ms() + pool.statement_ms + CLIENT_MARGIN_MS;
    PGresult *keep = NULL;
    for (;;) {
        if (!wait_ready(c, deadline)) {
            PQclear(keep);
            return NULL;
        }
        PGresult *r = PQgetResult(c->pg);
        if (!r)
            return keep;
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
}

static PGresult *exec_bounded(struct db_conn *c, const char *sql)
{
    return await_result(c, PQsendQuery(c->pg, sql));
}

static PGconn *connect_bounded(void)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", pool.connect_s);
    const char *const keys[] = { "dbname", "connect_timeout", NULL };
    const char *const vals[] = { pool.conninfo, timeout, NULL };
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (pg && PQstatus(pg) == CONNECTION_OK)
        PQsetnonblocking(pg, 1);
    return pg;
}

static atomic_int next_stmt_id;
static atomic_int generation;

void db_reconnect_all(void)
{
    atomic_fetch_add(&generation, 1);
}

static int conn_setup(struct db_conn *c, struct error *err)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable: %s",
                         PQerrorMessage(c->pg));
    char sql[160];
    snprintf(sql, sizeof sql, "SET search_path TO cairn; SET application_name TO 'cairn-server'; "
             "SET statement_timeout TO %d", pool.statement_ms);
    PGresult *r = exec_bounded(c, sql);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    memset(c->prepared, 0, sizeof c->prepared);
    c->broken = !ok;
    return ok ? 0 : error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable");
}

int db_init(const char *conninfo, int pool_size, struct error *err)
{
    pool.conninfo = strdup(conninfo);
    pool.size = pool_size;
    pool.conns = calloc((size_t)pool_size, sizeof *pool.conns);
    /* Connections open on first use: start-up pays for none of them (the
     * migration step has already proven the conninfo works). */
    for (int i = 0; i < pool_size; i++)
        arena_init(&pool.conns[i].scratch);
    (void)err;
    return 0;
}

void db_shutdown(void)
{
    for (int i = 0; i < pool.size; i++) {
        if (pool.conns[i].pg)
            PQfinish(pool.conns[i].pg);
        arena_free(&pool.conns[i].scratch);
    }
    free(pool.conns);
    free(pool.conninfo);
    pool.conns = NULL;
    pool.size = 0;
}

const char *db_conninfo(void) { return pool.conninfo; }

static struct db_conn *acquire(struct error *err)
{
    pthread_mutex_lock(&pool.lock);
    struct db_conn *c = NULL;
    for (;;) {
        for (int i = 0; i < pool.size; i++)
            if (!pool.conns[i].in_use) {
                c = &pool.conns[i];
                break;
            }
        if (c)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += pool.acquire_ms / 1000;
        until.tv_nsec += (long)(pool.acquire_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&pool.freed, &pool.lock, &until) == ETIMEDOUT) {
            for (int i = 0; i < pool.size && !c; i++)
                if (!pool.conns[i].in_use)
                    c = &pool.conns[i];
            if (c)
                break;
            pthread_mutex_unlock(&pool.lock);
            error_set(err, ERR_TEMPORARILY_UNAVAILABLE,
                      "Database busy: no connection free within %d ms; retry the request", pool.acquire_ms);
            return NULL;
        }
    }
    c->in_use = true;
    pthread_mutex_unlock(&pool.lock);
    int gen = atomic_load(&generation);
    if (c->generation != gen)
        c->dead = true;   /* the server restarted since this one connected */
    c->generation = gen;
    if (c->pg && (c->dead || PQstatus(c->pg) != CONNECTION_OK)) {
        PQfinish(c->pg);   /* a fresh connection, bounded by connect_timeout */
        c->pg = NULL;
    }
    if (!c->pg) {
        c->pg = connect_bounded();
        c->dead = false;
        c->broken = true;   /* set up below */
    }
    if (c->broken) {
        if (conn_setup(c, err)) {
            c->broken = true;
            pthread_mutex_lock(&pool.lock);
            c->in_use = false;
            pthread_cond_signal(&pool.freed);
            pthread_mutex_unlock(&pool.lock);
            return NULL;
        }
    }
    c->sqlstate[0] = '\0';
    return c;
}

static void release(struct db_conn *c)
{
    arena_reset(&c->scratch);
    pthread_mutex_lock(&pool.lock);
    c->in_use = false;
    pthread_cond_signal(&pool.freed);
    pthread_mutex_unlock(&pool.lock);
}

/* Maps a failed result to an error. Returns 1 when the transaction should be retried. */
static int fail(struct db_conn *c, PGresult *r, struct error *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
    if (PQstatus(c->pg) != CONNECTION_OK || !state) {
        c->broken = true;
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database connection lost; retry the request");
        return 0;
    }
    if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
        return 1;
    if (!strcmp(state, "57014")) {   /* statement_timeout */
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE,
                  "Database statement timed out after %d ms; retry the request", pool.statement_ms);
        return 0;
    }
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!strncmp(state, "22", 2) || !strcmp(state, "54000"))
        error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value: %s", msg ? msg : state);
    else if (!strncmp(state, "57P", 3) || !strncmp(state, "08", 2) || !strcmp(state, "53300")) {
        c->broken = true;
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable; retry the request");
    } else
        error_set(err, ERR_INTERNAL_ERROR, "Database error %s: %s", state, msg ? msg : "");
    return 0;
}

static PGresult *check(struct db_conn *c, PGresult *r, struct error *err)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return r;
    if (fail(c, r, err))
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Serialization failure");  /* retried by db_tx */
    PQclear(r);
    return NULL;
}

PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals,
                  struct error *err)
{
    if (st->id < 0) {
        int id = atomic_fetch_add(&next_stmt_id, 1);
        if (id >= MAX_STMTS) {
            fputs("cairn: too many prepared statements\n", stderr);
            abort();
        }
        /* benign race: two threads may both assign; the loser's id is unused */
        st->id = id;
    }
    char name[16];
    snprintf(name, sizeof name, "s%d", st->id);
    if (!c->prepared[st->id]) {
        PGresult *p = check(c, await_result(c, PQsendPrepare(c->pg, name, st->sql, n, NULL)), err);
        if (!p)
            return NULL;
        PQclear(p);
        c->prepared[st->id] = true;
    }
    return check(c, await_result(c, PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0)), err);
}

PGresult *db_exec_sql(struct db_conn *c, const char *sql, int n, const char *const *vals,
                      struct error *err)
{
    return check(c, await_result(c, PQsendQueryParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0)), err);
}

const char *db_last_sqlstate(struct db_conn *c) { return c->sqlstate; }
struct arena *db_arena(struct db_conn *c) { return &c->scratch; }

static bool simple(struct db_conn *c, const char *sql)
{
    PGresult *r = exec_bounded(c, sql);
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s",
                 r && PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "");
    PQclear(r);
    if (!ok && PQstatus(c->pg) != CONNECTION_OK)
        c->broken = true;
    return ok;
}

static bool retryable(const char *state)
{
    return !strcmp(state, "40001") || !strcmp(state, "40P01");
}

int db_tx(db_fn fn, void *ctx, struct error *err)
{
    struct db_conn *c = acquire(err);
    if (!c)
        return -1;
    int rc = -1;
    for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
        c->sqlstate[0] = '\0';
        if (!simple(c, "BEGIN")) {
            error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable; retry the request");
            break;
        }
        rc = fn(c, ctx, err);
        if (rc == 0 && simple(c, "COMMIT"))
            break;
        if (rc == 0) {   /* COMMIT failed */
            rc = -1;
            if (!retryable(c->sqlstate)) {
                error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database commit failed; retry the request");
                break;
            }
        }
        if (!c->broken)
            simple(c, "ROLLBACK");
        if (c->broken || !retryable(c->sqlstate))
            break;
        arena_reset(&c->scratch);
        struct timespec ts = { 0, (long)(1000000L * (1 + attempt * attempt) + rand() % 1000000) };
        nanosleep(&ts, NULL);
    }
    release(c);
    return rc;
}

int db_run(db_fn fn, void *ctx, struct error *err)
{
    struct db_conn *c = acquire(err);
    if (!c)
        return -1;
    int rc = -1;
    /* fn runs autocommit statements (each atomic), so a deadlock or
     * serialization failure is retried like a transaction */
    for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
        c->sqlstate[0] = '\0';
        rc = fn(c, ctx, err);
        if (rc == 0 || c->broken || !retryable(c->sqlstate))
            break;
        arena_reset(&c->scratch);
        struct timespec ts = { 0, (long)(1000000L * (1 + attempt * attempt) + rand() % 1000000) };
        nanosleep(&ts, NULL);
    }
    release(c);
    return rc;
}

long long db_int64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double db_double(const PGresult *r, int row, int col)
{
    const char *s = PQgetvalue(r, row, col);
    if (!strcmp(s, "NaN")) return __builtin_nan("");
    if (!strcmp(s, "Infinity")) return __builtin_inf();
    if (!strcmp(s, "-Infinity")) return -__builtin_inf();
    return strtod(s, NULL);
}

bool db_isnull(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *i64s(struct arena *a, int64_t v)
{
    return arena_printf(a, "%lld", (long long)v);
}

/* {"a","b\"c"}: every element quoted, quotes and backslashes escaped */
const char *pg_text_array(struct arena *a, const char *const *v, size_t n)
{
    struct strbuf sb;
    sb_init(&sb, a, 64);
    sb_putc(&sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putc(&sb, ',');
        if (!v[i]) {
            sb_puts(&sb, "NULL");
            continue;
        }
        sb_putc(&sb, '"');
        for (const char *c = v[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                sb_putc(&sb, '\\');
            sb_putc(&sb, *c);
        }
        sb_putc(&sb, '"');
    }
    sb_putc(&sb, '}');
    return sb.buf;
}
