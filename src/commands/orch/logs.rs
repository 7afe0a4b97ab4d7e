//! `orch logs`: an attempt's output as text with escapes removed (default), raw bytes
//! (`--raw`) or parsed events as JSON lines (`--json`); `-f` follows until the attempt
//! ends, `-n N` keeps the last lines. [`tail`] is the same read returned as data (for
//! `orch mcp`, where stdout is the protocol). The log file lives on the host that ran
//! the attempt; elsewhere (another host of a shared database) the text is the output
//! its supervisor posted to the attempt's thread ([`from_thread`]), and `--raw` and
//! `--json` say they need that host.

use crate::adapter::parse::Parser;
use crate::adapter::text::{LineSplitter, strip_ansi};
use crate::cli::{AttemptArgs, TaskArgs};
use crate::commands::Ctx;
use crate::config::Workers;
use crate::error::{Error, IoContext, Result};
use crate::model::Attempt;
use crate::output::{Reply, write_stdout};
use crate::store::Supervision;
use crate::supervisor;
use clap::Args;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub attempt: AttemptArgs,
    /// Keep printing until the attempt ends.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
    /// The bytes exactly as the worker printed them.
    #[arg(long)]
    pub raw: bool,
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> Result<Reply> {
    read(ctx, &args, ctx.style.json, &mut Sink::Stdout).await?;
    Ok(Reply::streamed("logs"))
}

/// The longest line [`tail`] returns, in characters (a worker's JSON event stream can
/// print one line of megabytes).
const TAIL_LINE_CHARS: usize = 1000;

/// The log as text lines (escapes removed, each clipped to [`TAIL_LINE_CHARS`]) in the
/// reply's data instead of on stdout; `-f` is refused (nothing can follow here).
pub async fn tail(ctx: &Ctx, args: LogsArgs) -> Result<Reply> {
    if args.follow {
        return Err(Error::invalid_input(
            "logs cannot follow here: read the tail, and again later",
        ));
    }
    let mut sink = Sink::Lines(Vec::new());
    let attempt = read(ctx, &args, false, &mut sink).await?;
    let Sink::Lines(lines) = sink else {
        unreachable!("the sink stays a buffer")
    };
    let lines: Vec<String> = lines
        .iter()
        .map(|l| crate::output::clip(l, TAIL_LINE_CHARS))
        .collect();
    let human = lines.iter().map(|l| format!("{l}\n")).collect();
    let data = serde_json::json!({
        "task": attempt.task_id,
        "attempt_no": attempt.attempt_no,
        "lines": lines,
    });
    Ok(Reply::new("logs", data, human))
}

/// Reads the attempt's log into `sink`, as parsed events when `parsed`; returns the
/// attempt.
async fn read(ctx: &Ctx, args: &LogsArgs, parsed: bool, sink: &mut Sink) -> Result<Attempt> {
    let TaskArgs { run, task } = &args.attempt.task;
    let attempt = ctx.store.attempt(run, task, args.attempt.attempt).await?;
    let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
    let path = if supervision.log_path.is_empty() {
        supervisor::log_path(&ctx.store, &attempt)
    } else {
        supervision.log_path.clone().into()
    };
    // A supervisor recorded its log, and the file is not here: another host ran it.
    if !supervision.log_path.is_empty() && !path.exists() {
        if args.raw || parsed {
            return Err(Error::not_found(format!(
                "attempt {} of task {task:?} ran on another host: {} needs its log ({}), which is there; without it, orch logs prints the output stored in the database",
                attempt.attempt_no,
                if args.raw { "--raw" } else { "--json" },
                path.display()
            )));
        }
        return follow(ctx, args, attempt, Source::Thread { after: 0 }, None, sink).await;
    }
    let parser = if parsed {
        Some(log_parser(ctx, run, &attempt, &supervision).await?)
    } else {
        None
    };
    let source = Source::File { path, offset: 0 };
    follow(ctx, args, attempt, source, parser, sink).await
}

/// Where an attempt's output is read from: its log file, or, when the log is on
/// another host, the output its supervisor posted to the thread (the parsed events as
/// text, a flood's omitted lines counted).
enum Source {
    File { path: PathBuf, offset: u64 },
    Thread { after: i64 },
}

impl Source {
    /// Feeds what was added since the last call to `printer`; false when there is no
    /// log to read yet.
    async fn feed(
        &mut self,
        ctx: &Ctx,
        thread_id: &str,
        printer: &mut Printer<'_>,
        follow: bool,
    ) -> Result<bool> {
        match self {
            Source::File { path, offset } => {
                let Ok(mut file) = std::fs::File::open(&*path) else {
                    return Ok(false);
                };
                file.seek(SeekFrom::Start(*offset)).at(&*path)?;
                let mut buf = Vec::new();
                file.read_to_end(&mut buf).at(&*path)?;
                *offset += buf.len() as u64;
                printer.feed(&buf, follow);
            }
            Source::Thread { after } => {
                let (_, messages, _) = ctx.store.show(thread_id, None).await?;
                let seen = *after;
                for message in messages.iter().filter(|m| m.message_id > seen) {
                    *after = message.message_id;
                    if message.kind == crate::model::MessageKind::Output {
                        printer.feed(message.body.as_bytes(), follow);
                    }
                }
            }
        }
        Ok(true)
    }
}

/// Reads the attempt's output from `source` into `sink` (with `-f`, until the attempt
/// ends); returns the attempt.
async fn follow(
    ctx: &Ctx,
    args: &LogsArgs,
    attempt: Attempt,
    mut source: Source,
    parser: Option<Parser>,
    sink: &mut Sink,
) -> Result<Attempt> {
    let mut printer = Printer {
        raw: args.raw,
        parser,
        // The log is redacted as written; a parser unescaping or joining what it reads, or
        // escapes stripped from between two halves, could still put a secret together.
        redactor: crate::redact::process(),
        splitter: LineSplitter::default(),
        tail: args.lines,
        pending_tail: Vec::new(),
        sink,
    };
    loop {
        let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
        let read = source
            .feed(ctx, &attempt.thread_id, &mut printer, args.follow)
            .await?;
        if let (false, false, Source::File { path, .. }) = (read, args.follow, &source) {
            return Err(Error::not_found(format!(
                "attempt {} of task {:?} has no log yet ({})",
                attempt.attempt_no,
                attempt.task_id,
                path.display()
            )));
        }
        if !args.follow || supervision.outcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    printer.finish();
    Ok(attempt)
}

/// The parser of the adapter that ran the attempt (else the one its worker names).
async fn log_parser(
    ctx: &Ctx,
    run: &str,
    attempt: &Attempt,
    supervision: &Supervision,
) -> Result<Parser> {
    let config = ctx.store.run_config(run).await?;
    let repo = attempt.workspace.repo_path.as_deref();
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
    Ok(Parser::new(
        adapter.output,
        adapter.rate_limit_regexes(),
        adapter.auth_failure_regexes(),
    ))
}

/// Where the lines go.
enum Sink {
    Stdout,
    /// Kept, without their line ends.
    Lines(Vec<String>),
}

impl Sink {
    fn lines(&mut self, lines: Vec<String>) {
        match self {
            Sink::Stdout => {
                let text: String = lines.into_iter().map(|l| l + "\n").collect();
                write_stdout(&text, 0);
            }
            Sink::Lines(kept) => kept.extend(lines),
        }
    }
}

struct Printer<'s> {
    sink: &'s mut Sink,
    raw: bool,
    parser: Option<Parser>,
    redactor: crate::redact::Redactor,
    splitter: LineSplitter,
    /// `-n N`: hold lines until the end (or the first read when following).
    tail: Option<usize>,
    pending_tail: Vec<String>,
}

impl Printer<'_> {
    fn feed(&mut self, bytes: &[u8], follow: bool) {
        if self.raw && self.tail.is_none() && matches!(self.sink, Sink::Stdout) {
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
            self.emit(text);
        }
    }

    /// One line out, or held while `-n` keeps the last lines.
    fn emit(&mut self, text: String) {
        match self.tail {
            Some(n) => {
                self.pending_tail.push(text);
                if self.pending_tail.len() > n {
                    self.pending_tail.remove(0);
                }
            }
            None => self.sink.lines(vec![text]),
        }
    }

    fn release_tail(&mut self) {
        if self.tail.take().is_some() {
            let lines = std::mem::take(&mut self.pending_tail);
            self.sink.lines(lines);
        }
    }

    fn finish(&mut self) {
        if let Some(line) = self.splitter.finish() {
            self.line(line);
        }
        if let Some(parser) = &mut self.parser {
            for mut s in parser.finish() {
                crate::supervisor::output::redact_signal(&self.redactor, &mut s);
                self.emit(serde_json::to_string(&s).unwrap_or_default());
            }
        }
        self.release_tail();
    }
}
