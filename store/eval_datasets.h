/* MLflow 3 evaluation datasets (issue 21): datasets, their tags, their links
 * to experiments and their records, in PostgreSQL (sql/008_genai_datasets.sql).
 * JSON stays text here: api/eval_datasets.c spells every JSON field and hands
 * the store the two JSON operations an upsert needs (object merge, schema
 * update) as callbacks, so no JSON parser lives below api/. */
#ifndef CAIRN_STORE_EVAL_DATASETS_H
#define CAIRN_STORE_EVAL_DATASETS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"
#include "search.h"
#include "tracking.h"

struct eval_dataset {
    const char *dataset_id, *name;
    const char *schema, *profile;          /* NULL: absent */
    const char *digest;
    int64_t created_time, last_update_time;
    const char *created_by, *last_updated_by;   /* NULL: absent */
    struct kv *tags;                       /* value may be NULL */
    size_t n_tags;
    const char **experiment_ids;           /* only create fills these */
    size_t n_experiment_ids;
};

int store_create_eval_dataset(struct arena *a, const char *name, const struct kv *tags, size_t n_tags,
                              const char *const *experiment_ids, size_t n_experiment_ids,
                              const char *created_by, struct eval_dataset *out, struct error *err);
/* RESOURCE_DOES_NOT_EXIST with MLflow's message when absent */
int store_get_eval_dataset(struct arena *a, const char *dataset_id, struct eval_dataset *out, struct error *err);
/* idempotent, as MLflow's */
int store_delete_eval_dataset(const char *dataset_id, struct error *err);

struct eval_dataset_search {
    const char *const *experiment_ids;     /* none: every dataset */
    size_t n_experiment_ids;
    struct sf_filter filter;               /* sf_parse_eval_dataset_filter */
    struct sf_order_list order;            /* empty: created_time DESC */
    int64_t offset, limit;                 /* limit = max_results + 1 */
};
int store_search_eval_datasets(struct arena *a, const struct eval_dataset_search *s,
                               struct eval_dataset **out, size_t *n, struct error *err);

/* upsert (values as text; NULL value stored as NULL) */
int store_set_eval_dataset_tags(const char *dataset_id, const struct kv *tags, size_t n, struct error *err);
int store_delete_eval_dataset_tag(const char *dataset_id, const char *key, struct error *err);
/* [] for an unknown dataset, as MLflow */
int store_eval_dataset_experiment_ids(struct arena *a, const char *dataset_id, const char ***out, size_t *n,
                                      struct error *err);
/* add: every experiment must exist; remove: idempotent. Both answer the dataset. */
int store_add_eval_dataset_experiments(struct arena *a, const char *dataset_id, const char *const *ids, size_t n,
                                       struct eval_dataset *out, struct error *err);
int store_remove_eval_dataset_experiments(struct arena *a, const char *dataset_id, const char *const *ids,
                                          size_t n, struct eval_dataset *out, struct error *err);

/* ---- records ---- */
struct eval_record {
    const char *dataset_record_id, *dataset_id;
    const char *inputs;                    /* JSON text */
    const char *outputs, *expectations;    /* JSON text or NULL (absent) */
    const char *tags;                      /* JSON object text */
    const char *source, *source_id, *source_type;   /* NULL: absent */
    int64_t created_time, last_update_time;
    const char *created_by, *last_updated_by;
};

/* One record of an upsert request, prepared by api/: `rec` is the row a new
 * record becomes; the flags say what a merge into an existing one changes. */
struct eval_record_upsert {
    struct eval_record rec;
    const char *input_hash;
    bool outputs_given;                    /* "outputs" present: replaces (NULL clears) */
    bool merge_expectations, merge_tags;   /* a non-empty object to merge (dict.update) */
    const char *user;                      /* tags["mlflow.user"], or NULL */
};

struct eval_upsert_hooks {
    /* dict.update: old (NULL: {}) updated with upd; arena text */
    const char *(*merge_object)(struct arena *a, const char *old, const char *upd);
    /* the dataset's schema string after these records (old: NULL when none); NULL: unchanged */
    const char *(*schema)(void *ctx, struct arena *a, const char *old);
    void *ctx;
};
/* BAD_REQUEST when the dataset does not exist (MLflow's foreign-key error) */
int store_upsert_eval_records(struct arena *a, const char *dataset_id, struct eval_record_upsert *recs, size_t n,
                              const struct eval_upsert_hooks *hooks, int64_t *inserted, int64_t *updated,
                              struct error *err);
/* A page in (created_time, dataset_record_id) order after the cursor
 * (after_time < 0: from the start; offset used instead when >= 0). Fetches
 * limit rows. */
int store_get_eval_records(struct arena *a, const char *dataset_id, int64_t after_time, const char *after_id,
                           int64_t offset, int64_t limit, struct eval_record **out, size_t *n, struct error *err);
int store_delete_eval_records(const char *dataset_id, const char *const *ids, size_t n, int64_t *deleted,
                              struct error *err);
#endif
