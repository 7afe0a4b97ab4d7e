//! Records as the replies print them, serialized straight to text. The replies used to
//! turn each record into a `serde_json::Value` first (to leave a body out, or to name
//! it by the field that carries it), and a `Value`'s objects print their keys in name
//! order. These rows borrow the record and declare its fields in that same order, so
//! the bytes are what they were without a tree built and dropped per record (`orch
//! ready` of 1,000 tasks spent about half its instructions on it). The tests below hold
//! every row to its record's own serialization through a `Value`, so a field added to a
//! record and not to its row fails them.

use crate::model::{
    self, Artifact, AttemptOutcome, ExecutionMode, Message, MessageKind, Priority, TaskStatus,
    ThreadStatus, WorkspaceStatus,
};
use crate::model::{Attempt, Task, Thread};
use crate::store::Supervision;
use crate::supervisor::LaunchReport;
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::path::Path;

/// A text in full (`full`), or its size, which is absent when the text is empty: the
/// two fields (`<key>`, `<key>_bytes`) a row gives one text.
fn text_or_size(text: &str, full: bool) -> (Option<&str>, Option<usize>) {
    if full {
        (Some(text), None)
    } else {
        (None, (!text.is_empty()).then_some(text.len()))
    }
}

/// A task: every field of [`Task`], the body in full, by its size, or pointing at the
/// field that carries it.
#[derive(Serialize)]
pub struct TaskRow<'a> {
    acceptance: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_same_as: Option<&'static str>,
    #[serde(serialize_with = "model::ts")]
    created_at: i64,
    current_attempt: i64,
    default_to: &'a str,
    depends_on: &'a [String],
    #[serde(serialize_with = "model::empty_if_none")]
    execution_mode: Option<ExecutionMode>,
    priority: Priority,
    required_checks: &'a [String],
    run_id: &'a str,
    status: TaskStatus,
    summary: &'a str,
    task_id: &'a str,
    title: &'a str,
    #[serde(serialize_with = "model::ts")]
    updated_at: i64,
}

impl<'a> TaskRow<'a> {
    /// The task with its body in full (`body`), else by its size (`body_bytes`).
    pub fn new(task: &'a Task, body: bool) -> Self {
        let (body, body_bytes) = text_or_size(&task.body, body);
        TaskRow {
            acceptance: &task.acceptance,
            body,
            body_bytes,
            body_same_as: None,
            created_at: task.created_at,
            current_attempt: task.current_attempt,
            default_to: &task.default_to,
            depends_on: &task.depends_on,
            execution_mode: task.execution_mode,
            priority: task.priority,
            required_checks: &task.required_checks,
            run_id: &task.run_id,
            status: task.status,
            summary: &task.summary,
            task_id: &task.task_id,
            title: &task.title,
            updated_at: task.updated_at,
        }
    }

    /// The task with `"body_same_as": field` in place of its body, which the reply
    /// prints at `field` already.
    pub fn body_same_as(task: &'a Task, field: &'static str) -> Self {
        TaskRow {
            body: None,
            body_same_as: Some(field),
            ..TaskRow::new(task, true)
        }
    }
}

/// A task kept to its ids and status (the record around a question or an answer).
#[derive(Serialize)]
pub struct TaskIds<'a> {
    current_attempt: i64,
    run_id: &'a str,
    status: TaskStatus,
    task_id: &'a str,
    title: &'a str,
}

impl<'a> TaskIds<'a> {
    pub fn new(task: &'a Task) -> Self {
        TaskIds {
            current_attempt: task.current_attempt,
            run_id: &task.run_id,
            status: task.status,
            task_id: &task.task_id,
            title: &task.title,
        }
    }
}

/// A message: every field of [`Message`], the body in full or by its size.
#[derive(Serialize)]
pub struct MessageRow<'a> {
    #[serde(serialize_with = "artifacts_by_name")]
    artifacts: &'a [Artifact],
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_bytes: Option<usize>,
    #[serde(serialize_with = "model::ts")]
    created_at: i64,
    from_agent: &'a str,
    kind: MessageKind,
    message_id: i64,
    payload_json: &'a Value,
    summary: &'a str,
    thread_id: &'a str,
    to_agent: &'a str,
}

impl<'a> MessageRow<'a> {
    /// The message with its body in full (`body`), else by its size (`body_bytes`).
    pub fn new(message: &'a Message, body: bool) -> Self {
        let (body, body_bytes) = text_or_size(&message.body, body);
        MessageRow {
            artifacts: &message.artifacts,
            body,
            body_bytes,
            created_at: message.created_at,
            from_agent: &message.from_agent,
            kind: message.kind,
            message_id: message.message_id,
            payload_json: &message.payload_json,
            summary: &message.summary,
            thread_id: &message.thread_id,
            to_agent: &message.to_agent,
        }
    }
}

/// An [`Artifact`], its fields by name.
#[derive(Serialize)]
struct ArtifactRow<'a> {
    kind: &'a str,
    metadata: &'a Value,
    path: &'a str,
}

fn artifacts_by_name<S: Serializer>(artifacts: &&[Artifact], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(artifacts.iter().map(|a| ArtifactRow {
        kind: &a.kind,
        metadata: &a.metadata,
        path: &a.path,
    }))
}

/// An attempt: every field of [`Attempt`], its workspace's among them.
#[derive(Serialize)]
pub struct AttemptRow<'a> {
    assigned_to: &'a str,
    attempt_no: i64,
    #[serde(serialize_with = "model::empty_if_none")]
    base_commit: Option<&'a str>,
    #[serde(serialize_with = "model::empty_if_none")]
    base_ref: Option<&'a str>,
    #[serde(serialize_with = "model::empty_if_none")]
    branch_name: Option<&'a str>,
    #[serde(serialize_with = "model::ts")]
    created_at: i64,
    execution_mode: ExecutionMode,
    #[serde(serialize_with = "model::empty_if_none")]
    repo_path: Option<&'a Path>,
    run_id: &'a str,
    status: ThreadStatus,
    task_id: &'a str,
    thread_id: &'a str,
    #[serde(serialize_with = "model::ts")]
    updated_at: i64,
    #[serde(serialize_with = "model::empty_if_none")]
    workspace_status: Option<WorkspaceStatus>,
    #[serde(serialize_with = "model::empty_if_none")]
    worktree_path: Option<&'a Path>,
}

impl<'a> AttemptRow<'a> {
    pub fn new(attempt: &'a Attempt) -> Self {
        let workspace = &attempt.workspace;
        AttemptRow {
            assigned_to: &attempt.assigned_to,
            attempt_no: attempt.attempt_no,
            base_commit: workspace.base_commit.as_deref(),
            base_ref: workspace.base_ref.as_deref(),
            branch_name: workspace.branch_name.as_deref(),
            created_at: attempt.created_at,
            execution_mode: attempt.execution_mode,
            repo_path: workspace.repo_path.as_deref(),
            run_id: &attempt.run_id,
            status: attempt.status,
            task_id: &attempt.task_id,
            thread_id: &attempt.thread_id,
            updated_at: attempt.updated_at,
            workspace_status: workspace.workspace_status,
            worktree_path: workspace.worktree_path.as_deref(),
        }
    }
}

/// An attempt kept to its ids and status (the record around a question).
#[derive(Serialize)]
pub struct AttemptIds<'a> {
    assigned_to: &'a str,
    attempt_no: i64,
    status: ThreadStatus,
    thread_id: &'a str,
}

impl<'a> AttemptIds<'a> {
    pub fn new(attempt: &'a Attempt) -> Self {
        AttemptIds {
            assigned_to: &attempt.assigned_to,
            attempt_no: attempt.attempt_no,
            status: attempt.status,
            thread_id: &attempt.thread_id,
        }
    }
}

/// How an attempt was supervised: every field of [`Supervision`], how it ended among
/// them, the output tail in full or by its size.
#[derive(Serialize)]
pub struct SupervisionRow<'a> {
    adapter: &'a str,
    cost_usd: Option<f64>,
    ended_at: Option<&'a str>,
    epoch: i64,
    exit_code: Option<i64>,
    exit_signal: Option<i64>,
    #[serde(serialize_with = "model::empty_if_none")]
    host: Option<&'a str>,
    launched_at: Option<&'a str>,
    leaked: bool,
    log_path: &'a str,
    #[serde(serialize_with = "model::empty_if_none")]
    outcome: Option<AttemptOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tail_bytes: Option<usize>,
    profile: &'a str,
    reason: &'a str,
    #[serde(serialize_with = "rfc3339_or_null")]
    reset_at: Option<i64>,
    session_id: &'a str,
    supervisor_pid: Option<i64>,
    supervisor_start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    taken_by: Option<&'a str>,
    usage: &'a Value,
    work: &'a Value,
    worker_pid: Option<i64>,
    worker_start: Option<i64>,
}

impl<'a> SupervisionRow<'a> {
    /// The supervision with its output tail in full (`output_tail`), else by its size
    /// (`output_tail_bytes`).
    pub fn new(supervision: &'a Supervision, output_tail: bool) -> Self {
        let end = &supervision.end;
        let (output_tail, output_tail_bytes) = text_or_size(&end.output_tail, output_tail);
        SupervisionRow {
            adapter: &supervision.adapter,
            cost_usd: supervision.cost_usd,
            ended_at: supervision.ended_at.as_deref(),
            epoch: supervision.epoch,
            exit_code: end.exit_code,
            exit_signal: end.exit_signal,
            host: supervision.host.as_deref(),
            launched_at: supervision.launched_at.as_deref(),
            leaked: end.leaked,
            log_path: &supervision.log_path,
            outcome: supervision.outcome,
            output_tail,
            output_tail_bytes,
            profile: &supervision.profile,
            reason: &end.reason,
            reset_at: end.reset_at,
            session_id: &supervision.session_id,
            supervisor_pid: supervision.supervisor_pid,
            supervisor_start: supervision.supervisor_start,
            taken_by: supervision.taken_by.as_deref(),
            usage: &supervision.usage,
            work: &supervision.work,
            worker_pid: supervision.worker_pid,
            worker_start: supervision.worker_start,
        }
    }
}

fn rfc3339_or_null<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    ms.map(crate::time::rfc3339).serialize(s)
}

/// A thread: every field of [`Thread`].
#[derive(Serialize)]
pub struct ThreadRow<'a> {
    assigned_to: &'a str,
    #[serde(serialize_with = "model::ts")]
    created_at: i64,
    created_by: &'a str,
    priority: Priority,
    run_id: Option<&'a str>,
    status: ThreadStatus,
    subject: &'a str,
    task_id: Option<&'a str>,
    thread_id: &'a str,
    #[serde(serialize_with = "model::ts")]
    updated_at: i64,
}

impl<'a> ThreadRow<'a> {
    pub fn new(thread: &'a Thread) -> Self {
        ThreadRow {
            assigned_to: &thread.assigned_to,
            created_at: thread.created_at,
            created_by: &thread.created_by,
            priority: thread.priority,
            run_id: thread.run_id.as_deref(),
            status: thread.status,
            subject: &thread.subject,
            task_id: thread.task_id.as_deref(),
            thread_id: &thread.thread_id,
            updated_at: thread.updated_at,
        }
    }
}

/// What `--launch` started: every field of [`LaunchReport`].
#[derive(Serialize)]
pub struct LaunchRow<'a> {
    adapter: &'a str,
    argv: &'a [String],
    log_path: &'a str,
    profile: &'a str,
    supervisor_pid: u32,
}

impl<'a> LaunchRow<'a> {
    pub fn new(launch: &'a LaunchReport) -> Self {
        LaunchRow {
            adapter: &launch.adapter,
            argv: &launch.argv,
            log_path: &launch.log_path,
            profile: &launch.profile,
            supervisor_pid: launch.supervisor_pid,
        }
    }
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
