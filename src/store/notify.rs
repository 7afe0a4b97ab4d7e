//! The notifiers' side of the events table: claiming a run's events to notify, each
//! exactly once across every process that follows the run (one cursor per run in
//! `notify_cursors`, advanced in the transaction that reads the batch), and recording a
//! notification that failed (`notify_failed`, where the leader sees it).

use super::events::{self, NewEvent};
use super::{Db, args, execute, fetch_all, scalar, sql};
use super::{Store, rows};
use crate::error::Result;
use crate::model::Event;
use serde_json::Value;

impl Store {
    /// Up to `limit` events of `run_id` whose type is one of `types` that no notifier has
    /// claimed yet, oldest first; claimed by this call (the run's cursor moves past
    /// them in the same transaction, so no other process gets them). The run's pending
    /// thread statuses are folded in first, so a question asked is a `task_blocked` event
    /// by then. Takes the write lock only when there is something to claim.
    pub async fn claim_notifications(
        &self,
        run_id: &str,
        types: &[&str],
        limit: i64,
    ) -> Result<Vec<Event>> {
        let types = serde_json::to_string(types).unwrap_or_else(|_| "[]".into());
        let mut conn = self.lock_reconciled(run_id).await?;
        let any: Option<i64> = scalar(
            &mut conn.db(),
            sql!(
                "SELECT 1 FROM events
                 WHERE run_id = $1
                   AND event_id > COALESCE((SELECT last_event_id FROM notify_cursors WHERE run_id = $1), 0)
                   AND event_type IN (SELECT value FROM json_each($2))
                 LIMIT 1"
            ),
            args![run_id, &types],
        )
        .await?;
        drop(conn);
        if any.is_none() {
            return Ok(Vec::new());
        }
        self.write(async |db, now| claim_batch(db, run_id, &types, limit, now).await)
            .await
    }

    /// Records that notifying `event` failed: a `notify_failed` event on the same run
    /// and task, with `summary` saying how and `payload` the details.
    pub async fn record_notify_failure(
        &self,
        event: &Event,
        summary: &str,
        payload: Value,
    ) -> Result<i64> {
        let run_id = event.subject.run_id.as_deref().unwrap_or_default();
        let mut failure = NewEvent::new("notify_failed").on_run(run_id);
        failure.subject.task_id = event.subject.task_id.clone();
        let failure = failure.summary(summary).payload(payload);
        self.write(async |tx, now| events::insert(tx, failure, now).await)
            .await
    }
}

/// Claims, under the write lock, the events [`Store::claim_notifications`] found: read
/// again (another process may have claimed them since) and the run's cursor moved past
/// them. (PostgreSQL: the run's cursor row is held until the claim commits, so a second
/// claimer waits and then reads after the first one's batch.)
async fn claim_batch(
    db: &mut Db<'_>,
    run_id: &str,
    types: &str,
    limit: i64,
    now: i64,
) -> Result<Vec<Event>> {
    let rows = fetch_all(
        db,
        sql!(
            sqlite: "SELECT * FROM events
                     WHERE run_id = $1
                       AND event_id > COALESCE((SELECT last_event_id FROM notify_cursors WHERE run_id = $1), 0)
                       AND event_type IN (SELECT value FROM json_each($2))
                     ORDER BY event_id LIMIT $3",
            pg: "SELECT * FROM events
                 WHERE run_id = $1
                   AND event_id > COALESCE((SELECT last_event_id FROM notify_cursors WHERE run_id = $1
                                            FOR NO KEY UPDATE), 0)
                   AND event_type IN (SELECT jsonb_array_elements_text($2::jsonb))
                 ORDER BY event_id LIMIT $3",
        ),
        args![run_id, types, limit],
    )
    .await?;
    let claimed = rows.iter().map(rows::event).collect::<Result<Vec<_>>>()?;
    if let Some(last) = claimed.last() {
        execute(
            db,
            sql!(
                "INSERT INTO notify_cursors (run_id, last_event_id, updated_at) VALUES ($1, $2, $3)
                  ON CONFLICT (run_id) DO UPDATE SET last_event_id = $2, updated_at = $3"
            ),
            args![run_id, last.event_id, now],
        )
        .await?;
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use crate::store::FinishKind;
    use crate::store::testing::*;
    use serde_json::json;

    const GIVEN_UP: &[&str] = &["task_given_up", "run_finished"];

    #[tokio::test]
    async fn each_event_is_claimed_once_oldest_first() {
        let store = store_with(&["a", "b"]).await;
        assert!(
            store
                .claim_notifications("r", GIVEN_UP, 10)
                .await
                .unwrap()
                .is_empty()
        );
        for task in ["a", "b"] {
            store
                .record_task_event("r", task, "task_given_up", "no luck", json!({}))
                .await
                .unwrap();
        }
        // An event type the notifier does not follow is skipped.
        let attempt = dispatch(&store, "a").await;
        work(&store, &attempt, FinishKind::Done).await;
        store
            .record_task_event("r", "b", "run_finished", "run r finished", json!({}))
            .await
            .unwrap();
        let first = store.claim_notifications("r", GIVEN_UP, 2).await.unwrap();
        let tasks: Vec<_> = first.iter().map(|e| e.subject.task_id.clone()).collect();
        assert_eq!(tasks, [Some("a".to_string()), Some("b".to_string())]);
        let rest = store.claim_notifications("r", GIVEN_UP, 2).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].event_type, "run_finished");
        assert!(
            store
                .claim_notifications("r", GIVEN_UP, 2)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_question_is_folded_into_task_blocked_before_the_claim() {
        let (store, attempt) = one_claimed().await;
        let thread = attempt.thread_id.as_str();
        ask(&store, thread, serde_json::json!({})).await;
        let claimed = store
            .claim_notifications("r", &["task_blocked"], 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].summary, "which way?");
        assert!(claimed[0].payload["message_id"].is_i64());
    }

    #[tokio::test]
    async fn a_failure_is_recorded_on_the_events_task() {
        let store = store_with(&["a"]).await;
        store
            .record_task_event("r", "a", "task_given_up", "no luck", json!({}))
            .await
            .unwrap();
        let event = store
            .claim_notifications("r", GIVEN_UP, 1)
            .await
            .unwrap()
            .remove(0);
        store
            .record_notify_failure(&event, "webhook: HTTP 500", json!({"event_id": 1}))
            .await
            .unwrap();
        let events = store.events_after("r", event.event_id, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "notify_failed");
        assert_eq!(events[0].subject.task_id.as_deref(), Some("a"));
        assert_eq!(events[0].summary, "webhook: HTTP 500");
    }
}
