//! What needs the leader, on the store: each item once past its cursor, none missed, and
//! `run_finished` once per finish.

use super::*;
use crate::model::{Attempt, AttemptOutcome, TaskStatus};
use crate::store::testing::*;
use crate::store::{AttemptEnd, FinishKind, MessageInput, UpProcess};
use serde_json::json;

fn kinds(view: &NextView) -> Vec<&'static str> {
    view.items
        .iter()
        .map(|item| match item {
            Need::Question { .. } => "question",
            Need::GaveUp { .. } => "gave_up",
            Need::CheckFailed { .. } => "check_failed",
            Need::Failed { .. } => "failed",
            Need::Ready { .. } => "ready",
            Need::RunFinished { .. } => "run_finished",
        })
        .collect()
}

/// The run's `run_finished` events: their statuses, oldest first.
/// A store with tasks `a` and `b`, each on its first attempt.
async fn two_dispatched() -> (Store, Attempt, Attempt) {
    let store = store_with(&["a", "b"]).await;
    let a = dispatch(&store, "a").await;
    let b = dispatch(&store, "b").await;
    (store, a, b)
}

async fn finishes(store: &Store) -> Vec<String> {
    let events = store.events_after("r", 0, 10_000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.event_type == "run_finished")
        .map(|e| e.payload["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_open_question_is_an_item_once_past_its_cursor_and_none_once_answered() {
    let (store, attempt) = one_claimed().await;
    let thread = attempt.thread_id.as_str();
    ask(
        &store,
        thread,
        json!({"question": "JSON or text?", "options": ["json", "text"]}),
    )
    .await;
    let view = store.needs_leader("r", 0).await.unwrap();
    // As `orch next --json` prints it: no body, no thread record.
    let item = serde_json::to_value(&view.items[0]).unwrap();
    let message_id = item["message_id"].as_i64().unwrap();
    assert_eq!(
        item,
        json!({"kind": "question", "event_id": item["event_id"], "task_id": "t",
               "attempt_no": 1, "message_id": message_id, "text": "JSON or text?",
               "options": ["json", "text"]}),
    );
    assert_eq!(view.next_event_id, store.max_event_id().await.unwrap());
    // Past the cursor: not again.
    let later = store.needs_leader("r", view.next_event_id).await.unwrap();
    assert!(later.items.is_empty(), "{later:#?}");
    // A second question is a new item, with its own message id.
    ask(&store, thread, json!({})).await;
    let second = store.needs_leader("r", view.next_event_id).await.unwrap();
    match &second.items[..] {
        [
            Need::Question {
                message_id: m,
                text,
                ..
            },
        ] => {
            assert!(*m > message_id);
            assert_eq!(text, "which way?");
        }
        other => panic!("{other:#?}"),
    }
    // Answered: no longer pending, even without a cursor (the thread stays blocked until
    // the worker goes on).
    store
        .answer(
            "r",
            "t",
            crate::store::AnswerFor::default(),
            "leader",
            "json",
            &MessageInput::default(),
        )
        .await
        .unwrap();
    assert!(store.needs_leader("r", 0).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_give_up_carries_why_the_attempts_and_the_last_lines_of_output() {
    let (store, attempt) = one_dispatched().await;
    let thread = attempt.thread_id.as_str();
    let record = crate::store::SupervisorRecord {
        profile: String::new(),
        adapter: "shell".into(),
        log_path: String::new(),
    };
    store
        .claim_supervision_as(thread, 1, 1, "", Some(&record))
        .await
        .unwrap();
    work(&store, &attempt, FinishKind::Failed).await;
    let mut end = AttemptEnd::new(AttemptOutcome::Failed, "exit 1".into());
    end.details.output_tail = "one\ntwo\n\nthree\nfour\n".into();
    store.record_attempt_end(thread, &end).await.unwrap();
    // The ladder has not decided yet: the run is not finished, nothing needs the leader.
    let before = store.needs_leader("r", 0).await.unwrap();
    assert!(before.items.is_empty(), "{before:#?}");
    store
        .record_task_event(
            "r",
            "t",
            "task_given_up",
            "failed (2 attempts with w, 2 allowed) and no fallback left",
            json!({"attempt_no": 1, "outcome": "failed"}),
        )
        .await
        .unwrap();
    store.mark_settled(thread).await.unwrap();
    let view = store.needs_leader("r", 0).await.unwrap();
    assert_eq!(kinds(&view), ["gave_up", "run_finished"]);
    assert_eq!(
        view.items[0],
        Need::GaveUp {
            event_id: view.items[0].event_id(),
            task_id: "t".into(),
            attempts: 1,
            why: "failed (2 attempts with w, 2 allowed) and no fallback left".into(),
            last_lines: vec!["two".into(), "three".into(), "four".into()],
        }
    );
    assert_eq!(finishes(&store).await, ["failed"]);
}

#[tokio::test]
async fn a_failed_attempt_nobody_supervised_is_the_leaders() {
    let (store, a, b) = two_dispatched().await;
    work(&store, &a, FinishKind::Failed).await;
    let view = store.needs_leader("r", 0).await.unwrap();
    assert_eq!(kinds(&view), ["failed"]);
    // Retried: the failure is no longer pending.
    let retry = new_attempt("a", 2, &[TaskStatus::Failed]);
    store.create_attempt(&retry).await.unwrap();
    assert!(store.needs_leader("r", 0).await.unwrap().items.is_empty());
    work(&store, &b, FinishKind::Done).await;
    assert!(store.needs_leader("r", 0).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn run_finished_is_emitted_once_per_finish() {
    let (store, a, b) = two_dispatched().await;
    work(&store, &a, FinishKind::Done).await;
    work(&store, &b, FinishKind::Failed).await;
    for _ in 0..3 {
        store.status_view("r").await.unwrap();
        store.reconcile("r").await.unwrap();
    }
    assert_eq!(finishes(&store).await, ["failed"]);
    let view = store.needs_leader("r", 0).await.unwrap();
    match view.items.last() {
        Some(Need::RunFinished {
            status,
            failed,
            summary,
            ..
        }) => {
            assert_eq!(status, "failed");
            assert_eq!(failed, &["b"]);
            assert_eq!(summary, "run failed: 1 of 2 tasks done, 1 failed");
        }
        other => panic!("{other:#?}"),
    }
    // A retry makes the run active again; its finish is a second event.
    let retry = new_attempt("b", 2, &[TaskStatus::Failed]);
    let b2 = store.create_attempt(&retry).await.unwrap().attempt;
    store.reconcile("r").await.unwrap();
    assert_eq!(finishes(&store).await, ["failed"]);
    work(&store, &b2, FinishKind::Done).await;
    store.reconcile("r").await.unwrap();
    store.reconcile("r").await.unwrap();
    assert_eq!(finishes(&store).await, ["failed", "done"]);
}

#[tokio::test]
async fn a_retry_and_its_end_between_two_reads_still_finish_again() {
    let (store, _) = one_failed().await;
    store.reconcile("r").await.unwrap();
    assert_eq!(finishes(&store).await, ["failed"]);
    // No read sees the task active: the triggers clear the finish all the same.
    let retry = new_attempt("t", 2, &[TaskStatus::Failed]);
    let second = store.create_attempt(&retry).await.unwrap().attempt;
    work(&store, &second, FinishKind::Failed).await;
    store.reconcile("r").await.unwrap();
    assert_eq!(finishes(&store).await, ["failed", "failed"]);
}

#[tokio::test]
async fn a_cancelled_run_finishes_once() {
    let store = store_with(&["a", "b"]).await;
    dispatch(&store, "a").await;
    store.cancel_run("r", "leader", "enough").await.unwrap();
    store.reconcile("r").await.unwrap();
    store.status_view("r").await.unwrap();
    assert_eq!(finishes(&store).await, ["cancelled"]);
    let view = store.needs_leader("r", 0).await.unwrap();
    assert_eq!(kinds(&view), ["run_finished"]);
}

#[tokio::test]
async fn ready_tasks_are_the_leaders_while_no_orch_up_runs_the_run() {
    let store = store_with(&["a", "b"]).await;
    let view = store.needs_leader("r", 0).await.unwrap();
    match &view.items[..] {
        [Need::Ready { why, task_ids, .. }] => {
            assert_eq!(*why, super::NO_UP);
            assert_eq!(task_ids, &["a", "b"]);
        }
        other => panic!("{other:#?}"),
    }
    let cursor = view.next_event_id;
    let up = UpProcess { pid: 7, start: 9 };
    store.host_started("r", "h", up, "m", 0).await.unwrap();
    assert!(store.needs_leader("r", 0).await.unwrap().items.is_empty());
    // A task without a default worker is the leader's even while orch up runs.
    let mut lone = task("c");
    lone.default_to = String::new();
    store.add_task("r", &lone).await.unwrap();
    let view = store.needs_leader("r", cursor).await.unwrap();
    match &view.items[..] {
        [Need::Ready { why, task_ids, .. }] => {
            assert_eq!(*why, super::NO_WORKER);
            assert_eq!(task_ids, &["c"]);
        }
        other => panic!("{other:#?}"),
    }
    let cursor = view.next_event_id;
    // Another process's record is not cleared; the right one is, once.
    let other = UpProcess { pid: 7, start: 10 };
    assert!(!store.host_stopped("r", "h", other).await.unwrap());
    // A second host runs the run too: while it does, the tasks are not the leader's.
    store.host_started("r", "h2", other, "m", 0).await.unwrap();
    assert!(store.host_stopped("r", "h", up).await.unwrap());
    assert!(!store.host_stopped("r", "h", up).await.unwrap());
    let view = store.needs_leader("r", cursor).await.unwrap();
    assert!(view.items.is_empty(), "{view:#?}");
    let marked = store.host_gone("r", "h2", other, "sent no heartbeat for 9.0 s");
    assert!(marked.await.unwrap());
    // orch up stopped: every ready task is the leader's again, past the cursor.
    let view = store.needs_leader("r", cursor).await.unwrap();
    match &view.items[..] {
        [Need::Ready { task_ids, .. }] => assert_eq!(task_ids, &["a", "b", "c"]),
        other => panic!("{other:#?}"),
    }
    let later = store.needs_leader("r", view.next_event_id).await.unwrap();
    assert!(later.items.is_empty(), "{later:#?}");
}

#[tokio::test]
async fn a_check_failed_by_someone_else_than_orch_is_an_item() {
    let store = store_with(&[]).await;
    let mut checked = task("t");
    checked.checks = vec![crate::store::CheckSpec {
        name: "review".into(),
        command: None,
    }];
    store.add_task("r", &checked).await.unwrap();
    let attempt = dispatch(&store, "t").await;
    work(&store, &attempt, FinishKind::Done).await;
    assert_eq!(status(&store, "t").await, TaskStatus::Verifying);
    store
        .record_check(
            "r",
            "t",
            "review",
            false,
            "missing tests\nsee foo.rs",
            "reviewer",
        )
        .await
        .unwrap();
    let view = store.needs_leader("r", 0).await.unwrap();
    match &view.items[..] {
        [
            Need::CheckFailed {
                check, last_lines, ..
            },
            Need::RunFinished { .. },
        ] => {
            assert_eq!(check, "review");
            assert_eq!(last_lines, &["missing tests", "see foo.rs"]);
        }
        other => panic!("{other:#?}"),
    }
}

#[test]
fn last_lines_keeps_the_last_three_non_empty_lines_clipped() {
    let long = "x".repeat(200);
    let lines = last_lines(&format!("a\n\nb\nc\n{long}\n  \n"));
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[..2], ["b", "c"]);
    assert_eq!(lines[2].chars().count(), LINE_MAX + 1);
    assert!(last_lines("").is_empty());
}
