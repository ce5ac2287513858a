/* The one path validator (see paths.h). MLflow's rules are in
 * mlflow/utils/uri.py (validate_path_is_safe, validate_path_within_directory);
 * every traversal CVE against MLflow was a missing decode pass or a check on
 * one string while another was used, so this file hands back the only string
 * callers may use. */
#include "paths.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <sys/stat.h>

#define DECODE_PASSES 10

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One pass of %XX decoding; invalid escapes stay as they are (Python's
 * unquote). *nul is set when an escape decoded to NUL. */
static char *decode_once(struct arena *a, const char *s, bool *changed, bool *nul)
{
    size_t n = strlen(s);
    char *out = arena_alloc(a, n + 1), *o = out;
    *changed = *nul = false;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
            (l = hexval((unsigned char)s[i + 2])) >= 0) {
            *o = (char)(h * 16 + l);
            *nul |= *o == '\0';
            o++;
            i += 2;
            *changed = true;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

const char *path_decode_stable(struct arena *a, const char *s)
{
    for (int pass = 0; pass < DECODE_PASSES; pass++) {
        bool changed, nul;
        const char *d = decode_once(a, s, &changed, &nul);
        if (nul)
            return NULL;    /* an encoded NUL would cut the C string short */
        if (!changed)
            return s;
        s = d;
    }
    return NULL;
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static bool is_drive(const char *s)
{
    return ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) && s[1] == ':';
}

static int invalid_path(struct error *err)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path");
}

/* Splits on '/', drops "" and "." segments; false on a ".." segment. */
static bool normalise_segments(struct arena *a, const char *s, const char **out)
{
    struct strbuf sb;
    sb_init(&sb, a, strlen(s) + 1);
    while (*s) {
        size_t len = strcspn(s, "/");
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return false;
        if (len && !(len == 1 && s[0] == '.')) {
            if (sb.len)
                sb_putc(&sb, '/');
            sb_putn(&sb, s, len);
        }
        s += len;
        if (*s == '/')
            s++;
    }
    *out = sb.buf;
    return true;
}

int path_sanitize(struct arena *a, const char *path, const char **out, struct error *err)
{
    if (!path)
        path = "";
    const char *d = path_decode_stable(a, path);
    if (!d || has_control(d) || strchr(d, '#') || strchr(d, '\\') || d[0] == '/' || is_drive(d) ||
        !strncmp(d, "file:", 5))
        return invalid_path(err);
    if (!normalise_segments(a, d, out))
        return invalid_path(err);
    return 0;
}

/* true when real is root or below it */
static bool within(const char *real, const char *root)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/')
        return true;
    return !strncmp(real, root, n) && (real[n] == '\0' || real[n] == '/');
}

/* The real path of the deepest existing prefix of p must lie under real_root. */
static int check_contained(struct arena *a, const char *p, const char *real_root, struct error *err)
{
    char *probe = arena_strdup(a, p);
    struct stat st;
    for (;;) {
        if (lstat(probe, &st) == 0)
            break;
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe)
            return invalid_path(err);
        *slash = '\0';
    }
    char *real = realpath(probe, NULL);
    if (!real)
        return invalid_path(err);   /* e.g. a dangling symlink: refuse, never follow it */
    bool ok = within(real, real_root);
    free(real);
    return ok ? 0 : invalid_path(err);
}

int path_resolve(struct arena *a, const char *root, const char *rel, const char **full, struct error *err)
{
    size_t rn = strlen(root);
    while (rn > 1 && root[rn - 1] == '/')
        rn--;
    const char *r = arena_strndup(a, root, rn);
    *full = *rel ? arena_printf(a, "%s/%s", r, rel) : r;
    char *real_root = realpath(r, NULL);
    if (!real_root) {
        if (errno == ENOENT)
            return 0;   /* nothing exists under a missing root */
        return error_set(err, ERR_INTERNAL_ERROR, "Artifact root is not accessible");
    }
    int rc = check_contained(a, *full, real_root, err);
    free(real_root);
    return rc;
}

/* ---- the URI policy for stored locations ---- */

static int bad_location(struct error *err, const char *uri, const char *why)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid artifact location '%s': %s", uri, why);
}

/* length of "scheme:" (2+ letters: one letter is a Windows drive), 0 if none */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return 0;
    while (s[i] && (strchr("+-.", s[i]) || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
                    (s[i] >= 'a' && s[i] <= 'z')))
        i++;
    return s[i] == ':' && i >= 2 ? i + 1 : 0;
}

static bool has_dotdot_segment(const char *s)
{
    for (const char *p = s; (p = strstr(p, "..")); p += 2) {
        bool start = p == s || p[-1] == '/';
        bool end = p[2] == '\0' || p[2] == '/' || p[2] == '?';
        if (start && end)
            return true;
    }
    return false;
}

/* A root given as a path or a file: URI, as a plain absolute path (NULL if neither). */
static const char *root_dir(struct arena *a, const char *root)
{
    if (!root)
        return NULL;
    if (!strncmp(root, "file://", 7)) {
        const char *p = root + 7;
        if (!strncmp(p, "localhost/", 10))
            p += 9;
        return *p == '/' ? path_decode_stable(a, p) : NULL;
    }
    if (!strncmp(root, "file:", 5))
        return root[5] == '/' ? root + 5 : NULL;
    return root[0] == '/' ? root : NULL;
}

static bool local_under_roots(struct arena *a, const char *path, const char *const *roots, size_t n)
{
    const char *norm;
    if (path[0] != '/' || !normalise_segments(a, path, &norm))
        return false;
    norm = arena_printf(a, "/%s", norm);
    for (size_t i = 0; i < n; i++) {
        const char *r = root_dir(a, roots[i]), *rnorm;
        if (!r || !normalise_segments(a, r, &rnorm))
            continue;
        rnorm = arena_printf(a, "/%s", rnorm);
        if (!within(norm, rnorm))
            continue;
        struct error e;
        const char *full;
        const char *rel = norm + strlen(rnorm);
        while (*rel == '/')
            rel++;
        if (path_resolve(a, rnorm, rel, &full, &e) == 0)
            return true;
    }
    return false;
}

int artifact_uri_check(struct arena *a, const char *uri, const char *const *roots, size_t n_roots,
                       struct error *err)
{
    const char *d = path_decode_stable(a, uri);
    if (!d || has_control(d))
        return bad_location(err, uri, "it contains control characters or undecodable escapes");
    if (strchr(d, '#') || strchr(d, ';'))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "'artifact_location' URL can't include fragments or params.");
    if (strchr(d, '\\') || has_dotdot_segment(d))
        return bad_location(err, uri, "it contains a '..' segment or a backslash");
    const char *q = strchr(d, '?');
    if (q && strstr(q, ".."))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid query string");
    size_t sl = scheme_len(d);
    if (sl && !strncasecmp(d, "mlflow-artifacts:", sl) && sl == 17)
        return q ? bad_location(err, uri, "mlflow-artifacts: URIs take no query") : 0;
    const char *local = NULL;
    if (sl == 5 && !strncasecmp(d, "file:", 5)) {
        if (q)
            return bad_location(err, uri, "file: URIs take no query");
        local = d + 5;
        if (!strncmp(local, "//", 2)) {
            local += 2;
            if (!strncmp(local, "localhost/", 10))
                local += 9;
            else if (*local != '/')
                return bad_location(err, uri, "file: URIs must name a local absolute path");
        }
    } else if (sl) {
        return 0;   /* s3://, gs://, … : stored as given, never opened by this server */
    } else {
        local = d;
    }
    if (local_under_roots(a, local, roots, n_roots))
        return 0;
    return bad_location(err, uri, "local paths and file: URIs must lie under the server's artifact root; "
                                  "use an mlflow-artifacts: URI");
}

/* s3://bucket/prefix roots: the URI's bucket equal and its path within
 * the root's prefix at a segment boundary */
static int s3_uri_under_roots(struct arena *a, const char *uri, const char *const *roots, size_t n_roots,
                              const char **root, const char **rel, struct error *err)
{
    for (size_t i = 0; i < n_roots; i++) {
        const char *r = roots[i];
        if (!r || strncasecmp(r, "s3://", 5))
            continue;
        size_t n = strlen(r);
        while (n > 5 && r[n - 1] == '/')
            n--;
        if (strncmp(uri + 5, r + 5, n - 5) || (uri[n] != '\0' && uri[n] != '/'))
            continue;
        const char *p = uri + n;
        while (*p == '/')
            p++;
        *root = r;
        return path_sanitize(a, p, rel, err);
    }
    return 1;
}

int artifact_uri_to_local(struct arena *a, const char *uri, const char *dest, const char *const *roots,
                          size_t n_roots, const char **root, const char **rel, struct error *err)
{
    size_t sl = scheme_len(uri);
    if (sl == 17 && !strncasecmp(uri, "mlflow-artifacts:", 17)) {
        const char *p = uri + 17;
        if (!strncmp(p, "//", 2))
            p += 2 + strcspn(p + 2, "/");    /* mlflow-artifacts://host:port/path */
        while (*p == '/')
            p++;
        if (!dest)
            return 1;
        *root = dest;
        return path_sanitize(a, p, rel, err);
    }
    /* issue 20: an http(s) URL of an mlflow-artifacts proxy route (what
     * `--default-artifact-root http://<server>/api/2.0/mlflow-artifacts/artifacts`
     * gives runs) is served from dest, as MLflow's server resolves it: the
     * part after the route anchor is the path under the destination */
    if ((sl == 5 && !strncasecmp(uri, "http:", 5)) || (sl == 6 && !strncasecmp(uri, "https:", 6))) {
        static const char anchor[] = "/api/2.0/mlflow-artifacts/artifacts/";
        const char *host = uri + sl;
        if (strncmp(host, "//", 2))
            return 1;
        const char *path = host + 2 + strcspn(host + 2, "/?#");
        const char *p = strstr(arena_strndup(a, path, strcspn(path, "?#")), anchor);
        if (!p || !dest)
            return 1;   /* some other web server: never fetched by this one */
        p += sizeof anchor - 1;
        while (*p == '/')
            p++;
        *root = dest;
        return path_sanitize(a, p, rel, err);
    }
    /* issue 17: an s3:// URI under a configured s3:// root is served from
     * that root (any other bucket or prefix is never opened) */
    if (sl == 3 && !strncasecmp(uri, "s3:", 3))
        return s3_uri_under_roots(a, uri, roots, n_roots, root, rel, err);
    const char *local = NULL;
    if (sl == 5 && !strncasecmp(uri, "file:", 5)) {
        local = uri + 5;
        if (!strncmp(local, "//", 2)) {
            local += 2;
            if (!strncmp(local, "localhost/", 10))
                local += 9;
        }
        local = path_decode_stable(a, local);
    } else if (sl) {
        return 1;
    } else {
        local = uri;
    }
    const char *norm;
    if (!local || local[0] != '/' || !normalise_segments(a, local, &norm))
        return invalid_path(err);
    norm = arena_printf(a, "/%s", norm);
    for (size_t i = 0; i < n_roots; i++) {
        const char *r = root_dir(a, roots[i]), *rnorm;
        if (!r || !normalise_segments(a, r, &rnorm))
            continue;
        rnorm = arena_printf(a, "/%s", rnorm);
        if (!within(norm, rnorm))
            continue;
        const char *rest = norm + strlen(rnorm);
        while (*rest == '/')
            rest++;
        *root = rnorm;
        return path_sanitize(a, rest, rel, err);
    }
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Artifact location is outside the server's artifact roots");
}

/* ---- issue 20: relative experiment locations, and the roots Cairn can store to ---- */

int artifact_location_resolve_relative(struct arena *a, const char *location, const char *default_root,
                                       const char **out, struct error *err)
{
    *out = location;
    size_t sl = scheme_len(location);
    const char *rel;
    if (sl == 5 && !strncasecmp(location, "file:", 5) && location[5] != '/')
        rel = location + 5;       /* file:rel */
    else if (sl || location[0] == '/' || is_drive(location))
        return 0;                 /* a URI or an absolute path: checked as it is */
    else
        rel = location;
    const char *clean;
    if (path_sanitize(a, rel, &clean, err))
        return bad_location(err, location, "a relative location must stay under the server's artifact root");
    size_t rn = strlen(default_root);
    while (rn > 1 && default_root[rn - 1] == '/' && default_root[rn - 2] != ':')
        rn--;
    bool bare_scheme = rn && default_root[rn - 1] == ':';   /* "mlflow-artifacts:" */
    bool has_slash = rn && default_root[rn - 1] == '/';
    *out = *clean ? arena_printf(a, "%.*s%s%s", (int)rn, default_root, bare_scheme ? "/" : has_slash ? "" : "/",
                                 clean)
                  : arena_strndup(a, default_root, rn);
    return 0;
}

/* Every other scheme (s3, gs, wasbs, hdfs, …) is refused: Cairn has no
 * storage for it, and taking "s3://bucket" as a local relative path would
 * silently fill ./s3:/bucket on the server's disk. (s3:// joins the accepted
 * ones when S3 support lands, issue 17.) */
int artifact_root_check(const char *flag, const char *uri, bool destination, char *msg, size_t msg_len)
{
    size_t sl = scheme_len(uri);
    if (!sl || (sl == 5 && !strncasecmp(uri, "file:", 5)))
        return 0;
    if (sl == 3 && !strncasecmp(uri, "s3://", 5) && uri[5] && uri[5] != '/')
        return 0;   /* issue 17: S3-compatible object storage (store/s3.c) */
    if (!destination && ((sl == 17 && !strncasecmp(uri, "mlflow-artifacts:", 17)) ||
                         ((sl == 5 || sl == 6) && !strncasecmp(uri, "http", 4) &&
                          strstr(uri, "/api/2.0/mlflow-artifacts/artifacts"))))
        return 0;   /* served from --artifacts-destination */
    snprintf(msg, msg_len, "%s %s: Cairn cannot store artifacts at %.*s:// URIs; give a local directory, "
             "a file:// URI or an s3://bucket/prefix URI%s", flag, uri, (int)sl - 1, uri,
             destination ? "" : " (or mlflow-artifacts:, served from --artifacts-destination)");
    return -1;
}
