/* Helpers shared by the api/ handlers. */
#ifndef CAIRN_API_COMMON_H
#define CAIRN_API_COMMON_H
#include "api.h"
#include "json.h"
#include "validate.h"
#include "../store/tracking.h"

/* Start the reply object: `struct jw w; reply_begin(resp, &w);` … `reply_end(&w)` */
void reply_begin(struct response *resp, struct jw *w);
void reply_end(struct jw *w);
/* the empty reply {} */
int reply_empty(struct response *resp);

/* run_id, or run_uuid where run_id is absent (MLflow takes either) */
int get_run_id(const cJSON *in, const char **run_id, struct error *err);
/* A string holding an integer; a JSON number is refused as MLflow's schema
 * refuses it. The lenient form takes a number too (trace bodies). */
int get_experiment_id(const cJSON *in, const char *field, int64_t *id, struct error *err);
int get_experiment_id_lenient(const cJSON *in, const char *field, int64_t *id, struct error *err);
/* A repeated string field: a list in a JSON body (a lone string there is
 * MLflow's "Value was of type 'str'"), one or more query values for GET. */
int get_string_list(const struct request *req, const char *field, const char ***out, size_t *n,
                    struct error *err);
int get_view_type(const cJSON *in, const char *field, enum view_type *out, struct error *err);
/* A list of {key, value} objects. */
int get_kv_list(struct arena *a, const cJSON *in, const char *field, struct kv **out, size_t *n,
                struct error *err);

/* The tags of experiments/create and the registry's creates as MLflow's
 * store sees them after protobuf parsing: a missing key is "", and an element
 * that is not an object or whose key is not a string ends the list with an
 * empty key (protobuf stops at the first value it cannot parse). */
int get_tag_list(struct arena *a, const cJSON *in, const char *field, struct kv **out, size_t *n,
                 struct error *err);

/* Page tokens: opaque base64 of {"offset": N}, as MLflow's. */
const char *page_token_encode(struct arena *a, int64_t offset);
int page_token_decode(struct arena *a, const char *token, int64_t *offset, struct error *err);
/* max_results with a default and MLflow's upper limit (400 above it), each
 * search spelling its errors as MLflow's handler and store for it do. */
enum max_results_rule {
    MAXR_EXPERIMENTS,      /* no default (absent is 0); "It must be at most N" */
    MAXR_RUNS,             /* the handler's bound: the schema message with the value */
    MAXR_MODEL_VERSIONS,   /* the same bound; "It must be a positive integer, but got N" */
};
int get_max_results(const cJSON *in, enum max_results_rule rule, int64_t dflt, int64_t max, int64_t *out,
                    struct error *err);

/* A search page: `field` holds the first max_results of the n items fetched
 * (max_results + 1 were asked for), and next_page_token follows when the
 * extra one came back. An empty page omits the array, as protobuf does. */
typedef void (*item_writer)(struct jw *w, const void *item);
int reply_page(struct request *req, struct response *resp, const char *field, const void *items, size_t n,
               size_t item_size, item_writer write, int64_t max_results, int64_t offset);

/* entity writers */
void write_tags(struct jw *w, const char *key, const struct kv *tags, size_t n);
void write_experiment(struct jw *w, const struct experiment *e);
void write_metric(struct jw *w, const struct metric *m);
/* a metric's value alone, after jw_key (e.g. the bulk history's plain objects) */
void write_metric_value(struct jw *w, const struct metric *m);
void write_run_info(struct jw *w, const struct run_info *ri);
/* create_run answers without "outputs", as MLflow does */
void write_run(struct jw *w, const struct run *r, bool with_model_inputs, bool with_outputs);
/* adjective-noun-NNN, as MLflow names runs and logged models (api/runs.c) */
const char *random_run_name(struct arena *a);
#endif
