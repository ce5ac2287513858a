#!/usr/bin/env bash
# One private PostgreSQL cluster for a test run: unix socket only, trust auth.
#   tests/pg.sh start DIR   -> creates DIR/pg, starts it, prints the socket dir
#   tests/pg.sh stop DIR
# As root, initdb and postgres run as the unprivileged 'postgres' user
# (PostgreSQL refuses root); DIR must then be reachable by that user.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg.sh: no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    sock=$dir/sock
    mkdir -p "$dir/pg" "$sock"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$dir"
        chmod 755 "$dir"
        # every parent must be traversable by postgres
        p=$dir; while [ "$p" != / ]; do p=$(dirname "$p"); [ -x "$p" ] || { echo "pg.sh: $p is not traversable by postgres" >&2; exit 1; }; done
    fi
    if [ ! -f "$dir/pg/PG_VERSION" ]; then
        as_pg "$bindir/initdb" -D "$dir/pg" -E UTF8 --locale=C.UTF-8 --auth=trust -U postgres >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$dir/pg.log" >&2; exit 1; }
    echo "$sock"
    ;;
stop)
    [ -f "$dir/pg/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null || true
    ;;
restart)
    as_pg "$bindir/pg_ctl" -D "$dir/pg" -m fast -w restart >/dev/null
    ;;
esac
