/* Dataset summaries for the UI's experiment pages (MLflow's
 * SqlAlchemyStore._search_datasets): the distinct (experiment, name,
 * digest, mlflow.data.context tag) of the datasets logged as run inputs. */
#ifndef CAIRN_STORE_DATASETS_H
#define CAIRN_STORE_DATASETS_H
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"

#define DATASET_SUMMARIES_MAX 1000   /* MLflow's MAX_DATASET_SUMMARIES_RESULTS */

struct dataset_summary {
    int64_t experiment_id;
    const char *name, *digest;
    const char *context;   /* NULL when the input has no mlflow.data.context tag */
};

int store_search_datasets(struct arena *a, const int64_t *experiment_ids, size_t n_ids,
                          struct dataset_summary **out, size_t *n, struct error *err);
#endif
