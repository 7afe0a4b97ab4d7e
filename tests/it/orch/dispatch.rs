//! `dispatch` in analysis and code mode (contract §8 worktrees, the dirty-repo rule).

use super::*;

// ---------------------------------------------------------------------------------------
// dispatch
// ---------------------------------------------------------------------------------------

#[test]
fn dispatch_creates_attempt_one_and_its_thread() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "analysis",
    ]);
    let data = out.data();
    assert_eq!(out.json["command"], "dispatch");
    assert_eq!(data["task"]["status"], "dispatched");
    assert_eq!(data["task"]["current_attempt"], 1);
    let attempt = &data["attempt"];
    assert_eq!(attempt["attempt_no"], 1);
    assert_eq!(attempt["assigned_to"], "worker-a");
    assert_eq!(attempt["execution_mode"], "analysis");
    let thread_id = text(&attempt["thread_id"]);
    assert!(!thread_id.is_empty());
    assert_eq!(data["thread"]["thread_id"], thread_id.as_str());
    assert_eq!(data["thread"]["assigned_to"], "worker-a");
    assert_eq!(data["thread"]["status"], "pending");
    assert_eq!(data["thread"]["run_id"], "r");
    assert_eq!(data["thread"]["task_id"], "t1");
    assert_eq!(data["message"]["kind"], "task");
    assert_eq!(data["message"]["thread_id"], thread_id.as_str());
    assert_eq!(data["message"]["to_agent"], "worker-a");
    assert_eq!(
        data["message"]["payload_json"]["execution_mode"],
        "analysis"
    );
    // The reference shape (contract §5): the workspace fields at the top level.
    let payload = &data["message"]["payload_json"];
    assert!(payload.get("workspace").is_none(), "{payload}");
    assert_eq!(payload["worktree_path"], "");
    // The worker sees it in its inbox.
    let fetched = env.inbox(Some("worker-a"), &["fetch"]);
    assert_eq!(
        ids(&fetched.data()["threads"], "thread_id"),
        vec![thread_id.clone()]
    );
    // Status shows the attempt.
    let row = env.task_row("r", "t1");
    assert_eq!(row["latest_attempt"]["attempt_no"], 1);
    assert_eq!(row["latest_attempt"]["thread_id"], thread_id.as_str());
    assert_eq!(row["latest_message"]["kind"], "task");
    // --to overrides the default worker.
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t2",
        "--default-to",
        "worker-a",
    ])
    .data();
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t2",
        "--execution-mode",
        "analysis",
        "--to",
        "worker-z",
    ]);
    assert_eq!(out.data()["attempt"]["assigned_to"], "worker-z");
    assert_eq!(out.data()["thread"]["assigned_to"], "worker-z");
}

#[test]
fn dispatch_refuses_a_task_that_is_not_ready_and_creates_no_attempt() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "t2",
        "--depends-on",
        "t1",
    ])
    .data();
    env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t2",
        "--execution-mode",
        "analysis",
    ])
    .error(30, "invalid_state");
    let row = env.task_row("r", "t2");
    assert_eq!(row["status"], "planned");
    assert!(
        row["latest_attempt"].is_null(),
        "an attempt was created: {row:#}"
    );
    assert_eq!(row["current_attempt"], 0);
    assert_eq!(
        env.inbox(None, &["list", "--run", "r", "--task", "t2"])
            .data()["threads"],
        serde_json::json!([])
    );
    // A task already dispatched is not ready either.
    env.dispatch_analysis("r", "t1");
    env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "analysis",
    ])
    .error(30, "invalid_state");
    assert_eq!(env.task_row("r", "t1")["latest_attempt"]["attempt_no"], 1);
    // Unknown run or task.
    env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "ghost",
        "--execution-mode",
        "analysis",
    ])
    .error(40, "not_found");
    env.orch(&[
        "dispatch",
        "--run",
        "nope",
        "--task",
        "t1",
        "--execution-mode",
        "analysis",
    ])
    .error(40, "not_found");
}

#[test]
fn dispatch_code_mode_creates_the_worktree_and_branch() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("run_1", &["t1"]);
    let data = dispatch_code(&env, &repo, "run_1", "t1");
    let attempt = &data["attempt"];
    let expected = top(&env, &repo).join(".orch/worktrees/run_1/t1/attempt-1");
    assert_eq!(attempt["execution_mode"], "code");
    assert_eq!(attempt["worktree_path"], expected.to_str().unwrap());
    assert_eq!(attempt["branch_name"], "orch/run-1/t1/attempt-1");
    assert_eq!(attempt["base_ref"], "HEAD");
    assert_eq!(attempt["base_commit"], head(&env, &repo).as_str());
    assert_eq!(attempt["workspace_status"], "created");
    assert!(expected.is_dir(), "worktree directory missing");
    assert!(
        expected.join("README.md").is_file(),
        "the worktree has the repository's files"
    );
    assert!(
        !branches(&env, &repo, "orch/run-1/t1/attempt-1").is_empty(),
        "branch missing"
    );
    assert_eq!(
        env.git(&expected, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "orch/run-1/t1/attempt-1"
    );
    let payload = &data["message"]["payload_json"];
    assert_eq!(payload["worktree_path"], expected.to_str().unwrap());
    assert_eq!(payload["branch_name"], "orch/run-1/t1/attempt-1");
    assert_eq!(
        env.task_row("run_1", "t1")["latest_attempt"]["worktree_path"],
        expected.to_str().unwrap()
    );
}

#[test]
fn dispatch_code_mode_refuses_a_dirty_repo_and_creates_nothing() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    std::fs::write(repo.join("README.md"), "changed\n").unwrap();
    let msg = env
        .orch(&[
            "dispatch",
            "--run",
            "r",
            "--task",
            "t1",
            "--execution-mode",
            "code",
            "--repo-path",
            repo.to_str().unwrap(),
        ])
        .error(30, "invalid_state");
    assert!(!msg.is_empty());
    let worktree = top(&env, &repo).join(".orch/worktrees/r/t1/attempt-1");
    assert!(!worktree.exists(), "a worktree was created");
    assert!(
        !repo.join(".orch/worktrees/r").exists(),
        "a worktree directory was created"
    );
    assert_eq!(branches(&env, &repo, "orch/*"), "", "a branch was created");
    let row = env.task_row("r", "t1");
    assert_eq!(row["status"], "ready");
    assert!(
        row["latest_attempt"].is_null(),
        "an attempt was created: {row:#}"
    );
    assert_eq!(
        env.inbox(None, &["list", "--run", "r"]).data()["threads"],
        serde_json::json!([])
    );
    // An explicit base ref on the dirty repository works.
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
        "--base-ref",
        "HEAD",
    ]);
    let attempt = &out.data()["attempt"];
    assert_eq!(attempt["attempt_no"], 1);
    assert_eq!(attempt["base_ref"], "HEAD");
    assert_eq!(attempt["base_commit"], head(&env, &repo).as_str());
    assert!(worktree.is_dir());
    assert_eq!(
        std::fs::read_to_string(worktree.join("README.md")).unwrap(),
        "hello\n"
    );
    assert!(!branches(&env, &repo, "orch/r/t1/attempt-1").is_empty());
}

#[test]
fn dispatch_without_execution_mode_is_invalid_input_naming_the_flag() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let msg = env
        .orch(&["dispatch", "--run", "r", "--task", "t1"])
        .error(30, "invalid_input");
    assert!(
        msg.contains("--execution-mode"),
        "message does not name the flag: {msg}"
    );
    env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "write",
    ])
    .error(30, "invalid_input");
    assert!(env.task_row("r", "t1")["latest_attempt"].is_null());
}

#[test]
fn dispatch_analysis_mode_has_empty_worktree_fields() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "analysis",
        "--repo-path",
        repo.to_str().unwrap(),
    ]);
    let attempt = &out.data()["attempt"];
    assert_eq!(attempt["execution_mode"], "analysis");
    assert_eq!(attempt["worktree_path"], "");
    assert_eq!(attempt["workspace_status"], "");
    assert_eq!(attempt["branch_name"], "");
    assert!(
        !repo.join(".orch").exists(),
        "analysis mode created a worktree root"
    );
    assert_eq!(branches(&env, &repo, "orch/*"), "");
    assert_eq!(
        env.task_row("r", "t1")["latest_attempt"]["worktree_path"],
        ""
    );
}

#[test]
fn dispatch_workspace_root_absolute_or_relative_to_the_repo() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1", "t2"]);
    let outside = env.path().join("elsewhere");
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
        "--workspace-root",
        outside.to_str().unwrap(),
    ]);
    let path = PathBuf::from(text(&out.data()["attempt"]["worktree_path"]));
    assert!(
        path.ends_with("elsewhere/r/t1/attempt-1"),
        "{}",
        path.display()
    );
    assert!(path.is_dir());
    assert!(!branches(&env, &repo, "orch/r/t1/attempt-1").is_empty());
    // A relative root is resolved against the repository top, not the current directory.
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t2",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
        "--workspace-root",
        "wt",
    ]);
    let expected = top(&env, &repo).join("wt/r/t2/attempt-1");
    assert_eq!(
        out.data()["attempt"]["worktree_path"],
        expected.to_str().unwrap()
    );
    assert!(expected.is_dir());
    assert!(!env.path().join("wt").exists());
}

#[test]
fn dispatch_code_with_the_default_repo_and_database_from_the_current_directory() {
    let env = Env::new();
    let repo = env.repo();
    let sub = repo.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    // No --db: the database is .orch/coord.db at the repository top; no --repo-path: cwd.
    let orch = |args: &[&str]| {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        env.raw(ORCH, &full, &sub, &[])
    };
    orch(&["run", "init", "--run", "r"]).data();
    orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t1",
        "--default-to",
        "worker-a",
    ])
    .data();
    orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t2",
        "--default-to",
        "worker-a",
    ])
    .data();
    assert!(
        repo.join(".orch/coord.db").is_file(),
        "the default database is at the repository top"
    );
    // orch's own state does not make the repository dirty.
    let out = orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "code",
    ]);
    let expected = top(&env, &repo).join(".orch/worktrees/r/t1/attempt-1");
    assert_eq!(
        out.data()["attempt"]["worktree_path"],
        expected.to_str().unwrap()
    );
    assert!(expected.is_dir());
    // Neither do the worktrees it made: a second dispatch from HEAD works.
    let out = orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t2",
        "--execution-mode",
        "code",
    ]);
    assert_eq!(out.data()["attempt"]["base_ref"], "HEAD");
    assert_eq!(
        env.git(&repo, &["status", "--porcelain"]),
        "",
        "orch made the repository dirty"
    );
}

#[test]
fn dispatch_code_mode_counts_an_untracked_file_as_dirty() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    std::fs::write(repo.join("new.txt"), "untracked\n").unwrap();
    env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
    ])
    .error(30, "invalid_state");
    assert!(env.task_row("r", "t1")["latest_attempt"].is_null());
    assert_eq!(branches(&env, &repo, "orch/*"), "");
}

#[test]
fn dispatch_without_any_worker_is_refused() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&["task", "add", "--run", "r", "--task", "t1"])
        .data();
    // No --to and no default worker: the implementation calls this invalid_input.
    env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "analysis",
    ])
    .error(30, "invalid_input");
    assert!(env.task_row("r", "t1")["latest_attempt"].is_null());
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "t1",
        "--execution-mode",
        "analysis",
        "--to",
        "w",
    ]);
    assert_eq!(out.data()["attempt"]["assigned_to"], "w");
}

/// A dispatch killed between `git worktree add` and recording the attempt leaves a
/// worktree and branch no attempt owns: the next dispatch clears them when they hold no
/// work, and refuses (deleting nothing) when they do.
#[test]
fn dispatch_clears_the_pristine_leftover_of_an_interrupted_dispatch_and_keeps_one_with_work() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("run_1", &["t1", "t2"]);
    let root = top(&env, &repo).join(".orch/worktrees/run_1");
    let base = head(&env, &repo);
    // t1: a pristine leftover at the base commit.
    let leftover = root.join("t1/attempt-1");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "orch/run-1/t1/attempt-1",
            leftover.to_str().unwrap(),
            &base,
        ],
    );
    let data = dispatch_code(&env, &repo, "run_1", "t1");
    assert_eq!(data["attempt"]["worktree_path"], leftover.to_str().unwrap());
    assert_eq!(data["attempt"]["base_commit"], base.as_str());
    // t2: a leftover holding a commit of its own is never deleted.
    let kept = root.join("t2/attempt-1");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "orch/run-1/t2/attempt-1",
            kept.to_str().unwrap(),
            &base,
        ],
    );
    std::fs::write(kept.join("work.txt"), "work\n").unwrap();
    env.git(&kept, &["add", "work.txt"]);
    env.git(&kept, &["commit", "-q", "-m", "work"]);
    let refused = env.orch(&[
        "dispatch",
        "--run",
        "run_1",
        "--task",
        "t2",
        "--execution-mode",
        "code",
        "--repo-path",
        repo.to_str().unwrap(),
    ]);
    let message = refused.error(30, "invalid_state");
    assert!(message.contains("already exists"), "{message}");
    assert!(kept.join("work.txt").is_file());
    assert_eq!(env.git(&kept, &["log", "-1", "--format=%s"]), "work");
}
