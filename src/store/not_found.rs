//! The records the store can fail to find, as one error type; it becomes the contract's
//! `not_found` (exit 40) in one place, the `From` impl below.

use crate::error::Error;

/// A record that does not exist. The message is the sentence the verbs print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    #[error("run {run:?} not found")]
    Run { run: String },
    #[error("task {task:?} not found in run {run:?}")]
    Task { run: String, task: String },
    /// The task was never dispatched.
    #[error("task {task:?} has no attempt yet")]
    NoAttemptYet { task: String },
    #[error("task {task:?} has no attempt {attempt_no}")]
    Attempt { task: String, attempt_no: i64 },
    /// An attempt looked up by its thread.
    #[error("attempt {thread:?} not found")]
    AttemptOfThread { thread: String },
    /// A supervisor claiming a thread that no attempt has.
    #[error("no attempt has thread {thread:?}")]
    NoAttemptHasThread { thread: String },
    #[error("thread {thread:?} not found")]
    Thread { thread: String },
    #[error("message {message_id} not found")]
    Message { message_id: i64 },
}

impl NotFound {
    pub fn run(run: &str) -> Self {
        NotFound::Run {
            run: run.to_string(),
        }
    }

    pub fn task(run: &str, task: &str) -> Self {
        NotFound::Task {
            run: run.to_string(),
            task: task.to_string(),
        }
    }

    pub fn thread(thread: &str) -> Self {
        NotFound::Thread {
            thread: thread.to_string(),
        }
    }
}

impl From<NotFound> for Error {
    fn from(err: NotFound) -> Self {
        Error::not_found(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn maps_to_not_found_with_the_verbs_sentence() {
        let cases = [
            (NotFound::run("r"), r#"run "r" not found"#),
            (NotFound::task("r", "t"), r#"task "t" not found in run "r""#),
            (NotFound::thread("th"), r#"thread "th" not found"#),
            (
                NotFound::Attempt {
                    task: "t".into(),
                    attempt_no: 3,
                },
                r#"task "t" has no attempt 3"#,
            ),
            (NotFound::Message { message_id: 7 }, "message 7 not found"),
        ];
        for (err, sentence) in cases {
            let err = Error::from(err);
            assert_eq!(err.code, ErrorCode::NotFound);
            assert_eq!(err.message, sentence);
        }
    }
}
