/* The cairn-sweep coordinator's state, shared by its files: main.c (flags,
 * data, the scheduling loop), worker.c (trial processes, early termination),
 * track.c (MLflow parent/child runs, resume), report.c (guardrails,
 * leaderboard, trials log, chart). */
#ifndef CAIRN_SWEEPER_H
#define CAIRN_SWEEPER_H
#include <sys/types.h>

#include "../csv.h"
#include "../featurize.h"
#include "../metrics.h"
#include "../mlflow.h"
#include "sweep.h"

enum { EXIT_BAD_INPUT = 2, EXIT_UNREACHABLE = 3 };
enum policy_kind { P_NONE, P_BANDIT, P_MEDIAN, P_TRUNCATION };

struct pmetric {
    const char *name;       /* as the user names it and as it is logged (accuracy, AUC_weighted, …) */
    const char *internal;   /* metrics.c's name */
    int task, maximize, normalized;
};

struct sweep_opts {
    const char *data, *target, *valid, *algos, *space_file, *metric, *experiment, *sweep_name, *register_name,
        *alias, *tracking_uri, *output_dir, *folds;
    int task, cv, parallel, max_trials, search, ensemble, has_target_score;
    double holdout, budget, trial_timeout, target_score;
    long seed;
    int policy, interval, delay;
    double slack_factor, slack_amount, trunc_pct;
    double asha_eta;
    int asha_min, asha_iters;
    const char *early_text;
};

struct slot {
    pid_t pid;
    int fd, trial, kill_reason, got_end;
    double deadline, fit_seconds;
    struct sbuf line;
    struct metric_set ms;
    char error[200];
};
enum { KILL_NONE, KILL_PRUNE, KILL_TIMEOUT, KILL_BUDGET, KILL_INTERRUPT };

struct sweeper {
    struct sweep_opts o;
    struct pmetric pm;
    struct csv c, vc;
    struct featurizer target;
    int *rows, n;            /* rows with a target */
    int mode;                /* 0 cv, 1 holdout, 2 valid file */
    int k;                   /* folds (cv) */
    int *fold;               /* n, cv */
    int *train, ntrain, *val, nval;   /* holdout / valid */
    int *perm;               /* the sample order of the training rows (cv: of rows) */
    int ntrain_rows;         /* rows a full-size trial trains on (cv: n) */
    int p;                   /* features after featurization (cost model) */
    double yrange;
    struct space space;
    struct searcher *se;
    struct trial *trials;
    int ntrials, cap, observed;
    struct slot *slots;
    int best;
    double t0, deadline;
    /* tracking */
    struct mlflow *m;
    int tracking;
    char exp_id[64], parent_id[64];
    char *parent_uri;
    int resumed, nlogged;
    struct trial *logged;    /* resume: trials read back from the server, by number */
    /* guardrails */
    struct sbuf guardrails;
    int tty, last_done;
    double last_progress;
    char fault[128];
    /* --ensemble: trials' validation predictions (out-of-fold or holdout) in files */
    char ens_dir[64];
    int nout;
};

/* main.c: set by SIGINT/SIGTERM */
extern volatile int sw_stop;
/* worker.c */
void sw_launch(struct sweeper *sw, int ti);
/* Wait up to `wait` seconds for output or exits; handles every finished trial. */
void sw_poll(struct sweeper *sw, double wait);
void sw_kill_running(struct sweeper *sw, int reason);
int sw_running(const struct sweeper *sw);
double sw_score_of(const struct sweeper *sw, const struct metric_set *ms, double *value);
/* track.c */
int tr_start(struct sweeper *sw, char *err);
void tr_trial_started(struct sweeper *sw, struct trial *t);
void tr_trial_step(struct sweeper *sw, struct trial *t, const char *key, double value, int step);
void tr_trial_finished(struct sweeper *sw, struct trial *t, const struct metric_set *ms);
void tr_finish(struct sweeper *sw, const char *status);
int tr_read_back(struct sweeper *sw, char *err);
/* ensemble.c: Caruana's greedy selection with replacement over the trials' validation predictions */
#define ENS_LIBRARY 32
#define ENS_ITERS 50
struct en_result {
    int ok, nmembers, iters, ran;       /* nmembers: distinct trials; iters: the chosen prefix */
    int trial[ENS_LIBRARY];             /* trial indices */
    int count[ENS_LIBRARY];             /* times chosen */
    double score, value;                /* the ensemble's, signed / as reported */
    double single_score, single_value;  /* the best trial's, measured the same way (pooled) */
    double curve[ENS_ITERS];            /* the ensemble's value after each step */
    struct metric_set ms;               /* every validation metric of the ensemble */
    char run_id[64];
};
int en_setup(struct sweeper *sw, char *err);
void en_pred_path(const struct sweeper *sw, int num, char *buf, size_t len);
int en_val_rows(const struct sweeper *sw);
/* after each finished trial: keep the predictions of the best ENS_LIBRARY full-size trials */
void en_trial_done(struct sweeper *sw, struct trial *t);
int en_build(struct sweeper *sw, struct en_result *r, char *err);
/* the chosen members refitted on rows into one ensemble pipeline */
struct pipeline;
int en_refit(struct sweeper *sw, const struct en_result *r, const int *rows, int n, struct pipeline *pl, char *err);
void en_log(struct sweeper *sw, struct en_result *r, int selected, const char *dir);
void en_cleanup(struct sweeper *sw);
/* report.c */
void rp_guardrails(struct sweeper *sw);
void rp_artifacts(struct sweeper *sw, const char *dir);
void rp_progress(struct sweeper *sw, int final);
const char *state_name(int state);
const char *trial_state_tag(const struct trial *t);
#endif
