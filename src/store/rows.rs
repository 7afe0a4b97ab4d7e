//! Row mappings from database rows ([`super::Row`]) to the records of [`crate::model`],
//! and the column lists that go with them.

use super::Row;
use super::parse_or_corrupt;
use crate::error::Result;
use crate::model::{
    Artifact, Attempt, AttemptOutcome, Event, EventSubject, ExecutionMode, Message, MessageKind,
    Priority, Thread, ThreadStatus, Workspace, WorkspaceStatus,
};
use serde_json::Value;
use std::path::PathBuf;

/// A record whose fields before the `;` are read from the columns of the same name and
/// whose fields after it are computed: the one shape of every row mapping of the store.
macro_rules! record {
    ($row:expr, $record:ident { $($column:ident),+ ; $($field:ident: $value:expr),* $(,)? }) => {
        $record {
            $($column: $row.try_get(stringify!($column))?,)+
            $($field: $value,)*
        }
    };
}
pub(crate) use record;

pub(crate) fn thread(row: &Row) -> Result<Thread> {
    Ok(record!(row, Thread {
        thread_id, run_id, task_id, subject, created_by, assigned_to, created_at, updated_at;
        status: parse_or_corrupt("thread status", row.try_get("status")?, ThreadStatus::parse)?,
        priority: parse_or_corrupt("priority", row.try_get("priority")?, Priority::parse)?,
    }))
}

pub(crate) fn message(row: &Row) -> Result<Message> {
    Ok(record!(row, Message {
        message_id, thread_id, from_agent, to_agent, summary, body, created_at;
        kind: parse_or_corrupt("message kind", row.try_get("kind")?, MessageKind::parse)?,
        payload_json: json(row.try_get("payload_json")?),
        artifacts: Vec::new(),
    }))
}

pub(crate) fn artifact(row: &Row) -> Result<(i64, Artifact)> {
    let artifact = record!(row, Artifact {
        path, kind;
        metadata: json(row.try_get("metadata_json")?),
    });
    Ok((row.try_get("message_id")?, artifact))
}

pub(crate) fn event(row: &Row) -> Result<Event> {
    Ok(record!(row, Event {
        event_id, event_type, summary, created_at;
        subject: record!(row, EventSubject { run_id, task_id, thread_id, message_id; }),
        payload: json(row.try_get("payload_json")?),
    }))
}

pub(crate) fn attempt(row: &Row) -> Result<Attempt> {
    let mode = row.try_get("execution_mode")?;
    let status = row.try_get("thread_status")?;
    let workspace_status = row.try_get("workspace_status")?;
    Ok(record!(row, Attempt {
        run_id, task_id, attempt_no, thread_id, assigned_to, created_at, updated_at;
        execution_mode: parse_or_corrupt("execution mode", mode, ExecutionMode::parse)?,
        status: parse_or_corrupt("thread status", status, ThreadStatus::parse)?,
        workspace: Workspace {
            repo_path: non_empty(row.try_get("repo_path")?).map(PathBuf::from),
            base_ref: non_empty(row.try_get("base_ref")?),
            base_commit: non_empty(row.try_get("base_commit")?),
            branch_name: non_empty(row.try_get("branch_name")?),
            worktree_path: non_empty(row.try_get("worktree_path")?).map(PathBuf::from),
            workspace_status: optional_or_corrupt(
                "workspace status", workspace_status, WorkspaceStatus::parse
            )?,
        },
    }))
}

/// The `outcome` column of an attempt: `None` while it has not ended.
pub(crate) fn outcome(row: &Row) -> Result<Option<AttemptOutcome>> {
    optional_or_corrupt(
        "attempt outcome",
        row.try_get("outcome")?,
        AttemptOutcome::parse,
    )
}

/// A text column where `''` means none.
pub(crate) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// A status column where `''` means none; anything else must be one of the statuses.
pub(crate) fn optional_or_corrupt<T>(
    what: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    if text.is_empty() {
        return Ok(None);
    }
    parse_or_corrupt(what, text, parse).map(Some)
}

/// JSON text from the database; what we stored is always valid, but a hand-edited
/// row is kept as a string rather than failing the verb.
pub(crate) fn json(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}
