/* cairn-train serve: civetweb in front of scoring.c. One model is current at a time; a request
 * holds a reference to the model it started with, so a swap (--reload-alias) never pulls a model
 * from under a request and never makes one wait: the old model is freed by the last request
 * that used it. */
#include "serve.h"

#include <cblas.h>
#include <civetweb.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mlflow.h"
#include "mlmodel.h"
#include "model_source.h"
#include "scoring.h"

#ifndef SERVE_MMAP_THRESHOLD
#define SERVE_MMAP_THRESHOLD (128 << 10)
#endif

/* the MLflow version whose scoring protocol this speaks (GET /version answers it, as MLflow's does) */
#define SCORING_PROTOCOL_VERSION "3.17.2"

struct serve_opts {
    const char *model, *host, *tracking_uri;
    int port, workers, reload_seconds;
    struct limits lim;
};

struct served {
    struct scorer sc;
    char version[64];
    int refs;
};

static struct serve_opts opt;
static pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;
static struct served *current;
/* One request scores per CPU at a time (the others wait with their bodies read): more would only
 * share the cores, multiply the per-request buffers and evict each other's model from the caches. */
static sem_t scoring_slots;

/* ---------------------------------------------------------------- thread pools
 * Scoring never runs on a civetweb worker: those threads have the stack libcivetweb was built with
 * (100 KiB on Debian), and OpenBLAS kernels chosen for the CPU at run time (dgemm_kernel_ZEN on AMD)
 * can need more than is left of it under ASan. A request's scoring goes to a scorer thread (one per
 * CPU, as many as there are scoring slots, so one is always idle when a slot is taken); a large
 * request's second half goes to a helper thread (one per extra CPU). Both have stacks of our own;
 * untouched stack pages cost no memory. */
#define POOL_STACK (4u << 20)

struct job {
    void (*fn)(void *);
    void *arg;
    int done;
    struct job *next;
};

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t posted, done;
    struct job *jobs;
    int stop, n;
    pthread_t *threads;
};

static struct pool scorers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
                              NULL, 0, 0, NULL};
static struct pool helpers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
                              NULL, 0, 0, NULL};

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->jobs && !p->stop) pthread_cond_wait(&p->posted, &p->lock);
        if (!p->jobs) break;
        struct job *j = p->jobs;
        p->jobs = j->next;
        pthread_mutex_unlock(&p->lock);
        j->fn(j->arg);
        pthread_mutex_lock(&p->lock);
        j->done = 1;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void pool_start(struct pool *p, int n)
{
    p->threads = xcalloc((size_t)(n ? n : 1), sizeof *p->threads);
    for (int i = 0; i < n; i++) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, POOL_STACK);
        if (pthread_create(&p->threads[p->n], &at, pool_main, p) == 0) p->n++;
        pthread_attr_destroy(&at);
    }
}

/* post a job and return; pool_wait waits for it */
static void pool_post(struct pool *p, struct job *j)
{
    pthread_mutex_lock(&p->lock);
    j->next = p->jobs;
    p->jobs = j;
    pthread_cond_signal(&p->posted);
    pthread_mutex_unlock(&p->lock);
}

static void pool_wait(struct pool *p, struct job *j)
{
    pthread_mutex_lock(&p->lock);
    while (!j->done) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

static void pool_join(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->posted);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
}

static void run_halves(void (*fn)(void *), void *a, void *b)
{
    if (sem_trywait(&scoring_slots) != 0) { fn(a); fn(b); return; }
    struct job j = {fn, b, 0, NULL};
    pool_post(&helpers, &j);
    fn(a);
    pool_wait(&helpers, &j);
    sem_post(&scoring_slots);
}

/* fn(arg) on a scorer thread, the caller holding a scoring slot; inline when there is no pool */
static void run_scoring(void (*fn)(void *), void *arg)
{
    if (!scorers.n) { fn(arg); return; }
    struct job j = {fn, arg, 0, NULL};
    pool_post(&scorers, &j);
    pool_wait(&scorers, &j);
}

/* ---------------------------------------------------------------- metrics */
static const double LAT_BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NLAT ((int)(sizeof LAT_BUCKETS / sizeof *LAT_BUCKETS))
enum route { R_INVOCATIONS, R_PING, R_HEALTH, R_VERSION, R_METRICS, R_OTHER, NROUTES };
static const char *const ROUTE_NAMES[NROUTES] = {"/invocations", "/ping", "/health", "/version", "/metrics", "other"};
static const int STATUSES[] = {200, 400, 404, 405, 413, 415, 500, 503};
#define NSTATUS ((int)(sizeof STATUSES / sizeof *STATUSES))

static struct {
    atomic_ullong requests[NROUTES][NSTATUS];
    atomic_ullong lat_bucket[NLAT + 1];   /* /invocations; the last is +Inf */
    atomic_ullong lat_sum_us, lat_count, rows;
    atomic_ullong swaps, load_failures, in_flight;
} stats;

static void count_request(enum route r, int status, double seconds)
{
    int s = NSTATUS - 1;
    for (int i = 0; i < NSTATUS; i++) if (STATUSES[i] == status) { s = i; break; }
    atomic_fetch_add_explicit(&stats.requests[r][s], 1, memory_order_relaxed);
    if (r != R_INVOCATIONS) return;
    int b = 0;
    while (b < NLAT && seconds > LAT_BUCKETS[b]) b++;
    atomic_fetch_add_explicit(&stats.lat_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stats.lat_sum_us, (unsigned long long)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&stats.lat_count, 1, memory_order_relaxed);
}

static void prom_label(struct sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') sb_printf(b, "\\%c", *v);
        else if (*v == '\n') sb_puts(b, "\\n");
        else sb_add(b, v, 1);
    }
}

static void metrics_text(struct sbuf *b, const struct served *m)
{
    sb_puts(b, "# HELP cairn_serve_requests_total HTTP requests by path and status.\n"
               "# TYPE cairn_serve_requests_total counter\n");
    for (int r = 0; r < NROUTES; r++)
        for (int s = 0; s < NSTATUS; s++) {
            unsigned long long v = atomic_load(&stats.requests[r][s]);
            if (v || (r == R_INVOCATIONS && STATUSES[s] == 200))
                sb_printf(b, "cairn_serve_requests_total{path=\"%s\",status=\"%d\"} %llu\n", ROUTE_NAMES[r],
                          STATUSES[s], v);
        }
    sb_puts(b, "# HELP cairn_serve_request_duration_seconds Time to answer POST /invocations.\n"
               "# TYPE cairn_serve_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i <= NLAT; i++) {
        cum += atomic_load(&stats.lat_bucket[i]);
        if (i < NLAT) sb_printf(b, "cairn_serve_request_duration_seconds_bucket{le=\"%g\"} %llu\n", LAT_BUCKETS[i], cum);
        else sb_printf(b, "cairn_serve_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    sb_printf(b, "cairn_serve_request_duration_seconds_sum %.6f\n", atomic_load(&stats.lat_sum_us) / 1e6);
    sb_printf(b, "cairn_serve_request_duration_seconds_count %llu\n", atomic_load(&stats.lat_count));
    sb_printf(b, "# HELP cairn_serve_rows_scored_total Rows scored by POST /invocations.\n"
                 "# TYPE cairn_serve_rows_scored_total counter\ncairn_serve_rows_scored_total %llu\n",
              atomic_load(&stats.rows));
    sb_printf(b, "# HELP cairn_serve_in_flight Requests being answered.\n# TYPE cairn_serve_in_flight gauge\n"
                 "cairn_serve_in_flight %llu\n", atomic_load(&stats.in_flight));
    sb_printf(b, "# HELP cairn_serve_model_swaps_total Models swapped in by --reload-alias.\n"
                 "# TYPE cairn_serve_model_swaps_total counter\ncairn_serve_model_swaps_total %llu\n",
              atomic_load(&stats.swaps));
    sb_printf(b, "# HELP cairn_serve_model_load_failures_total Models that failed to load (not swapped in).\n"
                 "# TYPE cairn_serve_model_load_failures_total counter\ncairn_serve_model_load_failures_total %llu\n",
              atomic_load(&stats.load_failures));
    sb_puts(b, "# HELP cairn_serve_model_info The model being served (value 1).\n"
               "# TYPE cairn_serve_model_info gauge\ncairn_serve_model_info{model=\"");
    prom_label(b, opt.model);
    sb_puts(b, "\",version=\"");
    prom_label(b, m->version);
    sb_puts(b, "\",algorithm=\"");
    prom_label(b, m->sc.pl.algo->name);
    sb_puts(b, "\"} 1\n");
}

/* ---------------------------------------------------------------- the current model */
static struct served *model_acquire(void)
{
    pthread_mutex_lock(&model_lock);
    struct served *m = current;
    m->refs++;
    pthread_mutex_unlock(&model_lock);
    return m;
}

static void model_release(struct served *m)
{
    pthread_mutex_lock(&model_lock);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&model_lock);
    if (last) {
        scorer_free(&m->sc);
        free(m);
    }
}

static void model_swap(struct served *m)
{
    m->refs = 1;   /* the reference "current" holds */
    pthread_mutex_lock(&model_lock);
    struct served *old = current;
    current = m;
    pthread_mutex_unlock(&model_lock);
    if (old) model_release(old);
}

static struct served *model_load(struct mlflow *mlf, char *err)
{
    struct pipeline pl;
    char version[64];
    if (model_source_load(mlf, opt.model, &pl, version, sizeof version, err)) return NULL;
    struct served *m = xcalloc(1, sizeof *m);
    if (scorer_init(&m->sc, &pl, err)) { free(m); return NULL; }
    snprintf(m->version, sizeof m->version, "%s", version);
    return m;
}

/* ---------------------------------------------------------------- HTTP */
static void reply(struct mg_connection *conn, int status, const char *content_type, const char *body, size_t len)
{
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", len);
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", content_type, -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "Server", "cairn-train/" CAIRN_VERSION, -1);
    mg_response_header_send(conn);
    if (len) mg_write(conn, body, len);
}

/* The body up to --max-body; NULL with *too_big when larger (the connection is then closed,
 * the rest unread). */
static char *read_body(struct mg_connection *conn, size_t *len, int *too_big)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    *too_big = 0;
    *len = 0;
    if (ri->content_length > (long long)opt.lim.max_body) { *too_big = 1; return NULL; }
    size_t cap = ri->content_length >= 0 ? (size_t)ri->content_length + 1 : 65536, used = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (cap - used < 2) {
            if (cap > opt.lim.max_body) { free(buf); *too_big = 1; return NULL; }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        int n = mg_read(conn, buf + used, cap - used - 1);
        if (n <= 0) break;
        used += (size_t)n;
        if (used > opt.lim.max_body) { free(buf); *too_big = 1; return NULL; }
    }
    buf[used] = 0;
    *len = used;
    return buf;
}

struct compute_args {
    const struct scorer *sc;
    const char *content_type;
    const char *body;
    size_t len;
    struct score_reply *r;
};

static void compute_job(void *arg)
{
    struct compute_args *a = arg;
    score_compute(a->sc, &opt.lim, a->content_type, a->body, a->len, a->r);
}

static int invocations(struct mg_connection *conn)
{
    size_t len;
    int too_big;
    char *body = read_body(conn, &len, &too_big);
    if (too_big) {
        struct sbuf b;
        sb_init(&b);
        char msg[160];
        snprintf(msg, sizeof msg, "The request body is larger than %zu bytes (--max-body)", opt.lim.max_body);
        score_error_json(&b, "BAD_REQUEST", msg);
        mg_response_header_start(conn, 413);
        mg_response_header_add(conn, "Connection", "close", -1);
        mg_response_header_add(conn, "Content-Type", "application/json", -1);
        char clen[32];
        snprintf(clen, sizeof clen, "%zu", b.len);
        mg_response_header_add(conn, "Content-Length", clen, -1);
        mg_response_header_send(conn);
        mg_write(conn, b.data, b.len);
        sb_free(&b);
        return 413;
    }
    sem_wait(&scoring_slots);
    struct served *m = model_acquire();
    struct score_reply r;
    struct compute_args ca = {&m->sc, mg_get_header(conn, "Content-Type"), body, len, &r};
    run_scoring(compute_job, &ca);
    sem_post(&scoring_slots);
    free(body);
    /* the reply goes out in pieces made from the predictions (a 1,000-row, 26-class reply is
     * 3× their size as text): the memory a request holds while its client reads stays small */
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", score_body_length(&m->sc, &r));
    mg_response_header_start(conn, r.status);
    mg_response_header_add(conn, "Content-Type", r.content_type, -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "Server", "cairn-train/" CAIRN_VERSION, -1);
    mg_response_header_send(conn);
    struct sbuf chunk;
    sb_init(&chunk);
    int next = 0;
    while (score_body_chunk(&m->sc, &r, &next, &chunk))
        if (chunk.len && mg_write(conn, chunk.data, chunk.len) <= 0) break;
    sb_free(&chunk);
    model_release(m);
    if (r.rows) atomic_fetch_add_explicit(&stats.rows, (unsigned long long)r.rows, memory_order_relaxed);
    int status = r.status;
    score_reply_free(&r);
    return status;
}

static int on_request(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    double t0 = now_seconds();
    atomic_fetch_add(&stats.in_flight, 1);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *path = ri->local_uri ? ri->local_uri : "";
    int get = !strcmp(ri->request_method, "GET"), post = !strcmp(ri->request_method, "POST");
    enum route route = !strcmp(path, "/invocations") ? R_INVOCATIONS : !strcmp(path, "/ping") ? R_PING
                     : !strcmp(path, "/health") ? R_HEALTH : !strcmp(path, "/version") ? R_VERSION
                     : !strcmp(path, "/metrics") ? R_METRICS : R_OTHER;
    int status;
    if (route == R_OTHER) {
        status = 404;
        reply(conn, 404, "application/json", "{\"detail\":\"Not Found\"}", 22);
    } else if (route == R_INVOCATIONS ? !post : !get) {
        status = 405;
        reply(conn, 405, "application/json", "{\"detail\":\"Method Not Allowed\"}", 31);
    } else if (route == R_INVOCATIONS) {
        status = invocations(conn);
    } else if (route == R_PING || route == R_HEALTH) {
        status = 200;   /* a model is always loaded: the server does not start without one */
        reply(conn, 200, "application/json", "\n", 1);
    } else if (route == R_VERSION) {
        status = 200;
        reply(conn, 200, "application/json", SCORING_PROTOCOL_VERSION, strlen(SCORING_PROTOCOL_VERSION));
    } else {
        struct sbuf b;
        sb_init(&b);
        struct served *m = model_acquire();
        metrics_text(&b, m);
        model_release(m);
        status = 200;
        reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
        sb_free(&b);
    }
    count_request(route, status, now_seconds() - t0);
    atomic_fetch_sub(&stats.in_flight, 1);
    return status;
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    fprintf(stderr, "cairn-train serve: http: %s\n", message);
    return 1;
}

/* ---------------------------------------------------------------- --reload-alias */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static int stopping;

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s cairn-train serve: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *reload_main(void *arg)
{
    (void)arg;
    struct mlflow *mlf = mlf_new(opt.tracking_uri);
    char failed_version[64] = "";
    for (;;) {
        pthread_mutex_lock(&stop_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += opt.reload_seconds;
        while (!stopping && pthread_cond_timedwait(&stop_cond, &stop_lock, &until) == 0) {}
        int stop = stopping;
        pthread_mutex_unlock(&stop_lock);
        if (stop) break;
        if (mlf_offline(mlf)) { mlf_free(mlf); mlf = mlf_new(opt.tracking_uri); }  /* try the server afresh */
        char version[64], err[ERR_LEN];
        if (model_source_version(mlf, opt.model, version, sizeof version, err)) {
            log_line("cannot resolve %s: %s (still serving the current model)", opt.model, err);
            continue;
        }
        struct served *cur = model_acquire();
        int same = !strcmp(cur->version, version);
        char old_version[64];
        snprintf(old_version, sizeof old_version, "%s", cur->version);
        model_release(cur);
        if (same || !strcmp(version, failed_version)) continue;
        struct served *m = model_load(mlf, err);
        if (!m) {
            atomic_fetch_add(&stats.load_failures, 1);
            snprintf(failed_version, sizeof failed_version, "%s", version);
            log_line("%s now points at version %s, which failed to load: %s (still serving version %s)", opt.model,
                     version, err, old_version);
            continue;
        }
        if (strcmp(m->version, version)) snprintf(failed_version, sizeof failed_version, "%s", "");
        model_swap(m);
        atomic_fetch_add(&stats.swaps, 1);
        log_line("swapped %s from version %s to version %s (%s)", opt.model, old_version, m->version,
                 m->sc.pl.algo->name);
    }
    mlf_free(mlf);
    return NULL;
}

/* ---------------------------------------------------------------- the command */
static int usage_error(const char *msg)
{
    fprintf(stderr, "cairn-train: error: %s\n", msg);
    return 2;
}

static int parse_opts(int argc, char **argv)
{
    memset(&opt, 0, sizeof opt);
    opt.host = "127.0.0.1";
    opt.port = 5000;
    opt.workers = 16;
    opt.tracking_uri = getenv("MLFLOW_TRACKING_URI");
    opt.lim.max_body = 64u << 20;
    opt.lim.max_rows = 100000;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        char msg[ERR_LEN];
        if (!v) { snprintf(msg, sizeof msg, "%s needs a value", a); return usage_error(msg); }
        i++;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) opt.model = v;
        else if (!strcmp(a, "--host") || !strcmp(a, "-h")) opt.host = v;
        else if (!strcmp(a, "--tracking-uri")) opt.tracking_uri = v;
        else if (!strcmp(a, "--port") || !strcmp(a, "-p")) {
            if (parse_long(v, &n) || n < 0 || n > 65535) return usage_error("--port must be in [0, 65535]");
            opt.port = (int)n;
        } else if (!strcmp(a, "--workers") || !strcmp(a, "-w")) {
            if (parse_long(v, &n) || n < 1 || n > 1024) return usage_error("--workers must be in [1, 1024]");
            opt.workers = (int)n;
        } else if (!strcmp(a, "--reload-alias")) {
            if (parse_long(v, &n) || n < 1 || n > 86400) return usage_error("--reload-alias must be seconds in [1, 86400]");
            opt.reload_seconds = (int)n;
        } else if (!strcmp(a, "--max-body")) {
            if (parse_long(v, &n) || n < 1024 || n > (1L << 34)) return usage_error("--max-body must be bytes in [1024, 2^34]");
            opt.lim.max_body = (size_t)n;
        } else if (!strcmp(a, "--max-rows")) {
            if (parse_long(v, &n) || n < 1 || n > 100000000) return usage_error("--max-rows must be in [1, 10^8]");
            opt.lim.max_rows = (int)n;
        } else if (!strcmp(a, "--env-manager")) {
            fprintf(stderr, "cairn-train serve: warning: --env-manager %s ignored (no Python environment is needed)\n", v);
        } else {
            snprintf(msg, sizeof msg, "unknown option %s (see cairn-train --help)", a);
            return usage_error(msg);
        }
    }
    if (!opt.model) return usage_error("serve needs --model DIR|models:/NAME@ALIAS|models:/NAME/VERSION|runs:/ID/PATH");
    if (opt.reload_seconds && (strncmp(opt.model, "models:/", 8) || !strchr(opt.model, '@')))
        return usage_error("--reload-alias needs --model models:/NAME@ALIAS");
    if (model_source_is_remote(opt.model) && (!opt.tracking_uri || !*opt.tracking_uri))
        return usage_error("a models:/ or runs:/ model needs --tracking-uri or MLFLOW_TRACKING_URI");
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    int rc = parse_opts(argc, argv);
    if (rc) return rc;
    /* A server's heap should give memory back: a request's big buffers (features, predictions)
     * are mappings of their own, unmapped when freed; one arena (at most one scoring per CPU, so
     * little contention) that returns a free top over 128 KiB. */
    mallopt(M_MMAP_THRESHOLD, SERVE_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, 128 << 10);
    mallopt(M_ARENA_MAX, 1);
    char err[ERR_LEN];
    struct mlflow *mlf = model_source_is_remote(opt.model) ? mlf_new(opt.tracking_uri) : NULL;
    struct served *m = model_load(mlf, err);
    if (mlf) mlf_free(mlf);
    if (!m) { fprintf(stderr, "cairn-train: error: %s\n", err); return 2; }
    model_swap(m);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    sem_init(&scoring_slots, 0, (unsigned)(ncpu > 0 ? ncpu : 1));
    /* the scoring slots are the parallelism: OpenBLAS adds none of its own */
    openblas_set_num_threads(1);

    /* the signals go to the main thread only (sigwait below): the workers inherit this mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    pool_start(&scorers, ncpu > 0 ? (int)ncpu : 1);
    pool_start(&helpers, ncpu > 1 ? (int)ncpu - 1 : 0);
    if (helpers.n) opt.lim.run_halves = run_halves;
    signal(SIGPIPE, SIG_IGN);

    char ports[300], threads[16];
    snprintf(ports, sizeof ports, "%s:%d", opt.host, opt.port);
    if (strchr(opt.host, ':')) snprintf(ports, sizeof ports, "[%s]:%d", opt.host, opt.port);
    snprintf(threads, sizeof threads, "%d", opt.workers);
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "5000",
        "request_timeout_ms", "60000",
        "max_request_size", "16384",
        "access_control_allow_origin", "",
        "access_control_allow_methods", "",
        "access_control_allow_headers", "",
        "enable_directory_listing", "no",
        "tcp_nodelay", "1",
        NULL,
    };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = on_log_message;
    mg_init_library(0);
    char errtext[256] = "";
    struct mg_init_data init = {&cb, NULL, options};
    struct mg_error_data errd = {0, errtext, sizeof errtext};
    struct mg_context *ctx = mg_start2(&init, &errd);
    if (!ctx) {
        fprintf(stderr, "cairn-train: error: cannot listen on %s: %s\n", ports, errtext[0] ? errtext : "address in use?");
        pool_join(&helpers);
        pool_join(&scorers);
        model_release(current);
        return 1;
    }
    mg_set_request_handler(ctx, "/", on_request, NULL);
    struct mg_server_port sp[4];
    int np = mg_get_server_ports(ctx, 4, sp), port = np > 0 ? sp[0].port : opt.port;
    printf("serving %s (%s%s%s) with %d workers\nlistening on http://%s:%d\n", opt.model, current->sc.pl.algo->name,
           current->version[0] ? ", version " : "", current->version, opt.workers, opt.host, port);
    fflush(stdout);

    pthread_t reloader;
    if (opt.reload_seconds) pthread_create(&reloader, NULL, reload_main, NULL);
    int sig = 0;
    sigwait(&sigs, &sig);
    log_line("signal %d: draining", sig);
    pthread_mutex_lock(&stop_lock);
    stopping = 1;
    pthread_cond_broadcast(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
    if (opt.reload_seconds) pthread_join(reloader, NULL);
    struct timespec ts = {0, 10 * 1000000L};
    for (int waited = 0; atomic_load(&stats.in_flight) > 0 && waited < 10000; waited += 10) nanosleep(&ts, NULL);
    mg_stop(ctx);
    mg_exit_library();
    pool_join(&helpers);
    pool_join(&scorers);
    model_release(current);
    current = NULL;
    return 0;
}
