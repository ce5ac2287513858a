/* Evaluation artifacts, each as hand-written SVG and as JSON: confusion
 * matrix, ROC and precision-recall curves (classification), residual plot
 * (regression), permutation feature importance (both; on raw input
 * columns, the way scikit-learn's permutation_importance sees a Pipeline). */
#ifndef CAIRN_TRAINER_REPORT_H
#define CAIRN_TRAINER_REPORT_H
#include "csv.h"
#include "pipeline.h"
#include "util.h"

#define MAX_REPORT_FILES 12
struct report {
    int n;
    char *name[MAX_REPORT_FILES];    /* "confusion_matrix.svg", … */
    struct sbuf body[MAX_REPORT_FILES];
};
void report_free(struct report *r);

/* P: n × K probabilities; y: class indices; classes: K labels. */
void report_classification(struct report *r, const double *P, const double *y, int n, int K, char *const *classes);
void report_regression(struct report *r, const double *pred, const double *y, int n);

/* Permutation importance of each raw column on `rows` of c (score:
 * accuracy or R², the estimator's default score): mean and std of the drop
 * over n_repeats shuffles. Adds permutation_importance.{json,svg}. */
int report_permutation_importance(struct report *r, const struct pipeline *pl, const struct csv *c, const int *rows,
                                  int n, int n_repeats, uint64_t seed, char *err);

/* Write every file under dir (created if needed). */
int report_write(const struct report *r, const char *dir, char *err);
#endif
