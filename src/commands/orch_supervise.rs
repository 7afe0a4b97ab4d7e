//! Running workers: `dispatch --launch` and `launch` start an attempt's supervisor,
//! `supervise` is that supervisor, `logs` prints (and follows) what a worker printed.

use super::Ctx;
use crate::adapter::parse::Parser;
use crate::adapter::text::{LineSplitter, strip_ansi};
use crate::brief::BriefContext;
use crate::cli::orch::OrchCommand;
use crate::config::Workers;
use crate::error::{Error, IoContext, Result};
use crate::model::{Attempt, Task};
use crate::output::{Reply, write_stdout};
use crate::supervisor::{self, LaunchReport};
use serde_json::json;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

pub async fn run(ctx: &Ctx, command: OrchCommand) -> Result<Reply> {
    match command {
        OrchCommand::Launch { run, task, attempt } => {
            let task_record = ctx.store.task(&run, &task).await?;
            let attempt = ctx.store.attempt(&run, &task, attempt).await?;
            if attempt.status.is_terminal() {
                return Err(Error::invalid_state(format!(
                    "attempt {} of task {task:?} is {}; dispatch or retry for a new one",
                    attempt.attempt_no, attempt.status
                )));
            }
            let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
            if let (Some(pid), Some(start)) =
                (supervision.supervisor_pid, supervision.supervisor_start)
                && crate::process::procfs::is_same_process(pid as u32, start as u64)
            {
                return Err(Error::invalid_state(format!(
                    "attempt {} of task {task:?} is already supervised (pid {pid})",
                    attempt.attempt_no
                )));
            }
            let report = launch(ctx, &task_record, &attempt).await?;
            let human = format!(
                "launched {} for {} attempt {} (supervisor pid {}), log {}",
                report.adapter, task, attempt.attempt_no, report.supervisor_pid, report.log_path
            );
            Ok(Reply::new(
                "launch",
                json!({"attempt": attempt, "launch": report}),
                human,
            ))
        }
        OrchCommand::Supervise { attempt } => {
            init_tracing();
            tracing::info!(attempt = %attempt, pid = std::process::id(), "supervisor starting");
            if let Err(e) = supervisor::supervise(&ctx.store, &attempt).await {
                tracing::error!(error = %e, "supervision failed");
                return Err(e);
            }
            Ok(Reply::new(
                "supervise",
                json!({"attempt": attempt}),
                String::new(),
            ))
        }
        OrchCommand::Logs {
            run,
            task,
            attempt,
            follow,
            lines,
            raw,
        } => logs(ctx, &run, &task, attempt, follow, lines, raw).await,
        OrchCommand::Attempts { run, task } => {
            let mut rows = Vec::new();
            let mut human = String::new();
            for attempt in ctx.store.attempts(&run, task.as_deref()).await? {
                let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
                human.push_str(&format!(
                    "{} attempt {} {} {} {}{}\n",
                    attempt.task_id,
                    attempt.attempt_no,
                    attempt.assigned_to,
                    ctx.style.status(attempt.status.as_str()),
                    supervision
                        .outcome
                        .map_or("-", crate::model::AttemptOutcome::as_str),
                    if supervision.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", supervision.reason)
                    }
                ));
                rows.push(json!({"attempt": attempt, "supervision": supervision}));
            }
            Ok(Reply::new("attempts", json!({"attempts": rows}), human))
        }
        other => Err(Error::internal(format!(
            "not a supervision verb: {other:?}"
        ))),
    }
}

/// Diagnostics of the supervisor go to its stderr (the `.supervisor.log` file), at the
/// level `RUST_LOG` says (default `info`), secrets redacted ([`crate::redact::process`]).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::redact::RedactingWriter(std::io::stderr()))
        .with_ansi(false)
        .try_init();
}

/// Refuses a worker name that is neither a profile nor an adapter (before dispatch);
/// returns the workers the repository knows, for the launch.
pub async fn check_worker(ctx: &Ctx, run: &str, repo: &Path, to: &str) -> Result<Workers> {
    let config = ctx.store.run_config(run).await?;
    let top = crate::paths::worktree_top(repo);
    let workers = Workers::load(top.as_deref().or(Some(repo)), &config)?;
    workers.resolve(to)?;
    Ok(workers)
}

/// Starts the supervisor of an attempt and reports what it will run.
pub async fn launch(ctx: &Ctx, task: &Task, attempt: &Attempt) -> Result<LaunchReport> {
    let config = ctx.store.run_config(&attempt.run_id).await?;
    let repo = attempt.repo_path.as_deref();
    let workers = Workers::load(repo, &config)?;
    launch_with(ctx, task, attempt, &workers).await
}

/// [`launch`] with the workers already loaded.
pub async fn launch_with(
    ctx: &Ctx,
    task: &Task,
    attempt: &Attempt,
    workers: &Workers,
) -> Result<LaunchReport> {
    let plan =
        supervisor::plan_launch(&ctx.store, task, attempt, workers, &BriefContext::default())?;
    let pid = supervisor::start_supervisor(&ctx.store, attempt).await?;
    Ok(LaunchReport {
        adapter: plan.worker.adapter.name.clone(),
        profile: plan.worker.profile.clone(),
        argv: plan.redacted_argv(),
        supervisor_pid: pid,
        log_path: plan.log_path.display().to_string(),
    })
}

/// `orch logs`: text with escapes removed (default), raw bytes (`--raw`) or parsed
/// events as JSON lines (`--json`); `-f` follows until the attempt ends.
async fn logs(
    ctx: &Ctx,
    run: &str,
    task: &str,
    attempt: Option<i64>,
    follow: bool,
    lines: Option<usize>,
    raw: bool,
) -> Result<Reply> {
    let attempt = ctx.store.attempt(run, task, attempt).await?;
    let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
    let path = if supervision.log_path.is_empty() {
        supervisor::log_path(&ctx.store, &attempt)
    } else {
        supervision.log_path.clone().into()
    };
    let parser = if ctx.style.json {
        let config = ctx.store.run_config(run).await?;
        let repo = attempt.repo_path.as_deref();
        let workers = Workers::load(repo, &config)?;
        let name = if supervision.adapter.is_empty() {
            attempt.assigned_to.clone()
        } else {
            supervision.adapter.clone()
        };
        let adapter = workers
            .adapters
            .get(&name)
            .cloned()
            .or_else(|| {
                workers
                    .resolve(&attempt.assigned_to)
                    .ok()
                    .map(|w| w.adapter)
            })
            .ok_or_else(|| {
                Error::invalid_input(format!("no adapter {name:?} to parse the log with"))
            })?;
        Some(Parser::new(
            adapter.output,
            adapter.rate_limit_regexes(),
            adapter.auth_failure_regexes(),
        ))
    } else {
        None
    };
    let mut printer = Printer {
        raw,
        parser,
        // The log is redacted as written; a parser unescaping or joining what it reads, or
        // escapes stripped from between two halves, could still put a secret together.
        redactor: crate::redact::process(),
        splitter: LineSplitter::default(),
        tail: lines,
        pending_tail: Vec::new(),
    };
    let mut offset = 0u64;
    loop {
        let ended = ctx
            .store
            .attempt_by_thread(&attempt.thread_id)
            .await?
            .1
            .outcome
            .is_some();
        if let Ok(mut file) = std::fs::File::open(&path) {
            file.seek(SeekFrom::Start(offset)).at(&path)?;
            let mut buf = Vec::new();
            file.read_to_end(&mut buf).at(&path)?;
            offset += buf.len() as u64;
            printer.feed(&buf, follow);
        } else if !follow {
            return Err(Error::not_found(format!(
                "attempt {} of task {task:?} has no log yet ({})",
                attempt.attempt_no,
                path.display()
            )));
        }
        if !follow || ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    printer.finish();
    Ok(Reply::streamed("logs"))
}

struct Printer {
    raw: bool,
    parser: Option<Parser>,
    redactor: crate::redact::Redactor,
    splitter: LineSplitter,
    /// `-n N`: hold lines until the end (or the first read when following).
    tail: Option<usize>,
    pending_tail: Vec<String>,
}

impl Printer {
    fn feed(&mut self, bytes: &[u8], follow: bool) {
        if self.raw && self.tail.is_none() {
            let mut out = std::io::stdout().lock();
            let _ = std::io::Write::write_all(&mut out, bytes);
            let _ = std::io::Write::flush(&mut out);
            return;
        }
        for line in self.splitter.push(bytes) {
            self.line(line);
        }
        if follow {
            self.release_tail();
        }
    }

    fn line(&mut self, line: String) {
        let rendered = if let Some(parser) = &mut self.parser {
            let now = crate::time::now_ms();
            parser
                .line(&line, now)
                .into_iter()
                .map(|mut s| {
                    crate::supervisor::output::redact_signal(&self.redactor, &mut s);
                    serde_json::to_string(&s).unwrap_or_default()
                })
                .collect::<Vec<_>>()
        } else if self.raw {
            vec![line]
        } else {
            let plain = strip_ansi(&line);
            if plain.len() == line.len() {
                vec![plain]
            } else {
                vec![self.redactor.redact_str(&plain).into_owned()]
            }
        };
        for text in rendered {
            match self.tail {
                Some(n) => {
                    self.pending_tail.push(text);
                    if self.pending_tail.len() > n {
                        self.pending_tail.remove(0);
                    }
                }
                None => write_stdout(&format!("{text}\n"), 0),
            }
        }
    }

    fn release_tail(&mut self) {
        if self.tail.take().is_some() {
            let text: String = self.pending_tail.drain(..).map(|l| l + "\n").collect();
            write_stdout(&text, 0);
        }
    }

    fn finish(&mut self) {
        if let Some(line) = self.splitter.finish() {
            self.line(line);
        }
        if let Some(parser) = &mut self.parser {
            for mut s in parser.finish() {
                crate::supervisor::output::redact_signal(&self.redactor, &mut s);
                write_stdout(
                    &format!("{}\n", serde_json::to_string(&s).unwrap_or_default()),
                    0,
                );
            }
        }
        self.release_tail();
    }
}
