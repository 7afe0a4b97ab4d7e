//! The `inbox` verbs (contract §3, §4, §10 inbox cases): behaviour, error codes, JSON shapes.

use crate::common::{Env, INBOX, ORCH, Out, finish, spawn};
use serde_json::{Value, json};
use std::time::Duration;

const THREAD_KEYS: &[&str] = &[
    "thread_id",
    "run_id",
    "task_id",
    "subject",
    "created_by",
    "assigned_to",
    "status",
    "priority",
    "created_at",
    "updated_at",
];
const MESSAGE_KEYS: &[&str] = &[
    "message_id",
    "thread_id",
    "from_agent",
    "to_agent",
    "kind",
    "summary",
    "body",
    "payload_json",
    "created_at",
    "artifacts",
];
const EVENT_KEYS: &[&str] = &[
    "event_id",
    "event_type",
    "run_id",
    "task_id",
    "thread_id",
    "summary",
    "payload",
    "created_at",
];

/// The verbs that write a message from their body/payload/artifact flags (contract §3).
const MESSAGE_VERBS: &[&str] = &["send", "reply", "update", "done", "fail"];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

#[track_caller]
fn assert_timestamp(v: &Value) {
    let t = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    assert!(
        t.ends_with('Z'),
        "timestamp {t:?} is not UTC with a Z suffix"
    );
    assert!(t.contains('T'), "timestamp {t:?} is not RFC 3339");
    t.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("timestamp {t:?} does not parse as RFC 3339: {e}"));
}

#[track_caller]
fn assert_keys(v: &Value, keys: &[&str], what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    for k in keys {
        assert!(obj.contains_key(*k), "{what} lacks key {k:?}: {v}");
    }
}

#[track_caller]
fn assert_thread_json(t: &Value) {
    assert_keys(t, THREAD_KEYS, "thread");
    assert!(
        t["thread_id"].as_str().is_some_and(|s| !s.is_empty()),
        "thread_id: {t}"
    );
    for k in ["subject", "created_by", "assigned_to", "status", "priority"] {
        assert!(t[k].is_string(), "thread {k} is not a string: {t}");
    }
    assert!(
        t["run_id"].is_string() || t["run_id"].is_null(),
        "run_id: {t}"
    );
    assert!(
        t["task_id"].is_string() || t["task_id"].is_null(),
        "task_id: {t}"
    );
    assert_timestamp(&t["created_at"]);
    assert_timestamp(&t["updated_at"]);
}

#[track_caller]
fn assert_message_json(m: &Value) {
    assert_keys(m, MESSAGE_KEYS, "message");
    assert!(
        m["message_id"].as_i64().is_some(),
        "message_id is not an integer: {m}"
    );
    for k in [
        "thread_id",
        "from_agent",
        "to_agent",
        "kind",
        "summary",
        "body",
    ] {
        assert!(m[k].is_string(), "message {k} is not a string: {m}");
    }
    assert!(
        m["payload_json"].is_object(),
        "payload_json is not an object: {m}"
    );
    assert_timestamp(&m["created_at"]);
    let artifacts = m["artifacts"]
        .as_array()
        .unwrap_or_else(|| panic!("artifacts is not an array: {m}"));
    for a in artifacts {
        assert_keys(a, &["path", "kind", "metadata"], "artifact");
    }
}

#[track_caller]
fn assert_event_json(e: &Value) {
    assert_keys(e, EVENT_KEYS, "event");
    assert!(
        e["event_id"].as_i64().is_some(),
        "event_id is not an integer: {e}"
    );
    assert!(e["event_type"].is_string(), "event_type: {e}");
    assert!(e["summary"].is_string(), "event summary: {e}");
    assert!(
        e["payload"].is_object(),
        "event payload is not an object: {e}"
    );
    assert_timestamp(&e["created_at"]);
}

/// Asserts the envelope's `command` and returns `data` (success).
#[track_caller]
fn ok<'a>(out: &'a Out, command: &str) -> &'a Value {
    let data = out.data();
    assert_eq!(out.json["command"], command, "wrong command in {out:#?}");
    data
}

/// `leader` sends a new thread to `to`; returns its id.
fn new_thread(env: &Env, to: &str, subject: &str) -> String {
    let out = env.inbox(Some("leader"), &["send", "--to", to, "--subject", subject]);
    text(&out.data()["thread"]["thread_id"])
}

/// A new thread from `leader`, claimed by `worker`.
fn claimed_thread(env: &Env, worker: &str) -> String {
    let thread = new_thread(env, worker, "work item");
    env.inbox(Some(worker), &["claim", "--thread", &thread])
        .data();
    thread
}

fn show(env: &Env, thread: &str) -> Value {
    env.inbox(None, &["show", "--thread", thread])
        .data()
        .clone()
}

fn messages(shown: &Value) -> Vec<Value> {
    shown["messages"]
        .as_array()
        .expect("messages array")
        .clone()
}

fn last_message(env: &Env, thread: &str) -> Value {
    messages(&show(env, thread)).pop().expect("a message")
}

fn thread_status(env: &Env, thread: &str) -> String {
    text(&show(env, thread)["thread"]["status"])
}

fn thread_ids(threads: &Value) -> Vec<String> {
    threads
        .as_array()
        .expect("threads array")
        .iter()
        .map(|t| text(&t["thread_id"]))
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Like [`finish`], but kills the child and fails when it runs longer than `secs`.
fn finish_within(mut child: std::process::Child, secs: u64) -> Out {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("poll child").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = finish(child);
            panic!("the background command did not finish within {secs} s: {out:#?}");
        }
        pause(20);
    }
    finish(child)
}

fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// The agent and arguments of a message verb that succeeds as given (a fresh thread
/// where the verb needs one); extra flags are appended by the caller.
fn verb_case(env: &Env, verb: &str) -> (&'static str, Vec<String>) {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match verb {
        "send" => (
            "leader",
            owned(&["send", "--to", "worker", "--subject", "case"]),
        ),
        "reply" => {
            let t = new_thread(env, "worker", "case");
            ("leader", owned(&["reply", "--thread", &t]))
        }
        "update" => {
            let t = claimed_thread(env, "worker");
            (
                "worker",
                owned(&["update", "--thread", &t, "--status", "in_progress"]),
            )
        }
        "done" | "fail" => {
            let t = claimed_thread(env, "worker");
            ("worker", owned(&[verb, "--thread", &t]))
        }
        other => panic!("not a message verb: {other}"),
    }
}

fn run_case(env: &Env, agent: &str, base: &[String], extra: &[&str]) -> Out {
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    env.inbox(Some(agent), &args)
}

/// The message a verb wrote, from its `data`.
fn written_message(data: &Value) -> Value {
    assert_message_json(&data["message"]);
    data["message"].clone()
}

// ---------------------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------------------

#[test]
fn init_creates_the_schema_and_is_idempotent() {
    let env = Env::new();
    let out = env.inbox(None, &["init"]);
    let data = ok(&out, "init");
    assert_eq!(data["status"], "initialized");
    assert_eq!(data["db_path"], env.db.display().to_string());
    assert!(env.db.exists(), "the database file exists after init");
    let thread = new_thread(&env, "worker", "kept across init");

    let again = env.inbox(None, &["init"]);
    let data = ok(&again, "init");
    assert_eq!(data["status"], "initialized");
    assert_eq!(data["db_path"], env.db.display().to_string());
    // A second init keeps the data.
    assert_eq!(show(&env, &thread)["thread"]["subject"], "kept across init");
}

#[test]
fn any_verb_works_on_an_empty_database_path() {
    let env = Env::new();
    assert!(!env.db.exists());
    let out = env.inbox(Some("worker"), &["fetch"]);
    assert_eq!(ok(&out, "fetch")["threads"], json!([]));
}

// ---------------------------------------------------------------------------------------
// send
// ---------------------------------------------------------------------------------------

#[test]
fn send_without_thread_creates_a_pending_thread_and_its_first_message() {
    let env = Env::new();
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "worker",
            "--subject",
            "Fix the parser",
            "--body",
            "details here",
        ],
    );
    let data = ok(&out, "send");
    let thread = &data["thread"];
    assert_thread_json(thread);
    assert_eq!(thread["status"], "pending");
    assert_eq!(thread["created_by"], "leader");
    assert_eq!(thread["assigned_to"], "worker");
    assert_eq!(thread["subject"], "Fix the parser");
    assert_eq!(thread["priority"], "normal");
    assert_eq!(thread["run_id"], Value::Null);
    assert_eq!(thread["task_id"], Value::Null);

    let message = written_message(data);
    assert_eq!(message["thread_id"], thread["thread_id"]);
    assert_eq!(message["kind"], "task");
    assert_eq!(message["from_agent"], "leader");
    assert_eq!(message["to_agent"], "worker");
    assert_eq!(message["body"], "details here");
    assert_eq!(message["payload_json"], json!({}));
    assert_eq!(message["artifacts"], json!([]));

    let shown = show(&env, &text(&thread["thread_id"]));
    assert_eq!(shown["thread"]["status"], "pending");
    assert_eq!(messages(&shown).len(), 1);
    assert_eq!(messages(&shown)[0]["message_id"], message["message_id"]);
}

#[test]
fn send_from_flag_overrides_the_agent_and_run_task_kind_priority_are_kept() {
    let env = Env::new();
    let out = env.inbox(
        Some("someone-else"),
        &[
            "send",
            "--from",
            "leader",
            "--to",
            "worker",
            "--subject",
            "s",
            "--run",
            "r1",
            "--task",
            "t1",
            "--kind",
            "control",
            "--priority",
            "high",
        ],
    );
    let data = ok(&out, "send");
    assert_eq!(data["thread"]["created_by"], "leader");
    assert_eq!(data["thread"]["run_id"], "r1");
    assert_eq!(data["thread"]["task_id"], "t1");
    assert_eq!(data["thread"]["priority"], "high");
    assert_eq!(data["message"]["from_agent"], "leader");
    assert_eq!(data["message"]["kind"], "control");
}

#[test]
fn send_rejects_an_unknown_kind_or_priority_and_an_empty_to() {
    let env = Env::new();
    env.inbox(Some("leader"), &["send", "--to", "w", "--kind", "gossip"])
        .error(30, "invalid_input");
    env.inbox(Some("leader"), &["send", "--to", "w", "--priority", "asap"])
        .error(30, "invalid_input");
    env.inbox(Some("leader"), &["send", "--to", ""])
        .error(30, "invalid_input");
    // Without --from and without --agent, the sender is unknown.
    env.inbox(None, &["send", "--to", "w"])
        .error(30, "invalid_input");
    assert_eq!(
        env.inbox(None, &["list"]).data()["threads"],
        json!([]),
        "nothing was written"
    );
}

#[test]
fn send_to_an_existing_thread_appends_and_reassigns() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "first");
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--thread",
            &thread,
            "--to",
            "worker-b",
            "--body",
            "over to you",
        ],
    );
    let data = ok(&out, "send");
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
    assert_eq!(data["thread"]["assigned_to"], "worker-b");
    assert_eq!(data["thread"]["status"], "pending");
    assert_eq!(data["thread"]["created_by"], "leader");
    assert_eq!(data["message"]["to_agent"], "worker-b");
    assert_eq!(data["message"]["thread_id"], thread.as_str());

    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["assigned_to"], "worker-b");
    assert_eq!(messages(&shown).len(), 2);
    assert_eq!(messages(&shown)[1]["body"], "over to you");
    // Only the new assignee fetches it.
    assert_eq!(
        thread_ids(&env.inbox(Some("worker-b"), &["fetch"]).data()["threads"]),
        vec![thread]
    );
    assert_eq!(
        env.inbox(Some("worker-a"), &["fetch"]).data()["threads"],
        json!([])
    );
}

#[test]
fn send_with_an_unknown_thread_id_creates_that_thread() {
    let env = Env::new();
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--thread",
            "my-own-thread-1",
            "--to",
            "worker",
            "--subject",
            "named",
        ],
    );
    let data = ok(&out, "send");
    assert_eq!(data["thread"]["thread_id"], "my-own-thread-1");
    assert_eq!(data["thread"]["status"], "pending");
    assert_eq!(data["thread"]["created_by"], "leader");
    assert_eq!(data["thread"]["assigned_to"], "worker");
    let shown = show(&env, "my-own-thread-1");
    assert_eq!(shown["thread"]["subject"], "named");
    assert_eq!(messages(&shown).len(), 1);
}

#[test]
fn send_to_a_terminal_thread_is_invalid_state() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    env.inbox(
        Some("worker"),
        &["done", "--thread", &thread, "--summary", "finished"],
    )
    .data();
    let before = messages(&show(&env, &thread)).len();
    env.inbox(
        Some("leader"),
        &[
            "send", "--thread", &thread, "--to", "worker", "--body", "more",
        ],
    )
    .error(30, "invalid_state");
    let shown = show(&env, &thread);
    assert_eq!(messages(&shown).len(), before, "no message was appended");
    assert_eq!(shown["thread"]["status"], "done");

    // Cancelled and failed threads too.
    let cancelled = new_thread(&env, "worker", "to cancel");
    env.inbox(Some("leader"), &["cancel", "--thread", &cancelled])
        .data();
    env.inbox(
        Some("leader"),
        &["send", "--thread", &cancelled, "--to", "worker"],
    )
    .error(30, "invalid_state");
    let failed = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["fail", "--thread", &failed])
        .data();
    env.inbox(
        Some("leader"),
        &["send", "--thread", &failed, "--to", "worker"],
    )
    .error(30, "invalid_state");
}

#[test]
fn send_summary_defaults_to_the_subject() {
    let env = Env::new();
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "w",
            "--subject",
            "Review PR 12",
            "--body",
            "b",
        ],
    );
    assert_eq!(ok(&out, "send")["message"]["summary"], "Review PR 12");
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "w",
            "--subject",
            "Review PR 12",
            "--summary",
            "short one",
        ],
    );
    assert_eq!(ok(&out, "send")["message"]["summary"], "short one");
    assert_eq!(out.data()["thread"]["subject"], "Review PR 12");
}

// ---------------------------------------------------------------------------------------
// fetch
// ---------------------------------------------------------------------------------------

#[test]
fn fetch_lists_assigned_threads_newest_updated_first() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "a");
    let b = new_thread(&env, "worker", "b");
    let c = new_thread(&env, "worker", "c");
    let _other = new_thread(&env, "someone-else", "not mine");
    // Appending to `a` makes it the most recently updated.
    env.inbox(
        Some("leader"),
        &["send", "--thread", &a, "--to", "worker", "--body", "bump"],
    )
    .data();

    let out = env.inbox(Some("worker"), &["fetch"]);
    let data = ok(&out, "fetch");
    for t in data["threads"].as_array().unwrap() {
        assert_thread_json(t);
        assert_eq!(t["assigned_to"], "worker");
    }
    assert_eq!(
        thread_ids(&data["threads"]),
        vec![a.clone(), c.clone(), b.clone()]
    );

    let out = env.inbox(Some("worker"), &["fetch", "--limit", "2"]);
    assert_eq!(thread_ids(&ok(&out, "fetch")["threads"]), vec![a, c]);
}

#[test]
fn fetch_filters_by_a_status_csv() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "a");
    let b = new_thread(&env, "worker", "b");
    let c = new_thread(&env, "worker", "c");
    env.inbox(Some("worker"), &["claim", "--thread", &b]).data();
    env.inbox(Some("worker"), &["claim", "--thread", &c]).data();
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &c,
            "--status",
            "blocked",
            "--summary",
            "?",
        ],
    )
    .data();

    let pending = env.inbox(Some("worker"), &["fetch", "--status", "pending"]);
    assert_eq!(
        thread_ids(&ok(&pending, "fetch")["threads"]),
        vec![a.clone()]
    );
    let some = env.inbox(Some("worker"), &["fetch", "--status", "claimed,blocked"]);
    assert_eq!(
        thread_ids(&ok(&some, "fetch")["threads"]),
        vec![c.clone(), b.clone()]
    );
    let all = env.inbox(
        Some("worker"),
        &[
            "fetch",
            "--status",
            "pending,claimed,blocked",
            "--limit",
            "2",
        ],
    );
    assert_eq!(thread_ids(&ok(&all, "fetch")["threads"]), vec![c, b]);
    let none = env.inbox(Some("worker"), &["fetch", "--status", "done"]);
    assert_eq!(ok(&none, "fetch")["threads"], json!([]));
    // An unknown status is bad input (ours).
    env.inbox(Some("worker"), &["fetch", "--status", "pending,sleeping"])
        .error(30, "invalid_input");
}

#[test]
fn fetch_unread_uses_the_read_cursor_set_by_show_mark_read() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "a");
    let b = new_thread(&env, "worker", "b");
    let unread = |env: &Env| {
        sorted(thread_ids(
            &env.inbox(Some("worker"), &["fetch", "--unread"]).data()["threads"],
        ))
    };
    assert_eq!(unread(&env), sorted(vec![a.clone(), b.clone()]));

    env.inbox(Some("worker"), &["show", "--thread", &a, "--mark-read"])
        .data();
    assert_eq!(unread(&env), vec![b.clone()]);
    env.inbox(Some("worker"), &["show", "--thread", &b, "--mark-read"])
        .data();
    assert_eq!(unread(&env), Vec::<String>::new());

    // A new message from someone else makes the thread unread again.
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &a, "--body", "one more thing"],
    )
    .data();
    assert_eq!(unread(&env), vec![a.clone()]);
    // Without --unread, both are listed.
    assert_eq!(
        sorted(thread_ids(
            &env.inbox(Some("worker"), &["fetch"]).data()["threads"]
        )),
        sorted(vec![a, b])
    );
}

#[test]
fn fetch_unread_ignores_messages_written_by_the_agent_itself() {
    let env = Env::new();
    let t = new_thread(&env, "worker", "mine");
    env.inbox(Some("worker"), &["show", "--thread", &t, "--mark-read"])
        .data();
    // The worker's own claim (an event message) and progress do not make it unread.
    env.inbox(Some("worker"), &["claim", "--thread", &t]).data();
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &t,
            "--status",
            "in_progress",
            "--summary",
            "going",
        ],
    )
    .data();
    let out = env.inbox(Some("worker"), &["fetch", "--unread"]);
    assert_eq!(ok(&out, "fetch")["threads"], json!([]));
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &t, "--body", "faster please"],
    )
    .data();
    let out = env.inbox(Some("worker"), &["fetch", "--unread"]);
    assert_eq!(thread_ids(&ok(&out, "fetch")["threads"]), vec![t]);
}

#[test]
fn fetch_needs_an_agent() {
    let env = Env::new();
    env.inbox(None, &["fetch"]).error(30, "invalid_input");
}

// ---------------------------------------------------------------------------------------
// claim
// ---------------------------------------------------------------------------------------

#[test]
fn claim_moves_a_pending_thread_to_claimed_and_writes_an_event_message() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "claim me");
    let out = env.inbox(Some("worker"), &["claim", "--thread", &thread]);
    let data = ok(&out, "claim");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "claimed");
    assert_eq!(data["thread"]["assigned_to"], "worker");
    let message = written_message(data);
    assert_eq!(message["kind"], "event");
    assert_eq!(message["summary"], "thread claimed");
    assert_eq!(message["from_agent"], "worker");
    assert_eq!(message["to_agent"], "leader");
    assert_eq!(
        message["payload_json"]["lease_seconds"], 900,
        "default lease is 900 s"
    );

    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "claimed");
    let last = messages(&shown).pop().unwrap();
    assert_eq!(last["kind"], "event");
    assert_eq!(last["summary"], "thread claimed");

    // Event thread_claim, seen by a watcher of the worker's threads.
    let out = env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            "0",
            "--status",
            "claimed",
            "--timeout-seconds",
            "5",
        ],
    );
    let event = &ok(&out, "watch")["event"];
    assert_eq!(event["event_type"], "thread_claim");
    assert_eq!(event["thread_id"], thread.as_str());
}

#[test]
fn claim_by_another_agent_can_take_a_thread_assigned_elsewhere() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "anyone");
    let out = env.inbox(Some("worker-b"), &["claim", "--thread", &thread]);
    assert_eq!(ok(&out, "claim")["thread"]["assigned_to"], "worker-b");
}

#[test]
fn claim_lease_seconds_zero_or_negative_means_900() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "zero");
    let out = env.inbox(
        Some("worker"),
        &["claim", "--thread", &a, "--lease-seconds", "0"],
    );
    assert_eq!(
        ok(&out, "claim")["message"]["payload_json"]["lease_seconds"],
        900
    );
    let b = new_thread(&env, "worker", "negative");
    let out = env.inbox(
        Some("worker"),
        &["claim", "--thread", &b, "--lease-seconds", "-5"],
    );
    assert_eq!(
        ok(&out, "claim")["message"]["payload_json"]["lease_seconds"],
        900
    );
    let c = new_thread(&env, "worker", "explicit");
    let out = env.inbox(
        Some("worker"),
        &["claim", "--thread", &c, "--lease-seconds", "120"],
    );
    assert_eq!(
        ok(&out, "claim")["message"]["payload_json"]["lease_seconds"],
        120
    );
}

#[test]
fn claim_by_another_agent_while_leased_is_lease_conflict() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker-a");
    let before = messages(&show(&env, &thread)).len();
    let message = env
        .inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    assert!(
        message.contains("worker-a"),
        "the message names the holder: {message}"
    );
    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["assigned_to"], "worker-a");
    assert_eq!(shown["thread"]["status"], "claimed");
    assert_eq!(messages(&shown).len(), before, "nothing was written");
}

#[test]
fn claim_again_by_the_lease_holder_refreshes_the_lease() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "refresh");
    env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "1"],
    )
    .data();
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "on it",
        ],
    )
    .data();
    // Our decision: the holder claiming again succeeds, keeps the status, refreshes the lease.
    let out = env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "60"],
    );
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["status"], "in_progress");
    assert_eq!(data["thread"]["assigned_to"], "worker-a");
    assert_eq!(data["message"]["kind"], "event");
    assert_eq!(data["message"]["payload_json"]["lease_seconds"], 60);
    // The first lease (1 s) would have expired; the refreshed one has not.
    pause(1200);
    env.inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "still",
        ],
    )
    .data();
}

#[test]
fn claim_of_an_unknown_thread_is_not_found() {
    let env = Env::new();
    env.inbox(None, &["init"]).data();
    env.inbox(Some("worker"), &["claim", "--thread", "no-such-thread"])
        .error(40, "not_found");
}

#[test]
fn claim_of_a_terminal_thread_is_invalid_state() {
    let env = Env::new();
    let done = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["done", "--thread", &done])
        .data();
    env.inbox(Some("worker"), &["claim", "--thread", &done])
        .error(30, "invalid_state");
    env.inbox(Some("other"), &["claim", "--thread", &done])
        .error(30, "invalid_state");
    assert_eq!(thread_status(&env, &done), "done");

    let cancelled = new_thread(&env, "worker", "c");
    env.inbox(Some("leader"), &["cancel", "--thread", &cancelled])
        .data();
    env.inbox(Some("worker"), &["claim", "--thread", &cancelled])
        .error(30, "invalid_state");
}

#[test]
fn claim_takes_over_an_expired_lease_and_records_it() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "takeover");
    env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "1"],
    )
    .data();
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "started",
        ],
    )
    .data();
    pause(1200);
    // Expired and not yet taken over: the old holder has no active lease any more.
    env.inbox(
        Some("worker-a"),
        &["update", "--thread", &thread, "--summary", "late"],
    )
    .error(30, "invalid_state");
    env.inbox(Some("worker-a"), &["renew", "--thread", &thread])
        .error(30, "invalid_state");
    env.inbox(Some("worker-a"), &["done", "--thread", &thread])
        .error(30, "invalid_state");
    let out = env.inbox(Some("worker-b"), &["claim", "--thread", &thread]);
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["status"], "claimed");
    assert_eq!(data["thread"]["assigned_to"], "worker-b");
    let message = written_message(data);
    assert_eq!(message["kind"], "event");
    assert_eq!(message["from_agent"], "worker-b");
    assert_eq!(message["payload_json"]["takeover_from"], "worker-a");

    let last = last_message(&env, &thread);
    assert_eq!(last["kind"], "event");
    assert_eq!(last["payload_json"]["takeover_from"], "worker-a");
    // The old holder has lost the thread.
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "x",
        ],
    )
    .error(20, "lease_conflict");
    env.inbox(
        Some("worker-b"),
        &["done", "--thread", &thread, "--summary", "finished by b"],
    )
    .data();
}

// ---------------------------------------------------------------------------------------
// renew
// ---------------------------------------------------------------------------------------

#[test]
fn renew_by_the_owner_extends_the_lease() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "renew");
    env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "1"],
    )
    .data();
    let out = env.inbox(
        Some("worker-a"),
        &["renew", "--thread", &thread, "--lease-seconds", "60"],
    );
    let data = ok(&out, "renew");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "claimed");
    let message = written_message(data);
    assert_eq!(message["kind"], "event");
    assert_eq!(message["from_agent"], "worker-a");
    assert_eq!(message["payload_json"]["lease_seconds"], 60);
    assert_eq!(
        last_message(&env, &thread)["payload_json"]["lease_seconds"],
        60
    );
    // Past the original 1 s, the renewed lease still holds.
    pause(1200);
    env.inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "ok",
        ],
    )
    .data();
}

#[test]
fn renew_by_another_agent_is_lease_conflict() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker-a");
    let before = messages(&show(&env, &thread)).len();
    env.inbox(Some("worker-b"), &["renew", "--thread", &thread])
        .error(20, "lease_conflict");
    assert_eq!(messages(&show(&env, &thread)).len(), before);
}

#[test]
fn renew_without_a_lease_is_invalid_state() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "unclaimed");
    env.inbox(Some("worker"), &["renew", "--thread", &thread])
        .error(30, "invalid_state");
    env.inbox(Some("worker"), &["renew", "--thread", "no-such-thread"])
        .error(40, "not_found");
    // After done the lease is released: renew is refused too.
    let done = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["done", "--thread", &done])
        .data();
    env.inbox(Some("worker"), &["renew", "--thread", &done])
        .error(30, "invalid_state");
}

// ---------------------------------------------------------------------------------------
// update
// ---------------------------------------------------------------------------------------

#[test]
fn update_without_a_lease_is_invalid_state() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "not claimed");
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "x",
        ],
    )
    .error(30, "invalid_state");
    assert_eq!(thread_status(&env, &thread), "pending");
    assert_eq!(messages(&show(&env, &thread)).len(), 1);
    env.inbox(
        Some("worker"),
        &["update", "--thread", "no-such-thread", "--summary", "x"],
    )
    .error(40, "not_found");
}

#[test]
fn update_by_another_owner_is_lease_conflict() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker-a");
    env.inbox(
        Some("worker-b"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "x",
        ],
    )
    .error(20, "lease_conflict");
    env.inbox(
        Some("worker-b"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "?",
        ],
    )
    .error(20, "lease_conflict");
    assert_eq!(thread_status(&env, &thread), "claimed");
}

#[test]
fn update_in_progress_writes_a_progress_message_to_the_creator() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let out = env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "half way",
            "--body",
            "50%",
        ],
    );
    let data = ok(&out, "update");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "in_progress");
    let message = written_message(data);
    assert_eq!(message["kind"], "progress");
    assert_eq!(message["from_agent"], "worker");
    assert_eq!(message["to_agent"], "leader");
    assert_eq!(message["summary"], "half way");
    assert_eq!(message["body"], "50%");
    let last = last_message(&env, &thread);
    assert_eq!(last["kind"], "progress");
    assert_eq!(last["to_agent"], "leader");
    assert_eq!(thread_status(&env, &thread), "in_progress");
    // The default --status is in_progress.
    let out = env.inbox(
        Some("worker"),
        &["update", "--thread", &thread, "--summary", "more"],
    );
    assert_eq!(ok(&out, "update")["message"]["kind"], "progress");
}

#[test]
fn update_blocked_writes_a_question_and_keeps_the_payload() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let out = env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "need a decision",
            "--payload-json",
            r#"{"question": "Postgres or SQLite?", "options": ["pg", "sqlite"]}"#,
        ],
    );
    let data = ok(&out, "update");
    assert_eq!(data["thread"]["status"], "blocked");
    let message = written_message(data);
    assert_eq!(message["kind"], "question");
    assert_eq!(message["to_agent"], "leader");
    assert_eq!(message["summary"], "need a decision");
    assert_eq!(
        message["payload_json"],
        json!({"question": "Postgres or SQLite?", "options": ["pg", "sqlite"]})
    );
    let last = last_message(&env, &thread);
    assert_eq!(last["kind"], "question");
    assert_eq!(last["payload_json"]["question"], "Postgres or SQLite?");
    assert_eq!(thread_status(&env, &thread), "blocked");
    // Back to work after the answer.
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "SQLite"],
    )
    .data();
    let out = env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "resumed",
        ],
    );
    assert_eq!(ok(&out, "update")["thread"]["status"], "in_progress");
}

#[test]
fn update_rejects_statuses_other_than_in_progress_and_blocked() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    for status in ["done", "claimed", "pending", "nonsense"] {
        env.inbox(
            Some("worker"),
            &[
                "update",
                "--thread",
                &thread,
                "--status",
                status,
                "--summary",
                "x",
            ],
        )
        .error(30, "invalid_input");
    }
    assert_eq!(thread_status(&env, &thread), "claimed");
}

// ---------------------------------------------------------------------------------------
// reply
// ---------------------------------------------------------------------------------------

#[test]
fn reply_defaults_to_answer_and_allows_control() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let out = env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "use SQLite"],
    );
    let data = ok(&out, "reply");
    assert_thread_json(&data["thread"]);
    let message = written_message(data);
    assert_eq!(message["kind"], "answer");
    assert_eq!(message["from_agent"], "leader");
    assert_eq!(
        message["to_agent"], "worker",
        "to defaults to the other side of the thread"
    );
    assert_eq!(message["body"], "use SQLite");

    let out = env.inbox(
        Some("leader"),
        &[
            "reply",
            "--thread",
            &thread,
            "--kind",
            "control",
            "--summary",
            "stop",
            "--to",
            "worker",
        ],
    );
    let message = written_message(ok(&out, "reply"));
    assert_eq!(message["kind"], "control");
    assert_eq!(message["summary"], "stop");

    // The worker replying goes to the creator by default.
    let out = env.inbox(
        Some("worker"),
        &["reply", "--thread", &thread, "--body", "ack"],
    );
    assert_eq!(ok(&out, "reply")["message"]["to_agent"], "leader");

    let kinds: Vec<String> = messages(&show(&env, &thread))
        .iter()
        .map(|m| text(&m["kind"]))
        .collect();
    assert_eq!(kinds, vec!["task", "event", "answer", "control", "answer"]);
    // A reply does not change the thread's status.
    assert_eq!(thread_status(&env, &thread), "claimed");
}

#[test]
fn reply_with_another_kind_is_rejected() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "kinds");
    for kind in [
        "task", "progress", "question", "result", "event", "output", "bogus",
    ] {
        env.inbox(
            Some("leader"),
            &["reply", "--thread", &thread, "--kind", kind, "--body", "x"],
        )
        .error(30, "invalid_input");
    }
    assert_eq!(
        messages(&show(&env, &thread)).len(),
        1,
        "nothing was written"
    );
}

#[test]
fn reply_with_bad_or_non_object_payload_json_is_invalid_input() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "payloads");
    for bad in [
        "{not json",
        r#"{"a": 1"#,
        "[1, 2]",
        "42",
        r#""text""#,
        "null",
    ] {
        env.inbox(
            Some("leader"),
            &["reply", "--thread", &thread, "--payload-json", bad],
        )
        .error(30, "invalid_input");
    }
    assert_eq!(
        messages(&show(&env, &thread)).len(),
        1,
        "nothing was written"
    );
    let out = env.inbox(
        Some("leader"),
        &[
            "reply",
            "--thread",
            &thread,
            "--payload-json",
            r#"{"a": {"b": [1]}}"#,
        ],
    );
    assert_eq!(
        ok(&out, "reply")["message"]["payload_json"],
        json!({"a": {"b": [1]}})
    );
}

#[test]
fn reply_on_a_terminal_or_unknown_thread_is_refused() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["done", "--thread", &thread])
        .data();
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "too late"],
    )
    .error(30, "invalid_state");
    env.inbox(
        Some("leader"),
        &[
            "reply", "--thread", &thread, "--kind", "control", "--body", "stop",
        ],
    )
    .error(30, "invalid_state");
    env.inbox(
        Some("leader"),
        &["reply", "--thread", "no-such-thread", "--body", "x"],
    )
    .error(40, "not_found");
}

// ---------------------------------------------------------------------------------------
// done / fail
// ---------------------------------------------------------------------------------------

#[test]
fn done_persists_body_summary_payload_and_artifacts() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let out = env.inbox(
        Some("worker"),
        &[
            "done",
            "--thread",
            &thread,
            "--summary",
            "all green",
            "--body",
            "ran 42 tests",
            "--payload-json",
            r#"{"tests": 42}"#,
            "--artifact",
            "out/report.md",
            "--artifact-kind",
            "report",
            "--artifact-metadata-json",
            r#"{"lines": 10}"#,
        ],
    );
    let data = ok(&out, "done");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "done");
    let message = written_message(data);
    assert_eq!(message["kind"], "result");
    assert_eq!(message["from_agent"], "worker");
    assert_eq!(message["to_agent"], "leader");

    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "done");
    let last = messages(&shown).pop().unwrap();
    assert_eq!(last["message_id"], message["message_id"]);
    assert_eq!(last["kind"], "result");
    assert_eq!(last["summary"], "all green");
    assert_eq!(last["body"], "ran 42 tests");
    assert_eq!(last["payload_json"], json!({"tests": 42}));
    assert_eq!(
        last["artifacts"],
        json!([{"path": "out/report.md", "kind": "report", "metadata": {"lines": 10}}])
    );
}

#[test]
fn fail_persists_the_result_and_marks_the_thread_failed() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let out = env.inbox(
        Some("worker"),
        &[
            "fail",
            "--thread",
            &thread,
            "--summary",
            "cannot build",
            "--body",
            "linker error",
            "--payload-json",
            r#"{"exit": 1}"#,
            "--artifact",
            "build.log",
        ],
    );
    let data = ok(&out, "fail");
    assert_eq!(data["thread"]["status"], "failed");
    assert_eq!(data["message"]["kind"], "result");
    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "failed");
    let last = messages(&shown).pop().unwrap();
    assert_eq!(last["kind"], "result");
    assert_eq!(last["to_agent"], "leader");
    assert_eq!(last["summary"], "cannot build");
    assert_eq!(last["body"], "linker error");
    assert_eq!(last["payload_json"], json!({"exit": 1}));
    assert_eq!(last["artifacts"].as_array().unwrap().len(), 1);
    assert_eq!(last["artifacts"][0]["path"], "build.log");
}

#[test]
fn done_and_fail_release_the_lease() {
    let env = Env::new();
    for verb in ["done", "fail"] {
        let thread = claimed_thread(&env, "worker");
        env.inbox(Some("worker"), &[verb, "--thread", &thread])
            .data();
        // No lease any more: the owner cannot update, and nobody holds it (no 20).
        env.inbox(
            Some("worker"),
            &[
                "update",
                "--thread",
                &thread,
                "--status",
                "in_progress",
                "--summary",
                "x",
            ],
        )
        .error(30, "invalid_state");
        env.inbox(Some("other"), &["renew", "--thread", &thread])
            .error(30, "invalid_state");
        env.inbox(Some("other"), &["claim", "--thread", &thread])
            .error(30, "invalid_state");
    }
}

#[test]
fn done_and_fail_by_a_non_owner_are_lease_conflict() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker-a");
    env.inbox(
        Some("worker-b"),
        &["done", "--thread", &thread, "--summary", "mine now"],
    )
    .error(20, "lease_conflict");
    env.inbox(
        Some("worker-b"),
        &["fail", "--thread", &thread, "--summary", "mine now"],
    )
    .error(20, "lease_conflict");
    assert_eq!(thread_status(&env, &thread), "claimed");
}

#[test]
fn done_and_fail_without_a_lease_or_on_a_terminal_thread_are_invalid_state() {
    let env = Env::new();
    let pending = new_thread(&env, "worker", "never claimed");
    env.inbox(Some("worker"), &["done", "--thread", &pending])
        .error(30, "invalid_state");
    env.inbox(Some("worker"), &["fail", "--thread", &pending])
        .error(30, "invalid_state");
    assert_eq!(thread_status(&env, &pending), "pending");

    let thread = claimed_thread(&env, "worker");
    env.inbox(
        Some("worker"),
        &["done", "--thread", &thread, "--summary", "first"],
    )
    .data();
    let before = messages(&show(&env, &thread)).len();
    env.inbox(
        Some("worker"),
        &["done", "--thread", &thread, "--summary", "again"],
    )
    .error(30, "invalid_state");
    env.inbox(
        Some("worker"),
        &["fail", "--thread", &thread, "--summary", "again"],
    )
    .error(30, "invalid_state");
    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "done");
    assert_eq!(messages(&shown).len(), before);

    env.inbox(Some("worker"), &["done", "--thread", "no-such-thread"])
        .error(40, "not_found");
}

// ---------------------------------------------------------------------------------------
// cancel
// ---------------------------------------------------------------------------------------

#[test]
fn cancel_cancels_the_thread_with_a_control_message_carrying_the_reason() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let out = env.inbox(
        Some("leader"),
        &[
            "cancel",
            "--thread",
            &thread,
            "--reason",
            "requirements changed",
            "--artifact",
            "notes.md",
        ],
    );
    let data = ok(&out, "cancel");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "cancelled");
    let message = written_message(data);
    assert_eq!(message["kind"], "control");
    assert_eq!(message["from_agent"], "leader");
    assert_eq!(message["to_agent"], "worker");
    assert!(
        text(&message["body"]).contains("requirements changed")
            || message["payload_json"]["reason"] == "requirements changed",
        "the message carries the reason: {message}"
    );
    assert_eq!(message["payload_json"]["reason"], "requirements changed");

    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "cancelled");
    let last = messages(&shown).pop().unwrap();
    assert_eq!(last["kind"], "control");
    assert_eq!(last["payload_json"]["reason"], "requirements changed");
    assert_eq!(last["artifacts"][0]["path"], "notes.md");
    // The lease is released and the thread is closed.
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "x",
        ],
    )
    .error(30, "invalid_state");
    env.inbox(Some("worker"), &["done", "--thread", &thread])
        .error(30, "invalid_state");
}

#[test]
fn cancel_of_an_unknown_thread_is_not_found() {
    let env = Env::new();
    env.inbox(None, &["init"]).data();
    env.inbox(
        Some("leader"),
        &["cancel", "--thread", "no-such-thread", "--reason", "x"],
    )
    .error(40, "not_found");
}

#[test]
fn cancel_of_a_terminal_thread_is_invalid_state() {
    // Contract silent; ours: a closed thread stays as it was.
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["done", "--thread", &thread])
        .data();
    env.inbox(Some("leader"), &["cancel", "--thread", &thread])
        .error(30, "invalid_state");
    assert_eq!(thread_status(&env, &thread), "done");
}

// ---------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------

#[test]
fn list_filters_by_run_task_status_assignee_and_limit() {
    let env = Env::new();
    let send = |run: &str, task: &str, to: &str| {
        let out = env.inbox(
            Some("leader"),
            &[
                "send",
                "--to",
                to,
                "--subject",
                "s",
                "--run",
                run,
                "--task",
                task,
            ],
        );
        text(&out.data()["thread"]["thread_id"])
    };
    let t1 = send("r1", "a", "w1");
    let t2 = send("r1", "b", "w2");
    let t3 = send("r2", "a", "w1");
    env.inbox(Some("w1"), &["claim", "--thread", &t3]).data();

    let list = |args: &[&str]| {
        let mut full = vec!["list"];
        full.extend_from_slice(args);
        let out = env.inbox(None, &full);
        let data = ok(&out, "list").clone();
        for t in data["threads"].as_array().unwrap() {
            assert_thread_json(t);
        }
        thread_ids(&data["threads"])
    };
    assert_eq!(
        sorted(list(&[])),
        sorted(vec![t1.clone(), t2.clone(), t3.clone()])
    );
    assert_eq!(
        sorted(list(&["--run", "r1"])),
        sorted(vec![t1.clone(), t2.clone()])
    );
    assert_eq!(list(&["--run", "r1", "--task", "a"]), vec![t1.clone()]);
    assert_eq!(
        sorted(list(&["--task", "a"])),
        sorted(vec![t1.clone(), t3.clone()])
    );
    assert_eq!(
        sorted(list(&["--assigned-to", "w1"])),
        sorted(vec![t1.clone(), t3.clone()])
    );
    assert_eq!(list(&["--assigned-to", "w2"]), vec![t2.clone()]);
    assert_eq!(list(&["--status", "claimed"]), vec![t3.clone()]);
    assert_eq!(
        sorted(list(&["--status", "pending"])),
        sorted(vec![t1.clone(), t2.clone()])
    );
    assert_eq!(sorted(list(&["--status", "pending,claimed"])).len(), 3);
    assert_eq!(list(&["--limit", "1"]).len(), 1);
    assert_eq!(
        list(&["--limit", "1"]),
        vec![t3.clone()],
        "newest updated first"
    );
    assert_eq!(
        list(&["--run", "r2", "--status", "pending"]),
        Vec::<String>::new()
    );
    assert_eq!(list(&["--run", "nope"]), Vec::<String>::new());
    env.inbox(None, &["list", "--status", "weird"])
        .error(30, "invalid_input");
}

// ---------------------------------------------------------------------------------------
// show
// ---------------------------------------------------------------------------------------

#[test]
fn show_returns_the_thread_messages_and_artifacts() {
    let env = Env::new();
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "worker",
            "--subject",
            "with files",
            "--body",
            "see attached",
            "--artifact",
            "a.txt",
            "--artifact",
            "b.png",
            "--artifact-kind",
            "text",
            "--artifact-kind",
            "image",
        ],
    );
    let thread = text(&out.data()["thread"]["thread_id"]);
    env.inbox(Some("worker"), &["claim", "--thread", &thread])
        .data();

    let out = env.inbox(None, &["show", "--thread", &thread]);
    let data = ok(&out, "show");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
    assert!(
        data.get("read_cursor").is_none(),
        "no cursor without --mark-read: {data}"
    );
    let msgs = messages(data);
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        assert_message_json(m);
        assert_eq!(m["thread_id"], thread.as_str());
    }
    assert!(
        msgs[0]["message_id"].as_i64() < msgs[1]["message_id"].as_i64(),
        "oldest first"
    );
    assert_eq!(msgs[0]["kind"], "task");
    assert_eq!(msgs[0]["body"], "see attached");
    assert_eq!(
        msgs[0]["artifacts"],
        json!([
            {"path": "a.txt", "kind": "text", "metadata": {}},
            {"path": "b.png", "kind": "image", "metadata": {}},
        ])
    );
    assert_eq!(msgs[1]["kind"], "event");
    assert_eq!(msgs[1]["artifacts"], json!([]));
}

#[test]
fn show_of_an_unknown_thread_is_not_found() {
    let env = Env::new();
    env.inbox(None, &["init"]).data();
    env.inbox(None, &["show", "--thread", "no-such-thread"])
        .error(40, "not_found");
    env.inbox(
        Some("worker"),
        &["show", "--thread", "no-such-thread", "--mark-read"],
    )
    .error(40, "not_found");
}

#[test]
fn show_mark_read_advances_the_read_cursor() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "cursor");
    let first_id = last_message(&env, &thread)["message_id"].as_i64().unwrap();
    let out = env.inbox(
        Some("worker"),
        &["show", "--thread", &thread, "--mark-read"],
    );
    assert_eq!(ok(&out, "show")["read_cursor"], first_id);

    let reply = env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "more"],
    );
    let second_id = reply.data()["message"]["message_id"].as_i64().unwrap();
    assert!(second_id > first_id);
    // A plain show does not move it.
    env.inbox(Some("worker"), &["show", "--thread", &thread])
        .data();
    assert_eq!(
        thread_ids(&env.inbox(Some("worker"), &["fetch", "--unread"]).data()["threads"]),
        vec![thread.clone()]
    );
    let out = env.inbox(
        Some("worker"),
        &["show", "--thread", &thread, "--mark-read"],
    );
    assert_eq!(ok(&out, "show")["read_cursor"], second_id);
    // Cursors are per agent.
    let out = env.inbox(
        Some("auditor"),
        &["show", "--thread", &thread, "--mark-read"],
    );
    assert_eq!(ok(&out, "show")["read_cursor"], second_id);
    assert_eq!(
        env.inbox(Some("worker"), &["fetch", "--unread"]).data()["threads"],
        json!([])
    );
}

#[test]
fn show_mark_read_needs_an_agent() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "who reads");
    env.inbox(None, &["show", "--thread", &thread, "--mark-read"])
        .error(30, "invalid_input");
}

// ---------------------------------------------------------------------------------------
// watch
// ---------------------------------------------------------------------------------------

#[test]
fn watch_wakes_on_a_matching_event_written_after_it_started() {
    let env = Env::new();
    // An older event on the worker's threads: before the default cursor ("now").
    let old = new_thread(&env, "worker", "old");
    let watcher = spawn(
        &env,
        INBOX,
        &["watch", "--timeout-seconds", "30"],
        Some("worker"),
    );
    pause(500);
    // Not the worker's thread: ignored.
    new_thread(&env, "someone-else", "not for the watcher");
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "worker",
            "--subject",
            "wake up",
            "--body",
            "new work",
        ],
    );
    let sent = out.data().clone();
    let out = finish(watcher);
    let data = ok(&out, "watch");
    assert_eq!(data["woke"], true);
    assert_thread_json(&data["thread"]);
    assert_message_json(&data["message"]);
    assert_event_json(&data["event"]);
    assert_ne!(data["thread"]["thread_id"], old.as_str());
    assert_eq!(data["thread"]["thread_id"], sent["thread"]["thread_id"]);
    assert_eq!(data["message"]["message_id"], sent["message"]["message_id"]);
    assert_eq!(data["message"]["body"], "new work");
    assert_eq!(data["event"]["event_type"], "thread_send");
    assert_eq!(data["event"]["thread_id"], sent["thread"]["thread_id"]);
    assert_eq!(data["next_event_id"], data["event"]["event_id"]);
    assert!(data["next_event_id"].as_i64().unwrap() > 0);
}

#[test]
fn watch_after_event_resumes_from_the_cursor() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "a");
    let b = new_thread(&env, "worker", "b");
    let out = env.inbox(
        Some("worker"),
        &["watch", "--after-event", "0", "--timeout-seconds", "5"],
    );
    let first = ok(&out, "watch").clone();
    assert_eq!(first["thread"]["thread_id"], a.as_str());
    let cursor = first["next_event_id"].as_i64().unwrap();
    assert_eq!(cursor, first["event"]["event_id"].as_i64().unwrap());
    let out = env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            &cursor.to_string(),
            "--timeout-seconds",
            "5",
        ],
    );
    let second = ok(&out, "watch");
    assert_eq!(second["thread"]["thread_id"], b.as_str());
    assert!(second["next_event_id"].as_i64().unwrap() > cursor);
    let cursor = second["next_event_id"].as_i64().unwrap().to_string();
    env.inbox(
        Some("worker"),
        &["watch", "--after-event", &cursor, "--timeout-seconds", "1"],
    )
    .error(10, "no_matching_work");
}

#[test]
fn watch_status_filter_uses_the_thread_status_after_the_event() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "statuses");
    env.inbox(Some("worker"), &["claim", "--thread", &thread])
        .data();
    // The claim event's id, found through the filter itself.
    let out = env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            "0",
            "--status",
            "claimed",
            "--timeout-seconds",
            "5",
        ],
    );
    let claim = ok(&out, "watch").clone();
    assert_eq!(claim["event"]["event_type"], "thread_claim");
    let cursor = claim["next_event_id"].as_i64().unwrap().to_string();

    let watcher = spawn(
        &env,
        INBOX,
        &[
            "watch",
            "--after-event",
            &cursor,
            "--status",
            "blocked",
            "--timeout-seconds",
            "30",
        ],
        Some("worker"),
    );
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "working",
        ],
    )
    .data();
    let question = env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "which one?",
        ],
    );
    let question_id = question.data()["message"]["message_id"].clone();
    // The thread moves on before anyone reads the wake-up: the filter is about the event.
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "this one"],
    )
    .data();
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "resumed",
        ],
    )
    .data();
    let out = finish(watcher);
    let data = ok(&out, "watch");
    assert_eq!(data["woke"], true);
    assert_eq!(data["event"]["event_type"], "thread_update");
    assert_eq!(data["message"]["kind"], "question");
    assert_eq!(data["message"]["message_id"], question_id);
    assert_eq!(data["next_event_id"], data["event"]["event_id"]);

    // Replayed from the start with --status in_progress: the first in_progress update.
    let out = env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            "0",
            "--status",
            "in_progress",
            "--timeout-seconds",
            "5",
        ],
    );
    assert_eq!(ok(&out, "watch")["message"]["summary"], "working");
    // Nothing ever left the thread done.
    env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            "0",
            "--status",
            "done,failed",
            "--timeout-seconds",
            "1",
        ],
    )
    .error(10, "no_matching_work");
}

#[test]
fn watch_with_timeout_zero_waits_until_an_event() {
    let env = Env::new();
    env.inbox(None, &["init"]).data();
    let watcher = spawn(
        &env,
        INBOX,
        &["watch", "--timeout-seconds", "0"],
        Some("worker"),
    );
    pause(500);
    let thread = new_thread(&env, "worker", "eventually");
    let out = finish_within(watcher, 30);
    let data = ok(&out, "watch");
    assert_eq!(data["woke"], true);
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
}

#[test]
fn each_verb_appends_its_documented_event_type() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "events");
    env.inbox(Some("worker"), &["claim", "--thread", &thread])
        .data();
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "?",
        ],
    )
    .data();
    let reply = env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "answer"],
    );
    let reply_id = reply.data()["message"]["message_id"].clone();
    env.inbox(
        Some("worker"),
        &["update", "--thread", &thread, "--summary", "going"],
    )
    .data();
    env.inbox(
        Some("worker"),
        &["done", "--thread", &thread, "--summary", "done"],
    )
    .data();
    let failed = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["fail", "--thread", &failed])
        .data();
    let cancelled = new_thread(&env, "worker", "cancel");
    env.inbox(Some("leader"), &["cancel", "--thread", &cancelled])
        .data();

    // Walk every event on the worker's threads from the start, resuming from next_event_id.
    let mut cursor = 0;
    let mut seen: Vec<(String, String, Value)> = Vec::new();
    let mut reply_event = None;
    while seen.len() < 11 {
        let out = env.inbox(
            Some("worker"),
            &[
                "watch",
                "--after-event",
                &cursor.to_string(),
                "--timeout-seconds",
                "5",
            ],
        );
        let data = ok(&out, "watch").clone();
        assert_event_json(&data["event"]);
        let id = data["next_event_id"].as_i64().unwrap();
        assert_eq!(id, data["event"]["event_id"].as_i64().unwrap());
        assert!(id > cursor);
        cursor = id;
        if data["message"]["message_id"] == reply_id {
            reply_event = Some(id);
        }
        seen.push((
            text(&data["event"]["event_type"]),
            text(&data["event"]["thread_id"]),
            data["message"]["kind"].clone(),
        ));
    }
    let types: Vec<&str> = seen.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "thread_send",
            "thread_claim",
            "thread_update",
            "thread_reply",
            "thread_update",
            "thread_result",
            "thread_send",
            "thread_claim",
            "thread_result",
            "thread_send",
            "thread_cancel",
        ]
    );
    let kinds: Vec<&str> = seen.iter().map(|(_, _, k)| k.as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "task", "event", "question", "answer", "progress", "result", "task", "event", "result",
            "task", "control"
        ]
    );
    assert!(seen[..6].iter().all(|(_, t, _)| *t == thread));
    assert!(seen[6..9].iter().all(|(_, t, _)| *t == failed));
    assert!(seen[9..].iter().all(|(_, t, _)| *t == cancelled));
    env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            &cursor.to_string(),
            "--timeout-seconds",
            "1",
        ],
    )
    .error(10, "no_matching_work");

    // wait-reply's next_event_id is the id of the event that carried the reply.
    let question = messages(&show(&env, &thread))[2]["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    let out = env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &question,
            "--timeout-seconds",
            "5",
        ],
    );
    let data = ok(&out, "wait-reply");
    assert_eq!(data["message"]["message_id"], reply_id);
    assert_eq!(data["next_event_id"].as_i64(), reply_event);
}

#[test]
fn a_closed_stdout_pipe_exits_quietly() {
    let env = Env::new();
    for i in 0..20 {
        new_thread(&env, "worker", &format!("thread number {i}"));
    }
    let script = format!(
        "\"{INBOX}\" --db \"$DB\" list | true; a=${{PIPESTATUS[0]}}; \"{INBOX}\" --db \"$DB\" --json show --thread nope | true; echo \"$a ${{PIPESTATUS[0]}}\""
    );
    let out = env
        .command("bash")
        .arg("-c")
        .arg(&script)
        .env("DB", &env.db)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.trim(), "0 40", "exit codes kept; stderr: {stderr}");
    assert!(stderr.trim().is_empty(), "nothing on stderr: {stderr}");
}

#[test]
fn watch_times_out_with_no_matching_work() {
    let env = Env::new();
    new_thread(&env, "worker", "before the watch");
    let out = env.inbox(Some("worker"), &["watch", "--timeout-seconds", "1"]);
    let message = out.error(10, "no_matching_work");
    assert!(!message.is_empty());
    // Events exist, but for somebody else.
    env.inbox(
        Some("nobody"),
        &["watch", "--after-event", "0", "--timeout-seconds", "1"],
    )
    .error(10, "no_matching_work");
}

// ---------------------------------------------------------------------------------------
// wait-reply
// ---------------------------------------------------------------------------------------

#[test]
fn wait_reply_wakes_on_an_answer_written_after_it_started() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    // The worker has written no progress or question yet, so the default boundary is
    // "now": an answer before the waiter starts is behind it.
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "stale answer"],
    )
    .data();
    let waiter = spawn(
        &env,
        INBOX,
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "30"],
        Some("worker"),
    );
    pause(500);
    let reply = env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "fresh answer"],
    );
    let reply_id = reply.data()["message"]["message_id"].clone();
    let out = finish(waiter);
    let data = ok(&out, "wait-reply");
    assert_eq!(data["woke"], true);
    assert_message_json(&data["message"]);
    assert_eq!(data["message"]["message_id"], reply_id);
    assert_eq!(data["message"]["kind"], "answer");
    assert_eq!(data["message"]["body"], "fresh answer");
    assert!(data["next_event_id"].as_i64().unwrap() > 0);
    // The worker can carry on.
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "go",
        ],
    )
    .data();
}

#[test]
fn wait_reply_default_boundary_is_after_the_callers_latest_question() {
    // Contract silent on wait-reply's default boundary; ours: after the caller's own
    // newest progress/question on the thread (so "ask, then wait" never misses an answer
    // written in between), else "now".
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    env.inbox(
        Some("leader"),
        &[
            "reply",
            "--thread",
            &thread,
            "--body",
            "before the question",
        ],
    )
    .data();
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "which?",
        ],
    )
    .data();
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "after the question"],
    )
    .data();
    let out = env.inbox(
        Some("worker"),
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "5"],
    );
    let data = ok(&out, "wait-reply");
    assert_eq!(data["woke"], true);
    assert_eq!(data["message"]["body"], "after the question");
}

#[test]
fn wait_reply_after_message_returns_the_first_reply_after_it() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let q = env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "?",
        ],
    );
    let q_id = q.data()["message"]["message_id"].as_i64().unwrap();
    let a1 = env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "first"],
    );
    let a1_id = a1.data()["message"]["message_id"].as_i64().unwrap();
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "second"],
    )
    .data();

    let out = env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &q_id.to_string(),
            "--timeout-seconds",
            "5",
        ],
    );
    let data = ok(&out, "wait-reply");
    assert_eq!(data["message"]["body"], "first");
    let out = env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &a1_id.to_string(),
            "--timeout-seconds",
            "5",
        ],
    );
    assert_eq!(ok(&out, "wait-reply")["message"]["body"], "second");
    // Resuming from next_event_id: nothing newer.
    let cursor = ok(&out, "wait-reply")["next_event_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-event",
            &cursor,
            "--timeout-seconds",
            "1",
        ],
    )
    .error(10, "no_matching_work");
}

#[test]
fn wait_reply_after_message_must_exist_on_that_thread() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "mine");
    let other = new_thread(&env, "worker", "other");
    let other_msg = last_message(&env, &other)["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &other_msg,
            "--timeout-seconds",
            "1",
        ],
    )
    .error(40, "not_found");
    env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            "999999",
            "--timeout-seconds",
            "1",
        ],
    )
    .error(40, "not_found");
    env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            "no-such-thread",
            "--timeout-seconds",
            "1",
        ],
    )
    .error(40, "not_found");
}

#[test]
fn wait_reply_kinds_filter_selects_the_message_kinds() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let first = last_message(&env, &thread)["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "an answer"],
    )
    .data();
    env.inbox(
        Some("leader"),
        &[
            "reply",
            "--thread",
            &thread,
            "--kind",
            "control",
            "--body",
            "a control",
        ],
    )
    .data();

    let wait = |kinds: &str| {
        env.inbox(
            Some("worker"),
            &[
                "wait-reply",
                "--thread",
                &thread,
                "--after-message",
                &first,
                "--kinds",
                kinds,
                "--timeout-seconds",
                "1",
            ],
        )
    };
    assert_eq!(
        ok(&wait("control"), "wait-reply")["message"]["body"],
        "a control"
    );
    assert_eq!(
        ok(&wait("answer"), "wait-reply")["message"]["body"],
        "an answer"
    );
    assert_eq!(
        ok(&wait("control,answer"), "wait-reply")["message"]["body"],
        "an answer"
    );
    wait("result").error(10, "no_matching_work");
    wait("bogus").error(30, "invalid_input");
    // The default kinds: answer, control, result.
    let out = env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &first,
            "--timeout-seconds",
            "1",
        ],
    );
    assert_eq!(ok(&out, "wait-reply")["message"]["kind"], "answer");
}

#[test]
fn wait_reply_wakes_the_leader_on_a_result() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let task_msg = messages(&show(&env, &thread))[0]["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.inbox(
        Some("worker"),
        &["update", "--thread", &thread, "--summary", "progress only"],
    )
    .data();
    env.inbox(
        Some("worker"),
        &["done", "--thread", &thread, "--summary", "shipped"],
    )
    .data();
    let out = env.inbox(
        Some("leader"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &task_msg,
            "--timeout-seconds",
            "5",
        ],
    );
    let data = ok(&out, "wait-reply");
    assert_eq!(data["message"]["kind"], "result");
    assert_eq!(data["message"]["summary"], "shipped");
}

#[test]
fn wait_reply_times_out_with_no_matching_work() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    env.inbox(
        Some("worker"),
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "1"],
    )
    .error(10, "no_matching_work");
    // A progress message is not a reply.
    let first = last_message(&env, &thread)["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.inbox(
        Some("worker"),
        &["update", "--thread", &thread, "--summary", "p"],
    )
    .data();
    env.inbox(
        Some("leader"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &first,
            "--timeout-seconds",
            "1",
        ],
    )
    .error(10, "no_matching_work");
}

#[test]
fn wait_reply_ignores_the_waiters_own_messages() {
    // Ours: an agent does not wake on what it wrote itself.
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let first = last_message(&env, &thread)["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.inbox(
        Some("worker"),
        &["reply", "--thread", &thread, "--body", "note to self"],
    )
    .data();
    env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &first,
            "--timeout-seconds",
            "1",
        ],
    )
    .error(10, "no_matching_work");
}

#[test]
fn a_payload_only_answer_is_read_by_the_worker() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    env.inbox(
        Some("worker"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--payload-json",
            r#"{"question": "which db?"}"#,
        ],
    )
    .data();
    let waiter = spawn(
        &env,
        INBOX,
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "30"],
        Some("worker"),
    );
    pause(500);
    env.inbox(
        Some("leader"),
        &[
            "reply",
            "--thread",
            &thread,
            "--payload-json",
            r#"{"answer": "sqlite", "why": "simple"}"#,
        ],
    )
    .data();
    let out = finish(waiter);
    let data = ok(&out, "wait-reply");
    assert_eq!(data["message"]["kind"], "answer");
    assert_eq!(data["message"]["body"], "");
    assert_eq!(
        data["message"]["payload_json"],
        json!({"answer": "sqlite", "why": "simple"})
    );
}

#[test]
fn a_payload_only_orch_answer_is_read_by_the_worker() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    env.inbox(Some("worker-a"), &["claim", "--thread", &thread])
        .data();
    let q = env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--payload-json",
            r#"{"question": "port?"}"#,
        ],
    );
    let q_id = q.data()["message"]["message_id"]
        .as_i64()
        .unwrap()
        .to_string();
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--payload-json",
        r#"{"port": 8080}"#,
    ])
    .data();
    let out = env.inbox(
        Some("worker-a"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-message",
            &q_id,
            "--timeout-seconds",
            "5",
        ],
    );
    let data = ok(&out, "wait-reply");
    assert_eq!(data["message"]["kind"], "answer");
    assert_eq!(data["message"]["payload_json"]["port"], 8080);
}

// ---------------------------------------------------------------------------------------
// Message-writing rules (contract §3), on every verb that writes a message
// ---------------------------------------------------------------------------------------

#[test]
fn body_and_body_file_together_are_invalid_input_on_every_message_verb() {
    let env = Env::new();
    let file = env.path().join("body.txt");
    std::fs::write(&file, "from a file").unwrap();
    let file = file.display().to_string();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        run_case(
            &env,
            agent,
            &base,
            &["--body", "inline", "--body-file", &file],
        )
        .error(30, "invalid_input");
    }
}

#[test]
fn an_unreadable_body_file_is_invalid_input_on_every_message_verb() {
    let env = Env::new();
    let missing = env.path().join("does-not-exist.txt").display().to_string();
    let dir = env.path().display().to_string();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        run_case(&env, agent, &base, &["--body-file", &missing]).error(30, "invalid_input");
        run_case(&env, agent, &base, &["--body-file", &dir]).error(30, "invalid_input");
    }
}

#[test]
fn body_file_content_is_stored_on_every_message_verb() {
    let env = Env::new();
    let file = env.path().join("body.md");
    let content = "line one of the body\nline two\n";
    std::fs::write(&file, content).unwrap();
    let file = file.display().to_string();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        let out = run_case(&env, agent, &base, &["--body-file", &file]);
        let message = written_message(ok(&out, verb));
        assert_eq!(message["body"], content, "{verb}");
        let last = last_message(&env, &text(&message["thread_id"]));
        assert_eq!(last["body"], content, "{verb} stored the file's content");
    }
}

#[test]
fn empty_payload_json_means_an_empty_object_on_every_message_verb() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        let out = run_case(&env, agent, &base, &["--payload-json", "", "--body", "b"]);
        assert_eq!(
            written_message(ok(&out, verb))["payload_json"],
            json!({}),
            "{verb}"
        );
    }
}

#[test]
fn bad_payload_json_is_invalid_input_on_every_message_verb() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        run_case(&env, agent, &base, &["--payload-json", "{oops"]).error(30, "invalid_input");
        run_case(&env, agent, &base, &["--payload-json", "[1]"]).error(30, "invalid_input");
    }
}

#[test]
fn artifacts_repeat_and_kind_and_metadata_apply_to_all_when_given_once() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        let out = run_case(
            &env,
            agent,
            &base,
            &[
                "--body",
                "b",
                "--artifact",
                "a.log",
                "--artifact",
                "b.log",
                "--artifact-kind",
                "log",
                "--artifact-metadata-json",
                r#"{"source": "ci"}"#,
            ],
        );
        let message = written_message(ok(&out, verb));
        let expected = json!([
            {"path": "a.log", "kind": "log", "metadata": {"source": "ci"}},
            {"path": "b.log", "kind": "log", "metadata": {"source": "ci"}},
        ]);
        assert_eq!(message["artifacts"], expected, "{verb}");
        assert_eq!(
            last_message(&env, &text(&message["thread_id"]))["artifacts"],
            expected,
            "{verb} via show"
        );
    }
}

#[test]
fn artifact_kind_and_metadata_given_once_per_artifact_apply_in_order() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        let out = run_case(
            &env,
            agent,
            &base,
            &[
                "--artifact",
                "one.diff",
                "--artifact",
                "two.png",
                "--artifact",
                "three.txt",
                "--artifact-kind",
                "diff",
                "--artifact-kind",
                "image",
                "--artifact-kind",
                "text",
                "--artifact-metadata-json",
                r#"{"n": 1}"#,
                "--artifact-metadata-json",
                r#"{"n": 2}"#,
                "--artifact-metadata-json",
                r#"{"n": 3}"#,
            ],
        );
        let message = written_message(ok(&out, verb));
        let expected = json!([
            {"path": "one.diff", "kind": "diff", "metadata": {"n": 1}},
            {"path": "two.png", "kind": "image", "metadata": {"n": 2}},
            {"path": "three.txt", "kind": "text", "metadata": {"n": 3}},
        ]);
        assert_eq!(
            last_message(&env, &text(&message["thread_id"]))["artifacts"],
            expected,
            "{verb}"
        );
    }
}

#[test]
fn artifacts_without_kind_or_metadata_get_defaults() {
    // Contract silent on the defaults; ours: kind "file", metadata {}.
    let env = Env::new();
    let out = env.inbox(
        Some("leader"),
        &["send", "--to", "w", "--artifact", "x.bin"],
    );
    assert_eq!(
        ok(&out, "send")["message"]["artifacts"],
        json!([{"path": "x.bin", "kind": "file", "metadata": {}}])
    );
}

#[test]
fn artifact_kind_or_metadata_without_an_artifact_is_invalid_input() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        run_case(&env, agent, &base, &["--artifact-kind", "log"]).error(30, "invalid_input");
        run_case(&env, agent, &base, &["--artifact-metadata-json", "{}"])
            .error(30, "invalid_input");
    }
    let thread = new_thread(&env, "worker", "cancel me");
    env.inbox(
        Some("leader"),
        &["cancel", "--thread", &thread, "--artifact-kind", "log"],
    )
    .error(30, "invalid_input");
    env.inbox(
        Some("leader"),
        &[
            "cancel",
            "--thread",
            &thread,
            "--artifact-metadata-json",
            "{}",
        ],
    )
    .error(30, "invalid_input");
    assert_eq!(
        thread_status(&env, &thread),
        "pending",
        "nothing was cancelled"
    );
}

#[test]
fn artifact_kind_or_metadata_given_a_different_number_of_times_is_invalid_input() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        let three = ["--artifact", "a", "--artifact", "b", "--artifact", "c"];
        let mut kinds = three.to_vec();
        kinds.extend(["--artifact-kind", "x", "--artifact-kind", "y"]);
        run_case(&env, agent, &base, &kinds).error(30, "invalid_input");
        let mut metas = three.to_vec();
        metas.extend([
            "--artifact-metadata-json",
            "{}",
            "--artifact-metadata-json",
            "{}",
        ]);
        run_case(&env, agent, &base, &metas).error(30, "invalid_input");
        let mut too_many = vec!["--artifact", "a"];
        too_many.extend(["--artifact-kind", "x", "--artifact-kind", "y"]);
        run_case(&env, agent, &base, &too_many).error(30, "invalid_input");
    }
    let thread = new_thread(&env, "worker", "cancel me");
    env.inbox(
        Some("leader"),
        &[
            "cancel",
            "--thread",
            &thread,
            "--artifact",
            "a",
            "--artifact-kind",
            "x",
            "--artifact-kind",
            "y",
        ],
    )
    .error(30, "invalid_input");
    assert_eq!(thread_status(&env, &thread), "pending");
}

#[test]
fn bad_artifact_metadata_json_is_invalid_input() {
    let env = Env::new();
    for verb in MESSAGE_VERBS {
        let (agent, base) = verb_case(&env, verb);
        run_case(
            &env,
            agent,
            &base,
            &["--artifact", "a", "--artifact-metadata-json", "{nope"],
        )
        .error(30, "invalid_input");
        // Ours: metadata must be an object.
        run_case(
            &env,
            agent,
            &base,
            &["--artifact", "a", "--artifact-metadata-json", "[1]"],
        )
        .error(30, "invalid_input");
    }
}

#[test]
fn a_rejected_message_verb_writes_nothing() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker");
    let before = messages(&show(&env, &thread)).len();
    for verb in ["update", "done", "fail"] {
        env.inbox(
            Some("worker"),
            &[verb, "--thread", &thread, "--payload-json", "{bad"],
        )
        .error(30, "invalid_input");
    }
    env.inbox(
        Some("leader"),
        &[
            "reply",
            "--thread",
            &thread,
            "--body",
            "x",
            "--body-file",
            "/nonexistent",
        ],
    )
    .error(30, "invalid_input");
    let shown = show(&env, &thread);
    assert_eq!(messages(&shown).len(), before);
    assert_eq!(shown["thread"]["status"], "claimed");
}

// ---------------------------------------------------------------------------------------
// JSON shapes and the envelope
// ---------------------------------------------------------------------------------------

#[test]
fn every_verb_returns_the_documented_json_shapes() {
    let env = Env::new();
    let out = env.inbox(None, &["init"]);
    let data = ok(&out, "init");
    assert!(data["db_path"].is_string());

    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "worker",
            "--subject",
            "shapes",
            "--run",
            "r",
            "--task",
            "t",
        ],
    );
    let data = ok(&out, "send");
    assert_thread_json(&data["thread"]);
    assert_message_json(&data["message"]);
    let thread = text(&data["thread"]["thread_id"]);

    let out = env.inbox(Some("worker"), &["fetch"]);
    for t in ok(&out, "fetch")["threads"].as_array().unwrap() {
        assert_thread_json(t);
    }
    for (verb, agent, args) in [
        ("claim", "worker", vec!["claim", "--thread", &thread]),
        ("renew", "worker", vec!["renew", "--thread", &thread]),
        (
            "update",
            "worker",
            vec!["update", "--thread", &thread, "--summary", "s"],
        ),
        (
            "reply",
            "leader",
            vec!["reply", "--thread", &thread, "--body", "b"],
        ),
    ] {
        let out = env.inbox(Some(agent), &args);
        let data = ok(&out, verb);
        assert_thread_json(&data["thread"]);
        assert_message_json(&data["message"]);
        assert_eq!(data["thread"]["run_id"], "r");
        assert_eq!(data["thread"]["task_id"], "t");
    }

    let out = env.inbox(None, &["list"]);
    for t in ok(&out, "list")["threads"].as_array().unwrap() {
        assert_thread_json(t);
    }
    let out = env.inbox(
        Some("worker"),
        &["show", "--thread", &thread, "--mark-read"],
    );
    let data = ok(&out, "show");
    assert_thread_json(&data["thread"]);
    assert!(data["read_cursor"].as_i64().is_some());
    for m in messages(data) {
        assert_message_json(&m);
    }

    let out = env.inbox(
        Some("worker"),
        &["watch", "--after-event", "0", "--timeout-seconds", "5"],
    );
    let data = ok(&out, "watch");
    assert_eq!(data["woke"], true);
    assert_thread_json(&data["thread"]);
    assert_message_json(&data["message"]);
    assert_event_json(&data["event"]);
    assert_eq!(data["event"]["run_id"], "r");
    assert_eq!(data["event"]["task_id"], "t");
    assert_eq!(data["event"]["thread_id"], thread.as_str());
    assert!(data["next_event_id"].as_i64().is_some());

    let out = env.inbox(
        Some("worker"),
        &[
            "wait-reply",
            "--thread",
            &thread,
            "--after-event",
            "0",
            "--timeout-seconds",
            "5",
        ],
    );
    let data = ok(&out, "wait-reply");
    assert_eq!(data["woke"], true);
    assert_message_json(&data["message"]);
    assert!(data["next_event_id"].as_i64().is_some());

    for (verb, agent, make) in [
        ("done", "worker", true),
        ("fail", "worker", true),
        ("cancel", "leader", false),
    ] {
        let t = if make {
            claimed_thread(&env, "worker")
        } else {
            new_thread(&env, "worker", "c")
        };
        let out = env.inbox(Some(agent), &[verb, "--thread", &t]);
        let data = ok(&out, verb);
        assert_thread_json(&data["thread"]);
        assert_message_json(&data["message"]);
    }
}

#[test]
fn error_envelopes_have_only_ok_false_and_a_code_with_a_message() {
    let env = Env::new();
    env.inbox(None, &["init"]).data();
    let out = env.inbox(Some("worker"), &["claim", "--thread", "nope"]);
    out.error(40, "not_found");
    let obj = out.json.as_object().unwrap();
    assert_eq!(obj.len(), 2, "exactly ok and error: {obj:?}");
    assert!(out.json.get("data").is_none());
    // Exactly one JSON document on stdout.
    assert_eq!(
        out.stdout.trim().lines().count(),
        1,
        "one document: {:?}",
        out.stdout
    );
}

#[test]
fn success_prints_exactly_one_json_document() {
    let env = Env::new();
    let out = env.inbox(
        Some("leader"),
        &[
            "send",
            "--to",
            "w",
            "--subject",
            "one doc",
            "--body",
            "multi\nline\nbody",
        ],
    );
    ok(&out, "send");
    assert_eq!(
        out.stdout.trim().lines().count(),
        1,
        "one document: {:?}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------------------
// Usage errors, help, version, human output
// ---------------------------------------------------------------------------------------

#[test]
fn clap_usage_errors_are_invalid_input_envelopes_with_json() {
    let env = Env::new();
    let message = env
        .inbox(Some("leader"), &["send"])
        .error(30, "invalid_input");
    assert!(
        message.contains("--to"),
        "names the missing flag: {message}"
    );
    env.inbox(Some("leader"), &["send", "--to", "w", "--no-such-flag"])
        .error(30, "invalid_input");
    env.inbox(Some("leader"), &["frobnicate"])
        .error(30, "invalid_input");
    env.inbox(Some("worker"), &["fetch", "--limit", "many"])
        .error(30, "invalid_input");
    env.inbox(Some("worker"), &["watch", "--timeout-seconds", "-1"])
        .error(30, "invalid_input");
    // Missing --thread (no $ORCH_THREAD) on a worker verb.
    let message = env
        .inbox(Some("worker"), &["claim"])
        .error(30, "invalid_input");
    assert!(
        message.contains("--thread"),
        "names the missing flag: {message}"
    );
    // --json given after the verb works too.
    let out = env.raw(INBOX, &["send", "--json"], env.path(), &[]);
    out.error(30, "invalid_input");
}

#[test]
fn clap_usage_errors_without_json_exit_30_with_a_message_on_stderr() {
    let env = Env::new();
    let db = env.db.display().to_string();
    let out = env.raw(INBOX, &["--db", &db, "send"], env.path(), &[]);
    assert_eq!(out.code, 30, "{out:#?}");
    assert!(out.stdout.trim().is_empty(), "nothing on stdout: {out:#?}");
    assert!(out.stderr.contains("--to"), "{out:#?}");
}

#[test]
fn help_and_version_exit_0() {
    let env = Env::new();
    for args in [
        vec!["--help"],
        vec!["send", "--help"],
        vec!["wait-reply", "--help"],
        vec!["--json", "claim", "--help"],
        vec!["-h"],
    ] {
        let out = env.raw(INBOX, &args, env.path(), &[]);
        assert_eq!(out.code, 0, "inbox {args:?}: {out:#?}");
        assert!(out.stdout.contains("Usage"), "inbox {args:?}: {out:#?}");
    }
    for args in [vec!["--version"], vec!["-V"]] {
        let out = env.raw(INBOX, &args, env.path(), &[]);
        assert_eq!(out.code, 0, "inbox {args:?}: {out:#?}");
        assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out:#?}");
    }
    let out = env.raw(ORCH, &["inbox", "--help"], env.path(), &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("Usage"), "{out:#?}");
    let out = env.raw(ORCH, &["inbox", "claim", "--help"], env.path(), &[]);
    assert_eq!(out.code, 0, "{out:#?}");
}

#[test]
fn human_output_without_json_keeps_the_exit_codes() {
    let env = Env::new();
    let db = env.db.display().to_string();
    let out = env.raw(
        INBOX,
        &[
            "--db",
            &db,
            "--agent",
            "leader",
            "send",
            "--to",
            "worker",
            "--subject",
            "human",
        ],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(!out.stdout.trim().is_empty(), "{out:#?}");
    assert!(
        serde_json::from_str::<Value>(out.stdout.trim()).is_err(),
        "not JSON: {out:#?}"
    );
    let thread = text(&env.inbox(Some("worker"), &["fetch"]).data()["threads"][0]["thread_id"]);

    let out = env.raw(
        INBOX,
        &["--db", &db, "--agent", "worker", "fetch"],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains(&thread),
        "fetch lists the thread: {out:#?}"
    );

    let out = env.raw(
        INBOX,
        &[
            "--db", &db, "--agent", "worker", "claim", "--thread", "nope",
        ],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 40, "{out:#?}");
    assert!(
        out.stdout.trim().is_empty(),
        "errors go to stderr: {out:#?}"
    );
    assert!(!out.stderr.trim().is_empty(), "{out:#?}");

    env.inbox(Some("worker-a"), &["claim", "--thread", &thread])
        .data();
    let out = env.raw(
        INBOX,
        &[
            "--db", &db, "--agent", "worker-b", "claim", "--thread", &thread,
        ],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 20, "{out:#?}");
    let out = env.raw(
        INBOX,
        &[
            "--db",
            &db,
            "--agent",
            "worker-a",
            "watch",
            "--timeout-seconds",
            "1",
        ],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 10, "{out:#?}");
}

// ---------------------------------------------------------------------------------------
// Defaults from the environment
// ---------------------------------------------------------------------------------------

#[test]
fn worker_verbs_take_agent_thread_and_db_from_the_environment() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "env defaults");
    let db = env.db.display().to_string();
    let vars = [
        ("ORCH_DB", db.as_str()),
        ("ORCH_AGENT", "worker"),
        ("ORCH_THREAD", thread.as_str()),
    ];
    let run = |args: &[&str]| {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        env.raw(INBOX, &full, env.path(), &vars)
    };

    let out = run(&["show"]);
    let data = ok(&out, "show");
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
    let first = messages(data)[0]["message_id"]
        .as_i64()
        .unwrap()
        .to_string();

    let out = run(&["claim"]);
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
    assert_eq!(data["thread"]["assigned_to"], "worker");

    let out = run(&[
        "update",
        "--status",
        "in_progress",
        "--summary",
        "working from env",
    ]);
    let data = ok(&out, "update");
    assert_eq!(data["message"]["from_agent"], "worker");
    assert_eq!(data["thread"]["status"], "in_progress");

    env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "noted"],
    )
    .data();
    let out = run(&[
        "wait-reply",
        "--after-message",
        &first,
        "--timeout-seconds",
        "5",
    ]);
    assert_eq!(ok(&out, "wait-reply")["message"]["body"], "noted");

    let out = run(&["show", "--mark-read"]);
    assert!(ok(&out, "show")["read_cursor"].as_i64().is_some());

    let out = run(&["done", "--summary", "finished from env"]);
    assert_eq!(ok(&out, "done")["thread"]["status"], "done");
    // All of it went to $ORCH_DB.
    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "done");
    assert_eq!(
        messages(&shown).pop().unwrap()["summary"],
        "finished from env"
    );
}

#[test]
fn explicit_flags_win_over_the_environment() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "a");
    let b = new_thread(&env, "worker", "b");
    let db = env.db.display().to_string();
    let vars = [
        ("ORCH_DB", "/nonexistent/dir/coord.db"),
        ("ORCH_AGENT", "env-agent"),
        ("ORCH_THREAD", a.as_str()),
    ];
    let out = env.raw(
        INBOX,
        &[
            "--json",
            "--db",
            &db,
            "--agent",
            "flag-agent",
            "claim",
            "--thread",
            &b,
        ],
        env.path(),
        &vars,
    );
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["thread_id"], b.as_str());
    assert_eq!(data["thread"]["assigned_to"], "flag-agent");
    assert_eq!(thread_status(&env, &a), "pending");
}

#[test]
fn without_db_or_orch_db_the_database_is_under_the_git_top_level() {
    let env = Env::new();
    let repo = env.repo();
    let sub = repo.join("nested").join("dir");
    std::fs::create_dir_all(&sub).unwrap();
    let out = env.raw(INBOX, &["--json", "init"], &sub, &[]);
    let data = ok(&out, "init");
    let expected = repo.join(".orch").join("coord.db");
    assert!(expected.exists(), "database at {expected:?}: {data}");
    assert!(text(&data["db_path"]).ends_with(".orch/coord.db"), "{data}");
    // The same database from the repository root, by default.
    env.raw(
        INBOX,
        &[
            "--json",
            "--agent",
            "leader",
            "send",
            "--to",
            "w",
            "--subject",
            "x",
        ],
        &sub,
        &[],
    )
    .data();
    let out = env.raw(INBOX, &["--json", "--agent", "w", "fetch"], &repo, &[]);
    assert_eq!(ok(&out, "fetch")["threads"].as_array().unwrap().len(), 1);
}

#[test]
fn verbs_that_need_an_identity_refuse_without_one() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "who");
    for args in [
        vec!["claim", "--thread", thread.as_str()],
        vec!["renew", "--thread", thread.as_str()],
        vec!["update", "--thread", thread.as_str(), "--summary", "s"],
        vec!["done", "--thread", thread.as_str()],
        vec!["fail", "--thread", thread.as_str()],
        vec!["reply", "--thread", thread.as_str(), "--body", "b"],
    ] {
        env.inbox(None, &args).error(30, "invalid_input");
    }
    assert_eq!(thread_status(&env, &thread), "pending");
    assert_eq!(messages(&show(&env, &thread)).len(), 1);
}

// ---------------------------------------------------------------------------------------
// `orch inbox <verb>`
// ---------------------------------------------------------------------------------------

#[test]
fn orch_inbox_verbs_behave_like_inbox_verbs() {
    let env = Env::new();
    let out = env.orch(&[
        "inbox",
        "send",
        "--from",
        "leader",
        "--to",
        "worker",
        "--subject",
        "via orch",
    ]);
    let data = ok(&out, "send");
    assert_eq!(data["thread"]["status"], "pending");
    assert_eq!(data["thread"]["created_by"], "leader");
    let thread = text(&data["thread"]["thread_id"]);
    // Visible to the inbox binary.
    assert_eq!(
        thread_ids(&env.inbox(Some("worker"), &["fetch"]).data()["threads"]),
        vec![thread.clone()]
    );

    let out = env.orch(&["inbox", "claim", "--agent", "worker", "--thread", &thread]);
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["status"], "claimed");
    assert_eq!(data["message"]["kind"], "event");
    env.orch(&["inbox", "claim", "--agent", "other", "--thread", &thread])
        .error(20, "lease_conflict");
    env.orch(&["inbox", "show", "--thread", "nope"])
        .error(40, "not_found");
    env.orch(&["inbox", "send"]).error(30, "invalid_input");

    let via_orch = env.orch(&["inbox", "show", "--thread", &thread]);
    let via_inbox = env.inbox(None, &["show", "--thread", &thread]);
    assert_eq!(ok(&via_orch, "show"), ok(&via_inbox, "show"));

    let out = env.orch(&[
        "inbox",
        "done",
        "--agent",
        "worker",
        "--thread",
        &thread,
        "--summary",
        "done via orch",
    ]);
    assert_eq!(ok(&out, "done")["thread"]["status"], "done");
    assert_eq!(thread_status(&env, &thread), "done");
}
