//! The change detector blocking verbs (`wait`, `next --wait`, `watch`, `inbox
//! wait-reply`, `orch up`) wait on: woken within moments of another process's commit,
//! asleep in the kernel otherwise. The version counter the backend keeps is the
//! authority, asked on every wake-up and on a safety tick regardless, so a missed
//! signal costs at most one tick.
//!
//! - SQLite: `PRAGMA data_version` (changes on other connections' commits), woken by an
//!   inotify watch on the `-wal` file every commit writes; the tick is a quarter second
//!   (a file system that does not report writes, a network mount).
//! - PostgreSQL: `orch_data_version` (bumped by every changing statement, this
//!   process's own too: a waiter may wake once for its own write and read again),
//!   woken by `LISTEN orch_changes` (a task of its own holds the listening connection);
//!   the tick is a second. The listener reconnects by itself after a lost connection.

use super::{Conn, Location, Store, pg, sqlite};
use crate::error::Result;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub struct ChangeDetector {
    store: Store,
    signal: Signal,
    version: i64,
}

enum Signal {
    /// Notified by a watcher thread on every write to the `-wal` file.
    Wal(Arc<tokio::sync::Notify>),
    /// No inotify: poll often enough for a low wake latency.
    Poll,
    /// Notified by a task that owns the `LISTEN` connection, on every notification.
    Listen(Arc<tokio::sync::Notify>),
}

const SQLITE_TICK: Duration = Duration::from_millis(250);
const POLL_STEP: Duration = Duration::from_millis(5);
const PG_TICK: Duration = Duration::from_secs(1);

impl ChangeDetector {
    pub(super) async fn new(store: Store) -> Result<ChangeDetector> {
        // Watch before the first read of the version, so no commit falls in between.
        let signal = match store.location() {
            Location::Sqlite(path) => sqlite::watch_wal(path).map_or(Signal::Poll, Signal::Wal),
            Location::Postgres(url) => Signal::Listen(forward(pg::listen(url).await?)),
        };
        let version = version(&store).await?;
        Ok(ChangeDetector {
            store,
            signal,
            version,
        })
    }

    /// True when a commit has changed the database since the last call.
    pub async fn changed(&mut self) -> Result<bool> {
        let version = version(&self.store).await?;
        let changed = version != self.version;
        self.version = version;
        Ok(changed)
    }

    /// Waits until a commit changes the database, or `deadline` passes (false then).
    pub async fn wait(&mut self, deadline: Option<Instant>) -> Result<bool> {
        loop {
            if self.changed().await? {
                return Ok(true);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            let tick = match self.signal {
                Signal::Wal(_) => SQLITE_TICK,
                Signal::Poll => POLL_STEP,
                Signal::Listen(_) => PG_TICK,
            };
            let until = deadline.map_or(now + tick, |d| d.min(now + tick));
            match &self.signal {
                Signal::Wal(signal) | Signal::Listen(signal) => {
                    tokio::select! {
                        _ = signal.notified() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                Signal::Poll => tokio::time::sleep_until(until).await,
            }
        }
    }
}

/// Hands `listener` to a task of its own that signals every notification (a permit is
/// kept when nobody waits, so one that comes between a check and the wait is not lost).
/// A lost connection is reconnected by the listener's next `recv`; after an error the
/// task pauses a second so a server that is down is not hammered. The task ends with
/// the runtime.
fn forward(mut listener: PgListener) -> Arc<tokio::sync::Notify> {
    let notify = Arc::new(tokio::sync::Notify::new());
    let signal = notify.clone();
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(_) => signal.notify_one(),
                Err(e) => {
                    // Counted, so the store's own connection (most likely cut too) is
                    // reconnected before its next statement rather than failing it.
                    pg::note_error(&e);
                    tracing::debug!("change listener: {e}");
                    // Anything may have changed while it was away.
                    signal.notify_one();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    notify
}

async fn version(store: &Store) -> Result<i64> {
    let mut conn = store.lock().await;
    match &mut *conn {
        Conn::Sqlite(sqlite) => sqlite::data_version(sqlite).await,
        Conn::Pg(pg) => pg::data_version(pg).await,
    }
}
