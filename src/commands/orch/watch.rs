//! `orch watch`: follows a run until it ends: the live board on a terminal, one line per
//! event on a pipe (`--json`: one object per event).

use crate::cli::RunArgs;
use crate::commands::render::print_event;
use crate::commands::{Ctx, board};
use crate::error::Result;
use crate::model::RunStatus;
use crate::output::Reply;
use crate::process::procfs;

/// `orch watch` takes the run only.
pub type WatchArgs = RunArgs;

pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<Reply> {
    let run_id = args.run.as_str();
    ctx.store.run(run_id).await?;
    let board = !ctx.style.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut detector = ctx.store.change_detector().await?;
    let mut cursor = 0i64;
    loop {
        // Whether the run has ended is decided before the events are printed, so the
        // last pass prints everything written before it ended.
        let ended = run_ended(ctx, run_id).await?;
        if board {
            let text = board::render(&ctx.store, run_id, &ctx.style, board::width()).await?;
            board::draw(&text);
        } else {
            loop {
                let events = ctx.store.events_after(run_id, cursor, 1000).await?;
                for event in &events {
                    cursor = event.event_id;
                    print_event(event, ctx.style.json, &ctx.style);
                }
                if events.len() < 1000 {
                    break;
                }
            }
        }
        if ended {
            break;
        }
        detector
            .wait(Some(
                tokio::time::Instant::now() + std::time::Duration::from_millis(500),
            ))
            .await?;
    }
    Ok(Reply::streamed("watch"))
}

/// A run has ended when its tasks are over (all done or cancelled, or failed with
/// nothing active) and no supervisor of its attempts is still at work: a supervisor
/// records its attempt's end (`attempt_exited`) after the task is done.
async fn run_ended(ctx: &Ctx, run_id: &str) -> Result<bool> {
    let run = ctx.store.run(run_id).await?;
    let active = run.counts.dispatched
        + run.counts.running
        + run.counts.blocked
        + run.counts.verifying
        + run.counts.ready;
    let over = matches!(run.status, RunStatus::Done | RunStatus::Cancelled)
        || (run.status == RunStatus::Failed && active == 0);
    if !over {
        return Ok(false);
    }
    for (_, supervision) in ctx.store.unsettled_attempts(run_id).await? {
        if let (Some(pid), Some(start)) = (supervision.supervisor_pid, supervision.supervisor_start)
            && procfs::is_same_process(pid as u32, start as u64)
        {
            return Ok(false);
        }
    }
    Ok(true)
}
