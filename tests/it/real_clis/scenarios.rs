//! The scenarios of issue #10, each run with the real codex and the real claude.

use super::{Cli, Real, assert_nothing_left_running, ms};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs one scenario function with each CLI, as `#[ignore]`d tests (see the module doc).
macro_rules! with_each_cli {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::super::Cli;
            #[test]
            #[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
            fn codex() {
                super::$name(Cli::Codex)
            }
            #[test]
            #[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
            fn claude() {
                super::$name(Cli::Claude)
            }
        }
    )*};
}

with_each_cli!(
    code_task_done,
    code_task_done_under_orch_up,
    code_task_without_commits_or_done_fails,
    blocked_question_answered,
    usage_limit_hands_over_to_the_fallback,
    retried_rate_limit_is_acted_on_while_the_cli_waits,
    limit_that_resets_soon_parks_and_resumes,
    stall_is_stopped,
    unauthorized_is_auth_failed_at_once,
    tool_output_about_limits_is_not_misread,
    tool_output_about_logins_then_a_crash_is_failed_not_auth_failed,
    full_permissions_let_the_worker_commit_itself,
);

/// The scenarios opencode runs too, with its `anthropic` provider pointed at the mock.
mod opencode {
    use super::Cli;
    macro_rules! with_opencode {
        ($($name:ident),* $(,)?) => {$(
            #[test]
            #[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
            fn $name() {
                super::$name(Cli::Opencode)
            }
        )*};
    }
    with_opencode!(
        code_task_done,
        code_task_without_commits_or_done_fails,
        blocked_question_answered,
        unauthorized_is_auth_failed_at_once,
        tool_output_about_limits_is_not_misread,
        tool_output_about_logins_then_a_crash_is_failed_not_auth_failed,
        stall_is_stopped,
    );
}

#[test]
#[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
fn claude_refused_inbox_is_recorded_and_not_a_success() {
    let real = Real::new(
        Cli::Claude,
        json!([
            {"tool": "inbox update --status in_progress --summary 'Starting'"},
            {"text": "Done."},
        ]),
    );
    real.profiles("[workers.reader]\nadapter = \"claude\"\npermissions = \"read-only\"\n");
    real.task("t", "reader", "Report progress.");
    real.launch("t", "analysis");
    let record = real.ended("t", 1, 60);
    assert_eq!(outcome(&record), "failed", "{record:#}");
    let reason = record["supervision"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("refused the worker's inbox commands"),
        "{reason}"
    );
    let denials = &record["supervision"]["work"]["permission_denials"];
    assert!(
        denials[0]
            .as_str()
            .is_some_and(|d| d.starts_with("Bash: inbox update")),
        "{denials}"
    );
    let messages = real.thread(&record);
    assert!(
        messages.iter().any(|m| m["body"]
            .as_str()
            .is_some_and(|b| b.contains("the CLI refused 1 tool call(s)"))),
        "{messages:#?}"
    );
}

#[test]
#[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
fn claude_variadic_profile_args_leave_the_prompt_alone() {
    let real = Real::new(Cli::Claude, json!([{"text": "Hello."}]));
    real.profiles(
        "[workers.tools]\nadapter = \"claude\"\nargs = [\"--allowedTools\", \"Bash\", \"Read\"]\n",
    );
    real.task("t", "tools", "Say hello.");
    real.launch("t", "analysis");
    let record = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&record),
        "succeeded",
        "{record:#}\n{}",
        real.log(&record)
    );
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A figure for docs/BENCHMARKS.md, printed as `BENCH <cli> <what>: <ms> ms` (read by
/// benches/real-clis).
fn bench(cli: Cli, what: &str, ms: i64) {
    eprintln!("BENCH {} {what}: {ms} ms", cli.adapter());
}

fn outcome(record: &Value) -> &str {
    record["supervision"]["outcome"].as_str().unwrap_or("")
}

/// A usage-limit error with a reset `in_s` seconds from now, as the CLI's provider
/// sends it for this key.
fn usage_limit(cli: Cli, key: &str, in_s: i64) -> Value {
    let reset = now_s() + in_s;
    match cli {
        Cli::Codex => json!({
            "status": 429, "key": key, "headers": {},
            "body": {"error": {"type": "usage_limit_reached",
                "message": "The usage limit has been reached", "plan_type": "pro",
                "resets_at": reset}},
        }),
        Cli::Claude | Cli::Opencode => json!({
            "status": 429, "key": key,
            "headers": {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-reset": reset.to_string(),
                "anthropic-ratelimit-unified-representative-claim": "five_hour",
                "anthropic-ratelimit-unified-5h-status": "rejected",
                "anthropic-ratelimit-unified-5h-reset": reset.to_string(),
                "anthropic-ratelimit-unified-5h-utilization": "1.0",
            },
            "body": {"type": "error", "error": {"type": "rate_limit_error",
                "message": "This request would exceed your account's rate limit. Please try again later."}},
        }),
    }
}

/// Two profiles of the same CLI on two accounts, `a` handing over to `b`.
fn two_accounts(real: &Real) {
    // Claude's subscription accounts log in with a token, and no API key may be set.
    let (name, var, clear) = match real.cli {
        Cli::Codex => ("codex", "OPENAI_API_KEY", ""),
        Cli::Claude => (
            "claude",
            "CLAUDE_CODE_OAUTH_TOKEN",
            ", ANTHROPIC_API_KEY = \"\"",
        ),
        Cli::Opencode => ("opencode", "ANTHROPIC_API_KEY", ""),
    };
    real.profiles(&format!(
        "[workers.{name}-a]\nadapter = \"{name}\"\nfallback = [\"{name}-b\"]\nenv = {{ {var} = \"key-a\"{clear} }}\n\
         [workers.{name}-b]\nadapter = \"{name}\"\nenv = {{ {var} = \"key-b\"{clear} }}\n"
    ));
}

/// The model's turns of a code task adding `hello.txt`: write it, commit it, `inbox done`.
fn hello_steps() -> Value {
    json!([
        {"tool": "printf 'hello\\n' > hello.txt"},
        {"tool": "git add hello.txt && git commit -q -m 'Add hello.txt'"},
        {"tool": "inbox done --summary 'Added hello.txt'"},
        {"text": "Added hello.txt."},
    ])
}

fn code_task_done(cli: Cli) {
    let real = Real::new(cli, hello_steps());
    real.task("t", cli.adapter(), "Add a file hello.txt saying hello.");
    let launched = real.launch("t", "code");
    let record = real.ended("t", 1, 90);
    assert_eq!(
        outcome(&record),
        "succeeded",
        "{record:#}\n{}",
        real.log(&record)
    );
    // The work is on the attempt's branch, committed (by the worker, or by orch for a
    // CLI whose sandbox cannot commit).
    let base = launched["attempt"]["base_commit"].as_str().unwrap();
    let branch = launched["attempt"]["branch_name"].as_str().unwrap();
    let files = real.env.git(
        &real.repo,
        &["diff", "--name-only", &format!("{base}..{branch}")],
    );
    assert_eq!(files, "hello.txt", "{record:#}");
    let worktree = launched["attempt"]["worktree_path"].as_str().unwrap();
    assert_eq!(
        real.env
            .git(std::path::Path::new(worktree), &["status", "--porcelain"]),
        "",
        "nothing left uncommitted"
    );
    // `inbox done` reached the thread.
    let messages = real.thread(&record);
    assert!(
        messages
            .iter()
            .any(|m| m["summary"] == "Added hello.txt" && m["kind"] == "result"),
        "{messages:#?}"
    );
    assert_nothing_left_running(real.env.path());
}

/// The same task run by `orch up` rather than a leader's `dispatch --launch`. On
/// PostgreSQL (`.ci/real-clis` runs this one there too) `orch up` hands the attempt to
/// its standby supervisor, started before the task was ready: the real CLI then runs
/// under a supervisor whose signal handlers were installed and output redirected before
/// it had an attempt, and the attempt's branch is pushed to the shared remote.
fn code_task_done_under_orch_up(cli: Cli) {
    let real = Real::new(cli, hello_steps());
    real.env
        .orch(&[
            "task",
            "add",
            "--run",
            "r",
            "--task",
            "t",
            "--title",
            "t",
            "--default-to",
            cli.adapter(),
            "--execution-mode",
            "code",
            "--body",
            "Add a file hello.txt saying hello.",
        ])
        .data();
    let db = real.env.db.display().to_string();
    let up = real.env.raw(
        crate::common::ORCH,
        &["--db", &db, "up", "--run", "r"],
        &real.repo,
        &[],
    );
    let record = real.ended("t", 1, 5);
    assert_eq!(
        up.code,
        0,
        "{}\n{}\n{record:#}\n{}",
        up.stdout,
        up.stderr,
        real.log(&record)
    );
    assert_eq!(
        outcome(&record),
        "succeeded",
        "{record:#}\n{}",
        real.log(&record)
    );
    let attempt = &record["attempt"];
    let (base, branch) = (
        attempt["base_commit"].as_str().unwrap(),
        attempt["branch_name"].as_str().unwrap(),
    );
    let files = real.env.git(
        &real.repo,
        &["diff", "--name-only", &format!("{base}..{branch}")],
    );
    assert_eq!(files, "hello.txt", "{record:#}");
    let log_path = record["supervision"]["log_path"].as_str().unwrap();
    let supervisor_log =
        std::fs::read_to_string(std::path::Path::new(log_path).with_extension("supervisor.log"))
            .unwrap_or_default();
    if real.env.is_pg() {
        assert!(
            supervisor_log.contains("standby=true"),
            "not handed to a standby:\n{supervisor_log}"
        );
        // Pushed: the remote has the branch at the attempt's commit.
        let remote = real.env.path().join("remote.git");
        let on_remote = real.env.git(&remote, &["rev-parse", branch]);
        let local = real.env.git(&real.repo, &["rev-parse", branch]);
        assert_eq!(on_remote, local, "{record:#}");
    } else {
        assert!(supervisor_log.contains("standby=false"), "{supervisor_log}");
    }
    assert_nothing_left_running(real.env.path());
}

fn code_task_without_commits_or_done_fails(cli: Cli) {
    let real = Real::new(
        cli,
        json!([{"text": "I looked around and changed nothing."}]),
    );
    real.task("t", cli.adapter(), "Add a file hello.txt saying hello.");
    real.launch("t", "code");
    let record = real.ended("t", 1, 90);
    assert_eq!(outcome(&record), "failed", "{record:#}");
    let reason = record["supervision"]["reason"].as_str().unwrap();
    assert!(reason.contains("no commits"), "{reason}");
}

fn blocked_question_answered(cli: Cli) {
    let real = Real::new(
        cli,
        json!([
            {"tool": "inbox update --status blocked --summary 'Which greeting?' --payload-json '{\"question\": \"Which greeting?\"}' && inbox wait-reply --timeout-seconds 60"},
            {"text": "I used the greeting I was given."},
        ]),
    );
    real.task(
        "t",
        cli.adapter(),
        "Ask which greeting to use, then use it.",
    );
    real.launch("t", "analysis");
    real.wait_for("the worker's question", 60, || {
        real.env.orch(&["blocked", "--run", "r"]).data()["tasks"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    });
    real.env
        .orch(&[
            "answer",
            "--run",
            "r",
            "--task",
            "t",
            "--body",
            "Say bonjour",
        ])
        .data();
    let record = real.ended("t", 1, 90);
    assert_eq!(outcome(&record), "succeeded", "{record:#}");
    // The answer reached the model, as the output of the worker's command.
    let requests = real.mock.requests();
    assert!(
        requests.iter().any(|r| r["turn"] == 1
            && r["tool_results"][0]
                .as_str()
                .is_some_and(|t| t.contains("Say bonjour"))),
        "{requests:#?}"
    );
}

fn usage_limit_hands_over_to_the_fallback(cli: Cli) {
    let real = Real::new(
        cli,
        json!([{"first": [usage_limit(cli, "key-a", 7200)], "text": "Done on the second account."}]),
    );
    two_accounts(&real);
    real.task("t", &format!("{}-a", cli.adapter()), "Say hello.");
    real.launch("t", "analysis");
    let first = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&first),
        "rate_limited",
        "{first:#}\n{}",
        real.log(&first)
    );
    let reset = ms(&first["supervision"]["reset_at"]);
    let expected = (now_s() + 7200) * 1000;
    assert!(
        (reset - expected).abs() < 120_000,
        "reset {reset} vs {expected}"
    );
    let second = real.ended("t", 2, 60);
    assert_eq!(
        second["attempt"]["assigned_to"],
        format!("{}-b", cli.adapter())
    );
    assert_eq!(outcome(&second), "succeeded", "{second:#}");
    let shown = real.mock.first_served(|served| served["status"] == 429);
    bench(
        cli,
        "limit shown -> fallback worker started",
        ms(&second["supervision"]["launched_at"]) - shown,
    );
}

fn retried_rate_limit_is_acted_on_while_the_cli_waits(cli: Cli) {
    // codex sleeps out a long retry-after; claude (API key, no retry-after) retries
    // with backoff. Either way the CLI would sit on the limit for minutes to an hour.
    let error = match cli {
        Cli::Codex => json!({"status": 429, "key": "key-a", "headers": {"retry-after": "3600"},
            "body": {"error": {"type": "rate_limit_exceeded", "message": "Rate limit reached for requests"}}}),
        Cli::Claude | Cli::Opencode => json!({"status": 429, "key": "key-a", "headers": {},
            "body": {"type": "error", "error": {"type": "rate_limit_error",
                "message": "This request would exceed your organization's rate limit."}}}),
    };
    let real = Real::new(
        cli,
        json!([{"first": [{"until_ms": (now_s() + 3600) * 1000, "key": "key-a",
            "status": error["status"], "headers": error["headers"], "body": error["body"]}],
            "text": "Done on the second account."}]),
    );
    if cli == Cli::Claude {
        // An API-key account: the key goes in ANTHROPIC_API_KEY.
        real.profiles(
            "[workers.claude-a]\nadapter = \"claude\"\nfallback = [\"claude-b\"]\nenv = { ANTHROPIC_API_KEY = \"key-a\" }\n\
             [workers.claude-b]\nadapter = \"claude\"\nenv = { ANTHROPIC_API_KEY = \"key-b\" }\n",
        );
    } else {
        two_accounts(&real);
    }
    real.task("t", &format!("{}-a", cli.adapter()), "Say hello.");
    real.launch("t", "analysis");
    let first = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&first),
        "rate_limited",
        "{first:#}\n{}",
        real.log(&first)
    );
    let second = real.ended("t", 2, 60);
    assert_eq!(outcome(&second), "succeeded", "{second:#}");
    assert_nothing_left_running(real.env.path());
}

fn limit_that_resets_soon_parks_and_resumes(cli: Cli) {
    let reset_s = now_s() + 8;
    let mut error = usage_limit(cli, "key-a", 8);
    error["until_ms"] = json!(reset_s * 1000);
    let mut real = Real::new(
        cli,
        json!([{"first": [error], "text": "Done after the reset."}]),
    );
    real.env
        .extra_env
        .push(("ORCH_MAX_PARK".into(), "5m".into()));
    real.task("t", cli.adapter(), "Say hello.");
    real.launch("t", "analysis");
    let first = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&first),
        "rate_limited",
        "{first:#}\n{}",
        real.log(&first)
    );
    let session = first["supervision"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!session.is_empty(), "{first:#}");
    let second = real.ended("t", 2, 150);
    assert_eq!(
        outcome(&second),
        "succeeded",
        "{second:#}\n{}",
        real.log(&second)
    );
    assert!(ms(&second["supervision"]["launched_at"]) >= reset_s * 1000);
    let argv: Vec<String> = real.events("attempt_launched")[1]["payload"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(argv.contains(&session), "resumed its session: {argv:?}");
}

fn stall_is_stopped(cli: Cli) {
    // Long enough for a CLI to start and reach the mock on a loaded machine (opencode
    // once took over 10 s, and stalled before its first request).
    const STALL_SECONDS: i64 = 30;
    let real = Real::new(cli, json!([{"stall": true}]));
    real.profiles(&format!(
        "[workers.slow]\nadapter = \"{}\"\nstall_timeout = \"{STALL_SECONDS}s\"\nmax_attempts = 1\n",
        cli.adapter()
    ));
    real.task("t", "slow", "Say hello.");
    real.launch("t", "analysis");
    let record = real.ended("t", 1, 120);
    assert_eq!(
        outcome(&record),
        "stalled",
        "{record:#}\n{}",
        real.log(&record)
    );
    assert_nothing_left_running(real.env.path());
    // The stream's first event (after which nothing comes) is the last sign of life.
    let last = real.mock.first_served(|served| served == "stall");
    bench(
        cli,
        "stall timeout -> worker gone",
        ms(&record["supervision"]["ended_at"]) - (last + STALL_SECONDS * 1000),
    );
}

fn unauthorized_is_auth_failed_at_once(cli: Cli) {
    let body = match cli {
        Cli::Codex => json!({"error": {"message": "Incorrect API key provided: key-a.",
            "type": "invalid_request_error", "code": "invalid_api_key"}}),
        Cli::Claude | Cli::Opencode => {
            json!({"type": "error", "error": {"type": "authentication_error",
            "message": "invalid x-api-key"}})
        }
    };
    let real = Real::new(
        cli,
        json!([{"error": {"status": 401, "headers": {}, "body": body}}]),
    );
    real.task("t", cli.adapter(), "Say hello.");
    real.launch("t", "analysis");
    let record = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&record),
        "auth_failed",
        "{record:#}\n{}",
        real.log(&record)
    );
    assert_nothing_left_running(real.env.path());
    let first_401 = real.mock.first_served(|served| served["status"] == 401);
    bench(
        cli,
        "401 -> verdict",
        ms(&record["supervision"]["ended_at"]) - first_401,
    );
}

fn tool_output_about_limits_is_not_misread(cli: Cli) {
    let real = Real::new(
        cli,
        json!([
            {"tool": "printf '%s\\n' \"You've hit your usage limit. Try again at 9:24 AM.\" 'Not logged in · Please run /login' 'Invalid API key'"},
            {"text": "The docs mention limits and logins; nothing to do."},
        ]),
    );
    real.task("t", cli.adapter(), "Read the notes.");
    real.launch("t", "analysis");
    let record = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&record),
        "succeeded",
        "{record:#}\n{}",
        real.log(&record)
    );
}

fn tool_output_about_logins_then_a_crash_is_failed_not_auth_failed(cli: Cli) {
    // The CLI fails on its own (a request the provider rejects, which neither CLI
    // retries) after a tool printed login and limit messages: a plain failure, not an
    // auth failure (which bans the adapter for the run) nor a rate limit.
    let body = match cli {
        Cli::Codex => json!({"error": {"message": "Invalid request: the input is malformed.",
            "type": "invalid_request_error"}}),
        Cli::Claude | Cli::Opencode => {
            json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "the input is malformed"}})
        }
    };
    let real = Real::new(
        cli,
        json!([
            {"tool": "printf '%s\\n' 'Not logged in · Please run /login' 'Invalid API key' \"You've hit your usage limit\""},
            {"error": {"status": 400, "headers": {}, "body": body}},
        ]),
    );
    real.task("t", cli.adapter(), "Read the notes.");
    real.launch("t", "analysis");
    let record = real.ended("t", 1, 60);
    assert_eq!(
        outcome(&record),
        "failed",
        "{record:#}\n{}",
        real.log(&record)
    );
}

fn full_permissions_let_the_worker_commit_itself(cli: Cli) {
    // `permissions = "full"`: codex without its sandbox, claude in bypassPermissions
    // (with IS_SANDBOX=1, as these tests run as any user, root included).
    let real = Real::new(
        cli,
        json!([
            {"tool": "printf 'hello\\n' > hello.txt && git add hello.txt && git commit -q -m 'Add hello.txt' && git push --dry-run . HEAD 2>/dev/null; inbox done --summary 'Committed hello.txt'"},
            {"text": "Committed hello.txt."},
        ]),
    );
    real.profiles(&format!(
        "[workers.free]\nadapter = \"{}\"\npermissions = \"full\"\n",
        cli.adapter()
    ));
    real.task(
        "t",
        "free",
        "Add a file hello.txt saying hello, and commit it.",
    );
    let launched = real.launch("t", "code");
    let record = real.ended("t", 1, 90);
    assert_eq!(
        outcome(&record),
        "succeeded",
        "{record:#}\n{}",
        real.log(&record)
    );
    let branch = launched["attempt"]["branch_name"].as_str().unwrap();
    // The worker's own commit, not orch's.
    assert_eq!(
        real.env
            .git(&real.repo, &["log", "-1", "--format=%s", branch]),
        "Add hello.txt"
    );
    let work = &record["supervision"]["work"];
    assert!(work["autocommit"].is_null(), "{work}");
    assert_eq!(work["commits"], 1, "{work}");
    assert_eq!(work["permission_denials"], json!([]), "{work}");
}
