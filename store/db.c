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

struct pool;

struct db_conn {
    PGconn *pg;
    struct pool *owner;
    bool in_use;
    bool broken;                   /* reset before the next use */
    bool dead;                     /* stopped answering: reconnected before the next use */
    int generation;                /* db_reconnect_all() count when it connected */
    bool prepared[MAX_STMTS];
    char sqlstate[6];
    struct arena scratch;
};

/* One pool per database server: the primary (the backend store, possibly
 * a transaction-mode PgBouncer), then each read replica. */
struct pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct db_conn *conns;
    int size;
    char *conninfo;
    bool tx_pooler;                /* PgBouncer in transaction mode: no session state */
    atomic_int *gen;               /* a replica's: bumped when it went away */
};

static struct pool pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, NULL, false, NULL };

/* issue 15: a stalled database gives 503 within bounded times */
static struct {
    int connect_s, statement_ms, acquire_ms;
} cfg = { 5, 30000, 10000 };

/* How long past statement_timeout Cairn waits for a reply itself: the
 * server enforces statement_timeout, but a stopped one enforces nothing. */
#define CLIENT_MARGIN_MS 2000

void db_set_timeouts(int connect_s, int statement_ms, int acquire_ms)
{
    cfg.connect_s = connect_s;
    cfg.statement_ms = statement_ms;
    cfg.acquire_ms = acquire_ms;
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
    long long deadline = mono_now_ms() + cfg.statement_ms + CLIENT_MARGIN_MS;
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

static PGconn *connect_bounded(const char *conninfo)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", cfg.connect_s);
    /* application_name as a start-up parameter: PgBouncer keeps it per client */
    const char *const keys[] = { "dbname", "connect_timeout", "application_name", NULL };
    const char *const vals[] = { conninfo, timeout, "cairn-server", NULL };
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
    memset(c->prepared, 0, sizeof c->prepared);
    if (c->owner->tx_pooler) {   /* session settings would leak to other clients: SET LOCAL per transaction */
        c->broken = false;
        return 0;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "SET search_path TO cairn; SET statement_timeout TO %d", cfg.statement_ms);
    PGresult *r = exec_bounded(c, sql);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    c->broken = !ok;
    return ok ? 0 : error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable");
}

/* Connections open on first use: start-up pays for none of them (the
 * migration step has already proven the conninfo works). */
static void pool_init(struct pool *p, const char *conninfo, int size)
{
    p->conninfo = strdup(conninfo);
    p->size = size;
    p->conns = calloc((size_t)size, sizeof *p->conns);
    for (int i = 0; i < size; i++) {
        arena_init(&p->conns[i].scratch);
        p->conns[i].owner = p;
    }
}

static void pool_free(struct pool *p)
{
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].pg)
            PQfinish(p->conns[i].pg);
        arena_free(&p->conns[i].scratch);
    }
    free(p->conns);
    free(p->conninfo);
    p->conns = NULL;
    p->size = 0;
}

int db_init(const char *conninfo, int pool_size, struct error *err)
{
    pool_init(&pool, conninfo, pool_size);
    (void)err;
    return 0;
}

void db_set_transaction_pooler(bool on)
{
    pool.tx_pooler = on;
}

static void replicas_shutdown(void);

void db_shutdown(void)
{
    replicas_shutdown();
    pool_free(&pool);
}

const char *db_conninfo(void) { return pool.conninfo; }

static struct db_conn *acquire(struct pool *p, struct error *err)
{
    pthread_mutex_lock(&p->lock);
    struct db_conn *c = NULL;
    for (;;) {
        for (int i = 0; i < p->size; i++)
            if (!p->conns[i].in_use) {
                c = &p->conns[i];
                break;
            }
        if (c)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += cfg.acquire_ms / 1000;
        until.tv_nsec += (long)(cfg.acquire_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&p->freed, &p->lock, &until) == ETIMEDOUT) {
            for (int i = 0; i < p->size && !c; i++)
                if (!p->conns[i].in_use)
                    c = &p->conns[i];
            if (c)
                break;
            pthread_mutex_unlock(&p->lock);
            error_set(err, ERR_TEMPORARILY_UNAVAILABLE,
                      "Database busy: no connection free within %d ms; retry the request", cfg.acquire_ms);
            return NULL;
        }
    }
    c->in_use = true;
    pthread_mutex_unlock(&p->lock);
    int gen = atomic_load(&generation) + (p->gen ? atomic_load(p->gen) : 0);
    if (c->generation != gen)
        c->dead = true;   /* the server restarted since this one connected */
    c->generation = gen;
    if (c->pg && (c->dead || PQstatus(c->pg) != CONNECTION_OK)) {
        PQfinish(c->pg);   /* a fresh connection, bounded by connect_timeout */
        c->pg = NULL;
    }
    if (!c->pg) {
        c->pg = connect_bounded(p->conninfo);
        c->dead = false;
        c->broken = true;   /* set up below */
    }
    if (c->broken) {
        if (conn_setup(c, err)) {
            c->broken = true;
            pthread_mutex_lock(&p->lock);
            c->in_use = false;
            pthread_cond_signal(&p->freed);
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
    }
    c->sqlstate[0] = '\0';
    return c;
}

static void release(struct db_conn *c)
{
    arena_reset(&c->scratch);
    struct pool *p = c->owner;
    pthread_mutex_lock(&p->lock);
    c->in_use = false;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
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
                  "Database statement timed out after %d ms; retry the request", cfg.statement_ms);
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

static int stmt_id(struct db_stmt *st)
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
    return st->id;
}

/* Sends a prepared statement (preparing it first if needed); 0, or -1 with err set. */
int db_send(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals, struct error *err)
{
    int id = stmt_id(st);
    int sent;
    if (c->owner->tx_pooler) {   /* PgBouncer (before 1.21) cannot keep named statements: unnamed ones */
        sent = PQsendQueryParams(c->pg, st->sql, n, NULL, vals, NULL, NULL, 0);
    } else {
        char name[16];
        snprintf(name, sizeof name, "s%d", id);
        if (!c->prepared[id]) {
            PGresult *p = check(c, await_result(c, PQsendPrepare(c->pg, name, st->sql, n, NULL)), err);
            if (!p)
                return -1;
            PQclear(p);
            c->prepared[id] = true;
        }
        sent = PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0);
    }
    if (!sent) {
        c->broken = true;
        check(c, NULL, err);   /* the connection-lost error */
        return -1;
    }
    return 0;
}

PGresult *db_receive(struct db_conn *c, struct error *err)
{
    return check(c, await_result(c, 1), err);
}

PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals,
                  struct error *err)
{
    return db_send(c, st, n, vals, err) ? NULL : db_receive(c, err);
}

static int exec_each(struct db_conn *c, struct db_batch_item *it, int n, struct error *err)
{
    for (int i = 0; i < n; i++)
        if (!(it[i].res = db_exec(c, it[i].st, it[i].n, it[i].vals, err)))
            return -1;
    return 0;
}

/* The next result of a pipeline (NULL marks the end of one statement's),
 * bounded as await_result is; *lost when the database stopped answering. */
static PGresult *pipeline_next(struct db_conn *c, long long deadline, bool *lost)
{
    if (*lost || !wait_ready(c, deadline)) {
        *lost = true;
        return NULL;
    }
    return PQgetResult(c->pg);
}

/* Reads one statement's results up to its NULL: the tuples (kept in *keep
 * when it succeeded), the first error in *first_err. */
static bool pipeline_read_one(struct db_conn *c, long long deadline, bool *lost, PGresult **keep,
                              PGresult **first_err)
{
    bool ok = false;
    PGresult *r;
    while ((r = pipeline_next(c, deadline, lost))) {
        ExecStatusType s = PQresultStatus(r);
        if ((s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) && keep && !*keep) {
            *keep = r;
            ok = true;
            continue;
        }
        if (s == PGRES_COMMAND_OK)
            ok = true;
        if (s == PGRES_FATAL_ERROR && !*first_err)
            *first_err = r;
        else
            PQclear(r);
    }
    return ok && !*lost;
}

int db_exec_batch(struct db_conn *c, struct db_batch_item *it, int n, struct error *err)
{
    enum { MAX_BATCH = 16 };
    for (int i = 0; i < n; i++)
        it[i].res = NULL;
    /* PgBouncer in transaction mode: one statement at a time, as db_exec does */
    if (n < 2 || n > MAX_BATCH || c->owner->tx_pooler || !PQenterPipelineMode(c->pg)) {
        if (!exec_each(c, it, n, err))
            return 0;
        db_batch_clear(it, n);
        return -1;
    }
    bool prepare[MAX_BATCH] = { false }, sent = true, lost = false;
    for (int i = 0; i < n && sent; i++) {
        int id = stmt_id(it[i].st);
        char name[16];
        snprintf(name, sizeof name, "s%d", id);
        if (!c->prepared[id]) {   /* marked now: a statement twice in one batch is prepared once */
            prepare[i] = c->prepared[id] = true;
            sent = PQsendPrepare(c->pg, name, it[i].st->sql, it[i].n, NULL);
        }
        sent = sent && PQsendQueryPrepared(c->pg, name, it[i].n, it[i].vals, NULL, NULL, 0);
    }
    sent = sent && PQpipelineSync(c->pg);
    if (!sent)
        lost = true;
    long long deadline = mono_now_ms() + cfg.statement_ms + CLIENT_MARGIN_MS;
    PGresult *first_err = NULL;
    bool all = !lost;
    for (int i = 0; i < n && !lost; i++) {
        if (prepare[i] && !pipeline_read_one(c, deadline, &lost, NULL, &first_err))
            c->prepared[it[i].st->id] = false;
        if (!pipeline_read_one(c, deadline, &lost, &it[i].res, &first_err))
            all = false;
    }
    /* the sync point ends the pipeline; after an error the rest were skipped */
    PGresult *r = lost ? NULL : pipeline_next(c, deadline, &lost);
    if (!lost && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        lost = true;
    PQclear(r);
    if (lost || !PQexitPipelineMode(c->pg)) {
        c->broken = true;
        all = false;
    }
    if (all) {
        PQclear(first_err);
        return 0;
    }
    db_batch_clear(it, n);
    if (first_err || lost)
        check(c, first_err, err);   /* maps the error (NULL: the connection was lost) */
    else
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database connection lost; retry the request");
    return -1;
}

void db_batch_clear(struct db_batch_item *it, int n)
{
    for (int i = 0; i < n; i++) {
        PQclear(it[i].res);
        it[i].res = NULL;
    }
}

PGresult *db_exec_sql(struct db_conn *c, const char *sql, int n, const char *const *vals,
                      struct error *err)
{
    return check(c, await_result(c, PQsendQueryParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0)), err);
}

/* COPY … FROM STDIN: the statement, then data in 64 KiB messages, each
 * flushed within the statement budget (the connection is non-blocking), then
 * the end of data and the command's result. A server error during the copy
 * (a bad row) ends it; the error is mapped as db_exec maps it. */
int db_copy_in(struct db_conn *c, const char *sql, const char *data, size_t len, struct error *err)
{
    long long deadline = mono_now_ms() + cfg.statement_ms + CLIENT_MARGIN_MS;
    if (!PQsendQuery(c->pg, sql) || !wait_ready(c, deadline)) {
        c->broken = true;
        check(c, NULL, err);   /* the connection-lost error */
        return -1;
    }
    PGresult *r = PQgetResult(c->pg);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(await_result(c, 1));   /* the rest, up to ReadyForQuery */
        if ((r = check(c, r, err))) {   /* not a COPY statement: a programming error */
            PQclear(r);
            return error_set(err, ERR_INTERNAL_ERROR, "COPY did not start");
        }
        return -1;
    }
    PQclear(r);
    int rc = 1;
    for (size_t off = 0; off < len && rc >= 0;) {
        size_t n = len - off < 65536 ? len - off : 65536;
        rc = PQputCopyData(c->pg, data + off, (int)n);
        if (rc > 0)
            off += n;
        if (rc >= 0 && !wait_ready(c, deadline)) {
            check(c, NULL, err);
            return -1;
        }
    }
    while (rc >= 0 && (rc = PQputCopyEnd(c->pg, NULL)) == 0)
        if (!wait_ready(c, deadline)) {
            check(c, NULL, err);
            return -1;
        }
    /* the command's result (the first error if any); still copying means
     * the data could not be sent: the connection is given up */
    PGresult *keep = NULL;
    for (;;) {
        if (!wait_ready(c, deadline))
            break;
        r = PQgetResult(c->pg);
        if (!r) {
            PGresult *ok = check(c, keep, err);
            PQclear(ok);
            return ok ? 0 : -1;
        }
        if (PQresultStatus(r) == PGRES_COPY_IN) {
            PQclear(r);
            c->broken = true;
            break;
        }
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
    PQclear(keep);
    check(c, NULL, err);
    return -1;
}

/* One field of a COPY text row: backslash, tab, newline and carriage
 * return escaped; NULL as \N. */
void db_copy_field(struct strbuf *sb, const char *s, bool last)
{
    if (!s) {
        sb_putn(sb, "\\N", 2);
    } else {
        const char *run = s;
        for (; *s; s++) {
            char e = *s == '\\' ? '\\' : *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : 0;
            if (!e)
                continue;
            sb_putn(sb, run, (size_t)(s - run));
            char esc[2] = { '\\', e };
            sb_putn(sb, esc, 2);
            run = s + 1;
        }
        sb_putn(sb, run, (size_t)(s - run));
    }
    sb_putc(sb, last ? '\n' : '\t');
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

static void backoff(int attempt)
{
    struct timespec ts = { 0, (long)(1000000L * (1 + attempt * attempt) + rand() % 1000000) };
    nanosleep(&ts, NULL);
}

/* BEGIN; behind a transaction-mode pooler the session settings come with
 * it, as SET LOCAL, in the same round trip */
static bool begin(struct db_conn *c)
{
    if (!c->owner->tx_pooler)
        return simple(c, "BEGIN");
    char sql[128];
    snprintf(sql, sizeof sql, "BEGIN; SET LOCAL search_path TO cairn; SET LOCAL statement_timeout TO %d",
             cfg.statement_ms);
    return simple(c, sql);
}

/* ---- issue 17: read replicas and read-your-writes ---- */

#define LAG_SAMPLES 256          /* the primary's WAL position, one per MONITOR_MS */
#define MONITOR_MS 100

struct replica {
    struct pool pool;
    PGconn *mon;                 /* the monitor's own connection */
    atomic_bool usable;          /* answering, in recovery, lag within the bound */
    _Atomic uint64_t replay;     /* its last polled replay position */
    atomic_llong lag_ms;
    atomic_int gen;              /* bumped when it went away: pooled connections reconnect */
    atomic_llong reads;          /* reads it answered */
};

static struct replica *replicas;
static int n_replicas, max_lag_ms = 5000;
static atomic_uint next_replica;
static atomic_llong primary_reads;
static pthread_t monitor;
static atomic_bool monitor_stop;
static PGconn *primary_mon;
/* the request's read-your-writes floor (from the client) and its own last commit */
static __thread uint64_t tls_floor, tls_wrote;

static uint64_t parse_lsn(const char *s)
{
    unsigned hi, lo;
    return s && sscanf(s, "%X/%X", &hi, &lo) == 2 ? ((uint64_t)hi << 32) | lo : 0;
}

void db_request_begin(const char *floor_hex)
{
    tls_floor = floor_hex ? strtoull(floor_hex, NULL, 16) : 0;
    tls_wrote = 0;
}

bool db_request_wrote(char *buf, size_t n)
{
    if (!tls_wrote)
        return false;
    snprintf(buf, n, "%016llX", (unsigned long long)tls_wrote);
    return true;
}

bool db_has_replicas(void) { return n_replicas > 0; }

void store_reads_from_primary(void)
{
    tls_floor = UINT64_MAX;
}

void db_read_counts(long long *primary, long long *replica)
{
    *primary = atomic_load(&primary_reads);
    *replica = 0;
    for (int i = 0; i < n_replicas; i++)
        *replica += atomic_load(&replicas[i].reads);
}

/* COMMIT; with replicas, the primary's WAL insert position after it, in the
 * same round trip: the write's position a replica must have replayed before
 * this client reads from it */
static bool commit(struct db_conn *c)
{
    if (!n_replicas || c->owner != &pool)
        return simple(c, "COMMIT");
    PGresult *r = exec_bounded(c, "COMMIT; SELECT pg_current_wal_insert_lsn()");
    bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        uint64_t lsn = parse_lsn(PQgetvalue(r, 0, 0));
        if (lsn > tls_wrote)
            tls_wrote = lsn;
    } else {
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s",
                 r && PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "");
        if (PQstatus(c->pg) != CONNECTION_OK)
            c->broken = true;
    }
    PQclear(r);
    return ok;
}

/* after an autocommit write: the WAL position it committed at or before */
static void note_position(struct db_conn *c)
{
    if (!n_replicas)
        return;
    PGresult *r = exec_bounded(c, "SELECT pg_current_wal_insert_lsn()");
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        uint64_t lsn = parse_lsn(PQgetvalue(r, 0, 0));
        if (lsn > tls_wrote)
            tls_wrote = lsn;
    } else {
        tls_floor = UINT64_MAX;   /* unknown: this request reads from the primary */
    }
    PQclear(r);
}

int db_tx(db_fn fn, void *ctx, struct error *err)
{
    struct db_conn *c = acquire(&pool, err);
    if (!c)
        return -1;
    int rc = -1;
    for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
        c->sqlstate[0] = '\0';
        if (!begin(c)) {
            error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable; retry the request");
            break;
        }
        rc = fn(c, ctx, err);
        if (rc == 0 && commit(c))
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
        backoff(attempt);
    }
    release(c);
    return rc;
}

/* fn's autocommit statements on a connection of p (each atomic), a deadlock
 * or serialization failure retried like a transaction; behind a
 * transaction-mode pooler inside one transaction, for its SET LOCALs */
static void note_position(struct db_conn *c);

static int run_on(struct pool *p, db_fn fn, void *ctx, bool write, struct error *err)
{
    struct db_conn *c = acquire(p, err);
    if (!c)
        return -1;
    int rc = -1;
    for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
        c->sqlstate[0] = '\0';
        if (p->tx_pooler && !begin(c)) {
            error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable; retry the request");
            break;
        }
        rc = fn(c, ctx, err);
        if (p->tx_pooler && !c->broken) {
            if (rc == 0 && !(write ? commit(c) : simple(c, "COMMIT"))) {
                rc = -1;
                error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Database unavailable; retry the request");
            } else if (rc != 0) {
                simple(c, "ROLLBACK");
            }
        }
        if (rc == 0 || c->broken || !retryable(c->sqlstate))
            break;
        arena_reset(&c->scratch);
        backoff(attempt);
    }
    if (rc == 0 && write && !p->tx_pooler)
        note_position(c);
    release(c);
    return rc;
}

int db_run(db_fn fn, void *ctx, struct error *err)
{
    return run_on(&pool, fn, ctx, false, err);
}

int db_run_write(db_fn fn, void *ctx, struct error *err)
{
    return run_on(&pool, fn, ctx, true, err);
}

/* A usable replica that has replayed what this request must see (its own
 * commits, and the client's floor), round robin; NULL: the primary. */
static struct replica *pick_replica(void)
{
    uint64_t need = tls_floor > tls_wrote ? tls_floor : tls_wrote;
    unsigned start = atomic_fetch_add(&next_replica, 1);
    for (int i = 0; i < n_replicas; i++) {
        struct replica *r = &replicas[(start + (unsigned)i) % (unsigned)n_replicas];
        if (atomic_load(&r->usable) && atomic_load(&r->replay) >= need)
            return r;
    }
    return NULL;
}

int db_read(db_fn fn, void *ctx, struct error *err)
{
    struct replica *r = n_replicas ? pick_replica() : NULL;
    if (r) {
        struct error rerr = { 0 };
        if (run_on(&r->pool, fn, ctx, false, &rerr) == 0) {
            atomic_fetch_add(&r->reads, 1);
            return 0;
        }
        if (rerr.code != ERR_TEMPORARILY_UNAVAILABLE) {
            *err = rerr;
            return -1;
        }
        /* gone or stalled (a restart, a recovery conflict): skipped until the
         * monitor sees it answer again, and this read answered by the primary */
        if (atomic_exchange(&r->usable, false))
            fprintf(stderr, "cairn: read replica %d failed (%s); reading from the primary\n",
                    (int)(r - replicas) + 1, rerr.message);
        atomic_fetch_add(&r->gen, 1);
    }
    atomic_fetch_add(&primary_reads, 1);
    return run_on(&pool, fn, ctx, false, err);
}

/* One value from a monitor connection (opened or reopened as needed); false
 * when the server did not answer. */
static bool poll_one(PGconn **pg, const char *conninfo, const char *sql, char *v0, char *v1, size_t n)
{
    if (*pg && PQstatus(*pg) != CONNECTION_OK) {
        PQfinish(*pg);
        *pg = NULL;
    }
    if (!*pg) {
        *pg = connect_bounded(conninfo);
        if (PQstatus(*pg) != CONNECTION_OK)
            return false;
        PQsetnonblocking(*pg, 0);
        PQclear(PQexec(*pg, "SET statement_timeout TO 2000"));
    }
    PGresult *r = PQexec(*pg, sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        snprintf(v0, n, "%s", PQgetvalue(r, 0, 0));
        if (v1)
            snprintf(v1, n, "%s", PQnfields(r) > 1 ? PQgetvalue(r, 0, 1) : "");
    }
    PQclear(r);
    return ok;
}

/* Every MONITOR_MS: the primary's WAL position (kept with its time), then
 * each replica's replay position. A replica's lag is the age of the oldest
 * primary position it has not replayed yet (0 when it has replayed the
 * latest); over the bound, down, or no longer in recovery, it is skipped. */
static void *monitor_main(void *arg)
{
    (void)arg;
    static struct lsn_sample { uint64_t lsn; long long at; } ring[LAG_SAMPLES];
    int head = 0, count = 0;
    while (!atomic_load(&monitor_stop)) {
        char v0[64], v1[64];
        long long now = mono_now_ms();
        if (poll_one(&primary_mon, pool.conninfo, "SELECT pg_current_wal_insert_lsn()", v0, NULL, sizeof v0)) {
            ring[head] = (struct lsn_sample){ parse_lsn(v0), now };
            head = (head + 1) % LAG_SAMPLES;
            count += count < LAG_SAMPLES;
        }
        for (int i = 0; i < n_replicas; i++) {
            struct replica *r = &replicas[i];
            bool ok = poll_one(&r->mon, r->pool.conninfo,
                               "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()", v0, v1, sizeof v0);
            long long lag = -1;
            if (ok && !strcmp(v0, "t")) {
                uint64_t replay = parse_lsn(v1);
                atomic_store(&r->replay, replay);
                lag = 0;
                for (int k = 0; k < count; k++) {   /* oldest first */
                    int j = (head - count + k + LAG_SAMPLES) % LAG_SAMPLES;
                    if (ring[j].lsn > replay) {
                        lag = now - ring[j].at;
                        break;
                    }
                }
            }
            atomic_store(&r->lag_ms, lag);
            bool usable = lag >= 0 && lag <= max_lag_ms;
            bool was = atomic_load(&r->usable);
            if (!ok)
                atomic_fetch_add(&r->gen, 1);
            if (usable != was) {
                atomic_store(&r->usable, usable);
                if (usable)
                    fprintf(stderr, "cairn: read replica %d in use (lag %lld ms)\n", i + 1, lag);
                else
                    fprintf(stderr, "cairn: read replica %d skipped (%s)\n", i + 1,
                            !ok ? "not answering" : lag < 0 ? "not in recovery" : "lag over the bound");
            }
        }
        long long left = MONITOR_MS - (mono_now_ms() - now);
        if (left > 0) {
            struct timespec ts = { 0, left * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int db_replicas_init(const char *const *conninfos, int n, int pool_size, int lag_bound_ms, struct error *err)
{
    if (n <= 0)
        return 0;
    replicas = calloc((size_t)n, sizeof *replicas);
    for (int i = 0; i < n; i++) {
        pthread_mutex_init(&replicas[i].pool.lock, NULL);
        pthread_cond_init(&replicas[i].pool.freed, NULL);
        pool_init(&replicas[i].pool, conninfos[i], pool_size);
        replicas[i].pool.gen = &replicas[i].gen;
    }
    n_replicas = n;
    max_lag_ms = lag_bound_ms;
    if (pthread_create(&monitor, NULL, monitor_main, NULL)) {
        n_replicas = 0;
        return error_set(err, ERR_INTERNAL_ERROR, "cannot start the read-replica monitor");
    }
    return 0;
}

static void replicas_shutdown(void)
{
    if (!n_replicas)
        return;
    atomic_store(&monitor_stop, true);
    pthread_join(monitor, NULL);
    int n = n_replicas;
    n_replicas = 0;
    for (int i = 0; i < n; i++) {
        PQfinish(replicas[i].mon);
        pool_free(&replicas[i].pool);
    }
    free(replicas);
    replicas = NULL;
    PQfinish(primary_mon);
    primary_mon = NULL;
}
/* ---- end issue 17 ---- */

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
