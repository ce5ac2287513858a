-- Traces (MLflow 3 tracing): one row per trace, its tags and metadata, its
-- spans (stored whole in PostgreSQL, as OTLP JSON ready to send), links to
-- runs and prompt versions, and assessments (feedback and expectations).
-- Designed for search_traces: experiment + time order on one index, tag and
-- metadata filters on (key, value prefix) indexes.

CREATE TABLE trace_info (
    trace_id           text   PRIMARY KEY,
    experiment_id      bigint NOT NULL REFERENCES experiments,
    request_time       bigint NOT NULL,         -- ms since the epoch
    execution_duration bigint,                  -- ms; NULL while unknown
    state              text   NOT NULL,         -- OK | ERROR | IN_PROGRESS | STATE_UNSPECIFIED
    client_request_id  text,
    request_preview    text,
    response_preview   text
);
CREATE INDEX trace_info_exp_time_idx ON trace_info (experiment_id, request_time DESC, trace_id);

CREATE TABLE trace_tags (
    trace_id text NOT NULL REFERENCES trace_info ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (trace_id, key)
);
CREATE INDEX trace_tags_kv_idx ON trace_tags (key, left(value, 200));

CREATE TABLE trace_metadata (
    trace_id text NOT NULL REFERENCES trace_info ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (trace_id, key)
);
CREATE INDEX trace_metadata_kv_idx ON trace_metadata (key, left(value, 200));

CREATE TABLE spans (
    trace_id       text   NOT NULL REFERENCES trace_info ON DELETE CASCADE,
    span_id        text   NOT NULL,             -- 16 lowercase hex digits
    parent_span_id text,                        -- NULL for the root span
    name           text   NOT NULL,
    span_type      text,                        -- mlflow.spanType, JSON-decoded
    status         text   NOT NULL,             -- OK | ERROR | UNSET
    start_time_ns  bigint NOT NULL,
    end_time_ns    bigint,
    content        text   NOT NULL,             -- the span as OTLP JSON (snake_case), as get_trace sends it
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_name_idx ON spans (name, trace_id);
CREATE INDEX spans_type_idx ON spans (span_type, trace_id);

-- link-to-run and link-prompts (kind 'run': target is a run id; kind
-- 'prompt': target is "name/version")
CREATE TABLE trace_links (
    trace_id text NOT NULL REFERENCES trace_info ON DELETE CASCADE,
    kind     text NOT NULL,
    target   text NOT NULL,
    PRIMARY KEY (trace_id, kind, target)
);
CREATE INDEX trace_links_target_idx ON trace_links (kind, target);

CREATE TABLE assessments (
    assessment_id    text    PRIMARY KEY,
    trace_id         text    NOT NULL REFERENCES trace_info ON DELETE CASCADE,
    name             text    NOT NULL,
    kind             text    NOT NULL,          -- feedback | expectation
    value_json       text    NOT NULL,          -- the "feedback" / "expectation" object as sent back
    source_type      text,
    source_id        text,
    span_id          text,
    run_id           text,
    rationale        text,
    metadata_json    text,                      -- {"k": "v", …} or NULL
    overrides        text,                      -- the assessment this one replaces
    valid            boolean NOT NULL DEFAULT true,
    create_time      bigint  NOT NULL,          -- ms
    last_update_time bigint  NOT NULL
);
CREATE INDEX assessments_trace_idx ON assessments (trace_id, create_time);
