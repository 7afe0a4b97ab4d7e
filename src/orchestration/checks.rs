//! Completion checks (supervisor.md §9): when a task with check commands is done by its
//! worker (and so `verifying`), the supervisor runs each command in the worktree (or the
//! repository), with a timeout, and records it with `verify record`: all passed → `done`;
//! one failed → `failed`, and the check's output goes into the next attempt's brief.

use crate::error::Result;
use crate::model::{Attempt, CheckStatus, ExecutionMode, TaskStatus};
use crate::process::bounded::{Bounded, run_bounded};
use crate::store::Store;
use std::path::PathBuf;
use std::time::Duration;

/// The longest one check may run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Output of a check kept in its record.
const DETAILS_MAX: usize = 4000;

/// Runs the checks of a verifying task; returns the failure details, if one failed.
pub async fn run_checks(store: &Store, attempt: &Attempt) -> Result<Option<String>> {
    let (task, gate) = store.gate(&attempt.run_id, &attempt.task_id).await?;
    if task.status != TaskStatus::Verifying || task.current_attempt != attempt.attempt_no {
        return Ok(None);
    }
    let cwd = match (attempt.execution_mode, &attempt.workspace.worktree_path) {
        (ExecutionMode::Code, Some(worktree)) => worktree.clone(),
        _ => attempt.workspace.repo_path.clone().unwrap_or_default(),
    };
    let pending = gate
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Pending);
    for check in pending {
        let Some(command) = &check.command else {
            // A check without a command is the leader's to record.
            continue;
        };
        tracing::info!(check = %check.name, %command, "running check");
        let (passed, details) = run_one(command, &cwd).await;
        // A check runs in the supervisor's environment: its output may show secrets.
        let details = crate::redact::process().redact_str(&details).into_owned();
        let (_, gate) = store
            .record_check(
                &attempt.run_id,
                &attempt.task_id,
                &check.name,
                passed,
                &details,
                "orch",
            )
            .await?;
        if !passed {
            return Ok(Some(format!(
                "Check {} (`{command}`) failed:\n{details}",
                check.name
            )));
        }
        if gate.status != CheckStatus::Pending {
            break;
        }
    }
    Ok(None)
}

/// Runs one check command with `sh -c` in its own process group; a timeout kills it.
async fn run_one(command: &str, cwd: &PathBuf) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(cwd);
    match run_bounded(cmd, CHECK_TIMEOUT).await {
        Bounded::Exited(out) => {
            let text = tail(&format!("{}{}", out.stdout, out.stderr));
            let details = if out.success {
                text
            } else {
                let code = out.code.map_or("by signal".to_string(), |c| c.to_string());
                format!("exit {code}\n{text}")
            };
            (out.success, details)
        }
        Bounded::CannotStart(e) => (false, format!("cannot run the check: {e}")),
        Bounded::Failed(e) => (false, format!("the check failed to run: {e}")),
        Bounded::TimedOut => (
            false,
            format!("timed out after {} s", CHECK_TIMEOUT.as_secs()),
        ),
    }
}

fn tail(text: &str) -> String {
    let text = text.trim_end();
    if text.len() <= DETAILS_MAX {
        return text.to_string();
    }
    let mut start = text.len() - DETAILS_MAX;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}
