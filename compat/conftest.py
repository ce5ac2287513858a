"""Shared fixtures for Cairn's compatibility suites.

Targets
  CAIRN_TARGET=cairn  (default) every `server` is a freshly started cairn-server
                      (binary from $CAIRN_SERVER, default build/asan/cairn-server)
                      on a fresh database of one private PostgreSQL cluster.
  CAIRN_TARGET=mlflow the same tests run against MLflow's reference server
                      (started once per session); used to check the tests.

Other environment
  CAIRN_TEST_PGHOST   socket dir of an existing cluster (user postgres, trust);
                      otherwise one is started with tests/pg.sh in a temp dir.
  CAIRN_MLFLOW_BIN    the `mlflow` executable for the reference server
                      (default: <repo>/.venv/bin/mlflow).
"""
import os

# Before mlflow is imported anywhere: no retries (a 5xx must fail fast), short
# timeouts, no telemetry.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "15"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
for _v in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME",
           "MLFLOW_RUN_ID", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
           "MLFLOW_TRACKING_TOKEN"):
    os.environ.pop(_v, None)

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CAIRN_TARGET", "cairn").strip().lower()
if TARGET not in ("cairn", "mlflow"):
    raise SystemExit(f"CAIRN_TARGET must be 'cairn' or 'mlflow', not {TARGET!r}")

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "UndefinedBehaviorSanitizer")
START_TIMEOUT = float(os.environ.get("CAIRN_START_TIMEOUT", "30"))
STOP_TIMEOUT = 30.0


# ---------------------------------------------------------------- helpers
def unique(prefix="t"):
    """A name no other test (or earlier run on a shared server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_uri(sockdir, db, driver=""):
    scheme = "postgresql+psycopg2" if driver == "psycopg2" else "postgresql"
    return f"{scheme}://postgres@/{db}?host={sockdir}"


def create_database(sockdir, name):
    import psycopg2
    conn = psycopg2.connect(pg_uri(sockdir, "postgres"))
    conn.autocommit = True
    try:
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def drop_database(sockdir, name):
    import psycopg2
    try:
        conn = psycopg2.connect(pg_uri(sockdir, "postgres"))
        conn.autocommit = True
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()
    except Exception:  # best effort: the cluster may already be gone
        pass


def reset_mlflow_state(uri=None):
    """Forget everything the mlflow client caches between servers."""
    import mlflow
    from mlflow.tracking import fluent

    try:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    except Exception:
        pass  # the previous server may be gone; just drop the stack below
    fluent._active_experiment_id = None
    for name in ("_active_run_stack",):
        var = getattr(fluent, name, None)
        if var is not None:
            var.set([])
    for name in ("_last_active_run_id", "_last_logged_model_id"):
        var = getattr(fluent, name, None)
        if var is not None:
            var.set(None)
    try:
        from mlflow.tracking._tracking_service import utils as tsu
        cache = getattr(tsu, "_artifact_repos_cache", None)
        if cache is not None:
            cache.clear()
    except Exception:
        pass
    for v in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        os.environ.pop(v, None)
    if uri is not None:
        mlflow.set_tracking_uri(uri)


def wait_http_ok(url, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.25)
    return False


class Server:
    """One running server a test talks to."""

    def __init__(self, kind, url, proc=None, db=None, data_dir=None, stderr_path=None,
                 artifacts_dir=None):
        self.kind = kind            # "cairn" or "mlflow"
        self.url = url
        self.proc = proc
        self.db = db
        self.data_dir = data_dir
        self.artifacts_dir = artifacts_dir
        self.stderr_path = stderr_path
        self.stdout_lines = []

    @property
    def is_mlflow(self):
        return self.kind == "mlflow"

    def stderr_text(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def __repr__(self):
        return f"<{self.kind} server {self.url}>"


class CairnLauncher:
    """Starts cairn-server processes on fresh databases and checks how they end."""

    def __init__(self, sockdir):
        self.sockdir = sockdir
        self.binary = os.environ.get("CAIRN_SERVER") or os.path.join(REPO, "build/asan/cairn-server")
        if not os.path.isabs(self.binary):
            self.binary = os.path.join(REPO, self.binary)

    def start(self, extra_args=(), env_extra=None):
        if not os.access(self.binary, os.X_OK):
            pytest.fail(f"cairn-server not found at {self.binary}; build it or set CAIRN_SERVER "
                        "(or run with CAIRN_TARGET=mlflow)", pytrace=False)
        db = "cairn_" + uuid.uuid4().hex[:16]
        create_database(self.sockdir, db)
        data_dir = tempfile.mkdtemp(prefix="cairn-data-")
        art_dir = os.path.join(data_dir, "artifacts")
        os.makedirs(art_dir, exist_ok=True)
        stderr_path = os.path.join(data_dir, "stderr.log")
        args = [self.binary, "--host", "127.0.0.1", "--port", "0",
                "--backend-store-uri", pg_uri(self.sockdir, db),
                "--data-dir", data_dir, "--artifacts-destination", art_dir, *extra_args]
        env = dict(os.environ, **(env_extra or {}))
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        errf = open(stderr_path, "wb")
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        errf.close()
        srv = Server("cairn", None, proc=proc, db=db, data_dir=data_dir,
                     stderr_path=stderr_path, artifacts_dir=art_dir)
        found = threading.Event()

        def pump():
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                srv.stdout_lines.append(line)
                if not found.is_set() and line.startswith("listening on http://"):
                    srv.url = line[len("listening on "):].strip().rstrip("/")
                    found.set()
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.is_set() and time.monotonic() < deadline and proc.poll() is None:
            found.wait(0.05)
        if not found.is_set():
            rc = proc.poll()
            if rc is None:
                proc.kill()
                proc.wait()
            pytest.fail(f"cairn-server did not print 'listening on http://…' within {START_TIMEOUT}s "
                        f"(exit {rc}); args={args}\nstdout:\n" + "\n".join(srv.stdout_lines) +
                        "\nstderr:\n" + srv.stderr_text()[-4000:], pytrace=False)
        return srv

    def stop(self, srv):
        """SIGTERM, wait, and return a list of problems (empty when clean)."""
        problems = []
        proc = srv.proc
        if proc.poll() is not None:
            problems.append(f"cairn-server exited early with status {proc.returncode}")
        else:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                problems.append(f"cairn-server did not exit within {STOP_TIMEOUT}s of SIGTERM")
            else:
                if proc.returncode != 0:
                    problems.append(f"cairn-server exited with status {proc.returncode} after SIGTERM")
        err = srv.stderr_text()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"sanitizer report in cairn-server stderr ({marker!r})")
                break
        if problems:
            problems.append("stderr tail:\n" + err[-6000:])
        else:
            shutil.rmtree(srv.data_dir, ignore_errors=True)
            drop_database(self.sockdir, srv.db)
        return problems


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def target():
    return TARGET


@pytest.fixture(scope="session")
def pg_socket():
    """Socket dir of the PostgreSQL cluster for this test run."""
    given = os.environ.get("CAIRN_TEST_PGHOST")
    if given:
        yield given
        return
    d = tempfile.mkdtemp(prefix="cairn-pg-")
    os.chmod(d, 0o755)
    out = subprocess.run([os.path.join(REPO, "tests/pg.sh"), "start", d], capture_output=True,
                         text=True)
    if out.returncode != 0:
        pytest.exit(f"tests/pg.sh start failed:\n{out.stderr}", returncode=3)
    sock = out.stdout.strip().splitlines()[-1]
    try:
        yield sock
    finally:
        subprocess.run([os.path.join(REPO, "tests/pg.sh"), "stop", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def cairn_launcher(pg_socket):
    return CairnLauncher(pg_socket)


@pytest.fixture(scope="session")
def mlflow_server(pg_socket):
    """MLflow's own server, started once per session on its own database."""
    mlflow_bin = os.environ.get("CAIRN_MLFLOW_BIN") or os.path.join(REPO, ".venv/bin/mlflow")
    if not os.access(mlflow_bin, os.X_OK):
        pytest.fail(f"no mlflow executable at {mlflow_bin}", pytrace=False)
    db = "mlflow_ref_" + uuid.uuid4().hex[:12]
    create_database(pg_socket, db)
    tmp = tempfile.mkdtemp(prefix="mlflow-ref-")
    art = os.path.join(tmp, "artifacts")
    os.makedirs(art)
    port = free_port()
    log_path = os.path.join(tmp, "server.log")
    logf = open(log_path, "wb")
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; the venv has psycopg2.
    proc = subprocess.Popen(
        [mlflow_bin, "server", "--backend-store-uri", pg_uri(pg_socket, db, "psycopg2"),
         "--host", "127.0.0.1", "--port", str(port), "--artifacts-destination", art,
         "--workers", "1"],
        stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp,
        start_new_session=True)
    logf.close()
    url = f"http://127.0.0.1:{port}"
    if not wait_http_ok(url + "/health", 180, proc):
        proc.kill()
        with open(log_path, errors="replace") as f:
            log = f.read()
        pytest.fail(f"MLflow reference server did not become healthy:\n{log[-4000:]}", pytrace=False)
    srv = Server("mlflow", url, proc=proc, db=db, data_dir=tmp, stderr_path=log_path,
                 artifacts_dir=art)
    try:
        yield srv
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)          # uvicorn drains slowly; nothing to check here
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        drop_database(pg_socket, db)


@pytest.fixture
def cairn_factory(request, cairn_launcher):
    """Start fresh servers of the selected target: `srv = cairn_factory()`.

    With CAIRN_TARGET=mlflow it hands back the shared reference server."""
    started = []

    def start(extra_args=()):
        if TARGET == "mlflow":
            return request.getfixturevalue("mlflow_server")
        srv = cairn_launcher.start(extra_args)
        started.append(srv)
        return srv

    yield start
    problems = []
    for srv in started:
        problems += cairn_launcher.stop(srv)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def server(request, cairn_launcher):
    """The server of this test module: one fresh cairn-server per module
    (or the shared reference server with CAIRN_TARGET=mlflow)."""
    if TARGET == "mlflow":
        yield request.getfixturevalue("mlflow_server")
        return
    srv = cairn_launcher.start()
    yield srv
    problems = cairn_launcher.stop(srv)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def tracking_uri(server):
    """Point the mlflow client at this module's server with clean global state."""
    reset_mlflow_state(server.url)
    yield server.url
    reset_mlflow_state(server.url)


@pytest.fixture
def client(tracking_uri):
    from mlflow import MlflowClient
    return MlflowClient(tracking_uri)


@pytest.fixture
def base_url(server):
    return server.url


@pytest.fixture(autouse=True)
def _server_alive(request):
    """After every test that used a server: it must still be running."""
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        if srv.proc is not None and srv.proc.poll() is not None:
            pytest.fail(f"{srv.kind} server died during the test (exit {srv.proc.returncode}):\n"
                        + srv.stderr_text()[-4000:], pytrace=False)


# ---------------------------------------------------------------- issue 17: S3
@pytest.fixture(scope="session")
def s3_store():
    """One SeaweedFS S3 store per session (compat/s3_store.py); skips when
    `make s3-server` has not built it."""
    from s3_store import S3Store
    store = S3Store.start()
    if store is None:
        pytest.skip("no S3 test store: run `make s3-server` (part of make deps)")
    try:
        yield store
    finally:
        store.stop()


# ---------------------------------------------------------------- reporting
def pytest_configure(config):
    config.addinivalue_line("markers", "cairn_only: checks a documented Cairn choice "
                            "(skipped with CAIRN_TARGET=mlflow)")
    config.addinivalue_line("markers", "mlflow3: needs the mlflow 3.x client")


def pytest_collection_modifyitems(config, items):
    import mlflow
    major = int(mlflow.__version__.split(".")[0])
    for item in items:
        if TARGET == "mlflow" and item.get_closest_marker("cairn_only"):
            item.add_marker(pytest.mark.skip(reason="Cairn-specific behaviour (see DIFFERENCES.md)"))
        if major < 3 and item.get_closest_marker("mlflow3"):
            item.add_marker(pytest.mark.skip(reason=f"needs mlflow 3.x (have {mlflow.__version__})"))


def pytest_report_header(config):
    import mlflow
    return f"cairn compat: target={TARGET} mlflow client {mlflow.__version__} python {sys.version.split()[0]}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    mod = sys.modules.get("differential")
    if mod is None or not getattr(mod, "RESULTS", None):
        return
    res = mod.RESULTS
    terminalreporter.write_line(
        f"differential scenarios: {res['scenarios']}, exchanges compared: {res['exchanges']}, "
        f"accepted differences: {res['accepted']}")
    terminalreporter.write_line(f"differential mismatches: {res['mismatches']}")
