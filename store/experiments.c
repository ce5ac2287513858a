/* Experiments and their tags. */
#include "db.h"
#include "tracking.h"
#include <stdio.h>
#include <string.h>

#define EXP_COLS "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"

static void read_experiment(struct arena *a, const PGresult *r, int row, struct experiment *e)
{
    e->experiment_id = db_int64(r, row, 0);
    e->name = arena_strdup(a, PQgetvalue(r, row, 1));
    e->artifact_location = arena_strdup(a, PQgetvalue(r, row, 2));
    e->lifecycle_stage = arena_strdup(a, PQgetvalue(r, row, 3));
    e->creation_time = db_int64(r, row, 4);
    e->last_update_time = db_int64(r, row, 5);
    e->tags = NULL;
    e->n_tags = 0;
}

/* Loads the tags of experiments[0..n) in one query. */
static int load_tags(struct db_conn *c, struct arena *a, struct experiment *exps, size_t n, struct error *err)
{
    DB_STMT(q, "SELECT experiment_id, key, value FROM experiment_tags"
               " WHERE experiment_id = ANY($1::bigint[]) ORDER BY experiment_id, key");
    if (!n)
        return 0;
    struct strbuf ids;
    sb_init(&ids, a, 16 * n);
    sb_putc(&ids, '{');
    for (size_t i = 0; i < n; i++)
        sb_printf(&ids, "%s%lld", i ? "," : "", (long long)exps[i].experiment_id);
    sb_putc(&ids, '}');
    const char *vals[1] = { ids.buf };
    PGresult *r = db_exec(c, &q, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 0;
        for (int j = 0; j < rows; j++)
            cnt += db_int64(r, j, 0) == exps[i].experiment_id;
        if (!cnt)
            continue;
        exps[i].tags = arena_alloc(a, cnt * sizeof *exps[i].tags);
        for (int j = 0; j < rows; j++)
            if (db_int64(r, j, 0) == exps[i].experiment_id) {
                struct kv *t = &exps[i].tags[exps[i].n_tags++];
                t->key = arena_strdup(a, PQgetvalue(r, j, 1));
                t->value = arena_strdup(a, PQgetvalue(r, j, 2));
            }
    }
    PQclear(r);
    return 0;
}

/* ---- create ---- */

struct create_ctx {
    struct arena *a;
    const char *name, *location, *root;
    const struct kv *tags;
    size_t n_tags;
    int64_t id;
};

static int create_tx(struct db_conn *c, void *p, struct error *err)
{
    struct create_ctx *x = p;
    /* the existence check keeps ids dense (no sequence value burnt on a
     * duplicate); the unique index still decides a race */
    DB_STMT(ins, "WITH id AS (SELECT nextval('experiments_id_seq') AS v"
                 "   WHERE NOT EXISTS (SELECT 1 FROM experiments WHERE name = $1))"
                 " INSERT INTO experiments (" EXP_COLS ")"
                 " SELECT v, $1, COALESCE($2, $3 || v::text), 'active', $4, $4 FROM id"
                 " ON CONFLICT (name) DO NOTHING RETURNING experiment_id");
    DB_STMT(tag, "INSERT INTO experiment_tags (experiment_id, key, value)"
                 " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)"
                 " ON CONFLICT (experiment_id, key) DO UPDATE SET value = EXCLUDED.value");
    const char *now = i64s(x->a, now_ms());
    const char *vals[4] = { x->name, x->location, x->root, now };
    PGresult *r = db_exec(c, &ins, 4, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Experiment(name=%s) already exists.", x->name);
    }
    x->id = db_int64(r, 0, 0);
    PQclear(r);
    if (x->n_tags) {
        const char **k = arena_alloc(x->a, x->n_tags * sizeof *k), **v = arena_alloc(x->a, x->n_tags * sizeof *v);
        for (size_t i = 0; i < x->n_tags; i++) {
            k[i] = x->tags[i].key;
            v[i] = x->tags[i].value;
        }
        const char *tv[3] = { i64s(x->a, x->id), pg_text_array(x->a, k, x->n_tags),
                              pg_text_array(x->a, v, x->n_tags) };
        if (!(r = db_exec(c, &tag, 3, tv, err)))
            return -1;
        PQclear(r);
    }
    return 0;
}

int store_create_experiment(struct arena *a, const char *name, const char *artifact_location,
                            const char *default_root, const struct kv *tags, size_t n_tags,
                            int64_t *experiment_id, struct error *err)
{
    size_t n = strlen(default_root);
    /* append_to_uri_path: "mlflow-artifacts:" + "1" = "mlflow-artifacts:/1" */
    const char *root = n && default_root[n - 1] == '/' ? default_root : arena_printf(a, "%s/", default_root);
    struct create_ctx x = { a, name, artifact_location, root, tags, n_tags, 0 };
    if (db_tx(create_tx, &x, err))
        return -1;
    *experiment_id = x.id;
    return 0;
}

/* ---- get ---- */

struct get_ctx {
    struct arena *a;
    int64_t id;
    const char *name;
    struct experiment *out;
};

static int get_tx(struct db_conn *c, void *p, struct error *err)
{
    struct get_ctx *x = p;
    DB_STMT(by_id, "SELECT " EXP_COLS " FROM experiments WHERE experiment_id = $1");
    DB_STMT(by_name, "SELECT " EXP_COLS " FROM experiments WHERE name = $1");
    const char *vals[1] = { x->name ? x->name : i64s(x->a, x->id) };
    PGresult *r = db_exec(c, x->name ? &by_name : &by_id, 1, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (x->name)
            return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Could not find experiment with name '%s'", x->name);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%lld exists", (long long)x->id);
    }
    read_experiment(x->a, r, 0, x->out);
    PQclear(r);
    return load_tags(c, x->a, x->out, 1, err);
}

int store_get_experiment(struct arena *a, int64_t experiment_id, struct experiment *out, struct error *err)
{
    struct get_ctx x = { a, experiment_id, NULL, out };
    return db_run(get_tx, &x, err);
}

int store_get_experiment_by_name(struct arena *a, const char *name, struct experiment *out, struct error *err)
{
    struct get_ctx x = { a, 0, name, out };
    return db_run(get_tx, &x, err);
}

/* ---- search ---- */

struct search_ctx {
    struct arena *a;
    const struct experiment_search *s;
    struct experiment *out;
    size_t n;
};

static int search_tx(struct db_conn *c, void *p, struct error *err)
{
    struct search_ctx *x = p;
    struct strbuf sql;
    struct sql_params params;
    sb_init(&sql, x->a, 512);
    sql_params_init(&params, x->a);
    if (search_experiments_sql(x->a, x->s, &sql, &params, err))
        return -1;
    PGresult *r = db_exec_sql(c, sql.buf, params.n, params.values, err);
    if (!r)
        return -1;
    struct strbuf ids;
    sb_init(&ids, x->a, 16 * (size_t)PQntuples(r) + 2);
    sb_putc(&ids, '{');
    for (int i = 0; i < PQntuples(r); i++)
        sb_printf(&ids, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
    sb_putc(&ids, '}');
    PQclear(r);
    DB_STMT(page, "SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time,"
                  " e.last_update_time FROM unnest($1::bigint[]) WITH ORDINALITY AS p(id, ord)"
                  " JOIN experiments e ON e.experiment_id = p.id ORDER BY p.ord");
    const char *pv[1] = { ids.buf };
    if (!(r = db_exec(c, &page, 1, pv, err)))
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_experiment(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return load_tags(c, x->a, x->out, x->n, err);
}

int store_search_experiments(struct arena *a, const struct experiment_search *s, struct experiment **out,
                             size_t *n, struct error *err)
{
    struct search_ctx x = { a, s, NULL, 0 };
    if (db_read(search_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ---- updates ---- */

struct update_ctx {
    struct arena a;
    int64_t id;
    const char *name, *key, *value;
    bool deleted;
    int op;
};
enum { OP_RENAME, OP_LIFECYCLE, OP_SET_TAG, OP_DELETE_TAG };

static int lock_experiment(struct db_conn *c, struct update_ctx *x, const char **stage, struct error *err)
{
    DB_STMT(q, "SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1 FOR UPDATE");
    const char *vals[1] = { i64s(&x->a, x->id) };
    PGresult *r = db_exec(c, &q, 1, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%lld exists", (long long)x->id);
    }
    *stage = arena_strdup(&x->a, PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int update_tx(struct db_conn *c, void *p, struct error *err)
{
    struct update_ctx *x = p;
    DB_STMT(rename, "UPDATE experiments SET name = $2, last_update_time = $3 WHERE experiment_id = $1"
                    " AND NOT EXISTS (SELECT 1 FROM experiments e2 WHERE e2.name = $2 AND e2.experiment_id <> $1)"
                    " RETURNING 1");
    DB_STMT(lifecycle, "UPDATE experiments SET lifecycle_stage = $2, last_update_time = $3 WHERE experiment_id = $1");
    DB_STMT(runs_lifecycle, "UPDATE runs SET lifecycle_stage = $2,"
                            " deleted_time = CASE WHEN $2 = 'deleted' THEN $3::bigint ELSE NULL END"
                            " WHERE experiment_id = $1 AND lifecycle_stage <> $2");
    DB_STMT(set_tag, "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3)"
                     " ON CONFLICT (experiment_id, key) DO UPDATE SET value = EXCLUDED.value");
    DB_STMT(del_tag, "DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2 RETURNING 1");
    const char *stage = NULL;
    if (lock_experiment(c, x, &stage, err))
        return -1;
    const char *id = i64s(&x->a, x->id), *now = i64s(&x->a, now_ms());
    PGresult *r = NULL;
    switch (x->op) {
    case OP_RENAME: {
        if (strcmp(stage, "active"))
            return error_set(err, ERR_INVALID_STATE, "Cannot rename a non-active experiment.");
        const char *v[3] = { id, x->name, now };
        if (!(r = db_exec(c, &rename, 3, v, err)))
            return -1;
        int n = PQntuples(r);
        PQclear(r);
        if (!n)
            return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Experiment(name=%s) already exists.", x->name);
        return 0;
    }
    case OP_LIFECYCLE: {
        if (x->id == 0 && x->deleted)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Cannot delete the default experiment '0'. This is an internally reserved experiment.");
        const char *want = x->deleted ? "deleted" : "active";
        if (!strcmp(stage, want))
            return x->deleted ? error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                          "The experiment %s must be in the 'active' state. Current state is deleted.", id)
                              : error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                          "The experiment %s must be in the 'deleted' state. Current state is active.", id);
        const char *v[3] = { id, want, now };
        if (!(r = db_exec(c, &lifecycle, 3, v, err)))
            return -1;
        PQclear(r);
        if (!(r = db_exec(c, &runs_lifecycle, 3, v, err)))
            return -1;
        PQclear(r);
        return 0;
    }
    case OP_SET_TAG: {
        if (strcmp(stage, "active"))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "The experiment %s must be in the 'active' state. Current state is %s.", id, stage);
        const char *v[3] = { id, x->key, x->value };
        if (!(r = db_exec(c, &set_tag, 3, v, err)))
            return -1;
        PQclear(r);
        return 0;
    }
    default: {
        if (strcmp(stage, "active"))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "The experiment %s must be in the 'active' state. Current state is %s.", id, stage);
        const char *v[2] = { id, x->key };
        if (!(r = db_exec(c, &del_tag, 2, v, err)))
            return -1;
        int n = PQntuples(r);
        PQclear(r);
        if (!n)
            return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No tag with name: %s in experiment with id %s", x->key, id);
        return 0;
    }
    }
}

static int run_update(struct update_ctx *x, struct error *err)
{
    arena_init(&x->a);
    int rc = db_tx(update_tx, x, err);
    arena_free(&x->a);
    return rc;
}

int store_rename_experiment(int64_t experiment_id, const char *new_name, struct error *err)
{
    struct update_ctx x = { .id = experiment_id, .name = new_name, .op = OP_RENAME };
    return run_update(&x, err);
}

int store_set_experiment_lifecycle(int64_t experiment_id, bool deleted, struct error *err)
{
    struct update_ctx x = { .id = experiment_id, .deleted = deleted, .op = OP_LIFECYCLE };
    return run_update(&x, err);
}

int store_set_experiment_tag(int64_t experiment_id, const char *key, const char *value, struct error *err)
{
    struct update_ctx x = { .id = experiment_id, .key = key, .value = value, .op = OP_SET_TAG };
    return run_update(&x, err);
}

int store_delete_experiment_tag(int64_t experiment_id, const char *key, struct error *err)
{
    struct update_ctx x = { .id = experiment_id, .key = key, .op = OP_DELETE_TAG };
    return run_update(&x, err);
}
