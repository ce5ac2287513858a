-- Model registry: registered models, their versions, tags and aliases.
-- Prompts (MLflow 3) are registered models tagged mlflow.prompt.is_prompt.
-- Versions hang off a surrogate key, so a rename touches one row and every
-- version, tag and alias follows it.

CREATE TABLE registered_models (
    rm_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text   NOT NULL UNIQUE,      -- case-sensitive, as MLflow
    creation_time     bigint NOT NULL,
    last_updated_time bigint NOT NULL,
    description       text,
    -- the highest version ever allocated (deleted ones included): a new
    -- version is last_version + 1 under this row's lock, so concurrent
    -- creators get consecutive numbers, never a gap or a duplicate
    last_version      bigint NOT NULL DEFAULT 0
);
CREATE INDEX registered_models_updated_idx ON registered_models (last_updated_time, name);

-- ord keeps MLflow's listing order (first set first; an update keeps its place)
CREATE TABLE registered_model_tags (
    rm_id bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    key   text   NOT NULL,
    value text   NOT NULL,
    ord   bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (rm_id, key)
);
-- values can exceed a btree entry: index a prefix, compare both
CREATE INDEX registered_model_tags_kv_idx ON registered_model_tags (key, left(value, 200));

CREATE TABLE model_versions (
    rm_id             bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    version           bigint NOT NULL,
    creation_time     bigint NOT NULL,
    last_updated_time bigint NOT NULL,
    description       text,
    user_id           text,
    current_stage     text   NOT NULL DEFAULT 'None',   -- 'Deleted_Internal' once deleted
    source            text   NOT NULL,
    storage_location  text,                              -- what get-download-uri answers
    run_id            text,
    run_link          text,
    status            text   NOT NULL DEFAULT 'READY',
    status_message    text,
    model_id          text,
    PRIMARY KEY (rm_id, version)
);
CREATE INDEX model_versions_run_idx ON model_versions (run_id);
CREATE INDEX model_versions_updated_idx ON model_versions (last_updated_time DESC, rm_id, version DESC);

CREATE TABLE model_version_tags (
    rm_id   bigint NOT NULL,
    version bigint NOT NULL,
    key     text   NOT NULL,
    value   text   NOT NULL,
    ord     bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (rm_id, version, key),
    FOREIGN KEY (rm_id, version) REFERENCES model_versions ON DELETE CASCADE
);
CREATE INDEX model_version_tags_kv_idx ON model_version_tags (key, left(value, 200));

CREATE TABLE registered_model_aliases (
    rm_id   bigint NOT NULL,
    alias   text   NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (rm_id, alias),
    FOREIGN KEY (rm_id, version) REFERENCES model_versions ON DELETE CASCADE
);
