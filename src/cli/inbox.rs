//! `inbox`: the worker side (contract §4). Also reachable as `orch inbox <verb>`. One
//! variant per verb; each verb's arguments are in its file under
//! [`crate::commands::inbox`].

use super::GlobalArgs;
use crate::commands::inbox::{
    LeaseArgs, ReportArgs, cancel::CancelArgs, fetch::FetchArgs, init::InitArgs, list::ListArgs,
    reply::ReplyArgs, send::SendArgs, show::ShowArgs, update::UpdateArgs,
    wait_reply::WaitReplyArgs, watch::WatchArgs,
};
use clap::{Parser, Subcommand};

/// Worker-side inbox: claim a thread, report progress, ask, finish.
#[derive(Debug, Parser)]
#[command(name = "inbox", version, about, propagate_version = true)]
pub struct InboxCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: InboxCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum InboxCommand {
    /// Create the database schema (idempotent).
    Init(InitArgs),
    /// Start a thread, or append a message to one.
    Send(SendArgs),
    /// Threads assigned to the agent, newest first.
    Fetch(FetchArgs),
    /// Take a pending thread (or one whose lease expired).
    Claim(LeaseArgs),
    /// Extend the caller's lease.
    Renew(LeaseArgs),
    /// Report progress (in_progress) or ask a question (blocked).
    Update(UpdateArgs),
    /// Answer or steer on an open thread.
    Reply(ReplyArgs),
    /// Finish the thread successfully with a result.
    Done(ReportArgs),
    /// Finish the thread as failed with a result.
    Fail(ReportArgs),
    /// Cancel a thread.
    Cancel(CancelArgs),
    /// Threads matching filters.
    List(ListArgs),
    /// A thread with its messages and artifacts.
    Show(ShowArgs),
    /// Block until an event on the agent's threads.
    Watch(WatchArgs),
    /// Block until a reply arrives on a thread.
    WaitReply(WaitReplyArgs),
}
