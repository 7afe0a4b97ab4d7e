//! `reconcile` (contract §6) and `verify status/record`.

use super::*;

// ---------------------------------------------------------------------------------------
// reconcile and verify
// ---------------------------------------------------------------------------------------

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
