//! Each row prints exactly what its record printed through a `serde_json::Value`.

use super::*;
use crate::commands::frugal::elide;
use crate::model::Workspace;
use crate::store::EndDetails;
use serde_json::json;
use std::path::PathBuf;

/// The record as the replies printed it before the rows: through a `Value`, with
/// `key` left out (by [`elide`]) unless `full`.
fn through_value(record: &impl Serialize, key: &str, full: bool) -> String {
    let mut value = serde_json::to_value(record).unwrap();
    if !full {
        elide(&mut value, key);
    }
    serde_json::to_string(&value).unwrap()
}

fn text(row: &impl Serialize) -> String {
    serde_json::to_string(row).unwrap()
}

/// `row_text(record, full)` prints what `record` printed through a `Value`, with `key`
/// left out unless `full`, both ways.
fn assert_prints_through_value<R: Serialize>(
    record: &R,
    key: &str,
    row_text: impl Fn(&R, bool) -> String,
) {
    for full in [true, false] {
        assert_eq!(row_text(record, full), through_value(record, key, full));
    }
}

fn task(body: &str) -> Task {
    Task {
        run_id: "r".into(),
        task_id: "t\"1".into(),
        title: "a title é".into(),
        summary: "a\tsummary".into(),
        body: body.into(),
        default_to: "worker-a".into(),
        execution_mode: Some(ExecutionMode::Code),
        acceptance: json!({"zeta": [1, {"b": 2, "a": null}], "alpha": "x"}),
        required_checks: vec!["unit".into(), "lint".into()],
        priority: Priority::High,
        status: TaskStatus::Ready,
        depends_on: vec!["t0".into()],
        current_attempt: 2,
        created_at: 1_700_000_000_123,
        updated_at: 1_700_000_001_456,
    }
}

fn message(body: &str) -> Message {
    Message {
        message_id: 7,
        thread_id: "r/t/attempt-1".into(),
        from_agent: "worker-a".into(),
        to_agent: "leader".into(),
        kind: MessageKind::Question,
        summary: "Which?".into(),
        body: body.into(),
        payload_json: json!({"question": "Which?", "options": ["a", 3]}),
        created_at: 1_700_000_002_000,
        artifacts: vec![
            Artifact {
                path: "notes.md".into(),
                kind: "doc".into(),
                metadata: json!({"z": 1, "a": [true]}),
            },
            Artifact {
                path: "b".into(),
                kind: String::new(),
                metadata: Value::Null,
            },
        ],
    }
}

fn attempt(workspace: Workspace) -> Attempt {
    Attempt {
        run_id: "r".into(),
        task_id: "t".into(),
        attempt_no: 3,
        thread_id: "r/t/attempt-3".into(),
        assigned_to: "worker-b".into(),
        execution_mode: ExecutionMode::Code,
        status: ThreadStatus::Failed,
        workspace,
        created_at: 1_700_000_003_000,
        updated_at: 1_700_000_004_000,
    }
}

#[test]
fn a_task_row_prints_the_task_with_its_body_or_its_size() {
    for body in ["", "the instructions\n\"quoted\" ☃"] {
        assert_prints_through_value(&task(body), "body", |task, full| {
            text(&TaskRow::new(task, full))
        });
    }
    let mut bare = task("x");
    (bare.execution_mode, bare.acceptance) = (None, Value::Null);
    assert_eq!(
        text(&TaskRow::new(&bare, true)),
        through_value(&bare, "body", true)
    );
}

#[test]
fn a_task_row_can_point_at_the_field_that_carries_its_body() {
    let task = task("the body");
    let mut value = serde_json::to_value(&task).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("body");
    object.insert("body_same_as".into(), "message.body".into());
    assert_eq!(
        text(&TaskRow::body_same_as(&task, "message.body")),
        serde_json::to_string(&value).unwrap()
    );
}

#[test]
fn a_message_row_prints_the_message_with_its_body_or_its_size() {
    for body in ["", "the details"] {
        assert_prints_through_value(&message(body), "body", |message, full| {
            text(&MessageRow::new(message, full))
        });
    }
}

#[test]
fn ids_rows_print_what_the_json_objects_printed() {
    let task = task("b");
    let expected = json!({
        "run_id": task.run_id,
        "task_id": task.task_id,
        "title": task.title,
        "status": task.status,
        "current_attempt": task.current_attempt,
    });
    assert_eq!(text(&TaskIds::new(&task)), expected.to_string());
    let attempt = attempt(Workspace::default());
    let expected = json!({
        "attempt_no": attempt.attempt_no,
        "thread_id": attempt.thread_id,
        "assigned_to": attempt.assigned_to,
        "status": attempt.status,
    });
    assert_eq!(text(&AttemptIds::new(&attempt)), expected.to_string());
}

#[test]
fn an_attempt_row_prints_the_attempt_and_its_workspace() {
    let code = Workspace {
        repo_path: Some(PathBuf::from("/repo")),
        base_ref: Some("main".into()),
        base_commit: Some("abc123".into()),
        branch_name: Some("orch/r/t/3".into()),
        worktree_path: Some(PathBuf::from("/repo/.orch/worktrees/t")),
        workspace_status: Some(WorkspaceStatus::Created),
    };
    for workspace in [code, Workspace::default()] {
        let attempt = attempt(workspace);
        assert_eq!(
            text(&AttemptRow::new(&attempt)),
            through_value(&attempt, "", true)
        );
    }
}

#[test]
fn a_supervision_row_prints_the_supervision_with_its_output_tail_or_its_size() {
    let ended = Supervision {
        profile: "fast".into(),
        adapter: "claude".into(),
        supervisor_pid: Some(10),
        supervisor_start: Some(11),
        worker_pid: Some(12),
        worker_start: Some(13),
        log_path: "/logs/a.log".into(),
        session_id: "s-1".into(),
        usage: json!({"output_tokens": 5, "input_tokens": 4}),
        cost_usd: Some(0.125),
        outcome: Some(AttemptOutcome::Failed),
        end: EndDetails {
            exit_code: Some(3),
            exit_signal: Some(9),
            reason: "exited with code 3".into(),
            output_tail: "last\nlines ☃".into(),
            reset_at: Some(1_700_000_005_000),
            leaked: true,
        },
        launched_at: Some("2023-11-14T22:13:20.000Z".into()),
        ended_at: Some("2023-11-14T22:13:21.000Z".into()),
        work: json!({"commits": ["c1"], "autocommit": null, "permission_denials": []}),
        host: Some("build-1".into()),
        taken_by: Some("build-2".into()),
        epoch: 2,
    };
    for supervision in [ended, Supervision::default()] {
        assert_prints_through_value(&supervision, "output_tail", |supervision, full| {
            text(&SupervisionRow::new(supervision, full))
        });
    }
}

#[test]
fn thread_and_launch_rows_print_their_records() {
    let mut thread = Thread {
        thread_id: "r/t/attempt-1".into(),
        run_id: Some("r".into()),
        task_id: Some("t".into()),
        subject: "a subject".into(),
        created_by: "leader".into(),
        assigned_to: "worker-a".into(),
        status: ThreadStatus::Pending,
        priority: Priority::Low,
        created_at: 1_700_000_006_000,
        updated_at: 1_700_000_007_000,
    };
    assert_eq!(
        text(&ThreadRow::new(&thread)),
        through_value(&thread, "", true)
    );
    (thread.run_id, thread.task_id) = (None, None);
    assert_eq!(
        text(&ThreadRow::new(&thread)),
        through_value(&thread, "", true)
    );
    let launch = LaunchReport {
        adapter: "sh".into(),
        profile: String::new(),
        argv: vec!["sh".into(), "-c".into(), "<body: 4 bytes>".into()],
        supervisor_pid: 42,
        log_path: "/logs/b.log".into(),
    };
    assert_eq!(
        text(&LaunchRow::new(&launch)),
        through_value(&launch, "", true)
    );
}
