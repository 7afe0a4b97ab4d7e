//! `orch`: the leader side (contract §5), plus `orch inbox <verb>`.

use super::inbox::InboxCommand;
use super::{BodyArgs, GlobalArgs, MessageArgs};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Plan, dispatch and supervise AI coding agents over a SQLite control plane.
#[derive(Debug, Parser)]
#[command(name = "orch", version, about, propagate_version = true)]
pub struct OrchCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: OrchCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum OrchCommand {
    /// Create or inspect a run.
    #[command(subcommand)]
    Run(RunCommand),
    /// Add tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Add dependencies between tasks.
    #[command(subcommand)]
    Dep(DepCommand),
    /// Create or extend a run from a plan file, all or nothing.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Tasks ready to dispatch, by priority then creation order.
    Ready {
        #[arg(long)]
        run: String,
    },
    /// Create the next attempt of a ready task: its inbox thread and (code mode) worktree.
    Dispatch {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        #[arg(long, value_parser = ["analysis", "code"])]
        execution_mode: String,
        /// Worker (default: the task's default worker).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        body: BodyArgs,
        /// The repository (default: the current directory).
        #[arg(long, value_name = "PATH")]
        repo_path: Option<PathBuf>,
        /// Base the worktree on this ref (default: HEAD, which must be clean).
        #[arg(long)]
        base_ref: Option<String>,
        /// Where worktrees go (default: .orch/worktrees under the repository).
        #[arg(long, value_name = "PATH")]
        workspace_root: Option<PathBuf>,
        /// Also start the worker under supervision (returns at once with data.launch).
        #[arg(long)]
        launch: bool,
    },
    /// Start the worker of an attempt already dispatched, under supervision.
    Launch {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        /// Attempt number (default: the current one).
        #[arg(long)]
        attempt: Option<i64>,
    },
    /// Attempts of a task (or the run) with how each was supervised and how it ended.
    Attempts {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: Option<String>,
    },
    /// Print an attempt's output: text with escapes removed, raw bytes, or parsed events.
    Logs {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        /// Attempt number (default: the current one).
        #[arg(long)]
        attempt: Option<i64>,
        /// Keep printing until the attempt ends.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long, value_name = "N")]
        lines: Option<usize>,
        /// The bytes exactly as the worker printed them.
        #[arg(long)]
        raw: bool,
    },
    /// Run a whole plan to its end: dispatch ready tasks under supervision, recover, report.
    Up {
        /// The run (default: the plan's [run] id).
        #[arg(long)]
        run: Option<String>,
        /// Apply this plan file first (re-applying an applied plan changes nothing).
        #[arg(long, value_name = "PLAN")]
        plan: Option<PathBuf>,
        /// Workers running at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Follow a run: the live board on a terminal, one line per event on a pipe
    /// (`--json`: one object per event), until the run ends.
    Watch {
        #[arg(long)]
        run: String,
    },
    /// Supervise one attempt (started by dispatch --launch and launch; not for people).
    #[command(hide = true)]
    Supervise {
        /// The attempt's thread id.
        #[arg(long)]
        attempt: String,
    },
    /// Fold worker thread states into task states.
    Reconcile {
        #[arg(long)]
        run: String,
    },
    /// Block until a matching run event (reconciling while waiting).
    Wait {
        #[arg(long)]
        run: String,
        /// Comma-separated event types (default: any).
        #[arg(long = "for")]
        for_types: Option<String>,
        /// Resume after this event id (default: now).
        #[arg(long)]
        after_event: Option<i64>,
        /// 0 waits forever.
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
    },
    /// Blocked tasks with their newest question.
    Blocked {
        #[arg(long)]
        run: String,
    },
    /// Answer the active attempt of a task.
    Answer {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        /// The attempt the answer is meant for: refused if the task has moved on to a
        /// newer attempt since the question was asked.
        #[arg(long)]
        attempt: Option<i64>,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// A new attempt of a failed task.
    Retry {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        /// Worker (default: the previous assignee).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        body: BodyArgs,
        /// Base the new worktree on this ref (default: the previous attempt's base commit).
        #[arg(long)]
        base_ref: Option<String>,
    },
    /// Cancel the current attempt and dispatch a new one to another worker.
    Reassign {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        body: BodyArgs,
        /// Base the new worktree on this ref (default: the previous attempt's base commit).
        #[arg(long)]
        base_ref: Option<String>,
    },
    /// Cancel a task, or the whole run.
    Cancel {
        #[arg(long)]
        run: String,
        /// Only this task (default: the whole run).
        #[arg(long)]
        task: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove worktree directories of finished attempts (branches are kept).
    Cleanup {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: Option<String>,
        #[arg(long)]
        attempt: Option<i64>,
        /// Every finished task's worktrees.
        #[arg(long)]
        all_completed: bool,
        /// Remove even worktrees holding uncommitted changes or unmerged commits,
        /// after saving them (a patch, a bundle) under `<state>/salvage/`.
        #[arg(long)]
        force: bool,
    },
    /// The run, every task, latest attempts and messages (reconciles first).
    Status {
        #[arg(long)]
        run: String,
    },
    /// Print the worker brief of a task's attempt.
    Brief {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        /// Attempt number (default: the current one).
        #[arg(long)]
        attempt: Option<i64>,
    },
    /// Check the workers' CLIs: installed, version, login, and what each may do.
    Doctor {
        /// Only the workers this run's tasks name, with their fallbacks.
        #[arg(long)]
        run: Option<String>,
    },
    /// The verification gate of a task.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// The worker-side inbox verbs (same as the `inbox` binary).
    #[command(subcommand)]
    Inbox(InboxCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum RunCommand {
    /// Create a run.
    Init {
        #[arg(long)]
        run: String,
        #[arg(long, default_value = "")]
        goal: String,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// A run with its task counts.
    Show {
        #[arg(long)]
        run: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum TaskCommand {
    /// Add a task to a run.
    Add {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        #[arg(long, default_value = "")]
        title: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        body: BodyArgs,
        /// The worker `dispatch` and `up` use by default.
        #[arg(long, value_name = "WORKER")]
        default_to: Option<String>,
        /// analysis|code: the mode `up` dispatches with.
        #[arg(long, value_parser = ["analysis", "code"])]
        execution_mode: Option<String>,
        /// Acceptance criteria, a JSON object; {"checks": [{"name", "run"}]} adds checks.
        #[arg(long, value_name = "JSON")]
        acceptance_json: Option<String>,
        /// A check that must pass before the task is done (repeatable).
        #[arg(long, value_name = "NAME")]
        required_check: Vec<String>,
        /// low|normal|high|urgent.
        #[arg(long, default_value = "normal")]
        priority: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum DepCommand {
    /// TASK waits until DEPENDS_ON is done.
    Add {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        #[arg(long)]
        depends_on: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum PlanCommand {
    /// Apply a TOML or JSON plan file in one transaction.
    Apply {
        /// The run (default: the plan's [run] id).
        #[arg(long)]
        run: Option<String>,
        #[arg(long, value_name = "PLAN")]
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum VerifyCommand {
    /// The gate: pending, passed or failed, with each check.
    Status {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
    },
    /// Record one check's result.
    Record {
        #[arg(long)]
        run: String,
        #[arg(long)]
        task: String,
        #[arg(long)]
        check: String,
        #[arg(long, value_parser = ["passed", "failed"])]
        status: String,
        #[arg(long, default_value = "")]
        details: String,
    },
}
