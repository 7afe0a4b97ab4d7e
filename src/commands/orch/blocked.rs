//! `orch blocked`: the blocked tasks with their newest question (the open one), whose
//! message id `orch answer --question` takes. The task and attempt are kept to their ids
//! and statuses, the question's body left out unless `--bodies`.

use crate::cli::ListArgs;
use crate::commands::rows::{AttemptIds, MessageRow, TaskIds};
use crate::commands::{Ctx, frugal};
use crate::error::Result;
use crate::output::Reply;
use serde::Serialize;

/// `orch blocked` takes the run and `--bodies`.
pub type BlockedArgs = ListArgs;

/// The reply's data, serialized straight to text (fields by name, see
/// [`crate::commands::rows`]).
#[derive(Serialize)]
struct Blocked<'a> {
    tasks: Vec<BlockedTask<'a>>,
}

#[derive(Serialize)]
struct BlockedTask<'a> {
    attempt: AttemptIds<'a>,
    question: Option<MessageRow<'a>>,
    task: TaskIds<'a>,
}

pub async fn run(ctx: &Ctx, args: BlockedArgs) -> Result<Reply> {
    let store = &ctx.store;
    let blocked = store.blocked(&args.run).await?;
    let mut human = String::new();
    let tasks: Vec<_> = blocked
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
            BlockedTask {
                attempt: frugal::attempt_ids(attempt),
                question: question.as_ref().map(|q| frugal::message(q, args.bodies)),
                task: frugal::task_ids(task),
            }
        })
        .collect();
    if tasks.is_empty() {
        human.push_str("no blocked tasks\n");
    }
    Ok(Reply::new("blocked", Blocked { tasks }, human))
}
