//! A scripted stand-in for the agent CLIs (agent-clis.md), for tests. It answers to the
//! name it is run under (`codex`, `claude`, `cursor-agent`, or anything else for plain
//! text), takes its script from the task section of the brief it gets as its prompt
//! (or from its last argument), and plays it in that CLI's output format.
//!
//! Script lines: `say TEXT`, `tool CMD`, `run SHELL`, `ask QUESTION` (blocks through
//! `inbox`, then says the answer), `sleep SECS`, `ratelimit [TEXT]`, `notloggedin`,
//! `flood BYTES`, `noeol BYTES`, `badutf8`, `ignoreterm`, `fork N`, `setsid-hold`,
//! `closepty`, `busy SECS`, `tick SECS` (10 ms of CPU every 300 ms: an idle runtime's
//! noise), `done SUMMARY`, `exit CODE`; `as NAME: LINE` plays LINE only
//! when run as NAME (the CLI it plays, or the worker profile in `$ORCH_AGENT`). For the
//! reliability harness: `chaos LINES MS` (numbered messages, MS apart), `failfirst` (exit
//! 1 on attempt 1), `progress N` (N `inbox update`s), `daemon` (a grandchild that leaves
//! the session and closes its terminal, then sleeps).
//!
//! When the directory `journal/` exists beside `$ORCH_DB` (for a PostgreSQL URL: in
//! `$ORCH_STATE_DIR`), every byte the agent prints
//! through its formats is also appended to `journal/<thread>.out` once the write to the
//! terminal has returned, and `journal/<thread>.runs` gets `start PID MS` and `end PID MS`
//! lines (`<thread>` is `$ORCH_THREAD` with `/` as `__`): the ground truth the harness
//! compares the logs against.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Codex,
    Claude,
    Cursor,
    Text,
}

struct Out {
    format: Format,
    session: String,
    last_text: String,
    journal: Option<Journal>,
}

/// The harness's record of what this process printed (see the module doc).
struct Journal {
    out: std::fs::File,
    runs: std::fs::File,
}

impl Journal {
    fn open() -> Option<Journal> {
        let db = std::env::var_os("ORCH_DB")?;
        // A server URL has no directory beside it: the host's state directory then.
        let dir = if db.to_string_lossy().starts_with("postgres") {
            std::path::PathBuf::from(std::env::var_os("ORCH_STATE_DIR")?).join("journal")
        } else {
            std::path::Path::new(&db).parent()?.join("journal")
        };
        if !dir.is_dir() {
            return None;
        }
        let thread = std::env::var("ORCH_THREAD")
            .unwrap_or_else(|_| "unknown".into())
            .replace('/', "__");
        let open = |ext: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{thread}.{ext}")))
                .ok()
        };
        Some(Journal {
            out: open("out")?,
            runs: open("runs")?,
        })
    }

    fn run_line(&mut self, what: &str) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let _ = writeln!(self.runs, "{what} {} {ms}", std::process::id());
    }
}

impl Out {
    fn emit(&mut self, line: &str) {
        self.write(false, format!("{line}\n").as_bytes());
    }

    fn emit_err(&mut self, line: &str) {
        self.write(true, format!("{line}\n").as_bytes());
    }

    /// Writes to stdout (or stderr), then records the bytes in the journal.
    fn write(&mut self, to_stderr: bool, bytes: &[u8]) {
        let written = if to_stderr {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes).and_then(|_| err.flush())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        };
        if written.is_ok()
            && let Some(journal) = &mut self.journal
        {
            let _ = journal.out.write_all(bytes);
        }
    }

    fn start(&mut self) {
        match self.format {
            Format::Codex => {
                self.emit(&format!(r#"{{"type":"thread.started","thread_id":"{}"}}"#, self.session));
                self.emit(r#"{"type":"turn.started"}"#);
            }
            Format::Claude => self.emit(&format!(
                r#"{{"type":"system","subtype":"init","session_id":"{}","apiKeySource":"none","model":"fake"}}"#,
                self.session
            )),
            Format::Cursor => self.emit(&format!(
                r#"{{"type":"system","subtype":"init","session_id":"{}","model":"fake"}}"#,
                self.session
            )),
            Format::Text => {}
        }
    }

    fn say(&mut self, text: &str) {
        self.last_text = text.to_string();
        let t = json(text);
        match self.format {
            Format::Codex => self.emit(&format!(
                r#"{{"type":"item.completed","item":{{"id":"item_1","type":"agent_message","text":{t}}}}}"#
            )),
            Format::Claude | Format::Cursor => self.emit(&format!(
                r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"text","text":{t}}}]}},"session_id":"{}"}}"#,
                self.session
            )),
            Format::Text => self.emit(text),
        }
    }

    fn tool(&mut self, cmd: &str) {
        let c = json(cmd);
        match self.format {
            Format::Codex => self.emit(&format!(
                r#"{{"type":"item.completed","item":{{"id":"item_2","type":"command_execution","command":{c},"exit_code":0,"status":"completed"}}}}"#
            )),
            Format::Claude => self.emit(&format!(
                r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","name":"Bash","input":{{"command":{c}}}}}]}}}}"#
            )),
            Format::Cursor => self.emit(&format!(
                r#"{{"type":"tool_call","subtype":"completed","tool_call":{{"shellToolCall":{{"args":{{"command":{c}}}}}}}}}"#
            )),
            Format::Text => self.emit(&format!("$ {cmd}")),
        }
    }

    fn finish_ok(&mut self) {
        let t = json(&self.last_text);
        match self.format {
            Format::Codex => self.emit(r#"{"type":"turn.completed","usage":{"input_tokens":120,"cached_input_tokens":20,"output_tokens":30}}"#),
            Format::Claude => self.emit(&format!(
                r#"{{"type":"result","subtype":"success","is_error":false,"result":{t},"session_id":"{}","total_cost_usd":0.0123,"usage":{{"input_tokens":120,"output_tokens":30}}}}"#,
                self.session
            )),
            Format::Cursor => self.emit(&format!(
                r#"{{"type":"result","subtype":"success","is_error":false,"result":{t},"session_id":"{}"}}"#,
                self.session
            )),
            Format::Text => {}
        }
    }

    fn rate_limit(&mut self, text: Option<&str>) {
        match self.format {
            Format::Codex => {
                let msg = json(text.unwrap_or("You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 3:28 PM."));
                self.emit(&format!(r#"{{"type":"error","message":{msg}}}"#));
                self.emit(&format!(
                    r#"{{"type":"turn.failed","error":{{"message":{msg}}}}}"#
                ));
            }
            Format::Claude => {
                let msg = json(
                    text.unwrap_or("You've hit your session limit · resets 3pm (Europe/Berlin)"),
                );
                self.emit(r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1893456000,"rateLimitType":"five_hour"}}"#);
                self.emit(&format!(r#"{{"type":"assistant","message":{{"model":"<synthetic>","content":[{{"type":"text","text":{msg}}}]}},"error":"rate_limit"}}"#));
                self.emit(&format!(r#"{{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":{msg}}}"#));
            }
            Format::Cursor | Format::Text => {
                self.emit_err("Error: You've hit your usage limit");
                self.emit_err(text.unwrap_or("chatMessage: *You've hit your free requests limit. Your usage limits will reset when your monthly cycle ends on 11/17/2025.*"));
            }
        }
    }

    fn not_logged_in(&mut self) {
        match self.format {
            Format::Claude => {
                self.emit(r#"{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"Not logged in · Please run /login"}]},"error":"authentication_failed"}"#);
                self.emit(r#"{"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login"}"#);
            }
            _ => self.emit_err("Not logged in · Please run /login"),
        }
    }
}

fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The script: the `## Task` section of a brief, or the whole text.
fn script_of(prompt: &str) -> Vec<String> {
    let lines: Vec<&str> = prompt.lines().collect();
    let body: Vec<&str> = match lines.iter().position(|l| l.trim() == "## Task") {
        Some(start) => lines[start + 1..]
            .iter()
            .take_while(|l| !l.starts_with("## "))
            .copied()
            .collect(),
        None => lines,
    };
    body.iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn inbox(args: &[&str]) -> String {
    let out = Command::new("inbox")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run inbox");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = std::path::Path::new(&args[0])
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let format = match name {
        "codex" => Format::Codex,
        "claude" => Format::Claude,
        "cursor-agent" => Format::Cursor,
        _ => Format::Text,
    };
    let prompt = args.last().cloned().unwrap_or_default();
    let mut out = Out {
        format,
        session: format!(
            "0199{:08x}-fake-7000-8000-{:012x}",
            std::process::id(),
            std::process::id()
        ),
        last_text: String::new(),
        journal: Journal::open(),
    };
    if let Some(journal) = &mut out.journal {
        journal.run_line("start");
    }
    out.start();
    let mut code = 0;
    for line in script_of(&prompt) {
        // `as codex: CMD` runs CMD only when playing codex (likewise for the others), `as
        // PROFILE: CMD` only when the worker is that profile.
        let line = match line.strip_prefix("as ").and_then(|l| l.split_once(": ")) {
            Some((who, cmd))
                if who == name || std::env::var("ORCH_AGENT").is_ok_and(|a| a == who) =>
            {
                cmd.to_string()
            }
            Some(_) => continue,
            None => line,
        };
        let (verb, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb {
            "say" => out.say(rest),
            "tool" => out.tool(rest),
            "run" => {
                let status = Command::new("sh")
                    .arg("-c")
                    .arg(rest)
                    .stdout(Stdio::null())
                    .status();
                out.tool(rest);
                if !status.is_ok_and(|s| s.success()) {
                    out.say(&format!("command failed: {rest}"));
                }
            }
            "ask" => {
                let asked = inbox(&["--json", "update", "--status", "blocked", "--summary", rest]);
                assert!(asked.contains("\"ok\":true"), "ask failed: {asked}");
                let reply = inbox(&["--json", "wait-reply", "--timeout-seconds", "60"]);
                let v: serde_json::Value = serde_json::from_str(reply.trim()).unwrap_or_default();
                let body = v["data"]["message"]["body"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                inbox(&[
                    "--json",
                    "update",
                    "--status",
                    "in_progress",
                    "--summary",
                    &format!("answered: {body}"),
                ]);
                out.say(&format!("answer was {body}"));
            }
            "sleep" => std::thread::sleep(std::time::Duration::from_secs_f64(
                rest.parse().unwrap_or(1.0),
            )),
            "busy" => {
                let until = std::time::Instant::now()
                    + std::time::Duration::from_secs_f64(rest.parse().unwrap_or(1.0));
                let mut x: u64 = 0;
                while std::time::Instant::now() < until {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                std::hint::black_box(x);
            }
            "tick" => {
                let until = std::time::Instant::now()
                    + std::time::Duration::from_secs_f64(rest.parse().unwrap_or(1.0));
                let mut x: u64 = 0;
                while std::time::Instant::now() < until {
                    let burst = std::time::Instant::now() + std::time::Duration::from_millis(10);
                    while std::time::Instant::now() < burst {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(290));
                }
                std::hint::black_box(x);
            }
            "ratelimit" => {
                out.rate_limit((!rest.is_empty()).then_some(rest));
                code = 1;
                break;
            }
            "notloggedin" => {
                out.not_logged_in();
                code = 1;
                break;
            }
            "chaos" => {
                let (lines, ms) = rest.split_once(' ').unwrap_or((rest, "50"));
                let lines: u32 = lines.parse().unwrap_or(10);
                let ms: u64 = ms.parse().unwrap_or(50);
                let thread = std::env::var("ORCH_THREAD").unwrap_or_default();
                for i in 0..lines {
                    out.say(&format!(
                        "chaos line {i}/{lines} of {thread}: {}",
                        "=".repeat(i as usize % 37)
                    ));
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
            }
            "failfirst" => {
                if std::env::var("ORCH_ATTEMPT").as_deref() == Ok("1") {
                    out.say("failing on purpose: this is attempt 1");
                    code = 1;
                    break;
                }
            }
            "progress" => {
                for i in 0..rest.parse::<u32>().unwrap_or(1) {
                    let done = inbox(&[
                        "--json",
                        "update",
                        "--status",
                        "in_progress",
                        "--summary",
                        &format!("progress {i}"),
                    ]);
                    if !done.contains("\"ok\":true") {
                        out.say(&format!("progress update {i} failed: {done}"));
                        code = 2;
                        break;
                    }
                }
                if code != 0 {
                    break;
                }
            }
            "closepty" => {
                // Let go of the terminal (stdin, stdout, stderr onto /dev/null) but go on.
                if let Ok(null) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                {
                    use std::os::fd::AsRawFd;
                    for fd in 0..3 {
                        // SAFETY: dup2 onto the standard descriptors of this process.
                        let _ = unsafe { nix::libc::dup2(null.as_raw_fd(), fd) };
                    }
                }
            }
            "daemon" => {
                use std::os::unix::process::CommandExt;
                let mut cmd = Command::new("sleep");
                cmd.arg("1000")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                // SAFETY: setsid(2) is async-signal-safe.
                unsafe {
                    cmd.pre_exec(|| {
                        nix::unistd::setsid().map_err(std::io::Error::from)?;
                        Ok(())
                    });
                }
                if let Ok(child) = cmd.spawn() {
                    out.say(&format!("daemon pid {}", child.id()));
                }
            }
            "flood" | "noeol" => {
                let total: u64 = rest.parse().unwrap_or(1 << 20);
                let line = if verb == "flood" {
                    [b"0123456789abcdef".repeat(4), b"\n".to_vec()].concat()
                } else {
                    b"x".repeat(65)
                };
                let mut stdout = std::io::stdout().lock();
                let mut written = 0u64;
                while written < total {
                    if stdout.write_all(&line).is_err() {
                        break;
                    }
                    written += line.len() as u64;
                }
                let _ = stdout.write_all(b"\n");
                let _ = stdout.flush();
            }
            "badutf8" => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(b"bad \xff\xfe\xc3 bytes \x1b[31mred\x1b[0m \x07bell\n");
                let _ = stdout.flush();
            }
            "ignoreterm" => unsafe {
                // SAFETY: setting a signal disposition to SIG_IGN in a single-threaded test binary.
                let _ = nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGTERM,
                    nix::sys::signal::SigHandler::SigIgn,
                );
            },
            "fork" => {
                for _ in 0..rest.parse::<usize>().unwrap_or(1) {
                    let _ = Command::new("sh")
                        .arg("-c")
                        .arg("trap '' TERM; exec sleep 1000")
                        .spawn();
                }
            }
            "setsid-hold" => {
                use std::os::unix::process::CommandExt;
                let mut cmd = Command::new("sleep");
                cmd.arg("1000");
                // SAFETY: setsid(2) is async-signal-safe.
                unsafe {
                    cmd.pre_exec(|| {
                        nix::unistd::setsid().map_err(std::io::Error::from)?;
                        Ok(())
                    });
                }
                if let Ok(child) = cmd.spawn() {
                    out.say(&format!("holder pid {}", child.id()));
                }
            }
            "done" => {
                inbox(&["--json", "done", "--summary", rest]);
            }
            "exit" => {
                code = rest.parse().unwrap_or(0);
                break;
            }
            other => out.say(&format!("unknown script line: {other}")),
        }
    }
    if code == 0 {
        out.finish_ok();
    }
    if let Some(journal) = &mut out.journal {
        journal.run_line("end");
    }
    std::process::exit(code);
}
