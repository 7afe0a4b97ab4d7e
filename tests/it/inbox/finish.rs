//! Ending a thread: `done`, `fail`, `cancel`.

use super::*;

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
