//! The one `events` table: appending events inside a transaction, and the cursor
//! queries that `wait`, `watch` and `wait-reply` run (ids strictly after a cursor).

use super::{Db, args, fetch_all, fetch_optional, scalar_one, sql};
use super::{Store, rows};
use crate::error::Result;
use crate::model::{Event, EventSubject, Message, Thread, ThreadStatus};
use serde_json::Value;

/// An event to append.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub subject: EventSubject,
    pub thread_status: Option<ThreadStatus>,
    pub assigned_to: Option<String>,
    pub summary: String,
    pub payload: Value,
}

impl NewEvent {
    pub fn new(event_type: &'static str) -> Self {
        NewEvent {
            event_type,
            payload: Value::Object(Default::default()),
            ..Default::default()
        }
    }

    /// Fills run, task, thread, status and assignee from a thread.
    pub fn on_thread(mut self, thread: &Thread) -> Self {
        self.subject.run_id = thread.run_id.clone();
        self.subject.task_id = thread.task_id.clone();
        self.subject.thread_id = Some(thread.thread_id.clone());
        self.thread_status = Some(thread.status);
        self.assigned_to = Some(thread.assigned_to.clone());
        self
    }

    pub fn on_run(mut self, run_id: &str) -> Self {
        self.subject.run_id = Some(run_id.to_string());
        self
    }

    pub fn on_task(self, run_id: &str, task_id: &str) -> Self {
        let mut event = self.on_run(run_id);
        event.subject.task_id = Some(task_id.to_string());
        event
    }

    pub fn message(mut self, message: &Message) -> Self {
        self.subject.message_id = Some(message.message_id);
        self
    }

    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }
}

pub(crate) async fn insert(conn: &mut Db<'_>, event: NewEvent, now: i64) -> Result<i64> {
    scalar_one(
        conn,
        sql!("INSERT INTO events (event_type, run_id, task_id, thread_id, message_id, thread_status, assigned_to, summary, payload_json, created_at)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING event_id"),
        args![
            event.event_type,
            event.subject.run_id,
            event.subject.task_id,
            event.subject.thread_id,
            event.subject.message_id,
            event.thread_status.map(|s| s.as_str()),
            event.assigned_to,
            event.summary,
            event.payload.to_string(),
            now,
        ],
    )
    .await
}

/// Inserts an event on a task: `(type, summary, payload)`.
pub(crate) async fn insert_on_task(
    conn: &mut Db<'_>,
    (run_id, task_id): (&str, &str),
    (event_type, summary, payload): (&'static str, &str, Value),
    now: i64,
) -> Result<i64> {
    let event = NewEvent::new(event_type)
        .on_task(run_id, task_id)
        .summary(summary)
        .payload(payload);
    insert(conn, event, now).await
}

/// Inserts `event` on thread `thread_id` as it is now; the thread.
pub(crate) async fn insert_on_thread(
    conn: &mut Db<'_>,
    thread_id: &str,
    event: NewEvent,
    now: i64,
) -> Result<Thread> {
    let thread = super::threads::load_thread(conn, thread_id).await?;
    insert(conn, event.on_thread(&thread), now).await?;
    Ok(thread)
}

/// Which events a waiter wants.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events of this run.
    pub run_id: Option<String>,
    /// Only these event types (empty: any).
    pub types: Vec<String>,
    /// Only events on threads assigned to this agent (right after the event).
    pub assigned_to: Option<String>,
    /// Only events whose thread status (right after the event) is one of these.
    pub thread_statuses: Vec<String>,
    /// Only events on this thread.
    pub thread_id: Option<String>,
}

impl Store {
    /// The newest event id, 0 on an empty database: the "now" cursor.
    pub async fn max_event_id(&self) -> Result<i64> {
        let sql = sql!("SELECT COALESCE(MAX(event_id), 0) FROM events");
        self.read_scalar_one(sql, args![]).await
    }

    /// The first event after `after` that matches `filter`.
    /// A run's events come after its pending thread statuses are folded in, so that
    /// `orch wait` wakes on the task events they make.
    pub async fn next_event(&self, filter: &EventFilter, after: i64) -> Result<Option<Event>> {
        Ok(self.events_matching(filter, after, 1).await?.pop())
    }

    /// The events after `after` that match `filter`, oldest first, at most `limit`
    /// (`orch wait --all`); folded first as [`Store::next_event`].
    pub async fn events_matching(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let mut conn = match &filter.run_id {
            Some(run_id) => self.lock_reconciled(run_id).await?,
            None => self.lock().await?,
        };
        let conn = &mut conn.db();
        let types = serde_json::to_string(&filter.types).unwrap_or_else(|_| "[]".into());
        let statuses =
            serde_json::to_string(&filter.thread_statuses).unwrap_or_else(|_| "[]".into());
        let rows = fetch_all(
            conn,
            sql!(
                "SELECT * FROM events
                 WHERE event_id > $1
                   AND (CAST($2 AS TEXT) IS NULL OR run_id = $2)
                   AND ($3 = '[]' OR event_type IN (SELECT value FROM json_each($3)))
                   AND (CAST($4 AS TEXT) IS NULL OR assigned_to = $4)
                   AND ($5 = '[]' OR thread_status IN (SELECT value FROM json_each($5)))
                   AND (CAST($6 AS TEXT) IS NULL OR thread_id = $6)
                 ORDER BY event_id LIMIT $7"
            ),
            args![
                after,
                filter.run_id.as_deref(),
                types,
                filter.assigned_to.as_deref(),
                statuses,
                filter.thread_id.as_deref(),
                limit
            ],
        )
        .await?;
        rows.iter().map(rows::event).collect()
    }

    /// The first message on `thread_id` of one of `kinds`, written after event `after_event`
    /// and after message `after_message`, not written by `not_from`; with its event id.
    pub async fn next_reply(
        &self,
        thread_id: &str,
        kinds: &[String],
        after_event: i64,
        after_message: i64,
        not_from: Option<&str>,
    ) -> Result<Option<(i64, Message)>> {
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        let after = (after_event, after_message);
        // A worker waiting for its answer through a server restart reads again.
        super::read_again!(self, conn => {
            next_reply_in(&mut conn.db(), thread_id, &kinds, after, not_from).await
        })
    }

    /// Events of a run after a cursor, oldest first (for `orch up` pipes and followers).
    /// Reconciled first, as [`Store::next_event`].
    pub async fn events_after(&self, run_id: &str, after: i64, limit: i64) -> Result<Vec<Event>> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        let rows = fetch_all(
            conn,
            sql!("SELECT * FROM events WHERE run_id = $1 AND event_id > $2 ORDER BY event_id LIMIT $3"),
            args![run_id, after, limit],
        )
        .await?;
        rows.iter().map(rows::event).collect()
    }
}

/// [`Store::next_reply`]'s read.
async fn next_reply_in(
    conn: &mut Db<'_>,
    thread_id: &str,
    kinds: &str,
    (after_event, after_message): (i64, i64),
    not_from: Option<&str>,
) -> Result<Option<(i64, Message)>> {
    let row = fetch_optional(
        conn,
        sql!(
            "SELECT e.event_id AS woke_event_id, m.*
                 FROM events e JOIN messages m ON m.message_id = e.message_id
                 WHERE e.thread_id = $1 AND e.event_id > $2 AND m.message_id > $3
                   AND m.kind IN (SELECT value FROM json_each($4))
                   AND (CAST($5 AS TEXT) IS NULL OR m.from_agent != $5)
                 ORDER BY e.event_id LIMIT 1"
        ),
        args![thread_id, after_event, after_message, kinds, not_from],
    )
    .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let event_id: i64 = row.try_get("woke_event_id")?;
            let mut message = rows::message(&row)?;
            super::threads::attach_artifacts(conn, std::slice::from_mut(&mut message)).await?;
            Ok(Some((event_id, message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FinishKind;
    use crate::store::testing::*;

    #[tokio::test]
    async fn event_ids_strictly_increase_and_cursors_see_each_once() {
        let store = store_with(&["a", "b", "c"]).await;
        for task in ["a", "b"] {
            let attempt = dispatch(&store, task).await;
            work(&store, &attempt, FinishKind::Done).await;
        }
        let all = store.events_after("r", 0, 1000).await.unwrap();
        assert!(all.len() > 8);
        assert!(all.windows(2).all(|w| w[0].event_id < w[1].event_id));
        assert_eq!(
            all.last().unwrap().event_id,
            store.max_event_id().await.unwrap()
        );
        // Paging with a cursor yields each event exactly once, in order.
        let (mut cursor, mut paged) = (0, Vec::new());
        loop {
            let page = store.events_after("r", cursor, 3).await.unwrap();
            let Some(last) = page.last() else { break };
            cursor = last.event_id;
            paged.extend(page.into_iter().map(|e| e.event_id));
        }
        let ids: Vec<i64> = all.iter().map(|e| e.event_id).collect();
        assert_eq!(paged, ids);
    }

    #[tokio::test]
    async fn a_run_waiter_wakes_on_the_fold_of_a_thread_result() {
        let (store, attempt) = one_dispatched().await;
        let cursor = store.max_event_id().await.unwrap();
        work(&store, &attempt, FinishKind::Failed).await;
        let filter = EventFilter {
            run_id: Some("r".into()),
            types: vec!["task_failed".into()],
            ..EventFilter::default()
        };
        let event = store.next_event(&filter, cursor).await.unwrap().unwrap();
        assert_eq!(event.subject.task_id.as_deref(), Some("t"));
        assert!(event.event_id > cursor);
        assert!(
            store
                .next_event(&filter, event.event_id)
                .await
                .unwrap()
                .is_none()
        );
    }
}
