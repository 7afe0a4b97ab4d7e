//! The `inbox` verbs (contract §4), one file each, shared by the `inbox` binary and
//! `orch inbox <verb>`: [`run`] sends a parsed verb to its function. What several verbs
//! share is here: the lease length, the `{thread, message}` reply, and the report of
//! `update`/`done`/`fail`.

pub mod cancel;
pub mod claim;
pub mod done;
pub mod fail;
pub mod fetch;
pub mod init;
pub mod list;
pub mod renew;
pub mod reply;
pub mod send;
pub mod show;
pub mod update;
pub mod wait_reply;
pub mod watch;

use super::{Ctx, clean_summary, message_input};
use crate::cli::MessageArgs;
use crate::cli::inbox::InboxCommand;
use crate::error::Result;
use crate::model::{Message, Thread, ThreadStatus};
use crate::output::Reply;
use crate::store::Report;
use clap::Args;
use serde_json::json;

/// Runs one inbox verb.
pub async fn run(ctx: &Ctx, command: InboxCommand) -> Result<Reply> {
    match command {
        InboxCommand::Init(args) => init::run(ctx, args).await,
        InboxCommand::Send(args) => send::run(ctx, args).await,
        InboxCommand::Fetch(args) => fetch::run(ctx, args).await,
        InboxCommand::Claim(args) => claim::run(ctx, args).await,
        InboxCommand::Renew(args) => renew::run(ctx, args).await,
        InboxCommand::Update(args) => update::run(ctx, args).await,
        InboxCommand::Reply(args) => reply::run(ctx, args).await,
        InboxCommand::Done(args) => done::run(ctx, args).await,
        InboxCommand::Fail(args) => fail::run(ctx, args).await,
        InboxCommand::Cancel(args) => cancel::run(ctx, args).await,
        InboxCommand::List(args) => list::run(ctx, args).await,
        InboxCommand::Show(args) => show::run(ctx, args).await,
        InboxCommand::Watch(args) => watch::run(ctx, args).await,
        InboxCommand::WaitReply(args) => wait_reply::run(ctx, args).await,
    }
}

/// The lease `claim` and `renew` give when asked for none (0 or less), and the one a
/// worker gets back after `wait-reply`.
const DEFAULT_LEASE_SECONDS: i64 = 900;

/// The arguments of `claim` and `renew`: the thread and the lease's length.
#[derive(Debug, Clone, Args)]
pub struct LeaseArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    /// Lease length; 0 or less means 900.
    #[arg(long, default_value_t = 900, allow_negative_numbers = true)]
    pub lease_seconds: i64,
}

/// What the caller does with its lease.
#[derive(Debug, Clone, Copy)]
enum LeaseStep {
    Claim,
    Renew,
}

impl LeaseArgs {
    /// Takes (`claim`) or extends (`renew`) the caller's lease on the thread: the caller,
    /// the thread and the message that says so.
    async fn lease(&self, ctx: &Ctx, step: LeaseStep) -> Result<(String, Thread, Message)> {
        let (thread_id, lease_ms) = (&self.thread, self.lease_ms());
        let (agent, (thread, message)) = match step {
            LeaseStep::Claim => {
                let agent = ctx.require_agent("claim")?;
                (
                    agent.clone(),
                    ctx.store.claim(thread_id, &agent, lease_ms).await?,
                )
            }
            LeaseStep::Renew => {
                let agent = ctx.require_agent("renew")?;
                (
                    agent.clone(),
                    ctx.store.renew(thread_id, &agent, lease_ms).await?,
                )
            }
        };
        Ok((agent, thread, message))
    }

    fn lease_ms(&self) -> i64 {
        match self.lease_seconds {
            ..=0 => DEFAULT_LEASE_SECONDS,
            seconds => seconds,
        }
        .saturating_mul(1000)
    }
}

/// The reply of a verb that wrote one message on a thread: `{thread, message}`.
fn thread_reply(command: &'static str, thread: &Thread, message: &Message, human: String) -> Reply {
    Reply::new(
        command,
        json!({"thread": thread, "message": message}),
        human,
    )
}

/// What `update`, `done` and `fail` take besides the status.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub message: MessageArgs,
}

/// `update`, `done` and `fail`: the caller reports `status` on the thread it holds.
async fn report(
    ctx: &Ctx,
    command: &'static str,
    status: ThreadStatus,
    args: ReportArgs,
) -> Result<Reply> {
    let agent = ctx.require_agent(command)?;
    let content = message_input(&args.message)?;
    let summary = clean_summary(&args.summary);
    let report = Report {
        thread_id: &args.thread,
        agent: &agent,
        status,
        summary: &summary,
        content: &content,
    };
    let (thread, message) = ctx.store.report(report).await?;
    let human = format!(
        "{} is {}: {}",
        thread.thread_id, thread.status, message.summary
    );
    Ok(thread_reply(command, &thread, &message, human))
}
