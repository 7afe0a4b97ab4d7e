//! `orch status`: the run, every task, latest attempts and messages (reconciles first).

use crate::cli::RunArgs;
use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;

/// `orch status` takes the run only.
pub type StatusArgs = RunArgs;

pub async fn run(ctx: &Ctx, args: StatusArgs) -> Result<Reply> {
    let store = &ctx.store;
    let view = store.status_view(&args.run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::status(&ctx.style, &view.run, &view.tasks()?)
    };
    let data = view.into_json_parts()?;
    Ok(Reply::raw("status", data, human))
}
