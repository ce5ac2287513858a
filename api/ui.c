/* The routes MLflow's web UI calls besides the REST API and GraphQL, each
 * answering as MLflow 3.17's server does when the feature is off or the
 * store is empty (mlflow/server/handlers.py): search-datasets, UI
 * telemetry, the AI-gateway proxy and discovery lists, the assistant, the
 * evaluation-dataset search, presigned URLs, the UI's artifact upload. */
#include "artifacts_api.h"
#include "common.h"
#include "handlers.h"
#include "mime.h"
#include "../store/datasets.h"
#include "../store/logged_models.h"
#include "../store/paths.h"
#include <string.h>

#define SEARCH_DATASETS_MAX_EXPERIMENTS 20   /* MLflow's MAX_EXPERIMENT_IDS_PER_REQUEST */

/* POST experiments/search-datasets: the datasets the experiments' runs used */
int api_search_datasets(struct request *req, struct response *resp, struct error *err)
{
    const char **ids;
    size_t n;
    if (json_get_string_array(req->arena, req->input, "experiment_ids", &ids, &n, err))
        return -1;
    if (n == 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "SearchDatasets request must specify at least one experiment_id.");
    if (n > SEARCH_DATASETS_MAX_EXPERIMENTS)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "SearchDatasets request cannot specify more than %d experiment_ids. Received %zu "
                         "experiment_ids.", SEARCH_DATASETS_MAX_EXPERIMENTS, n);
    int64_t *exp_ids = arena_alloc(req->arena, n * sizeof *exp_ids);
    for (size_t i = 0; i < n; i++)
        if (parse_experiment_id(ids[i], &exp_ids[i], err))
            return -1;
    struct dataset_summary *d;
    size_t nd;
    if (store_search_datasets(req->arena, exp_ids, n, &d, &nd, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    if (nd) {   /* protobuf JSON leaves an empty repeated field out */
        jw_karr(&w, "dataset_summaries");
        for (size_t i = 0; i < nd; i++) {
            jw_obj(&w);
            jw_kstr(&w, "experiment_id", arena_printf(req->arena, "%lld", (long long)d[i].experiment_id));
            jw_kstr(&w, "name", d[i].name);
            jw_kstr(&w, "digest", d[i].digest);
            jw_kstr(&w, "context", d[i].context);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    reply_end(&w);
    return 0;
}

/* GET ui-telemetry: Cairn sends no telemetry, so the UI is told to send none
 * (MLflow's FALLBACK_UI_CONFIG, what it answers with telemetry disabled) */
int api_ui_telemetry_get(struct request *req, struct response *resp, struct error *err)
{
    sb_puts(&resp->body, "{\"disable_ui_events\":[],\"disable_ui_telemetry\":true,\"ui_rollout_percentage\":0}");
    return 0;
}

/* POST ui-telemetry: accepted and discarded */
int api_ui_telemetry_post(struct request *req, struct response *resp, struct error *err)
{
    sb_puts(&resp->body, "{\"status\":\"disabled\"}");
    return 0;
}

/* gateway-proxy without MLFLOW_DEPLOYMENTS_TARGET: "Pretend an empty gateway service is running" */
int api_gateway_proxy(struct request *req, struct response *resp, struct error *err)
{
    sb_puts(&resp->body, "{\"endpoints\":[]}");
    return 0;
}

/* The gateway's list routes, the evaluation-dataset search: {} on an empty store */
int api_empty_list(struct request *req, struct response *resp, struct error *err)
{
    return reply_empty(resp);
}

/* assistant/config with no assistant configured */
int api_assistant_config(struct request *req, struct response *resp, struct error *err)
{
    sb_puts(&resp->body, "{\"providers\":{},\"projects\":{},\"remote_access_allowed\":false}");
    return 0;
}

/* assistant/providers: MLflow's list, none of them available on Cairn */
int api_assistant_providers(struct request *req, struct response *resp, struct error *err)
{
    static const struct { const char *name, *display, *description, *delivery; bool remote; } providers[] = {
        { "claude_code", "Claude Code", "AI-powered assistant using Claude Code CLI", "structured", false },
        { "codex", "Codex", "AI-powered assistant using the Codex CLI", "structured", false },
        { "mlflow_gateway", "MLflow AI Gateway",
          "AI-powered assistant backed by an MLflow AI Gateway endpoint configured on this server.", "tool", true },
        { "ollama", "Ollama", "AI-powered assistant using a locally running Ollama server.", "tool", false },
    };
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "providers");
    for (size_t i = 0; i < sizeof providers / sizeof *providers; i++) {
        jw_obj(&w);
        jw_kstr(&w, "name", providers[i].name);
        jw_kstr(&w, "display_name", providers[i].display);
        jw_kstr(&w, "description", providers[i].description);
        jw_kbool(&w, "available", false);
        jw_kbool(&w, "selected", false);
        jw_kbool(&w, "requires_api_key", false);
        jw_kbool(&w, "has_api_key", false);
        jw_kbool(&w, "allows_remote_access", providers[i].remote);
        jw_kstr(&w, "client_tool_delivery", providers[i].delivery);
        jw_karr(&w, "model_options");
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "resolved");
    jw_null(&w);
    jw_kobj(&w, "gateway_vendor_options");
    jw_obj_end(&w);
    reply_end(&w);
    return 0;
}

/* artifacts/presigned-upload-url and presigned-download-url: proxied
 * (mlflow-artifacts:) and local storage have no presigned URLs; a run or
 * logged model stored in Cairn's S3 store has (issue 17) */
static int presigned(struct request *req, struct response *resp, struct error *err, bool upload)
{
    const char *run_id = NULL, *model_id = NULL, *path = NULL;
    if (json_get_string(req->input, "run_id", !upload, &run_id, err) ||
        (upload && json_get_string(req->input, "model_id", false, &model_id, err)) ||
        json_get_string(req->input, "path", true, &path, err))
        return -1;
    if (upload && (run_id && *run_id) == (model_id && *model_id))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Exactly one of run_id and model_id must be provided.");
    const char *uri = NULL;
    if (run_id && *run_id) {
        struct run run;
        if (store_get_run(req->arena, run_id, &run, err))
            return -1;
        uri = run.info.artifact_uri;
    } else {
        struct logged_model m;
        if (store_get_logged_model(req->arena, model_id, false, &m, err))
            return -1;
        uri = m.artifact_location;
    }
    size_t scheme = strcspn(uri, ":");
    if (uri[scheme] == ':' && (!strncmp(uri, "mlflow-artifacts:", 17) || !strncmp(uri, "http:", 5) ||
                               !strncmp(uri, "https:", 6)))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Presigned %s is not supported for %sproxied artifact storage (artifact URI scheme: %.*s). "
                         "This endpoint requires a %sdirect cloud storage artifact URI.",
                         upload ? "upload" : "download", upload ? "" : "runs with ", (int)scheme, uri,
                         upload ? "" : "run with a ");
    /* issue 17: a location in the S3 store Cairn writes to is presigned, as MLflow's S3 repository does */
    const char *roots[2], *root, *base, *rel;
    size_t nr = artifact_roots(roots);
    int where = artifact_uri_to_local(req->arena, uri, api_config.artifacts_destination, roots, nr, &root, &base,
                                      err);
    if (where < 0)
        return -1;
    if (where > 0 || !artifact_root_is_remote(root))
        return error_set(err, ERR_NOT_IMPLEMENTED, "The artifact repository for '%s' does not support presigned "
                         "%ss.", uri, upload ? "upload" : "download");
    int64_t expiration = upload ? 900 : 300;
    bool has_expiration;
    if (path_sanitize(req->arena, path, &rel, err) ||
        json_get_int64(req->input, "expiration", false, &expiration, &has_expiration, err))
        return -1;
    if (expiration < 1 || expiration > 604800)   /* S3's bound (MLflow checks it for downloads) */
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "expiration must be between 1 and 604800 seconds (got "
                         "%lld).", (long long)expiration);
    const char *key = *base ? (*rel ? arena_printf(req->arena, "%s/%s", base, rel) : base) : rel, *url;
    long long size = 0;
    const char *slash = strrchr(rel, '/'), *type = mime_guess(slash ? slash + 1 : rel);
    if (upload ? artifact_presign_put(req->arena, root, key, type, expiration, &url, err)
               : artifact_presign_get(req->arena, root, key, expiration, &url, &size, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "presigned_url", url);
    jw_kobj(&w, "headers");
    if (upload)
        jw_kstr(&w, "Content-Type", type);
    jw_obj_end(&w);
    if (!upload)
        jw_kint64(&w, "file_size", size);
    reply_end(&w);
    return 0;
}

int api_presigned_upload_url(struct request *req, struct response *resp, struct error *err)
{
    return presigned(req, resp, err, true);
}

int api_presigned_download_url(struct request *req, struct response *resp, struct error *err)
{
    return presigned(req, resp, err, false);
}

/* ---- POST upload-artifact?run_uuid=…&path=…: the raw body becomes a run
 * artifact (MLflow's upload_artifact_handler, 10 MB at most) ---- */

#define UPLOAD_ARTIFACT_MAX (10LL * 1024 * 1024)

struct capped_reader {
    struct body_reader *body;
    long long seen;
    bool too_big;
};

static long long capped_read(void *ctx, char *buf, size_t len)
{
    struct capped_reader *c = ctx;
    long long n = c->body->read(c->body->ctx, buf, len);
    if (n > 0 && (c->seen += n) > UPLOAD_ARTIFACT_MAX) {
        c->too_big = true;
        return -1;   /* artifact_put removes its temp file */
    }
    return n;
}

static int too_large(struct error *err)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Artifact size is too large. Max size is 10MB.");
}

int api_upload_artifact(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id = query_value(req, "run_uuid"), *path = query_value(req, "path"), *rel;
    if (!run_id || !*run_id)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Request must specify run_uuid.");
    if (!path || !*path)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Request must specify path.");
    if (path_sanitize(req->arena, path, &rel, err))
        return -1;
    if (!*rel)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path");
    if (req->body.content_length > UPLOAD_ARTIFACT_MAX)
        return too_large(err);
    if (req->body.content_length == 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Request must specify data.");
    struct run run;
    if (store_get_run(req->arena, run_id, &run, err))
        return -1;
    const char *roots[2], *root, *base;
    size_t nr = artifact_roots(roots);
    int where = artifact_uri_to_local(req->arena, run.info.artifact_uri, api_config.artifacts_destination, roots,
                                      nr, &root, &base, err);
    if (where < 0)
        return -1;
    if (where > 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Artifacts at '%s' are not served by this server",
                         run.info.artifact_uri);
    struct capped_reader c = { &req->body, 0, false };
    if (artifact_put(req->arena, root, *base ? arena_printf(req->arena, "%s/%s", base, rel) : rel, capped_read, &c,
                     req->body.content_length, err)) {
        return c.too_big ? too_large(err) : -1;
    }
    (void)resp;   /* MLflow answers 200 with an empty application/json body */
    return 0;
}
