//! Where a worker's output goes: first through the worker's [`StreamRedactor`] (no
//! secret goes further), then every byte to the attempt's log (with a timing index for
//! replay), each line through the adapter's parser, parsed events (redacted once more:
//! a parser may unescape or join what it read) batched into the inbox thread as `output`
//! messages ([`ThreadPoster`]), and a bounded tail of plain text for the failure report.
//! Memory stays bounded whatever the worker prints.

use crate::adapter::parse::{OutputFormat, Parser, Signal};
use crate::adapter::text::{LineSplitter, strip_ansi};
use crate::redact::{LINE_IDLE, Redactor, StreamRedactor, WORD_IDLE};
use crate::store::Store;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Lines of plain text kept for the failure report, cut from the last bytes.
const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 16 * 1024;
/// Parsed events posted to the thread per flush (once a second); the rest of a flood is
/// counted, not posted: the log has every byte.
const MAX_PENDING: usize = 200;

/// What the output said, so far.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    pub session_id: Option<String>,
    pub last_agent_message: Option<String>,
    pub last_text_line: Option<String>,
    pub final_result: Option<FinalResult>,
    pub usage: Option<serde_json::Value>,
    pub cost_usd: Option<f64>,
    pub rate_limited: Option<RateLimit>,
    pub auth_failed: Option<String>,
    /// Tool calls the CLI refused to run (`tool: detail`), at most 50.
    pub denials: Vec<String>,
    pub errors: Vec<String>,
    /// Bytes the worker printed.
    pub bytes: u64,
}

/// The result a CLI reported at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalResult {
    pub text: String,
    /// The CLI reported the result as an error.
    pub is_error: bool,
}

/// A rate limit the CLI reported, with the reset time it announced (Unix ms), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub message: String,
    pub reset_at: Option<i64>,
}

/// Parsed output taken for one `output` message.
#[derive(Debug, Clone)]
pub struct OutputBatch {
    pub summary: String,
    pub body: String,
    pub payload: serde_json::Value,
}

impl Findings {
    /// A failure the CLI reported that no retry of its own will mend: an auth failure,
    /// or a rate limit (the parsers report one only when it is real: a usage limit, a
    /// 429 the CLI waits out, retries in a row).
    pub fn definite(&self) -> Option<&str> {
        self.auth_failed
            .as_deref()
            .or(self.rate_limited.as_ref().map(|r| r.message.as_str()))
    }

    /// Takes what a parsed event says; true when the session id or usage changed.
    fn record(&mut self, signal: &Signal) -> bool {
        let mut session_changed = false;
        match signal {
            Signal::SessionId { session_id } => {
                if self.session_id.as_deref() != Some(session_id) {
                    self.session_id = Some(session_id.clone());
                    session_changed = true;
                }
            }
            Signal::AgentMessage { text } => self.last_agent_message = Some(text.clone()),
            Signal::Final { text, is_error } => {
                self.final_result = Some(FinalResult {
                    text: text.clone(),
                    is_error: *is_error,
                })
            }
            Signal::Usage {
                input_tokens,
                output_tokens,
                cached_input_tokens,
                cost_usd,
            } => {
                self.usage = Some(serde_json::json!({
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cached_input_tokens": cached_input_tokens,
                }));
                if cost_usd.is_some() {
                    self.cost_usd = *cost_usd;
                }
                session_changed = true;
            }
            Signal::RateLimited { message, reset_at } => {
                // The first signal that names a reset time wins: structured events
                // (Claude's rate_limit_event) come before the text that repeats them.
                let keep = match &self.rate_limited {
                    Some(RateLimit {
                        reset_at: Some(_), ..
                    }) => false,
                    Some(RateLimit { reset_at: None, .. }) => reset_at.is_some(),
                    None => true,
                };
                if keep {
                    self.rate_limited = Some(RateLimit {
                        message: message.clone(),
                        reset_at: *reset_at,
                    });
                }
            }
            Signal::AuthFailed { message } => {
                if self.auth_failed.is_none() {
                    self.auth_failed = Some(message.clone());
                }
            }
            Signal::Error { message } => {
                if self.errors.len() < 20 {
                    self.errors.push(message.clone());
                }
            }
            Signal::PermissionDenied { tool, detail } => {
                if self.denials.len() < 50 {
                    self.denials.push(format!("{tool}: {detail}"));
                }
            }
            Signal::ToolCall { .. } | Signal::Raw { .. } => {}
        }
        session_changed
    }
}

pub struct OutputPump {
    /// Unbuffered: each chunk is in the file (the page cache) as soon as it is read, so
    /// a supervisor killed with `kill -9` loses none of what it took from the terminal.
    log: File,
    /// The log's path (its index is beside it, `.idx`), for error messages.
    pub log_path: PathBuf,
    index: BufWriter<File>,
    started: Instant,
    last_index_ms: i64,
    /// Bytes written to the log (what the index's offsets count).
    log_bytes: u64,
    redactor: StreamRedactor,
    /// When the last chunk came, and whether the quiet since let the held words go.
    last_input: Instant,
    words_released: bool,
    /// Redacted output on its way to the log (reused).
    scratch: Vec<u8>,
    splitter: LineSplitter,
    parser: Parser,
    format: OutputFormat,
    /// The last bytes of output, for the tail and the last line.
    tail: VecDeque<u8>,
    pending: Vec<Signal>,
    /// Events left out of the current batch.
    omitted: usize,
    pub findings: Findings,
    /// The session id or usage changed since the last flush.
    session_dirty: bool,
}

impl OutputPump {
    pub fn new(
        log_path: &Path,
        format: OutputFormat,
        parser: Parser,
        redactor: Redactor,
    ) -> std::io::Result<OutputPump> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)
        };
        let mut index_path = log_path.as_os_str().to_owned();
        index_path.push(".idx");
        Ok(OutputPump {
            log: open(log_path)?,
            log_path: log_path.to_path_buf(),
            index: BufWriter::new(open(Path::new(&index_path))?),
            started: Instant::now(),
            last_index_ms: -1,
            log_bytes: 0,
            redactor: StreamRedactor::new(redactor),
            last_input: Instant::now(),
            words_released: false,
            scratch: Vec::new(),
            splitter: LineSplitter::default(),
            parser,
            format,
            tail: VecDeque::with_capacity(TAIL_BYTES),
            pending: Vec::new(),
            omitted: 0,
            findings: Findings::default(),
            session_dirty: false,
        })
    }

    /// Takes a chunk of raw output.
    pub fn chunk(&mut self, bytes: &[u8], now_ms: i64) -> std::io::Result<()> {
        self.findings.bytes += bytes.len() as u64;
        self.last_input = Instant::now();
        self.words_released = false;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.redactor.push(bytes, &mut out);
        let result = self.emit(&out, now_ms);
        self.scratch = out;
        result
    }

    /// When the held partial line (see [`StreamRedactor`]) should next be looked at, if
    /// anything is held.
    pub fn idle_deadline(&self) -> Option<Instant> {
        (self.redactor.held() > 0).then(|| {
            self.last_input
                + if self.words_released {
                    LINE_IDLE
                } else {
                    WORD_IDLE
                }
        })
    }

    /// The worker is quiet: lets the held partial line go as far as the quiet allows.
    pub fn idle(&mut self, now_ms: i64) -> std::io::Result<()> {
        let quiet = self.last_input.elapsed();
        if quiet < WORD_IDLE {
            return Ok(());
        }
        self.words_released = true;
        let mut out = Vec::new();
        self.redactor.idle(quiet, &mut out);
        self.emit(&out, now_ms)
    }

    /// Redacted output: to the log (with the timing index), the tail and the parser.
    fn emit(&mut self, bytes: &[u8], now_ms: i64) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        // Timing index: "<ms since start> <byte offset in the log>" at most every 50 ms.
        let elapsed = self.started.elapsed().as_millis() as i64;
        if self.last_index_ms < 0 || elapsed - self.last_index_ms >= 50 {
            writeln!(self.index, "{elapsed} {}", self.log_bytes)?;
            self.last_index_ms = elapsed;
        }
        self.log.write_all(bytes)?;
        self.log_bytes += bytes.len() as u64;
        let keep = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (self.tail.len() + keep.len()).saturating_sub(TAIL_BYTES);
        self.tail.drain(..overflow);
        self.tail.extend(keep);
        let mut splitter = std::mem::take(&mut self.splitter);
        splitter.for_each_line(bytes, |line| self.line_bytes(line, now_ms));
        self.splitter = splitter;
        Ok(())
    }

    /// The stream ended: the last partial line and anything the parser held back.
    pub fn finish(&mut self, now_ms: i64) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.redactor.finish(&mut out);
        self.emit(&out, now_ms)?;
        if let Some(line) = self.splitter.finish() {
            self.line(&line, now_ms);
        }
        for signal in self.parser.finish() {
            self.take(signal);
        }
        self.flush_files()
    }

    pub fn flush_files(&mut self) -> std::io::Result<()> {
        self.index.flush()
    }

    fn line_bytes(&mut self, line: &[u8], now_ms: i64) {
        // A text flood past this second's batch says nothing new: skip it (the log and
        // the tail have it).
        if self.parser.ignores_text() && self.pending.len() >= MAX_PENDING {
            self.omitted += 1;
            return;
        }
        self.line(&crate::adapter::text::line_text(line), now_ms);
    }

    fn line(&mut self, line: &str, now_ms: i64) {
        let plain = strip_ansi(line);
        for signal in self.parser.plain_line(&plain, now_ms) {
            self.take(signal);
        }
    }

    fn take(&mut self, mut signal: Signal) {
        if matches!(signal, Signal::Raw { .. }) && self.format != OutputFormat::Text {
            // Noise of a JSON format: only the log has it.
            return;
        }
        redact_signal(self.redactor.redactor(), &mut signal);
        if self.findings.record(&signal) {
            self.session_dirty = true;
        }
        // Plain text output of a text-format worker is its messages; for JSON formats a
        // raw line is noise (stderr, logs) and only goes to the log file.
        let keep = match &signal {
            Signal::Raw { .. } => self.format == OutputFormat::Text,
            Signal::Usage { .. } | Signal::SessionId { .. } => false,
            _ => true,
        };
        if keep {
            if self.pending.len() < MAX_PENDING {
                self.pending.push(signal);
            } else {
                self.omitted += 1;
            }
        }
    }

    /// Takes the pending events as one `output` message.
    fn take_batch(&mut self) -> Option<OutputBatch> {
        if self.pending.is_empty() {
            return None;
        }
        let events = std::mem::take(&mut self.pending);
        let omitted = std::mem::take(&mut self.omitted);
        let mut body = String::new();
        let mut summary = String::new();
        for e in &events {
            let line = match e {
                Signal::AgentMessage { text } => {
                    summary = first_line(text);
                    format!("agent: {text}")
                }
                Signal::ToolCall { summary } => format!("tool: {summary}"),
                Signal::Final { text, is_error } => {
                    format!(
                        "{}: {text}",
                        if *is_error {
                            "result (error)"
                        } else {
                            "result"
                        }
                    )
                }
                Signal::Error { message } => format!("error: {message}"),
                Signal::RateLimited { message, .. } => format!("rate limit: {message}"),
                Signal::AuthFailed { message } => format!("auth: {message}"),
                Signal::PermissionDenied { tool, detail } => format!("denied: {tool} {detail}"),
                Signal::Raw { text } => text.clone(),
                Signal::SessionId { .. } | Signal::Usage { .. } => continue,
            };
            body.push_str(&line);
            body.push('\n');
        }
        if omitted > 0 {
            body.push_str(&format!("… {omitted} more lines (the log has them all)\n"));
        }
        if summary.is_empty() {
            summary = body.lines().last().map(first_line).unwrap_or_default();
        }
        let payload = serde_json::json!({"events": events, "omitted": omitted});
        Some(OutputBatch {
            summary,
            body,
            payload,
        })
    }

    /// The last lines of plain output.
    pub fn tail(&self) -> String {
        let bytes: Vec<u8> = self.tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<String> = text
            .split('\n')
            .map(|l| strip_ansi(l).trim().chars().take(500).collect::<String>())
            .filter(|l| !l.is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        // Stripping escapes may have joined what they kept apart.
        self.redactor.redactor().redact_str(&tail).into_owned()
    }

    /// The last non-empty line of plain output.
    pub fn last_line(&self) -> Option<String> {
        self.tail().lines().last().map(str::to_string)
    }
}

/// What one flush posts: the batch of parsed output, and the session facts if they
/// changed.
struct Post {
    output: Option<OutputBatch>,
    session: Option<SessionFacts>,
}

/// The session id, usage and cost the output reported, as recorded on the attempt.
struct SessionFacts {
    session_id: Option<String>,
    usage: Option<serde_json::Value>,
    cost_usd: Option<f64>,
}

impl OutputPump {
    /// Takes what the next post carries (and flushes the timing index).
    fn take_post(&mut self) -> Post {
        let _ = self.flush_files();
        let output = self.take_batch();
        let session = std::mem::take(&mut self.session_dirty).then(|| SessionFacts {
            session_id: self.findings.session_id.clone(),
            usage: self.findings.usage.clone(),
            cost_usd: self.findings.cost_usd,
        });
        Post { output, session }
    }
}

/// Posts the pump's parsed output to the attempt's thread in the background, so the
/// output keeps being read (and logged) while the database is busy: one post at a time,
/// in order.
pub struct ThreadPoster {
    store: Store,
    thread_id: String,
    agent: String,
    posting: Option<tokio::task::JoinHandle<()>>,
}

impl ThreadPoster {
    pub fn new(store: Store, thread_id: &str, agent: &str) -> ThreadPoster {
        ThreadPoster {
            store,
            thread_id: thread_id.to_string(),
            agent: agent.to_string(),
            posting: None,
        }
    }

    /// Posts what the pump holds, unless the previous post is still under way (what it
    /// holds then waits for the next flush).
    pub fn flush(&mut self, pump: &mut OutputPump) {
        if self.posting.as_ref().is_none_or(|p| p.is_finished()) {
            let post = pump.take_post();
            let (store, thread_id, agent) = (
                self.store.clone(),
                self.thread_id.clone(),
                self.agent.clone(),
            );
            self.posting = Some(tokio::spawn(async move {
                send(&store, &thread_id, &agent, post).await
            }));
        }
    }

    /// Waits for the post under way, then posts the rest.
    pub async fn finish(&mut self, pump: &mut OutputPump) {
        if let Some(posting) = self.posting.take() {
            let _ = posting.await;
        }
        send(&self.store, &self.thread_id, &self.agent, pump.take_post()).await;
    }
}

async fn send(store: &Store, thread_id: &str, agent: &str, post: Post) {
    if let Some(output) = post.output
        && let Err(e) = store
            .post_output(
                thread_id,
                agent,
                &output.summary,
                &output.body,
                output.payload,
            )
            .await
    {
        tracing::warn!(error = %e, "cannot post output");
    }
    if let Some(facts) = post.session
        && let Err(e) = store
            .record_session(
                thread_id,
                facts.session_id.as_deref(),
                facts.usage.as_ref(),
                facts.cost_usd,
            )
            .await
    {
        tracing::warn!(error = %e, "cannot record the session");
    }
}

/// Replaces the secrets in the text of a parsed event (a session id or usage has none).
pub fn redact_signal(redactor: &Redactor, signal: &mut Signal) {
    match signal {
        Signal::AgentMessage { text } | Signal::Final { text, .. } | Signal::Raw { text } => {
            redactor.redact_string(text)
        }
        Signal::ToolCall { summary } => redactor.redact_string(summary),
        Signal::PermissionDenied { tool, detail } => {
            redactor.redact_string(tool);
            redactor.redact_string(detail);
        }
        Signal::Error { message }
        | Signal::RateLimited { message, .. }
        | Signal::AuthFailed { message } => redactor.redact_string(message),
        Signal::SessionId { .. } | Signal::Usage { .. } => {}
    }
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > 120 {
        line.chars().take(119).collect::<String>() + "…"
    } else {
        line.to_string()
    }
}
