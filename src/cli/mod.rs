//! The command-line surface of `orch` and `inbox` as clap definitions: raw arguments
//! only, no behaviour (that is in [`crate::commands`]).

pub mod inbox;
pub mod orch;

use clap::Args;
use std::path::PathBuf;

/// Flags every verb of both binaries takes, before or after the verb.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The database (default: $ORCH_DB, else .orch/coord.db at the git top-level).
    #[arg(long, global = true, value_name = "PATH", env = "ORCH_DB")]
    pub db: Option<PathBuf>,
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
    /// Message body text.
    #[arg(long)]
    pub body: Option<String>,
    /// Read the message body from a file (`-` for standard input).
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
    /// Structured payload, a JSON object (empty means {}).
    #[arg(long, value_name = "JSON")]
    pub payload_json: Option<String>,
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

/// A message body only (dispatch, retry, reassign).
#[derive(Debug, Clone, Default, Args)]
pub struct BodyArgs {
    /// Body of the task message (default: the task's body).
    #[arg(long)]
    pub body: Option<String>,
    /// Read the body from a file (`-` for standard input).
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
}
