/* Trials as processes: one fork per trial (the parsed data is shared
 * copy-on-write), one BLAS thread each, results and per-step scores back over
 * a pipe; timeouts, crashes and early termination (Bandit, Median stopping,
 * Truncation selection as Azure ML defines them) handled here. */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fitcore.h"
#include "sweeper.h"

double sw_score_of(const struct sweeper *sw, const struct metric_set *ms, double *value)
{
    double v = metric_get(ms, sw->pm.internal);
    if (sw->pm.normalized) v = sw->yrange > 0 ? v / sw->yrange : v;
    if (value) *value = v;
    if (!isfinite(v)) return -INFINITY;
    return sw->pm.maximize ? v : -v;
}

int sw_running(const struct sweeper *sw)
{
    int r = 0;
    for (int i = 0; i < sw->o.parallel; i++) r += sw->slots[i].pid > 0;
    return r;
}

/* ---------------------------------------------------------------- the child */
struct child { const struct sweeper *sw; int fd; double sum; };

static int child_fold(void *ctx, int k, const struct metric_set *vm, double fit_seconds)
{
    struct child *ch = ctx;
    double s = sw_score_of(ch->sw, vm, NULL);
    ch->sum += s;
    dprintf(ch->fd, "S %d %.17g\n", k + 1, ch->sum / (k + 1));
    return 0;
}

static void child_step(void *ctx, const char *key, double value, int step)
{
    struct child *ch = ctx;
    if (!strcmp(key, "val_loss")) dprintf(ch->fd, "L %d %.17g\n", step, value);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* CAIRN_SWEEP_FAULT=segv:3,hang:5,exit:7 — trial 3 crashes, 5 hangs, 7 exits 1 (tests) */
static void inject_fault(const char *spec, int num)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        if (!colon || atoi(colon + 1) != num) continue;
        *colon = 0;
        if (!strcmp(t, "segv")) raise(SIGSEGV);
        if (!strcmp(t, "hang")) for (;;) pause();
        if (!strcmp(t, "exit")) _exit(1);
    }
}

static void run_child(const struct sweeper *sw, const struct trial *t, int fd)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    openblas_set_num_threads(1);
    if (sw->fault[0]) inject_fault(sw->fault, t->num);
    char err[ERR_LEN];
    struct hparams hp;
    if (trial_hparams(&sw->space, t, &hp, err)) { dprintf(fd, "X %s\n", err); _exit(1); }
    const struct algo *a = sw->space.algos[t->cfg.algo].a;
    struct child ch = {sw, fd, 0};
    int ns = t->sample_n, *idx = xmalloc((size_t)(ns ? ns : 1) * sizeof *idx);
    memcpy(idx, sw->perm, (size_t)ns * sizeof *idx);
    qsort(idx, (size_t)ns, sizeof *idx, cmp_int);
    struct metric_set mean = {0}, tm;
    double fit_s = 0;
    int rc;
    /* --ensemble: a full-size trial keeps its validation predictions for the selection */
    int keep = sw->ens_dir[0] && ns == sw->ntrain_rows;
    size_t npred = keep ? (size_t)en_val_rows(sw) * sw->nout : 0;
    double *pred = keep ? xmalloc((npred ? npred : 1) * sizeof *pred) : NULL;
    if (sw->mode == 0) {
        int *r = xmalloc((size_t)ns * sizeof *r), *f = xmalloc((size_t)ns * sizeof *f);
        for (int j = 0; j < ns; j++) { r[j] = sw->rows[idx[j]]; f[j] = sw->fold[idx[j]]; }
        double t0 = now_seconds();
        rc = fc_cross_validate(sw->o.seed, a, &hp, &sw->c, &sw->target, r, ns, f, sw->k, child_fold, &ch, &mean, NULL,
                               pred, err);
        fit_s = now_seconds() - t0;
    } else {
        int *r = xmalloc((size_t)ns * sizeof *r);
        for (int j = 0; j < ns; j++) r[j] = sw->train[idx[j]];
        struct pipeline pl;
        rc = fc_fit_once(sw->o.seed, a, &hp, &sw->c, sw->mode == 2 ? &sw->vc : &sw->c, &sw->target, r, ns, sw->val,
                         sw->nval, child_step, &ch, &pl, &tm, &mean, &fit_s, pred, err);
    }
    if (rc) { dprintf(fd, "X %s\n", err); _exit(1); }
    if (keep) {
        char path[128];
        en_pred_path(sw, t->num, path, sizeof path);
        if (write_file(path, (const char *)pred, npred * sizeof *pred, err)) { dprintf(fd, "X %s\n", err); _exit(1); }
    }
    for (int i = 0; i < mean.n; i++) dprintf(fd, "M %s %.17g\n", mean.name[i], mean.value[i]);
    dprintf(fd, "F %.17g\nE\n", fit_s);
    _exit(0);   /* no atexit work: the parent owns every resource */
}

/* ---------------------------------------------------------------- launching */
void sw_launch(struct sweeper *sw, int ti)
{
    struct trial *t = &sw->trials[ti];
    int s = 0;
    while (sw->slots[s].pid > 0) s++;
    struct slot *sl = &sw->slots[s];
    int pfd[2];
    t->started = now_seconds();
    t->state = T_RUNNING;
    tr_trial_started(sw, t);
    fflush(stdout);
    fflush(stderr);
    if (pipe2(pfd, O_CLOEXEC)) { snprintf(t->failure, sizeof t->failure, "pipe: %s", strerror(errno)); goto fail; }
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]); close(pfd[1]);
        snprintf(t->failure, sizeof t->failure, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        close(pfd[0]);
        run_child(sw, t, pfd[1]);
    }
    close(pfd[1]);
    sb_free(&sl->line);
    memset(sl, 0, sizeof *sl);
    sl->pid = pid;
    sl->fd = pfd[0];
    sl->trial = ti;
    sl->deadline = sw->o.trial_timeout > 0 ? t->started + sw->o.trial_timeout : INFINITY;
    sb_init(&sl->line);
    return;
fail:
    t->state = T_FAILED;
    t->ended = now_seconds();
    struct metric_set none = {0};
    tr_trial_finished(sw, t, &none);
}

/* ---------------------------------------------------------------- early termination */
static int value_at(const struct trial *t, int step, double *v)
{
    for (int i = 0; i < t->nsteps; i++) if (t->step_no[i] == step) { *v = t->step_val[i]; return 1; }
    return 0;
}

static double running_avg(const struct trial *t, int step)
{
    double s = 0;
    int k = 0;
    for (int i = 0; i < t->nsteps && t->step_no[i] <= step; i++) { s += t->step_val[i]; k++; }
    return k ? s / k : -INFINITY;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Compared only with trials numbered ≤ this one − parallel (all finished by the time it
 * started), on the same sample size: the decision does not depend on timing. */
static int should_stop(const struct sweeper *sw, const struct trial *t, int step, double v)
{
    const struct sweep_opts *o = &sw->o;
    if (o->policy == P_NONE || step < o->delay || (step - o->delay) % o->interval) return 0;
    double *vals = xmalloc((size_t)(sw->ntrials + 1) * sizeof *vals);
    int nc = 0, stop = 0;
    for (int j = 0; j < sw->ntrials && sw->trials[j].num <= t->num - o->parallel; j++) {
        const struct trial *c = &sw->trials[j];
        double cv;
        if (c->sample_n != t->sample_n || c->fidelity != t->fidelity || !value_at(c, step, &cv)) continue;
        vals[nc++] = o->policy == P_MEDIAN ? running_avg(c, step) : cv;
    }
    if (nc >= 1) {
        if (o->policy == P_BANDIT) {
            double best = vals[0];
            for (int i = 1; i < nc; i++) if (vals[i] > best) best = vals[i];
            double thr = o->slack_amount > 0 ? best - o->slack_amount
                         : best >= 0 ? best / (1 + o->slack_factor) : best * (1 + o->slack_factor);
            stop = v < thr;
        } else if (o->policy == P_MEDIAN) {
            qsort(vals, (size_t)nc, sizeof *vals, cmp_dbl);
            double med = nc % 2 ? vals[nc / 2] : 0.5 * (vals[nc / 2 - 1] + vals[nc / 2]);
            double bestv = -INFINITY;
            for (int i = 0; i < t->nsteps && t->step_no[i] <= step; i++) if (t->step_val[i] > bestv) bestv = t->step_val[i];
            stop = bestv < med;
        } else {
            int cut = (int)floor((nc + 1) * o->trunc_pct / 100.0), worse = 0;
            for (int i = 0; i < nc; i++) worse += vals[i] < v;
            stop = cut >= 1 && worse < cut;
        }
    }
    free(vals);
    return stop;
}

/* ---------------------------------------------------------------- the pipe */
static void handle_line(struct sweeper *sw, struct slot *sl, char *line)
{
    struct trial *t = &sw->trials[sl->trial];
    if (sl->kill_reason) return;   /* what a stopped trial wrote after the decision does not count */
    char key[64];
    int step;
    double v;
    if ((line[0] == 'S' || line[0] == 'L') && sscanf(line + 1, "%d %lf", &step, &v) == 2) {
        double score = line[0] == 'S' ? v : -v;
        if (line[0] == 'S') {
            double shown = sw->pm.maximize ? v : -v;
            char name[96];
            snprintf(name, sizeof name, "val_running_%s", sw->pm.name);
            tr_trial_step(sw, t, name, shown, step);
        } else tr_trial_step(sw, t, "val_loss", v, step);
        if (t->nsteps < SW_MAX_STEPS) {
            t->step_no[t->nsteps] = step;
            t->step_val[t->nsteps++] = score;
        }
        int last = line[0] == 'S' && step >= sw->k;   /* a finished CV trial is not stopped */
        if (!sl->kill_reason && !last && should_stop(sw, t, step, score)) {
            sl->kill_reason = KILL_PRUNE;
            kill(sl->pid, SIGKILL);
        }
    } else if (line[0] == 'M' && sscanf(line + 1, "%63s %lf", key, &v) == 2) {
        /* interned: metrics.c's names are a small fixed set */
        static char *names[64];
        static int nnames;
        const char *nm = NULL;
        for (int i = 0; i < nnames; i++) if (!strcmp(names[i], key)) nm = names[i];
        if (!nm && nnames < 64) nm = names[nnames++] = xstrdup(key);
        if (nm && sl->ms.n < MAX_METRICS) { sl->ms.name[sl->ms.n] = nm; sl->ms.value[sl->ms.n++] = v; }
    } else if (line[0] == 'F') {
        sl->fit_seconds = atof(line + 2);
    } else if (line[0] == 'X') {
        snprintf(sl->error, sizeof sl->error, "%s", line + 2);
    } else if (line[0] == 'E') {
        sl->got_end = 1;
    }
}

static void finish(struct sweeper *sw, struct slot *sl, int status)
{
    struct trial *t = &sw->trials[sl->trial];
    t->ended = now_seconds();
    t->fit_seconds = sl->fit_seconds;
    int reason = sl->kill_reason ? sl->kill_reason : sw_stop ? KILL_INTERRUPT : KILL_NONE;
    if (reason == KILL_PRUNE) {
        t->state = T_PRUNED;
        snprintf(t->failure, sizeof t->failure, "pruned by the %s policy", sw->o.early_text);
    } else if (reason == KILL_TIMEOUT) {
        t->state = T_KILLED;
        snprintf(t->failure, sizeof t->failure, "timeout after %g s", sw->o.trial_timeout);
    } else if (reason == KILL_BUDGET || reason == KILL_INTERRUPT) {
        t->state = T_KILLED;
        snprintf(t->failure, sizeof t->failure, "%s", reason == KILL_BUDGET ? "budget exhausted" : "interrupted");
    } else if (WIFSIGNALED(status)) {
        t->state = T_FAILED;
        snprintf(t->failure, sizeof t->failure, "crashed: %s (signal %d)", strsignal(WTERMSIG(status)), WTERMSIG(status));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) || !sl->got_end) {
        t->state = T_FAILED;
        snprintf(t->failure, sizeof t->failure, "%.150s", sl->error[0] ? sl->error : "exited without a result");
    } else {
        t->state = T_COMPLETED;
        t->score = sw_score_of(sw, &sl->ms, &t->value);
        if (!isfinite(t->score)) {
            t->state = T_FAILED;
            snprintf(t->failure, sizeof t->failure, "no finite %s", sw->pm.name);
        }
    }
    if (t->state != T_COMPLETED) { t->score = -INFINITY; t->value = NAN; }
    if (t->state == T_COMPLETED && (sw->best < 0 || trial_better(t, &sw->trials[sw->best]))) sw->best = sl->trial;
    tr_trial_finished(sw, t, &sl->ms);
    en_trial_done(sw, t);
    sw->last_done = sl->trial;
    close(sl->fd);
    sb_free(&sl->line);
    memset(sl, 0, sizeof *sl);
    rp_progress(sw, 0);
}

void sw_poll(struct sweeper *sw, double wait)
{
    int P = sw->o.parallel;
    struct pollfd *pfd = xmalloc((size_t)P * sizeof *pfd);
    int map[1024], np = 0;
    double now = now_seconds();
    for (int i = 0; i < P; i++) {
        struct slot *sl = &sw->slots[i];
        if (sl->pid <= 0) continue;
        if (sl->deadline < now + wait) wait = fmax(0, sl->deadline - now);
        pfd[np].fd = sl->fd;
        pfd[np].events = POLLIN;
        map[np++] = i;
    }
    int ms = (int)ceil(wait * 1000);
    if (ms > 1000) ms = 1000;
    int r = np ? poll(pfd, (nfds_t)np, ms) : (usleep((useconds_t)ms * 1000), 0);
    for (int j = 0; r > 0 && j < np; j++) {
        if (!(pfd[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        struct slot *sl = &sw->slots[map[j]];
        char buf[4096];
        ssize_t got = read(sl->fd, buf, sizeof buf);
        if (got > 0) {
            sb_add(&sl->line, buf, (size_t)got);
            char *start = sl->line.data, *nl;
            while ((nl = memchr(start, '\n', sl->line.len - (size_t)(start - sl->line.data)))) {
                *nl = 0;
                handle_line(sw, sl, start);
                start = nl + 1;
            }
            size_t rest = sl->line.len - (size_t)(start - sl->line.data);
            memmove(sl->line.data, start, rest);
            sl->line.len = rest;
            sl->line.data[rest] = 0;
            continue;
        }
        if (got < 0 && errno == EINTR) continue;
        int status = 0;
        while (waitpid(sl->pid, &status, 0) < 0 && errno == EINTR) {}
        finish(sw, sl, status);
    }
    free(pfd);
    now = now_seconds();
    for (int i = 0; i < P; i++) {
        struct slot *sl = &sw->slots[i];
        if (sl->pid > 0 && !sl->kill_reason && now >= sl->deadline) {
            sl->kill_reason = KILL_TIMEOUT;
            kill(sl->pid, SIGKILL);
        }
    }
}

void sw_kill_running(struct sweeper *sw, int reason)
{
    for (int i = 0; i < sw->o.parallel; i++) {
        struct slot *sl = &sw->slots[i];
        if (sl->pid <= 0) continue;
        if (!sl->kill_reason) sl->kill_reason = reason;
        kill(sl->pid, SIGKILL);
    }
    while (sw_running(sw)) sw_poll(sw, 0.2);
}
