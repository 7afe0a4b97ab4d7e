//! Starting an attempt's supervisor: the worker named is checked against the workers
//! the repository knows, the launch is planned (brief, argv, log), and the detached
//! supervisor process is started.

use crate::brief::BriefContext;
use crate::config::Workers;
use crate::error::Result;
use crate::model::{Attempt, Task};
use crate::store::Store;
use crate::supervisor::{self, LaunchReport};
use std::path::Path;

/// Refuses a worker name that is neither a profile nor an adapter (before dispatch);
/// returns the workers the repository knows, for the launch.
pub async fn check_worker(store: &Store, run: &str, repo: &Path, to: &str) -> Result<Workers> {
    let config = store.run_config(run).await?;
    let top = crate::paths::worktree_top(repo);
    let workers = Workers::load(top.as_deref().or(Some(repo)), &config)?;
    workers.resolve(to)?;
    Ok(workers)
}

/// Starts the supervisor of an attempt and reports what it will run.
pub async fn launch(store: &Store, task: &Task, attempt: &Attempt) -> Result<LaunchReport> {
    let config = store.run_config(&attempt.run_id).await?;
    let repo = attempt.repo_path.as_deref();
    let workers = Workers::load(repo, &config)?;
    launch_with(store, task, attempt, &workers).await
}

/// [`launch`] with the workers already loaded.
pub async fn launch_with(
    store: &Store,
    task: &Task,
    attempt: &Attempt,
    workers: &Workers,
) -> Result<LaunchReport> {
    let plan = supervisor::plan_launch(store, task, attempt, workers, &BriefContext::default())?;
    let pid = supervisor::start_supervisor(store, attempt).await?;
    Ok(LaunchReport {
        adapter: plan.worker.adapter.name.clone(),
        profile: plan.worker.profile.clone(),
        argv: plan.redacted_argv(),
        supervisor_pid: pid,
        log_path: plan.log_path.display().to_string(),
    })
}
