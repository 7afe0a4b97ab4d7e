//! The reference contract's JSON shapes that a leader or worker written against it reads
//! (contract §5): the `task` message's payload of every new attempt, and
//! `data.previous_attempt` of `retry` and `reassign`.

use super::*;

const WORKSPACE_FIELDS: [&str; 6] = [
    "worktree_path",
    "branch_name",
    "base_ref",
    "base_commit",
    "workspace_status",
    "repo_path",
];

/// The `task` message's payload carries `execution_mode` and the workspace fields at its
/// top level, equal to the attempt's, and no nested `workspace`.
#[track_caller]
fn assert_reference_payload(data: &Value) {
    let payload = &data["message"]["payload_json"];
    let attempt = &data["attempt"];
    assert_eq!(data["message"]["kind"], "task");
    assert!(payload.get("workspace").is_none(), "nested: {payload:#}");
    assert_eq!(payload["execution_mode"], attempt["execution_mode"]);
    for field in WORKSPACE_FIELDS {
        assert!(payload[field].is_string(), "{field} missing: {payload:#}");
        assert_eq!(payload[field], attempt[field], "{field}");
    }
}

#[test]
fn every_task_message_carries_the_workspace_at_the_top_of_its_payload() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t", "a"]);
    let dispatched = dispatch_code(&env, &repo, "r", "t");
    assert_reference_payload(&dispatched);
    let payload = &dispatched["message"]["payload_json"];
    assert_eq!(payload["execution_mode"], "code");
    assert_eq!(payload["workspace_status"], "created");
    let expected = top(&env, &repo).join(".orch/worktrees/r/t/attempt-1");
    assert_eq!(payload["worktree_path"], expected.to_str().unwrap());
    assert_eq!(payload["base_commit"], head(&env, &repo).as_str());
    // What the worker reads is the same message.
    let thread = text(&dispatched["attempt"]["thread_id"]);
    let shown = env.inbox(Some("worker-a"), &["show", "--thread", &thread]);
    assert_eq!(shown.data()["messages"][0]["payload_json"], *payload);

    // Retry and reassign write the same shape.
    work_fail(&env, "worker-a", &thread);
    let retried = env.orch(&["retry", "--run", "r", "--task", "t"]);
    assert_reference_payload(retried.data());
    let reassigned = env.orch(&["reassign", "--run", "r", "--task", "t", "--to", "worker-b"]);
    assert_reference_payload(reassigned.data());
    assert_eq!(
        reassigned.data()["message"]["payload_json"]["worktree_path"],
        top(&env, &repo)
            .join(".orch/worktrees/r/t/attempt-3")
            .to_str()
            .unwrap()
    );

    // Analysis mode: the same keys, empty where there is no worktree.
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "a",
        "--execution-mode",
        "analysis",
    ]);
    assert_reference_payload(out.data());
    let payload = &out.data()["message"]["payload_json"];
    assert_eq!(payload["execution_mode"], "analysis");
    assert_eq!(payload["worktree_path"], "");
    assert_eq!(payload["workspace_status"], "");
}

#[test]
fn retry_and_reassign_return_the_previous_attempt_as_an_object() {
    let env = Env::new();
    env.run_with_tasks("r", &["t"]);
    let first = env.dispatch_analysis("r", "t");
    work_fail(&env, "worker-a", &first);
    let out = env.orch(&["retry", "--run", "r", "--task", "t"]);
    let data = out.data();
    assert_eq!(data["previous_attempt"]["attempt_no"], 1);
    assert_eq!(data["previous_attempt"]["thread_id"], first.as_str());
    assert_eq!(data["previous_attempt"]["status"], "failed");
    assert_eq!(data["attempt"]["attempt_no"], 2);
    let second = text(&data["attempt"]["thread_id"]);
    let out = env.orch(&["reassign", "--run", "r", "--task", "t", "--to", "worker-b"]);
    let data = out.data();
    assert_eq!(data["previous_attempt"]["attempt_no"], 2);
    assert_eq!(data["previous_attempt"]["thread_id"], second.as_str());
    assert_eq!(data["previous_attempt"]["assigned_to"], "worker-a");
    assert_eq!(data["previous_attempt"]["status"], "cancelled");
    assert_eq!(data["attempt"]["attempt_no"], 3);
    // A first dispatch has no previous attempt.
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
    let out = env.orch(&[
        "dispatch",
        "--run",
        "r",
        "--task",
        "fresh",
        "--execution-mode",
        "analysis",
    ]);
    assert!(out.data().get("previous_attempt").is_none(), "{out:#?}");
}
