//! The hosts running a run (migration 0015): each `orch up --run R` registers its host
//! ([`Store::host_started`]), refreshes its heartbeat ([`Store::host_heartbeat`]) and
//! withdraws when it ends ([`Store::host_stopped`]); one a reader found gone is marked so
//! once ([`Store::host_gone`]), with the `up_stopped` that leaves the run's ready tasks
//! to the leader. A live host's `orch up` takes over the unsettled attempts of a host
//! whose heartbeat lapsed ([`Store::take_over_lapsed`]): one transaction claims them
//! (the taker recorded, the epoch bumped: see `fence.rs`), so two live hosts never both
//! take one.

use super::events::{self, NewEvent};
use super::runs::{RunPointer, insert_and_point, require_run};
use super::{Db, Row, Store, args, execute, fetch_all, fetch_optional, scalar, sql};
use crate::error::{Error, Result};
use crate::time::now_ms;
use serde::Serialize;
use serde_json::json;

/// An `orch up` process: its pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpProcess {
    pub pid: u32,
    /// Clock ticks after boot (field 22 of `/proc/PID/stat`).
    pub start: u64,
}

/// A host's registration on a run: its newest `orch up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRecord {
    pub host: String,
    pub pid: u32,
    #[serde(skip)]
    pub start: u64,
    /// Unix ms.
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// When its `orch up` ended (withdrew itself).
    pub stopped_at: Option<i64>,
    /// When a reader found it gone (its process gone, or its heartbeat lapsed).
    pub gone_at: Option<i64>,
    /// The machine its `orch up` runs on (`''`: not recorded).
    #[serde(skip)]
    pub machine: String,
}

impl HostRecord {
    pub fn up(&self) -> UpProcess {
        UpProcess {
            pid: self.pid,
            start: self.start,
        }
    }

    /// Neither stopped nor found gone.
    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none() && self.gone_at.is_none()
    }

    fn from_row(row: &Row) -> Result<HostRecord> {
        Ok(HostRecord {
            host: row.try_get("host")?,
            pid: row.try_get::<i64>("pid")? as u32,
            start: row.try_get::<i64>("start")? as u64,
            started_at: row.try_get("started_at")?,
            heartbeat_at: row.try_get("heartbeat_at")?,
            stopped_at: row.try_get("stopped_at")?,
            gone_at: row.try_get("gone_at")?,
            machine: row.try_get("machine")?,
        })
    }
}

/// An attempt taken over from a lapsed host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub thread_id: String,
    /// The host that had it.
    pub from: String,
}

/// The unsettled attempts of the run whose answerable host (the one that took it over,
/// else the one that started its supervisor) is not `taker`, has not stopped, and last
/// beat before `silent_since`: thread, epoch, that host and its last heartbeat.
async fn lapsed(
    conn: &mut Db<'_>,
    run_id: &str,
    taker: &str,
    silent_since: i64,
) -> Result<Vec<Row>> {
    fetch_all(
        conn,
        // PostgreSQL: the attempts to take are held until the takeover commits; one held
        // by another taker, or by its supervisor's write (`Store::check_fence`), is left
        // for the next tick. (The epoch check of the takeover's update decides anyway.)
        sql!(
            sqlite: "SELECT a.thread_id, a.epoch, h.host, h.heartbeat_at
                     FROM attempts a JOIN run_hosts h ON h.run_id = a.run_id
                       AND h.host = CASE WHEN a.taken_by <> '' THEN a.taken_by ELSE a.host END
                     WHERE a.run_id = $1 AND a.settled = 0 AND h.host <> $2
                       AND h.stopped_at IS NULL AND h.heartbeat_at < $3
                     ORDER BY a.id",
            pg: "SELECT a.thread_id, a.epoch, h.host, h.heartbeat_at
                 FROM attempts a JOIN run_hosts h ON h.run_id = a.run_id
                   AND h.host = CASE WHEN a.taken_by <> '' THEN a.taken_by ELSE a.host END
                 WHERE a.run_id = $1 AND a.settled = 0 AND h.host <> $2
                   AND h.stopped_at IS NULL AND h.heartbeat_at < $3
                 ORDER BY a.id
                 FOR NO KEY UPDATE OF a SKIP LOCKED",
        ),
        args![run_id, taker, silent_since],
    )
    .await
}

/// `host`'s registration by `up`, if it is still registered and running: when a reader
/// found it gone (`Some(None)`: not found gone).
async fn running_registration(
    tx: &mut Db<'_>,
    run_id: &str,
    host: &str,
    up: UpProcess,
) -> Result<Option<Option<i64>>> {
    scalar(
        tx,
        sql!(
            "SELECT gone_at FROM run_hosts WHERE run_id = $1 AND host = $2 AND pid = $3
               AND start = $4 AND stopped_at IS NULL"
        ),
        args![run_id, host, i64::from(up.pid), up.start as i64],
    )
    .await
}

/// Whether an `orch up` runs the run: a host registered, neither stopped nor found gone
/// (readers that check liveness mark the dead ones first: `orchestration::presence`).
pub(crate) async fn any_up(conn: &mut Db<'_>, run_id: &str) -> Result<bool> {
    let found: Option<i64> = scalar(
        conn,
        sql!(
            "SELECT 1 FROM run_hosts
         WHERE run_id = $1 AND stopped_at IS NULL AND gone_at IS NULL LIMIT 1"
        ),
        args![run_id],
    )
    .await?;
    Ok(found.is_some())
}

/// An `up_started` or `up_stopped` event of `host`'s `orch up`, the run's row pointing
/// at it.
async fn up_event(
    tx: &mut Db<'_>,
    run_id: &str,
    (host, up): (&str, UpProcess),
    event_type: &'static str,
    why: &str,
    now: i64,
) -> Result<()> {
    let summary = match event_type {
        "up_started" => format!("orch up (pid {}) on host {host} runs the run", up.pid),
        _ => format!("orch up (pid {}) on host {host} {why}", up.pid),
    };
    let mut payload = json!({"pid": up.pid, "host": host});
    if !why.is_empty() {
        payload["why"] = json!(why);
    }
    let event = NewEvent::new(event_type)
        .on_run(run_id)
        .summary(summary)
        .payload(payload);
    insert_and_point(tx, run_id, event, RunPointer::Up, now).await?;
    Ok(())
}

impl Store {
    /// Registers `up`, on `machine`, as `host`'s `orch up` of the run (`up_started`),
    /// replacing the host's earlier registration (its run lock makes this the host's
    /// only live one on its machine). Refused (`invalid_state`, nothing written) while
    /// another machine's `orch up` holds the name: registered, running, and heard from
    /// within `lapse_ms`. Two machines under one name would each check the other's pids
    /// as their own, find its supervisors dead and run its attempts again.
    pub async fn host_started(
        &self,
        run_id: &str,
        host: &str,
        up: UpProcess,
        machine: &str,
        lapse_ms: i64,
    ) -> Result<()> {
        self.write(async |tx, now| {
            require_run(tx, run_id).await?;
            let holder = fetch_optional(
                &mut *tx,
                sql!("SELECT * FROM run_hosts WHERE run_id = $1 AND host = $2"),
                args![run_id, host],
            )
            .await?;
            if let Some(holder) = holder.as_ref().map(HostRecord::from_row).transpose()?
                && holder.is_running()
                && !holder.machine.is_empty()
                && holder.machine != machine
                && now - holder.heartbeat_at <= lapse_ms
            {
                return Err(Error::invalid_state(format!(
                    "host name {host:?} is taken: an orch up on another machine (pid {}, heard from {:.1} s ago) runs run {run_id:?} as {host:?}; give this one a name of its own with --host NAME (or ORCH_HOST), or, if that machine is down, start this one again once it has been silent for {:.1} s",
                    holder.pid,
                    (now - holder.heartbeat_at) as f64 / 1000.0,
                    lapse_ms as f64 / 1000.0
                )));
            }
            execute(
                tx,
                sql!(
                    "INSERT INTO run_hosts (run_id, host, pid, start, started_at, heartbeat_at, machine)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (run_id, host) DO UPDATE SET pid = excluded.pid,
                     start = excluded.start, started_at = excluded.started_at,
                     heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, gone_at = NULL,
                     machine = excluded.machine"
                ),
                args![run_id, host, i64::from(up.pid), up.start as i64, now, now, machine],
            )
            .await?;
            up_event(tx, run_id, (host, up), "up_started", "", now).await
        })
        .await
    }

    /// `host`'s `orch up` is alive: its heartbeat, now. False when the registration is
    /// no longer this process's (another `orch up` of the host replaced it) or it
    /// stopped. A host found gone (it was frozen, or cut off) that beats again runs the
    /// run again (`up_started` once more); the attempts taken from it meanwhile stay
    /// taken.
    pub async fn host_heartbeat(&self, run_id: &str, host: &str, up: UpProcess) -> Result<bool> {
        self.write(async |tx, now| {
            let Some(gone_at) = running_registration(tx, run_id, host, up).await? else {
                return Ok(false);
            };
            let sql = sql!(
                "UPDATE run_hosts SET heartbeat_at = $1, gone_at = NULL WHERE run_id = $2 AND host = $3"
            );
            execute(tx, sql, args![now, run_id, host]).await?;
            if gone_at.is_some() {
                up_event(tx, run_id, (host, up), "up_started", "", now).await?;
            }
            Ok(true)
        })
        .await
    }

    /// `host`'s `orch up` ended (`up_stopped`, why `ended`), if it is still the one
    /// registered and running; true when it was.
    pub async fn host_stopped(&self, run_id: &str, host: &str, up: UpProcess) -> Result<bool> {
        self.write(async |tx, now| {
            let Some(gone_at) = running_registration(tx, run_id, host, up).await? else {
                return Ok(false);
            };
            let sql = sql!("UPDATE run_hosts SET stopped_at = $1 WHERE run_id = $2 AND host = $3");
            execute(tx, sql, args![now, run_id, host]).await?;
            // Found gone before: its `up_stopped` is recorded already.
            if gone_at.is_none() {
                up_event(tx, run_id, (host, up), "up_stopped", "ended", now).await?;
            }
            Ok(true)
        })
        .await
    }

    /// A reader found `host`'s `orch up` gone (`why`: its process is gone, its heartbeat
    /// lapsed): `up_stopped` once, if it is still the one registered and running; true
    /// when it was. Its attempts are left to the takeover (see
    /// [`Store::take_over_lapsed`]), which goes by the heartbeat, not by this mark.
    pub async fn host_gone(
        &self,
        run_id: &str,
        host: &str,
        up: UpProcess,
        why: &str,
    ) -> Result<bool> {
        self.write(async |tx, now| {
            let marked = execute(
                tx,
                sql!(
                    "UPDATE run_hosts SET gone_at = $1 WHERE run_id = $2 AND host = $3 AND pid = $4
                   AND start = $5 AND stopped_at IS NULL AND gone_at IS NULL"
                ),
                args![now, run_id, host, i64::from(up.pid), up.start as i64],
            )
            .await?;
            if marked == 0 {
                return Ok(false);
            }
            up_event(tx, run_id, (host, up), "up_stopped", why, now).await?;
            Ok(true)
        })
        .await
    }

    /// The hosts registered on the run, by name.
    pub async fn run_hosts(&self, run_id: &str) -> Result<Vec<HostRecord>> {
        let rows = self
            .read_all(
                sql!("SELECT * FROM run_hosts WHERE run_id = $1 ORDER BY host"),
                args![run_id],
            )
            .await?;
        rows.iter().map(HostRecord::from_row).collect()
    }

    /// Takes over, for `taker`, the unsettled attempts of the run whose answerable host
    /// (the one that took it over, else the one that started its supervisor) has not
    /// stopped and has not beaten for `lapse_ms`: each is marked taken by `taker`, its
    /// epoch bumped (its supervisor, wherever it is, is fenced), with an
    /// `attempt_taken_over` event, in one transaction; an attempt claimed meanwhile (its
    /// epoch moved) is left. A taker that connected to the database (first, or
    /// again after a lost connection) less than `lapse_ms` ago takes nothing. Returns the attempts taken. What the lost supervisor had
    /// left to do is the caller's (`orchestration::recovery`).
    pub async fn take_over_lapsed(
        &self,
        run_id: &str,
        taker: &str,
        lapse_ms: i64,
    ) -> Result<Vec<Taken>> {
        // Every tick of every host asks: a read first, the write lock only when there
        // is something to take.
        let due = super::read_again!(self, conn => {
            lapsed(&mut conn.db(), run_id, taker, now_ms() - lapse_ms).await
        })?;
        // A taker that has just connected (started, or reconnected after the server
        // restarted or its connection was cut) judges nobody for a lapse: after an
        // outage every host's heartbeats stopped alike, and they resume as the others
        // reconnect.
        let lapse = std::time::Duration::from_millis(lapse_ms.max(0) as u64);
        if due.is_empty() || self.liveness.connected_within(lapse) {
            return Ok(Vec::new());
        }
        self.write(async |tx, now| {
            let candidates = lapsed(tx, run_id, taker, now - lapse_ms).await?;
            let mut taken = Vec::with_capacity(candidates.len());
            for row in candidates {
                let thread_id: String = row.try_get("thread_id")?;
                let epoch: i64 = row.try_get("epoch")?;
                let from: String = row.try_get("host")?;
                let heartbeat_at: i64 = row.try_get("heartbeat_at")?;
                let claimed = execute(
                    &mut *tx,
                    sql!("UPDATE attempts SET taken_by = $1, epoch = epoch + 1, updated_at = $2
                     WHERE thread_id = $3 AND epoch = $4"),
                    args![taker, now, &thread_id, epoch],
                )
                .await?;
                if claimed == 0 {
                    continue;
                }
                let silent_s = (now - heartbeat_at) as f64 / 1000.0;
                let event = NewEvent::new("attempt_taken_over")
                    .summary(format!(
                        "host {taker} took the attempt over: host {from} sent no heartbeat for {silent_s:.1} s"
                    ))
                    .payload(json!({"from": from, "by": taker, "epoch": epoch + 1}));
                events::insert_on_thread(tx, &thread_id, event, now).await?;
                taken.push(Taken { thread_id, from });
            }
            Ok(taken)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Claim;
    use crate::store::testing::*;

    const A: UpProcess = UpProcess { pid: 7, start: 70 };
    const B: UpProcess = UpProcess { pid: 8, start: 80 };

    /// Host `a` registered and supervising the first attempt of task `t`; host `b`
    /// registered too.
    async fn a_supervises_t() -> (Store, String) {
        let (store, attempt) = one_claimed().await;
        store.host_started("r", "a", A, "m", 0).await.unwrap();
        store.host_started("r", "b", B, "m", 0).await.unwrap();
        let claim = store
            .claim_supervision(&attempt.thread_id, 100, 1000, "a")
            .await
            .unwrap();
        assert_eq!(claim, Claim::Ours { epoch: 1 });
        (store, attempt.thread_id)
    }

    /// What `taker` takes over from hosts silent for `lapse_ms`.
    async fn takes(store: &Store, taker: &str, lapse_ms: i64) -> Vec<Taken> {
        store.take_over_lapsed("r", taker, lapse_ms).await.unwrap()
    }

    #[tokio::test]
    async fn a_second_machine_under_a_live_hosts_name_is_refused_and_changes_nothing() {
        let (store, _) = one_claimed().await;
        store.host_started("r", "a", A, "m1", 60_000).await.unwrap();
        let before = store.run_hosts("r").await.unwrap();
        let err = store
            .host_started("r", "a", B, "m2", 60_000)
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::InvalidState, "{err}");
        for words in [
            "host name \"a\" is taken",
            "another machine (pid 7",
            "--host NAME",
        ] {
            assert!(err.message.contains(words), "{err}");
        }
        assert_eq!(store.run_hosts("r").await.unwrap(), before);
        // The same machine's new orch up (the old one died without withdrawing) takes
        // the name back; so does another machine once the holder is silent past the
        // lapse, or has stopped.
        store.host_started("r", "a", B, "m1", 60_000).await.unwrap();
        assert_eq!(store.run_hosts("r").await.unwrap()[0].pid, 8);
        store.host_started("r", "a", A, "m2", -1).await.unwrap();
        assert_eq!(store.run_hosts("r").await.unwrap()[0].machine, "m2");
        assert!(store.host_stopped("r", "a", A).await.unwrap());
        store.host_started("r", "a", B, "m1", 60_000).await.unwrap();
        // A registration that names no machine (made before the column) is never a
        // reason to refuse.
        let (store, _) = one_claimed().await;
        store.host_started("r", "a", A, "", 60_000).await.unwrap();
        store.host_started("r", "a", B, "m2", 60_000).await.unwrap();
    }

    #[tokio::test]
    async fn a_host_whose_heartbeat_is_fresh_keeps_its_attempts() {
        let (store, _) = a_supervises_t().await;
        let taken = store.take_over_lapsed("r", "b", 60_000).await.unwrap();
        assert!(taken.is_empty());
        // Nor does a host ever take its own attempts.
        assert!(takes(&store, "a", -1).await.is_empty());
    }

    #[tokio::test]
    async fn of_two_live_hosts_taking_over_one_lapsed_attempt_only_one_takes_it() {
        let (store, thread) = a_supervises_t().await;
        let c = UpProcess { pid: 9, start: 90 };
        store.host_started("r", "c", c, "m", 0).await.unwrap();
        // Host a falls silent; b and c beat on.
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        assert!(store.host_heartbeat("r", "b", B).await.unwrap());
        assert!(store.host_heartbeat("r", "c", c).await.unwrap());
        let (by_b, by_c) = tokio::join!(
            store.take_over_lapsed("r", "b", 30),
            store.take_over_lapsed("r", "c", 30),
        );
        let (by_b, by_c) = (by_b.unwrap(), by_c.unwrap());
        assert_eq!(by_b.len() + by_c.len(), 1, "{by_b:?} {by_c:?}");
        let winner = if by_b.is_empty() { "c" } else { "b" };
        let taken = by_b.iter().chain(&by_c).next().unwrap();
        assert_eq!(
            taken,
            &Taken {
                thread_id: thread.clone(),
                from: "a".into()
            }
        );
        let (_, sup) = store.attempt_by_thread(&thread).await.unwrap();
        assert_eq!(sup.host.as_deref(), Some("a"));
        assert_eq!(sup.taken_by.as_deref(), Some(winner));
        assert_eq!(sup.epoch, 2);
        let types = event_types(&store).await;
        assert_eq!(
            types.iter().filter(|t| *t == "attempt_taken_over").count(),
            1
        );
        // Taken once: the taker is live, so no one takes it again.
        assert!(takes(&store, "b", 60_000).await.is_empty());
        // Its supervisor cannot claim it again either.
        let claim = store
            .claim_supervision(&thread, 100, 1000, "a")
            .await
            .unwrap();
        assert_eq!(claim, Claim::TakenOver { by: winner.into() });
    }

    #[tokio::test]
    async fn a_stopped_host_is_not_taken_over_and_a_settled_attempt_is_left() {
        let (store, thread) = a_supervises_t().await;
        assert!(store.host_stopped("r", "a", A).await.unwrap());
        assert!(takes(&store, "b", -1).await.is_empty());
        store.host_started("r", "a", A, "m", 0).await.unwrap();
        store.mark_settled(&thread).await.unwrap();
        assert!(takes(&store, "b", -1).await.is_empty());
    }

    #[tokio::test]
    async fn a_supervisor_fenced_by_a_takeover_writes_nothing() {
        let (store, thread) = a_supervises_t().await;
        let supervisor = store.with_own_fence();
        supervisor.fence(&thread, 1);
        supervisor
            .post_output(&thread, WORKER, "early", "early output", json!({}))
            .await
            .unwrap();
        assert!(supervisor.fence_holds().await.unwrap());
        store.take_over_lapsed("r", "b", -1).await.unwrap();
        let events = event_types(&store).await;
        let (_, before) = store.attempt_by_thread(&thread).await.unwrap();
        let thread_before = store.thread(&thread).await.unwrap();
        let late = supervisor
            .post_output(&thread, WORKER, "late", "late output", json!({}))
            .await
            .unwrap_err();
        assert_eq!(late.code, crate::error::ErrorCode::InvalidState);
        assert!(late.message.starts_with("fenced:"), "{}", late.message);
        assert!(late.message.contains("host b"), "{}", late.message);
        assert!(supervisor.is_fenced());
        let end =
            crate::store::AttemptEnd::new(crate::model::AttemptOutcome::Succeeded, String::new());
        assert!(supervisor.record_attempt_end(&thread, &end).await.is_err());
        assert!(
            supervisor
                .record_session(&thread, Some("late"), None, None)
                .await
                .is_err()
        );
        assert!(supervisor.mark_settled(&thread).await.is_err());
        assert!(!supervisor.fence_holds().await.unwrap());
        assert_eq!(
            event_types(&store).await,
            events,
            "no event after the takeover"
        );
        let (_, after) = store.attempt_by_thread(&thread).await.unwrap();
        assert_eq!(after.outcome, before.outcome);
        assert_eq!(after.session_id, before.session_id);
        let thread_after = store.thread(&thread).await.unwrap();
        assert_eq!(thread_after.status, thread_before.status);
        assert_eq!(thread_after.updated_at, thread_before.updated_at);
        assert_eq!(store.unsettled_attempts("r").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_gone_host_that_beats_again_runs_the_run_again() {
        let (store, _) = a_supervises_t().await;
        assert!(
            store
                .host_gone("r", "a", A, "sent no heartbeat")
                .await
                .unwrap()
        );
        assert!(
            !store
                .host_gone("r", "a", A, "sent no heartbeat")
                .await
                .unwrap()
        );
        let hosts = store.run_hosts("r").await.unwrap();
        assert!(!hosts[0].is_running() && hosts[1].is_running());
        assert!(store.host_heartbeat("r", "a", A).await.unwrap());
        assert!(store.run_hosts("r").await.unwrap()[0].is_running());
        // Another process of host a is not the one registered.
        let other = UpProcess { pid: 7, start: 71 };
        assert!(!store.host_heartbeat("r", "a", other).await.unwrap());
        assert!(!store.host_stopped("r", "a", other).await.unwrap());
        let types = event_types(&store).await;
        let ups: Vec<&String> = types.iter().filter(|t| t.starts_with("up_")).collect();
        assert_eq!(
            ups,
            ["up_started", "up_started", "up_stopped", "up_started"]
        );
    }
}
