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

struct auth_user {                    /* issue 16 */
    int64_t id;
    const char *username;
    bool is_admin;
};

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
    const char *original_path;        /* as requested (before /ajax-api/ became /api/) */
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
    const struct auth_user *user;     /* issue 16: the authenticated caller; NULL when auth is off */
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
    ROUTE_AUTH_APP = 32,   /* only with --app-name basic-auth (404 otherwise, as MLflow) */
};

/* ---- issue 16: authentication and permissions ----
 * Every route names the permission rule a non-admin caller must pass
 * (server/auth.c and api/auth_rules.c apply them; MLflow's validator names in
 * mlflow/server/auth/__init__.py). A route without a rule (AUTH_RULE_MISSING,
 * the zero value) stops the server at start-up. */
enum auth_rule {
    AUTH_RULE_MISSING = 0,
    AUTH_PUBLIC,              /* no credentials asked (/health, server-info) */
    AUTH_ANY_USER,            /* any authenticated user */
    AUTH_ADMIN,               /* admins only */
    AUTH_EXP_CREATE, AUTH_EXP_READ, AUTH_EXP_READ_BY_NAME, AUTH_EXP_UPDATE, AUTH_EXP_DELETE,
    AUTH_EXP_SEARCH,          /* results filtered to readable experiments */
    AUTH_RUN_CREATE, AUTH_RUN_READ, AUTH_RUN_UPDATE, AUTH_RUN_DELETE,
    AUTH_RUN_LOG,             /* update on the run and on every logged model named (model_id) */
    AUTH_RUN_SEARCH,          /* experiment_ids reduced to readable ones */
    AUTH_METRIC_BULK,         /* read on every run_id / run_ids */
    AUTH_RUN_ARTIFACT_READ,   /* get-artifact: run_id or run_uuid */
    AUTH_MV_ARTIFACT_READ,    /* model-versions/get-artifact: name */
    AUTH_ARTIFACT_READ, AUTH_ARTIFACT_UPDATE, AUTH_ARTIFACT_DELETE,   /* mlflow-artifacts proxy paths */
    AUTH_LM_CREATE, AUTH_LM_READ, AUTH_LM_UPDATE, AUTH_LM_DELETE,
    AUTH_LM_SEARCH,           /* results filtered to readable experiments */
    AUTH_RM_CREATE, AUTH_RM_READ, AUTH_RM_UPDATE, AUTH_RM_DELETE,
    AUTH_RM_SEARCH,           /* results filtered to readable models and prompts */
    AUTH_MV_CREATE, AUTH_MV_READ, AUTH_MV_UPDATE, AUTH_MV_DELETE,
    AUTH_MV_SEARCH,           /* results filtered */
    AUTH_ALIAS_SET, AUTH_ALIAS_DELETE,
    AUTH_USER_SELF,           /* the username parameter is the caller */
    AUTH_USER_LIST, AUTH_USER_CREATE,
    AUTH_ROLES_MANAGE, AUTH_ROLES_VIEW, AUTH_ROLES_LIST, AUTH_USER_ROLES_VIEW,
    AUTH_RESOURCE_MANAGE,     /* users/permissions/grant|revoke: MANAGE on the resource */
    AUTH_USER_PERMISSION_GET,
    AUTH_OTLP_TRACES,         /* create a trace in the X-Mlflow-Experiment-Id experiment */
    AUTH_TRACE_START, AUTH_TRACE_READ, AUTH_TRACE_UPDATE, AUTH_TRACE_DELETE,
    AUTH_TRACE_BATCH_READ,    /* read on every trace_ids' experiment */
    AUTH_TRACE_SEARCH,        /* read on every location's experiment */
    AUTH_TRACE_LINK_RUN,      /* update on the run, read on every trace */
    AUTH_TRACE_START_V2,      /* create a trace in experiment_id */
    AUTH_TRACE_SEARCH_IDS,    /* read on the trace tier of every experiment_ids */
    AUTH_EXP_IDS_READ,        /* read on every experiment_ids (search-datasets) */
    AUTH_PRESIGNED_UPLOAD,    /* update on the run_id's run or the model_id's logged model */
    AUTH_ASSESSMENT_CREATE, AUTH_ASSESSMENT_READ, AUTH_ASSESSMENT_UPDATE, AUTH_ASSESSMENT_DELETE,
    /* issue 21: evaluation datasets take their permissions from their experiments */
    AUTH_DATASET_CREATE,      /* update on every experiment_ids (none: denied) */
    AUTH_DATASET_SEARCH,      /* read on every experiment_ids (none: denied) */
    AUTH_DATASET_READ, AUTH_DATASET_UPDATE, AUTH_DATASET_DELETE,   /* on every linked experiment */
    AUTH_DATASET_ADD_EXPERIMENTS,   /* update on the dataset and on every experiment added */
    AUTH_GENAI_EVALUATE_INVOKE,     /* update on experiment_id */
    /* issue 16: scorers have their own tier, keyed "<experiment_id>/<quoted name>" */
    AUTH_SCORER_REGISTER,     /* update on experiment_id, the scorer and its versions not denied */
    AUTH_SCORER_LIST,         /* read on experiment_id when given; rows filtered (experiment, scorer) */
    AUTH_SCORER_READ,         /* read on the scorer (its own grant or the default) */
    AUTH_SCORER_DELETE,       /* delete on the scorer (read when one version is named) and its versions */
    AUTH_SCORER_CONFIGS_READ, /* read on the experiment of every online config of scorer_ids */
    AUTH_SCORER_INVOKE,       /* update on experiment_id, traces (and the scorer) not denied */
    AUTH_SCORER_CONFIG_UPDATE,/* update on the body's experiment_id (none: denied) */
    /* issue 21: labelling, from the experiment (MLflow's auth app) */
    AUTH_ISSUE_CREATE,        /* update on experiment_id */
    AUTH_ISSUE_SEARCH,        /* read on experiment_id (required) */
    AUTH_ISSUE_READ, AUTH_ISSUE_UPDATE,   /* on the issue's experiment; an unknown issue: denied */
    AUTH_ISSUE_INVOKE,        /* update on experiment_id */
    AUTH_LABEL_SCHEMA_CREATE, /* manage on experiment_id */
    AUTH_LABEL_SCHEMA_READ,   /* read on the schema's experiment */
    AUTH_LABEL_SCHEMA_MANAGE, /* manage on the schema's experiment (update, delete) */
    AUTH_LABELING_EXP_READ,   /* read on experiment_id */
    AUTH_RQ_CREATE,           /* update on experiment_id (create, get-or-create-user) */
    AUTH_RQ_VIEW,             /* read, and manage, membership or update-and-ownership of the queue */
    AUTH_RQ_VIEW_BY_NAME,     /* the same, the queue found by experiment_id and name */
    AUTH_RQ_LIST,             /* read on experiment_id; read-only callers see their queues (auth_after) */
    AUTH_RQ_UPDATE,           /* manage, or update and ownership; new_owner: manage */
    AUTH_RQ_DELETE,           /* manage, or update and ownership of a custom queue (delete, remove items) */
    AUTH_RQ_ADD_ITEMS,        /* update on the queue's experiment */
    AUTH_RQ_REVIEW,           /* update on the queue's experiment and membership */
    /* issue 12: the MCP server registry (_get_mcp_server_validator reads the path) */
    AUTH_MCP,
    AUTH_RULE_COUNT
};

struct route {
    const char *method;
    const char *pattern;   /* "/api/2.0/mlflow/runs/get"; "{x}" is one segment, "{x*}" the rest */
    api_handler handler;
    int flags;
    enum auth_rule auth;   /* issue 16: the permission rule (see above) */
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
