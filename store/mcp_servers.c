/* The MCP server registry (see mcp_servers.h). */
#include "db.h"
#include "mcp_servers.h"
#include "tracking.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define MISSING ERR_RESOURCE_DOES_NOT_EXIST

static const char *nstr(struct arena *a, const PGresult *r, int row, int col)
{
    return db_isnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

static const char *str(struct arena *a, const PGresult *r, int row, int col)
{
    return arena_strdup(a, PQgetvalue(r, row, col));
}

/* rows of a statement, or -1 */
static int exec_count(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals, struct error *err)
{
    PGresult *r = db_exec(c, st, n, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (!rows && PQcmdTuples(r)[0])
        rows = atoi(PQcmdTuples(r));
    PQclear(r);
    return rows;
}

/* ---- messages (SqlAlchemyMCPServerRegistryMixin) ---- */

static int server_not_found(const char *name, struct error *err)
{
    return error_set(err, MISSING, "MCPServer not found (name='%s')", name);
}

static int version_not_found(const char *name, const char *version, struct error *err)
{
    return error_set(err, MISSING, "MCP server version '%s' version '%s' not found", name, version);
}

static int endpoint_not_found(const char *id, struct error *err)
{
    return error_set(err, MISSING, "MCPAccessEndpoint %s not found", id);
}

/* ---- loading ---- */

#define SERVER_COLS "s.name, s.display_name, s.description, s.icons, s.created_by, s.last_updated_by," \
                    " s.created_at, s.last_updated_at, l.version, l.server_json, l.status"
#define SERVER_FROM " FROM mcp_servers s LEFT JOIN mcp_latest_versions l ON l.name = s.name"
#define VERSION_COLS "v.name, v.version, v.server_json, v.status, v.tools, v.source, v.connect_options," \
                     " v.created_by, v.last_updated_by, v.created_at, v.last_updated_at"
#define ENDPOINT_COLS "e.id, e.server_name, e.url, e.transport_type, e.server_version, e.server_alias," \
                      " e.created_by, e.last_updated_by, e.created_at, e.last_updated_at, r.version"
/* the version an endpoint reaches now; endpoints that reach none are left out, as MLflow's join does */
#define ENDPOINT_FROM " FROM mcp_access_endpoints e JOIN LATERAL (" \
    " SELECT v.version, v.status FROM mcp_server_versions v WHERE v.name = e.server_name" \
    "  AND v.version = e.server_version AND v.status <> 'deleted'" \
    " UNION ALL SELECT v.version, v.status FROM mcp_server_aliases al JOIN mcp_server_versions v" \
    "  ON v.name = al.name AND v.version = al.version WHERE e.server_alias <> 'latest'" \
    "  AND al.name = e.server_name AND al.alias = e.server_alias AND v.status <> 'deleted'" \
    " UNION ALL SELECT l.version, l.status FROM mcp_latest_versions l WHERE e.server_alias = 'latest'" \
    "  AND l.name = e.server_name) r ON true"

static void read_server(struct arena *a, const PGresult *r, int row, struct mcp_server *o)
{
    *o = (struct mcp_server){
        .name = str(a, r, row, 0), .display_name = nstr(a, r, row, 1), .description = nstr(a, r, row, 2),
        .icons = nstr(a, r, row, 3), .created_by = nstr(a, r, row, 4), .last_updated_by = nstr(a, r, row, 5),
        .created_at = db_int64(r, row, 6), .last_updated_at = db_int64(r, row, 7),
        .latest_version = nstr(a, r, row, 8), .latest_server_json = nstr(a, r, row, 9),
        .latest_status = nstr(a, r, row, 10),
    };
}

static void read_version(struct arena *a, const PGresult *r, int row, struct mcp_version *o)
{
    *o = (struct mcp_version){
        .name = str(a, r, row, 0), .version = str(a, r, row, 1), .server_json = str(a, r, row, 2),
        .status = str(a, r, row, 3), .tools = nstr(a, r, row, 4), .source = nstr(a, r, row, 5),
        .connect_options = nstr(a, r, row, 6), .created_by = nstr(a, r, row, 7),
        .last_updated_by = nstr(a, r, row, 8), .created_at = db_int64(r, row, 9),
        .last_updated_at = db_int64(r, row, 10),
    };
}

/* resolved: the version's name (NULL to skip) */
static void read_endpoint(struct arena *a, const PGresult *r, int row, struct mcp_endpoint *o, const char **resolved)
{
    *o = (struct mcp_endpoint){
        .id = str(a, r, row, 0), .server_name = str(a, r, row, 1), .url = str(a, r, row, 2),
        .transport_type = str(a, r, row, 3), .server_version = nstr(a, r, row, 4),
        .server_alias = nstr(a, r, row, 5), .created_by = nstr(a, r, row, 6),
        .last_updated_by = nstr(a, r, row, 7), .created_at = db_int64(r, row, 8),
        .last_updated_at = db_int64(r, row, 9),
    };
    *resolved = str(a, r, row, 10);
}

/* key/value rows (a NULL value stays NULL) */
static int load_kv(struct db_conn *c, struct arena *a, struct db_stmt *st, int n, const char *const *vals,
                   struct mcp_kv **out, size_t *count, struct error *err)
{
    PGresult *r = db_exec(c, st, n, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    *out = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof **out);
    for (int i = 0; i < rows; i++)
        (*out)[i] = (struct mcp_kv){ str(a, r, i, 0), nstr(a, r, i, 1) };
    *count = (size_t)rows;
    PQclear(r);
    return 0;
}

/* a version's tags and the aliases naming it */
static int version_extras(struct db_conn *c, struct arena *a, struct mcp_version *v, struct error *err)
{
    DB_STMT(tags, "SELECT key, value FROM mcp_server_version_tags WHERE name = $1 AND version = $2 ORDER BY key");
    DB_STMT(aliases, "SELECT alias, NULL FROM mcp_server_aliases WHERE name = $1 AND version = $2 ORDER BY alias");
    const char *vals[2] = { v->name, v->version };
    struct mcp_kv *al;
    if (load_kv(c, a, &tags, 2, vals, &v->tags, &v->n_tags, err) ||
        load_kv(c, a, &aliases, 2, vals, &al, &v->n_aliases, err))
        return -1;
    v->aliases = arena_alloc(a, (v->n_aliases ? v->n_aliases : 1) * sizeof *v->aliases);
    for (size_t i = 0; i < v->n_aliases; i++)
        v->aliases[i] = al[i].key;
    return 0;
}

/* any version row, deleted ones too (live: only those not deleted); 0 when absent */
static int fetch_version(struct db_conn *c, struct arena *a, const char *name, const char *version, bool live,
                         bool lock, struct mcp_version *out, struct error *err)
{
    DB_STMT(any, "SELECT " VERSION_COLS " FROM mcp_server_versions v WHERE v.name = $1 AND v.version = $2");
    DB_STMT(any_lock, "SELECT " VERSION_COLS " FROM mcp_server_versions v WHERE v.name = $1 AND v.version = $2"
                      " FOR UPDATE");
    const char *vals[2] = { name, version };
    PGresult *r = db_exec(c, lock ? &any_lock : &any, 2, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows)
        read_version(a, r, 0, out);
    PQclear(r);
    if (!rows || (live && !strcmp(out->status, "deleted")))
        return 0;
    return version_extras(c, a, out, err) ? -1 : 1;
}

static int live_version_or_error(struct db_conn *c, struct arena *a, const char *name, const char *version,
                                 bool lock, struct mcp_version *out, struct error *err)
{
    int found = fetch_version(c, a, name, version, true, lock, out, err);
    if (found < 0)
        return -1;
    return found ? 0 : version_not_found(name, version, err);
}

/* endpoint rows with their resolved versions */
static int fill_endpoints(struct db_conn *c, struct arena *a, PGresult *r, struct mcp_endpoint **out, size_t *n,
                          struct error *err)
{
    int rows = PQntuples(r);
    struct mcp_endpoint *eps = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *eps);
    const char **resolved = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *resolved);
    for (int i = 0; i < rows; i++)
        read_endpoint(a, r, i, &eps[i], &resolved[i]);
    PQclear(r);
    for (int i = 0; i < rows; i++) {
        eps[i].resolved = arena_alloc(a, sizeof *eps[i].resolved);
        int found = fetch_version(c, a, eps[i].server_name, resolved[i], false, false, eps[i].resolved, err);
        if (found < 0)
            return -1;
        if (!found)
            eps[i].resolved = NULL;
    }
    *out = eps;
    *n = (size_t)rows;
    return 0;
}

static int endpoint_by_id(struct db_conn *c, struct arena *a, const char *id, struct mcp_endpoint **out, size_t *n,
                          struct error *err)
{
    DB_STMT(st, "SELECT " ENDPOINT_COLS ENDPOINT_FROM " WHERE e.id = $1");
    const char *vals[1] = { id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    return r ? fill_endpoints(c, a, r, out, n, err) : -1;
}

/* a server's tags, aliases and resolvable endpoints */
static int server_extras(struct db_conn *c, struct arena *a, struct mcp_server *s, struct error *err)
{
    DB_STMT(tags, "SELECT key, value FROM mcp_server_tags WHERE name = $1 ORDER BY key");
    DB_STMT(aliases, "SELECT alias, version FROM mcp_server_aliases WHERE name = $1 ORDER BY alias");
    DB_STMT(eps, "SELECT " ENDPOINT_COLS ENDPOINT_FROM " WHERE e.server_name = $1 ORDER BY e.id");
    const char *vals[1] = { s->name };
    if (load_kv(c, a, &tags, 1, vals, &s->tags, &s->n_tags, err) ||
        load_kv(c, a, &aliases, 1, vals, &s->aliases, &s->n_aliases, err))
        return -1;
    PGresult *r = db_exec(c, &eps, 1, vals, err);
    return r ? fill_endpoints(c, a, r, &s->endpoints, &s->n_endpoints, err) : -1;
}

/* 0 when absent */
static int fetch_server(struct db_conn *c, struct arena *a, const char *name, struct mcp_server *out,
                        struct error *err)
{
    DB_STMT(st, "SELECT " SERVER_COLS SERVER_FROM " WHERE s.name = $1");
    const char *vals[1] = { name };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows)
        read_server(a, r, 0, out);
    PQclear(r);
    if (!rows)
        return 0;
    return server_extras(c, a, out, err) ? -1 : 1;
}

/* the server row locked for a change; 0 when absent */
static int lock_server(struct db_conn *c, const char *name, struct error *err)
{
    DB_STMT(st, "SELECT 1 FROM mcp_servers WHERE name = $1 FOR UPDATE");
    const char *vals[1] = { name };
    return exec_count(c, &st, 1, vals, err);
}

static int server_or_error(struct db_conn *c, const char *name, struct error *err)
{
    int found = lock_server(c, name, err);
    if (found < 0)
        return -1;
    return found ? 0 : server_not_found(name, err);
}

struct ctx {
    struct arena *a;
    const char *name, *version, *key, *value, *id, *alias;
    const void *in;
    const struct mcp_semver *sv;
    const struct mcp_search *search;
    void *out;
    size_t n;
};

/* ================================================================ servers */

static int create_server_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const char *const *in = x->in;   /* description, icons, created_by */
    DB_STMT(ins, "INSERT INTO mcp_servers (name, description, icons, created_by, last_updated_by, created_at,"
                 " last_updated_at) VALUES ($1, $2, $3, $4, $4, $5, $5) ON CONFLICT DO NOTHING");
    const char *vals[5] = { x->name, in[0], in[1], in[2], i64s(x->a, now_ms()) };
    int rows = exec_count(c, &ins, 5, vals, err);
    if (rows < 0)
        return -1;
    if (!rows)
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "MCP server with name '%s' already exists", x->name);
    return fetch_server(c, x->a, x->name, x->out, err) < 0 ? -1 : 0;
}

int store_mcp_create_server(struct arena *a, const char *name, const char *description, const char *icons,
                            const char *created_by, struct mcp_server *out, struct error *err)
{
    const char *in[3] = { description, icons, created_by };
    struct ctx x = { .a = a, .name = name, .in = in, .out = out };
    return db_tx(create_server_tx, &x, err);
}

static int get_server_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    int found = fetch_server(c, x->a, x->name, x->out, err);
    if (found < 0)
        return -1;
    return found ? 0 : error_set(err, MISSING, "MCP server '%s' not found", x->name);
}

int store_mcp_get_server(struct arena *a, const char *name, struct mcp_server *out, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .out = out };
    return db_tx(get_server_tx, &x, err);
}

int store_mcp_server_exists(struct arena *a, const char *name, struct error *err)
{
    struct mcp_server s;
    struct ctx x = { .a = a, .name = name, .out = &s };
    int rc = db_tx(get_server_tx, &x, err);
    if (rc && err->code == MISSING)
        return 0;
    return rc ? -1 : 1;
}

/* "<col> <op> <value>" with the value as a parameter (numeric columns compare as numbers) */
static void compare(struct strbuf *q, struct sql_params *ps, struct arena *a, const char *col,
                    const struct sf_clause *cl)
{
    if (cl->kind == SF_VAL_LIST) {
        sb_printf(q, " AND %s%s %s = ANY($%d::text[]))", cl->op == SF_NOT_IN ? "NOT (" : "(", col,
                  "", sql_param_add(ps, a, pg_text_array(a, cl->list, cl->list_len)));
        return;
    }
    if (cl->kind == SF_VAL_NUMBER) {
        sb_printf(q, " AND %s %s $%d::numeric", col, sf_sql_op(cl->op), sql_param_add(ps, a, cl->num_text));
        return;
    }
    sb_printf(q, " AND %s %s $%d", col, sf_sql_op(cl->op), sql_param_add(ps, a, cl->str));
}

/* one search: fn fills x.out and x.n */
static int run_search(struct arena *a, const struct mcp_search *s, db_fn fn, void **out, size_t *n,
                      struct error *err)
{
    struct ctx x = { .a = a, .search = s };
    if (db_tx(fn, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

static const char *order_dir(bool asc) { return asc ? "ASC" : "DESC"; }

/* the ORDER BY list ends with ", ": cut it, then the page */
static void finish_page(struct strbuf *q, const struct mcp_search *s)
{
    q->len -= 2;
    q->buf[q->len] = '\0';
    sb_printf(q, " OFFSET %" PRId64 " LIMIT %" PRId64, s->offset, s->limit);
}

static int search_servers_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_search *s = x->search;
    struct sql_params ps;
    sql_params_init(&ps, x->a);
    struct strbuf q;
    sb_init(&q, x->a, 2048);
    sb_puts(&q, "SELECT " SERVER_COLS SERVER_FROM " WHERE true");
    for (size_t i = 0; i < s->filter.n; i++) {
        const struct sf_clause *cl = &s->filter.clauses[i];
        if (cl->entity == SF_TAG) {
            /* every value clause of a key holds on that key's one tag */
            sb_printf(&q, " AND EXISTS (SELECT 1 FROM mcp_server_tags t WHERE t.name = s.name AND t.key = $%d",
                      sql_param_add(&ps, x->a, cl->key));
            compare(&q, &ps, x->a, "t.value", cl);
            sb_puts(&q, ")");
        } else if (!strcmp(cl->key, "has_access_endpoints")) {
            sb_printf(&q, " AND %sEXISTS (SELECT 1" ENDPOINT_FROM " WHERE e.server_name = s.name)",
                      cl->str[0] == 't' || cl->str[0] == 'T' ? "" : "NOT ");
        } else if (!strcmp(cl->key, "status")) {
            compare(&q, &ps, x->a, "l.status", cl);
        } else {
            compare(&q, &ps, x->a, arena_printf(x->a, "s.%s", cl->key), cl);
        }
    }
    sb_puts(&q, " ORDER BY ");
    bool by_name = false;
    for (size_t i = 0; i < s->order.n; i++) {
        by_name |= !strcmp(s->order.items[i].key, "name");
        sb_printf(&q, "s.%s %s, ", s->order.items[i].key, order_dir(s->order.items[i].ascending));
    }
    if (!by_name)
        sb_puts(&q, "s.name ASC, ");
    finish_page(&q, s);
    PGresult *r = db_exec_sql(c, q.buf, ps.n, ps.values, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    struct mcp_server *out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *out);
    for (int i = 0; i < rows; i++)
        read_server(x->a, r, i, &out[i]);
    PQclear(r);
    for (int i = 0; i < rows; i++)
        if (server_extras(c, x->a, &out[i], err))
            return -1;
    x->out = out;
    x->n = (size_t)rows;
    return 0;
}

int store_mcp_search_servers(struct arena *a, const struct mcp_search *s, struct mcp_server **out, size_t *n,
                             struct error *err)
{
    return run_search(a, s, search_servers_tx, (void **)out, n, err);
}

static int update_server_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_server_update *u = x->in;
    DB_STMT(st, "UPDATE mcp_servers SET description = CASE WHEN $2 THEN $3 ELSE description END,"
                " display_name = CASE WHEN $4 THEN $5 ELSE display_name END,"
                " icons = CASE WHEN $6 THEN $7 ELSE icons END, last_updated_by = $8, last_updated_at = $9"
                " WHERE name = $1");
    const char *vals[9] = { x->name, u->set_description ? "t" : "f", u->description,
                            u->set_display_name ? "t" : "f", u->display_name, u->set_icons ? "t" : "f", u->icons,
                            u->last_updated_by, i64s(x->a, now_ms()) };
    int rows = exec_count(c, &st, 9, vals, err);
    if (rows < 0)
        return -1;
    if (!rows)
        return server_not_found(x->name, err);
    return fetch_server(c, x->a, x->name, x->out, err) < 0 ? -1 : 0;
}

int store_mcp_update_server(struct arena *a, const char *name, const struct mcp_server_update *u,
                            struct mcp_server *out, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .in = u, .out = out };
    return db_tx(update_server_tx, &x, err);
}

static int delete_server_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    if (server_or_error(c, x->name, err))
        return -1;
    DB_STMT(active, "SELECT version FROM mcp_server_versions WHERE name = $1 AND status = 'active' LIMIT 1");
    const char *vals[1] = { x->name };
    PGresult *r = db_exec(c, &active, 1, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r)) {
        error_set(err, BAD, "Cannot delete MCP server '%s' while it still has an active version ('%s'). "
                  "Delete or deactivate the active version first.", x->name, PQgetvalue(r, 0, 0));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    DB_STMT(del, "DELETE FROM mcp_servers WHERE name = $1");
    return exec_count(c, &del, 1, vals, err) < 0 ? -1 : 0;
}

int store_mcp_delete_server(struct arena *a, const char *name, struct error *err)
{
    struct ctx x = { .a = a, .name = name };
    return db_tx(delete_server_tx, &x, err);
}

/* ================================================================ versions */

static int create_version_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_version *in = x->in;
    const char *now = i64s(x->a, now_ms());
    DB_STMT(server, "INSERT INTO mcp_servers (name, created_by, last_updated_by, created_at, last_updated_at)"
                    " VALUES ($1, $2, $2, $3, $3) ON CONFLICT DO NOTHING");
    const char *sv[3] = { in->name, in->created_by, now };
    if (exec_count(c, &server, 3, sv, err) < 0)
        return -1;
    DB_STMT(ins, "INSERT INTO mcp_server_versions (name, version, version_major, version_minor, version_patch,"
                 " version_prerelease_sort_key, server_json, status, tools, source, connect_options, created_by,"
                 " last_updated_by, created_at, last_updated_at)"
                 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $13) ON CONFLICT DO NOTHING");
    const char *vals[13] = { in->name, in->version, i64s(x->a, x->sv->major), i64s(x->a, x->sv->minor),
                             i64s(x->a, x->sv->patch), x->sv->prerelease_key, in->server_json, in->status,
                             in->tools, in->source, in->connect_options, in->created_by, now };
    int rows = exec_count(c, &ins, 13, vals, err);
    if (rows < 0)
        return -1;
    if (!rows)
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "MCP server version '%s' version '%s' already exists",
                         in->name, in->version);
    return fetch_version(c, x->a, in->name, in->version, false, false, x->out, err) < 0 ? -1 : 0;
}

int store_mcp_create_version(struct arena *a, const struct mcp_version *in, const struct mcp_semver *sv,
                             struct mcp_version *out, struct error *err)
{
    struct ctx x = { .a = a, .in = in, .sv = sv, .out = out };
    return db_tx(create_version_tx, &x, err);
}

static int get_version_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    return live_version_or_error(c, x->a, x->name, x->version, false, x->out, err);
}

int store_mcp_get_version(struct arena *a, const char *name, const char *version, struct mcp_version *out,
                          struct error *err)
{
    struct ctx x = { .a = a, .name = name, .version = version, .out = out };
    return db_tx(get_version_tx, &x, err);
}

/* "latest": the server must exist, then a live version */
static int latest_version(struct db_conn *c, struct arena *a, const char *name, struct mcp_version *out,
                          struct error *err)
{
    DB_STMT(server, "SELECT 1 FROM mcp_servers WHERE name = $1");
    const char *v[1] = { name };
    int found = exec_count(c, &server, 1, v, err);
    if (found < 0)
        return -1;
    if (!found)
        return server_not_found(name, err);
    DB_STMT(st, "SELECT version FROM mcp_latest_versions WHERE name = $1");
    const char *vals[1] = { name };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    const char *version = PQntuples(r) ? arena_strdup(a, PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    if (!version)
        return error_set(err, MISSING, "No resolved latest version found for MCP server '%s'", name);
    return live_version_or_error(c, a, name, version, false, out, err);
}

static int get_by_alias_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    if (!strcmp(x->alias, "latest"))
        return latest_version(c, x->a, x->name, x->out, err);
    DB_STMT(st, "SELECT version FROM mcp_server_aliases WHERE name = $1 AND alias = $2");
    const char *vals[2] = { x->name, x->alias };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    const char *version = PQntuples(r) ? arena_strdup(x->a, PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    if (!version)
        return error_set(err, MISSING, "Alias '%s' not found for MCP server '%s'", x->alias, x->name);
    return live_version_or_error(c, x->a, x->name, version, false, x->out, err);
}

int store_mcp_get_version_by_alias(struct arena *a, const char *name, const char *alias, struct mcp_version *out,
                                   struct error *err)
{
    struct ctx x = { .a = a, .name = name, .alias = alias, .out = out };
    return db_tx(get_by_alias_tx, &x, err);
}

static const char *const semver_cols = "(v.version_major, v.version_minor, v.version_patch, "
                                       "v.version_prerelease_sort_key)";

static int search_versions_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_search *s = x->search;
    struct sql_params ps;
    sql_params_init(&ps, x->a);
    struct strbuf q;
    sb_init(&q, x->a, 2048);
    sb_printf(&q, "SELECT " VERSION_COLS " FROM mcp_server_versions v WHERE v.status <> 'deleted' AND v.name = $%d",
              sql_param_add(&ps, x->a, s->server_name));
    for (size_t i = 0; i < s->filter.n; i++) {
        const struct sf_clause *cl = &s->filter.clauses[i];
        if (!strcmp(cl->key, "version") && cl->op != SF_EQ && cl->op != SF_NE) {
            /* SemVer precedence, consistent with order_by=version */
            const struct mcp_semver *t = &s->semver_values[i];
            sb_printf(&q, " AND %s %s ($%d::int, $%d::int, $%d::int, $%d::text COLLATE \"C\")", semver_cols,
                      sf_sql_op(cl->op), sql_param_add(&ps, x->a, i64s(x->a, t->major)),
                      sql_param_add(&ps, x->a, i64s(x->a, t->minor)),
                      sql_param_add(&ps, x->a, i64s(x->a, t->patch)),
                      sql_param_add(&ps, x->a, t->prerelease_key));
            continue;
        }
        compare(&q, &ps, x->a, arena_printf(x->a, "v.%s", cl->key), cl);
    }
    sb_puts(&q, " ORDER BY ");
    bool by_created = false, by_version = false;
    for (size_t i = 0; i < s->order.n; i++) {
        const struct sf_order *o = &s->order.items[i];
        const char *d = order_dir(o->ascending);
        if (!strcmp(o->key, "version")) {
            by_version = true;
            sb_printf(&q, "v.version_major %s, v.version_minor %s, v.version_patch %s, "
                          "v.version_prerelease_sort_key %s, ", d, d, d, d);
        } else {
            by_created |= !strcmp(o->key, "created_at");
            sb_printf(&q, "v.%s %s, ", o->key, d);
        }
    }
    if (!by_created)
        sb_puts(&q, "v.created_at ASC, ");
    if (!by_version)
        sb_puts(&q, "v.version ASC, ");
    finish_page(&q, s);
    PGresult *r = db_exec_sql(c, q.buf, ps.n, ps.values, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    struct mcp_version *out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *out);
    for (int i = 0; i < rows; i++)
        read_version(x->a, r, i, &out[i]);
    PQclear(r);
    for (int i = 0; i < rows; i++)
        if (version_extras(c, x->a, &out[i], err))
            return -1;
    x->out = out;
    x->n = (size_t)rows;
    return 0;
}

int store_mcp_search_versions(struct arena *a, const struct mcp_search *s, struct mcp_version **out, size_t *n,
                              struct error *err)
{
    return run_search(a, s, search_versions_tx, (void **)out, n, err);
}

/* VALID_STATUS_TRANSITIONS */
static int transition_or_error(const char *from, const char *to, struct error *err)
{
    static const struct { const char *from, *allowed, *to[2]; } t[] = {
        { "draft", "['active', 'deleted']", { "active", "deleted" } },
        { "active", "['deprecated', 'draft']", { "draft", "deprecated" } },
        { "deprecated", "['active', 'deleted']", { "active", "deleted" } },
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (strcmp(t[i].from, from))
            continue;
        if (!strcmp(to, t[i].to[0]) || !strcmp(to, t[i].to[1]))
            return 0;
        return error_set(err, BAD, "Invalid status transition from '%s' to '%s'. Allowed transitions: %s",
                         from, to, t[i].allowed);
    }
    return error_set(err, BAD, "Invalid status transition from '%s' to '%s'. Allowed transitions: []", from, to);
}

/* "latest" endpoints go when latest no longer resolves */
static int drop_unresolvable_latest(struct db_conn *c, const char *name, struct error *err)
{
    DB_STMT(st, "DELETE FROM mcp_access_endpoints WHERE server_name = $1 AND server_alias = 'latest'"
                " AND NOT EXISTS (SELECT 1 FROM mcp_latest_versions WHERE name = $1)");
    const char *vals[1] = { name };
    return exec_count(c, &st, 1, vals, err) < 0 ? -1 : 0;
}

static int update_version_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_version_update *u = x->in;
    struct mcp_version cur;
    if (live_version_or_error(c, x->a, x->name, x->version, true, &cur, err))
        return -1;
    if (u->status && transition_or_error(cur.status, u->status, err))
        return -1;
    DB_STMT(st, "UPDATE mcp_server_versions SET status = coalesce($3, status),"
                " tools = CASE WHEN $4 THEN $5 ELSE tools END,"
                " connect_options = CASE WHEN $6 THEN $7 ELSE connect_options END,"
                " last_updated_by = $8, last_updated_at = $9 WHERE name = $1 AND version = $2");
    const char *vals[9] = { x->name, x->version, u->status, u->set_tools ? "t" : "f", u->tools,
                            u->set_connect_options ? "t" : "f", u->connect_options, u->last_updated_by,
                            i64s(x->a, now_ms()) };
    if (exec_count(c, &st, 9, vals, err) < 0)
        return -1;
    if (u->status && drop_unresolvable_latest(c, x->name, err))
        return -1;
    return fetch_version(c, x->a, x->name, x->version, false, false, x->out, err) < 0 ? -1 : 0;
}

int store_mcp_update_version(struct arena *a, const char *name, const char *version,
                             const struct mcp_version_update *u, struct mcp_version *out, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .version = version, .in = u, .out = out };
    return db_tx(update_version_tx, &x, err);
}

static int delete_version_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    struct mcp_version cur;
    int found = fetch_version(c, x->a, x->name, x->version, false, true, &cur, err);
    if (found < 0)
        return -1;
    if (!found)
        return version_not_found(x->name, x->version, err);
    /* the aliases naming it, and the endpoints through them or to it, go first */
    DB_STMT(eps, "DELETE FROM mcp_access_endpoints e WHERE e.server_name = $1 AND (e.server_version = $2 OR"
                 " e.server_alias IN (SELECT alias FROM mcp_server_aliases WHERE name = $1 AND version = $2))");
    DB_STMT(aliases, "DELETE FROM mcp_server_aliases WHERE name = $1 AND version = $2");
    const char *vals[2] = { x->name, x->version };
    if (exec_count(c, &eps, 2, vals, err) < 0 || exec_count(c, &aliases, 2, vals, err) < 0)
        return -1;
    if (transition_or_error(cur.status, "deleted", err))
        return -1;
    DB_STMT(st, "UPDATE mcp_server_versions SET status = 'deleted', last_updated_at = $3"
                " WHERE name = $1 AND version = $2");
    const char *uv[3] = { x->name, x->version, i64s(x->a, now_ms()) };
    if (exec_count(c, &st, 3, uv, err) < 0)
        return -1;
    return drop_unresolvable_latest(c, x->name, err);
}

int store_mcp_delete_version(struct arena *a, const char *name, const char *version, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .version = version };
    return db_tx(delete_version_tx, &x, err);
}

/* ================================================================ endpoints */

/* _get_alias_target_version_or_raise */
static int alias_target_or_error(struct db_conn *c, struct arena *a, const char *name, const char *alias,
                                 struct error *err)
{
    struct mcp_version v;
    if (!strcmp(alias, "latest"))
        return latest_version(c, a, name, &v, err);
    DB_STMT(st, "SELECT al.version, v.status FROM mcp_server_aliases al LEFT JOIN mcp_server_versions v"
                " ON v.name = al.name AND v.version = al.version WHERE al.name = $1 AND al.alias = $2");
    const char *vals[2] = { name, alias };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    int rc = 0;
    if (!PQntuples(r))
        rc = error_set(err, MISSING, "Alias '%s' not found for MCP server '%s'", alias, name);
    else if (db_isnull(r, 0, 1))
        rc = error_set(err, BAD, "Alias '%s' for MCP server '%s' points to missing version '%s'", alias, name,
                       PQgetvalue(r, 0, 0));
    else if (!strcmp(PQgetvalue(r, 0, 1), "deleted"))
        rc = error_set(err, BAD, "Alias '%s' for MCP server '%s' points to deleted version '%s'", alias, name,
                       PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* a version an endpoint may point at: present and not deleted (verb: "create" | "update") */
static int endpoint_version_or_error(struct db_conn *c, struct arena *a, const char *name, const char *version,
                                     const char *verb, struct error *err)
{
    struct mcp_version v;
    int found = fetch_version(c, a, name, version, false, false, &v, err);
    if (found < 0)
        return -1;
    if (!found)
        return version_not_found(name, version, err);
    if (!strcmp(v.status, "deleted"))
        return error_set(err, BAD, "Cannot %s MCP access endpoint to deleted MCP server version '%s' version '%s'",
                         verb, name, version);
    return 0;
}

static int single_endpoint(struct db_conn *c, struct arena *a, const char *id, struct mcp_endpoint *out,
                           struct error *err)
{
    struct mcp_endpoint *eps;
    size_t n;
    if (endpoint_by_id(c, a, id, &eps, &n, err))
        return -1;
    if (!n)
        return endpoint_not_found(id, err);
    *out = eps[0];
    return 0;
}

static int create_endpoint_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_endpoint *in = x->in;
    if (server_or_error(c, in->server_name, err))
        return -1;
    if (in->server_version && endpoint_version_or_error(c, x->a, in->server_name, in->server_version, "create", err))
        return -1;
    if (in->server_alias && alias_target_or_error(c, x->a, in->server_name, in->server_alias, err))
        return -1;
    DB_STMT(ins, "INSERT INTO mcp_access_endpoints (id, server_name, server_version, server_alias, url,"
                 " transport_type, created_by, last_updated_by, created_at, last_updated_at)"
                 " VALUES ('ae-' || replace(gen_random_uuid()::text, '-', ''), $1, $2, $3, $4, $5, $6, $6, $7, $7)"
                 " RETURNING id");
    const char *vals[7] = { in->server_name, in->server_version, in->server_alias, in->url, in->transport_type,
                            in->created_by, i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &ins, 7, vals, err);
    if (!r)
        return -1;
    const char *id = arena_strdup(x->a, PQgetvalue(r, 0, 0));
    PQclear(r);
    return single_endpoint(c, x->a, id, x->out, err);
}

int store_mcp_create_endpoint(struct arena *a, const struct mcp_endpoint *in, struct mcp_endpoint *out,
                              struct error *err)
{
    struct ctx x = { .a = a, .in = in, .out = out };
    return db_tx(create_endpoint_tx, &x, err);
}

static int not_its_server(const char *id, const char *name, struct error *err)
{
    return error_set(err, MISSING, "MCPAccessEndpoint %s does not belong to server '%s'", id, name);
}

static int get_endpoint_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    struct mcp_endpoint *out = x->out;
    if (single_endpoint(c, x->a, x->id, out, err))
        return -1;
    return strcmp(out->server_name, x->name) ? not_its_server(x->id, x->name, err) : 0;
}

int store_mcp_get_endpoint(struct arena *a, const char *server_name, const char *id, struct mcp_endpoint *out,
                           struct error *err)
{
    struct ctx x = { .a = a, .name = server_name, .id = id, .out = out };
    return db_tx(get_endpoint_tx, &x, err);
}

static int search_endpoints_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_search *s = x->search;
    struct sql_params ps;
    sql_params_init(&ps, x->a);
    struct strbuf q;
    sb_init(&q, x->a, 2048);
    sb_puts(&q, "SELECT " ENDPOINT_COLS ENDPOINT_FROM " WHERE true");
    if (s->server_name)
        sb_printf(&q, " AND e.server_name = $%d", sql_param_add(&ps, x->a, s->server_name));
    if (s->server_version)
        sb_printf(&q, " AND e.server_version = $%d", sql_param_add(&ps, x->a, s->server_version));
    if (s->server_alias)
        sb_printf(&q, " AND e.server_alias = $%d", sql_param_add(&ps, x->a, s->server_alias));
    if (s->server_version && s->server_alias)
        sb_puts(&q, " AND false");   /* no branch of MLflow's union takes both */
    for (size_t i = 0; i < s->filter.n; i++) {
        const struct sf_clause *cl = &s->filter.clauses[i];
        /* status is the resolved version's */
        compare(&q, &ps, x->a, !strcmp(cl->key, "status") ? "r.status" : arena_printf(x->a, "e.%s", cl->key), cl);
    }
    sb_puts(&q, " ORDER BY ");
    bool by_id = false;
    for (size_t i = 0; i < s->order.n; i++) {
        by_id |= !strcmp(s->order.items[i].key, "id");
        sb_printf(&q, "e.%s %s, ", s->order.items[i].key, order_dir(s->order.items[i].ascending));
    }
    if (!by_id)
        sb_puts(&q, "e.id ASC, ");
    finish_page(&q, s);
    PGresult *r = db_exec_sql(c, q.buf, ps.n, ps.values, err);
    if (!r)
        return -1;
    struct mcp_endpoint *out;
    if (fill_endpoints(c, x->a, r, &out, &x->n, err))
        return -1;
    x->out = out;
    return 0;
}

int store_mcp_search_endpoints(struct arena *a, const struct mcp_search *s, struct mcp_endpoint **out, size_t *n,
                               struct error *err)
{
    return run_search(a, s, search_endpoints_tx, (void **)out, n, err);
}

/* the endpoint row, locked, checked against its server */
static int endpoint_row_or_error(struct db_conn *c, struct ctx *x, struct error *err)
{
    DB_STMT(st, "SELECT server_name FROM mcp_access_endpoints WHERE id = $1 FOR UPDATE");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    int rc = 0;
    if (!PQntuples(r))
        rc = error_set(err, MISSING, "MCPAccessEndpoint not found (id='%s')", x->id);
    else if (strcmp(PQgetvalue(r, 0, 0), x->name))
        rc = not_its_server(x->id, x->name, err);
    PQclear(r);
    return rc;
}

static int update_endpoint_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    const struct mcp_endpoint_update *u = x->in;
    if (endpoint_row_or_error(c, x, err))
        return -1;
    const char *version = NULL, *alias = NULL;
    if (u->set_version && u->server_version) {
        if (endpoint_version_or_error(c, x->a, x->name, u->server_version, "update", err))
            return -1;
        version = u->server_version;
    }
    if (u->set_alias && u->server_alias) {
        if (alias_target_or_error(c, x->a, x->name, u->server_alias, err))
            return -1;
        alias = u->server_alias;
    }
    DB_STMT(st, "UPDATE mcp_access_endpoints SET"
                " server_version = CASE WHEN $2::text IS NOT NULL THEN $2 WHEN $3::text IS NOT NULL THEN NULL"
                "  ELSE server_version END,"
                " server_alias = CASE WHEN $3::text IS NOT NULL THEN $3 WHEN $2::text IS NOT NULL THEN NULL"
                "  ELSE server_alias END,"
                " url = coalesce($4, url), transport_type = coalesce($5, transport_type),"
                " last_updated_by = $6, last_updated_at = $7 WHERE id = $1");
    const char *vals[7] = { x->id, version, alias, u->set_url ? u->url : NULL, u->transport_type,
                            u->last_updated_by, i64s(x->a, now_ms()) };
    if (exec_count(c, &st, 7, vals, err) < 0)
        return -1;
    return single_endpoint(c, x->a, x->id, x->out, err);
}

int store_mcp_update_endpoint(struct arena *a, const char *server_name, const char *id,
                              const struct mcp_endpoint_update *u, struct mcp_endpoint *out, struct error *err)
{
    struct ctx x = { .a = a, .name = server_name, .id = id, .in = u, .out = out };
    return db_tx(update_endpoint_tx, &x, err);
}

static int delete_endpoint_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    if (endpoint_row_or_error(c, x, err))
        return -1;
    DB_STMT(st, "DELETE FROM mcp_access_endpoints WHERE id = $1");
    const char *vals[1] = { x->id };
    return exec_count(c, &st, 1, vals, err) < 0 ? -1 : 0;
}

int store_mcp_delete_endpoint(struct arena *a, const char *server_name, const char *id, struct error *err)
{
    struct ctx x = { .a = a, .name = server_name, .id = id };
    return db_tx(delete_endpoint_tx, &x, err);
}

/* ================================================================ tags and aliases */

static int set_server_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    if (server_or_error(c, x->name, err))
        return -1;
    DB_STMT(st, "INSERT INTO mcp_server_tags (name, key, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (name, key) DO UPDATE SET value = excluded.value");
    const char *vals[3] = { x->name, x->key, x->value };
    return exec_count(c, &st, 3, vals, err) < 0 ? -1 : 0;
}

int store_mcp_set_server_tag(struct arena *a, const char *name, const char *key, const char *value, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .key = key, .value = value };
    return db_tx(set_server_tag_tx, &x, err);
}

static int delete_server_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    DB_STMT(st, "DELETE FROM mcp_server_tags WHERE name = $1 AND key = $2");
    const char *vals[2] = { x->name, x->key };
    int rows = exec_count(c, &st, 2, vals, err);
    if (rows < 0)
        return -1;
    return rows ? 0 : error_set(err, MISSING, "Tag '%s' not found on MCP server '%s'", x->key, x->name);
}

int store_mcp_delete_server_tag(struct arena *a, const char *name, const char *key, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .key = key };
    return db_tx(delete_server_tag_tx, &x, err);
}

static int set_version_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    struct mcp_version v;
    if (live_version_or_error(c, x->a, x->name, x->version, true, &v, err))
        return -1;
    DB_STMT(st, "INSERT INTO mcp_server_version_tags (name, version, key, value) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value");
    const char *vals[4] = { x->name, x->version, x->key, x->value };
    return exec_count(c, &st, 4, vals, err) < 0 ? -1 : 0;
}

int store_mcp_set_version_tag(struct arena *a, const char *name, const char *version, const char *key, const char *value,
                              struct error *err)
{
    struct ctx x = { .a = a, .name = name, .version = version, .key = key, .value = value };
    return db_tx(set_version_tag_tx, &x, err);
}

static int delete_version_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    struct mcp_version v;
    if (live_version_or_error(c, x->a, x->name, x->version, true, &v, err))
        return -1;
    DB_STMT(st, "DELETE FROM mcp_server_version_tags WHERE name = $1 AND version = $2 AND key = $3");
    const char *vals[3] = { x->name, x->version, x->key };
    int rows = exec_count(c, &st, 3, vals, err);
    if (rows < 0)
        return -1;
    return rows ? 0 : error_set(err, MISSING, "Tag '%s' not found on MCP server version '%s' version '%s'",
                                x->key, x->name, x->version);
}

int store_mcp_delete_version_tag(struct arena *a, const char *name, const char *version, const char *key, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .version = version, .key = key };
    return db_tx(delete_version_tag_tx, &x, err);
}

static int set_alias_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    if (server_or_error(c, x->name, err))
        return -1;
    struct mcp_version v;
    int found = fetch_version(c, x->a, x->name, x->version, false, false, &v, err);
    if (found < 0)
        return -1;
    if (!found)
        return version_not_found(x->name, x->version, err);
    if (!strcmp(v.status, "deleted"))
        return error_set(err, BAD, "Cannot set alias '%s' to deleted MCP server version '%s' version '%s'",
                         x->alias, x->name, x->version);
    DB_STMT(st, "INSERT INTO mcp_server_aliases (name, alias, version) VALUES ($1, $2, $3)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version");
    const char *vals[3] = { x->name, x->alias, x->version };
    return exec_count(c, &st, 3, vals, err) < 0 ? -1 : 0;
}

int store_mcp_set_alias(struct arena *a, const char *name, const char *alias, const char *version, struct error *err)
{
    if (!strcmp(alias, "latest"))
        return error_set(err, BAD, "The alias name 'latest' is reserved for automatic resolution");
    struct ctx x = { .a = a, .name = name, .alias = alias, .version = version };
    return db_tx(set_alias_tx, &x, err);
}

static int delete_alias_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ctx *x = p;
    DB_STMT(eps, "DELETE FROM mcp_access_endpoints WHERE server_name = $1 AND server_alias = $2");
    DB_STMT(st, "DELETE FROM mcp_server_aliases WHERE name = $1 AND alias = $2");
    const char *vals[2] = { x->name, x->alias };
    int rows = exec_count(c, &st, 2, vals, err);
    if (rows < 0)
        return -1;
    if (!rows)
        return error_set(err, MISSING, "Alias '%s' not found on MCP server '%s'", x->alias, x->name);
    return exec_count(c, &eps, 2, vals, err) < 0 ? -1 : 0;
}

int store_mcp_delete_alias(struct arena *a, const char *name, const char *alias, struct error *err)
{
    struct ctx x = { .a = a, .name = name, .alias = alias };
    return db_tx(delete_alias_tx, &x, err);
}
