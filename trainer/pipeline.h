/* A fitted pipeline = featurizer + algorithm + hyperparameters + model:
 * what `fit` writes, `predict` reads, and the ONNX graph exports. */
#ifndef CAIRN_TRAINER_PIPELINE_H
#define CAIRN_TRAINER_PIPELINE_H
#include "csv.h"
#include "featurize.h"
#include "model.h"

#define CAIRN_MODEL_FORMAT 1

struct pipeline {
    struct featurizer f;
    const struct algo *algo;
    struct hparams hp;
    void *model;
};

static inline int pipeline_nout(const struct pipeline *pl)
{
    return pl->f.task == TASK_CLASSIFICATION ? pl->f.nclasses : 1;
}
/* out: nrows × nout (probabilities or values); caller frees. */
int pipeline_predict_csv(const struct pipeline *pl, const struct csv *c, double **out, char *err);
void pipeline_save(const struct pipeline *pl, struct sbuf *b);
int pipeline_load(const char *path, struct pipeline *pl, char *err);
void pipeline_free(struct pipeline *pl);
void pipeline_onnx(const struct pipeline *pl, const char *version, struct sbuf *out);
#endif
