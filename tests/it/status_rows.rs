//! Each task's `orch status` row is kept rendered with the task and re-rendered by
//! triggers (migrations/0008_task_status_rows.sql). These tests check the stored rows
//! against a fresh rendering after every command of a workflow that touches each thing a
//! row shows — the task's own fields, its prerequisites and checks, its latest attempt
//! and workspace, the attempt's thread status, latest message, and a blocked task's
//! question with its artifacts — so a write path no trigger follows shows up at the
//! command that made it, not only if nothing later happened to re-render the row.

use crate::common::Env;
use serde_json::Value;

#[track_caller]
fn fresh(env: &Env, step: &str) {
    let problems = env.database_problems();
    assert!(problems.is_empty(), "after {step}: {problems:#?}");
}

/// Runs `orch ARGS`, asserts success, then that every stored row is fresh.
#[track_caller]
fn orch(env: &Env, args: &[&str]) -> Value {
    let data = env.orch(args).data().clone();
    fresh(env, &format!("orch {}", args.join(" ")));
    data
}

/// Runs `inbox --agent worker-a ARGS` likewise.
#[track_caller]
fn inbox(env: &Env, args: &[&str]) -> Value {
    let data = env.inbox(Some("worker-a"), args).data().clone();
    fresh(env, &format!("inbox {}", args.join(" ")));
    data
}

#[test]
fn stored_status_rows_follow_every_write() {
    let env = Env::new();
    let repo = env.repo();
    let plan = env.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
[run]
id = "r"
goal = "g"

[defaults]
worker = "worker-a"
execution_mode = "analysis"

[[tasks]]
id = "a"
title = "First"

[[tasks]]
id = "b"
title = "Second"
mode = "code"
depends_on = ["a"]
"#,
    )
    .unwrap();
    orch(&env, &["plan", "apply", "--file", plan.to_str().unwrap()]);
    orch(
        &env,
        &[
            "task",
            "add",
            "--run",
            "r",
            "--task",
            "v",
            "--default-to",
            "worker-a",
            "--acceptance-json",
            r#"{"checks":[{"name":"test","run":"true"}]}"#,
        ],
    );
    orch(
        &env,
        &[
            "dep",
            "add",
            "--run",
            "r",
            "--task",
            "v",
            "--depends-on",
            "a",
        ],
    );
    assert_eq!(
        env.task_row("r", "v")["depends_on"],
        serde_json::json!(["a"])
    );

    // a: dispatched, claimed, progress, a question with an artifact, answered, done.
    let thread = env.dispatch_analysis("r", "a");
    fresh(&env, "dispatch a");
    let thread = thread.as_str();
    inbox(&env, &["claim", "--thread", thread]);
    inbox(
        &env,
        &[
            "update",
            "--thread",
            thread,
            "--summary",
            "reading the code",
        ],
    );
    assert_eq!(
        env.task_row("r", "a")["latest_message"]["summary"],
        "reading the code"
    );
    inbox(
        &env,
        &[
            "update",
            "--thread",
            thread,
            "--status",
            "blocked",
            "--summary",
            "Which way?",
            "--artifact",
            "notes/options.md",
            "--artifact-kind",
            "notes",
        ],
    );
    orch(&env, &["reconcile", "--run", "r"]);
    let blocked = env.task_row("r", "a");
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["blocked_question"]["summary"], "Which way?");
    assert_eq!(
        blocked["blocked_question"]["artifacts"][0]["path"],
        "notes/options.md"
    );
    orch(
        &env,
        &["answer", "--run", "r", "--task", "a", "--body", "left"],
    );
    inbox(
        &env,
        &["done", "--thread", thread, "--summary", "went left"],
    );
    orch(&env, &["reconcile", "--run", "r"]);
    assert_eq!(env.task_row("r", "a")["status"], "done");
    assert_eq!(env.task_row("r", "b")["status"], "ready");

    // v: its check makes it verifying; recording the check makes it done.
    let v_thread = env.dispatch_analysis("r", "v");
    fresh(&env, "dispatch v");
    inbox(&env, &["claim", "--thread", &v_thread]);
    inbox(&env, &["done", "--thread", &v_thread, "--summary", "ok"]);
    orch(&env, &["reconcile", "--run", "r"]);
    assert_eq!(env.task_row("r", "v")["status"], "verifying");
    orch(
        &env,
        &[
            "verify", "record", "--run", "r", "--task", "v", "--check", "test", "--status",
            "passed",
        ],
    );
    assert_eq!(env.task_row("r", "v")["status"], "done");

    // b: a code attempt with a worktree, reassigned (a second attempt), cancelled, and
    // its pristine worktree cleaned up.
    let repo_arg = format!("--repo-path={}", repo.display());
    orch(
        &env,
        &[
            "dispatch",
            "--run",
            "r",
            "--task",
            "b",
            "--execution-mode",
            "code",
            &repo_arg,
        ],
    );
    assert!(
        env.task_row("r", "b")["latest_attempt"]["worktree_path"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    orch(
        &env,
        &["reassign", "--run", "r", "--task", "b", "--to", "worker-b"],
    );
    assert_eq!(
        env.task_row("r", "b")["latest_attempt"]["assigned_to"],
        "worker-b"
    );
    orch(&env, &["cancel", "--run", "r", "--task", "b"]);
    orch(&env, &["cleanup", "--run", "r", "--task", "b"]);
    let b = env.task_row("r", "b");
    assert_eq!(b["status"], "cancelled");
    assert_eq!(b["current_attempt"], 2);
    assert_eq!(b["latest_attempt"]["workspace_status"], "cleaned");
    fresh(&env, "the end");
}
