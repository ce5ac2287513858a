-- MLflow 3.17's MCP server registry (issue 12: the UI's #/mcp-registry page):
-- servers named "<reverse-dns namespace>/<slug>", their semantic versions
-- (server.json, tools, status lifecycle), tags on both, aliases, and access
-- endpoints that point at a version or an alias. The shapes follow MLflow's
-- mcp_* tables with workspaces off (every row is in the default workspace).

CREATE TABLE mcp_servers (
    name            text   PRIMARY KEY,               -- namespace/slug
    display_name    text,
    description     text,
    icons           text,                             -- JSON list or NULL
    created_by      text,
    last_updated_by text,
    created_at      bigint NOT NULL,
    last_updated_at bigint NOT NULL
);
CREATE INDEX mcp_servers_created_idx ON mcp_servers (created_at);

CREATE TABLE mcp_server_versions (
    name            text    NOT NULL REFERENCES mcp_servers ON DELETE CASCADE ON UPDATE CASCADE,
    version         text    NOT NULL,                 -- SemVer 2.0.0 as written
    version_major   integer NOT NULL,
    version_minor   integer NOT NULL,
    version_patch   integer NOT NULL,
    version_prerelease_sort_key text NOT NULL COLLATE "C",   -- semver_utils.encode_prerelease_sort_key
    server_json     text    NOT NULL,                 -- the server.json object as given
    status          text    NOT NULL DEFAULT 'draft', -- draft | active | deprecated | deleted
    tools           text,                             -- JSON list or NULL
    source          text,
    connect_options text,                             -- JSON object or NULL
    created_by      text,
    last_updated_by text,
    created_at      bigint  NOT NULL,
    last_updated_at bigint  NOT NULL,
    PRIMARY KEY (name, version)
);
-- "latest": active first, then SemVer precedence, newest row, raw version
CREATE INDEX mcp_server_versions_latest_idx ON mcp_server_versions
    (name, status, version_major DESC, version_minor DESC, version_patch DESC);

-- the version "latest" resolves to, per server (SqlMCPServer._resolved_latest_candidates_query)
CREATE VIEW mcp_latest_versions AS
SELECT DISTINCT ON (name) name, version, server_json, status
  FROM mcp_server_versions
 WHERE status <> 'deleted'
 ORDER BY name, (status = 'active') DESC, version_major DESC, version_minor DESC, version_patch DESC,
          version_prerelease_sort_key DESC, created_at DESC, version COLLATE "C" DESC;

CREATE TABLE mcp_server_tags (
    name  text NOT NULL REFERENCES mcp_servers ON DELETE CASCADE ON UPDATE CASCADE,
    key   text NOT NULL,
    value text,
    PRIMARY KEY (name, key)
);

CREATE TABLE mcp_server_version_tags (
    name    text NOT NULL,
    version text NOT NULL,
    key     text NOT NULL,
    value   text,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES mcp_server_versions ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE mcp_server_aliases (
    name    text NOT NULL REFERENCES mcp_servers ON DELETE CASCADE ON UPDATE CASCADE,
    alias   text NOT NULL,
    version text NOT NULL,                            -- no foreign key, as MLflow's
    PRIMARY KEY (name, alias)
);

CREATE TABLE mcp_access_endpoints (
    id              text   PRIMARY KEY,               -- ae-<32 hex>
    server_name     text   NOT NULL REFERENCES mcp_servers ON DELETE CASCADE ON UPDATE CASCADE,
    server_version  text,                             -- exactly one of version and alias
    server_alias    text,
    url             text   NOT NULL,
    transport_type  text   NOT NULL DEFAULT 'streamable-http',
    created_by      text,
    last_updated_by text,
    created_at      bigint NOT NULL,
    last_updated_at bigint NOT NULL
);
CREATE INDEX mcp_access_endpoints_version_idx ON mcp_access_endpoints (server_name, server_version);
CREATE INDEX mcp_access_endpoints_alias_idx ON mcp_access_endpoints (server_name, server_alias);
