/* The searchers. Each sees the finished trials once, in trial-number order
 * (search_observe), and proposes the next trial (search_propose); the
 * sweeper only shows trial i the trials up to i - parallel, so the same seed
 * and parallelism give the same sequence.
 *  - auto: cost-aware, after FLAML's CFO: every learner starts at its
 *    low-cost corner; a learner is picked with probability inversely
 *    proportional to its estimated cost for improvement (a deterministic cost
 *    model, not wall time); each learner moves by randomized direct search
 *    (x ± δu, δ shrinking on failures, random restarts); on large data a
 *    learner's training sample grows ×4 when it stops improving (after its
 *    incumbent's cost spent without improvement for the learner holding the
 *    best score, four times that for the others). The cost model counts a
 *    trial's fixed work (process, featurizing, predicting) besides the fit.
 *    A configuration already tried (integer and choice dimensions make
 *    small steps land on the same point) counts as a failed step, unrun.
 *  - random: uniform learner and coordinates. grid: 3 points per numeric
 *    dimension, every choice. tpe: Parzen estimators on the unit cube
 *    (10 random start-up trials, 24 candidates, γ = 0.25).
 *  - ASHA (any searcher): new configurations start on the smallest sample; a
 *    trial in the top 1/η of its rung is promoted to η× the rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

struct obs { int algo, rung, num, ok, promoted, sample_n, full; double score; double u[SW_MAX_DIMS]; };
struct learner {
    int tried, fails, level, restarts, has_neg;
    double best, step, x[SW_MAX_DIMS], neg[SW_MAX_DIMS], inc_cost;
    double spent;       /* estimated cost of the trials since the incumbent last improved */
    int max_level_ok;   /* the largest sample level the incumbent was measured on */
    int grow_stuck;     /* a re-measurement on a larger sample failed: the learner stays where it is */
    double prev_best;   /* the best on the previous sample level, until the incumbent is re-measured */
};

struct searcher {
    int kind, nrows, p;
    const struct space *s;
    struct rng rng;
    double eta;
    int nrungs, rung_n[12], asha_iters;
    double rung_f[12];   /* each rung's fraction of the iteration count (ASHA over iterations) */
    int nobs, cap;
    struct obs *obs;
    struct learner ls[SW_MAX_ALGOS];
    long grid_next[SW_MAX_ALGOS];
    int grid_rr, nproposed;
    double best;
    int auto_sample;   /* auto on large data: per-learner sample growth */
    int nseen, seen_cap;
    uint64_t *seen;    /* auto: a hash of every configuration proposed (learner, sample, values as text) */
};

enum { AUTO_SAMPLE_MIN = 10000, AUTO_SAMPLE_GROWTH = 4, AUTO_DUP_TRIES = 20, TPE_STARTUP = 10, TPE_CANDIDATES = 24 };

static int param_idx(const struct algo *a, const char *name)
{
    for (int i = 0; i < a->nparams; i++) if (!strcmp(a->params[i].name, name)) return i;
    return -1;
}

static double hp_get(const struct algo *a, const struct hparams *hp, const char *name, double def)
{
    int i = param_idx(a, name);
    return i < 0 ? def : hp->v[i];
}

/* A trial's fixed work whatever the learner: a process, the sample's rows featurized, predictions and
 * metrics. Without it a learner whose fit is nearly free (gaussian_nb) looked tens of times cheaper
 * than it is and kept being picked far behind the leader (synth100k). Kept small: at 10x this size
 * every learner cost about the same on digits, the gap to the leader alone chose, and extra_trees
 * (the best learner there) was left at a few trees. */
static double trial_overhead(double n, double d) { return 0.005 + n * d * 2e-8; }

static double fit_cost(const struct algo *a, const struct hparams *hp, double n, double d)
{
    const char *nm = a->name;
    if (!strcmp(nm, "dummy")) return 1e-4;
    if (!strcmp(nm, "linear") || !strcmp(nm, "ridge") || !strcmp(nm, "gaussian_nb")) return 1e-3 + n * d * 1e-8;
    if (!strcmp(nm, "logreg")) return n * d * hp_get(a, hp, "max_iter", 100) * 1e-9;
    if (!strcmp(nm, "knn")) return n * n * d * 1e-10;
    if (!strcmp(nm, "gbdt"))
        return n * d * hp_get(a, hp, "n_estimators", 100) * (1 + log2(fmax(2, hp_get(a, hp, "num_leaves", 31)))) * 1e-9;
    if (!strcmp(nm, "rf") || !strcmp(nm, "extra_trees"))
        return n * sqrt(d) * hp_get(a, hp, "n_estimators", 100) * log2(n + 2) * 1e-9;
    if (!strcmp(nm, "mlp")) {
        int sz[3], k = hparams_sizes(hp_get(a, hp, "hidden_layer_sizes", 100), sz);
        double h = 0;
        for (int i = 0; i < k; i++) h += sz[i];
        return n * (d + 10) * h * hp_get(a, hp, "max_iter", 200) * 1e-10;
    }
    return n * d * 1e-8;
}

double search_cost(const struct space *s, const struct config *c, int nrows, int p)
{
    const struct algo *a = s->algos[c->algo].a;
    struct hparams hp;
    char err[ERR_LEN];
    if (config_hparams(s, c, &hp, err)) return 1e9;
    double n = nrows, d = p > 0 ? p : 1;
    return trial_overhead(n, d) + fit_cost(a, &hp, n, d);
}

struct searcher *search_new(int kind, const struct space *s, uint64_t seed, int nrows, int p, double eta, int asha_min,
                            int asha_iters)
{
    struct searcher *se = xcalloc(1, sizeof *se);
    se->kind = kind;
    se->s = s;
    se->nrows = nrows;
    se->p = p;
    se->best = -INFINITY;
    rng_seed(&se->rng, seed ^ 0x5ee9ULL);
    se->eta = eta;
    if (eta > 1) {
        /* rungs: full, full/η, … down to asha_min rows (at least one rung below full when possible) */
        int sizes[12], k = 0;
        double r = nrows;
        while (k < 11 && (k == 0 || r >= asha_min)) { sizes[k++] = (int)ceil(r); r /= eta; }
        se->nrungs = k;
        for (int i = 0; i < k; i++) { se->rung_n[i] = sizes[k - 1 - i]; se->rung_f[i] = 1; }
        if (asha_iters) {   /* every rung on all rows, η^-3 … 1 of the iterations */
            se->asha_iters = 1;
            se->nrungs = 4;
            for (int i = 0; i < 4; i++) { se->rung_n[i] = nrows; se->rung_f[i] = pow(eta, -(3 - i)); }
        }
    }
    se->auto_sample = kind == S_AUTO && eta <= 1 && nrows > 3 * AUTO_SAMPLE_MIN;
    for (int i = 0; i < s->nalgos; i++) {
        struct learner *l = &se->ls[i];
        l->best = l->prev_best = -INFINITY;
        l->step = 0.25;
        for (int d = 0; d < s->algos[i].ndims; d++) l->x[d] = s->algos[i].dims[d].init;
    }
    return se;
}

void search_free(struct searcher *se) { if (se) { free(se->obs); free(se->seen); free(se); } }

static int learner_sample(const struct searcher *se, int algo)
{
    if (!se->auto_sample) return se->nrows;
    double n = AUTO_SAMPLE_MIN;
    for (int i = 0; i < se->ls[algo].level; i++) n *= AUTO_SAMPLE_GROWTH;
    return n >= se->nrows ? se->nrows : (int)n;
}

static void learner_failed(struct searcher *se, int algo, double cost);

void search_observe(struct searcher *se, const struct trial *t)
{
    if (se->nobs == se->cap) {
        se->cap = se->cap ? 2 * se->cap : 64;
        se->obs = xrealloc(se->obs, (size_t)se->cap * sizeof *se->obs);
    }
    struct obs *o = &se->obs[se->nobs++];
    memset(o, 0, sizeof *o);
    o->algo = t->cfg.algo;
    o->rung = t->rung;
    o->num = t->num;
    o->sample_n = t->sample_n;
    o->full = t->sample_n == se->nrows && !(t->fidelity > 0 && t->fidelity < 1);
    o->ok = t->state == T_COMPLETED && isfinite(t->score);
    o->score = o->ok ? t->score : -INFINITY;
    memcpy(o->u, t->cfg.u, sizeof o->u);
    /* an observed promotion marks its source as promoted */
    if (t->from_trial >= 0)
        for (int i = 0; i < se->nobs; i++) if (se->obs[i].num == t->from_trial) se->obs[i].promoted = 1;
    if (o->ok && o->score > se->best && o->full) se->best = o->score;
    if (t->from_trial >= 0) return;   /* promotions do not move the local search */
    struct learner *l = &se->ls[o->algo];
    if (se->auto_sample && t->sample_n != learner_sample(se, o->algo)) return;   /* an earlier sample level */
    if (o->ok && o->score > l->best) {
        l->best = o->score;
        memcpy(l->x, o->u, sizeof l->x);
        l->inc_cost = t->cost;
        l->fails = 0;
        l->has_neg = 0;
        l->spent = 0;
        if (o->ok && o->score > se->best) se->best = o->score;
    } else if (!o->ok && !isfinite(l->best) && l->level > l->max_level_ok) {
        /* the incumbent's re-measurement on the larger sample failed (over the trial timeout, say):
         * back to the sample it was measured on, and no further growth for this learner */
        l->level--;
        l->best = l->prev_best;
        l->inc_cost /= AUTO_SAMPLE_GROWTH;
        l->grow_stuck = 1;
    } else learner_failed(se, o->algo, t->cost);
}

/* a trial of learner `algo` that did not improve on its incumbent (or a proposal that repeated a
 * configuration already tried, counted as one without running it) */
static void learner_failed(struct searcher *se, int algo, double cost)
{
    struct learner *l = &se->ls[algo];
    int nd = se->s->algos[algo].ndims;
    {
        l->fails++;
        l->spent += cost;
        if (l->fails % 2 == 0) l->step *= 0.7;
        /* the learner holding the best score so far grows after one incumbent's cost spent without
         * improvement, the others after AUTO_SAMPLE_GROWTH times */
        double grow_after = l->best >= se->best ? 1 : AUTO_SAMPLE_GROWTH;
        if (se->auto_sample && !l->grow_stuck && learner_sample(se, algo) < se->nrows &&
            l->spent >= grow_after * l->inc_cost) {
            /* as FLAML's FLOW2: once the trials around the incumbent have cost the sample's growth factor
             * times the incumbent without improving on it, the incumbent is measured again on the
             * next sample size (the step size is kept); sooner for the leader, whose larger-sample
             * score is the one the sweep will return */
            l->max_level_ok = l->level;
            l->level++;
            l->prev_best = l->best;
            l->best = -INFINITY;
            l->inc_cost *= AUTO_SAMPLE_GROWTH;
            l->spent = 0;
            l->fails = 0;
            l->has_neg = 0;
        } else if (l->step < 0.02 && nd) {   /* converged at full size: restart elsewhere */
            for (int d = 0; d < nd; d++) l->x[d] = rng_uniform(&se->rng);
            l->restarts++;
            l->step = 0.25;
            l->fails = 0;
            l->has_neg = 0;
        }
    }
}

static void random_point(struct searcher *se, int algo, double *u)
{
    for (int d = 0; d < se->s->algos[algo].ndims; d++) u[d] = rng_uniform(&se->rng);
}

static int auto_pick(struct searcher *se)
{
    const struct space *s = se->s;
    /* untried learners first, cheapest starting point first */
    int best = -1;
    double bc = INFINITY;
    for (int i = 0; i < s->nalgos; i++) {
        if (se->ls[i].tried) continue;
        struct config c = {i, {0}};
        for (int d = 0; d < s->algos[i].ndims; d++) c.u[d] = s->algos[i].dims[d].init;
        double cost = search_cost(s, &c, se->nrows, se->p);
        if (cost < bc) { bc = cost; best = i; }
    }
    if (best >= 0) return best;
    double w[SW_MAX_ALGOS], sum = 0;
    for (int i = 0; i < s->nalgos; i++) {
        const struct learner *l = &se->ls[i];
        if (!s->algos[i].ndims) { w[i] = 0; continue; }   /* nothing more to try */
        double lb = isfinite(l->best) ? l->best : l->prev_best;   /* re-measuring on a larger sample */
        double gap = isfinite(lb) && isfinite(se->best) ? fmax(0, se->best - lb) : 1;
        double cost = fmax(l->inc_cost, 1e-4);
        /* a learner far behind the leader must be much cheaper to be picked as often */
        w[i] = 1.0 / (cost * (1 + 50 * gap) * (1 + 50 * gap) * (1 + 0.1 * l->fails));
        sum += w[i];
    }
    if (sum <= 0) return -1;   /* every learner is a single point, all tried */
    double r = rng_uniform(&se->rng) * sum;
    for (int i = 0; i < s->nalgos; i++) { if (r < w[i]) return i; r -= w[i]; }
    return s->nalgos - 1;
}

static void auto_point(struct searcher *se, int algo, double *u)
{
    struct learner *l = &se->ls[algo];
    int nd = se->s->algos[algo].ndims;
    if (!l->tried) { memcpy(u, l->x, sizeof l->x); l->tried = 1; return; }
    if (!isfinite(l->best)) { memcpy(u, l->x, sizeof l->x); return; }   /* incumbent on a new sample level */
    if (l->has_neg) { memcpy(u, l->neg, sizeof l->neg); l->has_neg = 0; return; }
    double dir[SW_MAX_DIMS], norm = 0;
    for (int d = 0; d < nd; d++) { dir[d] = rng_normal(&se->rng); norm += dir[d] * dir[d]; }
    norm = sqrt(norm) + 1e-12;
    for (int d = 0; d < nd; d++) {
        u[d] = fmin(fmax(l->x[d] + l->step * dir[d] / norm, 0), 1);
        l->neg[d] = fmin(fmax(l->x[d] - l->step * dir[d] / norm, 0), 1);
    }
    l->has_neg = 1;
}

/* ---- TPE on the unit cube ---- */
static int cmp_desc(const void *a, const void *b)
{
    double x = ((const struct obs *)a)->score, y = ((const struct obs *)b)->score;
    return x < y ? 1 : x > y ? -1 : ((const struct obs *)a)->num - ((const struct obs *)b)->num;
}

static double parzen_logpdf(const struct obs *set, int n, int d, double x, double bw)
{
    double p = 1.0 / (n + 1);   /* the uniform prior, weighted as one point */
    for (int i = 0; i < n; i++) {
        double z = (x - set[i].u[d]) / bw;
        p += exp(-0.5 * z * z) / (bw * 2.5066282746310002) / (n + 1);
    }
    return log(p);
}

static void tpe_point(struct searcher *se, int *algo, double *u)
{
    const struct space *s = se->s;
    int n = 0;
    struct obs *ok = xmalloc((size_t)(se->nobs ? se->nobs : 1) * sizeof *ok);
    for (int i = 0; i < se->nobs; i++) if (se->obs[i].ok && se->obs[i].full) ok[n++] = se->obs[i];
    if (n < TPE_STARTUP) {
        *algo = (int)rng_below(&se->rng, (uint64_t)s->nalgos);
        random_point(se, *algo, u);
        free(ok);
        return;
    }
    qsort(ok, (size_t)n, sizeof *ok, cmp_desc);
    int ngood = (int)ceil(0.25 * n);
    if (ngood > 25) ngood = 25;
    /* the learner: sampled from the good set's counts (+1 each) */
    double w[SW_MAX_ALGOS], sum = 0;
    for (int i = 0; i < s->nalgos; i++) w[i] = 1;
    for (int i = 0; i < ngood; i++) w[ok[i].algo] += 1;
    for (int i = 0; i < s->nalgos; i++) sum += w[i];
    double r = rng_uniform(&se->rng) * sum;
    int a = s->nalgos - 1;
    for (int i = 0; i < s->nalgos; i++) { if (r < w[i]) { a = i; break; } r -= w[i]; }
    *algo = a;
    struct obs *good = xmalloc((size_t)n * sizeof *good), *bad = xmalloc((size_t)n * sizeof *bad);
    int ng = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        if (ok[i].algo != a) continue;
        if (i < ngood) good[ng++] = ok[i]; else bad[nb++] = ok[i];
    }
    int nd = s->algos[a].ndims;
    if (!ng) random_point(se, a, u);
    else {
        double bwg = fmax(0.05, 0.6 / pow(ng, 0.2)) * 0.5, bwb = fmax(0.05, 0.6 / pow(nb + 1, 0.2)) * 0.5;
        double bestv = -INFINITY, cand[SW_MAX_DIMS];
        for (int c = 0; c < TPE_CANDIDATES; c++) {
            const struct obs *center = &good[rng_below(&se->rng, (uint64_t)ng)];
            double score = 0;
            for (int d = 0; d < nd; d++) {
                double x = center->u[d] + bwg * rng_normal(&se->rng);
                if (x < 0) x = -x;
                if (x > 1) x = 2 - x;
                cand[d] = fmin(fmax(x, 0), 1);
                score += parzen_logpdf(good, ng, d, cand[d], bwg) - parzen_logpdf(bad, nb, d, cand[d], bwb);
            }
            if (score > bestv) { bestv = score; memcpy(u, cand, (size_t)nd * sizeof *u); }
        }
    }
    free(good); free(bad); free(ok);
}

/* ---- grid: every choice, 3 points per numeric dimension ---- */
static int grid_points(const struct dim *d) { return d->kind == D_CHOICE ? d->nchoices : d->kind == D_RANDINT && d->hi < 3 ? (int)d->hi : 3; }

static int grid_point(struct searcher *se, int *algo, double *u)
{
    const struct space *s = se->s;
    for (int tries = 0; tries < s->nalgos; tries++) {
        int a = (se->grid_rr + tries) % s->nalgos;
        const struct algo_space *as = &s->algos[a];
        long total = 1;
        for (int d = 0; d < as->ndims && total < 1000000; d++) total *= grid_points(&as->dims[d]);
        if (se->grid_next[a] >= total) continue;
        long idx = se->grid_next[a]++;
        for (int d = 0; d < as->ndims; d++) {
            int np = grid_points(&as->dims[d]), k = (int)(idx % np);
            idx /= np;
            u[d] = as->dims[d].kind == D_CHOICE || as->dims[d].kind == D_RANDINT ? (k + 0.5) / np : np == 1 ? 0.5 : (double)k / (np - 1);
        }
        *algo = a;
        se->grid_rr = (a + 1) % s->nalgos;
        return 0;
    }
    return -1;
}

/* FNV-1a over the learner, the sample size and the values as they reach the learner */
static uint64_t config_hash(const struct searcher *se, const struct config *c, int sample)
{
    const struct algo_space *as = &se->s->algos[c->algo];
    char buf[160];
    uint64_t h = 1469598103934665603ULL;
    int head[2] = {c->algo, sample};
    for (size_t i = 0; i < sizeof head; i++) { h ^= ((const unsigned char *)head)[i]; h *= 1099511628211ULL; }
    for (int d = 0; d < as->ndims; d++) {
        dim_value(&as->dims[d], dim_is_int(as, &as->dims[d]), c->u[d], buf, sizeof buf);
        for (const char *p = buf; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ULL; }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

int search_propose(struct searcher *se, struct trial *t)
{
    memset(&t->cfg, 0, sizeof t->cfg);
    t->rung = 0;
    t->from_trial = -1;
    t->sample_n = se->nrows;
    t->fidelity = 1;
    if (se->nrungs > 1) {
        /* ASHA: promote from the highest rung that has a candidate */
        for (int r = se->nrungs - 2; r >= 0; r--) {
            int m = 0;
            struct obs *at = xmalloc((size_t)(se->nobs ? se->nobs : 1) * sizeof *at);
            for (int i = 0; i < se->nobs; i++) if (se->obs[i].rung == r && se->obs[i].ok) at[m++] = se->obs[i];
            qsort(at, (size_t)m, sizeof *at, cmp_desc);
            int top = (int)floor(m / se->eta), found = -1;
            for (int i = 0; i < top && found < 0; i++) if (!at[i].promoted) found = at[i].num;
            free(at);
            if (found < 0) continue;
            for (int i = 0; i < se->nobs; i++)
                if (se->obs[i].num == found) {
                    se->obs[i].promoted = 1;
                    t->cfg.algo = se->obs[i].algo;
                    memcpy(t->cfg.u, se->obs[i].u, sizeof t->cfg.u);
                }
            t->rung = r + 1;
            t->from_trial = found;
            t->sample_n = se->rung_n[r + 1];
            t->fidelity = se->rung_f[r + 1];
            t->cost = search_cost(se->s, &t->cfg, t->sample_n, se->p) * t->fidelity;
            se->nproposed++;
            return 0;
        }
        t->sample_n = se->rung_n[0];
        t->fidelity = se->rung_f[0];
    }
    switch (se->kind) {
    case S_RANDOM:
        t->cfg.algo = (int)rng_below(&se->rng, (uint64_t)se->s->nalgos);
        random_point(se, t->cfg.algo, t->cfg.u);
        break;
    case S_GRID:
        if (grid_point(se, &t->cfg.algo, t->cfg.u)) return -1;
        break;
    case S_TPE:
        tpe_point(se, &t->cfg.algo, t->cfg.u);
        break;
    default:
        /* a configuration already proposed (same learner, sample and values: integer and choice
         * dimensions make small steps land on the same point) is counted as a failed step of its
         * learner without running it; after AUTO_DUP_TRIES repeats in a row the repeat runs */
        for (int tries = 0;; tries++) {
            int sample = t->sample_n;
            memset(&t->cfg, 0, sizeof t->cfg);
            t->cfg.algo = auto_pick(se);
            if (t->cfg.algo < 0) return -1;
            auto_point(se, t->cfg.algo, t->cfg.u);
            if (se->nrungs <= 1) sample = learner_sample(se, t->cfg.algo);
            uint64_t h = config_hash(se, &t->cfg, sample);
            int dup = 0;
            for (int i = 0; i < se->nseen && !dup; i++) dup = se->seen[i] == h;
            if (dup && tries < AUTO_DUP_TRIES) {
                learner_failed(se, t->cfg.algo, search_cost(se->s, &t->cfg, sample, se->p));
                continue;
            }
            if (se->nseen == se->seen_cap) {
                se->seen_cap = se->seen_cap ? 2 * se->seen_cap : 64;
                se->seen = xrealloc(se->seen, (size_t)se->seen_cap * sizeof *se->seen);
            }
            se->seen[se->nseen++] = h;
            t->sample_n = sample;
            break;
        }
    }
    if (se->asha_iters && algo_iter_param(se->s->algos[t->cfg.algo].a) < 0) {
        t->rung = se->nrungs - 1;   /* nothing to grow: it runs once, in full, at the top rung */
        t->fidelity = 1;
    }
    t->cost = search_cost(se->s, &t->cfg, t->sample_n, se->p) * t->fidelity;
    se->nproposed++;
    return 0;
}
