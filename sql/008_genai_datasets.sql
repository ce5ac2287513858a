-- MLflow 3 evaluation datasets (issue 21): a dataset, its tags, its links to
-- experiments, and its records. Record fields are kept as the JSON text the
-- client sent (re-spelled as Python's json.dumps spells it, key order kept),
-- so GetDatasetRecords sends them back without rebuilding anything; the
-- record identity is MLflow's: sha256 of json.dumps(inputs, sort_keys=True).

CREATE TABLE eval_datasets (
    dataset_id       text   PRIMARY KEY,        -- d-<32 hex>
    name             text   NOT NULL,
    schema_json      text,                      -- the "schema" string, NULL until records arrive
    profile_json     text,                      -- the "profile" string ({"num_records": N} or "null")
    digest           text   NOT NULL,           -- sha256("name:last_update_time")[:8], as MLflow
    created_time     bigint NOT NULL,
    last_update_time bigint NOT NULL,
    created_by       text,
    last_updated_by  text
);
CREATE INDEX eval_datasets_created_idx ON eval_datasets (created_time DESC, dataset_id DESC);
CREATE INDEX eval_datasets_name_idx ON eval_datasets (name);

CREATE TABLE eval_dataset_tags (
    dataset_id text NOT NULL REFERENCES eval_datasets ON DELETE CASCADE,
    key        text NOT NULL,
    value      text,
    seq        bigserial,                      -- insertion order, as MLflow lists them
    PRIMARY KEY (dataset_id, key)
);
CREATE INDEX eval_dataset_tags_kv_idx ON eval_dataset_tags (key, left(value, 200));

-- MLflow's entity_associations rows for datasets: experiment ids as given
-- (text; MLflow does not check them on create)
CREATE TABLE eval_dataset_experiments (
    dataset_id    text   NOT NULL REFERENCES eval_datasets ON DELETE CASCADE,
    experiment_id text   NOT NULL,
    seq           bigserial,
    PRIMARY KEY (dataset_id, experiment_id)
);
CREATE INDEX eval_dataset_experiments_exp_idx ON eval_dataset_experiments (experiment_id, dataset_id);

CREATE TABLE eval_dataset_records (
    dataset_record_id text   PRIMARY KEY,      -- dr-<32 hex>
    dataset_id        text   NOT NULL REFERENCES eval_datasets ON DELETE CASCADE,
    input_hash        text   NOT NULL,
    inputs            text   NOT NULL,         -- JSON object
    outputs           text,                    -- JSON value; NULL: none
    expectations      text,                    -- JSON object or NULL
    tags              text   NOT NULL,         -- JSON object
    source            text,                    -- {"source_type": …, "source_data": {…}} or NULL
    source_id         text,
    source_type       text,
    created_time      bigint NOT NULL,
    last_update_time  bigint NOT NULL,
    created_by        text,
    last_updated_by   text,
    UNIQUE (dataset_id, input_hash)
);
CREATE INDEX eval_dataset_records_page_idx ON eval_dataset_records (dataset_id, created_time, dataset_record_id);
