# cairn-train: included by the top-level Makefile after TEST_BINS,
# CFLAGS_RELEASE and CFLAGS_ASAN are defined. trainer/ speaks HTTP only:
# nothing here links server/, api/ or store/.
TRAINER_LIB_SRC := $(filter-out trainer/main.c,$(wildcard trainer/*.c))
TRAINER_HEADERS := $(wildcard trainer/*.h)
TRAINER_LDLIBS := -lcurl -lcjson -lopenblas -llapacke -lm -pthread -lcivetweb  # civetweb: cairn-train serve
TRAINER_TEST_SRCS := $(wildcard tests/test_trainer_*.c)
TRAINER_TEST_BINS := $(patsubst tests/%.c,build/tests/%,$(TRAINER_TEST_SRCS))

.PHONY: trainer
trainer: build/cairn-train build/cairn-sweep
build: build/cairn-train build/cairn-sweep
asan: build/asan/cairn-train build/asan/cairn-sweep

build/cairn-train: $(TRAINER_LIB_SRC) trainer/main.c $(TRAINER_HEADERS)
	@mkdir -p build
	$(CC) $(CFLAGS_RELEASE) -O3 -o $@ $(TRAINER_LIB_SRC) trainer/main.c $(TRAINER_LDLIBS)

build/asan/cairn-train: $(TRAINER_LIB_SRC) trainer/main.c $(TRAINER_HEADERS)
	@mkdir -p build/asan
	$(CC) $(CFLAGS_ASAN) -o $@ $(TRAINER_LIB_SRC) trainer/main.c $(TRAINER_LDLIBS)

# cairn-sweep: the sweeper in trainer/sweep/ on the same library (fitcore.c etc.)
DEB_PACKAGES += libyaml-dev
SWEEP_SRC := $(wildcard trainer/sweep/*.c)
SWEEP_HEADERS := $(wildcard trainer/sweep/*.h)
build/cairn-sweep: $(TRAINER_LIB_SRC) $(SWEEP_SRC) $(TRAINER_HEADERS) $(SWEEP_HEADERS)
	@mkdir -p build
	$(CC) $(CFLAGS_RELEASE) -O3 -o $@ $(TRAINER_LIB_SRC) $(SWEEP_SRC) $(TRAINER_LDLIBS) -lyaml

build/asan/cairn-sweep: $(TRAINER_LIB_SRC) $(SWEEP_SRC) $(TRAINER_HEADERS) $(SWEEP_HEADERS)
	@mkdir -p build/asan
	$(CC) $(CFLAGS_ASAN) -o $@ $(TRAINER_LIB_SRC) $(SWEEP_SRC) $(TRAINER_LDLIBS) -lyaml

# A more specific pattern than the top-level build/tests/% rule, so these
# tests link the trainer, not the server.
build/tests/test_trainer_%: tests/test_trainer_%.c $(TRAINER_LIB_SRC) $(TRAINER_HEADERS) tests/test.h
	@mkdir -p build/tests
	$(CC) $(CFLAGS_ASAN) -I. -Itrainer -o $@ $< $(TRAINER_LIB_SRC) $(TRAINER_LDLIBS)

TEST_BINS += $(filter-out $(TEST_BINS),$(TRAINER_TEST_BINS))

# Each algorithm against scikit-learn (the .venv's), one thread, the same
# folds, three seeds; table on stdout, JSON in compat/bench/results/.
.PHONY: bench-train
bench-train: build/cairn-train .venv/.done
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 CAIRN_TRAIN=build/cairn-train \
		.venv/bin/python compat/bench_train.py

# cairn-train serve against mlflow models serve on the same letter models (gbdt, logreg): req/s, p50/p99
# for 1 and 1,000 rows at 1 and 16 clients, and RSS; table on stdout, JSON in compat/bench/results/serve.json.
.PHONY: bench-serve
bench-serve: build/cairn-train build/bench/loadgen .venv/.done
	.venv/bin/python compat/bench_serve.py $(if $(QUICK),--quick)

# cairn-sweep against FLAML (same time budget), Optuna TPE (the trial count cairn-sweep completed, its wall
# time reported) and scikit-learn's HalvingRandomSearchCV (same budget), one thread each;
# BENCH_SWEEP_SETS / _BUDGETS / _ROWS / _SYSTEMS / _JOBS / _OPTUNA_CAP narrow it. The comparators live in
# their own venv, .venv-bench-sweep, which sees .venv's packages (scikit-learn, lightgbm, …) through a .pth
# file and adds compat/requirements-bench-sweep.lock, so .venv itself is never changed.
.PHONY: bench-sweep
bench-sweep: build/cairn-sweep .venv-bench-sweep/.done
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 CAIRN_SWEEP=$${CAIRN_SWEEP:-build/cairn-sweep} \
		.venv-bench-sweep/bin/python compat/bench_sweep.py
.venv-bench-sweep/.done: .venv/.done compat/requirements-bench-sweep.lock
	.venv/bin/python -m venv .venv-bench-sweep
	echo ../../../../.venv/lib/python3.11/site-packages > $$(ls -d .venv-bench-sweep/lib/python3*/site-packages)/_cairn_base.pth
	.venv-bench-sweep/bin/pip install -q --disable-pip-version-check -r compat/requirements-bench-sweep.lock
	touch $@
