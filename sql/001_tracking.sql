-- Tracking schema: experiments, runs, metrics, params, tags, datasets and inputs.
-- Designed for the queries MLflow clients make: run search by latest metric,
-- param and tag; metric history by (run, key, step); every search on an index.

CREATE TABLE experiments (
    experiment_id     bigint PRIMARY KEY,
    name              text   NOT NULL UNIQUE,   -- unique across active and deleted, as MLflow
    artifact_location text   NOT NULL,
    lifecycle_stage   text   NOT NULL DEFAULT 'active',
    creation_time     bigint NOT NULL,
    last_update_time  bigint NOT NULL
);
-- experiment 0 ("Default") is inserted at start-up; new ids come from here
CREATE SEQUENCE experiments_id_seq START 1 OWNED BY experiments.experiment_id;
CREATE INDEX experiments_creation_idx ON experiments (creation_time DESC, experiment_id);

CREATE TABLE experiment_tags (
    experiment_id bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    key           text   NOT NULL,
    value         text   NOT NULL,
    PRIMARY KEY (experiment_id, key)
);
-- values can exceed a btree entry (2.7 kB): index a prefix, compare both
CREATE INDEX experiment_tags_kv_idx ON experiment_tags (key, left(value, 200));

CREATE TABLE runs (
    run_uuid        text   PRIMARY KEY,
    experiment_id   bigint NOT NULL REFERENCES experiments,
    name            text   NOT NULL DEFAULT '',
    user_id         text   NOT NULL DEFAULT '',
    status          text   NOT NULL DEFAULT 'RUNNING',
    start_time      bigint NOT NULL,
    end_time        bigint,
    lifecycle_stage text   NOT NULL DEFAULT 'active',
    artifact_uri    text   NOT NULL,
    deleted_time    bigint
);
-- the default order of search_runs: start_time DESC, run_uuid ASC, per experiment
CREATE INDEX runs_exp_start_idx ON runs (experiment_id, start_time DESC, run_uuid);

-- full history; a replayed point (same key, value, timestamp, step) is ignored
CREATE TABLE metrics (
    run_uuid  text             NOT NULL REFERENCES runs ON DELETE CASCADE,
    key       text             NOT NULL,
    value     double precision NOT NULL,
    timestamp bigint           NOT NULL,
    step      bigint           NOT NULL,
    PRIMARY KEY (run_uuid, key, timestamp, step, value)   -- also the get-history order
);
-- the chart view samples by step (get-history-bulk-interval); covering, so a
-- step probe is always cheaper than walking the series on the primary key,
-- whatever the planner guesses of a run's size
CREATE INDEX metrics_step_idx ON metrics (run_uuid, key, step) INCLUDE (timestamp, value);

-- the latest value per (run, key): max by (step, timestamp, value), as MLflow;
-- with the shape of the history, so that the sampled chart view can tell
-- when steps are unique and dense and probe them instead of reading them all
CREATE TABLE latest_metrics (
    run_uuid  text             NOT NULL REFERENCES runs ON DELETE CASCADE,
    key       text             NOT NULL,
    value     double precision NOT NULL,
    timestamp bigint           NOT NULL,
    step      bigint           NOT NULL,
    n_rows    bigint           NOT NULL DEFAULT 0,   -- points in metrics
    n_steps   bigint           NOT NULL DEFAULT 0,   -- distinct steps among them; -1: unknown
    min_step  bigint           NOT NULL DEFAULT 0,
    max_step  bigint           NOT NULL DEFAULT 0,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX latest_metrics_kv_idx ON latest_metrics (key, value, run_uuid);

CREATE TABLE params (
    run_uuid text NOT NULL REFERENCES runs ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX params_kv_idx ON params (key, left(value, 200), run_uuid);

CREATE TABLE tags (
    run_uuid text NOT NULL REFERENCES runs ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX tags_kv_idx ON tags (key, left(value, 200), run_uuid);

CREATE TABLE datasets (
    dataset_uuid  text   PRIMARY KEY,
    experiment_id bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    name          text   NOT NULL,
    digest        text   NOT NULL,
    source_type   text   NOT NULL,
    source        text   NOT NULL,
    schema        text,
    profile       text,
    UNIQUE (experiment_id, name, digest)
);

-- a dataset used as an input of a run (MLflow's "inputs" table, DATASET -> RUN)
CREATE TABLE run_inputs (
    input_uuid   text PRIMARY KEY,
    seq          bigserial,   -- logging order, the order MLflow lists inputs in
    dataset_uuid text NOT NULL REFERENCES datasets ON DELETE CASCADE,
    run_uuid     text NOT NULL REFERENCES runs ON DELETE CASCADE,
    UNIQUE (run_uuid, dataset_uuid)
);
CREATE INDEX run_inputs_dataset_idx ON run_inputs (dataset_uuid);

CREATE TABLE input_tags (
    input_uuid text NOT NULL REFERENCES run_inputs ON DELETE CASCADE,
    key        text NOT NULL,
    value      text NOT NULL,
    PRIMARY KEY (input_uuid, key)
);
CREATE INDEX input_tags_kv_idx ON input_tags (key, value);

-- logged-model inputs and outputs of a run (LogInputs.models, LogOutputs)
CREATE TABLE run_model_io (
    run_uuid  text   NOT NULL REFERENCES runs ON DELETE CASCADE,
    model_id  text   NOT NULL,
    direction text   NOT NULL CHECK (direction IN ('input', 'output')),
    step      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (run_uuid, direction, model_id, step)
);
