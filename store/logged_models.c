/* MLflow 3 logged models: create, read (one or a page at once), finalize,
 * soft delete, tags, params, search, and the legacy log-model history tag. */
#include "db.h"
#include "logged_models.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define LM_COLS "model_id, experiment_id, name, artifact_location, creation_timestamp_ms," \
                " last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id, status_message"

static const char *nullable(struct arena *a, const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

static void read_model(struct arena *a, const PGresult *r, int row, struct logged_model *m)
{
    memset(m, 0, sizeof *m);
    m->model_id = arena_strdup(a, PQgetvalue(r, row, 0));
    m->experiment_id = db_int64(r, row, 1);
    m->name = arena_strdup(a, PQgetvalue(r, row, 2));
    m->artifact_location = arena_strdup(a, PQgetvalue(r, row, 3));
    m->creation_timestamp_ms = db_int64(r, row, 4);
    m->last_updated_timestamp_ms = db_int64(r, row, 5);
    m->status = (int)db_int64(r, row, 6);
    m->lifecycle_stage = arena_strdup(a, PQgetvalue(r, row, 7));
    m->model_type = nullable(a, r, row, 8);
    m->source_run_id = nullable(a, r, row, 9);
    m->status_message = nullable(a, r, row, 10);
}

static struct logged_model *find_model(struct logged_model *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].model_id, id))
            return &v[i];
    return NULL;
}

/* Params, tags and metrics of models[0..n), one query each for all of them. */
static int load_parts(struct db_conn *c, struct arena *a, struct logged_model *models, size_t n, struct error *err)
{
    DB_STMT(q_params, "SELECT model_id, key, value FROM logged_model_params WHERE model_id = ANY($1::text[])"
                      " ORDER BY model_id, key");
    DB_STMT(q_tags, "SELECT model_id, key, value FROM logged_model_tags WHERE model_id = ANY($1::text[])"
                    " ORDER BY model_id, key");
    DB_STMT(q_metrics, "SELECT model_id, key, value, timestamp, step, run_uuid, dataset_name, dataset_digest"
                       " FROM logged_model_metrics WHERE model_id = ANY($1::text[])"
                       " ORDER BY model_id, key, timestamp, step, run_uuid");
    if (!n)
        return 0;
    const char **ids = arena_alloc(a, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = models[i].model_id;
    const char *v[1] = { pg_text_array(a, ids, n) };
    struct db_stmt *stmts[3] = { &q_params, &q_tags, &q_metrics };
    for (int part = 0; part < 3; part++) {
        PGresult *r = db_exec(c, stmts[part], 1, v, err);
        if (!r)
            return -1;
        int rows = PQntuples(r);
        /* rows come grouped by model: count, allocate, then fill */
        for (int j = 0; j < rows; j++) {
            struct logged_model *m = find_model(models, n, PQgetvalue(r, j, 0));
            if (part == 0) m->n_params++;
            else if (part == 1) m->n_tags++;
            else m->n_metrics++;
        }
        for (size_t i = 0; i < n; i++) {
            struct logged_model *m = &models[i];
            if (part == 0) { m->params = arena_alloc(a, (m->n_params + 1) * sizeof *m->params); m->n_params = 0; }
            else if (part == 1) { m->tags = arena_alloc(a, (m->n_tags + 1) * sizeof *m->tags); m->n_tags = 0; }
            else { m->metrics = arena_alloc(a, (m->n_metrics + 1) * sizeof *m->metrics); m->n_metrics = 0; }
        }
        for (int j = 0; j < rows; j++) {
            struct logged_model *m = find_model(models, n, PQgetvalue(r, j, 0));
            if (part < 2) {
                struct kv *kv = part == 0 ? &m->params[m->n_params++] : &m->tags[m->n_tags++];
                kv->key = arena_strdup(a, PQgetvalue(r, j, 1));
                kv->value = arena_strdup(a, PQgetvalue(r, j, 2));
                continue;
            }
            struct metric *mt = &m->metrics[m->n_metrics++];
            mt->key = arena_strdup(a, PQgetvalue(r, j, 1));
            mt->value = db_double(r, j, 2);
            mt->timestamp = db_int64(r, j, 3);
            mt->step = db_int64(r, j, 4);
            mt->run_id = arena_strdup(a, PQgetvalue(r, j, 5));
            mt->dataset_name = nullable(a, r, j, 6);
            mt->dataset_digest = nullable(a, r, j, 7);
            mt->model_id = m->model_id;
        }
        PQclear(r);
    }
    return 0;
}

static int not_found(struct error *err, const char *model_id)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Logged model with ID '%s' not found.", model_id);
}

static int read_one(struct db_conn *c, struct arena *a, const char *model_id, bool allow_deleted,
                    struct logged_model *out, struct error *err)
{
    DB_STMT(q, "SELECT " LM_COLS " FROM logged_models WHERE model_id = $1");
    const char *v[1] = { model_id };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return not_found(err, model_id);
    }
    read_model(a, r, 0, out);
    PQclear(r);
    if (!allow_deleted && strcmp(out->lifecycle_stage, "active"))
        return not_found(err, model_id);
    return load_parts(c, a, out, 1, err);
}

static int upsert_kv(struct db_conn *c, struct arena *a, struct db_stmt *st, const char *model_id,
                     const struct kv *kv, size_t n, struct error *err)
{
    if (!n)
        return 0;
    const char **k = arena_alloc(a, n * sizeof *k), **v = arena_alloc(a, n * sizeof *v);
    size_t m = 0;
    /* a repeated key keeps its last value (ON CONFLICT cannot touch a row twice) */
    for (size_t i = 0; i < n; i++) {
        bool later = false;
        for (size_t j = i + 1; j < n && !later; j++)
            later = !strcmp(kv[i].key, kv[j].key);
        if (!later) {
            k[m] = kv[i].key;
            v[m++] = kv[i].value;
        }
    }
    const char *vals[3] = { model_id, pg_text_array(a, k, m), pg_text_array(a, v, m) };
    PGresult *r = db_exec(c, st, 3, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

DB_STMT(ins_tags, "INSERT INTO logged_model_tags (model_id, key, value)"
                  " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k"
                  " ON CONFLICT (model_id, key) DO UPDATE SET value = EXCLUDED.value");
/* params are write-once, as for runs; a replayed batch is a no-op */
DB_STMT(ins_params, "INSERT INTO logged_model_params (model_id, key, value)"
                    " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k"
                    " ON CONFLICT (model_id, key) DO NOTHING");

/* ---- create ---- */

struct create_ctx {
    struct arena *a;
    const struct logged_model_create *c;
    struct logged_model *out;
};

static void new_model_id(char out[35])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    out[0] = 'm';
    out[1] = '-';
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 + 2 * i, "%02x", b[i]);
}

static int create_tx(struct db_conn *c, void *p, struct error *err)
{
    struct create_ctx *x = p;
    DB_STMT(exp, "SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = $1 FOR SHARE");
    DB_STMT(ins, "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location,"
                 " creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type,"
                 " source_run_id) VALUES ($1, $2, $3, $4, $5, $5, 1, 'active', $6, $7)");
    const char *ev[1] = { i64s(x->a, x->c->experiment_id) };
    PGresult *r = db_exec(c, &exp, 1, ev, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%" PRId64 " exists",
                         x->c->experiment_id);
    }
    bool active = !strcmp(PQgetvalue(r, 0, 0), "active");
    const char *location = arena_strdup(x->a, PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!active)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "The experiment %" PRId64 " must be in the 'active' state. Current state is deleted.",
                         x->c->experiment_id);
    char id[35];
    new_model_id(id);
    size_t ln = strlen(location);
    const char *artifact = arena_printf(x->a, "%s%smodels/%s/artifacts", location,
                                        ln && location[ln - 1] == '/' ? "" : "/", id);
    const char *v[7] = { id, ev[0], x->c->name, artifact, i64s(x->a, now_ms()), x->c->model_type,
                         x->c->source_run_id };
    if (!(r = db_exec(c, &ins, 7, v, err)))
        return -1;
    PQclear(r);
    if (upsert_kv(c, x->a, &ins_params, id, x->c->params, x->c->n_params, err) ||
        upsert_kv(c, x->a, &ins_tags, id, x->c->tags, x->c->n_tags, err))
        return -1;
    return read_one(c, x->a, id, false, x->out, err);
}

int store_create_logged_model(struct arena *a, const struct logged_model_create *lc, struct logged_model *out,
                              struct error *err)
{
    struct create_ctx x = { a, lc, out };
    return db_tx(create_tx, &x, err);
}

/* ---- single-model operations ---- */

struct one_ctx {
    struct arena *a;
    const char *model_id;
    bool allow_deleted;
    int status;
    const struct kv *kv;
    size_t n;
    const char *key;
    struct logged_model *out;
};

static int get_tx(struct db_conn *c, void *p, struct error *err)
{
    struct one_ctx *x = p;
    return read_one(c, x->a, x->model_id, x->allow_deleted, x->out, err);
}

int store_get_logged_model(struct arena *a, const char *model_id, bool allow_deleted, struct logged_model *out,
                           struct error *err)
{
    struct one_ctx x = { .a = a, .model_id = model_id, .allow_deleted = allow_deleted, .out = out };
    return db_run(get_tx, &x, err);
}

/* The model row locked for a write; MLflow finds deleted models here too. */
static int lock_model(struct db_conn *c, struct one_ctx *x, struct error *err)
{
    DB_STMT(q, "SELECT 1 FROM logged_models WHERE model_id = $1 FOR UPDATE");
    const char *v[1] = { x->model_id };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : not_found(err, x->model_id);
}

static int finalize_tx(struct db_conn *c, void *p, struct error *err)
{
    struct one_ctx *x = p;
    DB_STMT(q, "UPDATE logged_models SET status = $2, last_updated_timestamp_ms = $3 WHERE model_id = $1");
    if (lock_model(c, x, err))
        return -1;
    const char *v[3] = { x->model_id, i64s(x->a, x->status), i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &q, 3, v, err);
    if (!r)
        return -1;
    PQclear(r);
    return read_one(c, x->a, x->model_id, true, x->out, err);
}

int store_finalize_logged_model(struct arena *a, const char *model_id, int status, struct logged_model *out,
                                struct error *err)
{
    struct one_ctx x = { .a = a, .model_id = model_id, .status = status, .out = out };
    return db_tx(finalize_tx, &x, err);
}

static int delete_tx(struct db_conn *c, void *p, struct error *err)
{
    struct one_ctx *x = p;
    DB_STMT(q, "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = $2"
               " WHERE model_id = $1");
    if (lock_model(c, x, err))
        return -1;
    const char *v[2] = { x->model_id, i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &q, 2, v, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_delete_logged_model(struct arena *a, const char *model_id, struct error *err)
{
    struct one_ctx x = { .a = a, .model_id = model_id };
    return db_tx(delete_tx, &x, err);
}

static int tags_tx(struct db_conn *c, void *p, struct error *err)
{
    struct one_ctx *x = p;
    return lock_model(c, x, err) || upsert_kv(c, x->a, &ins_tags, x->model_id, x->kv, x->n, err) ? -1 : 0;
}

int store_set_logged_model_tags(struct arena *a, const char *model_id, const struct kv *tags, size_t n,
                                struct error *err)
{
    struct one_ctx x = { .a = a, .model_id = model_id, .kv = tags, .n = n };
    return db_tx(tags_tx, &x, err);
}

static int params_tx(struct db_conn *c, void *p, struct error *err)
{
    struct one_ctx *x = p;
    return lock_model(c, x, err) || upsert_kv(c, x->a, &ins_params, x->model_id, x->kv, x->n, err) ? -1 : 0;
}

int store_log_logged_model_params(struct arena *a, const char *model_id, const struct kv *params, size_t n,
                                  struct error *err)
{
    struct one_ctx x = { .a = a, .model_id = model_id, .kv = params, .n = n };
    return db_tx(params_tx, &x, err);
}

static int delete_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct one_ctx *x = p;
    DB_STMT(q, "DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2 RETURNING 1");
    if (lock_model(c, x, err))
        return -1;
    const char *v[2] = { x->model_id, x->key };
    PGresult *r = db_exec(c, &q, 2, v, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No tag with key '%s' found for model with ID '%s'.",
                             x->key, x->model_id);
}

int store_delete_logged_model_tag(struct arena *a, const char *model_id, const char *key, struct error *err)
{
    struct one_ctx x = { .a = a, .model_id = model_id, .key = key };
    return db_tx(delete_tag_tx, &x, err);
}

/* ---- search: SQL from a fixed grammar, every value a $n parameter ---- */

static const struct { const char *name, *column; bool numeric; } attributes[] = {
    { "name", "name", false },
    { "model_id", "model_id", false },
    { "model_type", "model_type", false },
    { "status", "status", false },
    { "source_run_id", "source_run_id", false },
    { "experiment_id", "experiment_id", false },
    { "artifact_location", "artifact_location", false },
    { "status_message", "status_message", false },
    { "creation_timestamp_ms", "creation_timestamp_ms", true },
    { "creation_time", "creation_timestamp_ms", true },
    { "creation_timestamp", "creation_timestamp_ms", true },
    { "last_updated_timestamp_ms", "last_updated_timestamp_ms", true },
    { "last_updated_timestamp", "last_updated_timestamp_ms", true },
};

const char *lm_attribute_column(const char *name, bool *numeric)
{
    for (size_t i = 0; i < sizeof attributes / sizeof *attributes; i++)
        if (!strcmp(name, attributes[i].name)) {
            *numeric = attributes[i].numeric;
            return attributes[i].column;
        }
    return NULL;
}

struct sqlb {
    struct arena *a;
    struct strbuf sql;
    const char *vals[512];
    int n;
};

static int param(struct sqlb *b, const char *v)
{
    if (b->n >= (int)(sizeof b->vals / sizeof *b->vals))
        return -1;
    b->vals[b->n++] = v;
    return b->n;
}

/* the text form the column compares in: status by its enum name, ids as text */
static const char *attr_expr(const char *column)
{
    if (!strcmp(column, "status"))
        return "(CASE lm.status WHEN 1 THEN 'LOGGED_MODEL_PENDING' WHEN 2 THEN 'LOGGED_MODEL_READY'"
               " WHEN 3 THEN 'LOGGED_MODEL_UPLOAD_FAILED' ELSE 'LOGGED_MODEL_STATUS_UNSPECIFIED' END)";
    if (!strcmp(column, "experiment_id"))
        return "lm.experiment_id::text";
    return NULL;
}

static const char *const op_sql[] = { "=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE", "", "" };

static int add_compare(struct sqlb *b, const char *lhs, const struct lm_condition *c)
{
    int p;
    if (c->numeric) {
        if ((p = param(b, arena_printf(b->a, "%.17g", c->number))) < 0)
            return -1;
        sb_printf(&b->sql, "%s %s $%d::float8", lhs, op_sql[c->op], p);
    } else if (c->op == LM_IN || c->op == LM_NOT_IN) {
        if ((p = param(b, pg_text_array(b->a, c->values, c->n_values))) < 0)
            return -1;
        sb_printf(&b->sql, c->op == LM_IN ? "%s = ANY($%d::text[])" : "%s <> ALL($%d::text[])", lhs, p);
    } else {
        if ((p = param(b, c->values[0])) < 0)
            return -1;
        sb_printf(&b->sql, "%s %s $%d", lhs, op_sql[c->op], p);
    }
    return 0;
}

static int add_dataset_filter(struct sqlb *b, const struct logged_model_search *s, const char *alias)
{
    if (!s->n_datasets)
        return 0;
    sb_puts(&b->sql, " AND (");
    for (size_t i = 0; i < s->n_datasets; i++) {
        int p = param(b, s->datasets[i].name);
        if (p < 0)
            return -1;
        sb_printf(&b->sql, "%s(%s.dataset_name = $%d", i ? " OR " : "", alias, p);
        if (s->datasets[i].digest) {
            if ((p = param(b, s->datasets[i].digest)) < 0)
                return -1;
            sb_printf(&b->sql, " AND %s.dataset_digest = $%d", alias, p);
        } else {
            /* as MLflow's REST handler: an absent digest arrives as None and
             * the store compares "dataset_digest == None", i.e. IS NULL */
            sb_printf(&b->sql, " AND %s.dataset_digest IS NULL", alias);
        }
        sb_putc(&b->sql, ')');
    }
    sb_putc(&b->sql, ')');
    return 0;
}

static int build_search(struct sqlb *b, const struct logged_model_search *s)
{
    struct strbuf *q = &b->sql;
    struct strbuf ids;
    sb_init(&ids, b->a, 16 * s->n_experiments + 4);
    sb_putc(&ids, '{');
    for (size_t i = 0; i < s->n_experiments; i++)
        sb_printf(&ids, "%s%" PRId64, i ? "," : "", s->experiment_ids[i]);
    sb_putc(&ids, '}');
    int p_ids = param(b, ids.buf);
    sb_puts(q, "SELECT lm.model_id FROM logged_models lm");
    /* the latest value of each metric the order names: by timestamp, then step (MLflow) */
    for (size_t i = 0; i < s->n_order; i++) {
        const struct lm_order *o = &s->order[i];
        if (!o->is_metric)
            continue;
        int pk = param(b, o->field);
        if (pk < 0)
            return -1;
        sb_printf(q, " LEFT JOIN LATERAL (SELECT o.value FROM logged_model_metrics o WHERE o.model_id = lm.model_id"
                     " AND o.key = $%d", pk);
        if (o->dataset_name) {
            int p = param(b, o->dataset_name);
            if (p < 0)
                return -1;
            sb_printf(q, " AND o.dataset_name = $%d", p);
        }
        if (o->dataset_digest) {
            int p = param(b, o->dataset_digest);
            if (p < 0)
                return -1;
            sb_printf(q, " AND o.dataset_digest = $%d", p);
        }
        sb_printf(q, " ORDER BY o.timestamp DESC, o.step DESC, o.run_uuid LIMIT 1) ord%zu ON true", i);
    }
    sb_printf(q, " WHERE lm.lifecycle_stage = 'active' AND lm.experiment_id = ANY($%d::bigint[])", p_ids);
    bool has_metric = false;
    for (size_t i = 0; i < s->n_conds; i++) {
        const struct lm_condition *c = &s->conds[i];
        int pk;
        sb_puts(q, " AND ");
        switch (c->entity) {
        case LM_ATTRIBUTE: {
            const char *e = attr_expr(c->key);
            if (add_compare(b, e ? e : arena_printf(b->a, "lm.%s", c->key), c))
                return -1;
            break;
        }
        case LM_METRIC:
            has_metric = true;
            if ((pk = param(b, c->key)) < 0)
                return -1;
            sb_printf(q, "EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = lm.model_id"
                         " AND m.key = $%d AND ", pk);
            if (add_compare(b, "m.value", c) || add_dataset_filter(b, s, "m"))
                return -1;
            sb_putc(q, ')');
            break;
        case LM_PARAM:
        case LM_TAG:
            if ((pk = param(b, c->key)) < 0)
                return -1;
            sb_printf(q, "EXISTS (SELECT 1 FROM %s x WHERE x.model_id = lm.model_id AND x.key = $%d AND ",
                      c->entity == LM_PARAM ? "logged_model_params" : "logged_model_tags", pk);
            if (add_compare(b, "x.value", c))
                return -1;
            sb_putc(q, ')');
            break;
        }
    }
    if (s->n_datasets && !has_metric) {
        sb_puts(q, " AND EXISTS (SELECT 1 FROM logged_model_metrics d WHERE d.model_id = lm.model_id");
        if (add_dataset_filter(b, s, "d"))
            return -1;
        sb_putc(q, ')');
    }
    sb_puts(q, " ORDER BY ");
    bool has_creation = false, has_id = false;
    for (size_t i = 0; i < s->n_order; i++) {
        const struct lm_order *o = &s->order[i];
        const char *dir = o->ascending ? "ASC" : "DESC";
        if (o->is_metric) {
            sb_printf(q, "ord%zu.value IS NULL, ord%zu.value %s, ", i, i, dir);
        } else {
            has_creation |= !strcmp(o->field, "creation_timestamp_ms");
            has_id |= !strcmp(o->field, "model_id");
            const char *e = attr_expr(o->field);
            const char *col = e ? e : arena_printf(b->a, "lm.%s", o->field);
            sb_printf(q, "%s IS NULL, %s %s, ", col, col, dir);
        }
    }
    if (!has_creation)
        sb_puts(q, "lm.creation_timestamp_ms DESC, ");
    sb_puts(q, has_id ? "true" : "lm.model_id ASC");
    int po = param(b, i64s(b->a, s->offset)), pl = param(b, i64s(b->a, s->limit));
    if (po < 0 || pl < 0)
        return -1;
    sb_printf(q, " OFFSET $%d LIMIT $%d", po, pl);
    return 0;
}

struct search_ctx {
    struct arena *a;
    const struct logged_model_search *s;
    struct logged_model *out;
    size_t n;
};

static int search_tx(struct db_conn *c, void *p, struct error *err)
{
    struct search_ctx *x = p;
    DB_STMT(page, "SELECT " LM_COLS " FROM unnest($1::text[]) WITH ORDINALITY AS p(id, ord)"
                  " JOIN logged_models ON model_id = p.id ORDER BY p.ord");
    struct sqlb *b = arena_alloc(x->a, sizeof *b);
    b->a = x->a;
    sb_init(&b->sql, x->a, 1024);
    if (build_search(b, x->s))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "The search filter is too complex");
    PGresult *r = db_exec_sql(c, b->sql.buf, b->n, b->vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    const char **ids = arena_alloc(x->a, (size_t)(rows + 1) * sizeof *ids);
    for (int i = 0; i < rows; i++)
        ids[i] = arena_strdup(x->a, PQgetvalue(r, i, 0));
    PQclear(r);
    const char *v[1] = { pg_text_array(x->a, ids, (size_t)rows) };
    if (!(r = db_exec(c, &page, 1, v, err)))
        return -1;
    rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows + 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_model(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return load_parts(c, x->a, x->out, x->n, err);
}

int store_search_logged_models(struct arena *a, const struct logged_model_search *s, struct logged_model **out,
                               size_t *n, struct error *err)
{
    /* reads run autocommit, as run search does: READ COMMITTED gives a
     * transaction no single snapshot, and BEGIN/COMMIT cost two round trips */
    struct search_ctx x = { a, s, NULL, 0 };
    if (db_read(search_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ---- legacy runs/log-model ---- */

struct history_ctx {
    struct arena *a;
    const char *run_id, *model_json;
};

static int history_tx(struct db_conn *c, void *p, struct error *err)
{
    struct history_ctx *x = p;
    DB_STMT(run, "SELECT lifecycle_stage FROM runs WHERE run_uuid = $1 FOR UPDATE");
    DB_STMT(upd, "WITH v AS (SELECT (COALESCE((SELECT value::jsonb FROM tags WHERE run_uuid = $1"
                 "   AND key = 'mlflow.log-model.history'), '[]'::jsonb) || jsonb_build_array($2::jsonb))::text AS value)"
                 " INSERT INTO tags (run_uuid, key, value) SELECT $1, 'mlflow.log-model.history', value FROM v"
                 "   WHERE length(value) <= 8000"
                 " ON CONFLICT (run_uuid, key) DO UPDATE SET value = EXCLUDED.value RETURNING 1");
    const char *v[2] = { x->run_id, x->model_json };
    PGresult *r = db_exec(c, &run, 1, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", x->run_id);
    }
    bool active = !strcmp(PQgetvalue(r, 0, 0), "active");
    PQclear(r);
    if (!active)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "The run %s must be in the 'active' state. Current state is deleted.", x->run_id);
    if (!(r = db_exec(c, &upd, 2, v, err)))
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Tag 'mlflow.log-model.history' exceeds the maximum length of 8000 characters");
}

int store_append_log_model_history(struct arena *a, const char *run_id, const char *model_json, struct error *err)
{
    struct history_ctx x = { a, run_id, model_json };
    return db_tx(history_tx, &x, err);
}

/* ---- metrics logged against a model (called inside store_log_batch's transaction) ---- */

int store_log_model_metrics_tx(struct db_conn *c, struct arena *a, const char *run_id, const struct metric *m,
                               size_t n, struct error *err)
{
    DB_STMT(ins, "INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_uuid, value, experiment_id,"
                 " dataset_name, dataset_digest)"
                 " SELECT x.mid, x.k, x.t, x.s, $1, x.v, r.experiment_id, x.dn, x.dd"
                 " FROM unnest($2::text[], $3::text[], $4::float8[], $5::int8[], $6::int8[], $7::text[], $8::text[])"
                 "   AS x(mid, k, v, t, s, dn, dd)"
                 " JOIN logged_models lm ON lm.model_id = x.mid JOIN runs r ON r.run_uuid = $1"
                 " ORDER BY x.mid, x.k, x.t, x.s ON CONFLICT DO NOTHING");
    size_t k = 0;
    const char **mid = arena_alloc(a, (n + 1) * sizeof *mid), **key = arena_alloc(a, (n + 1) * sizeof *key);
    const char **dn = arena_alloc(a, (n + 1) * sizeof *dn), **dd = arena_alloc(a, (n + 1) * sizeof *dd);
    struct strbuf vals, ts, steps;
    sb_init(&vals, a, 24 * n + 4);
    sb_init(&ts, a, 16 * n + 4);
    sb_init(&steps, a, 12 * n + 4);
    sb_putc(&vals, '{');
    sb_putc(&ts, '{');
    sb_putc(&steps, '{');
    for (size_t i = 0; i < n; i++) {
        if (!m[i].model_id || !*m[i].model_id)
            continue;
        double v = m[i].value;
        const char *vt = v != v ? "NaN" : v == __builtin_inf() ? "Infinity" : v == -__builtin_inf() ? "-Infinity"
                                                                                                      : arena_printf(a, "%.17g", v);
        mid[k] = m[i].model_id;
        key[k] = m[i].key;
        dn[k] = m[i].dataset_name;
        dd[k] = m[i].dataset_digest;
        sb_printf(&vals, "%s%s", k ? "," : "", vt);
        sb_printf(&ts, "%s%" PRId64, k ? "," : "", m[i].timestamp);
        sb_printf(&steps, "%s%" PRId64, k ? "," : "", m[i].step);
        k++;
    }
    if (!k)
        return 0;
    sb_putc(&vals, '}');
    sb_putc(&ts, '}');
    sb_putc(&steps, '}');
    const char *v[8] = { run_id, pg_text_array(a, mid, k), pg_text_array(a, key, k), vals.buf, ts.buf, steps.buf,
                         pg_text_array(a, dn, k), pg_text_array(a, dd, k) };
    PGresult *r = db_exec(c, &ins, 8, v, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}
