//! The leader loop after dispatch: `status`, `blocked`, `answer`, `retry`, `reassign`, `cancel`.

use super::*;

// ---------------------------------------------------------------------------------------
// status, blocked, answer
// ---------------------------------------------------------------------------------------

#[test]
fn status_reconciles_and_shows_a_blocked_task_with_its_question() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    ask(&env, "worker-a", &thread, "Which database should I use?");
    // No reconcile: status does it.
    let out = env.orch(&["status", "--run", "r"]);
    let data = out.data();
    assert_eq!(out.json["command"], "status");
    assert_eq!(data["run"]["run_id"], "r");
    assert_eq!(data["run"]["status"], "blocked");
    assert_eq!(data["run"]["counts"]["blocked"], 1);
    let t1 = data["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "t1")
        .unwrap();
    assert_eq!(t1["status"], "blocked");
    assert_eq!(t1["latest_attempt"]["attempt_no"], 1);
    assert_eq!(t1["latest_attempt"]["thread_id"], thread.as_str());
    assert_eq!(t1["latest_attempt"]["status"], "blocked");
    assert_eq!(t1["latest_attempt"]["assigned_to"], "worker-a");
    assert_eq!(t1["latest_message"]["kind"], "question");
    assert_eq!(
        t1["latest_message"]["summary"],
        "Which database should I use?"
    );
    assert_eq!(
        t1["blocked_question"]["summary"],
        "Which database should I use?"
    );
    assert_eq!(
        t1["blocked_question"]["payload_json"]["question"],
        "Which database should I use?"
    );
    let t2 = data["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "t2")
        .unwrap();
    assert_eq!(t2["status"], "ready");
    assert!(t2["latest_attempt"].is_null());
    assert!(t2["blocked_question"].is_null());
    env.orch(&["status", "--run", "nope"])
        .error(40, "not_found");
}

#[test]
fn blocked_shows_the_newest_question() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    ask(&env, "worker-a", &thread, "first question");
    ask(&env, "worker-a", &thread, "second question");
    let out = env.orch(&["blocked", "--run", "r"]);
    let tasks = out.data()["tasks"].as_array().unwrap().clone();
    assert_eq!(out.json["command"], "blocked");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["task"]["task_id"], "t1");
    assert_eq!(tasks[0]["attempt"]["thread_id"], thread.as_str());
    assert_eq!(tasks[0]["question"]["kind"], "question");
    assert_eq!(tasks[0]["question"]["summary"], "second question");
    assert_eq!(
        env.task_row("r", "t1")["blocked_question"]["summary"],
        "second question"
    );
}

#[test]
fn answer_accepts_a_payload_only_and_refuses_an_empty_answer() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    ask(&env, "worker-a", &thread, "A or B?");
    env.orch(&["answer", "--run", "r", "--task", "t1"])
        .error(30, "invalid_input");
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--summary",
        "only a summary",
    ])
    .error(30, "invalid_input");
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--payload-json",
        "{}",
    ])
    .error(30, "invalid_input");
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--payload-json",
        "{bad",
    ])
    .error(30, "invalid_input");
    let out = env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--payload-json",
        r#"{"choice":"B"}"#,
    ]);
    let data = out.data();
    assert_eq!(out.json["command"], "answer");
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
    assert_eq!(data["message"]["kind"], "answer");
    assert_eq!(data["message"]["payload_json"]["choice"], "B");
    assert_eq!(data["message"]["to_agent"], "worker-a");
    let shown = env.inbox(None, &["show", "--thread", &thread]);
    let last = shown.data()["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "answer");
    assert_eq!(last["payload_json"]["choice"], "B");
    // A body alone is fine too.
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--body",
        "B, definitely",
    ])
    .data();
    // No active attempt: never dispatched, or finished.
    env.orch(&["answer", "--run", "r", "--task", "t2", "--body", "x"])
        .error(30, "invalid_state");
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", &thread, "--summary", "ok"],
    )
    .data();
    env.orch(&["answer", "--run", "r", "--task", "t1", "--body", "late"])
        .error(30, "invalid_state");
    env.orch(&["answer", "--run", "r", "--task", "ghost", "--body", "x"])
        .error(40, "not_found");
}

// ---------------------------------------------------------------------------------------
// retry, reassign, cancel
// ---------------------------------------------------------------------------------------

#[test]
fn retry_after_a_failure_makes_attempt_two_with_a_new_worktree() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let first = dispatch_code(&env, &repo, "r", "t1");
    let first_thread = text(&first["attempt"]["thread_id"]);
    // Retry before the failure is refused.
    env.orch(&["retry", "--run", "r", "--task", "t1"])
        .error(30, "invalid_state");
    work_fail(&env, "worker-a", &first_thread);
    // retry does not reconcile by itself (the contract does not say it does): fold first.
    let out = env.orch(&["reconcile", "--run", "r"]);
    assert_eq!(updated(&out), vec![pair("t1", "failed")]);
    let out = env.orch(&["retry", "--run", "r", "--task", "t1"]);
    let data = out.data();
    assert_eq!(out.json["command"], "retry");
    // The reference shape (contract §5): the previous attempt's object.
    let previous = &data["previous_attempt"];
    assert_eq!(previous["attempt_no"], 1);
    assert_eq!(previous["thread_id"], first_thread.as_str());
    assert_eq!(previous["status"], "failed");
    assert_eq!(previous["assigned_to"], "worker-a");
    assert_eq!(data["task"]["status"], "dispatched");
    assert_eq!(data["attempt"]["attempt_no"], 2);
    assert_eq!(data["attempt"]["assigned_to"], "worker-a");
    assert_eq!(data["attempt"]["execution_mode"], "code");
    let second_thread = text(&data["attempt"]["thread_id"]);
    assert_ne!(second_thread, first_thread);
    assert_eq!(data["thread"]["thread_id"], second_thread.as_str());
    assert_eq!(data["thread"]["status"], "pending");
    let expected = top(&env, &repo).join(".orch/worktrees/r/t1/attempt-2");
    assert_eq!(data["attempt"]["worktree_path"], expected.to_str().unwrap());
    assert_eq!(data["attempt"]["branch_name"], "orch/r/t1/attempt-2");
    assert!(expected.is_dir(), "the new worktree does not exist");
    assert!(!branches(&env, &repo, "orch/r/t1/attempt-2").is_empty());
    assert_eq!(thread_status(&env, &first_thread), "failed");
    let row = env.task_row("r", "t1");
    assert_eq!(row["latest_attempt"]["attempt_no"], 2);
    assert_eq!(row["latest_attempt"]["thread_id"], second_thread.as_str());
    // The second attempt can finish the task.
    work_done(&env, "worker-a", &second_thread);
    assert_eq!(env.task_row("r", "t1")["status"], "done");
    env.orch(&["retry", "--run", "r", "--task", "t1"])
        .error(30, "invalid_state");
}

#[test]
fn retry_refuses_tasks_that_did_not_fail() {
    let env = Env::new();
    env.run_with_tasks("r", &["ready", "running"]);
    env.orch(&["retry", "--run", "r", "--task", "ready"])
        .error(30, "invalid_state");
    let thread = env.dispatch_analysis("r", "running");
    env.orch(&["retry", "--run", "r", "--task", "running"])
        .error(30, "invalid_state");
    claim(&env, "worker-a", &thread);
    env.orch(&["retry", "--run", "r", "--task", "running"])
        .error(30, "invalid_state");
    assert_eq!(
        env.task_row("r", "running")["latest_attempt"]["attempt_no"],
        1
    );
    env.orch(&["retry", "--run", "r", "--task", "ghost"])
        .error(40, "not_found");
}

#[test]
fn reassign_a_blocked_task_to_another_worker() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let old = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &old);
    ask(&env, "worker-a", &old, "stuck");
    assert_eq!(env.task_row("r", "t1")["status"], "blocked");
    let out = env.orch(&[
        "reassign",
        "--run",
        "r",
        "--task",
        "t1",
        "--to",
        "worker-b",
        "--reason",
        "a needs help",
    ]);
    let data = out.data();
    assert_eq!(out.json["command"], "reassign");
    let previous = &data["previous_attempt"];
    assert_eq!(previous["attempt_no"], 1);
    assert_eq!(previous["thread_id"], old.as_str());
    assert_eq!(previous["assigned_to"], "worker-a");
    assert_eq!(
        previous["status"], "cancelled",
        "as it is after the reassign"
    );
    assert_eq!(data["attempt"]["attempt_no"], 2);
    assert_eq!(data["attempt"]["assigned_to"], "worker-b");
    assert_eq!(data["thread"]["assigned_to"], "worker-b");
    let new = text(&data["attempt"]["thread_id"]);
    assert_ne!(new, old);
    assert_eq!(thread_status(&env, &old), "cancelled");
    // The old worker can no longer finish its thread.
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", &old, "--summary", "x"],
    )
    .error(30, "invalid_state");
    // worker-b finishes.
    work_done(&env, "worker-b", &new);
    let row = env.task_row("r", "t1");
    assert_eq!(row["status"], "done");
    assert_eq!(row["latest_attempt"]["assigned_to"], "worker-b");
    assert_eq!(row["latest_attempt"]["status"], "done");
    // --to is required; a done task cannot be reassigned.
    env.orch(&["reassign", "--run", "r", "--task", "t1"])
        .error(30, "invalid_input");
    env.orch(&["reassign", "--run", "r", "--task", "t1", "--to", "worker-c"])
        .error(30, "invalid_state");
}

#[test]
fn cancel_one_task_leaves_the_others_alone() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    let out = env.orch(&[
        "cancel",
        "--run",
        "r",
        "--task",
        "t1",
        "--reason",
        "not needed",
    ]);
    assert_eq!(out.json["command"], "cancel");
    assert_eq!(out.data()["task"]["status"], "cancelled");
    assert_eq!(thread_status(&env, &thread), "cancelled");
    let row = env.task_row("r", "t1");
    assert_eq!(row["status"], "cancelled");
    assert_eq!(row["latest_attempt"]["status"], "cancelled");
    assert_eq!(env.task_row("r", "t2")["status"], "ready");
    assert_eq!(ready(&env, "r"), vec!["t2"]);
    assert_eq!(status(&env, "r")["run"]["status"], "active");
    // Cancelling it again is refused: it is terminal.
    env.orch(&["cancel", "--run", "r", "--task", "t1"])
        .error(30, "invalid_state");
    env.orch(&["cancel", "--run", "r", "--task", "ghost"])
        .error(40, "not_found");
}

#[test]
fn cancel_the_whole_run() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2", "t3"]);
    let thread = env.dispatch_analysis("r", "t1");
    let done = env.dispatch_analysis("r", "t3");
    work_done(&env, "worker-a", &done);
    env.orch(&["reconcile", "--run", "r"]).data();
    let out = env.orch(&["cancel", "--run", "r"]);
    assert_eq!(out.data()["run"]["status"], "cancelled");
    let data = status(&env, "r");
    assert_eq!(data["run"]["status"], "cancelled");
    assert_eq!(env.task_row("r", "t1")["status"], "cancelled");
    assert_eq!(env.task_row("r", "t2")["status"], "cancelled");
    assert_eq!(
        env.task_row("r", "t3")["status"],
        "done",
        "a finished task stays done"
    );
    assert_eq!(thread_status(&env, &thread), "cancelled");
    assert!(ready(&env, "r").is_empty());
    env.orch(&["cancel", "--run", "nope"])
        .error(40, "not_found");
}

#[test]
fn answer_and_dispatch_write_their_events() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    ask(&env, "worker-a", &thread, "q");
    env.orch(&["answer", "--run", "r", "--task", "t1", "--body", "a"])
        .data();
    for event in ["task_added", "task_dispatched", "task_answered"] {
        let out = env.orch(&[
            "wait",
            "--run",
            "r",
            "--for",
            event,
            "--after-event",
            "0",
            "--timeout-seconds",
            "2",
        ]);
        assert_eq!(out.data()["event"]["task_id"], "t1", "{event}");
        assert_eq!(out.data()["event"]["run_id"], "r", "{event}");
    }
}

#[test]
fn reassign_works_for_running_and_failed_tasks_too() {
    let env = Env::new();
    env.run_with_tasks("r", &["run1", "fail1"]);
    let running = env.dispatch_analysis("r", "run1");
    claim(&env, "worker-a", &running);
    let failing = env.dispatch_analysis("r", "fail1");
    work_fail(&env, "worker-a", &failing);
    env.orch(&["reconcile", "--run", "r"]).data();
    let out = env.orch(&[
        "reassign", "--run", "r", "--task", "run1", "--to", "worker-b",
    ]);
    assert_eq!(out.data()["attempt"]["attempt_no"], 2);
    assert_eq!(thread_status(&env, &running), "cancelled");
    let out = env.orch(&[
        "reassign", "--run", "r", "--task", "fail1", "--to", "worker-b",
    ]);
    assert_eq!(out.data()["attempt"]["attempt_no"], 2);
    assert_eq!(out.data()["attempt"]["assigned_to"], "worker-b");
    assert_eq!(
        thread_status(&env, &failing),
        "failed",
        "a finished thread keeps its status"
    );
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "fresh",
        "--default-to",
        "worker-a",
    ])
    .data();
    env.orch(&[
        "reassign", "--run", "r", "--task", "fresh", "--to", "worker-b",
    ])
    .error(30, "invalid_state");
}

#[test]
fn run_status_is_failed_when_a_task_failed_and_nothing_is_active() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    let t1 = env.dispatch_analysis("r", "t1");
    work_fail(&env, "worker-a", &t1);
    assert_eq!(
        status(&env, "r")["run"]["status"],
        "active",
        "t2 is still ready"
    );
    env.orch(&["cancel", "--run", "r", "--task", "t2"]).data();
    assert_eq!(status(&env, "r")["run"]["status"], "failed");
}

#[test]
fn an_answer_meant_for_an_older_attempt_is_refused() {
    let env = Env::new();
    env.run_with_tasks("r", &["t"]);
    let first = env.dispatch_analysis("r", "t");
    env.inbox(Some("worker-a"), &["claim", "--thread", &first])
        .data();
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &first,
            "--status",
            "blocked",
            "--summary",
            "Which way?",
        ],
    )
    .data();
    env.orch(&["reassign", "--run", "r", "--task", "t", "--to", "worker-b"])
        .data();
    let message = env
        .orch(&[
            "answer",
            "--run",
            "r",
            "--task",
            "t",
            "--attempt",
            "1",
            "--body",
            "left",
        ])
        .error(30, "invalid_state");
    assert!(
        message.contains("attempt 1") && message.contains("attempt 2"),
        "{message}"
    );
    // Meant for the current attempt, it goes through.
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t",
        "--attempt",
        "2",
        "--body",
        "left",
    ])
    .data();
}

/// `status` reads its rows a page at a time: every task, once, in creation order,
/// across page boundaries (and an empty run gives an empty list).
#[test]
fn status_lists_every_task_once_in_creation_order_across_pages() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "empty", "--goal", "g"]);
    assert_eq!(status(&env, "empty")["tasks"], serde_json::json!([]));

    let mut plan = String::from("[run]\nid = \"many\"\ngoal = \"g\"\n");
    let ids: Vec<String> = (0..401).map(|i| format!("t{:03}", (i * 7) % 401)).collect();
    for id in &ids {
        plan.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\ntitle = \"task {id}\"\n"
        ));
    }
    let file = write(&env, "many.toml", &plan);
    apply(&env, &file);
    let data = status(&env, "many");
    let listed: Vec<String> = data["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| text(&t["task_id"]))
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(data["run"]["counts"]["total"], 401);
}
