/* Runs: create, read (one or many at once), update, lifecycle, tags, the
 * log-batch write path, inputs and outputs, and search. */
#include "autoanalyze.h"
#include "db.h"
#include "logged_models.h"
#include "tracking.h"
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RUN_COLS "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time," \
                 " r.artifact_uri, r.lifecycle_stage"

static void new_uuid_hex(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);   /* uuid4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void read_info(struct arena *a, const PGresult *r, int row, struct run_info *ri)
{
    ri->run_id = arena_strdup(a, PQgetvalue(r, row, 0));
    ri->experiment_id = db_int64(r, row, 1);
    ri->run_name = arena_strdup(a, PQgetvalue(r, row, 2));
    ri->user_id = arena_strdup(a, PQgetvalue(r, row, 3));
    ri->status = arena_strdup(a, PQgetvalue(r, row, 4));
    ri->start_time = db_int64(r, row, 5);
    ri->has_end_time = !db_isnull(r, row, 6);
    ri->end_time = ri->has_end_time ? db_int64(r, row, 6) : 0;
    ri->artifact_uri = arena_strdup(a, PQgetvalue(r, row, 7));
    ri->lifecycle_stage = arena_strdup(a, PQgetvalue(r, row, 8));
}

/* Rows of (run_uuid, …) in any order, distributed to runs[] via the
 * index of each run id. Runs are looked up by binary search on a sorted copy. */
struct run_index {
    const char **ids;   /* sorted */
    size_t *pos;        /* pos[i]: index in runs[] of ids[i] */
    size_t n;
};

static struct run_index *idx_build(struct arena *a, struct run *runs, size_t n);
static size_t idx_find(const struct run_index *ix, const char *id)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ix->ids[mid], id);
        if (c == 0)
            return ix->pos[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (size_t)-1;
}

static int cmp_pair(const void *x, const void *y)
{
    const char *const *a = x, *const *b = y;
    return strcmp(a[0], b[0]);
}

static struct run_index *idx_build(struct arena *a, struct run *runs, size_t n)
{
    struct run_index *ix = arena_alloc(a, sizeof *ix);
    /* pairs of (id, index-as-pointer) sorted by id */
    const char **pairs = arena_alloc(a, 2 * (n ? n : 1) * sizeof *pairs);
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = runs[i].info.run_id;
        pairs[2 * i + 1] = (const char *)(uintptr_t)i;
    }
    qsort(pairs, n, 2 * sizeof *pairs, cmp_pair);
    ix->ids = arena_alloc(a, (n ? n : 1) * sizeof *ix->ids);
    ix->pos = arena_alloc(a, (n ? n : 1) * sizeof *ix->pos);
    for (size_t i = 0; i < n; i++) {
        ix->ids[i] = pairs[2 * i];
        ix->pos[i] = (size_t)(uintptr_t)pairs[2 * i + 1];
    }
    ix->n = n;
    return ix;
}

/* Counts rows per run, then allocates and fills. fill() reads row j into slot k of run i. */
typedef void (*fill_fn)(struct arena *a, const PGresult *r, int row, struct run *run, size_t k);
typedef size_t *(*count_field)(struct run *run);

static void distribute(struct arena *a, const PGresult *r, struct run *runs, const struct run_index *ix,
                       size_t elem_size, void **(*slot)(struct run *), size_t *(*count)(struct run *),
                       fill_fn fill)
{
    int rows = PQntuples(r);
    size_t n = ix->n;
    size_t *cnt = arena_alloc(a, (n ? n : 1) * sizeof *cnt);
    size_t *run_of = arena_alloc(a, (rows ? (size_t)rows : 1) * sizeof *run_of);
    /* a run's rows mostly come one after another: the last match first */
    const char *last_id = NULL;
    size_t last = (size_t)-1;
    for (int j = 0; j < rows; j++) {
        const char *id = PQgetvalue(r, j, 0);
        if (!last_id || strcmp(id, last_id)) {
            last = idx_find(ix, id);
            last_id = id;
        }
        run_of[j] = last;
        if (run_of[j] != (size_t)-1)
            cnt[run_of[j]]++;
    }
    for (size_t i = 0; i < n; i++) {
        *slot(&runs[i]) = cnt[i] ? arena_alloc(a, cnt[i] * elem_size) : NULL;
        *count(&runs[i]) = 0;
    }
    for (int j = 0; j < rows; j++) {
        if (run_of[j] == (size_t)-1)
            continue;
        struct run *run = &runs[run_of[j]];
        fill(a, r, j, run, (*count(run))++);
    }
}

static void **slot_metrics(struct run *r) { return (void **)&r->metrics; }
static size_t *count_metrics(struct run *r) { return &r->n_metrics; }
static void **slot_params(struct run *r) { return (void **)&r->params; }
static size_t *count_params(struct run *r) { return &r->n_params; }
static void **slot_tags(struct run *r) { return (void **)&r->tags; }
static size_t *count_tags(struct run *r) { return &r->n_tags; }
static void **slot_inputs(struct run *r) { return (void **)&r->inputs; }
static size_t *count_inputs(struct run *r) { return &r->n_inputs; }
static void **slot_min(struct run *r) { return (void **)&r->model_inputs; }
static size_t *count_min(struct run *r) { return &r->n_model_inputs; }
static void **slot_mout(struct run *r) { return (void **)&r->model_outputs; }
static size_t *count_mout(struct run *r) { return &r->n_model_outputs; }

static void fill_metric(struct arena *a, const PGresult *r, int j, struct run *run, size_t k)
{
    struct metric *m = &run->metrics[k];
    memset(m, 0, sizeof *m);
    m->key = arena_strdup(a, PQgetvalue(r, j, 1));
    m->value = db_double(r, j, 2);
    m->value_text = arena_strdup(a, PQgetvalue(r, j, 2));
    m->timestamp = db_int64(r, j, 3);
    m->step = db_int64(r, j, 4);
}

static void fill_param(struct arena *a, const PGresult *r, int j, struct run *run, size_t k)
{
    run->params[k].key = arena_strdup(a, PQgetvalue(r, j, 1));
    run->params[k].value = arena_strdup(a, PQgetvalue(r, j, 2));
}

static void fill_tag(struct arena *a, const PGresult *r, int j, struct run *run, size_t k)
{
    run->tags[k].key = arena_strdup(a, PQgetvalue(r, j, 1));
    run->tags[k].value = arena_strdup(a, PQgetvalue(r, j, 2));
}

static const char *nullable(struct arena *a, const PGresult *r, int j, int col)
{
    return db_isnull(r, j, col) ? NULL : arena_strdup(a, PQgetvalue(r, j, col));
}

/* input tags come as a JSON-free pair of text arrays: keys and values in
 * PostgreSQL's array text form; parsed here without a JSON library */
static size_t parse_pg_array(struct arena *a, const char *s, const char ***out)
{
    size_t cap = 4, n = 0;
    const char **v = arena_alloc(a, cap * sizeof *v);
    if (*s != '{')
        return 0;
    s++;
    while (*s && *s != '}') {
        struct strbuf sb;
        sb_init(&sb, a, 32);
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                    s++;
                sb_putc(&sb, *s);
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ',' && *s != '}')
                sb_putc(&sb, *s++);
        }
        if (n == cap) {
            v = arena_grow(a, v, cap * sizeof *v, cap * 2 * sizeof *v);
            cap *= 2;
        }
        v[n++] = sb.buf;
        if (*s == ',')
            s++;
    }
    *out = v;
    return n;
}

static void fill_input(struct arena *a, const PGresult *r, int j, struct run *run, size_t k)
{
    struct dataset_input *di = &run->inputs[k];
    memset(di, 0, sizeof *di);
    di->dataset.name = arena_strdup(a, PQgetvalue(r, j, 1));
    di->dataset.digest = arena_strdup(a, PQgetvalue(r, j, 2));
    di->dataset.source_type = arena_strdup(a, PQgetvalue(r, j, 3));
    di->dataset.source = arena_strdup(a, PQgetvalue(r, j, 4));
    di->dataset.schema = nullable(a, r, j, 5);
    di->dataset.profile = nullable(a, r, j, 6);
    const char **keys = NULL, **vals = NULL;
    size_t nk = parse_pg_array(a, PQgetvalue(r, j, 7), &keys);
    size_t nv = parse_pg_array(a, PQgetvalue(r, j, 8), &vals);
    size_t n = nk < nv ? nk : nv;
    if (n) {
        di->tags = arena_alloc(a, n * sizeof *di->tags);
        for (size_t i = 0; i < n; i++) {
            di->tags[i].key = keys[i];
            di->tags[i].value = vals[i];
        }
        di->n_tags = n;
    }
}

static void fill_model_in(struct arena *a, const PGresult *r, int j, struct run *run, size_t k)
{
    run->model_inputs[k].model_id = arena_strdup(a, PQgetvalue(r, j, 1));
    run->model_inputs[k].step = db_int64(r, j, 2);
}

static void fill_model_out(struct arena *a, const PGresult *r, int j, struct run *run, size_t k)
{
    run->model_outputs[k].model_id = arena_strdup(a, PQgetvalue(r, j, 1));
    run->model_outputs[k].step = db_int64(r, j, 2);
}

static int cmp_metric_key(const void *x, const void *y)
{
    return strcmp(((const struct metric *)x)->key, ((const struct metric *)y)->key);
}

static int cmp_kv_key(const void *x, const void *y)
{
    return strcmp(((const struct kv *)x)->key, ((const struct kv *)y)->key);
}

/* Fills data, inputs and outputs of runs[0..n) (infos already read), with
 * one query per part for all runs together. */
static int load_run_parts(struct db_conn *c, struct arena *a, struct run *runs, size_t n, bool model_inputs,
                          struct error *err)
{
    /* issue 19: unsorted; each run's keys are sorted here (sort_keys), in
     * byte order (C.UTF-8's, the embedded cluster's): the database's sort in
     * its collation cost as much as the scan */
    DB_STMT(q_metrics, "SELECT run_uuid, key, value, timestamp, step FROM latest_metrics"
                       " WHERE run_uuid = ANY($1::text[])");
    DB_STMT(q_params, "SELECT run_uuid, key, value FROM params WHERE run_uuid = ANY($1::text[])");
    DB_STMT(q_tags, "SELECT run_uuid, key, value FROM tags WHERE run_uuid = ANY($1::text[])");
    DB_STMT(q_inputs, "SELECT i.run_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile,"
                      " COALESCE(array_agg(t.key ORDER BY t.key) FILTER (WHERE t.key IS NOT NULL), '{}'),"
                      " COALESCE(array_agg(t.value ORDER BY t.key) FILTER (WHERE t.key IS NOT NULL), '{}')"
                      " FROM run_inputs i JOIN datasets d USING (dataset_uuid)"
                      " LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid"
                      " WHERE i.run_uuid = ANY($1::text[])"
                      " GROUP BY i.run_uuid, i.input_uuid, d.dataset_uuid ORDER BY i.run_uuid, i.seq");
    DB_STMT(q_models, "SELECT run_uuid, model_id, step, direction FROM run_model_io"
                      " WHERE run_uuid = ANY($1::text[]) AND direction = $2 ORDER BY run_uuid, model_id, step");
    if (!n)
        return 0;
    const char **ids = arena_alloc(a, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = runs[i].info.run_id;
    const char *arr = pg_text_array(a, ids, n);
    struct run_index *ix = idx_build(a, runs, n);
    const char *v1[1] = { arr };
    const char *vo[2] = { arr, "output" };
    const char *vi[2] = { arr, "input" };
    /* issue 19: one round trip for all the parts (pipeline mode) */
    struct db_batch_item q[6] = {
        { &q_metrics, 1, v1, NULL }, { &q_params, 1, v1, NULL }, { &q_tags, 1, v1, NULL },
        { &q_inputs, 1, v1, NULL }, { &q_models, 2, vo, NULL }, { &q_models, 2, vi, NULL },
    };
    if (db_exec_batch(c, q, model_inputs ? 6 : 5, err))
        return -1;
    distribute(a, q[0].res, runs, ix, sizeof(struct metric), slot_metrics, count_metrics, fill_metric);
    distribute(a, q[1].res, runs, ix, sizeof(struct kv), slot_params, count_params, fill_param);
    distribute(a, q[2].res, runs, ix, sizeof(struct kv), slot_tags, count_tags, fill_tag);
    distribute(a, q[3].res, runs, ix, sizeof(struct dataset_input), slot_inputs, count_inputs, fill_input);
    distribute(a, q[4].res, runs, ix, sizeof(struct model_io), slot_mout, count_mout, fill_model_out);
    if (model_inputs)
        distribute(a, q[5].res, runs, ix, sizeof(struct model_io), slot_min, count_min, fill_model_in);
    db_batch_clear(q, model_inputs ? 6 : 5);
    for (size_t i = 0; i < n; i++) {
        if (runs[i].n_metrics > 1)
            qsort(runs[i].metrics, runs[i].n_metrics, sizeof *runs[i].metrics, cmp_metric_key);
        if (runs[i].n_params > 1)
            qsort(runs[i].params, runs[i].n_params, sizeof *runs[i].params, cmp_kv_key);
        if (runs[i].n_tags > 1)
            qsort(runs[i].tags, runs[i].n_tags, sizeof *runs[i].tags, cmp_kv_key);
    }
    return 0;
}

static int run_not_found(struct error *err, const char *run_id)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
}

static int read_one_run(struct db_conn *c, struct arena *a, const char *run_id, struct run *out, struct error *err)
{
    DB_STMT(q, "SELECT " RUN_COLS " FROM runs r WHERE r.run_uuid = $1");
    const char *v[1] = { run_id };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return run_not_found(err, run_id);
    }
    memset(out, 0, sizeof *out);
    read_info(a, r, 0, &out->info);
    PQclear(r);
    return load_run_parts(c, a, out, 1, true, err);
}

/* ---- create ---- */

struct create_ctx {
    struct arena *a;
    const struct run_create *rc;
    struct run *out;
};

static int check_experiment_active(struct db_conn *c, struct arena *a, int64_t id, const char **location,
                                   struct error *err)
{
    DB_STMT(q, "SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = $1");
    const char *v[1] = { i64s(a, id) };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%" PRId64 " exists", id);
    }
    if (strcmp(PQgetvalue(r, 0, 0), "active")) {
        PQclear(r);
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "The experiment %" PRId64 " must be in the 'active' state. Current state is deleted.", id);
    }
    *location = arena_strdup(a, PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

static int upsert_tags(struct db_conn *c, struct arena *a, const char *run_id, const struct kv *tags, size_t n,
                       struct error *err)
{
    DB_STMT(q, "INSERT INTO tags (run_uuid, key, value)"
               " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k"
               " ON CONFLICT (run_uuid, key) DO UPDATE SET value = EXCLUDED.value");
    DB_STMT(rename, "UPDATE runs SET name = $2 WHERE run_uuid = $1");
    if (!n)
        return 0;
    const char **k = arena_alloc(a, n * sizeof *k), **v = arena_alloc(a, n * sizeof *v);
    const char *run_name = NULL;
    for (size_t i = 0; i < n; i++) {
        k[i] = tags[i].key;
        v[i] = tags[i].value;
        if (!strcmp(k[i], "mlflow.runName"))
            run_name = v[i];   /* the tag and run_name are kept in sync */
    }
    const char *vals[3] = { run_id, pg_text_array(a, k, n), pg_text_array(a, v, n) };
    PGresult *r = db_exec(c, &q, 3, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    if (run_name) {
        const char *rv[2] = { run_id, run_name };
        if (!(r = db_exec(c, &rename, 2, rv, err)))
            return -1;
        PQclear(r);
    }
    return 0;
}

static int create_tx(struct db_conn *c, void *p, struct error *err)
{
    struct create_ctx *x = p;
    DB_STMT(ins, "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time,"
                 " lifecycle_stage, artifact_uri) VALUES ($1, $2, $3, $4, 'RUNNING', $5, 'active', $6)");
    const char *location = NULL;
    if (check_experiment_active(c, x->a, x->rc->experiment_id, &location, err))
        return -1;
    char id[33];
    new_uuid_hex(id);
    size_t ln = strlen(location);
    const char *artifact_uri = arena_printf(x->a, "%s%s%s/artifacts", location,
                                            ln && location[ln - 1] == '/' ? "" : "/", id);
    const char *v[6] = { id, i64s(x->a, x->rc->experiment_id), x->rc->run_name, x->rc->user_id ? x->rc->user_id : "",
                         i64s(x->a, x->rc->start_time), artifact_uri };
    PGresult *r = db_exec(c, &ins, 6, v, err);
    if (!r)
        return -1;
    PQclear(r);
    if (upsert_tags(c, x->a, id, x->rc->tags, x->rc->n_tags, err))
        return -1;
    return read_one_run(c, x->a, id, x->out, err);
}

int store_create_run(struct arena *a, const struct run_create *rc, struct run *out, struct error *err)
{
    struct create_ctx x = { a, rc, out };
    if (db_tx(create_tx, &x, err))
        return -1;
    store_note_writes(1 + rc->n_tags);
    return 0;
}

/* ---- get ---- */

struct get_ctx {
    struct arena *a;
    const char *run_id;
    struct run *out;
};

static int get_tx(struct db_conn *c, void *p, struct error *err)
{
    struct get_ctx *x = p;
    return read_one_run(c, x->a, x->run_id, x->out, err);
}

int store_get_run(struct arena *a, const char *run_id, struct run *out, struct error *err)
{
    struct get_ctx x = { a, run_id, out };
    return db_run(get_tx, &x, err);
}

/* ---- writes that need an active run ---- */

static int lock_active_run(struct db_conn *c, struct arena *a, const char *run_id, bool for_update,
                           struct error *err)
{
    DB_STMT(q_share, "SELECT lifecycle_stage FROM runs WHERE run_uuid = $1 FOR SHARE");
    DB_STMT(q_update, "SELECT lifecycle_stage FROM runs WHERE run_uuid = $1 FOR UPDATE");
    (void)a;
    const char *v[1] = { run_id };
    PGresult *r = db_exec(c, for_update ? &q_update : &q_share, 1, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return run_not_found(err, run_id);
    }
    bool active = !strcmp(PQgetvalue(r, 0, 0), "active");
    PQclear(r);
    if (!active)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "The run %s must be in the 'active' state. Current state is deleted.", run_id);
    return 0;
}

struct update_ctx {
    struct arena *a;
    const char *run_id;
    const struct run_update *u;
    struct run_info *out;
};

static int update_tx(struct db_conn *c, void *p, struct error *err)
{
    struct update_ctx *x = p;
    DB_STMT(q, "UPDATE runs r SET status = COALESCE($2, status),"
               " end_time = CASE WHEN $3::bool THEN $4::bigint ELSE end_time END,"
               " name = COALESCE($5, name) WHERE run_uuid = $1 RETURNING " RUN_COLS);
    if (lock_active_run(c, x->a, x->run_id, true, err))
        return -1;
    const struct run_update *u = x->u;
    const char *v[5] = { x->run_id, u->status, u->has_end_time ? "true" : "false",
                         i64s(x->a, u->end_time), u->run_name };
    PGresult *r = db_exec(c, &q, 5, v, err);
    if (!r)
        return -1;
    read_info(x->a, r, 0, x->out);
    PQclear(r);
    if (u->run_name) {
        struct kv tag = { "mlflow.runName", u->run_name };
        return upsert_tags(c, x->a, x->run_id, &tag, 1, err);
    }
    return 0;
}

int store_update_run(struct arena *a, const char *run_id, const struct run_update *u, struct run_info *out,
                     struct error *err)
{
    struct update_ctx x = { a, run_id, u, out };
    return db_tx(update_tx, &x, err);
}

struct simple_ctx {
    struct arena a;
    const char *run_id, *key;
    bool deleted;
};

static int lifecycle_tx(struct db_conn *c, void *p, struct error *err)
{
    struct simple_ctx *x = p;
    DB_STMT(q, "UPDATE runs SET lifecycle_stage = $2,"
               " deleted_time = CASE WHEN $2 = 'deleted' THEN $3::bigint ELSE NULL END"
               " WHERE run_uuid = $1 RETURNING 1");
    const char *v[3] = { x->run_id, x->deleted ? "deleted" : "active", i64s(&x->a, now_ms()) };
    PGresult *r = db_exec(c, &q, 3, v, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : run_not_found(err, x->run_id);
}

int store_set_run_lifecycle(const char *run_id, bool deleted, struct error *err)
{
    struct simple_ctx x = { .run_id = run_id, .deleted = deleted };
    arena_init(&x.a);
    int rc = db_tx(lifecycle_tx, &x, err);
    arena_free(&x.a);
    return rc;
}

static int delete_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct simple_ctx *x = p;
    DB_STMT(q, "DELETE FROM tags WHERE run_uuid = $1 AND key = $2 RETURNING 1");
    if (lock_active_run(c, &x->a, x->run_id, false, err))
        return -1;
    const char *v[2] = { x->run_id, x->key };
    PGresult *r = db_exec(c, &q, 2, v, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No tag with name: %s in run with id %s",
                             x->key, x->run_id);
}

int store_delete_run_tag(const char *run_id, const char *key, struct error *err)
{
    struct simple_ctx x = { .run_id = run_id, .key = key };
    arena_init(&x.a);
    int rc = db_tx(delete_tag_tx, &x, err);
    arena_free(&x.a);
    return rc;
}

/* ---- log-batch: one transaction, set-based statements ---- */

struct batch_ctx {
    struct arena *a;
    const char *run_id;
    const struct log_batch *b;
    bool single_param;   /* store_log_param: the one-param message */
    const char *parked_id;   /* the metrics write parked its latest values (fold_parked) */
    bool stale_parked;       /* ... or found rows parked long ago */
};

static const char *double_text(struct arena *a, double v)
{
    if (v != v)
        return "NaN";
    if (v == __builtin_inf())
        return "Infinity";
    if (v == -__builtin_inf())
        return "-Infinity";
    return arena_printf(a, "%.17g", v);
}

static int log_params(struct db_conn *c, struct batch_ctx *x, struct error *err)
{
    /* params are write-once: the same value again is fine, another value is an error */
    DB_STMT(conflict, "SELECT t.k, p.value, t.v FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(k, v, o)"
                      " JOIN params p ON p.run_uuid = $1 AND p.key = t.k"
                      " WHERE p.value <> t.v ORDER BY t.o");
    DB_STMT(ins, "INSERT INTO params (run_uuid, key, value)"
                 " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k"
                 " ON CONFLICT (run_uuid, key) DO NOTHING");
    size_t n = x->b->n_params;
    const char **k = arena_alloc(x->a, n * sizeof *k), **v = arena_alloc(x->a, n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        k[i] = x->b->params[i].key;
        v[i] = x->b->params[i].value;
    }
    const char *vals[3] = { x->run_id, pg_text_array(x->a, k, n), pg_text_array(x->a, v, n) };
    PGresult *r = db_exec(c, &ins, 3, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    if (!(r = db_exec(c, &conflict, 3, vals, err)))
        return -1;
    if (PQntuples(r) && x->single_param) {
        error_set(err, ERR_INVALID_PARAMETER_VALUE,
                  "Changing param values is not allowed. Param with key='%s' was already logged with "
                  "value='%s' for run ID='%s'. Attempted logging new value '%s'.",
                  PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), x->run_id, PQgetvalue(r, 0, 2));
        PQclear(r);
        return -1;
    }
    if (PQntuples(r)) {
        /* log-batch: every changed param, as MLflow's _log_params lists them
         * (the Python repr of a list of dicts) */
        struct strbuf sb;
        sb_init(&sb, x->a, 256);
        sb_putc(&sb, '[');
        for (int i = 0; i < PQntuples(r); i++) {
            sb_puts(&sb, i ? ", {'key': " : "{'key': ");
            py_repr_str(&sb, PQgetvalue(r, i, 0));
            sb_puts(&sb, ", 'old_value': ");
            py_repr_str(&sb, PQgetvalue(r, i, 1));
            sb_puts(&sb, ", 'new_value': ");
            py_repr_str(&sb, PQgetvalue(r, i, 2));
            sb_putc(&sb, '}');
        }
        sb_putc(&sb, ']');
        error_set(err, ERR_INVALID_PARAMETER_VALUE,
                  "Changing param values is not allowed. Params were already logged='%s' for run ID='%s'.",
                  sb.buf, x->run_id);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* The five bind values of a metrics write: run id and four parallel arrays. */
static void metric_arrays(struct arena *a, const char *run_id, const struct metric *ms, size_t n,
                          const char *v[5])
{
    struct strbuf vals, ts, steps;
    sb_init(&vals, a, 24 * n + 8);
    sb_init(&ts, a, 16 * n + 8);
    sb_init(&steps, a, 12 * n + 8);
    const char **k = arena_alloc(a, (n ? n : 1) * sizeof *k);
    sb_putc(&vals, '{');
    sb_putc(&ts, '{');
    sb_putc(&steps, '{');
    for (size_t i = 0; i < n; i++) {
        k[i] = ms[i].key;
        sb_printf(&vals, "%s%s", i ? "," : "", double_text(a, ms[i].value));
        sb_printf(&ts, "%s%" PRId64, i ? "," : "", ms[i].timestamp);
        sb_printf(&steps, "%s%" PRId64, i ? "," : "", ms[i].step);
    }
    sb_putc(&vals, '}');
    sb_putc(&ts, '}');
    sb_putc(&steps, '}');
    v[0] = run_id;
    v[1] = pg_text_array(a, k, n);
    v[2] = vals.buf;
    v[3] = ts.buf;
    v[4] = steps.buf;
}

/* Folds one row per key (run_uuid, key, value, timestamp, step, n_rows,
 * n_steps, min_step, max_step: the newest point and the shape of the points
 * just added to the history) into latest_metrics: the latest value is the
 * max by (step, timestamp, value), as MLflow. Distinct steps are counted
 * while points arrive in step order (the usual training loop); a point at or
 * below the known range makes the count unknown (-1) for good, and the chart
 * view scans instead. Every fold of a run holds its fold lock (sql/013), so
 * two never wait on each other's row locks. */
#define UPSERT_LATEST_SQL \
    "INSERT INTO latest_metrics AS l (run_uuid, key, value, timestamp, step, n_rows, n_steps, min_step, max_step)"
#define ON_CONFLICT_LATEST_SQL \
    " ON CONFLICT (run_uuid, key) DO UPDATE SET" \
    " value = CASE WHEN (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value) > (l.step, l.timestamp, l.value)" \
    "   THEN EXCLUDED.value ELSE l.value END," \
    " timestamp = CASE WHEN (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value) > (l.step, l.timestamp, l.value)" \
    "   THEN EXCLUDED.timestamp ELSE l.timestamp END," \
    " step = GREATEST(l.step, EXCLUDED.step)," \
    " n_rows = l.n_rows + EXCLUDED.n_rows," \
    " n_steps = CASE WHEN EXCLUDED.n_rows = 0 THEN l.n_steps" \
    "   WHEN l.n_steps < 0 OR EXCLUDED.n_steps < 0 OR EXCLUDED.min_step <= l.max_step THEN -1" \
    "   ELSE l.n_steps + EXCLUDED.n_steps END," \
    " min_step = LEAST(l.min_step, EXCLUDED.min_step), max_step = GREATEST(l.max_step, EXCLUDED.max_step)"
/* one fold at a time per run: a transaction-scoped advisory lock */
#define FOLD_LOCK(fn) fn "(1818587252, hashtext($1))"

/* Writes points in one statement, only when the run is active. The history
 * takes every point (a replayed one is ignored) without waiting for anyone;
 * then the latest values are folded at once when no other writer of the run
 * is folding, else parked (sql/013) for fold_parked. It returns the run's
 * stage (no row: no such run), the parked row's id (or NULL), and whether
 * rows parked long ago wait for a fold (a server died between the steps). */
DB_STMT(write_metrics_stmt,
    "WITH run AS (SELECT lifecycle_stage FROM runs WHERE run_uuid = $1),"
    " pts AS (SELECT k, v, t, s FROM unnest($2::text[], $3::float8[], $4::int8[], $5::int8[])"
    "   AS m(k, v, t, s) WHERE (SELECT lifecycle_stage FROM run) = 'active'),"
    " hist AS (INSERT INTO metrics (run_uuid, key, value, timestamp, step)"
    "   SELECT $1, k, v, t, s FROM pts ORDER BY k, t, s, v ON CONFLICT DO NOTHING RETURNING key, step),"
    " fresh AS (SELECT key, count(*) AS n, count(DISTINCT step) AS ns, min(step) AS lo, max(step) AS hi"
    "   FROM hist GROUP BY key),"
    " newest AS (SELECT DISTINCT ON (k) k, v, t, s FROM pts ORDER BY k, s DESC, t DESC, v DESC),"
    " mine AS (SELECT nw.k, nw.v, nw.t, nw.s, COALESCE(f.n, 0) AS n, COALESCE(f.ns, 0) AS ns,"
    "   COALESCE(f.lo, nw.s) AS lo, COALESCE(f.hi, nw.s) AS hi FROM newest nw LEFT JOIN fresh f ON f.key = nw.k),"
    /* after the history (the count reads all of it): held from here to the
     * commit, the fold's time only */
    " lk AS (SELECT " FOLD_LOCK("pg_try_advisory_xact_lock") " AS got FROM (SELECT count(*) FROM hist) h),"
    " parked AS (INSERT INTO latest_metrics_pending (run_uuid, keys, vals, ts, steps, n_rows, n_steps,"
    "   min_step, max_step) SELECT $1, array_agg(k), array_agg(v), array_agg(t), array_agg(s), array_agg(n),"
    "   array_agg(ns), array_agg(lo), array_agg(hi) FROM mine WHERE NOT (SELECT got FROM lk)"
    "   HAVING count(*) > 0 RETURNING id),"
    " latest AS (" UPSERT_LATEST_SQL
    "   SELECT $1, k, v, t, s, n, ns, lo, hi FROM mine WHERE (SELECT got FROM lk)" ON_CONFLICT_LATEST_SQL ")"
    " SELECT lifecycle_stage, (SELECT id FROM parked), EXISTS (SELECT 1 FROM latest_metrics_pending"
    "   WHERE run_uuid = $1 AND parked_at < now() - interval '10 seconds') FROM run");

/* one parked point per key, as the fold reads it */
struct parked_delta {
    const char *key, *value;   /* value as PostgreSQL printed it (exact, NaN, Infinity) */
    double v;
    int64_t t, s, n, ns, lo, hi;
};

/* float8 order: NaN above everything, equal to itself */
static int float8_cmp(double a, double b)
{
    if (a != a || b != b)
        return (a != a) - (b != b);
    return (a > b) - (a < b);
}

static int delta_cmp(const void *pa, const void *pb)
{
    const struct parked_delta *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return (a->hi > b->hi) - (a->hi < b->hi);
}

static bool newer(const struct parked_delta *a, const struct parked_delta *b)
{
    if (a->s != b->s)
        return a->s > b->s;
    if (a->t != b->t)
        return a->t > b->t;
    return float8_cmp(a->v, b->v) > 0;
}

/* Merges the deltas of each key into one (sorted by key, then step range):
 * the newest point, the counts added up, distinct steps known only while
 * the ranges of points added do not overlap. Returns the number of keys. */
static size_t merge_deltas(struct parked_delta *d, size_t n)
{
    qsort(d, n, sizeof *d, delta_cmp);
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        struct parked_delta m = d[i], top = d[i];
        bool added = false, overlap = false;
        int64_t prev_hi = 0;
        m.n = m.ns = 0;
        size_t j = i;
        for (; j < n && !strcmp(d[j].key, d[i].key); j++) {
            if (newer(&d[j], &top))
                top = d[j];
            if (d[j].n <= 0)
                continue;
            overlap |= added && d[j].lo <= prev_hi;
            m.lo = added && m.lo < d[j].lo ? m.lo : d[j].lo;
            prev_hi = added && prev_hi > d[j].hi ? prev_hi : d[j].hi;
            m.n += d[j].n;
            m.ns += d[j].ns;
            added = true;
        }
        m.value = top.value;
        m.v = top.v;
        m.t = top.t;
        m.s = top.s;
        m.hi = prev_hi;
        if (!added)
            m.lo = m.hi = top.s;
        else if (overlap)
            m.ns = -1;
        d[out++] = m;
        i = j;
    }
    return out;
}

static const char *i64_array(struct arena *a, const struct parked_delta *d, size_t n, size_t field)
{
    struct strbuf sb;
    sb_init(&sb, a, 21 * n + 8);
    sb_putc(&sb, '{');
    for (size_t i = 0; i < n; i++)
        sb_printf(&sb, "%s%" PRId64, i ? "," : "", *(const int64_t *)((const char *)&d[i] + field));
    sb_putc(&sb, '}');
    return sb.buf;
}

/* After a write parked its points (own_id), or found rows parked long ago
 * (own_id NULL): wait for the run's fold lock, then fold every row parked so
 * far in one statement of the lock's transaction, whose snapshot sees what
 * the other writers parked while this one waited. A row another writer's
 * fold already took needs no lock. */
static int fold_tx(struct db_conn *c, void *p, struct error *err)
{
    DB_STMT(lock_own, "SELECT " FOLD_LOCK("pg_advisory_xact_lock") " FROM latest_metrics_pending WHERE id = $2");
    DB_STMT(lock_any, "SELECT " FOLD_LOCK("pg_advisory_xact_lock"));
    /* a waiter whose row a fold took while it waited leaves the rows parked
     * since to their own writers, queued behind it: the next of them folds
     * them all at once (without this, each waiter in the queue would fold
     * the one row parked last, one fold per request) */
    DB_STMT(take, "WITH taken AS (DELETE FROM latest_metrics_pending WHERE run_uuid = $1"
                  "   AND ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM latest_metrics_pending WHERE id = $2))"
                  "   RETURNING keys, vals, ts, steps, n_rows, n_steps, min_step, max_step)"
                  " SELECT d.* FROM taken, unnest(keys, vals, ts, steps, n_rows, n_steps, min_step, max_step)"
                  "   AS d(k, v, t, s, n, ns, lo, hi)");
    DB_STMT(fold, UPSERT_LATEST_SQL
                  " SELECT $1, k, v, t, s, n, ns, lo, hi FROM unnest($2::text[], $3::float8[], $4::int8[],"
                  " $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[]) AS m(k, v, t, s, n, ns, lo, hi)"
                  ON_CONFLICT_LATEST_SQL);
    struct batch_ctx *x = p;
    const char *v[9] = { x->run_id, x->parked_id };
    PGresult *r = db_exec(c, x->parked_id ? &lock_own : &lock_any, x->parked_id ? 2 : 1, v, err);
    if (!r)
        return -1;
    int locked = PQntuples(r);
    PQclear(r);
    if (!locked)
        return 0;
    if (!(r = db_exec(c, &take, 2, v, err)))
        return -1;
    size_t n = (size_t)PQntuples(r);
    struct arena *a = db_arena(c);
    struct parked_delta *d = arena_alloc(a, (n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        d[i] = (struct parked_delta){ arena_strdup(a, PQgetvalue(r, row, 0)), arena_strdup(a, PQgetvalue(r, row, 1)),
                                      db_double(r, row, 1), db_int64(r, row, 2), db_int64(r, row, 3),
                                      db_int64(r, row, 4), db_int64(r, row, 5), db_int64(r, row, 6),
                                      db_int64(r, row, 7) };
    }
    PQclear(r);
    if (n == 0)
        return 0;
    n = merge_deltas(d, n);
    const char **keys = arena_alloc(a, n * sizeof *keys), **vals = arena_alloc(a, n * sizeof *vals);
    for (size_t i = 0; i < n; i++) {
        keys[i] = d[i].key;
        vals[i] = d[i].value;
    }
    v[1] = pg_text_array(a, keys, n);
    v[2] = pg_text_array(a, vals, n);
    v[3] = i64_array(a, d, n, offsetof(struct parked_delta, t));
    v[4] = i64_array(a, d, n, offsetof(struct parked_delta, s));
    v[5] = i64_array(a, d, n, offsetof(struct parked_delta, n));
    v[6] = i64_array(a, d, n, offsetof(struct parked_delta, ns));
    v[7] = i64_array(a, d, n, offsetof(struct parked_delta, lo));
    v[8] = i64_array(a, d, n, offsetof(struct parked_delta, hi));
    if (!(r = db_exec(c, &fold, 9, v, err)))
        return -1;
    PQclear(r);
    return 0;
}

static int fold_parked(struct batch_ctx *x, struct error *err)
{
    return x->parked_id || x->stale_parked ? db_tx(fold_tx, x, err) : 0;
}

/* runs the metrics statement; notes a parked row for fold_parked */
static PGresult *write_metrics(struct db_conn *c, struct batch_ctx *x, struct error *err)
{
    const char *v[5];
    metric_arrays(x->a, x->run_id, x->b->metrics, x->b->n_metrics, v);
    x->parked_id = NULL;
    x->stale_parked = false;
    PGresult *r = db_exec(c, &write_metrics_stmt, 5, v, err);
    if (r && PQntuples(r)) {
        x->parked_id = PQgetisnull(r, 0, 1) ? NULL : arena_strdup(x->a, PQgetvalue(r, 0, 1));
        x->stale_parked = !strcmp(PQgetvalue(r, 0, 2), "t");
    }
    return r;
}

static int log_metrics(struct db_conn *c, struct batch_ctx *x, struct error *err)
{
    PGresult *r = write_metrics(c, x, err);
    if (!r)
        return -1;
    PQclear(r);
    /* MLflow 3: points carrying a model_id are the logged model's metrics too */
    return store_log_model_metrics_tx(c, x->a, x->run_id, x->b->metrics, x->b->n_metrics, err);
}

static int batch_tx(struct db_conn *c, void *p, struct error *err)
{
    struct batch_ctx *x = p;
    x->parked_id = NULL;
    x->stale_parked = false;   /* set by write_metrics when there are metrics */
    if (lock_active_run(c, x->a, x->run_id, false, err))
        return -1;
    if (x->b->n_params && log_params(c, x, err))
        return -1;
    if (x->b->n_metrics && log_metrics(c, x, err))
        return -1;
    if (x->b->n_tags && upsert_tags(c, x->a, x->run_id, x->b->tags, x->b->n_tags, err))
        return -1;
    return 0;
}

/* Metrics only (log-metric, most log-batch calls): one statement, one round
 * trip, atomic on its own. It writes only when the run is active and
 * reports the run's stage so the caller can tell 404 from 400. */
static int metrics_only_tx(struct db_conn *c, void *p, struct error *err)
{
    struct batch_ctx *x = p;
    PGresult *r = write_metrics(c, x, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    bool active = rows && !strcmp(PQgetvalue(r, 0, 0), "active");
    PQclear(r);
    if (!rows)
        return run_not_found(err, x->run_id);
    if (!active)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "The run %s must be in the 'active' state. Current state is deleted.", x->run_id);
    return 0;
}

static bool any_model_metric(const struct log_batch *b)
{
    for (size_t i = 0; i < b->n_metrics; i++)
        if (b->metrics[i].model_id)
            return true;
    return false;
}

int store_log_param(struct arena *a, const char *run_id, const struct kv *param, struct error *err)
{
    struct log_batch b = { .params = param, .n_params = 1 };
    struct batch_ctx x = { a, run_id, &b, true, NULL, false };
    return db_tx(batch_tx, &x, err);
}

int store_log_batch(struct arena *a, const char *run_id, const struct log_batch *b, struct error *err)
{
    struct batch_ctx x = { a, run_id, b, false, NULL, false };
    int rc = b->n_metrics && !b->n_params && !b->n_tags && !any_model_metric(b) ? db_run_write(metrics_only_tx, &x, err)
                                                                                 : db_tx(batch_tx, &x, err);
    if (rc == 0)
        rc = fold_parked(&x, err);
    if (rc == 0)
        store_note_writes(b->n_metrics + b->n_params + b->n_tags);
    return rc;
}

/* ---- inputs and outputs ---- */

struct inputs_ctx {
    struct arena *a;
    const char *run_id;
    const struct dataset_input *inputs;
    size_t n;
    const struct model_io *models;
    size_t n_models;
    const char *direction;
};

static int inputs_tx(struct db_conn *c, void *p, struct error *err)
{
    struct inputs_ctx *x = p;
    DB_STMT(exp, "SELECT experiment_id FROM runs WHERE run_uuid = $1");
    DB_STMT(ds, "WITH ins AS (INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type,"
                " source, schema, profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (experiment_id, name, digest) DO NOTHING RETURNING dataset_uuid)"
                " SELECT dataset_uuid FROM ins UNION ALL"
                " SELECT dataset_uuid FROM datasets WHERE experiment_id = $2 AND name = $3 AND digest = $4");
    DB_STMT(input, "INSERT INTO run_inputs (input_uuid, dataset_uuid, run_uuid) VALUES ($1, $2, $3)"
                   " ON CONFLICT (run_uuid, dataset_uuid) DO NOTHING RETURNING input_uuid");
    DB_STMT(itag, "INSERT INTO input_tags (input_uuid, key, value) VALUES ($1, $2, $3)"
                  " ON CONFLICT (input_uuid, key) DO UPDATE SET value = EXCLUDED.value");
    DB_STMT(model, "INSERT INTO run_model_io (run_uuid, model_id, direction, step) VALUES ($1, $2, $3, $4)"
                   " ON CONFLICT DO NOTHING");
    if (lock_active_run(c, x->a, x->run_id, false, err))
        return -1;
    const char *rv[1] = { x->run_id };
    PGresult *r = db_exec(c, &exp, 1, rv, err);
    if (!r)
        return -1;
    const char *exp_id = arena_strdup(x->a, PQgetvalue(r, 0, 0));
    PQclear(r);
    for (size_t i = 0; i < x->n; i++) {
        const struct dataset *d = &x->inputs[i].dataset;
        char uuid[33];
        new_uuid_hex(uuid);
        const char *dv[8] = { uuid, exp_id, d->name, d->digest, d->source_type, d->source, d->schema, d->profile };
        if (!(r = db_exec(c, &ds, 8, dv, err)))
            return -1;
        const char *ds_uuid = arena_strdup(x->a, PQgetvalue(r, 0, 0));
        PQclear(r);
        char in_uuid[33];
        new_uuid_hex(in_uuid);
        const char *iv[3] = { in_uuid, ds_uuid, x->run_id };
        if (!(r = db_exec(c, &input, 3, iv, err)))
            return -1;
        bool fresh = PQntuples(r) > 0;
        PQclear(r);
        for (size_t t = 0; fresh && t < x->inputs[i].n_tags; t++) {
            const char *tv[3] = { in_uuid, x->inputs[i].tags[t].key, x->inputs[i].tags[t].value };
            if (!(r = db_exec(c, &itag, 3, tv, err)))
                return -1;
            PQclear(r);
        }
    }
    for (size_t i = 0; i < x->n_models; i++) {
        const char *mv[4] = { x->run_id, x->models[i].model_id, x->direction, i64s(x->a, x->models[i].step) };
        if (!(r = db_exec(c, &model, 4, mv, err)))
            return -1;
        PQclear(r);
    }
    return 0;
}

int store_log_inputs(struct arena *a, const char *run_id, const struct dataset_input *inputs, size_t n,
                     const struct model_io *models, size_t n_models, struct error *err)
{
    struct inputs_ctx x = { a, run_id, inputs, n, models, n_models, "input" };
    return db_tx(inputs_tx, &x, err);
}

int store_log_outputs(struct arena *a, const char *run_id, const struct model_io *models, size_t n,
                      struct error *err)
{
    struct inputs_ctx x = { a, run_id, NULL, 0, models, n, "output" };
    return db_tx(inputs_tx, &x, err);
}

/* ---- search ---- */

struct search_ctx {
    struct arena *a;
    const struct run_search *s;
    struct run *out;
    size_t n;
};

static int search_tx(struct db_conn *c, void *p, struct error *err)
{
    struct search_ctx *x = p;
    struct strbuf sql;
    struct sql_params params;
    sb_init(&sql, x->a, 1024);
    sql_params_init(&params, x->a);
    /* the page's run rows come with the search itself: no second statement
     * (and no second probe per run) to fetch them by id */
    if (search_runs_sql_cols(x->a, x->s, RUN_COLS, &sql, &params, err))
        return -1;
    PGresult *r = db_exec_sql(c, sql.buf, params.n, params.values, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_info(x->a, r, i, &x->out[i].info);
    x->n = (size_t)rows;
    PQclear(r);
    return load_run_parts(c, x->a, x->out, x->n, false, err);
}

int store_search_runs(struct arena *a, const struct run_search *s, struct run **out, size_t *n, struct error *err)
{
    /* autocommit: under READ COMMITTED a transaction would not give the
     * statements one snapshot either, and BEGIN/COMMIT cost two round trips */
    struct search_ctx x = { a, s, NULL, 0 };
    if (db_read(search_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ---- metric history ---- */

struct history_ctx {
    struct arena *a;
    const char *run_id, *key;
    int64_t offset, limit;
    bool sampled, has_start, has_end;
    int64_t start_step, end_step;
    struct metric *out;
    size_t n;
};

static void read_history(struct history_ctx *x, PGresult *r)
{
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++) {
        struct metric *m = &x->out[i];
        m->key = x->key;
        m->value = db_double(r, i, 0);
        m->value_text = arena_strdup(x->a, PQgetvalue(r, i, 0));
        m->timestamp = db_int64(r, i, 1);
        m->step = db_int64(r, i, 2);
    }
    x->n = (size_t)rows;
}

static int run_exists(struct db_conn *c, const char *run_id, struct error *err)
{
    DB_STMT(q, "SELECT 1 FROM runs WHERE run_uuid = $1");
    const char *v[1] = { run_id };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : run_not_found(err, run_id);
}

static int history_tx(struct db_conn *c, void *p, struct error *err)
{
    struct history_ctx *x = p;
    DB_STMT(q, "SELECT value, timestamp, step FROM metrics WHERE run_uuid = $1 AND key = $2"
               " ORDER BY timestamp, step, value OFFSET $3 LIMIT $4");
    if (run_exists(c, x->run_id, err))
        return -1;
    const char *v[4] = { x->run_id, x->key, i64s(x->a, x->offset), x->limit < 0 ? NULL : i64s(x->a, x->limit) };
    PGresult *r = db_exec(c, &q, 4, v, err);
    if (!r)
        return -1;
    read_history(x, r);
    PQclear(r);
    return 0;
}

#define HISTORY_BATCH 8192

struct each_ctx {
    const char *run_id, *key;
    int64_t offset, limit;
    metric_sink sink;
    void *sink_ctx;
    int sink_rc;
};

/* Keyset batches on the primary key (run_uuid, key, timestamp, step, value):
 * each batch is an index range scan, whatever the length of the history. */
static int each_tx(struct db_conn *c, void *p, struct error *err)
{
    struct each_ctx *x = p;
    DB_STMT(first, "SELECT value, timestamp, step FROM metrics WHERE run_uuid = $1 AND key = $2"
                   " ORDER BY timestamp, step, value OFFSET $3 LIMIT $4");
    DB_STMT(next, "SELECT value, timestamp, step FROM metrics WHERE run_uuid = $1 AND key = $2"
                  " AND (timestamp, step, value) > ($3::bigint, $4::bigint, $5::float8)"
                  " ORDER BY timestamp, step, value LIMIT $6");
    if (run_exists(c, x->run_id, err))
        return -1;
    struct arena *a = db_arena(c);
    int64_t left = x->limit;
    if (left == 0)
        return 0;
    int64_t want = left >= 0 && left < HISTORY_BATCH ? left : HISTORY_BATCH;
    const char *v0[4] = { x->run_id, x->key, i64s(a, x->offset), i64s(a, want) };
    if (db_send(c, &first, 4, v0, err))
        return -1;
    /* issue 19: the next batch is asked for as soon as a batch arrives, so
     * the database reads it while this one is written to the client */
    for (;;) {
        PGresult *r = db_receive(c, err);
        if (!r)
            return -1;
        int rows = PQntuples(r);
        struct metric *m = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *m);
        for (int i = 0; i < rows; i++) {
            m[i].key = x->key;
            m[i].value = db_double(r, i, 0);
            m[i].value_text = arena_strdup(a, PQgetvalue(r, i, 0));
            m[i].timestamp = db_int64(r, i, 1);
            m[i].step = db_int64(r, i, 2);
        }
        PQclear(r);
        if (left >= 0)
            left -= rows;
        bool more = rows == want && left != 0;
        if (more) {
            want = left >= 0 && left < HISTORY_BATCH ? left : HISTORY_BATCH;
            const struct metric *l = &m[rows - 1];
            const char *v[6] = { x->run_id, x->key, i64s(a, l->timestamp), i64s(a, l->step),
                                 double_text(a, l->value), i64s(a, want) };
            if (db_send(c, &next, 6, v, err))
                return -1;
        }
        x->sink_rc = rows ? x->sink(x->sink_ctx, m, (size_t)rows) : 0;
        arena_reset(a);   /* a batch at a time: memory stays flat */
        if (x->sink_rc) {
            if (more)   /* the batch already asked for is read and dropped */
                PQclear(db_receive(c, err));
            break;
        }
        if (!more)
            break;
    }
    return 0;
}

int store_metric_history_each(const char *run_id, const char *key, int64_t offset, int64_t limit,
                              metric_sink sink, void *ctx, struct error *err)
{
    struct each_ctx x = { run_id, key, offset, limit, sink, ctx, 0 };
    if (db_run(each_tx, &x, err))
        return -1;
    return x.sink_rc ? -1 : 0;
}

int store_metric_history(struct arena *a, const char *run_id, const char *key, int64_t offset, int64_t limit,
                         struct metric **out, size_t *n, struct error *err)
{
    struct history_ctx x = { .a = a, .run_id = run_id, .key = key, .offset = offset, .limit = limit };
    if (db_read(history_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* MLflow 3.17's sampling, exactly: rows ordered by (step, timestamp,
 * value) split into max_results buckets as NTILE does, the first row of each
 * kept, plus the global last row, which replaces the last sample when the
 * page is full; max_results 1 gives the last row only. This reads every
 * point of the series. */
static int sampled_exact(struct db_conn *c, struct history_ctx *x, struct error *err)
{
    DB_STMT(q, "WITH pts AS (SELECT value, timestamp, step FROM metrics"
               "   WHERE run_uuid = $1 AND key = $2 AND ($3::bigint IS NULL OR step >= $3)"
               "   AND ($4::bigint IS NULL OR step <= $4)),"
               " b AS (SELECT value, timestamp, step,"
               "   ntile($5::int) OVER (ORDER BY step, timestamp, value) AS bucket FROM pts),"
               " firsts AS (SELECT DISTINCT ON (bucket) value, timestamp, step FROM b"
               "   ORDER BY bucket, step, timestamp, value)"
               " (SELECT value, timestamp, step FROM firsts ORDER BY step, timestamp, value)"
               " UNION ALL (SELECT value, timestamp, step FROM pts"
               "   ORDER BY step DESC, timestamp DESC, value DESC LIMIT 1)");
    const char *v[5] = { x->run_id, x->key, x->has_start ? i64s(x->a, x->start_step) : NULL,
                         x->has_end ? i64s(x->a, x->end_step) : NULL, i64s(x->a, x->limit) };
    PGresult *r = db_exec(c, &q, 5, v, err);
    if (!r)
        return -1;
    read_history(x, r);
    PQclear(r);
    if (x->n == 0)
        return 0;
    struct metric last = x->out[x->n - 1];   /* the final row is the global last point */
    size_t n = x->n - 1;
    if (x->limit == 1) {
        x->out[0] = last;
        x->n = 1;
        return 0;
    }
    struct metric *prev = n ? &x->out[n - 1] : NULL;
    bool same = prev && prev->step == last.step && prev->timestamp == last.timestamp &&
                (prev->value == last.value || (prev->value != prev->value && last.value != last.value));
    if (same)
        x->n = n;
    else if ((int64_t)n >= x->limit) {
        x->out[n - 1] = last;
        x->n = n;
    }
    return 0;
}

/* When the history has one point per step and no gaps (the usual training
 * curve), the NTILE bucket starts are known step numbers: probe just those
 * (O(points returned) on metrics_step_idx). Returns 1 when the shape does
 * not allow it, so the caller falls back to the exact scan. */
static int sampled_probe(struct db_conn *c, struct history_ctx *x, struct error *err)
{
    DB_STMT(shape, "SELECT n_rows, n_steps, min_step, max_step FROM latest_metrics WHERE run_uuid = $1 AND key = $2");
    /* One index-only probe of the covering metrics_step_idx per step; the
     * lateral form (OFFSET 0 keeps it a nested loop) holds under a cached
     * generic plan, which sizes every run like the average one. */
    DB_STMT(probe, "SELECT m.value, m.timestamp, m.step FROM unnest($3::bigint[]) AS p(step)"
                   " CROSS JOIN LATERAL (SELECT value, timestamp, step FROM metrics"
                   "   WHERE run_uuid = $1 AND key = $2 AND step = p.step OFFSET 0) m"
                   " ORDER BY m.step, m.timestamp, m.value");
    const char *v[3] = { x->run_id, x->key, NULL };
    PGresult *r = db_exec(c, &shape, 2, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        x->n = 0;
        return 0;   /* no such metric: no points */
    }
    int64_t rows = db_int64(r, 0, 0), steps = db_int64(r, 0, 1), lo = db_int64(r, 0, 2), hi = db_int64(r, 0, 3);
    PQclear(r);
    if (rows != steps || rows != hi - lo + 1 || rows <= 0)
        return 1;
    if (x->has_start && x->start_step > lo)
        lo = x->start_step;
    if (x->has_end && x->end_step < hi)
        hi = x->end_step;
    if (lo > hi) {
        x->n = 0;
        return 0;
    }
    int64_t n = hi - lo + 1, k = x->limit < n ? x->limit : n, q = n / k, rem = n % k;
    struct strbuf sb;
    sb_init(&sb, x->a, (size_t)k * 12 + 32);
    sb_putc(&sb, '{');
    int64_t wanted = 0;
    if (x->limit == 1) {
        sb_printf(&sb, "%" PRId64, hi);
        wanted = 1;
    } else {
        int64_t last_step = -1;
        for (int64_t b = 0; b < k; b++) {
            int64_t step = lo + b * q + (b < rem ? b : rem);
            if (b == k - 1 && k == x->limit && step != hi)
                step = hi;   /* the global last replaces the last sample of a full page */
            sb_printf(&sb, "%s%" PRId64, b ? "," : "", step);
            last_step = step;
            wanted++;
        }
        if (last_step != hi) {
            sb_printf(&sb, ",%" PRId64, hi);
            wanted++;
        }
    }
    sb_putc(&sb, '}');
    v[2] = sb.buf;
    if (!(r = db_exec(c, &probe, 3, v, err)))
        return -1;
    if (PQntuples(r) != wanted) {   /* the shape counters were off: do it the long way */
        PQclear(r);
        return 1;
    }
    read_history(x, r);
    PQclear(r);
    return 0;
}

static int sampled_tx(struct db_conn *c, void *p, struct error *err)
{
    struct history_ctx *x = p;
    if (run_exists(c, x->run_id, err))
        return -1;
    int rc = sampled_probe(c, x, err);
    return rc == 1 ? sampled_exact(c, x, err) : rc;
}

int store_metric_history_sampled(struct arena *a, const char *run_id, const char *key, bool has_start,
                                 int64_t start_step, bool has_end, int64_t end_step, int64_t max_results,
                                 struct metric **out, size_t *n, struct error *err)
{
    struct history_ctx x = { .a = a, .run_id = run_id, .key = key, .limit = max_results, .has_start = has_start,
                             .start_step = start_step, .has_end = has_end, .end_step = end_step };
    if (db_read(sampled_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}
