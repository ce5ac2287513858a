/* Issues, label schemas and review queues (see labeling.h). */
#include "db.h"
#include "labeling.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define NEW_ID(prefix) "'" prefix "' || replace(gen_random_uuid()::text, '-', '')"

static const char *nstr(struct arena *a, const PGresult *r, int row, int col)
{
    return db_isnull(r, row, col) ? NULL : arena_strdup(a, PQgetvalue(r, row, col));
}

static const char *str(struct arena *a, const PGresult *r, int row, int col)
{
    return arena_strdup(a, PQgetvalue(r, row, col));
}

static bool tf(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

/* SqlAlchemyStore._get_experiment(…, ACTIVE_ONLY) */
static int active_experiment(struct db_conn *c, int64_t id, bool lock, struct error *err)
{
    DB_STMT(st, "SELECT 1 FROM experiments WHERE experiment_id = $1 AND lifecycle_stage = 'active'");
    DB_STMT(st_lock, "SELECT 1 FROM experiments WHERE experiment_id = $1 AND lifecycle_stage = 'active'"
                     " FOR SHARE");
    const char *vals[1] = { i64s(db_arena(c), id) };
    PGresult *r = db_exec(c, lock ? &st_lock : &st, 1, vals, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n ? 0 : error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%" PRId64 " exists", id);
}

/* runs a statement whose result is only checked for errors */
static int exec_done(struct db_conn *c, struct db_stmt *st, int n, const char *const *vals, struct error *err)
{
    PGresult *r = db_exec(c, st, n, vals, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* ================================================================ issues */

#define ISSUE_COLS "issue_id, experiment_id, name, description, status, severity, root_causes, source_run_id," \
                   " categories, created_timestamp, last_updated_timestamp, created_by"

static void read_issue(struct arena *a, const PGresult *r, int row, struct issue *o)
{
    *o = (struct issue){
        .issue_id = str(a, r, row, 0), .experiment_id = db_int64(r, row, 1), .name = str(a, r, row, 2),
        .description = str(a, r, row, 3), .status = str(a, r, row, 4), .severity = nstr(a, r, row, 5),
        .root_causes = nstr(a, r, row, 6), .source_run_id = nstr(a, r, row, 7), .categories = nstr(a, r, row, 8),
        .created_timestamp = db_int64(r, row, 9), .last_updated_timestamp = db_int64(r, row, 10),
        .created_by = nstr(a, r, row, 11), .trace_count = -1,
    };
    if (PQnfields(r) > 12)
        o->trace_count = db_int64(r, row, 12);
}

struct issue_ctx {
    struct arena *a;
    const struct issue *in;
    const char *id, *status, *name, *description, *severity;
    const struct issue_search *search;
    struct issue *out;
    size_t n;
};

static int create_issue_tx(struct db_conn *c, void *p, struct error *err)
{
    struct issue_ctx *x = p;
    const struct issue *in = x->in;
    if (active_experiment(c, in->experiment_id, true, err))
        return -1;
    if (in->source_run_id) {   /* a foreign key, as MLflow's column */
        DB_STMT(run, "SELECT 1 FROM runs WHERE run_uuid = $1 FOR SHARE");
        const char *v[1] = { in->source_run_id };
        PGresult *r = db_exec(c, &run, 1, v, err);
        if (!r)
            return -1;
        int found = PQntuples(r);
        PQclear(r);
        if (!found)
            return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", in->source_run_id);
    }
    DB_STMT(ins, "INSERT INTO issues (issue_id, experiment_id, name, description, status, severity, root_causes,"
                 " source_run_id, categories, created_timestamp, last_updated_timestamp, created_by)"
                 " VALUES (" NEW_ID("iss-") ", $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING " ISSUE_COLS);
    const char *vals[10] = { i64s(x->a, in->experiment_id), in->name, in->description, in->status, in->severity,
                             in->root_causes, in->source_run_id, in->categories, i64s(x->a, now_ms()),
                             in->created_by };
    PGresult *r = db_exec(c, &ins, 10, vals, err);
    if (!r)
        return -1;
    read_issue(x->a, r, 0, x->out);
    PQclear(r);
    return 0;
}

int store_create_issue(struct arena *a, const struct issue *in, struct issue *out, struct error *err)
{
    struct issue_ctx x = { .a = a, .in = in, .out = out };
    return db_tx(create_issue_tx, &x, err);
}

static int issue_not_found(const char *id, struct error *err)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Issue with ID '%s' not found", id);
}

static int get_issue_tx(struct db_conn *c, void *p, struct error *err)
{
    struct issue_ctx *x = p;
    DB_STMT(st, "SELECT " ISSUE_COLS " FROM issues WHERE issue_id = $1");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    x->n = (size_t)PQntuples(r);
    if (x->n)
        read_issue(x->a, r, 0, x->out);
    PQclear(r);
    return 0;
}

int store_get_issue(struct arena *a, const char *issue_id, struct issue *out, struct error *err)
{
    struct issue_ctx x = { .a = a, .id = issue_id, .out = out };
    if (db_run(get_issue_tx, &x, err))
        return -1;
    return x.n ? 0 : issue_not_found(issue_id, err);
}

static int update_issue_tx(struct db_conn *c, void *p, struct error *err)
{
    struct issue_ctx *x = p;
    DB_STMT(st, "UPDATE issues SET status = coalesce($2, status), name = coalesce($3, name),"
                " description = coalesce($4, description), severity = coalesce($5, severity),"
                " last_updated_timestamp = $6 WHERE issue_id = $1 RETURNING " ISSUE_COLS);
    const char *vals[6] = { x->id, x->status, x->name, x->description, x->severity, i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &st, 6, vals, err);
    if (!r)
        return -1;
    x->n = (size_t)PQntuples(r);
    if (x->n)
        read_issue(x->a, r, 0, x->out);
    PQclear(r);
    return 0;
}

int store_update_issue(struct arena *a, const char *issue_id, const char *status, const char *name,
                       const char *description, const char *severity, struct issue *out, struct error *err)
{
    struct issue_ctx x = { .a = a, .id = issue_id, .status = status, .name = name, .description = description,
                           .severity = severity, .out = out };
    if (db_tx(update_issue_tx, &x, err))
        return -1;
    return x.n ? 0 : issue_not_found(issue_id, err);
}

static int search_issues_tx(struct db_conn *c, void *p, struct error *err)
{
    struct issue_ctx *x = p;
    const struct issue_search *s = x->search;
    struct sql_params ps;
    sql_params_init(&ps, x->a);
    struct strbuf q;
    sb_init(&q, x->a, 1024);
    sb_puts(&q, "SELECT " ISSUE_COLS);
    if (s->include_trace_count)
        sb_puts(&q, ", (SELECT count(DISTINCT a.trace_id) FROM assessments a WHERE a.name = i.issue_id"
                    " AND a.kind = 'issue') AS trace_count");
    sb_puts(&q, " FROM issues i WHERE true");
    if (s->experiment_id >= 0)
        sb_printf(&q, " AND experiment_id = $%d", sql_param_add(&ps, x->a, i64s(x->a, s->experiment_id)));
    for (size_t i = 0; i < s->filter.n; i++) {
        const struct sf_clause *cl = &s->filter.clauses[i];
        const char *col = !strcmp(cl->key, "status") ? "status" : "source_run_id";   /* api/ allows these two */
        sb_printf(&q, " AND %s %s $%d", col, cl->op == SF_NE ? "!=" : "=", sql_param_add(&ps, x->a, cl->str));
    }
    sb_puts(&q, " ORDER BY CASE severity WHEN 'not_an_issue' THEN 0 WHEN 'low' THEN 1 WHEN 'medium' THEN 2"
                " WHEN 'high' THEN 3 ELSE -1 END DESC");
    if (s->include_trace_count)
        sb_puts(&q, ", trace_count DESC");
    sb_printf(&q, ", created_timestamp DESC, issue_id DESC OFFSET %" PRId64 " LIMIT %" PRId64, s->offset, s->limit);
    PGresult *r = db_exec_sql(c, q.buf, ps.n, ps.values, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_issue(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

int store_search_issues(struct arena *a, const struct issue_search *s, struct issue **out, size_t *n,
                        struct error *err)
{
    struct issue_ctx x = { .a = a, .search = s };
    if (db_run(search_issues_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

/* ================================================================ label schemas */

#define LS_COLS "schema_id, experiment_id, name, type, input_type, input_config, instruction, enable_comment," \
                " created_by, created_time, last_update_time, is_default"

static void read_ls(struct arena *a, const PGresult *r, int row, struct label_schema *o)
{
    *o = (struct label_schema){
        .schema_id = str(a, r, row, 0), .experiment_id = db_int64(r, row, 1), .name = str(a, r, row, 2),
        .type = str(a, r, row, 3), .input_type = str(a, r, row, 4), .input_config = str(a, r, row, 5),
        .instruction = nstr(a, r, row, 6), .enable_comment = tf(r, row, 7), .created_by = nstr(a, r, row, 8),
        .created_time = db_int64(r, row, 9), .last_update_time = db_int64(r, row, 10), .is_default = tf(r, row, 11),
    };
}

struct ls_ctx {
    struct arena *a;
    const struct label_schema *in;
    const struct label_schema_update *upd;
    const char *id, *name;
    int64_t exp, offset, limit;
    struct label_schema *out;
    size_t n;
};

static int ls_exists(const char *name, int64_t exp, struct error *err)
{
    return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Label schema with name '%s' already exists for experiment "
                     "'%" PRId64 "'.", name, exp);
}

static int ls_not_found(const char *id, struct error *err)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Label schema with id '%s' not found.", id);
}

static int fill_ls(struct ls_ctx *x, PGresult *r)
{
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_ls(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

static int create_ls_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ls_ctx *x = p;
    const struct label_schema *in = x->in;
    if (active_experiment(c, in->experiment_id, true, err))
        return -1;
    DB_STMT(ins, "INSERT INTO label_schemas (schema_id, experiment_id, name, type, input_type, input_config,"
                 " instruction, enable_comment, created_by, created_time, last_update_time, is_default)"
                 " VALUES (" NEW_ID("ls-") ", $1, $2, $3, $4, $5, $6, $7, NULL, $8, $8, false)"
                 " ON CONFLICT (experiment_id, name) DO NOTHING RETURNING " LS_COLS);
    const char *vals[8] = { i64s(x->a, in->experiment_id), in->name, in->type, in->input_type, in->input_config,
                            in->instruction, in->enable_comment ? "true" : "false", i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &ins, 8, vals, err);
    if (!r)
        return -1;
    fill_ls(x, r);
    return x->n ? 0 : ls_exists(in->name, in->experiment_id, err);
}

int store_create_label_schema(struct arena *a, const struct label_schema *in, struct label_schema *out,
                              struct error *err)
{
    struct ls_ctx x = { .a = a, .in = in };
    if (db_tx(create_ls_tx, &x, err))
        return -1;
    *out = x.out[0];
    return 0;
}

static int get_ls_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ls_ctx *x = p;
    DB_STMT(by_id, "SELECT " LS_COLS " FROM label_schemas WHERE schema_id = $1");
    DB_STMT(by_name, "SELECT " LS_COLS " FROM label_schemas WHERE experiment_id = $1 AND name = $2");
    PGresult *r;
    if (x->id) {
        const char *vals[1] = { x->id };
        r = db_exec(c, &by_id, 1, vals, err);
    } else {
        if (active_experiment(c, x->exp, false, err))
            return -1;
        const char *vals[2] = { i64s(x->a, x->exp), x->name };
        r = db_exec(c, &by_name, 2, vals, err);
    }
    return r ? fill_ls(x, r) : -1;
}

int store_get_label_schema(struct arena *a, const char *schema_id, struct label_schema *out, struct error *err)
{
    struct ls_ctx x = { .a = a, .id = schema_id };
    if (db_run(get_ls_tx, &x, err))
        return -1;
    if (!x.n)
        return ls_not_found(schema_id, err);
    *out = x.out[0];
    return 0;
}

int store_get_label_schema_by_name(struct arena *a, int64_t experiment_id, const char *name,
                                   struct label_schema *out, struct error *err)
{
    struct ls_ctx x = { .a = a, .exp = experiment_id, .name = name };
    if (db_run(get_ls_tx, &x, err))
        return -1;
    if (!x.n)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Label schema with name '%s' not found for experiment "
                         "'%" PRId64 "'.", name, experiment_id);
    *out = x.out[0];
    return 0;
}

static int list_ls_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ls_ctx *x = p;
    if (active_experiment(c, x->exp, true, err))
        return -1;
    /* _ensure_default_label_schema: at most one default per experiment (a partial unique index) */
    DB_STMT(seed, "INSERT INTO label_schemas (schema_id, experiment_id, name, type, input_type, input_config,"
                  " instruction, enable_comment, created_by, created_time, last_update_time, is_default)"
                  " SELECT " NEW_ID("ls-") ", $1, '" LABEL_SCHEMA_DEFAULT_NAME "', 'feedback', 'text', '{}', '"
                  LABEL_SCHEMA_DEFAULT_INSTRUCTION "', false, NULL, $2, $2, true"
                  " WHERE NOT EXISTS (SELECT 1 FROM label_schemas WHERE experiment_id = $1 AND is_default)"
                  " ON CONFLICT DO NOTHING");
    DB_STMT(list, "SELECT " LS_COLS " FROM label_schemas WHERE experiment_id = $1"
                  " ORDER BY created_time DESC, schema_id ASC OFFSET $2 LIMIT $3");
    const char *v1[2] = { i64s(x->a, x->exp), i64s(x->a, now_ms()) };
    if (exec_done(c, &seed, 2, v1, err))
        return -1;
    const char *v2[3] = { v1[0], i64s(x->a, x->offset), i64s(x->a, x->limit) };
    PGresult *r = db_exec(c, &list, 3, v2, err);
    return r ? fill_ls(x, r) : -1;
}

int store_list_label_schemas(struct arena *a, int64_t experiment_id, int64_t offset, int64_t limit,
                             struct label_schema **out, size_t *n, struct error *err)
{
    struct ls_ctx x = { .a = a, .exp = experiment_id, .offset = offset, .limit = limit };
    if (db_tx(list_ls_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

static int update_ls_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ls_ctx *x = p;
    const struct label_schema_update *u = x->upd;
    DB_STMT(lock, "SELECT " LS_COLS " FROM label_schemas WHERE schema_id = $1 FOR UPDATE");
    const char *v1[1] = { x->id };
    PGresult *r = db_exec(c, &lock, 1, v1, err);
    if (!r)
        return -1;
    fill_ls(x, r);
    if (!x->n)
        return ls_not_found(x->id, err);
    struct label_schema cur = x->out[0];
    if (u->check && u->check(u->ctx, &cur, err))
        return -1;
    if (u->name && strcmp(u->name, cur.name)) {
        DB_STMT(taken, "SELECT 1 FROM label_schemas WHERE experiment_id = $1 AND name = $2 AND schema_id != $3");
        const char *v2[3] = { i64s(x->a, cur.experiment_id), u->name, x->id };
        r = db_exec(c, &taken, 3, v2, err);
        if (!r)
            return -1;
        int clash = PQntuples(r);
        PQclear(r);
        if (clash)
            return ls_exists(u->name, cur.experiment_id, err);
    }
    DB_STMT(upd, "UPDATE label_schemas SET name = coalesce($2, name), instruction = coalesce($3, instruction),"
                 " enable_comment = coalesce($4::boolean, enable_comment), input_type = coalesce($5, input_type),"
                 " input_config = coalesce($6, input_config), last_update_time = $7 WHERE schema_id = $1"
                 " RETURNING " LS_COLS);
    const char *v3[7] = { x->id, u->name, u->instruction,
                          u->enable_comment < 0 ? NULL : u->enable_comment ? "true" : "false",
                          u->input_type, u->input_config, i64s(x->a, now_ms()) };
    r = db_exec(c, &upd, 7, v3, err);
    return r ? fill_ls(x, r) : -1;
}

int store_update_label_schema(struct arena *a, const char *schema_id, const struct label_schema_update *u,
                              struct label_schema *out, struct error *err)
{
    struct ls_ctx x = { .a = a, .id = schema_id, .upd = u };
    if (db_tx(update_ls_tx, &x, err))
        return -1;
    *out = x.out[0];
    return 0;
}

static int delete_ls_tx(struct db_conn *c, void *p, struct error *err)
{
    struct ls_ctx *x = p;
    DB_STMT(lock, "SELECT is_default FROM label_schemas WHERE schema_id = $1 FOR UPDATE");
    DB_STMT(del, "DELETE FROM label_schemas WHERE schema_id = $1");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &lock, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    bool dflt = rows && tf(r, 0, 0);
    PQclear(r);
    if (!rows)
        return 0;
    if (dflt)
        return error_set(err, BAD, "The experiment's default question cannot be deleted.");
    return exec_done(c, &del, 1, vals, err);
}

int store_delete_label_schema(const char *schema_id, struct error *err)
{
    struct ls_ctx x = { .id = schema_id };
    return db_tx(delete_ls_tx, &x, err);
}

/* ================================================================ review queues */

#define RQ_COLS "queue_id, experiment_id, name, queue_type, created_by, creation_time_ms, last_update_time_ms"
#define RI_COLS "queue_id, item_type, item_id, status, completed_by, completed_time_ms, creation_time_ms," \
                " last_update_time_ms"

static void read_rq(struct arena *a, const PGresult *r, int row, struct review_queue *o)
{
    *o = (struct review_queue){
        .queue_id = str(a, r, row, 0), .experiment_id = db_int64(r, row, 1), .name = str(a, r, row, 2),
        .queue_type = str(a, r, row, 3), .created_by = nstr(a, r, row, 4),
        .creation_time_ms = db_int64(r, row, 5), .last_update_time_ms = db_int64(r, row, 6),
    };
}

static void read_ri(struct arena *a, const PGresult *r, int row, struct review_item *o)
{
    *o = (struct review_item){
        .queue_id = str(a, r, row, 0), .item_type = str(a, r, row, 1), .item_id = str(a, r, row, 2),
        .status = str(a, r, row, 3), .completed_by = nstr(a, r, row, 4),
        .completed_time_ms = db_isnull(r, row, 5) ? -1 : db_int64(r, row, 5),
        .creation_time_ms = db_int64(r, row, 6), .last_update_time_ms = db_int64(r, row, 7),
    };
}

struct rq_ctx {
    struct arena *a;
    int64_t exp, offset, limit;
    const struct review_queue *in;
    const struct review_queue_update *upd;
    const char *id, *name, *user, *item_id, *member, *status, *completed_by, *item_type;
    const char *const *ids;
    size_t n_ids;
    struct review_queue *out;
    struct review_item *items;
    size_t n;
};

/* one association set (users or schema ids) of each queue, in the page's order, each sorted */
static int hydrate_set(struct db_conn *c, struct arena *a, struct review_queue *q, size_t n, bool users,
                       struct error *err)
{
    DB_STMT(u_st, "SELECT queue_id, user_id FROM review_queue_users WHERE queue_id = ANY($1::text[])"
                  " ORDER BY array_position($1::text[], queue_id), user_id COLLATE \"C\"");
    DB_STMT(s_st, "SELECT queue_id, schema_id FROM review_queue_label_schemas WHERE queue_id = ANY($1::text[])"
                  " ORDER BY array_position($1::text[], queue_id), schema_id COLLATE \"C\"");
    const char **ids = arena_alloc(a, (n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = q[i].queue_id;
    const char *vals[1] = { pg_text_array(a, ids, n) };
    PGresult *r = db_exec(c, users ? &u_st : &s_st, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    const char **all = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *all);
    size_t qi = 0;
    for (int row = 0; row < rows; row++) {
        const char *qid = PQgetvalue(r, row, 0);
        while (qi < n && strcmp(q[qi].queue_id, qid))
            qi++;
        if (qi == n)
            break;
        all[row] = str(a, r, row, 1);
        const char ***set = users ? &q[qi].users : &q[qi].schema_ids;
        size_t *cnt = users ? &q[qi].n_users : &q[qi].n_schema_ids;
        if (!*cnt)
            *set = &all[row];
        (*cnt)++;
    }
    PQclear(r);
    return 0;
}

static int fill_rq(struct db_conn *c, struct rq_ctx *x, PGresult *r, struct error *err)
{
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_rq(x->a, r, i, &x->out[i]);
    x->n = (size_t)rows;
    PQclear(r);
    if (!rows)
        return 0;
    return hydrate_set(c, x->a, x->out, x->n, true, err) || hydrate_set(c, x->a, x->out, x->n, false, err) ? -1 : 0;
}

static int rq_not_found(const char *id, struct error *err)
{
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Review queue with id '%s' not found.", id);
}

static int rq_exists(const char *name, struct error *err)
{
    return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "Review queue with name '%s' already exists (names are "
                     "case-insensitive).", name);
}

/* the queue row (locked for the rest of the transaction when asked) */
static int load_queue(struct db_conn *c, struct rq_ctx *x, bool lock, struct error *err)
{
    DB_STMT(st, "SELECT " RQ_COLS " FROM review_queues WHERE queue_id = $1");
    DB_STMT(st_lock, "SELECT " RQ_COLS " FROM review_queues WHERE queue_id = $1 FOR UPDATE");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, lock ? &st_lock : &st, 1, vals, err);
    if (!r || fill_rq(c, x, r, err))
        return -1;
    return x->n ? 0 : rq_not_found(x->id, err);
}

/* _validate_schema_ids_exist */
static int schemas_exist(struct db_conn *c, struct arena *a, int64_t exp, const char *const *ids, size_t n,
                         struct error *err)
{
    if (!n)
        return 0;
    DB_STMT(st, "SELECT x FROM unnest($2::text[]) WITH ORDINALITY AS u(x, i) WHERE NOT EXISTS"
                " (SELECT 1 FROM label_schemas s WHERE s.experiment_id = $1 AND s.schema_id = u.x) ORDER BY i");
    const char *vals[2] = { i64s(a, exp), pg_text_array(a, ids, n) };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    struct strbuf sb;
    sb_init(&sb, a, 64);
    for (int i = 0; i < rows; i++)
        sb_printf(&sb, "%s'%s'", i ? ", " : "", PQgetvalue(r, i, 0));
    PQclear(r);
    if (rows)
        return error_set(err, BAD, "Label schema id(s) [%s] not found for experiment '%" PRId64 "'.", sb.buf, exp);
    return 0;
}

static int set_members(struct db_conn *c, struct arena *a, const char *qid, bool users, const char *const *v,
                       size_t n, struct error *err)
{
    DB_STMT(del_u, "DELETE FROM review_queue_users WHERE queue_id = $1");
    DB_STMT(del_s, "DELETE FROM review_queue_label_schemas WHERE queue_id = $1");
    DB_STMT(ins_u, "INSERT INTO review_queue_users (queue_id, user_id) SELECT $1, unnest($2::text[])"
                   " ON CONFLICT DO NOTHING");
    DB_STMT(ins_s, "INSERT INTO review_queue_label_schemas (queue_id, schema_id) SELECT $1, unnest($2::text[])"
                   " ON CONFLICT DO NOTHING");
    const char *vals[2] = { qid, pg_text_array(a, v, n) };
    if (exec_done(c, users ? &del_u : &del_s, 1, vals, err))
        return -1;
    return n ? exec_done(c, users ? &ins_u : &ins_s, 2, vals, err) : 0;
}

static int insert_queue(struct db_conn *c, struct rq_ctx *x, const struct review_queue *in, bool *made,
                        struct error *err)
{
    DB_STMT(ins, "INSERT INTO review_queues (queue_id, experiment_id, name, name_key, queue_type, created_by,"
                 " creation_time_ms, last_update_time_ms) VALUES (" NEW_ID("rq-") ", $1, $2, lower($2), $3, $4, $5, $5)"
                 " ON CONFLICT (experiment_id, name_key) DO NOTHING RETURNING queue_id");
    const char *vals[5] = { i64s(x->a, x->exp), in->name, in->queue_type, in->created_by, i64s(x->a, now_ms()) };
    PGresult *r = db_exec(c, &ins, 5, vals, err);
    if (!r)
        return -1;
    *made = PQntuples(r) > 0;
    if (*made)
        x->id = str(x->a, r, 0, 0);
    PQclear(r);
    if (!*made)
        return 0;
    if (set_members(c, x->a, x->id, true, in->users, in->n_users, err) ||
        set_members(c, x->a, x->id, false, in->schema_ids, in->n_schema_ids, err))
        return -1;
    return load_queue(c, x, false, err);
}

static int create_rq_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    bool made;
    if (active_experiment(c, x->exp, true, err) ||
        schemas_exist(c, x->a, x->exp, x->in->schema_ids, x->in->n_schema_ids, err) ||
        insert_queue(c, x, x->in, &made, err))
        return -1;
    return made ? 0 : rq_exists(x->in->name, err);
}

int store_create_review_queue(struct arena *a, int64_t experiment_id, const struct review_queue *in,
                              struct review_queue *out, struct error *err)
{
    struct rq_ctx x = { .a = a, .exp = experiment_id, .in = in };
    if (db_tx(create_rq_tx, &x, err))
        return -1;
    *out = x.out[0];
    return 0;
}

static int by_name(struct db_conn *c, struct rq_ctx *x, struct error *err)
{
    DB_STMT(st, "SELECT " RQ_COLS " FROM review_queues WHERE experiment_id = $1 AND name_key = lower($2)");
    const char *vals[2] = { i64s(x->a, x->exp), x->name };
    PGresult *r = db_exec(c, &st, 2, vals, err);
    if (!r || fill_rq(c, x, r, err))
        return -1;
    if (!x->n)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Review queue with name '%s' not found for experiment "
                         "'%" PRId64 "'.", x->name, x->exp);
    return 0;
}

static int user_queue_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    const char *users[1] = { x->user };
    struct review_queue in = { .name = x->user, .queue_type = "user", .created_by = x->user, .users = users,
                               .n_users = 1 };
    bool made;
    if (active_experiment(c, x->exp, true, err) || insert_queue(c, x, &in, &made, err))
        return -1;
    if (made)
        return 0;
    x->name = x->user;
    if (by_name(c, x, err))
        return -1;
    if (strcmp(x->out[0].queue_type, "user"))
        return error_set(err, ERR_RESOURCE_ALREADY_EXISTS, "A non-user queue named '%s' already exists; cannot "
                         "get-or-create a user queue with that name.", x->user);
    return 0;
}

int store_get_or_create_user_queue(struct arena *a, int64_t experiment_id, const char *user,
                                   struct review_queue *out, struct error *err)
{
    struct rq_ctx x = { .a = a, .exp = experiment_id, .user = user };
    if (db_tx(user_queue_tx, &x, err))
        return -1;
    *out = x.out[0];
    return 0;
}

static int get_rq_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    if (x->id)
        return load_queue(c, x, false, err);
    return active_experiment(c, x->exp, false, err) || by_name(c, x, err) ? -1 : 0;
}

static int get_rq(struct rq_ctx *x, struct review_queue *out, struct error *err)
{
    if (db_run(get_rq_tx, x, err))
        return -1;
    *out = x->out[0];
    return 0;
}

int store_get_review_queue(struct arena *a, const char *queue_id, struct review_queue *out, struct error *err)
{
    struct rq_ctx x = { .a = a, .id = queue_id };
    return get_rq(&x, out, err);
}

int store_get_review_queue_by_name(struct arena *a, int64_t experiment_id, const char *name,
                                   struct review_queue *out, struct error *err)
{
    struct rq_ctx x = { .a = a, .exp = experiment_id, .name = name };
    return get_rq(&x, out, err);
}

static int list_rq_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    if (active_experiment(c, x->exp, false, err))
        return -1;
    DB_STMT(st, "SELECT " RQ_COLS " FROM review_queues q WHERE experiment_id = $1"
                " AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM review_queue_users u"
                "      WHERE u.queue_id = q.queue_id AND u.user_id = $2))"
                " AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM review_queue_items i"
                "      WHERE i.queue_id = q.queue_id AND i.item_id = $3))"
                " AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM review_queue_users m"
                "      WHERE m.queue_id = q.queue_id AND m.user_id = $6))"
                " ORDER BY creation_time_ms DESC, queue_id ASC OFFSET $4 LIMIT $5");
    const char *vals[6] = { i64s(x->a, x->exp), x->user, x->item_id, i64s(x->a, x->offset), i64s(x->a, x->limit),
                            x->member };
    PGresult *r = db_exec(c, &st, 6, vals, err);
    return r ? fill_rq(c, x, r, err) : -1;
}

int store_list_review_queues(struct arena *a, int64_t experiment_id, const char *user, const char *item_id,
                             const char *member, int64_t offset, int64_t limit, struct review_queue **out, size_t *n,
                             struct error *err)
{
    struct rq_ctx x = { .a = a, .exp = experiment_id, .user = user, .item_id = item_id, .member = member,
                        .offset = offset,
                        .limit = limit };
    if (db_run(list_rq_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}

static int update_rq_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    const struct review_queue_update *u = x->upd;
    if (load_queue(c, x, true, err))
        return -1;
    struct review_queue q = x->out[0];
    if (!strcmp(q.queue_type, "user"))
        return error_set(err, BAD, "A user queue's name, assigned user, schemas, and owner are fixed and cannot be "
                         "updated.");
    if (!u->name && !u->new_owner && !u->set_users && !u->set_schema_ids)
        return 0;
    struct arena *a = x->a;
    if (u->name && strcmp(u->name, q.name)) {
        DB_STMT(taken, "SELECT 1 FROM review_queues WHERE experiment_id = $1 AND name_key = lower($2)"
                       " AND queue_id != $3");
        const char *v[3] = { i64s(a, q.experiment_id), u->name, q.queue_id };
        PGresult *r = db_exec(c, &taken, 3, v, err);
        if (!r)
            return -1;
        int clash = PQntuples(r);
        PQclear(r);
        if (clash)
            return rq_exists(u->name, err);
    }
    if (u->set_users && set_members(c, a, q.queue_id, true, u->users, u->n_users, err))
        return -1;
    if (u->set_schema_ids) {
        DB_STMT(items, "SELECT 1 FROM review_queue_items WHERE queue_id = $1 LIMIT 1");
        const char *v[1] = { q.queue_id };
        PGresult *r = db_exec(c, &items, 1, v, err);
        if (!r)
            return -1;
        int has = PQntuples(r);
        PQclear(r);
        if (has)
            return error_set(err, BAD, "A review queue's questions are locked once items are assigned to it. "
                             "Remove the items before changing its questions.");
        if (schemas_exist(c, a, q.experiment_id, u->schema_ids, u->n_schema_ids, err) ||
            set_members(c, a, q.queue_id, false, u->schema_ids, u->n_schema_ids, err))
            return -1;
    }
    DB_STMT(upd, "UPDATE review_queues SET name = coalesce($2, name), name_key = lower(coalesce($2, name)),"
                 " created_by = coalesce($3, created_by), last_update_time_ms = $4 WHERE queue_id = $1");
    const char *v[4] = { q.queue_id, u->name, u->new_owner, i64s(a, now_ms()) };
    if (exec_done(c, &upd, 4, v, err))
        return -1;
    return load_queue(c, x, false, err);
}

int store_update_review_queue(struct arena *a, const char *queue_id, const struct review_queue_update *u,
                              struct review_queue *out, struct error *err)
{
    struct rq_ctx x = { .a = a, .id = queue_id, .upd = u };
    if (db_tx(update_rq_tx, &x, err))
        return -1;
    *out = x.out[0];
    return 0;
}

static int delete_rq_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    DB_STMT(del, "DELETE FROM review_queues WHERE queue_id = $1");   /* children cascade */
    const char *vals[1] = { x->id };
    return exec_done(c, &del, 1, vals, err);
}

int store_delete_review_queue(const char *queue_id, struct error *err)
{
    struct rq_ctx x = { .id = queue_id };
    return db_tx(delete_rq_tx, &x, err);
}

static int fill_items(struct rq_ctx *x, PGresult *r)
{
    int rows = PQntuples(r);
    x->items = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->items);
    for (int i = 0; i < rows; i++)
        read_ri(x->a, r, i, &x->items[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

static int add_items_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    struct arena *a = x->a;
    if (load_queue(c, x, true, err))
        return -1;
    int64_t exp = x->out[0].experiment_id;
    const char *ids = pg_text_array(a, x->ids, x->n_ids);
    /* items are trace references: every one must be a trace of the queue's experiment */
    DB_STMT(missing, "SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i) WHERE NOT EXISTS"
                     " (SELECT 1 FROM trace_info t WHERE t.trace_id = u.x AND t.experiment_id = $2) ORDER BY i");
    const char *v1[2] = { ids, i64s(a, exp) };
    PGresult *r = db_exec(c, &missing, 2, v1, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    struct strbuf sb;
    sb_init(&sb, a, 64);
    for (int i = 0; i < rows; i++)
        sb_printf(&sb, "%s'%s'", i ? ", " : "", PQgetvalue(r, i, 0));
    PQclear(r);
    if (rows)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Cannot attach trace(s) [%s] to review queue '%s': they "
                         "do not exist in experiment '%" PRId64 "'.", sb.buf, x->id, exp);
    DB_STMT(ins, "INSERT INTO review_queue_items (queue_id, item_type, item_id, status, creation_time_ms,"
                 " last_update_time_ms) SELECT $1, $2, unnest($3::text[]), 'pending', $4, $4"
                 " ON CONFLICT (queue_id, item_id) DO NOTHING");
    const char *v2[4] = { x->id, x->item_type, ids, i64s(a, now_ms()) };
    if (exec_done(c, &ins, 4, v2, err))
        return -1;
    DB_STMT(sel, "SELECT " RI_COLS " FROM review_queue_items WHERE queue_id = $1 AND item_id = ANY($2::text[])"
                 " ORDER BY array_position($2::text[], item_id)");
    const char *v3[2] = { x->id, ids };
    r = db_exec(c, &sel, 2, v3, err);
    return r ? fill_items(x, r) : -1;
}

int store_add_review_items(struct arena *a, const char *queue_id, const char *item_type, const char *const *ids,
                           size_t n, struct review_item **out, size_t *n_out, struct error *err)
{
    struct rq_ctx x = { .a = a, .id = queue_id, .item_type = item_type, .ids = ids, .n_ids = n };
    if (db_tx(add_items_tx, &x, err))
        return -1;
    *out = x.items;
    *n_out = x.n;
    return 0;
}

static int remove_items_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    if (load_queue(c, x, false, err))
        return -1;
    DB_STMT(del, "DELETE FROM review_queue_items WHERE queue_id = $1 AND item_id = ANY($2::text[])");
    const char *vals[2] = { x->id, pg_text_array(x->a, x->ids, x->n_ids) };
    return exec_done(c, &del, 2, vals, err);
}

int store_remove_review_items(struct arena *a, const char *queue_id, const char *const *ids, size_t n,
                              struct error *err)
{
    struct rq_ctx x = { .a = a, .id = queue_id, .ids = ids, .n_ids = n };
    return db_tx(remove_items_tx, &x, err);
}

static int list_items_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    if (load_queue(c, x, false, err))
        return -1;
    DB_STMT(st, "SELECT " RI_COLS " FROM review_queue_items WHERE queue_id = $1 AND ($2::text IS NULL OR status = $2)"
                " ORDER BY creation_time_ms DESC, item_id ASC OFFSET $3 LIMIT $4");
    const char *vals[4] = { x->id, x->status, i64s(x->a, x->offset), i64s(x->a, x->limit) };
    PGresult *r = db_exec(c, &st, 4, vals, err);
    return r ? fill_items(x, r) : -1;
}

int store_list_review_items(struct arena *a, const char *queue_id, const char *status, int64_t offset,
                            int64_t limit, struct review_item **out, size_t *n, struct error *err)
{
    struct rq_ctx x = { .a = a, .id = queue_id, .status = status, .offset = offset, .limit = limit };
    if (db_run(list_items_tx, &x, err))
        return -1;
    *out = x.items;
    *n = x.n;
    return 0;
}

static int set_status_tx(struct db_conn *c, void *p, struct error *err)
{
    struct rq_ctx *x = p;
    if (load_queue(c, x, false, err))
        return -1;
    DB_STMT(sel, "SELECT " RI_COLS " FROM review_queue_items WHERE queue_id = $1 AND item_id = $2 FOR UPDATE");
    const char *v1[2] = { x->id, x->item_id };
    PGresult *r = db_exec(c, &sel, 2, v1, err);
    if (!r)
        return -1;
    fill_items(x, r);
    if (!x->n)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Item '%s' is not attached to review queue '%s'.",
                         x->item_id, x->id);
    if (!strcmp(x->items[0].status, x->status))   /* the same status: no change, attribution kept */
        return 0;
    DB_STMT(upd, "UPDATE review_queue_items SET status = $3, last_update_time_ms = $4, completed_by = $5,"
                 " completed_time_ms = CASE WHEN $5::text IS NULL THEN NULL ELSE $4::bigint END"
                 " WHERE queue_id = $1 AND item_id = $2 RETURNING " RI_COLS);
    const char *v2[5] = { x->id, x->item_id, x->status, i64s(x->a, now_ms()), x->completed_by };
    r = db_exec(c, &upd, 5, v2, err);
    return r ? fill_items(x, r) : -1;
}

int store_set_review_item_status(struct arena *a, const char *queue_id, const char *item_id, const char *status,
                                 const char *completed_by, struct review_item *out, struct error *err)
{
    struct rq_ctx x = { .a = a, .id = queue_id, .item_id = item_id, .status = status,
                        .completed_by = completed_by };
    if (db_tx(set_status_tx, &x, err))
        return -1;
    *out = x.items[0];
    return 0;
}
