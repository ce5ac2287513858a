"""Seeding tool: the same logical data set, written straight into each
server's own schema by set-based SQL inside PostgreSQL (no rows cross the
client), so 10M metric rows take minutes, not hours through the REST API.

Cairn's schema is sql/001_tracking.sql (schema `cairn`); MLflow's is the one
its server creates on first start (alembic head, schema `public`). Run ids
are md5 hex strings derived from the row number, so both databases hold
identical ids; the harness then checks the two through the REST API.

Data set (N = runs):
  experiment 1 "bench-search":  N runs, each 10 params p0..p9 (p3 = i % 20),
                                5 tags t0..t4 + mlflow.runName, 10 metric keys
                                m0..m9 x 10 steps (10*N*10 metric rows)
  experiment 2 "bench-history": one run, metric "loss" with H points (steps 0..H-1)
  experiment 3 "bench-writes":  WRITE_RUNS empty RUNNING runs for the write workloads
  registry (M = models):        M models x 5 versions, 3 tags, 2 aliases (seed_registry_*)
"""

T0 = 1_700_000_000_000
WRITE_RUNS = 80


def run_id(i):
    import hashlib
    return hashlib.md5(f"run{i}".encode()).hexdigest()


def write_run_id(i):
    import hashlib
    return hashlib.md5(f"wrun{i}".encode()).hexdigest()


def hist_run_id():
    import hashlib
    return hashlib.md5(b"hist").hexdigest()


# value of metric k at step s of run i: deterministic, spread over [0, 1)
VAL = "(((i::bigint * 7919 + k * 104729 + s * 15485863) % 100003) / 100003.0)"
HVAL = "(((s::bigint * 2654435761) % 1000003) / 1000003.0)"


def _exps(art):
    return [(1, "bench-search"), (2, "bench-history"), (3, "bench-writes")]


def seed_cairn(cur, n_runs, hist_points, art):
    s = "cairn."
    for eid, name in _exps(art):
        cur.execute(f"INSERT INTO {s}experiments VALUES (%s, %s, %s, 'active', %s, %s)",
                    (eid, name, f"{art}/{eid}", T0, T0))
    cur.execute(f"SELECT setval('{s}experiments_id_seq', 3)")
    runs_sql = (f"INSERT INTO {s}runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time,"
                f" lifecycle_stage, artifact_uri) SELECT {{id}}, {{exp}}, {{name}}, 'bench', {{status}},"
                f" {T0} + i * 1000, {{end}}, 'active', '{art}/' || {{exp}} || '/' || {{id}} || '/artifacts'"
                f" FROM generate_series(0, {{n}} - 1) i")
    _runs(cur, runs_sql, s, n_runs)
    cur.execute(f"INSERT INTO {s}params SELECT md5('run' || i), 'p' || k,"
                f" CASE k WHEN 3 THEN (i % 20)::text ELSE ((i * 31 + k * 7) % 1000)::text END"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 9) k")
    _tags(cur, f"INSERT INTO {s}tags (run_uuid, key, value)", n_runs)
    cur.execute(f"INSERT INTO {s}metrics (run_uuid, key, value, timestamp, step)"
                f" SELECT md5('run' || i), 'm' || k, {VAL}, {T0} + i * 1000 + s, s"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 9) k, generate_series(0, 9) s")
    # the history shape columns (points, distinct steps, step range) as the server keeps them
    cur.execute(f"INSERT INTO {s}latest_metrics (run_uuid, key, value, timestamp, step,"
                f" n_rows, n_steps, min_step, max_step)"
                f" SELECT md5('run' || i), 'm' || k, {VAL}, {T0} + i * 1000 + s, s, 10, 10, 0, 9"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 9) k, (VALUES (9)) v(s)")
    cur.execute(f"INSERT INTO {s}metrics (run_uuid, key, value, timestamp, step)"
                f" SELECT md5('hist'), 'loss', {HVAL}, {T0} + s, s FROM generate_series(0, {hist_points} - 1) s")
    cur.execute(f"INSERT INTO {s}latest_metrics (run_uuid, key, value, timestamp, step,"
                f" n_rows, n_steps, min_step, max_step)"
                f" SELECT md5('hist'), 'loss', {HVAL}, {T0} + s, s, {hist_points}, {hist_points}, 0, s"
                f" FROM (VALUES ({hist_points} - 1)) v(s)")


def seed_mlflow(cur, n_runs, hist_points, art):
    for eid, name in _exps(art):
        cur.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage,"
                    " creation_time, last_update_time) VALUES (%s, %s, %s, 'active', %s, %s)",
                    (eid, name, f"{art}/{eid}", T0, T0))
    cur.execute("SELECT setval('experiments_experiment_id_seq', 3)")
    runs_sql = ("INSERT INTO runs (run_uuid, experiment_id, name, source_type, source_name, entry_point_name,"
                " user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri)"
                " SELECT {id}, {exp}, {name}, 'UNKNOWN', '', '', 'bench', {status},"
                f" {T0} + i * 1000, {{end}}, '', 'active', '{art}/' || {{exp}} || '/' || {{id}} || '/artifacts'"
                " FROM generate_series(0, {n} - 1) i")
    _runs(cur, runs_sql, "", n_runs)
    cur.execute("INSERT INTO params (key, value, run_uuid) SELECT 'p' || k,"
                " CASE k WHEN 3 THEN (i % 20)::text ELSE ((i * 31 + k * 7) % 1000)::text END, md5('run' || i)"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 9) k")
    _tags(cur, "INSERT INTO tags (run_uuid, key, value)", n_runs)
    cur.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                f" SELECT 'm' || k, {VAL}, {T0} + i * 1000 + s, md5('run' || i), s, false"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 9) k, generate_series(0, 9) s")
    cur.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                f" SELECT 'm' || k, {VAL}, {T0} + i * 1000 + s, s, false, md5('run' || i)"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 9) k, (VALUES (9)) v(s)")
    cur.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                f" SELECT 'loss', {HVAL}, {T0} + s, md5('hist'), s, false FROM generate_series(0, {hist_points} - 1) s")
    cur.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                f" SELECT 'loss', {HVAL}, {T0} + s, s, false, md5('hist') FROM (VALUES ({hist_points} - 1)) v(s)")


def _runs(cur, template, schema, n_runs):
    """search runs (FINISHED), the history run, the write runs (RUNNING)."""
    cur.execute(template.format(id="md5('run' || i)", exp=1, name="'run-' || i", status="'FINISHED'",
                                end=f"{T0} + i * 1000 + 500", n=n_runs))
    cur.execute(template.format(id="md5('hist')", exp=2, name="'hist'", status="'FINISHED'",
                                end=f"{T0} + 1000", n=1))
    cur.execute(template.format(id="md5('wrun' || i)", exp=3, name="'writer-' || i", status="'RUNNING'",
                                end="NULL", n=WRITE_RUNS))
    # the run name is also the mlflow.runName tag, as both servers store it
    for pat, n, name in (("run", n_runs, "'run-' || i"), ("wrun", WRITE_RUNS, "'writer-' || i")):
        cur.execute(f"INSERT INTO {schema}tags (run_uuid, key, value) SELECT md5('{pat}' || i),"
                    f" 'mlflow.runName', {name} FROM generate_series(0, {n} - 1) i")
    cur.execute(f"INSERT INTO {schema}tags (run_uuid, key, value) VALUES (md5('hist'), 'mlflow.runName', 'hist')")


def _tags(cur, insert, n_runs):
    cur.execute(f"{insert} SELECT md5('run' || i), 't' || k, 'v' || ((i + k) % 50)"
                f" FROM generate_series(0, {n_runs} - 1) i, generate_series(0, 4) k")


# ---- registry: n_models models x 5 versions, 3 tags per model, aliases champion -> 5, challenger -> 4 ----
#
# Model i is "model-i" (created at T0 + i), version v of it was created at T0 + i*10 + v from run i,
# tags team = team-(i % 10), task = task-(i % 7), tier = tier-(i % 3). Versions have no tags.

REG_TAGS = ("team", "task", "tier")
REG_TAG_VALUE = ("CASE k WHEN 'team' THEN 'team-' || (i % 10) WHEN 'task' THEN 'task-' || (i % 7)"
                 " ELSE 'tier-' || (i % 3) END")
REG_MV_VALUES = ("{T0} + i * 10 + v, {T0} + i * 10 + v, '', 'bench', 'None', 'models:/m-' || i || '-' || v,"
                 " md5('run' || i), 'READY', '', '', 'models:/m-' || i || '-' || v").format(T0=T0)


def model_name(i):
    return f"model-{i}"


def seed_registry_mlflow(cur, n_models):
    cur.execute("INSERT INTO registered_models (name, creation_time, last_updated_time, description)"
                f" SELECT 'model-' || i, {T0} + i, {T0} + i, '' FROM generate_series(0, {n_models} - 1) i")
    cur.execute("INSERT INTO model_versions (name, version, creation_time, last_updated_time, description,"
                " user_id, current_stage, source, run_id, status, status_message, run_link, storage_location)"
                f" SELECT 'model-' || i, v, {REG_MV_VALUES}"
                f" FROM generate_series(0, {n_models} - 1) i, generate_series(1, 5) v")
    cur.execute(f"INSERT INTO registered_model_tags (key, value, name) SELECT k, {REG_TAG_VALUE}, 'model-' || i"
                f" FROM generate_series(0, {n_models} - 1) i, unnest(ARRAY['team', 'task', 'tier']) k")
    cur.execute("INSERT INTO registered_model_aliases (alias, version, name)"
                " SELECT a, CASE a WHEN 'champion' THEN 5 ELSE 4 END, 'model-' || i"
                f" FROM generate_series(0, {n_models} - 1) i, unnest(ARRAY['champion', 'challenger']) a")


def seed_registry_cairn(cur, n_models):
    """The same models in sql/003_registry.sql: rows keyed by rm_id, last_version = 5,
    tags inserted team, task, tier per model so their listing order (ord) is MLflow's."""
    s = "cairn."
    cur.execute(f"INSERT INTO {s}registered_models (name, creation_time, last_updated_time, description,"
                f" last_version) SELECT 'model-' || i, {T0} + i, {T0} + i, '', 5"
                f" FROM generate_series(0, {n_models} - 1) i ORDER BY i")
    ids = f"(SELECT rm_id FROM {s}registered_models WHERE name = 'model-' || i)"
    cur.execute(f"INSERT INTO {s}model_versions (rm_id, version, creation_time, last_updated_time, description,"
                " user_id, current_stage, source, run_id, status, status_message, run_link, storage_location)"
                f" SELECT {ids}, v, {REG_MV_VALUES}"
                f" FROM generate_series(0, {n_models} - 1) i, generate_series(1, 5) v")
    cur.execute(f"INSERT INTO {s}registered_model_tags (rm_id, key, value) SELECT {ids}, k, {REG_TAG_VALUE}"
                f" FROM generate_series(0, {n_models} - 1) i, unnest(ARRAY['team', 'task', 'tier'])"
                " WITH ORDINALITY AS t(k, o) ORDER BY i, o")
    cur.execute(f"INSERT INTO {s}registered_model_aliases (rm_id, alias, version)"
                f" SELECT {ids}, a, CASE a WHEN 'champion' THEN 5 ELSE 4 END"
                f" FROM generate_series(0, {n_models} - 1) i, unnest(ARRAY['champion', 'challenger']) a")
