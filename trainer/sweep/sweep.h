/* cairn-sweep internals: the search space (defaults per algorithm, or an
 * Azure-ML-style sweep.yaml), the searchers (auto/random/grid/tpe, ASHA
 * promotions) and the trial records they learn from. Every trial is turned
 * into hyperparameters through cairn-train's hparams_set, and fitted and
 * scored by trainer/fitcore.c: nothing about training lives here. */
#ifndef CAIRN_SWEEP_H
#define CAIRN_SWEEP_H
#include "../featurize.h"
#include "../model.h"
#include "../util.h"

#define SW_MAX_ALGOS 16
#define SW_MAX_DIMS 16
#define SW_MAX_FIXED 16
#define SW_MAX_STEPS 256

enum dim_kind { D_CHOICE, D_UNIFORM, D_LOGUNIFORM, D_QUNIFORM, D_QLOGUNIFORM, D_NORMAL, D_QNORMAL, D_RANDINT };

struct dim {
    char name[64];
    int kind, pidx;           /* pidx: index in the algorithm's param_spec */
    double lo, hi, q;         /* uniform: bounds; loguniform: exponent bounds (Azure); normal: mu, sigma; randint: [0, hi) */
    int nchoices;
    char **choices;           /* D_CHOICE: the values as text */
    double init;              /* the low-cost starting point, in the unit interval */
};

struct algo_space {
    const struct algo *a;
    int ndims, nfixed;
    struct dim dims[SW_MAX_DIMS];
    char *fixed[SW_MAX_FIXED];   /* "k=v" applied before the dims */
};

struct space { int nalgos; struct algo_space algos[SW_MAX_ALGOS]; };

/* The default space for these algorithm names ("" or NULL: every algorithm that fits the task). */
int space_default(struct space *s, const char *algos, int task, char *err);
/* sweep.yaml (errors name the file and line). algos may restrict it further. */
int space_load_yaml(struct space *s, const char *path, const char *algos, int task, char *err);
void space_free(struct space *s);

/* A point: algorithm + a unit-cube coordinate per dimension. */
struct config { int algo; double u[SW_MAX_DIMS]; };
/* u → hyperparameters, through hparams_set; err names the value on failure. */
int config_hparams(const struct space *s, const struct config *c, struct hparams *hp, char *err);
/* the algorithm's iteration count parameter (boosting rounds, trees, epochs, solver iterations), or -1 */
int algo_iter_param(const struct algo *a);
/* dimension value as text ("0.05", "31", "sqrt") */
void dim_value(const struct dim *d, int is_int, double u, char *buf, size_t len);
int dim_is_int(const struct algo_space *as, const struct dim *d);
/* the unit coordinate of a value given as text (resume); -1 if it cannot be mapped */
double dim_unit_of(const struct dim *d, int is_int, const char *text);

enum trial_state { T_PENDING, T_RUNNING, T_COMPLETED, T_PRUNED, T_FAILED, T_KILLED };
struct trial {
    int num, state, rung, promoted, from_trial, replayed;
    int has_pred;              /* --ensemble: its validation predictions are on disk */
    struct config cfg;
    int sample_n;              /* training rows used */
    double fidelity;           /* ASHA over iterations: the fraction of the iteration count run (1: all) */
    double score;              /* the primary metric, signed so that higher is better */
    double value;              /* the primary metric as reported */
    double cost;               /* a deterministic cost estimate (learner choice) */
    double started, ended, fit_seconds;
    int nsteps;
    int step_no[SW_MAX_STEPS];
    double step_val[SW_MAX_STEPS];   /* signed, higher is better */
    char run_id[64];
    char failure[160];
};

enum search_kind { S_AUTO, S_RANDOM, S_GRID, S_TPE };
struct searcher;
/* nrows: training rows available; asha_eta > 0 turns on successive halving over the
 * sample size with rungs from asha_min rows, or with asha_iters over the iteration count
 * (4 rungs: η^-3, η^-2, η^-1 and all of the configuration's rounds / trees / epochs). */
struct searcher *search_new(int kind, const struct space *s, uint64_t seed, int nrows, int task_rows_p,
                            double asha_eta, int asha_min, int asha_iters);
void search_free(struct searcher *se);
/* Learn from a finished trial; called once per trial, in trial-number order. */
void search_observe(struct searcher *se, const struct trial *t);
/* The next trial (cfg, rung, sample size, from_trial); returns -1 when the space is exhausted (grid). */
int search_propose(struct searcher *se, struct trial *t);
double search_cost(const struct space *s, const struct config *c, int nrows, int p);
/* a trial's hyperparameters: its configuration's, the iteration count scaled by its fidelity */
int trial_hparams(const struct space *s, const struct trial *t, struct hparams *hp, char *err);
/* a better than b: more rows, then more iterations, then a higher score, then an earlier trial */
int trial_better(const struct trial *a, const struct trial *b);
#endif
