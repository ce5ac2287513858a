/* MLflow's built web UI as static files (see static.h). MLflow's Flask app
 * (mlflow/server/__init__.py) serves index.html at "/" and the build at
 * "/static-files/<path>" with max_age=2419200; every other path is the
 * API's. Request paths go through the one path validator (store/paths.c)
 * and must resolve under the UI directory. */
#include "static.h"
#include "../store/paths.h"
#include <civetweb.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define ASSET_MAX_AGE "public, max-age=2419200"   /* MLflow's send_from_directory max_age */

static char *ui_root;   /* real path of the UI directory, or NULL */

static bool has_index(const char *dir)
{
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/index.html", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int static_init(const char *ui_dir)
{
    free(ui_root);
    ui_root = NULL;
    if (ui_dir) {
        ui_root = realpath(ui_dir, NULL);
        if (!ui_root || !has_index(ui_root)) {
            fprintf(stderr, "cairn: --ui-dir %s: no index.html there (run `make build`, or point "
                    "--ui-dir at mlflow/server/js/build of an mlflow install)\n", ui_dir);
            free(ui_root);
            ui_root = NULL;
            return -1;
        }
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return 1;
    *slash = '\0';
    static const char *const beside[] = { "ui", "../ui" };   /* build/ and build/asan/ */
    for (size_t i = 0; i < sizeof beside / sizeof *beside; i++) {
        char cand[PATH_MAX + 8];
        snprintf(cand, sizeof cand, "%s/%s", exe, beside[i]);
        char *real = realpath(cand, NULL);
        if (real && has_index(real)) {
            ui_root = real;
            return 0;
        }
        free(real);
    }
    return 1;
}

const char *static_root(void)
{
    return ui_root;
}

bool static_is_ui_path(const char *path)
{
    return !strcmp(path, "/") || !*path || !strncmp(path, "/static-files/", 14);
}

/* ---- pure helpers ---- */

static const struct { const char *ext, *type; } mime_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".cjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".map", "application/json" },
    { ".txt", "text/plain; charset=utf-8" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".jpg", "image/jpeg" },
    { ".jpeg", "image/jpeg" },
    { ".gif", "image/gif" },
    { ".webp", "image/webp" },
    { ".ico", "image/vnd.microsoft.icon" },
    { ".woff2", "font/woff2" },
    { ".woff", "font/woff" },
    { ".ttf", "font/ttf" },
    { ".eot", "application/vnd.ms-fontobject" },
    { ".wasm", "application/wasm" },
};

const char *static_mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof mime_types / sizeof *mime_types; i++)
            if (!strcasecmp(dot, mime_types[i].ext))
                return mime_types[i].type;
    return "application/octet-stream";
}

/* index.html names the hashed bundles; it alone must be revalidated */
bool static_is_hashed_asset(const char *rel)
{
    return strcmp(rel, "index.html") != 0;
}

void static_etag(char *out, size_t n, long long size, long long mtime_ns, bool gz)
{
    snprintf(out, n, "\"%llx-%llx%s\"", (unsigned long long)size, (unsigned long long)mtime_ns,
             gz ? "-gz" : "");
}

/* the opaque part of an entity tag: W/"x" and "x" compare equal (weak comparison, RFC 9110 13.1.2) */
static size_t opaque_tag(const char *s, const char **start)
{
    if (!strncmp(s, "W/", 2))
        s += 2;
    *start = s;
    if (*s != '"')
        return strcspn(s, ", \t");
    const char *end = strchr(s + 1, '"');
    return end ? (size_t)(end - s) + 1 : strlen(s);
}

bool static_etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    const char *want;
    size_t wn = opaque_tag(etag, &want);
    const char *s = inm;
    while (*s) {
        s += strspn(s, " \t,");
        if (!*s)
            break;
        if (*s == '*')
            return true;
        const char *t;
        size_t tn = opaque_tag(s, &t);
        if (tn == wn && !memcmp(t, want, wn))
            return true;
        s = t + (tn ? tn : 1);
    }
    return false;
}

bool static_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    const char *s = ae;
    while (*s) {
        s += strspn(s, " \t,");
        size_t tok = strcspn(s, ";, \t");
        bool name = (tok == 4 && !strncasecmp(s, "gzip", 4)) || (tok == 1 && *s == '*');
        const char *end = s + strcspn(s, ",");
        if (name) {
            const char *q = s + tok;
            bool zero = false;
            while (q < end && (q = strchr(q, ';')) && q < end) {
                q++;
                q += strspn(q, " \t");
                if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
                    zero = strtod(q + 2, NULL) <= 0.0;
            }
            if (!zero)
                return true;
        }
        s = end;
    }
    return false;
}

void static_http_date(char *out, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

time_t static_parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s)
        return -1;
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    return timegm(&tm);
}

/* ---- serving ---- */

static void common_headers(struct mg_connection *conn, int status)
{
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "SAMEORIGIN", -1);
}

static int send_small(struct mg_connection *conn, int status, const char *type, const char *body,
                      bool head)
{
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", strlen(body));
    common_headers(conn, status);
    mg_response_header_add(conn, "Content-Type", type, -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
    mg_response_header_send(conn);
    if (!head)
        mg_write(conn, body, strlen(body));
    return status;
}

static const char no_ui_page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Cairn</title></head><body>"
    "<h1>Cairn is running</h1><p>The MLflow API is served here, but this server has no copy of "
    "MLflow's web UI.</p><p>Get it with <code>make build</code> (it unpacks the UI of the pinned "
    "<code>mlflow</code> wheel into <code>build/ui</code>, next to the binary), or start "
    "<code>cairn-server --ui-dir DIR</code> with DIR the <code>mlflow/server/js/build</code> "
    "directory of an <code>mlflow</code> install.</p></body></html>\n";

/* opens root/rel (or its .gz sibling) as a regular file; -1 when there is none */
static int open_file(struct arena *a, const char *rel, bool gz, struct stat *st)
{
    const char *full;
    struct error err = { 0 };
    if (path_resolve(a, ui_root, gz ? arena_printf(a, "%s.gz", rel) : rel, &full, &err))
        return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool not_modified(struct mg_connection *conn, const char *etag, time_t mtime)
{
    const char *inm = mg_get_header(conn, "If-None-Match");
    if (inm)
        return static_etag_matches(inm, etag);
    time_t since = static_parse_http_date(mg_get_header(conn, "If-Modified-Since"));
    return since >= 0 && mtime <= since;
}

static int send_file(struct mg_connection *conn, struct arena *a, const char *rel, bool head)
{
    struct stat st;
    bool gz = static_accepts_gzip(mg_get_header(conn, "Accept-Encoding"));
    int fd = gz ? open_file(a, rel, true, &st) : -1;
    if (fd < 0) {
        gz = false;
        fd = open_file(a, rel, false, &st);
    }
    if (fd < 0)
        return send_small(conn, 404, "text/plain; charset=utf-8", "Not Found", head);

    char etag[64], lastmod[64], clen[24];
    static_etag(etag, sizeof etag, (long long)st.st_size,
                (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec, gz);
    static_http_date(lastmod, sizeof lastmod, st.st_mtim.tv_sec);
    bool fresh = not_modified(conn, etag, st.st_mtim.tv_sec);
    common_headers(conn, fresh ? 304 : 200);
    if (!fresh) {
        snprintf(clen, sizeof clen, "%lld", (long long)st.st_size);
        mg_response_header_add(conn, "Content-Type", static_mime_type(rel), -1);
        mg_response_header_add(conn, "Content-Length", clen, -1);
        if (gz)
            mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
    }
    mg_response_header_add(conn, "ETag", etag, -1);
    mg_response_header_add(conn, "Last-Modified", lastmod, -1);
    mg_response_header_add(conn, "Cache-Control", static_is_hashed_asset(rel) ? ASSET_MAX_AGE : "no-cache", -1);
    mg_response_header_add(conn, "Vary", "Accept-Encoding", -1);
    mg_response_header_send(conn);
    if (!fresh && !head) {
        char *buf = arena_alloc(a, CHUNK);
        long long left = st.st_size;
        while (left > 0) {
            ssize_t n = read(fd, buf, CHUNK);
            if (n <= 0 || mg_write(conn, buf, (size_t)n) != (int)n) {
                mg_disable_connection_keep_alive(conn);   /* the reply is cut short */
                break;
            }
            left -= n;
        }
    }
    close(fd);
    return fresh ? 304 : 200;
}

int static_serve(struct mg_connection *conn, struct arena *a, const char *path, const char *prefix)
{
    bool head = !strcmp(mg_get_request_info(conn)->request_method, "HEAD");
    if (!*path) {
        /* "/prefix": the page's relative asset URLs need the trailing slash (Flask redirects too) */
        const char *loc = arena_printf(a, "%s/", prefix);
        common_headers(conn, 308);
        mg_response_header_add(conn, "Location", loc, -1);
        mg_response_header_add(conn, "Content-Length", "0", -1);
        mg_response_header_send(conn);
        return 308;
    }
    if (!ui_root) {
        if (!strcmp(path, "/"))
            return send_small(conn, 200, "text/html; charset=utf-8", no_ui_page, head);
        return send_small(conn, 404, "text/plain; charset=utf-8", "Not Found", head);
    }
    if (!strcmp(path, "/"))
        return send_file(conn, a, "index.html", head);
    const char *rel;
    struct error err = { 0 };
    if (path_sanitize(a, path + 14, &rel, &err) || !*rel)
        return send_small(conn, 404, "text/plain; charset=utf-8", "Not Found", head);
    /* no hidden files: the build has none, and a ".git" or ".env" beside it is not the UI's */
    for (const char *s = rel; s; s = strchr(s, '/'), s = s ? s + 1 : NULL)
        if (*s == '.')
            return send_small(conn, 404, "text/plain; charset=utf-8", "Not Found", head);
    return send_file(conn, a, rel, head);
}
