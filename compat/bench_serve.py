"""make bench-serve: `cairn-train serve` against `mlflow models serve --env-manager local` on the same
models (gbdt and logreg fitted on letter by cairn-train, served from the same model directory), side by
side in one run: requests per second and p50/p99 latency for 1-row and 1,000-row dataframe_split
requests at 1 and 16 concurrent clients (closed loop, keep-alive, build/bench/loadgen), and RSS.

Both servers run with their defaults (cairn-train serve: 16 HTTP threads; mlflow models serve: one
uvicorn worker, onnxruntime with its default threads). Table on stdout, JSON in
compat/bench/results/serve.json.

  .venv/bin/python compat/bench_serve.py [--duration S] [--quick]"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.environ.get("CAIRN_TRAIN") or os.path.join(REPO, "build/cairn-train")
LOADGEN = os.environ.get("LOADGEN") or os.path.join(REPO, "build/bench/loadgen")
MLFLOW = os.path.join(REPO, ".venv/bin/mlflow")
LETTER = os.path.join(REPO, "tests/data/letter.csv")


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid):
    """pid and all its descendants"""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def tree_rss_mb(pid, field="VmRSS"):
    return sum(rss_kb(p, field) for p in tree(pid)) / 1024


def wait_ping(url, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url + "/ping", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def start_cairn(model_dir, log):
    p = subprocess.Popen([TRAIN, "serve", "--model", model_dir, "--port", "0"], stdout=subprocess.PIPE,
                         stderr=open(log, "w"), text=True)
    for line in p.stdout:
        if line.startswith("listening on "):
            url = line.split()[-1]
            break
    else:
        raise SystemExit(f"cairn-train serve did not start: {open(log).read()}")
    wait_ping(url, p, 30)
    return p, url


def start_mlflow(model_dir, log):
    port = free_port()
    env = dict(os.environ, PATH=os.path.join(REPO, ".venv/bin") + ":" + os.environ["PATH"])
    p = subprocess.Popen([MLFLOW, "models", "serve", "-m", model_dir, "--env-manager", "local", "--host", "127.0.0.1",
                          "--port", str(port)], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    if not wait_ping(url, p, 180):
        raise SystemExit(f"mlflow models serve did not start: {open(log).read()}")
    return p, url


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()


def request_file(tmp, rows, nrows):
    header, data = rows
    cols = header[1:]
    body = json.dumps({"dataframe_split": {"columns": cols, "data": [[int(v) for v in r[1:]] for r in data[:nrows]]}},
                      separators=(",", ":"))
    path = os.path.join(tmp, f"req{nrows}.tsv")
    with open(path, "w") as f:
        f.write(f"POST\t/invocations\t{body}\t\"predictions\"\n")
    return path


def load(url, reqfile, clients, duration, warmup):
    out = subprocess.run([LOADGEN, "--base", url, "--mode", "requests", "--requests", reqfile, "--clients", str(clients),
                          "--duration", str(duration), "--warmup", str(warmup), "--verify-every", "64"],
                         capture_output=True, text=True, timeout=duration + warmup + 120)
    if out.returncode != 0:
        raise SystemExit(f"loadgen failed: {out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--quick", action="store_true", help="3-second cells (6 s for 1,000 rows)")
    args = ap.parse_args()
    duration = 3 if args.quick else args.duration
    warmup = 0.5 if args.quick else 1
    for path in (TRAIN, LOADGEN, MLFLOW):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{path} is missing (make build build/bench/loadgen venv)")
    tmp = tempfile.mkdtemp(prefix="cairn-bench-serve-")
    with open(LETTER) as f:
        lines = [line.rstrip("\n").split(",") for line in f]
    rows = (lines[0], lines[1:])
    reqs = {n: request_file(tmp, rows, n) for n in (1, 1000)}
    results = []
    rss = {}
    load_before = loadavg()
    for algo in ("gbdt", "logreg"):
        model_dir = os.path.join(tmp, algo)
        t0 = time.monotonic()
        subprocess.run([TRAIN, "fit", "--data", LETTER, "--target", "lettr", "--algo", algo, "--seed", "1",
                        "--no-evaluation", "--output-dir", model_dir], check=True, capture_output=True)
        print(f"{algo}: fitted on letter in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        cairn, cairn_url = start_cairn(model_dir, os.path.join(tmp, f"cairn-{algo}.log"))
        mlf, mlf_url = start_mlflow(model_dir, os.path.join(tmp, f"mlflow-{algo}.log"))
        rss[algo] = {"cairn_idle_mb": tree_rss_mb(cairn.pid), "mlflow_idle_mb": tree_rss_mb(mlf.pid),
                     "cairn_start_peak_mb": rss_kb(cairn.pid, "VmHWM") / 1024}
        # the peak under load apart from the model load's: reset VmHWM (clear_refs 5) before the cells
        try:
            with open(f"/proc/{cairn.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        try:
            for nrows in (1, 1000):
                for clients in (1, 16):
                    cell = {"model": algo, "rows": nrows, "clients": clients}
                    for name, url in (("cairn", cairn_url), ("mlflow", mlf_url)):
                        # 1,000-row cells run twice as long: MLflow answers few of them
                        r = load(url, reqs[nrows], clients, duration * (2 if nrows > 1 else 1), warmup)
                        if r.get("errors"):
                            raise SystemExit(f"{name} {algo} {nrows} rows: {r['errors']} errors: {r.get('first_error')}")
                        cell[name] = {k: r[k] for k in ("requests", "req_s", "p50_ms", "p99_ms")}
                    cell["ratio"] = cell["cairn"]["req_s"] / max(cell["mlflow"]["req_s"], 1e-9)
                    cell["load1"] = loadavg()[0]
                    results.append(cell)
                    print(f"{algo} {nrows:>4} rows x{clients:>2}: cairn {cell['cairn']['req_s']:9.1f} req/s  "
                          f"mlflow {cell['mlflow']['req_s']:8.1f} req/s  {cell['ratio']:6.1f}x", file=sys.stderr)
            rss[algo].update({"cairn_peak_mb": rss_kb(cairn.pid, "VmHWM") / 1024,
                              "cairn_after_mb": tree_rss_mb(cairn.pid),
                              "mlflow_peak_mb": tree_rss_mb(mlf.pid, "VmHWM"),
                              "mlflow_after_mb": tree_rss_mb(mlf.pid)})
        finally:
            stop(cairn)
            stop(mlf)
    print("\n| model | rows/request | clients | cairn req/s | MLflow req/s | ratio | cairn p50 / p99 ms | MLflow p50 / p99 ms | load |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for c in results:
        a, b = c["cairn"], c["mlflow"]
        print(f"| letter {c['model']} | {c['rows']:,} | {c['clients']} | {a['req_s']:,.0f} | {b['req_s']:,.1f} | "
              f"{c['ratio']:.1f}x | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} | "
              f"{c['load1']:.1f} |")
    print("\n| model | cairn RSS idle / peak under load / peak while loading the model, MB "
          "| MLflow RSS idle / peak MB (all processes) |")
    print("|---|--:|--:|")
    for algo, r in rss.items():
        print(f"| letter {algo} | {r['cairn_idle_mb']:.1f} / {r['cairn_peak_mb']:.1f} / "
              f"{r['cairn_start_peak_mb']:.1f} | {r['mlflow_idle_mb']:.0f} / {r['mlflow_peak_mb']:.0f} |")
    load_after = loadavg()
    print(f"\nload average (1/5/15 min) before the run {load_before}, after {load_after}; 'load' above is the "
          "1-minute average at the end of each cell (this machine has %d CPUs)" % os.cpu_count())
    os.makedirs(os.path.join(REPO, "compat/bench/results"), exist_ok=True)
    with open(os.path.join(REPO, "compat/bench/results/serve.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "duration_s": duration, "cells": results, "rss": rss,
                   "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count()},
                  f, indent=1)


if __name__ == "__main__":
    main()
