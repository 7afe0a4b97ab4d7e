//! The attempt factory: every new attempt is made here, whoever asks — `orch dispatch`,
//! `retry` and `reassign` (the leader), the scheduler of `orch up`, and the retry ladder
//! after an attempt ends. A request says which step it is ([`Step`]: first, retry,
//! reassign), which decides the task statuses it may be made in and the event it adds;
//! the factory prepares the workspace ([`super::workspace`]), records the attempt with
//! its thread and task message in one transaction (the worktree is taken back if the
//! record is refused), then the remote its branch is pushed to when pushing is on,
//! leaves the hand-over for the next brief, and starts the
//! attempt's supervisor when asked ([`Start`]).

use super::launch::{launch_with, start_supervisor};
use super::workspace::{self, Base, Location, follow_previous};
use crate::config::Workers;
use crate::error::Result;
use crate::model::{Attempt, ExecutionMode, TaskStatus};
use crate::store::{AttemptPlan, Created, ExtraEvent, NewAttempt, Store};
use crate::supervisor::LaunchReport;
use serde_json::json;

/// Which attempt of a task is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The first attempt of a ready task.
    First,
    /// Another attempt of a failed task.
    Retry,
    /// The task given to another worker. `cancel_current` (the leader's reassign) cancels
    /// the current attempt's thread with that reason and may take a task still at work;
    /// without it (the retry ladder) only a failed task is reassigned.
    Reassign { cancel_current: Option<String> },
}

impl Step {
    /// The task statuses this step may make an attempt in.
    pub fn allowed(&self) -> &'static [TaskStatus] {
        match self {
            Step::First => &[TaskStatus::Ready],
            Step::Retry
            | Step::Reassign {
                cancel_current: None,
            } => &[TaskStatus::Failed],
            Step::Reassign {
                cancel_current: Some(_),
            } => &[
                TaskStatus::Dispatched,
                TaskStatus::Running,
                TaskStatus::Blocked,
                TaskStatus::Failed,
            ],
        }
    }
}

/// The task and the attempt number a `step` would make, refused (`invalid_state`) when
/// the task is not in a status the step allows; `by` names the asker in that refusal.
pub async fn plan(
    store: &Store,
    run: &str,
    task: &str,
    step: &Step,
    by: &str,
) -> Result<AttemptPlan> {
    store.attempt_plan(run, task, step.allowed(), by).await
}

/// What to make.
pub struct AttemptRequest {
    pub step: Step,
    pub run: String,
    pub task: String,
    /// The worker (profile or adapter) the attempt is assigned to.
    pub to: String,
    pub mode: ExecutionMode,
    /// The task message's body.
    pub body: String,
    pub location: Location,
    pub base: Base,
    /// The `task_retried` / `task_reassigned` event (none for a first attempt).
    pub extra_event: Option<ExtraEvent>,
    /// Who dispatches (the thread's creator): the leader, or `orch`.
    pub created_by: String,
    /// What the next brief says about the attempt before (the retry ladder's hand-over).
    pub note: Option<String>,
    /// The agent session the attempt resumes (a parked task, same worker).
    pub resume_session: Option<String>,
}

impl AttemptRequest {
    /// The first attempt of `plan`'s task.
    pub fn first(
        plan: &AttemptPlan,
        to: String,
        mode: ExecutionMode,
        location: Location,
        base: Base,
    ) -> Self {
        AttemptRequest {
            step: Step::First,
            run: plan.task.run_id.clone(),
            task: plan.task.task_id.clone(),
            to,
            mode,
            body: plan.task.body.clone(),
            location,
            base,
            extra_event: None,
            created_by: "orch".to_string(),
            note: None,
            resume_session: None,
        }
    }

    /// The attempt after `previous` (a retry or a reassign), in its repository, workspace
    /// root and mode, from its base commit unless `base_ref` says otherwise. `reason` goes
    /// into the step's event (a leader's retry gives none).
    pub fn after(
        plan: &AttemptPlan,
        previous: &Attempt,
        step: Step,
        to: String,
        base_ref: Option<String>,
        reason: Option<&str>,
    ) -> Self {
        let (location, base) = follow_previous(previous, base_ref);
        let mut payload = json!({"previous_attempt": previous.attempt_no});
        let event_type = match step {
            Step::Reassign { .. } => {
                payload["from"] = json!(previous.assigned_to);
                "task_reassigned"
            }
            Step::First | Step::Retry => "task_retried",
        };
        payload["to"] = json!(to);
        if let Some(reason) = reason {
            payload["reason"] = json!(reason);
        }
        AttemptRequest {
            step,
            mode: previous.execution_mode,
            extra_event: Some(ExtraEvent {
                event_type,
                payload,
            }),
            location,
            base,
            ..AttemptRequest::first(
                plan,
                to,
                previous.execution_mode,
                Location::default(),
                Base::CleanHead,
            )
        }
    }
}

/// Whether to start the new attempt's supervisor.
pub enum Start<'a> {
    /// Only record the attempt (the leader launches it later, or runs the worker itself).
    No,
    /// Start its supervisor.
    Supervisor,
    /// Start its supervisor and report what it runs (`dispatch --launch`), with the
    /// workers already checked.
    Reported(&'a Workers),
}

/// A new attempt, and its supervisor when one was started.
pub struct Made {
    pub created: Created,
    pub supervisor_pid: Option<u32>,
    pub launch: Option<LaunchReport>,
}

/// Makes the attempt `request` asks for, as the next attempt of `plan`'s task.
pub async fn make(
    store: &Store,
    plan: &AttemptPlan,
    request: AttemptRequest,
    start: Start<'_>,
) -> Result<Made> {
    let AttemptRequest {
        step,
        run,
        task,
        to,
        mode,
        body,
        location,
        base,
        extra_event,
        created_by,
        note,
        resume_session,
    } = request;
    let attempt_no = plan.next_attempt_no;
    // The lock (code mode) is held from the worktree's creation to the attempt's record.
    let workspace::Prepared {
        record: workspace,
        lock: _dispatch_lock,
        push_to,
    } = workspace::prepare(store, mode, &location, base, &run, &task, attempt_no).await?;
    let allowed = step.allowed();
    let cancel_current = match step {
        Step::Reassign { cancel_current } => cancel_current,
        Step::First | Step::Retry => None,
    };
    let new = NewAttempt {
        run_id: run,
        task_id: task,
        attempt_no,
        assigned_to: to,
        execution_mode: mode,
        created_by,
        body,
        workspace,
        allowed,
        cancel_current,
        extra_event,
        // Launched here at once: this host's from the start (see `NewAttempt::host`).
        host: match start {
            Start::No => None,
            Start::Supervisor | Start::Reported(_) => Some(super::hosts::this_host().to_string()),
        },
    };
    let created = match store.create_attempt(&new).await {
        Ok(created) => created,
        Err(err) => {
            workspace::discard(&new.workspace);
            return Err(err);
        }
    };
    let thread = &created.attempt.thread_id;
    if let (Some(remote), Some(branch)) = (&push_to, &created.attempt.workspace.branch_name) {
        store
            .record_push_target(thread, &remote.name, branch)
            .await?;
    }
    if let Some(note) = &note {
        store.set_brief_note(thread, note).await?;
    }
    if let Some(session) = &resume_session {
        store.set_resume_session(thread, session).await?;
    }
    let (supervisor_pid, launch) = match start {
        Start::No => (None, None),
        Start::Supervisor => (Some(start_supervisor(store, &created.attempt).await?), None),
        Start::Reported(workers) => {
            let report = launch_with(store, &created.task, &created.attempt, workers).await?;
            (Some(report.supervisor_pid), Some(report))
        }
    };
    Ok(Made {
        created,
        supervisor_pid,
        launch,
    })
}
