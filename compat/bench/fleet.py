"""make bench-fleet (issue 17): Cairn as a fleet on this machine, side by side
in one run.

- throughput of log-metric and of run search through HAProxy with 1, 2 and 3
  cairn-servers (release build) on one PostgreSQL primary;
- search latency with and without the streaming replica (--read-replica-uri),
  alone and under 8 log-metric writers;
- for every cell, where the CPU went: microseconds of CPU per request in the
  cairn-servers, HAProxy, PostgreSQL (primary + replica) and the load
  generator (from /proc), and SQL execution time per request
  (pg_stat_statements) — the numbers the README's scaling estimate uses.

  .venv/bin/python compat/bench/fleet.py [--quick] [--duration S] [--clients N]
Results: compat/bench/results/bench-fleet.{txt,json}.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "compat"))
from fleet import Fleet  # noqa: E402

import requests  # noqa: E402

LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")
SERVER = os.path.join(ROOT, "build", "cairn-server")
API = "/api/2.0/mlflow"
HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, flush=True)


def cpu_of(pids):
    """{pid: CPU seconds (user + system) so far} of these processes."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(parts[11]) + int(parts[12])) / HZ
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_spent(before, after):
    """CPU seconds spent between two cpu_of() snapshots; a process born in between counts from 0."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def postmaster_pids(datadir):
    with open(os.path.join(datadir, "postmaster.pid")) as f:
        pm = int(f.readline())
    return [pm] + children_of(pm)


class Bench:
    def __init__(self, args):
        self.a = args
        self.f = Fleet(SERVER, replica=True, pgbouncer=False, pool_size=8)
        self.results = {"cells": [], "machine": {"cores": os.cpu_count()}}

    # ------------------------------------------------------------ set-up
    def setup(self):
        f = self.f
        f.start_primary()
        # pg_stat_statements on both clusters: restart the primary with it
        f._pg_ctl(f.primary_dir, f.primary_sock, f.primary_log, "restart",
                  "-c wal_level=replica -c max_wal_senders=5 -c shared_preload_libraries=pg_stat_statements")
        f.psql(f.primary_sock, "cairn", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        f.start_replica()
        f._pg_ctl(f.replica_dir, f.replica_sock, f.replica_log, "restart",
                  "-c hot_standby=on -c shared_preload_libraries=pg_stat_statements")
        for i in (1, 2, 3):
            f.start_server(i, replica=False)
        self.seed()

    def seed(self):
        base = self.f.url(1)
        s = requests.Session()
        eid = s.post(base + API + "/experiments/create", json={"name": "fleet-bench"}).json()["experiment_id"]
        self.eid = eid
        n_runs = 300 if self.a.quick else 2000
        self.n_runs = n_runs
        t0 = time.monotonic()

        def seed_some(k):
            sess = requests.Session()
            for i in range(k, n_runs, 8):
                rid = sess.post(base + API + "/runs/create", json={"experiment_id": eid, "run_name": f"r{i}"}
                                ).json()["run"]["info"]["run_id"]
                sess.post(base + API + "/runs/log-batch", json={
                    "run_id": rid,
                    "params": [{"key": "model", "value": ["lr", "gbdt", "mlp"][i % 3]},
                               {"key": "lr", "value": str(0.001 * (i % 10 + 1))}],
                    "metrics": [{"key": k2, "value": (i * 7919 % 1000) / 1000 + j, "timestamp": 1, "step": 0}
                                for j, k2 in enumerate(("acc", "loss", "f1"))],
                    "tags": [{"key": "team", "value": f"t{i % 4}"}]})
        threads = [threading.Thread(target=seed_some, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.writer_runs = []
        for i in range(64):
            self.writer_runs.append(s.post(base + API + "/runs/create",
                                           json={"experiment_id": eid, "run_name": f"w{i}"}
                                           ).json()["run"]["info"]["run_id"])
        tmp = self.f.tmp
        self.runs_file = os.path.join(tmp, "runs.txt")
        with open(self.runs_file, "w") as fh:
            fh.write("\n".join(self.writer_runs) + "\n")
        # a search a dashboard makes: filter on a metric and a param, sorted, a page of 50
        body = json.dumps({"experiment_ids": [eid], "filter": "metrics.acc > 0.5 and params.model = 'gbdt'",
                           "order_by": ["metrics.acc DESC"], "max_results": 50})
        self.search_file = os.path.join(tmp, "search.txt")
        with open(self.search_file, "w") as fh:
            fh.write(f"POST\t{API}/runs/search\t{body}\t\"runs\"\n")
        log(f"seeded {n_runs} runs in {time.monotonic() - t0:.1f}s")

    # ------------------------------------------------------------ measuring
    def sql_reset(self):
        for sock in (self.f.primary_sock, self.f.replica_sock):
            self.f.psql(sock, "cairn", "SELECT pg_stat_statements_reset()")

    def sql_ms(self):
        total = 0.0
        for sock in (self.f.primary_sock, self.f.replica_sock):
            total += float(self.f.psql(sock, "cairn", "SELECT coalesce(sum(total_exec_time), 0) FROM "
                                       "pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                                       "WHERE datname = 'cairn')") or 0)
        return total

    def groups(self, servers):
        return {
            "cairn": [self.f.servers[i]["proc"].pid for i in servers],
            "haproxy": [self.f.haproxy.pid] + children_of(self.f.haproxy.pid),
            "postgres": postmaster_pids(self.f.primary_dir) + postmaster_pids(self.f.replica_dir),
        }

    def loadgen(self, mode_args, clients, duration, base):
        cmd = [LOADGEN, "--base", base, "--clients", str(clients),
               "--duration", str(duration), "--warmup", "1", *mode_args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def cell(self, name, servers, mode_args, clients, background=None):
        """One measured run through HAProxy over `servers`; background: (mode_args, clients) run alongside."""
        d = self.a.duration
        self.sql_reset()
        before = {k: cpu_of(v) for k, v in self.groups(servers).items()}
        ru0 = os.times()
        bg = self.loadgen(background[0], background[1], d + 1, self.f.lb) if background else None
        p = self.loadgen(mode_args, clients, d, self.f.lb)
        out, err = p.communicate()
        bg_out = bg.communicate()[0] if bg else None
        ru1 = os.times()
        g = self.groups(servers)   # again: backends a server connected during the cell count too
        after = {k: cpu_of(v) for k, v in g.items()}
        if p.returncode:
            raise RuntimeError(f"loadgen: {err}")
        r = json.loads(out)
        n = max(1, r["requests"] + (json.loads(bg_out)["requests"] if bg_out else 0))
        cpu = {k: cpu_spent(before[k], after[k]) / n * 1e6 for k in g}
        cpu["loadgen"] = ((ru1.children_user + ru1.children_system) -
                          (ru0.children_user + ru0.children_system)) / n * 1e6
        row = {"cell": name, "servers": len(servers), "clients": clients, "req_s": r["req_s"],
               "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "errors": r["errors"],
               "cpu_us_per_req": {k: round(v, 1) for k, v in cpu.items()},
               "cpu_us_total": round(sum(cpu.values()), 1),
               "sql_us_per_req": round(self.sql_ms() * 1000 / n, 1)}
        if bg_out:
            b = json.loads(bg_out)
            row["background_req_s"] = b["req_s"]
        self.results["cells"].append(row)
        log(f"{name:<44} {len(servers)} srv {r['req_s']:>8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:7.2f} ms  cpu/req {row['cpu_us_total']:7.0f} us "
            f"(cairn {cpu['cairn']:.0f}, pg {cpu['postgres']:.0f}, haproxy {cpu['haproxy']:.0f}, "
            f"loadgen {cpu['loadgen']:.0f})  sql/req {row['sql_us_per_req']:.0f} us"
            + (f"  [errors {r['errors']}]" if r["errors"] else ""))
        return row

    def restart_servers(self, replica):
        for i in (1, 2, 3):
            self.f.stop_server(i)
            self.f.start_server(i, replica=replica)

    def run(self):
        c = self.a.clients
        metric = ["--mode", "log-metric", "--runs", self.runs_file]
        search = ["--mode", "requests", "--requests", self.search_file]
        log(f"\nthroughput through HAProxy ({c} clients, {self.a.duration}s per cell, primary only)")
        for n in (1, 2, 3):
            self.f.start_haproxy(range(1, n + 1))
            self.cell("log-metric", list(range(1, n + 1)), metric, c)
        for n in (1, 2, 3):
            self.f.start_haproxy(range(1, n + 1))
            self.cell(f"search (50 of {self.n_runs} runs, filter+sort)", list(range(1, n + 1)), search, c)
        log("\nsearch latency, 3 servers, 1 search client: without and with the replica")
        self.f.start_haproxy((1, 2, 3))
        for replica in (False, True):
            if replica:
                self.restart_servers(True)
                time.sleep(1)
            tag = "with replica" if replica else "primary only"
            self.cell(f"search latency, alone ({tag})", [1, 2, 3], search, 1)
            self.cell(f"search latency, 8 writers ({tag})", [1, 2, 3], search, 1, background=(metric, 8))
        self.results["replica_sessions_after"] = int(self.f.psql(
            self.f.replica_sock, "cairn",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cairn-server'"))
        self.results["load_average"] = os.getloadavg()

    def write(self):
        out = os.path.join(HERE, "results")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "bench-fleet.json"), "w") as fh:
            json.dump(self.results, fh, indent=1)
        lines = ["| cell | servers | clients | req/s | p50 ms | p99 ms | CPU µs/req: cairn | postgres | "
                 "haproxy | loadgen | total | SQL µs/req |", "|" + "---|" * 12]
        for r in self.results["cells"]:
            u = r["cpu_us_per_req"]
            lines.append(f"| {r['cell']} | {r['servers']} | {r['clients']} | {r['req_s']:.0f} | "
                         f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {u['cairn']:.0f} | {u['postgres']:.0f} | "
                         f"{u['haproxy']:.0f} | {u['loadgen']:.0f} | {r['cpu_us_total']:.0f} | "
                         f"{r['sql_us_per_req']:.0f} |")
        text = "\n".join(lines) + "\n" + (f"\nload average at the end: {self.results['load_average']}; "
                                            f"replica sessions: {self.results['replica_sessions_after']}\n")
        with open(os.path.join(out, "bench-fleet.txt"), "w") as fh:
            fh.write(text)
        log("\n" + text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--duration", type=float)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.duration is None:
        a.duration = 4 if a.quick else 15
    for tool in (LOADGEN, SERVER):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} missing: make build build/bench/loadgen")
    b = Bench(a)
    try:
        b.setup()
        b.run()
        b.write()
    finally:
        b.f.stop(keep=a.keep)


if __name__ == "__main__":
    main()
