"""make bench-auth (issue 16): log-metric throughput with --app-name basic-auth
against the same release build without it, side by side on one PostgreSQL.

The auth-on load logs as a non-admin user holding EDIT on the experiment, so
every request pays the Basic check (the credential cache), the grant look-up
and the run's permission rule. Rounds alternate the two servers; the ratio is
the median auth-on req/s over the median auth-off req/s.

  .venv/bin/python compat/bench/auth.py [--clients N] [--duration S] [--rounds N]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")
SERVER = os.path.join(ROOT, "build", "cairn-server")
ADMIN_PW = "bench-admin-password"
USER_PW = "bench-user-password"


def start_server(sock, db, tmp, auth):
    subprocess.run(["psql", "-h", sock, "-U", "postgres", "-qc", f'CREATE DATABASE "{db}"'], check=True)
    env = dict(os.environ)
    args = [SERVER, "--port", "0", "--backend-store-uri", f"postgresql://postgres@/{db}?host={sock}",
            "--data-dir", os.path.join(tmp, db)]
    if auth:
        ini = os.path.join(tmp, "basic_auth.ini")
        with open(ini, "w") as f:
            f.write(f"[mlflow]\ndefault_permission = NO_PERMISSIONS\nadmin_username = admin\n"
                    f"admin_password = {ADMIN_PW}\n")
        env.update(MLFLOW_AUTH_CONFIG_PATH=ini, MLFLOW_FLASK_SERVER_SECRET_KEY="bench")
        args += ["--app-name", "basic-auth"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, db + ".log"), "wb"), env=env)
    line = p.stdout.readline().decode()
    assert line.startswith("listening on "), line
    return p, line.split()[-1]


def prepare(url, auth, n_runs):
    s = requests.Session()
    if auth:
        s.auth = ("admin", ADMIN_PW)
        s.post(url + "/api/2.0/mlflow/users/create", json={"username": "logger", "password": USER_PW}).raise_for_status()
    exp = s.post(url + "/api/2.0/mlflow/experiments/create", json={"name": "bench-auth"}).json()["experiment_id"]
    if auth:
        s.post(url + "/api/3.0/mlflow/users/permissions/grant",
               json={"username": "logger", "resource_type": "experiment", "resource_id": exp,
                     "permission": "EDIT"}).raise_for_status()
        s.auth = ("logger", USER_PW)
    runs = [s.post(url + "/api/2.0/mlflow/runs/create", json={"experiment_id": exp, "start_time": 1})
            .json()["run"]["info"]["run_id"] for _ in range(n_runs)]
    return runs


def load(base, runs_file, clients, duration):
    out = subprocess.run([LOADGEN, "--base", base, "--mode", "log-metric", "--clients", str(clients),
                          "--duration", str(duration), "--warmup", "0.5", "--runs", runs_file],
                         capture_output=True, text=True, timeout=duration + 120)
    if out.returncode:
        raise RuntimeError(out.stderr)
    r = json.loads(out.stdout)
    if r["errors"]:
        raise RuntimeError(f"{r['errors']} errors: {r.get('first_error')}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cairn-bench-auth-")
    os.chmod(tmp, 0o755)
    sock = subprocess.run([os.path.join(ROOT, "tests/pg.sh"), "start", os.path.join(tmp, "pg")],
                          capture_output=True, text=True, check=True).stdout.split()[-1]
    procs = []
    try:
        servers = {}
        for name, auth in (("off", False), ("on", True)):
            p, url = start_server(sock, "bench_auth_" + name, tmp, auth)
            procs.append(p)
            runs = prepare(url, auth, a.clients)
            runs_file = os.path.join(tmp, f"runs-{name}.txt")
            with open(runs_file, "w") as f:
                f.write("\n".join(runs) + "\n")
            base = url.replace("http://", f"http://logger:{USER_PW}@") if auth else url
            servers[name] = (base, runs_file)
        res = {"off": [], "on": []}
        for rnd in range(a.rounds):
            for name in ("off", "on") if rnd % 2 == 0 else ("on", "off"):
                r = load(*servers[name], a.clients, a.duration)
                res[name].append(r)
                print(f"round {rnd + 1} auth {name:3}: {r['req_s']:9.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                      f"p99 {r['p99_ms']:.2f} ms", flush=True)
        off = statistics.median(r["req_s"] for r in res["off"])
        on = statistics.median(r["req_s"] for r in res["on"])
        print(f"log-metric, {a.clients} clients: auth off {off:.0f} req/s, auth on {on:.0f} req/s, "
              f"auth on / off = {on / off:.3f}")
        os.makedirs(os.path.join(ROOT, "compat/bench/results"), exist_ok=True)
        with open(os.path.join(ROOT, "compat/bench/results/bench-auth.json"), "w") as f:
            json.dump({"clients": a.clients, "duration": a.duration, "off_req_s": off, "on_req_s": on,
                       "ratio": on / off, "rounds": res}, f, indent=1)
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        subprocess.run([os.path.join(ROOT, "tests/pg.sh"), "stop", os.path.join(tmp, "pg")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
