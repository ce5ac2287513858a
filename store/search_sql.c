/* The search-filter AST → one parameterised SELECT (sql/001_tracking.sql).
 *
 * User text reaches the SQL only as $n parameters; identifiers in the SQL
 * come from the tables below, never from the AST. Semantics follow MLflow's
 * SqlAlchemyStore (_get_sqlalchemy_filter_clauses, _get_orderby_clauses,
 * _get_search_experiments_*):
 *   - a metric clause compares the run's latest value; a param/tag clause
 *     needs the key present (so != never matches a run without the key);
 *     IS NULL means "no such key";
 *   - NaN metrics satisfy only != (MLflow keeps an is_nan flag; PostgreSQL
 *     sorts NaN above every number, so > and >= exclude it explicitly);
 *   - metric/param/tag sort keys come from a LEFT JOIN, missing values last
 *     in both directions, and for metrics NaN after numbers, before missing.
 * Filters are EXISTS sub-selects: the planner turns them into semi-joins
 * that can start from the (key, value, run_uuid) indexes. */
#include "db.h"
#include "search.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD ERR_INVALID_PARAMETER_VALUE

void sql_params_init(struct sql_params *p, struct arena *a)
{
    (void)a;
    p->values = NULL;
    p->n = 0;
    p->cap = 0;
}

/* The value must live as long as the params (the request arena). */
int sql_param_add(struct sql_params *p, struct arena *a, const char *value)
{
    if (p->n == p->cap) {
        int ncap = p->cap ? p->cap * 2 : 16;
        p->values = arena_grow(a, (void *)p->values, (size_t)p->cap * sizeof *p->values,
                               (size_t)ncap * sizeof *p->values);
        p->cap = ncap;
    }
    p->values[p->n++] = value;
    return p->n;
}

struct q {
    struct arena *a;
    struct strbuf *sql;
    struct sql_params *params;
    struct error *err;
    bool where;         /* a WHERE has been written */
};

static void bind(struct q *q, const char *value, const char *cast)
{
    int n = sql_param_add(q->params, q->a, value);
    sb_printf(q->sql, "$%d%s", n, cast ? cast : "");
}

static void where_and(struct q *q)
{
    sb_puts(q->sql, q->where ? " AND " : " WHERE ");
    q->where = true;
}

static const char *const op_sql[] = {
    [SF_EQ] = "=", [SF_NE] = "<>", [SF_LT] = "<", [SF_LE] = "<=", [SF_GT] = ">", [SF_GE] = ">=",
    [SF_LIKE] = "LIKE", [SF_ILIKE] = "ILIKE",
};

static bool is_cmp_op(enum sf_op op)
{
    return op >= SF_EQ && op <= SF_ILIKE;
}

static bool is_numeric_op(enum sf_op op)
{
    return op >= SF_EQ && op <= SF_GE;
}

/* "<col> <op> $n" for a string value or list; col is one of our names.
 * Param and tag values are indexed as left(value, 200) (a btree entry has a
 * size limit), so an equality also states the prefix for the index. */
static int string_cmp_ix(struct q *q, const char *col, const struct sf_clause *c, bool left_ix)
{
    if (c->kind == SF_VAL_LIST && (c->op == SF_IN || c->op == SF_NOT_IN)) {
        sb_printf(q->sql, c->op == SF_IN ? "%s = ANY(" : "%s <> ALL(", col);
        bind(q, pg_text_array(q->a, c->list, c->list_len), "::text[])");  /* one text[] parameter */
        return 0;
    }
    if (c->kind != SF_VAL_STRING || !c->str || !is_cmp_op(c->op) ||
        (c->op != SF_EQ && c->op != SF_NE && c->op != SF_LIKE && c->op != SF_ILIKE))
        return error_set(q->err, BAD, "Invalid comparison for '%s'", c->key ? c->key : "");
    if (left_ix && c->op == SF_EQ) {
        int n = sql_param_add(q->params, q->a, c->str);
        /* A value under 200 characters equals the column exactly when it
         * equals the indexed prefix; one condition keeps the row estimate
         * right. Longer values compare in full as well. */
        size_t chars = 0;
        for (const char *p = c->str; *p; p++)
            chars += ((unsigned char)*p & 0xC0) != 0x80;
        if (chars < 200)
            sb_printf(q->sql, "left(%s, 200) = $%d", col, n);
        else
            sb_printf(q->sql, "left(%s, 200) = left($%d, 200) AND %s = $%d", col, n, col, n);
        return 0;
    }
    sb_printf(q->sql, "%s %s ", col, op_sql[c->op]);
    bind(q, c->str, NULL);
    return 0;
}

static int string_cmp(struct q *q, const char *col, const struct sf_clause *c)
{
    return string_cmp_ix(q, col, c, false);
}

/* An int64 literal binds as bigint (index-friendly); anything else
 * (1.5, 1e3, 99999999999999999999) as numeric, compared exactly as Python does. */
static int int_or_numeric_cmp(struct q *q, const char *col, const struct sf_clause *c)
{
    if (c->kind != SF_VAL_NUMBER || !c->num_text || !is_numeric_op(c->op))
        return error_set(q->err, BAD, "Invalid comparison for '%s'", c->key ? c->key : "");
    const char *s = c->num_text;
    char *end;
    errno = 0;
    (void)strtoll(s, &end, 10);
    bool int64 = *s && *end == '\0' && errno == 0;
    sb_printf(q->sql, "%s %s ", col, op_sql[c->op]);
    bind(q, s, int64 ? "::bigint" : "::numeric");
    return 0;
}

static const char *float_text(struct arena *a, double v)
{
    if (isinf(v))
        return v > 0 ? "Infinity" : "-Infinity";
    return arena_printf(a, "%.17g", v);
}

/* ---- runs ------------------------------------------------------------- */

struct run_attr {
    const char *name;       /* canonical AST name */
    const char *column;
    bool numeric;
};

static const struct run_attr run_attrs[] = {
    {"run_id", "r.run_uuid", false},
    {"run_name", "r.name", false},      /* filters go through tag mlflow.runName */
    {"status", "r.status", false},
    {"user_id", "r.user_id", false},
    {"artifact_uri", "r.artifact_uri", false},
    {"start_time", "r.start_time", true},
    {"end_time", "r.end_time", true},
};

static const struct run_attr *find_run_attr(const char *key)
{
    for (size_t i = 0; key && i < sizeof run_attrs / sizeof *run_attrs; i++)
        if (strcmp(run_attrs[i].name, key) == 0)
            return &run_attrs[i];
    return NULL;
}

/* EXISTS over a (run_uuid, key, value) table: params, tags or latest_metrics. */
static int kv_exists(struct q *q, const char *table, const char *key_sql, const struct sf_clause *c)
{
    if (c->op == SF_IS_NULL || c->op == SF_IS_NOT_NULL) {
        sb_printf(q->sql, "%sEXISTS (SELECT 1 FROM %s x WHERE x.run_uuid = r.run_uuid AND x.key = ",
                  c->op == SF_IS_NULL ? "NOT " : "", table);
        if (key_sql)
            sb_puts(q->sql, key_sql);
        else
            bind(q, c->key, NULL);
        sb_putc(q->sql, ')');
        return 0;
    }
    sb_printf(q->sql, "EXISTS (SELECT 1 FROM %s x WHERE x.run_uuid = r.run_uuid AND x.key = ",
              table);
    if (key_sql)
        sb_puts(q->sql, key_sql);
    else
        bind(q, c->key, NULL);
    sb_puts(q->sql, " AND ");
    if (string_cmp_ix(q, "x.value", c, true))
        return -1;
    sb_putc(q->sql, ')');
    return 0;
}

static int metric_exists(struct q *q, const struct sf_clause *c)
{
    if (c->kind != SF_VAL_NUMBER || !is_numeric_op(c->op))
        return error_set(q->err, BAD, "Invalid comparison for metric '%s'", c->key);
    sb_puts(q->sql, "EXISTS (SELECT 1 FROM latest_metrics x WHERE x.run_uuid = r.run_uuid "
                    "AND x.key = ");
    bind(q, c->key, NULL);
    sb_printf(q->sql, " AND x.value %s ", op_sql[c->op]);
    bind(q, float_text(q->a, c->num), "::float8");
    /* NaN is above every number in PostgreSQL; in MLflow it satisfies only != */
    if (c->op == SF_GT || c->op == SF_GE)
        sb_puts(q->sql, " AND x.value < 'NaN'::float8");
    sb_putc(q->sql, ')');
    return 0;
}

static int dataset_exists(struct q *q, const struct sf_clause *c)
{
    if (strcmp(c->key, "context") == 0) {
        sb_puts(q->sql, "EXISTS (SELECT 1 FROM run_inputs i JOIN input_tags it "
                        "ON it.input_uuid = i.input_uuid WHERE i.run_uuid = r.run_uuid "
                        "AND it.key = 'mlflow.data.context' AND ");
        if (string_cmp(q, "it.value", c))
            return -1;
    } else if (strcmp(c->key, "name") == 0 || strcmp(c->key, "digest") == 0) {
        sb_puts(q->sql, "EXISTS (SELECT 1 FROM run_inputs i JOIN datasets d "
                        "ON d.dataset_uuid = i.dataset_uuid WHERE i.run_uuid = r.run_uuid AND ");
        if (string_cmp(q, c->key[0] == 'n' ? "d.name" : "d.digest", c))
            return -1;
    } else {
        return error_set(q->err, BAD, "Invalid dataset key '%s' specified.", c->key);
    }
    sb_putc(q->sql, ')');
    return 0;
}

static int run_clause(struct q *q, const struct sf_clause *c)
{
    if (!c->key)
        return error_set(q->err, BAD, "Invalid search expression: no key");
    where_and(q);
    switch (c->entity) {
    case SF_METRIC:
        return metric_exists(q, c);
    case SF_PARAM:
        return kv_exists(q, "params", NULL, c);
    case SF_TAG:
        return kv_exists(q, "tags", NULL, c);
    case SF_DATASET:
        return dataset_exists(q, c);
    case SF_ATTR: {
        const struct run_attr *ra = find_run_attr(c->key);
        if (!ra)
            return error_set(q->err, BAD, "Invalid attribute key '%s' specified.", c->key);
        if (c->op == SF_IS_NULL || c->op == SF_IS_NOT_NULL)
            break;
        /* the runs.name column is empty for runs logged by MLflow <= 1.29 */
        if (strcmp(ra->name, "run_name") == 0)
            return kv_exists(q, "tags", "'mlflow.runName'", c);
        if (ra->numeric)
            return int_or_numeric_cmp(q, ra->column, c);
        if (c->kind == SF_VAL_LIST && strcmp(ra->name, "run_id") != 0)
            break;
        return string_cmp(q, ra->column, c);
    }
    default:   /* trace-only entities (issue 14) */
        break;
    }
    return error_set(q->err, BAD, "Invalid search expression for '%s'", c->key);
}

static int run_order(struct q *q, struct strbuf *joins, struct strbuf *order,
                     const struct sf_order_list *ol, bool *has_start_time)
{
    for (size_t i = 0; i < ol->n; i++) {
        const struct sf_order *o = &ol->items[i];
        const char *dir = o->ascending ? "ASC" : "DESC";
        if (!o->key)
            return error_set(q->err, BAD, "Invalid order_by clause: no key");
        if (i)
            sb_puts(order, ", ");
        if (o->entity == SF_ATTR) {
            const struct run_attr *ra = find_run_attr(o->key);
            if (!ra)
                return error_set(q->err, BAD, "Invalid attribute key '%s' specified.", o->key);
            if (strcmp(ra->name, "start_time") == 0)
                *has_start_time = true;
            sb_printf(order, "%s %s", ra->column, dir);
            continue;
        }
        const char *table = o->entity == SF_METRIC ? "latest_metrics"
                          : o->entity == SF_PARAM ? "params"
                          : o->entity == SF_TAG ? "tags" : NULL;
        if (!table)
            return error_set(q->err, BAD, "Invalid identifier type for order_by");
        sb_printf(joins, " LEFT JOIN %s o%zu ON o%zu.run_uuid = r.run_uuid AND o%zu.key = ",
                  table, i, i, i);
        int n = sql_param_add(q->params, q->a, o->key);
        sb_printf(joins, "$%d", n);
        if (o->entity == SF_METRIC)
            sb_printf(order, "CASE WHEN o%zu.value IS NULL THEN 2 WHEN o%zu.value = 'NaN'::float8 "
                      "THEN 1 ELSE 0 END, o%zu.value %s", i, i, i, dir);
        else
            sb_printf(order, "o%zu.value %s NULLS LAST", i, dir);
    }
    return 0;
}

static int view_clause(struct q *q, const char *col, enum view_type view)
{
    switch (view) {
    case VIEW_ACTIVE_ONLY:
        where_and(q);
        sb_printf(q->sql, "%s = 'active'", col);
        return 0;
    case VIEW_DELETED_ONLY:
        where_and(q);
        sb_printf(q->sql, "%s = 'deleted'", col);
        return 0;
    case VIEW_ALL:
        return 0;
    }
    return error_set(q->err, BAD, "Invalid view type");
}

static int page(struct q *q, int64_t offset, int64_t limit)
{
    if (offset < 0)
        return error_set(q->err, BAD, "Invalid page offset %" PRId64, offset);
    sb_puts(q->sql, " OFFSET ");
    bind(q, arena_printf(q->a, "%" PRId64, offset), "::bigint");
    if (limit >= 0) {
        sb_puts(q->sql, " LIMIT ");
        bind(q, arena_printf(q->a, "%" PRId64, limit), "::bigint");
    }
    return 0;
}

int search_runs_sql(struct arena *a, const struct run_search *s, struct strbuf *sql,
                    struct sql_params *params, struct error *err)
{
    return search_runs_sql_cols(a, s, "r.run_uuid", sql, params, err);
}

int search_runs_sql_cols(struct arena *a, const struct run_search *s, const char *cols,
                         struct strbuf *sql, struct sql_params *params, struct error *err)
{
    struct q q = {a, sql, params, err, false};
    struct strbuf joins, order;
    bool has_start_time = false;
    sb_init(&joins, a, 128);
    sb_init(&order, a, 128);
    /* the order_by joins come first in the text, so they bind first */
    if (run_order(&q, &joins, &order, &s->order, &has_start_time))
        return -1;
    sb_printf(sql, "SELECT %s FROM runs r", cols);
    sb_puts(sql, joins.buf);
    /* one experiment: a plain = lets the (experiment_id, start_time DESC,
     * run_uuid) index deliver rows already in the default order */
    where_and(&q);
    if (s->n_experiments == 1) {
        sb_puts(sql, "r.experiment_id = ");
        bind(&q, arena_printf(a, "%" PRId64, s->experiment_ids[0]), "::bigint");
    } else {
        struct strbuf ids;
        sb_init(&ids, a, 16 + 21 * s->n_experiments);
        sb_putc(&ids, '{');
        for (size_t i = 0; i < s->n_experiments; i++)
            sb_printf(&ids, "%s%" PRId64, i ? "," : "", s->experiment_ids[i]);
        sb_putc(&ids, '}');
        sb_puts(sql, "r.experiment_id = ANY(");
        bind(&q, ids.buf, "::bigint[])");
    }
    if (view_clause(&q, "r.lifecycle_stage", s->view))
        return -1;
    for (size_t i = 0; i < s->filter.n; i++)
        if (run_clause(&q, &s->filter.clauses[i]))
            return -1;
    sb_puts(sql, " ORDER BY ");
    if (order.len) {
        sb_puts(sql, order.buf);
        sb_puts(sql, ", ");
    }
    /* MLflow's natural order and tie-break */
    if (!has_start_time)
        sb_puts(sql, "r.start_time DESC, ");
    sb_puts(sql, "r.run_uuid ASC");
    return page(&q, s->offset, s->limit);
}

/* ---- experiments ------------------------------------------------------ */

static const struct run_attr exp_attrs[] = {
    {"name", "e.name", false},
    {"experiment_id", "e.experiment_id", false},
    {"creation_time", "e.creation_time", true},
    {"last_update_time", "e.last_update_time", true},
};

static const struct run_attr *find_exp_attr(const char *key)
{
    for (size_t i = 0; key && i < sizeof exp_attrs / sizeof *exp_attrs; i++)
        if (strcmp(exp_attrs[i].name, key) == 0)
            return &exp_attrs[i];
    return NULL;
}

static int experiment_id_cmp(struct q *q, const struct sf_clause *c)
{
    if (c->kind == SF_VAL_LIST && (c->op == SF_IN || c->op == SF_NOT_IN)) {
        struct strbuf ids;
        sb_init(&ids, q->a, 64);
        sb_putc(&ids, '{');
        for (size_t i = 0; i < c->list_len; i++) {
            char *end;
            errno = 0;
            long long v = strtoll(c->list[i], &end, 10);
            if (!*c->list[i] || *end || errno)
                return error_set(q->err, BAD, "Invalid experiment ID '%s'. Experiment ID must "
                                 "be a valid integer.", c->list[i]);
            sb_printf(&ids, "%s%lld", i ? "," : "", v);
        }
        sb_putc(&ids, '}');
        sb_puts(q->sql, c->op == SF_IN ? "e.experiment_id = ANY(" : "e.experiment_id <> ALL(");
        bind(q, ids.buf, "::bigint[])");
        return 0;
    }
    if (c->kind != SF_VAL_STRING || (c->op != SF_EQ && c->op != SF_NE))
        return error_set(q->err, BAD, "Invalid comparator for experiment_id");
    char *end;
    errno = 0;
    (void)strtoll(c->str, &end, 10);
    if (!*c->str || *end || errno)
        return error_set(q->err, BAD, "Invalid experiment ID '%s'. Experiment ID must be a "
                         "valid integer.", c->str);
    sb_printf(q->sql, "e.experiment_id %s ", op_sql[c->op]);
    bind(q, c->str, "::bigint");
    return 0;
}

static int experiment_clause(struct q *q, const struct sf_clause *c)
{
    if (!c->key)
        return error_set(q->err, BAD, "Invalid search expression: no key");
    where_and(q);
    if (c->entity == SF_TAG) {
        if (c->op == SF_IS_NULL || c->op == SF_IS_NOT_NULL) {
            sb_printf(q->sql, "%sEXISTS (SELECT 1 FROM experiment_tags x WHERE "
                      "x.experiment_id = e.experiment_id AND x.key = ",
                      c->op == SF_IS_NULL ? "NOT " : "");
            bind(q, c->key, NULL);
            sb_putc(q->sql, ')');
            return 0;
        }
        sb_puts(q->sql, "EXISTS (SELECT 1 FROM experiment_tags x WHERE "
                        "x.experiment_id = e.experiment_id AND x.key = ");
        bind(q, c->key, NULL);
        sb_puts(q->sql, " AND ");
        if (c->kind == SF_VAL_LIST)
            return error_set(q->err, BAD, "Invalid comparator for tag");
        if (string_cmp_ix(q, "x.value", c, true))
            return -1;
        sb_putc(q->sql, ')');
        return 0;
    }
    const struct run_attr *ea = c->entity == SF_ATTR ? find_exp_attr(c->key) : NULL;
    if (!ea)
        return error_set(q->err, BAD, "Invalid attribute key '%s' specified.", c->key);
    if (strcmp(ea->name, "experiment_id") == 0)
        return experiment_id_cmp(q, c);
    if (ea->numeric)
        return int_or_numeric_cmp(q, ea->column, c);
    if (c->kind == SF_VAL_LIST)
        return error_set(q->err, BAD, "Only ['experiment_id'] attributes support comparison with "
                         "a list of quoted string values.");
    return string_cmp(q, ea->column, c);
}

int search_experiments_sql(struct arena *a, const struct experiment_search *s,
                           struct strbuf *sql, struct sql_params *params, struct error *err)
{
    struct q q = {a, sql, params, err, false};
    sb_puts(sql, "SELECT e.experiment_id FROM experiments e");
    if (view_clause(&q, "e.lifecycle_stage", s->view))
        return -1;
    for (size_t i = 0; i < s->filter.n; i++)
        if (experiment_clause(&q, &s->filter.clauses[i]))
            return -1;
    sb_puts(sql, " ORDER BY ");
    if (s->order.n == 0) {
        /* MLflow's default, which experiments_creation_idx serves */
        sb_puts(sql, "e.creation_time DESC, e.experiment_id ASC");
    } else {
        bool has_id = false;
        for (size_t i = 0; i < s->order.n; i++) {
            const struct sf_order *o = &s->order.items[i];
            const struct run_attr *ea = o->entity == SF_ATTR ? find_exp_attr(o->key) : NULL;
            if (!ea)
                return error_set(err, BAD, "Invalid order_by entity");
            has_id = has_id || strcmp(ea->name, "experiment_id") == 0;
            sb_printf(sql, "%s%s %s", i ? ", " : "", ea->column, o->ascending ? "ASC" : "DESC");
        }
        /* MLflow's tie-break when the user did not order by id */
        if (!has_id)
            sb_puts(sql, ", e.experiment_id DESC");
    }
    return page(&q, s->offset, s->limit);
}

const char *sf_sql_op(enum sf_op op)
{
    static const char *const sql[] = { [SF_EQ] = "=", [SF_NE] = "<>", [SF_LT] = "<", [SF_LE] = "<=",
                                       [SF_GT] = ">", [SF_GE] = ">=", [SF_LIKE] = "LIKE", [SF_ILIKE] = "ILIKE" };
    return (size_t)op < sizeof sql / sizeof *sql ? sql[op] : NULL;
}
