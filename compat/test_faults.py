"""Fault suite (issue 15): what an attacker or a failing machine does to
Cairn. Each test fails on a server without the matching fix.

Runs once (with the mlflow 3.x venv: the `mlflow3` marker) and only against
Cairn (`cairn_only`: MLflow's server has most of these weaknesses itself).
The long variants (more kills, more slow connections, longer soaks) run with
CAIRN_SOAK=1 (`make soak`).
"""
import json
import os
import re
import socket
import time
from urllib.parse import urlparse

import pytest
import requests

from conftest import unique

pytestmark = [pytest.mark.mlflow3, pytest.mark.cairn_only]

API = "/api/2.0/mlflow"
SOAK = os.environ.get("CAIRN_SOAK") == "1"


def addr(base):
    u = urlparse(base)
    return u.hostname, u.port


def raw_exchange(base, payload, timeout=10.0, chunks=None):
    """Sends payload on one fresh connection; returns (everything read until
    the server closed or went quiet, closed_by_server)."""
    s = socket.create_connection(addr(base), timeout=timeout)
    try:
        s.sendall(payload)
        for c in chunks or ():
            s.sendall(c)
        data = b""
        closed = False
        s.settimeout(2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            data += b
        return data, closed
    finally:
        s.close()


def responses(data):
    """Status codes of the HTTP responses in data, in order."""
    return [int(m) for m in re.findall(rb"HTTP/\d\.\d (\d{3}) ", data)]


def headers_of(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    h = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        h[k.strip().lower()] = v.strip()
    return h


# ---------------------------------------------------------------- 5. Host
@pytest.mark.parametrize("host", ["10.evil.com", "192.168.evil.example", "172.16.attacker.net",
                                  "10.0.0.1.nip.io", "172.31.0.1.evil:80", "[fd00::1].evil",
                                  "10.0.0.1:evil", "192.168.1.1:", "010.0.0.1"])
def test_private_range_patterns_match_only_literal_addresses(base_url, host):
    r = requests.get(base_url + API + "/experiments/get", params={"experiment_id": "0"},
                     headers={"Host": host}, timeout=10)
    assert r.status_code == 403, (host, r.status_code)
    assert "Invalid Host header" in r.text


@pytest.mark.parametrize("host", ["10.0.0.1", "10.255.1.2:5000", "172.16.0.1", "172.31.255.255:80",
                                  "192.168.1.20:5000", "[fd00::1]", "[fc00::5]:5000", "localhost",
                                  "127.0.0.1:5000", "[::1]:5000"])
def test_private_literal_addresses_still_allowed(base_url, host):
    r = requests.get(base_url + API + "/experiments/get", params={"experiment_id": "0"},
                     headers={"Host": host}, timeout=10)
    assert r.status_code == 200, (host, r.status_code, r.text[:200])


def test_outside_private_ranges_refused(base_url):
    for host in ("172.15.0.1", "172.32.0.1", "11.0.0.1", "192.169.0.1", "[fe80::1]", "8.8.8.8"):
        r = requests.get(base_url + API + "/experiments/get", params={"experiment_id": "0"},
                         headers={"Host": host}, timeout=10)
        assert r.status_code == 403, host


def test_names_listed_by_the_user_are_kept(cairn_factory):
    srv = cairn_factory(["--allowed-hosts", "mlflow.internal,10.*,*.corp.example"])
    for host, want in (("mlflow.internal", 200), ("10.evil.com", 200), ("a.corp.example", 200),
                       ("localhost", 403)):
        r = requests.get(srv.url + API + "/experiments/get", params={"experiment_id": "0"},
                         headers={"Host": host}, timeout=10)
        assert r.status_code == want, (host, r.status_code)


# ------------------------------------------- 6. civetweb's own error replies
@pytest.mark.parametrize("payload", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n",
    b"POST /api/2.0/mlflow/experiments/search HTTP/1.1\r\nHost: localhost\r\n"
    b"Transfer-Encoding: gzip\r\n\r\n",
])
def test_civetweb_error_replies_carry_security_headers(base_url, payload):
    data, _ = raw_exchange(base_url, payload)
    codes = responses(data)
    assert codes and 400 <= codes[0] < 600, data[:300]
    h = headers_of(data)
    assert h.get("x-content-type-options") == "nosniff", data[:400]
    assert h.get("x-frame-options") == "SAMEORIGIN", data[:400]


# ------------------------------------------------------------ 7. framing
SEARCH = b"POST /api/2.0/mlflow/experiments/search HTTP/1.1\r\nHost: localhost\r\n" \
         b"Content-Type: application/json\r\n"
BODY = b'{"max_results": 1}'
NEXT = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


def chunked(body):
    return b"%x\r\n%s\r\n0\r\n" % (len(body), body)


@pytest.mark.parametrize("name,payload", [
    ("two different Content-Length",
     SEARCH + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(BODY), len(BODY) + 5) + BODY + NEXT),
    ("Content-Length: +N", SEARCH + b"Content-Length: +%d\r\n\r\n" % len(BODY) + BODY + NEXT),
    ("Content-Length: -0", SEARCH + b"Content-Length: -0\r\n\r\n" + NEXT),
    ("Content-Length in hex", SEARCH + b"Content-Length: 0x12\r\n\r\n" + BODY + NEXT),
    ("Content-Length and chunked",
     SEARCH + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY) + b"\r\n" + NEXT),
    ("two Transfer-Encoding",
     SEARCH + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" + chunked(BODY) + b"\r\n"
     + NEXT),
    ("chunked and Content-Length, request smuggled after the chunked body",
     SEARCH + b"Transfer-Encoding: chunked\r\nContent-Length: 48\r\n\r\n" + chunked(BODY) + b"\r\n" + NEXT),
    ("Transfer-Encoding: identity", SEARCH + b"Transfer-Encoding: identity\r\n\r\n" + NEXT),
    ("whitespace before a header's colon", SEARCH + b"Content-Length : %d\r\n\r\n" % len(BODY) + BODY + NEXT),
    ("obs-fold", SEARCH + b"X-A: 1\r\n folded\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY + NEXT),
    ("200 KB of chunked trailers",
     SEARCH + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY)
     + b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 1000) for i in range(200)) + b"\r\n" + NEXT),
    ("a malformed trailer", SEARCH + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY)
     + b"no colon in this trailer\r\n\r\n" + NEXT),
    ("a chunk extension", SEARCH + b"Transfer-Encoding: chunked\r\n\r\n"
     + b"%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY) + NEXT),
    ("chunk data longer than its size", SEARCH + b"Transfer-Encoding: chunked\r\n\r\n"
     + b"3\r\n%s\r\n0\r\n\r\n" % BODY + NEXT),
])
def test_ambiguous_framing_is_400_and_closes(base_url, name, payload):
    data, closed = raw_exchange(base_url, payload)
    codes = responses(data)
    assert codes[:1] == [400], (name, data[:400])
    assert len(codes) == 1, (name, "a second request ran on the same connection", codes)
    assert closed, name
    h = headers_of(data)
    assert h.get("x-content-type-options") == "nosniff"
    # civetweb 1.15 refuses these two itself, as an unreadable body: Cairn's framing check names the fault
    # (a bare CR in the head, which civetweb also refuses itself, is left to tests/test_framing.c)
    reason = {"a chunk extension": b"chunk size", "chunk data longer than its size": b"longer than its chunk size"}.get(name)
    if reason:
        assert reason in data.split(b"\r\n\r\n", 1)[1].lower(), (name, data[:400])


def test_sound_framing_still_works(base_url):
    # one Content-Length, repeated with the same value, then a keep-alive request
    data, _ = raw_exchange(base_url, SEARCH + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
                           % (len(BODY), len(BODY)) + BODY + NEXT, timeout=4)
    assert responses(data) == [200, 200], data[:400]
    assert b'"experiments"' in data
    # a chunked body (requests sends an empty file that way), then a keep-alive request
    data, _ = raw_exchange(base_url, SEARCH + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY) + b"\r\n"
                           + NEXT, timeout=4)
    assert responses(data) == [200, 200], data[:400]


def test_trailers_sent_after_a_pause_are_still_read_and_refused(base_url):
    """The body arrives first; 200 KB of trailers follow 0.5 s later (civetweb
    itself stops after their first two bytes): still 400, nothing runs."""
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 1000) for i in range(200)) + b"\r\n"
    s = socket.create_connection(addr(base_url), timeout=10)
    try:
        s.sendall(SEARCH + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY) + b"X-")
        time.sleep(0.5)
        try:
            s.sendall(trailers + NEXT)
        except OSError:
            pass   # refused and closed while we were still sending
        data = b""
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            data += b
    finally:
        s.close()
    assert responses(data) == [400], data[:400]
    assert b"trailers too large" in data


def test_small_trailers_are_accepted(base_url):
    """A short, well-formed trailer section is read and discarded (RFC 9112
    section 7.1.2); civetweb then closes the connection."""
    data, closed = raw_exchange(base_url, SEARCH + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY)
                                + b"X-Checksum: abc\r\nX-Other: 1\r\n\r\n" + NEXT, timeout=4)
    assert responses(data) == [200] and closed, data[:400]
    assert b'"experiments"' in data


def test_upload_with_bad_trailers_is_refused_and_not_kept(base_url):
    """A streamed route (artifact upload): the body is complete but its
    trailers are oversized: 400, and no artifact is written."""
    path = "/api/2.0/mlflow-artifacts/artifacts/" + unique("framing") + "/f.txt"
    head = b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 1000) for i in range(20)) + b"\r\n"
    data, closed = raw_exchange(base_url, head + chunked(b"hello") + trailers)
    assert responses(data) == [400] and closed, data[:400]
    r = requests.get(base_url + path, timeout=10)
    assert r.status_code == 404, (r.status_code, r.text[:200])
    # the same upload with sound framing is kept
    data, _ = raw_exchange(base_url, head + chunked(b"hello") + b"\r\n", timeout=4)
    assert responses(data) == [200], data[:400]
    assert requests.get(base_url + path, timeout=10).content == b"hello"


# ------------------------------------------------- embedded PostgreSQL servers
class Embedded:
    """A cairn-server on its own embedded cluster (no --backend-store-uri)."""

    def __init__(self, extra=(), data=None):
        import subprocess
        import tempfile
        import threading
        from conftest import REPO
        binary = os.environ.get("CAIRN_SERVER") or os.path.join(REPO, "build/asan/cairn-server")
        if not os.path.isabs(binary):
            binary = os.path.join(REPO, binary)
        self.data = data or tempfile.mkdtemp(prefix="cairn-emb-")
        os.chmod(self.data, 0o755)
        self.stderr_path = os.path.join(self.data, "stderr.log")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        with open(self.stderr_path, "ab") as errf:
            self.proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", "--data-dir", self.data,
                                          *extra], stdout=subprocess.PIPE, stderr=errf,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.url = None
        found = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("listening on http://"):
                    self.url = line[len("listening on "):].rstrip("/")
                    found.set()
        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(90):
            self.proc.kill()
            raise AssertionError("embedded cairn-server did not start:\n" + self.stderr()[-3000:])

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def postmaster(self):
        with open(os.path.join(self.data, "pg", "postmaster.pid")) as f:
            return int(f.readline())

    def cluster_pids(self):
        """The postmaster and its children."""
        pm = self.postmaster()
        pids = [pm]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        st = f.read()
                except OSError:
                    continue
                if int(st[st.rindex(")") + 2:].split()[1]) == pm:
                    pids.append(int(d))
        return pids

    def stop(self):
        import shutil
        import signal
        import subprocess
        problems = []
        if getattr(self, "exited_in_test", False):
            return   # stopped by the test itself; a later server on its data dir cleans up
        if self.proc.poll() is not None:
            problems.append(f"exited early ({self.proc.returncode})")
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                problems.append("no exit within 60 s of SIGTERM")
        err = self.stderr()
        if any(m in err for m in ("AddressSanitizer", "runtime error:", "LeakSanitizer")):
            problems.append("sanitizer report")
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + err[-4000:])
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def embedded():
    started = []

    def start(extra=(), data=None):
        e = Embedded(extra, data)
        started.append(e)
        return e
    yield start
    for e in started:
        if e.proc.poll() is None:
            # never leave a stopped cluster behind
            import signal
            for pid in e.cluster_pids():
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
        e.stop()


def api(url, path, body=None, timeout=15):
    if body is None:
        return requests.get(url + API + path, timeout=timeout)
    return requests.post(url + API + path, json=body, timeout=timeout)


# ---------------------------------------------- 4. a stalled database (SIGSTOP)
def test_sigstopped_postgres_gives_bounded_503_then_recovers(embedded):
    import signal
    from concurrent.futures import ThreadPoolExecutor
    srv = embedded(["--db-connect-timeout", "1", "--db-statement-timeout", "2", "--db-acquire-timeout", "2",
                    "--db-pool-size", "4"])
    eid = api(srv.url, "/experiments/create", {"name": unique("stop")}).json()["experiment_id"]
    pids = srv.cluster_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        def one(i):
            t0 = time.monotonic()
            try:
                r = api(srv.url, "/runs/create", {"experiment_id": eid}, timeout=20)
                return r.status_code, r.text, time.monotonic() - t0
            except requests.RequestException as e:
                return None, repr(e), time.monotonic() - t0
        with ThreadPoolExecutor(10) as ex:
            results = list(ex.map(one, range(10)))
        for status, text, took in results:
            assert status == 503, (status, text[:300])
            assert "TEMPORARILY_UNAVAILABLE" in text
            assert took < 10, took
        # /health does not touch the database
        assert requests.get(srv.url + "/health", timeout=5).status_code == 200
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
    deadline = time.monotonic() + 20
    while True:
        r = api(srv.url, "/runs/create", {"experiment_id": eid})
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, (r.status_code, r.text[:300])
        time.sleep(0.2)
    # the whole pool works again
    from concurrent.futures import ThreadPoolExecutor as TPE
    with TPE(8) as ex:
        codes = list(ex.map(lambda i: api(srv.url, "/runs/create", {"experiment_id": eid}).status_code, range(16)))
    assert codes == [200] * 16, codes


# ------------------------------------ 3. SIGKILL of the embedded postmaster
def kill_postmaster_under_writers(srv, kills, writers=8):
    """kills SIGKILLs of the postmaster while `writers` threads log metrics;
    returns the recovery times (kill -> first 200) and checks that every
    acknowledged write is there afterwards."""
    import signal
    import threading
    eid = api(srv.url, "/experiments/create", {"name": unique("kill")}).json()["experiment_id"]
    runs = [api(srv.url, "/runs/create", {"experiment_id": eid}).json()["run"]["info"]["run_id"]
            for _ in range(writers)]
    acked = [[] for _ in range(writers)]
    stop = threading.Event()
    errors = []

    def writer(w):
        s = requests.Session()
        step = 0
        while not stop.is_set():
            try:
                r = s.post(srv.url + API + "/runs/log-metric", json={
                    "run_id": runs[w], "key": "m", "value": step, "timestamp": 1, "step": step}, timeout=30)
            except requests.RequestException:
                time.sleep(0.05)
                s = requests.Session()
                continue
            if r.status_code == 200:
                acked[w].append(step)
                step += 1
            elif r.status_code == 503:
                time.sleep(0.05)
            else:
                errors.append((r.status_code, r.text[:200]))
                step += 1
    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(writers)]
    for t in threads:
        t.start()
    recoveries = []
    try:
        for k in range(kills):
            time.sleep(0.3)
            before = sum(len(a) for a in acked)
            os.kill(srv.postmaster(), signal.SIGKILL)
            t0 = time.monotonic()
            # back when a write made after the kill is acknowledged
            while True:
                time.sleep(0.02)
                if api(srv.url, "/runs/get?run_id=" + runs[0]).status_code == 200 and \
                        sum(len(a) for a in acked) > before:
                    break
                assert time.monotonic() - t0 < 30, f"kill {k + 1}: not back within 30 s\n" + srv.stderr()[-3000:]
            recoveries.append(time.monotonic() - t0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[:5]
    for w in range(writers):
        r = requests.get(srv.url + API + "/metrics/get-history",
                         params={"run_id": runs[w], "metric_key": "m", "max_results": 100000}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        got = {int(m["step"]) for m in r.json().get("metrics", [])}
        lost = set(acked[w]) - got
        assert not lost, f"writer {w}: {len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}"
    assert srv.stderr().count("is running again") >= kills
    return recoveries


def test_sigkilled_postmaster_is_restarted(embedded):
    srv = embedded()
    kills = 100 if SOAK else 20
    rec = kill_postmaster_under_writers(srv, kills)
    print(f"\n{kills} SIGKILLs of the postmaster under 8 writers: recovery max {max(rec):.2f} s, "
          f"mean {sum(rec) / len(rec):.2f} s")
    assert max(rec) < 5, rec


def pm_status(srv):
    """The postmaster's status line in postmaster.pid ("ready", "stopping"...)."""
    try:
        with open(os.path.join(srv.data, "pg", "postmaster.pid")) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    return lines[7].strip() if len(lines) > 7 else None


def test_postmaster_killed_during_shutdown_does_not_hang_it(embedded):
    """Cairn's SIGTERM stops the supervisor, then runs `pg_ctl stop`; the
    postmaster SIGKILLed while it shuts down (or just before) must not hang
    Cairn's exit. Before the fix nothing reaped it any more: a zombie, which
    `pg_ctl stop -w` takes for a live server, so the exit hung 60 s (the hang
    seen after a failed run of the SIGKILL test)."""
    import signal
    srv = embedded()
    data = srv.data
    for when in ("stopping", "at once"):
        # some writes, so that the shutdown checkpoint has work to do
        eid = api(srv.url, "/experiments/create", {"name": unique("sd")}).json()["experiment_id"]
        for _ in range(20):
            api(srv.url, "/runs/create", {"experiment_id": eid})
        pm = srv.postmaster()
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        if when == "stopping":
            while pm_status(srv) != "stopping" and time.monotonic() - t0 < 20 and srv.proc.poll() is None:
                time.sleep(0.002)
        try:
            os.kill(pm, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            srv.proc.wait(30)
        except Exception:
            srv.proc.kill()
            srv.exited_in_test = True
            raise AssertionError(f"no exit within 30 s (postmaster killed {when})\n" + srv.stderr()[-2000:])
        took = time.monotonic() - t0
        srv.exited_in_test = True
        assert srv.proc.returncode == 0, (srv.proc.returncode, srv.stderr()[-2000:])
        err = srv.stderr()
        assert not any(m in err for m in ("AddressSanitizer", "runtime error:", "LeakSanitizer")), err[-3000:]
        print(f"\npostmaster killed {when} during Cairn's shutdown: exit in {took:.1f} s")
        # the same data dir starts again (crash recovery), the data still there
        srv = embedded(data=data)
        r = api(srv.url, "/runs/search", {"experiment_ids": [eid], "max_results": 100})
        assert r.status_code == 200 and len(r.json()["runs"]) == 20, r.text[:300]


# ------------------------------------------ 1. memory per JSON body (release)
def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")   # VmHWM := VmRSS


@pytest.fixture
def release_server(pg_socket):
    """The release build: ASan's allocator would hide what malloc does."""
    from conftest import REPO, CairnLauncher
    launcher = CairnLauncher(pg_socket)
    launcher.binary = os.environ.get("CAIRN_RELEASE_SERVER") or os.path.join(REPO, "build/cairn-server")
    srv = launcher.start()
    yield srv
    problems = launcher.stop(srv)
    assert not problems, problems


def amplification_body(limit=16 << 20):
    head = b'{"name":"a","tags":['
    n = (limit - len(head) - 2) // 2
    return head + b"0," * (n - 1) + b"0]}"


def post_raw(url, body, timeout=120):
    return requests.post(url + API + "/experiments/create", data=body,
                         headers={"Content-Type": "application/json"}, timeout=timeout)


def test_one_json_body_costs_at_most_4x_its_limit(release_server):
    srv = release_server
    pid = srv.proc.pid
    body = amplification_body()
    r = post_raw(srv.url, b'{"name":"' + unique("w").encode() + b'"}')
    assert r.status_code == 200
    idle = rss_kb(pid)
    reset_peak(pid)
    r = post_raw(srv.url, body)
    assert r.status_code == 400, r.text[:300]
    assert "JSON values" in r.json()["message"]
    growth_mb = (rss_kb(pid, "VmHWM") - idle) / 1024
    print(f"\none 16 MiB body of 8M values: RSS peak +{growth_mb:.0f} MB")
    assert growth_mb <= 64, growth_mb
    # a body of many values under the cap still works
    ok = b'{"name":"' + unique("v").encode() + b'","tags":[' + b",".join(
        b'{"key":"k%d","value":"v"}' % i for i in range(20000)) + b"]}"
    r = post_raw(srv.url, ok)
    assert r.status_code in (200, 400), r.text[:300]
    assert "JSON values" not in r.text


def test_96_concurrent_worst_case_bodies_stay_under_1_gib(release_server):
    from concurrent.futures import ThreadPoolExecutor
    srv = release_server
    pid = srv.proc.pid
    body = amplification_body()
    idle = rss_kb(pid)
    reset_peak(pid)
    with ThreadPoolExecutor(96) as ex:
        codes = list(ex.map(lambda i: post_raw(srv.url, body).status_code, range(96)))
    peak_mb = rss_kb(pid, "VmHWM") / 1024
    assert set(codes) <= {400, 503}, codes
    assert codes.count(400) >= 48, codes
    deadline = time.monotonic() + 10
    while rss_kb(pid) - idle > 20 * 1024 and time.monotonic() < deadline:
        time.sleep(0.2)
    after = rss_kb(pid)
    print(f"\n96 concurrent 16 MiB bodies: peak RSS {peak_mb:.0f} MB, idle {idle / 1024:.0f} MB, "
          f"after {after / 1024:.0f} MB, {codes.count(503)} answered 503")
    assert peak_mb < 1024, peak_mb
    assert after - idle <= 20 * 1024, (idle, after)
    assert requests.get(srv.url + "/health", timeout=5).status_code == 200


# ------------------------------- a failed upload leaves no empty directories
@pytest.fixture
def tiny_fs():
    """A 1 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    import subprocess
    import tempfile
    d = tempfile.mkdtemp(prefix="cairn-tinyfs-")
    os.chmod(d, 0o755)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], capture_output=True).returncode:
        os.rmdir(d)
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], capture_output=True)
        os.rmdir(d)


def test_failed_upload_removes_the_directories_it_created(cairn_factory, tiny_fs):
    srv = cairn_factory(["--artifacts-destination", tiny_fs])
    base = srv.url + "/api/2.0/mlflow-artifacts/artifacts"
    assert requests.put(base + "/keep/small.txt", data=b"x" * 100, timeout=30).status_code == 200
    r = requests.put(base + "/keep/deep/er/big.bin", data=b"y" * (2 << 20), timeout=60)
    assert r.status_code == 500, r.text[:300]
    r = requests.put(base + "/fresh/a/b/big.bin", data=b"y" * (2 << 20), timeout=60)
    assert r.status_code == 500, r.text[:300]
    listing = requests.get(base, params={"path": ""}, timeout=30).json()
    assert [f["path"] for f in listing.get("files", [])] == ["keep"], listing
    listing = requests.get(base, params={"path": "keep"}, timeout=30).json()
    assert [f["path"] for f in listing.get("files", [])] == ["small.txt"], listing
    assert sorted(os.listdir(tiny_fs)) == ["keep"]
    # and the space is back: a small upload to the same place works
    assert requests.put(base + "/fresh/a/b/ok.txt", data=b"z", timeout=30).status_code == 200


# ------------------------------------------------------------ 2. slowloris
def slow_connections(base, n, sources):
    """n connections that send an unfinished request head, spread over the
    source addresses (127.0.0.x all reach the loopback)."""
    host, port = addr(base)
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind((sources[i % len(sources)], 0))
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        socks.append(s)
    return socks


def dribble(socks, stop):
    """One more header line per connection every half second."""
    while not stop.wait(0.5):
        for s in socks:
            try:
                s.send(b"X-Slow: 1\r\n", socket.MSG_DONTWAIT)
            except OSError:
                pass


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


CALLS = ("health (new connection)", "runs/get (new connection)", "runs/get (keep-alive)")


def measure(srv, run_id, rounds):
    """Latencies (ms) of a normal client's calls; every call must be answered
    200 (a starved server times out: 10 s)."""
    lat = {k: [] for k in CALLS}
    ka = requests.Session()
    calls = ((CALLS[0], lambda: requests.get(srv.url + "/health", timeout=10)),
             (CALLS[1], lambda: requests.get(srv.url + API + "/runs/get", params={"run_id": run_id}, timeout=10)),
             (CALLS[2], lambda: ka.get(srv.url + API + "/runs/get", params={"run_id": run_id}, timeout=10)))
    for _ in range(rounds):
        for name, call in calls:
            t0 = time.monotonic()
            r = call()
            lat[name].append((time.monotonic() - t0) * 1000)
            assert r.status_code == 200, (name, r.status_code)
    return lat


def test_slowloris_does_not_starve_normal_clients(cairn_factory):
    """500 connections sending an unfinished head (renewed every 0.5 s) while
    a normal client makes 600 calls: every call is answered, and its median
    latency stays within 10x (+20 ms) of the same client's median measured
    just before on the same server, its p99 within 2 s. Before issue 15 the
    workers were all held and the normal client timed out (10 s). No tight
    absolute time is asserted: this 2-core machine is shared."""
    import threading
    n_slow = 2000 if SOAK else 500
    srv = cairn_factory(["--head-timeout", "60"])
    eid = requests.post(srv.url + API + "/experiments/create", json={"name": unique("slow")},
                        timeout=10).json()["experiment_id"]
    run_id = requests.post(srv.url + API + "/runs/create", json={"experiment_id": eid},
                           timeout=10).json()["run"]["info"]["run_id"]
    base = measure(srv, run_id, 50)
    socks = slow_connections(srv.url, n_slow, [f"127.0.0.{i}" for i in range(2, 12)])
    stop = threading.Event()
    th = threading.Thread(target=dribble, args=(socks, stop), daemon=True)
    th.start()
    try:
        slow = measure(srv, run_id, 200)
        report = "; ".join(f"{k}: p50 {pct(slow[k], .5):.1f} ms (alone {pct(base[k], .5):.1f}), "
                           f"p99 {pct(slow[k], .99):.1f} ms (alone {pct(base[k], .99):.1f})" for k in CALLS)
        print(f"\nwith {n_slow} slow connections open: {report}")
        for k in CALLS:
            assert pct(slow[k], .5) <= 10 * pct(base[k], .5) + 20, report
            assert pct(slow[k], .99) < 2000, report
        # the slow connections are all still open and unanswered
        for s in socks[::50]:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(4096)
    finally:
        stop.set()
        for s in socks:
            s.close()


def test_unfinished_heads_get_408_at_the_deadline(cairn_factory):
    import threading
    srv = cairn_factory(["--head-timeout", "2"])
    t0 = time.monotonic()
    socks = slow_connections(srv.url, 40, ["127.0.0.3", "127.0.0.4"])
    stop = threading.Event()
    threading.Thread(target=dribble, args=(socks, stop), daemon=True).start()
    try:
        for s in socks:
            s.settimeout(6)
            assert s.recv(4096).startswith(b"HTTP/1.1 408")
        took = time.monotonic() - t0
        assert 1.5 < took < 4, took
    finally:
        stop.set()
        for s in socks:
            s.close()


def test_connections_per_client_address_are_capped(cairn_factory):
    srv = cairn_factory(["--max-client-connections", "20", "--head-timeout", "30"])
    socks = slow_connections(srv.url, 30, ["127.0.0.9"])
    try:
        # the ten oldest unfinished heads made room: 503 and closed
        evicted = 0
        for s in socks[:10]:
            s.settimeout(3)
            evicted += s.recv(4096).startswith(b"HTTP/1.1 503")
        assert evicted == 10
        for s in socks[10:]:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(4096)   # still waiting, not answered
        # a normal request from the same address still gets through (it evicts one more)
        host, port = addr(srv.url)
        c = socket.socket()
        c.bind(("127.0.0.9", 0))
        c.settimeout(10)
        c.connect((host, port))
        c.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert c.recv(4096).startswith(b"HTTP/1.1 200")
        c.close()
        # other addresses are not affected
        assert requests.get(srv.url + "/health", timeout=10).status_code == 200
    finally:
        for s in socks:
            s.close()
