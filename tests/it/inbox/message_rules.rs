//! Message-writing rules (contract §3) on every verb that writes a message.

use super::*;

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
