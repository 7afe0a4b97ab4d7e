//! The two ways a notification goes out, each bounded by `[notify] timeout`: a command
//! (no shell) with the JSON on its stdin, and an HTTP POST of the JSON to a webhook.
//! Each returns what went wrong as one line, never the webhook's URL past its host
//! (a Slack webhook's path is its secret).

use crate::process::bounded::{Bounded, run_bounded_with_input};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Runs `argv` (`{text}` in an argument replaced by the notification's text) in `cwd`
/// with `notification` as JSON on its stdin; an error unless it exits 0 within `limit`.
pub(super) async fn command(
    argv: &[String],
    notification: &Value,
    cwd: &Path,
    limit: Duration,
) -> Result<(), String> {
    let text = notification["text"].as_str().unwrap_or("");
    let Some((program, args)) = argv.split_first() else {
        return Ok(());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args.iter().map(|a| a.replace("{text}", text)))
        .env(
            "ORCH_NOTIFY_EVENT",
            notification["event"].as_str().unwrap_or(""),
        );
    if cwd.is_dir() {
        command.current_dir(cwd);
    }
    let input = format!("{notification}\n").into_bytes();
    match run_bounded_with_input(command, input, limit).await {
        Bounded::Exited(out) if out.success => Ok(()),
        Bounded::Exited(out) => {
            let how = out.code.map_or("was killed by a signal".to_string(), |c| {
                format!("exited with code {c}")
            });
            let stderr = out.stderr.trim();
            let last = stderr.lines().last().unwrap_or("");
            Err(format!("command {program:?} {how}{}", tail(last)))
        }
        Bounded::CannotStart(e) => Err(format!("command {program:?} cannot start: {e}")),
        Bounded::Failed(e) => Err(format!("command {program:?}: {e}")),
        Bounded::TimedOut => Err(format!(
            "command {program:?} ran past {}; killed",
            humantime::format_duration(limit)
        )),
    }
}

/// `: LINE` for a non-empty last line of stderr.
fn tail(line: &str) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!(": {}", line.chars().take(200).collect::<String>())
    }
}

/// POSTs the notification (Slack-compatible) to `url`; an error unless it answers 2xx
/// within `limit`. The blocking client runs off the runtime's threads.
pub(super) async fn webhook(
    url: &str,
    notification: &Value,
    limit: Duration,
) -> Result<(), String> {
    let target = target(url);
    let body = super::message::slack_body(notification).to_string();
    let request_url = url.to_string();
    let posted = tokio::task::spawn_blocking(move || post(&request_url, body, limit));
    // The client's own limit covers the whole request; this one is in case it does not.
    let outcome = match tokio::time::timeout(limit + Duration::from_secs(1), posted).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Err(format!("the request failed: {e}")),
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        )),
    };
    outcome.map_err(|e| format!("webhook to {target}: {}", e.replace(url, &target)))
}

/// One blocking POST of `body` as JSON.
fn post(url: &str, body: String, limit: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(limit))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                format!("no answer within {}", humantime::format_duration(limit))
            }
            e => e.to_string(),
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// What a log may say of a webhook: its scheme and host, not its path.
fn target(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials in the authority are a secret too.
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_named_by_its_host_only() {
        assert_eq!(
            target("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            target("http://u:p@127.0.0.1:8080?x=1"),
            "http://127.0.0.1:8080"
        );
    }

    #[tokio::test]
    async fn a_command_gets_the_json_on_stdin_and_text_in_its_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > '{}'; echo \"$1\" >> '{}'",
            out.display(),
            out.display()
        );
        let argv = ["sh", "-c", &script, "sh", "{text}"].map(String::from);
        let note = serde_json::json!({"text": "hello there", "event": "question"});
        command(&argv, &note, dir.path(), Duration::from_secs(10))
            .await
            .unwrap();
        let written = std::fs::read_to_string(&out).unwrap();
        let (json, arg) = written.split_once('\n').unwrap();
        assert_eq!(serde_json::from_str::<Value>(json).unwrap(), note);
        assert_eq!(arg, "hello there\n");
    }

    #[tokio::test]
    async fn a_failing_or_missing_command_says_how() {
        let dir = tempfile::tempdir().unwrap();
        let note = serde_json::json!({"text": "x"});
        let limit = Duration::from_secs(10);
        let argv = ["sh", "-c", "echo broken >&2; exit 3"].map(String::from);
        let err = command(&argv, &note, dir.path(), limit).await.unwrap_err();
        assert_eq!(err, "command \"sh\" exited with code 3: broken");
        let argv = ["no-such-notifier-program".to_string()];
        let err = command(&argv, &note, dir.path(), limit).await.unwrap_err();
        assert!(
            err.starts_with("command \"no-such-notifier-program\" cannot start"),
            "{err}"
        );
        let argv = ["sleep", "30"].map(String::from);
        let short = Duration::from_millis(200);
        let err = command(&argv, &note, dir.path(), short).await.unwrap_err();
        assert_eq!(err, "command \"sleep\" ran past 200ms; killed");
    }
}
