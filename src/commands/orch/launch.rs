//! `orch launch`: starts the supervisor of an attempt already dispatched, unless the
//! attempt has ended or is supervised already.

use crate::cli::{AttemptArgs, RequestArgs, TaskArgs};
use crate::commands::Ctx;
use crate::error::{Error, Result};
use crate::orchestration::launch::launch;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct LaunchArgs {
    #[command(flatten)]
    pub attempt: AttemptArgs,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: LaunchArgs) -> Result<Reply> {
    let TaskArgs { run, task } = args.attempt.task;
    let attempt = args.attempt.attempt;
    let task_record = ctx.store.task(&run, &task).await?;
    let attempt = ctx.store.attempt(&run, &task, attempt).await?;
    if attempt.status.is_terminal() {
        return Err(Error::invalid_state(format!(
            "attempt {} of task {task:?} is {}; dispatch or retry for a new one",
            attempt.attempt_no, attempt.status
        )));
    }
    let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
    if let (Some(pid), Some(start)) = (supervision.supervisor_pid, supervision.supervisor_start)
        && crate::process::procfs::is_same_process(pid as u32, start as u64)
    {
        return Err(Error::invalid_state(format!(
            "attempt {} of task {task:?} is already supervised (pid {pid})",
            attempt.attempt_no
        )));
    }
    let report = launch(&ctx.store, &task_record, &attempt).await?;
    let human = format!(
        "launched {} for {} attempt {} (supervisor pid {}), log {}",
        report.adapter, task, attempt.attempt_no, report.supervisor_pid, report.log_path
    );
    Ok(Reply::new(
        "launch",
        json!({"attempt": attempt, "launch": report}),
        human,
    ))
}
