//! The verbs: argument validation, calls into the store and git, and each verb's JSON
//! data and human rendering. `run_orch` and `run_inbox` are the two binaries' mains.

mod board;
mod inbox;
mod orch_dispatch;
mod orch_doctor;
mod orch_plan;
mod orch_supervise;
mod orch_up;
mod orch_watch;
mod render;

use crate::cli::inbox::InboxCli;
use crate::cli::orch::{OrchCli, OrchCommand};
use crate::cli::{BodyArgs, GlobalArgs, MessageArgs};
use crate::error::{Error, Result};
use crate::model::Artifact;
use crate::output::{self, Reply, Style};
use crate::store::{MessageInput, Store};
use clap::Parser;
use serde_json::Value;
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

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
        Ok(cli) => execute(cli.global, |ctx| Box::pin(dispatch_orch(ctx, cli.command))),
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
        let db = match global.db.clone().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => path,
            None => crate::paths::default_db_path(),
        };
        let fresh = !db.exists();
        let store = Store::open(&db).await?;
        if fresh {
            crate::paths::exclude_state_dir(&db);
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

async fn dispatch_orch(ctx: &Ctx, command: OrchCommand) -> Result<Reply> {
    match command {
        OrchCommand::Run(c) => orch_plan::run(ctx, c).await,
        OrchCommand::Task(c) => orch_plan::task(ctx, c).await,
        OrchCommand::Dep(c) => orch_plan::dep(ctx, c).await,
        OrchCommand::Plan(c) => orch_plan::plan(ctx, c).await,
        OrchCommand::Ready { run } => orch_plan::ready(ctx, &run).await,
        c @ (OrchCommand::Dispatch { .. }
        | OrchCommand::Retry { .. }
        | OrchCommand::Reassign { .. }
        | OrchCommand::Cleanup { .. }) => orch_dispatch::run(ctx, c).await,
        c @ (OrchCommand::Launch { .. }
        | OrchCommand::Supervise { .. }
        | OrchCommand::Logs { .. }
        | OrchCommand::Attempts { .. }) => orch_supervise::run(ctx, c).await,
        OrchCommand::Up {
            run,
            plan,
            concurrency,
        } => orch_up::run(ctx, run, plan, concurrency).await,
        OrchCommand::Watch { run } => orch_up::watch(ctx, &run).await,
        OrchCommand::Inbox(c) => inbox::run(ctx, c).await,
        OrchCommand::Doctor { run } => orch_doctor::run(ctx, run.as_deref()).await,
        other => orch_watch::run(ctx, other).await,
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
                // clap's first paragraph, on one line: "the following required arguments
                // were not provided: --execution-mode <EXECUTION_MODE>".
                let rendered = err.render().to_string();
                let message = rendered
                    .lines()
                    .map(str::trim)
                    .skip_while(|l| l.is_empty())
                    .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim_start_matches("error: ")
                    .to_string();
                output::failure(style, &Error::invalid_input(message))
            } else {
                let _ = err.print();
                crate::error::exit_code::INVALID
            }
        }
    }
}

/// Reads `--body`/`--body-file` (mutually exclusive).
pub fn read_body(body: Option<&String>, body_file: Option<&PathBuf>) -> Result<Option<String>> {
    match (body, body_file) {
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

pub fn read_body_args(args: &BodyArgs) -> Result<Option<String>> {
    read_body(args.body.as_ref(), args.body_file.as_ref())
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
pub fn parse_artifacts(
    paths: &[String],
    kinds: &[String],
    metadata: &[String],
) -> Result<Vec<Artifact>> {
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
    let mut body = read_body(args.body.as_ref(), args.body_file.as_ref())?.unwrap_or_default();
    redactor.redact_string(&mut body);
    let mut payload = parse_payload(args.payload_json.as_deref())?;
    redactor.redact_json(&mut payload);
    Ok(MessageInput {
        body,
        payload,
        artifacts: parse_artifacts(
            &args.artifact,
            &args.artifact_kind,
            &args.artifact_metadata_json,
        )?,
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

/// Checks each item of a comma-separated list against a vocabulary.
pub fn csv_checked(
    value: Option<&str>,
    flag: &str,
    parse: fn(&str) -> bool,
    choices: &str,
) -> Result<Vec<String>> {
    let items = csv(value);
    for item in &items {
        if !parse(item) {
            return Err(Error::invalid_input(format!(
                "{flag} {item:?} is not one of {choices}"
            )));
        }
    }
    Ok(items)
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
