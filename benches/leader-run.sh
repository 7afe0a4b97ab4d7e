#!/bin/sh
# Scripted leader (issue 12): a leader that follows the skill's loop drives a 20-task run
# to done, and every byte orch prints to it is counted.
#
# The run: a DAG of 20 tasks (chains and fan-ins) with 600-byte bodies that are shell
# scripts, run by a worker whose adapter gets the body and the brief in argv (as codex and
# claude get the brief). Three workers ask one blocked question each (with options),
# wait for the answer and use it; two fail their first attempt and succeed on the second.
# The leader: `orch plan apply`, `orch up` in the background (its output unread), then
# `orch next --wait` until the run finishes, answering each question with its first
# option and retrying whatever gave up or failed.
#
# Usage: benches/leader-run.sh [PATH/TO/orch]   run the leader, print its calls and a table
#                                               of calls and bytes per verb (default
#                                               target/debug/orch)
#        benches/leader-run.sh --setup DIR      only write the scenario into DIR: DIR/repo
#                                               (a git repository with the adapter) and
#                                               DIR/plan.toml; the run is `lr`
#        benches/leader-run.sh --verify [orch]  check the run in $ORCH_DB: every task done,
#                                               three questions, each answered exactly once
# LEADER_RUN_DIR=DIR works in DIR (kept) instead of a temp dir; LEADER_RUN_SHOW=1 prints
# what the leader read under each call; LEADER_RUN_FAILURES=2 makes the two flaky tasks
# fail twice, so the retry ladder (2 attempts) gives them up and the leader retries them.
set -eu
RUN=lr
FAILURES=${LEADER_RUN_FAILURES:-1}

# A 600-byte body: the script, then a comment as padding. Every body first checks that
# the brief came in argv ($1).
pad() {
    n=$((600 - ${#1} - 3))
    printf '%s# %s\n' "$1" "$(head -c "$n" /dev/zero | tr '\0' x)"
}

plain_body() {
    pad '[ -n "$1" ] || { echo "no brief in argv" >&2; exit 9; }
echo "$ORCH_TASK: done on attempt $ORCH_ATTEMPT"
'
}

# question_body QUESTION OPTION_A OPTION_B: asks, waits for the answer, uses it.
question_body() {
    pad '[ -n "$1" ] || { echo "no brief in argv" >&2; exit 9; }
inbox update --status blocked --summary "'"$1"'" --payload-json '"'"'{"question":"'"$1"'","options":["'"$2"'","'"$3"'"]}'"'"'
reply=$(inbox wait-reply --timeout-seconds 600)
case "$reply" in
*": '"$2"'"*) choice='"$2"' ;;
*": '"$3"'"*) choice='"$3"' ;;
*) inbox fail --summary "no usable answer"; exit 4 ;;
esac
inbox done --summary "went with $choice"
'
}

# Fails its first $FAILURES attempts, succeeds on the next.
flaky_body() {
    pad '[ -n "$1" ] || { echo "no brief in argv" >&2; exit 9; }
if [ "$ORCH_ATTEMPT" -le '"$FAILURES"' ]; then echo "$ORCH_TASK: simulated failure"; exit 3; fi
echo "$ORCH_TASK: fine on attempt $ORCH_ATTEMPT"
'
}

# task ID "DEPS" BODY: one [[tasks]] entry (the body a TOML literal string: as written).
task() {
    printf '\n[[tasks]]\nid = "%s"\ntitle = "Step %s"\ndepends_on = [%s]\n' "$1" "$1" "$2"
    printf "body = '''\n%s'''\n" "$3"
}

# The DAG: t01→t04→t05→t06, t02→t07→t08, t03→t09; t10 waits for t06, t08, t09; t11–t14
# fan out from t10; t15 ← t11, t12; t16 ← t13, t14; t17 ← t15; t18 ← t16; t19 ← t17,
# t18; t20 ← t19, t09. Questions: t04, t08, t13. Flaky: t05, t16.
plan() {
    printf '[run]\nid = "%s"\ngoal = "Scripted leader benchmark (issue 12)"\n' "$RUN"
    printf '\n[defaults]\nworker = "shbrief"\nexecution_mode = "analysis"\n'
    while read -r id deps; do
        if [ "$deps" = - ]; then deps=""; else deps=$(echo "$deps" | sed 's/[^,]*/"&"/g; s/,/, /g'); fi
        case $id in
        t04) body=$(question_body "Which output format should the report use?" json text) ;;
        t08) body=$(question_body "Which branch should the notes target?" main release) ;;
        t13) body=$(question_body "Keep the deprecated flag?" keep drop) ;;
        t05 | t16) body=$(flaky_body) ;;
        *) body=$(plain_body) ;;
        esac
        task "$id" "$deps" "$body
"
    done <<'EOF'
t01 -
t02 -
t03 -
t04 t01
t05 t04
t06 t05
t07 t02
t08 t07
t09 t03
t10 t06,t08,t09
t11 t10
t12 t10
t13 t10
t14 t10
t15 t11,t12
t16 t13,t14
t17 t15
t18 t16
t19 t17,t18
t20 t19,t09
EOF
}

# setup DIR: the repository (with the shbrief adapter) and the plan.
setup() {
    mkdir -p "$1"
    (
        cd "$1" && git init -q -b main repo && cd repo
        echo bench > README.md && git add . \
            && git -c user.name=b -c user.email=b@x commit -qm init
        mkdir -p .orch/adapters
        cat > .orch/adapters/shbrief.toml <<'EOF'
name = "shbrief"
command = ["sh", "-c", "{body}", "worker", "{prompt}"]
prompt = "arg"
output = "text"
EOF
        printf '/.orch/\n' >> .git/info/exclude
    )
    plan > "$1/plan.toml"
}

# verify: every task done, three questions, each answered exactly once; the flaky tasks
# took two attempts. Reads $ORCH_DB (not counted: this is the benchmark's check, not
# the leader's reading).
verify() {
    status=$("$ORCH" --json status --run $RUN)
    case "$status" in
    *'"counts":{"total":20,'*'"done":20,'*) ;;
    *) echo "FAIL: not every task is done: $status" >&2; return 1 ;;
    esac
    questions=0
    for thread in $("$ORCH" --json inbox list --run $RUN --limit 1000 \
        | grep -o '"thread_id":"[^"]*"' | sed 's/.*:"//; s/"$//'); do
        shown=$("$ORCH" --json inbox show --thread "$thread")
        q=$(printf '%s' "$shown" | grep -o '"kind":"question"' | wc -l)
        a=$(printf '%s' "$shown" | grep -o '"kind":"answer"' | wc -l)
        if [ "$q" -ne "$a" ]; then
            echo "FAIL: $thread has $q question(s) and $a answer(s)" >&2
            return 1
        fi
        case "$q:$shown" in
        0:* | *'"summary":"went with '*) ;;
        *) echo "FAIL: $thread did not use its answer: $shown" >&2; return 1 ;;
        esac
        questions=$((questions + q))
    done
    if [ "$questions" -ne 3 ]; then
        echo "FAIL: $questions questions were asked, not 3" >&2
        return 1
    fi
    for flaky in t05 t16; do
        n=$("$ORCH" --json attempts --run $RUN --task $flaky | grep -o '"attempt_no":' | wc -l)
        [ "$n" -gt "$FAILURES" ] || { echo "FAIL: $flaky ran $n attempt(s)" >&2; return 1; }
    done
    echo "verified: 20 of 20 tasks done; 3 questions, each answered exactly once"
}

orch_path() {
    p=${1:-target/debug/orch}
    echo "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
}

case "${1:-}" in
--setup)
    setup "$2"
    exit 0
    ;;
--verify)
    ORCH=$(orch_path "${2:-}")
    verify
    exit $?
    ;;
esac

ORCH=$(orch_path "${1:-}")
if [ -n "${LEADER_RUN_DIR:-}" ]; then
    mkdir -p "$LEADER_RUN_DIR"
    DIR=$(cd "$LEADER_RUN_DIR" && pwd)
else
    DIR=$(mktemp -d)
    trap 'rm -rf "$DIR"' EXIT
fi
# LEADER_RUN_DB: another database (the test suite's PostgreSQL pass gives a URL).
export ORCH_DB="${LEADER_RUN_DB:-$DIR/coord.db}" ORCH_AGENT=leader
setup "$DIR"
cd "$DIR/repo"
: > "$DIR/counts"

# leader VERB ARGS...: the leader runs `orch VERB ARGS...` and reads all it prints.
leader() {
    verb=$1
    [ "$verb" = plan ] && verb=plan_apply
    set +e
    "$ORCH" "$@" > "$DIR/out" 2>&1 < /dev/null
    code=$?
    set -e
    bytes=$(wc -c < "$DIR/out")
    echo "$verb $bytes" >> "$DIR/counts"
    echo "orch $* → exit $code, $bytes bytes"
    if [ -n "${LEADER_RUN_SHOW:-}" ]; then
        sed 's/^/    /' "$DIR/out"
    fi
    return $code
}

leader plan apply --file ../plan.toml
# `orch up` in the background: `--detach` returns once it runs the run (its pid in the
# reply); the leader never reads what it prints to its log.
start_up() {
    leader up --run $RUN --detach
    up_pid=$(sed -n 's/.*(pid \([0-9]*\);.*/\1/p' "$DIR/out")
}
start_up

finished=""
while [ -z "$finished" ]; do
    leader next --run $RUN --wait --timeout-seconds 300 || {
        echo "FAIL: orch next failed" >&2
        exit 1
    }
    cp "$DIR/out" "$DIR/items"
    retried=""
    while IFS= read -r line; do
        case "$line" in
        "question "*)
            task=$(echo "$line" | cut -d' ' -f2)
            message=$(echo "$line" | sed 's/.* message \([0-9]*\):.*/\1/')
            choice=$(echo "$line" | sed -n 's/.*\[options: \([^ |]*\).*/\1/p')
            leader answer --run $RUN --task "$task" --question "$message" --body "${choice:-yes}"
            ;;
        # A retry launches its attempt itself: the run may have finished failed, and
        # its `orch up` ended with it.
        "gave up "* | "check failed "*)
            retried=$(echo "$line" | cut -d' ' -f3)
            leader retry --run $RUN --task "$retried" --launch
            ;;
        "failed "*)
            retried=$(echo "$line" | cut -d' ' -f2)
            leader retry --run $RUN --task "$retried" --launch
            ;;
        # The run's finish comes last; a retry in the same reply undoes it.
        "finished: "*) [ -n "$retried" ] || finished=$line ;;
        # Ready tasks no `orch up` runs: the run finished failed and its `orch up`
        # ended with it, and a retry made more work: start it again.
        "ready "*) start_up ;;
        esac
    done < "$DIR/items"
done
# The last `orch up` ends with the run.
i=0
while kill -0 "$up_pid" 2> /dev/null; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo "FAIL: orch up did not end" >&2; exit 1; }
    sleep 0.1
done

echo
echo "| verb | calls | bytes |"
echo "|---|---|---|"
for verb in plan_apply up next answer retry; do
    calls=$(awk -v v=$verb '$1 == v { n++ } END { print n + 0 }' "$DIR/counts")
    bytes=$(awk -v v=$verb '$1 == v { s += $2 } END { print s + 0 }' "$DIR/counts")
    echo "| $verb | $calls | $bytes |"
done
calls=$(wc -l < "$DIR/counts" | tr -d ' ')
total=$(awk '{ s += $2 } END { print s + 0 }' "$DIR/counts")
echo "| total | $calls | $total |"
echo
verify
echo "leader read $total bytes in $calls calls"
