//! `orch plan apply`: creates or extends a run from a plan file, in one transaction.

use crate::cli::RequestArgs;
use crate::commands::{Ctx, render, to_json};
use crate::error::{Error, Result};
use crate::output::Reply;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct PlanApplyArgs {
    /// The run (default: the plan's [run] id).
    #[arg(long)]
    pub run: Option<String>,
    #[arg(long, value_name = "PLAN")]
    pub file: PathBuf,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: PlanApplyArgs) -> Result<Reply> {
    let plan = crate::plan::load(&args.file, args.run.as_deref())?;
    let outcome = ctx.store.apply_plan(&plan).await?;
    let run = outcome
        .run
        .clone()
        .ok_or_else(|| Error::internal("plan apply returned no run"))?;
    let human = format!(
        "{} run {}: {} task(s) added, {} unchanged, {} dependencies; {}",
        if outcome.run_created {
            "created"
        } else {
            "extended"
        },
        run.run_id,
        outcome.created.len(),
        outcome.unchanged.len(),
        outcome.edges_created,
        Some(render::counts(&run))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "no tasks".into())
    );
    Ok(Reply::new(
        "apply",
        json!({
            "run": to_json(&run),
            "run_created": outcome.run_created,
            "tasks_created": outcome.created,
            "tasks_unchanged": outcome.unchanged,
            "edges_created": outcome.edges_created,
        }),
        human,
    ))
}
