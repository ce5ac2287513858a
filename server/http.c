/* civetweb glue: one dispatcher for every path, matched against the route
 * table in api/routes.c. Limits, Host and Content-Type checks, CORS, and
 * drain-before-stop live here; no civetweb type crosses into api/. */
#include "http.h"
#include "frontend.h"
#include "static.h"
#include "../api/api.h"
#include "../api/json.h"
#include "../api/auth.h"
#include "auth.h"
#include "../store/db.h"
#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <fnmatch.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HEAD_LIMIT (16 * 1024)

static struct mg_context *ctx;
static struct http_options opt;
static atomic_int in_flight;
static atomic_bool draining;

/* ---- helpers ---- */

static bool match_any(const char *s, const char *const *patterns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(patterns[i], "*") || (strchr(patterns[i], '*') || strchr(patterns[i], '['))
                ? fnmatch(patterns[i], s, 0) == 0 : strcmp(patterns[i], s) == 0)
            return true;
    return false;
}

/* ---- hardening (issue 15): Host literals, framing, civetweb's own errors ---- */

/* The default Host allow-list: the loopback names and addresses, and the
 * private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) only as literal IP
 * addresses. MLflow matches "10.*" as a string, which also lets a DNS name
 * such as 10.evil.com through (DNS rebinding); a name never matches here.
 * A port, when present, must be decimal. */
static bool default_host_allowed(const char *host)
{
    char name[64];
    const char *port;
    size_t n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        n = (size_t)(close - host) + 1;
        port = close[1] ? close + 2 : NULL;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
        port = colon ? colon + 1 : NULL;
    }
    if (port && (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port)))
        return false;
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (!strcmp(name, "localhost") || !strcmp(name, "127.0.0.1") || !strcmp(name, "[::1]") ||
        !strcmp(name, "0.0.0.0"))
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8;
    }
    struct in6_addr a6;
    if (name[0] == '[') {
        name[n - 1] = '\0';
        return inet_pton(AF_INET6, name + 1, &a6) == 1 && (a6.s6_addr[0] & 0xFE) == 0xFC;
    }
    return false;
}

static bool host_allowed(const char *host)
{
    if (!host || !*host)
        return false;
    if (opt.allowed_hosts)
        return match_any(host, opt.allowed_hosts, opt.n_allowed_hosts);
    return default_host_allowed(host);
}

/* RFC 9112 section 6.3: framing that a proxy in front could read
 * differently (two different Content-Lengths, "+5", Transfer-Encoding beside
 * Content-Length, chunk extensions, oversized trailers, ...) is found by the
 * front end's framing parser (framing.c) as the bytes arrive; such a request
 * gets 400 and the connection closes, and nothing after the fault is read. */
static int body_timeout_ms(void)
{
    return (opt.body_timeout_s > 0 ? opt.body_timeout_s : 30) * 1000;
}

/* Large bodies share an in-flight budget: a request whose body is over
 * 1 MiB reserves its length (the body limit when chunked) from 12 times
 * the body limit before reading it, waiting up to 10 s (then 503), so
 * 96 workers cannot each hold a full-size body and its parse tree at once.
 * The memory goes back to the system when such a request ends. */
#define BIG_BODY (1u << 20)
#define BUDGET_WAIT_S 10
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_freed = PTHREAD_COND_INITIALIZER;
static size_t budget_used;

static bool budget_take(size_t n)
{
    size_t total = opt.max_body * 12;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BUDGET_WAIT_S;
    pthread_mutex_lock(&budget_lock);
    while (budget_used + n > total) {
        if (pthread_cond_timedwait(&budget_freed, &budget_lock, &until) == ETIMEDOUT &&
            budget_used + n > total) {
            pthread_mutex_unlock(&budget_lock);
            return false;
        }
    }
    budget_used += n;
    pthread_mutex_unlock(&budget_lock);
    return true;
}

static void budget_give(size_t n)
{
    pthread_mutex_lock(&budget_lock);
    budget_used -= n;
    pthread_cond_broadcast(&budget_freed);
    pthread_mutex_unlock(&budget_lock);
}

static __thread size_t budget_held;   /* this request's reservation */

/* ---- end hardening block ---- */

static bool localhost_origin(const char *origin)
{
    static const char *const pats[] = { "http://localhost", "http://localhost:*", "http://127.0.0.1",
                                        "http://127.0.0.1:*", "http://[[]::1]", "http://[[]::1]:*",
                                        "https://localhost", "https://localhost:*" };
    return match_any(origin, pats, sizeof pats / sizeof *pats);
}

static bool origin_allowed(const char *origin)
{
    return localhost_origin(origin) || match_any(origin, opt.cors_origins, opt.n_cors_origins);
}

/* ---- issue 17: read-your-writes across a fleet with read replicas: the
 * primary's WAL position after a client's last write travels in a cookie
 * (any server of the fleet reads it); reads that need a newer position than
 * a replica has replayed go to the primary ---- */
static void fleet_request_begin(struct mg_connection *conn)
{
    char v[20];
    const char *ck = mg_get_header(conn, "Cookie");
    bool ok = ck && mg_get_cookie(ck, "cairn_lsn", v, sizeof v) == 16 && strspn(v, "0123456789ABCDEFabcdef") == 16;
    db_request_begin(ok ? v : NULL);
}

static void fleet_reply_headers(struct mg_connection *conn)
{
    char lsn[24], h[96];
    if (db_request_wrote(lsn, sizeof lsn)) {
        snprintf(h, sizeof h, "cairn_lsn=%s; Path=/; HttpOnly; SameSite=Lax", lsn);
        mg_response_header_add(conn, "Set-Cookie", h, -1);
    }
}
/* ---- end issue 17 ---- */

/* issue 17: a reply up to this size leaves in one write, status line to
 * body: a server SIGKILLed while it answers then never leaves a reply cut
 * after its headers (what one write queued, the kernel still delivers), so
 * a load balancer either got all of it or nothing, which it retries or
 * answers with a 503 */
#define ONE_WRITE_REPLY_MAX (64 * 1024)

/* civetweb's keep-alive rule (should_keep_alive), for the Connection header
 * of a reply written whole */
static bool client_keeps_alive(struct mg_connection *conn)
{
    const char *c = mg_get_header(conn, "Connection");
    if (c)
        return strcasestr(c, "keep-alive") != NULL;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    return ri && ri->http_version && !strcmp(ri->http_version, "1.1");
}

static bool send_reply_whole(struct mg_connection *conn, int status, const char *content_type, const char *body,
                             size_t len, const char *origin, bool close)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri || !ri->request_method || !strcmp(ri->request_method, "HEAD"))
        return false;     /* civetweb's own writer keeps HEAD replies as they were */
    char lsn[24], date[64];
    bool has_lsn = db_request_wrote(lsn, sizeof lsn), cors = origin && origin_allowed(origin);
    size_t cap = len + 1024 + (cors ? strlen(origin) : 0) + (content_type ? strlen(content_type) : 0);
    char *buf = malloc(cap);
    if (!buf)
        return false;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\n", status, mg_get_response_code_text(conn, status));
    if (content_type)   /* NULL: a reply without one (MLflow's artifact PUT) */
        n += snprintf(buf + n, cap - n, "Content-Type: %s\r\n", content_type);
    n += snprintf(buf + n, cap - n, "Content-Length: %zu\r\nX-Content-Type-Options: nosniff\r\n"
                  "X-Frame-Options: SAMEORIGIN\r\n", len);
    if (has_lsn)
        n += snprintf(buf + n, cap - n, "Set-Cookie: cairn_lsn=%s; Path=/; HttpOnly; SameSite=Lax\r\n", lsn);
    if (cors)
        n += snprintf(buf + n, cap - n, "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: "
                      "true\r\nVary: Origin\r\n", origin);
    bool keep = !close && client_keeps_alive(conn);
    if (!keep)
        mg_disable_connection_keep_alive(conn);
    n += snprintf(buf + n, cap - n, "Date: %s\r\nConnection: %s\r\n\r\n", date, keep ? "keep-alive" : "close");
    memcpy(buf + n, body, len);
    mg_write(conn, buf, (size_t)n + len);
    free(buf);
    return true;
}

static void send_reply(struct mg_connection *conn, int status, const char *content_type,
                       const char *body, size_t len, const char *origin, bool close)
{
    if (len <= ONE_WRITE_REPLY_MAX && send_reply_whole(conn, status, content_type, body, len, origin, close))
        return;
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", len);
    if (close)
        mg_disable_connection_keep_alive(conn);
    mg_response_header_start(conn, status);
    if (content_type)   /* NULL: a reply without one (MLflow's artifact PUT) */
        mg_response_header_add(conn, "Content-Type", content_type, -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "SAMEORIGIN", -1);
    fleet_reply_headers(conn);   /* issue 17 */
    if (origin && origin_allowed(origin)) {
        mg_response_header_add(conn, "Access-Control-Allow-Origin", origin, -1);
        mg_response_header_add(conn, "Access-Control-Allow-Credentials", "true", -1);
        mg_response_header_add(conn, "Vary", "Origin", -1);
    }
    mg_response_header_send(conn);
    if (len)
        mg_write(conn, body, len);
}

static int reply_text(struct mg_connection *conn, int status, const char *text, bool close)
{
    send_reply(conn, status, "text/plain; charset=utf-8", text, strlen(text), NULL, close);
    return status;
}

static int reply_error(struct mg_connection *conn, struct arena *a, const struct error *err,
                       const char *origin, bool close)
{
    struct strbuf sb;
    sb_init(&sb, a, 256);
    error_to_json(err, &sb);
    int status = error_http_status(err->code);
    send_reply(conn, status, "application/json", sb.buf, sb.len, origin, close);
    return status;
}

/* ---- issue 16: authentication replies ---- */

/* 401 carries the Basic challenge; 429 when an address has failed too often */
static int reply_auth(struct mg_connection *conn, int status, const char *text, const char *extra,
                      const char *origin)
{
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", strlen(text));
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", "text/html; charset=utf-8", -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "SAMEORIGIN", -1);
    if (status == 401)
        mg_response_header_add(conn, "WWW-Authenticate", "Basic realm=\"mlflow\"", -1);
    if (extra)
        mg_response_header_add_lines(conn, extra);
    if (origin && origin_allowed(origin)) {
        mg_response_header_add(conn, "Access-Control-Allow-Origin", origin, -1);
        mg_response_header_add(conn, "Access-Control-Allow-Credentials", "true", -1);
        mg_response_header_add(conn, "Vary", "Origin", -1);
    }
    mg_response_header_send(conn);
    mg_write(conn, text, strlen(text));
    return status;
}

/* 0 with *user filled, or the status of the reply already sent */
static int authenticate(struct mg_connection *conn, struct arena *a, struct auth_user *user, const char *origin)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int retry = 0;
    switch (auth_authenticate(mg_get_header(conn, "Authorization"), ri->remote_addr, a, user, &retry)) {
    case AUTH_OK:
        return 0;
    case AUTH_RATE_LIMITED:
        return reply_auth(conn, 429, "Too many failed logins from this address; retry later",
                          arena_printf(a, "Retry-After: %d", retry), origin);
    case AUTH_UNAVAILABLE: {
        struct error err = { 0 };
        error_set(&err, ERR_TEMPORARILY_UNAVAILABLE, "Auth database unavailable; retry the request");
        return reply_error(conn, a, &err, origin, false);
    }
    default:
        return reply_auth(conn, 401, "You are not authenticated. Please see "
                          "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow "
                          "on how to authenticate.", NULL, origin);
    }
}

/* ---- routing ---- */

/* Matches path against pattern from param np on, filling path params. "{x}"
 * matches one non-empty segment; "{x*}" any text, slashes included, possibly
 * empty: the longest that lets the rest match, as Starlette's {x:path}
 * (issue 12: the MCP registry's "{name}/versions/{version}" with names that
 * hold a slash). *budget bounds the backtracking a crafted path could make
 * cubic: a match that needs more tries than that fails. */
static bool route_match_from(const char *p, const char *s, struct request *req, int np, int *budget)
{
    while (*p) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (np >= API_MAX_PATH_PARAMS)
                return false;
            if (close[-1] == '*') {
                size_t lit = strcspn(close + 1, "{");   /* the text that must follow */
                for (const char *end = s + strlen(s);; end--) {
                    if (!strncmp(end, close + 1, lit) && --*budget >= 0 &&
                        route_match_from(close + 1, end, req, np + 1, budget)) {
                        req->path_params[np] = arena_strndup(req->arena, s, (size_t)(end - s));
                        return true;
                    }
                    if (end == s || *budget < 0)
                        return false;
                }
            }
            const char *end = s + strcspn(s, "/");
            if (end == s)
                return false;
            req->path_params[np++] = arena_strndup(req->arena, s, (size_t)(end - s));
            s = end;
            p = close + 1;
        } else {
            if (*p != *s)
                return false;
            p++;
            s++;
        }
    }
    if (*s)
        return false;
    req->n_path_params = np;
    return true;
}

static bool route_match(const char *pattern, const char *path, struct request *req)
{
    int budget = 4096;
    return route_match_from(pattern, path, req, 0, &budget);
}

/* Static segments win over {param} ones: exact routes are tried first. */
static const struct route *find_route(const char *method, const char *path, struct request *req,
                                      bool *method_mismatch)
{
    *method_mismatch = false;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < api_routes_count; i++) {
            const struct route *r = &api_routes[i];
            bool has_param = strchr(r->pattern, '{') != NULL;
            if (has_param != (pass == 1))
                continue;
            if ((r->flags & ROUTE_AUTH_APP) && !auth_enabled())
                continue;   /* issue 16: the basic-auth app's routes exist only with it */
            if (!route_match(r->pattern, path, req))
                continue;
            if (!strcmp(r->method, method))
                return r;
            *method_mismatch = true;
        }
    }
    return NULL;
}

/* ---- request building ---- */

/* civetweb's decoding is off (decode_url=no): the path is decoded once here,
 * where an escaped NUL, which would cut the string short before the path
 * validator sees the rest, can be refused. NULL for such a path. */
static const char *decode_path(struct arena *a, const char *raw)
{
    size_t n = strlen(raw);
    char *out = arena_alloc(a, n + 1);
    int len = mg_url_decode(raw, (int)n, out, (int)n + 1, 0);
    return len >= 0 && (size_t)len == strlen(out) ? out : NULL;
}

/* -1 when a key or value has an escaped NUL */
static int parse_query(struct request *req, const char *qs)
{
    if (!qs || !*qs)
        return 0;
    size_t cap = 1;
    for (const char *c = qs; *c; c++)
        cap += *c == '&';
    req->query = arena_alloc(req->arena, cap * sizeof *req->query);
    const char *s = qs;
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len) {
            const char *eq = memchr(s, '=', len);
            size_t klen = eq ? (size_t)(eq - s) : len;
            size_t vlen = eq ? len - klen - 1 : 0;
            char *k = arena_alloc(req->arena, klen + 1), *v = arena_alloc(req->arena, vlen + 1);
            if (mg_url_decode(s, (int)klen, k, (int)klen + 1, 1) != (int)strlen(k) ||
                (eq && mg_url_decode(eq + 1, (int)vlen, v, (int)vlen + 1, 1) != (int)strlen(v)))
                return -1;
            req->query[req->n_query].key = k;
            req->query[req->n_query].value = v;
            req->n_query++;
        }
        s += len + (amp ? 1 : 0);
    }
    return 0;
}

/* GET input: query params as one object; a repeated key becomes an array. */
static cJSON *query_to_json(struct request *req)
{
    json_set_thread_arena(req->arena);
    cJSON *obj = cJSON_CreateObject();
    for (size_t i = 0; i < req->n_query; i++) {
        const struct query_param *q = &req->query[i];
        cJSON *prev = cJSON_GetObjectItemCaseSensitive(obj, q->key);
        cJSON *v = cJSON_CreateString(q->value);
        if (!prev) {
            cJSON_AddItemToObject(obj, q->key, v);
        } else if (cJSON_IsArray(prev)) {
            cJSON_AddItemToArray(prev, v);
        } else {
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, cJSON_Duplicate(prev, 1));
            cJSON_AddItemToArray(arr, v);
            cJSON_ReplaceItemInObjectCaseSensitive(obj, q->key, arr);
        }
    }
    json_set_thread_arena(NULL);
    return obj;
}

/* Reads a JSON body up to the limit. Returns NULL with err set (413 marks too big). */
static char *read_body(struct mg_connection *conn, struct arena *a, size_t *len, bool *too_big,
                       struct error *err)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    *too_big = false;
    if (ri->content_length > (long long)opt.max_body) {
        *too_big = true;
        return NULL;
    }
    /* read straight into a buffer sized from Content-Length (grown for chunked bodies) */
    size_t cap = ri->content_length >= 0 ? (size_t)ri->content_length + 1 : 16384, used = 0;
    char *buf = arena_grow(a, NULL, 0, cap);
    for (;;) {
        if (cap - used < 4096) {
            buf = arena_grow(a, buf, cap, cap * 2);
            cap *= 2;
        }
        int n = mg_read(conn, buf + used, cap - used - 1);
        if (n == 0)
            break;
        if (n < 0) {
            error_set(err, ERR_BAD_REQUEST, "Failed to read the request body");
            return NULL;
        }
        used += (size_t)n;
        if (used > opt.max_body) {
            *too_big = true;
            return NULL;
        }
    }
    if (frontend_body_done(body_timeout_ms())) {   /* issue 15: bad chunked framing or trailers */
        error_set(err, ERR_BAD_REQUEST, "Bad request framing");
        return NULL;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

static bool content_type_is_json(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == 16 && !strncasecmp(ct, "application/json", 16);
}

/* ---- streaming adapters ---- */

struct stream {
    struct mg_connection *conn;
    bool chunked;
};

static long long stream_read(void *ctx, char *buf, size_t len)
{
    int n = mg_read(((struct stream *)ctx)->conn, buf, len);
    /* issue 15: a framing fault ends the body in an error, before any of it is kept */
    if (frontend_framing_error() || (n == 0 && frontend_body_done(body_timeout_ms())))
        return -1;
    return n;
}

static int stream_begin(void *ctx, int status, const char *content_type, long long length,
                        const char *extra_headers)
{
    struct stream *st = ctx;
    struct mg_connection *conn = st->conn;
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", content_type, -1);
    if (length >= 0) {
        char clen[24];
        snprintf(clen, sizeof clen, "%lld", length);
        mg_response_header_add(conn, "Content-Length", clen, -1);
    } else {
        mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
        st->chunked = true;
    }
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "SAMEORIGIN", -1);
    if (extra_headers)
        mg_response_header_add_lines(conn, extra_headers);
    fleet_reply_headers(conn);   /* issue 17 */
    return mg_response_header_send(conn);
}

static int stream_write(void *ctx, const char *buf, size_t len)
{
    struct stream *st = ctx;
    if (!len)
        return 0;
    if (st->chunked)
        return mg_send_chunk(st->conn, buf, (unsigned)len) > 0 ? 0 : -1;
    return mg_write(st->conn, buf, len) == (int)len ? 0 : -1;
}

static int stream_end(void *ctx)
{
    struct stream *st = ctx;
    return st->chunked && mg_send_chunk(st->conn, "", 0) < 0 ? -1 : 0;
}

static void stream_abort(void *ctx)
{
    mg_disable_connection_keep_alive(((struct stream *)ctx)->conn);
}

/* ---- the dispatcher ---- */

static size_t head_size(const struct mg_request_info *ri)
{
    size_t n = strlen(ri->request_method) + strlen(ri->request_uri) + 16;
    if (ri->query_string)
        n += strlen(ri->query_string) + 1;
    for (int i = 0; i < ri->num_headers; i++)
        n += strlen(ri->http_headers[i].name) + strlen(ri->http_headers[i].value) + 4;
    return n;
}

static const char *strip_prefix(const char *path)
{
    size_t n = opt.static_prefix ? strlen(opt.static_prefix) : 0;
    if (n && !strncmp(path, opt.static_prefix, n) && (path[n] == '/' || path[n] == '\0'))
        return path + n;
    return n ? NULL : path;
}

/* issue 14: request headers for handlers (OTLP's x-mlflow-experiment-id, Content-Encoding) */
static const char *request_header(const struct request *req, const char *name)
{
    return mg_get_header((const struct mg_connection *)req->header_ctx, name);
}

/* ---- issue 20: doubled slashes, as MLflow's server (werkzeug, merge_slashes) ---- */

/* "//api/…" is served as "/api/…" */
static const char *collapse_leading_slashes(const char *path)
{
    while (path[0] == '/' && path[1] == '/')
        path++;
    return path;
}

/* path with every run of slashes made one (in the arena) */
static char *merge_slashes(struct arena *a, const char *path)
{
    char *out = arena_strdup(a, path), *o = out;
    for (const char *p = path; *p; p++)
        if (!(*p == '/' && o > out && o[-1] == '/'))
            *o++ = *p;
    *o = '\0';
    return out;
}

/* A path with "//" inside that names a route once merged: MLflow answers
 * 308 to the merged path (method and body kept by the client). */
static int redirect_merged(struct mg_connection *conn, struct arena *a, const char *path, const char *query)
{
    if (!strstr(path, "//"))
        return 0;
    char *merged = merge_slashes(a, path);
    const char *route_path = !strncmp(merged, "/ajax-api/", 10) ? arena_printf(a, "/api/%s", merged + 10) : merged;
    struct request probe = { .arena = a };
    bool wrong_method;
    if (!find_route("GET", route_path, &probe, &wrong_method) && !wrong_method)
        return 0;
    const char *location = arena_printf(a, "%s%s%s%s", opt.static_prefix ? opt.static_prefix : "", merged,
                                        query && *query ? "?" : "", query && *query ? query : "");
    static const char body[] = "Redirecting...";
    mg_response_header_start(conn, 308);
    mg_response_header_add(conn, "Content-Type", "text/html; charset=utf-8", -1);
    mg_response_header_add(conn, "Content-Length", "14", -1);
    mg_response_header_add(conn, "Location", location, -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "SAMEORIGIN", -1);
    mg_response_header_send(conn);
    mg_write(conn, body, sizeof body - 1);
    return 308;
}

static int dispatch(struct mg_connection *conn, struct arena *a)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *origin = mg_get_header(conn, "Origin");
    const char *raw = decode_path(a, ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri);
    struct error err = { 0 };

    const char *bad_framing = frontend_framing_error();   /* issue 15 */
    if (bad_framing)
        return reply_text(conn, 400, bad_framing, true);
    if (head_size(ri) > HEAD_LIMIT)
        return reply_text(conn, 431, "Request header fields too large", true);
    if (atomic_load(&draining)) {
        error_set(&err, ERR_TEMPORARILY_UNAVAILABLE, "Server is shutting down; retry the request");
        return reply_error(conn, a, &err, origin, true);
    }
    if (!raw) {
        error_set(&err, ERR_INVALID_PARAMETER_VALUE, "Invalid path: an escape decodes to a NUL byte");
        return reply_error(conn, a, &err, origin, false);
    }
    const char *path = strip_prefix(collapse_leading_slashes(raw));
    if (!path)
        return reply_text(conn, 404, "Not Found", false);
    bool health = !strcmp(path, "/health") || !strcmp(path, "/version");
    if (!health && !host_allowed(mg_get_header(conn, "Host")))
        return reply_text(conn, 403, "Invalid Host header - possible DNS rebinding attack detected", false);

    const char *method = ri->request_method;
    /* MLflow's web UI: "/" and /static-files/… (server/static.c) */
    if ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) && static_is_ui_path(path)) {
        /* issue 16: the UI's files are public, its page "/" is for signed-in users (as MLflow) */
        struct auth_user ui_user;
        int status = auth_enabled() && strncmp(path, "/static-files/", 14) ? authenticate(conn, a, &ui_user, origin) : 0;
        if (status)
            return status;
        return static_serve(conn, a, path, opt.static_prefix ? opt.static_prefix : "");
    }
    bool api = !strncmp(path, "/api/", 5) || !strncmp(path, "/ajax-api/", 10);
    bool state_changing = strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
    if (api && origin && state_changing && !origin_allowed(origin))
        return reply_text(conn, 403, "Cross-origin request blocked", false);
    if (!strcmp(method, "OPTIONS") && api) {
        if (origin && origin_allowed(origin)) {
            mg_response_header_start(conn, 204);
            mg_response_header_add(conn, "Access-Control-Allow-Origin", origin, -1);
            mg_response_header_add(conn, "Access-Control-Allow-Credentials", "true", -1);
            mg_response_header_add(conn, "Access-Control-Allow-Methods",
                                   "GET, POST, PUT, DELETE, OPTIONS, PATCH", -1);
            const char *h = mg_get_header(conn, "Access-Control-Request-Headers");
            if (h)
                mg_response_header_add(conn, "Access-Control-Allow-Headers", h, -1);
            mg_response_header_add(conn, "Content-Length", "0", -1);
            mg_response_header_add(conn, "Vary", "Origin", -1);
            mg_response_header_send(conn);
            return 204;
        }
        return reply_text(conn, 204, "", false);
    }

    struct request req = { .arena = a, .method = method, .content_type = mg_get_header(conn, "Content-Type"),
                           .header = request_header, .header_ctx = conn,
                           .original_path = path };
    /* every route also answers under /ajax-api/ */
    const char *route_path = path;
    if (!strncmp(path, "/ajax-api/", 10))
        route_path = arena_printf(a, "/api/%s", path + 10);
    req.path = route_path;
    bool wrong_method;
    const struct route *route = find_route(method, route_path, &req, &wrong_method);
    /* ---- issue 16: HTTP Basic before anything else answers (unknown paths too, as MLflow) ---- */
    struct auth_user user;
    if (auth_enabled() && !(route && route->auth == AUTH_PUBLIC)) {
        int status = authenticate(conn, a, &user, origin);
        if (status)
            return status;
        req.user = &user;
    }
    if (!route) {
        if (wrong_method)
            return reply_text(conn, 405, "Method Not Allowed", false);
        int redirected = redirect_merged(conn, a, path, ri->query_string);
        if (redirected)
            return redirected;
        return reply_text(conn, 404, "Not Found", false);
    }
    if ((route->flags & ROUTE_TRACKING) && opt.artifacts_only)
        return reply_text(conn, 503, arena_printf(a, "Endpoint: %s disabled due to the mlflow server "
                          "running in `--artifacts-only` mode. To enable tracking operations, run "
                          "`mlflow server` without `--artifacts-only`", path), false);
    if ((route->flags & ROUTE_ARTIFACTS) && !opt.serve_artifacts)
        return reply_text(conn, 503, arena_printf(a, "Endpoint: %s disabled due to the mlflow server "
                          "running with `--no-serve-artifacts`. To enable artifacts server "
                          "functionality, run `mlflow server` with `--serve-artifacts`", path), false);
    if (parse_query(&req, ri->query_string)) {
        error_set(&err, ERR_INVALID_PARAMETER_VALUE, "Invalid query string: an escape decodes to a NUL byte");
        return reply_error(conn, a, &err, origin, false);
    }

    struct stream *st = arena_alloc(a, sizeof *st);
    st->conn = conn;
    req.out = (struct body_writer){ st, stream_begin, stream_write, stream_end, stream_abort };
    if (route->flags & ROUTE_STREAM) {
        req.body = (struct body_reader){ st, stream_read, ri->content_length };
    } else if (route->flags & ROUTE_JSON) {
        size_t len = 0;
        bool too_big = false;
        /* no Content-Length and no chunked Transfer-Encoding: no body at all
         * (curl -X DELETE …), which needs no Content-Type, as MLflow */
        const char *te = mg_get_header(conn, "Transfer-Encoding");
        bool has_body = ri->content_length > 0 || (ri->content_length < 0 && te && *te);
        if (!strcmp(method, "GET")) {
            req.input = query_to_json(&req);
        } else {
            if ((!strcmp(method, "POST") || !strcmp(method, "PUT") || has_body) &&
                !content_type_is_json(req.content_type)) {
                if (!req.content_type)
                    error_set(&err, ERR_INVALID_PARAMETER_VALUE, "Bad Request. Content-Type header is missing.");
                else
                    error_set(&err, ERR_INVALID_PARAMETER_VALUE,
                              "Bad Request. Content-Type must be one of ['application/json'].");
                return reply_error(conn, a, &err, origin, false);
            }
            if (ri->content_length > (long long)BIG_BODY ||
                (ri->content_length < 0 && mg_get_header(conn, "Transfer-Encoding"))) {
                size_t want = ri->content_length < 0 || ri->content_length > (long long)opt.max_body
                                  ? opt.max_body : (size_t)ri->content_length;
                if (!budget_take(want)) {
                    error_set(&err, ERR_TEMPORARILY_UNAVAILABLE,
                              "Too many large request bodies in flight; retry the request");
                    return reply_error(conn, a, &err, origin, true);
                }
                budget_held = want;
            }
            char *body = has_body ? read_body(conn, a, &len, &too_big, &err) : arena_strdup(a, "");
            if (too_big) {
                error_set(&err, ERR_INVALID_PARAMETER_VALUE,
                          "Request body exceeds the limit of %zu bytes", opt.max_body);
                struct strbuf eb;
                sb_init(&eb, a, 256);
                error_to_json(&err, &eb);
                send_reply(conn, 413, "application/json", eb.buf, eb.len, origin, true);
                return 413;
            }
            if (!body && frontend_framing_error())
                return reply_text(conn, 400, frontend_framing_error(), true);
            if (!body)
                return reply_error(conn, a, &err, origin, true);
            size_t skip = strspn(body, " \t\r\n");
            if (skip == len) {
                json_set_thread_arena(a);
                req.input = cJSON_CreateObject();
                json_set_thread_arena(NULL);
            } else {
                req.input = json_parse(a, body, len, &err);
                /* old clients double-encode: a JSON string holding the object */
                if (req.input && cJSON_IsString(req.input))
                    req.input = json_parse(a, req.input->valuestring, strlen(req.input->valuestring), &err);
                if (req.input && !cJSON_IsObject(req.input)) {
                    error_set(&err, ERR_INVALID_PARAMETER_VALUE, "Request body must be a JSON object");
                    req.input = NULL;
                }
                if (!req.input)
                    return reply_error(conn, a, &err, origin, false);
            }
        }
        /* merge query params into a body-less request (e.g. DELETE …?x=y) */
        if (strcmp(method, "GET") && req.n_query && !req.input->child) {
            req.input = query_to_json(&req);
        }
    }

    /* issue 16: the route's permission rule (admins pass) */
    if (req.user) {
        int denied = auth_check(route, &req, &err);
        if (denied < 0)
            return reply_error(conn, a, &err, origin, false);
        if (denied)
            return reply_auth(conn, 403, "Permission denied", NULL, origin);
    }

    struct response resp = { .status = 200, .content_type = "application/json" };
    sb_init(&resp.body, a, 1024);
    if (route->handler(&req, &resp, &err)) {
        if (frontend_framing_error() && !req.streamed)   /* issue 15: the body's framing was at fault */
            return reply_text(conn, 400, frontend_framing_error(), true);
        return reply_error(conn, a, &err, origin, false);
    }
    if (req.user && auth_after(route, &req, &resp, &err))   /* issue 16 */
        return reply_error(conn, a, &err, origin, false);
    if (req.streamed)
        return resp.status;
    send_reply(conn, resp.status, resp.content_type, resp.body.buf, resp.body.len, origin, false);
    return resp.status;
}

static int on_request(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    atomic_fetch_add(&in_flight, 1);
    frontend_request_begin();   /* issue 15: framing is checked per request */
    fleet_request_begin(conn);  /* issue 17 */
    struct arena a;
    arena_init(&a);
    int status = dispatch(conn, &a);
    arena_free(&a);
    if (budget_held) {
        budget_give(budget_held);
        budget_held = 0;
        malloc_trim(0);
    }
    atomic_fetch_sub(&in_flight, 1);
    return status;
}

/* civetweb's own error replies (a malformed request line, a head over
 * max_request_size, an unknown Transfer-Encoding) carry the same security
 * headers as ours, and close the connection. */
static int on_http_error(struct mg_connection *conn, int status, const char *msg)
{
    char body[512];
    int n = snprintf(body, sizeof body, "Error %d: %s\n%s", status, mg_get_response_code_text(conn, status),
                     msg ? msg : "");
    size_t len = n < 0 ? 0 : (size_t)n < sizeof body ? (size_t)n : sizeof body - 1;
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", len);
    mg_disable_connection_keep_alive(conn);
    if (mg_response_header_start(conn, status) != 0)
        return 1;   /* headers already sent: civetweb's fallback */
    mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "SAMEORIGIN", -1);
    mg_response_header_send(conn);
    mg_write(conn, body, len);
    return 0;
}

/* Issue 19: a request takes a civetweb worker's stack ~28 KB deep (JSON,
 * SQL text, civetweb's own buffers), and the pages stay resident after it:
 * with 96 workers, 2.7 MB of an idle server's RSS was stack nothing would
 * read again. When a connection closes, its worker is about to wait for the
 * next one near the top of its stack: it gives back its own pages below a
 * margin under this frame (a later deep call faults fresh ones in). Once
 * per connection, not per request: keep-alive clients never pay it. */
static void release_stack_below_here(void)
{
    pthread_attr_t attr;
    void *low;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr))
        return;
    int rc = pthread_attr_getstack(&attr, &low, &size);
    pthread_attr_destroy(&attr);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), here = (uintptr_t)&attr, margin = 2 * page;
    uintptr_t start = ((uintptr_t)low + page - 1) & ~(page - 1), end = (here - margin) & ~(page - 1);
    if (rc == 0 && here > (uintptr_t)low + margin && here < (uintptr_t)low + size && end > start)
        madvise((void *)start, end - start, MADV_DONTNEED);
}

static void on_connection_closed(const struct mg_connection *conn)
{
    frontend_connection_closed(mg_get_request_info(conn)->remote_addr);
    release_stack_below_here();
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    fprintf(stderr, "cairn: http: %s\n", message);
    return 1;
}

int http_start(const struct http_options *o)
{
    opt = *o;
    char ports[128], threads[16], head[16];
    snprintf(ports, sizeof ports, "%s:%d", o->host, o->port);
    snprintf(threads, sizeof threads, "%d", o->workers);
    snprintf(head, sizeof head, "%d", 64 * 1024);
    char body_timeout[16];
    snprintf(body_timeout, sizeof body_timeout, "%d", body_timeout_ms());
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "5000",   /* an idle keep-alive connection holds a worker */
        "request_timeout_ms", body_timeout,  /* per read of a body, per write of a reply */
        "max_request_size", head,           /* ours is 16 KiB, answered with 431 */
        "access_control_allow_origin", "",  /* else civetweb answers preflights itself */
        "access_control_allow_methods", "",
        "access_control_allow_headers", "",
        "enable_directory_listing", "no",
        "decode_url", "no",                 /* decode_path() does it, refusing an escaped NUL */
        "tcp_nodelay", "1",
        NULL,
    };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = on_log_message;
    cb.http_error = on_http_error;
    cb.connection_closed = on_connection_closed;
    mg_init_library(0);
    char errtext[256] = "";
    struct mg_init_data init = { &cb, NULL, options };
    struct mg_error_data errd = { 0, errtext, sizeof errtext };
    frontend_capture_listen(true);
    ctx = mg_start2(&init, &errd);
    frontend_capture_listen(false);
    if (!ctx) {
        fprintf(stderr, "cairn: cannot listen on %s: %s\n", ports, errtext[0] ? errtext : "address in use?");
        return -1;
    }
    struct frontend_options fopt = { (o->head_timeout_s > 0 ? o->head_timeout_s : 10) * 1000, o->max_per_client };
    if (frontend_start(&fopt)) {
        mg_stop(ctx);
        return -1;
    }
    mg_set_request_handler(ctx, "/", on_request, NULL);
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(ctx, 4, sp);
    return n > 0 ? sp[0].port : o->port;
}

void http_drain_and_stop(int timeout_ms)
{
    atomic_store(&draining, true);
    struct timespec ts = { 0, 10 * 1000000L };
    for (int waited = 0; atomic_load(&in_flight) > 0 && waited < timeout_ms; waited += 10)
        nanosleep(&ts, NULL);
    frontend_stop();
    mg_stop(ctx);
    mg_exit_library();
}
