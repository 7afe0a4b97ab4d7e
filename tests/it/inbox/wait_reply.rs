//! `wait-reply`: a worker blocked on the leader's answer.

use super::*;

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
