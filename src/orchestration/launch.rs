//! Starting an attempt's supervisor: the worker named is checked against the workers
//! the repository knows, the launch is planned (brief, argv, log), and the detached
//! supervisor process is started.

use crate::config::Workers;
use crate::error::{Error, Result};
use crate::model::{Attempt, Task};
use crate::store::{AttemptBrief, Claim, Store};
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
    let brief = store.attempt_brief(&attempt.thread_id).await?;
    let repo = attempt.workspace.repo_path.as_deref();
    let workers = Workers::load(repo, &brief.run_config)?;
    launch_planned(store, task, attempt, &workers, &brief).await
}

/// [`launch`] with the workers already loaded.
pub async fn launch_with(
    store: &Store,
    task: &Task,
    attempt: &Attempt,
    workers: &Workers,
) -> Result<LaunchReport> {
    let brief = store.attempt_brief(&attempt.thread_id).await?;
    launch_planned(store, task, attempt, workers, &brief).await
}

async fn launch_planned(
    store: &Store,
    task: &Task,
    attempt: &Attempt,
    workers: &Workers,
    brief: &AttemptBrief,
) -> Result<LaunchReport> {
    // The same context as the supervisor's, so the argv reported is the one it runs.
    let context = supervisor::brief_context_of(brief);
    let plan = supervisor::plan_launch(store, task, attempt, workers, &context)?;
    let pid = start_supervisor(store, attempt).await?;
    Ok(LaunchReport {
        adapter: plan.worker.adapter.name.clone(),
        profile: plan.worker.profile.clone(),
        argv: plan.shown_argv(),
        supervisor_pid: pid,
        log_path: plan.log_path.display().to_string(),
    })
}

/// How orch starts a supervisor of a store's attempts: the `orch` binary, with the
/// store's location and the environment a child of this process needs.
#[derive(Debug, Clone)]
pub struct SupervisorCommand {
    exe: std::path::PathBuf,
    db: String,
    env: Vec<(&'static str, String)>,
}

impl SupervisorCommand {
    pub fn of(store: &Store) -> Result<SupervisorCommand> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::internal(format!("cannot find the orch binary: {e}")))?;
        // `inbox` runs this too (as `orch`): use the orch binary beside it.
        let exe = match exe.file_name().and_then(|n| n.to_str()) {
            Some("orch") => exe,
            _ => exe.with_file_name("orch"),
        };
        let mut env = store.child_env();
        // The supervisor runs as this host (it records the host on the attempt it claims).
        env.push(("ORCH_HOST", super::hosts::this_host().to_string()));
        Ok(SupervisorCommand {
            exe,
            db: store.location().for_children(),
            env,
        })
    }

    /// `orch --db DB supervise ARGS…`.
    pub fn with_args<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> std::process::Command {
        let mut command = std::process::Command::new(&self.exe);
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--db")
            .arg(&self.db)
            .arg("supervise")
            .args(args);
        command
    }
}

/// Starts the supervisor of `attempt`: hands it to the standby supervisor when `orch up`
/// keeps one ([`super::standby`]), or starts `orch supervise --attempt THREAD` detached
/// (its own session; stdout and stderr to `<log>.supervisor.log`). Returns the pid of
/// the attempt's supervisor: the one started here, or the one that claimed the attempt
/// first (another launcher, or `orch up` starting an attempt nobody launched) — the one
/// started here then leaves at once.
pub async fn start_supervisor(store: &Store, attempt: &Attempt) -> Result<u32> {
    let log = supervisor::log_path(store, attempt);
    if let Some(dir) = log.parent() {
        crate::paths::ensure_private_dir(dir)?;
    }
    let supervisor_log = log.with_extension("supervisor.log");
    let host = super::hosts::this_host();
    // The standby claims the attempt itself, at once (the launcher's own claim would be
    // one more write transaction before the worker starts). One that dies before it
    // claims leaves the attempt unlaunched, which `orch up` launches again after the
    // launch grace, as it does any attempt nobody launched.
    if let Some(pid) = super::standby::hand(&attempt.thread_id, &supervisor_log) {
        return Ok(pid);
    }
    let command =
        SupervisorCommand::of(store)?.with_args(["--attempt", attempt.thread_id.as_str()]);
    let child = crate::process::detach::spawn_detached(command, &supervisor_log)
        .map_err(|e| Error::internal(format!("cannot start the supervisor: {e}")))?;
    let pid = child.id();
    // Recorded at once: until the supervisor confirms itself, `orch up` must see a live
    // supervisor here, not an attempt nobody launched. If another one holds the attempt,
    // this one sees it at its start and leaves.
    if let Some(start) = crate::process::procfs::stat(pid).map(|s| s.start_time)
        && let Claim::Held {
            pid: holder,
            start: holder_start,
        } = store
            .claim_supervision(&attempt.thread_id, pid, start, host)
            .await?
        && crate::process::procfs::is_same_process(holder, holder_start)
    {
        return Ok(holder);
    }
    Ok(pid)
}
