//! One supervisor per attempt, and no word from one whose attempt was taken from it.
//!
//! Every claim of an attempt bumps its `epoch` (migration 0015): a new supervisor
//! claiming it ([`Store::claim_supervision`]), or a live host's `orch up` taking over
//! the attempts of a host whose heartbeat lapsed ([`Store::take_over_lapsed`], in
//! `hosts.rs`). A supervisor learns its epoch from its claim and puts a [`Fence`] on its
//! [`Store`] ([`Store::fence`]); from then on every write through that store checks,
//! inside its transaction and before anything else, that the epoch has not moved
//! ([`Store::check_fence`], called by [`Store::write`]). Once it has, the write is
//! refused with `invalid_state` ("fenced: ..."), and so is every later one without
//! asking again: a supervisor that was frozen or cut off while its host was declared
//! dead writes nothing more, whatever it was doing when it came back.

use super::NotFound;
use super::{Db, Store, args, execute, fetch_optional, rows::non_empty, sql};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// The epoch a supervisor holds its attempt at.
#[derive(Debug)]
pub(crate) struct Fence {
    thread_id: String,
    epoch: i64,
    /// The epoch moved: every write is refused from now on.
    broken: AtomicBool,
    /// Who holds the attempt now, once `broken` (for the error).
    holder: std::sync::Mutex<String>,
}

/// What a claim of an attempt's supervision found ([`Store::claim_supervision`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The claimer supervises the attempt, at this epoch.
    Ours { epoch: i64 },
    /// Another supervisor process holds it (alive or not: the caller checks).
    Held { pid: u32, start: u64 },
    /// A host took the attempt over when its own host's heartbeat lapsed.
    TakenOver { by: String },
}

/// The error of a write refused by the fence.
fn fenced(thread_id: &str, holder: &str) -> Error {
    let by = if holder.is_empty() {
        "another supervisor".to_string()
    } else {
        format!("host {holder}")
    };
    Error::invalid_state(format!(
        "fenced: attempt {thread_id} was taken over by {by}; this supervisor writes nothing more"
    ))
}

impl Store {
    /// Makes `pid` (started at `start`, on `host`) the attempt's one supervisor, unless
    /// another one is recorded already ([`Claim::Held`], nothing changed) or the
    /// attempt was taken over ([`Claim::TakenOver`]). A new holder bumps the attempt's
    /// epoch; the holder confirming itself (the launcher records the supervisor it
    /// spawns, and the supervisor confirms itself before anything else) keeps it. So two
    /// supervisors of one attempt (a launcher that died and `orch up` starting another)
    /// never both start a worker.
    pub async fn claim_supervision(
        &self,
        thread_id: &str,
        pid: u32,
        start: u64,
        host: &str,
    ) -> Result<Claim> {
        self.claim_supervision_as(thread_id, pid, start, host, None)
            .await
    }

    /// [`Store::claim_supervision`] by the supervisor itself, recording with the claim
    /// (in its transaction, when the claim is its own) what it will run: its worker's
    /// profile and adapter, and its log.
    pub async fn claim_supervision_as(
        &self,
        thread_id: &str,
        pid: u32,
        start: u64,
        host: &str,
        record: Option<&SupervisorRecord>,
    ) -> Result<Claim> {
        self.write(async |tx, now| {
            let claim = claim_in(tx, thread_id, (pid, start, host), now).await?;
            if let (Claim::Ours { .. }, Some(record)) = (&claim, record) {
                execute(
                    tx,
                    sql!("UPDATE attempts SET profile = $1, adapter = $2, log_path = $3, updated_at = $4
                          WHERE thread_id = $5"),
                    args![&record.profile, &record.adapter, &record.log_path, now, thread_id],
                )
                .await?;
            }
            Ok(claim)
        })
        .await
    }

    /// Fences this store (a supervisor's) to the attempt on `thread_id` at `epoch`:
    /// every later write checks that the epoch has not moved. Set once per process; a
    /// second fence is ignored.
    pub fn fence(&self, thread_id: &str, epoch: i64) {
        let _ = self.fenced_to.set(Fence {
            thread_id: thread_id.to_string(),
            epoch,
            broken: AtomicBool::new(false),
            holder: std::sync::Mutex::new(String::new()),
        });
    }

    /// Whether a write of this store was refused by its fence (the attempt was taken
    /// from it).
    pub fn is_fenced(&self) -> bool {
        self.fenced_to
            .get()
            .is_some_and(|f| f.broken.load(Ordering::SeqCst))
    }

    /// Whether the fence still holds (a read; true without a fence). A fence found
    /// moved stays broken. Only the fence says false: a check that failed for another
    /// reason is an error (after a lost connection, it is checked again once
    /// reconnected), never a takeover: a supervisor that took a failed read for one
    /// stopped a healthy worker during a database restart.
    pub async fn fence_holds(&self) -> Result<bool> {
        if self.fenced_to.get().is_none() {
            return Ok(true);
        }
        super::read_again!(self, conn => match self.check_fence(&mut conn.db()).await {
            Ok(()) => Ok(true),
            Err(_) if self.is_fenced() => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// The fence's check, on the transaction of a write (see the module doc): refused
    /// once the attempt's epoch moved. Nothing to check without a fence.
    pub(crate) async fn check_fence(&self, conn: &mut Db<'_>) -> Result<()> {
        let Some(fence) = self.fenced_to.get() else {
            return Ok(());
        };
        if fence.broken.load(Ordering::SeqCst) {
            let holder = fence.holder.lock().map(|h| h.clone()).unwrap_or_default();
            return Err(fenced(&fence.thread_id, &holder));
        }
        // PostgreSQL: the attempt's row is held until the write commits, so a takeover
        // cannot move the epoch between this check and the write (SQLite's write lock
        // keeps it out already); the takeover skips a held attempt until the next tick.
        let row = fetch_optional(
            conn,
            sql!(
                sqlite: "SELECT epoch, taken_by FROM attempts WHERE thread_id = $1",
                pg: "SELECT epoch, taken_by FROM attempts WHERE thread_id = $1 FOR NO KEY UPDATE",
            ),
            args![&fence.thread_id],
        )
        .await?;
        let Some(row) = row else {
            return Err(NotFound::NoAttemptHasThread {
                thread: fence.thread_id.clone(),
            }
            .into());
        };
        let epoch: i64 = row.try_get("epoch")?;
        if epoch == fence.epoch {
            return Ok(());
        }
        let holder = non_empty(row.try_get("taken_by")?).unwrap_or_default();
        fence.broken.store(true, Ordering::SeqCst);
        if let Ok(mut h) = fence.holder.lock() {
            *h = holder.clone();
        }
        tracing::warn!(
            epoch,
            fenced_at = fence.epoch,
            "the attempt was taken over; writes refused"
        );
        Err(fenced(&fence.thread_id, &holder))
    }
}

/// What a supervisor records with its claim: its worker's profile and adapter, its log.
#[derive(Debug, Clone)]
pub struct SupervisorRecord {
    pub profile: String,
    pub adapter: String,
    pub log_path: String,
}

/// The claim of [`Store::claim_supervision`], in the caller's transaction.
async fn claim_in(
    tx: &mut Db<'_>,
    thread_id: &str,
    (pid, start, host): (u32, u64, &str),
    now: i64,
) -> Result<Claim> {
    let row = fetch_optional(
        &mut *tx,
        // PostgreSQL: the row is held until the claim commits, so a second claimer
        // waits and then finds the first (SQLite's write lock serializes them).
        sql!(
            sqlite: "SELECT supervisor_pid, supervisor_start, host, taken_by, epoch
                     FROM attempts WHERE thread_id = $1",
            pg: "SELECT supervisor_pid, supervisor_start, host, taken_by, epoch
                 FROM attempts WHERE thread_id = $1 FOR NO KEY UPDATE",
        ),
        args![thread_id],
    )
    .await?
    .ok_or_else(|| NotFound::NoAttemptHasThread {
        thread: thread_id.to_string(),
    })?;
    let holder: (Option<i64>, Option<i64>) = (
        row.try_get("supervisor_pid")?,
        row.try_get("supervisor_start")?,
    );
    let held_on: String = row.try_get("host")?;
    let taken_by: String = row.try_get("taken_by")?;
    let epoch: i64 = row.try_get("epoch")?;
    if !taken_by.is_empty() {
        return Ok(Claim::TakenOver { by: taken_by });
    }
    if let (Some(p), Some(s)) = holder {
        if (p as u32, s as u64) != (pid, start) || (!held_on.is_empty() && held_on != host) {
            return Ok(Claim::Held {
                pid: p as u32,
                start: s as u64,
            });
        }
        // The holder confirming itself.
        return Ok(Claim::Ours { epoch });
    }
    execute(
        tx,
        sql!(
            "UPDATE attempts SET supervisor_pid = $1, supervisor_start = $2, host = $3,
                epoch = epoch + 1, updated_at = $4 WHERE thread_id = $5"
        ),
        args![pid as i64, start as i64, host, now, thread_id],
    )
    .await?;
    Ok(Claim::Ours { epoch: epoch + 1 })
}

#[cfg(test)]
impl Store {
    /// This store's connection with a fence of its own: another process's view of the
    /// same database, for tests on one in-memory database.
    pub(crate) fn with_own_fence(&self) -> Store {
        Store {
            fenced_to: std::sync::Arc::default(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::*;

    #[tokio::test]
    async fn a_new_holder_bumps_the_epoch_and_the_holder_confirming_keeps_it() {
        let (store, attempt) = one_claimed().await;
        let thread = &attempt.thread_id;
        let claim = store.claim_supervision(thread, 10, 20, "a").await.unwrap();
        assert_eq!(claim, Claim::Ours { epoch: 1 });
        let again = store.claim_supervision(thread, 10, 20, "a").await.unwrap();
        assert_eq!(again, Claim::Ours { epoch: 1 });
        let other = store.claim_supervision(thread, 11, 20, "a").await.unwrap();
        assert_eq!(other, Claim::Held { pid: 10, start: 20 });
        let elsewhere = store.claim_supervision(thread, 10, 20, "b").await.unwrap();
        assert_eq!(elsewhere, Claim::Held { pid: 10, start: 20 });
    }
}
