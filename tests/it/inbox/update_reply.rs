//! `update` (progress, blocked questions) and `reply`.

use super::*;

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
