-- MLflow 3 logged models: the model, its params, tags and metrics.
-- Search runs per experiment in creation order (the default order) and by
-- latest metric value; deleted models are soft-deleted and never listed.

CREATE TABLE logged_models (
    model_id                  text   PRIMARY KEY,              -- "m-" + uuid4 hex
    experiment_id             bigint NOT NULL REFERENCES experiments,
    name                      text   NOT NULL,
    artifact_location         text   NOT NULL,
    creation_timestamp_ms     bigint NOT NULL,
    last_updated_timestamp_ms bigint NOT NULL,
    status                    int    NOT NULL DEFAULT 1,       -- LoggedModelStatus: 1 pending, 2 ready, 3 upload failed
    lifecycle_stage           text   NOT NULL DEFAULT 'active',
    model_type                text,
    source_run_id             text,
    status_message            text
);
CREATE INDEX logged_models_exp_idx ON logged_models (experiment_id, creation_timestamp_ms DESC, model_id)
    WHERE lifecycle_stage = 'active';
CREATE INDEX logged_models_name_idx ON logged_models (experiment_id, name);
CREATE INDEX logged_models_run_idx ON logged_models (source_run_id);

CREATE TABLE logged_model_params (
    model_id text NOT NULL REFERENCES logged_models ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE INDEX logged_model_params_kv_idx ON logged_model_params (key, left(value, 200));

CREATE TABLE logged_model_tags (
    model_id text NOT NULL REFERENCES logged_models ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE INDEX logged_model_tags_kv_idx ON logged_model_tags (key, left(value, 200));

-- LogMetric/LogBatch points that carry a model_id (MLflow's logged_model_metrics;
-- same primary key, so a replayed point is ignored)
CREATE TABLE logged_model_metrics (
    model_id       text             NOT NULL REFERENCES logged_models ON DELETE CASCADE,
    key            text             NOT NULL,
    timestamp      bigint           NOT NULL,
    step           bigint           NOT NULL,
    run_uuid       text             NOT NULL,
    value          double precision NOT NULL,
    experiment_id  bigint           NOT NULL,
    dataset_name   text,
    dataset_digest text,
    PRIMARY KEY (model_id, key, timestamp, step, run_uuid)
);
CREATE INDEX logged_model_metrics_key_idx ON logged_model_metrics (key, value, model_id);
