/* The model registry on PostgreSQL (sql/003_registry.sql). Every write is
 * one transaction that first locks the registered model's row, so versions,
 * aliases and stages of one model change one writer at a time and nothing
 * is ever half-written. Reads load a page of entities, then their tags,
 * aliases and latest versions in one query each. */
#include "db.h"
#include "registry.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MV_COLS "m.name, v.version, v.creation_time, v.last_updated_time, v.description, v.user_id," \
                " v.current_stage, v.source, v.storage_location, v.run_id, v.run_link, v.status,"      \
                " v.status_message, v.model_id, v.rm_id"
#define MV_NCOLS 15
#define LIVE "v.current_stage <> '" STAGE_DELETED_INTERNAL "'"

/* ---- reading rows ---- */

static const char *opt_str(struct arena *a, const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

/* MV_COLS starting at column `at` */
static void read_mv(struct arena *a, const PGresult *r, int row, int at, struct model_version *mv)
{
    memset(mv, 0, sizeof *mv);
    mv->name = arena_strdup(a, PQgetvalue(r, row, at));
    mv->version = db_int64(r, row, at + 1);
    mv->creation_time = db_int64(r, row, at + 2);
    mv->last_updated_time = db_int64(r, row, at + 3);
    mv->description = opt_str(a, r, row, at + 4);
    mv->user_id = opt_str(a, r, row, at + 5);
    mv->current_stage = arena_strdup(a, PQgetvalue(r, row, at + 6));
    mv->source = arena_strdup(a, PQgetvalue(r, row, at + 7));
    mv->storage_location = opt_str(a, r, row, at + 8);
    mv->run_id = opt_str(a, r, row, at + 9);
    mv->run_link = opt_str(a, r, row, at + 10);
    mv->status = arena_strdup(a, PQgetvalue(r, row, at + 11));
    mv->status_message = opt_str(a, r, row, at + 12);
    mv->model_id = opt_str(a, r, row, at + 13);
    mv->rm_id = db_int64(r, row, at + 14);
}

/* Rows ordered by a 1-based ordinal in column 0: where each ordinal's run of
 * rows starts and how long it is. */
struct groups {
    int *first;
    size_t *count;
};

static void group_rows(struct arena *a, const PGresult *r, size_t n, struct groups *g)
{
    g->first = arena_alloc(a, (n ? n : 1) * sizeof *g->first);
    g->count = arena_alloc(a, (n ? n : 1) * sizeof *g->count);
    for (int row = 0; row < PQntuples(r); row++) {
        long long ord = db_int64(r, row, 0);
        if (ord < 1 || (size_t)ord > n)
            continue;
        if (g->count[ord - 1]++ == 0)
            g->first[ord - 1] = row;
    }
}

static const char *int_array(struct arena *a, const int64_t *v, size_t n)
{
    struct strbuf sb;
    sb_init(&sb, a, 16 * n + 2);
    sb_putc(&sb, '{');
    for (size_t i = 0; i < n; i++)
        sb_printf(&sb, "%s%lld", i ? "," : "", (long long)v[i]);
    sb_putc(&sb, '}');
    return sb.buf;
}

/* Tags (and, when with_aliases, aliases) of model versions mvs[0..n). */
static int load_mv_extras(struct db_conn *c, struct arena *a, struct model_version *mvs, size_t n,
                          bool with_aliases, struct error *err)
{
    DB_STMT(tags_q, "SELECT p.ord, t.key, t.value FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY"
                    " AS p(rm_id, version, ord) JOIN model_version_tags t"
                    " ON t.rm_id = p.rm_id AND t.version = p.version ORDER BY p.ord, t.ord");
    DB_STMT(alias_q, "SELECT p.ord, al.alias FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY"
                     " AS p(rm_id, version, ord) JOIN registered_model_aliases al"
                     " ON al.rm_id = p.rm_id AND al.version = p.version ORDER BY p.ord, al.alias");
    if (!n)
        return 0;
    int64_t *rm_ids = arena_alloc(a, n * sizeof *rm_ids), *versions = arena_alloc(a, n * sizeof *versions);
    for (size_t i = 0; i < n; i++) {
        rm_ids[i] = mvs[i].rm_id;
        versions[i] = mvs[i].version;
    }
    const char *vals[2] = { int_array(a, rm_ids, n), int_array(a, versions, n) };
    PGresult *r = db_exec(c, &tags_q, 2, vals, err);
    if (!r)
        return -1;
    struct groups g;
    group_rows(a, r, n, &g);
    for (size_t i = 0; i < n; i++) {
        if (!g.count[i])
            continue;
        mvs[i].tags = arena_alloc(a, g.count[i] * sizeof *mvs[i].tags);
        for (size_t j = 0; j < g.count[i]; j++) {
            mvs[i].tags[j].key = arena_strdup(a, PQgetvalue(r, g.first[i] + (int)j, 1));
            mvs[i].tags[j].value = arena_strdup(a, PQgetvalue(r, g.first[i] + (int)j, 2));
        }
        mvs[i].n_tags = g.count[i];
    }
    PQclear(r);
    if (!with_aliases)
        return 0;
    if (!(r = db_exec(c, &alias_q, 2, vals, err)))
        return -1;
    group_rows(a, r, n, &g);
    for (size_t i = 0; i < n; i++) {
        if (!g.count[i])
            continue;
        mvs[i].aliases = arena_alloc(a, g.count[i] * sizeof *mvs[i].aliases);
        for (size_t j = 0; j < g.count[i]; j++)
            mvs[i].aliases[j] = arena_strdup(a, PQgetvalue(r, g.first[i] + (int)j, 1));
        mvs[i].n_aliases = g.count[i];
    }
    PQclear(r);
    return 0;
}

/* Registered models by key, in the given order, with tags, aliases and the
 * newest live version of each stage (with tags, without aliases, as MLflow),
 * in one statement: one round trip instead of five (bench W5). Each row is
 * (kind, ord, k1, k2, c1..c15): kind says which entity the text columns
 * hold; ord is the model's place in ids; k1, k2 and c1 order rows within it
 * as the separate queries did (tags by ord, aliases by name, versions by
 * number, version tags by ord). Every join is a LATERAL probe that cannot
 * be flattened (OFFSET 0): a page is a few ids, and a custom plan for a
 * known array would otherwise hash-join whole small tables. */
enum { RM_ROW = 1, RM_TAG_ROW, RM_ALIAS_ROW, LATEST_ROW, LATEST_TAG_ROW };
#define HYD_C 4   /* first text column */
#define HYD_NULLS(n) HYD_NULLS_##n
#define HYD_NULLS_10 ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
#define HYD_NULLS_13 ", NULL, NULL, NULL" HYD_NULLS_10

static int load_rms(struct db_conn *c, struct arena *a, const int64_t *ids, size_t n,
                    struct registered_model *out, struct error *err)
{
    DB_STMT(hydrate_q,
        "WITH p AS MATERIALIZED (SELECT rm_id, ord FROM unnest($1::bigint[]) WITH ORDINALITY AS p(rm_id, ord)),"
        " l AS MATERIALIZED (SELECT p.ord, v.* FROM p JOIN LATERAL (SELECT DISTINCT ON (v.current_stage) v.*"
        "   FROM model_versions v WHERE v.rm_id = p.rm_id AND " LIVE
        "   ORDER BY v.current_stage, v.version DESC) v ON true)"
        " SELECT 1 AS kind, p.ord, 0::bigint AS k1, 0::bigint AS k2, m.name::text AS c1,"
        "  m.creation_time::text, m.last_updated_time::text, m.description::text, m.rm_id::text,"
        "  NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,"
        "  NULL::text, NULL::text"
        " FROM p CROSS JOIN LATERAL (SELECT * FROM registered_models m WHERE m.rm_id = p.rm_id OFFSET 0) m"
        " UNION ALL SELECT 2, p.ord, t.ord, 0, t.key, t.value" HYD_NULLS(13)
        " FROM p CROSS JOIN LATERAL (SELECT * FROM registered_model_tags t WHERE t.rm_id = p.rm_id OFFSET 0) t"
        " UNION ALL SELECT 3, p.ord, 0, 0, al.alias, al.version::text" HYD_NULLS(13)
        " FROM p CROSS JOIN LATERAL (SELECT * FROM registered_model_aliases al WHERE al.rm_id = p.rm_id OFFSET 0) al"
        /* MV_COLS as text; the name is the model's (its row sorts first) */
        " UNION ALL SELECT 4, v.ord, v.version, 0, NULL, v.version::text, v.creation_time::text,"
        "  v.last_updated_time::text, v.description, v.user_id, v.current_stage, v.source, v.storage_location,"
        "  v.run_id, v.run_link, v.status, v.status_message, v.model_id, v.rm_id::text"
        " FROM l v"
        " UNION ALL SELECT 5, v.ord, v.version, t.ord, t.key, t.value" HYD_NULLS(13)
        " FROM l v CROSS JOIN LATERAL (SELECT * FROM model_version_tags t"
        "   WHERE t.rm_id = v.rm_id AND t.version = v.version OFFSET 0) t"
        " ORDER BY 2, 1, 3, 4, 5");
    if (!n)
        return 0;
    const char *vals[1] = { int_array(a, ids, n) };
    PGresult *r = db_exec(c, &hydrate_q, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    /* pass 1: how many of each per model (and per latest version) */
    size_t found = 0, *n_latest_tags = arena_alloc(a, (rows ? (size_t)rows : 1) * sizeof *n_latest_tags);
    memset(out, 0, n * sizeof *out);
    for (int row = 0, latest_row = -1; row < rows; row++) {
        long long ord = db_int64(r, row, 1);
        if (ord < 1 || (size_t)ord > n)
            continue;
        struct registered_model *rm = &out[ord - 1];
        switch (db_int64(r, row, 0)) {
        case RM_ROW: found++; break;
        case RM_TAG_ROW: rm->n_tags++; break;
        case RM_ALIAS_ROW: rm->n_aliases++; break;
        case LATEST_ROW: rm->n_latest++; n_latest_tags[row] = 0; latest_row = row; break;
        case LATEST_TAG_ROW:   /* follows its version's row: versions sort before their tags */
            for (int k = latest_row; k >= 0 && db_int64(r, k, 0) == LATEST_ROW && db_int64(r, k, 1) == ord; k--)
                if (db_int64(r, k, 2) == db_int64(r, row, 2)) {
                    n_latest_tags[k]++;
                    break;
                }
            break;
        }
    }
    if (found != n) {   /* deleted under us: the caller's snapshot is stale */
        PQclear(r);
        return error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Registered models changed during the request; retry");
    }
    for (size_t i = 0; i < n; i++) {
        out[i].tags = out[i].n_tags ? arena_alloc(a, out[i].n_tags * sizeof *out[i].tags) : NULL;
        out[i].aliases = out[i].n_aliases ? arena_alloc(a, out[i].n_aliases * sizeof *out[i].aliases) : NULL;
        out[i].latest = out[i].n_latest ? arena_alloc(a, out[i].n_latest * sizeof *out[i].latest) : NULL;
        out[i].n_tags = out[i].n_aliases = out[i].n_latest = 0;
    }
    /* pass 2: fill, in row order */
    for (int row = 0; row < rows; row++) {
        long long ord = db_int64(r, row, 1);
        if (ord < 1 || (size_t)ord > n)
            continue;
        struct registered_model *rm = &out[ord - 1];
        switch (db_int64(r, row, 0)) {
        case RM_ROW:
            rm->name = arena_strdup(a, PQgetvalue(r, row, HYD_C));
            rm->creation_time = db_int64(r, row, HYD_C + 1);
            rm->last_updated_time = db_int64(r, row, HYD_C + 2);
            rm->description = opt_str(a, r, row, HYD_C + 3);
            break;
        case RM_TAG_ROW:
            rm->tags[rm->n_tags].key = arena_strdup(a, PQgetvalue(r, row, HYD_C));
            rm->tags[rm->n_tags++].value = arena_strdup(a, PQgetvalue(r, row, HYD_C + 1));
            break;
        case RM_ALIAS_ROW:
            rm->aliases[rm->n_aliases].alias = arena_strdup(a, PQgetvalue(r, row, HYD_C));
            rm->aliases[rm->n_aliases++].version = db_int64(r, row, HYD_C + 1);
            break;
        case LATEST_ROW: {
            struct model_version *mv = &rm->latest[rm->n_latest++];
            read_mv(a, r, row, HYD_C, mv);
            mv->name = rm->name;
            if (n_latest_tags[row])
                mv->tags = arena_alloc(a, n_latest_tags[row] * sizeof *mv->tags);
            break;
        }
        case LATEST_TAG_ROW: {
            int64_t version = db_int64(r, row, 2);
            for (size_t k = 0; k < rm->n_latest; k++) {
                struct model_version *mv = &rm->latest[k];
                if (mv->version != version || !mv->tags)
                    continue;
                mv->tags[mv->n_tags].key = arena_strdup(a, PQgetvalue(r, row, HYD_C));
                mv->tags[mv->n_tags++].value = arena_strdup(a, PQgetvalue(r, row, HYD_C + 1));
                break;
            }
            break;
        }
        }
    }
    PQclear(r);
    return 0;
}

/* ---- shared lookups ----
 * Reads run under db_run: each statement is atomic and sees its own
 * snapshot, exactly as inside a READ COMMITTED transaction, without the
 * BEGIN and COMMIT round trips. */

static int model_not_found(struct error *err, const char *name)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Registered Model with name=%s not found", name);
}

static int version_not_found(struct error *err, const char *name, int64_t version)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Model Version (name=%s, version=%lld) not found", name,
                     (long long)version);
}

/* The registered model's key; lock it FOR UPDATE when writing. */
static int find_rm(struct db_conn *c, struct arena *a, const char *name, bool lock, int64_t *rm_id,
                   struct error *err)
{
    DB_STMT(q, "SELECT rm_id FROM registered_models WHERE name = $1");
    DB_STMT(q_lock, "SELECT rm_id FROM registered_models WHERE name = $1 FOR UPDATE");
    const char *vals[1] = { name };
    PGresult *r = db_exec(c, lock ? &q_lock : &q, 1, vals, err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        *rm_id = db_int64(r, 0, 0);
    PQclear(r);
    (void)a;
    return found ? 0 : model_not_found(err, name);
}

/* A live version, read whole (with tags; with aliases when asked). */
static int read_version(struct db_conn *c, struct arena *a, const char *name, int64_t version, bool with_aliases,
                        struct model_version *out, struct error *err)
{
    DB_STMT(q, "SELECT " MV_COLS " FROM registered_models m JOIN model_versions v ON v.rm_id = m.rm_id"
               " WHERE m.name = $1 AND v.version = $2 AND " LIVE);
    const char *vals[2] = { name, i64s(a, version) };
    PGresult *r = db_exec(c, &q, 2, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return version_not_found(err, name, version);
    }
    read_mv(a, r, 0, 0, out);
    PQclear(r);
    return load_mv_extras(c, a, out, 1, with_aliases, err);
}

/* Is (rm_id, version) a live version? */
static int require_live_version(struct db_conn *c, struct arena *a, int64_t rm_id, const char *name,
                                int64_t version, struct error *err)
{
    DB_STMT(q, "SELECT 1 FROM model_versions v WHERE v.rm_id = $1 AND v.version = $2 AND " LIVE);
    const char *vals[2] = { i64s(a, rm_id), i64s(a, version) };
    PGresult *r = db_exec(c, &q, 2, vals, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : version_not_found(err, name, version);
}

static int exec_ok(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals, int *rows,
                   struct error *err)
{
    PGresult *r = db_exec(c, st, n, vals, err);
    if (!r)
        return -1;
    if (rows)
        *rows = atoi(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

/* Upserts tags from parallel arrays; the last value of a repeated key wins. */
static int put_tags(struct db_conn *c, struct arena *a, struct db_stmt *st, const char *const *key_vals,
                    int n_key_vals, const struct kv *tags, size_t n_tags, struct error *err)
{
    if (!n_tags)
        return 0;
    const char **k = arena_alloc(a, n_tags * sizeof *k), **v = arena_alloc(a, n_tags * sizeof *v);
    for (size_t i = 0; i < n_tags; i++) {
        k[i] = tags[i].key;
        v[i] = tags[i].value ? tags[i].value : "";
    }
    const char *vals[4];
    for (int i = 0; i < n_key_vals; i++)
        vals[i] = key_vals[i];
    vals[n_key_vals] = pg_text_array(a, k, n_tags);
    vals[n_key_vals + 1] = pg_text_array(a, v, n_tags);
    return exec_ok(c, st, n_key_vals + 2, vals, NULL, err);
}

/* ---- the operations: one context, one transaction function each ---- */

struct reg_ctx {
    struct arena *a;
    const char *name, *new_name, *key, *value, *description, *alias, *stage;
    int64_t version;
    bool flag;
    const struct kv *tags;
    size_t n_tags;
    const char *const *stages;
    size_t n_stages;
    const struct model_version_create *create;
    const struct registry_search *search;
    struct registered_model *rm;
    struct model_version *mv;
    struct registered_model *rms;
    struct model_version *mvs;
    size_t n;
};

static int rm_by_id(struct db_conn *c, struct reg_ctx *x, int64_t rm_id, struct error *err)
{
    return load_rms(c, x->a, &rm_id, 1, x->rm, err);
}

static int create_rm_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(ins, "INSERT INTO registered_models (name, creation_time, last_updated_time, description)"
                 " VALUES ($1, $2, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING rm_id");
    DB_STMT(tags, "INSERT INTO registered_model_tags (rm_id, key, value)"
                  " SELECT rm, k, v FROM (SELECT DISTINCT ON (k) $1::bigint AS rm, k,"
                  "  last_value(v) OVER (PARTITION BY k ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED"
                  "  FOLLOWING) AS v, o FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(k, v, o)"
                  "  ORDER BY k, o) d ORDER BY o");
    DB_STMT(existing_is_prompt, "SELECT EXISTS (SELECT 1 FROM registered_models m JOIN registered_model_tags t"
                                " ON t.rm_id = m.rm_id WHERE m.name = $1 AND t.key = '" PROMPT_TAG_KEY "'"
                                " AND lower(t.value) = 'true')");
    const char *vals[3] = { x->name, i64s(x->a, now_ms()), x->description };
    PGresult *r = db_exec(c, &ins, 3, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        const char *nv[1] = { x->name };
        if (!(r = db_exec(c, &existing_is_prompt, 1, nv, err)))
            return -1;
        bool old_prompt = !strcmp(PQgetvalue(r, 0, 0), "t"), new_prompt = x->flag;
        PQclear(r);
        if (old_prompt != new_prompt)
            return error_set(err, ERR_RESOURCE_ALREADY_EXISTS,
                             "Tried to create a %s with name '%s', but the name is already taken by a %s. "
                             "MLflow does not allow creating a model and a prompt with the same name.",
                             new_prompt ? "prompt" : "registered model", x->name,
                             old_prompt ? "prompt" : "registered model");
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "%s (name=%s) already exists.",
                         new_prompt ? "Prompt" : "Registered Model", x->name);
    }
    int64_t rm_id = db_int64(r, 0, 0);
    PQclear(r);
    const char *key[1] = { i64s(x->a, rm_id) };
    if (put_tags(c, x->a, &tags, key, 1, x->tags, x->n_tags, err))
        return -1;
    return rm_by_id(c, x, rm_id, err);
}

int store_create_registered_model(struct arena *a, const char *name, const char *description,
                                  const struct kv *tags, size_t n_tags, struct registered_model *out,
                                  struct error *err)
{
    bool is_prompt = false;
    for (size_t i = 0; i < n_tags; i++)   /* the last value of the tag wins, as MLflow's dict */
        if (!strcmp(tags[i].key, PROMPT_TAG_KEY))
            is_prompt = tags[i].value && !strcasecmp(tags[i].value, "true");
    struct reg_ctx x = { .a = a, .name = name, .description = description, .tags = tags, .n_tags = n_tags,
                         .flag = is_prompt, .rm = out };
    return db_tx(create_rm_tx, &x, err);
}

static int get_rm_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, false, &rm_id, err))
        return -1;
    return rm_by_id(c, x, rm_id, err);
}

int store_get_registered_model(struct arena *a, const char *name, struct registered_model *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .rm = out };
    return db_read(get_rm_tx, &x, err);
}

static int rename_rm_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(rename, "UPDATE registered_models SET name = $2, last_updated_time = $3 WHERE rm_id = $1");
    DB_STMT(touch_versions, "UPDATE model_versions SET last_updated_time = $2 WHERE rm_id = $1");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err))
        return -1;
    const char *now = i64s(x->a, now_ms()), *id = i64s(x->a, rm_id);
    const char *vals[3] = { id, x->new_name, now };
    if (exec_ok(c, &rename, 3, vals, NULL, err)) {
        if (!strcmp(db_last_sqlstate(c), "23505"))
            return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Registered Model (name=%s) already exists.",
                             x->new_name);
        return -1;
    }
    const char *tv[2] = { id, now };
    if (exec_ok(c, &touch_versions, 2, tv, NULL, err))
        return -1;
    return rm_by_id(c, x, rm_id, err);
}

int store_rename_registered_model(struct arena *a, const char *name, const char *new_name,
                                  struct registered_model *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .new_name = new_name, .rm = out };
    return db_tx(rename_rm_tx, &x, err);
}

static int update_rm_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(upd, "UPDATE registered_models SET description = $2, last_updated_time = $3 WHERE rm_id = $1");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err))
        return -1;
    const char *vals[3] = { i64s(x->a, rm_id), x->description, i64s(x->a, now_ms()) };
    if (exec_ok(c, &upd, 3, vals, NULL, err))
        return -1;
    return rm_by_id(c, x, rm_id, err);
}

int store_update_registered_model(struct arena *a, const char *name, const char *description,
                                  struct registered_model *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .description = description, .rm = out };
    return db_tx(update_rm_tx, &x, err);
}

static int delete_rm_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    /* a hard delete: versions, tags and aliases go with it (ON DELETE CASCADE) */
    DB_STMT(del, "DELETE FROM registered_models WHERE name = $1");
    const char *vals[1] = { x->name };
    int rows;
    if (exec_ok(c, &del, 1, vals, &rows, err))
        return -1;
    return rows ? 0 : model_not_found(err, x->name);
}

int store_delete_registered_model(struct arena *a, const char *name, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name };
    return db_tx(delete_rm_tx, &x, err);
}

static int rm_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(set, "INSERT INTO registered_model_tags (rm_id, key, value) VALUES ($1, $2, $3)"
                 " ON CONFLICT (rm_id, key) DO UPDATE SET value = EXCLUDED.value");
    DB_STMT(del, "DELETE FROM registered_model_tags WHERE rm_id = $1 AND key = $2");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err))
        return -1;
    const char *vals[3] = { i64s(x->a, rm_id), x->key, x->value };
    /* deleting a tag that is not there is fine, as MLflow */
    return exec_ok(c, x->value ? &set : &del, x->value ? 3 : 2, vals, NULL, err);
}

int store_set_registered_model_tag(struct arena *a, const char *name, const char *key, const char *value,
                                   struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .key = key, .value = value ? value : "" };
    return db_tx(rm_tag_tx, &x, err);
}

int store_delete_registered_model_tag(struct arena *a, const char *name, const char *key, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .key = key, .value = NULL };
    return db_tx(rm_tag_tx, &x, err);
}

static int is_prompt_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(q, "SELECT EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.rm_id = $1"
               " AND t.key = '" PROMPT_TAG_KEY "' AND lower(t.value) = 'true')");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, false, &rm_id, err))
        return -1;
    const char *vals[1] = { i64s(x->a, rm_id) };
    PGresult *r = db_exec(c, &q, 1, vals, err);
    if (!r)
        return -1;
    x->flag = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    return 0;
}

int store_registered_model_is_prompt(struct arena *a, const char *name, bool *is_prompt, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name };
    if (db_run(is_prompt_tx, &x, err))
        return -1;
    *is_prompt = x.flag;
    return 0;
}

/* ---- latest versions and aliases ---- */

static int latest_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    int64_t rm_id;
    struct registered_model rm;
    if (find_rm(c, x->a, x->name, false, &rm_id, err) || load_rms(c, x->a, &rm_id, 1, &rm, err))
        return -1;
    x->mvs = arena_alloc(x->a, (rm.n_latest ? rm.n_latest : 1) * sizeof *x->mvs);
    x->n = 0;
    for (size_t i = 0; i < rm.n_latest; i++) {
        bool wanted = x->n_stages == 0;
        for (size_t s = 0; !wanted && s < x->n_stages; s++)
            wanted = !strcmp(rm.latest[i].current_stage, x->stages[s]);
        if (wanted)
            x->mvs[x->n++] = rm.latest[i];
    }
    for (size_t i = 0; i < x->n; i++) {   /* get-latest-versions lists aliases too */
        x->mvs[i].aliases = NULL;
        x->mvs[i].n_aliases = 0;
        for (size_t j = 0; j < rm.n_aliases; j++)
            if (rm.aliases[j].version == x->mvs[i].version) {
                if (!x->mvs[i].aliases)
                    x->mvs[i].aliases = arena_alloc(x->a, rm.n_aliases * sizeof *x->mvs[i].aliases);
                x->mvs[i].aliases[x->mvs[i].n_aliases++] = rm.aliases[j].alias;
            }
    }
    return 0;
}

int store_get_latest_versions(struct arena *a, const char *name, const char *const *stages, size_t n_stages,
                              struct model_version **out, size_t *n, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .stages = stages, .n_stages = n_stages };
    if (db_read(latest_tx, &x, err))
        return -1;
    *out = x.mvs;
    *n = x.n;
    return 0;
}

static int set_alias_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(set, "INSERT INTO registered_model_aliases (rm_id, alias, version) VALUES ($1, $2, $3)"
                 " ON CONFLICT (rm_id, alias) DO UPDATE SET version = EXCLUDED.version");
    int64_t rm_id;
    /* MLflow looks the version up first: an unknown model is a missing version */
    if (find_rm(c, x->a, x->name, true, &rm_id, err)) {
        err->code = ERR_RESOURCE_DOES_NOT_EXIST;
        return version_not_found(err, x->name, x->version);
    }
    if (require_live_version(c, x->a, rm_id, x->name, x->version, err))
        return -1;
    const char *vals[3] = { i64s(x->a, rm_id), x->alias, i64s(x->a, x->version) };
    return exec_ok(c, &set, 3, vals, NULL, err);
}

int store_set_model_alias(struct arena *a, const char *name, const char *alias, int64_t version,
                          struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .alias = alias, .version = version };
    return db_tx(set_alias_tx, &x, err);
}

static int delete_alias_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(del, "DELETE FROM registered_model_aliases WHERE rm_id = $1 AND alias = $2");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err))
        return -1;
    const char *vals[2] = { i64s(x->a, rm_id), x->alias };
    return exec_ok(c, &del, 2, vals, NULL, err);
}

int store_delete_model_alias(struct arena *a, const char *name, const char *alias, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .alias = alias };
    return db_tx(delete_alias_tx, &x, err);
}

static int by_alias_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(alias_q, "SELECT version FROM registered_model_aliases WHERE rm_id = $1 AND alias = $2");
    DB_STMT(latest_q, "SELECT max(v.version) FROM model_versions v WHERE v.rm_id = $1 AND " LIVE);
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, false, &rm_id, err))
        return -1;
    bool latest = !strcasecmp(x->alias, "latest");
    const char *vals[2] = { i64s(x->a, rm_id), x->alias };
    PGresult *r = db_exec(c, latest ? &latest_q : &alias_q, latest ? 1 : 2, vals, err);
    if (!r)
        return -1;
    bool found = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    int64_t version = found ? db_int64(r, 0, 0) : 0;
    PQclear(r);
    if (!found && latest)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Latest version not found for model %s.", x->name);
    if (!found)   /* MLflow answers 400 here, not 404 */
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Registered model alias %s not found.", x->alias);
    return read_version(c, x->a, x->name, version, true, x->mv, err);
}

int store_get_model_version_by_alias(struct arena *a, const char *name, const char *alias,
                                     struct model_version *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .alias = alias, .mv = out };
    return db_read(by_alias_tx, &x, err);
}

/* ---- model versions ---- */

static int create_mv_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    const struct model_version_create *mc = x->create;
    /* The row lock taken by this UPDATE serialises concurrent creators of
     * one model; the counter includes deleted versions, so numbers are never
     * reused, and a rolled-back transaction gives its number back. */
    DB_STMT(next, "UPDATE registered_models SET last_version = last_version + 1, last_updated_time = $2"
                  " WHERE name = $1 RETURNING rm_id, last_version");
    DB_STMT(ins, "INSERT INTO model_versions (rm_id, version, creation_time, last_updated_time, description,"
                 " current_stage, source, storage_location, run_id, run_link, status, model_id)"
                 " VALUES ($1, $2, $3, $3, $4, 'None', $5, $6, $7, $8, 'READY', $9)");
    DB_STMT(tags, "INSERT INTO model_version_tags (rm_id, version, key, value)"
                  " SELECT rm, ver, k, v FROM (SELECT DISTINCT ON (k) $1::bigint AS rm, $2::bigint AS ver, k,"
                  "  last_value(v) OVER (PARTITION BY k ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED"
                  "  FOLLOWING) AS v, o FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t(k, v, o)"
                  "  ORDER BY k, o) d ORDER BY o");
    const char *now = i64s(x->a, now_ms());
    const char *nv[2] = { mc->name, now };
    PGresult *r = db_exec(c, &next, 2, nv, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return model_not_found(err, mc->name);
    }
    int64_t rm_id = db_int64(r, 0, 0), version = db_int64(r, 0, 1);
    PQclear(r);
    const char *id = i64s(x->a, rm_id), *ver = i64s(x->a, version);
    const char *vals[9] = { id, ver, now, mc->description, mc->source, mc->storage_location,
                            mc->run_id, mc->run_link, mc->model_id };
    if (exec_ok(c, &ins, 9, vals, NULL, err))
        return -1;
    const char *key[2] = { id, ver };
    if (put_tags(c, x->a, &tags, key, 2, mc->tags, mc->n_tags, err))
        return -1;
    return read_version(c, x->a, mc->name, version, true, x->mv, err);
}

int store_create_model_version(struct arena *a, const struct model_version_create *c,
                               struct model_version *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .create = c, .mv = out };
    return db_tx(create_mv_tx, &x, err);
}

static int get_mv_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    return read_version(c, x->a, x->name, x->version, true, x->mv, err);
}

int store_get_model_version(struct arena *a, const char *name, int64_t version, struct model_version *out,
                            struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .version = version, .mv = out };
    return db_read(get_mv_tx, &x, err);
}

static int update_mv_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(upd, "UPDATE model_versions SET description = $3, last_updated_time = $4"
                 " WHERE rm_id = $1 AND version = $2");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err)) {
        err->code = ERR_RESOURCE_DOES_NOT_EXIST;
        return version_not_found(err, x->name, x->version);
    }
    if (require_live_version(c, x->a, rm_id, x->name, x->version, err))
        return -1;
    const char *vals[4] = { i64s(x->a, rm_id), i64s(x->a, x->version), x->description, i64s(x->a, now_ms()) };
    if (exec_ok(c, &upd, 4, vals, NULL, err))
        return -1;
    return read_version(c, x->a, x->name, x->version, true, x->mv, err);
}

int store_update_model_version(struct arena *a, const char *name, int64_t version, const char *description,
                               struct model_version *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .version = version, .description = description, .mv = out };
    return db_tx(update_mv_tx, &x, err);
}

static int transition_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(archive, "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $3"
                     " WHERE rm_id = $1 AND version <> $2 AND current_stage = $4");
    DB_STMT(move, "UPDATE model_versions SET current_stage = $3, last_updated_time = $4"
                  " WHERE rm_id = $1 AND version = $2");
    DB_STMT(touch, "UPDATE registered_models SET last_updated_time = $2 WHERE rm_id = $1");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err)) {
        err->code = ERR_RESOURCE_DOES_NOT_EXIST;
        return version_not_found(err, x->name, x->version);
    }
    if (require_live_version(c, x->a, rm_id, x->name, x->version, err))
        return -1;
    const char *id = i64s(x->a, rm_id), *ver = i64s(x->a, x->version), *now = i64s(x->a, now_ms());
    if (x->flag) {
        const char *av[4] = { id, ver, now, x->stage };
        if (exec_ok(c, &archive, 4, av, NULL, err))
            return -1;
    }
    const char *mv[4] = { id, ver, x->stage, now };
    const char *tv[2] = { id, now };
    if (exec_ok(c, &move, 4, mv, NULL, err) || exec_ok(c, &touch, 2, tv, NULL, err))
        return -1;
    return read_version(c, x->a, x->name, x->version, true, x->mv, err);
}

int store_transition_model_version_stage(struct arena *a, const char *name, int64_t version, const char *stage,
                                         bool archive_existing, struct model_version *out, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .version = version, .stage = stage, .flag = archive_existing,
                         .mv = out };
    return db_tx(transition_tx, &x, err);
}

static int delete_mv_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    /* MLflow's soft delete: the number stays taken, the row is redacted and
     * invisible; its aliases go, its tags stay. */
    DB_STMT(drop_aliases, "DELETE FROM registered_model_aliases WHERE rm_id = $1 AND version = $2");
    DB_STMT(redact, "UPDATE model_versions SET current_stage = '" STAGE_DELETED_INTERNAL "',"
                    " last_updated_time = $3, description = NULL, user_id = NULL,"
                    " source = 'REDACTED-SOURCE-PATH', storage_location = NULL, run_id = 'REDACTED-RUN-ID',"
                    " run_link = 'REDACTED-RUN-LINK', status_message = NULL WHERE rm_id = $1 AND version = $2");
    DB_STMT(touch, "UPDATE registered_models SET last_updated_time = $2 WHERE rm_id = $1");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err)) {
        err->code = ERR_RESOURCE_DOES_NOT_EXIST;
        return version_not_found(err, x->name, x->version);
    }
    if (require_live_version(c, x->a, rm_id, x->name, x->version, err))
        return -1;
    const char *id = i64s(x->a, rm_id), *ver = i64s(x->a, x->version), *now = i64s(x->a, now_ms());
    const char *v2[2] = { id, ver }, *v3[3] = { id, ver, now }, *tv[2] = { id, now };
    if (exec_ok(c, &drop_aliases, 2, v2, NULL, err) || exec_ok(c, &redact, 3, v3, NULL, err) ||
        exec_ok(c, &touch, 2, tv, NULL, err))
        return -1;
    return 0;
}

int store_delete_model_version(struct arena *a, const char *name, int64_t version, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .version = version };
    return db_tx(delete_mv_tx, &x, err);
}

static int mv_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    DB_STMT(set, "INSERT INTO model_version_tags (rm_id, version, key, value) VALUES ($1, $2, $3, $4)"
                 " ON CONFLICT (rm_id, version, key) DO UPDATE SET value = EXCLUDED.value");
    DB_STMT(del, "DELETE FROM model_version_tags WHERE rm_id = $1 AND version = $2 AND key = $3");
    int64_t rm_id;
    if (find_rm(c, x->a, x->name, true, &rm_id, err)) {
        err->code = ERR_RESOURCE_DOES_NOT_EXIST;
        return version_not_found(err, x->name, x->version);
    }
    if (require_live_version(c, x->a, rm_id, x->name, x->version, err))
        return -1;
    const char *vals[4] = { i64s(x->a, rm_id), i64s(x->a, x->version), x->key, x->value };
    return exec_ok(c, x->value ? &set : &del, x->value ? 4 : 3, vals, NULL, err);
}

int store_set_model_version_tag(struct arena *a, const char *name, int64_t version, const char *key,
                                const char *value, struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .version = version, .key = key, .value = value ? value : "" };
    return db_tx(mv_tag_tx, &x, err);
}

int store_delete_model_version_tag(struct arena *a, const char *name, int64_t version, const char *key,
                                   struct error *err)
{
    struct reg_ctx x = { .a = a, .name = name, .version = version, .key = key, .value = NULL };
    return db_tx(mv_tag_tx, &x, err);
}

/* ---- search ---- */


/* "<column> <op> $n" for one value or a list; cast is "" or "::bigint" */
static int compare_sql(struct arena *a, struct strbuf *sql, struct sql_params *pp, const char *column,
                       const struct sf_clause *cl, const char *cast, struct error *err)
{
    if (cl->op == SF_IN || cl->op == SF_NOT_IN) {
        int n = sql_param_add(pp, a, pg_text_array(a, cl->list, cl->list_len));
        sb_printf(sql, cl->op == SF_IN ? "%s = ANY($%d::text[])" : "%s <> ALL($%d::text[])", column, n);
        return 0;
    }
    const char *op = sf_sql_op(cl->op);
    if (!op || cl->kind != SF_VAL_STRING)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator in filter string");
    int n = sql_param_add(pp, a, cl->str);
    sb_printf(sql, "%s %s $%d%s", column, op, n, cast);
    return 0;
}

/* Tag values are indexed by their first 200 characters, value_prefix
 * (sql/013: a stored column, so a filter is an index-only scan): a value
 * shorter than 200 characters equals a stored value exactly when it equals
 * the stored value's prefix, so the prefix alone is the whole comparison —
 * and the planner, not seeing a second condition it would count as
 * selective again, estimates the rows right and merges two tag filters. */
#define TAG_PREFIX 200

static bool short_value(const char *s)
{
    size_t chars = 0;
    for (; *s; s++)
        chars += ((unsigned char)*s & 0xC0) != 0x80;   /* UTF-8 lead bytes */
    return chars < TAG_PREFIX;
}

static int tag_value_sql(struct arena *a, struct strbuf *sql, struct sql_params *pp, const struct sf_clause *cl,
                         struct error *err)
{
    bool all_short = cl->op == SF_EQ ? cl->kind == SF_VAL_STRING && short_value(cl->str) : cl->op == SF_IN;
    for (size_t i = 0; cl->op == SF_IN && i < cl->list_len; i++)
        all_short = all_short && short_value(cl->list[i]);
    if (!all_short)
        return compare_sql(a, sql, pp, "t.value", cl, "", err);
    return compare_sql(a, sql, pp, "t.value_prefix", cl, "", err);
}

/* MLflow's prompt rule: the filter asks for prompts when its first clause on
 * the prompt tag is = 'true' or != 'false' (any case). */
static bool querying_prompts(const struct sf_filter *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct sf_clause *cl = &f->clauses[i];
        if (cl->entity != SF_TAG || strcmp(cl->key, PROMPT_TAG_KEY) || cl->kind != SF_VAL_STRING)
            continue;
        return (cl->op == SF_EQ && !strcasecmp(cl->str, "true")) || (cl->op == SF_NE && !strcasecmp(cl->str, "false"));
    }
    return false;
}

static int where_sql(struct arena *a, const struct sf_filter *f, bool versions, struct strbuf *sql,
                     struct sql_params *pp, struct error *err)
{
    bool prompts = querying_prompts(f);
    const char *tag_table = versions ? "model_version_tags" : "registered_model_tags";
    const char *owner = versions ? "t.rm_id = v.rm_id AND t.version = v.version" : "t.rm_id = m.rm_id";
    if (!prompts) {
        /* prompts are hidden unless asked for, and the prompt-tag clauses go with them */
        sb_printf(sql, " AND NOT EXISTS (SELECT 1 FROM %s t WHERE t.rm_id = %s AND t.key = '" PROMPT_TAG_KEY
                       "' AND t.value = 'true')", tag_table, versions ? "v.rm_id" : "m.rm_id");
    }
    for (size_t i = 0; i < f->n; i++) {
        const struct sf_clause *cl = &f->clauses[i];
        sb_puts(sql, " AND ");
        if (cl->entity == SF_TAG) {
            if (!prompts && !strcmp(cl->key, PROMPT_TAG_KEY)) {
                sb_puts(sql, "true");
                continue;
            }
            int k = sql_param_add(pp, a, cl->key);
            sb_printf(sql, "EXISTS (SELECT 1 FROM %s t WHERE %s AND t.key = $%d AND ", tag_table, owner, k);
            if (tag_value_sql(a, sql, pp, cl, err))
                return -1;
            sb_putc(sql, ')');
            continue;
        }
        const char *column = !strcmp(cl->key, "name") ? "m.name"
                           : !strcmp(cl->key, "run_id") ? "v.run_id"
                           : !strcmp(cl->key, "source_path") ? "v.source"
                           : !strcmp(cl->key, "version_number") ? "v.version" : NULL;
        if (!column || (!versions && strcmp(column, "m.name")))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid attribute name: %s", cl->key);
        if (compare_sql(a, sql, pp, column, cl, strcmp(column, "v.version") ? "" : "::bigint", err))
            return -1;
    }
    return 0;
}

static int order_sql(const struct sf_order_list *o, bool versions, struct strbuf *sql, struct error *err)
{
    bool has_name = false, has_version = false;
    sb_puts(sql, " ORDER BY ");
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->items[i].key, *column;
        if (!strcmp(k, "name"))
            column = "m.name", has_name = true;
        else if (!strcmp(k, "last_updated_timestamp"))
            column = versions ? "v.last_updated_time" : "m.last_updated_time";
        else if (versions && !strcmp(k, "creation_timestamp"))
            column = "v.creation_time";
        else if (versions && !strcmp(k, "version_number"))
            column = "v.version", has_version = true;
        else
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid order by key '%s' specified.", k);
        /* names sort in the database collation, as MLflow on the same database */
        sb_printf(sql, "%s%s %s", i ? ", " : "", column,
                  o->items[i].ascending ? "ASC" : "DESC");
    }
    if (!has_name)
        sb_printf(sql, "%sm.name ASC", o->n ? ", " : "");
    if (versions && !has_version)
        sb_puts(sql, ", v.version DESC");
    return 0;
}

static void page_sql(struct arena *a, const struct registry_search *s, struct strbuf *sql, struct sql_params *pp)
{
    int off = sql_param_add(pp, a, i64s(a, s->offset));
    int lim = sql_param_add(pp, a, i64s(a, s->limit));
    sb_printf(sql, " OFFSET $%d::bigint LIMIT $%d::bigint", off, lim);
}

static int search_rm_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    struct strbuf sql;
    struct sql_params pp;
    sb_init(&sql, x->a, 512);
    sql_params_init(&pp, x->a);
    sb_puts(&sql, "SELECT m.rm_id FROM registered_models m WHERE true");
    if (where_sql(x->a, &x->search->filter, false, &sql, &pp, err) ||
        order_sql(&x->search->order, false, &sql, err))
        return -1;
    page_sql(x->a, x->search, &sql, &pp);
    PGresult *r = db_exec_sql(c, sql.buf, pp.n, pp.values, err);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    int64_t *ids = arena_alloc(x->a, (n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = db_int64(r, (int)i, 0);
    PQclear(r);
    x->rms = arena_alloc(x->a, (n ? n : 1) * sizeof *x->rms);
    x->n = n;
    return load_rms(c, x->a, ids, n, x->rms, err);
}

int store_search_registered_models(struct arena *a, const struct registry_search *s,
                                   struct registered_model **out, size_t *n, struct error *err)
{
    struct reg_ctx x = { .a = a, .search = s };
    if (db_read(search_rm_tx, &x, err))
        return -1;
    *out = x.rms;
    *n = x.n;
    return 0;
}

static int search_mv_tx(struct db_conn *c, void *p, struct error *err)
{
    struct reg_ctx *x = p;
    struct strbuf sql;
    struct sql_params pp;
    sb_init(&sql, x->a, 512);
    sql_params_init(&pp, x->a);
    sb_puts(&sql, "SELECT " MV_COLS " FROM model_versions v JOIN registered_models m ON m.rm_id = v.rm_id"
                  " WHERE " LIVE);
    if (where_sql(x->a, &x->search->filter, true, &sql, &pp, err) ||
        order_sql(&x->search->order, true, &sql, err))
        return -1;
    page_sql(x->a, x->search, &sql, &pp);
    PGresult *r = db_exec_sql(c, sql.buf, pp.n, pp.values, err);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    x->mvs = arena_alloc(x->a, (n ? n : 1) * sizeof *x->mvs);
    for (size_t i = 0; i < n; i++)
        read_mv(x->a, r, (int)i, 0, &x->mvs[i]);
    x->n = n;
    PQclear(r);
    /* MLflow's search leaves aliases out */
    return load_mv_extras(c, x->a, x->mvs, n, false, err);
}

int store_search_model_versions(struct arena *a, const struct registry_search *s,
                                struct model_version **out, size_t *n, struct error *err)
{
    struct reg_ctx x = { .a = a, .search = s };
    if (db_read(search_mv_tx, &x, err))
        return -1;
    *out = x.mvs;
    *n = x.n;
    return 0;
}
