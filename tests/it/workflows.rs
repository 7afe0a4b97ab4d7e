//! Whole leader/worker workflows of contract §10, driven through both binaries.

use crate::common::{Env, INBOX, ORCH, finish, spawn};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

fn ready(env: &Env, run: &str) -> Vec<String> {
    env.orch(&["ready", "--run", run]).data()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| text(&t["task_id"]))
        .collect()
}

fn status(env: &Env, run: &str) -> Value {
    env.orch(&["status", "--run", run]).data().clone()
}

fn run_status(env: &Env, run: &str) -> String {
    text(&status(env, run)["run"]["status"])
}

fn thread_status(env: &Env, thread: &str) -> String {
    text(&env.inbox(None, &["show", "--thread", thread]).data()["thread"]["status"])
}

/// What a worker does first: read its thread and claim it.
fn start(env: &Env, agent: &str, thread: &str) {
    let shown = env.inbox(Some(agent), &["show", "--thread", thread]);
    assert_eq!(shown.data()["messages"][0]["kind"], "task");
    env.inbox(Some(agent), &["claim", "--thread", thread])
        .data();
}

fn progress(env: &Env, agent: &str, thread: &str, summary: &str) {
    env.inbox(
        Some(agent),
        &[
            "update",
            "--thread",
            thread,
            "--status",
            "in_progress",
            "--summary",
            summary,
        ],
    )
    .data();
}

fn block(env: &Env, agent: &str, thread: &str, question: &str) -> i64 {
    let payload = serde_json::json!({ "question": question }).to_string();
    let out = env.inbox(
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
    );
    out.data()["message"]["message_id"].as_i64().unwrap()
}

fn done(env: &Env, agent: &str, thread: &str, summary: &str) {
    env.inbox(
        Some(agent),
        &["done", "--thread", thread, "--summary", summary],
    )
    .data();
}

fn pause() {
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn happy_path_run_to_done() {
    let env = Env::new();
    env.run_with_tasks("happy", &["t1", "t2", "t3"]);
    assert_eq!(run_status(&env, "happy"), "active");
    // The leader dispatches whatever is ready; the worker does each task.
    let mut threads = Vec::new();
    for task in ready(&env, "happy") {
        let out = env.orch(&[
            "dispatch",
            "--run",
            "happy",
            "--task",
            &task,
            "--execution-mode",
            "analysis",
        ]);
        threads.push(text(&out.data()["attempt"]["thread_id"]));
    }
    assert_eq!(threads.len(), 3);
    assert!(ready(&env, "happy").is_empty());
    // The worker finds its work in its inbox.
    let fetched = env.inbox(Some("worker-a"), &["fetch", "--status", "pending"]);
    assert_eq!(fetched.data()["threads"].as_array().unwrap().len(), 3);
    for thread in &threads {
        start(&env, "worker-a", thread);
        progress(&env, "worker-a", thread, "reading the code");
    }
    let data = status(&env, "happy");
    assert_eq!(data["run"]["counts"]["running"], 3);
    assert_eq!(data["run"]["status"], "active");
    for thread in &threads {
        done(&env, "worker-a", thread, "all good");
    }
    let data = status(&env, "happy");
    assert_eq!(data["run"]["status"], "done");
    assert_eq!(data["run"]["counts"]["done"], 3);
    for task in data["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "done");
        assert_eq!(task["latest_message"]["kind"], "result");
        assert_eq!(task["latest_message"]["summary"], "all good");
    }
    // The run's history has a task_done for each task.
    let mut cursor = 0;
    let mut done_tasks = Vec::new();
    for _ in 0..3 {
        let out = env.orch(&[
            "wait",
            "--run",
            "happy",
            "--for",
            "task_done",
            "--after-event",
            &cursor.to_string(),
            "--timeout-seconds",
            "5",
        ]);
        cursor = out.data()["next_event_id"].as_i64().unwrap();
        done_tasks.push(text(&out.data()["event"]["task_id"]));
    }
    done_tasks.sort();
    assert_eq!(done_tasks, vec!["t1", "t2", "t3"]);
}

#[test]
fn dependency_blocked_answer_resume_then_the_dependent_runs() {
    let env = Env::new();
    env.run_with_tasks("dep", &["t1", "t2"]);
    env.orch(&[
        "dep",
        "add",
        "--run",
        "dep",
        "--task",
        "t2",
        "--depends-on",
        "t1",
    ])
    .data();
    assert_eq!(ready(&env, "dep"), vec!["t1"]);
    let t1 = env.dispatch_analysis("dep", "t1");
    // The leader waits for a question; the worker claims and asks one.
    let waiter = spawn(
        &env,
        ORCH,
        &[
            "wait",
            "--run",
            "dep",
            "--for",
            "task_blocked",
            "--timeout-seconds",
            "30",
        ],
        None,
    );
    pause();
    start(&env, "worker-a", &t1);
    let question_id = block(&env, "worker-a", &t1, "Postgres or SQLite?");
    let woke = finish(waiter);
    assert_eq!(woke.data()["event"]["task_id"], "t1");
    let blocked = env.orch(&["blocked", "--run", "dep"]);
    let tasks = blocked.data()["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["question"]["summary"], "Postgres or SQLite?");
    assert_eq!(run_status(&env, "dep"), "blocked");
    // The leader answers; the worker reads the answer after its question and resumes.
    env.orch(&[
        "answer",
        "--run",
        "dep",
        "--task",
        "t1",
        "--summary",
        "use SQLite",
        "--body",
        "SQLite, WAL mode",
    ])
    .data();
    let reply = env.inbox(
        Some("worker-a"),
        &[
            "wait-reply",
            "--thread",
            &t1,
            "--after-message",
            &question_id.to_string(),
            "--timeout-seconds",
            "5",
        ],
    );
    assert_eq!(reply.data()["message"]["kind"], "answer");
    assert_eq!(reply.data()["message"]["body"], "SQLite, WAL mode");
    progress(&env, "worker-a", &t1, "using SQLite");
    let row = env.task_row("dep", "t1");
    assert_eq!(row["status"], "running");
    assert!(row["blocked_question"].is_null());
    assert_eq!(run_status(&env, "dep"), "active");
    assert!(ready(&env, "dep").is_empty(), "t2 waits for t1");
    done(&env, "worker-a", &t1, "schema written");
    // Reconcile finishes t1 and releases t2.
    let out = env.orch(&["reconcile", "--run", "dep"]);
    let changes = out.data()["updated_tasks"].clone();
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["task_id"] == "t2" && c["status"] == "ready"),
        "{changes}"
    );
    assert_eq!(ready(&env, "dep"), vec!["t2"]);
    let t2 = env.dispatch_analysis("dep", "t2");
    start(&env, "worker-a", &t2);
    done(&env, "worker-a", &t2, "queries written");
    let data = status(&env, "dep");
    assert_eq!(data["run"]["status"], "done");
    assert_eq!(env.task_row("dep", "t2")["status"], "done");
}

#[test]
fn code_dispatch_worker_commits_done_then_cleanup() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("code_run", &["feature"]);
    let out = env.orch(&[
        "dispatch",
        "--run",
        "code_run",
        "--task",
        "feature",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
    ]);
    let attempt = out.data()["attempt"].clone();
    let thread = text(&attempt["thread_id"]);
    let worktree = PathBuf::from(text(&attempt["worktree_path"]));
    let branch = text(&attempt["branch_name"]);
    assert_eq!(branch, "orch/code-run/feature/attempt-1");
    assert!(worktree.is_dir());
    // The worker reads where to work from its task message.
    start(&env, "worker-a", &thread);
    let shown = env.inbox(Some("worker-a"), &["show", "--thread", &thread]);
    let payload = shown.data()["messages"][0]["payload_json"].clone();
    assert_eq!(payload["worktree_path"], worktree.to_str().unwrap());
    assert_eq!(
        shown.data()["messages"][0]["payload_json"]["execution_mode"],
        "code"
    );
    std::fs::write(worktree.join("feature.txt"), "the feature\n").unwrap();
    env.git(&worktree, &["add", "feature.txt"]);
    env.git(&worktree, &["commit", "-q", "-m", "add the feature"]);
    progress(&env, "worker-a", &thread, "committed the feature");
    done(&env, "worker-a", &thread, "feature added");
    assert_eq!(env.task_row("code_run", "feature")["status"], "done");
    // The main checkout is untouched; the work is on the attempt's branch.
    assert!(!repo.join("feature.txt").exists());
    // Merged nowhere yet: cleanup keeps the worktree. The leader merges, then cleans up.
    env.orch(&["cleanup", "--run", "code_run", "--task", "feature"])
        .error(30, "invalid_state");
    assert!(worktree.is_dir());
    env.git(&repo, &["merge", "-q", "--ff-only", &branch]);
    // On a database shared by hosts the merge must reach the remote too.
    env.publish(&repo);
    let out = env.orch(&["cleanup", "--run", "code_run", "--task", "feature"]);
    assert_eq!(out.data()["cleaned"][0]["workspace_status"], "cleaned");
    assert!(!worktree.exists(), "the worktree directory is still there");
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:feature.txt")]),
        "the feature"
    );
    assert_eq!(run_status(&env, "code_run"), "done");
}

#[test]
fn retry_after_fail_then_done() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("retry", &["t1", "t2"]);
    let out = env.orch(&[
        "dispatch",
        "--run",
        "retry",
        "--task",
        "t1",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
    ]);
    let first = text(&out.data()["attempt"]["thread_id"]);
    let t2 = env.dispatch_analysis("retry", "t2");
    start(&env, "worker-a", &t2);
    done(&env, "worker-a", &t2, "ok");
    start(&env, "worker-a", &first);
    env.inbox(
        Some("worker-a"),
        &[
            "fail",
            "--thread",
            &first,
            "--summary",
            "tests do not build",
        ],
    )
    .data();
    let data = status(&env, "retry");
    assert_eq!(env.task_row("retry", "t1")["status"], "failed");
    assert_eq!(
        data["run"]["status"], "failed",
        "a task failed and nothing is active"
    );
    let out = env.orch(&[
        "retry",
        "--run",
        "retry",
        "--task",
        "t1",
        "--body",
        "try again, the build is fixed",
    ]);
    let data = out.data().clone();
    assert_eq!(data["previous_attempt"]["attempt_no"], 1);
    assert_eq!(data["attempt"]["attempt_no"], 2);
    assert_eq!(
        data["attempt"]["assigned_to"], "worker-a",
        "retry defaults to the previous assignee"
    );
    let second = text(&data["attempt"]["thread_id"]);
    assert_ne!(second, first);
    let worktree = PathBuf::from(text(&data["attempt"]["worktree_path"]));
    assert!(worktree.is_dir());
    assert!(worktree.ends_with("retry/t1/attempt-2"));
    assert_eq!(run_status(&env, "retry"), "active");
    start(&env, "worker-a", &second);
    let shown = env.inbox(Some("worker-a"), &["show", "--thread", &second]);
    assert_eq!(
        shown.data()["messages"][0]["body"],
        "try again, the build is fixed"
    );
    done(&env, "worker-a", &second, "built");
    let row = env.task_row("retry", "t1");
    assert_eq!(row["status"], "done");
    assert_eq!(row["latest_attempt"]["attempt_no"], 2);
    assert_eq!(run_status(&env, "retry"), "done");
    // Both worktrees belong to finished attempts now.
    let out = env.orch(&["cleanup", "--run", "retry", "--all-completed"]);
    assert_eq!(out.data()["cleaned"].as_array().unwrap().len(), 2);
    assert!(!worktree.exists());
}

#[test]
fn reassign_a_blocked_task() {
    let env = Env::new();
    env.run_with_tasks("re", &["t1"]);
    let old = env.dispatch_analysis("re", "t1");
    start(&env, "worker-a", &old);
    block(&env, "worker-a", &old, "I do not know this code base");
    assert_eq!(env.task_row("re", "t1")["status"], "blocked");
    let out = env.orch(&[
        "reassign",
        "--run",
        "re",
        "--task",
        "t1",
        "--to",
        "worker-b",
        "--reason",
        "b knows it",
    ]);
    let new = text(&out.data()["attempt"]["thread_id"]);
    assert_eq!(out.data()["attempt"]["assigned_to"], "worker-b");
    assert_eq!(thread_status(&env, &old), "cancelled");
    // worker-a's old thread is closed to it; worker-b sees the new one.
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &old,
            "--status",
            "in_progress",
            "--summary",
            "x",
        ],
    )
    .error(30, "invalid_state");
    let fetched = env.inbox(Some("worker-b"), &["fetch"]);
    let threads: Vec<String> = fetched.data()["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| text(&t["thread_id"]))
        .collect();
    assert_eq!(threads, vec![new.clone()]);
    start(&env, "worker-b", &new);
    progress(&env, "worker-b", &new, "on it");
    assert_eq!(env.task_row("re", "t1")["status"], "running");
    done(&env, "worker-b", &new, "done by b");
    let row = env.task_row("re", "t1");
    assert_eq!(row["status"], "done");
    assert_eq!(row["latest_attempt"]["attempt_no"], 2);
    assert_eq!(row["latest_attempt"]["assigned_to"], "worker-b");
    assert_eq!(run_status(&env, "re"), "done");
}

#[test]
fn cancel_one_active_task_while_another_stays_ready() {
    let env = Env::new();
    env.run_with_tasks("cx", &["t1", "t2"]);
    let t1 = env.dispatch_analysis("cx", "t1");
    start(&env, "worker-a", &t1);
    progress(&env, "worker-a", &t1, "working");
    assert_eq!(env.task_row("cx", "t1")["status"], "running");
    env.orch(&[
        "cancel",
        "--run",
        "cx",
        "--task",
        "t1",
        "--reason",
        "scope cut",
    ])
    .data();
    assert_eq!(thread_status(&env, &t1), "cancelled");
    let shown = env.inbox(None, &["show", "--thread", &t1]);
    let last = shown.data()["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "control");
    // The worker cannot finish a cancelled thread.
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", &t1, "--summary", "late"],
    )
    .error(30, "invalid_state");
    assert_eq!(env.task_row("cx", "t1")["status"], "cancelled");
    assert_eq!(env.task_row("cx", "t2")["status"], "ready");
    assert!(env.task_row("cx", "t2")["latest_attempt"].is_null());
    assert_eq!(ready(&env, "cx"), vec!["t2"]);
    assert_eq!(run_status(&env, "cx"), "active");
    let t2 = env.dispatch_analysis("cx", "t2");
    start(&env, "worker-a", &t2);
    done(&env, "worker-a", &t2, "ok");
    assert_eq!(env.task_row("cx", "t1")["status"], "cancelled");
    assert_eq!(
        run_status(&env, "cx"),
        "done",
        "every task is done or cancelled"
    );
}

#[test]
fn payload_only_answer_is_read_by_the_waiting_worker() {
    let env = Env::new();
    env.run_with_tasks("pay", &["t1"]);
    let thread = env.dispatch_analysis("pay", "t1");
    start(&env, "worker-a", &thread);
    block(&env, "worker-a", &thread, "Which option?");
    // The worker waits for its answer before the leader writes it.
    let waiter = spawn(
        &env,
        INBOX,
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "30"],
        Some("worker-a"),
    );
    pause();
    let blocked = env.orch(&["blocked", "--run", "pay"]);
    assert_eq!(
        blocked.data()["tasks"][0]["question"]["payload_json"]["question"],
        "Which option?"
    );
    env.orch(&[
        "answer",
        "--run",
        "pay",
        "--task",
        "t1",
        "--payload-json",
        r#"{"choice": "B", "why": "cheaper"}"#,
    ])
    .data();
    let out = finish(waiter);
    let data = out.data();
    assert_eq!(data["woke"], true);
    assert_eq!(data["message"]["kind"], "answer");
    assert_eq!(data["message"]["thread_id"], thread.as_str());
    assert_eq!(data["message"]["body"], "");
    assert_eq!(data["message"]["payload_json"]["choice"], "B");
    assert_eq!(data["message"]["payload_json"]["why"], "cheaper");
    assert!(data["next_event_id"].as_i64().unwrap() > 0);
    // The worker goes on with option B and finishes.
    progress(&env, "worker-a", &thread, "going with B");
    done(&env, "worker-a", &thread, "implemented B");
    assert_eq!(env.task_row("pay", "t1")["status"], "done");
    assert_eq!(run_status(&env, "pay"), "done");
}
