#ifndef CAIRN_HTTP_H
#define CAIRN_HTTP_H
#include <stdbool.h>
#include <stddef.h>

struct http_options {
    const char *host;
    int port;
    int workers;
    size_t max_body;                 /* JSON body limit (413 above) */
    const char **allowed_hosts;      /* fnmatch patterns; NULL: MLflow's defaults */
    size_t n_allowed_hosts;
    const char **cors_origins;       /* exact or fnmatch patterns */
    size_t n_cors_origins;
    const char *static_prefix;       /* "" or "/prefix" */
    bool artifacts_only;
    int head_timeout_s;              /* issue 15: request head deadline (front end) */
    int body_timeout_s;              /* longest wait for the next body bytes */
    int max_per_client;              /* open connections per client address; 0: no cap */
    bool serve_artifacts;
};

/* Starts listening; returns the bound port, or -1 with a message on stderr. */
int  http_start(const struct http_options *opts);
/* Stops accepting work, waits up to timeout_ms for in-flight requests, stops. */
void http_drain_and_stop(int timeout_ms);
#endif
