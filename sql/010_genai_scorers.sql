-- MLflow 3 registered scorers (issue 21): a scorer per (experiment, name)
-- with numbered versions holding the client's serialized scorer as sent
-- (Cairn never executes it), and the online-scoring configuration.

CREATE TABLE scorers (
    scorer_id     text   PRIMARY KEY,             -- uuid4 with dashes, as MLflow
    experiment_id bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    scorer_name   text   NOT NULL,
    UNIQUE (experiment_id, scorer_name)
);

CREATE TABLE scorer_versions (
    scorer_id         text    NOT NULL REFERENCES scorers ON DELETE CASCADE,
    scorer_version    integer NOT NULL,
    serialized_scorer text    NOT NULL,
    creation_time     bigint  NOT NULL,
    PRIMARY KEY (scorer_id, scorer_version)
);

CREATE TABLE online_scoring_configs (
    online_scoring_config_id text   PRIMARY KEY,
    scorer_id                text   NOT NULL REFERENCES scorers ON DELETE CASCADE,
    sample_rate              double precision NOT NULL,
    experiment_id            bigint NOT NULL,
    filter_string            text
);
CREATE INDEX online_scoring_configs_scorer_idx ON online_scoring_configs (scorer_id);
