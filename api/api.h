/* The request/response contract between server/ (civetweb) and api/
 * (the MLflow protocol). No civetweb below this line: a handler sees a
 * struct request and fills a struct response. */
#ifndef CAIRN_API_H
#define CAIRN_API_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "../store/arena.h"
#include "../store/error.h"

#define API_MAX_PATH_PARAMS 4

struct query_param {
    const char *key, *value;       /* percent-decoded */
};

/* Streaming body access for routes that must not buffer (artifacts). */
struct body_reader {
    void *ctx;
    long long (*read)(void *ctx, char *buf, size_t len);   /* <0 error, 0 end */
    long long content_length;                               /* -1 if unknown */
};
struct body_writer {
    void *ctx;
    /* length -1: chunked transfer encoding, closed by end() */
    int (*begin)(void *ctx, int status, const char *content_type, long long length,
                 const char *extra_headers);
    int (*write)(void *ctx, const char *buf, size_t len);  /* <0: client gone */
    int (*end)(void *ctx);                                  /* the last chunk */
    void (*abort)(void *ctx);                               /* cut the reply: close the connection */
};

struct request {
    struct arena *arena;
    const char *method;
    const char *path;                 /* decoded path, without the query */
    const char *path_params[API_MAX_PATH_PARAMS];
    int n_path_params;
    struct query_param *query;
    size_t n_query;
    const char *content_type;
    /* For JSON routes: the input as one object. POST/PATCH/DELETE: the parsed
     * body; GET: the query parameters (a repeated key becomes an array). */
    cJSON *input;
    struct body_reader body;          /* for streaming routes */
    struct body_writer out;           /* any handler may stream its reply; set streamed */
    bool streamed;                    /* set by a handler that wrote its own reply */
    /* issue 14: any request header by name (case-insensitive), NULL if absent */
    const char *(*header)(const struct request *req, const char *name);
    void *header_ctx;
};

struct response {
    int status;
    const char *content_type;
    struct strbuf body;
};

/* A handler fills resp->body (JSON) and returns 0, or sets err and returns -1. */
typedef int (*api_handler)(struct request *req, struct response *resp, struct error *err);

/* Route flags */
enum {
    ROUTE_JSON = 1,        /* parse a JSON body (POST/PATCH/DELETE) */
    ROUTE_STREAM = 2,      /* handler reads/writes the body itself */
    ROUTE_TEXT = 4,        /* plain-text reply */
    ROUTE_ARTIFACTS = 8,   /* disabled under --no-serve-artifacts */
    ROUTE_TRACKING = 16,   /* disabled under --artifacts-only */
};

struct route {
    const char *method;
    const char *pattern;   /* "/api/2.0/mlflow/runs/get"; "{x}" is one segment, "{x*}" the rest */
    api_handler handler;
    int flags;
};

extern const struct route api_routes[];
extern const size_t api_routes_count;

/* Errors: one table maps codes to names and HTTP statuses. */
const char *error_code_name(enum err_code code);
int error_http_status(enum err_code code);
void error_to_json(const struct error *err, struct strbuf *out);

/* Server-wide settings handlers need (filled by server/ at start-up). */
struct api_config {
    const char *default_artifact_root;    /* e.g. "mlflow-artifacts:" or "file:///…" */
    const char *artifacts_destination;    /* local directory behind mlflow-artifacts: */
    bool serve_artifacts;
    const char *version;                  /* what /version answers */
};
extern struct api_config api_config;
#endif
