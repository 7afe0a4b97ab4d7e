//! The `orch` verbs (contract §5, §6, §8, §10): behaviour, error codes, JSON shapes, worktrees.
//!
//! One file per group of verbs; the helpers they share are here.

use crate::common::{Env, ORCH, finish, spawn};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {list}"))
        .iter()
        .map(|item| text(&item[key]))
        .collect()
}

/// Task ids `orch ready` lists, in its order.
fn ready(env: &Env, run: &str) -> Vec<String> {
    ids(
        &env.orch(&["ready", "--run", run]).data()["tasks"],
        "task_id",
    )
}

/// `orch status`, the whole data.
fn status(env: &Env, run: &str) -> Value {
    env.orch(&["status", "--run", run]).data().clone()
}

fn has_task(env: &Env, run: &str, task: &str) -> bool {
    status(env, run)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["task_id"] == task)
}

fn claim(env: &Env, agent: &str, thread: &str) {
    env.inbox(Some(agent), &["claim", "--thread", thread])
        .data();
}

/// The worker claims and finishes the thread with `done`.
fn work_done(env: &Env, agent: &str, thread: &str) {
    claim(env, agent, thread);
    env.inbox(
        Some(agent),
        &["done", "--thread", thread, "--summary", "finished"],
    )
    .data();
}

/// The worker claims and finishes the thread with `fail`.
fn work_fail(env: &Env, agent: &str, thread: &str) {
    claim(env, agent, thread);
    env.inbox(
        Some(agent),
        &["fail", "--thread", thread, "--summary", "could not"],
    )
    .data();
}

/// The worker (already holding the lease) asks a question.
fn ask(env: &Env, agent: &str, thread: &str, question: &str) {
    let payload = serde_json::json!({ "question": question }).to_string();
    env.inbox(
        Some(agent),
        &[
            "update",
            "--thread",
            thread,
            "--status",
            "blocked",
            "--summary",
            question,
            "--payload-json",
            &payload,
        ],
    )
    .data();
}

fn thread_status(env: &Env, thread: &str) -> String {
    text(&env.inbox(None, &["show", "--thread", thread]).data()["thread"]["status"])
}

/// The repository's top level as git reports it (worktree paths are built from it).
fn top(env: &Env, repo: &Path) -> PathBuf {
    PathBuf::from(env.git(repo, &["rev-parse", "--show-toplevel"]))
}

fn head(env: &Env, repo: &Path) -> String {
    env.git(repo, &["rev-parse", "HEAD"])
}

fn dispatch_code(env: &Env, repo: &Path, run: &str, task: &str) -> Value {
    env.orch(&[
        "dispatch",
        "--run",
        run,
        "--task",
        task,
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
    ])
    .data()
    .clone()
}

fn branches(env: &Env, repo: &Path, pattern: &str) -> String {
    env.git(repo, &["branch", "--list", pattern])
}

fn write(env: &Env, name: &str, content: &str) -> PathBuf {
    let path = env.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn apply(env: &Env, file: &Path) -> crate::common::Out {
    env.orch(&["plan", "apply", "--file", file.to_str().unwrap()])
}

fn pause() {
    std::thread::sleep(Duration::from_millis(500));
}

fn updated(out: &crate::common::Out) -> Vec<(String, String)> {
    out.data()["updated_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (text(&c["task_id"]), text(&c["status"])))
        .collect()
}

fn pair(task: &str, status: &str) -> (String, String) {
    (task.to_string(), status.to_string())
}

/// A task `t` with checks `test` (from acceptance) and `lint`, dispatched and reported
/// done: it is verifying.
fn verifying_task(env: &Env, run: &str, task: &str) {
    env.orch(&[
        "task",
        "add",
        "--run",
        run,
        "--task",
        task,
        "--default-to",
        "worker-a",
        "--acceptance-json",
        r#"{"checks":[{"name":"test","run":"true"}]}"#,
        "--required-check",
        "lint",
    ])
    .data();
    let thread = env.dispatch_analysis(run, task);
    work_done(env, "worker-a", &thread);
    let out = env.orch(&["reconcile", "--run", run]);
    assert!(updated(&out).contains(&pair(task, "verifying")), "{out:#?}");
}

const TOML_PLAN: &str = r#"
[run]
id = "plan_toml"
goal = "ship the plan"

[defaults]
worker = "worker-a"
execution_mode = "analysis"

[[tasks]]
id = "design"
title = "Design it"
priority = "high"

[[tasks]]
id = "build"
title = "Build it"
mode = "code"
depends_on = ["design"]

[[tasks]]
id = "review"
title = "Review it"
worker = "worker-b"
depends_on = ["design", "build"]
"#;

mod answers;
mod brief_output;
mod cleanup_wait;
mod dispatch;
mod frugal;
mod leader_loop;
mod leader_run;
mod next;
mod plan;
mod reconcile;
mod reference_shapes;
mod request_ids;
mod retry_owner;
mod runs;
