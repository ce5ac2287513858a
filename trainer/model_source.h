/* Where a served (or predicted-with) model comes from: a local model directory (or a file: URI to
 * one) holding model.cairn, or a model URI resolved through any MLflow tracking server over REST:
 * models:/name@alias, models:/name/version, models:/m-… (a logged model), runs:/run_id/path. */
#ifndef CAIRN_TRAINER_MODEL_SOURCE_H
#define CAIRN_TRAINER_MODEL_SOURCE_H
#include <stddef.h>
#include "mlflow.h"
#include "pipeline.h"

int model_source_is_remote(const char *spec);
/* m may be NULL for a local directory. version: the registry version a models:/name… URI
 * resolved to, else "". */
int model_source_load(struct mlflow *m, const char *spec, struct pipeline *pl, char *version, size_t vlen,
                      char *err);
/* The registry version a models:/name@alias (or models:/name/N) URI points at now. */
int model_source_version(struct mlflow *m, const char *spec, char *version, size_t vlen, char *err);
#endif
