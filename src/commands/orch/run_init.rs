//! `orch run init`: creates a run.

use crate::cli::RequestArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::ids::validate_id;
use crate::output::Reply;
use crate::store::NewRun;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct RunInitArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long, default_value = "")]
    pub goal: String,
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: RunInitArgs) -> Result<Reply> {
    validate_id("run id", &args.run)?;
    let run = ctx
        .store
        .create_run(&NewRun {
            run_id: args.run,
            goal: args.goal,
            summary: args.summary,
            config: None,
        })
        .await?;
    let human = format!("created run {}", run.run_id);
    Ok(Reply::new("init", json!({"run": run}), human))
}
