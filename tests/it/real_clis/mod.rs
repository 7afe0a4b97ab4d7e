//! The real agent CLIs (`codex`, `claude`, `opencode`, installed from npm at the versions
//! docs/adapters.md names) run under orch against the mock model provider
//! (`tests/bin/mock_provider.rs`, on 127.0.0.1 only), one scripted scenario per test.
//!
//! Every test here is `#[ignore]`d: it needs the CLIs, which `cargo test` alone does not
//! install. `.ci/real-clis` installs the pinned versions and runs them:
//!
//! ```sh
//! .ci/real-clis            # npm install into target/real-clis, then the suite
//! ORCH_REAL_CLI_BIN=DIR cargo test --test it real_clis -- --ignored   # CLIs already in DIR
//! ```
//!
//! Asked to run without `ORCH_REAL_CLI_BIN`, a test fails (it was asked for and cannot
//! run); it never passes without having run.

mod leader;
mod scenarios;

use crate::common::{Env, wait_until};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const MOCK_PROVIDER: &str = env!("CARGO_BIN_EXE_mock-provider");

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cli {
    Codex,
    Claude,
    /// opencode, with its `anthropic` provider pointed at the mock's Messages API.
    Opencode,
}

impl Cli {
    pub fn adapter(self) -> &'static str {
        match self {
            Cli::Codex => "codex",
            Cli::Claude => "claude",
            Cli::Opencode => "opencode",
        }
    }
}

/// The mock provider, killed when dropped.
pub struct Mock {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Mock {
    pub fn start(dir: &Path, scenario: &Value) -> Mock {
        let scenario_path = dir.join("scenario.json");
        std::fs::write(&scenario_path, scenario.to_string()).unwrap();
        let port_file = dir.join("mock.port");
        let log = dir.join("mock.log");
        let child = Command::new(MOCK_PROVIDER)
            .arg("--scenario")
            .arg(&scenario_path)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .arg("--max-seconds")
            .arg("900")
            .spawn()
            .expect("start the mock provider");
        let mut port = 0;
        wait_until("the mock provider's port", 10, || {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0);
            port != 0
        });
        Mock { child, port, log }
    }

    /// Every request served so far, one JSON object each.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// When the first request answered with what `served` matches was served (ms).
    #[track_caller]
    pub fn first_served(&self, served: impl Fn(&Value) -> bool) -> i64 {
        let requests = self.requests();
        requests
            .iter()
            .find(|r| served(&r["served"]))
            .and_then(|r| r["t"].as_i64())
            .unwrap_or_else(|| panic!("no such request served: {requests:#?}"))
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One real-CLI world: an [`Env`] outside /tmp with the CLIs first on PATH, a
/// repository, the mock provider, and the CLI's provider settings pointing at it.
pub struct Real {
    pub mock: Mock,
    pub cli: Cli,
    pub repo: PathBuf,
    // Dropped last: the mock's files live in it.
    pub env: Env,
}

fn cli_bin() -> PathBuf {
    let Some(bin) = std::env::var_os("ORCH_REAL_CLI_BIN") else {
        panic!(
            "the real-CLI tests need ORCH_REAL_CLI_BIN (a directory with codex and claude): run .ci/real-clis"
        );
    };
    PathBuf::from(bin)
}

impl Real {
    /// A world whose provider plays `steps` (see the mock provider's scenario format).
    pub fn new(cli: Cli, steps: Value) -> Real {
        let bin = cli_bin();
        let mut env = Env::new_in(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-clis"));
        env.path_prefix = Some(bin);
        let mock = Mock::start(env.path(), &json!({ "steps": steps }));
        let base = env.path().to_path_buf();
        let mut set = |k: &str, v: String| env.extra_env.push((k.to_string(), v));
        match cli {
            Cli::Codex => {
                let home = base.join("codex-home");
                std::fs::create_dir_all(&home).unwrap();
                std::fs::write(
                    home.join("config.toml"),
                    format!(
                        "model_provider = \"mock\"\nmodel = \"gpt-5\"\n[model_providers.mock]\nname = \"mock\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\nenv_key = \"OPENAI_API_KEY\"\n",
                        mock.port
                    ),
                )
                .unwrap();
                set("CODEX_HOME", home.display().to_string());
                set("OPENAI_API_KEY", "key-a".into());
            }
            Cli::Claude => {
                let config = base.join("claude-config");
                std::fs::create_dir_all(&config).unwrap();
                set("CLAUDE_CONFIG_DIR", config.display().to_string());
                set(
                    "ANTHROPIC_BASE_URL",
                    format!("http://127.0.0.1:{}", mock.port),
                );
                set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into());
                // An API-key account by default; a profile may bring its own key or
                // token (its env wins over the caller's).
                set("ANTHROPIC_API_KEY", "key-a".into());
            }
            Cli::Opencode => {
                set(
                    "OPENCODE_CONFIG_CONTENT",
                    json!({
                        "provider": {"anthropic": {"options": {
                            "baseURL": format!("http://127.0.0.1:{}/v1", mock.port)}}},
                        "model": "anthropic/claude-sonnet-4-5",
                        "autoupdate": false,
                    })
                    .to_string(),
                );
                set("OPENCODE_DISABLE_MODELS_FETCH", "1".into());
                set("ANTHROPIC_API_KEY", "key-a".into());
            }
        }
        let repo = env.repo();
        env.orch(&["run", "init", "--run", "r"]).data();
        Real {
            mock,
            cli,
            repo,
            env,
        }
    }

    /// Writes `.orch/config.toml` (worker profiles).
    /// `.orch/` is excluded from git as orch itself excludes it, so the repository
    /// stays clean for a code dispatch.
    pub fn profiles(&self, toml: &str) {
        std::fs::create_dir_all(self.repo.join(".orch")).unwrap();
        std::fs::write(self.repo.join(".orch/config.toml"), toml).unwrap();
        std::fs::write(self.repo.join(".git/info/exclude"), ".orch/\n").unwrap();
    }

    /// Adds task `task` for `worker`.
    pub fn task(&self, task: &str, worker: &str, body: &str) {
        self.env
            .orch(&[
                "task",
                "add",
                "--run",
                "r",
                "--task",
                task,
                "--title",
                task,
                "--default-to",
                worker,
                "--body",
                body,
            ])
            .data();
    }

    /// `dispatch --launch` in `mode`; returns `data`.
    pub fn launch(&self, task: &str, mode: &str) -> Value {
        self.env.launch(&self.repo, "r", task, mode)
    }

    /// Waits (up to `secs`) for attempt `n` of `task` to end; returns its record.
    pub fn ended(&self, task: &str, n: usize, secs: u64) -> Value {
        let mut record = Value::Null;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(secs) {
            if let Some(r) = self.env.attempts("r", task).get(n - 1) {
                record = r.clone();
                if !record["supervision"]["outcome"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty()
                {
                    return record;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "attempt {n} of {task} did not end within {secs}s: {record:#}\nprovider log: {:#?}\nworker log:\n{}",
            self.mock.requests(),
            self.log(&record)
        );
    }

    /// Polls `done` for up to `secs`; on a timeout fails with every attempt, its log
    /// and the provider's requests.
    #[track_caller]
    pub fn wait_for(&self, what: &str, secs: u64, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            if started.elapsed() > Duration::from_secs(secs) {
                let attempts = self.env.attempts("r", "t");
                let logs: Vec<String> = attempts.iter().map(|a| self.log(a)).collect();
                panic!(
                    "timed out waiting for {what}: {attempts:#?}\nlogs: {logs:#?}\nprovider: {:#?}",
                    self.mock.requests()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The worker's log, as text.
    pub fn log(&self, record: &Value) -> String {
        record["supervision"]["log_path"]
            .as_str()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The messages of an attempt's thread.
    pub fn thread(&self, record: &Value) -> Vec<Value> {
        let thread = record["attempt"]["thread_id"].as_str().unwrap();
        self.env.inbox(None, &["show", "--thread", thread]).data()["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The run's events of `kind` so far (read with `orch wait`, one second past the
    /// last).
    pub fn events(&self, kind: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let out = self.env.orch(&[
                "wait",
                "--run",
                "r",
                "--for",
                kind,
                "--after-event",
                &after.to_string(),
                "--timeout-seconds",
                "1",
            ]);
            if out.code != 0 {
                return events;
            }
            let data = out.data().clone();
            after = data["next_event_id"].as_i64().unwrap();
            events.push(data["event"].clone());
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn ms(time: &Value) -> i64 {
    time.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|| panic!("not a time: {time}"))
}

/// Nothing of this world still runs: no process has its directory in its command line
/// or working directory.
/// Waits (up to 15 s: a supervisor records its outcome, then runs its policy step and
/// exits) until nothing the test started is running; fails naming what is left.
#[track_caller]
pub fn assert_nothing_left_running(dir: &Path) {
    let started = Instant::now();
    loop {
        let left = nothing_left_running(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running 15 s after the attempt ended:\n{}",
            left.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn nothing_left_running(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if (cmdline.contains(&needle) && !cmdline.contains("mock-provider"))
            || cwd.starts_with(&needle)
        {
            left.push(format!("{pid}: {cmdline}"));
        }
    }
    left
}
