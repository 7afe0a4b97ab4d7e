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
