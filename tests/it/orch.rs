//! The `orch` verbs (contract §5, §6, §8, §10): behaviour, error codes, JSON shapes, worktrees.

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
    env.orch(&["task", "add", "--run", "r", "--task", "t"])
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
    let deps_before: Vec<(String, Value, Value)> = status(&env, "r")["tasks"]
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
        .collect();
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
    let deps_after: Vec<(String, Value, Value)> = status(&env, "r")["tasks"]
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
        .collect();
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

// ---------------------------------------------------------------------------------------
// plan apply
// ---------------------------------------------------------------------------------------

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

fn check_applied_plan(env: &Env, run: &str) {
    let data = status(env, run);
    assert_eq!(data["run"]["counts"]["total"], 3);
    let design = env.task_row(run, "design");
    assert_eq!(design["status"], "ready");
    assert_eq!(design["default_to"], "worker-a");
    assert_eq!(design["execution_mode"], "analysis");
    assert_eq!(design["priority"], "high");
    assert_eq!(design["title"], "Design it");
    let build = env.task_row(run, "build");
    assert_eq!(build["status"], "planned");
    assert_eq!(build["execution_mode"], "code");
    assert_eq!(build["default_to"], "worker-a");
    assert_eq!(build["depends_on"], serde_json::json!(["design"]));
    let review = env.task_row(run, "review");
    assert_eq!(review["status"], "planned");
    assert_eq!(review["default_to"], "worker-b");
    assert_eq!(review["execution_mode"], "analysis");
    let mut deps: Vec<String> = review["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    deps.sort();
    assert_eq!(deps, vec!["build", "design"]);
    assert_eq!(ready(env, run), vec!["design"]);
}

#[test]
fn plan_apply_toml_creates_run_tasks_deps_workers_and_modes() {
    let env = Env::new();
    let file = write(&env, "plan.toml", TOML_PLAN);
    let out = apply(&env, &file);
    let data = out.data();
    assert_eq!(out.json["command"], "apply");
    assert_eq!(data["run"]["run_id"], "plan_toml");
    assert_eq!(data["run"]["goal"], "ship the plan");
    assert_eq!(data["run_created"], true);
    assert_eq!(
        data["tasks_created"],
        serde_json::json!(["design", "build", "review"])
    );
    assert_eq!(data["edges_created"], 3);
    check_applied_plan(&env, "plan_toml");
    // Re-applying the same file is accepted and changes nothing.
    let again = apply(&env, &file);
    let data = again.data();
    assert_eq!(data["run_created"], false);
    assert_eq!(data["tasks_created"], serde_json::json!([]));
    assert_eq!(
        data["tasks_unchanged"],
        serde_json::json!(["design", "build", "review"])
    );
    check_applied_plan(&env, "plan_toml");
}

#[test]
fn plan_apply_json_with_run_flag() {
    let env = Env::new();
    let plan = serde_json::json!({
        "run": {"goal": "json goal"},
        "defaults": {"worker": "worker-a", "execution_mode": "analysis"},
        "tasks": [
            {"id": "design", "title": "Design it", "priority": "high"},
            {"id": "build", "title": "Build it", "mode": "code", "depends_on": ["design"]},
            {"id": "review", "title": "Review it", "worker": "worker-b", "depends_on": ["design", "build"]},
        ]
    });
    let file = write(&env, "plan.json", &plan.to_string());
    let out = env.orch(&[
        "plan",
        "apply",
        "--run",
        "plan_json",
        "--file",
        file.to_str().unwrap(),
    ]);
    let data = out.data();
    assert_eq!(data["run"]["run_id"], "plan_json");
    assert_eq!(data["run"]["goal"], "json goal");
    assert_eq!(data["run_created"], true);
    assert_eq!(data["tasks_created"].as_array().unwrap().len(), 3);
    check_applied_plan(&env, "plan_json");
    let again = env.orch(&[
        "plan",
        "apply",
        "--run",
        "plan_json",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(again.data()["tasks_unchanged"].as_array().unwrap().len(), 3);
}

/// Plans with one bad task among good ones.
fn bad_plans(run: &str) -> Vec<(&'static str, String)> {
    let good = "[[tasks]]\nid = \"extra\"\ntitle = \"a good new task\"\n";
    vec![
        (
            "bad id",
            format!("[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"../evil\"\n"),
        ),
        (
            "unknown dependency",
            format!(
                "[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"orphan\"\ndepends_on = [\"ghost\"]\n"
            ),
        ),
        (
            "cycle",
            format!(
                "[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"p\"\ndepends_on = [\"q\"]\n[[tasks]]\nid = \"q\"\ndepends_on = [\"p\"]\n"
            ),
        ),
        (
            "unknown key",
            format!("[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"typo\"\ntitel = \"x\"\n"),
        ),
        (
            "duplicate id",
            format!(
                "[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"twice\"\n[[tasks]]\nid = \"twice\"\n"
            ),
        ),
        (
            "bad priority",
            format!("[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"prio\"\npriority = \"asap\"\n"),
        ),
        (
            "self dependency",
            format!("[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"me\"\ndepends_on = [\"me\"]\n"),
        ),
        (
            "bad mode",
            format!("[run]\nid = \"{run}\"\n{good}[[tasks]]\nid = \"moded\"\nmode = \"write\"\n"),
        ),
    ]
}

#[test]
fn plan_apply_with_one_bad_task_creates_nothing() {
    let env = Env::new();
    for (what, plan) in bad_plans("fresh") {
        let file = write(&env, "bad.toml", &plan);
        let msg = apply(&env, &file).error(30, "invalid_input");
        assert!(!msg.is_empty(), "{what}");
        env.orch(&["run", "show", "--run", "fresh"])
            .error(40, "not_found");
    }
    // A JSON plan with an unknown key is refused the same way.
    let file = write(
        &env,
        "bad.json",
        r#"{"run": {"id": "fresh"}, "tasks": [{"id": "a", "colour": "red"}]}"#,
    );
    apply(&env, &file).error(30, "invalid_input");
    env.orch(&["run", "show", "--run", "fresh"])
        .error(40, "not_found");
}

#[test]
fn plan_apply_with_one_bad_task_leaves_an_existing_run_as_it_was() {
    let env = Env::new();
    let file = write(&env, "plan.toml", TOML_PLAN);
    apply(&env, &file).data();
    for (what, plan) in bad_plans("plan_toml") {
        let file = write(&env, "bad.toml", &plan);
        apply(&env, &file).error(30, "invalid_input");
        let run = &env.orch(&["run", "show", "--run", "plan_toml"]).data()["run"].clone();
        assert_eq!(run["counts"]["total"], 3, "{what}: the run changed");
        assert!(
            !has_task(&env, "plan_toml", "extra"),
            "{what}: the good task was created"
        );
    }
    check_applied_plan(&env, "plan_toml");
}

#[test]
fn plan_apply_refuses_a_task_redefined_differently() {
    let env = Env::new();
    let file = write(&env, "plan.toml", TOML_PLAN);
    apply(&env, &file).data();
    let changed = TOML_PLAN.replace("title = \"Design it\"", "title = \"Design something else\"")
        + "\n[[tasks]]\nid = \"extra\"\n";
    let file = write(&env, "changed.toml", &changed);
    apply(&env, &file).error(30, "invalid_state");
    assert!(!has_task(&env, "plan_toml", "extra"));
    assert_eq!(env.task_row("plan_toml", "design")["title"], "Design it");
}

// ---------------------------------------------------------------------------------------
// ready
// ---------------------------------------------------------------------------------------

#[test]
fn ready_lists_unblocked_tasks_by_priority_then_creation_order() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    for (task, priority) in [
        ("a", "normal"),
        ("b", "high"),
        ("c", "normal"),
        ("d", "low"),
        ("e", "high"),
        ("f", "normal"),
    ] {
        env.orch(&[
            "task",
            "add",
            "--run",
            "r",
            "--task",
            task,
            "--priority",
            priority,
            "--default-to",
            "w",
        ])
        .data();
    }
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "f",
        "--depends-on",
        "a",
    ])
    .data();
    let out = env.orch(&["ready", "--run", "r"]);
    assert_eq!(out.json["command"], "ready");
    assert_eq!(
        ids(&out.data()["tasks"], "task_id"),
        vec!["b", "e", "a", "c", "d"]
    );
    // Stable: asking again gives the same order.
    assert_eq!(ready(&env, "r"), vec!["b", "e", "a", "c", "d"]);
    env.orch(&["ready", "--run", "nope"]).error(40, "not_found");
}

#[test]
fn ready_shows_the_dependent_after_its_prerequisite_is_done() {
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
    assert_eq!(ready(&env, "r"), vec!["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    assert!(
        ready(&env, "r").is_empty(),
        "a dispatched task is not ready"
    );
    work_done(&env, "worker-a", &thread);
    env.orch(&["reconcile", "--run", "r"]).data();
    assert_eq!(ready(&env, "r"), vec!["t2"]);
}

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
    assert!(data["message"]["payload_json"]["workspace"].is_object());
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
    let workspace = &data["message"]["payload_json"]["workspace"];
    assert_eq!(workspace["worktree_path"], expected.to_str().unwrap());
    assert_eq!(workspace["branch_name"], "orch/run-1/t1/attempt-1");
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

// ---------------------------------------------------------------------------------------
// reconcile and verify
// ---------------------------------------------------------------------------------------

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

#[test]
fn reconcile_folds_thread_status_into_task_status() {
    let env = Env::new();
    env.run_with_tasks("r", &["a", "b", "c"]);
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "v",
        "--default-to",
        "worker-a",
        "--required-check",
        "test",
    ])
    .data();
    let ta = env.dispatch_analysis("r", "a");
    let tb = env.dispatch_analysis("r", "b");
    env.dispatch_analysis("r", "c");
    let tv = env.dispatch_analysis("r", "v");
    // Nothing has happened on the threads yet.
    let out = env.orch(&["reconcile", "--run", "r"]);
    assert_eq!(out.json["command"], "reconcile");
    assert!(updated(&out).is_empty());
    assert_eq!(out.data()["run"]["run_id"], "r");
    // claimed → running
    claim(&env, "worker-a", &ta);
    // in_progress → running
    claim(&env, "worker-a", &tb);
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &tb,
            "--status",
            "in_progress",
            "--summary",
            "half",
        ],
    )
    .data();
    let out = env.orch(&["reconcile", "--run", "r"]);
    assert_eq!(
        updated(&out),
        vec![pair("a", "running"), pair("b", "running")]
    );
    assert_eq!(out.data()["run"]["counts"]["running"], 2);
    // Nothing new: nothing updated.
    assert!(updated(&env.orch(&["reconcile", "--run", "r"])).is_empty());
    // done → done, fail → failed, done with required checks → verifying.
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", &ta, "--summary", "ok"],
    )
    .data();
    env.inbox(
        Some("worker-a"),
        &["fail", "--thread", &tb, "--summary", "no"],
    )
    .data();
    work_done(&env, "worker-a", &tv);
    let out = env.orch(&["reconcile", "--run", "r"]);
    assert_eq!(
        updated(&out),
        vec![
            pair("a", "done"),
            pair("b", "failed"),
            pair("v", "verifying")
        ]
    );
    assert_eq!(env.task_row("r", "a")["status"], "done");
    assert_eq!(env.task_row("r", "b")["status"], "failed");
    assert_eq!(env.task_row("r", "v")["status"], "verifying");
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "v"]);
    assert_eq!(gate.data()["gate"]["status"], "pending");
    assert_eq!(gate.data()["gate"]["checks"][0]["name"], "test");
    assert_eq!(gate.data()["gate"]["checks"][0]["status"], "pending");
    // c is still dispatched, untouched.
    assert_eq!(env.task_row("r", "c")["status"], "dispatched");
    env.orch(&["reconcile", "--run", "nope"])
        .error(40, "not_found");
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

#[test]
fn verify_all_required_checks_passed_makes_the_task_done_and_releases_dependents() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    verifying_task(&env, "r", "t");
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "next",
        "--default-to",
        "worker-a",
    ])
    .data();
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "next",
        "--depends-on",
        "t",
    ])
    .data();
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t"]);
    let gate = &gate.data()["gate"];
    assert_eq!(gate["status"], "pending");
    let names = ids(&gate["checks"], "name");
    assert!(
        names.contains(&"test".to_string()) && names.contains(&"lint".to_string()),
        "{names:?}"
    );
    let out = env.orch(&[
        "verify", "record", "--run", "r", "--task", "t", "--check", "test", "--status", "passed",
    ]);
    assert_eq!(out.json["command"], "record");
    assert_eq!(out.data()["gate"]["status"], "pending");
    assert_eq!(out.data()["task"]["status"], "verifying");
    let out = env.orch(&[
        "verify",
        "record",
        "--run",
        "r",
        "--task",
        "t",
        "--check",
        "lint",
        "--status",
        "passed",
        "--details",
        "clean",
    ]);
    assert_eq!(out.data()["gate"]["status"], "passed");
    assert_eq!(out.data()["task"]["status"], "done");
    assert_eq!(env.task_row("r", "t")["status"], "done");
    assert_eq!(ready(&env, "r"), vec!["next"]);
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t"]);
    assert_eq!(gate.data()["gate"]["status"], "passed");
}

#[test]
fn verify_one_failed_check_makes_the_task_failed() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    verifying_task(&env, "r", "t");
    let out = env.orch(&[
        "verify",
        "record",
        "--run",
        "r",
        "--task",
        "t",
        "--check",
        "lint",
        "--status",
        "failed",
        "--details",
        "3 warnings",
    ]);
    assert_eq!(out.data()["gate"]["status"], "failed");
    assert_eq!(out.data()["task"]["status"], "failed");
    assert_eq!(env.task_row("r", "t")["status"], "failed");
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t"]);
    let checks = gate.data()["gate"]["checks"].as_array().unwrap().clone();
    let lint = checks.iter().find(|c| c["name"] == "lint").unwrap();
    assert_eq!(lint["status"], "failed");
    assert_eq!(lint["details"], "3 warnings");
}

#[test]
fn verify_record_of_an_unknown_check_is_refused() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    verifying_task(&env, "r", "t");
    let out = env.orch(&[
        "verify", "record", "--run", "r", "--task", "t", "--check", "nope", "--status", "passed",
    ]);
    // Contract: exit 30; the implementation calls an unknown check name invalid_input.
    out.error(30, "invalid_input");
    assert_eq!(env.task_row("r", "t")["status"], "verifying");
    env.orch(&[
        "verify", "record", "--run", "r", "--task", "t", "--check", "lint", "--status", "maybe",
    ])
    .error(30, "invalid_input");
    env.orch(&["verify", "status", "--run", "r", "--task", "ghost"])
        .error(40, "not_found");
}

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
    assert_eq!(data["previous_attempt"], 1);
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
    assert_eq!(data["previous_attempt"], 1);
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

// ---------------------------------------------------------------------------------------
// brief
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// worktree locations and defaults
// ---------------------------------------------------------------------------------------

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
fn verify_record_writes_its_event_and_needs_a_verifying_task() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "worker-a",
        "--required-check",
        "test",
    ])
    .data();
    // Not verifying yet: the implementation refuses with invalid_state.
    env.orch(&[
        "verify", "record", "--run", "r", "--task", "t", "--check", "test", "--status", "passed",
    ])
    .error(30, "invalid_state");
    let thread = env.dispatch_analysis("r", "t");
    work_done(&env, "worker-a", &thread);
    // verify record reconciles first, so the task is verifying now.
    let out = env.orch(&[
        "verify", "record", "--run", "r", "--task", "t", "--check", "test", "--status", "passed",
    ]);
    assert_eq!(out.data()["task"]["status"], "done");
    let out = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_verification_recorded",
        "--after-event",
        "0",
        "--timeout-seconds",
        "2",
    ]);
    assert_eq!(out.data()["event"]["task_id"], "t");
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

#[test]
fn plan_apply_extends_a_run_and_checks_the_run_id() {
    let env = Env::new();
    let file = write(&env, "plan.toml", TOML_PLAN);
    apply(&env, &file).data();
    let design = text(
        &env.orch(&[
            "dispatch",
            "--run",
            "plan_toml",
            "--task",
            "design",
            "--execution-mode",
            "analysis",
        ])
        .data()["attempt"]["thread_id"],
    );
    work_done(&env, "worker-a", &design);
    env.orch(&["reconcile", "--run", "plan_toml"]).data();
    let more = "[run]\nid = \"plan_toml\"\n[[tasks]]\nid = \"docs\"\ndepends_on = [\"design\"]\n[[tasks]]\nid = \"release\"\ndepends_on = [\"build\"]\n";
    let file = write(&env, "more.toml", more);
    let out = apply(&env, &file);
    assert_eq!(out.data()["run_created"], false);
    assert_eq!(
        out.data()["tasks_created"],
        serde_json::json!(["docs", "release"])
    );
    assert_eq!(
        env.task_row("plan_toml", "docs")["status"],
        "ready",
        "its prerequisite is done"
    );
    assert_eq!(env.task_row("plan_toml", "release")["status"], "planned");
    assert_eq!(status(&env, "plan_toml")["run"]["counts"]["total"], 5);
    // --run must agree with the file's run id; a plan must name a run.
    env.orch(&[
        "plan",
        "apply",
        "--run",
        "other",
        "--file",
        file.to_str().unwrap(),
    ])
    .error(30, "invalid_input");
    env.orch(&["run", "show", "--run", "other"])
        .error(40, "not_found");
    let file = write(&env, "norun.toml", "[[tasks]]\nid = \"a\"\n");
    apply(&env, &file).error(30, "invalid_input");
    let missing = env.path().join("missing.toml");
    apply(&env, &missing).error(30, "invalid_input");
    let file = write(&env, "badrun.toml", "[run]\nid = \"../x\"\n");
    apply(&env, &file).error(30, "invalid_input");
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

#[test]
fn reconcile_maps_a_cancelled_thread_to_a_cancelled_task() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    env.inbox(
        Some("worker-a"),
        &["cancel", "--thread", &thread, "--reason", "gone"],
    )
    .data();
    let out = env.orch(&["reconcile", "--run", "r"]);
    assert_eq!(updated(&out), vec![pair("t1", "cancelled")]);
    assert_eq!(env.task_row("r", "t1")["status"], "cancelled");
}

#[test]
fn a_retry_after_a_failed_check_gets_a_fresh_gate() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    verifying_task(&env, "r", "t");
    env.orch(&[
        "verify", "record", "--run", "r", "--task", "t", "--check", "test", "--status", "failed",
    ])
    .data();
    assert_eq!(env.task_row("r", "t")["status"], "failed");
    let retry = env.orch(&["retry", "--run", "r", "--task", "t"]);
    let thread = text(&retry.data()["attempt"]["thread_id"]);
    work_done(&env, "worker-a", &thread);
    assert_eq!(env.task_row("r", "t")["status"], "verifying");
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t"]);
    assert_eq!(gate.data()["gate"]["status"], "pending");
    assert_eq!(gate.data()["gate"]["attempt_no"], 2);
    for check in ["test", "lint"] {
        env.orch(&[
            "verify", "record", "--run", "r", "--task", "t", "--check", check, "--status", "passed",
        ])
        .data();
    }
    assert_eq!(env.task_row("r", "t")["status"], "done");
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
