/* MLflow 3 traces in PostgreSQL: start/read/search/delete traces, tags,
 * links, OTLP span ingest and assessments. Semantics follow MLflow's SQL
 * store (mlflow/store/tracking/sqlalchemy_store.py): spans may arrive before
 * start_trace, which then completes the row; a trace with spans in the
 * database carries mlflow.trace.spansLocation = TRACKING_STORE. */
#include "db.h"
#include "traces.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define INFO_COLS "trace_id, experiment_id, request_time, execution_duration, state, client_request_id," \
                  " request_preview, response_preview"
#define ASSESSMENT_COLS "assessment_id, trace_id, name, kind, value_json, source_type, source_id, span_id," \
                        " run_id, rationale, metadata_json, overrides, valid, create_time, last_update_time"

static const char *nullable(struct arena *a, const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

static int trace_not_found(struct error *err, const char *trace_id)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Trace with ID '%s' not found.", trace_id);
}

static void read_info(struct arena *a, const PGresult *r, int row, struct trace_info *t)
{
    memset(t, 0, sizeof *t);
    t->trace_id = arena_strdup(a, PQgetvalue(r, row, 0));
    t->experiment_id = db_int64(r, row, 1);
    t->request_time = db_int64(r, row, 2);
    t->has_duration = !PQgetisnull(r, row, 3);
    t->execution_duration = t->has_duration ? db_int64(r, row, 3) : 0;
    t->state = arena_strdup(a, PQgetvalue(r, row, 4));
    t->client_request_id = nullable(a, r, row, 5);
    t->request_preview = nullable(a, r, row, 6);
    t->response_preview = nullable(a, r, row, 7);
}

static void read_assessment(struct arena *a, const PGresult *r, int row, struct assessment *x)
{
    x->assessment_id = arena_strdup(a, PQgetvalue(r, row, 0));
    x->trace_id = arena_strdup(a, PQgetvalue(r, row, 1));
    x->name = arena_strdup(a, PQgetvalue(r, row, 2));
    x->kind = arena_strdup(a, PQgetvalue(r, row, 3));
    x->value_json = arena_strdup(a, PQgetvalue(r, row, 4));
    x->source_type = nullable(a, r, row, 5);
    x->source_id = nullable(a, r, row, 6);
    x->span_id = nullable(a, r, row, 7);
    x->run_id = nullable(a, r, row, 8);
    x->rationale = nullable(a, r, row, 9);
    x->metadata_json = nullable(a, r, row, 10);
    x->overrides = nullable(a, r, row, 11);
    x->valid = PQgetvalue(r, row, 12)[0] == 't';
    x->create_time = db_int64(r, row, 13);
    x->last_update_time = db_int64(r, row, 14);
}

static struct trace_info *find_info(struct trace_info *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].trace_id && !strcmp(v[i].trace_id, id))   /* NULL: already taken (get_tx) */
            return &v[i];
    return NULL;
}

/* Tags, metadata and assessments of infos[0..n), one query each. */
static int load_info_parts(struct db_conn *c, struct arena *a, struct trace_info *infos, size_t n,
                           struct error *err)
{
    DB_STMT(q_tags, "SELECT trace_id, key, value FROM trace_tags WHERE trace_id = ANY($1::text[])"
                    " ORDER BY trace_id, key");
    DB_STMT(q_meta, "SELECT trace_id, key, value FROM trace_metadata WHERE trace_id = ANY($1::text[])"
                    " ORDER BY trace_id, key");
    DB_STMT(q_assess, "SELECT " ASSESSMENT_COLS " FROM assessments WHERE trace_id = ANY($1::text[])"
                      " ORDER BY trace_id, create_time, assessment_id");
    if (!n)
        return 0;
    const char **ids = arena_alloc(a, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = infos[i].trace_id;
    const char *v[1] = { pg_text_array(a, ids, n) };
    struct db_stmt *stmts[3] = { &q_tags, &q_meta, &q_assess };
    for (int part = 0; part < 3; part++) {
        PGresult *r = db_exec(c, stmts[part], 1, v, err);
        if (!r)
            return -1;
        int rows = PQntuples(r);
        int id_col = part == 2 ? 1 : 0;
        for (int j = 0; j < rows; j++) {
            struct trace_info *t = find_info(infos, n, PQgetvalue(r, j, id_col));
            if (part == 0) t->n_tags++;
            else if (part == 1) t->n_metadata++;
            else t->n_assessments++;
        }
        for (size_t i = 0; i < n; i++) {
            struct trace_info *t = &infos[i];
            if (part == 0) { t->tags = arena_alloc(a, (t->n_tags + 1) * sizeof *t->tags); t->n_tags = 0; }
            else if (part == 1) { t->metadata = arena_alloc(a, (t->n_metadata + 1) * sizeof *t->metadata); t->n_metadata = 0; }
            else { t->assessments = arena_alloc(a, (t->n_assessments + 1) * sizeof *t->assessments); t->n_assessments = 0; }
        }
        for (int j = 0; j < rows; j++) {
            struct trace_info *t = find_info(infos, n, PQgetvalue(r, j, id_col));
            if (part == 2) {
                read_assessment(a, r, j, &t->assessments[t->n_assessments++]);
                continue;
            }
            struct kv *kv = part == 0 ? &t->tags[t->n_tags++] : &t->metadata[t->n_metadata++];
            kv->key = arena_strdup(a, PQgetvalue(r, j, 1));
            kv->value = arena_strdup(a, PQgetvalue(r, j, 2));
        }
        PQclear(r);
    }
    return 0;
}

/* The rows of ids (any order), with their parts. */
static int load_infos(struct db_conn *c, struct arena *a, const char *const *ids, size_t n_ids,
                      struct trace_info **out, size_t *n, struct error *err)
{
    DB_STMT(q, "SELECT " INFO_COLS " FROM trace_info WHERE trace_id = ANY($1::text[])");
    *out = NULL;
    *n = 0;
    if (!n_ids)
        return 0;
    const char *v[1] = { pg_text_array(a, ids, n_ids) };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *out = arena_alloc(a, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++)
        read_info(a, r, (int)i, &(*out)[i]);
    PQclear(r);
    return load_info_parts(c, a, *out, *n, err);
}

static int load_one(struct db_conn *c, struct arena *a, const char *trace_id, struct trace_info *out,
                    struct error *err)
{
    struct trace_info *v;
    size_t n;
    if (load_infos(c, a, &trace_id, 1, &v, &n, err))
        return -1;
    if (!n)
        return trace_not_found(err, trace_id);
    *out = v[0];
    return 0;
}

static const char *kv_value(const struct kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv[i].key, key))
            return kv[i].value;
    return NULL;
}

/* Upserts key/value rows; a repeated key keeps its last value. */
static int upsert_kv(struct db_conn *c, struct arena *a, const char *table, const char *trace_id,
                     const struct kv *kv, size_t n, struct error *err)
{
    DB_STMT(ins_tags, "INSERT INTO trace_tags (trace_id, key, value)"
                      " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k"
                      " ON CONFLICT (trace_id, key) DO UPDATE SET value = EXCLUDED.value");
    DB_STMT(ins_meta, "INSERT INTO trace_metadata (trace_id, key, value)"
                      " SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k"
                      " ON CONFLICT (trace_id, key) DO UPDATE SET value = EXCLUDED.value");
    if (!n)
        return 0;
    const char **k = arena_alloc(a, n * sizeof *k), **v = arena_alloc(a, n * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool later = false;
        for (size_t j = i + 1; j < n && !later; j++)
            later = !strcmp(kv[i].key, kv[j].key);
        if (!later) {
            k[m] = kv[i].key;
            v[m++] = kv[i].value ? kv[i].value : "";
        }
    }
    const char *vals[3] = { trace_id, pg_text_array(a, k, m), pg_text_array(a, v, m) };
    PGresult *r = db_exec(c, !strcmp(table, "trace_tags") ? &ins_tags : &ins_meta, 3, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* The experiment's artifact location, checking it exists and is active. */
static int active_experiment(struct db_conn *c, struct arena *a, int64_t experiment_id, const char **location,
                             struct error *err)
{
    DB_STMT(q, "SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = $1 FOR SHARE");
    const char *v[1] = { i64s(a, experiment_id) };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%" PRId64 " exists",
                         experiment_id);
    }
    bool active = !strcmp(PQgetvalue(r, 0, 0), "active");
    *location = arena_strdup(a, PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!active)
        return error_set(err, BAD, "The experiment %" PRId64 " must be in the 'active' state. "
                         "Current state is deleted.", experiment_id);
    return 0;
}

static const char *trace_artifact_location(struct arena *a, const char *exp_location, const char *trace_id)
{
    size_t n = strlen(exp_location);
    while (n && exp_location[n - 1] == '/')
        n--;
    return arena_printf(a, "%.*s/traces/%s/artifacts", (int)n, exp_location, trace_id);
}

/* ---- start_trace ---- */

struct start_ctx {
    struct arena *a;
    const struct trace_info *in;
    struct trace_info *out;
    bool finalize;       /* start_trace v3 marks the top-level fields final; the v2 routes do not */
};

static int start_tx(struct db_conn *c, void *p, struct error *err)
{
    struct start_ctx *x = p;
    const struct trace_info *t = x->in;
    struct arena *a = x->a;
    /* start_trace finalizes the top-level fields; previews already filled
     * from spans are kept when the client sends none */
    DB_STMT(ins, "INSERT INTO trace_info (" INFO_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                 " ON CONFLICT (trace_id) DO UPDATE SET experiment_id = EXCLUDED.experiment_id,"
                 " request_time = EXCLUDED.request_time, execution_duration = EXCLUDED.execution_duration,"
                 " state = EXCLUDED.state, client_request_id = EXCLUDED.client_request_id,"
                 " request_preview = COALESCE(EXCLUDED.request_preview, trace_info.request_preview),"
                 " response_preview = COALESCE(EXCLUDED.response_preview, trace_info.response_preview)");
    const char *location;
    if (active_experiment(c, a, t->experiment_id, &location, err))
        return -1;
    const char *v[8] = { t->trace_id, i64s(a, t->experiment_id), i64s(a, t->request_time),
                         t->has_duration ? i64s(a, t->execution_duration) : NULL, t->state,
                         t->client_request_id, t->request_preview, t->response_preview };
    PGresult *r = db_exec(c, &ins, 8, v, err);
    if (!r)
        return -1;
    PQclear(r);
    struct kv *tags = arena_alloc(a, (t->n_tags + 1) * sizeof *tags);
    if (t->n_tags)   /* no tags: t->tags may be NULL, and memcpy must not see it */
        memcpy(tags, t->tags, t->n_tags * sizeof *tags);
    tags[t->n_tags] = (struct kv){ TRACE_TAG_ARTIFACT_LOCATION, trace_artifact_location(a, location, t->trace_id) };
    struct kv *meta = arena_alloc(a, (t->n_metadata + 1) * sizeof *meta);
    if (t->n_metadata)
        memcpy(meta, t->metadata, t->n_metadata * sizeof *meta);
    meta[t->n_metadata] = (struct kv){ TRACE_META_FINALIZED, "true" };
    if (upsert_kv(c, a, "trace_tags", t->trace_id, tags, t->n_tags + 1, err) ||
        upsert_kv(c, a, "trace_metadata", t->trace_id, meta, t->n_metadata + (x->finalize ? 1 : 0), err))
        return -1;
    for (size_t i = 0; i < t->n_assessments; i++) {
        struct assessment as = t->assessments[i];
        as.trace_id = t->trace_id;
        DB_STMT(ins_a, "INSERT INTO assessments (" ASSESSMENT_COLS ") VALUES"
                       " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                       " ON CONFLICT (assessment_id) DO NOTHING");
        const char *av[15] = { as.assessment_id, as.trace_id, as.name, as.kind, as.value_json, as.source_type,
                               as.source_id, as.span_id, as.run_id, as.rationale, as.metadata_json, as.overrides,
                               as.valid ? "true" : "false", i64s(a, as.create_time),
                               i64s(a, as.last_update_time) };
        if (!as.assessment_id)
            continue;
        PGresult *ra = db_exec(c, &ins_a, 15, av, err);
        if (!ra)
            return -1;
        PQclear(ra);
    }
    return load_one(c, a, t->trace_id, x->out, err);
}

int store_start_trace(struct arena *a, const struct trace_info *in, struct trace_info *out, struct error *err)
{
    struct start_ctx x = { a, in, out, true };
    return db_tx(start_tx, &x, err);
}

int store_put_trace_v2(struct arena *a, const struct trace_info *in, struct trace_info *out, struct error *err)
{
    struct start_ctx x = { a, in, out, false };
    return db_tx(start_tx, &x, err);
}

/* ---- reads ---- */

struct get_ctx {
    struct arena *a;
    const char *const *ids;
    size_t n_ids;
    const int64_t *experiment_ids;
    size_t n_experiments;
    bool with_spans, allow_partial;
    struct trace *out;
    size_t n;
};

static int info_tx(struct db_conn *c, void *p, struct error *err)
{
    struct get_ctx *x = p;
    x->out = arena_alloc(x->a, sizeof *x->out);
    return load_one(c, x->a, x->ids[0], &x->out->info, err);
}

int store_get_trace_info(struct arena *a, const char *trace_id, struct trace_info *out, struct error *err)
{
    struct get_ctx x = { .a = a, .ids = &trace_id, .n_ids = 1 };
    if (db_run(info_tx, &x, err))
        return -1;
    *out = x.out->info;
    return 0;
}

/* MLflow's completeness rule: the spans in the database must number at
 * least the count the client recorded in mlflow.trace.sizeStats. */
static bool complete(const struct trace *t)
{
    const char *stats = kv_value(t->info.metadata, t->info.n_metadata, TRACE_META_SIZE_STATS);
    const char *p = stats ? strstr(stats, "\"num_spans\"") : NULL;
    if (!p)
        return t->n_spans > 0;
    p = strchr(p + 11, ':');
    long long want = p ? strtoll(p + 1, NULL, 10) : 0;
    return (long long)t->n_spans >= want && t->n_spans > 0;
}

/* A trace's spans in MLflow's order: the root first, then by start time. */
static int cmp_span_order(const void *pa, const void *pb)
{
    const struct span_row *a = pa, *b = pb;
    if (!a->parent_span_id != !b->parent_span_id)
        return a->parent_span_id ? 1 : -1;
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    return strcmp(a->span_id, b->span_id);
}

static void clear_result(void *r)
{
    PQclear(r);
}

/* The spans of traces, sorted here rather than by the database. The texts
 * stay in libpq's result, which lives as long as the arena: a trace of
 * 10,000 spans is not copied once more. */
static int load_spans(struct db_conn *c, struct arena *a, struct trace *traces, size_t n, struct error *err)
{
    DB_STMT(q, "SELECT trace_id, span_id, parent_span_id, name, span_type, status, start_time_ns, end_time_ns,"
               " content FROM spans WHERE trace_id = ANY($1::text[])");
    if (!n)
        return 0;
    const char **ids = arena_alloc(a, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = traces[i].info.trace_id;
    const char *v[1] = { pg_text_array(a, ids, n) };
    PGresult *r = db_exec(c, &q, 1, v, err);
    if (!r)
        return -1;
    arena_defer(a, clear_result, r);
    int rows = PQntuples(r);
    struct trace **of = arena_alloc(a, ((size_t)rows + 1) * sizeof *of);
    for (int k = 0; k < rows; k++) {
        const char *tid = PQgetvalue(r, k, 0);
        for (size_t i = 0; i < n && !of[k]; i++)
            if (!strcmp(traces[i].info.trace_id, tid))
                of[k] = &traces[i];
        if (of[k])
            of[k]->n_spans++;
    }
    for (size_t i = 0; i < n; i++) {
        traces[i].spans = arena_alloc(a, (traces[i].n_spans + 1) * sizeof *traces[i].spans);
        traces[i].n_spans = 0;
    }
    for (int k = 0; k < rows; k++) {
        struct trace *t = of[k];
        if (!t)
            continue;
        struct span_row *s = &t->spans[t->n_spans++];
        s->trace_id = t->info.trace_id;
        s->span_id = PQgetvalue(r, k, 1);
        s->parent_span_id = PQgetisnull(r, k, 2) ? NULL : PQgetvalue(r, k, 2);
        s->name = PQgetvalue(r, k, 3);
        s->span_type = PQgetisnull(r, k, 4) ? NULL : PQgetvalue(r, k, 4);
        s->status = PQgetvalue(r, k, 5);
        s->start_ns = db_int64(r, k, 6);
        s->has_end = !PQgetisnull(r, k, 7);
        s->end_ns = s->has_end ? db_int64(r, k, 7) : 0;
        s->content = PQgetvalue(r, k, 8);
        s->content_len = (size_t)PQgetlength(r, k, 8);
    }
    for (size_t i = 0; i < n; i++)
        qsort(traces[i].spans, traces[i].n_spans, sizeof *traces[i].spans, cmp_span_order);
    return 0;
}

static int get_tx(struct db_conn *c, void *p, struct error *err)
{
    struct get_ctx *x = p;
    struct trace_info *infos;
    size_t n;
    if (load_infos(c, x->a, x->ids, x->n_ids, &infos, &n, err))
        return -1;
    x->out = arena_alloc(x->a, (n + 1) * sizeof *x->out);
    x->n = 0;
    /* in the order asked; an id asked twice answers once */
    for (size_t i = 0; i < x->n_ids; i++) {
        struct trace_info *t = find_info(infos, n, x->ids[i]);
        if (!t || !t->trace_id)
            continue;
        bool in_scope = !x->experiment_ids;
        for (size_t e = 0; e < x->n_experiments && !in_scope; e++)
            in_scope = x->experiment_ids[e] == t->experiment_id;
        if (in_scope)
            x->out[x->n++].info = *t;
        t->trace_id = NULL;   /* taken */
    }
    if (!x->with_spans)
        return 0;
    if (load_spans(c, x->a, x->out, x->n, err))
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < x->n; i++) {
        const char *loc = kv_value(x->out[i].info.tags, x->out[i].info.n_tags, TRACE_TAG_SPANS_LOCATION);
        bool in_db = loc && !strcmp(loc, "TRACKING_STORE");
        if (x->allow_partial || (in_db && complete(&x->out[i])))
            x->out[kept++] = x->out[i];
    }
    x->n = kept;
    return 0;
}

int store_get_traces(struct arena *a, const char *const *ids, size_t n_ids, const int64_t *experiment_ids,
                     size_t n_experiments, bool with_spans, bool allow_partial, struct trace **out, size_t *n,
                     struct error *err)
{
    struct get_ctx x = { a, ids, n_ids, experiment_ids, n_experiments, with_spans, allow_partial, NULL, 0 };
    /* REPEATABLE READ: infos and spans from one snapshot */
    if (db_tx(get_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ---- search ---- */

struct q {
    struct arena *a;
    struct strbuf *sql;
    struct sql_params *params;
    struct error *err;
};

static const char *param(struct q *q, const char *v)
{
    return arena_printf(q->a, "$%d", sql_param_add(q->params, q->a, v));
}

static const char *op_sql(enum sf_op op)
{
    static const char *const s[] = { [SF_EQ] = "=", [SF_NE] = "<>", [SF_LT] = "<", [SF_LE] = "<=",
                                     [SF_GT] = ">", [SF_GE] = ">=", [SF_LIKE] = "LIKE", [SF_ILIKE] = "ILIKE",
                                     [SF_RLIKE] = "~" };
    return (size_t)op < sizeof s / sizeof *s && s[op] ? s[op] : "=";
}

/* "<lhs> op value" for a string clause (value, list, or regex for RLIKE) */
static void string_cmp(struct q *q, const char *lhs, const struct sf_clause *c)
{
    if (c->kind == SF_VAL_LIST) {
        sb_printf(q->sql, "%s%s (SELECT unnest(%s::text[]))", lhs, c->op == SF_NOT_IN ? " NOT IN" : " IN",
                  param(q, pg_text_array(q->a, c->list, c->list_len)));
        return;
    }
    if (c->op == SF_IN || c->op == SF_NOT_IN) {   /* a single value in a list */
        sb_printf(q->sql, "%s %s %s", lhs, c->op == SF_IN ? "=" : "<>", param(q, c->str));
        return;
    }
    sb_printf(q->sql, "%s %s %s", lhs, op_sql(c->op), param(q, c->str ? c->str : c->num_text));
}

static void numeric_cmp(struct q *q, const char *lhs, const struct sf_clause *c)
{
    sb_printf(q->sql, "%s %s %s::numeric", lhs, op_sql(c->op), param(q, c->num_text ? c->num_text : c->str));
}

static void kv_clause(struct q *q, const char *table, const char *key, const struct sf_clause *c)
{
    const char *k = param(q, key);
    if (c->op == SF_IS_NULL || c->op == SF_IS_NOT_NULL) {
        sb_printf(q->sql, "%sEXISTS (SELECT 1 FROM %s g WHERE g.trace_id = t.trace_id AND g.key = %s)",
                  c->op == SF_IS_NULL ? "NOT " : "", table, k);
        return;
    }
    sb_printf(q->sql, "EXISTS (SELECT 1 FROM %s g WHERE g.trace_id = t.trace_id AND g.key = %s AND ", table, k);
    /* equality also on the indexed prefix, so (key, left(value, 200)) finds the few matching rows */
    if (c->op == SF_EQ && c->kind == SF_VAL_STRING)
        sb_printf(q->sql, "left(g.value, 200) = left(%s, 200) AND ", param(q, c->str));
    string_cmp(q, "g.value", c);
    sb_putc(q->sql, ')');
}

/* An assessment's value as its JSON text: true, 5, "yes"; MLflow matches a
 * string both as written and JSON-quoted. */
static void assessment_clause(struct q *q, const char *kind, const struct sf_clause *c)
{
    sb_printf(q->sql, "EXISTS (SELECT 1 FROM assessments s WHERE s.trace_id = t.trace_id AND s.valid"
              " AND s.kind = '%s' AND s.name = %s", kind, param(q, c->key));
    const char *val = "((s.value_json::jsonb) -> 'value')::text";
    switch (c->op) {
    case SF_IS_NULL:
        sb_puts(q->sql, " AND (s.value_json::jsonb) -> 'value' IS NULL");
        break;
    case SF_IS_NOT_NULL:
        sb_puts(q->sql, " AND (s.value_json::jsonb) -> 'value' IS NOT NULL");
        break;
    case SF_EQ:
    case SF_NE: {
        const char *v = c->str ? c->str : c->num_text;
        struct strbuf quoted;
        sb_init(&quoted, q->a, strlen(v) + 8);
        sb_putc(&quoted, '"');
        for (const char *p = v; *p; p++) {
            if (*p == '"' || *p == '\\')
                sb_putc(&quoted, '\\');
            sb_putc(&quoted, *p);
        }
        sb_putc(&quoted, '"');
        sb_printf(q->sql, " AND %s(%s IN (%s, %s))", c->op == SF_NE ? "NOT " : "", val, param(q, v),
                  param(q, quoted.buf));
        break;
    }
    case SF_LT: case SF_LE: case SF_GT: case SF_GE:
        sb_printf(q->sql, " AND CASE WHEN jsonb_typeof((s.value_json::jsonb) -> 'value') = 'number'"
                  " THEN (%s)::numeric END %s %s::numeric", val, op_sql(c->op),
                  param(q, c->num_text ? c->num_text : c->str));
        break;
    default:
        sb_puts(q->sql, " AND ");
        string_cmp(q, val, c);
        break;
    }
    sb_putc(q->sql, ')');
}

static void span_clause(struct q *q, const struct sf_clause *c)
{
    sb_puts(q->sql, "EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.trace_id AND ");
    if (!strncmp(c->key, "attributes.", 11)) {
        /* the attribute's value as MLflow stores it: JSON text, a string unquoted for = and LIKE */
        sb_printf(q->sql, "EXISTS (SELECT 1 FROM jsonb_array_elements((s.content::jsonb) -> 'attributes') e"
                  " WHERE e ->> 'key' = %s AND ", param(q, c->key + 11));
        string_cmp(q, "COALESCE(e -> 'value' ->> 'string_value', (e -> 'value' -> "
                      "(SELECT min(k) FROM jsonb_object_keys(e -> 'value') k))::text)", c);
        sb_puts(q->sql, "))");
        return;
    }
    const char *col = !strcmp(c->key, "name") ? "s.name" : !strcmp(c->key, "type") ? "s.span_type"
                    : !strcmp(c->key, "status") ? "s.status" : "s.content";
    string_cmp(q, col, c);
    sb_putc(q->sql, ')');
}

static const char *attr_column(const char *key, bool *numeric)
{
    static const struct { const char *key, *col; bool numeric; } cols[] = {
        { "request_id", "t.trace_id", false }, { "trace_id", "t.trace_id", false },
        { "timestamp_ms", "t.request_time", true }, { "execution_time_ms", "t.execution_duration", true },
        { "end_time_ms", "(t.request_time + t.execution_duration)", true }, { "status", "t.state", false },
        { "client_request_id", "t.client_request_id", false }, { "experiment_id", "t.experiment_id", true },
    };
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        if (!strcmp(cols[i].key, key)) {
            *numeric = cols[i].numeric;
            return cols[i].col;
        }
    return NULL;
}

static int clause_sql(struct q *q, const struct sf_clause *c)
{
    sb_puts(q->sql, " AND ");
    switch (c->entity) {
    case SF_TAG:
        kv_clause(q, "trace_tags", c->key, c);
        return 0;
    case SF_TRACE_METADATA:
        if (!strcmp(c->key, TRACE_META_SOURCE_RUN) && (c->op == SF_EQ || c->op == SF_IN)) {
            /* run_id: the run the trace was logged in, or one it was linked to */
            sb_putc(q->sql, '(');
            kv_clause(q, "trace_metadata", c->key, c);
            sb_puts(q->sql, " OR EXISTS (SELECT 1 FROM trace_links l WHERE l.trace_id = t.trace_id"
                            " AND l.kind = 'run' AND ");
            string_cmp(q, "l.target", c);
            sb_puts(q->sql, "))");
            return 0;
        }
        kv_clause(q, "trace_metadata", c->key, c);
        return 0;
    case SF_SPAN:
        span_clause(q, c);
        return 0;
    case SF_FEEDBACK:
        assessment_clause(q, "feedback", c);
        return 0;
    case SF_EXPECTATION:
        assessment_clause(q, "expectation", c);
        return 0;
    case SF_ATTR: {
        bool numeric;
        const char *col = attr_column(c->key, &numeric);
        if (!col)
            return error_set(q->err, BAD, "Invalid attribute key '%s' specified.", c->key);
        if (numeric)
            numeric_cmp(q, col, c);
        else
            string_cmp(q, col, c);
        return 0;
    }
    default:
        return error_set(q->err, BAD, "Invalid search expression type");
    }
}

static int order_sql(struct q *q, const struct sf_order *o)
{
    const char *value;
    bool numeric;
    if (o->entity == SF_ATTR) {
        value = attr_column(o->key, &numeric);
        if (!value)
            return error_set(q->err, BAD, "Invalid order_by attribute '%s'", o->key);
    } else {
        value = arena_printf(q->a, "(SELECT g.value FROM %s g WHERE g.trace_id = t.trace_id AND g.key = %s)",
                             o->entity == SF_TAG ? "trace_tags" : "trace_metadata", param(q, o->key));
    }
    /* MLflow sorts missing values last whatever the direction */
    sb_printf(q->sql, "(%s) IS NULL, %s %s, ", value, value, o->ascending ? "ASC" : "DESC");
    return 0;
}

struct search_ctx {
    struct arena *a;
    const struct trace_search *s;
    struct trace_info *out;
    size_t n;
};

static int search_tx(struct db_conn *c, void *p, struct error *err)
{
    struct search_ctx *x = p;
    struct arena *a = x->a;
    struct strbuf sql;
    struct sql_params params;
    sb_init(&sql, a, 512);
    sql_params_init(&params, a);
    struct q q = { a, &sql, &params, err };
    const char **exp = arena_alloc(a, (x->s->n_experiments + 1) * sizeof *exp);
    for (size_t i = 0; i < x->s->n_experiments; i++)
        exp[i] = i64s(a, x->s->experiment_ids[i]);
    /* In the default order, a tag equality drives the search: the tag rows
     * carry their trace's experiment and time (sql/007), so one index range
     * yields the matching traces newest first and the page stops after
     * offset + limit rows instead of sorting every match. */
    const struct sf_clause *drive = NULL;
    for (size_t i = 0; i < x->s->filter.n && !x->s->order.n && !drive; i++) {
        const struct sf_clause *c = &x->s->filter.clauses[i];
        if (c->entity == SF_TAG && c->op == SF_EQ && c->kind == SF_VAL_STRING && c->str)
            drive = c;
    }
    const char *exp_array = param(&q, pg_text_array(a, exp, x->s->n_experiments));
    const char *t_order = "t.request_time DESC, t.trace_id ASC";
    if (drive) {
        const char *v = param(&q, drive->str);
        sb_printf(&sql, "SELECT t.trace_id FROM trace_tags g0 JOIN trace_info t ON t.trace_id = g0.trace_id"
                  " WHERE g0.key = %s AND left(g0.value, 200) = left(%s, 200)", param(&q, drive->key), v);
        /* a value under 200 characters equals its own prefix; leaving the
         * redundant test out keeps the planner's row estimate right */
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)drive->str; *p; p++)
            chars += (*p & 0xC0) != 0x80;
        if (chars >= 200)
            sb_printf(&sql, " AND g0.value = %s", v);
        /* one experiment as a scalar, so the index range comes out in order */
        if (x->s->n_experiments == 1)
            sb_printf(&sql, " AND g0.experiment_id = %s::bigint", param(&q, exp[0]));
        else
            sb_printf(&sql, " AND g0.experiment_id = ANY(%s::bigint[])", exp_array);
        sb_printf(&sql, " AND t.experiment_id = ANY(%s::bigint[])", exp_array);
        t_order = "g0.request_time DESC, g0.trace_id ASC";
    } else {
        sb_printf(&sql, "SELECT t.trace_id FROM trace_info t WHERE t.experiment_id = ANY(%s::bigint[])", exp_array);
    }
    for (size_t i = 0; i < x->s->filter.n; i++)
        if (&x->s->filter.clauses[i] != drive && clause_sql(&q, &x->s->filter.clauses[i]))
            return -1;
    sb_puts(&sql, " ORDER BY ");
    for (size_t i = 0; i < x->s->order.n; i++)
        if (order_sql(&q, &x->s->order.items[i]))
            return -1;
    sb_printf(&sql, "%s OFFSET %" PRId64 " LIMIT %" PRId64, t_order, x->s->offset, x->s->limit);
    PGresult *r = db_exec_sql(c, sql.buf, params.n, params.values, err);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    const char **ids = arena_alloc(a, (n + 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = arena_strdup(a, PQgetvalue(r, (int)i, 0));
    PQclear(r);
    struct trace_info *infos;
    size_t got;
    if (load_infos(c, a, ids, n, &infos, &got, err))
        return -1;
    x->out = arena_alloc(a, (n + 1) * sizeof *x->out);
    x->n = 0;
    for (size_t i = 0; i < n; i++) {
        struct trace_info *t = find_info(infos, got, ids[i]);
        if (t)
            x->out[x->n++] = *t;
    }
    return 0;
}

int store_search_traces(struct arena *a, const struct trace_search *s, struct trace_info **out, size_t *n,
                        struct error *err)
{
    struct search_ctx x = { a, s, NULL, 0 };
    if (!s->n_experiments) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    if (db_tx(search_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ---- delete, tags, links ---- */

struct delete_ctx {
    struct arena *a;
    int64_t experiment_id;
    const char *const *ids;
    size_t n_ids;
    bool has_max_ts, has_max_traces;
    int64_t max_ts, max_traces;
    int64_t deleted;
};

static int delete_tx(struct db_conn *c, void *p, struct error *err)
{
    struct delete_ctx *x = p;
    DB_STMT(by_ids, "DELETE FROM trace_info WHERE experiment_id = $1 AND trace_id = ANY($2::text[])");
    DB_STMT(by_time, "DELETE FROM trace_info WHERE trace_id IN (SELECT trace_id FROM trace_info"
                     " WHERE experiment_id = $1 AND request_time <= $2 ORDER BY request_time, trace_id"
                     " LIMIT $3)");
    PGresult *r;
    if (x->n_ids) {
        const char *v[2] = { i64s(x->a, x->experiment_id), pg_text_array(x->a, x->ids, x->n_ids) };
        r = db_exec(c, &by_ids, 2, v, err);
    } else {
        const char *v[3] = { i64s(x->a, x->experiment_id), i64s(x->a, x->max_ts),
                             x->has_max_traces ? i64s(x->a, x->max_traces) : NULL };
        r = db_exec(c, &by_time, 3, v, err);
    }
    if (!r)
        return -1;
    x->deleted = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int store_delete_traces(struct arena *a, int64_t experiment_id, const char *const *ids, size_t n_ids,
                        bool has_max_timestamp, int64_t max_timestamp, bool has_max_traces, int64_t max_traces,
                        int64_t *deleted, struct error *err)
{
    struct delete_ctx x = { a, experiment_id, ids, n_ids, has_max_timestamp, has_max_traces, max_timestamp,
                            max_traces, 0 };
    if (db_tx(delete_tx, &x, err))
        return -1;
    *deleted = x.deleted;
    return 0;
}

struct tag_ctx {
    struct arena *a;
    const char *trace_id, *key, *value;
};

static int exists_for_update(struct db_conn *c, struct arena *a, const char *trace_id, struct error *err)
{
    DB_STMT(q, "SELECT 1 FROM trace_info WHERE trace_id = $1 FOR UPDATE");
    const char *v[1] = { trace_id };
    PGresult *r = db_exec(c, &q, 1, v, err);
    (void)a;
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : trace_not_found(err, trace_id);
}

static int set_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct tag_ctx *x = p;
    struct kv kv = { x->key, x->value };
    if (exists_for_update(c, x->a, x->trace_id, err))
        return -1;
    return upsert_kv(c, x->a, "trace_tags", x->trace_id, &kv, 1, err);
}

int store_set_trace_tag(struct arena *a, const char *trace_id, const char *key, const char *value,
                        struct error *err)
{
    struct tag_ctx x = { a, trace_id, key, value };
    return db_tx(set_tag_tx, &x, err);
}

static int delete_tag_tx(struct db_conn *c, void *p, struct error *err)
{
    struct tag_ctx *x = p;
    DB_STMT(del, "DELETE FROM trace_tags WHERE trace_id = $1 AND key = $2");
    if (exists_for_update(c, x->a, x->trace_id, err))
        return -1;
    const char *v[2] = { x->trace_id, x->key };
    PGresult *r = db_exec(c, &del, 2, v, err);
    if (!r)
        return -1;
    bool gone = !strcmp(PQcmdTuples(r), "0");
    PQclear(r);
    if (gone)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No trace tag with key '%s' for trace with ID '%s'",
                         x->key, x->trace_id);
    return 0;
}

int store_delete_trace_tag(struct arena *a, const char *trace_id, const char *key, struct error *err)
{
    struct tag_ctx x = { a, trace_id, key, NULL };
    return db_tx(delete_tag_tx, &x, err);
}

struct link_ctx {
    struct arena *a;
    const char *const *ids;
    size_t n;
    const char *run_id;
    const char *const *names, *const *versions;
};

static int link_run_tx(struct db_conn *c, void *p, struct error *err)
{
    struct link_ctx *x = p;
    DB_STMT(run, "SELECT 1 FROM runs WHERE run_uuid = $1");
    DB_STMT(known, "SELECT trace_id FROM trace_info WHERE trace_id = ANY($1::text[])");
    DB_STMT(ins, "INSERT INTO trace_links (trace_id, kind, target) SELECT DISTINCT id, 'run', $2"
                 " FROM unnest($1::text[]) AS u(id) ON CONFLICT DO NOTHING");
    const char *rv[1] = { x->run_id };
    PGresult *r = db_exec(c, &run, 1, rv, err);
    if (!r)
        return -1;
    int found = PQntuples(r);
    PQclear(r);
    if (!found)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", x->run_id);
    const char *ids = pg_text_array(x->a, x->ids, x->n);
    const char *kv_[1] = { ids };
    r = db_exec(c, &known, 1, kv_, err);
    if (!r)
        return -1;
    for (size_t i = 0; i < x->n; i++) {
        bool ok = false;
        for (int j = 0; j < PQntuples(r) && !ok; j++)
            ok = !strcmp(PQgetvalue(r, j, 0), x->ids[i]);
        if (!ok) {
            error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Trace with ID '%s' not found.", x->ids[i]);
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    const char *v[2] = { ids, x->run_id };
    r = db_exec(c, &ins, 2, v, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_link_traces_to_run(struct arena *a, const char *const *ids, size_t n, const char *run_id,
                             struct error *err)
{
    struct link_ctx x = { .a = a, .ids = ids, .n = n, .run_id = run_id };
    return db_tx(link_run_tx, &x, err);
}

static int link_prompts_tx(struct db_conn *c, void *p, struct error *err)
{
    struct link_ctx *x = p;
    DB_STMT(ins, "INSERT INTO trace_links (trace_id, kind, target) VALUES ($1, 'prompt', $2)"
                 " ON CONFLICT DO NOTHING");
    const char *tid = x->ids[0];
    if (exists_for_update(c, x->a, tid, err))
        return -1;
    for (size_t i = 0; i < x->n; i++) {
        const char *v[2] = { tid, arena_printf(x->a, "%s/%s", x->names[i], x->versions[i]) };
        PGresult *r = db_exec(c, &ins, 2, v, err);
        if (!r)
            return -1;
        PQclear(r);
    }
    /* as MLflow: an association only; the mlflow.linkedPrompts tag is the client's */
    return 0;
}

int store_link_prompts_to_trace(struct arena *a, const char *trace_id, const char *const *names,
                                const char *const *versions, size_t n, struct error *err)
{
    struct link_ctx x = { .a = a, .ids = &trace_id, .n = n, .names = names, .versions = versions };
    return db_tx(link_prompts_tx, &x, err);
}

/* ---- OTLP span ingest ---- */

struct spans_ctx {
    struct arena *a;
    int64_t experiment_id;
    const struct span_in *spans;
    size_t n;
};

static int cmp_span(const void *pa, const void *pb)
{
    const struct span_in *const *a = pa, *const *b = pb;
    int c = strcmp((*a)->row.trace_id, (*b)->row.trace_id);
    if (!c)
        c = strcmp((*a)->row.span_id, (*b)->row.span_id);
    /* equal keys: the later one in the request sorts last and wins */
    return c ? c : (*a < *b ? -1 : (*a > *b));
}

/* The trace row from one trace's spans [first, end): inserted, or its
 * aggregates widened (unless start_trace has finalized it), in one
 * statement. *created: the row is new in this transaction, so no span of
 * this trace is stored yet. */
static int update_trace_from_spans(struct db_conn *c, struct arena *a, int64_t experiment_id,
                                   const char *location, const struct span_in *const *v, size_t n,
                                   bool *created, struct error *err)
{
#define FINALIZED "EXISTS (SELECT 1 FROM trace_metadata m WHERE m.trace_id = $1" \
                  " AND m.key = 'mlflow.trace.infoFinalized')"
    DB_STMT(upsert, "INSERT INTO trace_info AS t (trace_id, experiment_id, request_time, execution_duration, state,"
                    " request_preview, response_preview)"
                    " VALUES ($1, $2, $3, $4::bigint - $3, COALESCE($5, 'IN_PROGRESS'), $6, $7)"
                    " ON CONFLICT (trace_id) DO UPDATE SET"
                    " request_time = CASE WHEN " FINALIZED " THEN t.request_time"
                    "   ELSE LEAST(t.request_time, $3) END,"
                    " execution_duration = CASE WHEN $4::bigint IS NULL OR " FINALIZED " THEN t.execution_duration"
                    "   ELSE GREATEST(t.request_time + COALESCE(t.execution_duration, 0), $4)"
                    "     - LEAST(t.request_time, $3) END,"
                    " state = CASE WHEN t.state IN ('IN_PROGRESS', 'STATE_UNSPECIFIED') AND $5::text IS NOT NULL"
                    "   THEN $5 ELSE t.state END,"
                    " request_preview = COALESCE(t.request_preview, $6),"
                    " response_preview = COALESCE(t.response_preview, $7)"
                    " RETURNING (t.xmax = 0)");
#undef FINALIZED
    const char *tid = v[0]->row.trace_id;
    int64_t min_start = INT64_MAX, max_end = INT64_MIN;
    const struct span_in *root = NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->row.start_ns < min_start)
            min_start = v[i]->row.start_ns;
        if (v[i]->row.has_end && v[i]->row.end_ns > max_end)
            max_end = v[i]->row.end_ns;
        if (!v[i]->row.parent_span_id)
            root = v[i];
    }
    int64_t start_ms = min_start / 1000000, end_ms = max_end / 1000000;
    const char *state = root ? (!strcmp(root->row.status, "ERROR") ? "ERROR" : "OK") : NULL;
    bool has_end = max_end != INT64_MIN;
    const char *uv[7] = { tid, i64s(a, experiment_id), i64s(a, start_ms), has_end ? i64s(a, end_ms) : NULL, state,
                          root ? root->inputs_json : NULL, root ? root->outputs_json : NULL };
    PGresult *r = db_exec(c, &upsert, 7, uv, err);
    if (!r)
        return -1;
    *created = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    size_t n_tags = 2 + (root ? root->n_trace_tags : 0), k = 0;
    struct kv *tags = arena_alloc(a, n_tags * sizeof *tags);
    if (*created)
        tags[k++] = (struct kv){ TRACE_TAG_ARTIFACT_LOCATION, trace_artifact_location(a, location, tid) };
    tags[k++] = (struct kv){ TRACE_TAG_SPANS_LOCATION, "TRACKING_STORE" };
    for (size_t i = 0; root && i < root->n_trace_tags; i++)
        tags[k++] = root->trace_tags[i];
    return upsert_kv(c, a, "trace_tags", tid, tags, k, err);
}

#define SPAN_COLS "trace_id, span_id, parent_span_id, name, span_type, status, start_time_ns, end_time_ns, content"

/* Spans of traces that already had some: an upsert (a span sent again replaces its copy). */
static int upsert_spans(struct db_conn *c, struct arena *a, const struct span_in *const *v, size_t m,
                        struct error *err)
{
    DB_STMT(ins, "INSERT INTO spans (" SPAN_COLS ")"
                 " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
                 " $7::bigint[], $8::bigint[], $9::text[])"
                 " ON CONFLICT (trace_id, span_id) DO UPDATE SET parent_span_id = EXCLUDED.parent_span_id,"
                 " name = EXCLUDED.name, span_type = EXCLUDED.span_type, status = EXCLUDED.status,"
                 " start_time_ns = EXCLUDED.start_time_ns, end_time_ns = EXCLUDED.end_time_ns,"
                 " content = EXCLUDED.content");
    const char **cols[9];
    for (int k = 0; k < 9; k++)
        cols[k] = arena_alloc(a, (m + 1) * sizeof *cols[k]);
    for (size_t i = 0; i < m; i++) {
        const struct span_row *s = &v[i]->row;
        cols[0][i] = s->trace_id;
        cols[1][i] = s->span_id;
        cols[2][i] = s->parent_span_id;
        cols[3][i] = s->name;
        cols[4][i] = s->span_type;
        cols[5][i] = s->status;
        cols[6][i] = i64s(a, s->start_ns);
        cols[7][i] = s->has_end ? i64s(a, s->end_ns) : NULL;
        cols[8][i] = s->content;
    }
    const char *vals[9];
    for (int k = 0; k < 9; k++)
        vals[k] = pg_text_array(a, cols[k], m);
    PGresult *r = db_exec(c, &ins, 9, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* Spans of traces created in this transaction: no stored span can
 * conflict, so they go in with COPY, PostgreSQL's fastest way in. */
static int copy_spans(struct db_conn *c, struct arena *a, const struct span_in *const *v, size_t m,
                      struct error *err)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m; i++)
        bytes += strlen(v[i]->row.content) + strlen(v[i]->row.name) + 128;
    struct strbuf sb;
    sb_init(&sb, a, bytes + 1);
    char num[2][24];
    for (size_t i = 0; i < m; i++) {
        const struct span_row *s = &v[i]->row;
        snprintf(num[0], sizeof num[0], "%" PRId64, s->start_ns);
        snprintf(num[1], sizeof num[1], "%" PRId64, s->end_ns);
        db_copy_field(&sb, s->trace_id, false);
        db_copy_field(&sb, s->span_id, false);
        db_copy_field(&sb, s->parent_span_id, false);
        db_copy_field(&sb, s->name, false);
        db_copy_field(&sb, s->span_type, false);
        db_copy_field(&sb, s->status, false);
        db_copy_field(&sb, num[0], false);
        db_copy_field(&sb, s->has_end ? num[1] : NULL, false);
        db_copy_field(&sb, s->content, true);
    }
    return db_copy_in(c, "COPY spans (" SPAN_COLS ") FROM STDIN", sb.buf, sb.len, err);
}

static int spans_tx(struct db_conn *c, void *p, struct error *err)
{
    struct spans_ctx *x = p;
    struct arena *a = x->a;
    const char *location;
    if (active_experiment(c, a, x->experiment_id, &location, err))
        return -1;
    /* sorted by (trace, span): traces are locked in one order (no
     * deadlocks between concurrent exporters) and a span sent twice in one
     * request keeps its last copy */
    const struct span_in **v = arena_alloc(a, x->n * sizeof *v);
    for (size_t i = 0; i < x->n; i++)
        v[i] = &x->spans[i];
    qsort(v, x->n, sizeof *v, cmp_span);
    size_t m = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (i + 1 < x->n && !strcmp(v[i]->row.trace_id, v[i + 1]->row.trace_id) &&
            !strcmp(v[i]->row.span_id, v[i + 1]->row.span_id))
            continue;
        v[m++] = v[i];
    }
    /* new traces' spans to copy, the others' to upsert (both in trace order) */
    const struct span_in **fresh = arena_alloc(a, (m + 1) * sizeof *fresh);
    const struct span_in **old = arena_alloc(a, (m + 1) * sizeof *old);
    size_t n_fresh = 0, n_old = 0;
    for (size_t i = 0; i < m;) {
        size_t end = i;
        while (end < m && !strcmp(v[end]->row.trace_id, v[i]->row.trace_id))
            end++;
        bool created;
        if (update_trace_from_spans(c, a, x->experiment_id, location, v + i, end - i, &created, err))
            return -1;
        for (size_t k = i; k < end; k++) {
            if (created)
                fresh[n_fresh++] = v[k];
            else
                old[n_old++] = v[k];
        }
        i = end;
    }
    if (n_fresh && copy_spans(c, a, fresh, n_fresh, err))
        return -1;
    if (n_old && upsert_spans(c, a, old, n_old, err))
        return -1;
    return 0;
}

int store_log_spans(struct arena *a, int64_t experiment_id, const struct span_in *spans, size_t n,
                    struct error *err)
{
    struct spans_ctx x = { a, experiment_id, spans, n };
    if (!n)
        return 0;
    return db_tx(spans_tx, &x, err);
}

/* ---- assessments ---- */

static const char *new_assessment_id(struct arena *a)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    char *out = arena_alloc(a, 35);
    out[0] = 'a';
    out[1] = '-';
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 + 2 * i, "%02x", b[i]);
    return out;
}

struct assess_ctx {
    struct arena *a;
    const struct assessment *in;
    const char *trace_id, *assessment_id;
    const struct assessment_update *u;
    struct assessment *out;
};

static int read_assessment_row(struct db_conn *c, struct arena *a, const char *trace_id, const char *id,
                               bool lock, struct assessment *out, struct error *err)
{
    DB_STMT(q, "SELECT " ASSESSMENT_COLS " FROM assessments WHERE assessment_id = $1 AND trace_id = $2");
    DB_STMT(ql, "SELECT " ASSESSMENT_COLS " FROM assessments WHERE assessment_id = $1 AND trace_id = $2"
                " FOR UPDATE");
    const char *v[2] = { id, trace_id };
    PGresult *r = db_exec(c, lock ? &ql : &q, 2, v, err);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST,
                         "Assessment with ID '%s' not found for trace '%s'", id, trace_id);
    }
    read_assessment(a, r, 0, out);
    PQclear(r);
    return 0;
}

static int insert_assessment(struct db_conn *c, struct arena *a, const struct assessment *as, struct error *err)
{
    DB_STMT(ins, "INSERT INTO assessments (" ASSESSMENT_COLS ") VALUES"
                 " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");
    const char *v[15] = { as->assessment_id, as->trace_id, as->name, as->kind, as->value_json, as->source_type,
                          as->source_id, as->span_id, as->run_id, as->rationale, as->metadata_json, as->overrides,
                          as->valid ? "true" : "false", i64s(a, as->create_time), i64s(a, as->last_update_time) };
    PGresult *r = db_exec(c, &ins, 15, v, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int create_assessment_tx(struct db_conn *c, void *p, struct error *err)
{
    struct assess_ctx *x = p;
    DB_STMT(invalidate, "UPDATE assessments SET valid = false WHERE assessment_id = $1 AND trace_id = $2");
    struct assessment as = *x->in;
    if (exists_for_update(c, x->a, as.trace_id, err))
        return -1;
    as.assessment_id = new_assessment_id(x->a);
    if (as.overrides) {
        /* the overridden assessment must exist on this trace; it stops being valid */
        struct assessment old;
        if (read_assessment_row(c, x->a, as.trace_id, as.overrides, true, &old, err))
            return -1;
        const char *v[2] = { as.overrides, as.trace_id };
        PGresult *r = db_exec(c, &invalidate, 2, v, err);
        if (!r)
            return -1;
        PQclear(r);
    }
    if (insert_assessment(c, x->a, &as, err))
        return -1;
    return read_assessment_row(c, x->a, as.trace_id, as.assessment_id, false, x->out, err);
}

int store_create_assessment(struct arena *a, const struct assessment *in, struct assessment *out,
                            struct error *err)
{
    struct assess_ctx x = { .a = a, .in = in, .out = out };
    return db_tx(create_assessment_tx, &x, err);
}

static int get_assessment_tx(struct db_conn *c, void *p, struct error *err)
{
    struct assess_ctx *x = p;
    DB_STMT(t, "SELECT 1 FROM trace_info WHERE trace_id = $1");
    const char *v[1] = { x->trace_id };
    PGresult *r = db_exec(c, &t, 1, v, err);
    if (!r)
        return -1;
    int found = PQntuples(r);
    PQclear(r);
    if (!found)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Trace with request_id '%s' not found", x->trace_id);
    return read_assessment_row(c, x->a, x->trace_id, x->assessment_id, false, x->out, err);
}

int store_get_assessment(struct arena *a, const char *trace_id, const char *assessment_id, struct assessment *out,
                         struct error *err)
{
    struct assess_ctx x = { .a = a, .trace_id = trace_id, .assessment_id = assessment_id, .out = out };
    return db_run(get_assessment_tx, &x, err);
}

static int update_assessment_tx(struct db_conn *c, void *p, struct error *err)
{
    struct assess_ctx *x = p;
    const struct assessment_update *u = x->u;
    DB_STMT(upd, "UPDATE assessments SET name = $3, kind = $4, value_json = $5, rationale = $6,"
                 " metadata_json = CASE WHEN $7::text IS NULL THEN metadata_json"
                 "   ELSE (COALESCE(metadata_json::jsonb, '{}'::jsonb) || $7::jsonb)::text END,"
                 " valid = $8, last_update_time = $9"
                 " WHERE assessment_id = $1 AND trace_id = $2");
    if (exists_for_update(c, x->a, x->trace_id, err))
        return -1;
    struct assessment cur;
    if (read_assessment_row(c, x->a, x->trace_id, x->assessment_id, true, &cur, err))
        return -1;
    if (u->kind && strcmp(u->kind, cur.kind))
        return error_set(err, BAD, !strcmp(u->kind, "expectation")
                         ? "Cannot update expectation value on a Feedback assessment."
                         : "Cannot update feedback value on an Expectation assessment.");
    const char *v[9] = { x->assessment_id, x->trace_id, u->name ? u->name : cur.name, cur.kind,
                         u->value_json ? u->value_json : cur.value_json, u->rationale ? u->rationale : cur.rationale,
                         u->metadata_json,
                         (u->set_valid ? u->valid : cur.valid) ? "true" : "false", i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &upd, 9, v, err);
    if (!r)
        return -1;
    PQclear(r);
    return read_assessment_row(c, x->a, x->trace_id, x->assessment_id, false, x->out, err);
}

int store_update_assessment(struct arena *a, const char *trace_id, const char *assessment_id,
                            const struct assessment_update *u, struct assessment *out, struct error *err)
{
    struct assess_ctx x = { .a = a, .trace_id = trace_id, .assessment_id = assessment_id, .u = u, .out = out };
    return db_tx(update_assessment_tx, &x, err);
}

static int delete_assessment_tx(struct db_conn *c, void *p, struct error *err)
{
    struct assess_ctx *x = p;
    /* deleting an override makes the assessment it replaced valid again */
    DB_STMT(del, "DELETE FROM assessments WHERE assessment_id = $1 AND trace_id = $2 RETURNING overrides");
    DB_STMT(restore, "UPDATE assessments SET valid = true WHERE assessment_id = $1 AND trace_id = $2");
    if (exists_for_update(c, x->a, x->trace_id, err))
        return -1;
    const char *v[2] = { x->assessment_id, x->trace_id };
    PGresult *r = db_exec(c, &del, 2, v, err);
    if (!r)
        return -1;
    const char *overrides = PQntuples(r) ? nullable(x->a, r, 0, 0) : NULL;
    PQclear(r);
    if (overrides) {
        const char *rv[2] = { overrides, x->trace_id };
        r = db_exec(c, &restore, 2, rv, err);
        if (!r)
            return -1;
        PQclear(r);
    }
    return 0;   /* MLflow: deleting an unknown assessment is not an error */
}

int store_delete_assessment(struct arena *a, const char *trace_id, const char *assessment_id, struct error *err)
{
    struct assess_ctx x = { .a = a, .trace_id = trace_id, .assessment_id = assessment_id };
    return db_tx(delete_assessment_tx, &x, err);
}

/* ---- analytics ---- */

struct metric_def {
    enum trace_metric_view view;
    const char *name;
    const char *value;     /* SQL over t (trace_info), s (spans) or a (assessments); NULL: COUNT(*) only */
    bool distinct_count;
};

#define TOKENS(k) "((SELECT m.value FROM trace_metadata m WHERE m.trace_id = t.trace_id" \
                  " AND m.key = 'mlflow.trace.tokenUsage')::jsonb ->> '" k "')::numeric"
/* MLflow's assessment_aggregate: a finite number as itself, true/false and the
 * strings "yes"/"no" (trimmed, any case) as 1/0, anything else no value */
#define ASSESSMENT_VALUE "CASE jsonb_typeof((a.value_json::jsonb) -> 'value')" \
    " WHEN 'number' THEN ((a.value_json::jsonb) ->> 'value')::numeric" \
    " WHEN 'boolean' THEN CASE WHEN ((a.value_json::jsonb) ->> 'value') = 'true' THEN 1 ELSE 0 END" \
    " WHEN 'string' THEN CASE lower(btrim((a.value_json::jsonb) ->> 'value', E' \\t\\n\\r\\f\\v'))" \
    " WHEN 'yes' THEN 1 WHEN 'no' THEN 0 END END"
static const struct metric_def metric_defs[] = {
    { TMV_TRACES, "trace_count", NULL, false },
    { TMV_TRACES, "session_count", "(SELECT m.value FROM trace_metadata m WHERE m.trace_id = t.trace_id"
                                   " AND m.key = 'mlflow.trace.session')", true },
    { TMV_TRACES, "latency", "t.execution_duration", false },
    { TMV_TRACES, "input_tokens", TOKENS("input_tokens"), false },
    { TMV_TRACES, "output_tokens", TOKENS("output_tokens"), false },
    { TMV_TRACES, "total_tokens", TOKENS("total_tokens"), false },
    { TMV_TRACES, "cache_read_input_tokens", TOKENS("cache_read_input_tokens"), false },
    { TMV_TRACES, "cache_creation_input_tokens", TOKENS("cache_creation_input_tokens"), false },
    { TMV_SPANS, "span_count", NULL, false },
    { TMV_SPANS, "latency", "floor((s.end_time_ns - s.start_time_ns) / 1000000.0)", false },   /* whole ms, as // */
    /* span costs are not computed on ingest (DIFFERENCES.md): no points */
    { TMV_SPANS, "input_cost", "NULL::numeric", false },
    { TMV_SPANS, "output_cost", "NULL::numeric", false },
    { TMV_SPANS, "total_cost", "NULL::numeric", false },
    { TMV_ASSESSMENTS, "assessment_count", NULL, false },
    { TMV_ASSESSMENTS, "assessment_value", ASSESSMENT_VALUE, false },
};

static const struct { enum trace_metric_view view; const char *name, *sql; } metric_dims[] = {
    { TMV_TRACES, "trace_name", "(SELECT g.value FROM trace_tags g WHERE g.trace_id = t.trace_id"
                                " AND g.key = 'mlflow.traceName')" },
    { TMV_TRACES, "trace_status", "t.state" },
    { TMV_SPANS, "span_name", "s.name" },
    { TMV_SPANS, "span_type", "s.span_type" },
    { TMV_SPANS, "span_status", "s.status" },
    { TMV_SPANS, "span_model_name", "NULL::text" },
    { TMV_SPANS, "span_model_provider", "NULL::text" },
    { TMV_ASSESSMENTS, "assessment_name", "a.name" },
    /* see trace_metric_point: 'v' + the value's JSON (null for a feedback that has only an error),
     * or 's' + an expectation's serialized_value text */
    { TMV_ASSESSMENTS, "assessment_value",
      "CASE WHEN (a.value_json::jsonb) ? 'serialized_value'"
      " THEN 's' || ((a.value_json::jsonb) -> 'serialized_value' ->> 'value')"
      " ELSE 'v' || COALESCE((a.value_json::jsonb) -> 'value', 'null'::jsonb)::text END" },
};

struct metrics_ctx {
    struct arena *a;
    const struct trace_metric_query *q;
    struct trace_metric_point *out;
    size_t n;
};

static int metrics_tx(struct db_conn *c, void *p, struct error *err)
{
    struct metrics_ctx *x = p;
    const struct trace_metric_query *m = x->q;
    struct arena *a = x->a;
    const struct metric_def *def = NULL;
    for (size_t i = 0; i < sizeof metric_defs / sizeof *metric_defs && !def; i++)
        if (metric_defs[i].view == m->view && !strcmp(metric_defs[i].name, m->metric_name))
            def = &metric_defs[i];
    if (!def)
        return error_set(err, BAD, "Unknown metric '%s'", m->metric_name);
    struct strbuf sql, group;
    struct sql_params params;
    sb_init(&sql, a, 512);
    sb_init(&group, a, 128);
    sql_params_init(&params, a);
    struct q q = { a, &sql, &params, err };
    /* buckets by the span's start in the SPANS view; the time range is always the trace's
     * (MLflow: span count and latency keep the trace timestamp; span costs are never set here) */
    const char *time_ms = m->view == TMV_SPANS ? "(s.start_time_ns / 1000000)" : "t.request_time";
    sb_puts(&sql, "SELECT ");
    size_t n_cols = 0;
    if (m->interval_s > 0) {
        const char *iv = param(&q, i64s(a, m->interval_s * 1000));
        sb_printf(&sql, "to_char(to_timestamp((floor(%s::numeric / %s::bigint) * %s::bigint) / 1000.0)"
                  " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00', ", time_ms, iv, iv);
        sb_puts(&group, "1");
        n_cols++;
    }
    const char *dim_sqls[TRACE_METRIC_MAX_DIMS];
    for (size_t d = 0; d < m->n_dims; d++) {
        const char *dim_sql = NULL;
        for (size_t i = 0; i < sizeof metric_dims / sizeof *metric_dims && !dim_sql; i++)
            if (metric_dims[i].view == m->view && !strcmp(metric_dims[i].name, m->dims[d]))
                dim_sql = metric_dims[i].sql;
        if (!dim_sql)
            return error_set(err, BAD, "Unknown dimension '%s'", m->dims[d]);
        sb_printf(&sql, "%s, ", dim_sql);
        sb_printf(&group, "%s%zu", group.len ? ", " : "", n_cols + 1);
        dim_sqls[d] = dim_sql;
        n_cols++;
    }
    const char *v = def->value ? def->value : "NULL";
    for (size_t i = 0; i < m->n_aggs; i++) {
        if (i)
            sb_puts(&sql, ", ");
        switch (m->aggs[i]) {
        case TMA_COUNT:
            if (def->distinct_count)
                sb_printf(&sql, "count(DISTINCT %s)::float8", v);
            else
                sb_puts(&sql, "count(*)::float8");
            break;
        case TMA_SUM: sb_printf(&sql, "sum(%s)::float8", v); break;
        case TMA_AVG: sb_printf(&sql, "avg(%s)::float8", v); break;
        case TMA_MIN: sb_printf(&sql, "min(%s)::float8", v); break;
        case TMA_MAX: sb_printf(&sql, "max(%s)::float8", v); break;
        case TMA_PERCENTILE:
            sb_printf(&sql, "percentile_cont(%s::float8) WITHIN GROUP (ORDER BY %s)::float8",
                      param(&q, arena_printf(a, "%.17g", m->percentiles[i] / 100.0)), v);
            break;
        }
    }
    const char **exp = arena_alloc(a, (m->n_experiments + 1) * sizeof *exp);
    for (size_t i = 0; i < m->n_experiments; i++)
        exp[i] = i64s(a, m->experiment_ids[i]);
    sb_puts(&sql, m->view == TMV_SPANS ? " FROM spans s JOIN trace_info t ON t.trace_id = s.trace_id"
                : m->view == TMV_ASSESSMENTS ? " FROM assessments a JOIN trace_info t ON t.trace_id = a.trace_id"
                : " FROM trace_info t");
    sb_printf(&sql, " WHERE t.experiment_id = ANY(%s::bigint[])", param(&q, pg_text_array(a, exp, m->n_experiments)));
    if (m->view == TMV_ASSESSMENTS)
        sb_puts(&sql, " AND a.valid");
    /* both ends inclusive, as MLflow's _build_time_range_predicate */
    if (m->has_start)
        sb_printf(&sql, " AND t.request_time >= %s::bigint", param(&q, i64s(a, m->start_ms)));
    if (m->has_end)
        sb_printf(&sql, " AND t.request_time <= %s::bigint", param(&q, i64s(a, m->end_ms)));
    /* MLflow drops the rows whose aggregated value or any dimension is null before grouping */
    if (def->value && !def->distinct_count)
        sb_printf(&sql, " AND (%s) IS NOT NULL", def->value);
    for (size_t d = 0; d < m->n_dims; d++)
        sb_printf(&sql, " AND (%s) IS NOT NULL", dim_sqls[d]);
    for (size_t i = 0; i < m->filter.n; i++) {
        const struct sf_clause *cl = &m->filter.clauses[i];
        if (cl->entity == SF_ASSESSMENT) {
            /* assessment.name / assessment.type (feedback, expectation) of the ASSESSMENTS view */
            sb_puts(&sql, " AND ");
            string_cmp(&q, !strcmp(cl->key, "name") ? "a.name" : "a.kind", cl);
        } else if (m->view == TMV_SPANS && cl->entity == SF_SPAN && strncmp(cl->key, "attributes.", 11)) {
            /* span filters of the SPANS view select the span rows themselves */
            sb_puts(&sql, " AND ");
            string_cmp(&q, !strcmp(cl->key, "name") ? "s.name" : !strcmp(cl->key, "type") ? "s.span_type"
                           : !strcmp(cl->key, "status") ? "s.status" : "s.content", cl);
        } else if (clause_sql(&q, cl)) {
            return -1;
        }
    }
    if (group.len)
        sb_printf(&sql, " GROUP BY %s ORDER BY %s", group.buf, group.buf);
    sb_printf(&sql, " OFFSET %" PRId64 " LIMIT %" PRId64, m->offset, m->limit);
    PGresult *r = db_exec_sql(c, sql.buf, params.n, params.values, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(a, ((size_t)rows + 1) * sizeof *x->out);
    x->n = 0;
    for (int row = 0; row < rows; row++) {
        struct trace_metric_point *pt = &x->out[x->n];
        memset(pt, 0, sizeof *pt);
        bool any = false;
        for (size_t i = 0; i < n_cols; i++)
            pt->dim_values[i] = nullable(a, r, row, (int)i);
        for (size_t i = 0; i < m->n_aggs; i++) {
            int col = (int)(n_cols + i);
            pt->has_value[i] = !PQgetisnull(r, row, col);
            pt->values[i] = pt->has_value[i] ? db_double(r, row, col) : 0;
            any |= pt->has_value[i];
        }
        if (any)   /* MLflow leaves out points with no value at all */
            x->n++;
    }
    PQclear(r);
    return 0;
}

int store_query_trace_metrics(struct arena *a, const struct trace_metric_query *q, struct trace_metric_point **out,
                              size_t *n, struct error *err)
{
    struct metrics_ctx x = { a, q, NULL, 0 };
    if (db_run(metrics_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

struct corr_ctx {
    struct arena *a;
    const int64_t *exp;
    size_t n_exp;
    const struct sf_filter *f1, *f2, *base;
    struct trace_correlation_counts *out;
};

static int filter_predicate(struct q *q, const struct sf_filter *f)
{
    sb_puts(q->sql, "(TRUE");
    for (size_t i = 0; f && i < f->n; i++)
        if (clause_sql(q, &f->clauses[i]))
            return -1;
    sb_putc(q->sql, ')');
    return 0;
}

static int corr_tx(struct db_conn *c, void *p, struct error *err)
{
    struct corr_ctx *x = p;
    struct strbuf sql;
    struct sql_params params;
    sb_init(&sql, x->a, 512);
    sql_params_init(&params, x->a);
    struct q q = { x->a, &sql, &params, err };
    sb_puts(&sql, "SELECT count(*) FILTER (WHERE ");
    if (filter_predicate(&q, x->f1))
        return -1;
    sb_puts(&sql, "), count(*) FILTER (WHERE ");
    if (filter_predicate(&q, x->f2))
        return -1;
    sb_puts(&sql, "), count(*) FILTER (WHERE ");
    if (filter_predicate(&q, x->f1))
        return -1;
    sb_puts(&sql, " AND ");
    if (filter_predicate(&q, x->f2))
        return -1;
    const char **exp = arena_alloc(x->a, (x->n_exp + 1) * sizeof *exp);
    for (size_t i = 0; i < x->n_exp; i++)
        exp[i] = i64s(x->a, x->exp[i]);
    sb_printf(&sql, "), count(*) FROM trace_info t WHERE t.experiment_id = ANY(%s::bigint[])",
              param(&q, pg_text_array(x->a, exp, x->n_exp)));
    for (size_t i = 0; x->base && i < x->base->n; i++)
        if (clause_sql(&q, &x->base->clauses[i]))
            return -1;
    PGresult *r = db_exec_sql(c, sql.buf, params.n, params.values, err);
    if (!r)
        return -1;
    x->out->filter1 = db_int64(r, 0, 0);
    x->out->filter2 = db_int64(r, 0, 1);
    x->out->joint = db_int64(r, 0, 2);
    x->out->total = db_int64(r, 0, 3);
    PQclear(r);
    return 0;
}

int store_trace_correlation_counts(struct arena *a, const int64_t *experiment_ids, size_t n_experiments,
                                   const struct sf_filter *f1, const struct sf_filter *f2,
                                   const struct sf_filter *base, struct trace_correlation_counts *out,
                                   struct error *err)
{
    struct corr_ctx x = { a, experiment_ids, n_experiments, f1, f2, base, out };
    return db_run(corr_tx, &x, err);
}
