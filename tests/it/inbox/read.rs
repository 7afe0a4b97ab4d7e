//! Reading: `list` and `show` (with `--mark-read`).

use super::*;

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
