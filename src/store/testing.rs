//! Fixtures for the store's unit tests: an in-memory database with a run, tasks and
//! attempts made through the store's own verbs.

use super::{FinishKind, MessageInput, NewAttempt, NewRun, NewTask, Store, Workspace};
use crate::model::{Attempt, ExecutionMode, Priority, TaskStatus};

pub(crate) const WORKER: &str = "worker";
pub(crate) const LEASE_MS: i64 = 60_000;

/// A task of run `r` with no checks.
pub(crate) fn task(task_id: &str) -> NewTask {
    NewTask {
        task_id: task_id.to_string(),
        title: format!("title of {task_id}"),
        summary: String::new(),
        body: "do it".to_string(),
        default_to: WORKER.to_string(),
        execution_mode: Some(crate::model::ExecutionMode::Analysis),
        acceptance: None,
        checks: Vec::new(),
        priority: Priority::Normal,
    }
}

/// An in-memory store holding run `r` with `tasks` added in order (all `ready`).
pub(crate) async fn store_with(tasks: &[&str]) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    let run = NewRun {
        run_id: "r".to_string(),
        goal: "test".to_string(),
        ..NewRun::default()
    };
    store.create_run(&run).await.unwrap();
    for task_id in tasks {
        store.add_task("r", &task(task_id)).await.unwrap();
    }
    store
}

/// The attempt `attempt_no` of `task_id`, created from `allowed` statuses.
pub(crate) fn new_attempt(
    task_id: &str,
    attempt_no: i64,
    allowed: &'static [TaskStatus],
) -> NewAttempt {
    NewAttempt {
        run_id: "r".to_string(),
        task_id: task_id.to_string(),
        attempt_no,
        assigned_to: WORKER.to_string(),
        execution_mode: ExecutionMode::Analysis,
        created_by: "leader".to_string(),
        body: String::new(),
        workspace: Workspace::default(),
        allowed,
        cancel_current: None,
        extra_event: None,
        host: None,
    }
}

/// Dispatches the first attempt of a ready task.
pub(crate) async fn dispatch(store: &Store, task_id: &str) -> Attempt {
    let new = new_attempt(task_id, 1, &[TaskStatus::Ready]);
    store.create_attempt(&new).await.unwrap().attempt
}

/// The worker claims the attempt's thread and finishes it `how`.
pub(crate) async fn work(store: &Store, attempt: &Attempt, how: FinishKind) {
    let thread = attempt.thread_id.as_str();
    store.claim(thread, WORKER, LEASE_MS).await.unwrap();
    let content = MessageInput::default();
    say(store, thread, how.into(), "finished", &content).await;
}

/// The status of a task as a read sees it (reads reconcile by themselves).
pub(crate) async fn status(store: &Store, task_id: &str) -> TaskStatus {
    store.task("r", task_id).await.unwrap().status
}

/// Every event type of run `r`, oldest first.
pub(crate) async fn event_types(store: &Store) -> Vec<String> {
    let events = store.events_after("r", 0, 10_000).await.unwrap();
    events.into_iter().map(|e| e.event_type).collect()
}

/// A store whose one task `t` has its first attempt dispatched.
pub(crate) async fn one_dispatched() -> (Store, Attempt) {
    let store = store_with(&["t"]).await;
    let attempt = dispatch(&store, "t").await;
    (store, attempt)
}

/// A store whose one task `t` has its first attempt claimed by [`WORKER`].
pub(crate) async fn one_claimed() -> (Store, Attempt) {
    let (store, attempt) = one_dispatched().await;
    store
        .claim(&attempt.thread_id, WORKER, LEASE_MS)
        .await
        .unwrap();
    (store, attempt)
}

/// A store whose one task `t` failed on its first attempt (the worker said so).
pub(crate) async fn one_failed() -> (Store, Attempt) {
    let (store, attempt) = one_dispatched().await;
    work(&store, &attempt, crate::store::FinishKind::Failed).await;
    (store, attempt)
}

/// The ids of tasks, in their order.
pub(crate) fn ids(tasks: Vec<crate::model::Task>) -> Vec<String> {
    tasks.into_iter().map(|t| t.task_id).collect()
}

/// The worker (holding the thread's lease) asks "which way?" with `payload`.
pub async fn ask(store: &Store, thread: &str, payload: serde_json::Value) {
    let question = crate::store::MessageInput {
        payload,
        ..crate::store::MessageInput::default()
    };
    let blocked = crate::model::ThreadStatus::Blocked;
    say(store, thread, blocked, "which way?", &question).await;
}

/// The worker's report of `status` on `thread`.
pub fn worker_report<'a>(
    thread: &'a str,
    status: crate::model::ThreadStatus,
    summary: &'a str,
    content: &'a MessageInput,
) -> crate::store::Report<'a> {
    crate::store::Report {
        thread_id: thread,
        agent: WORKER,
        status,
        summary,
        content,
    }
}

/// The worker, holding the thread's lease, reports `status` on it.
pub async fn say(
    store: &Store,
    thread: &str,
    status: crate::model::ThreadStatus,
    summary: &str,
    content: &MessageInput,
) {
    let report = worker_report(thread, status, summary, content);
    store.report(report).await.unwrap();
}
