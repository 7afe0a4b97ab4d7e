//! `orch blocked`: the blocked tasks with their newest question.

use crate::cli::RunArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::{Reply, clip};
use serde_json::json;

/// `orch blocked` takes the run only.
pub type BlockedArgs = RunArgs;

pub async fn run(ctx: &Ctx, args: BlockedArgs) -> Result<Reply> {
    let store = &ctx.store;
    let blocked = store.blocked(&args.run).await?;
    let mut human = String::new();
    let items: Vec<_> = blocked
        .iter()
        .map(|(task, attempt, question)| {
            human.push_str(&format!(
                "{} (attempt {}, {}): {}\n",
                task.task_id,
                attempt.attempt_no,
                attempt.assigned_to,
                question
                    .as_ref()
                    .map(|q| clip(&q.summary, 100))
                    .unwrap_or_default()
            ));
            json!({"task": task, "attempt": attempt, "question": question})
        })
        .collect();
    if items.is_empty() {
        human.push_str("no blocked tasks\n");
    }
    Ok(Reply::new("blocked", json!({"tasks": items}), human))
}
