"""--app-name basic-auth (issue 16): MLflow 3.17's basic-auth app.

The matrix enumerates Cairn's route table (api/routes.c): every route, as
anonymous / wrong password / reader / editor / manager / admin, on a fresh
set of resources the three users hold READ / EDIT / MANAGE on, must answer
401, 403 or "let through" exactly as the route's permission rule says. A
route without a rule, or with a rule the matrix does not know, fails it.

CAIRN_AUTH_MLFLOW=1 also runs the matrix against MLflow's own server
started with --app-name basic-auth (slow: about a minute to start) and
compares the decisions route by route; accepted differences are listed in
compat/DIFFERENCES.md.
"""
import base64
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

import mlflow
from conftest import REPO, TARGET, create_database, drop_database, free_port, pg_uri, reset_mlflow_state, \
    unique, wait_http_ok

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
ADMIN_PW = "admin-password-1234"
PW = {"reader": "reader-password-1", "editor": "editor-password-1", "manager": "manager-password-1"}
SECRET = "cairn-test-secret"
API = "/api/2.0/mlflow"
API3 = "/api/3.0/mlflow"

# what each rule needs from the caller on the route's resource
#   level: READ / EDIT / MANAGE on the world's experiment or model
#   "any": any authenticated user; "admin": admins only; "self": the username parameter is the caller
RULE_NEEDS = {
    "AUTH_PUBLIC": "public", "AUTH_ANY_USER": "any", "AUTH_ADMIN": "admin",
    "AUTH_EXP_CREATE": "any", "AUTH_EXP_READ": "READ", "AUTH_EXP_READ_BY_NAME": "READ",
    "AUTH_EXP_UPDATE": "EDIT", "AUTH_EXP_DELETE": "MANAGE", "AUTH_EXP_SEARCH": "any",
    "AUTH_RUN_CREATE": "EDIT", "AUTH_RUN_READ": "READ", "AUTH_RUN_UPDATE": "EDIT", "AUTH_RUN_DELETE": "MANAGE",
    "AUTH_RUN_LOG": "EDIT", "AUTH_RUN_SEARCH": "any", "AUTH_METRIC_BULK": "READ",
    "AUTH_RUN_ARTIFACT_READ": "READ", "AUTH_MV_ARTIFACT_READ": "READ",
    "AUTH_ARTIFACT_READ": "READ", "AUTH_ARTIFACT_UPDATE": "EDIT", "AUTH_ARTIFACT_DELETE": "MANAGE",
    "AUTH_LM_CREATE": "EDIT", "AUTH_LM_READ": "READ", "AUTH_LM_UPDATE": "EDIT", "AUTH_LM_DELETE": "MANAGE",
    "AUTH_LM_SEARCH": "any",
    "AUTH_RM_CREATE": "any", "AUTH_RM_READ": "READ", "AUTH_RM_UPDATE": "EDIT", "AUTH_RM_DELETE": "MANAGE",
    "AUTH_RM_SEARCH": "any",
    "AUTH_MV_CREATE": "EDIT", "AUTH_MV_READ": "READ", "AUTH_MV_UPDATE": "EDIT", "AUTH_MV_DELETE": "MANAGE",
    "AUTH_MV_SEARCH": "any", "AUTH_ALIAS_SET": "EDIT", "AUTH_ALIAS_DELETE": "MANAGE",
    "AUTH_USER_SELF": "self", "AUTH_USER_LIST": "any", "AUTH_USER_CREATE": "admin",
    "AUTH_ROLES_MANAGE": "admin", "AUTH_ROLES_VIEW": "member", "AUTH_ROLES_LIST": "member",
    "AUTH_USER_ROLES_VIEW": "self", "AUTH_RESOURCE_MANAGE": "MANAGE", "AUTH_USER_PERMISSION_GET": "self",
    "AUTH_OTLP_TRACES": "EDIT", "AUTH_TRACE_START": "EDIT", "AUTH_TRACE_READ": "READ", "AUTH_TRACE_UPDATE": "EDIT",
    "AUTH_TRACE_DELETE": "MANAGE", "AUTH_TRACE_BATCH_READ": "READ", "AUTH_TRACE_SEARCH": "READ",
    "AUTH_TRACE_LINK_RUN": "EDIT", "AUTH_TRACE_START_V2": "EDIT", "AUTH_TRACE_SEARCH_IDS": "READ",
    "AUTH_EXP_IDS_READ": "READ", "AUTH_PRESIGNED_UPLOAD": "EDIT", "AUTH_ASSESSMENT_CREATE": "EDIT", "AUTH_ASSESSMENT_READ": "READ",
    "AUTH_ASSESSMENT_UPDATE": "EDIT", "AUTH_ASSESSMENT_DELETE": "EDIT",
    # issue 21: evaluation datasets (permissions from their linked experiments)
    "AUTH_DATASET_CREATE": "EDIT", "AUTH_DATASET_SEARCH": "READ", "AUTH_DATASET_READ": "READ",
    "AUTH_DATASET_UPDATE": "EDIT", "AUTH_DATASET_DELETE": "MANAGE", "AUTH_DATASET_ADD_EXPERIMENTS": "EDIT",
    "AUTH_GENAI_EVALUATE_INVOKE": "EDIT",
    # scorers: register/list/configs/invoke on the experiment, get/versions/delete on the scorer's own
    # grant (make_world grants the same level on both)
    "AUTH_SCORER_REGISTER": "EDIT", "AUTH_SCORER_LIST": "READ", "AUTH_SCORER_READ": "READ",
    "AUTH_SCORER_DELETE": "MANAGE", "AUTH_SCORER_CONFIGS_READ": "READ", "AUTH_SCORER_INVOKE": "EDIT",
    "AUTH_SCORER_CONFIG_UPDATE": "EDIT",
    # issue 21: labelling (the world's review queue is the admin's, with reader, editor and manager assigned)
    "AUTH_ISSUE_CREATE": "EDIT", "AUTH_ISSUE_SEARCH": "READ", "AUTH_ISSUE_READ": "READ", "AUTH_ISSUE_UPDATE": "EDIT",
    "AUTH_ISSUE_INVOKE": "EDIT", "AUTH_LABEL_SCHEMA_CREATE": "MANAGE", "AUTH_LABEL_SCHEMA_READ": "READ",
    "AUTH_LABEL_SCHEMA_MANAGE": "MANAGE", "AUTH_LABELING_EXP_READ": "READ", "AUTH_RQ_CREATE": "EDIT",
    "AUTH_RQ_VIEW": "READ", "AUTH_RQ_VIEW_BY_NAME": "READ", "AUTH_RQ_LIST": "READ", "AUTH_RQ_UPDATE": "MANAGE",
    "AUTH_RQ_DELETE": "MANAGE", "AUTH_RQ_ADD_ITEMS": "EDIT", "AUTH_RQ_REVIEW": "EDIT",
    # issue 12: the MCP server registry: one rule reading the path (mcp_need)
    "AUTH_MCP": "mcp",
}
LEVEL = {"reader": 1, "editor": 3, "manager": 4}
NEED_LEVEL = {"READ": 1, "EDIT": 3, "MANAGE": 4}
PRINCIPALS = ("anonymous", "wrong", "reader", "editor", "manager", "admin")


# ---------------------------------------------------------------- the route table
def route_table():
    """(method, path pattern, handler, flags, rule) for every entry of api/routes.c."""
    text = open(os.path.join(REPO, "api/routes.c")).read()
    macros = dict(re.findall(r'#define (\w+) "([^"]*)"', text))
    entries = []
    for m in re.finditer(r'\{\s*"(GET|POST|PUT|PATCH|DELETE|HEAD)",\s*(\w+(?:\s+"[^"]*")?|"[^"]*")\s*,\s*(\w+)\s*,'
                         r'\s*([^{}]*?)\s*\}', text):
        method, path_expr, handler, rest = m.groups()   # a path: "literal", MACRO "literal" or MACRO alone
        parts = re.match(r'(?:(\w+)\s*)?(?:"([^"]*)")?$', path_expr).groups()
        path = macros.get(parts[0], "") + (parts[1] or "") if parts[0] else parts[1]
        fields = [f.strip() for f in rest.rsplit(",", 1)] if "," in rest else [rest.strip()]
        rule = fields[1] if len(fields) == 2 and fields[1].startswith("AUTH_") else None
        entries.append((method, path, handler, fields[0], rule))
    return entries


def test_route_table_parsed_and_every_route_has_a_known_rule():
    routes = route_table()
    assert len(routes) > 80
    missing = [(m, p) for m, p, _h, _f, rule in routes if rule is None]
    assert not missing, f"routes without a permission rule: {missing}"
    unknown = {rule for *_x, rule in routes} - set(RULE_NEEDS)
    assert not unknown, f"rules the auth matrix does not know (add them to RULE_NEEDS): {unknown}"
    assert sum("ROUTE_AUTH_APP" in f or f == "U" for _m, _p, _h, f, _r in routes) == 27


# ---------------------------------------------------------------- servers
def write_config(path, database_uri=None, default_permission="NO_PERMISSIONS", extra=""):
    with open(path, "w") as f:
        f.write("[mlflow]\n")
        f.write(f"default_permission = {default_permission}\n")
        if database_uri:
            f.write(f"database_uri = {database_uri}\n")
        f.write("admin_username = admin\n")
        f.write(f"admin_password = {ADMIN_PW}\n")
        f.write("authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        f.write(extra)


class AuthEnv:
    """Environment for a server started with --app-name basic-auth."""

    def __init__(self, config):
        self.vars = {"MLFLOW_AUTH_CONFIG_PATH": config, "MLFLOW_FLASK_SERVER_SECRET_KEY": SECRET}
        self.saved = {}

    def __enter__(self):
        for k, v in self.vars.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v
        for k in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_ADMIN_USERNAME"):
            self.saved[k] = os.environ.pop(k, None)
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# cheap hashes keep the matrix fast (each wrong password costs one); the limit is tested on its own server
FAST = "password_hash_iterations = 10000\n"


def start_cairn(cairn_launcher, extra_ini="failed_login_limit_per_minute = 100000\n",
                default_permission="NO_PERMISSIONS"):
    cfg = tempfile.mktemp(prefix="cairn-auth-", suffix=".ini")
    write_config(cfg, default_permission=default_permission, extra=FAST + extra_ini)
    with AuthEnv(cfg):
        srv = cairn_launcher.start(["--app-name", "basic-auth"])
    srv.auth_config = cfg
    return srv


class MlflowAuthServer:
    def __init__(self, pg_socket):
        self.sock = pg_socket
        self.db = "mlflow_auth_" + uuid.uuid4().hex[:10]
        self.auth_db = self.db + "_users"
        create_database(pg_socket, self.db)
        create_database(pg_socket, self.auth_db)
        self.tmp = tempfile.mkdtemp(prefix="mlflow-auth-")
        cfg = os.path.join(self.tmp, "basic_auth.ini")
        # MLflow's credential cache on (off by default: one PBKDF2 per request, seconds on a loaded
        # machine); decisions do not depend on it
        write_config(cfg, database_uri=pg_uri(pg_socket, self.auth_db, "psycopg2"),
                     extra="auth_cache_ttl_seconds = 3600\n")
        art = os.path.join(self.tmp, "artifacts")
        os.makedirs(art)
        port = free_port()
        self.log = os.path.join(self.tmp, "server.log")
        env = dict(os.environ, MLFLOW_AUTH_CONFIG_PATH=cfg, MLFLOW_FLASK_SERVER_SECRET_KEY=SECRET)
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [os.path.join(REPO, ".venv/bin/mlflow"), "server", "--app-name", "basic-auth",
                 "--backend-store-uri", pg_uri(pg_socket, self.db, "psycopg2"), "--host", "127.0.0.1",
                 "--port", str(port), "--artifacts-destination", art, "--workers", "1"],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.tmp, env=env,
                start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        if not wait_http_ok(self.url + "/health", 240, self.proc):
            self.stop()
            pytest.fail("MLflow's basic-auth server did not start:\n" + open(self.log).read()[-3000:])

    def cheapen_password_hashes(self, users=None):
        """Werkzeug's default hash costs ~0.5 s of CPU, paid by every wrong-password request:
        store the same passwords with 1,000 iterations (check_password_hash reads the count from
        the stored hash), so the matrix measures decisions, not hashing."""
        import psycopg2
        from werkzeug.security import generate_password_hash
        with psycopg2.connect(pg_uri(self.sock, self.auth_db)) as conn:
            cur = conn.cursor()
            for user, pw in (users or dict(PW, admin=ADMIN_PW)).items():
                cur.execute("UPDATE users SET password_hash = %s WHERE username = %s",
                            (generate_password_hash(pw, method="pbkdf2:sha256:1000"), user))

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        drop_database(self.sock, self.db)
        drop_database(self.sock, self.auth_db)


@pytest.fixture(scope="module")
def auth_server(request, cairn_launcher, pg_socket):
    if TARGET == "mlflow":
        srv = MlflowAuthServer(pg_socket)
        setup_users(srv.url)
        srv.cheapen_password_hashes()
        yield srv
        srv.stop()
        return
    srv = start_cairn(cairn_launcher)
    yield srv
    problems = cairn_launcher.stop(srv)
    os.unlink(srv.auth_config)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---------------------------------------------------------------- HTTP helpers
class Caller:
    def __init__(self, url, who):
        self.url, self.who = url, who
        self.session = requests.Session()
        if who == "admin":
            self.session.auth = ("admin", ADMIN_PW)
        elif who == "wrong":
            self.session.auth = ("reader", "not-the-password")
        elif who in PW:
            self.session.auth = (who, PW[who])

    def call(self, method, path, params=None, body=None, data=None, headers=None):
        kw = {"timeout": 30, "headers": headers or {}}
        if params is not None:
            kw["params"] = params
        if body is not None:
            kw["json"] = body
        if data is not None:
            kw["data"] = data
        return self.session.request(method, self.url + path, **kw)

    def ok(self, method, path, **kw):
        r = self.call(method, path, **kw)
        assert r.status_code == 200, f"{self.who} {method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content and r.headers.get("Content-Type", "").startswith("application/json") else {}


def setup_users(url):
    admin = Caller(url, "admin")
    for name, pw in PW.items():
        r = admin.call("POST", API + "/users/create", body={"username": name, "password": pw})
        assert r.status_code in (200, 400), r.text   # 400: exists already (a re-run)
    return admin


def grant(admin, user, rtype, rid, perm):
    admin.ok("POST", API3 + "/users/permissions/grant",
             body={"username": user, "resource_type": rtype, "resource_id": rid, "permission": perm})


def make_world(admin):
    """An experiment with a run, a logged model and an artifact, and a registered model with a
    version, on which reader / editor / manager hold READ / EDIT / MANAGE."""
    w = {"exp_name": unique("auth-exp"), "rm": unique("auth-rm")}
    w["exp"] = admin.ok("POST", API + "/experiments/create", body={"name": w["exp_name"]})["experiment_id"]
    run = admin.ok("POST", API + "/runs/create", body={"experiment_id": w["exp"], "start_time": 1})["run"]
    w["run"] = run["info"]["run_id"]
    admin.ok("POST", API + "/runs/log-metric", body={"run_id": w["run"], "key": "m", "value": 1.0,
                                                      "timestamp": 1, "step": 0})
    w["art"] = f'{w["exp"]}/{w["run"]}/artifacts/a.txt'
    admin.ok("PUT", "/api/2.0/mlflow-artifacts/artifacts/" + w["art"], data=b"hello")
    lm = admin.ok("POST", API + "/logged-models", body={"experiment_id": w["exp"], "name": "lm"})
    w["lm"] = lm["model"]["info"]["model_id"]
    admin.ok("POST", API + "/registered-models/create", body={"name": w["rm"]})
    admin.ok("POST", API + "/model-versions/create",
             body={"name": w["rm"], "source": f'mlflow-artifacts:/{w["exp"]}/{w["run"]}/artifacts',
                   "run_id": w["run"]})
    admin.ok("POST", API + "/registered-models/alias", body={"name": w["rm"], "alias": "champ", "version": "1"})
    w["trace"] = start_trace(admin, w["exp"])
    w["dataset"] = admin.ok("POST", API3 + "/datasets/create",   # issue 21
                            body={"name": unique("auth-ds"), "experiment_ids": [w["exp"]]})["dataset"]["dataset_id"]
    w["scorer"] = admin.ok("POST", API3 + "/scorers/register",
                           body={"experiment_id": w["exp"], "name": "s", "serialized_scorer": '{"name": "s"}'})["scorer_id"]
    w["issue"] = admin.ok("POST", API3 + "/issues", body={"experiment_id": w["exp"], "name": "i",
                                                          "description": "d"})["issue"]["issue_id"]
    w["schema"] = admin.ok("POST", API3 + "/label-schemas/create",
                           body={"experiment_id": w["exp"], "name": "q", "type": "FEEDBACK",
                                 "input": {"text": {}}})["label_schema"]["schema_id"]
    w["queue_name"] = unique("rq")
    w["queue"] = admin.ok("POST", API3 + "/review-queues/create",
                          body={"experiment_id": w["exp"], "name": w["queue_name"], "queue_type": "CUSTOM",
                                "users": ["reader", "editor", "manager"]})["review_queue"]["queue_id"]
    admin.ok("POST", API3 + "/review-queues/items/add", body={"queue_id": w["queue"], "item_ids": [w["trace"]]})
    for user, perm in (("reader", "READ"), ("editor", "EDIT"), ("manager", "MANAGE")):
        grant(admin, user, "experiment", w["exp"], perm)
        grant(admin, user, "registered_model", w["rm"], perm)
        grant(admin, user, "scorer", f'{w["exp"]}/s', perm)   # a scorer's own tier: the experiment's does not reach it
    # issue 12: an MCP server with a version, a tag on each, an alias and an endpoint
    w["mcp"] = f"com.cairn-auth/{unique('mcp')}"
    admin.ok("POST", API3 + "/mcp-servers/" + w["mcp"] + "/versions",
             body={"server_json": {"name": w["mcp"], "version": "1.0.0"}})
    admin.ok("POST", API3 + "/mcp-servers/" + w["mcp"] + "/tags", body={"key": "k", "value": "v"})
    admin.ok("POST", API3 + "/mcp-servers/" + w["mcp"] + "/versions/1.0.0/tags", body={"key": "k", "value": "v"})
    admin.ok("POST", API3 + "/mcp-servers/" + w["mcp"] + "/aliases", body={"alias": "a", "version": "1.0.0"})
    w["mcp_ep"] = admin.ok("POST", API3 + "/mcp-servers/" + w["mcp"] + "/endpoints",
                           body={"url": "https://mcp.example.com", "server_version": "1.0.0"})["id"]
    for user, perm in (("reader", "READ"), ("editor", "EDIT"), ("manager", "MANAGE")):
        grant(admin, user, "mcp_server", w["mcp"], perm)
    w["role"] = admin.ok("POST", API3 + "/roles/create",
                         body={"name": unique("role"), "workspace": "default"})["role"]["id"]
    return w


def start_trace(caller, exp):
    tid = "tr-" + uuid.uuid4().hex
    caller.ok("POST", API3 + "/traces", body={"trace": {"trace_info": trace_info(tid, exp)}})
    return tid


def trace_info(tid, exp):
    return {"trace_id": tid, "trace_location": {"type": "MLFLOW_EXPERIMENT",
                                                "mlflow_experiment": {"experiment_id": exp}},
            "request_time": "2026-05-01T10:20:30.123Z", "state": "OK"}


def mcp_request_for(method, path, w):
    """issue 12: an MCP registry route on the world's server"""
    path = (path.replace("{name*}", w["mcp"]).replace("{version*}", "1.0.0").replace("{key*}", "k")
            .replace("{alias*}", "a").replace("{endpoint_id}", w["mcp_ep"]))
    if method in ("GET", "DELETE"):
        return path, {"params": {}} if method == "GET" else {}
    tail = path.rsplit("/", 1)[1]
    if path.endswith("/mcp-servers"):
        body = {"name": f"com.cairn-auth/{unique('made')}"}
    elif tail == "versions":
        body = {"server_json": {"name": w["mcp"], "version": f"2.{uuid.uuid4().int % 10**9}.0"}}
    elif tail == "tags":
        body = {"key": "k", "value": "v2"}
    elif tail == "aliases":
        body = {"alias": "b", "version": "1.0.0"}
    elif tail == "endpoints":
        body = {"url": "https://mcp.example.com/2", "server_version": "1.0.0"}
    elif "/endpoints/" in path:
        body = {"url": "https://mcp.example.com/3"}
    elif "/versions/" in path:
        body = {"connect_options": {}}
    else:
        body = {"display_name": "D"}
    return path, {"body": body}


def request_for(method, path, rule, w):
    """A request exercising route (method, path) on world w, built from what the rule reads."""
    if rule == "AUTH_MCP":
        return mcp_request_for(method, path, w)
    path = (path.replace("{model_id}", w["lm"]).replace("{tag_key}", "k")
            .replace("{path*}", w["art"]).replace("{trace_id}", w["trace"]).replace("{request_id}", w["trace"])
            .replace("{assessment_id}", "a-" + uuid.uuid4().hex[:8])
            .replace("{dataset_id}", w["dataset"]).replace("{key}", "k")
            .replace("{workspace_name}", "default").replace("{issue_id}", w.get("issue", "")))
    p = {"experiment_id": w["exp"], "run_id": w["run"], "name": w["rm"], "version": "1"}
    if rule in ("AUTH_EXP_READ_BY_NAME",):
        p = {"experiment_name": w["exp_name"]}
    elif rule in ("AUTH_METRIC_BULK",):
        p = {"run_id": w["run"], "run_ids": w["run"], "metric_key": "m"}
    elif rule.startswith("AUTH_RM_") or rule.startswith("AUTH_MV_") or rule.startswith("AUTH_ALIAS"):
        p = {"name": w["rm"], "version": "1", "alias": "champ", "key": "k", "value": "v",
             "new_name": w["rm"] + "-x", "stage": "Staging", "description": "d",
             "source": f'mlflow-artifacts:/{w["exp"]}/{w["run"]}/artifacts', "run_id": w["run"]}
        if rule == "AUTH_RM_CREATE":
            p = {"name": unique("created-rm")}
    elif rule == "AUTH_EXP_IDS_READ":
        p = {"experiment_ids": [w["exp"]]}
    elif rule == "AUTH_PRESIGNED_UPLOAD":
        p = {"run_id": w["run"], "path": "x.txt"}
    elif rule == "AUTH_EXP_CREATE":
        p = {"name": unique("created-exp")}
    elif rule in ("AUTH_USER_SELF", "AUTH_USER_ROLES_VIEW", "AUTH_USER_PERMISSION_GET"):
        p = {"username": "editor", "password": PW["editor"], "resource_type": "experiment",
             "resource_id": w["exp"]}
    elif rule == "AUTH_ADMIN":
        p = {"username": "nobody-" + uuid.uuid4().hex[:6], "is_admin": False}
    elif rule in ("AUTH_ROLES_MANAGE", "AUTH_ROLES_VIEW"):
        p = {"role_id": w["role"], "username": "reader", "name": unique("r"), "workspace": "default",
             "resource_type": "experiment", "resource_pattern": w["exp"], "permission": "READ"}
    elif rule == "AUTH_ROLES_LIST":
        p = {"workspace": "default"}
    elif rule == "AUTH_RESOURCE_MANAGE":
        p = {"username": "reader", "resource_type": "experiment", "resource_id": w["exp"], "permission": "EDIT"}
    elif rule == "AUTH_USER_CREATE":
        p = {"username": unique("u"), "password": "a-long-password-1"}
    elif rule.startswith("AUTH_LM_"):
        p = {"experiment_id": w["exp"], "model_id": w["lm"], "name": "lm2", "experiment_ids": [w["exp"]],
             "tags": [{"key": "k", "value": "v"}], "params": [{"key": "k", "value": "v"}], "status": "READY"}
    elif rule.startswith("AUTH_ARTIFACT") and "{path*}" not in path and "/artifacts" in path:
        p = {"path": w["art"].rsplit("/", 1)[0]}
    elif rule.startswith("AUTH_TRACE") or rule.startswith("AUTH_ASSESSMENT") or rule == "AUTH_OTLP_TRACES":
        p = {"trace_id": w["trace"], "request_id": w["trace"], "trace_ids": [w["trace"]], "key": "k", "value": "v",
             "experiment_id": w["exp"], "run_id": w["run"], "prompt_versions": [], "max_traces": 10,
             "experiment_ids": [w["exp"]], "timestamp_ms": 1, "request_metadata": [], "tags": [],
             "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": w["exp"]}}],
             "assessment": {"assessment_name": "a", "trace_id": w["trace"], "feedback": {"value": 1},
                            "source": {"source_type": "HUMAN", "source_id": "x"}}}
        if rule == "AUTH_TRACE_START":
            p = {"trace": {"trace_info": trace_info("tr-" + uuid.uuid4().hex, w["exp"])}}
        if rule == "AUTH_OTLP_TRACES":
            return path, {"data": b"", "headers": {"Content-Type": "application/x-protobuf",
                                                   "X-Mlflow-Experiment-Id": w["exp"]}}
        if method == "GET":
            p["trace_ids"] = w["trace"]
            p["experiment_ids"] = w["exp"]
    elif rule.startswith("AUTH_DATASET") or rule == "AUTH_GENAI_EVALUATE_INVOKE":   # issue 21
        p = {"experiment_ids": w["exp"] if method == "GET" else [w["exp"]], "name": unique("ds"), "tags": "{}",
             "records": "[]", "dataset_record_ids": [], "experiment_id": w["exp"], "trace_ids": [w["trace"]],
             "serialized_scorers": ["{}"]}
    elif rule.startswith("AUTH_SCORER"):   # issue 21
        p = {"experiment_id": w["exp"], "name": "s", "serialized_scorer": '{"name": "s"}', "sample_rate": 0,
             "scorer_ids": [w["scorer"]], "trace_ids": [w["trace"]]}
        if method == "GET":
            p["scorer_ids"] = w["scorer"]
    elif rule.startswith(("AUTH_ISSUE", "AUTH_LABEL", "AUTH_RQ")):   # issue 21: labelling
        p = {"experiment_id": w["exp"], "name": unique("n"), "description": "d", "issue_id": w["issue"],
             "schema_id": w["schema"], "type": "FEEDBACK", "input": {"text": {}}, "queue_id": w["queue"],
             "queue_type": "CUSTOM", "user": "reader", "item_ids": [w["trace"]], "item_id": w["trace"],
             "status": "COMPLETE", "trace_ids": [w["trace"]], "categories": [], "provider": "openai", "model": "m"}
        if rule == "AUTH_RQ_VIEW_BY_NAME":
            p["name"] = w["queue_name"]
        if method == "GET":
            p = {k: v for k, v in p.items() if isinstance(v, str)}
    if rule in ("AUTH_RUN_LOG",):
        p.update({"key": "m2", "value": 2.0, "timestamp": 2, "step": 1, "metrics": [], "params": [], "tags": []})
    if rule in ("AUTH_RUN_UPDATE",):
        p.update({"key": "k", "value": "v", "status": "FINISHED"})
    if method == "GET":
        return path, {"params": p}
    if path.endswith("/upload-artifact"):   # issue 12: the UI's upload names its run in the query, raw body
        return path, {"params": {"run_uuid": w["run"], "path": "ui-upload.txt"}, "data": b"payload"}
    if method == "PUT" and not rule.startswith("AUTH_SCORER"):   # issue 21: online-config is a JSON PUT
        return path, {"data": b"payload"}
    if path.endswith("/users/create-ui"):
        return path, {"data": "username=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    return path, {"body": p}


def mcp_need(method, pattern):
    """_get_mcp_server_validator on the world's server: create and the cross-server searches are any
    user's; a read needs READ, a write EDIT, a delete MANAGE (on the server, the version tier falling
    back to it)."""
    sub = pattern.split("/mcp-servers", 1)[1]
    if sub in ("", "/endpoints"):
        return "any"
    return {"GET": "READ", "DELETE": "MANAGE"}.get(method, "EDIT")


def expected(rule, who, method=None, pattern=None):
    need = RULE_NEEDS[rule]
    if need == "mcp":
        need = mcp_need(method, pattern)
    if need == "public":
        return "allowed"
    if who in ("anonymous", "wrong"):
        return 401
    if who == "admin" or need == "any":
        return "allowed"
    if need == "admin":
        return 403
    if need == "self":
        return "allowed" if who == "editor" else 403
    if need == "member":   # holds a role in the workspace: the grants made them a member
        return "allowed"
    return "allowed" if LEVEL[who] >= NEED_LEVEL[need] else 403


def decision(status):
    return status if status in (401, 403) else "allowed"


def run_matrix(url, routes, strict=True):
    admin = setup_users(url)
    callers = {who: Caller(url, who) for who in PRINCIPALS}
    results = {}
    shared = make_world(admin)
    for method, pattern, handler, _flags, rule in routes:
        # a route that removes or renames what it names gets resources of its own (per caller for a
        # rename, which an allowed editor would otherwise do to the manager's model too)
        destructive = re.search(r"delete|restore|rename|unassign|revoke|remove", handler)
        w = make_world(admin) if destructive else shared
        for who in PRINCIPALS:
            if "rename" in handler or "remove_eval_dataset" in handler:   # issue 21: unlinking denies the next caller
                w = make_world(admin)
            path, kw = request_for(method, pattern, rule, w)
            r = callers[who].call(method, path, **kw)
            assert not strict or r.status_code < 500 or r.status_code == 501 or \
                (r.status_code == 503 and "/workspaces" in pattern), \
                f"{who} {method} {path}: {r.status_code} {r.text[:300]}"
            results[(method, pattern, who)] = (r.status_code, r)
    return results


def served_routes():
    return route_table()


@pytest.mark.mlflow3
def test_auth_matrix(auth_server):
    routes = served_routes()
    results = run_matrix(auth_server.url, routes)
    wrong = []
    for method, pattern, _h, _f, rule in routes:
        for who in PRINCIPALS:
            status, r = results[(method, pattern, who)]
            want = expected(rule, who, method, pattern)
            if decision(status) != want:
                wrong.append(f"{who:9} {method:6} {pattern} [{rule}]: {status} (want {want}) {r.text[:120]!r}")
            if status == 401:
                assert r.headers.get("WWW-Authenticate") == 'Basic realm="mlflow"'
    assert not wrong, "\n" + "\n".join(wrong)


MLFLOW_COMPARE = pytest.mark.skipif(os.environ.get("CAIRN_AUTH_MLFLOW") != "1" or TARGET == "mlflow",
                                    reason="set CAIRN_AUTH_MLFLOW=1 (make test-auth-mlflow) to compare with "
                                           "MLflow's basic-auth server (slow)")


@pytest.fixture(scope="module")
def mlflow_auth_server(pg_socket):
    """MLflow's own server with --app-name basic-auth, once per module, users set up with cheap hashes."""
    ref = MlflowAuthServer(pg_socket)
    try:
        setup_users(ref.url)
        ref.cheapen_password_hashes()
        yield ref
    finally:
        ref.stop()


@MLFLOW_COMPARE
@pytest.mark.mlflow3
def test_auth_matrix_same_as_mlflow(auth_server, mlflow_auth_server):
    """The same requests against MLflow's own basic-auth server: the same 401/403/allowed decisions."""
    routes = served_routes()
    ours = run_matrix(auth_server.url, routes)
    theirs = run_matrix(mlflow_auth_server.url, routes, strict=False)
    # a route MLflow serves only under /ajax-api/ (its admin gets 404 or 405 under /api/) is compared
    # there, on both servers
    ajax = [(m, "/ajax-api/" + p[len("/api/"):], h, f, rule) for m, p, h, f, rule in routes
            if p.startswith("/api/") and theirs[(m, p, "admin")][0] in (404, 405)]
    if ajax:
        ours.update(run_matrix(auth_server.url, ajax))
        theirs.update(run_matrix(mlflow_auth_server.url, ajax, strict=False))
        routes = routes + ajax
    dump = os.environ.get("CAIRN_AUTH_MATRIX_DUMP")
    if dump:   # every reply side by side, for triage
        import json
        with open(dump, "w") as f:
            json.dump([{"method": m, "path": p, "rule": rule, "who": who,
                        "cairn": [ours[(m, p, who)][0], ours[(m, p, who)][1].text[:300]],
                        "mlflow": [theirs[(m, p, who)][0], theirs[(m, p, who)][1].text[:300]]}
                       for m, p, _h, _f, rule in routes for who in PRINCIPALS], f, indent=1)
    accepted = accepted_differences()
    diffs = []
    for method, pattern, _h, _f, rule in routes:
        for who in PRINCIPALS:
            a, b = ours[(method, pattern, who)][0], theirs[(method, pattern, who)][0]
            if theirs[(method, pattern, "admin")][0] in (404, 405):
                continue   # a route MLflow does not serve (here): it denies non-admins before routing
            if decision(a) != decision(b) and (method, pattern) not in accepted:
                diffs.append(f"{who:9} {method:6} {pattern} [{rule}]: cairn {a}, mlflow {b}")
    assert not diffs, "\n" + "\n".join(diffs)


def accepted_differences():
    """(method, path) pairs compat/DIFFERENCES.md lists under 'Auth matrix'."""
    text = open(os.path.join(REPO, "compat/DIFFERENCES.md")).read()
    return set(re.findall(r"auth-matrix: (GET|POST|PUT|PATCH|DELETE) (\S+)", text))


# ---------------------------------------------------------------- the client's auth API
@pytest.mark.mlflow3
def test_get_app_client_users_and_permissions(auth_server, monkeypatch):
    from mlflow.exceptions import RestException
    from mlflow.server import get_app_client

    setup_users(auth_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PW)
    client = get_app_client("basic-auth", tracking_uri=auth_server.url)
    name = unique("user")
    user = client.create_user(name, "a-long-password-1")
    assert user.username == name and user.is_admin is False and user.id > 0
    assert client.get_user(name).id == user.id
    with pytest.raises(RestException) as e:
        client.create_user(name, "a-long-password-1")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(RestException) as e:
        client.create_user(unique("user"), "short")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"

    reset_mlflow_state(auth_server.url)
    exp = mlflow.MlflowClient(auth_server.url).create_experiment(unique("perm-exp"))
    client.grant_user_permission(name, "experiment", exp, "EDIT")
    got = client.get_user_permission(name, "experiment", exp)
    assert (got.permission, got.allowed) == ("EDIT", True)
    with pytest.raises(RestException) as e:
        client.grant_user_permission(name, "experiment", exp, "READ")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.revoke_user_permission(name, "experiment", exp)
    got = client.get_user_permission(name, "experiment", exp)
    assert got.permission == "NO_PERMISSIONS" and got.allowed is False
    with pytest.raises(RestException):
        client.revoke_user_permission(name, "experiment", exp)
    with pytest.raises(RestException) as e:
        client.grant_user_permission(name, "workspace", "*", "MANAGE")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"

    role = client.create_role("default", unique("role"), description="readers")
    assert role.workspace == "default" and role.description == "readers"
    rp = client.add_role_permission(role.id, "experiment", "*", "READ")
    assert rp.role_id == role.id and rp.permission == "READ"
    assert [p.id for p in client.list_role_permissions(role.id)] == [rp.id]
    assert client.update_role_permission(rp.id, "EDIT").permission == "EDIT"
    assignment = client.assign_role(name, role.id)
    assert assignment.role_id == role.id and assignment.user_id == user.id
    assert role.id in [r.id for r in client.list_user_roles(name)]
    assert [a.user_id for a in client.list_role_users(role.id)] == [user.id]
    assert role.id in [r.id for r in client.list_roles("default")]
    assert client.update_role(role.id, description="editors").description == "editors"
    with pytest.raises(RestException) as e:
        client.create_role("default", "__user_99__")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    client.unassign_role(name, role.id)
    client.remove_role_permission(rp.id)
    client.delete_role(role.id)
    with pytest.raises(RestException) as e:
        client.get_role(role.id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.update_user_admin(name, True)
    assert client.get_user(name).is_admin is True
    client.update_user_password(name, "another-password-1")
    r = requests.get(auth_server.url + API + "/users/current", auth=(name, "another-password-1"), timeout=10)
    assert r.status_code == 200 and r.json()["user"]["is_admin"] is True
    assert r.json()["is_basic_auth"] is True
    client.delete_user(name)
    with pytest.raises(RestException) as e:
        client.get_user(name)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = requests.get(auth_server.url + API + "/users/current", auth=(name, "another-password-1"), timeout=10)
    assert r.status_code == 401   # a deleted user's cached credential is gone at once


@pytest.mark.mlflow3
def test_self_service_password_change(auth_server):
    admin = setup_users(auth_server.url)
    name = unique("self")
    admin.ok("POST", API + "/users/create", body={"username": name, "password": "first-password-1"})
    me = requests.Session()
    me.auth = (name, "first-password-1")
    url = auth_server.url + API + "/users/update-password"
    r = me.patch(url, json={"username": name, "password": "second-password-1"}, timeout=10)
    assert r.status_code == 400 and "Current password is required" in r.json()["message"]
    r = me.patch(url, json={"username": name, "password": "second-password-1", "current_password": "nope-nope-nope"},
                 timeout=10)
    assert r.status_code == 400
    r = me.patch(url, json={"username": name, "password": "second-password-1",
                            "current_password": "first-password-1"}, timeout=10)
    assert r.status_code == 200
    assert me.get(auth_server.url + API + "/users/current", timeout=10).status_code == 401
    me.auth = (name, "second-password-1")
    assert me.get(auth_server.url + API + "/users/current", timeout=10).status_code == 200
    # someone else's password: 403
    r = me.patch(url, json={"username": "reader", "password": "x" * 12}, timeout=10)
    assert r.status_code == 403


# ---------------------------------------------------------------- search filtering
@pytest.mark.mlflow3
def test_search_shows_only_readable(auth_server, monkeypatch):
    from mlflow import MlflowClient

    admin = setup_users(auth_server.url)
    mine, theirs = [], []
    for i in range(7):
        e = admin.ok("POST", API + "/experiments/create", body={"name": unique(f"flt{i}")})["experiment_id"]
        rm = unique(f"flt-rm{i}")
        admin.ok("POST", API + "/registered-models/create", body={"name": rm})
        admin.ok("POST", API + "/runs/create", body={"experiment_id": e, "start_time": 1})
        admin.ok("POST", API + "/logged-models", body={"experiment_id": e, "name": "m"})
        admin.ok("POST", API + "/model-versions/create", body={"name": rm, "source": "s3://bucket/x"})
        if i % 3 == 0:
            grant(admin, "reader", "experiment", e, "READ")
            grant(admin, "reader", "registered_model", rm, "READ")
            mine.append((e, rm))
        else:
            theirs.append((e, rm))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PW["reader"])
    reset_mlflow_state(auth_server.url)
    c = MlflowClient(auth_server.url)
    my_exps = {e for e, _ in mine}
    my_rms = {rm for _, rm in mine}
    seen = {e.experiment_id for e in c.search_experiments(max_results=1000)}
    assert my_exps <= seen and not seen & {e for e, _ in theirs}
    # paging: two per page, every page full while readable ones remain, none lost
    paged, token = [], None
    while True:
        page = c.search_experiments(max_results=2, page_token=token, filter_string="name LIKE 'flt%'")
        paged += [e.experiment_id for e in page]
        assert len(page) == 2 or not page.token
        token = page.token
        if not token:
            break
    assert set(paged) == {e for e in my_exps} and len(paged) == len(set(paged))
    rms = {m.name for m in c.search_registered_models(max_results=1000)}
    assert my_rms <= rms and not rms & {rm for _, rm in theirs}
    mvs = {v.name for v in c.search_model_versions("name LIKE 'flt-rm%'")}
    assert mvs == my_rms
    all_exps = [e for e, _ in mine + theirs]
    runs = c.search_runs(all_exps, max_results=1000)
    assert {r.info.experiment_id for r in runs} == my_exps
    models = c.search_logged_models(experiment_ids=all_exps)
    assert {m.experiment_id for m in models} == my_exps
    # a point read of an unreadable one is 403, not a leak
    r = requests.get(auth_server.url + API + "/experiments/get", params={"experiment_id": theirs[0][0]},
                     auth=("reader", PW["reader"]), timeout=10)
    assert r.status_code == 403


@pytest.mark.mlflow3
def test_creator_manages_what_they_create_and_unknown_routes_are_denied(auth_server):
    """set_can_manage_*_permission: the creator of an experiment, registered model or prompt holds
    MANAGE on it (and may grant it on); a path no route serves is refused to a non-admin."""
    admin = setup_users(auth_server.url)
    name, c = new_user(auth_server, admin, "creator")
    exp = c.ok("POST", API + "/experiments/create", body={"name": unique("mine")})["experiment_id"]
    rm = unique("mine-rm")
    c.ok("POST", API + "/registered-models/create", body={"name": rm})
    prompt = unique("mine-prompt")
    c.ok("POST", API + "/registered-models/create",
         body={"name": prompt, "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    for rtype, rid in (("experiment", exp), ("registered_model", rm)):   # (prompts: not in the convenience API)
        got = admin.ok("GET", API3 + "/users/permissions/get",
                       params={"username": name, "resource_type": rtype, "resource_id": rid})
        assert got["permission"] == "MANAGE" and got["allowed"] is True, (rtype, got)
    # MANAGE lets the creator delete and grant; another user still sees nothing of it
    c.ok("POST", API3 + "/users/permissions/grant", body={"username": "reader", "resource_type": "experiment",
                                                          "resource_id": exp, "permission": "READ"})
    assert Caller(auth_server.url, "reader").call("GET", API + "/experiments/get",
                                                  params={"experiment_id": exp}).status_code == 200
    assert Caller(auth_server.url, "editor").call("GET", API + "/experiments/get",
                                                  params={"experiment_id": exp}).status_code == 403
    c.ok("DELETE", API + "/registered-models/delete", body={"name": rm})
    c.ok("DELETE", API + "/registered-models/delete", body={"name": prompt})   # MANAGE on the prompt too
    # an unknown path: denied to a non-admin (fail closed), never served
    for who in ("reader", "editor"):
        r = Caller(auth_server.url, who).call("GET", API + "/no-such-route")
        assert r.status_code in (403, 404), (who, r.status_code)
    assert Caller(auth_server.url, "anonymous").call("GET", API + "/no-such-route").status_code == 401


@pytest.mark.mlflow3
def test_mcp_servers_creator_manages_and_searches_show_only_readable(auth_server):
    """issue 12: the creator of an MCP server (also one a version create makes) manages it; a
    search lists only the servers the caller may read, refilling its page, each with the
    caller's allowed_actions; a delete takes the server's grants with it."""
    admin = setup_users(auth_server.url)
    reader = Caller(auth_server.url, "reader")
    ns = f"org.{unique('mcpauth')}"
    hidden, mine, made = f"{ns}/a-hidden", f"{ns}/b-mine", f"{ns}/c-made"
    admin.ok("POST", API3 + "/mcp-servers", body={"name": hidden})
    reader.ok("POST", API3 + "/mcp-servers", body={"name": mine})
    assert reader.ok("GET", API3 + "/mcp-servers/" + mine)["allowed_actions"] == ["USE", "UPDATE", "DELETE", "MANAGE"]
    reader.ok("PATCH", API3 + "/mcp-servers/" + mine, body={"display_name": "Mine"})
    assert reader.call("GET", API3 + "/mcp-servers/" + hidden).status_code == 403
    assert reader.call("PATCH", API3 + "/mcp-servers/" + hidden, body={"display_name": "x"}).status_code == 403
    reader.ok("POST", API3 + f"/mcp-servers/{made}/versions", body={"server_json": {"name": made, "version": "1.0.0"}})
    reader.ok("POST", API3 + f"/mcp-servers/{made}/tags", body={"key": "k", "value": "v"})
    page = reader.ok("GET", API3 + "/mcp-servers", params={"filter_string": f"name LIKE '{ns}/%'", "max_results": 1})
    assert [s["name"] for s in page["mcp_servers"]] == [mine] and page["next_page_token"]
    assert page["mcp_servers"][0]["allowed_actions"] == ["USE", "UPDATE", "DELETE", "MANAGE"]
    rest = reader.ok("GET", API3 + "/mcp-servers", params={"filter_string": f"name LIKE '{ns}/%'", "max_results": 1,
                                                           "page_token": page["next_page_token"]})
    assert [s["name"] for s in rest["mcp_servers"]] == [made]
    every = admin.ok("GET", API3 + "/mcp-servers", params={"filter_string": f"name LIKE '{ns}/%'"})
    assert [s["name"] for s in every["mcp_servers"]] == [hidden, mine, made]
    reader.ok("DELETE", API3 + f"/mcp-servers/{made}/versions/1.0.0")
    reader.ok("DELETE", API3 + f"/mcp-servers/{made}")
    # the grant went with the server: the same name made again by the admin is not the reader's
    admin.ok("POST", API3 + "/mcp-servers", body={"name": made})
    assert reader.call("GET", API3 + "/mcp-servers/" + made).status_code == 403


@pytest.mark.mlflow3
def test_review_queue_ownership_membership_and_lists(auth_server):
    """Issue 21, MLflow's review-queue rules: an EDIT user owns the queues it creates (rename,
    delete), only MANAGE reassigns an owner, a READ user lists only the queues it is assigned,
    reviewing needs membership and is attributed to the caller, label schemas need MANAGE, and a
    custom queue may not take a username."""
    url = auth_server.url
    admin = setup_users(url)
    w = make_world(admin)
    reader, editor, manager = (Caller(url, who) for who in ("reader", "editor", "manager"))
    rq = API3 + "/review-queues"
    mine = editor.ok("POST", rq + "/create", body={"experiment_id": w["exp"], "name": unique("ed"),
                                                    "queue_type": "CUSTOM"})["review_queue"]
    assert mine["created_by"] == "editor"
    assert editor.ok("POST", rq + "/update", body={"queue_id": mine["queue_id"], "name": unique("ed2")})
    assert editor.call("POST", rq + "/update", body={"queue_id": mine["queue_id"],
                                                     "new_owner": "reader"}).status_code == 403
    # someone else's queue: the editor may not edit or delete it, the manager may
    assert editor.call("POST", rq + "/update", body={"queue_id": w["queue"], "name": "x1"}).status_code == 403
    assert editor.call("POST", rq + "/delete", body={"queue_id": w["queue"]}).status_code == 403
    # lists: EDIT sees every queue, READ only the ones it is assigned
    every = {q["queue_id"] for q in editor.ok("GET", rq + "/list", params={"experiment_id": w["exp"]})["review_queues"]}
    assert {mine["queue_id"], w["queue"]} <= every
    seen = [q["queue_id"] for q in reader.ok("GET", rq + "/list", params={"experiment_id": w["exp"]})["review_queues"]]
    assert seen == [w["queue"]]
    assert reader.call("GET", rq + "/get", params={"queue_id": mine["queue_id"]}).status_code == 403
    assert reader.ok("GET", rq + "/get", params={"queue_id": w["queue"]})["review_queue"]["name"] == w["queue_name"]
    # items: adding needs EDIT; reviewing needs EDIT and membership, attributed to the caller
    assert reader.call("POST", rq + "/items/add", body={"queue_id": w["queue"],
                                                        "item_ids": [w["trace"]]}).status_code == 403
    item = editor.ok("POST", rq + "/items/set-status", body={"queue_id": w["queue"], "item_id": w["trace"],
                                                             "status": "COMPLETE", "completed_by": "someone"})["item"]
    assert item["completed_by"] == "editor" and item["status"] == "COMPLETE"
    assert editor.call("POST", rq + "/items/set-status", body={"queue_id": mine["queue_id"], "item_id": w["trace"],
                                                               "status": "PENDING"}).status_code == 403
    # the owner deletes its own custom queue; reassigning the owner is the manager's
    assert manager.ok("POST", rq + "/update", body={"queue_id": mine["queue_id"],
                                                    "new_owner": "reader"})["review_queue"]["created_by"] == "reader"
    assert editor.call("POST", rq + "/delete", body={"queue_id": mine["queue_id"]}).status_code == 403
    other = editor.ok("POST", rq + "/create", body={"experiment_id": w["exp"], "name": unique("ed3"),
                                                     "queue_type": "CUSTOM"})["review_queue"]
    editor.ok("POST", rq + "/delete", body={"queue_id": other["queue_id"]})
    # label schemas: MANAGE to create, READ to read
    body = {"experiment_id": w["exp"], "name": unique("s"), "type": "FEEDBACK", "input": {"text": {}}}
    assert editor.call("POST", API3 + "/label-schemas/create", body=body).status_code == 403
    sid = manager.ok("POST", API3 + "/label-schemas/create", body=body)["label_schema"]["schema_id"]
    got = reader.ok("GET", API3 + "/label-schemas/get", params={"schema_id": sid})["label_schema"]
    assert got["name"] == body["name"]
    # a custom queue named after a user, whatever the caller
    for c in (editor, admin):
        r = c.call("POST", rq + "/create", body={"experiment_id": w["exp"], "name": "Reader", "queue_type": "CUSTOM"})
        assert r.status_code == 400 and "registered user" in r.json()["message"], r.text


# ---------------------------------------------------------------- redaction of denied tiers
def new_user(server, admin, tag):
    name, pw = unique(tag), "a-long-password-" + tag
    admin.ok("POST", API + "/users/create", body={"username": name, "password": pw})
    if isinstance(server, MlflowAuthServer):
        server.cheapen_password_hashes({name: pw})
    c = Caller(server.url, "nobody")
    c.session.auth = (name, pw)
    c.who = name
    return name, c


def deny_tiers(admin, user, *tiers):
    role = admin.ok("POST", API3 + "/roles/create", body={"name": unique("deny"), "workspace": "default"})["role"]
    for t in tiers:
        admin.ok("POST", API3 + "/roles/permissions/add", body={"role_id": role["id"], "resource_type": t,
                                                                "resource_pattern": "*", "permission": "DENY"})
    admin.ok("POST", API3 + "/roles/assign", body={"username": user, "role_id": role["id"]})


def linked_world(admin):
    """An experiment whose run, logged model, registered version and trace all name each other."""
    w = {"exp": admin.ok("POST", API + "/experiments/create", body={"name": unique("redact")})["experiment_id"],
         "rm": unique("redact-rm")}
    w["run"] = admin.ok("POST", API + "/runs/create", body={"experiment_id": w["exp"], "start_time": 1})["run"]["info"]["run_id"]
    w["lm"] = admin.ok("POST", API + "/logged-models", body={"experiment_id": w["exp"], "name": "lm",
                                                             "source_run_id": w["run"]})["model"]["info"]["model_id"]
    admin.ok("POST", API + "/runs/log-metric", body={"run_id": w["run"], "key": "acc", "value": 0.5, "timestamp": 1,
                                                     "step": 0, "model_id": w["lm"]})
    admin.ok("POST", API + "/runs/log-inputs", body={"run_id": w["run"], "models": [{"model_id": w["lm"]}]})
    admin.ok("PUT", "/api/2.0/mlflow-artifacts/artifacts/" + f'{w["exp"]}/{w["run"]}/artifacts/a.txt', data=b"x")
    admin.ok("POST", API + "/registered-models/create", body={"name": w["rm"]})
    admin.ok("POST", API + "/model-versions/create", body={"name": w["rm"], "source": f'models:/{w["lm"]}',
                                                           "run_id": w["run"], "model_id": w["lm"]})
    w["trace"] = "tr-" + uuid.uuid4().hex
    info = trace_info(w["trace"], w["exp"])
    info["trace_metadata"] = {"mlflow.sourceRun": w["run"], "mlflow.modelId": w["lm"]}
    admin.ok("POST", API3 + "/traces", body={"trace": {"trace_info": info}})
    admin.ok("POST", API3 + f'/traces/{w["trace"]}/assessments',
             body={"assessment": {"assessment_name": "quality", "trace_id": w["trace"], "feedback": {"value": 1},
                                  "source": {"source_type": "HUMAN", "source_id": "me"}}})
    return w


def views(c, w):
    """What a caller sees of the linked world, route by route (None: not 200)."""
    def get(method, path, **kw):
        r = c.call(method, path, **kw)
        return r.json() if r.status_code == 200 else None
    exp_ids = [w["exp"]]
    return {
        "mv": get("GET", API + "/model-versions/get", params={"name": w["rm"], "version": "1"}),
        "mv_search": get("GET", API + "/model-versions/search", params={"filter": f"name = '{w['rm']}'"}),
        "latest": get("POST", API + "/registered-models/get-latest-versions", body={"name": w["rm"]}),
        "rm": get("GET", API + "/registered-models/get", params={"name": w["rm"]}),
        "rm_search": get("GET", API + "/registered-models/search", params={"filter": f"name = '{w['rm']}'"}),
        "lm": get("GET", API + f'/logged-models/{w["lm"]}'),
        "lm_search": get("POST", API + "/logged-models/search", body={"experiment_ids": exp_ids}),
        "run": get("GET", API + "/runs/get", params={"run_id": w["run"]}),
        "runs": get("POST", API + "/runs/search", body={"experiment_ids": exp_ids}),
        "history": get("GET", API + "/metrics/get-history", params={"run_id": w["run"], "metric_key": "acc"}),
        "trace": get("GET", API3 + f'/traces/{w["trace"]}'),
        "traces": get("POST", API3 + "/traces/search", body={"locations": [
            {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": w["exp"]}}]}),
        "infos": get("POST", API3 + "/traces/batchGetInfos", body={"trace_ids": [w["trace"]]}),
        "files": get("GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": w["exp"]}),
    }


@pytest.mark.mlflow3
def test_responses_withhold_what_a_denied_tier_would_show(auth_server):
    """MLflow's redact_* / filter_* after-request handlers: a readable row keeps its own fields but
    drops the run, logged model, version or assessment a DENY on that tier withholds."""
    admin = setup_users(auth_server.url)
    w = linked_world(admin)
    users = {}
    for tag, tiers in (("plain", ()), ("norun", ("run",)), ("nomodel", ("logged_model", "assessment")),
                       ("noversion", ("registered_model_version",))):
        name, c = new_user(auth_server, admin, tag)
        grant(admin, name, "experiment", w["exp"], "READ")
        grant(admin, name, "registered_model", w["rm"], "READ")
        if tiers:
            deny_tiers(admin, name, *tiers)
        users[tag] = views(c, w)

    plain = users["plain"]
    mv = plain["mv"]["model_version"]
    assert mv["run_id"] == w["run"]   # (a version's model_id is not on the wire: MLflow's to_proto leaves it out)
    assert plain["rm"]["registered_model"]["latest_versions"][0]["run_id"] == w["run"]
    assert plain["lm"]["model"]["info"]["source_run_id"] == w["run"]
    # run inputs name the logged model (metrics keep no model_id in MLflow's store: nothing to withhold there)
    assert plain["run"]["run"]["inputs"]["model_inputs"][0]["model_id"] == w["lm"]
    assert plain["trace"]["trace"]["trace_info"]["assessments"]
    assert plain["trace"]["trace"]["trace_info"]["trace_metadata"]["mlflow.sourceRun"] == w["run"]
    assert w["run"] in {f["path"] for f in plain["files"]["files"]}

    norun = users["norun"]
    for mv in (norun["mv"]["model_version"], norun["mv_search"]["model_versions"][0],
               norun["latest"]["model_versions"][0], norun["rm"]["registered_model"]["latest_versions"][0],
               norun["rm_search"]["registered_models"][0]["latest_versions"][0]):
        assert "run_id" not in mv and not mv.get("run_link") and mv["name"] == w["rm"], mv
    for m in (norun["lm"]["model"], norun["lm_search"]["models"][0]):
        assert "source_run_id" not in m["info"] and m["info"]["model_id"] == w["lm"], m
        assert all("run_id" not in x for x in m["data"]["metrics"]), m
    assert norun["run"] is None                  # the run itself: 403
    assert norun["runs"].get("runs", []) == []   # search-runs drops experiments whose run tier is denied
    md = norun["trace"]["trace"]["trace_info"]["trace_metadata"]
    assert "mlflow.sourceRun" not in md and md["mlflow.modelId"] == w["lm"]
    assert norun["trace"]["trace"]["trace_info"]["assessments"]
    assert "mlflow.sourceRun" not in norun["traces"]["traces"][0]["trace_metadata"]
    assert "mlflow.sourceRun" not in norun["infos"]["trace_infos"][0]["trace_metadata"]
    assert w["run"] not in {f["path"] for f in norun["files"].get("files", [])}

    nomodel = users["nomodel"]
    for mv in (nomodel["mv"]["model_version"], nomodel["mv_search"]["model_versions"][0]):
        assert mv["run_id"] == w["run"], mv
    run = nomodel["run"]["run"]
    assert "model_inputs" not in run.get("inputs", {}) and all("model_id" not in m for m in run["data"]["metrics"])
    assert all("model_id" not in m for m in nomodel["runs"]["runs"][0]["data"]["metrics"])
    assert all("model_id" not in m for m in nomodel["history"]["metrics"])
    assert nomodel["lm"] is None and nomodel["lm_search"].get("models", []) == []
    info = nomodel["trace"]["trace"]["trace_info"]
    assert "assessments" not in info and "mlflow.modelId" not in info["trace_metadata"]
    assert info["trace_metadata"]["mlflow.sourceRun"] == w["run"]
    assert "assessments" not in nomodel["traces"]["traces"][0]

    noversion = users["noversion"]
    assert "latest_versions" not in noversion["rm"]["registered_model"]
    assert "latest_versions" not in noversion["rm_search"]["registered_models"][0]
    assert noversion["mv"] is None and noversion["mv_search"].get("model_versions", []) == []


@pytest.mark.mlflow3
def test_filters_that_reach_a_denied_tier_are_refused(auth_server):
    """validate_can_search_logged_models / _model_versions / _traces: a filter or sort on a tier the
    rows would withhold is 403 rather than an oracle; the same search without it is answered."""
    admin = setup_users(auth_server.url)
    w = linked_world(admin)
    name, c = new_user(auth_server, admin, "filters")
    grant(admin, name, "experiment", w["exp"], "READ")
    deny_tiers(admin, name, "run", "assessment")
    loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": w["exp"]}}]
    cases = [
        ("POST", API + "/logged-models/search", {"body": {"experiment_ids": [w["exp"]]}},
         {"body": {"experiment_ids": [w["exp"]], "filter": f"source_run_id = '{w['run']}'"}}),
        ("GET", API + "/model-versions/search", {"params": {"filter": "name = 'x'"}},
         {"params": {"filter": f"run_id = '{w['run']}'"}}),
        ("POST", API3 + "/traces/search", {"body": {"locations": loc, "filter": "tags.k = 'v'"}},
         {"body": {"locations": loc, "filter": f"metadata.`mlflow.sourceRun` = '{w['run']}'"}}),
        ("POST", API3 + "/traces/search", {"body": {"locations": loc}},
         {"body": {"locations": loc, "filter": "feedback.quality = '1'"}}),
        ("POST", API3 + "/traces/search", {"body": {"locations": loc}},
         {"body": {"locations": loc, "order_by": ["run_id DESC"]}}),
        ("POST", API + "/logged-models/search", {"body": {"experiment_ids": [w["exp"]]}},
         {"body": {"experiment_ids": [w["exp"]], "filter": "this is not a filter ((("}}),
    ]
    for method, path, fine, refused in cases:
        r = c.call(method, path, **fine)
        assert r.status_code == 200, (path, fine, r.status_code, r.text[:200])
        r = c.call(method, path, **refused)
        assert r.status_code == 403, (path, refused, r.status_code, r.text[:200])
        assert "Permission denied" in r.text


# ---------------------------------------------------------------- scorers: their own tier
def scorer_names(caller, **params):
    return sorted(s["scorer_name"] for s in caller.ok("GET", API3 + "/scorers/list", params=params).get("scorers", []))


@pytest.mark.mlflow3
def test_scorers_have_their_own_permission_tier(auth_server):
    """MLflow 3.17's `scorer` resource type, keyed "<experiment_id>/<URL-quoted name>": the experiment's
    grant does not reach a scorer's get/versions/delete; the registrant manages what they register and
    its grants go with it; list-scorers rows are filtered to readable scorers in readable experiments;
    a DENY on the scorer_version tier hides them all."""
    admin = setup_users(auth_server.url)
    exp = admin.ok("POST", API + "/experiments/create", body={"name": unique("sc-exp")})["experiment_id"]
    other = admin.ok("POST", API + "/experiments/create", body={"name": unique("sc-other")})["experiment_id"]

    def register(caller, e, name):
        return caller.call("POST", API3 + "/scorers/register",
                           body={"experiment_id": e, "name": name, "serialized_scorer": '{"name": "%s"}' % name})

    for e, n in ((exp, "plain"), (exp, "a/b c"), (other, "hidden")):
        assert register(admin, e, n).status_code == 200
    name, c = new_user(auth_server, admin, "scorers")
    grant(admin, name, "experiment", exp, "EDIT")
    grant(admin, name, "experiment", other, "READ")

    def get(n, e=exp):
        return c.call("GET", API3 + "/scorers/get", params={"experiment_id": e, "name": n}).status_code

    # EDIT on the experiment alone: no scorer of it readable (default_permission NO_PERMISSIONS)
    assert scorer_names(c, experiment_id=exp) == [] and get("plain") == 403
    assert c.call("GET", API3 + "/scorers/versions", params={"experiment_id": exp, "name": "plain"}).status_code == 403
    # READ on one scorer, its name quoted in the key
    grant(admin, name, "scorer", f"{exp}/a%2Fb%20c", "READ")
    assert scorer_names(c, experiment_id=exp) == ["a/b c"]
    assert get("a/b c") == 200 and get("plain") == 403
    assert c.call("GET", API3 + "/scorers/versions", params={"experiment_id": exp, "name": "a/b c"}).status_code == 200
    for body in ({"experiment_id": exp, "name": "a/b c"}, {"experiment_id": exp, "name": "a/b c", "version": 1}):
        assert c.call("DELETE", API3 + "/scorers/delete", body=body).status_code == 403
    # the cross-experiment listing (no experiment_id): only readable scorers of readable experiments
    assert scorer_names(c) == ["a/b c"]
    grant(admin, name, "scorer", f"{other}/hidden", "READ")
    assert scorer_names(c) == ["a/b c", "hidden"]
    # the registrant manages it: deletes it, and its grants go with it
    assert register(c, exp, "mine").status_code == 200
    key = {"username": name, "resource_type": "scorer", "resource_id": f"{exp}/mine"}
    assert admin.ok("GET", API3 + "/users/permissions/get", params=key)["permission"] == "MANAGE"
    assert scorer_names(c, experiment_id=exp) == ["a/b c", "mine"]
    c.ok("DELETE", API3 + "/scorers/delete", body={"experiment_id": exp, "name": "mine"})
    assert admin.ok("GET", API3 + "/users/permissions/get", params=key)["permission"] == "NO_PERMISSIONS"
    # online configs follow the experiment: update on the body's experiment_id, none named denied
    r = c.call("PUT", API3 + "/scorers/online-config", body={"experiment_id": exp, "name": "plain", "sample_rate": 0})
    assert r.status_code == 200, r.text
    r = c.call("PUT", API3 + "/scorers/online-config", body={"experiment_id": other, "name": "hidden", "sample_rate": 0})
    assert r.status_code == 403
    assert c.call("PUT", API3 + "/scorers/online-config", body={"name": "plain", "sample_rate": 0}).status_code == 403
    # a DENY on the version tier: nothing listed or read, nothing registered
    deny_tiers(admin, name, "scorer_version")
    assert scorer_names(c, experiment_id=exp) == [] and scorer_names(c) == []
    assert get("a/b c") == 403 and register(c, exp, "again").status_code == 403
    # admins see everything
    assert scorer_names(admin, experiment_id=exp) == ["a/b c", "plain"]


# ---------------------------------------------------------------- GraphQL: MLflow's middleware
def gql_world(admin):
    """Two experiments (the reader may read A only), a run in each with a metric, a dataset input and an
    artifact; registered models RA (readable) and RB (not), each with a version of run A."""
    p = unique("gql")
    w = {"prefix": p}
    for k in ("A", "B"):
        w["exp" + k] = admin.ok("POST", API + "/experiments/create", body={"name": f"{p}-{k}"})["experiment_id"]
        run = admin.ok("POST", API + "/runs/create", body={"experiment_id": w["exp" + k], "start_time": 1})
        w["run" + k] = run["run"]["info"]["run_id"]
        admin.ok("POST", API + "/runs/log-metric", body={"run_id": w["run" + k], "key": "m", "value": 1.5,
                                                          "timestamp": 1, "step": 0})
        admin.ok("POST", API + "/runs/log-inputs", body={"run_id": w["run" + k], "datasets": [{
            "dataset": {"name": f"ds-{k}", "digest": "d" + k, "source_type": "local", "source": "{}"},
            "tags": [{"key": "mlflow.data.context", "value": "training"}]}]})
        admin.ok("PUT", f'/api/2.0/mlflow-artifacts/artifacts/{w["exp" + k]}/{w["run" + k]}/artifacts/f.txt', data=b"x")
        w["rm" + k] = f"{p}-rm{k}"
        admin.ok("POST", API + "/registered-models/create", body={"name": w["rm" + k]})
        admin.ok("POST", API + "/model-versions/create", body={"name": w["rm" + k], "run_id": w["runA"],
                                                               "source": f'runs:/{w["runA"]}/model'})
    grant(admin, "reader", "experiment", w["expA"], "READ")
    grant(admin, "reader", "registered_model", w["rmA"], "READ")
    return w


GQL_RUN = "run { info { runId experimentId } data { metrics { key value } } experiment { name } modelVersions { name } }"
GQL_QUERIES = [
    ("get-exp A", "query q($e: String) { mlflowGetExperiment(input: {experimentId: $e}) { experiment { name } } }",
     {"e": "expA"}),
    ("get-exp B", None, {"e": "expB"}),
    ("get-exp missing", None, {"e": "999999999"}),
    ("get-exp no input", "query { mlflowGetExperiment { experiment { name } } }", {}),
    ("get-run A", "query q($r: String) { mlflowGetRun(input: {runId: $r}) { %s } }" % GQL_RUN, {"r": "runA"}),
    ("get-run B", None, {"r": "runB"}),
    ("get-run missing", None, {"r": "0" * 32}),
    ("artifacts A", "query q($r: String) { mlflowListArtifacts(input: {runId: $r}) { files { path } } }",
     {"r": "runA"}),
    ("artifacts B", None, {"r": "runB"}),
    ("bulk A", "query q($r: [String]) { mlflowGetMetricHistoryBulkInterval(input: {runIds: $r, metricKey: \"m\"}) "
               "{ metrics { runId key value } } }", {"r": ["runA"]}),
    ("bulk A+B", None, {"r": ["runA", "runB"]}),
    ("search-runs A+B", "mutation q($e: [String]) { mlflowSearchRuns(input: {experimentIds: $e}) { runs { info "
                        "{ runId } modelVersions { name } } } }", {"e": ["expA", "expB"]}),
    ("search-runs B", None, {"e": ["expB"]}),
    ("search-runs query A+B", "query q($e: [String]) { mlflowSearchRuns(input: {experimentIds: $e}) { runs { info "
                              "{ runId } } } }", {"e": ["expA", "expB"]}),
    ("datasets A+B", "mutation q($e: [String]) { mlflowSearchDatasets(input: {experimentIds: $e}) "
                     "{ datasetSummaries { experimentId name } } }", {"e": ["expA", "expB"]}),
    ("datasets B", None, {"e": ["expB"]}),
    ("versions", "query q($f: String) { mlflowSearchModelVersions(input: {filter: $f}) { modelVersions "
                 "{ name runId } } }", {"f": "name LIKE 'PREFIX%'"}),
    ("test", "query { test(inputString: \"x\") { output } }", {}),
]


def graphql_views(url, who, w):
    """Each query's reply with the world's ids and names spelled symbolically, list order ignored."""
    import json
    symbols = {w[k]: k for k in ("expA", "expB", "runA", "runB", "rmA", "rmB")}
    symbols.update({f'{w["prefix"]}-A': "nameA", f'{w["prefix"]}-B': "nameB"})

    def sym(v):
        if isinstance(v, dict):
            return {k: sym(x) for k, x in v.items()}
        if isinstance(v, list):
            return sorted((sym(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
        return symbols.get(v, v) if isinstance(v, str) else v

    c = Caller(url, who)
    views, text = {}, None
    for label, query, variables in GQL_QUERIES:
        text = query or text
        var = {k: ([w.get(x, x) for x in v] if isinstance(v, list) else
                   w.get(v, v).replace("PREFIX", w["prefix"]) if isinstance(v, str) else v)
               for k, v in variables.items()}
        r = c.call("POST", "/graphql", body={"query": text, "variables": var})
        assert r.status_code == 200, (label, r.status_code, r.text[:300])
        body = r.json()
        views[label] = {"data": sym(body.get("data")), "errors": bool(body.get("errors"))}
    return views


@pytest.mark.mlflow3
def test_graphql_withholds_what_the_caller_may_not_read(auth_server):
    """MLflow's GraphQLAuthorizationMiddleware: a field naming an experiment or run the caller may not
    read resolves to null without an error; search-runs and search-datasets keep the readable
    experiments (null when none is); versions and a run's modelVersions only of readable models."""
    admin = setup_users(auth_server.url)
    w = gql_world(admin)
    v = graphql_views(auth_server.url, "reader", w)
    for label in ("get-exp B", "get-exp missing", "get-run B", "get-run missing", "artifacts B", "bulk A+B",
                  "search-runs B", "datasets B"):
        assert list(v[label]["data"].values()) == [None], (label, v[label])
        assert not v[label]["errors"], (label, v[label])
    assert v["get-exp A"]["data"]["mlflowGetExperiment"]["experiment"]["name"] == "nameA"
    run = v["get-run A"]["data"]["mlflowGetRun"]["run"]
    assert run["info"]["runId"] == "runA" and run["experiment"]["name"] == "nameA"
    assert run["modelVersions"] == [{"name": "rmA"}]   # RB's version of the same run is withheld
    assert v["artifacts A"]["data"]["mlflowListArtifacts"]["files"] == [{"path": "f.txt"}]
    assert {m["runId"] for m in v["bulk A"]["data"]["mlflowGetMetricHistoryBulkInterval"]["metrics"]} == {"runA"}
    assert [r["info"]["runId"] for r in v["search-runs A+B"]["data"]["mlflowSearchRuns"]["runs"]] == ["runA"]
    assert [r["info"]["runId"] for r in v["search-runs query A+B"]["data"]["mlflowSearchRuns"]["runs"]] == ["runA"]
    summaries = v["datasets A+B"]["data"]["mlflowSearchDatasets"]["datasetSummaries"]
    assert {d["experimentId"] for d in summaries} == {"expA"}
    assert v["versions"]["data"]["mlflowSearchModelVersions"]["modelVersions"] == [{"name": "rmA", "runId": "runA"}]
    assert v["get-exp no input"]["errors"]   # nothing named, nothing checked: the handler's own error
    assert v["test"]["data"] == {"test": {"output": "x"}}
    # an admin sees both experiments' rows
    a = graphql_views(auth_server.url, "admin", w)
    assert a["get-exp B"]["data"]["mlflowGetExperiment"]["experiment"]["name"] == "nameB"
    assert len(a["search-runs A+B"]["data"]["mlflowSearchRuns"]["runs"]) == 2
    assert len(a["versions"]["data"]["mlflowSearchModelVersions"]["modelVersions"]) == 2
    # MLflow's middleware resolves an admin's field inside its try: a handler error is null, no error
    assert a["get-run missing"] == {"data": {"mlflowGetRun": None}, "errors": False}
    assert requests.post(auth_server.url + "/graphql", json={"query": "query { test { output } }"},
                         timeout=10).status_code == 401


@MLFLOW_COMPARE
@pytest.mark.mlflow3
def test_graphql_same_as_mlflow(auth_server, mlflow_auth_server):
    """Every query of GQL_QUERIES, as the reader and as the admin, answers the same data (ids spelled
    symbolically) and the same presence of errors on both servers."""
    diffs = []
    for who in ("reader", "admin"):
        ours = graphql_views(auth_server.url, who, gql_world(setup_users(auth_server.url)))
        theirs = graphql_views(mlflow_auth_server.url, who, gql_world(setup_users(mlflow_auth_server.url)))
        diffs += [f"{who} {label}: cairn {ours[label]} mlflow {theirs[label]}" for label in ours
                  if ours[label] != theirs[label]]
    assert not diffs, "\n" + "\n".join(diffs)


# ---------------------------------------------------------------- hostile input and rate limiting
@pytest.mark.cairn_only
@pytest.mark.mlflow3   # server behaviour only: once, with the 3.x venv
def test_hostile_authorization_headers(auth_server):
    url = auth_server.url + API + "/experiments/search?max_results=1"
    bad = [
        "Basic", "Basic ", "Basic !!!!", "Bearer abc", "Basic " + "A" * 12000,
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),           # not UTF-8
        "Basic " + base64.b64encode(b"admin\x00:" + ADMIN_PW.encode()).decode(),
        "Basic " + base64.b64encode(b"admin").decode(),                     # no colon
        "Basic " + base64.b64encode(("x" * 5000 + ":y").encode()).decode(),
        "Basic " + base64.b64encode("ädmin:pässword-with-ümlauts".encode()).decode(),
        "Digest username=admin",
    ]
    for h in bad:
        r = requests.get(url, headers={"Authorization": h}, timeout=10)
        assert r.status_code in (401, 429, 431), (h[:40], r.status_code)
        if r.status_code == 401:
            assert r.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    # the server is fine, and a failed login is logged (escaped) with the address
    r = requests.get(url, auth=("admin", ADMIN_PW), timeout=10)
    assert r.status_code == 200
    time.sleep(0.2)
    log = auth_server.stderr_text()
    assert "failed login" in log and "127.0.0.1" in log
    assert "\\xe4dmin" in log or "\\xc3\\xa4dmin" in log


@pytest.mark.cairn_only
@pytest.mark.mlflow3   # server behaviour only: once, with the 3.x venv
def test_wrong_user_and_wrong_password_take_the_same_time(auth_server):
    setup_users(auth_server.url)
    url = auth_server.url + API + "/users/current"

    def timed(user, pw):
        t = time.perf_counter()
        r = requests.get(url, auth=(user, pw), timeout=30)
        assert r.status_code == 401
        return time.perf_counter() - t

    samples_user, samples_pw = [], []
    for i in range(3):
        samples_user.append(timed(f"no-such-user-{i}", "whatever-password"))
        samples_pw.append(timed("editor", f"wrong-password-{i}"))
    mu, mp = statistics.median(samples_user), statistics.median(samples_pw)
    # both pay one full PBKDF2: within a factor of 2 of each other on a noisy shared machine
    assert 0.5 < mu / mp < 2.0, (samples_user, samples_pw)


@pytest.mark.cairn_only
@pytest.mark.mlflow3   # server behaviour only: once, with the 3.x venv
def test_failed_logins_are_rate_limited(cairn_launcher):
    srv = start_cairn(cairn_launcher, extra_ini="failed_login_limit_per_minute = 3\n")
    try:
        url = srv.url + API + "/users/current"
        statuses = [requests.get(url, auth=("admin", f"guess-{i}"), timeout=30).status_code for i in range(6)]
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429, 429], statuses
        r = requests.get(url, auth=("admin", "guess-x"), timeout=30)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        # even the right password must wait (it would cost a hash) ...
        assert requests.get(url, auth=("admin", ADMIN_PW), timeout=30).status_code == 429
        assert "failed login as 'admin' from 127.0.0.1" in srv.stderr_text()
    finally:
        problems = cairn_launcher.stop(srv)
        os.unlink(srv.auth_config)
    assert not problems, problems


@pytest.mark.mlflow3
def test_ui_page_needs_a_login_its_files_do_not(auth_server):
    r = requests.get(auth_server.url + "/", timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    r = requests.get(auth_server.url + "/", auth=("admin", ADMIN_PW), timeout=10)
    assert r.status_code in (200, 404)   # 404: a build without the UI bundle
    r = requests.get(auth_server.url + "/static-files/no-such-file.js", timeout=10)
    assert r.status_code != 401


@pytest.mark.cairn_only
@pytest.mark.mlflow3   # server behaviour only: once, with the 3.x venv
def test_auth_off_has_no_auth_routes_and_no_checks(server):
    r = requests.get(server.url + API + "/users/current", timeout=10)
    assert r.status_code == 404
    r = requests.get(server.url + API + "/experiments/search?max_results=1", timeout=10)
    assert r.status_code == 200


# ---------------------------------------------------------------- start-up refusals
def _start_fails(cairn_launcher, ini_text, env=None, args=("--app-name", "basic-auth")):
    cfg = tempfile.mktemp(suffix=".ini")
    with open(cfg, "w") as f:
        f.write(ini_text)
    db = "cairn_" + uuid.uuid4().hex[:12]
    create_database(cairn_launcher.sockdir, db)
    e = dict(os.environ, MLFLOW_AUTH_CONFIG_PATH=cfg, MLFLOW_FLASK_SERVER_SECRET_KEY=SECRET)
    e.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
    e.update(env or {})
    d = tempfile.mkdtemp()
    try:
        p = subprocess.run([cairn_launcher.binary, "--port", "0", "--backend-store-uri",
                            pg_uri(cairn_launcher.sockdir, db), "--data-dir", d, *args],
                           capture_output=True, text=True, env=e, timeout=60)
    finally:
        os.unlink(cfg)
        shutil.rmtree(d, ignore_errors=True)
        drop_database(cairn_launcher.sockdir, db)
    assert p.returncode != 0, p.stdout
    return p.stderr


@pytest.mark.cairn_only
@pytest.mark.mlflow3   # server behaviour only: once, with the 3.x venv
def test_start_up_refusals(cairn_launcher):
    base = "[mlflow]\ndefault_permission = READ\nadmin_username = admin\n"
    err = _start_fails(cairn_launcher, base)
    assert "no default password" in err and "MLFLOW_AUTH_ADMIN_PASSWORD" in err
    err = _start_fails(cairn_launcher, base + "admin_password = short\n")
    assert "at least 12 characters" in err
    err = _start_fails(cairn_launcher, base + "admin_password = password1234\n")
    assert "insecure default password" in err
    err = _start_fails(cairn_launcher, base + f"admin_password = {ADMIN_PW}\ndatabase_uri = sqlite:///basic_auth.db\n")
    assert "postgresql://" in err and "sqlite" in err
    err = _start_fails(cairn_launcher, base + f"admin_password = {ADMIN_PW}\n"
                       "authorization_function = mymod:auth_fn\n")
    assert "Python code" in err
    err = _start_fails(cairn_launcher, base + f"admin_password = {ADMIN_PW}\n",
                       env={"MLFLOW_FLASK_SERVER_SECRET_KEY": ""})
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY" in err
    err = _start_fails(cairn_launcher, base, args=("--app-name", "my-plugin-app"))
    assert "basic-auth" in err
    for e in (err,):
        assert len(e.strip().splitlines()) >= 1


@pytest.mark.cairn_only
@pytest.mark.mlflow3   # server behaviour only: once, with the 3.x venv
def test_admin_password_from_the_environment_and_separate_database(cairn_launcher, pg_socket):
    auth_db = "cairn_users_" + uuid.uuid4().hex[:10]
    create_database(pg_socket, auth_db)
    cfg = tempfile.mktemp(suffix=".ini")
    with open(cfg, "w") as f:
        f.write(f"[mlflow]\ndefault_permission = READ\nadmin_username = root\n{FAST}"
                f"database_uri = {pg_uri(pg_socket, auth_db, 'psycopg2')}\n")
    try:
        with AuthEnv(cfg):
            os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = "from-the-environment"
            try:
                srv = cairn_launcher.start(["--app-name", "basic-auth"])
            finally:
                os.environ.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
        try:
            r = requests.get(srv.url + API + "/users/current", auth=("root", "from-the-environment"), timeout=30)
            assert r.status_code == 200 and r.json()["user"]["is_admin"] is True
            import psycopg2
            with psycopg2.connect(pg_uri(pg_socket, auth_db)) as conn:
                cur = conn.cursor()
                cur.execute("SELECT username, is_admin, password_hash FROM cairn_auth.users")
                rows = cur.fetchall()
            assert [(u, a) for u, a, _h in rows] == [("root", True)]
            assert rows[0][2].startswith("pbkdf2:sha256:") and "from-the-environment" not in rows[0][2]
        finally:
            problems = cairn_launcher.stop(srv)
        assert not problems, problems
    finally:
        os.unlink(cfg)
        drop_database(pg_socket, auth_db)
