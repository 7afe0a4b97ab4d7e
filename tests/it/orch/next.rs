//! `orch next` (issue 12): what needs the leader, each item once past the cursor; the
//! `run_finished` event; `wait --all`.

use super::*;
use crate::common::{wait_for_end, wait_until};

/// `orch next` in plain text (what an agent reads by default).
fn next_text(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["--db", env.db.to_str().unwrap(), "next", "--run", "r"];
    all.extend_from_slice(args);
    let out = env.raw(ORCH, &all, env.path(), &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    out.stdout
}

/// `orch --json next --run r ARGS`: `data`.
fn next(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["next", "--run", "r"];
    all.extend_from_slice(args);
    env.orch(&all).data().clone()
}

fn kinds(data: &Value) -> Vec<String> {
    ids(&data["items"], "kind")
}

fn cursor(data: &Value) -> String {
    data["next_event_id"].as_i64().unwrap().to_string()
}

/// The worker (holding the lease) asks a question with options.
fn ask_with_options(env: &Env, thread: &str) -> i64 {
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            thread,
            "--status",
            "blocked",
            "--summary",
            "Return JSON or text?",
            "--payload-json",
            r#"{"question": "JSON or plain text from /health?", "options": ["json", "text"]}"#,
        ],
    )
    .data()["message"]["message_id"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_question_comes_with_its_message_id_and_options_once_past_the_cursor() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    let message_id = ask_with_options(&env, &thread);
    let data = next(&env, &[]);
    assert_eq!(kinds(&data), ["question"]);
    let item = &data["items"][0];
    assert_eq!(item["task_id"], "t1");
    assert_eq!(item["attempt_no"], 1);
    assert_eq!(item["message_id"], message_id);
    assert_eq!(item["text"], "JSON or plain text from /health?");
    assert_eq!(item["options"], serde_json::json!(["json", "text"]));
    // Compact: no task body, no thread, no payload repeated.
    assert!(item.get("body").is_none() && item.get("payload_json").is_none());
    // Plain text: one line with everything needed to answer, and the cursor.
    let text = next_text(&env, &[]);
    assert_eq!(
        text,
        format!(
            "question t1 attempt 1 message {message_id}: JSON or plain text from /health? [options: json | text]\nnext: --after-event {}\n",
            cursor(&data)
        )
    );
    // Past the cursor it is not repeated.
    let after = cursor(&data);
    let later = next(&env, &["--after-event", &after]);
    assert_eq!(kinds(&later), Vec::<String>::new());
    assert_eq!(
        next_text(&env, &["--after-event", &after]),
        format!("nothing needs you in run r\nnext: --after-event {after}\n")
    );
    // Answered: no longer pending at all.
    env.orch(&["answer", "--run", "r", "--task", "t1", "--body", "json"])
        .data();
    assert_eq!(kinds(&next(&env, &[])), Vec::<String>::new());
}

#[test]
fn next_wait_wakes_on_a_question_asked_by_another_process() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    let start = next(&env, &[]);
    assert_eq!(kinds(&start), Vec::<String>::new());
    let after = cursor(&start);
    let waiter = spawn(
        &env,
        ORCH,
        &[
            "next",
            "--run",
            "r",
            "--wait",
            "--after-event",
            &after,
            "--timeout-seconds",
            "60",
        ],
        None,
    );
    pause();
    let message_id = ask_with_options(&env, &thread);
    let out = finish(waiter);
    let data = out.data();
    assert_eq!(kinds(data), ["question"]);
    assert_eq!(data["items"][0]["message_id"], message_id);
    assert!(data["next_event_id"].as_i64().unwrap() > after.parse::<i64>().unwrap());
}

#[test]
fn next_wait_times_out_with_exit_10() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    env.dispatch_analysis("r", "t1");
    let out = env.orch(&["next", "--run", "r", "--wait", "--timeout-seconds", "1"]);
    let message = out.error(10, "no_matching_work");
    assert!(message.contains("within 1 s"), "{message}");
    env.orch(&["next", "--run", "nope"]).error(40, "not_found");
    let bad = env.orch(&["next", "--run", "r", "--after-event=-1"]);
    assert!(bad.error(30, "invalid_input").contains("--after-event"));
    // A timeout without --wait is a usage error.
    env.orch(&["next", "--run", "r", "--timeout-seconds", "1"])
        .error(30, "invalid_input");
}

#[test]
fn a_give_up_comes_with_why_and_the_last_lines_then_the_run_finishes_once() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    crate::common::add_task(
        &env,
        "r",
        "t",
        "shell",
        "echo first line; echo second line; echo third line; echo the end; exit 3",
    );
    env.dispatch_launch(&repo, "r", "t", "analysis", &[]).data();
    let data = next(&env, &["--wait", "--timeout-seconds", "60"]);
    assert_eq!(kinds(&data)[0], "gave_up", "{data:#}");
    let item = &data["items"][0];
    assert_eq!(item["task_id"], "t");
    assert_eq!(item["attempts"], 2);
    let why = item["why"].as_str().unwrap();
    assert!(why.contains("no fallback left"), "{why}");
    assert_eq!(
        item["last_lines"],
        serde_json::json!(["second line", "third line", "the end"])
    );
    // The give-up is not repeated; the run's finish comes once, with its digest.
    let mut after = cursor(&data);
    let mut seen = kinds(&data);
    while !seen.contains(&"run_finished".to_string()) {
        let more = next(
            &env,
            &["--wait", "--after-event", &after, "--timeout-seconds", "30"],
        );
        assert!(!kinds(&more).contains(&"gave_up".to_string()), "{more:#}");
        after = cursor(&more);
        seen.extend(kinds(&more));
    }
    let finished = next(&env, &[]);
    assert_eq!(kinds(&finished), ["gave_up", "run_finished"]);
    let digest = &finished["items"][1];
    assert_eq!(digest["status"], "failed");
    assert_eq!(digest["failed"], serde_json::json!(["t"]));
    assert_eq!(digest["summary"], "run failed: 0 of 1 tasks done, 1 failed");
    let text = next_text(&env, &[]);
    assert!(
        text.contains("gave up t after 2 attempts: ")
            && text.contains("\n  | second line\n  | third line\n  | the end\n")
            && text
                .contains("finished: run failed: 0 of 1 tasks done, 1 failed; failed tasks: t\n"),
        "{text}"
    );
    assert_eq!(kinds(&next(&env, &["--after-event", &after])).len(), 0);
}

#[test]
fn ready_tasks_are_the_leaders_without_orch_up_and_not_while_it_runs() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    // t1 holds the one slot until the test lets it go; t2 waits, ready.
    crate::common::add_task(
        &env,
        "r",
        "t1",
        "shell",
        r#"while [ ! -f "$ORCH_STATE_DIR/go" ]; do sleep 0.1; done"#,
    );
    crate::common::add_task(&env, "r", "t2", "shell", "echo done");
    let before = next(&env, &[]);
    assert_eq!(kinds(&before), ["ready"]);
    assert_eq!(
        before["items"][0]["task_ids"],
        serde_json::json!(["t1", "t2"])
    );
    assert_eq!(
        next_text(&env, &[]),
        format!(
            "ready (no orch up runs the run; dispatch them): t1, t2\nnext: --after-event {}\n",
            cursor(&before)
        )
    );
    let mut up = env
        .command(ORCH)
        .args([
            "--db",
            env.db.to_str().unwrap(),
            "up",
            "--run",
            "r",
            "--concurrency",
            "1",
        ])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("orch up to dispatch t1", 30, || {
        env.task_row("r", "t1")["status"] != "ready"
    });
    // t2 is ready, but orch up will dispatch it: nothing for the leader.
    assert_eq!(env.task_row("r", "t2")["status"], "ready");
    let during = next(&env, &[]);
    assert_eq!(kinds(&during), Vec::<String>::new(), "{during:#}");
    // orch up dies: a leader waiting past the cursor gets t2 (orch up's death writes
    // nothing; the waiter notices it).
    let waiter = spawn(
        &env,
        ORCH,
        &[
            "next",
            "--run",
            "r",
            "--wait",
            "--after-event",
            &cursor(&during),
            "--timeout-seconds",
            "60",
        ],
        None,
    );
    pause();
    up.kill().unwrap();
    up.wait().unwrap();
    let out = finish(waiter);
    let after = out.data();
    assert_eq!(kinds(after), ["ready"], "{after:#}");
    assert_eq!(after["items"][0]["task_ids"], serde_json::json!(["t2"]));
    assert_eq!(
        kinds(&next(&env, &["--after-event", &cursor(after)])).len(),
        0
    );
    std::fs::write(env.path().join("go"), "").unwrap();
    wait_for_end(&env, "r", "t1");
    env.orch(&["cancel", "--run", "r"]).data();
}

#[test]
fn run_finished_is_emitted_once_and_wakes_a_wait_after_orch_up_finished() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    for task in ["a", "b"] {
        crate::common::add_task(&env, "r", task, "shell", "echo ok");
    }
    let start = env.orch(&["next", "--run", "r"]).data()["next_event_id"]
        .as_i64()
        .unwrap()
        .to_string();
    let out = env.raw(
        ORCH,
        &["--db", env.db.to_str().unwrap(), "up", "--run", "r"],
        &repo,
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let finished = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "run_finished",
        "--after-event",
        &start,
        "--timeout-seconds",
        "10",
    ]);
    let event = &finished.data()["event"];
    assert_eq!(event["event_type"], "run_finished");
    assert_eq!(event["payload"]["status"], "done");
    assert_eq!(event["summary"], "run done: 2 of 2 tasks done");
    // Once: reads after it add no second one.
    env.orch(&["status", "--run", "r"]).data();
    env.orch(&["reconcile", "--run", "r"]).data();
    let all = env.orch(&[
        "wait",
        "--run",
        "r",
        "--all",
        "--for",
        "run_finished",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    assert_eq!(all.data()["events"].as_array().unwrap().len(), 1);
    // next: the finish, and nothing after it.
    let data = next(&env, &["--after-event", &start]);
    assert_eq!(kinds(&data), ["run_finished"]);
    assert_eq!(
        kinds(&next(&env, &["--after-event", &cursor(&data)])).len(),
        0
    );
}

#[test]
fn wait_all_returns_every_matching_event_after_the_cursor() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2", "t3"]);
    let everything = env.orch(&["wait", "--run", "r", "--all", "--after-event", "0"]);
    let data = everything.data();
    let events = data["events"].as_array().unwrap();
    let types: Vec<String> = ids(&data["events"], "event_type");
    assert_eq!(
        types,
        ["run_created", "task_added", "task_added", "task_added"]
    );
    assert_eq!(data["next_event_id"], events.last().unwrap()["event_id"]);
    assert!(data.get("event").is_none());
    // Filtered by type, from a cursor.
    let first_added = events[1]["event_id"].as_i64().unwrap().to_string();
    let added = env.orch(&[
        "wait",
        "--run",
        "r",
        "--all",
        "--for",
        "task_added",
        "--after-event",
        &first_added,
    ]);
    assert_eq!(ids(&added.data()["events"], "task_id"), ["t2", "t3"]);
    // Without --all: the first one only, as before.
    let one = env.orch(&["wait", "--run", "r", "--after-event", "0"]);
    assert_eq!(one.data()["event"]["event_type"], "run_created");
    // Blocks like wait: a later event wakes it.
    let now = data["next_event_id"].as_i64().unwrap().to_string();
    let waiter = spawn(
        &env,
        ORCH,
        &[
            "wait",
            "--run",
            "r",
            "--all",
            "--after-event",
            &now,
            "--timeout-seconds",
            "60",
        ],
        None,
    );
    pause();
    env.dispatch_analysis("r", "t1");
    let woke = finish(waiter);
    let types = ids(&woke.data()["events"], "event_type");
    assert!(types.contains(&"task_dispatched".to_string()), "{types:?}");
}
