/* The basic-auth app's store (issue 16): users, roles and grants in the
 * cairn_auth schema, on a small connection pool of its own (the auth
 * database may be another one than the backend store), plus the few
 * tracking-store look-ups permission checks need. */
#include "auth_store.h"
#include "db.h"
#include "migrate.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_SIZE 4
#define SALT_LEN 16
#define HASH_LEN 32
#define AUTH_LOCK_KEY "7310591133418"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    PGconn *conns[POOL_SIZE];
    bool in_use[POOL_SIZE];
    char *conninfo;
    int ttl;
} ap = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, { 0 }, NULL, 0 };

/* two generations: a changed grant must not cost every cached credential a re-hash */
static atomic_uint grants_gen = 1, users_gen = 1;

unsigned auth_store_generation(void) { return atomic_load(&grants_gen); }
unsigned auth_store_user_generation(void) { return atomic_load(&users_gen); }
static void changed(void) { atomic_fetch_add(&grants_gen, 1); }
static void user_changed(void) { atomic_fetch_add(&users_gen, 1); atomic_fetch_add(&grants_gen, 1); }

/* ---- the pool ---- */

static int acquire(struct error *err)
{
    pthread_mutex_lock(&ap.lock);
    int i;
    for (;;) {
        for (i = 0; i < POOL_SIZE && ap.in_use[i]; i++)
            ;
        if (i < POOL_SIZE)
            break;
        pthread_cond_wait(&ap.freed, &ap.lock);
    }
    ap.in_use[i] = true;
    pthread_mutex_unlock(&ap.lock);
    if (!ap.conns[i] || PQstatus(ap.conns[i]) != CONNECTION_OK) {
        if (ap.conns[i])
            PQfinish(ap.conns[i]);
        ap.conns[i] = PQconnectdb(ap.conninfo);
        if (PQstatus(ap.conns[i]) == CONNECTION_OK)
            PQclear(PQexec(ap.conns[i], "SET application_name TO 'cairn-server-auth'"));
    }
    if (PQstatus(ap.conns[i]) != CONNECTION_OK) {
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Auth database unavailable: %s",
                  PQerrorMessage(ap.conns[i]));
        pthread_mutex_lock(&ap.lock);
        ap.in_use[i] = false;
        pthread_cond_signal(&ap.freed);
        pthread_mutex_unlock(&ap.lock);
        return -1;
    }
    return i;
}

static void release(int i)
{
    pthread_mutex_lock(&ap.lock);
    ap.in_use[i] = false;
    pthread_cond_signal(&ap.freed);
    pthread_mutex_unlock(&ap.lock);
}

/* The result, or NULL with err set. A unique violation is RESOURCE_ALREADY_EXISTS. */
static PGresult *run_on(PGconn *pg, const char *sql, int n, const char *const *vals, struct error *err)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return r;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && !strcmp(state, "23505"))
        error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "already exists");
    else if (state && !strncmp(state, "22", 2))
        error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value: %s",
                  PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
    else if (!state || PQstatus(pg) != CONNECTION_OK)
        error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Auth database connection lost; retry the request");
    else
        error_set(err, ERR_INTERNAL_ERROR, "Auth database error %s: %s", state,
                  PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
    PQclear(r);
    return NULL;
}

static PGresult *q(const char *sql, int n, const char *const *vals, struct error *err)
{
    int i = acquire(err);
    if (i < 0)
        return NULL;
    PGresult *r = run_on(ap.conns[i], sql, n, vals, err);
    release(i);
    return r;
}

/* A statement that changes something; 0 or -1. */
static int change(const char *sql, int n, const char *const *vals, int64_t *rows, struct error *err)
{
    PGresult *r = q(sql, n, vals, err);
    if (!r)
        return -1;
    if (rows)
        *rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    changed();
    return 0;
}

static const char *cp(struct arena *a, const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int auth_store_open(const char *conninfo, int cache_ttl_seconds, struct error *err)
{
    ap.conninfo = strdup(conninfo);
    ap.ttl = cache_ttl_seconds;
    const struct migration *m = NULL;
    for (int i = 0; i < cairn_migrations_count; i++)
        if (strstr(cairn_migrations[i].name, "_auth"))
            m = &cairn_migrations[i];
    int i = acquire(err);
    if (i < 0)
        return -1;
    PGconn *pg = ap.conns[i];
    /* the backend store has it from its migrations; another database gets the same file */
    PGresult *r = run_on(pg, "SELECT to_regclass('cairn_auth.user_role_assignments') IS NOT NULL", 0, NULL, err);
    int rc = r ? 0 : -1;
    if (r && strcmp(PQgetvalue(r, 0, 0), "t") && m) {
        PGresult *l = PQexec(pg, "SET client_min_messages TO warning; SELECT pg_advisory_lock(" AUTH_LOCK_KEY ")");
        if (PQresultStatus(l) != PGRES_TUPLES_OK) {
            rc = error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Auth database: %s", PQerrorMessage(pg));
            PQclear(l);
        } else {
            PQclear(l);
            PGresult *x = PQexec(pg, m->sql);
            if (PQresultStatus(x) != PGRES_COMMAND_OK)
                rc = error_set(err, ERR_INTERNAL_ERROR, "creating the auth schema failed: %s", PQerrorMessage(pg));
            PQclear(x);
            PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" AUTH_LOCK_KEY ")"));
        }
    }
    PQclear(r);
    release(i);
    return rc;
}

void auth_store_close(void)
{
    for (int i = 0; i < POOL_SIZE; i++) {
        if (ap.conns[i])
            PQfinish(ap.conns[i]);
        ap.conns[i] = NULL;
    }
    free(ap.conninfo);
    ap.conninfo = NULL;
}

/* ---- passwords ---- */

static int iterations = AUTH_DEFAULT_ITERATIONS;

void auth_password_set_iterations(int n) { iterations = n; }

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int derive(const char *password, const unsigned char *salt, size_t salt_len, int iter,
                  unsigned char *out)
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iter, EVP_sha256(),
                             HASH_LEN, out) == 1 ? 0 : -1;
}

int auth_password_hash(const char *password, char *out, size_t cap)
{
    unsigned char salt[SALT_LEN], h[HASH_LEN];
    char s64[32], h64[48];
    if (RAND_bytes(salt, sizeof salt) != 1 || derive(password, salt, sizeof salt, iterations, h))
        return -1;
    b64(salt, sizeof salt, s64);
    b64(h, sizeof h, h64);
    int n = snprintf(out, cap, "pbkdf2:sha256:%d$%s$%s", iterations, s64, h64);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

bool auth_password_verify(const char *password, const char *stored)
{
    int iter = 0;
    char s64[64], h64[96];
    if (sscanf(stored, "pbkdf2:sha256:%d$%63[^$]$%95s", &iter, s64, h64) != 3 || iter < 1 || iter > 10000000)
        return false;
    unsigned char salt[64], want[96], got[HASH_LEN];
    int sl = EVP_DecodeBlock(salt, (const unsigned char *)s64, (int)strlen(s64));
    int hl = EVP_DecodeBlock(want, (const unsigned char *)h64, (int)strlen(h64));
    if (sl < SALT_LEN || hl < HASH_LEN)
        return false;
    if (derive(password, salt, SALT_LEN, iter, got))
        return false;
    return CRYPTO_memcmp(got, want, HASH_LEN) == 0;
}

void auth_password_burn(const char *password)
{
    static const unsigned char salt[SALT_LEN] = "cairn-no-user!!";
    unsigned char h[HASH_LEN];
    derive(password, salt, SALT_LEN, iterations, h);
}

/* ---- users ---- */

static void read_user(struct arena *a, const PGresult *r, int row, struct auth_user_row *u)
{
    u->id = i64(r, row, 0);
    u->username = cp(a, r, row, 1);
    u->password_hash = cp(a, r, row, 2);
    u->is_admin = !strcmp(PQgetvalue(r, row, 3), "t");
}

#define USER_COLS "id, username, password_hash, is_admin"

int auth_user_get(struct arena *a, const char *username, struct auth_user_row *out, struct error *err)
{
    const char *v[1] = { username };
    PGresult *r = q("SELECT " USER_COLS " FROM cairn_auth.users WHERE username = $1", 1, v, err);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1)
        read_user(a, r, 0, out);
    else
        rc = error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "User with username=%s not found", username);
    PQclear(r);
    return rc;
}

int auth_user_get_by_id(struct arena *a, int64_t id, struct auth_user_row *out, struct error *err)
{
    const char *v[1] = { i64s(a, id) };
    PGresult *r = q("SELECT " USER_COLS " FROM cairn_auth.users WHERE id = $1", 1, v, err);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1)
        read_user(a, r, 0, out);
    else
        rc = error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "User with id=%" PRId64 " not found", id);
    PQclear(r);
    return rc;
}

static int check_password(const char *password, struct error *err)
{
    if (!password || strlen(password) < AUTH_MIN_PASSWORD_LEN)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Password must be at least %d characters.",
                         AUTH_MIN_PASSWORD_LEN);
    return 0;
}

int auth_user_create(struct arena *a, const char *username, const char *password, bool is_admin,
                     struct auth_user_row *out, struct error *err)
{
    if (!username || !*username)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Username cannot be empty.");
    if (check_password(password, err))
        return -1;
    char hash[160];
    if (auth_password_hash(password, hash, sizeof hash))
        return error_set(err, ERR_INTERNAL_ERROR, "Could not hash the password");
    const char *v[3] = { username, hash, is_admin ? "t" : "f" };
    PGresult *r = q("INSERT INTO cairn_auth.users (username, password_hash, is_admin) VALUES ($1, $2, $3)"
                    " RETURNING " USER_COLS, 3, v, err);
    if (!r) {
        if (err->code == ERR_RESOURCE_ALREADY_EXISTS)
            error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "User (username=%s) already exists.", username);
        return -1;
    }
    read_user(a, r, 0, out);
    PQclear(r);
    changed();
    return 0;
}

static int one_user_changed(int64_t rows, const char *username, struct error *err)
{
    return rows == 1 ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "User with username=%s not found", username);
}

int auth_user_set_password(const char *username, const char *password, struct error *err)
{
    if (check_password(password, err))
        return -1;
    char hash[160];
    if (auth_password_hash(password, hash, sizeof hash))
        return error_set(err, ERR_INTERNAL_ERROR, "Could not hash the password");
    const char *v[2] = { username, hash };
    int64_t rows = 0;
    if (change("UPDATE cairn_auth.users SET password_hash = $2 WHERE username = $1", 2, v, &rows, err))
        return -1;
    user_changed();
    return one_user_changed(rows, username, err);
}

int auth_user_set_admin(const char *username, bool is_admin, struct error *err)
{
    const char *v[2] = { username, is_admin ? "t" : "f" };
    int64_t rows = 0;
    if (change("UPDATE cairn_auth.users SET is_admin = $2 WHERE username = $1", 2, v, &rows, err))
        return -1;
    user_changed();
    return one_user_changed(rows, username, err);
}

int auth_user_delete(const char *username, struct error *err)
{
    /* the user's synthetic roles go with it; assignments cascade */
    const char *v[1] = { username };
    int64_t rows = 0;
    if (change("WITH u AS (SELECT id FROM cairn_auth.users WHERE username = $1),"
               " r AS (DELETE FROM cairn_auth.roles WHERE name = (SELECT '__user_' || id || '__' FROM u))"
               " DELETE FROM cairn_auth.users WHERE id = (SELECT id FROM u)", 1, v, &rows, err))
        return -1;
    user_changed();
    return one_user_changed(rows, username, err);
}

int auth_user_count(int64_t *n, struct error *err)
{
    PGresult *r = q("SELECT count(*) FROM cairn_auth.users", 0, NULL, err);
    if (!r)
        return -1;
    *n = i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int auth_users_list(struct arena *a, struct auth_user_row **users, size_t *n, struct error *err)
{
    PGresult *r = q("SELECT " USER_COLS " FROM cairn_auth.users ORDER BY id", 0, NULL, err);
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *users = arena_alloc(a, (*n + 1) * sizeof **users);
    for (size_t i = 0; i < *n; i++)
        read_user(a, r, (int)i, &(*users)[i]);
    PQclear(r);
    return 0;
}

/* ---- roles ---- */

#define ROLE_COLS "ro.id, ro.name, ro.workspace, ro.description"
#define PERM_COLS "id, role_id, resource_type, resource_pattern, permission"

static void read_perm(struct arena *a, const PGresult *r, int row, struct auth_role_perm *p)
{
    p->id = i64(r, row, 0);
    p->role_id = i64(r, row, 1);
    p->resource_type = cp(a, r, row, 2);
    p->resource_pattern = cp(a, r, row, 3);
    p->permission = cp(a, r, row, 4);
}

/* Roles from a query returning ROLE_COLS, each with its permissions. */
static int read_roles(struct arena *a, PGresult *r, struct auth_role **out, size_t *n, struct error *err)
{
    *n = (size_t)PQntuples(r);
    *out = arena_alloc(a, (*n + 1) * sizeof **out);
    if (!*n) {
        PQclear(r);
        return 0;
    }
    const char **ids = arena_alloc(a, *n * sizeof *ids);
    for (size_t i = 0; i < *n; i++) {
        struct auth_role *ro = &(*out)[i];
        ro->id = i64(r, (int)i, 0);
        ro->name = cp(a, r, (int)i, 1);
        ro->workspace = cp(a, r, (int)i, 2);
        ro->description = cp(a, r, (int)i, 3);
        ids[i] = i64s(a, ro->id);
    }
    PQclear(r);
    const char *v[1] = { pg_text_array(a, ids, *n) };
    PGresult *p = q("SELECT " PERM_COLS " FROM cairn_auth.role_permissions WHERE role_id = ANY($1::bigint[])"
                    " ORDER BY id", 1, v, err);
    if (!p)
        return -1;
    int np = PQntuples(p);
    for (size_t i = 0; i < *n; i++) {
        struct auth_role *ro = &(*out)[i];
        ro->perms = arena_alloc(a, ((size_t)np + 1) * sizeof *ro->perms);
        for (int k = 0; k < np; k++)
            if (i64(p, k, 1) == ro->id)
                read_perm(a, p, k, &ro->perms[ro->n_perms++]);
    }
    PQclear(p);
    return 0;
}

static int one_role(struct arena *a, PGresult *r, int64_t role_id, struct auth_role *out, struct error *err)
{
    struct auth_role *roles;
    size_t n;
    if (!r)
        return -1;
    if (read_roles(a, r, &roles, &n, err))
        return -1;
    if (n != 1)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Role with id=%" PRId64 " not found", role_id);
    *out = roles[0];
    return 0;
}

int auth_user_roles(struct arena *a, int64_t user_id, struct auth_role **out, size_t *n, struct error *err)
{
    const char *v[1] = { i64s(a, user_id) };
    PGresult *r = q("SELECT " ROLE_COLS " FROM cairn_auth.roles ro JOIN cairn_auth.user_role_assignments ua"
                    " ON ua.role_id = ro.id WHERE ua.user_id = $1 ORDER BY ro.id", 1, v, err);
    return r ? read_roles(a, r, out, n, err) : -1;
}

static bool synthetic_prefix(const char *name)
{
    return !strncmp(name, "__user_", 7);
}

int auth_role_create(struct arena *a, const char *name, const char *workspace, const char *description,
                     struct auth_role *out, struct error *err)
{
    if (synthetic_prefix(name))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Role name '%s' uses the reserved '__user_' "
                         "prefix, which is held for the per-user permission representation. Choose a "
                         "different name.", name);
    const char *v[3] = { name, workspace, description };
    PGresult *r = q("INSERT INTO cairn_auth.roles AS ro (name, workspace, description) VALUES ($1, $2, $3)"
                    " RETURNING " ROLE_COLS, 3, v, err);
    if (!r && err->code == ERR_RESOURCE_ALREADY_EXISTS)
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Role (name=%s, workspace=%s) already exists.",
                         name, workspace);
    if (r)
        changed();
    return one_role(a, r, 0, out, err);
}

int auth_role_get(struct arena *a, int64_t role_id, struct auth_role *out, struct error *err)
{
    const char *v[1] = { i64s(a, role_id) };
    return one_role(a, q("SELECT " ROLE_COLS " FROM cairn_auth.roles ro WHERE ro.id = $1", 1, v, err),
                    role_id, out, err);
}

int auth_role_list(struct arena *a, const char *const *workspaces, size_t n_ws, struct auth_role **out,
                   size_t *n, struct error *err)
{
    PGresult *r;
    if (!workspaces) {
        r = q("SELECT " ROLE_COLS " FROM cairn_auth.roles ro ORDER BY ro.id", 0, NULL, err);
    } else {
        const char *v[1] = { pg_text_array(a, workspaces, n_ws) };
        r = q("SELECT " ROLE_COLS " FROM cairn_auth.roles ro WHERE ro.workspace = ANY($1::text[]) ORDER BY ro.id",
              1, v, err);
    }
    return r ? read_roles(a, r, out, n, err) : -1;
}

int auth_role_update(struct arena *a, int64_t role_id, const char *name, const char *description,
                     struct auth_role *out, struct error *err)
{
    if (name && synthetic_prefix(name))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Role name '%s' uses the reserved '__user_' "
                         "prefix, which is held for the per-user permission representation. Choose a "
                         "different name.", name);
    struct auth_role cur;
    if (auth_role_get(a, role_id, &cur, err))
        return -1;
    const char *v[3] = { i64s(a, role_id), name, description };
    PGresult *r = q("UPDATE cairn_auth.roles ro SET name = coalesce($2, name),"
                    " description = coalesce($3, description) WHERE id = $1 RETURNING " ROLE_COLS, 3, v, err);
    if (!r && err->code == ERR_RESOURCE_ALREADY_EXISTS)
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Role with name=%s already exists in workspace=%s",
                         name, cur.workspace);
    if (r)
        changed();
    return one_role(a, r, role_id, out, err);
}

int auth_role_delete(int64_t role_id, struct error *err)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, role_id);
    const char *v[1] = { id };
    int64_t rows = 0;
    if (change("DELETE FROM cairn_auth.roles WHERE id = $1", 1, v, &rows, err))
        return -1;
    return rows ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Role with id=%" PRId64 " not found", role_id);
}

static int one_perm(struct arena *a, PGresult *r, int64_t id, struct auth_role_perm *out, struct error *err)
{
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1)
        read_perm(a, r, 0, out);
    else
        rc = error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Role permission with id=%" PRId64 " not found", id);
    PQclear(r);
    return rc;
}

int auth_role_perm_add(struct arena *a, int64_t role_id, const char *type, const char *pattern,
                       const char *permission, struct auth_role_perm *out, struct error *err)
{
    struct auth_role ro;
    if (auth_role_get(a, role_id, &ro, err))
        return -1;
    const char *v[4] = { i64s(a, role_id), type, pattern, permission };
    PGresult *r = q("INSERT INTO cairn_auth.role_permissions (role_id, resource_type, resource_pattern, permission)"
                    " VALUES ($1, $2, $3, $4) RETURNING " PERM_COLS, 4, v, err);
    if (!r && err->code == ERR_RESOURCE_ALREADY_EXISTS)
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Role permission (role_id=%" PRId64 ", resource_type=%s, "
                         "resource_pattern=%s) already exists.", role_id, type, pattern);
    if (r)
        changed();
    return one_perm(a, r, 0, out, err);
}

int auth_role_perm_get(struct arena *a, int64_t id, struct auth_role_perm *out, struct error *err)
{
    const char *v[1] = { i64s(a, id) };
    return one_perm(a, q("SELECT " PERM_COLS " FROM cairn_auth.role_permissions WHERE id = $1", 1, v, err),
                    id, out, err);
}

int auth_role_perm_remove(int64_t id, struct error *err)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, id);
    const char *v[1] = { s };
    int64_t rows = 0;
    if (change("DELETE FROM cairn_auth.role_permissions WHERE id = $1", 1, v, &rows, err))
        return -1;
    return rows ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Role permission with id=%" PRId64 " not found", id);
}

int auth_role_perm_update(struct arena *a, int64_t id, const char *permission, struct auth_role_perm *out,
                          struct error *err)
{
    const char *v[2] = { i64s(a, id), permission };
    PGresult *r = q("UPDATE cairn_auth.role_permissions SET permission = $2 WHERE id = $1 RETURNING " PERM_COLS,
                    2, v, err);
    if (r)
        changed();
    return one_perm(a, r, id, out, err);
}

int auth_role_assign(int64_t user_id, int64_t role_id, struct auth_assignment *out, struct error *err)
{
    char u[24], ro[24];
    snprintf(u, sizeof u, "%" PRId64, user_id);
    snprintf(ro, sizeof ro, "%" PRId64, role_id);
    const char *v[2] = { u, ro };
    PGresult *r = q("SELECT (SELECT count(*) FROM cairn_auth.users WHERE id = $1),"
                    " (SELECT count(*) FROM cairn_auth.roles WHERE id = $2)", 2, v, err);
    if (!r)
        return -1;
    bool user_ok = i64(r, 0, 0) == 1, role_ok = i64(r, 0, 1) == 1;
    PQclear(r);
    if (!user_ok)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "User with id=%" PRId64 " not found", user_id);
    if (!role_ok)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Role with id=%" PRId64 " not found", role_id);
    r = q("INSERT INTO cairn_auth.user_role_assignments (user_id, role_id) VALUES ($1, $2)"
          " RETURNING id, user_id, role_id", 2, v, err);
    if (!r) {
        if (err->code == ERR_RESOURCE_ALREADY_EXISTS)
            error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "User role assignment (user_id=%" PRId64 ", role_id=%"
                      PRId64 ") already exists", user_id, role_id);
        return -1;
    }
    *out = (struct auth_assignment){ i64(r, 0, 0), i64(r, 0, 1), i64(r, 0, 2) };
    PQclear(r);
    changed();
    return 0;
}

int auth_role_unassign(int64_t user_id, int64_t role_id, struct error *err)
{
    char u[24], ro[24];
    snprintf(u, sizeof u, "%" PRId64, user_id);
    snprintf(ro, sizeof ro, "%" PRId64, role_id);
    const char *v[2] = { u, ro };
    int64_t rows = 0;
    if (change("DELETE FROM cairn_auth.user_role_assignments WHERE user_id = $1 AND role_id = $2", 2, v, &rows, err))
        return -1;
    return rows ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "User role assignment (user_id=%" PRId64
                                ", role_id=%" PRId64 ") not found", user_id, role_id);
}

int auth_role_users(struct arena *a, int64_t role_id, struct auth_assignment **out, size_t *n,
                    struct error *err)
{
    struct auth_role ro;
    if (auth_role_get(a, role_id, &ro, err))
        return -1;
    const char *v[1] = { i64s(a, role_id) };
    PGresult *r = q("SELECT id, user_id, role_id FROM cairn_auth.user_role_assignments WHERE role_id = $1"
                    " ORDER BY id", 1, v, err);
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *out = arena_alloc(a, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = (struct auth_assignment){ i64(r, (int)i, 0), i64(r, (int)i, 1), i64(r, (int)i, 2) };
    PQclear(r);
    return 0;
}

static int strings(struct arena *a, PGresult *r, const char ***out, size_t *n)
{
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *out = arena_alloc(a, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = cp(a, r, (int)i, 0);
    PQclear(r);
    return 0;
}

int auth_admin_workspaces(struct arena *a, int64_t user_id, const char ***out, size_t *n, struct error *err)
{
    const char *v[1] = { i64s(a, user_id) };
    return strings(a, q("SELECT DISTINCT ro.workspace FROM cairn_auth.roles ro"
                        " JOIN cairn_auth.role_permissions rp ON rp.role_id = ro.id"
                        " JOIN cairn_auth.user_role_assignments ua ON ua.role_id = ro.id"
                        " WHERE ua.user_id = $1 AND rp.resource_type = 'workspace' AND rp.resource_pattern = '*'"
                        " AND rp.permission = 'MANAGE'", 1, v, err), out, n);
}

int auth_present_workspaces(struct arena *a, int64_t user_id, const char ***out, size_t *n, struct error *err)
{
    const char *v[1] = { i64s(a, user_id) };
    return strings(a, q("SELECT DISTINCT ro.workspace FROM cairn_auth.roles ro"
                        " JOIN cairn_auth.user_role_assignments ua ON ua.role_id = ro.id WHERE ua.user_id = $1",
                        1, v, err), out, n);
}

/* ---- grants ---- */

/* One cached grant list per user: a direct-mapped table, checked against
 * the generation and the TTL. Copied out under the lock. */
#define GRANT_SLOTS 1024
struct grant_entry {
    int64_t user_id;
    unsigned gen;
    time_t expires;
    char workspace[64];
    size_t n;
    struct auth_grant *g;        /* malloc'd, strings in the same block */
};
static struct grant_entry grant_cache[GRANT_SLOTS];
static pthread_mutex_t grant_lock = PTHREAD_MUTEX_INITIALIZER;

static bool grant_cache_get(struct arena *a, int64_t user_id, const char *ws, struct auth_grant **out, size_t *n)
{
    struct grant_entry *e = &grant_cache[(uint64_t)user_id % GRANT_SLOTS];
    bool hit = false;
    pthread_mutex_lock(&grant_lock);
    if (e->g && e->user_id == user_id && e->gen == auth_store_generation() && time(NULL) < e->expires &&
        !strcmp(e->workspace, ws)) {
        *n = e->n;
        *out = arena_alloc(a, (e->n + 1) * sizeof **out);
        for (size_t i = 0; i < e->n; i++)
            (*out)[i] = (struct auth_grant){ arena_strdup(a, e->g[i].resource_type),
                                             arena_strdup(a, e->g[i].resource_pattern),
                                             arena_strdup(a, e->g[i].permission) };
        hit = true;
    }
    pthread_mutex_unlock(&grant_lock);
    return hit;
}

static void grant_cache_put(int64_t user_id, const char *ws, unsigned gen, const struct auth_grant *g, size_t n)
{
    if (ap.ttl <= 0 || strlen(ws) >= sizeof grant_cache[0].workspace)
        return;
    size_t bytes = (n + 1) * sizeof *g;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(g[i].resource_type) + strlen(g[i].resource_pattern) + strlen(g[i].permission) + 3;
    struct auth_grant *copy = malloc(bytes);
    if (!copy)
        return;
    char *s = (char *)(copy + n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *src[3] = { g[i].resource_type, g[i].resource_pattern, g[i].permission };
        const char *dst[3];
        for (int k = 0; k < 3; k++) {
            size_t l = strlen(src[k]) + 1;
            memcpy(s, src[k], l);
            dst[k] = s;
            s += l;
        }
        copy[i] = (struct auth_grant){ dst[0], dst[1], dst[2] };
    }
    struct grant_entry *e = &grant_cache[(uint64_t)user_id % GRANT_SLOTS];
    pthread_mutex_lock(&grant_lock);
    free(e->g);
    e->g = copy;
    e->n = n;
    e->user_id = user_id;
    e->gen = gen;
    e->expires = time(NULL) + ap.ttl;
    snprintf(e->workspace, sizeof e->workspace, "%s", ws);
    pthread_mutex_unlock(&grant_lock);
}

int auth_user_grants(struct arena *a, int64_t user_id, const char *workspace, struct auth_grant **out,
                     size_t *n, struct error *err)
{
    if (grant_cache_get(a, user_id, workspace, out, n))
        return 0;
    unsigned gen = auth_store_generation();   /* read before the query: a change during it invalidates */
    const char *v[2] = { i64s(a, user_id), workspace };
    PGresult *r = q("SELECT rp.resource_type, rp.resource_pattern, rp.permission FROM cairn_auth.role_permissions rp"
                    " JOIN cairn_auth.roles ro ON ro.id = rp.role_id"
                    " JOIN cairn_auth.user_role_assignments ua ON ua.role_id = ro.id"
                    " WHERE ua.user_id = $1 AND ro.workspace = $2", 2, v, err);
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *out = arena_alloc(a, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = (struct auth_grant){ cp(a, r, (int)i, 0), cp(a, r, (int)i, 1), cp(a, r, (int)i, 2) };
    PQclear(r);
    grant_cache_put(user_id, workspace, gen, *out, *n);
    return 0;
}

/* The user's synthetic role in the workspace, created and assigned if missing. */
static const char *SYNTH_ROLE =
    "WITH ins AS (INSERT INTO cairn_auth.roles (name, workspace) VALUES ('__user_' || $1 || '__', $2)"
    "   ON CONFLICT (workspace, name) DO NOTHING RETURNING id),"
    " role AS (SELECT id FROM ins UNION ALL SELECT id FROM cairn_auth.roles"
    "   WHERE workspace = $2 AND name = '__user_' || $1 || '__'),"
    " asg AS (INSERT INTO cairn_auth.user_role_assignments (user_id, role_id)"
    "   SELECT $1::bigint, id FROM role LIMIT 1 ON CONFLICT DO NOTHING)"
    " SELECT id FROM role LIMIT 1";

int auth_grant_user(int64_t user_id, const char *username, const char *workspace, const char *type,
                    const char *pattern, const char *permission, bool insert_only, struct error *err)
{
    char uid[24];
    snprintf(uid, sizeof uid, "%" PRId64, user_id);
    const char *v[2] = { uid, workspace };
    PGresult *r = q(SYNTH_ROLE, 2, v, err);
    if (!r)
        return -1;
    char role_id[24];
    snprintf(role_id, sizeof role_id, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    if (!*role_id)
        return error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Creating the user's role raced; retry the request");
    const char *g[4] = { role_id, type, pattern, permission };
    const char *sql = insert_only
        ? "INSERT INTO cairn_auth.role_permissions (role_id, resource_type, resource_pattern, permission)"
          " VALUES ($1, $2, $3, $4)"
        : "INSERT INTO cairn_auth.role_permissions (role_id, resource_type, resource_pattern, permission)"
          " VALUES ($1, $2, $3, $4) ON CONFLICT (role_id, resource_type, resource_pattern)"
          " DO UPDATE SET permission = EXCLUDED.permission";
    if (change(sql, 4, g, NULL, err)) {
        if (err->code == ERR_RESOURCE_ALREADY_EXISTS)
            error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Permission for user=%s on resource_type=%s, "
                      "resource_id=%s already exists.", username, type, pattern);
        return -1;
    }
    return 0;
}

int auth_revoke_user(int64_t user_id, const char *username, const char *workspace, const char *type,
                     const char *pattern, struct error *err)
{
    char uid[24];
    snprintf(uid, sizeof uid, "%" PRId64, user_id);
    const char *v[4] = { uid, workspace, type, pattern };
    int64_t rows = 0;
    if (change("DELETE FROM cairn_auth.role_permissions WHERE resource_type = $3 AND resource_pattern = $4"
               " AND role_id = (SELECT id FROM cairn_auth.roles WHERE workspace = $2"
               " AND name = '__user_' || $1 || '__')", 4, v, &rows, err))
        return -1;
    return rows ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Permission for user=%s on resource_type=%s, "
                                "resource_id=%s not found.", username, type, pattern);
}

int auth_delete_grants_for_resource(const char *type, const char *pattern, struct error *err)
{
    const char *v[2] = { type, pattern };
    return change("DELETE FROM cairn_auth.role_permissions WHERE resource_type = $1 AND resource_pattern = $2"
                  " AND role_id IN (SELECT id FROM cairn_auth.roles WHERE name ~ '^__user_[0-9]+__$')",
                  2, v, NULL, err);
}

int auth_rename_grants_for_resource(const char *type, const char *old_pattern, const char *new_pattern,
                                    struct error *err)
{
    const char *v[3] = { type, old_pattern, new_pattern };
    return change("UPDATE cairn_auth.role_permissions SET resource_pattern = $3"
                  " WHERE resource_type = $1 AND resource_pattern = $2"
                  " AND role_id IN (SELECT id FROM cairn_auth.roles WHERE name ~ '^__user_[0-9]+__$')",
                  3, v, NULL, err);
}

/* ---- tracking-store look-ups (the main pool) ---- */

struct lookup {
    const char *sql, *arg;
    int found;
    int64_t id;
    bool flag;
};

static int lookup_fn(struct db_conn *c, void *ctx, struct error *err)
{
    struct lookup *l = ctx;
    const char *v[1] = { l->arg };
    PGresult *r = db_exec_sql(c, l->sql, 1, v, err);
    if (!r)
        return -1;
    l->found = PQntuples(r) > 0;
    if (l->found) {
        l->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        l->flag = PQnfields(r) > 1 && !strcmp(PQgetvalue(r, 0, 1), "t");
    }
    PQclear(r);
    return 0;
}

static int lookup(const char *sql, const char *arg, int64_t *id, bool *flag, struct error *err)
{
    struct lookup l = { sql, arg, 0, 0, false };
    if (db_run(lookup_fn, &l, err))
        return -1;
    if (id)
        *id = l.id;
    if (flag)
        *flag = l.flag;
    return l.found;
}

/* A run never moves to another experiment: remembered (bounded, direct-mapped). */
#define RUN_SLOTS 4096
static struct { char run_id[40]; int64_t experiment_id; } run_cache[RUN_SLOTS];
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % RUN_SLOTS;
}

int auth_lookup_run_experiment(const char *run_id, int64_t *experiment_id, struct error *err)
{
    size_t len = strlen(run_id);
    unsigned slot = slot_of(run_id);
    if (len < sizeof run_cache[0].run_id) {
        pthread_mutex_lock(&run_lock);
        bool hit = !strcmp(run_cache[slot].run_id, run_id);
        if (hit)
            *experiment_id = run_cache[slot].experiment_id;
        pthread_mutex_unlock(&run_lock);
        if (hit)
            return 1;
    }
    int found = lookup("SELECT experiment_id FROM runs WHERE run_uuid = $1", run_id, experiment_id, NULL, err);
    if (found == 1 && len < sizeof run_cache[0].run_id) {
        pthread_mutex_lock(&run_lock);
        memcpy(run_cache[slot].run_id, run_id, len + 1);
        run_cache[slot].experiment_id = *experiment_id;
        pthread_mutex_unlock(&run_lock);
    }
    return found;
}

int auth_lookup_logged_model_experiment(const char *model_id, int64_t *experiment_id, struct error *err)
{
    return lookup("SELECT experiment_id FROM logged_models WHERE model_id = $1", model_id, experiment_id, NULL, err);
}

int auth_lookup_trace_experiment(const char *trace_id, int64_t *experiment_id, struct error *err)
{
    return lookup("SELECT experiment_id FROM trace_info WHERE trace_id = $1", trace_id, experiment_id, NULL, err);
}

int auth_lookup_experiment_by_name(const char *name, int64_t *experiment_id, struct error *err)
{
    return lookup("SELECT experiment_id FROM experiments WHERE name = $1", name, experiment_id, NULL, err);
}

int auth_lookup_registered_model(const char *name, bool *is_prompt, struct error *err)
{
    return lookup("SELECT rm.rm_id, EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.rm_id = rm.rm_id"
                  " AND t.key = 'mlflow.prompt.is_prompt' AND lower(t.value) = 'true')"
                  " FROM registered_models rm WHERE rm.name = $1", name, NULL, is_prompt, err);
}
