//! One tool call, run as the command line runs the verb: through the `--request-id`
//! replay and record when the call has an id (on a connection of its own, one such call
//! at a time, and never abandoned halfway), else the verb's own function, given up when
//! the client cancels the call. What comes back is the verb's data or the contract's
//! `{code, message}`.

use crate::cli::orch::OrchCommand;
use crate::commands::request::{self, Answer, Request};
use crate::commands::{Ctx, orch};
use crate::error::{Error, Result};
use crate::output::Reply;
use crate::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

/// A call's result: the verb's data, or `{code, message}`.
pub type Outcome = std::result::Result<Value, Value>;

pub struct Caller {
    ctx: Arc<Ctx>,
    /// Held by a call with a request id: the store's claim on an id is per connection
    /// and the claim's owner is this process, so two such calls never overlap.
    requests: tokio::sync::Mutex<()>,
}

impl Caller {
    pub fn new(ctx: Arc<Ctx>) -> Caller {
        Caller {
            ctx,
            requests: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `command`; `cancelled` resolves when the client cancels the call.
    pub async fn call(
        &self,
        mut command: OrchCommand,
        cancelled: impl Future<Output = ()>,
    ) -> Outcome {
        if let Some(request) = request::take(&mut command, self.ctx.agent.as_deref()) {
            // Not given up when cancelled: an id claimed and never answered would
            // keep every retry of it waiting on this live process.
            return self.with_request(request, command).await;
        }
        tokio::select! {
            result = verb(&self.ctx, command) => data(result),
            () = cancelled => Err(failure(&Error::no_matching_work("the client cancelled the call"))),
        }
    }

    async fn with_request(&self, request: Request, command: OrchCommand) -> Outcome {
        let _one_at_a_time = self.requests.lock().await;
        let store = Store::open_at(self.ctx.store.location())
            .await
            .map_err(|e| failure(&e))?;
        let ctx = Ctx {
            store,
            agent: self.ctx.agent.clone(),
            style: self.ctx.style,
        };
        // Boxed, like `verb`: the request runs the verb through `orch::run`.
        let answer: AnswerFuture<'_> = Box::pin(request::answer(&ctx, request, command));
        let answer = answer.await;
        ctx.store.close().await;
        match answer.map_err(|e| failure(&e))? {
            Answer::Fresh(reply) => data(Ok(reply)),
            Answer::Recorded(reply) => recorded(&reply.json),
        }
    }
}

type AnswerFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Answer>> + Send + 'a>>;
type VerbFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Reply>> + Send + 'a>>;

/// Runs a verb as the command line would; `logs` returns its lines as data. (Boxed:
/// `orch mcp` is itself one of the verbs `orch::run` runs.)
fn verb(ctx: &Ctx, command: OrchCommand) -> VerbFuture<'_> {
    match command {
        OrchCommand::Logs(args) => Box::pin(orch::logs::tail(ctx, args)),
        command => Box::pin(orch::run(ctx, command)),
    }
}

/// A verb's reply as its data.
fn data(result: Result<Reply>) -> Outcome {
    let reply = result.map_err(|e| failure(&e))?;
    if reply.streamed {
        let err = Error::internal(format!(
            "{} printed its output instead of returning it",
            reply.command
        ));
        return Err(failure(&err));
    }
    let text = reply.data.concat();
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(&text).map_err(|e| {
        failure(&Error::internal(format!(
            "{}: its data is not JSON: {e}",
            reply.command
        )))
    })
}

/// A recorded reply (the `--json` document the call printed) as its data or error.
fn recorded(document: &str) -> Outcome {
    let mut doc: Value = serde_json::from_str(document).map_err(|e| {
        failure(&Error::internal(format!(
            "a recorded reply is not JSON: {e}"
        )))
    })?;
    if doc["ok"] == true {
        Ok(doc["data"].take())
    } else {
        Err(doc["error"].take())
    }
}

pub fn failure(err: &Error) -> Value {
    json!({"code": err.code.as_str(), "message": err.message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_reply_gives_its_data_or_its_error() {
        let ok = r#"{"ok":true,"command":"answer","data":{"message":{"message_id":3}}}"#;
        assert_eq!(recorded(ok), Ok(json!({"message": {"message_id": 3}})));
        let failed = r#"{"ok":false,"error":{"code":"not_found","message":"no task"}}"#;
        assert_eq!(
            recorded(failed),
            Err(json!({"code": "not_found", "message": "no task"}))
        );
    }
}
