//! Runs, tasks and dependencies: `run init/show`, `task add`, `dep add`.

use super::*;

// ---------------------------------------------------------------------------------------
// run init / run show
// ---------------------------------------------------------------------------------------

#[test]
fn run_init_creates_a_run_and_refuses_a_duplicate() {
    let env = Env::new();
    let out = env.orch(&[
        "run",
        "init",
        "--run",
        "r1",
        "--goal",
        "ship it",
        "--summary",
        "s",
    ]);
    let data = out.data();
    assert_eq!(out.json["command"], "init");
    assert_eq!(data["run"]["run_id"], "r1");
    assert_eq!(data["run"]["goal"], "ship it");
    assert_eq!(data["run"]["status"], "active");
    assert_eq!(data["run"]["counts"]["total"], 0);
    env.orch(&["run", "init", "--run", "r1"])
        .error(30, "invalid_state");
}

#[test]
fn run_init_refuses_ids_that_could_escape() {
    let env = Env::new();
    for bad in ["../x", "a/b", "-x", ".."] {
        env.orch(&["run", "init", "--run", bad])
            .error(30, "invalid_input");
    }
    env.orch(&["run", "show", "--run", "../x"])
        .error(40, "not_found");
}

#[test]
fn run_show_counts_tasks_by_status_and_unknown_is_not_found() {
    let env = Env::new();
    env.run_with_tasks("r", &["a", "b", "c"]);
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "c",
        "--depends-on",
        "a",
    ])
    .data();
    env.dispatch_analysis("r", "b");
    let out = env.orch(&["run", "show", "--run", "r"]);
    let run = &out.data()["run"];
    assert_eq!(out.json["command"], "show");
    assert_eq!(run["run_id"], "r");
    assert_eq!(run["goal"], "test goal");
    assert_eq!(run["status"], "active");
    assert_eq!(run["counts"]["total"], 3);
    assert_eq!(run["counts"]["ready"], 1);
    assert_eq!(run["counts"]["planned"], 1);
    assert_eq!(run["counts"]["dispatched"], 1);
    assert_eq!(run["counts"]["done"], 0);
    env.orch(&["run", "show", "--run", "nope"])
        .error(40, "not_found");
}

// ---------------------------------------------------------------------------------------
// task add
// ---------------------------------------------------------------------------------------

#[test]
fn task_add_creates_a_ready_task() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    let out = env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t1",
        "--title",
        "First",
        "--summary",
        "sum",
        "--body",
        "do it",
        "--default-to",
        "worker-a",
        "--execution-mode",
        "code",
        "--priority",
        "high",
    ]);
    let task = &out.data()["task"];
    assert_eq!(out.json["command"], "add");
    assert_eq!(task["run_id"], "r");
    assert_eq!(task["task_id"], "t1");
    assert_eq!(task["title"], "First");
    assert_eq!(task["summary"], "sum");
    assert_eq!(task["body"], "do it");
    assert_eq!(task["default_to"], "worker-a");
    assert_eq!(task["execution_mode"], "code");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["status"], "ready");
    assert_eq!(task["depends_on"], serde_json::json!([]));
    assert_eq!(task["current_attempt"], 0);
    assert_eq!(ready(&env, "r"), vec!["t1"]);
}

#[test]
fn task_add_errors() {
    let env = Env::new();
    env.orch(&["task", "add", "--run", "nope", "--task", "t"])
        .error(40, "not_found");
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&["task", "add", "--run", "r", "--task", "t"])
        .data();
    // The same task again is a no-op (request_ids.rs); another definition is refused.
    env.orch(&["task", "add", "--run", "r", "--task", "t", "--title", "x"])
        .error(30, "invalid_state");
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "u",
        "--acceptance-json",
        "{not json",
    ])
    .error(30, "invalid_input");
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "v",
        "--priority",
        "huge",
    ])
    .error(30, "invalid_input");
    let run = env.orch(&["run", "show", "--run", "r"]).data()["run"].clone();
    assert_eq!(run["counts"]["total"], 1, "failed adds created nothing");
}

#[test]
fn task_add_acceptance_checks_and_required_checks() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    let out = env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t1",
        "--acceptance-json",
        r#"{"checks":[{"name":"test","run":"true"}]}"#,
    ]);
    let task = &out.data()["task"];
    assert_eq!(task["required_checks"], serde_json::json!(["test"]));
    assert_eq!(task["acceptance"]["checks"][0]["name"], "test");
    let out = env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t2",
        "--required-check",
        "lint",
        "--required-check",
        "build",
    ]);
    assert_eq!(
        out.data()["task"]["required_checks"],
        serde_json::json!(["lint", "build"])
    );
    // The checks are the task's gate.
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t2"]);
    let gate = &gate.data()["gate"];
    assert_eq!(ids(&gate["checks"], "name"), vec!["lint", "build"]);
}

#[test]
fn task_add_refuses_ids_that_could_escape_and_creates_nothing() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    let before: Vec<String> = entries(env.path());
    for bad in ["../x", "a/b", "-x", "..", "x/../../y"] {
        let msg = env
            .orch(&["task", "add", "--run", "r", "--task", bad])
            .error(30, "invalid_input");
        assert!(!msg.is_empty());
        assert!(!has_task(&env, "r", bad), "task {bad} was created");
    }
    assert_eq!(
        env.orch(&["run", "show", "--run", "r"]).data()["run"]["counts"]["total"],
        0
    );
    assert_eq!(
        entries(env.path()),
        before,
        "a directory appeared in the temp dir"
    );
    assert!(!env.path().join("x").exists());
    assert!(!repo.join(".orch").exists(), "nothing under the repository");
    assert!(!env.path().join("a").exists());
}

/// Top-level entries of a directory, leaving out the database's own files.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("coord.db"))
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// dep add
// ---------------------------------------------------------------------------------------

#[test]
fn dep_add_makes_the_dependent_planned_until_the_prerequisite_is_done() {
    let env = Env::new();
    env.run_with_tasks("r", &["a", "b"]);
    let out = env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "b",
        "--depends-on",
        "a",
    ]);
    let data = out.data();
    assert_eq!(data["task"]["task_id"], "b");
    assert_eq!(data["task"]["status"], "planned");
    assert_eq!(data["task"]["depends_on"], serde_json::json!(["a"]));
    assert_eq!(ready(&env, "r"), vec!["a"]);
    let thread = env.dispatch_analysis("r", "a");
    work_done(&env, "worker-a", &thread);
    env.orch(&["reconcile", "--run", "r"]).data();
    assert_eq!(env.task_row("r", "b")["status"], "ready");
    // A new edge to a prerequisite that is already done leaves the task ready.
    env.orch(&["task", "add", "--run", "r", "--task", "c"])
        .data();
    let out = env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "c",
        "--depends-on",
        "a",
    ]);
    assert_eq!(out.data()["task"]["status"], "ready");
}

#[test]
fn dep_add_refuses_self_edges_cycles_and_unknown_tasks() {
    let env = Env::new();
    env.run_with_tasks("r", &["a", "b", "c"]);
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "a",
        "--depends-on",
        "a",
    ])
    .error(30, "invalid_input");
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "a",
        "--depends-on",
        "b",
    ])
    .data();
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "b",
        "--depends-on",
        "c",
    ])
    .data();
    // Each task's prerequisites and status, as `status` shows them.
    let graph = || -> Vec<(String, Value, Value)> {
        status(&env, "r")["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    text(&t["task_id"]),
                    t["depends_on"].clone(),
                    t["status"].clone(),
                )
            })
            .collect()
    };
    let deps_before = graph();
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "c",
        "--depends-on",
        "a",
    ])
    .error(30, "invalid_input");
    let deps_after = graph();
    assert_eq!(deps_after, deps_before, "a refused edge changed the graph");
    assert_eq!(
        env.task_row("r", "a")["depends_on"],
        serde_json::json!(["b"])
    );
    assert_eq!(
        env.task_row("r", "b")["depends_on"],
        serde_json::json!(["c"])
    );
    assert_eq!(env.task_row("r", "c")["depends_on"], serde_json::json!([]));
    assert_eq!(ready(&env, "r"), vec!["c"]);
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "ghost",
        "--depends-on",
        "a",
    ])
    .error(40, "not_found");
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "a",
        "--depends-on",
        "ghost",
    ])
    .error(40, "not_found");
    env.orch(&[
        "dep",
        "add",
        "--run",
        "nope",
        "--task",
        "a",
        "--depends-on",
        "b",
    ])
    .error(40, "not_found");
}

#[test]
fn a_dependent_of_two_prerequisites_waits_for_both_and_gets_task_ready() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2", "t3"]);
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "t3",
        "--depends-on",
        "t1",
    ])
    .data();
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "t3",
        "--depends-on",
        "t2",
    ])
    .data();
    // Adding the same edge again is accepted and changes nothing.
    let again = env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "t3",
        "--depends-on",
        "t2",
    ]);
    assert_eq!(
        again.data()["task"]["depends_on"],
        serde_json::json!(["t1", "t2"])
    );
    let t1 = env.dispatch_analysis("r", "t1");
    let t2 = env.dispatch_analysis("r", "t2");
    work_done(&env, "worker-a", &t1);
    assert_eq!(
        env.task_row("r", "t3")["status"],
        "planned",
        "t2 is not done yet"
    );
    assert!(ready(&env, "r").is_empty());
    work_done(&env, "worker-a", &t2);
    assert_eq!(env.task_row("r", "t3")["status"], "ready");
    assert_eq!(ready(&env, "r"), vec!["t3"]);
    let out = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_ready",
        "--after-event",
        "0",
        "--timeout-seconds",
        "2",
    ]);
    assert_eq!(out.data()["event"]["task_id"], "t3");
}

#[test]
fn task_ids_given_as_flag_values_are_checked_too() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    for bad in ["--task=-x", "--task=..", "--task=a/b", "--task=a b"] {
        env.orch(&["task", "add", "--run", "r", bad])
            .error(30, "invalid_input");
    }
    assert_eq!(status(&env, "r")["tasks"], serde_json::json!([]));
}

#[test]
fn dep_add_to_a_dispatched_task_is_refused() {
    let env = Env::new();
    env.run_with_tasks("r", &["a", "b"]);
    env.dispatch_analysis("r", "a");
    // Contract is silent; the implementation refuses edges once a task is dispatched.
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "a",
        "--depends-on",
        "b",
    ])
    .error(30, "invalid_state");
    assert_eq!(env.task_row("r", "a")["depends_on"], serde_json::json!([]));
}
