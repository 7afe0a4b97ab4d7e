//! `inbox init`: creates the database schema (opening the store does; idempotent).

use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct InitArgs {}

pub async fn run(ctx: &Ctx, _args: InitArgs) -> Result<Reply> {
    let store = &ctx.store;
    Ok(Reply::new(
        "init",
        json!({"db_path": store.location().to_string(), "status": "initialized"}),
        format!("initialized {}", store.location()),
    ))
}
