//! `orch status`: the run, every task, latest attempts and messages (reconciles first).
//! Rows carry no task body; a blocked task's question leaves its body out unless
//! `--bodies`.

use crate::cli::ListArgs;
use crate::commands::{Ctx, frugal, render};
use crate::error::Result;
use crate::output::Reply;

/// `orch status` takes the run and `--bodies`.
pub type StatusArgs = ListArgs;

pub async fn run(ctx: &Ctx, args: StatusArgs) -> Result<Reply> {
    let store = &ctx.store;
    let view = store.status_view(&args.run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::status(&ctx.style, &view.run, &view.tasks()?)
    };
    let mut data = view.into_json_parts()?;
    if !args.bodies {
        for part in &mut data {
            without_question_body(part);
        }
    }
    Ok(Reply::raw("status", data, human))
}

/// Stored task rows (one part of the reply: a row, or several joined by commas) with
/// each `blocked_question`'s body left out. Only parts holding a blocked task's row are
/// parsed again; the others are left as stored.
fn without_question_body(part: &mut String) {
    if !part.contains("\"blocked_question\":{") {
        return;
    }
    let Ok(mut rows) = serde_json::from_str::<Vec<serde_json::Value>>(&format!("[{part}]")) else {
        return;
    };
    for row in &mut rows {
        if let Some(question) = row.get_mut("blocked_question") {
            frugal::elide(question, "body");
        }
    }
    let rows: Vec<String> = rows
        .iter()
        .filter_map(|r| serde_json::to_string(r).ok())
        .collect();
    *part = rows.join(",");
}
