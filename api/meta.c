/* /health, /version, server-info. */
#include "common.h"
#include "handlers.h"
#include "../store/artifacts.h"

/* The pinned client's version: 3.4 and later send spans over OTLP (/v1/traces, api/otlp.c). */
struct api_config api_config = { .version = "3.17.2", .serve_artifacts = true };

int api_health(struct request *req, struct response *resp, struct error *err)
{
    (void)req; (void)err;
    resp->content_type = "text/html; charset=utf-8";   /* Flask's default, as MLflow's */
    sb_puts(&resp->body, "OK");
    return 0;
}

int api_version(struct request *req, struct response *resp, struct error *err)
{
    (void)req; (void)err;
    resp->content_type = "text/html; charset=utf-8";
    sb_puts(&resp->body, api_config.version);
    return 0;
}

int api_server_info(struct request *req, struct response *resp, struct error *err)
{
    (void)req; (void)err;
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "store_type", "SqlStore");
    jw_kbool(&w, "workspaces_enabled", false);
    /* the rest of MLflow 3.17's fields (issue 12): no trace archival, no
     * multipart or presigned transfers through this server, no AI gateway */
    jw_kbool(&w, "trace_archival_enabled", false);
    /* issue 17: as MLflow advertises its S3 repository (multipart upload and
     * presigned download mixins) when it proxies artifacts */
    bool direct = api_config.serve_artifacts && artifact_root_is_remote(api_config.artifacts_destination);
    jw_kbool(&w, "multipart_uploads_enabled", direct);
    jw_kbool(&w, "multipart_downloads_enabled", direct);
    jw_kbool(&w, "presigned_upload_run_id_supported", true);
    jw_kbool(&w, "presigned_upload_model_id_supported", true);
    jw_kobj(&w, "features_enabled");
    jw_kbool(&w, "gateway", false);
    jw_obj_end(&w);
    reply_end(&w);
    return 0;
}
