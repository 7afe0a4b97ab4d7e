//! Opt-in: the real agent CLIs, launched for real, offline and without credentials,
//! classified correctly and within a deadline (never hanging).
//!
//! ```sh
//! npm install --prefix /some/dir @openai/codex @anthropic-ai/claude-code
//! ORCH_REAL_CLI_BIN=/some/dir/node_modules/.bin cargo test --test it real_clis -- --nocapture
//! ```
//! Without `ORCH_REAL_CLI_BIN` these tests say so and pass.

use crate::common::Env;
use std::time::{Duration, Instant};

fn real_env() -> Option<Env> {
    let bin = std::env::var_os("ORCH_REAL_CLI_BIN")?;
    let mut env = Env::new();
    env.path_prefix = Some(bin.into());
    Some(env)
}

/// Launches `worker` on a trivial task and returns its outcome, reason and how long it took.
fn run_one(env: &Env, worker: &str, deadline: Duration) -> (String, String, Duration) {
    let repo = env.path().join("repo");
    if !repo.exists() {
        env.repo();
        env.orch(&["run", "init", "--run", "r"]).data();
    }
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        worker,
        "--default-to",
        worker,
        "--body",
        "Say hello.",
    ])
    .data();
    let started = Instant::now();
    env.dispatch_launch(&repo, "r", worker, "analysis", &[])
        .data();
    loop {
        let out = env.orch(&["attempts", "--run", "r", "--task", worker]);
        let record = out.data()["attempts"][0].clone();
        let outcome = record["supervision"]["outcome"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !outcome.is_empty() {
            let reason = record["supervision"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_string();
            return (outcome, reason, started.elapsed());
        }
        assert!(
            started.elapsed() < deadline,
            "{worker} did not end within {deadline:?}: {record:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn real_claude_offline_without_login_ends_auth_failed() {
    let Some(env) = real_env() else {
        eprintln!("ORCH_REAL_CLI_BIN is not set: the real-CLI test is skipped");
        return;
    };
    let (outcome, reason, took) = run_one(&env, "claude", Duration::from_secs(120));
    eprintln!("claude: {outcome} in {took:?}: {reason}");
    assert_eq!(outcome, "auth_failed", "{reason}");
    assert!(reason.contains("Not logged in"), "{reason}");
}

#[test]
fn real_codex_offline_ends_and_never_hangs() {
    let Some(env) = real_env() else {
        eprintln!("ORCH_REAL_CLI_BIN is not set: the real-CLI test is skipped");
        return;
    };
    // Offline, codex retries the network; the built-in adapter turns off its unbounded
    // retries, so it gives up (about 31 s measured) and orch classifies the failure.
    let (outcome, reason, took) = run_one(&env, "codex", Duration::from_secs(240));
    eprintln!("codex: {outcome} in {took:?}: {reason}");
    assert!(
        matches!(outcome.as_str(), "failed" | "auth_failed"),
        "{outcome}: {reason}"
    );
    assert!(!reason.is_empty());
}
