/* Evaluation datasets (see eval_datasets.h), with MLflow's
 * SqlAlchemyStore semantics: ids d-<hex>/dr-<hex>, a digest of
 * "name:last_update_time", records deduplicated by their input hash,
 * schema and profile rewritten by each upsert. */
#include "db.h"
#include "eval_datasets.h"
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define DS_COLS "d.dataset_id, d.name, d.schema_json, d.profile_json, d.digest, d.created_time," \
                " d.last_update_time, d.created_by, d.last_updated_by"
#define REC_COLS "dataset_record_id, dataset_id, inputs, outputs, expectations, tags, source, source_id," \
                 " source_type, created_time, last_update_time, created_by, last_updated_by"

static const char *new_id(struct arena *a, const char *prefix)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);   /* uuid4, as MLflow's uuid.uuid4().hex */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    char hex[33];
    for (int i = 0; i < 16; i++)
        sprintf(hex + 2 * i, "%02x", b[i]);
    return arena_printf(a, "%s%s", prefix, hex);
}

/* MLflow's _compute_dataset_digest: sha256("name:time").hexdigest()[:8] */
static const char *digest_of(struct arena *a, const char *name, int64_t t)
{
    const char *in = arena_printf(a, "%s:%" PRId64, name, t);
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)in, strlen(in), h);
    return arena_printf(a, "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}

static const char *opt_str(struct arena *a, const PGresult *r, int row, int col)
{
    return db_isnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

static void read_dataset(struct arena *a, const PGresult *r, int row, struct eval_dataset *d)
{
    memset(d, 0, sizeof *d);
    d->dataset_id = arena_strdup(a, PQgetvalue(r, row, 0));
    d->name = arena_strdup(a, PQgetvalue(r, row, 1));
    d->schema = opt_str(a, r, row, 2);
    d->profile = opt_str(a, r, row, 3);
    d->digest = arena_strdup(a, PQgetvalue(r, row, 4));
    d->created_time = db_int64(r, row, 5);
    d->last_update_time = db_int64(r, row, 6);
    d->created_by = opt_str(a, r, row, 7);
    d->last_updated_by = opt_str(a, r, row, 8);
}

/* the tags of the datasets in ds[0..n) */
static int load_tags(struct db_conn *c, struct arena *a, struct eval_dataset *ds, size_t n, struct error *err)
{
    if (!n)
        return 0;
    DB_STMT(st, "SELECT dataset_id, key, value FROM eval_dataset_tags WHERE dataset_id = ANY($1::text[])"
                " ORDER BY dataset_id, seq");
    const char **ids = arena_alloc(a, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = ds[i].dataset_id;
    const char *vals[1] = { pg_text_array(a, ids, n) };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 0;
        for (int j = 0; j < rows; j++)
            cnt += !strcmp(PQgetvalue(r, j, 0), ds[i].dataset_id);
        ds[i].tags = arena_alloc(a, (cnt ? cnt : 1) * sizeof *ds[i].tags);
        for (int j = 0; j < rows; j++)
            if (!strcmp(PQgetvalue(r, j, 0), ds[i].dataset_id))
                ds[i].tags[ds[i].n_tags++] = (struct kv){ arena_strdup(a, PQgetvalue(r, j, 1)),
                                                          opt_str(a, r, j, 2) };
    }
    PQclear(r);
    return 0;
}

/* 0 found, 1 absent */
static int fetch_dataset(struct db_conn *c, struct arena *a, const char *id, bool lock, struct eval_dataset *out,
                         struct error *err)
{
    DB_STMT(st, "SELECT " DS_COLS " FROM eval_datasets d WHERE d.dataset_id = $1");
    DB_STMT(st_lock, "SELECT " DS_COLS " FROM eval_datasets d WHERE d.dataset_id = $1 FOR UPDATE");
    const char *vals[1] = { id };
    PGresult *r = db_exec(c, lock ? &st_lock : &st, 1, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 1;
    }
    read_dataset(a, r, 0, out);
    PQclear(r);
    return load_tags(c, a, out, 1, err);
}

/* ---- create / get / delete ---- */

struct create_ctx {
    struct arena *a;
    const char *name, *created_by;
    const struct kv *tags;
    size_t n_tags;
    const char *const *exp_ids;
    size_t n_exp;
    struct eval_dataset *out;
};

static int insert_tags(struct db_conn *c, struct arena *a, const char *id, const struct kv *tags, size_t n,
                       struct error *err)
{
    if (!n)
        return 0;
    /* one row per key, the last value of a repeated key winning (a dict's) */
    DB_STMT(st, "INSERT INTO eval_dataset_tags (dataset_id, key, value)"
                " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(k, v, o)"
                " ORDER BY o"
                " ON CONFLICT (dataset_id, key) DO UPDATE SET value = EXCLUDED.value");
    const char **k = arena_alloc(a, n * sizeof *k), **v = arena_alloc(a, n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        k[i] = tags[i].key;
        v[i] = tags[i].value;
    }
    /* ON CONFLICT cannot touch one row twice in a statement: insert one at a time when keys repeat */
    bool dup = false;
    for (size_t i = 0; i < n && !dup; i++)
        for (size_t j = i + 1; j < n && !dup; j++)
            dup = !strcmp(k[i], k[j]);
    for (size_t i = 0; i < (dup ? n : 1); i++) {
        const char *vals[3] = { id, pg_text_array(a, dup ? &k[i] : k, dup ? 1 : n),
                                pg_text_array(a, dup ? &v[i] : v, dup ? 1 : n) };
        PGresult *r = db_exec(c, &st, 3, vals, err);
        if (!r)
            return -1;
        PQclear(r);
    }
    return 0;
}

static int insert_links(struct db_conn *c, struct arena *a, const char *id, const char *const *exp, size_t n,
                        struct error *err)
{
    if (!n)
        return 0;
    DB_STMT(st, "INSERT INTO eval_dataset_experiments (dataset_id, experiment_id)"
                " SELECT $1, e FROM unnest($2::text[]) WITH ORDINALITY AS t(e, o) ORDER BY o"
                " ON CONFLICT DO NOTHING");
    const char *vals[2] = { id, pg_text_array(a, exp, n) };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int create_tx(struct db_conn *c, void *p, struct error *err)
{
    struct create_ctx *x = p;
    struct arena *a = x->a;
    DB_STMT(st, "INSERT INTO eval_datasets (dataset_id, name, digest, created_time, last_update_time,"
                " created_by, last_updated_by) VALUES ($1, $2, $3, $4, $4, $5, $5)");
    int64_t now = now_ms();
    const char *id = new_id(a, "d-");
    const char *vals[5] = { id, x->name, digest_of(a, x->name, now), i64s(a, now), x->created_by };
    PGresult *r = db_exec(c, &st, 5, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    if (insert_tags(c, a, id, x->tags, x->n_tags, err) || insert_links(c, a, id, x->exp_ids, x->n_exp, err))
        return -1;
    if (fetch_dataset(c, a, id, false, x->out, err))
        return -1;
    x->out->experiment_ids = (const char **)x->exp_ids;
    x->out->n_experiment_ids = x->n_exp;
    return 0;
}

int store_create_eval_dataset(struct arena *a, const char *name, const struct kv *tags, size_t n_tags,
                              const char *const *experiment_ids, size_t n_experiment_ids,
                              const char *created_by, struct eval_dataset *out, struct error *err)
{
    struct create_ctx x = { a, name, created_by, tags, n_tags, experiment_ids, n_experiment_ids, out };
    return db_tx(create_tx, &x, err);
}

struct get_ctx {
    struct arena *a;
    const char *id;
    struct eval_dataset *out;
    int rc;
};

static int get_tx(struct db_conn *c, void *p, struct error *err)
{
    struct get_ctx *x = p;
    x->rc = fetch_dataset(c, x->a, x->id, false, x->out, err);
    return x->rc < 0 ? -1 : 0;
}

int store_get_eval_dataset(struct arena *a, const char *dataset_id, struct eval_dataset *out, struct error *err)
{
    struct get_ctx x = { a, dataset_id, out, 0 };
    if (db_run(get_tx, &x, err))
        return -1;
    if (x.rc)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Evaluation dataset with id '%s' not found", dataset_id);
    return 0;
}

struct id_ctx {
    const char *id;
    const char *key;
};

static int delete_tx(struct db_conn *c, void *p, struct error *err)
{
    struct id_ctx *x = p;
    DB_STMT(st, "DELETE FROM eval_datasets WHERE dataset_id = $1");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_delete_eval_dataset(const char *dataset_id, struct error *err)
{
    struct id_ctx x = { dataset_id, NULL };
    return db_tx(delete_tx, &x, err);
}

/* ---- search ---- */

static const char *attr_column(const char *key)
{
    static const char *const cols[][2] = {
        {"name", "d.name"}, {"created_time", "d.created_time"}, {"last_update_time", "d.last_update_time"},
        {"created_by", "d.created_by"}, {"last_updated_by", "d.last_updated_by"},
    };
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        if (!strcmp(cols[i][0], key))
            return cols[i][1];
    return NULL;
}

static const char *op_sql(enum sf_op op)
{
    switch (op) {
    case SF_EQ: return "=";
    case SF_NE: return "<>";
    case SF_LT: return "<";
    case SF_LE: return "<=";
    case SF_GT: return ">";
    case SF_GE: return ">=";
    case SF_LIKE: return "LIKE";
    case SF_ILIKE: return "ILIKE";
    default: return NULL;
    }
}

static const char *param(struct sql_params *p, struct arena *a, const char *v)
{
    return arena_printf(a, "$%d", sql_param_add(p, a, v));
}

static int compile_clause(struct arena *a, const struct sf_clause *cl, struct strbuf *sql, struct sql_params *p,
                          struct error *err)
{
    if (cl->entity == SF_TAG) {
        const char *op = op_sql(cl->op);
        if (!op || cl->kind != SF_VAL_STRING)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator for tag");
        const char *k = param(p, a, cl->key);
        sb_printf(sql, " AND EXISTS (SELECT 1 FROM eval_dataset_tags t WHERE t.dataset_id = d.dataset_id"
                       " AND t.key = %s AND t.value %s %s)", k, op, param(p, a, cl->str));
        return 0;
    }
    const char *col = attr_column(cl->key);
    if (!col)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid attribute key '%s' specified.", cl->key);
    if (cl->op == SF_IN) {
        sb_printf(sql, " AND %s = ANY(%s::text[])", col, param(p, a, pg_text_array(a, cl->list, cl->list_len)));
        return 0;
    }
    const char *op = op_sql(cl->op);
    if (!op)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator for attribute '%s'", cl->key);
    if (cl->kind == SF_VAL_NUMBER)
        sb_printf(sql, " AND %s %s %s::bigint", col, op, param(p, a, cl->num_text));
    else
        sb_printf(sql, " AND %s %s %s", col, op, param(p, a, cl->str));
    return 0;
}

struct search_ctx {
    struct arena *a;
    const char *sql;
    struct sql_params params;
    struct eval_dataset *out;
    size_t n;
};

static int search_tx(struct db_conn *c, void *p, struct error *err)
{
    struct search_ctx *x = p;
    PGresult *r = db_exec_sql(c, x->sql, x->params.n, x->params.values, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_dataset(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return load_tags(c, x->a, x->out, x->n, err);
}

int store_search_eval_datasets(struct arena *a, const struct eval_dataset_search *s,
                               struct eval_dataset **out, size_t *n, struct error *err)
{
    struct search_ctx x = { .a = a };
    sql_params_init(&x.params, a);
    struct strbuf sql;
    sb_init(&sql, a, 512);
    sb_puts(&sql, "SELECT " DS_COLS " FROM eval_datasets d WHERE true");
    if (s->n_experiment_ids)
        sb_printf(&sql, " AND EXISTS (SELECT 1 FROM eval_dataset_experiments l WHERE l.dataset_id = d.dataset_id"
                        " AND l.experiment_id = ANY(%s::text[]))",
                  param(&x.params, a, pg_text_array(a, s->experiment_ids, s->n_experiment_ids)));
    for (size_t i = 0; i < s->filter.n; i++)
        if (compile_clause(a, &s->filter.clauses[i], &sql, &x.params, err))
            return -1;
    sb_puts(&sql, " ORDER BY ");
    if (!s->order.n)
        sb_puts(&sql, "d.created_time DESC, ");
    for (size_t i = 0; i < s->order.n; i++) {
        const char *col = attr_column(s->order.items[i].key);
        if (!col)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid order_by key '%s'", s->order.items[i].key);
        sb_printf(&sql, "%s %s, ", col, s->order.items[i].ascending ? "ASC" : "DESC");
    }
    sb_printf(&sql, "d.dataset_id DESC OFFSET %" PRId64 " LIMIT %" PRId64, s->offset, s->limit);
    x.sql = sql.buf;
    if (db_run(search_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ---- tags ---- */

struct tags_ctx {
    struct arena *a;
    const char *id;
    const struct kv *tags;
    size_t n;
    int missing;
};

static int set_tags_tx(struct db_conn *c, void *p, struct error *err)
{
    struct tags_ctx *x = p;
    DB_STMT(st, "SELECT 1 FROM eval_datasets WHERE dataset_id = $1 FOR UPDATE");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    x->missing = PQntuples(r) == 0;
    PQclear(r);
    if (x->missing)
        return 0;
    return insert_tags(c, db_arena(c), x->id, x->tags, x->n, err);
}

int store_set_eval_dataset_tags(const char *dataset_id, const struct kv *tags, size_t n, struct error *err)
{
    struct tags_ctx x = { NULL, dataset_id, tags, n, 0 };
    if (db_tx(set_tags_tx, &x, err))
        return -1;
    if (x.missing)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Could not find evaluation dataset with ID %s",
                         dataset_id);
    return 0;
}

static int delete_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct id_ctx *x = p;
    DB_STMT(st, "DELETE FROM eval_dataset_tags WHERE dataset_id = $1 AND key = $2");
    const char *vals[2] = { x->id, x->key };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_delete_eval_dataset_tag(const char *dataset_id, const char *key, struct error *err)
{
    struct id_ctx x = { dataset_id, key };
    return db_tx(delete_tag_tx, &x, err);
}

/* ---- experiment links ---- */

struct links_ctx {
    struct arena *a;
    const char *id;
    const char *const *ids;
    size_t n;
    const char **out_ids;
    size_t n_out;
    struct eval_dataset *out;
    int missing;
    const char *missing_exp;
};

static int exp_ids_tx(struct db_conn *c, void *p, struct error *err)
{
    struct links_ctx *x = p;
    DB_STMT(st, "SELECT experiment_id FROM eval_dataset_experiments WHERE dataset_id = $1 ORDER BY seq");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out_ids = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out_ids);
    for (int i = 0; i < rows; i++)
        x->out_ids[i] = arena_strdup(x->a, PQgetvalue(r, i, 0));
    x->n_out = (size_t)rows;
    PQclear(r);
    return 0;
}

int store_eval_dataset_experiment_ids(struct arena *a, const char *dataset_id, const char ***out, size_t *n,
                                      struct error *err)
{
    struct links_ctx x = { .a = a, .id = dataset_id };
    if (db_run(exp_ids_tx, &x, err))
        return -1;
    *out = x.out_ids;
    *n = x.n_out;
    return 0;
}

static int touch_dataset(struct db_conn *c, struct arena *a, const char *id, struct error *err)
{
    DB_STMT(st, "UPDATE eval_datasets SET last_update_time = $2 WHERE dataset_id = $1");
    const char *vals[2] = { id, i64s(a, now_ms()) };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int add_links_tx(struct db_conn *c, void *p, struct error *err)
{
    struct links_ctx *x = p;
    x->missing = fetch_dataset(c, x->a, x->id, true, x->out, err);
    if (x->missing)
        return x->missing < 0 ? -1 : 0;
    /* MLflow checks each id against the experiments table (a decimal id that exists) */
    DB_STMT(st, "SELECT e FROM unnest($1::text[]) WITH ORDINALITY AS t(e, o)"
                " WHERE NOT (e ~ '^[0-9]{1,18}$' AND EXISTS (SELECT 1 FROM experiments x"
                "            WHERE x.experiment_id = e::bigint))"
                " ORDER BY o LIMIT 1");
    const char *vals[1] = { pg_text_array(x->a, x->ids, x->n) };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    if (PQntuples(r)) {
        x->missing_exp = arena_strdup(x->a, PQgetvalue(r, 0, 0));
        PQclear(r);
        return 0;
    }
    PQclear(r);
    if (insert_links(c, x->a, x->id, x->ids, x->n, err) || touch_dataset(c, x->a, x->id, err))
        return -1;
    return fetch_dataset(c, x->a, x->id, false, x->out, err) ? -1 : 0;
}

int store_add_eval_dataset_experiments(struct arena *a, const char *dataset_id, const char *const *ids, size_t n,
                                       struct eval_dataset *out, struct error *err)
{
    struct links_ctx x = { .a = a, .id = dataset_id, .ids = ids, .n = n, .out = out };
    if (db_tx(add_links_tx, &x, err))
        return -1;
    if (x.missing)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Dataset '%s' not found", dataset_id);
    if (x.missing_exp)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%s", x.missing_exp);
    return 0;
}

static int remove_links_tx(struct db_conn *c, void *p, struct error *err)
{
    struct links_ctx *x = p;
    x->missing = fetch_dataset(c, x->a, x->id, true, x->out, err);
    if (x->missing)
        return x->missing < 0 ? -1 : 0;
    DB_STMT(st, "DELETE FROM eval_dataset_experiments WHERE dataset_id = $1 AND experiment_id = ANY($2::text[])");
    const char *vals[2] = { x->id, pg_text_array(x->a, x->ids, x->n) };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    bool removed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    /* MLflow touches the dataset only when a link went away */
    if (removed && touch_dataset(c, x->a, x->id, err))
        return -1;
    return fetch_dataset(c, x->a, x->id, false, x->out, err) ? -1 : 0;
}

int store_remove_eval_dataset_experiments(struct arena *a, const char *dataset_id, const char *const *ids,
                                          size_t n, struct eval_dataset *out, struct error *err)
{
    struct links_ctx x = { .a = a, .id = dataset_id, .ids = ids, .n = n, .out = out };
    if (db_tx(remove_links_tx, &x, err))
        return -1;
    if (x.missing)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Dataset '%s' not found", dataset_id);
    return 0;
}

/* ---- records ---- */

static void read_record(struct arena *a, const PGresult *r, int row, struct eval_record *e)
{
    e->dataset_record_id = arena_strdup(a, PQgetvalue(r, row, 0));
    e->dataset_id = arena_strdup(a, PQgetvalue(r, row, 1));
    e->inputs = arena_strdup(a, PQgetvalue(r, row, 2));
    e->outputs = opt_str(a, r, row, 3);
    e->expectations = opt_str(a, r, row, 4);
    e->tags = arena_strdup(a, PQgetvalue(r, row, 5));
    e->source = opt_str(a, r, row, 6);
    e->source_id = opt_str(a, r, row, 7);
    e->source_type = opt_str(a, r, row, 8);
    e->created_time = db_int64(r, row, 9);
    e->last_update_time = db_int64(r, row, 10);
    e->created_by = opt_str(a, r, row, 11);
    e->last_updated_by = opt_str(a, r, row, 12);
}

/* One distinct input hash of the request: the stored row it names, if any. */
struct slot {
    const char *hash;
    struct eval_record row;
    bool exists;        /* in the table before this upsert */
    bool present;       /* exists, or inserted earlier in this request */
    bool touched;
};

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const struct slot *)a)->hash, ((const struct slot *)b)->hash);
}

struct upsert_ctx {
    struct arena *a;
    const char *id;
    struct eval_record_upsert *recs;
    size_t n;
    const struct eval_upsert_hooks *hooks;
    int64_t inserted, updated;
    int missing;
};

static void merge_into(struct arena *a, const struct eval_upsert_hooks *h, struct eval_record *row,
                       const struct eval_record_upsert *u, int64_t now)
{
    if (u->outputs_given)
        row->outputs = u->rec.outputs;
    if (u->merge_expectations)
        row->expectations = h->merge_object(a, row->expectations, u->rec.expectations);
    if (u->merge_tags)
        row->tags = h->merge_object(a, row->tags, u->rec.tags);
    row->last_update_time = now;
    if (u->user)
        row->last_updated_by = u->user;
}

static int write_slots(struct db_conn *c, struct arena *a, const char *id, struct slot *s, size_t n, bool inserts,
                       struct error *err)
{
    /* one statement for all rows: columns as parallel text arrays */
    DB_STMT(ins, "INSERT INTO eval_dataset_records (dataset_record_id, dataset_id, input_hash, inputs, outputs,"
                 " expectations, tags, source, source_id, source_type, created_time, last_update_time, created_by,"
                 " last_updated_by)"
                 " SELECT i, $1, h, inp, outp, ex, tg, src, sid, sty, ct::bigint, ut::bigint, cb, ub"
                 " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
                 " $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])"
                 " AS t(i, h, inp, outp, ex, tg, src, sid, sty, ct, ut, cb, ub)");
    DB_STMT(upd, "UPDATE eval_dataset_records r SET outputs = t.outp, expectations = t.ex, tags = t.tg,"
                 " last_update_time = t.ut::bigint, last_updated_by = t.ub"
                 " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])"
                 " AS t(i, outp, ex, tg, ut, ub)"
                 " WHERE r.dataset_id = $1 AND r.dataset_record_id = t.i");
    enum { NC = 13 };
    const char **col[NC];
    for (int k = 0; k < NC; k++)
        col[k] = arena_alloc(a, (n ? n : 1) * sizeof *col[k]);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s[i].touched || s[i].exists == inserts)
            continue;
        const struct eval_record *r = &s[i].row;
        if (inserts) {
            const char *v[NC] = { r->dataset_record_id, s[i].hash, r->inputs, r->outputs, r->expectations,
                                  r->tags, r->source, r->source_id, r->source_type, i64s(a, r->created_time),
                                  i64s(a, r->last_update_time), r->created_by, r->last_updated_by };
            for (int k = 0; k < NC; k++)
                col[k][m] = v[k];
        } else {
            const char *v[6] = { r->dataset_record_id, r->outputs, r->expectations, r->tags,
                                 i64s(a, r->last_update_time), r->last_updated_by };
            for (int k = 0; k < 6; k++)
                col[k][m] = v[k];
        }
        m++;
    }
    if (!m)
        return 0;
    int nc = inserts ? NC : 6;
    const char **vals = arena_alloc(a, (size_t)(nc + 1) * sizeof *vals);
    vals[0] = id;
    for (int k = 0; k < nc; k++)
        vals[k + 1] = pg_text_array(a, col[k], m);
    PGresult *r = db_exec(c, inserts ? &ins : &upd, nc + 1, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int upsert_tx(struct db_conn *c, void *p, struct error *err)
{
    struct upsert_ctx *x = p;
    struct arena *a = db_arena(c);
    x->inserted = x->updated = 0;
    struct eval_dataset d;
    x->missing = fetch_dataset(c, a, x->id, true, &d, err);
    if (x->missing)
        return x->missing < 0 ? -1 : 0;
    /* the distinct hashes, sorted, with the rows they already name */
    struct slot *s = arena_alloc(a, (x->n ? x->n : 1) * sizeof *s);
    size_t ns = 0;
    for (size_t i = 0; i < x->n; i++)
        s[ns++].hash = x->recs[i].input_hash;
    qsort(s, ns, sizeof *s, cmp_slot);
    size_t u = 0;
    for (size_t i = 0; i < ns; i++)
        if (!u || strcmp(s[u - 1].hash, s[i].hash))
            s[u++] = s[i];
    ns = u;
    const char **hashes = arena_alloc(a, (ns ? ns : 1) * sizeof *hashes);
    for (size_t i = 0; i < ns; i++)
        hashes[i] = s[i].hash;
    DB_STMT(st, "SELECT input_hash, " REC_COLS " FROM eval_dataset_records"
                " WHERE dataset_id = $1 AND input_hash = ANY($2::text[])");
    const char *vals[2] = { x->id, pg_text_array(a, hashes, ns) };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        struct slot key = { .hash = PQgetvalue(r, i, 0) };
        struct slot *hit = bsearch(&key, s, ns, sizeof *s, cmp_slot);
        if (!hit)
            continue;
        /* read_record reads from column 0: shift past input_hash */
        struct eval_record e;
        e.dataset_record_id = arena_strdup(a, PQgetvalue(r, i, 1));
        e.dataset_id = arena_strdup(a, PQgetvalue(r, i, 2));
        e.inputs = arena_strdup(a, PQgetvalue(r, i, 3));
        e.outputs = opt_str(a, r, i, 4);
        e.expectations = opt_str(a, r, i, 5);
        e.tags = arena_strdup(a, PQgetvalue(r, i, 6));
        e.source = opt_str(a, r, i, 7);
        e.source_id = opt_str(a, r, i, 8);
        e.source_type = opt_str(a, r, i, 9);
        e.created_time = db_int64(r, i, 10);
        e.last_update_time = db_int64(r, i, 11);
        e.created_by = opt_str(a, r, i, 12);
        e.last_updated_by = opt_str(a, r, i, 13);
        hit->row = e;
        hit->exists = hit->present = true;
    }
    PQclear(r);
    /* MLflow's loop, in request order: merge into a present record, else insert */
    int64_t now = now_ms();
    const char *updated_by = NULL;
    for (size_t i = 0; i < x->n; i++) {
        struct eval_record_upsert *rec = &x->recs[i];
        struct slot key = { .hash = rec->input_hash };
        struct slot *sl = bsearch(&key, s, ns, sizeof *s, cmp_slot);
        if (rec->user)
            updated_by = rec->user;
        if (sl->present) {
            merge_into(a, x->hooks, &sl->row, rec, now);
            x->updated++;
        } else {
            sl->row = rec->rec;
            sl->row.dataset_record_id = new_id(a, "dr-");
            sl->row.dataset_id = x->id;
            sl->row.created_time = sl->row.last_update_time = now;
            sl->row.created_by = sl->row.last_updated_by = rec->user;
            sl->present = true;
            x->inserted++;
        }
        sl->touched = true;
    }
    if (write_slots(c, a, x->id, s, ns, true, err) || write_slots(c, a, x->id, s, ns, false, err))
        return -1;
    /* the dataset: schema, profile (record count), digest, update time and user */
    DB_STMT(cnt, "SELECT count(*) FROM eval_dataset_records WHERE dataset_id = $1");
    const char *v1[1] = { x->id };
    r = db_exec(c, &cnt, 1, v1, err);
    if (!r)
        return -1;
    int64_t total = db_int64(r, 0, 0);
    PQclear(r);
    const char *schema = x->hooks->schema(x->hooks->ctx, a, d.schema);
    const char *profile = total > 0 ? arena_printf(a, "{\"num_records\": %" PRId64 "}", total) : NULL;
    DB_STMT(upd, "UPDATE eval_datasets SET last_update_time = $2, last_updated_by = $3, digest = $4,"
                 " schema_json = coalesce($5, schema_json), profile_json = coalesce($6, profile_json)"
                 " WHERE dataset_id = $1");
    const char *v2[6] = { x->id, i64s(a, now), updated_by, digest_of(a, d.name, now), schema, profile };
    r = db_exec(c, &upd, 6, v2, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_upsert_eval_records(struct arena *a, const char *dataset_id, struct eval_record_upsert *recs, size_t n,
                              const struct eval_upsert_hooks *hooks, int64_t *inserted, int64_t *updated,
                              struct error *err)
{
    struct upsert_ctx x = { a, dataset_id, recs, n, hooks, 0, 0, 0 };
    if (db_tx(upsert_tx, &x, err))
        return -1;
    if (x.missing)   /* MLflow: the records' foreign key fails, 400 BAD_REQUEST */
        return error_set(err, ERR_BAD_REQUEST, "Evaluation dataset with id '%s' not found", dataset_id);
    *inserted = x.inserted;
    *updated = x.updated;
    return 0;
}

struct page_ctx {
    struct arena *a;
    const char *id, *after_id;
    int64_t after_time, offset, limit;
    struct eval_record *out;
    size_t n;
};

static int page_tx(struct db_conn *c, void *p, struct error *err)
{
    struct page_ctx *x = p;
    DB_STMT(st, "SELECT " REC_COLS " FROM eval_dataset_records WHERE dataset_id = $1"
                " AND ($2::bigint IS NULL OR (created_time, dataset_record_id) > ($2::bigint, $3))"
                " ORDER BY created_time, dataset_record_id OFFSET $4 LIMIT $5");
    const char *vals[5] = { x->id, x->after_time >= 0 ? i64s(x->a, x->after_time) : NULL,
                            x->after_id ? x->after_id : "", i64s(x->a, x->offset > 0 ? x->offset : 0),
                            i64s(x->a, x->limit) };
    PGresult *r = db_exec(c, &st, 5, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_record(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

int store_get_eval_records(struct arena *a, const char *dataset_id, int64_t after_time, const char *after_id,
                           int64_t offset, int64_t limit, struct eval_record **out, size_t *n, struct error *err)
{
    struct page_ctx x = { a, dataset_id, after_id, after_time, offset, limit, NULL, 0 };
    if (db_run(page_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

struct delete_records_ctx {
    struct arena *a;
    const char *id;
    const char *const *ids;
    size_t n;
    int64_t deleted;
};

static int delete_records_tx(struct db_conn *c, void *p, struct error *err)
{
    struct delete_records_ctx *x = p;
    struct arena *a = db_arena(c);
    DB_STMT(st, "DELETE FROM eval_dataset_records WHERE dataset_id = $1 AND dataset_record_id = ANY($2::text[])");
    const char *vals[2] = { x->id, pg_text_array(a, x->ids, x->n) };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    x->deleted = atoll(PQcmdTuples(r));
    PQclear(r);
    if (!x->deleted)
        return 0;
    /* MLflow lowers the stored count (json.dumps(None) when it reaches 0: the string "null") */
    DB_STMT(prof, "UPDATE eval_datasets SET profile_json = CASE"
                  " WHEN greatest(0, coalesce((profile_json::json ->> 'num_records')::bigint, 0) - $2::bigint) > 0"
                  " THEN '{\"num_records\": ' || greatest(0, coalesce((profile_json::json ->> 'num_records')::bigint, 0)"
                  "      - $2::bigint) || '}'"
                  " ELSE 'null' END WHERE dataset_id = $1");
    const char *v2[2] = { x->id, i64s(a, x->deleted) };
    r = db_exec(c, &prof, 2, v2, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_delete_eval_records(const char *dataset_id, const char *const *ids, size_t n, int64_t *deleted,
                              struct error *err)
{
    struct delete_records_ctx x = { NULL, dataset_id, ids, n, 0 };
    if (db_tx(delete_records_tx, &x, err))
        return -1;
    *deleted = x.deleted;
    return 0;
}
