"""Differential testing at the HTTP level.

A scenario is a function `scenario(uid)` that drives the real mlflow 3.x client
against the current tracking URI. `record(base_url, fn, uid)` runs it while
`requests.Session.send` is patched, capturing every exchange with that server:
(method, path, query, request JSON, status, response JSON). `normalise` makes
two recordings comparable (ids, timestamps, artifact roots, user/source tags,
generated run names, page tokens, the per-run unique token); `compare` lists
every difference in status, error_code, JSON field names, types and values,
and in the media type of each reply's Content-Type. Error messages are compared
only for validation errors (error_code INVALID_PARAMETER_VALUE), which clients
show to users and tests assert; CAIRN_DIFF_MESSAGES=0 turns that off,
CAIRN_DIFF_CTYPE=0 the Content-Type comparison.

Accepted differences are listed in DIFFERENCES.md: every `Pattern:` line holds
a Python regular expression; a mismatch line that it matches (re.search) is
accepted. See that file for the line format.
"""
import json
import math
import os
import re
import time
import traceback
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlsplit

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFERENCES_MD = os.path.join(HERE, "DIFFERENCES.md")

# Filled in by test_differential.py, printed by conftest.pytest_terminal_summary.
RESULTS = {"scenarios": 0, "exchanges": 0, "mismatches": 0, "accepted": 0}

HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
RANDOM_RUN_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,4}$")
TIME_KEYS = {"start_time", "end_time", "creation_time", "last_update_time", "deleted_time",
             "timestamp", "creation_timestamp", "last_updated_timestamp",
             "creation_timestamp_ms", "last_updated_timestamp_ms"}
SOURCE_TAGS = {"mlflow.user", "mlflow.source.name", "mlflow.source.type",
               "mlflow.source.git.commit", "mlflow.source.git.branch",
               "mlflow.source.git.repoURL", "mlflow.git.repoURL", "mlflow.databricks.notebookPath"}
ARTIFACT_KEYS = {"artifact_uri", "artifact_location", "storage_location", "root_uri"}
# /api/2.0/mlflow-artifacts/artifacts/<experiment id>/… and ?path=<experiment id>/…
PROXY_PATH = re.compile(r"^(/(?:ajax-)?api/2\.0/mlflow-artifacts/(?:artifacts|mpu/\w+|presigned)/)(\d+)(?=/|$)")
PROXY_QUERY = re.compile(r"^(\d+)(?=/|$)")
UTC_CREATED = re.compile(r"utc_time_created: '[^']*'")
TEXT_EXP = re.compile(r"(mlflow-artifacts:/+)(\d+)(?=/)")   # inside downloaded text (MLmodel)
GQL_EXP = re.compile(r'(experimentIds?\W+)(\d+)\b')    # experimentIds: [\"12\"] in a GraphQL query
TOKEN_KEYS = {"next_page_token", "page_token"}
# experiment ids inside compared messages ("The experiment 12 must be …", "experiment_id=12")
EXP_IN_MESSAGE = re.compile(r"(?i)(\bexperiments?(?:[ _]ids?)?(?: with id)?[ =:]*['\"]?)(\d+)\b")
QUOTED_ID = re.compile(r"'(\d+)'")
PY_SET = re.compile(r"\{('[^',]*'(?:, '[^',]*')+)\}")
IGNORED_KEYS = {"message"}          # error messages: only validation errors are compared
COMPARED_MESSAGE_CODES = {"INVALID_PARAMETER_VALUE"}
COMPARE_MESSAGES = os.environ.get("CAIRN_DIFF_MESSAGES", "1") != "0"
COMPARE_CTYPE = os.environ.get("CAIRN_DIFF_CTYPE", "1") != "0"
# issue 14: traces carry protobuf Timestamp/Duration strings, span times in
# nanoseconds and random base64 span/trace ids
TRACE_TIME_KEYS = {"request_time", "create_time", "last_update_time", "execution_duration"}
TRACE_NS_KEYS = {"start_time_unix_nano", "end_time_unix_nano", "time_unix_nano"}
TRACE_B64_ID_KEYS = {"trace_id", "span_id", "parent_span_id"}
TRACE_MS_KEYS = {"timestamp_ms", "execution_time_ms"}


# ------------------------------------------------------------------ recording
class Exchange:
    __slots__ = ("method", "path", "query", "request", "status", "response", "ctype")

    def __init__(self, method, path, query, request, status, response, ctype):
        self.method, self.path, self.query = method, path, query
        self.request, self.status, self.response, self.ctype = request, status, response, ctype

    def label(self):
        return f"{self.method} {self.path}"


def _json_or_text(data, ctype=""):
    if data is None or data == b"" or data == "":
        return None
    if not isinstance(data, (bytes, str)):
        return {"<stream>": True}       # an upload from a file object (artifact PUT)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return {"<bytes>": len(data)}
    try:
        return json.loads(data)
    except ValueError:
        return {"<text>": data if len(data) < 4000 else data[:4000] + "…"}   # whole small files: a cut would move with id lengths


@contextmanager
def recording(base_url):
    """Capture every request to base_url made through requests in this process."""
    log = []
    orig = requests.Session.send
    base = urlsplit(base_url)

    def send(self, request, **kwargs):
        resp = orig(self, request, **kwargs)
        u = urlsplit(request.url)
        if (u.scheme, u.netloc) == (base.scheme, base.netloc):
            ctype = resp.headers.get("Content-Type", "")
            body = resp.content if not kwargs.get("stream") else None
            resp_json = _json_or_text(body) if body is not None else {"<stream>": True}
            if resp_json is not None and "json" not in ctype and "<text>" not in resp_json:
                resp_json = {"<non-json>": resp_json}
            log.append(Exchange(request.method, u.path, parse_qsl(u.query, keep_blank_values=True),
                                _json_or_text(request.body), resp.status_code, resp_json, ctype))
        return resp

    requests.Session.send = send
    try:
        yield log
    finally:
        requests.Session.send = orig


def record(base_url, scenario, uid):
    """Run scenario(uid) against base_url (already the tracking URI); return
    (exchanges, error-or-None)."""
    from conftest import reset_mlflow_state
    reset_mlflow_state(base_url)
    err = None
    with recording(base_url) as log:
        try:
            scenario(uid)
        except Exception as e:  # recorded; the comparison reports it
            err = f"{type(e).__name__}: {str(e)[:300]}"
            traceback.print_exc()
    reset_mlflow_state(base_url)
    return log, err


# ------------------------------------------------------------------ normalising
class Normaliser:
    def __init__(self, uid):
        self.uid = uid
        self.runs = {}
        self.exps = {}
        self.now_ms = time.time() * 1000

    def run(self, rid):
        return self.runs.setdefault(rid, f"<run{len(self.runs)}>")

    def exp(self, eid):
        if eid in ("0", 0):
            return "0"          # the Default experiment is the same everywhere
        return self.exps.setdefault(str(eid), f"<exp{len(self.exps)}>")

    def text(self, s):
        s = s.replace(self.uid, "<uid>")
        return HEX32.sub(lambda m: self.run(m.group(0)), s)

    def message(self, s):
        # a Python set in a message ("Valid keys are '{'b', 'a'}'") prints in hash order
        s = PY_SET.sub(lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", s)
        s = EXP_IN_MESSAGE.sub(lambda m: m.group(1) + self.exp(m.group(2)), self.text(s))
        if "Experiment IDs" in s:      # logged-model page tokens: "Expected: ['3', '0']"
            s = QUOTED_ID.sub(lambda m: "'" + self.exp(m.group(1)) + "'", s)
        return s

    def artifact(self, s):
        # '<root>/<exp>/<run>/artifacts' or '<root>/<exp>' -> keep only the tail
        s = self.text(s)
        parts = s.rstrip("/").split("/")
        for i, p in enumerate(parts):
            if p.isdigit() and (i + 1 == len(parts) or parts[i + 1].startswith("<run")
                                or parts[i + 1] in ("models", "traces")):
                parts[i] = self.exp(p)
                return "<root>/" + "/".join(parts[i:])
        return "<root>/" + parts[-1]

    def value(self, key, v, parent_key=None):
        if isinstance(v, dict):
            return self.obj(v, key)
        if isinstance(v, list):
            items = [self.value(key, x, parent_key) for x in v]
            if key in ("experiment_ids",):
                return items
            if items and all(isinstance(x, dict) and "key" in x for x in items) and key != "<history>":
                items = sorted(items, key=lambda d: json.dumps(d, sort_keys=True, default=str))
            return items
        if key in ("experiment_id", "experiment_ids") and isinstance(v, (str, int)):
            return self.exp(v)
        if key in ("run_id", "run_uuid", "parent_id") and isinstance(v, str):
            return self.text(v)
        if key in TIME_KEYS and isinstance(v, int) and abs(v - self.now_ms) < 2 * 86400 * 1000:
            return "<now>"
        if key in ("mlflow.trace.sizeBytes", "mlflow.trace.sizeStats"):
            return "<size>"     # measured by the client over ids that differ in length
        if key in TRACE_TIME_KEYS and isinstance(v, str):
            return "<time>"
        if key in TRACE_NS_KEYS and isinstance(v, (int, str)):
            return "<ns>"
        if key in TRACE_MS_KEYS and isinstance(v, (int, str)):
            return "<ms>"
        if key in TRACE_B64_ID_KEYS and isinstance(v, str) and not v.startswith("tr-") and not HEX32.fullmatch(v):
            return "<id>"
        if key in TOKEN_KEYS and isinstance(v, str):
            return "<token>" if v else ""
        if key == "user_id" and isinstance(v, str):
            return "<user>"
        if key in ARTIFACT_KEYS and isinstance(v, str):
            return self.artifact(v)
        if key == "<text>" and isinstance(v, str):
            v = UTC_CREATED.sub("utc_time_created: <now>", v)    # MLmodel's creation time
            return TEXT_EXP.sub(lambda m: m.group(1) + self.exp(m.group(2)), self.text(v))
        if key == "run_name" and isinstance(v, str) and RANDOM_RUN_NAME.match(v):
            return "<random-name>"
        if key == "query" and isinstance(v, str):     # GraphQL text with ids written into it
            v = GQL_EXP.sub(lambda m: m.group(1) + self.exp(m.group(2)), v)
        if isinstance(v, str):
            # an artifact URI inside any other value (trace tags, model version sources)
            return TEXT_EXP.sub(lambda m: m.group(1) + self.exp(m.group(2)), self.text(v))
        if isinstance(v, float) and math.isnan(v):
            return "NaN"
        return v

    def obj(self, d, parent=None):
        out = {}
        # tag-like {"key": k, "value": v}
        if set(d) >= {"key", "value"} and isinstance(d.get("key"), str):
            k = d["key"]
            if k in SOURCE_TAGS:
                return {"key": k, "value": "<source>", **{x: self.value(x, y) for x, y in d.items()
                                                          if x not in ("key", "value")}}
            if k == "mlflow.runName" and isinstance(d["value"], str) and RANDOM_RUN_NAME.match(d["value"]):
                return {"key": k, "value": "<random-name>"}
        if isinstance(d.get("path"), str) and d["path"].endswith("MLmodel") and "file_size" in d:
            # MLmodel holds the experiment id: its size follows the id's digit count
            d = {**d, "file_size": "<size>"}
        for k, v in d.items():
            if k in IGNORED_KEYS:
                if COMPARE_MESSAGES and isinstance(v, str) and d.get("error_code") in COMPARED_MESSAGE_CODES:
                    out[k] = self.message(v)
                continue
            out[self.text(k)] = self.value(k, v, parent)
        return out

    def exchange(self, ex):
        path = PROXY_PATH.sub(lambda m: m.group(1) + self.exp(m.group(2)), self.text(ex.path))
        proxy_list = "/mlflow-artifacts/artifacts" in ex.path
        query = {}
        for k, v in ex.query:
            if proxy_list and k == "path":
                v = PROXY_QUERY.sub(lambda m: self.exp(m.group(1)), v)
            query.setdefault(k, []).append(self.value(k, v))
        req = ex.request
        if isinstance(req, dict):
            req = self.obj(req)
        resp = ex.response
        if isinstance(resp, dict):
            if ex.path.endswith("/metrics/get-history") and isinstance(resp.get("metrics"), list):
                resp = dict(resp)
                hist = resp.pop("metrics")
                resp = self.obj(resp)
                resp["metrics"] = self.value("<history>", hist)
            else:
                resp = self.obj(resp)
        return {"method": ex.method, "path": path, "query": query, "request": req,
                "status": ex.status, "response": resp, "ctype": _media_type(ex.ctype)}


def _media_type(ctype):
    """The Content-Type as a client reads it: the media type and its parameters
    (lower-cased names, no spaces), e.g. 'text/plain;charset=utf-8'."""
    parts = [p.strip() for p in (ctype or "").split(";") if p.strip()]
    return ";".join([parts[0].lower()] + [p.lower().replace(" ", "") for p in parts[1:]]) if parts else ""


def normalise(exchanges, uid):
    n = Normaliser(uid)
    return [n.exchange(e) for e in exchanges]


# ------------------------------------------------------------------ comparing
def _typename(v):
    if v is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list",
            dict: "object"}.get(type(v), type(v).__name__)


def _diff(a, b, where, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{where}.{k}: only on cairn ({_short(a[k])})")
            elif k not in a:
                out.append(f"{where}.{k}: missing on cairn (mlflow={_short(b[k])})")
            else:
                _diff(a[k], b[k], f"{where}.{k}", out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: list length cairn={len(a)} mlflow={len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{where}[{i}]", out)
        return
    if _typename(a) != _typename(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                             and not isinstance(a, bool) and not isinstance(b, bool)):
        out.append(f"{where}: type cairn={_typename(a)} mlflow={_typename(b)} "
                   f"(cairn={_short(a)} mlflow={_short(b)})")
        return
    if a != b:
        out.append(f"{where}: value cairn={_short(a)} mlflow={_short(b)}")


def _short(v, n=120):
    s = json.dumps(v, default=str, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "…"


def compare(name, cairn, mlflow_side):
    """Both arguments are normalised exchange lists; returns mismatch lines."""
    out = []
    if len(cairn) != len(mlflow_side):
        out.append(f"{name}: exchange count cairn={len(cairn)} mlflow={len(mlflow_side)}")
    for i, (a, b) in enumerate(zip(cairn, mlflow_side)):
        lab = f"{name} #{i} {b['method']} {b['path']}"
        if (a["method"], a["path"]) != (b["method"], b["path"]):
            out.append(f"{lab}: request line cairn={a['method']} {a['path']}")
            continue
        if a["status"] != b["status"]:
            out.append(f"{lab} status: cairn={a['status']} mlflow={b['status']}")
        if COMPARE_CTYPE and a.get("ctype") != b.get("ctype"):
            out.append(f"{lab} content-type: cairn={a.get('ctype')!r} mlflow={b.get('ctype')!r}")
        d = []
        _diff(a["query"], b["query"], "query", d)
        _diff(a["request"], b["request"], "request", d)
        _diff(a["response"], b["response"], "response", d)
        out += [f"{lab} {x}" for x in d]
    # when one side made more calls, show the extra ones
    longer, who = (cairn, "cairn") if len(cairn) > len(mlflow_side) else (mlflow_side, "mlflow")
    for i in range(min(len(cairn), len(mlflow_side)), len(longer)):
        e = longer[i]
        out.append(f"{name} #{i} {e['method']} {e['path']}: extra exchange on {who} "
                   f"(status {e['status']})")
    return out


# ------------------------------------------------------------------ allow-list
def load_allowlist(path=DIFFERENCES_MD):
    """Regexes from `Pattern: \\`...\\`` lines in DIFFERENCES.md."""
    pats = []
    if not os.path.exists(path):
        return pats
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*[-*]?\s*Pattern:\s*`(.+)`\s*$", line)
            if m:
                pats.append(re.compile(m.group(1)))
    return pats


def split_accepted(mismatches, patterns):
    bad, ok = [], []
    for m in mismatches:
        (ok if any(p.search(m) for p in patterns) else bad).append(m)
    return bad, ok


def run_and_compare(name, scenario, cairn_url, mlflow_url, allowlist, prepare=None, max_lines=80):
    """Runs one scenario against both servers, compares the exchanges,
    counts the result and fails the test on any unaccepted mismatch.
    `prepare` may filter or reorder each side's recorded exchanges."""
    import uuid
    uid_c = uuid.uuid4().hex[:10]
    uid_m = uuid.uuid4().hex[:10]
    rec_c, err_c = record(cairn_url, scenario, uid_c)
    rec_m, err_m = record(mlflow_url, scenario, uid_m)
    if prepare is not None:
        rec_c, rec_m = prepare(rec_c), prepare(rec_m)
    assert err_m is None, f"scenario {name} failed against MLflow itself: {err_m}"
    mism = compare(name, normalise(rec_c, uid_c), normalise(rec_m, uid_m))
    if err_c:
        mism.insert(0, f"{name}: scenario raised on cairn: {err_c}")
    bad, ok = split_accepted(mism, allowlist)
    RESULTS["scenarios"] += 1
    RESULTS["exchanges"] += len(rec_m)
    RESULTS["mismatches"] += len(bad)
    RESULTS["accepted"] += len(ok)
    for line in ok:
        print("accepted:", line)
    for line in bad:
        print("MISMATCH:", line)
    assert not bad, f"{len(bad)} differential mismatches in {name}:\n" + "\n".join(bad[:max_lines])
