//! Printing results: the JSON envelope of contract §2 with `--json`, otherwise short
//! human lines and tables (colour only on a terminal, never with `NO_COLOR`). A closed
//! stdout pipe ends the process quietly.

use crate::error::Error;
use crate::model::{AttemptOutcome, CheckStatus, RunStatus, TaskStatus, ThreadStatus};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};

/// What a verb produced: its leaf name, its JSON data (already serialized) and its
/// human rendering.
pub struct Reply {
    pub command: &'static str,
    /// The JSON text of `data`, in pieces written one after another (a large reply
    /// is never copied into one string).
    pub data: Vec<String>,
    pub human: String,
    /// The verb printed its own output as it went (`logs`): nothing more to print.
    pub streamed: bool,
    /// The exit code (`up`: 1 when the run failed; `doctor`: 1 when a worker cannot
    /// run).
    pub exit: u8,
}

impl Reply {
    /// A reply whose data is JSON text already (rendered by the database), in pieces.
    pub fn raw(command: &'static str, data: Vec<String>, human: String) -> Self {
        Reply {
            command,
            data,
            human,
            streamed: false,
            exit: 0,
        }
    }

    /// A verb that already wrote its output.
    pub fn streamed(command: &'static str) -> Self {
        Reply {
            command,
            data: Vec::new(),
            human: String::new(),
            streamed: true,
            exit: 0,
        }
    }

    /// Serializes `data` straight to text: large replies (a status of thousands of tasks)
    /// never pass through an intermediate `serde_json::Value` tree.
    pub fn new(command: &'static str, data: impl serde::Serialize, human: String) -> Self {
        let data = serde_json::to_string(&data).unwrap_or_else(|e| {
            serde_json::to_string(&json!({"serialization_error": e.to_string()}))
                .unwrap_or_default()
        });
        Reply {
            command,
            data: vec![data],
            human,
            streamed: false,
            exit: 0,
        }
    }
}

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub json: bool,
    pub color: bool,
}

impl Style {
    pub fn detect(json: bool) -> Style {
        let color = !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { json, color }
    }

    /// A status word, coloured by what it means.
    pub fn status(&self, status: impl Toned) -> String {
        let text = status.word();
        if !self.color {
            return text.to_string();
        }
        let code = match status.tone() {
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Waiting => "33",
            Tone::Busy => "36",
            Tone::Quiet => "2",
            Tone::Plain => return text.to_string(),
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    pub fn dim(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Writes to stdout; a closed pipe exits quietly with `code`.
pub fn write_stdout(text: &str, code: u8) {
    write_stdout_parts(&[text], code);
}

/// Like [`write_stdout`] for text in pieces (no copy of a large reply into one string).
pub fn write_stdout_parts(parts: &[&str], code: u8) {
    use std::os::fd::AsFd;
    let mut stdout = std::io::stdout().lock();
    // Through a plain buffer on the same descriptor: stdout's own buffer is line-based
    // and searches every byte of a 500 KB reply for newlines first.
    let result = stdout.flush().and_then(|_| {
        let file = std::fs::File::from(stdout.as_fd().try_clone_to_owned()?);
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
        parts
            .iter()
            .try_for_each(|part| out.write_all(part.as_bytes()))
            .and_then(|_| out.flush())
    });
    if let Err(e) = result
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(code as i32);
    }
}

/// Prints a success and returns its exit code (0 unless the verb set another).
pub fn success(style: Style, reply: &Reply) -> u8 {
    if reply.streamed {
        return reply.exit;
    }
    if style.json {
        let head = success_head(reply.command);
        let mut parts = Vec::with_capacity(reply.data.len() + 2);
        parts.push(head.as_str());
        parts.extend(reply.data.iter().map(String::as_str));
        parts.push("}\n");
        write_stdout_parts(&parts, 0);
    } else if !reply.human.is_empty() {
        write_stdout(&success_text(reply), 0);
    }
    reply.exit
}

fn success_head(command: &str) -> String {
    format!(
        "{{\"ok\":true,\"command\":{},\"data\":",
        Value::String(command.to_string())
    )
}

/// The JSON document [`success`] prints with `--json`, in one string.
pub fn success_json(reply: &Reply) -> String {
    let mut doc = success_head(reply.command);
    reply.data.iter().for_each(|part| doc.push_str(part));
    doc.push_str("}\n");
    doc
}

/// What [`success`] prints without `--json` (nothing when the verb has no human text).
pub fn success_text(reply: &Reply) -> String {
    let mut text = reply.human.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Prints a failure and returns its exit code.
pub fn failure(style: Style, err: &Error) -> u8 {
    let code = err.code.exit_code();
    if style.json {
        write_stdout(&failure_json(err), code);
    } else {
        write_stderr(&failure_text(err));
    }
    code
}

/// The JSON document [`failure`] prints with `--json`.
pub fn failure_json(err: &Error) -> String {
    let doc = json!({"ok": false, "error": {"code": err.code.as_str(), "message": err.message}});
    format!("{doc}\n")
}

/// The line [`failure`] prints on stderr without `--json`.
pub fn failure_text(err: &Error) -> String {
    format!("error: {}\n", err.message)
}

/// Writes to stderr (errors writing it are ignored: there is nowhere left to say so).
pub fn write_stderr(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Aligns rows into columns separated by two spaces; the last column is not padded.
/// Widths count characters, ignoring ANSI colour sequences.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(visible_len(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < cols {
                text.push_str(cell);
                let pad = widths[i].saturating_sub(visible_len(cell)) + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        if in_escape {
            if c.is_ascii_alphabetic() {
                in_escape = false;
            }
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            len += 1;
        }
    }
    len
}

/// Shortens text to `max` characters on one line.
pub fn clip(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["A", "BB", "C"],
            &[vec!["xxx".into(), "y".into(), "z".into()]],
        );
        assert_eq!(t, "A    BB  C\nxxx  y   z\n");
    }

    #[test]
    fn clip_shortens() {
        assert_eq!(clip("hello world", 5), "hell…");
        assert_eq!(clip("a\nb", 5), "a");
    }
}

/// What a status means to someone reading a table, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Finished well (green).
    Good,
    /// Failed, cancelled, lost (red).
    Bad,
    /// Waiting on someone or something (yellow).
    Waiting,
    /// At work (cyan).
    Busy,
    /// Not started (dim).
    Quiet,
    /// Nothing to say (no colour).
    Plain,
}

/// A status that prints as its word in its [`Tone`].
pub trait Toned {
    fn word(&self) -> &'static str;
    fn tone(&self) -> Tone;
}

macro_rules! toned {
    ($($kind:ty { $($variant:ident => $tone:ident),+ $(,)? })+) => {
        $(impl Toned for $kind {
            fn word(&self) -> &'static str {
                self.as_str()
            }
            fn tone(&self) -> Tone {
                match self {
                    $(<$kind>::$variant => Tone::$tone),+
                }
            }
        })+
    };
}

toned! {
    TaskStatus {
        Planned => Quiet, Ready => Plain, Dispatched => Busy, Running => Busy, Blocked => Waiting,
        Verifying => Waiting, Done => Good, Failed => Bad, Cancelled => Bad,
    }
    ThreadStatus {
        Pending => Waiting, Claimed => Busy, InProgress => Busy, Blocked => Waiting, Done => Good,
        Failed => Bad, Cancelled => Bad,
    }
    RunStatus { Active => Busy, Blocked => Waiting, Done => Good, Failed => Bad, Cancelled => Bad }
    AttemptOutcome {
        Succeeded => Good, Failed => Bad, Stalled => Bad, Lost => Bad, RateLimited => Waiting,
        AuthFailed => Bad, SpawnFailed => Bad, Cancelled => Bad,
    }
    CheckStatus { Pending => Waiting, Passed => Good, Failed => Bad }
}
