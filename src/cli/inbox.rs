//! `inbox`: the worker side (contract §4). Also reachable as `orch inbox <verb>`.

use super::{GlobalArgs, MessageArgs};
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
    Init,
    /// Start a thread, or append a message to one.
    Send {
        /// Sender (default: --agent).
        #[arg(long)]
        from: Option<String>,
        /// Recipient; becomes the thread's assignee.
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        subject: String,
        /// Short summary (default: the subject).
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        message: MessageArgs,
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        task: Option<String>,
        /// Append to this thread (created when unknown).
        #[arg(long)]
        thread: Option<String>,
        /// Message kind.
        #[arg(long, default_value = "task")]
        kind: String,
        /// low|normal|high|urgent.
        #[arg(long, default_value = "normal")]
        priority: String,
    },
    /// Threads assigned to the agent, newest first.
    Fetch {
        /// Comma-separated thread statuses.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
        /// Only threads with messages past the agent's read cursor.
        #[arg(long)]
        unread: bool,
    },
    /// Take a pending thread (or one whose lease expired).
    Claim {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        /// Lease length; 0 or less means 900.
        #[arg(long, default_value_t = 900, allow_negative_numbers = true)]
        lease_seconds: i64,
    },
    /// Extend the caller's lease.
    Renew {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        #[arg(long, default_value_t = 900, allow_negative_numbers = true)]
        lease_seconds: i64,
    },
    /// Report progress (in_progress) or ask a question (blocked).
    Update {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        /// in_progress|blocked.
        #[arg(long, default_value = "in_progress")]
        status: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Answer or steer on an open thread.
    Reply {
        /// Sender (default: --agent).
        #[arg(long)]
        from: Option<String>,
        /// Recipient (default: the other side of the thread).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        /// answer|control.
        #[arg(long, default_value = "answer")]
        kind: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Finish the thread successfully with a result.
    Done {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Finish the thread as failed with a result.
    Fail {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Cancel a thread.
    Cancel {
        #[arg(long)]
        thread: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long, value_name = "PATH")]
        artifact: Vec<String>,
        #[arg(long, value_name = "KIND")]
        artifact_kind: Vec<String>,
        #[arg(long, value_name = "JSON")]
        artifact_metadata_json: Vec<String>,
    },
    /// Threads matching filters.
    List {
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        task: Option<String>,
        /// Comma-separated thread statuses.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        assigned_to: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// A thread with its messages and artifacts.
    Show {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        /// Advance the caller's read cursor to the last message.
        #[arg(long)]
        mark_read: bool,
    },
    /// Block until an event on the agent's threads.
    Watch {
        /// Comma-separated thread statuses (after the event).
        #[arg(long)]
        status: Option<String>,
        /// Resume after this event id (default: now).
        #[arg(long)]
        after_event: Option<i64>,
        /// 0 waits forever.
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
    },
    /// Block until a reply arrives on a thread.
    WaitReply {
        #[arg(long, env = "ORCH_THREAD")]
        thread: String,
        /// Only messages after this one (must be on the thread).
        #[arg(long)]
        after_message: Option<i64>,
        /// Only messages after this event id (default: now).
        #[arg(long)]
        after_event: Option<i64>,
        /// Comma-separated message kinds.
        #[arg(long, default_value = "answer,control,result")]
        kinds: String,
        /// 0 waits forever.
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
    },
}
