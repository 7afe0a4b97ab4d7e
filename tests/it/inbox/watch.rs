//! `watch`: waking on new events, resuming from `next_event_id`.

use super::*;

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
