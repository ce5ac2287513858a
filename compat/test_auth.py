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
    for m in re.finditer(r'\{\s*"(GET|POST|PUT|PATCH|DELETE|HEAD)",\s*((?:\w+\s+)?"[^"]*")\s*,\s*(\w+)\s*,'
                         r'\s*([^{}]*?)\s*\}', text):
        method, path_expr, handler, rest = m.groups()
        parts = re.match(r'(?:(\w+)\s+)?"([^"]*)"', path_expr).groups()
        path = macros.get(parts[0], "") + parts[1] if parts[0] else parts[1]
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
        write_config(cfg, database_uri=pg_uri(pg_socket, self.auth_db, "psycopg2"))
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
    for user, perm in (("reader", "READ"), ("editor", "EDIT"), ("manager", "MANAGE")):
        grant(admin, user, "experiment", w["exp"], perm)
        grant(admin, user, "registered_model", w["rm"], perm)
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


def request_for(method, path, rule, w):
    """A request exercising route (method, path) on world w, built from what the rule reads."""
    path = (path.replace("{model_id}", w["lm"]).replace("{tag_key}", "k")
            .replace("{path*}", w["art"]).replace("{trace_id}", w["trace"]).replace("{request_id}", w["trace"])
            .replace("{assessment_id}", "a-" + uuid.uuid4().hex[:8]))
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
    if rule in ("AUTH_RUN_LOG",):
        p.update({"key": "m2", "value": 2.0, "timestamp": 2, "step": 1, "metrics": [], "params": [], "tags": []})
    if rule in ("AUTH_RUN_UPDATE",):
        p.update({"key": "k", "value": "v", "status": "FINISHED"})
    if method == "GET":
        return path, {"params": p}
    if path.endswith("/upload-artifact"):   # issue 12: the UI's upload names its run in the query, raw body
        return path, {"params": {"run_uuid": w["run"], "path": "ui-upload.txt"}, "data": b"payload"}
    if method == "PUT":
        return path, {"data": b"payload"}
    if path.endswith("/users/create-ui"):
        return path, {"data": "username=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    return path, {"body": p}


def expected(rule, who):
    need = RULE_NEEDS[rule]
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
            if "rename" in handler:
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
            want = expected(rule, who)
            if decision(status) != want:
                wrong.append(f"{who:9} {method:6} {pattern} [{rule}]: {status} (want {want}) {r.text[:120]!r}")
            if status == 401:
                assert r.headers.get("WWW-Authenticate") == 'Basic realm="mlflow"'
    assert not wrong, "\n" + "\n".join(wrong)


@pytest.mark.skipif(os.environ.get("CAIRN_AUTH_MLFLOW") != "1" or TARGET == "mlflow",
                    reason="set CAIRN_AUTH_MLFLOW=1 to compare with MLflow's basic-auth server (slow)")
@pytest.mark.mlflow3
def test_auth_matrix_same_as_mlflow(auth_server, pg_socket):
    """The same requests against MLflow's own basic-auth server: the same 401/403/allowed decisions."""
    ref = MlflowAuthServer(pg_socket)
    try:
        routes = served_routes()
        ours = run_matrix(auth_server.url, routes)
        theirs = run_matrix(ref.url, routes, strict=False)
    finally:
        ref.stop()
    accepted = accepted_differences()
    diffs = []
    for method, pattern, _h, _f, rule in routes:
        for who in PRINCIPALS:
            a, b = ours[(method, pattern, who)][0], theirs[(method, pattern, who)][0]
            if b in (404, 405) and a not in (401, 403):
                continue   # a route MLflow does not serve
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


@pytest.mark.mlflow3
def test_graphql_fields_are_checked_as_their_rest_routes(auth_server):
    admin = setup_users(auth_server.url)
    w = make_world(admin)
    other = admin.ok("POST", API + "/experiments/create", body={"name": unique("gql-hidden")})["experiment_id"]
    q = {"query": "query q($id: String) { mlflowGetExperiment(input: {experimentId: $id}) "
                  "{ experiment { experimentId name } } }"}
    for exp, readable in ((w["exp"], True), (other, False)):
        r = requests.post(auth_server.url + "/graphql", json=dict(q, variables={"id": exp}),
                          auth=("reader", PW["reader"]), timeout=10)
        assert r.status_code == 200, r.text
        got = (r.json().get("data") or {}).get("mlflowGetExperiment") or {}
        if readable:
            assert got["experiment"]["experimentId"] == exp, r.text
        else:
            assert not got.get("experiment") and r.json().get("errors"), r.text
    assert requests.post(auth_server.url + "/graphql", json=q, timeout=10).status_code == 401


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
