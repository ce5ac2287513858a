-- MLflow 3 labelling (issue 21): issues found in traces, label schemas (the
-- questions reviewers answer) and review queues with their assigned users,
-- attached schemas and items, as MLflow 3.17's SqlAlchemyStore keeps them.

CREATE TABLE issues (
    issue_id               text   PRIMARY KEY,          -- iss-<32 hex>
    experiment_id          bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    name                   text   NOT NULL,
    description            text   NOT NULL,
    status                 text   NOT NULL,             -- pending | rejected | resolved
    severity               text,                        -- not_an_issue | low | medium | high
    root_causes            text,                        -- JSON list or NULL
    source_run_id          text   REFERENCES runs (run_uuid) ON DELETE SET NULL,
    categories             text,                        -- JSON list or NULL
    created_timestamp      bigint NOT NULL,
    last_updated_timestamp bigint NOT NULL,
    created_by             text
);
CREATE INDEX issues_experiment_idx ON issues (experiment_id, created_timestamp DESC);

CREATE TABLE label_schemas (
    schema_id        text    PRIMARY KEY,               -- ls-<32 hex>
    experiment_id    bigint  NOT NULL REFERENCES experiments ON DELETE CASCADE,
    name             text    NOT NULL,
    type             text    NOT NULL,                  -- feedback | expectation
    input_type       text    NOT NULL,                  -- pass_fail | categorical | numeric | text
    input_config     text    NOT NULL,                  -- the input's fields as JSON
    instruction      text,
    enable_comment   boolean NOT NULL DEFAULT false,
    created_by       text,
    created_time     bigint  NOT NULL,
    last_update_time bigint  NOT NULL,
    is_default       boolean NOT NULL DEFAULT false,
    UNIQUE (experiment_id, name)
);
CREATE UNIQUE INDEX label_schemas_one_default ON label_schemas (experiment_id) WHERE is_default;

CREATE TABLE review_queues (
    queue_id            text   PRIMARY KEY,             -- rq-<32 hex>
    experiment_id       bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    name                text   NOT NULL,
    name_key            text   NOT NULL,                -- lower(name): names are unique case-insensitively
    queue_type          text   NOT NULL,                -- user | custom
    created_by          text,
    creation_time_ms    bigint NOT NULL,
    last_update_time_ms bigint NOT NULL,
    UNIQUE (experiment_id, name_key)
);

CREATE TABLE review_queue_users (
    queue_id text NOT NULL REFERENCES review_queues ON DELETE CASCADE,
    user_id  text NOT NULL,
    PRIMARY KEY (queue_id, user_id)
);
CREATE INDEX review_queue_users_user_idx ON review_queue_users (user_id);

CREATE TABLE review_queue_label_schemas (
    queue_id  text NOT NULL REFERENCES review_queues ON DELETE CASCADE,
    schema_id text NOT NULL,                            -- a soft reference, as MLflow's
    PRIMARY KEY (queue_id, schema_id)
);

CREATE TABLE review_queue_items (
    queue_id            text   NOT NULL REFERENCES review_queues ON DELETE CASCADE,
    item_type           text   NOT NULL,                -- trace
    item_id             text   NOT NULL,
    status              text   NOT NULL,                -- pending | complete | declined
    completed_by        text,
    completed_time_ms   bigint,
    creation_time_ms    bigint NOT NULL,
    last_update_time_ms bigint NOT NULL,
    PRIMARY KEY (queue_id, item_id)
);
CREATE INDEX review_queue_items_item_idx ON review_queue_items (item_id);

-- deleting traces drops their review items, as MLflow's delete_traces does
CREATE FUNCTION review_queue_items_drop_traces() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM review_queue_items WHERE item_id IN (SELECT trace_id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER trace_info_drop_review_items AFTER DELETE ON trace_info
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION review_queue_items_drop_traces();
