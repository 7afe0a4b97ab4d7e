//! Plan files (`plan apply`, TOML and JSON, all-or-nothing) and `ready`.

use super::*;

// ---------------------------------------------------------------------------------------
// plan apply
// ---------------------------------------------------------------------------------------

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
