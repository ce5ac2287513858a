/* The search-filter AST, shared by api/search_filter.c (which parses MLflow's
 * filter and order_by strings into it) and store/search_sql.c (which
 * compiles it into parameterised SQL). User text only ever reaches SQL as a
 * bind parameter. */
#ifndef CAIRN_SEARCH_H
#define CAIRN_SEARCH_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "arena.h"
#include "error.h"

enum sf_entity {
    SF_ATTR,       /* attributes.x, or a bare identifier */
    SF_METRIC,     /* metrics.k: the run's latest value of k */
    SF_PARAM,
    SF_TAG,
    SF_DATASET,    /* datasets.name | digest | context */
    /* issue 14: trace search only (sf_parse_trace_filter) */
    SF_TRACE_METADATA,   /* metadata.k / request_metadata.k */
    SF_SPAN,             /* span.name | type | status | content | attributes.<k> */
    SF_FEEDBACK,         /* feedback.<assessment name> */
    SF_EXPECTATION,      /* expectation.<assessment name> */
    SF_ASSESSMENT,       /* issue 12: trace metrics only: assessment.name | type */
};

enum sf_op {
    SF_EQ, SF_NE, SF_LT, SF_LE, SF_GT, SF_GE,
    SF_LIKE, SF_ILIKE, SF_IN, SF_NOT_IN, SF_IS_NULL, SF_IS_NOT_NULL,
    SF_RLIKE,   /* issue 14: traces only (a POSIX regular expression, PostgreSQL's ~) */
};

enum sf_value_kind { SF_VAL_NONE, SF_VAL_STRING, SF_VAL_NUMBER, SF_VAL_LIST };

struct sf_clause {
    enum sf_entity entity;
    const char *key;        /* metric/param/tag key, or the canonical attribute
                               name (run_id, run_name, status, user_id,
                               artifact_uri, start_time, end_time; name,
                               experiment_id, creation_time, last_update_time;
                               for datasets name, digest, context) */
    enum sf_op op;
    enum sf_value_kind kind;
    const char *str;        /* SF_VAL_STRING: quotes stripped, not unescaped */
    const char *num_text;   /* SF_VAL_NUMBER: the literal as written */
    double num;             /* SF_VAL_NUMBER */
    const char **list;      /* SF_VAL_LIST */
    size_t list_len;
};

struct sf_filter {
    struct sf_clause *clauses;
    size_t n;
};

struct sf_order {
    enum sf_entity entity;  /* SF_ATTR, SF_METRIC, SF_PARAM or SF_TAG */
    const char *key;        /* canonical attribute name, or the metric/param/tag key */
    bool ascending;
};

struct sf_order_list {
    struct sf_order *items;
    size_t n;
};

/* A run search as the store sees it. */
enum view_type { VIEW_ACTIVE_ONLY = 1, VIEW_DELETED_ONLY = 2, VIEW_ALL = 3 };

struct run_search {
    const int64_t *experiment_ids;
    size_t n_experiments;
    struct sf_filter filter;
    struct sf_order_list order;   /* as the user gave it; the compiler adds MLflow's tie-breaks */
    enum view_type view;
    int64_t offset;
    int64_t limit;                /* rows to fetch: max_results + 1; negative: no LIMIT */
};

struct experiment_search {
    struct sf_filter filter;
    struct sf_order_list order;
    enum view_type view;
    int64_t offset;
    int64_t limit;
};

/* The SQL comparator of =, !=, <, <=, >, >=, LIKE, ILIKE; NULL for the others. */
const char *sf_sql_op(enum sf_op op);

/* Bind parameters collected while compiling; all passed to libpq as text. */
struct sql_params {
    const char **values;
    int n, cap;
};
void sql_params_init(struct sql_params *p, struct arena *a);
/* Appends a value and returns its placeholder number ($n). */
int sql_param_add(struct sql_params *p, struct arena *a, const char *value);

/* SELECT returning run_uuid only, in the requested order, with OFFSET/LIMIT. */
int search_runs_sql(struct arena *a, const struct run_search *s,
                    struct strbuf *sql, struct sql_params *params, struct error *err);
/* The same SELECT returning cols (columns of runs r) instead: the page's
 * rows come with the search, not from a second statement. */
int search_runs_sql_cols(struct arena *a, const struct run_search *s, const char *cols,
                         struct strbuf *sql, struct sql_params *params, struct error *err);
/* SELECT returning experiment_id only, in the requested order, with OFFSET/LIMIT. */
int search_experiments_sql(struct arena *a, const struct experiment_search *s,
                           struct strbuf *sql, struct sql_params *params, struct error *err);
#endif
