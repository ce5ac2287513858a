# Cairn — `make help` lists the targets.
SHELL := /bin/bash
CC ?= cc
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wvla -Wframe-larger-than=16384 \
                 -Wno-unused-parameter -I/usr/include/postgresql -pthread
CFLAGS_RELEASE := $(CFLAGS_COMMON) -O2 -g
CFLAGS_ASAN := $(CFLAGS_COMMON) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=all
LDLIBS := -lcivetweb -lcjson -lpq -lm -pthread

SERVER_SRC := $(wildcard server/*.c) $(wildcard api/*.c) $(wildcard store/*.c)
MIGRATIONS := $(sort $(wildcard sql/[0-9]*.sql))
HEADERS := $(wildcard server/*.h api/*.h store/*.h)

DEB_PACKAGES := build-essential pkg-config libcivetweb-dev libcjson-dev libpq-dev libcurl4-openssl-dev \
                libopenblas-dev liblapacke-dev postgresql postgresql-contrib python3-venv
# issue 16 (basic-auth): PBKDF2, HMAC and constant-time compare from OpenSSL
DEB_PACKAGES += libssl-dev
LDLIBS += -lcrypto
# issue 20: /etc/mime.types, read for artifact Content-Types as Python's mimetypes (MLflow) reads it
DEB_PACKAGES += media-types
# issue 17 (fleet): HAProxy in front of several cairn-servers, PgBouncer in front of the primary
# (compat/test_fleet.py, make bench-fleet, deploy/)
DEB_PACKAGES += haproxy pgbouncer
# issue 17: the S3 artifact store — libcurl (SigV4) and expat (the store's XML replies)
DEB_PACKAGES += libexpat1-dev curl
LDLIBS += -lcurl -lexpat
PY ?= python3

# ---- issue 14: tracing — OTLP protobufs (proto/, from opentelemetry-proto 1.9.0) compiled by protoc-c into build/gen ----
DEB_PACKAGES += protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
OTLP_PROTOS := $(sort $(shell find proto -name '*.proto'))
OTLP_GEN_SRC := $(patsubst proto/%.proto,build/gen/%.pb-c.c,$(OTLP_PROTOS))
SERVER_SRC += $(OTLP_GEN_SRC)
HEADERS += $(OTLP_GEN_SRC:.c=.h)
CFLAGS_RELEASE += -Ibuild/gen
CFLAGS_ASAN += -Ibuild/gen
LDLIBS += -lprotobuf-c -lz
build/gen/%.pb-c.c build/gen/%.pb-c.h: proto/%.proto
	@mkdir -p build/gen
	protoc-c --c_out=build/gen -Iproto $<
# generated files are kept (not removed as intermediates), so that no build recompiles everything
.SECONDARY: $(OTLP_GEN_SRC) $(OTLP_GEN_SRC:.c=.h)
# the mlflow-tracing SDK (compat/test_tracing_sdk.py) in its own venv: it installs the same `mlflow` module
venv: .venv-tracing/.done
.venv-tracing/.done: compat/requirements-tracing.lock
	$(PY) -m venv .venv-tracing
	.venv-tracing/bin/pip install -q --disable-pip-version-check -r $<
	touch $@
# ---- end issue 14 ----

# ---- issue 12: MLflow's built web UI, unpacked from the pinned mlflow wheel (a download, not an install) ----
DEB_PACKAGES += chromium
MLFLOW_UI_WHEEL_URL := https://files.pythonhosted.org/packages/78/a6/d693e1b3d704d6728a9746cd065bbb58fe19c8558d62536e2d5accd00709/mlflow-3.17.2-py3-none-any.whl
MLFLOW_UI_WHEEL_SHA256 := 4e44c03791beb518d8b0a40b0982d958c2634d902f46d67d7907c82107f21fac

.PHONY: all build asan run test test-unit test-integration test-compat deps venv clean help bench

all: build

help:
	@echo "make            build build/cairn-server (release)"
	@echo "make run        install what is missing, build, and serve on 127.0.0.1:5000 (ARGS=… passes flags)"
	@echo "make test       install what is missing, then unit, integration and compat tests (ASan+UBSan)"
	@echo "make asan       build build/asan/cairn-server"
	@echo "make bench      Cairn against MLflow's own server, side by side (QUICK=1: under 3 minutes)"
	@echo "make test-auth-mlflow  the basic-auth permission matrix against MLflow's own basic-auth server (slow)"
	@echo "make bench-soak the 10-minute mixed soak"
	@echo "make bench-auth log-metric with --app-name basic-auth vs without (about a minute)"
	@echo "make bench-traces  trace rows only: OTLP ingest, search_traces, get_trace vs MLflow (QUICK=1: ~4 min)"
	@echo "make bench-fleet 1, 2, 3 servers behind HAProxy, search with/without a replica, CPU per request (QUICK=1)"
	@echo "make test-s3-mlflow  the S3 artifact suite on cairn-server and on MLflow's own server, same store"
	@echo "make test-fleet-soak  the fleet test (3 servers, HAProxy, PgBouncer, a replica) with 60 s of writers under faults"
	@echo "make soak       the long fault suite: 100 postmaster kills, 2000 slow connections (CAIRN_SOAK=1)"
	@echo "make bench-train cairn-train against scikit-learn, and gbdt against LightGBM (accuracy and fit time)"
	@echo "make test-ui-mlflow the web-UI suite on cairn-server and on MLflow's own server, replies compared (slow)"
	@echo "make bench-serve cairn-train serve against mlflow models serve (req/s, latency, RSS; QUICK=1: 3 s cells)"
	@echo "make deps       install the Debian packages (apt-get) and build the S3 test store (SeaweedFS, Go)"
	@echo "make venv       create .venv (mlflow 3.x) and .venv-mlflow2 (mlflow 2.x) from the lock files"
	@echo "make clean      remove build/"

build: build/cairn-server build/ui/index.html
asan: build/asan/cairn-server

build/migrations.c: $(MIGRATIONS) sql/gen_migrations.sh
	@mkdir -p build
	sh sql/gen_migrations.sh $(MIGRATIONS) > $@

# Objects are built once per flavour; tests link the ASan library.
REL_OBJS := $(patsubst %.c,build/rel/%.o,$(SERVER_SRC) build/migrations.c)
ASAN_OBJS := $(patsubst %.c,build/asan/%.o,$(SERVER_SRC) build/migrations.c)

build/rel/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_RELEASE) -c -o $@ $<

build/asan/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -c -o $@ $<

# issue 19: the server loads libcurl only when an S3 store is configured (store/curl_lazy.h)
SERVER_LDLIBS = $(filter-out -lcurl,$(LDLIBS))

build/cairn-server: $(REL_OBJS)
	$(CC) $(CFLAGS_RELEASE) -o $@ $^ $(SERVER_LDLIBS)

build/asan/cairn-server: $(ASAN_OBJS)
	$(CC) $(CFLAGS_ASAN) -o $@ $^ $(SERVER_LDLIBS)

build/ui/index.html: scripts/fetch-ui.py
	$(PY) scripts/fetch-ui.py --url $(MLFLOW_UI_WHEEL_URL) --sha256 $(MLFLOW_UI_WHEEL_SHA256) --dest build/ui
	@touch $@

build/asan/libcairn.a: $(filter-out build/asan/server/main.o,$(ASAN_OBJS))
	rm -f $@ && ar rcs $@ $^

# ---- set-up on a fresh machine ----
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install (as root): apt-get install$$missing"; exit 1; fi; \
	fi

venv: .venv/.done .venv-mlflow2/.done

.venv/.done: compat/requirements-mlflow3.lock
	$(PY) -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

.venv-mlflow2/.done: compat/requirements-mlflow2.lock
	$(PY) -m venv .venv-mlflow2
	.venv-mlflow2/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

run: deps build
	build/cairn-server $(ARGS)

# ---- tests ----
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,build/tests/%,$(TEST_SRCS))

build/tests/%: tests/%.c build/asan/libcairn.a $(HEADERS) tests/test.h
	@mkdir -p build/tests
	$(CC) $(CFLAGS_ASAN) -I. -o $@ $< build/asan/libcairn.a $(LDLIBS)

# Parts with their own build rules (they may add to TEST_BINS and .PHONY targets)
-include trainer/trainer.mk
-include compat/bench/bench.mk

# issue 12: compat/test_ui.py and test_ui_traces.py against cairn-server and against MLflow's own server, same
# data and assertions (slow); issue 21: the GenAI pages (compat/test_ui_genai.py: datasets, judges, review queues,
# evaluation runs) and the MCP registry (compat/test_ui_mcp.py) the same way; then the two servers' replies to the UI compared, suite by suite
# (compat/ui_requests_diff.py)
.PHONY: test-ui-mlflow
test-ui-mlflow: deps venv build asan
	.venv/bin/python -m pytest -p no:cacheprovider -q -rfEs compat/test_ui.py compat/test_ui_traces.py
	CAIRN_TARGET=mlflow .venv/bin/python -m pytest -p no:cacheprovider -q -rfEs compat/test_ui.py compat/test_ui_traces.py
	.venv/bin/python -m pytest -p no:cacheprovider -q -rfEs compat/test_ui_genai.py compat/test_ui_mcp.py
	CAIRN_TARGET=mlflow .venv/bin/python -m pytest -p no:cacheprovider -q -rfEs compat/test_ui_genai.py compat/test_ui_mcp.py
	.venv/bin/python compat/ui_requests_diff.py

# issue 16: the basic-auth matrix side by side with MLflow's own --app-name basic-auth server (about 8
# minutes), then the auth suites against MLflow's server (checks the tests' expectations)
.PHONY: test-auth-mlflow
test-auth-mlflow: deps venv build asan
	CAIRN_AUTH_MLFLOW=1 .venv/bin/python -m pytest -p no:cacheprovider -q -rfEs --durations=5 compat/test_auth.py -k same_as_mlflow
	CAIRN_TARGET=mlflow .venv/bin/python -m pytest -p no:cacheprovider -q -rfEs --durations=5 compat/test_auth.py compat/test_auth_ui.py

# ---- issue 17: the S3-compatible store the artifact suites run against: SeaweedFS (Apache-2.0) built from
# the Go module proxy with the machine's Go, once per machine (slow: see the README) into the user's cache
# directory, shared by every checkout and untouched by `make clean`. compat/s3_store.py starts it for the tests.
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
S3_SERVER := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cairn/seaweedfs/weed-$(SEAWEEDFS_VERSION)
.PHONY: s3-server
s3-server: $(S3_SERVER)
$(S3_SERVER):
	@mkdir -p $(dir $@)
	scripts/build_s3_server.sh $(SEAWEEDFS_VERSION) $@
deps: s3-server

# scripts/test.sh installs (make deps venv), builds and runs everything, timing each phase
test:
	@scripts/test.sh

test-unit: $(TEST_BINS)

# issue 17: the fleet test with its writers-under-faults part at 60 s (make test runs it at 20 s)
.PHONY: test-fleet-soak
test-fleet-soak: deps venv asan
	CAIRN_FLEET_SECONDS=60 .venv/bin/python -m pytest -p no:cacheprovider -q -rfEs -s compat/test_fleet.py

# issue 17: the S3 artifact suite side by side: on cairn-server, then on MLflow's own server with
# --artifacts-destination s3://… against the same SeaweedFS store (compat/DIFFERENCES.md lists what differs)
.PHONY: test-s3-mlflow
test-s3-mlflow: deps venv build asan
	.venv/bin/python -m pytest -p no:cacheprovider -q -rfEs compat/test_artifacts_s3.py
	CAIRN_TARGET=mlflow .venv/bin/python -m pytest -p no:cacheprovider -q -rfEs compat/test_artifacts_s3.py

# issue 15: the fault suite's long variants (make test runs the short ones)
.PHONY: soak
soak: deps venv build asan
	CAIRN_SOAK=1 .venv/bin/python -m pytest -p no:cacheprovider -q -s compat/test_faults.py

clean:
	rm -rf build
