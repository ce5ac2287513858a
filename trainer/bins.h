/* Quantile binning shared by the tree learners (gbdt, rf, extra_trees):
 * every feature gets ≤ max_bin bins with float32 thresholds; a value goes
 * to the first bin whose threshold is >= (float)x, so the thresholds can be
 * exported as ONNX BRANCH_LEQ nodes. */
#ifndef CAIRN_TRAINER_BINS_H
#define CAIRN_TRAINER_BINS_H
struct bins {
    int p;
    int *nthr;          /* thresholds per feature (bins = nthr + 1) */
    int *off, total;    /* histogram offset of each feature's bins */
    float **thr;
    unsigned char *B;   /* n × p, row-major */
};

void bins_build(struct bins *b, const double *X, int n, int p, int max_bin);
void bins_free(struct bins *b);
int bin_of(const float *thr, int nthr, double x);
#endif
