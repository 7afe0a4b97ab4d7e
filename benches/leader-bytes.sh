#!/bin/sh
# Leader bytes (issue 12): how many bytes orch prints to a leader agent for each verb of a
# small run, with --json and in plain text.
#
# A 5-task run whose 600-byte task bodies are shell scripts (one blocked question each,
# then done), dispatched with `dispatch --launch` to a worker whose adapter takes both the
# body and the brief in argv (as codex/claude get the brief), then `ready`, `status`,
# `blocked`, `answer` and `status` again; and `orch up` on a pipe for 5 tasks that finish
# at once. Prints a Markdown table: command, calls, bytes with --json, bytes in plain text.
#
# Usage: benches/leader-bytes.sh [PATH/TO/orch]   (default: target/debug/orch)
# LEADER_BYTES_KEEP=FILE appends every counted output to FILE.
set -eu
ORCH=$(cd "$(dirname "${1:-target/debug/orch}")" && pwd)/$(basename "${1:-target/debug/orch}")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export ORCH_DB="$TMP/coord.db" ORCH_AGENT=leader
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x
cd "$TMP" && git init -q -b main repo && cd repo
echo bench > README.md && git add . && git commit -qm init
mkdir -p .orch/adapters
cat > .orch/adapters/shbrief.toml <<'EOF'
name = "shbrief"
command = ["sh", "-c", "{body}", "worker", "{prompt}"]
prompt = "arg"
output = "text"
EOF
printf '/.orch/\n' >> .git/info/exclude

# A 600-byte body: ask one question, wait for the answer, finish.
body() {
    script='inbox update --status blocked --summary "Which output format should the report use?" --payload-json '"'"'{"question":"Which output format should the report use?","options":["json","text"]}'"'"'
inbox wait-reply --timeout-seconds 120 > /dev/null
inbox done --summary "report written"
'
    pad=$((600 - ${#script} - 3))
    printf '%s# %s\n' "$script" "$(head -c "$pad" /dev/zero | tr '\0' x)"
}
quiet() { "$ORCH" "$@" > /dev/null; }
# count NAME ARGS...: runs orch, adds its stdout's bytes to NAME's total.
count() {
    name=$1; shift
    "$ORCH" "$@" > "$TMP/out"
    echo "$name $(wc -c < "$TMP/out")" >> "$TMP/counts.$MODE"
    if [ -n "${LEADER_BYTES_KEEP:-}" ]; then
        { echo "== $MODE: orch $*"; cat "$TMP/out"; } >> "$LEADER_BYTES_KEEP"
    fi
}
until_status() {   # until_status RUN STATUS COUNT: polls (not counted)
    i=0
    while [ "$("$ORCH" --json status --run "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['run']['counts']['$2'])")" != "$3" ]; do
        i=$((i + 1)); [ $i -lt 600 ] || { echo "timed out waiting for $2=$3 in $1" >&2; exit 1; }
        sleep 0.1
    done
}

for MODE in json text; do
    J=""; [ $MODE = json ] && J=--json
    R=r-$MODE
    quiet run init --run $R --goal bench
    for i in 1 2 3 4 5; do
        quiet task add --run $R --task t$i --title "task $i" --body "$(body)" --default-to shbrief
    done
    count ready $J ready --run $R
    for i in 1 2 3 4 5; do
        count dispatch $J dispatch --run $R --task t$i --execution-mode analysis --launch
    done
    until_status $R blocked 5
    count status $J status --run $R
    count blocked $J blocked --run $R
    for i in 1 2 3 4 5; do
        count answer $J answer --run $R --task t$i --body json
    done
    until_status $R done 5
    count status $J status --run $R
    # orch up on a pipe: 5 tasks that finish at once.
    U=u-$MODE
    quiet run init --run $U --goal bench
    for i in 1 2 3 4 5; do
        quiet task add --run $U --task t$i --title "task $i" --default-to shbrief \
            --execution-mode analysis --body "true # $(head -c 590 /dev/zero | tr '\0' x)"
    done
    count up $J up --run $U
done

echo "| command | calls | bytes (--json) | bytes (plain) |"
echo "|---|---|---|---|"
for name in dispatch ready status blocked answer up; do
    calls=$(grep -c "^$name " "$TMP/counts.json")
    j=$(awk -v n=$name '$1 == n { s += $2 } END { print s }' "$TMP/counts.json")
    t=$(awk -v n=$name '$1 == n { s += $2 } END { print s }' "$TMP/counts.text")
    echo "| $name | $calls | $j | $t |"
done
tj=$(awk '{ s += $2 } END { print s }' "$TMP/counts.json")
tt=$(awk '{ s += $2 } END { print s }' "$TMP/counts.text")
echo "| total | | $tj | $tt |"
