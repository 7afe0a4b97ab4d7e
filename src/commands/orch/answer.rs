//! `orch answer`: the leader answers the active attempt of a task, or with `--question`
//! exactly that question, once. The reply keeps ids and statuses (issue 12).

use crate::cli::{MessageArgs, RequestArgs, TaskArgs};
use crate::commands::{Ctx, clean_summary, frugal, message_input};
use crate::error::{Error, Result};
use crate::output::Reply;
use crate::store::AnswerFor;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// The attempt the answer is meant for: refused if the task has moved on to a
    /// newer attempt since the question was asked.
    #[arg(long)]
    pub attempt: Option<i64>,
    /// The question message this answers (its id, as `orch blocked` prints it): refused,
    /// with nothing sent, if it was already answered or is no longer the open question.
    #[arg(long, value_name = "MSG_ID")]
    pub question: Option<i64>,
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub message: MessageArgs,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: AnswerArgs) -> Result<Reply> {
    let content = message_input(&args.message)?;
    let payload_empty = content.payload.as_object().is_none_or(|o| o.is_empty());
    if content.body.trim().is_empty() && payload_empty {
        return Err(Error::invalid_input(
            "an answer needs --body, --body-file or a non-empty --payload-json",
        ));
    }
    let (task, thread, message) = ctx
        .store
        .answer(
            &args.task.run,
            &args.task.task,
            AnswerFor {
                attempt: args.attempt,
                question: args.question,
            },
            &ctx.leader(),
            &clean_summary(&args.summary),
            &content,
        )
        .await?;
    // The answer goes to the task's current attempt (refused otherwise).
    let attempt_no = task.current_attempt;
    let question = match args.question {
        Some(q) => format!("question {q} of "),
        None => String::new(),
    };
    let human = format!(
        "answered {question}{} attempt {attempt_no} (message {})",
        task.task_id, message.message_id
    );
    // Ids and statuses around the answer, not the task and thread records again; the
    // answer's body is the leader's own text, left out (`body_bytes`).
    let data = json!({
        "task": frugal::task_ids(&task),
        "attempt_no": attempt_no,
        "thread": {
            "thread_id": thread.thread_id,
            "status": thread.status,
            "assigned_to": thread.assigned_to,
        },
        "message": frugal::message(&message, false),
    });
    Ok(Reply::new("answer", data, human))
}
