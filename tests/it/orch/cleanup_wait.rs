//! `cleanup` of worktrees and the blocking `wait`.

use super::*;

// ---------------------------------------------------------------------------------------
// cleanup
// ---------------------------------------------------------------------------------------

#[test]
fn cleanup_removes_a_done_worktree_and_keeps_its_branch() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let data = dispatch_code(&env, &repo, "r", "t1");
    let path = PathBuf::from(text(&data["attempt"]["worktree_path"]));
    let thread = text(&data["attempt"]["thread_id"]);
    assert!(path.is_dir());
    // Not finished yet: not cleaned. The contract only says cleanup works on terminal
    // tasks; naming an unfinished task is invalid_state in the implementation.
    env.orch(&["cleanup", "--run", "r", "--task", "t1"])
        .error(30, "invalid_state");
    assert!(path.is_dir());
    work_done(&env, "worker-a", &thread);
    env.orch(&["reconcile", "--run", "r"]).data();
    let out = env.orch(&["cleanup", "--run", "r", "--task", "t1"]);
    let cleaned = out.data()["cleaned"].as_array().unwrap().clone();
    assert_eq!(out.json["command"], "cleanup");
    assert_eq!(cleaned.len(), 1);
    assert_eq!(cleaned[0]["task_id"], "t1");
    assert_eq!(cleaned[0]["attempt_no"], 1);
    assert_eq!(cleaned[0]["workspace_status"], "cleaned");
    assert!(!path.exists(), "the worktree directory is still there");
    assert!(
        !branches(&env, &repo, "orch/r/t1/attempt-1").is_empty(),
        "the branch was deleted"
    );
    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(
        !listed.contains(path.to_str().unwrap()),
        "git still lists the worktree: {listed}"
    );
    // Nothing left to clean: exit 10.
    env.orch(&["cleanup", "--run", "r", "--task", "t1"])
        .error(10, "no_matching_work");
}

#[test]
fn cleanup_selector_errors_and_no_match() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1", "t2"]);
    env.orch(&["cleanup", "--run", "r", "--attempt", "1"])
        .error(30, "invalid_input");
    env.orch(&["cleanup", "--run", "r"])
        .error(30, "invalid_input");
    // Nothing finished: nothing matches.
    env.orch(&["cleanup", "--run", "r", "--all-completed"])
        .error(10, "no_matching_work");
    let data = dispatch_code(&env, &repo, "r", "t1");
    env.orch(&["cleanup", "--run", "r", "--all-completed"])
        .error(10, "no_matching_work");
    assert!(Path::new(&text(&data["attempt"]["worktree_path"])).is_dir());
    // An analysis task that is done has no worktree to clean.
    let thread = env.dispatch_analysis("r", "t2");
    work_done(&env, "worker-a", &thread);
    env.orch(&["reconcile", "--run", "r"]).data();
    env.orch(&["cleanup", "--run", "r", "--task", "t2"])
        .error(10, "no_matching_work");
    env.orch(&["cleanup", "--run", "r", "--all-completed"])
        .error(10, "no_matching_work");
    env.orch(&["cleanup", "--run", "r", "--task", "ghost"])
        .error(40, "not_found");
    env.orch(&["cleanup", "--run", "nope", "--all-completed"])
        .error(40, "not_found");
}

#[test]
fn cleanup_all_completed_cleans_several() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1", "t2", "t3"]);
    let mut paths = Vec::new();
    for task in ["t1", "t2", "t3"] {
        let data = dispatch_code(&env, &repo, "r", task);
        paths.push(PathBuf::from(text(&data["attempt"]["worktree_path"])));
        let thread = text(&data["attempt"]["thread_id"]);
        if task != "t3" {
            work_done(&env, "worker-a", &thread);
        }
    }
    env.orch(&["reconcile", "--run", "r"]).data();
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed"]);
    let mut cleaned = ids(&out.data()["cleaned"], "task_id");
    cleaned.sort();
    assert_eq!(cleaned, vec!["t1", "t2"]);
    assert!(!paths[0].exists());
    assert!(!paths[1].exists());
    assert!(
        paths[2].is_dir(),
        "the unfinished task's worktree was removed"
    );
    for task in ["t1", "t2", "t3"] {
        assert!(!branches(&env, &repo, &format!("orch/r/{task}/attempt-1")).is_empty());
    }
}

#[test]
fn cleanup_refuses_uncommitted_changes_without_force() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let data = dispatch_code(&env, &repo, "r", "t1");
    let path = PathBuf::from(text(&data["attempt"]["worktree_path"]));
    std::fs::write(path.join("notes.txt"), "not committed\n").unwrap();
    work_done(&env, "worker-a", &text(&data["attempt"]["thread_id"]));
    env.orch(&["reconcile", "--run", "r"]).data();
    // The contract says "refused, not deleted"; the implementation refuses with
    // invalid_state when every candidate was refused.
    env.orch(&["cleanup", "--run", "r", "--task", "t1"])
        .error(30, "invalid_state");
    assert!(
        path.join("notes.txt").is_file(),
        "the uncommitted file is gone"
    );
    let out = env.orch(&["cleanup", "--run", "r", "--task", "t1", "--force"]);
    assert_eq!(ids(&out.data()["cleaned"], "task_id"), vec!["t1"]);
    assert!(!path.exists());
    assert!(!branches(&env, &repo, "orch/r/t1/attempt-1").is_empty());
}

#[test]
fn cleanup_marks_the_attempt_cleaned() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let data = dispatch_code(&env, &repo, "r", "t1");
    let thread = text(&data["attempt"]["thread_id"]);
    work_fail(&env, "worker-a", &thread);
    env.orch(&["reconcile", "--run", "r"]).data();
    env.orch(&["cleanup", "--run", "r", "--task", "t1", "--attempt", "1"])
        .data();
    // The attempt record says so: a retry reports the previous attempt's workspace via
    // `cleanup` again (nothing left) and the brief of attempt 1 still names it.
    env.orch(&["cleanup", "--run", "r", "--task", "t1", "--attempt", "1"])
        .error(10, "no_matching_work");
    env.orch(&["cleanup", "--run", "r", "--task", "t1", "--attempt", "7"])
        .error(40, "not_found");
    // A retry works after the previous worktree was cleaned and makes a fresh one.
    let retry = env.orch(&["retry", "--run", "r", "--task", "t1"]);
    let path = PathBuf::from(text(&retry.data()["attempt"]["worktree_path"]));
    assert_eq!(retry.data()["attempt"]["workspace_status"], "created");
    assert!(path.is_dir());
}

// ---------------------------------------------------------------------------------------
// wait
// ---------------------------------------------------------------------------------------

#[test]
fn wait_wakes_on_task_blocked_when_a_worker_blocks() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    let waiter = spawn(
        &env,
        ORCH,
        &[
            "wait",
            "--run",
            "r",
            "--for",
            "task_blocked",
            "--timeout-seconds",
            "30",
        ],
        None,
    );
    pause();
    claim(&env, "worker-a", &thread);
    ask(&env, "worker-a", &thread, "need input");
    let out = finish(waiter);
    let data = out.data();
    assert_eq!(out.json["command"], "wait");
    assert_eq!(data["woke"], true);
    assert_eq!(data["event"]["event_type"], "task_blocked");
    assert_eq!(data["event"]["task_id"], "t1");
    assert_eq!(data["next_event_id"], data["event"]["event_id"]);
}

#[test]
fn wait_times_out_with_exit_10() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    env.orch(&["wait", "--run", "r", "--timeout-seconds", "1"])
        .error(10, "no_matching_work");
    env.orch(&["wait", "--run", "nope", "--timeout-seconds", "1"])
        .error(40, "not_found");
}

#[test]
fn wait_for_filters_event_types() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    let waiter = spawn(
        &env,
        ORCH,
        &[
            "wait",
            "--run",
            "r",
            "--for",
            "task_done",
            "--timeout-seconds",
            "30",
        ],
        None,
    );
    pause();
    claim(&env, "worker-a", &thread);
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "going",
        ],
    )
    .data();
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", &thread, "--summary", "ok"],
    )
    .data();
    let out = finish(waiter);
    assert_eq!(out.data()["event"]["event_type"], "task_done");
    assert_eq!(out.data()["event"]["task_id"], "t1");
    // From the start of history, --for picks the first event of that type only.
    let out = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_dispatched,task_done",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    let first = out.data().clone();
    assert_eq!(first["event"]["event_type"], "task_dispatched");
    let cursor = first["next_event_id"].as_i64().unwrap().to_string();
    let out = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_dispatched,task_done",
        "--after-event",
        &cursor,
        "--timeout-seconds",
        "5",
    ]);
    assert_eq!(out.data()["event"]["event_type"], "task_done");
    let cursor = out.data()["next_event_id"].as_i64().unwrap().to_string();
    env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_dispatched,task_done",
        "--after-event",
        &cursor,
        "--timeout-seconds",
        "1",
    ])
    .error(10, "no_matching_work");
}

#[test]
fn cleanup_of_a_worktree_already_removed_by_hand_marks_it_cleaned() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let data = dispatch_code(&env, &repo, "r", "t1");
    let path = PathBuf::from(text(&data["attempt"]["worktree_path"]));
    work_done(&env, "worker-a", &text(&data["attempt"]["thread_id"]));
    env.orch(&["reconcile", "--run", "r"]).data();
    std::fs::remove_dir_all(&path).unwrap();
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed"]);
    assert_eq!(out.data()["cleaned"][0]["workspace_status"], "cleaned");
    env.orch(&["cleanup", "--run", "r", "--all-completed"])
        .error(10, "no_matching_work");
}

#[test]
fn cleanup_keeps_a_dirty_worktree_and_removes_the_clean_ones() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["clean", "dirty"]);
    let mut paths = Vec::new();
    for task in ["clean", "dirty"] {
        let data = dispatch_code(&env, &repo, "r", task);
        paths.push(PathBuf::from(text(&data["attempt"]["worktree_path"])));
        work_done(&env, "worker-a", &text(&data["attempt"]["thread_id"]));
    }
    std::fs::write(paths[1].join("README.md"), "edited, not committed\n").unwrap();
    env.orch(&["reconcile", "--run", "r"]).data();
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed"]);
    assert_eq!(ids(&out.data()["cleaned"], "task_id"), vec!["clean"]);
    assert_eq!(ids(&out.data()["refused"], "task_id"), vec!["dirty"]);
    assert!(!paths[0].exists());
    assert!(
        paths[1].is_dir(),
        "a worktree with uncommitted changes was removed"
    );
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed", "--force"]);
    assert_eq!(ids(&out.data()["cleaned"], "task_id"), vec!["dirty"]);
    assert!(!paths[1].exists());
}
