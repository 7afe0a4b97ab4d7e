#!/bin/sh
# Checks that migrations-postgres/0001_schema.sql is the PostgreSQL twin of the SQLite
# schema that migrations/*.sql build (CONVENTIONS.md, issue #13):
#   1. the PostgreSQL file applies cleanly (one transaction, ON_ERROR_STOP) to an empty
#      scratch database;
#   2. the schemas match: per table the columns in order (type, NOT NULL, default,
#      identity), primary keys, UNIQUE constraints, foreign keys, the CREATE INDEX
#      indexes (columns, DESC, unique, partial), views (columns) and triggers (table,
#      timing, event, WHEN, UPDATE OF columns); plus PostgreSQL's own orch_data_version
#      and a statement-level change trigger on every table (parity/schema-*.sql);
#   3. the same writes on both (parity/data.sql) render byte-identical
#      `tasks.status_json` rows at every checkpoint, the stored rows equal the view's,
#      and runs' finished_event_id follows the 0012 triggers alike;
#   4. a write bumps orch_data_version and notifies channel orch_changes.
# Prints the differences and exits non-zero on any.
#
# Usage: migrations-postgres/check-parity.sh [PG_URL_BASE]
#   PG_URL_BASE defaults to postgres://root@127.0.0.1:5432; a scratch database is
#   created under it (through its `postgres` database) and dropped afterwards.
# Needs psql, and SQLite >= 3.44 (json_group_array(... ORDER BY), 'subsec'): the
# sqlite3 shell ($SQLITE3 or on PATH) when it is new enough, else python3's sqlite3
# module. When neither is, it builds the SQLite that orch bundles (libsqlite3-sys from
# Cargo.lock, in the cargo registry) as a shared library once, with cc, into
# ${XDG_CACHE_HOME:-~/.cache}/orch-check-parity/, and runs python3 on it.
# ORCH_PG_SCHEMA=FILE checks another PostgreSQL schema file instead.

set -eu

pg_base=${1:-postgres://root@127.0.0.1:5432}
pg_base=${pg_base%/}
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(dirname -- "$here")
parity=$here/parity
pg_schema=${ORCH_PG_SCHEMA:-$here/0001_schema.sql}
python=${PYTHON:-python3}
export PGCLIENTENCODING=UTF8

tmp=$(mktemp -d "${TMPDIR:-/tmp}/orch-parity.XXXXXX")
scratch=orch_parity_$$_$(date +%s)
created=
cleanup() {
    if [ -n "$created" ]; then
        psql "$pg_base/postgres" -Xq -c "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1 ||
            echo "warning: could not drop scratch database $scratch" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=0
fail() { echo "FAIL: $*"; failed=1; }
ok() { echo "ok: $*"; }

# --- an SQLite new enough ----------------------------------------------------------
version_ok() { # 3.44 or newer
    echo "$1" | awk -F. '{ exit !($1 > 3 || ($1 == 3 && $2 >= 44)) }'
}
sq_kind=
sq_version=
try_cli() {
    command -v "$1" >/dev/null 2>&1 || return 1
    v=$("$1" -batch :memory: 'SELECT sqlite_version();' 2>/dev/null) || return 1
    version_ok "$v" || return 1
    sq_kind=cli sq_cli=$1 sq_version=$v
    # newer shells print control characters (DEL in a rendered row) escaped: not here
    sq_opts=
    if "$1" -batch -escape off :memory: 'SELECT 1;' >/dev/null 2>&1; then
        sq_opts='-escape off'
    fi
}
try_py() {
    v=$("$python" -c 'import sqlite3; print(sqlite3.sqlite_version)' 2>/dev/null) || return 1
    version_ok "$v" || return 1
    sq_kind=py sq_version=$v
}
build_bundled() {
    command -v cc >/dev/null 2>&1 || return 1
    ver=$(awk '/^name = "libsqlite3-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
        "$root/Cargo.lock")
    [ -n "$ver" ] || return 1
    src=
    for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libsqlite3-sys-"$ver"/sqlite3/sqlite3.c; do
        [ -f "$f" ] && src=$f && break
    done
    [ -n "$src" ] || return 1
    lib=${XDG_CACHE_HOME:-$HOME/.cache}/orch-check-parity/libsqlite3-sys-$ver
    if [ ! -f "$lib/libsqlite3.so.0" ]; then
        echo "building the SQLite of libsqlite3-sys $ver into $lib (once) ..." >&2
        mkdir -p "$lib"
        cc -O1 -shared -fPIC -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_COLUMN_METADATA \
            -DSQLITE_ENABLE_LOAD_EXTENSION=1 "$src" -o "$lib/libsqlite3.so.0.$$" -lpthread -lm -ldl ||
            return 1
        mv "$lib/libsqlite3.so.0.$$" "$lib/libsqlite3.so.0"
    fi
    LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LD_LIBRARY_PATH
}
if [ -n "${SQLITE3:-}" ]; then
    try_cli "$SQLITE3" || { echo "error: \$SQLITE3=$SQLITE3 is not an SQLite shell >= 3.44" >&2; exit 2; }
else
    try_cli sqlite3 || try_py || { build_bundled && try_py; } || {
        echo "error: no SQLite >= 3.44: neither the sqlite3 shell nor $python's sqlite3 module," >&2
        echo "and the SQLite of libsqlite3-sys could not be built (needs cc and cargo's registry)" >&2
        exit 2
    }
fi
echo "using SQLite $sq_version ($sq_kind)"

sq() { # sq DBFILE < SQL: run SQL, print rows in list mode (`|`, NULL as nothing)
    if [ "$sq_kind" = cli ]; then
        { echo 'PRAGMA foreign_keys = ON;'; cat; } | # shellcheck disable=SC2086
        "$sq_cli" -batch -bail -list $sq_opts "$1"
    else
        "$python" "$parity/sqlite-run.py" "$1"
    fi
}
pg() { # pg < SQL: the same on the scratch database
    psql "$pg_base/$scratch" -XAtq -v ON_ERROR_STOP=1 -f -
}

# --- 1. build both schemas -----------------------------------------------------------
cat "$root"/migrations/*.sql | sq "$tmp/orch.db" || { echo "error: migrations/ do not apply to SQLite" >&2; exit 2; }
psql "$pg_base/postgres" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $scratch" >/dev/null
created=1
if psql "$pg_base/$scratch" -Xq -v ON_ERROR_STOP=1 --single-transaction -f "$pg_schema" >"$tmp/apply.out" 2>&1; then
    ok "$(basename -- "$pg_schema") applies to an empty database"
else
    cat "$tmp/apply.out"
    fail "$(basename -- "$pg_schema") does not apply"
    exit 1
fi

# --- 2. schema parity ----------------------------------------------------------------
sq "$tmp/orch.db" <"$parity/schema-sqlite.sql" | LC_ALL=C sort >"$tmp/schema.sqlite"
pg <"$parity/schema-pg.sql" | LC_ALL=C sort >"$tmp/schema.pg"
if diff -u "$tmp/schema.sqlite" "$tmp/schema.pg" >"$tmp/schema.diff"; then
    ok "schemas match ($(wc -l <"$tmp/schema.pg" | tr -d ' ') facts: tables, columns, keys, indexes, views, triggers)"
else
    echo "schema differences (- SQLite as PostgreSQL should have it, + PostgreSQL):"
    sed -e '1,2d' -e '/^@@/d' -e '/^ /d' "$tmp/schema.diff"
    fail "schemas differ"
fi

# --- 3. status_json byte-identity ------------------------------------------------------
{ cat "$parity/weird.sql" "$parity/data.sql"; } | sq "$tmp/orch.db" >"$tmp/data.sqlite"
{ sed 's/char(/chr(/g' "$parity/weird.sql"; cat "$parity/data.sql"; } | pg >"$tmp/data.pg"
if cmp -s "$tmp/data.sqlite" "$tmp/data.pg"; then
    ok "status_json rows byte-identical at every checkpoint ($(wc -c <"$tmp/data.pg" | tr -d ' ') bytes compared)"
else
    echo "data differences (- SQLite, + PostgreSQL):"
    diff -u "$tmp/data.sqlite" "$tmp/data.pg" | sed -e '1,2d' || true
    fail "rendered rows differ"
fi
grep -qx 'stale|0' "$tmp/data.pg" || fail "PostgreSQL's stored status_json differs from task_status_rows"

# --- 4. change notification ------------------------------------------------------------
pg >"$tmp/notify.out" 2>&1 <<'EOF' || true
SELECT 'before ' || version FROM orch_data_version;
LISTEN orch_changes;
INSERT INTO cooldowns (worker, until_ms, set_at) VALUES ('parity', 1, 1);
SELECT 'after ' || version FROM orch_data_version;
EOF
before=$(sed -n 's/^before //p' "$tmp/notify.out")
after=$(sed -n 's/^after //p' "$tmp/notify.out")
if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ] &&
    grep -q 'notification "orch_changes" with payload "[0-9]*"' "$tmp/notify.out"; then
    ok "a write bumps orch_data_version ($before -> $after) and notifies orch_changes"
else
    cat "$tmp/notify.out"
    fail "no change notification"
fi

if [ "$failed" -ne 0 ]; then
    echo "parity check FAILED"
    exit 1
fi
echo "parity check passed"
