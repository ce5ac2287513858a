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

typedef int (*db_fn)(struct db_conn *c, void *ctx, struct error *err);
/* Runs fn inside BEGIN … COMMIT, retrying the whole transaction on 40001/40P01. */
int db_tx(db_fn fn, void *ctx, struct error *err);
/* Runs fn on a pooled connection without an explicit transaction (reads). */
int db_run(db_fn fn, void *ctx, struct error *err);

/* Executes a prepared statement; NULL with err set on failure. The caller
 * PQclear()s the result. */
PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals,
                  struct error *err);
/* Executes dynamic SQL (built from a fixed grammar, values only as $n). */
PGresult *db_exec_sql(struct db_conn *c, const char *sql, int n, const char *const *vals,
                      struct error *err);
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
