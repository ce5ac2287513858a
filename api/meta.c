/* /health, /version, server-info, and the OTLP endpoint we do not serve yet. */
#include "common.h"
#include "handlers.h"

/* Below 3.4 so that the client does not send spans over OTLP: tracing is
 * not implemented yet (see README). */
struct api_config api_config = { .version = "3.3.2", .serve_artifacts = true };

int api_health(struct request *req, struct response *resp, struct error *err)
{
    (void)req; (void)err;
    resp->content_type = "text/plain; charset=utf-8";
    sb_puts(&resp->body, "OK");
    return 0;
}

int api_version(struct request *req, struct response *resp, struct error *err)
{
    (void)req; (void)err;
    resp->content_type = "text/plain; charset=utf-8";
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
    reply_end(&w);
    return 0;
}

int api_otlp_traces(struct request *req, struct response *resp, struct error *err)
{
    (void)req; (void)err;
    resp->status = 501;
    sb_puts(&resp->body, "{\"detail\":\"REST OTLP span logging is not supported by Cairn\"}");
    return 0;
}
