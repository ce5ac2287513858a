/* Tracking domain: experiments, runs, metrics, params, tags, inputs and
 * outputs, as plain C structs. api/ turns them into MLflow JSON; store/
 * reads and writes them in PostgreSQL. Strings live in the request arena. */
#ifndef CAIRN_TRACKING_H
#define CAIRN_TRACKING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"
#include "search.h"

struct kv {
    const char *key, *value;
};

struct experiment {
    int64_t experiment_id;
    const char *name;
    const char *artifact_location;
    const char *lifecycle_stage;
    int64_t creation_time, last_update_time;
    struct kv *tags;
    size_t n_tags;
};

struct metric {
    const char *key;
    double value;
    const char *value_text;        /* PostgreSQL's text of value when read back (its shortest exact form) */
    int64_t timestamp, step;
    const char *model_id;          /* optional (MLflow 3) */
    const char *dataset_name;      /* optional */
    const char *dataset_digest;    /* optional */
    const char *run_id;            /* set when read back for a logged model */
};

struct dataset {
    const char *name, *digest, *source_type, *source, *schema, *profile;
};

struct dataset_input {
    struct dataset dataset;
    struct kv *tags;
    size_t n_tags;
};

struct model_io {
    const char *model_id;
    int64_t step;
};

struct run_info {
    const char *run_id;
    int64_t experiment_id;
    const char *run_name;
    const char *user_id;
    const char *status;
    int64_t start_time;
    int64_t end_time;
    bool has_end_time;
    const char *artifact_uri;
    const char *lifecycle_stage;
};

struct run {
    struct run_info info;
    struct metric *metrics;  size_t n_metrics;   /* latest values */
    struct kv *params;       size_t n_params;
    struct kv *tags;         size_t n_tags;
    struct dataset_input *inputs; size_t n_inputs;
    struct model_io *model_inputs; size_t n_model_inputs;
    struct model_io *model_outputs; size_t n_model_outputs;
};

/* wall-clock milliseconds since the epoch, as MLflow timestamps */
int64_t now_ms(void);
/* issue 17: the rest of this request reads from the primary, never a read
 * replica (a read that decides a write) */
void store_reads_from_primary(void);

/* experiments */
int store_create_experiment(struct arena *a, const char *name, const char *artifact_location,
                            const char *default_root, const struct kv *tags, size_t n_tags,
                            int64_t *experiment_id, struct error *err);
int store_get_experiment(struct arena *a, int64_t experiment_id, struct experiment *out, struct error *err);
int store_get_experiment_by_name(struct arena *a, const char *name, struct experiment *out, struct error *err);
int store_search_experiments(struct arena *a, const struct experiment_search *s,
                             struct experiment **out, size_t *n, struct error *err);
int store_rename_experiment(int64_t experiment_id, const char *new_name, struct error *err);
int store_set_experiment_lifecycle(int64_t experiment_id, bool deleted, struct error *err);
int store_set_experiment_tag(int64_t experiment_id, const char *key, const char *value, struct error *err);
int store_delete_experiment_tag(int64_t experiment_id, const char *key, struct error *err);

/* runs */
struct run_create {
    int64_t experiment_id;
    const char *user_id;
    int64_t start_time;
    const char *run_name;            /* resolved by api/ */
    const struct kv *tags;
    size_t n_tags;
};
int store_create_run(struct arena *a, const struct run_create *rc, struct run *out, struct error *err);
int store_get_run(struct arena *a, const char *run_id, struct run *out, struct error *err);
struct run_update {
    const char *status;              /* NULL: unchanged */
    bool has_end_time;
    int64_t end_time;
    const char *run_name;            /* NULL: unchanged */
};
int store_update_run(struct arena *a, const char *run_id, const struct run_update *u,
                     struct run_info *out, struct error *err);
int store_set_run_lifecycle(const char *run_id, bool deleted, struct error *err);
int store_delete_run_tag(const char *run_id, const char *key, struct error *err);

/* One log-batch (also log-metric, log-parameter, set-tag): all or nothing,
 * in one transaction with set-based statements. */
struct log_batch {
    const struct metric *metrics; size_t n_metrics;
    const struct kv *params;      size_t n_params;
    const struct kv *tags;        size_t n_tags;
};
int store_log_batch(struct arena *a, const char *run_id, const struct log_batch *b, struct error *err);
/* One param (log-parameter): a changed value gets MLflow's one-param message
 * rather than log-batch's list of every changed param. */
int store_log_param(struct arena *a, const char *run_id, const struct kv *param, struct error *err);
int store_log_inputs(struct arena *a, const char *run_id, const struct dataset_input *inputs, size_t n,
                     const struct model_io *models, size_t n_models, struct error *err);
int store_log_outputs(struct arena *a, const char *run_id, const struct model_io *models, size_t n,
                      struct error *err);

int store_search_runs(struct arena *a, const struct run_search *s, struct run **out, size_t *n,
                      struct error *err);

/* metric history */
/* Streams the history in (timestamp, step, value) order, skipping `offset`
 * points and stopping after `limit` (-1: all), in batches handed to sink;
 * a non-zero return from sink stops the walk. Memory stays flat whatever the
 * length of the history. */
typedef int (*metric_sink)(void *ctx, const struct metric *m, size_t n);
int store_metric_history_each(const char *run_id, const char *key, int64_t offset, int64_t limit,
                              metric_sink sink, void *ctx, struct error *err);
int store_metric_history(struct arena *a, const char *run_id, const char *key, int64_t offset,
                         int64_t limit, struct metric **out, size_t *n, struct error *err);
/* Sampled history for charts: up to max_results points per run, evenly
 * spaced over steps in [start_step, end_step], always keeping min and max step. */
int store_metric_history_sampled(struct arena *a, const char *run_id, const char *key,
                                 bool has_start, int64_t start_step, bool has_end, int64_t end_step,
                                 int64_t max_results, struct metric **out, size_t *n, struct error *err);
#endif
