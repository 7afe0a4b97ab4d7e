//! `orch answer`: the leader's answer on the active attempt's thread, and with
//! `--question` the check that the named question is still the thread's open one, made
//! in the same write transaction as the answer, so an answer is delivered once.

use super::tasks::load_task;
use super::threads::{self as inbox, MessageInput, ReplyStep};
use super::{Db, Store, args, fetch_optional, runs, sql};
use super::{NotFound, attempts::load_attempt};
use crate::error::{Error, Result};
use crate::model::{Attempt, Message, MessageKind, Task, Thread, ThreadStatus};

/// What an answer is meant for: an attempt (`--attempt`), a question message
/// (`--question`), or (both `None`) whatever the current attempt is.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerFor {
    pub attempt: Option<i64>,
    pub question: Option<i64>,
}

impl Store {
    /// `orch answer`: an `answer` on the active attempt's thread (event `task_answered`).
    /// With a question id, refused (`invalid_state`, nothing written) unless that
    /// question is the open question of the task's current attempt and has no answer yet.
    pub async fn answer(
        &self,
        run_id: &str,
        task_id: &str,
        target: AnswerFor,
        from: &str,
        summary: &str,
        content: &MessageInput,
    ) -> Result<(Task, Thread, Message)> {
        self.write(async |tx, now| {
            runs::require_run(tx, run_id).await?;
            let (_, task) = load_task(tx, run_id, task_id).await?;
            if let Some(question) = target.question {
                let asked_in = question_attempt(tx, &task, question).await?;
                if let Some(n) = target.attempt.filter(|n| *n != asked_in) {
                    return Err(Error::invalid_input(format!(
                        "question {question} was asked in attempt {asked_in}, not attempt {n}"
                    )));
                }
                if asked_in != task.current_attempt {
                    return Err(Error::invalid_state(format!(
                        "question {question} was asked in attempt {asked_in}, but task {task_id:?} is on attempt {}; nothing was sent",
                        task.current_attempt
                    )));
                }
            }
            if let Some(n) = target.attempt.filter(|n| *n != task.current_attempt) {
                return Err(Error::invalid_state(format!(
                    "the answer is for attempt {n}, but task {task_id:?} is on attempt {}; nothing was sent",
                    task.current_attempt
                )));
            }
            let attempt = match target.question {
                // A question already answered (or superseded) says so, whatever its
                // attempt became since: that is what a leader repeating an answer needs.
                Some(question) => {
                    require_unanswered(tx, &task, question).await?;
                    let attempt = load_attempt(tx, run_id, task_id, task.current_attempt)
                        .await?
                        .ok_or_else(|| refused(question, "has no attempt to answer"))?;
                    require_blocked(&attempt, question)?;
                    attempt
                }
                None => active_attempt(tx, &task).await?,
            };
            let (thread, message) = inbox::reply_in(
                tx,
                ReplyStep {
                    thread_id: &attempt.thread_id,
                    from,
                    to: Some(&attempt.assigned_to),
                    kind: MessageKind::Answer,
                    summary,
                    content,
                    event_type: "task_answered",
                },
                now,
            )
            .await?;
            Ok((task, thread, message))
        })
        .await
    }
}

/// The task's current attempt, if it is still running.
async fn active_attempt(conn: &mut Db<'_>, task: &Task) -> Result<Attempt> {
    let attempt = match task.current_attempt {
        0 => None,
        n => load_attempt(conn, &task.run_id, &task.task_id, n).await?,
    };
    attempt.filter(|a| !a.status.is_terminal()).ok_or_else(|| {
        Error::invalid_state(format!(
            "task {:?} is {} and has no active attempt to answer",
            task.task_id, task.status
        ))
    })
}

/// The attempt of `task` in which question `question` was asked: the message must
/// exist (else `not_found`), be a `question`, and be on one of the task's threads.
async fn question_attempt(conn: &mut Db<'_>, task: &Task, question: i64) -> Result<i64> {
    let row = fetch_optional(
        &mut *conn,
        sql!(
            "SELECT m.kind, m.thread_id, a.attempt_no FROM messages m
             LEFT JOIN attempts a ON a.thread_id = m.thread_id AND a.run_id = $1 AND a.task_id = $2
             WHERE m.message_id = $3"
        ),
        args![&task.run_id, &task.task_id, question],
    )
    .await?
    .ok_or(NotFound::Message {
        message_id: question,
    })?;
    let kind: String = row.try_get("kind")?;
    let thread: String = row.try_get("thread_id")?;
    if kind != MessageKind::Question.as_str() {
        return Err(Error::invalid_input(format!(
            "message {question} on thread {thread:?} is of kind {kind:?}, not a question"
        )));
    }
    let attempt: Option<i64> = row.try_get("attempt_no")?;
    attempt.ok_or_else(|| {
        Error::invalid_input(format!(
            "question {question} was asked on thread {thread:?}, which is not an attempt of task {:?} in run {:?}",
            task.task_id, task.run_id
        ))
    })
}

/// Refuses (`invalid_state`) if `question` was answered, or the worker asked another
/// question since, on the thread of the task's current attempt.
async fn require_unanswered(conn: &mut Db<'_>, task: &Task, question: i64) -> Result<()> {
    let later = fetch_optional(
        &mut *conn,
        sql!(
            "SELECT m.message_id, m.kind FROM messages m
             JOIN attempts a ON a.thread_id = m.thread_id
             WHERE a.run_id = $1 AND a.task_id = $2 AND a.attempt_no = $3
               AND m.message_id > $4 AND m.kind IN ('answer', 'question')
             ORDER BY m.message_id LIMIT 1"
        ),
        args![&task.run_id, &task.task_id, task.current_attempt, question],
    )
    .await?;
    let Some(row) = later else {
        return Ok(());
    };
    let id: i64 = row.try_get("message_id")?;
    let kind: String = row.try_get("kind")?;
    let why = if kind == MessageKind::Answer.as_str() {
        format!("was already answered (message {id})")
    } else {
        format!("is no longer open: the worker asked question {id} since")
    };
    Err(refused(question, &why))
}

/// Refuses (`invalid_state`) unless the attempt that asked `question` is still blocked
/// on it.
fn require_blocked(attempt: &Attempt, question: i64) -> Result<()> {
    if attempt.status == ThreadStatus::Blocked {
        return Ok(());
    }
    Err(refused(
        question,
        &format!(
            "is no longer open: thread {:?} is {}, not blocked",
            attempt.thread_id, attempt.status
        ),
    ))
}

fn refused(question: i64, why: &str) -> Error {
    Error::invalid_state(format!("question {question} {why}; nothing was sent"))
}
