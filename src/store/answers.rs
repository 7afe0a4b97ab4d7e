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
            let attempt = active_attempt(tx, &task).await?;
            if let Some(question) = target.question {
                require_open_question(tx, &attempt, question).await?;
            }
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

/// Refuses (`invalid_state`) unless `question` is the open question of `attempt`: the
/// thread is `blocked`, the question is its newest, and nobody has answered it yet.
async fn require_open_question(conn: &mut Db<'_>, attempt: &Attempt, question: i64) -> Result<()> {
    let thread = &attempt.thread_id;
    let refused = |why: String| {
        Err(Error::invalid_state(format!(
            "question {question} {why}; nothing was sent"
        )))
    };
    let later = fetch_optional(
        &mut *conn,
        sql!(
            "SELECT message_id, kind FROM messages
             WHERE thread_id = $1 AND message_id > $2 AND kind IN ('answer', 'question')
             ORDER BY message_id LIMIT 1"
        ),
        args![thread, question],
    )
    .await?;
    if let Some(row) = later {
        let id: i64 = row.try_get("message_id")?;
        let kind: String = row.try_get("kind")?;
        return if kind == MessageKind::Answer.as_str() {
            refused(format!("was already answered (message {id})"))
        } else {
            refused(format!(
                "is no longer open: the worker asked question {id} since"
            ))
        };
    }
    if attempt.status != ThreadStatus::Blocked {
        return refused(format!(
            "is no longer open: thread {thread:?} is {}, not blocked",
            attempt.status
        ));
    }
    Ok(())
}
