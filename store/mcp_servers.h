/* MLflow 3.17's MCP server registry (issue 12; sql/012_mcp_servers.sql):
 * servers, SemVer versions with a status lifecycle, tags, aliases and access
 * endpoints, with SqlAlchemyMCPServerRegistryMixin's semantics and messages.
 * api/mcp_servers.c validates names, versions, icons and tools first; JSON
 * (server_json, tools, icons, connect_options) stays text here. */
#ifndef CAIRN_STORE_MCP_SERVERS_H
#define CAIRN_STORE_MCP_SERVERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"
#include "search.h"

struct mcp_kv {
    const char *key, *value;
};

struct mcp_version {
    const char *name, *version, *server_json, *status;
    const char *tools, *source, *connect_options, *created_by, *last_updated_by;   /* NULL: absent */
    int64_t created_at, last_updated_at;
    struct mcp_kv *tags;          /* by key */
    size_t n_tags;
    const char **aliases;         /* the stored aliases naming this version, by name */
    size_t n_aliases;
};

struct mcp_endpoint {
    const char *id, *server_name, *url, *transport_type;
    const char *server_version, *server_alias, *created_by, *last_updated_by;   /* NULL: absent */
    int64_t created_at, last_updated_at;
    struct mcp_version *resolved;   /* the version it reaches now */
};

struct mcp_server {
    const char *name, *display_name, *description, *icons, *created_by, *last_updated_by;
    int64_t created_at, last_updated_at;
    /* the version "latest" resolves to (NULL: none) */
    const char *latest_version, *latest_server_json, *latest_status;
    struct mcp_kv *tags;
    size_t n_tags;
    struct mcp_kv *aliases;       /* alias -> version, by alias */
    size_t n_aliases;
    struct mcp_endpoint *endpoints;   /* those whose target resolves, by id */
    size_t n_endpoints;
};

/* A parsed SemVer: the sort columns of a version */
struct mcp_semver {
    int64_t major, minor, patch;
    const char *prerelease_key;   /* semver_utils.encode_prerelease_sort_key */
};

/* NULL fields of an update are "leave as is"; set_* says a field was given */
struct mcp_server_update {
    bool set_description, set_display_name, set_icons;
    const char *description, *display_name, *icons;
    const char *last_updated_by;
};

enum mcp_kind { MCP_SERVERS, MCP_VERSIONS, MCP_ENDPOINTS };
struct mcp_search {
    const char *server_name;             /* versions and endpoints: NULL = every server */
    const char *server_version, *server_alias;   /* endpoints: narrowing selectors */
    struct sf_filter filter;             /* already checked by api/ (keys, comparators, values) */
    struct sf_order_list order;          /* already checked */
    const struct mcp_semver *semver_values;   /* versions: one per filter clause on `version` (else unused) */
    int64_t offset, limit;               /* limit = max_results + 1 */
};

int store_mcp_create_server(struct arena *a, const char *name, const char *description, const char *icons,
                            const char *created_by, struct mcp_server *out, struct error *err);
int store_mcp_get_server(struct arena *a, const char *name, struct mcp_server *out, struct error *err);
int store_mcp_search_servers(struct arena *a, const struct mcp_search *s, struct mcp_server **out, size_t *n,
                             struct error *err);
int store_mcp_update_server(struct arena *a, const char *name, const struct mcp_server_update *u,
                            struct mcp_server *out, struct error *err);
int store_mcp_delete_server(struct arena *a, const char *name, struct error *err);

/* in: name, version, server_json, status, tools, source, connect_options, created_by;
 * the server is created when absent */
int store_mcp_create_version(struct arena *a, const struct mcp_version *in, const struct mcp_semver *sv,
                             struct mcp_version *out, struct error *err);
int store_mcp_get_version(struct arena *a, const char *name, const char *version, struct mcp_version *out,
                          struct error *err);
/* alias "latest" resolves automatically */
int store_mcp_get_version_by_alias(struct arena *a, const char *name, const char *alias, struct mcp_version *out,
                                   struct error *err);
int store_mcp_search_versions(struct arena *a, const struct mcp_search *s, struct mcp_version **out, size_t *n,
                              struct error *err);
struct mcp_version_update {
    const char *status;                 /* NULL: unchanged (checked against the transitions here) */
    bool set_tools, set_connect_options;
    const char *tools, *connect_options;   /* NULL with set_*: stored as null */
    const char *last_updated_by;
};
int store_mcp_update_version(struct arena *a, const char *name, const char *version,
                             const struct mcp_version_update *u, struct mcp_version *out, struct error *err);
int store_mcp_delete_version(struct arena *a, const char *name, const char *version, struct error *err);

int store_mcp_create_endpoint(struct arena *a, const struct mcp_endpoint *in, struct mcp_endpoint *out,
                              struct error *err);
int store_mcp_get_endpoint(struct arena *a, const char *server_name, const char *id, struct mcp_endpoint *out,
                           struct error *err);
int store_mcp_search_endpoints(struct arena *a, const struct mcp_search *s, struct mcp_endpoint **out, size_t *n,
                               struct error *err);
struct mcp_endpoint_update {
    bool set_version, set_alias, set_url;
    const char *server_version, *server_alias, *url, *transport_type;   /* transport NULL: unchanged */
    const char *last_updated_by;
};
int store_mcp_update_endpoint(struct arena *a, const char *server_name, const char *id,
                              const struct mcp_endpoint_update *u, struct mcp_endpoint *out, struct error *err);
int store_mcp_delete_endpoint(struct arena *a, const char *server_name, const char *id, struct error *err);

int store_mcp_set_server_tag(struct arena *a, const char *name, const char *key, const char *value, struct error *err);
int store_mcp_delete_server_tag(struct arena *a, const char *name, const char *key, struct error *err);
int store_mcp_set_version_tag(struct arena *a, const char *name, const char *version, const char *key, const char *value,
                              struct error *err);
int store_mcp_delete_version_tag(struct arena *a, const char *name, const char *version, const char *key, struct error *err);
int store_mcp_set_alias(struct arena *a, const char *name, const char *alias, const char *version, struct error *err);
int store_mcp_delete_alias(struct arena *a, const char *name, const char *alias, struct error *err);

/* issue 16: whether a server exists (the auth rules' auto-create test); -1 on a database error */
int store_mcp_server_exists(struct arena *a, const char *name, struct error *err);
#endif
