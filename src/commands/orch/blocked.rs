//! `orch blocked`: the blocked tasks with their newest question (the open one), whose
//! message id `orch answer --question` takes. The task and attempt are kept to their ids
//! and statuses, the question's body left out unless `--bodies`.

use crate::cli::ListArgs;
use crate::commands::{Ctx, frugal};
use crate::error::Result;
use crate::output::Reply;
use serde_json::json;

/// `orch blocked` takes the run and `--bodies`.
pub type BlockedArgs = ListArgs;

pub async fn run(ctx: &Ctx, args: BlockedArgs) -> Result<Reply> {
    let store = &ctx.store;
    let blocked = store.blocked(&args.run).await?;
    let mut human = String::new();
    let items: Vec<_> = blocked
        .iter()
        .map(|(task, attempt, question)| {
            // The id as the flag that names it, ready to copy into `orch answer`.
            let asked = match question {
                Some(q) => format!("--question {}: {}", q.message_id, frugal::question_line(q)),
                None => "no question yet".to_string(),
            };
            human.push_str(&format!(
                "{} (attempt {}, {}) {asked}\n",
                task.task_id, attempt.attempt_no, attempt.assigned_to,
            ));
            let question = question.as_ref().map(|q| frugal::message(q, args.bodies));
            json!({
                "task": frugal::task_ids(task),
                "attempt": frugal::attempt_ids(attempt),
                "question": question,
            })
        })
        .collect();
    if items.is_empty() {
        human.push_str("no blocked tasks\n");
    }
    Ok(Reply::new("blocked", json!({"tasks": items}), human))
}
