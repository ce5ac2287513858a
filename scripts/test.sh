#!/usr/bin/env bash
# make test: C unit and integration tests (ASan+UBSan), then the compat
# suites with the real mlflow clients. Prints the time of each phase and
# closes with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0; failed=0
t_start=$(date +%s)
phase() { printf '\n=== %s\n' "$*"; t_phase=$(date +%s); }
phase_end() { printf -- '--- %s: %ss\n' "$1" $(( $(date +%s) - t_phase )); }

phase "set-up (Debian packages, pinned venvs)"
make -s deps venv || { echo "set-up failed"; echo "0 passed, 1 failed"; exit 1; }
phase_end set-up

phase "build (release + ASan/UBSan + C tests)"
make -s -j2 build asan test-unit || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
phase_end build

phase "PostgreSQL cluster for this run"
tmp=$(mktemp -d /tmp/cairn-test.XXXXXX); chmod 755 "$tmp"
trap 'tests/pg.sh stop "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
export CAIRN_TEST_PGHOST=$(tests/pg.sh start "$tmp/pg") || { echo "PostgreSQL did not start"; exit 1; }
echo "socket: $CAIRN_TEST_PGHOST"
phase_end postgres

phase "C unit and integration tests"
for t in build/tests/test_*; do
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    printf '%s\n' "${line:-$t: no result line (exit $rc)}"
    if [ $rc -ne 0 ]; then printf '%s\n' "$out" | grep -v ' passed, ' | tail -n 40; fi
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    [ $rc -ne 0 ] && [ "${f:-0}" = 0 ] && failed=$((failed + 1))
done
phase_end "C tests"

if [ -x compat/run.sh ]; then
    phase "compat: the real mlflow clients against cairn-server"
    out=$(compat/run.sh 2>&1); rc=$?
    printf '%s\n' "$out" | tail -n 60
    compat_failures=$(printf '%s\n' "$out" | grep -E '^mlflow [0-9.x]+: (FAILED|ERROR) ')
    while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
        printf '%s\n' "$out" | grep -E '^mlflow [0-9.x]+ compat: ' | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
    [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -qE 'compat: [0-9]+ passed, [1-9]' && failed=$((failed + 1))
    phase_end compat
fi

if [ -f compat/artifact_memory.py ]; then
    phase "artifact memory: 1 GiB up and down through the release build"
    out=$(.venv/bin/python compat/artifact_memory.py --server build/cairn-server 2>&1); rc=$?
    printf '%s\n' "$out" | head -n 8
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    phase_end "artifact memory"
fi

# issue 17: the same 1 GiB through an S3 store (SeaweedFS from make deps): a streamed multipart upload and
# a streamed GET, the RSS growth bounded at 16 MiB
if [ -f compat/artifact_memory.py ]; then
    phase "artifact memory: 1 GiB up and down through the release build, artifacts in S3"
    out=$(.venv/bin/python compat/artifact_memory.py --server build/cairn-server --s3 --max-growth-mib 16 2>&1); rc=$?
    printf '%s\n' "$out" | head -n 8
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    phase_end "artifact memory (S3)"
fi

printf '\nmake test took %ss\n' $(( $(date +%s) - t_start ))
[ -n "${compat_failures:-}" ] && printf '%s\n' "$compat_failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
