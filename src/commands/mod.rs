//! The verbs, one file each with its `clap::Args` and its function: argument
//! validation, calls into the library, and each verb's JSON data and human rendering.
//! `run_orch` and `run_inbox` are the two binaries' mains; [`orch::run`] and
//! [`inbox::run`] send a parsed verb to its function. Here: what every verb gets
//! ([`Ctx`]) and the flag readers several verbs share.

mod board;
pub(crate) mod frugal;
pub mod inbox;
pub mod orch;
mod render;
pub mod request;
pub(crate) mod rows;

use crate::cli::inbox::InboxCli;
use crate::cli::orch::OrchCli;
use crate::cli::{ArtifactArgs, BodyArgs, EventWaitArgs, GlobalArgs, MessageArgs};
use crate::error::{Error, Result};
use crate::model::{Artifact, Event};
use crate::output::{self, Reply, Style};
use crate::store::EventFilter;
use crate::store::{Location, MessageInput, Store};
use clap::Parser;
use serde_json::Value;
use std::ffi::OsString;
use std::io::Read;

/// What every verb gets: the open store, the caller's identity and the output style.
pub struct Ctx {
    pub store: Store,
    pub agent: Option<String>,
    pub style: Style,
}

impl Ctx {
    /// The caller's agent name, required by this verb.
    pub fn require_agent(&self, verb: &str) -> Result<String> {
        self.agent.clone().filter(|a| !a.is_empty()).ok_or_else(|| {
            Error::invalid_input(format!(
                "{verb} needs the caller's identity: pass --agent NAME or set ORCH_AGENT"
            ))
        })
    }

    /// The leader's name for messages orch writes on its behalf.
    pub fn leader(&self) -> String {
        self.agent
            .clone()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "leader".to_string())
    }
}

/// `main` of the `orch` binary.
pub fn run_orch(args: Vec<OsString>) -> u8 {
    let json = wants_json(&args);
    match OrchCli::try_parse_from(args) {
        Ok(mut cli) => {
            // A verb called with --request-id goes through the request's replay and record.
            let request = request::take(&mut cli.command, cli.global.agent.as_deref());
            let command = cli.command;
            execute(cli.global, |ctx| {
                Box::pin(async move {
                    match request {
                        Some(request) => request::run(ctx, request, command).await,
                        None => orch::run(ctx, command).await,
                    }
                })
            })
        }
        Err(err) => usage_error(err, json),
    }
}

/// `main` of the `inbox` binary.
pub fn run_inbox(args: Vec<OsString>) -> u8 {
    let json = wants_json(&args);
    match InboxCli::try_parse_from(args) {
        Ok(cli) => execute(cli.global, |ctx| Box::pin(inbox::run(ctx, cli.command))),
        Err(err) => usage_error(err, json),
    }
}

type VerbFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply>> + 'a>>;

fn execute(global: GlobalArgs, verb: impl for<'a> FnOnce(&'a Ctx) -> VerbFuture<'a>) -> u8 {
    let style = Style::detect(global.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return output::failure(
                style,
                &Error::internal(format!("cannot start runtime: {e}")),
            );
        }
    };
    let result = runtime.block_on(async {
        let location = match global.db.as_deref().filter(|db| !db.is_empty()) {
            Some(db) => Location::parse(db),
            None => Location::Sqlite(crate::paths::default_db_path()),
        };
        let fresh = match &location {
            Location::Sqlite(path) => !path.exists(),
            Location::Postgres(_) => !location.state_dir().exists(),
        };
        let store = Store::open_at(&location).await?;
        if fresh {
            crate::paths::exclude_state_dir(store.state_dir());
        }
        let ctx = Ctx {
            store,
            agent: global.agent.clone(),
            style,
        };
        let result = verb(&ctx).await;
        // A clean close lets the last connection checkpoint and remove the WAL, so the
        // next process does not have to recover it.
        ctx.store.close().await;
        result
    });
    match result {
        Ok(reply) => output::success(style, &reply),
        Err(err) => output::failure(style, &err),
    }
}

fn wants_json(args: &[OsString]) -> bool {
    args.iter().skip(1).any(|a| a == "--json")
}

/// A clap error: help and version print and exit 0; anything else is `invalid_input` (30).
fn usage_error(err: clap::Error, json: bool) -> u8 {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            output::write_stdout(&err.render().to_string(), 0);
            0
        }
        _ => {
            let style = Style::detect(json);
            if json {
                output::failure(style, &Error::invalid_input(usage_message(&err)))
            } else {
                let _ = err.print();
                crate::error::exit_code::INVALID
            }
        }
    }
}

/// clap's first paragraph, on one line: "the following required arguments were not
/// provided: --execution-mode <EXECUTION_MODE>".
pub(crate) fn usage_message(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    rendered
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

/// Reads `--body`/`--body-file` (mutually exclusive).
pub fn read_body_args(args: &BodyArgs) -> Result<Option<String>> {
    match (&args.body, &args.body_file) {
        (Some(_), Some(_)) => Err(Error::invalid_input(
            "--body and --body-file are mutually exclusive",
        )),
        (Some(b), None) => Ok(Some(b.clone())),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                Error::invalid_input(format!("cannot read the body from standard input: {e}"))
            })?;
            Ok(Some(text))
        }
        (None, Some(path)) => std::fs::read_to_string(path).map(Some).map_err(|e| {
            Error::invalid_input(format!("cannot read --body-file {}: {e}", path.display()))
        }),
        (None, None) => Ok(None),
    }
}

/// Parses `--payload-json`: must be a JSON object; empty means {}.
pub fn parse_payload(text: Option<&str>) -> Result<Value> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Value::Object(Default::default()));
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Error::invalid_input("--payload-json must be a JSON object")),
        Err(e) => Err(Error::invalid_input(format!(
            "--payload-json is not valid JSON: {e}"
        ))),
    }
}

/// Builds artifacts from `--artifact`, `--artifact-kind`, `--artifact-metadata-json`
/// (contract §3: kind and metadata given once for all or once per artifact).
pub fn parse_artifacts(args: &ArtifactArgs) -> Result<Vec<Artifact>> {
    let (paths, kinds, metadata) = (
        &args.artifact,
        &args.artifact_kind,
        &args.artifact_metadata_json,
    );
    if paths.is_empty() {
        if !kinds.is_empty() {
            return Err(Error::invalid_input(
                "--artifact-kind needs at least one --artifact",
            ));
        }
        if !metadata.is_empty() {
            return Err(Error::invalid_input(
                "--artifact-metadata-json needs at least one --artifact",
            ));
        }
        return Ok(Vec::new());
    }
    let n = paths.len();
    if !(kinds.len() <= 1 || kinds.len() == n) {
        return Err(Error::invalid_input(format!(
            "--artifact-kind is given {} times for {n} artifacts; give it once or once per artifact",
            kinds.len()
        )));
    }
    if !(metadata.len() <= 1 || metadata.len() == n) {
        return Err(Error::invalid_input(format!(
            "--artifact-metadata-json is given {} times for {n} artifacts; give it once or once per artifact",
            metadata.len()
        )));
    }
    let metadata: Vec<Value> = metadata
        .iter()
        .map(|m| match serde_json::from_str::<Value>(m) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(Error::invalid_input(
                "--artifact-metadata-json must be a JSON object",
            )),
            Err(e) => Err(Error::invalid_input(format!(
                "--artifact-metadata-json is not valid JSON: {e}"
            ))),
        })
        .collect::<Result<_>>()?;
    Ok(paths
        .iter()
        .enumerate()
        .map(|(i, path)| Artifact {
            path: path.clone(),
            kind: kinds
                .get(if kinds.len() == 1 { 0 } else { i })
                .cloned()
                .unwrap_or_else(|| "file".to_string()),
            metadata: metadata
                .get(if metadata.len() == 1 { 0 } else { i })
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
        })
        .collect())
}

/// Resolves the message flags of a verb (contract §3).
pub fn message_input(args: &MessageArgs) -> Result<MessageInput> {
    let redactor = crate::redact::process();
    let mut body = read_body_args(&args.body)?.unwrap_or_default();
    redactor.redact_string(&mut body);
    let mut payload = parse_payload(args.payload_json.as_deref())?;
    redactor.redact_json(&mut payload);
    Ok(MessageInput {
        body,
        payload,
        artifacts: parse_artifacts(&args.artifacts)?,
    })
}

/// A summary as it may be stored: secrets (crate::redact) replaced. Messages a worker
/// writes itself through `inbox` go through the same redaction as its output.
pub fn clean_summary(summary: &str) -> String {
    crate::redact::process().redact_str(summary).into_owned()
}

/// Splits a comma-separated flag value, dropping empty items.
pub fn csv(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The spellings of enum-valued flag values, as the store's filters take them.
pub fn to_strings<T: std::fmt::Display>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// A `--timeout-seconds` as a deadline (0: none).
pub fn deadline(timeout_seconds: u64) -> Option<tokio::time::Instant> {
    (timeout_seconds > 0)
        .then(|| tokio::time::Instant::now() + std::time::Duration::from_secs(timeout_seconds))
}

/// Any serializable record as JSON.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Blocks until the first event matching `filter` after `--after-event` (default: the
/// newest now), waking whenever another process commits; `None` when the timeout passes
/// first. A filter on a run folds that run's worker states in before each look (the
/// store does: see `Store::next_event`).
pub async fn wait_for_event(
    ctx: &Ctx,
    filter: &EventFilter,
    wait: &EventWaitArgs,
) -> Result<Option<Event>> {
    Ok(wait_for_events(ctx, filter, wait, 1).await?.pop())
}

/// [`wait_for_event`] for up to `limit` events: blocks until at least one matches, then
/// returns every match after the cursor (oldest first, at most `limit`); empty when the
/// timeout passes first.
pub async fn wait_for_events(
    ctx: &Ctx,
    filter: &EventFilter,
    wait: &EventWaitArgs,
    limit: i64,
) -> Result<Vec<Event>> {
    let store = &ctx.store;
    let deadline = deadline(wait.timeout_seconds);
    let mut detector = store.change_detector().await?;
    let cursor = match wait.after_event {
        Some(n) => n,
        None => store.max_event_id().await?,
    };
    loop {
        let events = store.events_matching(filter, cursor, limit).await?;
        if !events.is_empty() {
            return Ok(events);
        }
        if !detector.wait(deadline).await? {
            return Ok(Vec::new());
        }
    }
}
