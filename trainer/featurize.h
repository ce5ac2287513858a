/* Automatic featurization, recorded with the model: the target and task,
 * dropped constant/ID columns, imputation (numeric mean, categorical most
 * frequent), one-hot encoding of categoricals (≤ MAX_LEVELS most frequent
 * levels; unseen levels encode as all zeros), and standard scaling of the
 * numeric columns for the algorithms that need it. */
#ifndef CAIRN_TRAINER_FEATURIZE_H
#define CAIRN_TRAINER_FEATURIZE_H
#include "csv.h"
#include "kv.h"
#include "util.h"

#define MAX_LEVELS 32
enum task { TASK_AUTO = 0, TASK_REGRESSION = 1, TASK_CLASSIFICATION = 2 };
/* COL_INTEGER only describes raw input columns (every value an integer, none
 * missing: pandas reads them as int64, and MLflow's schema check will not
 * turn int64 into double); the featurizer treats them as numeric. */
enum col_kind { COL_NUMERIC = 0, COL_CATEGORICAL = 1, COL_INTEGER = 2 };

struct fcol {
    char *name;
    int kind;
    double fill;            /* numeric: imputed value (training mean) */
    double center, scale;   /* numeric: x' = (x - center) * scale */
    int nlevels;            /* categorical */
    char **levels;
    int fill_level;         /* categorical: most frequent level, for missing values */
};

struct featurizer {
    char *target;
    int task, nclasses, classes_int;   /* classes_int: every class label is an integer */
    char **classes;
    int nraw;               /* every input column except the target, for the signature */
    char **raw_names;
    int *raw_kinds;
    int ncols;              /* the columns kept, in input order */
    struct fcol *cols;
    int nfeat;              /* width of the feature matrix: numeric first, then one-hot blocks */
    char **feat_names;
    int scaled;
    int ndropped;
    char **dropped;         /* "name: reason" */
};

/* Decide the task and the classes from the target column of `rows`. */
int feat_target_fit(struct featurizer *f, const struct csv *c, const char *target, int task,
                    const int *rows, int nrows, char *err);
/* Fit the column transforms on `rows` (after feat_target_fit). */
int feat_fit(struct featurizer *f, const struct csv *c, const int *rows, int nrows, int scale, char *err);
/* X is nrows * nfeat, row-major. Columns are found by name. */
int feat_transform(const struct featurizer *f, const struct csv *c, const int *rows, int nrows,
                   double *X, char *err);
/* y: class index (classification) or value (regression); rows with a label
 * the model does not know are an error. */
int feat_target(const struct featurizer *f, const struct csv *c, const int *rows, int nrows,
                double *y, char *err);
void feat_free(struct featurizer *f);
void feat_save(const struct featurizer *f, struct sbuf *b);
int feat_load(struct featurizer *f, const struct kv *kv, char *err);
#endif
