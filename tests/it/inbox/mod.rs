//! The `inbox` verbs (contract §3, §4, §10 inbox cases): behaviour, error codes, JSON shapes.
//!
//! One file per group of verbs; the helpers and key lists they share are here.

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

mod environment;
mod finish;
mod lease;
mod message_rules;
mod read;
mod send;
mod shapes;
mod update_reply;
mod wait_reply;
mod watch;
