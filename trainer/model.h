/* The algorithm table: each algorithm declares its hyperparameters
 * (scikit-learn/LightGBM names, defaults, ranges) and five functions. */
#ifndef CAIRN_TRAINER_MODEL_H
#define CAIRN_TRAINER_MODEL_H
#include "kv.h"
#include "util.h"

#define MAX_PARAMS 24

/* P_NUMCHOICE: a number, or one of `choices` stored as -1 - index
 * (max_features=sqrt|log2|0.5|3). P_SIZES: up to 3 positive integers
 * "100,50" packed base 2^16 (hidden_layer_sizes). */
enum ptype { P_INT, P_DOUBLE, P_BOOL, P_CHOICE, P_NUMCHOICE, P_SIZES };
struct param_spec {
    const char *name;
    enum ptype type;
    double def, min, max;     /* inclusive range for numbers */
    const char *choices;      /* P_CHOICE: "a|b|c"; the value is the index */
    const char *alias;        /* another accepted name (LightGBM/sklearn) */
};

struct hparams { double v[MAX_PARAMS]; };

/* What a fit sees: features (n × p, row-major), targets (class index or
 * value), an optional validation set for per-iteration metrics, and a sink
 * for those metrics. */
struct train_data {
    int n, p, nclasses;        /* nclasses 0 = regression */
    const double *X, *y;
    int nv;
    const double *Xv, *yv;
    uint64_t seed;
    void (*log_step)(void *ctx, const char *key, double value, int step);
    void *log_ctx;
};

struct onnx_graph;
struct algo {
    const char *name;
    const char *estimator_class;     /* estimator_class tag, sklearn autolog style */
    int needs_scaling;
    const struct param_spec *params;
    int nparams;
    void *(*fit)(const struct train_data *d, const struct hparams *hp, char *err);
    /* out: n × nclasses probabilities, or n values for regression */
    void (*predict)(const void *m, const double *X, int n, double *out);
    void (*save)(const void *m, struct sbuf *b);
    void *(*load)(const struct kv *kv, char *err);
    /* Append nodes computing `out` (float [N,K] probabilities or [N,1]
     * values) from `in` (float [N,p] features). */
    void (*to_onnx)(const void *m, struct onnx_graph *g, const char *in, const char *out);
    void (*free)(void *m);
    /* Optional: drop what only save, to_onnx and fit use (a server's model only predicts);
     * afterwards predict and free are the only valid calls. */
    void (*compact)(void *m);
};

const struct algo *algo_find(const char *name);
const char *algo_names(void);   /* "dummy, linear, …" for messages */
/* "k=v" → hp; unknown names and bad values are errors (exit 2). */
int hparams_defaults(const struct algo *a, struct hparams *hp);
int hparams_set(const struct algo *a, struct hparams *hp, const char *kv, char *err);
void hparams_format(const struct algo *a, const struct hparams *hp, int i, char *buf, size_t len);

extern const struct algo algo_dummy, algo_linear, algo_ridge, algo_logreg, algo_gbdt, algo_rf, algo_extra_trees,
    algo_mlp, algo_knn, algo_gaussian_nb;
/* P_SIZES: unpack into out[3]; returns the count. */
int hparams_sizes(double v, int out[3]);

/* Shared by the linear models: out = X·W + b, then softmax/sigmoid. */
enum link { LINK_IDENTITY, LINK_SOFTMAX, LINK_SIGMOID2 };
void linear_predict(const double *X, int n, int p, const double *W, const double *b, int k, enum link link,
                    double *out);
/* Append nodes: out = link(z); z is float [N,k]. */
void onnx_apply_link(struct onnx_graph *g, const char *z, const char *out, enum link link);
void linear_to_onnx(struct onnx_graph *g, const char *in, const char *out, const double *W, const double *b,
                    int p, int k, enum link link);
#endif
