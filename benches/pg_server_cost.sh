#!/bin/bash
# Where PostgreSQL's time goes (issue 13): CPU per call and per task, the server's and
# orch's, on a PostgreSQL server on this machine beside SQLite. The server's CPU is read
# from the postmaster's cumulative children time (/proc/PID/stat cutime+cstime, which
# gathers each backend's CPU when it exits), so run it on an otherwise quiet server.
#
# Usage: benches/pg_server_cost.sh [TASKS]   (default 200; needs a release build:
#   cargo build --release --bins; ORCH_BENCH_PG_URL as for benches/backends.rs)
# Prints one line per measurement. Not a test: it asserts nothing.
set -eu
tasks=${1:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
orch=${ORCH:-$root/target/release/orch}
server=${ORCH_BENCH_PG_URL:-postgres://root@127.0.0.1:5432/postgres}
base=${server%/*}
postmaster=${ORCH_PG_POSTMASTER_PID:-$(pgrep -o -x postgres || pgrep -o postgres)}
hz=$(getconf CLK_TCK)
dir=$(mktemp -d "${TMPDIR:-/tmp}/orch-pgcost.XXXXXX")
db=orch_pgcost_$$
trap 'psql -q "$server" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$dir"' EXIT

server_ticks() { awk '{print $16 + $17}' "/proc/$postmaster/stat"; }
all_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
ms_per() { echo "scale=2; $1 * 1000 / $hz / $2" | bc; }

cd "$dir"
git init -q --bare -b main origin.git
git init -q -b main repo
cd repo
echo bench >README.md
git add . && git -c user.name=b -c user.email=b@x commit -qm init
git remote add origin ../origin.git && git push -q origin main
{
    printf '[run]\nid = "cost"\n[defaults]\nworker = "shell"\nexecution_mode = "analysis"\n'
    for i in $(seq 1 "$tasks"); do printf '[[tasks]]\nid = "t%05d"\nbody = %s\n' "$i" "'''echo one; echo two'''"; done
} >../plan.toml
psql -q "$server" -c "CREATE DATABASE $db" >/dev/null
pg="$base/$db"
export ORCH_STATE_DIR=$dir/state
mkdir -p "$ORCH_STATE_DIR"

# A drain on each backend: CPU of the whole machine and of the server's backends.
for kind in sqlite postgres; do
    if [ $kind = sqlite ]; then url=$dir/orch.db; else url=$pg; fi
    s0=$(server_ticks); a0=$(all_ticks); t0=$(date +%s%N)
    "$orch" --db "$url" up --plan ../plan.toml --concurrency 16 >/dev/null 2>&1
    t1=$(date +%s%N); s1=$(server_ticks); a1=$(all_ticks)
    echo "$kind: drain of $tasks tasks at concurrency 16: $(( (t1 - t0) / 1000000 )) ms," \
        "$(echo "scale=1; $tasks * 1000000000 / ($t1 - $t0)" | bc) tasks/s;" \
        "machine CPU $(ms_per $((a1 - a0)) "$tasks") ms/task, of it the PostgreSQL server $(ms_per $((s1 - s0)) "$tasks") ms/task"
done

# One-shot verbs: each opens its own connection (SQLite: its own file handle).
calls=40
for verb in "run show" "status"; do
    for kind in sqlite postgres; do
        if [ $kind = sqlite ]; then url=$dir/orch.db; else url=$pg; fi
        s0=$(server_ticks); a0=$(all_ticks); t0=$(date +%s%N)
        for _ in $(seq 1 $calls); do
            # shellcheck disable=SC2086
            "$orch" --db "$url" --json $verb --run cost >/dev/null
        done
        t1=$(date +%s%N); s1=$(server_ticks); a1=$(all_ticks)
        echo "$kind: orch --json $verb ($tasks tasks) x$calls: $(( (t1 - t0) / 1000000 / calls )) ms a call," \
            "machine CPU $(ms_per $((a1 - a0)) $calls) ms a call, of it the server $(ms_per $((s1 - s0)) $calls) ms"
    done
done
s0=$(server_ticks)
for _ in $(seq 1 $calls); do psql -qAt "$pg" -c "SELECT 1" >/dev/null; done
s1=$(server_ticks)
echo "postgres: psql SELECT 1 x$calls (a connection and nothing else): the server $(ms_per $((s1 - s0)) $calls) ms a call"
