//! Which `orch up`s run a run, for the leader's `orch next` (ready tasks that no
//! `orch up` will dispatch are the leader's) and for the hosts of a run: `orch up`
//! registers its host in the store when it starts (`host_started`, `up_started`), beats
//! every heartbeat interval ([`keep_beating`]) and withdraws when it ends
//! (`host_stopped`, `up_stopped`). A reader that finds one dead — on this host, its
//! process gone; on another, its heartbeat lapsed ([`super::hosts::Timing`]) — marks it
//! gone, once, with an `up_stopped`.

use super::hosts::{Timing, this_host, this_machine};
use crate::error::Result;
use crate::process::procfs;
use crate::store::{HostRecord, Store, UpProcess};

/// This host's `orch up`, as registered on a run.
#[derive(Debug, Clone)]
pub struct Registration {
    pub host: String,
    pub up: UpProcess,
}

/// This process, as the store records an `orch up`; `None` without `/proc`.
fn this_process() -> Option<UpProcess> {
    let pid = std::process::id();
    procfs::stat(pid).map(|s| UpProcess {
        pid,
        start: s.start_time,
    })
}

/// Registers this process (an `orch up` holding the run's lock for this host) as this
/// host's `orch up` of the run.
pub async fn announce(store: &Store, run_id: &str) -> Result<Option<Registration>> {
    let Some(up) = this_process() else {
        return Ok(None);
    };
    let host = this_host().to_string();
    let lapse_ms = Timing::from_env().lapse_ms();
    store
        .host_started(run_id, &host, up, this_machine(), lapse_ms)
        .await?;
    Ok(Some(Registration { host, up }))
}

/// Beats for `registration` every `every` until aborted (or until another `orch up` of
/// the host replaced it). A failed beat is logged; the next one tries again.
pub fn keep_beating(
    store: Store,
    run_id: String,
    registration: Registration,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (host, up) = (&registration.host, registration.up);
            match store.host_heartbeat(&run_id, host, up).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(%host, "this orch up is no longer the host's registered one");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat not recorded"),
            }
        }
    })
}

/// Records that this `orch up` ended; a failure is logged (its heartbeat lapses, and a
/// reader marks it gone).
pub async fn withdraw(store: &Store, run_id: &str, registration: Option<Registration>) {
    if let Some(r) = registration
        && let Err(e) = store.host_stopped(run_id, &r.host, r.up).await
    {
        tracing::warn!(error = %e, "cannot record that orch up ended");
    }
}

/// Why a registered `orch up` is dead, if it is: on this host, its process is gone (or
/// is another process now); on another host, it has not beaten for the lapse.
fn dead(record: &HostRecord, now: i64, timing: &Timing) -> Option<String> {
    if record.host == this_host() {
        let up = record.up();
        return (!procfs::is_same_process(up.pid, up.start)).then(|| "is gone".to_string());
    }
    let silent = now - record.heartbeat_at;
    (silent > timing.lapse_ms())
        .then(|| format!("sent no heartbeat for {:.1} s", silent as f64 / 1000.0))
}

/// Whether a live `orch up` runs the run, on any host. Each dead one still registered
/// as running is marked gone, with an `up_stopped` event.
pub async fn up_running(store: &Store, run_id: &str) -> Result<bool> {
    let timing = Timing::from_env();
    let now = crate::time::now_ms();
    let mut live = false;
    for record in store.run_hosts(run_id).await? {
        if !record.is_running() {
            continue;
        }
        match dead(&record, now, &timing) {
            Some(why) => {
                store
                    .host_gone(run_id, &record.host, record.up(), &why)
                    .await?;
            }
            None => live = true,
        }
    }
    Ok(live)
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

/// Starts `orch up --run RUN --concurrency N --host THIS_HOST` detached (its own session, its output
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
    let mut command = std::process::Command::new(exe);
    command
        .envs(store.child_env())
        .arg("--db")
        .arg(store.location().for_children())
        .args([
            "up",
            "--run",
            run_id,
            "--concurrency",
            &concurrency.to_string(),
            "--host",
            this_host(),
        ]);
    let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let mut child = crate::process::detach::spawn_detached(command, &log_path)
        .map_err(|e| Error::internal(format!("cannot start orch up: {e}")))?;
    let pid = child.id();
    let deadline = std::time::Instant::now() + ANNOUNCE_TIMEOUT;
    loop {
        let hosts = store.run_hosts(run_id).await?;
        if hosts.iter().any(|h| h.pid == pid && h.is_running()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(host: &str, up: UpProcess, heartbeat_at: i64) -> HostRecord {
        HostRecord {
            host: host.to_string(),
            pid: up.pid,
            start: up.start,
            started_at: 0,
            heartbeat_at,
            stopped_at: None,
            gone_at: None,
            machine: String::new(),
        }
    }

    #[test]
    fn another_host_is_dead_by_its_heartbeat_and_this_one_by_its_process() {
        let timing = Timing {
            heartbeat: std::time::Duration::from_millis(100),
            lapse: std::time::Duration::from_millis(500),
        };
        let me = this_process().expect("/proc");
        let elsewhere = format!("{}-elsewhere", this_host());
        // Another host: its pid means nothing here, only its heartbeat counts.
        let gone = UpProcess { pid: 1, start: 1 };
        assert_eq!(
            dead(&record(&elsewhere, gone, 10_000), 10_400, &timing),
            None
        );
        let why = dead(&record(&elsewhere, me, 10_000), 10_600, &timing);
        assert_eq!(why.as_deref(), Some("sent no heartbeat for 0.6 s"));
        // This host: its process counts, whatever its heartbeat says.
        assert_eq!(dead(&record(this_host(), me, 0), 10_600, &timing), None);
        let why = dead(&record(this_host(), gone, 10_000), 10_000, &timing);
        assert_eq!(why.as_deref(), Some("is gone"));
    }
}
