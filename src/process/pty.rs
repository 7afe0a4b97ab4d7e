//! Starting a worker on a pseudo-terminal (portable-pty): its own session and process
//! group (pgid = sid = pid), the given cwd and environment only, stdin and stdout on the
//! terminal. Output is read on a dedicated thread and handed over in chunks through a
//! bounded channel, so a flood waits on the terminal instead of filling memory.

use std::io::{Read, Write};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The whole environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Typed into the terminal after start, followed by end-of-file (`prompt = "stdin"`).
    pub stdin_text: Option<String>,
}

/// A running worker.
pub struct Worker {
    pub pid: u32,
    /// Start time of the worker process (ticks after boot), for pid-reuse checks.
    pub start_time: u64,
    /// The terminal's device path, for the holder scan.
    pub tty: Option<PathBuf>,
    child: Option<Box<dyn portable_pty::Child + Send + Sync>>,
    // Kept open so the terminal stays alive until the supervisor is done with it.
    _master: Box<dyn portable_pty::MasterPty + Send>,
    // Kept open too: dropping portable-pty's writer types "\n" and end-of-file into
    // the terminal, which the worker would read (and the terminal echo).
    _writer: Box<dyn Write + Send>,
}

/// How the worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// Output chunks, in order; `None` marks end of output (the terminal closed).
pub type OutputRx = mpsc::Receiver<Vec<u8>>;

/// Size of one read from the terminal, and how many reads may wait in the channel:
/// at most 16 × 64 KiB of output is ever held in memory.
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 16;

/// Why a worker could not be started; nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("the adapter's command is empty")]
    EmptyCommand,
    #[error("cannot open a terminal: {0}")]
    OpenTerminal(#[source] PtyError),
    /// The program does not exist, is not executable, or `cwd` is not a directory.
    #[error("cannot start {program:?} in {}: {source}", cwd.display())]
    Start {
        program: String,
        cwd: PathBuf,
        #[source]
        source: PtyError,
    },
    #[error("cannot read the terminal of {program:?}: {source}")]
    ReadTerminal {
        program: String,
        #[source]
        source: PtyError,
    },
    #[error("cannot write the terminal of {program:?}: {source}")]
    WriteTerminal {
        program: String,
        #[source]
        source: PtyError,
    },
    #[error("cannot start the output reader of {program:?}: {source}")]
    OutputReader {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// portable-pty's error type (an `anyhow::Error`), boxed.
pub type PtyError = Box<dyn std::error::Error + Send + Sync>;

/// Starts the worker. An error means nothing was started (e.g. the program does not
/// exist); its message names the program.
pub fn spawn(spec: &SpawnSpec) -> Result<(Worker, OutputRx), SpawnError> {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let program = spec.argv.first().ok_or(SpawnError::EmptyCommand)?;
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| SpawnError::OpenTerminal(e.into()))?;
    let mut cmd = CommandBuilder::new(program);
    cmd.args(&spec.argv[1..]);
    cmd.cwd(&spec.cwd);
    cmd.env_clear();
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| SpawnError::Start {
            program: program.clone(),
            cwd: spec.cwd.clone(),
            source: e.into(),
        })?;
    // The worker has its own copy of the slave; ours must go, or EOF never comes.
    drop(pair.slave);
    let pid = child.process_id().unwrap_or(0);
    let start_time = super::procfs::stat(pid).map(|s| s.start_time).unwrap_or(0);
    let tty = pair.master.tty_name();
    let reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| SpawnError::ReadTerminal {
            program: program.clone(),
            source: e.into(),
        })?;
    let mut writer = pair
        .master
        .take_writer()
        .map_err(|e| SpawnError::WriteTerminal {
            program: program.clone(),
            source: e.into(),
        })?;
    if let Some(text) = &spec.stdin_text {
        // Canonical mode: the text, a newline, then ^D (end of file on an empty line).
        let _ = writer.write_all(text.as_bytes());
        let _ = writer.write_all(b"\n\x04");
        let _ = writer.flush();
    }
    let rx = start_reader(reader).map_err(|source| SpawnError::OutputReader {
        program: program.clone(),
        source,
    })?;
    Ok((
        Worker {
            pid,
            start_time,
            tty,
            child: Some(child),
            _master: pair.master,
            _writer: writer,
        },
        rx,
    ))
}

/// Reads the terminal on a thread of its own, in chunks, into a bounded channel.
fn start_reader(mut reader: Box<dyn Read + Send>) -> std::io::Result<OutputRx> {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    std::thread::Builder::new()
        .name("orch-pty-reader".into())
        .spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        })?;
    Ok(rx)
}

impl Worker {
    /// The handle to wait on, moved out so a blocking thread can wait while the
    /// terminal itself stays with the supervisor (dropping portable-pty's writer types
    /// a newline into the terminal, which would land in the log).
    pub fn take_waiter(&mut self) -> Option<Waiter> {
        self.child.take().map(Waiter)
    }
}

/// Waits for the worker's exit.
pub struct Waiter(Box<dyn portable_pty::Child + Send + Sync>);

impl Waiter {
    /// Waits for the worker to exit (blocking; run it on a blocking thread). Reaps only
    /// this child.
    pub fn wait(mut self) -> ExitStatus {
        match self.0.wait() {
            Ok(status) => {
                let code = status.exit_code() as i32;
                match status.signal() {
                    Some(name) => ExitStatus {
                        code: None,
                        signal: Some(signal_number(name)),
                    },
                    None => ExitStatus {
                        code: Some(code),
                        signal: None,
                    },
                }
            }
            Err(_) => ExitStatus {
                code: None,
                signal: None,
            },
        }
    }
}

/// portable-pty reports a signal by name ("Killed", "Terminated", ...).
fn signal_number(name: &str) -> i32 {
    use nix::sys::signal::Signal;
    let lower = name.to_ascii_lowercase();
    let known = [
        ("killed", Signal::SIGKILL),
        ("terminated", Signal::SIGTERM),
        ("hangup", Signal::SIGHUP),
        ("interrupt", Signal::SIGINT),
        ("aborted", Signal::SIGABRT),
        ("segmentation fault", Signal::SIGSEGV),
        ("broken pipe", Signal::SIGPIPE),
        ("quit", Signal::SIGQUIT),
    ];
    known
        .iter()
        .find(|(n, _)| lower.contains(n))
        .map(|(_, s)| *s as i32)
        .unwrap_or(0)
}
