-- Issue 19: the latest value per (run, key) off the writers' lock path.
-- A metrics write inserts its history points without waiting for anyone,
-- then folds its latest values into latest_metrics when no other writer of
-- the same run is folding (a transaction-scoped advisory lock per run, tried
-- without waiting). Otherwise it parks them here, one row per request
-- (parallel arrays: the request's newest point and history shape per key),
-- commits, waits for the lock and folds every row parked for the run so far
-- at once. Eight writers into one run then update its latest rows about
-- once per fold instead of once each, and their history inserts run side by
-- side. A row stays behind only when a server dies between the two steps;
-- the run's next metrics write folds it.
CREATE TABLE latest_metrics_pending (
    id        bigserial   PRIMARY KEY,
    run_uuid  text        NOT NULL REFERENCES runs ON DELETE CASCADE,
    keys      text[]      NOT NULL,
    vals      float8[]    NOT NULL,   -- the newest point per key: value, timestamp, step
    ts        int8[]      NOT NULL,
    steps     int8[]      NOT NULL,
    n_rows    int8[]      NOT NULL,   -- points this request added to the history, per key
    n_steps   int8[]      NOT NULL,   -- distinct steps among them
    min_step  int8[]      NOT NULL,
    max_step  int8[]      NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX latest_metrics_pending_run_idx ON latest_metrics_pending (run_uuid);

-- Issue 19: registry searches by tag as index-only scans. A tag filter
-- compares left(value, 200) (values can exceed a btree entry), and
-- PostgreSQL never answers an expression from an index alone: each of the
-- thousands of entries a filter matches was a heap fetch. The prefix as a
-- stored column is an ordinary index column, so two tag filters meet in a
-- merge of two index-only scans.
ALTER TABLE registered_model_tags ADD COLUMN value_prefix text GENERATED ALWAYS AS (left(value, 200)) STORED;
DROP INDEX registered_model_tags_kv_idx;
CREATE INDEX registered_model_tags_kv_idx ON registered_model_tags (key, value_prefix, rm_id);
ALTER TABLE model_version_tags ADD COLUMN value_prefix text GENERATED ALWAYS AS (left(value, 200)) STORED;
DROP INDEX model_version_tags_kv_idx;
CREATE INDEX model_version_tags_kv_idx ON model_version_tags (key, value_prefix, rm_id, version);
