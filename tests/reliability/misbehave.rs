//! Misbehaving workers: each is launched alone under supervision and must be contained
//! within bounds (the supervisor's memory, the time to get rid of every process) and
//! leave nothing running. The figures go to docs/RELIABILITY.md.

use crate::common::Env;
use crate::procs;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The supervisor's peak resident set must stay under this, whatever the worker prints.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
const GRACE_SECS: f64 = 2.0;
const STALL_SECS: f64 = 3.0;

/// What one scenario did.
pub struct Outcome {
    pub name: &'static str,
    pub outcome: String,
    pub reason: String,
    pub peak_rss_kib: u64,
    /// From the moment it had to stop (its own exit, a cancel, its stall deadline) to
    /// the last of its processes gone.
    pub contain_secs: f64,
    pub contain_from: &'static str,
    pub total_secs: f64,
    pub log_bytes: u64,
    pub left: Vec<String>,
    pub problems: Vec<String>,
}

/// How a scenario is stopped.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// It ends by itself: contain time runs from the worker's exit.
    Exits,
    /// The harness cancels it after this many seconds.
    CancelAfter(f64),
    /// It goes silent: the stall deadline stops it.
    Stall,
}

struct Scenario {
    name: &'static str,
    script: String,
    stop: Stop,
    expect: &'static str,
    /// Upper bound on the contain time.
    contain_limit: f64,
}

fn scenarios(flood_bytes: u64) -> Vec<Scenario> {
    vec![
        Scenario {
            name: "floods 1 GiB",
            script: format!("flood {flood_bytes}\nsay finished the flood"),
            stop: Stop::Exits,
            expect: "succeeded",
            contain_limit: 3.0,
        },
        Scenario {
            name: "invalid UTF-8 and control sequences",
            script: "badutf8\nsay still here\nbadutf8".into(),
            stop: Stop::Exits,
            expect: "succeeded",
            contain_limit: 3.0,
        },
        Scenario {
            name: "ignores SIGTERM",
            script: "ignoreterm\nsay ignoring TERM\nsleep 300".into(),
            stop: Stop::CancelAfter(1.0),
            expect: "cancelled",
            contain_limit: GRACE_SECS + 2.0,
        },
        Scenario {
            name: "forks 50 grandchildren (ignoring TERM), then exits",
            script: "fork 50\nsay forked\nsleep 0.5\nexit 0".into(),
            stop: Stop::Exits,
            expect: "succeeded",
            contain_limit: 3.0,
        },
        Scenario {
            name: "forks 50 grandchildren and is cancelled",
            script: "ignoreterm\nfork 50\nsay forked\nsleep 300".into(),
            stop: Stop::CancelAfter(1.5),
            expect: "cancelled",
            contain_limit: GRACE_SECS + 2.0,
        },
        Scenario {
            name: "escapes with setsid, keeping the terminal",
            script: "setsid-hold\nsleep 0.3\nexit 0".into(),
            stop: Stop::Exits,
            expect: "succeeded",
            contain_limit: 6.0,
        },
        Scenario {
            name: "daemonizes (setsid, terminal closed)",
            script: "daemon\nsleep 0.3\nexit 0".into(),
            stop: Stop::Exits,
            expect: "succeeded",
            contain_limit: 3.0,
        },
        Scenario {
            name: "exits before printing",
            script: "exit 3".into(),
            stop: Stop::Exits,
            expect: "failed",
            contain_limit: 3.0,
        },
        Scenario {
            name: "prints forever without a newline",
            script: "noeol 1000000000000".into(),
            stop: Stop::CancelAfter(5.0),
            expect: "cancelled",
            contain_limit: GRACE_SECS + 2.0,
        },
        Scenario {
            name: "closes its terminal and keeps running",
            script: "say letting go of the terminal\ncloseptyhold".into(),
            stop: Stop::Stall,
            expect: "stalled",
            contain_limit: STALL_SECS + GRACE_SECS + 3.0,
        },
    ]
}

pub fn run_all(flood_bytes: u64) -> Vec<Outcome> {
    scenarios(flood_bytes)
        .into_iter()
        .map(|s| {
            eprintln!("misbehaving worker: {}", s.name);
            run_one(&s)
        })
        .collect()
}

fn adapter(repo: &Path) {
    crate::common::fake_text_adapter(
        repo,
        &format!("term_grace = \"{GRACE_SECS}s\"\nstall_timeout = \"{STALL_SECS}s\"\n"),
    );
    // One attempt only: a retry would start the same misbehaviour again.
    std::fs::write(
        repo.join(".orch/config.toml"),
        "[workers.bad]\nadapter = \"fake-text\"\nmax_attempts = 1\n",
    )
    .unwrap();
}

fn run_one(s: &Scenario) -> Outcome {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    adapter(&repo);
    std::fs::create_dir_all(env.path().join("journal")).unwrap();
    // `closeptyhold`: let go of the terminal, then keep running silently.
    let script = s.script.replace("closeptyhold", "closepty\nsleep 300");
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "bad",
        "--body",
        &script,
    ])
    .data();
    let started = Instant::now();
    let launched = env.launch(&repo, "r", "t", "analysis");
    let sup_pid = launched["launch"]["supervisor_pid"].as_u64().unwrap_or(0) as u32;
    let mut peak = 0u64;
    let mut problems = Vec::new();
    let mut stop_at: Option<Instant> = None;
    let mut cancelled = false;
    let deadline = started + Duration::from_secs(600);
    // Sample the supervisor's peak memory until it is gone.
    loop {
        if let Some(hwm) = procs::peak_rss_kib(sup_pid) {
            peak = peak.max(hwm);
        }
        let alive = procs::peak_rss_kib(sup_pid).is_some();
        if !alive {
            break;
        }
        if let Stop::CancelAfter(secs) = s.stop
            && !cancelled
            && started.elapsed().as_secs_f64() >= secs
        {
            cancelled = true;
            stop_at = Some(Instant::now());
            env.orch(&["cancel", "--run", "r", "--task", "t", "--reason", "harness"]);
        }
        if Instant::now() > deadline {
            problems.push("the supervisor was still running after 600 s".to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Then every process of the workspace must go.
    let left = procs::wait_gone(env.path(), 15.0);
    let gone_at = Instant::now();
    let gone_ms = epoch_ms();
    let total_secs = started.elapsed().as_secs_f64();
    let attempt = env
        .attempts("r", "t")
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let sup = &attempt["supervision"];
    let outcome = sup["outcome"].as_str().unwrap_or("").to_string();
    let reason = sup["reason"].as_str().unwrap_or("").to_string();
    let log_bytes = std::fs::metadata(sup["log_path"].as_str().unwrap_or(""))
        .map(|m| m.len())
        .unwrap_or(0);
    let (contain_secs, contain_from) = match s.stop {
        Stop::CancelAfter(_) => (
            stop_at.map_or(f64::NAN, |t| (gone_at - t).as_secs_f64()),
            "the cancel",
        ),
        Stop::Exits => (
            worker_end_ms(&env).map_or(f64::NAN, |end| gone_ms.saturating_sub(end) as f64 / 1000.0),
            "the worker's exit",
        ),
        Stop::Stall => (total_secs - STALL_SECS, "launch + the 3 s stall timeout"),
    };
    if outcome != s.expect {
        problems.push(format!(
            "outcome {outcome:?} ({reason}), expected {:?}",
            s.expect
        ));
    }
    if peak > RSS_LIMIT_KIB {
        problems.push(format!(
            "supervisor peak RSS {peak} KiB over {RSS_LIMIT_KIB} KiB"
        ));
    }
    if contain_secs.is_nan() || contain_secs > s.contain_limit {
        problems.push(format!(
            "contained in {contain_secs:.2} s, over {:.1} s",
            s.contain_limit
        ));
    }
    let left: Vec<String> = left
        .iter()
        .map(|p| format!("{} {}", p.pid, p.cmdline))
        .collect();
    if !left.is_empty() {
        problems.push(format!("{} processes left running", left.len()));
    }
    procs::kill_all(&procs::belonging_to(env.path()));
    Outcome {
        name: s.name,
        outcome,
        reason,
        peak_rss_kib: peak,
        contain_secs,
        contain_from,
        total_secs,
        log_bytes,
        left,
        problems,
    }
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// When the worker exited by itself (its journal's `end` line), in Unix ms.
fn worker_end_ms(env: &Env) -> Option<u128> {
    let journal = env.path().join("journal");
    let entry = std::fs::read_dir(&journal)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".runs"))?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    text.lines()
        .find(|l| l.starts_with("end "))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}
