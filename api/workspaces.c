/* /api/3.0/mlflow/workspaces…: Cairn has one workspace ("default") and no
 * workspace store, so these routes answer as `mlflow server` started without
 * --enable-workspaces does: 503 with its plain-text message naming the URL
 * rule, which clients print as it is. */
#include "handlers.h"
#include <string.h>

int api_workspaces_disabled(struct request *req, struct response *resp, struct error *err)
{
    (void)err;
    const char *path = req->original_path ? req->original_path : req->path;
    const char *ws = strstr(path, "/workspaces/");
    size_t keep = ws ? (size_t)(ws - path) + strlen("/workspaces/") : strlen(path);
    resp->status = 503;
    resp->content_type = "text/html; charset=utf-8";   /* a plain Flask Response, as MLflow's */
    sb_printf(&resp->body, "Endpoint: %.*s%s disabled because the server is running without workspaces "
              "support. To enable workspace, run `mlflow server` with `--enable-workspaces`",
              (int)keep, path, ws ? "<workspace_name>" : "");
    return 0;
}
