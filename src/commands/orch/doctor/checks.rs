//! Running the version and login checks: finding the program on the worker's PATH,
//! running each check in its own process group with a timeout, and reading what it
//! printed.

use super::*;

/// Where `program` is found: itself when it has a `/`, else the first executable file
/// of that name in the directories of `search` (as `execvp` looks).
pub(super) fn find_program(program: &str, search: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|path| is_executable(path))
}

pub(super) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs every job at once (each within [`CHECK_TIMEOUT`]); outcomes in job order.
pub(super) async fn run_jobs(jobs: &[Job], cwd: &Path) -> Vec<Outcome> {
    let mut set = tokio::task::JoinSet::new();
    for (i, job) in jobs.iter().enumerate() {
        let job = job.clone();
        let cwd = cwd.to_path_buf();
        set.spawn(async move { (i, run_job(&job, &cwd).await) });
    }
    let mut outcomes = vec![Outcome::Failed("not run".into()); jobs.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, outcome)) = joined {
            outcomes[i] = outcome;
        }
    }
    outcomes
}

/// Runs one check: exactly this environment, stdin from /dev/null, its own process
/// group (killed whole at the timeout).
pub(super) async fn run_job(job: &Job, cwd: &Path) -> Outcome {
    use crate::process::bounded::{Bounded, run_bounded};
    let mut cmd = tokio::process::Command::new(&job.argv[0]);
    cmd.args(&job.argv[1..])
        .env_clear()
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd);
    match run_bounded(cmd, CHECK_TIMEOUT).await {
        Bounded::Exited(output) => Outcome::Exited(output),
        Bounded::CannotStart(e) => Outcome::Failed(format!("cannot run it: {e}")),
        Bounded::Failed(e) => Outcome::Failed(e.to_string()),
        Bounded::TimedOut => Outcome::TimedOut,
    }
}

/// The first `N.N.N` in `text`.
pub(super) fn version_in(text: &str) -> Option<String> {
    static VERSION: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\d+\.\d+\.\d+").expect("version regex"));
    VERSION.find(text).map(|m| m.as_str().to_string())
}

/// What a check printed, on one line: its stdout (or, if empty, stderr) made compact
/// when it is JSON (`claude auth status` prints an object over several lines), else its
/// first non-empty line; secrets redacted; clipped.
pub(super) fn first_line(stdout: &str, stderr: &str, redactor: &Redactor) -> String {
    let text = if stdout.trim().is_empty() {
        stderr
    } else {
        stdout
    };
    let line = match serde_json::from_str::<serde_json::Value>(text.trim()) {
        Ok(value @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            value.to_string()
        }
        _ => text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string(),
    };
    clip(&redactor.redact_str(&line), DETAIL_MAX)
}

/// `argv` as a shell would need it: words with anything but plain characters in single
/// quotes.
pub(super) fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
