#include "mlflow.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum item_kind { IT_METRIC, IT_PARAM, IT_TAG };
struct item {
    enum item_kind kind;
    char *run_id, *key, *value;
    double num;
    int64_t step, ts;
    struct item *next;
};

struct mlflow {
    char *base;                 /* tracking URI without a trailing slash */
    char *userpwd, *auth_header;
    int insecure, max_retries;
    double backoff_factor, backoff_jitter;
    long timeout;
    int offline;
    struct rng jitter_rng;
    pthread_mutex_t http_lock;  /* one CURL handle, shared by the caller and the logger thread */
    CURL *curl;
    /* the log-batch queue */
    pthread_mutex_t lock;
    pthread_cond_t cond, done;
    struct item *head, *tail;
    int queued, in_flight, stop;
    pthread_t thread;
    struct mlf_stats stats;
};

static double env_double(const char *name, double def)
{
    const char *s = getenv(name);
    double v;
    return s && !parse_double(s, &v) ? v : def;
}

static void *logger_main(void *arg);

static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct mlflow *mlf_new(const char *uri)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_curl);
    struct mlflow *m = xcalloc(1, sizeof *m);
    m->base = xstrdup(uri);
    size_t n = strlen(m->base);
    while (n && m->base[n - 1] == '/') m->base[--n] = 0;
    const char *tok = getenv("MLFLOW_TRACKING_TOKEN"), *user = getenv("MLFLOW_TRACKING_USERNAME"),
               *pw = getenv("MLFLOW_TRACKING_PASSWORD"), *ins = getenv("MLFLOW_TRACKING_INSECURE_TLS");
    if (user && *user && pw) {
        struct sbuf b; sb_init(&b); sb_printf(&b, "%s:%s", user, pw); m->userpwd = b.data;
    } else if (tok && *tok) {
        struct sbuf b; sb_init(&b); sb_printf(&b, "Authorization: Bearer %s", tok); m->auth_header = b.data;
    }
    m->insecure = ins && (!strcmp(ins, "true") || !strcmp(ins, "True") || !strcmp(ins, "1"));
    m->max_retries = (int)env_double("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7);
    m->backoff_factor = env_double("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2);
    m->backoff_jitter = env_double("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1);
    m->timeout = (long)env_double("MLFLOW_HTTP_REQUEST_TIMEOUT", 120);
    rng_seed(&m->jitter_rng, (uint64_t)now_millis_epoch());
    m->curl = curl_easy_init();
    pthread_mutex_init(&m->http_lock, NULL);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    pthread_cond_init(&m->done, NULL);
    pthread_create(&m->thread, NULL, logger_main, m);
    return m;
}

void mlf_free(struct mlflow *m)
{
    if (!m) return;
    mlf_flush(m);
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    curl_easy_cleanup(m->curl);
    pthread_mutex_destroy(&m->http_lock);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->done);
    free(m->base); free(m->userpwd); free(m->auth_header);
    free(m);
}

int mlf_offline(const struct mlflow *m) { return m->offline; }
const char *mlf_uri(const struct mlflow *m) { return m->base; }

void mlf_reply_free(struct mlf_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sb_add(ud, p, size * n);
    return size * n;
}

static void sleep_seconds(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

/* One attempt. Returns the HTTP status, or 0 for a transport error. */
static long attempt(struct mlflow *m, const char *method, const char *url, const char *ctype,
                    const void *body, size_t len, struct sbuf *resp, char *cerr)
{
    CURL *c = m->curl;
    curl_easy_reset(c);
    struct curl_slist *h = NULL;
    char ct[128];
    if (ctype) { snprintf(ct, sizeof ct, "Content-Type: %s", ctype); h = curl_slist_append(h, ct); }
    if (m->auth_header) h = curl_slist_append(h, m->auth_header);
    h = curl_slist_append(h, "User-Agent: cairn-train/0.1");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, m->timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, m->timeout < 10 ? m->timeout : 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (m->userpwd) { curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC); curl_easy_setopt(c, CURLOPT_USERPWD, m->userpwd); }
    if (m->insecure) { curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L); curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L); }
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    }
    cerr[0] = 0;
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else if (!cerr[0]) snprintf(cerr, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(h);
    return status;
}

int mlf_request(struct mlflow *m, const char *method, const char *path, const char *ctype,
                const void *body, size_t len, struct mlf_reply *reply, char *err)
{
    memset(reply, 0, sizeof *reply);
    if (m->offline) return errf(err, "tracking server %s is unreachable", m->base);
    struct sbuf url, resp;
    sb_init(&url);
    sb_printf(&url, "%s%s", m->base, path);
    char cerr[CURL_ERROR_SIZE];
    long status = 0;
    pthread_mutex_lock(&m->http_lock);
    for (int a = 0; ; a++) {
        sb_init(&resp);
        status = attempt(m, method, url.data, ctype, body, len, &resp, cerr);
        int retry = status == 0 || status == 429 || (status >= 500 && status != 501);
        if (!retry || a >= m->max_retries) break;
        sb_free(&resp);
        /* urllib3's Retry: factor · 2^(n−1), at most 120 s, plus MLflow's jitter */
        double delay = fmin(m->backoff_factor * pow(2, a), 120) + m->backoff_jitter * rng_uniform(&m->jitter_rng);
        sleep_seconds(delay);
    }
    pthread_mutex_unlock(&m->http_lock);
    reply->status = status;
    reply->body = resp.data ? resp.data : xstrdup("");
    int result = 0;
    if (status == 0) {
        m->offline = 1;
        result = errf(err, "tracking server %s is unreachable: %s", m->base, cerr);
    } else if (status < 200 || status >= 300) {
        cJSON *j = cJSON_Parse(reply->body);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (cJSON_IsString(code)) snprintf(reply->error_code, sizeof reply->error_code, "%s", code->valuestring);
        result = errf(err, "%s %s: HTTP %ld%s%s", method, path, status,
                      cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
        cJSON_Delete(j);
        if (status >= 500 || status == 429) m->offline = 1;  /* retries exhausted */
    }
    sb_free(&url);
    return result;
}

static int call_json(struct mlflow *m, const char *method, const char *path, const struct sbuf *body,
                     cJSON **out, struct mlf_reply *reply_out, char *err)
{
    struct mlf_reply r;
    int rc = mlf_request(m, method, path, body ? "application/json" : NULL, body ? body->data : NULL,
                         body ? body->len : 0, &r, err);
    if (out) *out = NULL;
    if (!rc && out) {
        *out = cJSON_Parse(r.body);
        if (!*out) rc = errf(err, "%s %s: the reply is not JSON", method, path);
    }
    if (reply_out) *reply_out = r;
    else mlf_reply_free(&r);
    return rc;
}

static const char *jstr(const cJSON *o, const char *path)
{
    /* "a.b.c" lookup */
    char key[64];
    const char *p = path;
    while (o && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        o = cJSON_GetObjectItemCaseSensitive(o, key);
        p += n + (dot ? 1 : 0);
    }
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

static char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = xstrdup(e);
    curl_free(e);
    return r;
}

int mlf_experiment_id(struct mlflow *m, const char *name, char *exp_id, size_t len, char *err)
{
    char *q = escape(name);
    struct sbuf path;
    sb_init(&path);
    sb_printf(&path, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s", q);
    free(q);
    cJSON *j;
    struct mlf_reply r;
    int rc = call_json(m, "GET", path.data, NULL, &j, &r, err);
    sb_free(&path);
    if (!rc) {
        const char *id = jstr(j, "experiment.experiment_id"), *stage = jstr(j, "experiment.lifecycle_stage");
        if (!id) rc = errf(err, "get-by-name: no experiment_id in the reply");
        else if (stage && strcmp(stage, "deleted") == 0)
            rc = errf(err, "experiment \"%s\" is deleted; restore it or choose another name", name);
        else snprintf(exp_id, len, "%s", id);
        cJSON_Delete(j);
        mlf_reply_free(&r);
        return rc;
    }
    int missing = strcmp(r.error_code, "RESOURCE_DOES_NOT_EXIST") == 0;
    mlf_reply_free(&r);
    if (!missing) return -1;
    struct sbuf body;
    sb_init(&body);
    sb_puts(&body, "{\"name\":");
    sb_json_str(&body, name);
    sb_puts(&body, "}");
    rc = call_json(m, "POST", "/api/2.0/mlflow/experiments/create", &body, &j, &r, err);
    sb_free(&body);
    if (!rc) {
        const char *id = jstr(j, "experiment_id");
        if (id) snprintf(exp_id, len, "%s", id);
        else rc = errf(err, "experiments/create: no experiment_id in the reply");
        cJSON_Delete(j);
    } else if (strcmp(r.error_code, "RESOURCE_ALREADY_EXISTS") == 0) {
        mlf_reply_free(&r);
        return mlf_experiment_id(m, name, exp_id, len, err);  /* lost a creation race */
    }
    mlf_reply_free(&r);
    return rc;
}

int mlf_create_run(struct mlflow *m, const char *exp_id, const char *run_name, const char *const *tags,
                   char *run_id, size_t idlen, char **artifact_uri, char *err)
{
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"experiment_id\":");
    sb_json_str(&b, exp_id);
    sb_printf(&b, ",\"start_time\":%lld", (long long)now_millis_epoch());
    if (run_name) { sb_puts(&b, ",\"run_name\":"); sb_json_str(&b, run_name); }
    sb_puts(&b, ",\"tags\":[");
    for (int i = 0; tags && tags[i]; i += 2) {
        sb_puts(&b, i ? ",{\"key\":" : "{\"key\":");
        sb_json_str(&b, tags[i]);
        sb_puts(&b, ",\"value\":");
        sb_json_str(&b, tags[i + 1]);
        sb_puts(&b, "}");
    }
    sb_puts(&b, "]}");
    cJSON *j;
    int rc = call_json(m, "POST", "/api/2.0/mlflow/runs/create", &b, &j, NULL, err);
    sb_free(&b);
    if (rc) return -1;
    const char *id = jstr(j, "run.info.run_id"), *au = jstr(j, "run.info.artifact_uri");
    if (!id) rc = errf(err, "runs/create: no run_id in the reply");
    else {
        snprintf(run_id, idlen, "%s", id);
        if (artifact_uri) *artifact_uri = au ? xstrdup(au) : NULL;
    }
    cJSON_Delete(j);
    return rc;
}

int mlf_end_run(struct mlflow *m, const char *run_id, const char *status, char *err)
{
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"run_id\":");
    sb_json_str(&b, run_id);
    sb_puts(&b, ",\"run_uuid\":");
    sb_json_str(&b, run_id);
    sb_printf(&b, ",\"status\":\"%s\",\"end_time\":%lld}", status, (long long)now_millis_epoch());
    int rc = call_json(m, "POST", "/api/2.0/mlflow/runs/update", &b, NULL, NULL, err);
    sb_free(&b);
    return rc;
}

/* ---- buffered log-batch ---- */
static void enqueue(struct mlflow *m, enum item_kind kind, const char *run_id, const char *key,
                    const char *value, double num, int64_t step)
{
    struct item *it = xcalloc(1, sizeof *it);
    it->kind = kind;
    it->run_id = xstrdup(run_id);
    it->key = xstrdup(key);
    it->value = value ? xstrdup(value) : NULL;
    it->num = num;
    it->step = step;
    it->ts = now_millis_epoch();
    pthread_mutex_lock(&m->lock);
    if (m->tail) m->tail->next = it; else m->head = it;
    m->tail = it;
    m->queued++;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

void mlf_log_metric(struct mlflow *m, const char *run_id, const char *key, double value, int64_t step)
{
    enqueue(m, IT_METRIC, run_id, key, NULL, value, step);
}

void mlf_log_param(struct mlflow *m, const char *run_id, const char *key, const char *value)
{
    enqueue(m, IT_PARAM, run_id, key, value, 0, 0);
}

void mlf_set_tag(struct mlflow *m, const char *run_id, const char *key, const char *value)
{
    enqueue(m, IT_TAG, run_id, key, value, 0, 0);
}

static void free_item(struct item *it)
{
    free(it->run_id); free(it->key); free(it->value); free(it);
}

/* Take the longest prefix of the queue for one run that fits the limits. */
static struct item *take_batch(struct mlflow *m, int *nm, int *np, int *nt)
{
    struct item *first = m->head, **link = &m->head, *it;
    *nm = *np = *nt = 0;
    while ((it = *link) && strcmp(it->run_id, first->run_id) == 0) {
        int *cnt = it->kind == IT_METRIC ? nm : it->kind == IT_PARAM ? np : nt;
        int lim = it->kind == IT_METRIC ? MLF_BATCH_METRICS : it->kind == IT_PARAM ? MLF_BATCH_PARAMS : MLF_BATCH_TAGS;
        if (*cnt >= lim || *nm + *np + *nt >= MLF_BATCH_TOTAL) break;
        (*cnt)++;
        link = &it->next;
    }
    m->head = *link;
    if (!m->head) m->tail = NULL;
    *link = NULL;
    return first;
}

static void send_batch(struct mlflow *m, struct item *batch, int nm, int np, int nt)
{
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"run_id\":");
    sb_json_str(&b, batch->run_id);
    static const char *const section[3] = {"metrics", "params", "tags"};
    for (int kind = 0; kind < 3; kind++) {
        sb_printf(&b, ",\"%s\":[", section[kind]);
        int first = 1;
        for (struct item *it = batch; it; it = it->next) {
            if ((int)it->kind != kind) continue;
            sb_puts(&b, first ? "{\"key\":" : ",{\"key\":");
            first = 0;
            sb_json_str(&b, it->key);
            if (kind == IT_METRIC) {
                sb_puts(&b, ",\"value\":");
                sb_double(&b, it->num);
                sb_printf(&b, ",\"timestamp\":%lld,\"step\":%lld}", (long long)it->ts, (long long)it->step);
            } else {
                sb_puts(&b, ",\"value\":");
                sb_json_str(&b, it->value);
                sb_puts(&b, "}");
            }
        }
        sb_puts(&b, "]");
    }
    sb_puts(&b, "}");
    char err[ERR_LEN];
    int rc = m->offline ? -1 : call_json(m, "POST", "/api/2.0/mlflow/runs/log-batch", &b, NULL, NULL, err);
    sb_free(&b);
    pthread_mutex_lock(&m->lock);
    m->stats.batches++;
    if (rc) m->stats.failed++;
    if (nm > m->stats.max_metrics) m->stats.max_metrics = nm;
    if (np > m->stats.max_params) m->stats.max_params = np;
    if (nt > m->stats.max_tags) m->stats.max_tags = nt;
    if (nm + np + nt > m->stats.max_total) m->stats.max_total = nm + np + nt;
    pthread_mutex_unlock(&m->lock);
    if (rc && !m->offline) fprintf(stderr, "cairn-train: log-batch failed: %s\n", err);
}

static void *logger_main(void *arg)
{
    struct mlflow *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        while (!m->head && !m->stop) pthread_cond_wait(&m->cond, &m->lock);
        if (!m->head && m->stop) break;
        int nm, np, nt;
        struct item *batch = take_batch(m, &nm, &np, &nt);
        int n = nm + np + nt;
        m->in_flight += n;
        m->queued -= n;
        pthread_mutex_unlock(&m->lock);
        send_batch(m, batch, nm, np, nt);
        while (batch) { struct item *next = batch->next; free_item(batch); batch = next; }
        pthread_mutex_lock(&m->lock);
        m->in_flight -= n;
        pthread_cond_broadcast(&m->done);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int mlf_flush(struct mlflow *m)
{
    pthread_mutex_lock(&m->lock);
    while (m->queued || m->in_flight) pthread_cond_wait(&m->done, &m->lock);
    int failed = m->stats.failed;
    pthread_mutex_unlock(&m->lock);
    return failed;
}

struct mlf_stats mlf_stats(struct mlflow *m)
{
    pthread_mutex_lock(&m->lock);
    struct mlf_stats s = m->stats;
    pthread_mutex_unlock(&m->lock);
    return s;
}

int mlf_log_dataset(struct mlflow *m, const char *run_id, const char *dataset_json, const char *context, char *err)
{
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"run_id\":");
    sb_json_str(&b, run_id);
    sb_puts(&b, ",\"datasets\":[{\"tags\":[{\"key\":\"mlflow.data.context\",\"value\":");
    sb_json_str(&b, context);
    sb_printf(&b, "}],\"dataset\":%s}]}", dataset_json);
    int rc = call_json(m, "POST", "/api/2.0/mlflow/runs/log-inputs", &b, NULL, NULL, err);
    sb_free(&b);
    return rc;
}

/* mlflow-artifacts:/p, mlflow-artifacts://host:port/p → URL of the proxy
 * path; http(s)://… is used as is. */
static int artifact_url(struct mlflow *m, const char *uri, const char *rel, struct sbuf *url, char *err)
{
    const char *path;
    sb_init(url);
    if (strncmp(uri, "mlflow-artifacts:", 17) == 0) {
        const char *rest = uri + 17;
        if (strncmp(rest, "//", 2) == 0) {
            const char *slash = strchr(rest + 2, '/');
            const char *scheme = strncmp(m->base, "https:", 6) == 0 ? "https" : "http";
            sb_printf(url, "%s://%.*s", scheme, slash ? (int)(slash - rest - 2) : (int)strlen(rest + 2), rest + 2);
            path = slash ? slash : "/";
        } else {
            sb_puts(url, m->base);
            path = rest;
        }
        while (*path == '/') path++;
        sb_printf(url, "/api/2.0/mlflow-artifacts/artifacts/%s", path);
    } else if (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0) {
        sb_puts(url, uri);
    } else {
        return errf(err, "artifact URI %s is not served through the tracking server (only mlflow-artifacts: is supported)", uri);
    }
    if (rel && *rel) {
        if (url->len && url->data[url->len - 1] != '/') sb_puts(url, "/");
        /* escape each path segment */
        const char *p = rel;
        while (*p) {
            const char *sl = strchr(p, '/');
            size_t n = sl ? (size_t)(sl - p) : strlen(p);
            char *seg = xmalloc(n + 1);
            memcpy(seg, p, n); seg[n] = 0;
            char *e = escape(seg);
            sb_puts(url, e);
            free(e); free(seg);
            p += n;
            if (*p == '/') { sb_puts(url, "/"); p++; }
        }
    }
    return 0;
}

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot) return "text/plain";
    if (!strcmp(dot, ".json")) return "application/json";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".yaml") || !strcmp(dot, ".txt") || !strcmp(dot, ".csv")) return "text/plain";
    return "application/octet-stream";
}

/* The proxy paths are absolute URLs: mlf_request takes a path, so split. */
static int request_url(struct mlflow *m, const char *method, const char *url, const char *ctype,
                       const void *body, size_t len, struct mlf_reply *r, char *err)
{
    size_t bl = strlen(m->base);
    if (strncmp(url, m->base, bl) == 0) return mlf_request(m, method, url + bl, ctype, body, len, r, err);
    /* another host (mlflow-artifacts://host/…): a temporary client for it */
    const char *p = strstr(url, "://");
    const char *slash = p ? strchr(p + 3, '/') : NULL;
    if (!slash) return errf(err, "bad artifact URL %s", url);
    char *base = xmalloc((size_t)(slash - url) + 1);
    memcpy(base, url, (size_t)(slash - url));
    base[slash - url] = 0;
    char *saved = m->base;
    m->base = base;
    int rc = mlf_request(m, method, slash, ctype, body, len, r, err);
    m->base = saved;
    free(base);
    return rc;
}

int mlf_upload(struct mlflow *m, const char *artifact_uri, const char *rel_path, const void *data, size_t len,
               char *err)
{
    struct sbuf url;
    if (artifact_url(m, artifact_uri, rel_path, &url, err)) { sb_free(&url); return -1; }
    struct mlf_reply r;
    int rc = request_url(m, "PUT", url.data, mime_of(rel_path), data, len, &r, err);
    mlf_reply_free(&r);
    sb_free(&url);
    return rc;
}

int mlf_download(struct mlflow *m, const char *artifact_uri, const char *rel_path, char **data, size_t *len, char *err)
{
    struct sbuf url;
    if (artifact_url(m, artifact_uri, rel_path, &url, err)) { sb_free(&url); return -1; }
    struct mlf_reply r;
    int rc = request_url(m, "GET", url.data, NULL, NULL, 0, &r, err);
    sb_free(&url);
    if (rc) { mlf_reply_free(&r); return -1; }
    *len = strlen(r.body);  /* artifacts we read back are text (MLmodel, model.cairn) */
    *data = r.body;
    return 0;
}

int mlf_create_logged_model(struct mlflow *m, const char *exp_id, const char *name, const char *run_id,
                            const char *model_type, const char *params_json, char *model_id, size_t idlen,
                            char **artifact_uri, char *err)
{
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"experiment_id\":");
    sb_json_str(&b, exp_id);
    sb_puts(&b, ",\"name\":");
    sb_json_str(&b, name);
    if (run_id) { sb_puts(&b, ",\"source_run_id\":"); sb_json_str(&b, run_id); }
    if (model_type) { sb_puts(&b, ",\"model_type\":"); sb_json_str(&b, model_type); }
    if (params_json) sb_printf(&b, ",\"params\":%s", params_json);
    sb_puts(&b, "}");
    cJSON *j;
    int rc = call_json(m, "POST", "/api/2.0/mlflow/logged-models", &b, &j, NULL, err);
    sb_free(&b);
    if (rc) return -1;
    const char *id = jstr(j, "model.info.model_id"), *au = jstr(j, "model.info.artifact_uri");
    if (!id || !au) rc = errf(err, "logged-models: no model_id/artifact_uri in the reply");
    else { snprintf(model_id, idlen, "%s", id); *artifact_uri = xstrdup(au); }
    cJSON_Delete(j);
    return rc;
}

int mlf_finalize_logged_model(struct mlflow *m, const char *model_id, int ok, char *err)
{
    struct sbuf b, path;
    sb_init(&b); sb_init(&path);
    sb_puts(&b, "{\"model_id\":");
    sb_json_str(&b, model_id);
    sb_printf(&b, ",\"status\":\"%s\"}", ok ? "LOGGED_MODEL_READY" : "LOGGED_MODEL_UPLOAD_FAILED");
    sb_printf(&path, "/api/2.0/mlflow/logged-models/%s", model_id);
    int rc = call_json(m, "PATCH", path.data, &b, NULL, NULL, err);
    sb_free(&b); sb_free(&path);
    return rc;
}

int mlf_log_outputs(struct mlflow *m, const char *run_id, const char *model_id, int64_t step, char *err)
{
    struct sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"run_id\":");
    sb_json_str(&b, run_id);
    sb_puts(&b, ",\"models\":[{\"model_id\":");
    sb_json_str(&b, model_id);
    sb_printf(&b, ",\"step\":%lld}]}", (long long)step);
    int rc = call_json(m, "POST", "/api/2.0/mlflow/runs/outputs", &b, NULL, NULL, err);
    sb_free(&b);
    return rc;
}

int mlf_register(struct mlflow *m, const char *name, const char *source, const char *run_id, const char *model_id,
                 const char *alias, char *version, size_t vlen, char *err)
{
    struct sbuf b;
    struct mlf_reply r;
    sb_init(&b);
    sb_puts(&b, "{\"name\":");
    sb_json_str(&b, name);
    sb_puts(&b, "}");
    int rc = call_json(m, "POST", "/api/2.0/mlflow/registered-models/create", &b, NULL, &r, err);
    sb_free(&b);
    if (rc && strcmp(r.error_code, "RESOURCE_ALREADY_EXISTS") != 0) { mlf_reply_free(&r); return -1; }
    mlf_reply_free(&r);
    sb_init(&b);
    sb_puts(&b, "{\"name\":");
    sb_json_str(&b, name);
    sb_puts(&b, ",\"source\":");
    sb_json_str(&b, source);
    if (run_id) { sb_puts(&b, ",\"run_id\":"); sb_json_str(&b, run_id); }
    if (model_id) { sb_puts(&b, ",\"model_id\":"); sb_json_str(&b, model_id); }
    sb_puts(&b, "}");
    cJSON *j;
    rc = call_json(m, "POST", "/api/2.0/mlflow/model-versions/create", &b, &j, NULL, err);
    sb_free(&b);
    if (rc) return -1;
    const char *v = jstr(j, "model_version.version");
    if (!v) rc = errf(err, "model-versions/create: no version in the reply");
    else snprintf(version, vlen, "%s", v);
    cJSON_Delete(j);
    if (rc || !alias) return rc;
    sb_init(&b);
    sb_puts(&b, "{\"name\":");
    sb_json_str(&b, name);
    sb_puts(&b, ",\"alias\":");
    sb_json_str(&b, alias);
    sb_puts(&b, ",\"version\":");
    sb_json_str(&b, version);
    sb_puts(&b, "}");
    rc = call_json(m, "POST", "/api/2.0/mlflow/registered-models/alias", &b, NULL, NULL, err);
    sb_free(&b);
    return rc;
}

int mlf_resolve_model_uri(struct mlflow *m, const char *uri, char **artifact_uri, char *err)
{
    return mlf_resolve_model_version(m, uri, artifact_uri, NULL, 0, err);
}

int mlf_resolve_model_version(struct mlflow *m, const char *uri, char **artifact_uri, char *version_out,
                              size_t vlen, char *err)
{
    if (version_out && vlen) version_out[0] = 0;
    if (strncmp(uri, "models:/", 8) != 0) return errf(err, "%s is not a models:/ URI", uri);
    const char *rest = uri + 8;
    struct sbuf path;
    sb_init(&path);
    cJSON *j;
    const char *at = strchr(rest, '@'), *slash = strchr(rest, '/');
    int rc;
    if (!at && !slash) {  /* models:/m-… (MLflow 3 logged model) */
        char *id = escape(rest);
        sb_printf(&path, "/api/2.0/mlflow/logged-models/%s", id);
        free(id);
        rc = call_json(m, "GET", path.data, NULL, &j, NULL, err);
        sb_free(&path);
        if (rc) return -1;
        const char *au = jstr(j, "model.info.artifact_uri");
        if (au) *artifact_uri = xstrdup(au); else rc = errf(err, "logged model %s has no artifact_uri", rest);
        cJSON_Delete(j);
        return rc;
    }
    char *name, *ver;
    if (at) {
        name = xmalloc((size_t)(at - rest) + 1);
        memcpy(name, rest, (size_t)(at - rest)); name[at - rest] = 0;
        char *en = escape(name), *ea = escape(at + 1);
        sb_printf(&path, "/api/2.0/mlflow/registered-models/alias?name=%s&alias=%s", en, ea);
        free(en); free(ea);
    } else {
        name = xmalloc((size_t)(slash - rest) + 1);
        memcpy(name, rest, (size_t)(slash - rest)); name[slash - rest] = 0;
        ver = escape(slash + 1);
        char *en = escape(name);
        sb_printf(&path, "/api/2.0/mlflow/model-versions/get?name=%s&version=%s", en, ver);
        free(en); free(ver);
    }
    rc = call_json(m, "GET", path.data, NULL, &j, NULL, err);
    sb_free(&path);
    if (rc) { free(name); return -1; }
    const char *version = jstr(j, "model_version.version");
    char *v = version ? xstrdup(version) : NULL;
    if (v && version_out) snprintf(version_out, vlen, "%s", v);
    cJSON_Delete(j);
    if (!v) { free(name); return errf(err, "%s: no model version in the reply", uri); }
    /* the artifact location of a version */
    char *en = escape(name), *ev = escape(v);
    sb_init(&path);
    sb_printf(&path, "/api/2.0/mlflow/model-versions/get-download-uri?name=%s&version=%s", en, ev);
    free(en); free(ev); free(name); free(v);
    rc = call_json(m, "GET", path.data, NULL, &j, NULL, err);
    sb_free(&path);
    if (rc) return -1;
    const char *au = jstr(j, "artifact_uri");
    if (au) *artifact_uri = xstrdup(au); else rc = errf(err, "%s: no artifact_uri in the reply", uri);
    cJSON_Delete(j);
    return rc;
}
