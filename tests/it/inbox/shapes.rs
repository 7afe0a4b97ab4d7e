//! JSON shapes and the envelope; usage errors, help, version and human output.

use super::*;

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
