/* cairn-loadgen: closed-loop HTTP load on libcurl's multi interface.
 *
 * N clients, each one keep-alive connection with at most one request in
 * flight, for a fixed duration (or a fixed number of requests). One thread
 * drives every client, so the generator costs little CPU next to the server
 * it measures. Every non-2xx reply is an error; every --verify-every'th
 * reply of each client (and its first) must contain the expected text.
 *
 *   loadgen --base URL --mode MODE --clients N --duration S [options]
 *   modes: log-metric       one metric per request, client i on run i
 *          log-batch        1,000 metrics (10 keys x 100 steps), client i on run i
 *          log-batch-same   1,000 metrics (1,000 keys, shuffled), every client on run 0
 *          soak-logger      10 metrics per request, client i on run i
 *          requests         replay --requests FILE round robin
 *                           (lines: METHOD<TAB>PATH<TAB>BODY<TAB>EXPECT; BODY may be empty)
 *
 * Prints one JSON object: requests, errors, req_s, points_s, p50_ms, p90_ms,
 * p99_ms, max_ms, mean_ms, bytes, verified, first_error.
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEP_BYTES (64 * 1024)   /* kept of each reply for verification */
#define BATCH_POINTS 1000
#define SOAK_POINTS 10

struct req_line { char *method, *path, *body, *expect; };

struct client {
    CURL *h;
    int idx;
    long seq;                    /* requests sent by this client */
    char *body;                  /* request body (owned) */
    size_t body_cap;
    char *resp;                  /* first KEEP_BYTES of the reply */
    size_t resp_len, resp_bytes;
    double t0, next_at;
    bool busy, verify;
    const char *expect;
    char url[4096];
};

static struct {
    const char *base, *mode, *runs_file, *requests_file;
    int clients, verify_every, points;
    double duration, warmup, interval_ms, timeout;
    long max_requests, step_base;
    char **runs;
    int n_runs;
    struct req_line *reqs;
    int n_reqs;
} o = { .clients = 1, .verify_every = 16, .duration = 5, .timeout = 600 };

static struct {
    double *lat;
    size_t n, cap;
    long requests, errors, verified, sent;
    long points, in_window, points_in_window;
    uint64_t bytes;
    char first_error[512];
} st;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fputs("loadgen: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

static char **read_lines(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loadgen: cannot open %s\n", path);
        exit(2);
    }
    char **v = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        v = xrealloc(v, (size_t)(*n + 1) * sizeof *v);
        v[(*n)++] = strdup(line);
    }
    free(line);
    fclose(f);
    return v;
}

static void first_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void first_error(const char *fmt, ...)
{
    if (st.first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.first_error, sizeof st.first_error, fmt, ap);
    va_end(ap);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct client *c = ud;
    size_t len = sz * n;
    c->resp_bytes += len;
    if (c->resp_len < KEEP_BYTES) {
        size_t take = len < KEEP_BYTES - c->resp_len ? len : KEEP_BYTES - c->resp_len;
        memcpy(c->resp + c->resp_len, p, take);
        c->resp_len += take;
        c->resp[c->resp_len] = '\0';
    }
    return len;
}

/* body buffer with room for n bytes more */
static char *body_room(struct client *c, size_t used, size_t n)
{
    if (used + n + 1 > c->body_cap) {
        c->body_cap = (used + n + 1) * 2;
        c->body = xrealloc(c->body, c->body_cap);
    }
    return c->body + used;
}

static size_t put(struct client *c, size_t used, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t put(struct client *c, size_t used, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = c->body_cap > used ? c->body_cap - used : 0;
        va_start(ap, fmt);
        int w = vsnprintf(c->body + used, room, fmt, ap);
        va_end(ap);
        if ((size_t)w < room)
            return used + (size_t)w;
        body_room(c, used, (size_t)w + 256);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double rnd_value(void) { return (double)(rnd() % 1000000) / 1000000.0; }

static const char *run_for(struct client *c)
{
    if (!o.n_runs) {
        fputs("loadgen: this mode needs --runs FILE\n", stderr);
        exit(2);
    }
    return o.runs[c->idx % o.n_runs];
}

static size_t metrics_body(struct client *c, const char *run, int n, bool shuffled_keys)
{
    static int perm[BATCH_POINTS];
    int64_t ts = wall_ms();
    size_t u = put(c, 0, "{\"run_id\":\"%s\",\"metrics\":[", run);
    if (shuffled_keys) {
        for (int i = 0; i < n; i++)
            perm[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(rnd() % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        /* one step per request, unique across clients */
        long step = o.step_base + c->seq * o.clients + c->idx;
        for (int i = 0; i < n; i++)
            u = put(c, u, "%s{\"key\":\"k%03d\",\"value\":%.6f,\"timestamp\":%" PRId64 ",\"step\":%ld}",
                    i ? "," : "", perm[i], rnd_value(), ts, step);
    } else {
        int keys = n >= 100 ? 10 : n, steps = n / keys;
        for (int s = 0; s < steps; s++)
            for (int k = 0; k < keys; k++)
                u = put(c, u, "%s{\"key\":\"m%d\",\"value\":%.6f,\"timestamp\":%" PRId64 ",\"step\":%ld}",
                        s || k ? "," : "", k, rnd_value(), ts, o.step_base + c->seq * steps + s);
    }
    return put(c, u, "]}");
}

static void prepare(CURLM *m, struct client *c, struct curl_slist *json_hdr)
{
    CURL *h = c->h;
    const char *method = "POST", *path = NULL;
    size_t len = 0;
    c->expect = "{}";
    if (!strcmp(o.mode, "log-metric")) {
        path = "/api/2.0/mlflow/runs/log-metric";
        len = put(c, 0, "{\"run_id\":\"%s\",\"key\":\"loss\",\"value\":%.6f,\"timestamp\":%" PRId64 ",\"step\":%ld}",
                  run_for(c), rnd_value(), wall_ms(), o.step_base + c->seq);
    } else if (!strcmp(o.mode, "log-batch") || !strcmp(o.mode, "soak-logger")) {
        path = "/api/2.0/mlflow/runs/log-batch";
        len = metrics_body(c, run_for(c), o.points, false);
    } else if (!strcmp(o.mode, "log-batch-same")) {
        path = "/api/2.0/mlflow/runs/log-batch";
        len = metrics_body(c, o.runs[0], o.points, true);
    } else {
        struct req_line *r = &o.reqs[(c->idx + c->seq * o.clients) % o.n_reqs];
        method = r->method;
        path = r->path;
        c->expect = r->expect;
        len = put(c, 0, "%s", r->body);
    }
    snprintf(c->url, sizeof c->url, "%s%s", o.base, path);
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    if (!strcmp(method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, json_hdr);
    }
    c->resp_len = c->resp_bytes = 0;
    c->resp[0] = '\0';
    c->verify = c->seq % o.verify_every == 0;
    c->seq++;
    c->busy = true;
    c->t0 = now_s();
    st.sent++;
    curl_multi_add_handle(m, h);
}

static void record(double ms)
{
    if (st.n == st.cap) {
        st.cap = st.cap ? st.cap * 2 : 4096;
        st.lat = xrealloc(st.lat, st.cap * sizeof *st.lat);
    }
    st.lat[st.n++] = ms;
}

/* A reply counts when it arrives after the warm-up, however long ago it was
 * sent (a request starved through the warm-up must show in the latencies);
 * throughput counts the replies that arrive inside the measured window. */
static void finish(struct client *c, CURLcode rc, double start, double end)
{
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    double t = now_s(), ms = (t - c->t0) * 1000.0;
    bool in_window = t <= end;
    c->busy = false;
    if (t < start)
        return;
    st.requests++;
    st.bytes += c->resp_bytes;
    record(ms);
    if (rc != CURLE_OK) {
        st.errors++;
        first_error("%s: %s", c->url, curl_easy_strerror(rc));
        return;
    }
    if (status < 200 || status > 299) {
        st.errors++;
        first_error("%s: HTTP %ld: %.300s", c->url, status, c->resp);
        return;
    }
    if (c->verify) {
        if (!strstr(c->resp, c->expect)) {
            st.errors++;
            first_error("%s: reply lacks '%s': %.300s", c->url, c->expect, c->resp);
            return;
        }
        st.verified++;
    }
    long pts = !strcmp(o.mode, "log-metric") ? 1 : strcmp(o.mode, "requests") ? o.points : 0;
    st.points += pts;
    if (in_window) {
        st.in_window++;
        st.points_in_window += pts;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!st.n)
        return 0;
    size_t i = (size_t)(p * (double)(st.n - 1) + 0.5);
    return st.lat[i];
}

static void usage(void)
{
    fputs("usage: loadgen --base URL --mode log-metric|log-batch|log-batch-same|soak-logger|requests\n"
          "  [--clients N] [--duration S] [--warmup S] [--max-requests N] [--interval-ms MS]\n"
          "  [--runs FILE] [--requests FILE] [--step-base N] [--verify-every N] [--timeout S]\n", stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--base")) o.base = v;
        else if (!strcmp(a, "--mode")) o.mode = v;
        else if (!strcmp(a, "--clients")) o.clients = atoi(v);
        else if (!strcmp(a, "--duration")) o.duration = atof(v);
        else if (!strcmp(a, "--warmup")) o.warmup = atof(v);
        else if (!strcmp(a, "--max-requests")) o.max_requests = atol(v);
        else if (!strcmp(a, "--interval-ms")) o.interval_ms = atof(v);
        else if (!strcmp(a, "--runs")) o.runs_file = v;
        else if (!strcmp(a, "--requests")) o.requests_file = v;
        else if (!strcmp(a, "--step-base")) o.step_base = atol(v);
        else if (!strcmp(a, "--verify-every")) o.verify_every = atoi(v);
        else if (!strcmp(a, "--timeout")) o.timeout = atof(v);
        else usage();
    }
    if (!o.base || !o.mode || o.clients < 1 || o.verify_every < 1)
        usage();
    o.points = !strcmp(o.mode, "soak-logger") ? SOAK_POINTS : BATCH_POINTS;
    if (o.runs_file)
        o.runs = read_lines(o.runs_file, &o.n_runs);
    if (!strcmp(o.mode, "requests")) {
        if (!o.requests_file)
            usage();
        char **lines = read_lines(o.requests_file, &o.n_reqs);
        o.reqs = calloc((size_t)o.n_reqs, sizeof *o.reqs);
        for (int i = 0; i < o.n_reqs; i++) {
            char *f[4] = { 0 }, *s = lines[i];
            for (int k = 0; k < 4; k++) {
                f[k] = s;
                s = s ? strchr(s, '\t') : NULL;
                if (s)
                    *s++ = '\0';
            }
            if (!f[1]) {
                fprintf(stderr, "loadgen: bad request line %d\n", i + 1);
                exit(2);
            }
            o.reqs[i] = (struct req_line){ f[0], f[1], f[2] ? f[2] : "", f[3] && *f[3] ? f[3] : "{" };
        }
        if (!o.n_reqs)
            usage();
    }
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)o.clients + 4);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");   /* no 100-continue round trip */
    struct client *cl = calloc((size_t)o.clients, sizeof *cl);
    for (int i = 0; i < o.clients; i++) {
        struct client *c = &cl[i];
        c->idx = i;
        c->resp = malloc(KEEP_BYTES + 1);
        c->h = curl_easy_init();
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)(o.timeout * 1000));
        curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    }
    rng_state ^= (uint64_t)o.step_base * 0x100000001b3ull + (uint64_t)getpid();
    double t_begin = now_s(), start = t_begin + o.warmup, end = start + o.duration;
    for (int i = 0; i < o.clients; i++)
        prepare(m, &cl[i], hdr);
    int running = o.clients;
    while (running) {
        int still;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        double t = now_s();
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct client *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            CURLcode rc = msg->data.result;
            curl_multi_remove_handle(m, msg->easy_handle);
            finish(c, rc, start, o.max_requests ? 1e300 : end);
            c->next_at = o.interval_ms > 0 ? c->t0 + o.interval_ms / 1000.0 : 0;
            running--;
        }
        t = now_s();
        bool stop = t >= end || (o.max_requests && st.sent >= o.max_requests);
        double wait_until = end;
        for (int i = 0; i < o.clients && !stop; i++) {
            struct client *c = &cl[i];
            if (c->busy)
                continue;
            if (c->next_at > t) {
                if (c->next_at < wait_until)
                    wait_until = c->next_at;
                continue;
            }
            prepare(m, c, hdr);
            running++;
            if (o.max_requests && st.sent >= o.max_requests)
                break;
        }
        bool idle_waiting = false;
        for (int i = 0; i < o.clients && !stop; i++)
            if (!cl[i].busy)
                idle_waiting = true;
        if (!running && !idle_waiting)
            break;
        if (!running && stop)
            break;
        int ms = 50;
        if (idle_waiting) {
            double d = (wait_until - now_s()) * 1000.0;
            ms = d < 0 ? 0 : d > 50 ? 50 : (int)d;
        }
        curl_multi_poll(m, NULL, 0, ms, NULL);
    }
    /* duration mode: replies inside the window over its length; request-count
     * mode: everything over the wall time */
    double elapsed = o.max_requests ? now_s() - t_begin : o.duration;
    long counted = o.max_requests ? st.requests : st.in_window;
    long counted_points = o.max_requests ? st.points : st.points_in_window;
    if (elapsed <= 0)
        elapsed = 1e-9;
    qsort(st.lat, st.n, sizeof *st.lat, cmp_double);
    double mean = 0;
    for (size_t i = 0; i < st.n; i++)
        mean += st.lat[i] / (double)st.n;
    printf("{\"mode\":");
    json_str(o.mode);
    printf(",\"clients\":%d,\"seconds\":%.3f,\"requests\":%ld,\"errors\":%ld,\"verified\":%ld,"
           "\"req_s\":%.2f,\"points_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"bytes\":%" PRIu64 ",\"first_error\":",
           o.clients, elapsed, st.requests, st.errors, st.verified, counted / elapsed,
           counted_points / elapsed, pct(0.50), pct(0.90), pct(0.99), st.n ? st.lat[st.n - 1] : 0.0,
           mean, st.bytes);
    json_str(st.first_error);
    printf("}\n");
    for (int i = 0; i < o.clients; i++) {
        curl_easy_cleanup(cl[i].h);
        free(cl[i].resp);
        free(cl[i].body);
    }
    free(cl);
    curl_slist_free_all(hdr);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
