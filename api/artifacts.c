/* The artifact proxy (/api/2.0/mlflow-artifacts/…, as `mlflow server
 * --serve-artifacts`) and the tracking ListArtifacts. Bytes stream between
 * the socket and store/artifacts.c; every path goes through path_sanitize
 * and only its canonical result is used. */
#include "common.h"
#include "handlers.h"
#include "artifacts_api.h"
#include "trace_data.h"
#include "mime.h"
#include "../store/artifacts.h"
#include "../store/paths.h"
#include "../store/registry.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- helpers shared with logged_models.c (artifacts_api.h) ---- */

const char *query_value(const struct request *req, const char *key)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (!strcmp(req->query[i].key, key))
            return req->query[i].value;
    return NULL;
}

size_t artifact_roots(const char *roots[2])
{
    size_t n = 0;
    if (api_config.artifacts_destination)
        roots[n++] = api_config.artifacts_destination;
    if (api_config.default_artifact_root)
        roots[n++] = api_config.default_artifact_root;
    return n;
}

int check_artifact_location(struct arena *a, const char *uri, struct error *err)
{
    const char *roots[2];
    size_t n = artifact_roots(roots);
    return artifact_uri_check(a, uri, roots, n, err);
}

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* RFC 6266 attachment header, as MLflow builds it: a bare token when it can
 * be, else a quoted string; non-ASCII names add filename*=UTF-8''…. */
static const char *content_disposition(struct arena *a, const char *name)
{
    bool token = *name != '\0', ascii = true;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        token &= is_token_char(*p);
        ascii &= *p < 0x80;
    }
    struct strbuf sb;
    sb_init(&sb, a, 2 * strlen(name) + 64);
    sb_puts(&sb, "Content-Disposition: attachment; filename=");
    if (token) {
        sb_puts(&sb, name);
    } else {
        sb_putc(&sb, '"');
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if (*p >= 0x80)
                continue;          /* the ASCII fallback drops what it cannot spell */
            if (*p == '"' || *p == '\\')
                sb_putc(&sb, '\\');
            sb_putc(&sb, (char)*p);
        }
        sb_putc(&sb, '"');
    }
    if (!ascii) {
        sb_puts(&sb, "; filename*=UTF-8''");
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                strchr("!#$&+-.^_`|~", *p))
                sb_putc(&sb, (char)*p);
            else
                sb_printf(&sb, "%%%02X", *p);
        }
    }
    sb_puts(&sb, "\r\n");
    return sb.buf;
}

int send_artifact(struct request *req, const char *root, const char *rel, struct error *err)
{
    struct artifact_file f;
    if (artifact_open(req->arena, root, rel, &f, err))
        return -1;
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    req->streamed = true;
    if (req->out.begin(req->out.ctx, 200, mime_guess(base), f.size,
                       content_disposition(req->arena, base)) < 0) {
        artifact_close(&f);
        return 0;
    }
    artifact_send(&f, req->out.write, req->out.ctx);   /* a client gone mid-way just ends the reply */
    return 0;
}

int send_location_file(struct request *req, const char *location, const char *path, struct error *err)
{
    const char *rel, *root, *base;
    if (path_sanitize(req->arena, path, &rel, err))
        return -1;
    const char *roots[2];
    size_t nr = artifact_roots(roots);
    int where = artifact_uri_to_local(req->arena, location, api_config.artifacts_destination, roots, nr, &root,
                                      &base, err);
    if (where < 0)
        return -1;
    if (where > 0)   /* s3://, …: stored as given, never opened by this server */
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Artifacts at '%s' are not served by this server",
                         location);
    if (!*rel)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Artifact path refers to a directory, not a file: ''");
    return send_artifact(req, root, *base ? arena_printf(req->arena, "%s/%s", base, rel) : rel, err);
}

void write_file_infos(struct jw *w, const char *prefix, const struct artifact_entry *e, size_t n)
{
    if (!n)
        return;
    jw_karr(w, "files");
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        if (prefix && *prefix) {
            jw_key(w, "path");
            struct strbuf sb;
            sb_init(&sb, w->sb->arena, strlen(prefix) + strlen(e[i].name) + 2);
            sb_printf(&sb, "%s/%s", prefix, e[i].name);
            jw_str(w, sb.buf);
        } else {
            jw_kstr(w, "path", e[i].name);
        }
        jw_kbool(w, "is_dir", e[i].is_dir);
        if (!e[i].is_dir && e[i].size)   /* FileInfo.to_proto leaves 0 out */
            jw_kint64(w, "file_size", e[i].size);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

int list_location(struct request *req, struct response *resp, const char *root_uri, const char *sub,
                  struct error *err)
{
    const char *rel_sub = "", *root, *rel;
    if (sub && path_sanitize(req->arena, sub, &rel_sub, err))
        return -1;
    const char *roots[2];
    size_t nr = artifact_roots(roots);
    struct artifact_entry *e = NULL;
    size_t n = 0;
    int where = artifact_uri_to_local(req->arena, root_uri, api_config.artifacts_destination, roots, nr, &root,
                                      &rel, err);
    if (where < 0)
        return -1;
    if (where == 0) {
        const char *full = *rel_sub ? (*rel ? arena_printf(req->arena, "%s/%s", rel, rel_sub) : rel_sub) : rel;
        if (artifact_list(req->arena, root, full, &e, &n, err))
            return -1;
    }
    /* where == 1: a location this server never opens (s3://, …): no files */
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "root_uri", root_uri);
    write_file_infos(&w, rel_sub, e, n);
    reply_end(&w);
    return 0;
}

/* ---- /api/2.0/mlflow-artifacts/artifacts ---- */

static int proxy_path(struct request *req, const char **rel, struct error *err)
{
    return path_sanitize(req->arena, req->n_path_params ? req->path_params[0] : "", rel, err);
}

int api_artifact_upload(struct request *req, struct response *resp, struct error *err)
{
    const char *rel;
    if (proxy_path(req, &rel, err))
        return -1;
    /* issue 14: a trace's traces.json is also read into PostgreSQL (api/trace_data.c) */
    struct trace_data_upload td;
    bool trace_data = trace_data_begin(req, rel, &td);
    int rc = artifact_put(req->arena, api_config.artifacts_destination, rel, req->body.read, req->body.ctx,
                          req->body.content_length, err);
    if (trace_data)
        trace_data_end(req, &td, rc == 0);
    if (rc)
        return -1;
    resp->content_type = NULL;   /* MLflow answers 200 with an empty body and no Content-Type */
    return 0;
}

int api_artifact_download(struct request *req, struct response *resp, struct error *err)
{
    (void)resp;
    const char *rel;
    if (proxy_path(req, &rel, err))
        return -1;
    return send_artifact(req, api_config.artifacts_destination, rel, err);
}

int api_artifact_delete(struct request *req, struct response *resp, struct error *err)
{
    const char *rel;
    if (proxy_path(req, &rel, err))
        return -1;
    if (!*rel)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path");   /* never the whole store */
    if (artifact_delete(req->arena, api_config.artifacts_destination, rel, err))
        return -1;
    return reply_empty(resp);
}

int api_artifact_list(struct request *req, struct response *resp, struct error *err)
{
    const char *path = query_value(req, "path"), *rel = "";
    if (path && path_sanitize(req->arena, path, &rel, err))
        return -1;
    struct artifact_entry *e;
    size_t n;
    if (artifact_list(req->arena, api_config.artifacts_destination, rel, &e, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    write_file_infos(&w, NULL, e, n);   /* basenames, as MLflow's proxy lists */
    reply_end(&w);
    return 0;
}

/* Multipart upload and presigned URLs (issue 17): with an s3:// destination
 * the client PUTs the parts straight to the store on URLs presigned here;
 * MLflow's local repository supports neither and answers 501, on which the
 * client falls back to one PUT. The object is <path>/<basename of the
 * client's "path">, as MLflow's S3ArtifactRepository names it. */
static int mpu_target(struct request *req, const char **rel, const char **upload_id, bool id_required,
                      struct error *err)
{
    const char *dir, *path, *base_rel;
    if (proxy_path(req, &dir, err) || json_get_string(req->input, "path", true, &path, err) ||
        json_get_string(req->input, "upload_id", id_required, upload_id, err))
        return -1;
    const char *slash = strrchr(path, '/');
    if (path_sanitize(req->arena, slash ? slash + 1 : path, &base_rel, err))
        return -1;
    if (!*base_rel)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path");
    *rel = *dir ? arena_printf(req->arena, "%s/%s", dir, base_rel) : base_rel;
    return 0;
}

/* An upload id or ETag goes to the store as given (query, XML): what the
 * store itself issues is printable ASCII, so anything else is refused
 * here rather than answered by the store with a 5xx the client retries */
static int store_token_or_error(const char *field, const char *v, size_t max, struct error *err)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++, n++)
        if (*p < 0x21 || *p > 0x7e || n >= max)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value for '%s': at most %zu printable "
                             "ASCII characters", field, max);
    return n ? 0 : error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter '%s'.", field);
}

int api_artifact_mpu_create(struct request *req, struct response *resp, struct error *err)
{
    int64_t n_parts = 0;
    bool present;
    const char *rel, *unused, *upload_id;
    struct artifact_mpu_url *urls = NULL;
    if (json_get_int64(req->input, "num_parts", false, &n_parts, &present, err) ||
        mpu_target(req, &rel, &unused, false, err))
        return -1;
    if (!artifact_root_is_remote(api_config.artifacts_destination))
        return artifact_mpu_create(req->arena, api_config.artifacts_destination, rel, 0, NULL, NULL, err);
    if (n_parts < 0 || n_parts > 10000)   /* S3's bound; MLflow passes it on to S3 */
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "num_parts must be between 1 and 10000, got %lld",
                         (long long)n_parts);
    if (artifact_mpu_create(req->arena, api_config.artifacts_destination, rel, n_parts, &upload_id, &urls, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "credentials");
    for (int64_t i = 0; i < n_parts; i++) {
        jw_obj(&w);
        jw_kstr(&w, "url", urls[i].url);
        jw_kint64(&w, "part_number", urls[i].part_number);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_kstr(&w, "upload_id", upload_id);
    reply_end(&w);
    return 0;
}

int api_artifact_mpu_complete(struct request *req, struct response *resp, struct error *err)
{
    const char *rel = NULL, *upload_id = NULL;
    const cJSON *first;
    size_t n;
    if (mpu_target(req, &rel, &upload_id, false, err))
        return -1;
    if (!cJSON_GetObjectItemCaseSensitive(req->input, "parts"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'parts'. "
                         "See the API docs for more information about request parameters.");
    if (json_get_object_array(req->input, "parts", &first, &n, err))
        return -1;
    if (!artifact_root_is_remote(api_config.artifacts_destination))
        return artifact_mpu_complete(req->arena, api_config.artifacts_destination, rel, upload_id, NULL, 0, err);
    if (store_token_or_error("upload_id", upload_id ? upload_id : "", 1024, err))
        return -1;
    /* S3's rules for CompleteMultipartUpload, checked before the store sees them */
    if (n < 1 || n > 10000)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "'parts' must hold 1 to 10000 parts, got %zu", n);
    struct artifact_part *parts = arena_alloc(req->arena, n * sizeof *parts);
    size_t i = 0;
    for (const cJSON *e = first; e; e = e->next, i++) {
        int64_t number = 0;
        bool has_number;
        if (json_get_int64(e, "part_number", false, &number, &has_number, err) ||
            json_get_string(e, "etag", false, &parts[i].etag, err))
            return -1;
        if (!has_number || number < 1 || number > 10000)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "parts[%zu].part_number must be between 1 and "
                             "10000", i);
        if (i && number <= parts[i - 1].part_number)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "parts must be listed in ascending part_number "
                             "order, each once");
        if (store_token_or_error("etag", parts[i].etag ? parts[i].etag : "", 1024, err))
            return -1;
        parts[i].part_number = number;
    }
    if (artifact_mpu_complete(req->arena, api_config.artifacts_destination, rel, upload_id, parts, n, err))
        return -1;
    return reply_empty(resp);
}

int api_artifact_mpu_abort(struct request *req, struct response *resp, struct error *err)
{
    const char *rel = NULL, *upload_id = NULL;
    if (mpu_target(req, &rel, &upload_id, false, err))
        return -1;
    if (!artifact_root_is_remote(api_config.artifacts_destination))
        return artifact_mpu_abort(req->arena, api_config.artifacts_destination, rel, upload_id, err);
    if (store_token_or_error("upload_id", upload_id ? upload_id : "", 1024, err))
        return -1;
    if (artifact_mpu_abort(req->arena, api_config.artifacts_destination, rel, upload_id, err))
        return -1;
    return reply_empty(resp);
}

/* GET mlflow-artifacts/presigned/<path>: {"url", "headers", "file_size"}
 * (MLflow's PresignedDownloadUrlResponse.to_dict; its default lifetime,
 * MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS, is 300 s) */
int api_artifact_presigned(struct request *req, struct response *resp, struct error *err)
{
    const char *rel, *url;
    long long size;
    if (proxy_path(req, &rel, err) ||
        artifact_presign_get(req->arena, api_config.artifacts_destination, rel, 300, &url, &size, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "url", url);
    jw_kobj(&w, "headers");
    jw_obj_end(&w);
    jw_kint64(&w, "file_size", size);
    reply_end(&w);
    return 0;
}

/* ---- GET /api/2.0/mlflow/artifacts/list (tracking ListArtifacts) ----
 * It has a page_token field, but MLflow's server never pages a listing of a
 * served location: it checks the type and lists everything. */

int api_list_artifacts(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id, *path = NULL, *token = NULL;
    if (get_run_id(req->input, &run_id, err) || json_get_string(req->input, "path", false, &path, err) ||
        json_get_string(req->input, "page_token", false, &token, err))
        return -1;
    struct run run;
    if (store_get_run(req->arena, run_id, &run, err))
        return -1;
    return list_location(req, resp, run.info.artifact_uri, path, err);
}

/* ---- the UI's artifact routes (MLflow's get_artifact_handler and
 * get_model_version_artifact_handler): validate the path first, then
 * resolve the stored location, and serve it as an attachment ---- */

int api_get_artifact(struct request *req, struct response *resp, struct error *err)
{
    (void)resp;
    const char *run_id = query_value(req, "run_id"), *path = query_value(req, "path"), *rel;
    if (!run_id || !*run_id)
        run_id = query_value(req, "run_uuid");
    if (!path)
        return json_missing("path", err);
    if (path_sanitize(req->arena, path, &rel, err))
        return -1;
    if (!run_id || !*run_id)
        return json_missing("run_id", err);
    struct run run;
    if (store_get_run(req->arena, run_id, &run, err))
        return -1;
    return send_location_file(req, run.info.artifact_uri, rel, err);
}

/* issue 20: runs:/<run_id>/<path> is <the run's artifact_uri>/<path>
 * (MLflow's server reaches the same through its RunsArtifactRepository) */
static int resolve_runs_uri(struct arena *a, const char *uri, const char **out, struct error *err)
{
    const char *p = uri + strlen("runs:/");
    while (*p == '/')
        p++;
    size_t id_len = strcspn(p, "/");
    const char *sub = p + id_len;
    while (*sub == '/')
        sub++;
    struct run run;
    if (store_get_run(a, arena_strndup(a, p, id_len), &run, err))
        return -1;
    size_t n = strlen(run.info.artifact_uri);
    while (n && run.info.artifact_uri[n - 1] == '/')
        n--;
    *out = *sub ? arena_printf(a, "%.*s/%s", (int)n, run.info.artifact_uri, sub) : run.info.artifact_uri;
    return 0;
}

int api_get_model_version_artifact(struct request *req, struct response *resp, struct error *err)
{
    (void)resp;
    const char *name = query_value(req, "name"), *version = query_value(req, "version");
    const char *path = query_value(req, "path"), *rel;
    if (!path)
        return json_missing("path", err);
    if (path_sanitize(req->arena, path, &rel, err))
        return -1;
    if (!name || !*name)
        return json_missing("name", err);
    if (!version || !*version)
        return json_missing("version", err);
    char *end;
    long long v = strtoll(version, &end, 10);
    if (*end || v <= 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Parameter 'version' must be an integer, got '%s'.",
                         version);
    struct model_version mv;
    if (store_get_model_version(req->arena, name, v, &mv, err))
        return -1;
    const char *location = mv.storage_location && *mv.storage_location ? mv.storage_location : mv.source;
    if (!strncmp(location, "runs:/", 6) && resolve_runs_uri(req->arena, location, &location, err))
        return -1;
    return send_location_file(req, location, rel, err);
}
