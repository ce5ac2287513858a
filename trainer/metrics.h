/* Evaluation metrics under MLflow autolog names (accuracy_score, f1_score
 * weighted, log_loss, roc_auc, r2_score, …). */
#ifndef CAIRN_TRAINER_METRICS_H
#define CAIRN_TRAINER_METRICS_H

#define MAX_METRICS 16
struct metric_set { int n; const char *name[MAX_METRICS]; double value[MAX_METRICS]; };

/* P: n × K probabilities; y: class indices. */
void metrics_classification(const double *P, const double *y, int n, int K, struct metric_set *out);
void metrics_regression(const double *pred, const double *y, int n, struct metric_set *out);
double metric_get(const struct metric_set *m, const char *name);
int argmax_row(const double *p, int k);
/* Binary ROC AUC of score s for the positive rows (pos[i] != 0); NaN if one class is absent. */
double roc_auc_binary(const double *s, const int *pos, int n);
#endif
