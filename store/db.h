/* PostgreSQL access: a fixed pool of libpq connections, statements prepared
 * once per connection, one transaction per call with retry on serialization
 * failure and deadlock, and a lost connection mapped to
 * TEMPORARILY_UNAVAILABLE (503, which clients retry) with a reconnect on the
 * next use. */
#ifndef CAIRN_DB_H
#define CAIRN_DB_H
#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "arena.h"
#include "error.h"
#include "tracking.h"

struct db_stmt {
    const char *sql;
    int id;          /* assigned on first use */
};
#define DB_STMT(name, text) static struct db_stmt name = { text, -1 }

struct db_conn;

int  db_init(const char *conninfo, int pool_size, struct error *err);
/* Bounds for a stalled database (defaults 5 s, 30000 ms, 10000 ms): a new
 * connection's connect_timeout; statement_timeout (and Cairn's own wait,
 * 2 s longer, for a server that stopped answering); the wait for a free
 * pooled connection. Each ends in 503 TEMPORARILY_UNAVAILABLE. */
void db_set_timeouts(int connect_s, int statement_ms, int acquire_ms);
/* After the database restarted: every pooled connection reconnects before
 * its next use (instead of failing one request each). */
void db_reconnect_all(void);
void db_shutdown(void);
const char *db_conninfo(void);

/* issue 17: the backend URI is PgBouncer in transaction mode: no named
 * prepared statements (unnamed ones), no session settings (SET LOCAL in
 * every transaction, reads too). */
void db_set_transaction_pooler(bool on);
/* issue 17: streaming read replicas for db_read: each its own pool of
 * pool_size; one polled every 100 ms is skipped while down, out of
 * recovery, or more than lag_bound_ms behind the primary. */
int db_replicas_init(const char *const *conninfos, int n, int pool_size, int lag_bound_ms, struct error *err);
bool db_has_replicas(void);
/* Read-your-writes, per request (the caller's thread): before it, the
 * primary WAL position the client last wrote at (16 hex digits, as
 * db_request_wrote gives; NULL: none); after it, true with that position in
 * buf when the request committed a write (only with replicas). */
void db_request_begin(const char *floor_hex);
bool db_request_wrote(char *buf, size_t n);
/* reads answered by the primary and by replicas since start */
void db_read_counts(long long *primary, long long *replica);

typedef int (*db_fn)(struct db_conn *c, void *ctx, struct error *err);
/* Runs fn inside BEGIN … COMMIT, retrying the whole transaction on 40001/40P01. */
int db_tx(db_fn fn, void *ctx, struct error *err);
/* Runs fn on a pooled connection without an explicit transaction (reads). */
int db_run(db_fn fn, void *ctx, struct error *err);
/* issue 17: db_run for autocommit writes (their position is the client's
 * read-your-writes floor when there are replicas) */
int db_run_write(db_fn fn, void *ctx, struct error *err);
/* issue 17: as db_run, on a read replica when one may answer (see
 * db_replicas_init, db_request_begin), else on the primary; a replica that
 * fails is skipped and the primary answers. fn must produce nothing
 * before it returns (it may run twice). */
int db_read(db_fn fn, void *ctx, struct error *err);

/* Executes a prepared statement; NULL with err set on failure. The caller
 * PQclear()s the result. */
PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals,
                  struct error *err);
/* db_exec in two halves: send, then (after other work) the result. Nothing
 * else may use c in between. */
int db_send(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals, struct error *err);
PGresult *db_receive(struct db_conn *c, struct error *err);
/* issue 19: several prepared statements sent at once and answered in one
 * round trip (libpq pipeline mode; one by one behind PgBouncer). Each
 * item's res is its result; on failure all are cleared, err is set as
 * db_exec sets it, and -1 is returned. The caller db_batch_clear()s. */
struct db_batch_item {
    struct db_stmt *st;
    int n;
    const char *const *vals;
    PGresult *res;
};
int db_exec_batch(struct db_conn *c, struct db_batch_item *items, int n, struct error *err);
void db_batch_clear(struct db_batch_item *items, int n);
/* Executes dynamic SQL (built from a fixed grammar, values only as $n). */
PGresult *db_exec_sql(struct db_conn *c, const char *sql, int n, const char *const *vals,
                      struct error *err);
/* COPY … FROM STDIN (sql) with data in COPY's text format; 0 or -1 with err
 * set as for db_exec. */
int db_copy_in(struct db_conn *c, const char *sql, const char *data, size_t len, struct error *err);
/* Appends one text-format COPY field (NULL: \N), then a tab, or a newline when last. */
void db_copy_field(struct strbuf *sb, const char *s, bool last);
/* SQLSTATE of the last failed statement on c ("" if none). */
const char *db_last_sqlstate(struct db_conn *c);
/* Per-transaction scratch memory, reset after each db_tx/db_run. */
struct arena *db_arena(struct db_conn *c);

/* helpers for reading results */
long long db_int64(const PGresult *r, int row, int col);
double db_double(const PGresult *r, int row, int col);
bool db_isnull(const PGresult *r, int row, int col);
#endif

/* int64 as text for bind parameters, in the arena */
const char *i64s(struct arena *a, int64_t v);
/* a PostgreSQL array literal of text values, for "$n::text[]" */
const char *pg_text_array(struct arena *a, const char *const *v, size_t n);
