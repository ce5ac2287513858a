/* The fit / evaluate / log core shared by cairn-train and cairn-sweep: row
 * filtering, stratified folds, one featurize+fit+score, k-fold cross-validation,
 * and logging a fitted pipeline as an MLflow logged model (written locally,
 * uploaded, finalized, optionally registered with an alias). */
#ifndef CAIRN_TRAINER_FITCORE_H
#define CAIRN_TRAINER_FITCORE_H
#include "csv.h"
#include "featurize.h"
#include "metrics.h"
#include "mlflow.h"
#include "model.h"
#include "pipeline.h"

typedef void (*fc_step_fn)(void *ctx, const char *key, double value, int step);

/* The flags cairn-train fit and cairn-sweep share, spelled and checked the same way:
 * --data --target --valid --experiment --register-model --alias --output-dir
 * --tracking-uri --task --cv --holdout --seed. Returns 1 when `a` was one (its
 * value v consumed), 0 when not, -1 with msg filled on a missing or bad value. */
struct fc_flags {
    const char **data, **target, **valid, **experiment, **register_name, **alias, **output_dir, **tracking_uri;
    int *task, *cv;
    double *holdout;
    long *seed;
};
int fc_common_flag(const char *a, const char *v, const struct fc_flags *f, char *msg);

/* Rows whose target cell is not missing; caller frees. */
int *fc_filter_rows(const struct csv *c, int tcol, int *n);
/* Shuffle with the seed; for classification deal each class out in turn so
 * folds/holdouts are stratified. fold[i] in [0, k). */
void fc_assign_folds(const double *y, int n, int nclasses, int k, struct rng *rng, int *fold);
/* A fold per data row from a file (one integer per line, an optional header), as a benchmark
 * writes it once for every library; rows without a target are skipped like the data's. */
int fc_read_folds(const char *path, int nrows, const int *rows, int n, int *fold, int *k, char *err);
/* A validation file: read it into vc; its rows with a target value (whose labels the
 * model knows) into *val. */
int fc_read_valid(const char *path, const struct featurizer *target, struct csv *vc, int **val, int *nval, char *err);
/* A stratified holdout of a 1/round(1/h) share: fold[i] 0 marks the validation rows. */
int fc_holdout_split(const double *y, const int *rows, int n, int nclasses, double h, struct rng *rng, int *fold,
                     int **train, int *ntrain, int **val, int *nval, char *err);
/* Fit featurizer + model on `train` rows of c and score `val` rows of vc
 * (nval may be 0). Training-set metrics are skipped when fit_seconds is
 * non-NULL (cross-validation folds). val_pred, when non-NULL, receives
 * nval × nout predictions. */
int fc_fit_once(long seed, const struct algo *a, const struct hparams *hp, const struct csv *c, const struct csv *vc,
                const struct featurizer *target, const int *train, int ntrain, const int *val, int nval,
                fc_step_fn log_step, void *log_ctx, struct pipeline *pl, struct metric_set *train_m,
                struct metric_set *val_m, double *fit_seconds, double *val_pred, char *err);

/* Fit an ensemble's members (m algorithms with their hyperparameters and
 * weights) on the `train` rows of c over one featurizer (scaled when any
 * member needs scaling) into pl, whose algorithm is then algo_ensemble. */
int fc_fit_ensemble(long seed, int m, const struct algo *const *algos, const struct hparams *hps, const double *weights,
                    const struct csv *c, const struct featurizer *target, const int *train, int ntrain,
                    struct pipeline *pl, char *err);

/* Called after each fold with that fold's validation metrics; a non-zero
 * return stops the cross-validation (fc_cross_validate then returns 1). */
typedef int (*fc_fold_fn)(void *ctx, int k, const struct metric_set *vm, double fit_seconds);
/* k-fold CV over rows[0..n) with fold[i] in [0, k): mean and standard
 * deviation of every validation metric. oof, when non-NULL, receives the
 * out-of-fold predictions (n × nout, in rows order). Returns 0, 1 when
 * fold_done stopped it, -1 on error. */
int fc_cross_validate(long seed, const struct algo *a, const struct hparams *hp, const struct csv *c,
                      const struct featurizer *target, const int *rows, int n, const int *fold, int k,
                      fc_fold_fn fold_done, void *ctx, struct metric_set *mean, struct metric_set *std, double *oof,
                      char *err);

/* Log a fitted pipeline as the logged model "model" of run_id (m may be NULL or
 * offline: then only the local directory is written), upload its files,
 * finalize it, and register it (register_name may be NULL; alias optional).
 * tool names the program in warnings. Returns -1 only when the local model
 * directory cannot be written. */
struct fc_model_log {
    struct mlflow *m;
    const char *exp_id, *run_id;
    const char *out_dir, *register_name, *alias, *tool;
    const char *primary_metric;
    double primary_value;
};
int fc_log_model(const struct fc_model_log *ml, const struct pipeline *pl, const struct csv *c, const int *example_rows,
                 int nexample, char *err);
#endif
