//! `orch watch`: follows a run until it ends: the live board on a terminal, one line per
//! event on a pipe (`--json`: one object per event).

use crate::cli::RunArgs;
use crate::commands::render::print_event;
use crate::commands::{Ctx, board};
use crate::error::Result;
use crate::model::RunStatus;
use crate::output::Reply;

/// `orch watch` takes the run only.
pub type WatchArgs = RunArgs;

pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<Reply> {
    let run_id = args.run.as_str();
    ctx.store.run(run_id).await?;
    let board = !ctx.style.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut detector = ctx.store.change_detector().await?;
    let mut cursor = 0i64;
    loop {
        if board {
            let text = board::render(&ctx.store, run_id, &ctx.style, board::width()).await?;
            board::draw(&text);
        } else {
            for event in ctx.store.events_after(run_id, cursor, 1000).await? {
                cursor = event.event_id;
                print_event(&event, ctx.style.json, &ctx.style);
            }
        }
        let run = ctx.store.run(run_id).await?;
        let active = run.counts.dispatched
            + run.counts.running
            + run.counts.blocked
            + run.counts.verifying
            + run.counts.ready;
        if matches!(run.status, RunStatus::Done | RunStatus::Cancelled)
            || (run.status == RunStatus::Failed && active == 0)
        {
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
