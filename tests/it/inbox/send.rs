//! `inbox init`, `send` and `fetch`.

use super::*;

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
    if !env.is_pg() {
        assert!(env.db.exists(), "the database file exists after init");
    }
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
