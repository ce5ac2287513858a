/* MLflow 3 labelling (issue 21; sql/011_genai_labeling.sql): issues, label
 * schemas and review queues with SqlAlchemyStore's semantics and messages.
 * api/labeling.c validates and normalises every field first (MLflow's
 * validation modules); JSON stays text here (root causes, categories and a
 * schema's input config are spelled by api/). */
#ifndef CAIRN_STORE_LABELING_H
#define CAIRN_STORE_LABELING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"
#include "search.h"

/* ---- issues ---- */
struct issue {
    const char *issue_id, *name, *description, *status;
    const char *severity, *root_causes, *source_run_id, *categories, *created_by;   /* NULL: absent */
    int64_t experiment_id, created_timestamp, last_updated_timestamp;
    int64_t trace_count;   /* < 0: not asked for */
};

/* in: every field but the id and times; the experiment must be active */
int store_create_issue(struct arena *a, const struct issue *in, struct issue *out, struct error *err);
int store_get_issue(struct arena *a, const char *issue_id, struct issue *out, struct error *err);
/* NULL fields are left as they are */
int store_update_issue(struct arena *a, const char *issue_id, const char *status, const char *name,
                       const char *description, const char *severity, struct issue *out, struct error *err);
struct issue_search {
    int64_t experiment_id;         /* < 0: every experiment */
    struct sf_filter filter;       /* sf_parse_issue_filter */
    bool include_trace_count;
    int64_t offset, limit;         /* limit = max_results + 1 */
};
int store_search_issues(struct arena *a, const struct issue_search *s, struct issue **out, size_t *n,
                        struct error *err);

/* ---- label schemas ---- */
struct label_schema {
    const char *schema_id, *name, *type, *input_type, *input_config;   /* input_config: JSON text */
    const char *instruction, *created_by;                               /* NULL: absent */
    int64_t experiment_id, created_time, last_update_time;
    bool enable_comment, is_default;
};

/* the experiment's default question, seeded by list (DEFAULT_LABEL_SCHEMA_*) */
#define LABEL_SCHEMA_DEFAULT_NAME "Feedback"
#define LABEL_SCHEMA_DEFAULT_INSTRUCTION "Share any feedback on this trace."

int store_create_label_schema(struct arena *a, const struct label_schema *in, struct label_schema *out,
                              struct error *err);
int store_get_label_schema(struct arena *a, const char *schema_id, struct label_schema *out, struct error *err);
int store_get_label_schema_by_name(struct arena *a, int64_t experiment_id, const char *name,
                                   struct label_schema *out, struct error *err);
/* seeds the default question when the experiment has none */
int store_list_label_schemas(struct arena *a, int64_t experiment_id, int64_t offset, int64_t limit,
                             struct label_schema **out, size_t *n, struct error *err);
/* api/ checks the update against the current schema: check(ctx, current) */
struct label_schema_update {
    const char *name, *instruction, *input_type, *input_config;   /* NULL: unchanged */
    int enable_comment;                                           /* -1: unchanged */
    int (*check)(void *ctx, const struct label_schema *current, struct error *err);
    void *ctx;
};
int store_update_label_schema(struct arena *a, const char *schema_id, const struct label_schema_update *u,
                              struct label_schema *out, struct error *err);
/* no-op when absent; the default question cannot be deleted */
int store_delete_label_schema(const char *schema_id, struct error *err);

/* ---- review queues ---- */
struct review_queue {
    const char *queue_id, *name, *queue_type, *created_by;   /* created_by NULL: absent */
    int64_t experiment_id, creation_time_ms, last_update_time_ms;
    const char **users, **schema_ids;
    size_t n_users, n_schema_ids;
};

struct review_item {
    const char *queue_id, *item_type, *item_id, *status;
    const char *completed_by;          /* NULL: absent */
    int64_t completed_time_ms;         /* < 0: absent */
    int64_t creation_time_ms, last_update_time_ms;
};

/* in: normalised name, type, users, schema ids and owner */
int store_create_review_queue(struct arena *a, int64_t experiment_id, const struct review_queue *in,
                              struct review_queue *out, struct error *err);
/* user: normalised; the queue named after the user, made when absent */
int store_get_or_create_user_queue(struct arena *a, int64_t experiment_id, const char *user,
                                   struct review_queue *out, struct error *err);
int store_get_review_queue(struct arena *a, const char *queue_id, struct review_queue *out, struct error *err);
int store_get_review_queue_by_name(struct arena *a, int64_t experiment_id, const char *name,
                                   struct review_queue *out, struct error *err);
/* user / item_id / member NULL: no narrowing (member: issue 16's narrowing to the caller's queues) */
int store_list_review_queues(struct arena *a, int64_t experiment_id, const char *user, const char *item_id,
                             const char *member, int64_t offset, int64_t limit, struct review_queue **out, size_t *n,
                             struct error *err);
struct review_queue_update {
    const char *name, *new_owner;          /* NULL: unchanged (already validated) */
    const char **users, **schema_ids;      /* set_*: replace the set */
    size_t n_users, n_schema_ids;
    bool set_users, set_schema_ids;
};
int store_update_review_queue(struct arena *a, const char *queue_id, const struct review_queue_update *u,
                              struct review_queue *out, struct error *err);
/* no-op when absent */
int store_delete_review_queue(const char *queue_id, struct error *err);
/* every item must be a trace of the queue's experiment; existing items keep their status */
int store_add_review_items(struct arena *a, const char *queue_id, const char *item_type, const char *const *ids,
                           size_t n, struct review_item **out, size_t *n_out, struct error *err);
int store_remove_review_items(struct arena *a, const char *queue_id, const char *const *ids, size_t n,
                              struct error *err);
/* status NULL: every item */
int store_list_review_items(struct arena *a, const char *queue_id, const char *status, int64_t offset,
                            int64_t limit, struct review_item **out, size_t *n, struct error *err);
/* completed_by NULL for pending, required otherwise (checked by api/) */
int store_set_review_item_status(struct arena *a, const char *queue_id, const char *item_id, const char *status,
                                 const char *completed_by, struct review_item *out, struct error *err);
#endif
