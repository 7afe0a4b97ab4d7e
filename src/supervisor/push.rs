//! The push of a code attempt's branch when it ends (issue 13, code on many hosts):
//! after the supervisor's autocommit ([`super::work`]), a branch with commits goes to
//! the remote chosen at dispatch (an attempt recorded without one, because its dispatch
//! died between two writes or pushing was turned on since, goes where `[remote]` says
//! now). What happened is recorded on the attempt and posted on its thread. A failed
//! push leaves the attempt's outcome as it is: the work is safe on this host, and
//! `orch cleanup` keeps the worktree until it is on the remote.

use super::work::Work;
use crate::config::RemoteConfig;
use crate::model::Attempt;
use crate::redact::Redactor;
use crate::store::{AttemptPush, PushState, Store};
use serde_json::json;
use std::path::Path;

/// Pushes the attempt's branch if pushing is on for it, records the result and posts it
/// on the thread. Problems are logged: the attempt's end is recorded regardless.
pub(super) async fn push_work(store: &Store, attempt: &Attempt, work: &Work, redactor: &Redactor) {
    let ws = &attempt.workspace;
    let (Some(repo), Some(branch)) = (ws.repo_path.as_deref(), ws.branch_name.as_deref()) else {
        return;
    };
    if !work.code {
        return;
    }
    let remote = match target(store, &attempt.thread_id, repo).await {
        Ok(Some(remote)) => remote,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "not pushing: cannot tell where to");
            return;
        }
    };
    let mut push = AttemptPush {
        remote: remote.name.clone(),
        branch: branch.to_string(),
        state: PushState::NoCommits,
        commit: None,
        error: None,
        updated_at: crate::time::now_ms(),
    };
    // A worktree orch could not read may still hold commits: push it then too.
    if work.commits > 0 || work.problem.is_some() {
        match crate::remote::push_branch(repo, &remote, branch).await {
            Ok(commit) => {
                push.state = PushState::Pushed;
                push.commit = Some(commit);
            }
            Err(why) => {
                push.state = PushState::Failed;
                push.error = Some(redactor.redact_str(&why).into_owned());
            }
        }
    }
    tracing::info!(state = push.state.as_str(), remote = %push.remote, %branch, "push");
    if let Err(e) = store.record_push(&attempt.thread_id, &push).await {
        tracing::warn!(error = %e, "cannot record the push");
    }
    post_push_note(store, attempt, &push, redactor).await;
}

/// The remote the attempt's branch goes to: the one recorded at dispatch, else the one
/// `[remote]` names now; with the timeout `[remote]` gives (or the default).
async fn target(
    store: &Store,
    thread_id: &str,
    repo: &Path,
) -> crate::error::Result<Option<RemoteConfig>> {
    let configured = crate::remote::push_target(store, repo);
    let Some(recorded) = store.attempt_push(thread_id).await? else {
        return configured;
    };
    let timeout = match configured {
        Ok(Some(c)) if c.name == recorded.remote => c.timeout,
        _ => crate::config::DEFAULT_REMOTE_TIMEOUT,
    };
    Ok(Some(RemoteConfig {
        name: recorded.remote,
        push: true,
        timeout,
    }))
}

/// What the push did, as a note on the thread (none when there was nothing to push).
async fn post_push_note(store: &Store, attempt: &Attempt, push: &AttemptPush, redactor: &Redactor) {
    let (remote, branch) = (&push.remote, &push.branch);
    let note = match push.state {
        PushState::Pushed => format!(
            "orch pushed {branch} to {remote}: {}",
            push.commit.as_deref().unwrap_or("")
        ),
        PushState::Failed => {
            let worktree = attempt
                .workspace
                .worktree_path
                .as_deref()
                .unwrap_or(Path::new(""));
            format!(
                "orch could not push {branch} to {remote}: {}\n\nThe attempt's commits are on this host only, on {branch} in {}. \
                 The worktree is kept (`orch cleanup` refuses it until they are on {remote}); push them with `git push {remote} {branch}`.",
                push.error.as_deref().unwrap_or(""),
                worktree.display()
            )
        }
        PushState::Pending | PushState::NoCommits => return,
    };
    super::run::post_note(store, attempt, redactor, &note, json!({"push": push})).await;
}
