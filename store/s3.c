/* S3-compatible object storage on libcurl (issue 17). Requests are signed
 * by libcurl's AWS SigV4 (curl >= 7.87 sends x-amz-content-sha256:
 * UNSIGNED-PAYLOAD for service s3, so a streamed body needs no hash).
 * libcurl up to 8.x signs the path and query exactly as given, so every URL
 * here is built already canonical: keys encoded with AWS's rules, query
 * parameters sorted, "uploads=" spelled with its '='. Presigned URLs (query
 * signing, which libcurl does not do) are signed with OpenSSL's HMAC and
 * SHA-256. Replies are XML, read by expat as they arrive. */
#include "s3.h"
#include "curl_lazy.h"
#include <expat.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Parts streamed straight from the client when the length is known: one
 * PUT up to S3_PART, else parts of S3_PART (more when 10,000 would not
 * hold the object). Unknown lengths are read into one S3_MIN_PART buffer
 * at a time (S3's smallest part but the last). */
#define S3_PART (16LL << 20)
#define S3_MIN_PART (5 << 20)
#define S3_MAX_PARTS 10000
#define XML_TEXT_MAX 4096
#define XML_PATH_MAX 512
#define ERR_BODY_MAX (64 * 1024)

static struct {
    char *endpoint;       /* scheme://host[:port][/path], no trailing slash */
    char *host;           /* host[:port]: the signed Host of presigned URLs */
    char *region, *key_id, *secret, *token, *userpwd, *sigv4, *ca_bundle;
    bool ignore_tls, verbose;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
} cfg;

bool s3_is_uri(const char *uri)
{
    return uri && !strncasecmp(uri, "s3://", 5);
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access acc, void *u)
{
    (void)h, (void)acc, (void)u;
    pthread_mutex_lock(&cfg.locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h, (void)u;
    pthread_mutex_unlock(&cfg.locks[d]);
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"));
}

int s3_configure(char *msg, size_t msg_len)
{
    if (cfg.share)
        return 0;
    if (curl_lazy_load(msg, msg_len))
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cfg.region = env_dup("AWS_DEFAULT_REGION");
    if (!cfg.region)
        cfg.region = env_dup("AWS_REGION");
    if (!cfg.region)
        cfg.region = strdup("us-east-1");
    char *ep = env_dup("MLFLOW_S3_ENDPOINT_URL");
    if (!ep) {
        size_t n = strlen(cfg.region) + 32;
        ep = malloc(n);
        snprintf(ep, n, "https://s3.%s.amazonaws.com", cfg.region);
    }
    size_t len = strlen(ep);
    while (len && ep[len - 1] == '/')
        ep[--len] = '\0';
    const char *h = strstr(ep, "://");
    if (!h || (strncasecmp(ep, "http://", 7) && strncasecmp(ep, "https://", 8)) || !h[3]) {
        snprintf(msg, msg_len, "MLFLOW_S3_ENDPOINT_URL %s: give an http:// or https:// URL", ep);
        free(ep);
        return -1;
    }
    cfg.endpoint = ep;
    h += 3;
    cfg.host = strndup(h, strcspn(h, "/"));
    cfg.key_id = env_dup("AWS_ACCESS_KEY_ID");
    cfg.secret = env_dup("AWS_SECRET_ACCESS_KEY");
    cfg.token = env_dup("AWS_SESSION_TOKEN");
    cfg.ca_bundle = env_dup("AWS_CA_BUNDLE");
    cfg.ignore_tls = env_true("MLFLOW_S3_IGNORE_TLS");
    cfg.verbose = env_true("CAIRN_S3_VERBOSE");   /* libcurl's trace of every store request on stderr */
    if (!cfg.key_id != !cfg.secret) {
        snprintf(msg, msg_len, "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or neither, for a public bucket)");
        return -1;
    }
    if (cfg.key_id) {
        size_t n = strlen(cfg.key_id) + strlen(cfg.secret) + 2;
        cfg.userpwd = malloc(n);
        snprintf(cfg.userpwd, n, "%s:%s", cfg.key_id, cfg.secret);
        n = strlen(cfg.region) + 16;
        cfg.sigv4 = malloc(n);
        snprintf(cfg.sigv4, n, "aws:amz:%s:s3", cfg.region);
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&cfg.locks[i], NULL);
    cfg.share = curl_share_init();
    curl_share_setopt(cfg.share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(cfg.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(cfg.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(cfg.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    return 0;
}

/* ---- URLs ---- */

/* AWS's URI encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX (and '/'
 * kept in object paths) */
static void aws_encode(struct strbuf *sb, const char *s, bool keep_slash)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/'))
            sb_putc(sb, (char)*p);
        else
            sb_printf(sb, "%%%02X", *p);
    }
}

struct loc {
    const char *bucket, *key;   /* key: prefix/rel, without a leading '/' */
};

static void locate(struct arena *a, const char *root, const char *rel, struct loc *l)
{
    const char *p = root + 5;
    size_t bl = strcspn(p, "/");
    l->bucket = arena_strndup(a, p, bl);
    p += bl;
    while (*p == '/')
        p++;
    size_t pl = strlen(p);
    while (pl && p[pl - 1] == '/')
        pl--;
    if (!pl)
        l->key = rel ? rel : "";
    else if (!rel || !*rel)
        l->key = arena_strndup(a, p, pl);
    else
        l->key = arena_printf(a, "%.*s/%s", (int)pl, p, rel);
}

/* endpoint/bucket/key?query (query already canonical, may be NULL) */
static const char *object_url(struct arena *a, const struct loc *l, const char *query)
{
    struct strbuf sb;
    sb_init(&sb, a, strlen(cfg.endpoint) + 3 * strlen(l->key) + 64 + (query ? strlen(query) : 0));
    sb_printf(&sb, "%s/", cfg.endpoint);
    aws_encode(&sb, l->bucket, false);
    sb_putc(&sb, '/');
    aws_encode(&sb, l->key, true);
    if (query) {
        sb_putc(&sb, '?');
        sb_puts(&sb, query);
    }
    return sb.buf;
}

static const char *qval(struct arena *a, const char *v)
{
    struct strbuf sb;
    sb_init(&sb, a, 3 * strlen(v) + 1);
    aws_encode(&sb, v, false);
    return sb.buf;
}

/* ---- XML replies (expat): each element's text is handed over at its end
 * with its path from the root ("ListBucketResult/Contents/Key"); texts
 * longer than XML_TEXT_MAX or paths deeper than XML_PATH_MAX make the
 * reply invalid rather than growing a buffer ---- */

typedef void (*xml_elem_fn)(void *ctx, const char *path, const char *text);

struct xml {
    XML_Parser p;
    char path[XML_PATH_MAX];
    size_t path_len;
    char text[XML_TEXT_MAX];
    size_t text_len;
    bool overflow, failed;
    xml_elem_fn on_elem;
    void *ctx;
};

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct xml *x = ud;
    size_t n = strlen(name);
    if (x->path_len + n + 2 > sizeof x->path) {
        x->overflow = true;
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    if (x->path_len)
        x->path[x->path_len++] = '/';
    memcpy(x->path + x->path_len, name, n + 1);
    x->path_len += n;
    x->text_len = 0;
}

static void XMLCALL xml_chars(void *ud, const XML_Char *s, int len)
{
    struct xml *x = ud;
    if (x->text_len + (size_t)len + 1 > sizeof x->text) {
        x->overflow = true;
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    memcpy(x->text + x->text_len, s, (size_t)len);
    x->text_len += (size_t)len;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    struct xml *x = ud;
    x->text[x->text_len] = '\0';
    x->on_elem(x->ctx, x->path, x->text);
    x->text_len = 0;
    size_t n = strlen(name);
    x->path_len = x->path_len > n ? x->path_len - n - 1 : 0;
    x->path[x->path_len] = '\0';
}

/* ---- one request ---- */

struct call {
    struct arena *a;
    CURL *h;
    long status;
    /* request body: streamed from read (left bytes) or from mem */
    artifact_read_fn read;
    void *read_ctx;
    long long left, *sent;
    bool read_failed;
    const char *mem;
    size_t mem_len, mem_off;
    /* response body: 2xx to sink, or parsed as XML for on_elem; errors parsed for their code */
    artifact_write_fn sink;
    void *sink_ctx;
    const char *if_match;
    bool sink_failed;
    xml_elem_fn on_elem;
    void *elem_ctx;
    struct xml *xml;
    size_t err_bytes;
    char etag[256], code[128], message[512];
    long long length;
    bool error_doc;
};

static void call_elem(void *ud, const char *path, const char *text)
{
    struct call *c = ud;
    if (!strcmp(path, "Error")) {
        c->error_doc = true;
    } else if (!strcmp(path, "Error/Code")) {
        snprintf(c->code, sizeof c->code, "%s", text);
    } else if (!strcmp(path, "Error/Message")) {
        snprintf(c->message, sizeof c->message, "%s", text);
    } else if (c->on_elem && c->status >= 200 && c->status < 300) {
        c->on_elem(c->elem_ctx, path, text);
    }
}

static bool ok_status(long s)
{
    return s >= 200 && s < 300;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n;
    if (len > 5 && !strncmp(p, "HTTP/", 5)) {
        const char *sp = memchr(p, ' ', len);
        c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        c->etag[0] = '\0';
        c->length = -1;
    } else if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
        const char *v = p + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(c->etag, sizeof c->etag, "%.*s", (int)vl, v);
    } else if (len > 15 && !strncasecmp(p, "Content-Length:", 15)) {
        c->length = strtoll(p + 15, NULL, 10);
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n;
    if (ok_status(c->status) && c->sink) {
        if (c->sink(c->sink_ctx, p, len) < 0) {
            c->sink_failed = true;
            return 0;
        }
        return len;
    }
    if (!ok_status(c->status)) {
        if (c->err_bytes + len > ERR_BODY_MAX)
            return len;    /* an error body past the limit: the code is in its head */
        c->err_bytes += len;
    }
    if (!c->xml) {
        c->xml = arena_alloc(c->a, sizeof *c->xml);
        c->xml->p = XML_ParserCreate("UTF-8");
        c->xml->on_elem = call_elem;
        c->xml->ctx = c;
        XML_SetUserData(c->xml->p, c->xml);
        XML_SetElementHandler(c->xml->p, xml_start, xml_end);
        XML_SetCharacterDataHandler(c->xml->p, xml_chars);
    }
    if (!c->xml->failed && XML_Parse(c->xml->p, p, (int)len, XML_FALSE) != XML_STATUS_OK)
        c->xml->failed = true;
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t cap = size * n;
    if (c->mem) {
        size_t k = c->mem_len - c->mem_off < cap ? c->mem_len - c->mem_off : cap;
        memcpy(buf, c->mem + c->mem_off, k);
        c->mem_off += k;
        return k;
    }
    if (c->left <= 0)
        return 0;
    if ((long long)cap > c->left)
        cap = (size_t)c->left;
    long long got = c->read(c->read_ctx, buf, cap);
    if (got <= 0) {
        c->read_failed = true;     /* the client's body ended early or broke */
        return CURL_READFUNC_ABORT;
    }
    c->left -= got;
    if (c->sent)
        *c->sent += got;
    return (size_t)got;
}

/* Runs c (set up by the caller's fields) as method on url; body_len >= 0
 * sends that many bytes from c->read or c->mem. CURLE_* result. */
static CURLcode perform(struct call *c, const char *method, const char *url, long long body_len,
                        const char *content_type)
{
    struct curl_slist *hdrs = NULL;
    CURL *h = curl_easy_init();
    if (!h)
        return CURLE_OUT_OF_MEMORY;
    c->h = h;
    c->length = -1;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, cfg.share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_VERBOSE, cfg.verbose ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    /* bytes move in 256 KiB pieces, as the local store's (ARTIFACT_CHUNK) */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)ARTIFACT_CHUNK);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, (long)ARTIFACT_CHUNK);
    /* a stalled store: under 1 byte/s for two minutes ends the transfer */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
    if (cfg.userpwd) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, cfg.sigv4);
        curl_easy_setopt(h, CURLOPT_USERPWD, cfg.userpwd);
    }
    if (cfg.ignore_tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cfg.ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg.ca_bundle);
    /* the payload is not hashed (bodies stream); libcurl >= 7.87 signs with
     * this value. No header removals ("Expect:"): libcurl 7.88 signs them as
     * if sent, and the store then computes another signature. */
    hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (cfg.token)
        hdrs = curl_slist_append(hdrs, arena_printf(c->a, "x-amz-security-token: %s", cfg.token));
    if (c->if_match)
        hdrs = curl_slist_append(hdrs, arena_printf(c->a, "If-Match: %s", c->if_match));
    if (content_type)
        hdrs = curl_slist_append(hdrs, arena_printf(c->a, "Content-Type: %s", content_type));
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(body_len < 0 ? 0 : body_len));
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body_len < 0 ? 0 : body_len));
        if (body_len <= 0)
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body_len > 0 || !strcmp(method, "PUT")) {   /* never libcurl's default reader (stdin) */
        c->left = body_len;
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
        if (body_len > 0 && c->mem && !strcmp(method, "POST"))
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->mem);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    CURLcode rc = curl_easy_perform(h);
    if (c->xml) {
        if (rc == CURLE_OK && !c->xml->failed && XML_Parse(c->xml->p, "", 0, XML_TRUE) != XML_STATUS_OK)
            c->xml->failed = true;
        if (c->xml->overflow)
            c->xml->failed = true;
        XML_ParserFree(c->xml->p);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    c->h = NULL;
    return rc;
}

/* The store's answer as MLflow's error (MLflow's BOTO_TO_MLFLOW_ERROR, and
 * 503 for what a retry may cure). */
static int store_error(struct call *c, CURLcode rc, const char *what, const struct loc *l, struct error *err)
{
    if (!c->status || (rc != CURLE_OK && ok_status(c->status)))
        return error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Failed to %s s3://%s/%s: the artifact store at %s "
                         "did not answer (%s)", what, l->bucket, l->key, cfg.endpoint, curl_easy_strerror(rc));
    const char *code = c->code[0] ? c->code : "";
    const char *detail = c->message[0] ? c->message : code;
    if (!strcmp(code, "NoSuchBucket"))
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Failed to %s s3://%s/%s: the bucket '%s' does not exist",
                         what, l->bucket, l->key, l->bucket);
    if (!strcmp(code, "InvalidAccessKeyId") || !strcmp(code, "SignatureDoesNotMatch"))
        return error_set(err, ERR_UNAUTHENTICATED, "Failed to %s s3://%s/%s: the artifact store refused the "
                         "credentials (%s)", what, l->bucket, l->key, code);
    if (c->status == 403 || !strcmp(code, "AccessDenied"))
        return error_set(err, ERR_PERMISSION_DENIED, "Failed to %s s3://%s/%s: access denied by the artifact store "
                         "(%s)", what, l->bucket, l->key, *detail ? detail : "403");
    if (c->status == 404 || !strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload"))
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Failed to %s s3://%s/%s: %s", what, l->bucket, l->key,
                         *detail ? detail : "not found");
    if (c->status == 429 || c->status >= 500 || !strcmp(code, "SlowDown"))
        return error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Failed to %s s3://%s/%s: the artifact store answered "
                         "%ld %s", what, l->bucket, l->key, c->status, detail);
    if (c->status == 400)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Failed to %s s3://%s/%s: %s", what, l->bucket, l->key,
                         *detail ? detail : "400 Bad Request");
    return error_set(err, ERR_INTERNAL_ERROR, "Failed to %s s3://%s/%s: the artifact store answered %ld %s", what,
                     l->bucket, l->key, c->status, detail);
}

/* perform + the error mapping: 0 on a 2xx reply (without an <Error> body) */
static int request(struct call *c, const char *method, const char *url, long long body_len,
                   const char *content_type, const char *what, const struct loc *l, struct error *err)
{
    CURLcode rc = perform(c, method, url, body_len, content_type);
    if (rc == CURLE_OK && ok_status(c->status) && !c->error_doc && !(c->xml && c->xml->failed && c->on_elem))
        return 0;
    if (rc == CURLE_OK && ok_status(c->status) && !c->error_doc)
        return error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "Failed to %s s3://%s/%s: the artifact store's reply "
                         "could not be read", what, l->bucket, l->key);
    if (c->error_doc && ok_status(c->status))
        c->status = 500;   /* CompleteMultipartUpload reports failures in a 200 */
    return store_error(c, rc, what, l, err);
}

/* ---- upload ---- */

/* PUT of len bytes from read (or from mem when mem is set); etag_out gets
 * the object's or part's ETag */
static int put_body(struct arena *a, const char *url, const struct loc *l, artifact_read_fn read, void *ctx,
                    const char *mem, long long len, long long *sent, long long want, const char **etag_out,
                    struct error *err)
{
    struct call c = { .a = a, .read = read, .read_ctx = ctx, .mem = mem, .mem_len = mem ? (size_t)len : 0,
                      .sent = sent };
    if (request(&c, "PUT", url, len, NULL, "store", l, err)) {
        if (c.read_failed)   /* the client's fault, not the store's: as the local store answers */
            error_set(err, ERR_BAD_REQUEST, "Upload ended after %lld of %lld bytes", *sent, want);
        return -1;
    }
    if (mem && sent)
        *sent += len;
    if (etag_out)
        *etag_out = arena_strdup(a, c.etag);
    return 0;
}

static void upload_id_elem(void *ctx, const char *path, const char *text)
{
    if (!strcmp(path, "InitiateMultipartUploadResult/UploadId"))
        *(char **)ctx = strdup(text);
}

int s3_mpu_create(struct arena *a, const char *root, const char *rel, const char **upload_id, struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    char *id = NULL;
    struct call c = { .a = a, .on_elem = upload_id_elem, .elem_ctx = &id };
    int rc = request(&c, "POST", object_url(a, &l, "uploads="), 0, NULL, "start a multipart upload of", &l, err);
    if (!rc && (!id || !*id))
        rc = error_set(err, ERR_TEMPORARILY_UNAVAILABLE, "The artifact store gave no upload id for s3://%s/%s",
                       l.bucket, l.key);
    *upload_id = id ? arena_strdup(a, id) : NULL;
    free(id);
    return rc;
}

static void xml_escape(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_puts(sb, "&amp;"); break;
        case '<': sb_puts(sb, "&lt;"); break;
        case '>': sb_puts(sb, "&gt;"); break;
        case '"': sb_puts(sb, "&quot;"); break;
        default: sb_putc(sb, *s);
        }
    }
}

int s3_mpu_complete(struct arena *a, const char *root, const char *rel, const char *upload_id,
                    const struct artifact_part *parts, size_t n, struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    struct strbuf sb;
    sb_init(&sb, a, 64 + n * 96);
    sb_puts(&sb, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++) {
        sb_printf(&sb, "<Part><PartNumber>%lld</PartNumber><ETag>", parts[i].part_number);
        xml_escape(&sb, parts[i].etag ? parts[i].etag : "");
        sb_puts(&sb, "</ETag></Part>");
    }
    sb_puts(&sb, "</CompleteMultipartUpload>");
    struct call c = { .a = a, .mem = sb.buf, .mem_len = sb.len };
    return request(&c, "POST", object_url(a, &l, arena_printf(a, "uploadId=%s", qval(a, upload_id))),
                   (long long)sb.len, "application/xml", "complete the multipart upload of", &l, err);
}

static int abort_upload(struct arena *a, const struct loc *l, const char *upload_id, struct error *err)
{
    struct call c = { .a = a };
    return request(&c, "DELETE", object_url(a, l, arena_printf(a, "uploadId=%s", qval(a, upload_id))), 0, NULL,
                   "abort the multipart upload of", l, err);
}

int s3_mpu_abort(struct arena *a, const char *root, const char *rel, const char *upload_id, struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    return abort_upload(a, &l, upload_id, err);
}

/* ---- uploads this process streams right now: never swept, whatever
 * their age (nodes live on the uploading thread's stack) ---- */

struct open_upload {
    const char *upload_id;
    struct open_upload *next;
};

static pthread_mutex_t open_uploads_mu = PTHREAD_MUTEX_INITIALIZER;
static struct open_upload *open_uploads;

static void open_upload_add(struct open_upload *u, const char *upload_id)
{
    u->upload_id = upload_id;
    pthread_mutex_lock(&open_uploads_mu);
    u->next = open_uploads;
    open_uploads = u;
    pthread_mutex_unlock(&open_uploads_mu);
}

static void open_upload_remove(struct open_upload *u)
{
    pthread_mutex_lock(&open_uploads_mu);
    for (struct open_upload **p = &open_uploads; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            break;
        }
    pthread_mutex_unlock(&open_uploads_mu);
}

static bool open_upload_has(const char *upload_id)
{
    bool found = false;
    pthread_mutex_lock(&open_uploads_mu);
    for (struct open_upload *u = open_uploads; u && !found; u = u->next)
        found = !strcmp(u->upload_id, upload_id);
    pthread_mutex_unlock(&open_uploads_mu);
    return found;
}

static const char *part_url(struct arena *a, const struct loc *l, const char *upload_id, long long part)
{
    return object_url(a, l, arena_printf(a, "partNumber=%lld&uploadId=%s", part, qval(a, upload_id)));
}

/* Reads into buf until it holds S3_MIN_PART bytes or the body ends
 * (*eof). -1 when the client's body broke. */
static long long fill(artifact_read_fn read, void *ctx, char *buf, bool *eof)
{
    long long len = 0;
    *eof = false;
    while (len < S3_MIN_PART) {
        long long got = read(ctx, buf + len, (size_t)(S3_MIN_PART - len));
        if (got < 0)
            return -1;
        if (got == 0) {
            *eof = true;
            break;
        }
        len += got;
    }
    return len;
}

/* Multipart: with a known length (want >= 0) parts stream straight from
 * the client as they arrive; else each part is read into buf (its first
 * `filled` bytes already there). Any failure aborts the upload, so no part
 * stays behind. */
static int put_multipart(struct arena *a, const char *root, const char *rel, const struct loc *l,
                         artifact_read_fn read, void *ctx, char *buf, long long filled, long long want,
                         struct error *err)
{
    const char *upload_id;
    if (s3_mpu_create(a, root, rel, &upload_id, err))
        return -1;
    struct open_upload open;
    open_upload_add(&open, upload_id);
    long long part_size = S3_PART;
    if (want > 0 && (want + part_size - 1) / part_size > S3_MAX_PARTS)
        part_size = ((want / S3_MAX_PARTS) | ((1 << 20) - 1)) + 1;
    size_t cap = 64;
    struct artifact_part *parts = arena_alloc(a, cap * sizeof *parts);
    size_t n = 0;
    long long sent = 0;
    int rc = 0;
    for (bool done = false; !done && !rc;) {
        const char *mem = NULL;
        long long len;
        if (want >= 0) {
            len = want - sent < part_size ? want - sent : part_size;
            done = sent + len >= want;
        } else {
            len = filled;
            filled = 0;
            if (n > 0 || !len) {
                len = fill(read, ctx, buf, &done);
                if (len < 0) {
                    rc = error_set(err, ERR_BAD_REQUEST, "Upload ended after %lld bytes", sent);
                    break;
                }
                if (len == 0 && n > 0)
                    break;
            }
            mem = buf;
        }
        if (n == S3_MAX_PARTS) {
            rc = error_set(err, ERR_INVALID_PARAMETER_VALUE, "The artifact is larger than S3's multipart limit");
            break;
        }
        if (n == cap) {
            parts = arena_grow(a, parts, cap * sizeof *parts, 2 * cap * sizeof *parts);
            cap *= 2;
        }
        parts[n].part_number = (long long)n + 1;
        rc = put_body(a, part_url(a, l, upload_id, parts[n].part_number), l, read, ctx, mem, len, &sent, want,
                      &parts[n].etag, err);
        n++;
    }
    if (!rc)
        rc = s3_mpu_complete(a, root, rel, upload_id, parts, n, err);
    if (rc) {
        struct error ignored;
        abort_upload(a, l, upload_id, &ignored);
    }
    open_upload_remove(&open);
    return rc;
}

int s3_put(struct arena *a, const char *root, const char *rel, artifact_read_fn read, void *ctx,
           long long content_length, struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    long long sent = 0;
    if (content_length >= 0 && content_length <= S3_PART)
        return put_body(a, object_url(a, &l, NULL), &l, read, ctx, NULL, content_length, &sent, content_length,
                        NULL, err);
    if (content_length >= 0)
        return put_multipart(a, root, rel, &l, read, ctx, NULL, 0, content_length, err);
    /* chunked: one buffer of S3_MIN_PART; what fits in it goes up in one PUT */
    char *buf = malloc(S3_MIN_PART);
    if (!buf)
        return error_set(err, ERR_INTERNAL_ERROR, "Out of memory");
    bool eof;
    long long len = fill(read, ctx, buf, &eof);
    int rc;
    if (len < 0)
        rc = error_set(err, ERR_BAD_REQUEST, "Upload ended after an incomplete body");
    else if (eof)
        rc = put_body(a, object_url(a, &l, NULL), &l, NULL, NULL, buf, len, &sent, len, NULL, err);
    else
        rc = put_multipart(a, root, rel, &l, read, ctx, buf, len, -1, err);
    free(buf);
    return rc;
}

/* ---- download ---- */

int s3_get(struct arena *a, const char *root, const char *rel, const char *etag, artifact_write_fn write,
           void *ctx)
{
    struct loc l;
    locate(a, root, rel, &l);
    /* If-Match: an object replaced since s3_stat gave its length answers
     * 412, and the reply is cut short rather than mixing two versions */
    struct call c = { .a = a, .sink = write, .sink_ctx = ctx, .if_match = etag && *etag ? etag : NULL };
    struct error err;
    CURLcode rc = perform(&c, "GET", object_url(a, &l, NULL), -1, NULL);
    if (rc != CURLE_OK || !ok_status(c.status)) {
        if (!c.sink_failed)
            store_error(&c, rc, "read", &l, &err);
        return -1;
    }
    return 0;
}

/* ---- listing ---- */

struct listing {
    struct arena *a;
    size_t plen;                /* length of the listed prefix ("dir/") */
    struct artifact_entry *v;
    size_t n, cap;
    const char *key, *token;
    long long size;
    bool truncated, keys_only;
};

static void add_entry(struct listing *ls, const char *name, size_t len, bool is_dir, long long size)
{
    if (!len)
        return;
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? 2 * ls->cap : 64;
        ls->v = ls->v ? arena_grow(ls->a, ls->v, ls->cap * sizeof *ls->v, cap * sizeof *ls->v)
                      : arena_alloc(ls->a, cap * sizeof *ls->v);
        ls->cap = cap;
    }
    ls->v[ls->n].name = arena_strndup(ls->a, name, len);
    ls->v[ls->n].is_dir = is_dir;
    ls->v[ls->n].size = size;
    ls->n++;
}

static void list_elem(void *ctx, const char *path, const char *text)
{
    struct listing *ls = ctx;
    if (!strcmp(path, "ListBucketResult/Contents/Key")) {
        ls->key = arena_strdup(ls->a, text);
    } else if (!strcmp(path, "ListBucketResult/Contents/Size")) {
        ls->size = strtoll(text, NULL, 10);
    } else if (!strcmp(path, "ListBucketResult/Contents")) {
        if (ls->key && strlen(ls->key) >= ls->plen) {
            const char *name = ls->key + (ls->keys_only ? 0 : ls->plen);
            size_t len = strlen(name);
            /* "dir/" markers some tools create are directories, not files */
            if (ls->keys_only || (len && name[len - 1] != '/'))
                add_entry(ls, name, len, false, ls->size);
        }
        ls->key = NULL;
        ls->size = 0;
    } else if (!strcmp(path, "ListBucketResult/CommonPrefixes/Prefix")) {
        size_t len = strlen(text);
        if (len > ls->plen) {
            len -= ls->plen;
            while (len && text[ls->plen + len - 1] == '/')
                len--;
            add_entry(ls, text + ls->plen, len, true, 0);
        }
    } else if (!strcmp(path, "ListBucketResult/IsTruncated")) {
        ls->truncated = !strcmp(text, "true");
    } else if (!strcmp(path, "ListBucketResult/NextContinuationToken")) {
        ls->token = arena_strdup(ls->a, text);
    }
}

/* One ListObjectsV2 page of prefix (delimited: one level) */
static int list_page(struct listing *ls, const struct loc *l, const char *prefix, bool delimited, long long max_keys,
                     struct error *err)
{
    struct arena *a = ls->a;
    struct strbuf q;
    sb_init(&q, a, 256);
    /* parameters in canonical (byte) order */
    if (ls->token)
        sb_printf(&q, "continuation-token=%s&", qval(a, ls->token));
    if (delimited)
        sb_puts(&q, "delimiter=%2F&");
    sb_puts(&q, "list-type=2&");
    if (max_keys > 0)
        sb_printf(&q, "max-keys=%lld&", max_keys);
    sb_printf(&q, "prefix=%s", qval(a, prefix));
    struct loc bucket = { l->bucket, "" };
    ls->truncated = false;
    ls->token = NULL;
    struct call c = { .a = a, .on_elem = list_elem, .elem_ctx = ls };
    return request(&c, "GET", object_url(a, &bucket, q.buf), -1, NULL, "list", l, err);
}

static int cmp_entry(const void *x, const void *y)
{
    return strcmp(((const struct artifact_entry *)x)->name, ((const struct artifact_entry *)y)->name);
}

/* the prefix that lists the "directory" key: "key/", or "" for the bucket's root */
static const char *dir_prefix(struct arena *a, const struct loc *l)
{
    return *l->key ? arena_printf(a, "%s/", l->key) : "";
}

int s3_list(struct arena *a, const char *root, const char *rel, struct artifact_entry **out, size_t *n,
            struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    const char *prefix = dir_prefix(a, &l);
    struct listing ls = { .a = a, .plen = strlen(prefix) };
    const char *last = NULL;
    do {
        if (list_page(&ls, &l, prefix, true, 0, err))
            return -1;
        if (ls.truncated && (!ls.token || (last && !strcmp(last, ls.token))))
            break;    /* a store that does not move on: what it gave is the listing */
        last = ls.token;
    } while (ls.truncated);
    if (ls.n)
        qsort(ls.v, ls.n, sizeof *ls.v, cmp_entry);
    *out = ls.v;
    *n = ls.n;
    return 0;
}

static int delete_key(struct arena *a, const struct loc *l, const char *key, struct error *err)
{
    struct loc k = { l->bucket, key };
    struct call c = { .a = a };
    if (!request(&c, "DELETE", object_url(a, &k, NULL), 0, NULL, "delete", &k, err))
        return 0;
    return c.status == 404 ? 0 : -1;
}

int s3_delete(struct arena *a, const char *root, const char *rel, struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    if (*l.key && delete_key(a, &l, l.key, err))
        return -1;
    /* everything under key/, a page at a time (each page deleted before the next is asked for) */
    const char *prefix = dir_prefix(a, &l);
    struct listing ls = { .a = a, .plen = strlen(prefix), .keys_only = true };
    for (int pages = 0;; pages++) {
        ls.n = 0;
        const char *token = ls.token;
        if (list_page(&ls, &l, prefix, false, 1000, err))
            return -1;
        for (size_t i = 0; i < ls.n; i++)
            if (delete_key(a, &l, ls.v[i].name, err))
                return -1;
        if (!ls.truncated || !ls.token || (token && !strcmp(token, ls.token)) || pages > 1000000)
            break;
    }
    return 0;
}

/* ---- metadata ---- */

int s3_stat(struct arena *a, const char *root, const char *rel, long long *size, const char **etag,
            struct error *err)
{
    struct loc l;
    locate(a, root, rel, &l);
    struct call c = { .a = a };
    CURLcode rc = *l.key ? perform(&c, "HEAD", object_url(a, &l, NULL), -1, NULL) : CURLE_OK;
    if (*l.key && rc == CURLE_OK && ok_status(c.status)) {
        *size = c.length < 0 ? 0 : c.length;
        *etag = arena_strdup(a, c.etag);
        return 0;
    }
    if (*l.key && (rc != CURLE_OK || c.status != 404))
        return store_error(&c, rc, "read", &l, err);
    /* not an object: a "directory" when keys lie under it */
    const char *prefix = dir_prefix(a, &l);
    struct listing ls = { .a = a, .plen = strlen(prefix), .keys_only = true };
    if (list_page(&ls, &l, prefix, false, 1, err))
        return -1;
    if (ls.n)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Artifact path refers to a directory, not a file: '%s'",
                         rel);
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "The artifact does not exist");
}

int s3_check_root(const char *root, char *msg, size_t msg_len)
{
    struct arena a;
    arena_init(&a);
    struct loc l;
    locate(&a, root, "", &l);
    int result = 0;
    if (!*l.bucket) {
        snprintf(msg, msg_len, "%s names no bucket (s3://BUCKET/prefix)", root);
        result = -1;
        goto out;
    }
    struct loc bucket = { l.bucket, "" };
    struct call c = { .a = &a };
    CURLcode rc = perform(&c, "HEAD", object_url(&a, &bucket, NULL), -1, NULL);
    if (rc == CURLE_OK && ok_status(c.status))
        goto out;
    result = -1;
    if (rc != CURLE_OK && !c.status)
        snprintf(msg, msg_len, "cannot reach the artifact store at %s for bucket '%s': %s", cfg.endpoint, l.bucket,
                 curl_easy_strerror(rc));
    else if (c.status == 404)
        snprintf(msg, msg_len, "the bucket '%s' does not exist at %s (create it, or check MLFLOW_S3_ENDPOINT_URL)",
                 l.bucket, cfg.endpoint);
    else if (c.status == 403 || c.status == 401)
        snprintf(msg, msg_len, "access to the bucket '%s' at %s is denied (%ld): check AWS_ACCESS_KEY_ID, "
                 "AWS_SECRET_ACCESS_KEY%s", l.bucket, cfg.endpoint, c.status,
                 cfg.token ? " and AWS_SESSION_TOKEN" : " (and AWS_SESSION_TOKEN for temporary credentials)");
    else
        snprintf(msg, msg_len, "the bucket '%s' at %s answered %ld", l.bucket, cfg.endpoint, c.status);
out:
    arena_free(&a);
    return result;
}

/* ---- orphaned multipart uploads: a server killed mid-upload (or a
 * client that opened a direct upload and never came back) leaves parts
 * that S3 keeps, and bills, until the upload is aborted ---- */

struct pending_upload {
    const char *key, *upload_id;
    time_t initiated;   /* 0: no date the store gave could be read */
};

struct upload_listing {
    struct arena *a;
    struct pending_upload cur, *v;
    size_t n, cap;
    bool truncated;
    const char *next_key, *next_id;
};

/* "2026-12-03T19:04:05.000Z" (S3's ISO 8601, UTC) */
static time_t parse_iso8601(const char *s)
{
    struct tm tm = { 0 };
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : t;
}

static void uploads_elem(void *ctx, const char *path, const char *text)
{
    struct upload_listing *ul = ctx;
    if (!strcmp(path, "ListMultipartUploadsResult/Upload/Key")) {
        ul->cur.key = arena_strdup(ul->a, text);
    } else if (!strcmp(path, "ListMultipartUploadsResult/Upload/UploadId")) {
        ul->cur.upload_id = arena_strdup(ul->a, text);
    } else if (!strcmp(path, "ListMultipartUploadsResult/Upload/Initiated")) {
        ul->cur.initiated = parse_iso8601(text);
    } else if (!strcmp(path, "ListMultipartUploadsResult/Upload")) {
        if (ul->cur.key && ul->cur.upload_id && *ul->cur.upload_id) {
            if (ul->n == ul->cap) {
                size_t cap = ul->cap ? 2 * ul->cap : 64;
                ul->v = ul->v ? arena_grow(ul->a, ul->v, ul->cap * sizeof *ul->v, cap * sizeof *ul->v)
                              : arena_alloc(ul->a, cap * sizeof *ul->v);
                ul->cap = cap;
            }
            ul->v[ul->n++] = ul->cur;
        }
        memset(&ul->cur, 0, sizeof ul->cur);
    } else if (!strcmp(path, "ListMultipartUploadsResult/IsTruncated")) {
        ul->truncated = !strcmp(text, "true");
    } else if (!strcmp(path, "ListMultipartUploadsResult/NextKeyMarker")) {
        ul->next_key = arena_strdup(ul->a, text);
    } else if (!strcmp(path, "ListMultipartUploadsResult/NextUploadIdMarker")) {
        ul->next_id = arena_strdup(ul->a, text);
    }
}

int s3_sweep_uploads(const char *root, long long max_age_s, const volatile int *stop, struct error *err)
{
    struct arena a;
    arena_init(&a);
    struct loc l;
    locate(&a, root, "", &l);
    const char *prefix = dir_prefix(&a, &l);
    time_t bound = time(NULL) - (time_t)max_age_s;
    int aborted = 0, result = 0;
    const char *key_marker = NULL, *id_marker = NULL;
    for (int pages = 0; pages < 100000 && !(stop && *stop); pages++) {
        struct upload_listing ul = { .a = &a };
        struct strbuf q;
        sb_init(&q, &a, 256);
        /* parameters in canonical (byte) order */
        if (key_marker)
            sb_printf(&q, "key-marker=%s&", qval(&a, key_marker));
        sb_printf(&q, "prefix=%s&", qval(&a, prefix));
        if (id_marker)
            sb_printf(&q, "upload-id-marker=%s&", qval(&a, id_marker));
        sb_puts(&q, "uploads=");
        struct loc bucket = { l.bucket, "" };
        struct call c = { .a = &a, .on_elem = uploads_elem, .elem_ctx = &ul };
        if (request(&c, "GET", object_url(&a, &bucket, q.buf), -1, NULL, "list the multipart uploads under", &l,
                    err)) {
            result = -1;
            break;
        }
        for (size_t i = 0; i < ul.n && !(stop && *stop); i++) {
            const struct pending_upload *u = &ul.v[i];
            /* the prefix again: a store that ignores it never makes us touch another's uploads */
            if (strncmp(u->key, prefix, strlen(prefix)) || !u->initiated || u->initiated > bound ||
                open_upload_has(u->upload_id))
                continue;
            struct loc k = { l.bucket, u->key };
            struct error ignored;
            if (!abort_upload(&a, &k, u->upload_id, &ignored))
                aborted++;
        }
        if (!ul.truncated || !ul.next_key ||
            (key_marker && !strcmp(key_marker, ul.next_key) && id_marker && ul.next_id &&
             !strcmp(id_marker, ul.next_id)))
            break;     /* the last page, or a store that does not move on */
        key_marker = ul.next_key;
        id_marker = ul.next_id;
    }
    arena_free(&a);
    return result ? -1 : aborted;
}

/* ---- presigned URLs: SigV4 query signing (AWS's "presigned URL" form),
 * the hashes and HMACs by OpenSSL ---- */

static void hex(char *out, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
}

struct qparam {
    const char *name, *value;   /* both already encoded */
};

static int cmp_qparam(const void *x, const void *y)
{
    return strcmp(((const struct qparam *)x)->name, ((const struct qparam *)y)->name);
}

const char *s3_presign(struct arena *a, const char *root, const char *rel, const struct s3_presign_opts *o)
{
    const char *upload_id = o->upload_id, *disposition = o->disposition;
    long long part_number = o->part_number, expires_s = o->expires_s;
    struct loc l;
    locate(a, root, rel, &l);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[16], stamp[32];
    strftime(date, sizeof date, "%Y%m%d", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const char *scope = arena_printf(a, "%s/%s/s3/aws4_request", date, cfg.region);
    struct qparam q[9];
    size_t nq = 0;
    if (cfg.key_id) {
        q[nq++] = (struct qparam){ "X-Amz-Algorithm", "AWS4-HMAC-SHA256" };
        q[nq++] = (struct qparam){ "X-Amz-Credential", qval(a, arena_printf(a, "%s/%s", cfg.key_id, scope)) };
        q[nq++] = (struct qparam){ "X-Amz-Date", stamp };
        q[nq++] = (struct qparam){ "X-Amz-Expires", arena_printf(a, "%lld", expires_s) };
        if (cfg.token)
            q[nq++] = (struct qparam){ "X-Amz-Security-Token", qval(a, cfg.token) };
        q[nq++] = (struct qparam){ "X-Amz-SignedHeaders", o->content_type ? "content-type%3Bhost" : "host" };
    }
    if (upload_id) {
        q[nq++] = (struct qparam){ "partNumber", arena_printf(a, "%lld", part_number) };
        q[nq++] = (struct qparam){ "uploadId", qval(a, upload_id) };
    } else if (disposition) {
        q[nq++] = (struct qparam){ "response-content-disposition", qval(a, disposition) };
    }
    qsort(q, nq, sizeof *q, cmp_qparam);
    struct strbuf query;
    sb_init(&query, a, 512);
    for (size_t i = 0; i < nq; i++)
        sb_printf(&query, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
    const char *url = object_url(a, &l, nq ? query.buf : NULL);
    if (!cfg.key_id)
        return url;   /* anonymous: a public bucket needs no signature */
    const char *path = strstr(url, "://") + 3;
    path += strcspn(path, "/");
    /* a Content-Type the PUT must send is signed with the host (MLflow's presigned upload) */
    const char *canonical = arena_printf(a, "%s\n%.*s\n%s\n%s%s%shost:%s\n\n%shost\nUNSIGNED-PAYLOAD",
                                         o->put ? "PUT" : "GET", (int)strcspn(path, "?"), path, query.buf,
                                         o->content_type ? "content-type:" : "",
                                         o->content_type ? o->content_type : "", o->content_type ? "\n" : "",
                                         cfg.host, o->content_type ? "content-type;" : "");
    unsigned char digest[32], k1[32], k2[32], k3[32], k4[32], sig[32];
    char digest_hex[65], sig_hex[65];
    SHA256((const unsigned char *)canonical, strlen(canonical), digest);
    hex(digest_hex, digest, 32);
    const char *to_sign = arena_printf(a, "AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, digest_hex);
    const char *secret = arena_printf(a, "AWS4%s", cfg.secret);
    hmac(secret, strlen(secret), date, k1);
    hmac(k1, 32, cfg.region, k2);
    hmac(k2, 32, "s3", k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, to_sign, sig);
    hex(sig_hex, sig, 32);
    return arena_printf(a, "%s&X-Amz-Signature=%s", url, sig_hex);
}
