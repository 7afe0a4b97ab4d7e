//! Which `orch up` runs a run, for the leader's `orch next` (ready tasks that no
//! `orch up` will dispatch are the leader's): `orch up` announces itself in the store when
//! it starts (`up_started`) and withdraws when it ends (`up_stopped`); one that died
//! without withdrawing is withdrawn by the next reader that notices its process is gone.

use crate::error::Result;
use crate::process::procfs;
use crate::store::{Store, UpProcess};

/// This process, as the store records an `orch up`; `None` without `/proc`.
fn this_process() -> Option<UpProcess> {
    let pid = std::process::id();
    procfs::stat(pid).map(|s| UpProcess {
        pid,
        start: s.start_time,
    })
}

/// Records that this process (an `orch up` holding the run's lock) runs the run.
pub async fn announce(store: &Store, run_id: &str) -> Result<Option<UpProcess>> {
    let Some(up) = this_process() else {
        return Ok(None);
    };
    store.up_started(run_id, up).await?;
    Ok(Some(up))
}

/// Records that this `orch up` ended; a failure is logged (a later reader clears the
/// record of a process that is gone).
pub async fn withdraw(store: &Store, run_id: &str, up: Option<UpProcess>) {
    if let Some(up) = up
        && let Err(e) = store.up_stopped(run_id, up, "ended").await
    {
        tracing::warn!(error = %e, "cannot record that orch up ended");
    }
}

/// Whether a live `orch up` runs the run. The record of one whose process is gone (or
/// is another process now) is cleared, with an `up_stopped` event.
pub async fn up_running(store: &Store, run_id: &str) -> Result<bool> {
    let Some(up) = store.up_of(run_id).await? else {
        return Ok(false);
    };
    if procfs::is_same_process(up.pid, up.start) {
        return Ok(true);
    }
    store.up_stopped(run_id, up, "is gone").await?;
    Ok(false)
}

/// An `orch up` started in the background ([`start_detached`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Detached {
    pub run_id: String,
    pub pid: u32,
    /// Where its output goes.
    pub log_path: std::path::PathBuf,
}

/// How long [`start_detached`] waits for the new `orch up` to announce itself.
const ANNOUNCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts `orch up --run RUN --concurrency N` detached (its own session, its output
/// appended to `logs/RUN/up.log` beside the database) and returns once it runs the run:
/// from then on `orch next` knows the run's ready tasks are taken care of. One that ends
/// before that (the run is held by another `orch up`, say) is an error quoting the end
/// of its log.
pub async fn start_detached(store: &Store, run_id: &str, concurrency: usize) -> Result<Detached> {
    use crate::error::Error;
    use crate::model::RunStatus;
    let status = store.run(run_id).await?.status;
    if matches!(
        status,
        RunStatus::Done | RunStatus::Failed | RunStatus::Cancelled
    ) {
        return Err(Error::invalid_state(format!(
            "run {run_id:?} is {status}: nothing for orch up to run (retry or reassign a task first)"
        )));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::internal(format!("cannot find the orch binary: {e}")))?;
    let log_path = crate::supervisor::logs_dir(store)
        .join(run_id)
        .join("up.log");
    if let Some(dir) = log_path.parent() {
        crate::paths::ensure_private_dir(dir)?;
    }
    let db = std::fs::canonicalize(store.path()).unwrap_or_else(|_| store.path().to_path_buf());
    let mut command = std::process::Command::new(exe);
    command.arg("--db").arg(db).args([
        "up",
        "--run",
        run_id,
        "--concurrency",
        &concurrency.to_string(),
    ]);
    let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let mut child = crate::process::detach::spawn_detached(command, &log_path)
        .map_err(|e| Error::internal(format!("cannot start orch up: {e}")))?;
    let pid = child.id();
    let deadline = std::time::Instant::now() + ANNOUNCE_TIMEOUT;
    loop {
        if store.up_of(run_id).await?.is_some_and(|up| up.pid == pid) {
            // Reaped by nobody: it outlives this process, and init adopts it.
            return Ok(Detached {
                run_id: run_id.to_string(),
                pid,
                log_path,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            let said = std::fs::read(&log_path).unwrap_or_default();
            let said = String::from_utf8_lossy(&said[(log_start as usize).min(said.len())..])
                .trim()
                .to_string();
            let lines: Vec<&str> = said.lines().collect();
            let said = lines[lines.len().saturating_sub(5)..].join("\n");
            return Err(Error::invalid_state(format!(
                "orch up ended at once ({status}): {said}"
            )));
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::internal(format!(
                "orch up (pid {pid}) did not start running run {run_id:?} within {} s; see {}",
                ANNOUNCE_TIMEOUT.as_secs(),
                log_path.display()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
