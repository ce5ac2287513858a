/* A weighted ensemble of fitted models over one featurizer (what cairn-sweep
 * --ensemble builds by Caruana's greedy selection): predictions are the
 * weighted mean of the members' probabilities or values; it saves, loads and
 * exports to ONNX as one model, so a pipeline holding it is served like any
 * other. */
#ifndef CAIRN_TRAINER_ENSEMBLE_H
#define CAIRN_TRAINER_ENSEMBLE_H
#include "model.h"

#define ENS_MAX_MEMBERS 64

struct ens_member {
    const struct algo *a;
    struct hparams hp;
    double weight;
    void *model;   /* owned by the ensemble once made */
};

extern const struct algo algo_ensemble;
/* Takes ownership of the member models; weights are normalized to sum to 1. */
void *ensemble_make(int nout, int m, const struct ens_member *members);
int ensemble_members(const void *ens, const struct ens_member **members);
#endif
