//! `orch`: the leader side (contract §5), plus `orch inbox <verb>`. One variant per verb;
//! each verb's arguments are in its file under [`crate::commands::orch`].

use super::GlobalArgs;
use super::inbox::InboxCommand;
use crate::commands::orch::{
    answer::AnswerArgs, attempts::AttemptsArgs, blocked::BlockedArgs, brief::BriefArgs,
    cancel::CancelArgs, cleanup::CleanupArgs, dep_add::DepAddArgs, dispatch::DispatchArgs,
    doctor::DoctorArgs, launch::LaunchArgs, logs::LogsArgs, mcp::McpArgs, next::NextArgs,
    plan_apply::PlanApplyArgs, ready::ReadyArgs, reassign::ReassignArgs, reconcile::ReconcileArgs,
    retry::RetryArgs, run_init::RunInitArgs, run_show::RunShowArgs, status::StatusArgs,
    supervise::SuperviseArgs, task_add::TaskAddArgs, up::UpArgs, verify_record::VerifyRecordArgs,
    verify_status::VerifyStatusArgs, wait::WaitArgs, watch::WatchArgs,
};
use clap::{Parser, Subcommand};

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
    Ready(ReadyArgs),
    /// Create the next attempt of a ready task: its inbox thread and (code mode) worktree.
    Dispatch(DispatchArgs),
    /// Start the worker of an attempt already dispatched, under supervision.
    Launch(LaunchArgs),
    /// Attempts of a task (or the run) with how each was supervised and how it ended.
    Attempts(AttemptsArgs),
    /// Print an attempt's output: text with escapes removed, raw bytes, or parsed events.
    Logs(LogsArgs),
    /// Run a whole plan to its end: dispatch ready tasks under supervision, recover, report.
    Up(UpArgs),
    /// Follow a run: the live board on a terminal, one line per event on a pipe
    /// (`--json`: one object per event), until the run ends.
    Watch(WatchArgs),
    /// Supervise one attempt (started by dispatch --launch and launch; not for people).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
    /// Fold worker thread states into task states.
    Reconcile(ReconcileArgs),
    /// Block until a matching run event (reconciling while waiting).
    Wait(WaitArgs),
    /// What needs the leader now (questions, give-ups, failed checks, ready tasks no
    /// `orch up` will dispatch, the run's finish); `--wait` blocks until something does.
    Next(NextArgs),
    /// Blocked tasks with their newest question.
    Blocked(BlockedArgs),
    /// Answer the active attempt of a task.
    Answer(AnswerArgs),
    /// A new attempt of a failed task.
    Retry(RetryArgs),
    /// Cancel the current attempt and dispatch a new one to another worker.
    Reassign(ReassignArgs),
    /// Cancel a task, or the whole run.
    Cancel(CancelArgs),
    /// Remove worktree directories of finished attempts (branches are kept).
    Cleanup(CleanupArgs),
    /// The run, every task, latest attempts and messages (reconciles first).
    Status(StatusArgs),
    /// Print the worker brief of a task's attempt.
    Brief(BriefArgs),
    /// Serve the leader's verbs as MCP tools on stdin/stdout (for Claude Code, Codex).
    Mcp(McpArgs),
    /// Check the workers' CLIs: installed, version, login, and what each may do.
    Doctor(DoctorArgs),
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
    Init(RunInitArgs),
    /// A run with its task counts.
    Show(RunShowArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum TaskCommand {
    /// Add a task to a run.
    Add(TaskAddArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum DepCommand {
    /// TASK waits until DEPENDS_ON is done.
    Add(DepAddArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum PlanCommand {
    /// Apply a TOML or JSON plan file in one transaction.
    Apply(PlanApplyArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum VerifyCommand {
    /// The gate: pending, passed or failed, with each check.
    Status(VerifyStatusArgs),
    /// Record one check's result.
    Record(VerifyRecordArgs),
}
