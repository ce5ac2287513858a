/* The MLflow model directory: MLmodel (onnx + python_function + cairn
 * flavors, signature, input example), model.onnx, model.cairn, and the
 * environment files mlflow.pyfunc expects. */
#ifndef CAIRN_TRAINER_MLMODEL_H
#define CAIRN_TRAINER_MLMODEL_H
#include "csv.h"
#include "pipeline.h"

#define CAIRN_VERSION "0.1.0"

struct model_meta {
    const char *run_id, *model_id, *artifact_path;  /* may be NULL (offline) */
    const char *primary_metric;
    double primary_value;
};

/* The files, in upload order; the list is NULL-terminated. */
extern const char *const MODEL_FILES[];
int write_model_dir(const char *dir, const struct pipeline *pl, const struct csv *c, const int *example_rows,
                    int nexample, const struct model_meta *meta, char *err);
/* The signature's input schema as MLflow's JSON column spec. */
void signature_inputs_json(const struct featurizer *f, struct sbuf *b);
#endif
