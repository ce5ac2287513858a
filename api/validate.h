/* MLflow's validation rules (mlflow/utils/validation.py): key names,
 * lengths counted in characters, truncation where MLflow truncates. */
#ifndef CAIRN_VALIDATE_H
#define CAIRN_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../store/arena.h"
#include "../store/error.h"

#define MAX_ENTITY_KEY_LENGTH 250
#define MAX_PARAM_VAL_LENGTH 6000
#define MAX_TAG_VAL_LENGTH 8000
#define MAX_EXPERIMENT_NAME_LENGTH 500
#define MAX_EXPERIMENT_TAG_KEY_LENGTH 250
#define MAX_EXPERIMENT_TAG_VAL_LENGTH 20000
#define MAX_METRICS_PER_BATCH 1000
#define MAX_PARAMS_TAGS_PER_BATCH 100
#define MAX_ENTITIES_PER_BATCH 1000
#define MAX_ARTIFACT_LOCATION_LENGTH 2048

size_t utf8_len(const char *s);
/* s cut to at most limit characters (in the arena when cut) */
const char *utf8_truncate(struct arena *a, const char *s, size_t limit);

/* validate_param_and_metric_name + path_not_unique; path names the field in messages */
int validate_key_name(const char *name, const char *path, struct error *err);
int validate_length(const char *what, const char *value, size_t limit, struct error *err);
/* "Invalid value "<json>" for parameter '<path>' supplied: <msg>" */
int invalid_value_error(struct error *err, const char *path, const char *value, const char *msg);
/* run ids: ^[a-zA-Z0-9][\w\-]{0,255}$ */
bool valid_run_id(const char *s);
/* experiment ids: decimal integers, MLflow's message otherwise */
int parse_experiment_id(const char *s, int64_t *out, struct error *err);
#endif
