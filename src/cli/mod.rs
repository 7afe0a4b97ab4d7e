//! The command-line surface of `orch` and `inbox` as clap definitions: the two parsers
//! with their verbs ([`orch`], [`inbox`]), the argument groups several verbs share, and
//! the vocabularies of enum-valued flags ([`values`]). Raw arguments only, no behaviour:
//! each verb's own arguments and its function are in its file under [`crate::commands`].

pub mod inbox;
pub mod orch;
pub mod values;

use clap::Args;
use std::path::PathBuf;

/// Flags every verb of both binaries takes, before or after the verb.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The database: a SQLite path, or a postgres:// URL for a run spanning hosts
    /// (default: $ORCH_DB, else .orch/coord.db at the git top-level).
    #[arg(long, global = true, value_name = "PATH|URL", env = "ORCH_DB")]
    pub db: Option<String>,
    /// Print exactly one JSON document: {"ok", "command", "data"} or {"ok": false, "error"}.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is calling (default: $ORCH_AGENT).
    #[arg(long, global = true, value_name = "NAME", env = "ORCH_AGENT")]
    pub agent: Option<String>,
}

/// The content of a message (contract §3).
#[derive(Debug, Clone, Default, Args)]
pub struct MessageArgs {
    #[command(flatten)]
    pub body: BodyArgs,
    /// Structured payload, a JSON object (empty means {}).
    #[arg(long, value_name = "JSON")]
    pub payload_json: Option<String>,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// Artifacts attached to a message (contract §3).
#[derive(Debug, Clone, Default, Args)]
pub struct ArtifactArgs {
    /// Attach an artifact path (repeatable).
    #[arg(long, value_name = "PATH")]
    pub artifact: Vec<String>,
    /// Artifact kind: once for all artifacts, or once per artifact.
    #[arg(long, value_name = "KIND")]
    pub artifact_kind: Vec<String>,
    /// Artifact metadata JSON object: once for all artifacts, or once per artifact.
    #[arg(long, value_name = "JSON")]
    pub artifact_metadata_json: Vec<String>,
}

/// A body: a message's, or a task's (`task add`), or the task message's of `dispatch`,
/// `retry` and `reassign` (where none means the task's body).
#[derive(Debug, Clone, Default, Args)]
pub struct BodyArgs {
    /// The body text.
    #[arg(long)]
    pub body: Option<String>,
    /// Read the body from a file (`-` for standard input).
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
}

/// `--request-id`, on every verb that changes something: a retried call is safe.
#[derive(Debug, Clone, Default, Args)]
pub struct RequestArgs {
    /// Makes the call safe to retry: the same id with the same arguments prints the
    /// first call's reply and exit code again and does nothing more; with other
    /// arguments it is refused (invalid_input).
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

/// The run, for the verbs that take nothing else.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[arg(long)]
    pub run: String,
}

/// The run and `--bodies`, for the list verbs (`ready`, `status`, `blocked`).
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub run: String,
    /// Print task and message bodies in full. By default a list leaves them out and
    /// says how long each was (`body_bytes`).
    #[arg(long)]
    pub bodies: bool,
}

/// Where a wait for events starts and how long it may last.
#[derive(Debug, Clone, Args)]
pub struct EventWaitArgs {
    /// Resume after this event id (default: now).
    #[arg(long)]
    pub after_event: Option<i64>,
    /// 0 waits forever.
    #[arg(long, default_value_t = 0)]
    pub timeout_seconds: u64,
}

/// A task of a run.
#[derive(Debug, Clone, Args)]
pub struct TaskArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
}

/// One attempt of a task: the current one unless `--attempt` names another.
#[derive(Debug, Clone, Args)]
pub struct AttemptArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// Attempt number (default: the current one).
    #[arg(long)]
    pub attempt: Option<i64>,
}
