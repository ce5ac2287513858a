/* A small MLflow REST client on libcurl. It talks to any MLflow 2.x/3.x
 * tracking server (Cairn or MLflow's own): experiments, runs, buffered
 * log-batch from a background thread, log-inputs, artifact upload through
 * the mlflow-artifacts proxy, logged models, registration and aliases.
 *
 * Environment, as the Python client reads it: MLFLOW_TRACKING_URI,
 * MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_TOKEN,
 * MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_HTTP_REQUEST_MAX_RETRIES (7),
 * MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR (2), MLFLOW_HTTP_REQUEST_BACKOFF_JITTER (1),
 * MLFLOW_HTTP_REQUEST_TIMEOUT (120 s). Connection errors, 429 and 5xx are
 * retried with exponential backoff and jitter; once a call has given up on
 * an unreachable server the client is "offline" and later calls fail fast. */
#ifndef CAIRN_TRAINER_MLFLOW_H
#define CAIRN_TRAINER_MLFLOW_H
#include <stdint.h>
#include "util.h"

/* MLflow's LogBatch limits (mlflow/utils/validation.py) */
#define MLF_BATCH_METRICS 1000
#define MLF_BATCH_PARAMS 100
#define MLF_BATCH_TAGS 100
#define MLF_BATCH_TOTAL 1000

struct mlflow;
struct mlf_reply { long status; char *body; char error_code[64]; };

struct mlflow *mlf_new(const char *tracking_uri);
void mlf_free(struct mlflow *m);
int mlf_offline(const struct mlflow *m);
const char *mlf_uri(const struct mlflow *m);

/* One request with retries. body may be NULL. Returns 0 on HTTP 2xx; -1
 * otherwise with err filled (reply->status 0 when the server was unreachable). */
int mlf_request(struct mlflow *m, const char *method, const char *path, const char *content_type,
                const void *body, size_t len, struct mlf_reply *reply, char *err);
void mlf_reply_free(struct mlf_reply *r);

int mlf_experiment_id(struct mlflow *m, const char *name, char *exp_id, size_t len, char *err);
/* tags: NULL-terminated key, value, key, value… */
int mlf_create_run(struct mlflow *m, const char *exp_id, const char *run_name, const char *const *tags,
                   char *run_id, size_t idlen, char **artifact_uri, char *err);
int mlf_end_run(struct mlflow *m, const char *run_id, const char *status, char *err);

/* Buffered: queued and sent by the background thread in log-batch calls
 * within MLflow's limits. mlf_flush waits until everything queued so far has
 * been sent (or dropped because the server is unreachable); returns the
 * number of failed batches. */
void mlf_log_metric(struct mlflow *m, const char *run_id, const char *key, double value, int64_t step);
void mlf_log_param(struct mlflow *m, const char *run_id, const char *key, const char *value);
void mlf_set_tag(struct mlflow *m, const char *run_id, const char *key, const char *value);
int mlf_flush(struct mlflow *m);
/* Counters for tests: log-batch calls made and the largest batch sizes sent. */
struct mlf_stats { int batches, max_metrics, max_params, max_tags, max_total, failed; };
struct mlf_stats mlf_stats(struct mlflow *m);

/* dataset: the JSON object {"name":…, "digest":…, …} */
int mlf_log_dataset(struct mlflow *m, const char *run_id, const char *dataset_json, const char *context, char *err);
/* PUT the bytes under an mlflow-artifacts: (or http(s):) artifact URI. */
int mlf_upload(struct mlflow *m, const char *artifact_uri, const char *rel_path, const void *data, size_t len,
               char *err);
int mlf_create_logged_model(struct mlflow *m, const char *exp_id, const char *name, const char *run_id,
                            const char *model_type, const char *params_json, char *model_id, size_t idlen,
                            char **artifact_uri, char *err);
int mlf_finalize_logged_model(struct mlflow *m, const char *model_id, int ok, char *err);
int mlf_log_outputs(struct mlflow *m, const char *run_id, const char *model_id, int64_t step, char *err);
/* registered model (created if needed) + a version from source; alias optional */
int mlf_register(struct mlflow *m, const char *name, const char *source, const char *run_id, const char *model_id,
                 const char *alias, char *version, size_t vlen, char *err);
/* Resolve models:/name/version, models:/name@alias, models:/m-… to an artifact URI. */
int mlf_resolve_model_uri(struct mlflow *m, const char *models_uri, char **artifact_uri, char *err);
/* The same, also giving the registry version (empty for models:/m-…) */
int mlf_resolve_model_version(struct mlflow *m, const char *models_uri, char **artifact_uri, char *version,
                              size_t vlen, char *err);
int mlf_download(struct mlflow *m, const char *artifact_uri, const char *rel_path, char **data, size_t *len, char *err);
#endif
