//! The benches' shared dataset: control_plane.rs measures `orch status` on it, and
//! backends.rs measures it on both backends. Included with `#[path]` (not a bench).

use orch::model::{ExecutionMode, Priority, TaskStatus, ThreadStatus};
use orch::store::{
    MessageInput, NewAttempt, NewRun, NewTask, PlanInput, PlanTask, Report, Store, Workspace,
};

/// A task of the dataset: shell, analysis, no checks.
pub fn task(id: String) -> NewTask {
    NewTask {
        title: format!("title of {id}"),
        summary: format!("summary of {id}"),
        body: "Do the thing described here, carefully.".into(),
        default_to: "shell".into(),
        execution_mode: Some(ExecutionMode::Analysis),
        acceptance: None,
        checks: Vec::new(),
        priority: Priority::Normal,
        task_id: id,
    }
}

/// A run of 1,000 tasks in the states of a run well under way, whose threads hold
/// 10,000 messages in all: 800 done, 25 failed, 20 running, 5 blocked on a question,
/// 150 never dispatched (waiting on the ones that failed, or ready). Every dispatched
/// thread has 10 to 12 messages: the task, the claim, progress notes, the end.
pub async fn status_fixture(store: &Store) {
    let tasks: Vec<PlanTask> = (0..1000)
        .map(|i| PlanTask {
            task: task(format!("t{i:04}")),
            // The last 150 wait on a failed task, so they stay planned.
            depends_on: if i >= 850 {
                vec![format!("t{:04}", 800 + i % 25)]
            } else {
                Vec::new()
            },
        })
        .collect();
    store
        .apply_plan(&PlanInput {
            run: NewRun {
                run_id: "big".into(),
                goal: "bench".into(),
                summary: String::new(),
                config: None,
            },
            tasks,
        })
        .await
        .unwrap();
    let mut messages = 0;
    for i in 0..850 {
        let task_id = format!("t{i:04}");
        let attempt = store
            .create_attempt(&NewAttempt {
                run_id: "big".into(),
                task_id: task_id.clone(),
                attempt_no: 1,
                assigned_to: "worker".into(),
                execution_mode: ExecutionMode::Analysis,
                created_by: "leader".into(),
                body: String::new(),
                workspace: Workspace::default(),
                allowed: &[TaskStatus::Ready],
                cancel_current: None,
                extra_event: None,
                host: None,
            })
            .await
            .unwrap()
            .attempt;
        let thread = attempt.thread_id.as_str();
        store.claim(thread, "worker", 3_600_000).await.unwrap();
        messages += 2;
        let notes = if i < 670 { 9 } else { 8 };
        // The worker's report on its thread.
        let say = async |status, summary: &str, content: &MessageInput| {
            let report = Report {
                thread_id: thread,
                agent: "worker",
                status,
                summary,
                content,
            };
            store.report(report).await.unwrap();
        };
        for m in 0..notes {
            let content = MessageInput {
                body: format!("step {m} of {task_id}: edited files, ran tests"),
                ..Default::default()
            };
            say(ThreadStatus::InProgress, &format!("step {m}"), &content).await;
            messages += 1;
        }
        let done = MessageInput {
            body: "all done".into(),
            ..Default::default()
        };
        match i {
            0..800 => say(ThreadStatus::Done, "finished", &done).await,
            800..825 => say(ThreadStatus::Failed, "tests fail", &done).await,
            825..845 => {}
            _ => {
                let q = MessageInput {
                    payload: serde_json::json!({"question": "which way?"}),
                    ..Default::default()
                };
                say(ThreadStatus::Blocked, "Which way?", &q).await;
            }
        }
        if !(825..845).contains(&i) {
            messages += 1;
        }
    }
    store.reconcile("big").await.unwrap();
    assert_eq!(messages, 10_000);
}
