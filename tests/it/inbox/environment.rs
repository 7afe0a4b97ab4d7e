//! Defaults from the environment, and `orch inbox <verb>`.

use super::*;

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
