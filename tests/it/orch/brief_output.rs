//! The worker brief (contract §9) and human (non-JSON) output.

use super::*;

// ---------------------------------------------------------------------------------------
// brief
// ---------------------------------------------------------------------------------------

/// `orch brief` is the brief the worker gets: with the rule its adapter adds at its
/// permission level (codex's sandbox cannot commit: orch commits for it).
#[test]
fn brief_carries_the_workers_adapter_rule() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    for (task, worker) in [("t1", "codex"), ("t2", "claude")] {
        env.orch(&[
            "task",
            "add",
            "--run",
            "r",
            "--task",
            task,
            "--default-to",
            worker,
        ])
        .data();
        dispatch_code(&env, &repo, "r", task);
    }
    let brief =
        |task: &str| text(&env.orch(&["brief", "--run", "r", "--task", task]).data()["brief"]);
    assert!(
        brief("t1").contains("orch commits them on your branch"),
        "{}",
        brief("t1")
    );
    assert!(!brief("t2").contains("orch commits"), "{}", brief("t2"));
}

#[test]
fn brief_names_the_facts_and_the_inbox_workflow() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t1",
        "--title",
        "Add a feature",
        "--body",
        "Write the code.",
        "--default-to",
        "worker-a",
    ])
    .data();
    let data = dispatch_code(&env, &repo, "r", "t1");
    let thread = text(&data["attempt"]["thread_id"]);
    let worktree = text(&data["attempt"]["worktree_path"]);
    let out = env.orch(&["brief", "--run", "r", "--task", "t1"]);
    let brief = text(&out.data()["brief"]);
    assert_eq!(out.json["command"], "brief");
    for needle in [
        "r",
        "t1",
        &thread,
        "code",
        &worktree,
        "worker-a",
        "Add a feature",
        "Write the code.",
        "inbox show",
        "inbox claim",
        "inbox update",
        "inbox wait-reply",
        "inbox done",
        "inbox fail",
    ] {
        assert!(brief.contains(needle), "brief lacks {needle:?}:\n{brief}");
    }
    assert!(
        brief.contains("attempt: 1") || brief.contains("attempt 1"),
        "{brief}"
    );
    // The human rendering is the same text.
    let db = env.db.to_str().unwrap().to_string();
    let human = env.raw(
        ORCH,
        &["--db", &db, "brief", "--run", "r", "--task", "t1"],
        env.path(),
        &[],
    );
    assert_eq!(human.code, 0, "{human:#?}");
    assert_eq!(human.stdout.trim_end(), brief.trim_end());
    // Errors.
    env.orch(&["brief", "--run", "r", "--task", "ghost"])
        .error(40, "not_found");
    env.orch(&["brief", "--run", "r", "--task", "t1", "--attempt", "9"])
        .error(40, "not_found");
}

#[test]
fn brief_of_an_analysis_attempt_names_its_mode() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    let out = env.orch(&["brief", "--run", "r", "--task", "t1", "--attempt", "1"]);
    let brief = text(&out.data()["brief"]);
    assert_eq!(out.data()["attempt_no"], 1);
    assert!(brief.contains(&thread));
    assert!(brief.contains("analysis"));
}

// ---------------------------------------------------------------------------------------
// human output
// ---------------------------------------------------------------------------------------

#[test]
fn human_status_is_a_table_and_errors_go_to_stderr() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    env.dispatch_analysis("r", "t1");
    let db = env.db.to_str().unwrap().to_string();
    let out = env.raw(
        ORCH,
        &["--db", &db, "status", "--run", "r"],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let header = out
        .stdout
        .lines()
        .find(|l| l.contains("TASK"))
        .unwrap_or_else(|| panic!("no table header: {}", out.stdout));
    assert!(header.contains("STATUS"), "{header}");
    assert!(out.stdout.contains("t1") && out.stdout.contains("t2"));
    assert!(out.stdout.contains("dispatched") && out.stdout.contains("ready"));
    assert!(!out.stdout.contains("\"ok\""), "human output is not JSON");
    assert!(!out.stdout.contains('\x1b'), "no colour off a terminal");
    // Errors: one sentence on stderr, nothing on stdout, the same exit codes as --json.
    let out = env.raw(
        ORCH,
        &["--db", &db, "status", "--run", "nope"],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 40);
    assert!(out.stdout.trim().is_empty(), "{out:#?}");
    assert!(!out.stderr.trim().is_empty());
    let out = env.raw(
        ORCH,
        &["--db", &db, "run", "init", "--run", "r"],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 30);
    assert!(!out.stderr.trim().is_empty());
    let out = env.raw(
        ORCH,
        &["--db", &db, "dispatch", "--run", "r", "--task", "t2"],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 30);
    assert!(out.stderr.contains("--execution-mode"), "{out:#?}");
    let out = env.raw(
        ORCH,
        &["--db", &db, "wait", "--run", "r", "--timeout-seconds", "1"],
        env.path(),
        &[],
    );
    assert_eq!(out.code, 10);
}

#[test]
fn help_version_and_orch_inbox() {
    let env = Env::new();
    for args in [&["--help"][..], &["--version"], &["dispatch", "--help"]] {
        let out = env.raw(ORCH, args, env.path(), &[]);
        assert_eq!(out.code, 0, "{args:?}: {out:#?}");
        assert!(!out.stdout.is_empty());
    }
    // `orch inbox <verb>` is the inbox binary's verb.
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    let out = env.orch(&["--agent", "worker-a", "inbox", "claim", "--thread", &thread]);
    assert_eq!(out.data()["thread"]["status"], "claimed");
    env.inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    assert_eq!(env.task_row("r", "t1")["status"], "running");
}
