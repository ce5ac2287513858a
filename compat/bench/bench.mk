# Benchmarks: Cairn vs MLflow's own server on one PostgreSQL (compat/bench/).
#   make bench              full run (100k runs, 10M metric rows per server, 3 rounds; ~45 min)
#   make bench QUICK=1      small data, one short round (< 3 min)
#   make bench-soak         10-minute mixed soak (64 loggers + 2 UI readers) per server
#                           (SOAK_SECONDS=N, SOAK_SERVERS=cairn to skip MLflow)
# BENCH_ARGS passes harness flags (--only ID,..., --duration S, --rounds N, --keep);
# MLFLOW_WORKERS (default 2) and CAIRN_ARGS (extra cairn-server flags) reach the servers.
# Results: compat/bench/results/bench-{quick,full,soak}.{txt,json,svg}.

BENCH_PY := .venv/bin/python compat/bench/bench.py
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter

.PHONY: bench bench-soak

build/bench/loadgen: compat/bench/loadgen.c
	@mkdir -p build/bench
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lcurl

# the reference server comes from the locked venv; create it only if missing
.venv/bin/mlflow:
	$(MAKE) .venv/.done

bench: deps build build/bench/loadgen .venv/bin/mlflow
	@$(BENCH_PY) $(if $(QUICK),--quick) $(BENCH_ARGS)
	$(if $(QUICK),,@.venv/bin/python compat/bench/traces.py)
	$(if $(QUICK),,@.venv/bin/python compat/bench/fleet.py)

# issue 14: the trace rows (OTLP ingest, search_traces, get_trace) on their own
# (QUICK=1: 10,000 traces, short runs); the full profile also runs at the end of make bench
.PHONY: bench-traces
bench-traces: deps build .venv/bin/mlflow
	@.venv/bin/python compat/bench/traces.py $(if $(QUICK),--quick)

bench-soak: deps build build/bench/loadgen .venv/bin/mlflow
	@$(BENCH_PY) --soak $(if $(QUICK),--quick) $(BENCH_ARGS)

# issue 16: log-metric with --app-name basic-auth (a non-admin with EDIT) vs without, same build
# (BENCH_AUTH_ARGS: --clients N --duration S --rounds N); about a minute
.PHONY: bench-auth
bench-auth: deps build build/bench/loadgen
	@.venv/bin/python compat/bench/auth.py $(BENCH_AUTH_ARGS)

# issue 17: the fleet profile — log-metric and search through HAProxy with 1, 2, 3 cairn-servers,
# search latency with and without a streaming replica, CPU and SQL time per request
# (QUICK=1: 300 runs, 4 s cells; about 3 minutes); the full profile also runs at the end of make bench
.PHONY: bench-fleet
bench-fleet: deps build build/bench/loadgen
	@.venv/bin/python compat/bench/fleet.py $(if $(QUICK),--quick) $(BENCH_FLEET_ARGS)
