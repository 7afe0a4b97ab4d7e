//! Row mappings from SQLite rows to the records of [`crate::model`], and the column
//! lists that go with them.

use super::parse_or_corrupt;
use crate::error::Result;
use crate::model::{
    Artifact, Attempt, Event, ExecutionMode, Message, MessageKind, Priority, Thread, ThreadStatus,
    WorkspaceStatus,
};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::path::PathBuf;

pub(crate) fn thread(row: &SqliteRow) -> Result<Thread> {
    Ok(Thread {
        thread_id: row.try_get("thread_id")?,
        run_id: row.try_get("run_id")?,
        task_id: row.try_get("task_id")?,
        subject: row.try_get("subject")?,
        created_by: row.try_get("created_by")?,
        assigned_to: row.try_get("assigned_to")?,
        status: parse_or_corrupt("thread status", row.try_get("status")?, ThreadStatus::parse)?,
        priority: parse_or_corrupt("priority", row.try_get("priority")?, Priority::parse)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) fn message(row: &SqliteRow) -> Result<Message> {
    Ok(Message {
        message_id: row.try_get("message_id")?,
        thread_id: row.try_get("thread_id")?,
        from_agent: row.try_get("from_agent")?,
        to_agent: row.try_get("to_agent")?,
        kind: parse_or_corrupt("message kind", row.try_get("kind")?, MessageKind::parse)?,
        summary: row.try_get("summary")?,
        body: row.try_get("body")?,
        payload_json: json(row.try_get("payload_json")?),
        created_at: row.try_get("created_at")?,
        artifacts: Vec::new(),
    })
}

pub(crate) fn artifact(row: &SqliteRow) -> Result<(i64, Artifact)> {
    Ok((
        row.try_get("message_id")?,
        Artifact {
            path: row.try_get("path")?,
            kind: row.try_get("kind")?,
            metadata: json(row.try_get("metadata_json")?),
        },
    ))
}

pub(crate) fn event(row: &SqliteRow) -> Result<Event> {
    Ok(Event {
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        run_id: row.try_get("run_id")?,
        task_id: row.try_get("task_id")?,
        thread_id: row.try_get("thread_id")?,
        message_id: row.try_get("message_id")?,
        summary: row.try_get("summary")?,
        payload: json(row.try_get("payload_json")?),
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn attempt(row: &SqliteRow) -> Result<Attempt> {
    Ok(Attempt {
        run_id: row.try_get("run_id")?,
        task_id: row.try_get("task_id")?,
        attempt_no: row.try_get("attempt_no")?,
        thread_id: row.try_get("thread_id")?,
        assigned_to: row.try_get("assigned_to")?,
        execution_mode: parse_or_corrupt(
            "execution mode",
            row.try_get("execution_mode")?,
            ExecutionMode::parse,
        )?,
        status: parse_or_corrupt(
            "thread status",
            row.try_get("thread_status")?,
            ThreadStatus::parse,
        )?,
        repo_path: non_empty(row.try_get("repo_path")?).map(PathBuf::from),
        base_ref: non_empty(row.try_get("base_ref")?),
        base_commit: non_empty(row.try_get("base_commit")?),
        branch_name: non_empty(row.try_get("branch_name")?),
        worktree_path: non_empty(row.try_get("worktree_path")?).map(PathBuf::from),
        workspace_status: optional_or_corrupt(
            "workspace status",
            row.try_get("workspace_status")?,
            WorkspaceStatus::parse,
        )?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
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

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;
    use crate::model::ExecutionMode;

    #[tokio::test]
    async fn a_task_reads_its_mode_none_when_unset_and_refuses_an_unknown_one() {
        let store = crate::store::test_store(
            &[("none", "ready"), ("code", "ready"), ("bad", "ready")],
            "UPDATE tasks SET execution_mode = 'code' WHERE task_id = 'code';
             UPDATE tasks SET execution_mode = 'fast' WHERE task_id = 'bad';",
        )
        .await;
        assert_eq!(store.task("r", "none").await.unwrap().execution_mode, None);
        assert_eq!(
            store.task("r", "code").await.unwrap().execution_mode,
            Some(ExecutionMode::Code)
        );
        let err = store.task("r", "bad").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        assert!(err.message.contains("unknown execution mode"), "{err:?}");
    }
}
