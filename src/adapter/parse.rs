//! Tolerant parsers for the agent CLIs' output (agent-clis.md), fed one terminal line at
//! a time. PTY reality is expected: stderr lines mixed in, `\r\n`, ANSI escapes, partial
//! and invalid lines. A line that is not what the format expects is kept as
//! [`Signal::Raw`], never an error. Each adapter's regex lists add rate-limit and
//! auth-failure detection on the plain text of every line.

use super::formats::{claude, codex, cursor};
use super::reset;
use super::text::{MAX_LINE, TRUNCATED, strip_ansi};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The output formats orch can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    Text,
    CodexJsonl,
    ClaudeStreamJson,
    CursorStreamJson,
    GeminiStreamJson,
    OpencodeJson,
}

/// What a line of output means.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Signal {
    /// The agent's session id (for resume).
    SessionId { session_id: String },
    /// A complete message from the agent.
    AgentMessage { text: String },
    /// A tool call, in one line.
    ToolCall { summary: String },
    /// The run's final result.
    Final { text: String, is_error: bool },
    /// Token usage and cost, when the CLI reports them.
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
        cost_usd: Option<f64>,
    },
    /// An error the CLI reported (not necessarily fatal).
    Error { message: String },
    /// A rate or usage limit; `reset_at` in Unix ms when the text or event says.
    RateLimited {
        message: String,
        reset_at: Option<i64>,
    },
    /// Not logged in, bad key, no access.
    AuthFailed { message: String },
    /// The CLI refused to run a tool call (its permission rules or sandbox).
    PermissionDenied { tool: String, detail: String },
    /// Anything else, as plain text.
    Raw { text: String },
}

/// A parser for one attempt's output.
pub struct Parser {
    format: OutputFormat,
    rate_limit: Vec<Regex>,
    auth_failure: Vec<Regex>,
    /// Gemini streams assistant text in deltas; they are joined into one message.
    pending_text: String,
    session_seen: bool,
    /// Claude's `api_retry` events for a rate limit or overload since its last answer.
    limit_retries: u32,
}

/// Claude retries a 429 or 529 with backoff (ten times over ~3 minutes, or forever with
/// its retry watchdog): after this many retries in a row the limit is taken as real.
pub const LIMIT_RETRIES_BEFORE_VERDICT: u32 = 3;

impl Parser {
    pub fn new(format: OutputFormat, rate_limit: Vec<Regex>, auth_failure: Vec<Regex>) -> Parser {
        Parser {
            format,
            rate_limit,
            auth_failure,
            pending_text: String::new(),
            session_seen: false,
            limit_retries: 0,
        }
    }

    /// True when the parser would say nothing about a plain text line (text format,
    /// no patterns): the caller may skip it.
    pub fn ignores_text(&self) -> bool {
        self.format == OutputFormat::Text
            && self.rate_limit.is_empty()
            && self.auth_failure.is_empty()
    }

    /// The signals of one line (already split, possibly with escapes and `\r`).
    pub fn line(&mut self, raw: &str, now_ms: i64) -> Vec<Signal> {
        self.plain_line(&strip_ansi(raw), now_ms)
    }

    /// The signals of one line whose escapes are already removed.
    pub fn plain_line(&mut self, plain: &str, now_ms: i64) -> Vec<Signal> {
        let text = plain.trim();
        if text.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let json = (self.format != OutputFormat::Text && text.starts_with('{'))
            .then(|| serde_json::from_str::<Value>(text).ok())
            .flatten();
        let known = match &json {
            Some(v) => match self.format {
                OutputFormat::CodexJsonl => codex(v, &mut out),
                OutputFormat::ClaudeStreamJson => {
                    self.claude_retry(v, &mut out);
                    claude(v, &mut out, now_ms)
                }
                OutputFormat::CursorStreamJson => cursor(v, &mut out),
                OutputFormat::GeminiStreamJson => self.gemini(v, &mut out),
                OutputFormat::OpencodeJson => self.opencode(v, &mut out),
                OutputFormat::Text => false,
            },
            None => false,
        };
        if !known {
            // Not JSON, or an event this parser does not know: kept as text.
            out.push(Signal::Raw {
                text: text.to_string(),
            });
        }
        // The patterns apply to the CLI's own messages only: its error events and failed
        // results, and the lines that are not JSON (its stderr, its logs). Never to the
        // model's text, tool calls or tool output: a tool that prints "Not logged in"
        // says nothing about the CLI. A text-format worker has only lines.
        if self.rate_limit.is_empty() && self.auth_failure.is_empty() {
            return out;
        }
        let own: Vec<String> = if self.format == OutputFormat::Text || json.is_none() {
            vec![text.to_string()]
        } else {
            out.iter()
                .filter_map(|s| match s {
                    Signal::Error { message } => Some(message.clone()),
                    Signal::Final {
                        text,
                        is_error: true,
                    } => Some(text.clone()),
                    _ => None,
                })
                .filter(|m| !m.is_empty())
                .collect()
        };
        let structured_limit = out.iter().any(|s| matches!(s, Signal::RateLimited { .. }));
        let structured_auth = out.iter().any(|s| matches!(s, Signal::AuthFailed { .. }));
        for message in own {
            // Typographic quotes and dashes made plain: codex prints "You’ve".
            let plain = reset::normalize_punctuation(&message);
            if !structured_limit && self.rate_limit.iter().any(|r| r.is_match(&plain)) {
                out.push(Signal::RateLimited {
                    reset_at: reset::reset_at(&message, now_ms),
                    message: message.clone(),
                });
            }
            if !structured_auth && self.auth_failure.iter().any(|r| r.is_match(&plain)) {
                out.push(Signal::AuthFailed { message });
            }
        }
        out
    }

    /// Claude's `system`/`api_retry` events say why it retries before its result does
    /// (minutes later): an authentication failure at once, a rate limit or overload
    /// after [`LIMIT_RETRIES_BEFORE_VERDICT`] retries in a row.
    fn claude_retry(&mut self, v: &Value, out: &mut Vec<Signal>) {
        let kind = str_at(v, "type");
        if kind != "system" || str_at(v, "subtype") != "api_retry" {
            if matches!(kind, "assistant" | "result" | "stream_event") {
                self.limit_retries = 0;
            }
            return;
        }
        let error = str_at(v, "error");
        let status = v
            .get("error_status")
            .and_then(Value::as_u64)
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        match error {
            "authentication_failed" | "oauth_org_not_allowed" => out.push(Signal::AuthFailed {
                message: format!("the API refused the credentials: {error}{status}"),
            }),
            "rate_limit" | "overloaded" => {
                self.limit_retries += 1;
                if self.limit_retries == LIMIT_RETRIES_BEFORE_VERDICT {
                    out.push(Signal::RateLimited {
                        message: format!(
                            "{error}{status}: {} retries in a row",
                            self.limit_retries
                        ),
                        reset_at: None,
                    });
                }
            }
            _ => {}
        }
    }

    /// Signals held back until the stream ends (Gemini's joined deltas).
    pub fn finish(&mut self) -> Vec<Signal> {
        let mut out = Vec::new();
        self.flush_text(&mut out);
        out
    }

    fn flush_text(&mut self, out: &mut Vec<Signal>) {
        let text = std::mem::take(&mut self.pending_text);
        if !text.trim().is_empty() {
            out.push(Signal::AgentMessage { text });
        }
    }

    /// Adds a delta to the joined text, up to [`MAX_LINE`] bytes like a line (a stream
    /// of deltas without end must not grow without limit); the rest is dropped and the
    /// text marked once.
    fn push_delta(&mut self, content: &str) {
        let room = MAX_LINE.saturating_sub(self.pending_text.len());
        if content.len() <= room {
            self.pending_text.push_str(content);
        } else if !self.pending_text.ends_with(TRUNCATED) {
            let mut end = room;
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            self.pending_text.push_str(&content[..end]);
            self.pending_text.push_str(TRUNCATED);
        }
    }

    fn gemini(&mut self, v: &Value, out: &mut Vec<Signal>) -> bool {
        match str_at(v, "type") {
            "init" => push_session(out, v.get("session_id")),
            "message" if str_at(v, "role") == "assistant" => {
                let content = str_at(v, "content");
                if v.get("delta").and_then(Value::as_bool) == Some(true) {
                    self.push_delta(content);
                } else {
                    self.flush_text(out);
                    if !content.trim().is_empty() {
                        out.push(Signal::AgentMessage {
                            text: content.to_string(),
                        });
                    }
                }
            }
            "message" => {}
            "tool_use" => {
                self.flush_text(out);
                out.push(Signal::ToolCall {
                    summary: format!(
                        "{} {}",
                        str_at(v, "tool_name"),
                        compact(v.get("parameters"))
                    ),
                });
            }
            "tool_result" => {
                if str_at(v, "status") == "error" {
                    out.push(Signal::Error {
                        message: str_at(&v["error"], "message").to_string(),
                    });
                }
            }
            "error" => out.push(Signal::Error {
                message: str_at(v, "message").to_string(),
            }),
            "result" => {
                let last = std::mem::take(&mut self.pending_text);
                if let Some(stats) = v.get("stats") {
                    out.push(Signal::Usage {
                        input_tokens: u64_at(stats, "input_tokens"),
                        output_tokens: u64_at(stats, "output_tokens"),
                        cached_input_tokens: u64_at(stats, "cached"),
                        cost_usd: None,
                    });
                }
                if str_at(v, "status") == "error" {
                    let error = &v["error"];
                    let message = str_at(error, "message").to_string();
                    if str_at(error, "type").contains("Quota") {
                        out.push(Signal::RateLimited {
                            reset_at: None,
                            message: message.clone(),
                        });
                    }
                    out.push(Signal::Final {
                        text: message,
                        is_error: true,
                    });
                } else {
                    if !last.trim().is_empty() {
                        out.push(Signal::AgentMessage { text: last.clone() });
                    }
                    out.push(Signal::Final {
                        text: last,
                        is_error: false,
                    });
                }
            }
            _ => return false,
        }
        true
    }

    fn opencode(&mut self, v: &Value, out: &mut Vec<Signal>) -> bool {
        if !self.session_seen
            && let Some(id) = v.get("sessionID").and_then(Value::as_str)
        {
            self.session_seen = true;
            out.push(Signal::SessionId {
                session_id: id.to_string(),
            });
        }
        let part = &v["part"];
        match str_at(v, "type") {
            "text" => {
                let text = str_at(part, "text");
                if !text.trim().is_empty() {
                    out.push(Signal::AgentMessage {
                        text: text.to_string(),
                    });
                }
            }
            "tool_use" => {
                let state = &part["state"];
                out.push(Signal::ToolCall {
                    summary: format!("{} {}", str_at(part, "tool"), compact(state.get("input"))),
                });
                if str_at(state, "status") == "error" {
                    out.push(Signal::Error {
                        message: str_at(state, "error").to_string(),
                    });
                }
            }
            "step_finish" => {
                let tokens = &part["tokens"];
                out.push(Signal::Usage {
                    input_tokens: u64_at(tokens, "input"),
                    output_tokens: u64_at(tokens, "output"),
                    cached_input_tokens: u64_at(&tokens["cache"], "read"),
                    cost_usd: part.get("cost").and_then(Value::as_f64),
                });
            }
            "error" => {
                let data = &v["error"]["data"];
                let message = str_at(data, "message").to_string();
                match data.get("statusCode").and_then(Value::as_u64) {
                    Some(429) => out.push(Signal::RateLimited {
                        message: message.clone(),
                        reset_at: None,
                    }),
                    Some(401 | 403) => out.push(Signal::AuthFailed {
                        message: message.clone(),
                    }),
                    _ => {}
                }
                out.push(Signal::Error { message });
            }
            "step_start" | "reasoning" | "done" => {}
            _ => return false,
        }
        true
    }
}

pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn u64_at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A short one-line rendering of tool arguments.
pub(super) fn compact(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => {
            // The most telling field first: a command, a path, a pattern.
            [
                "command",
                "cmd",
                "file_path",
                "path",
                "pattern",
                "url",
                "query",
            ]
            .iter()
            .find_map(|k| {
                o.get(*k)
                    .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
            })
            .unwrap_or_else(|| Value::Object(o.clone()).to_string())
        }
        Some(other) => other.to_string(),
    };
    let line = text.lines().next().unwrap_or("").to_string();
    if line.chars().count() > 160 {
        line.chars().take(159).collect::<String>() + "…"
    } else {
        line
    }
}

pub(super) fn push_session(out: &mut Vec<Signal>, id: Option<&Value>) {
    if let Some(id) = id.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        out.push(Signal::SessionId {
            session_id: id.to_string(),
        });
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
