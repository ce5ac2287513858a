/* The permission model of MLflow 3.17's basic-auth app (issue 16):
 * READ < USE < EDIT < MANAGE, and DENY; grants folded per key, tier
 * override across keys, default_permission as the floor of a positive
 * grant. auth_check applies a route's rule before its handler;
 * auth_after runs the after-request work (creator grants, grant sweeps,
 * search filtering). Admins bypass auth_check. */
#ifndef CAIRN_API_AUTH_H
#define CAIRN_API_AUTH_H
#include "api.h"

enum perm { PERM_NO_PERMISSIONS = 0, PERM_READ, PERM_USE, PERM_EDIT, PERM_MANAGE, PERM_DENY, PERM_COUNT };

struct auth_api_config {
    bool enabled;
    enum perm default_permission;
    bool basic;                 /* authorization_function is MLflow's HTTP Basic one */
    const char *csrf_key;       /* MLFLOW_FLASK_SERVER_SECRET_KEY, for the signup form */
};
extern struct auth_api_config auth_api_config;

/* "READ" → PERM_READ; -1 for an unknown name */
int perm_from_name(const char *name);
const char *perm_name(enum perm p);

/* 0: allowed; 1: denied (403); -1: err set (a bad request, a missing resource, an outage). */
int auth_check(const struct route *route, struct request *req, struct error *err);
/* After a successful handler: grants for creators, sweeps, search filtering.
 * May re-run the handler to fill a filtered page. -1 with err on failure. */
int auth_after(const struct route *route, struct request *req, struct response *resp, struct error *err);
/* Calls handler h as the route that serves it would be called: its rule first
 * (PERMISSION_DENIED when denied; a handler no route serves is denied to
 * non-admins), then the after-request work. For GraphQL's root fields. */
int auth_call_handler(api_handler h, struct request *req, struct response *resp, struct error *err);
/* The same for a GraphQL field, as MLflow's GraphQLAuthorizationMiddleware treats it: an open field
 * as auth_call_handler; a protected one (filtered) gets the after-request work (redaction, row
 * filters) and, for an admin, a failure resolves to null without an error (*withheld); a checked one
 * is first checked, for a non-admin, on the resource its input names (none named: not checked), and
 * withheld when the caller may not read it; search-runs and search-datasets keep the readable
 * experiment_ids, withheld when none of those named is left. */
enum auth_graphql_field { AUTH_GQL_OPEN, AUTH_GQL_FILTERED, AUTH_GQL_CHECKED };
int auth_graphql_call(api_handler h, enum auth_graphql_field field, struct request *req, struct response *resp,
                      bool *withheld, struct error *err);
/* Start-up: every route names a rule; -1 (message on stderr) otherwise. */
int auth_check_route_table(void);

/* Shared with api/auth_api.c: the caller's effective permission on one resource,
 * as get_user_permission reports it (1 with *out, or -1 with err). */
int auth_resolve_user_permission(struct request *req, int64_t user_id, const char *type, const char *id,
                                 enum perm *out, struct error *err);
/* The caller's grants (NULL with err), and whether a search row may be listed:
 * read on (type, id) with the workspace tier as fallback, tier (if any) not denied. */
struct auth_grants;
const struct auth_grants *auth_load_grants(struct request *req, struct error *err);
bool auth_row_readable(const struct auth_grants *gs, const char *type, const char *id, const char *tier);
/* The tier (run, logged_model, …: wildcard grants only) holds a DENY for the caller; and
 * read on a tier inside one experiment, the experiment as fallback (response redaction). */
bool auth_tier_denied(const struct auth_grants *gs, const char *type);
bool auth_tier_readable_in(const struct auth_grants *gs, const char *type, const char *experiment_id);
bool auth_valid_resource_type(const char *type);
/* SqlAlchemyStore._scorer_pattern: "<experiment_id>/<name URL-quoted, nothing safe>", the scorer tier's key */
const char *auth_scorer_pattern(struct arena *a, const char *experiment_id, const char *name);
/* issue 12: the caller's permission on an MCP server (_get_mcp_server_permission), and whether
 * its version tier is open (_mcp_server_version_not_denied) */
enum perm auth_mcp_server_perm(const struct auth_grants *gs, const char *name);
bool auth_mcp_versions_open(const struct auth_grants *gs, const char *name);
/* MLflow's grant validation: 0 or -1 with INVALID_PARAMETER_VALUE */
int auth_validate_grant(const char *type, const char *pattern, const char *permission, struct error *err);
#endif
