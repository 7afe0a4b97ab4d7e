//! Secrets never reach logs, threads or printed argv.
//!
//! A fake worker gets a secret through its adapter's `pass_env` and `secret_env` (and one through a
//! secret-looking variable of the adapter's `env`, and a key in its profile's `args`)
//! and prints it, along with an Anthropic key, a GitHub token, a Bearer header and a key
//! split across two writes, and posts some of them in its own `inbox update`. None of them
//! may be found anywhere orch writes or prints; the
//! task's body never holds one whole (each is put together by the worker's shell), so
//! the database's bytes can be searched too.

use crate::common::{Env, ORCH, add_task, wait_for_end};

const CREDENTIAL: &str = "kc-plum-passenger-7731-quiet";
const DEPLOY_TOKEN: &str = "dt-river-stone-4410-amber";
const ANTHROPIC: (&str, &str) = ("sk-ant-api03-", "Zx9Qw3rTy7uIoP1aSdF4gHjK-lZxCvB_nM2w");
const GITHUB: (&str, &str) = ("ghp_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
const BEARER: (&str, &str) = ("eyJhbGciOiJIUzI1NiJ9", ".eyJzdWIiOiJvcmNoIn0.c2lnbmF0dXJl");
/// Printed in two writes 0.3 s apart; the first half alone is no key.
const SPLIT: (&str, &str) = ("sk-ant-api03-AAAA", "BBBBBBBBBBBBBBBBBBBB");
const PROFILE_KEY: &str = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12";

fn secrets() -> Vec<String> {
    vec![
        CREDENTIAL.to_string(),
        DEPLOY_TOKEN.to_string(),
        format!("{}{}", ANTHROPIC.0, ANTHROPIC.1),
        format!("{}{}", GITHUB.0, GITHUB.1),
        format!("{}{}", BEARER.0, BEARER.1),
        format!("{}{}", SPLIT.0, SPLIT.1),
        PROFILE_KEY.to_string(),
    ]
}

#[track_caller]
fn assert_clean(what: &str, bytes: &[u8]) {
    for secret in secrets() {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{what} shows the secret {secret}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn secrets_a_worker_prints_reach_no_log_thread_report_or_database() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/keeper.toml"),
        format!(
            "name = \"keeper\"\ncommand = [\"fake-text\", \"{{args}}\", \"{{prompt}}\"]\noutput = \"text\"\npass_env = [\"KEEPER_CREDENTIAL\", \"KEEPER_ENDPOINT\"]\nsecret_env = [\"KEEPER_CREDENTIAL\"]\n[env]\nDEPLOY_TOKEN = \"{DEPLOY_TOKEN}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        repo.join(".orch/config.toml"),
        format!("[workers.keeper-pro]\nadapter = \"keeper\"\nargs = [\"--api-key\", \"{PROFILE_KEY}\"]\n"),
    )
    .unwrap();
    let body = [
        "say ordinary line before the secrets".to_string(),
        r#"run printf 'credential: %s and more\n' "$KEEPER_CREDENTIAL" >&2"#.to_string(),
        r#"run printf 'endpoint: %s\n' "$KEEPER_ENDPOINT" >&2"#.to_string(),
        r#"run printf 'deploy %s done\n' "$DEPLOY_TOKEN" >&2"#.to_string(),
        format!(
            r#"run printf 'anthropic %s%s end\n' '{}' '{}' >&2"#,
            ANTHROPIC.0, ANTHROPIC.1
        ),
        format!(
            r#"run printf 'github %s%s end\n' '{}' '{}' >&2"#,
            GITHUB.0, GITHUB.1
        ),
        format!(
            r#"run printf 'curl -H "Authorization: Bearer %s%s" https://example.invalid\n' '{}' '{}' >&2"#,
            BEARER.0, BEARER.1
        ),
        format!(
            r#"run printf 'split %s' '{}' >&2; sleep 0.3; printf '%s tail\n' '{}' >&2"#,
            SPLIT.0, SPLIT.1
        ),
        // The worker's own messages through `inbox` are redacted the same way.
        format!(
            r#"run inbox update --status in_progress --summary "saw $KEEPER_CREDENTIAL" --body "deploy $DEPLOY_TOKEN and $(printf '%s%s' '{}' '{}')" --payload-json "{{\"k\": \"$KEEPER_CREDENTIAL\"}}""#,
            GITHUB.0, GITHUB.1
        ),
        "say ordinary line after the secrets".to_string(),
    ]
    .join("\n");
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "keeper-pro",
        "--body",
        &body,
    ])
    .data();
    let launched = env.dispatch_launch(
        &repo,
        "r",
        "t",
        "analysis",
        &[
            ("KEEPER_CREDENTIAL", CREDENTIAL),
            ("KEEPER_ENDPOINT", "http://127.0.0.1:9/keeper/endpoint"),
        ],
    );
    let report = launched.data().clone();
    assert_clean("the launch report", launched.stdout.as_bytes());
    let argv: Vec<&str> = report["launch"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.windows(2).any(|w| w == ["--api-key", "[REDACTED]"]),
        "{argv:?}"
    );

    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");

    // The raw log: every secret replaced, everything around it as printed, and the
    // worker had the real values (it printed something that was redacted).
    let log_path = record["supervision"]["log_path"]
        .as_str()
        .unwrap()
        .to_string();
    let log = std::fs::read(&log_path).unwrap();
    assert_clean("the raw log", &log);
    let text = String::from_utf8_lossy(&log);
    for expected in [
        "ordinary line before the secrets",
        "credential: [REDACTED] and more",
        // A passed variable that is no secret (not named like one, not in
        // `secret_env`) is printed as it is.
        "endpoint: http://127.0.0.1:9/keeper/endpoint",
        "deploy [REDACTED] done",
        "anthropic [REDACTED] end",
        "github [REDACTED] end",
        "curl -H \"Authorization: Bearer [REDACTED]\" https://example.invalid",
        "split [REDACTED] tail",
        "ordinary line after the secrets",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the log:\n{text}"
        );
    }
    // The timing index points into the log as written.
    let index = std::fs::read_to_string(format!("{log_path}.idx")).unwrap();
    for line in index.lines() {
        let offset: u64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(offset <= log.len() as u64, "{line} past the log's end");
    }
    let supervisor_log = std::fs::read(log_path.replace(".log", ".supervisor.log")).unwrap();
    assert_clean("the supervisor's diagnostics", &supervisor_log);

    let plain = env.orch_raw_logs(&["logs", "--run", "r", "--task", "t"]);
    assert_clean("orch logs", plain.as_bytes());
    assert!(plain.contains("anthropic [REDACTED] end"), "{plain}");
    let raw = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap()])
        .args(["logs", "--raw", "--run", "r", "--task", "t"])
        .output()
        .unwrap();
    assert!(raw.status.success());
    assert_eq!(raw.stdout, log, "--raw prints the log's bytes");
    let events = env.orch_raw_logs(&["--json", "logs", "--run", "r", "--task", "t"]);
    assert_clean("orch logs --json", events.as_bytes());
    assert!(events.contains("github [REDACTED] end"), "{events}");

    let shown = env.inbox(None, &["show", "--thread", "r/t/attempt-1"]);
    assert_clean("the thread", shown.stdout.as_bytes());
    let messages = shown.data()["messages"].as_array().unwrap().clone();
    let own = messages
        .iter()
        .find(|m| m["kind"] == "progress" && m["summary"] == "saw [REDACTED]")
        .unwrap_or_else(|| panic!("the worker's own update is missing: {messages:#?}"));
    assert_eq!(own["body"], "deploy [REDACTED] and [REDACTED]");
    assert_eq!(own["payload_json"]["k"], "[REDACTED]");
    let outputs: String = messages
        .iter()
        .filter(|m| m["kind"] == "output")
        .map(|m| m["body"].as_str().unwrap_or(""))
        .collect();
    assert!(
        outputs.contains("credential: [REDACTED] and more")
            && outputs.contains("split [REDACTED] tail"),
        "{outputs}"
    );
    assert_eq!(
        messages.last().unwrap()["body"],
        "ordinary line after the secrets"
    );

    let status = env.orch(&["status", "--run", "r"]);
    status.data();
    assert_clean("orch status --json", status.stdout.as_bytes());
    let attempts = env.orch(&["attempts", "--run", "r"]);
    attempts.data();
    assert_clean("orch attempts --json", attempts.stdout.as_bytes());
    // The event of the launch carries the argv.
    let launched = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "attempt_launched",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    assert_clean("the attempt_launched event", launched.stdout.as_bytes());
    assert!(
        launched.stdout.contains("[REDACTED]"),
        "{}",
        launched.stdout
    );

    // The database itself (and its write-ahead log).
    for entry in std::fs::read_dir(env.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("coord.db") {
            assert_clean(&name, &std::fs::read(&path).unwrap());
        }
    }
}

/// A worker behind a proxy or a private CA gets the caller's proxy and CA variables
/// (no adapter has to list them); a proxy URL that carries a password is redacted, the
/// CA path is not.
#[test]
fn proxy_and_ca_variables_reach_the_worker_and_only_a_proxy_password_is_redacted() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    crate::common::fake_text_adapter(&repo, "");
    env.orch(&["run", "init", "--run", "r"]).data();
    let script = "run printf 'proxy=%s ca=%s no=%s\\n' \"$HTTPS_PROXY\" \"$NODE_EXTRA_CA_CERTS\" \"$NO_PROXY\" >&2\nsay done";
    add_task(&env, "r", "t", "fake-text", script);
    env.dispatch_launch(
        &repo,
        "r",
        "t",
        "analysis",
        &[
            (
                "HTTPS_PROXY",
                "http://proxyuser:plum-tree-secret@127.0.0.1:3128",
            ),
            ("NODE_EXTRA_CA_CERTS", "/etc/ssl/private-ca.pem"),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    )
    .data();
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let log = std::fs::read_to_string(record["supervision"]["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("proxy=[REDACTED] ca=/etc/ssl/private-ca.pem no=127.0.0.1,localhost"),
        "{log}"
    );
    assert!(!log.contains("plum-tree-secret"), "{log}");
}
