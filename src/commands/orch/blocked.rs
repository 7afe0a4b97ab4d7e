//! `orch blocked`: the blocked tasks with their newest question (the open one), whose
//! message id `orch answer --question` takes.

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
            // The id as the flag that names it, ready to copy into `orch answer`.
            let asked = match question {
                Some(q) => format!("--question {}: {}", q.message_id, clip(&q.summary, 100)),
                None => "no question yet".to_string(),
            };
            human.push_str(&format!(
                "{} (attempt {}, {}) {asked}\n",
                task.task_id, attempt.attempt_no, attempt.assigned_to,
            ));
            json!({"task": task, "attempt": attempt, "question": question})
        })
        .collect();
    if items.is_empty() {
        human.push_str("no blocked tasks\n");
    }
    Ok(Reply::new("blocked", json!({"tasks": items}), human))
}
