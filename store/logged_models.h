/* MLflow 3 logged models: domain structs and store calls. */
#ifndef CAIRN_LOGGED_MODELS_H
#define CAIRN_LOGGED_MODELS_H
#include "tracking.h"

/* LoggedModelStatus numbers as in MLflow's proto */
enum { LM_STATUS_UNSPECIFIED = 0, LM_STATUS_PENDING = 1, LM_STATUS_READY = 2, LM_STATUS_UPLOAD_FAILED = 3 };

struct logged_model {
    const char *model_id;
    int64_t experiment_id;
    const char *name, *artifact_location;
    int64_t creation_timestamp_ms, last_updated_timestamp_ms;
    int status;
    const char *lifecycle_stage;
    const char *model_type, *source_run_id, *status_message;   /* NULL when unset */
    struct kv *tags;         size_t n_tags;
    struct kv *params;       size_t n_params;
    struct metric *metrics;  size_t n_metrics;                 /* every point, with run_id */
};

struct logged_model_create {
    int64_t experiment_id;
    const char *name;                     /* resolved by api/ */
    const char *model_type, *source_run_id;
    const struct kv *params; size_t n_params;
    const struct kv *tags;   size_t n_tags;
};

int store_create_logged_model(struct arena *a, const struct logged_model_create *c, struct logged_model *out,
                              struct error *err);
int store_get_logged_model(struct arena *a, const char *model_id, bool allow_deleted, struct logged_model *out,
                           struct error *err);
int store_finalize_logged_model(struct arena *a, const char *model_id, int status, struct logged_model *out,
                                struct error *err);
int store_delete_logged_model(struct arena *a, const char *model_id, struct error *err);
int store_set_logged_model_tags(struct arena *a, const char *model_id, const struct kv *tags, size_t n,
                                struct error *err);
int store_delete_logged_model_tag(struct arena *a, const char *model_id, const char *key, struct error *err);
int store_log_logged_model_params(struct arena *a, const char *model_id, const struct kv *params, size_t n,
                                  struct error *err);

/* ---- search (the grammar is parsed in api/logged_models.c) ---- */
enum lm_entity { LM_ATTRIBUTE, LM_METRIC, LM_PARAM, LM_TAG };
enum lm_op { LM_EQ, LM_NE, LM_LT, LM_LE, LM_GT, LM_GE, LM_LIKE, LM_ILIKE, LM_IN, LM_NOT_IN };

struct lm_condition {
    enum lm_entity entity;
    const char *key;          /* attribute: a column name from lm_attribute_column() */
    enum lm_op op;
    bool numeric;
    double number;            /* numeric comparisons */
    const char **values;      /* string comparisons: one value, or the IN list */
    size_t n_values;
};
struct lm_order {
    const char *field_name;   /* as the client sent it (page tokens repeat it) */
    bool is_metric;
    const char *field;        /* attribute column, or metric key */
    bool ascending;
    const char *dataset_name, *dataset_digest;
};
struct lm_dataset {
    const char *name, *digest;   /* digest may be NULL */
};
struct logged_model_search {
    const int64_t *experiment_ids; size_t n_experiments;
    const struct lm_condition *conds; size_t n_conds;
    const struct lm_dataset *datasets; size_t n_datasets;
    const struct lm_order *order; size_t n_order;
    int64_t offset, limit;
};
/* The column for an attribute name (aliases applied), or NULL; *numeric
 * tells whether it compares as a number. */
const char *lm_attribute_column(const char *name, bool *numeric);
int store_search_logged_models(struct arena *a, const struct logged_model_search *s, struct logged_model **out,
                               size_t *n, struct error *err);

/* Legacy runs/log-model: appends model_json to the run tag mlflow.log-model.history. */
int store_append_log_model_history(struct arena *a, const char *run_id, const char *model_json, struct error *err);

/* The hook in store/runs.c's log-batch transaction: metrics that carry a
 * model_id are also recorded as that logged model's metrics (an unknown
 * model_id is ignored). */
struct db_conn;
int store_log_model_metrics_tx(struct db_conn *c, struct arena *a, const char *run_id, const struct metric *m,
                               size_t n, struct error *err);
#endif
