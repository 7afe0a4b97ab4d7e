//! `orch mcp`: serves the leader's verbs as MCP tools on stdin/stdout (see
//! [`crate::mcp`]) until the client disconnects. Takes the global `--db` and `--agent`.

use crate::commands::Ctx;
use crate::error::Result;
use crate::output::{Reply, Style};
use clap::Args;
use std::sync::Arc;

#[derive(Debug, Clone, Args)]
pub struct McpArgs {}

pub async fn run(ctx: &Ctx, _args: McpArgs) -> Result<Reply> {
    crate::redact::trace_to_stderr("warn");
    // The tools return the verbs' JSON data: no human rendering, no colour.
    let tools_ctx = Arc::new(Ctx {
        store: ctx.store.clone(),
        agent: ctx.agent.clone(),
        style: Style {
            json: true,
            color: false,
        },
    });
    crate::mcp::serve(tools_ctx).await?;
    // Stdout was the protocol: nothing more is printed on it.
    Ok(Reply::streamed("mcp"))
}
