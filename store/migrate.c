#include "migrate.h"
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MIGRATION_LOCK_KEY "7310591133417"   /* any constant; "cairn" in our lock space */

static int exec_ok(PGconn *pg, const char *sql, struct error *err)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = error_set(err, ERR_INTERNAL_ERROR, "migration failed: %s", PQerrorMessage(pg));
    PQclear(r);
    return rc;
}

static int applied_version(PGconn *pg, int version)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *vals[1] = { v };
    PGresult *r = PQexecParams(pg, "SELECT 1 FROM cairn.schema_migrations WHERE version = $1", 1,
                               NULL, vals, NULL, NULL, 0);
    int found = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    return found;
}

/* Each step is one transaction holding a transaction-scoped advisory lock:
 * concurrent servers apply a migration once, and nothing outlives the
 * transaction (PgBouncer in transaction mode hands a session's statements
 * to different server connections, so a session lock could leak). */
#define LOCKED_BEGIN "BEGIN; SET LOCAL client_min_messages TO warning; " \
                     "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY "); "

static int apply(PGconn *pg, const struct migration *m, struct error *err)
{
    if (exec_ok(pg, LOCKED_BEGIN "SET LOCAL search_path TO cairn", err))
        return -1;
    if (applied_version(pg, m->version))
        return exec_ok(pg, "COMMIT", err);
    if (exec_ok(pg, m->sql, err)) {
        exec_ok(pg, "ROLLBACK", NULL);
        return error_set(err, ERR_INTERNAL_ERROR, "migration %s failed: %s", m->name, err->message);
    }
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *vals[2] = { v, m->name };
    PGresult *r = PQexecParams(pg, "INSERT INTO cairn.schema_migrations (version, name) VALUES ($1, $2)",
                               2, NULL, vals, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || exec_ok(pg, "COMMIT", err)) {
        exec_ok(pg, "ROLLBACK", NULL);
        return error_set(err, ERR_INTERNAL_ERROR, "recording migration %s failed", m->name);
    }
    return 0;
}

static int seed_default_experiment(PGconn *pg, const char *root, struct error *err)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char now[24], loc[4096];
    snprintf(now, sizeof now, "%lld", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    size_t n = strlen(root);
    snprintf(loc, sizeof loc, "%s%s0", root, n && root[n - 1] == '/' ? "" : "/");
    const char *vals[2] = { loc, now };
    PGresult *r = PQexecParams(pg,
        "INSERT INTO cairn.experiments (experiment_id, name, artifact_location, lifecycle_stage,"
        " creation_time, last_update_time) VALUES (0, 'Default', $1, 'active', $2, $2)"
        " ON CONFLICT DO NOTHING", 2, NULL, vals, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : error_set(err, ERR_INTERNAL_ERROR, "creating the Default experiment failed: %s",
                              PQerrorMessage(pg));
}

int migrate(const char *conninfo, const char *default_artifact_root, struct error *err)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -1;
    }
    int rc = exec_ok(pg, LOCKED_BEGIN "CREATE SCHEMA IF NOT EXISTS cairn;"
                         "CREATE TABLE IF NOT EXISTS cairn.schema_migrations ("
                         " version int PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now()); COMMIT", err);
    if (rc)
        exec_ok(pg, "ROLLBACK", NULL);
    for (int i = 0; !rc && i < cairn_migrations_count; i++)
        if (!applied_version(pg, cairn_migrations[i].version))
            rc = apply(pg, &cairn_migrations[i], err);   /* checked again under the lock */
    if (!rc)
        rc = seed_default_experiment(pg, default_artifact_root, err);
    PQfinish(pg);
    return rc;
}
