#!/usr/bin/env bash
# Cairn compatibility suites: the mlflow 3.x client (with the differential
# comparison against MLflow's own server) and the mlflow 2.x client.
#   compat/run.sh [extra pytest args]
# Environment: CAIRN_SERVER (binary, default build/asan/cairn-server),
# CAIRN_TARGET=mlflow (run the suites against MLflow's server instead, to check
# the tests), CAIRN_TEST_PGHOST (reuse a running cluster's socket dir).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
logdir=$(mktemp -d /tmp/cairn-compat.XXXXXX)
chmod 755 "$logdir"

if [ -z "${CAIRN_TEST_PGHOST:-}" ]; then
    pgdir=$logdir/pg
    mkdir -p "$pgdir" && chmod 755 "$pgdir"
    CAIRN_TEST_PGHOST=$(tests/pg.sh start "$pgdir") || { echo "compat: cannot start PostgreSQL" >&2; exit 2; }
    trap 'tests/pg.sh stop "$pgdir"' EXIT
fi
export CAIRN_TEST_PGHOST

pytest_args=(-p no:cacheprovider -q -rfEs --durations=5 "$@")
rc=0

t0=$(date +%s)
.venv/bin/python -m pytest "${pytest_args[@]}" compat 2>&1 | tee "$logdir/mlflow3.log"
rc3=${PIPESTATUS[0]}
t1=$(date +%s)
.venv-mlflow2/bin/python -m pytest "${pytest_args[@]}" compat --ignore=compat/test_differential.py \
    2>&1 | tee "$logdir/mlflow2.log"
rc2=${PIPESTATUS[0]}
t2=$(date +%s)

count() { tail -n 5 "$1" | grep -oE '[0-9]+ passed' | tail -n 1 | grep -oE '[0-9]+' || echo 0; }
failed() { tail -n 5 "$1" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}'; }
echo
echo "mlflow 3.x compat: $(count "$logdir/mlflow3.log") passed, $(failed "$logdir/mlflow3.log") failed ($((t1 - t0))s)"
echo "mlflow 2.x compat: $(count "$logdir/mlflow2.log") passed, $(failed "$logdir/mlflow2.log") failed ($((t2 - t1))s)"
grep -h "^differential mismatches:" "$logdir/mlflow3.log" || echo "differential mismatches: (not run)"
echo "logs: $logdir"
# the failing tests by name, last, so that a CI log cut to its tail still names them
grep -hE '^(FAILED|ERROR) ' "$logdir/mlflow3.log" | sed 's/^/mlflow 3.x: /' | cut -c1-300
grep -hE '^(FAILED|ERROR) ' "$logdir/mlflow2.log" | sed 's/^/mlflow 2.x: /' | cut -c1-300
[ "$rc3" -eq 0 ] && [ "$rc2" -eq 0 ] || rc=1
exit $rc
