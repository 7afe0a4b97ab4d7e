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
//!   A supervisor's detector polls for its first second and only then listens
//!   ([`ChangeDetector::new_listening_later`]): most trivial workers are gone by then,
//!   and a connection costs the server a process.

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
    /// When the version must next be read even without a signal: a tick after the last
    /// read. Between ticks only a signal leads to a read, so a caller that calls
    /// [`ChangeDetector::wait`] again and again (a supervisor's loop, once per output
    /// chunk) costs no query per call.
    next_read: Instant,
    /// How many times the version was read (for tests).
    reads: u64,
}

enum Signal {
    /// Notified by a watcher thread on every write to the `-wal` file.
    Wal(Arc<tokio::sync::Notify>),
    /// No inotify: poll often enough for a low wake latency.
    Poll,
    /// Notified by a task that owns the `LISTEN` connection, on every notification.
    Listen(Arc<tokio::sync::Notify>),
    /// PostgreSQL, for a waiter that is often gone within a second (a supervisor whose
    /// worker exits at once): the version is polled every [`PG_POLL_STEP`] until
    /// `listen_at`, and only then is the listening connection opened. A connection
    /// costs the server a process (7 ms of CPU on the test VM): a trivial task's
    /// supervisor never opens one.
    ListenLater { url: String, listen_at: Instant },
}

impl Signal {
    /// How long the version may go unread without a signal.
    fn tick(&self) -> Duration {
        match self {
            Signal::Wal(_) => SQLITE_TICK,
            Signal::Poll => POLL_STEP,
            Signal::Listen(_) => PG_TICK,
            Signal::ListenLater { listen_at, .. } => {
                PG_POLL_STEP.min(listen_at.saturating_duration_since(Instant::now()))
            }
        }
    }
}

const SQLITE_TICK: Duration = Duration::from_millis(250);
const POLL_STEP: Duration = Duration::from_millis(5);
const PG_TICK: Duration = Duration::from_secs(1);
const PG_POLL_STEP: Duration = Duration::from_millis(250);
/// How long a [`ChangeDetector::new_listening_later`] polls before it listens.
const LISTEN_AFTER: Duration = Duration::from_secs(1);

impl ChangeDetector {
    pub(super) async fn new(store: Store) -> Result<ChangeDetector> {
        // Watch before the first read of the version, so no commit falls in between.
        let signal = match store.location() {
            Location::Sqlite(path) => sqlite::watch_wal(path).map_or(Signal::Poll, Signal::Wal),
            Location::Postgres(url) => Signal::Listen(forward(pg::listen(url).await?)),
        };
        ChangeDetector::with_signal(store, signal).await
    }

    /// A detector that polls for its first second and listens after (PostgreSQL; on
    /// SQLite the same as [`ChangeDetector::new`]): for a waiter that is most often
    /// gone by then.
    pub(super) async fn new_listening_later(store: Store) -> Result<ChangeDetector> {
        let Location::Postgres(url) = store.location() else {
            return ChangeDetector::new(store).await;
        };
        let signal = Signal::ListenLater {
            url: url.clone(),
            listen_at: Instant::now() + LISTEN_AFTER,
        };
        ChangeDetector::with_signal(store, signal).await
    }

    /// A detector woken by `signal` (in place before this first read of the version).
    async fn with_signal(store: Store, signal: Signal) -> Result<ChangeDetector> {
        let version = version(&store).await?;
        let next_read = Instant::now() + signal.tick();
        Ok(ChangeDetector {
            store,
            signal,
            version,
            next_read,
            reads: 1,
        })
    }

    /// True when a commit has changed the database since the last call.
    pub async fn changed(&mut self) -> Result<bool> {
        let version = version(&self.store).await?;
        self.reads += 1;
        let changed = version != self.version;
        self.version = version;
        self.next_read = Instant::now() + self.signal.tick();
        Ok(changed)
    }

    /// Waits until a commit changes the database, or `deadline` passes (false then).
    /// The version is read when a signal came (a permit left since the last call counts)
    /// or a tick has passed since the last read; cancelling the wait loses nothing (a
    /// dropped `notified()` hands its permit on).
    pub async fn wait(&mut self, deadline: Option<Instant>) -> Result<bool> {
        loop {
            self.listen_when_due();
            if Instant::now() >= self.next_read && self.changed().await? {
                return Ok(true);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            let until = deadline.map_or(self.next_read, |d| d.min(self.next_read));
            match &self.signal {
                Signal::Wal(signal) | Signal::Listen(signal) => {
                    tokio::select! {
                        _ = signal.notified() => self.next_read = Instant::now(),
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                Signal::Poll | Signal::ListenLater { .. } => tokio::time::sleep_until(until).await,
            }
        }
    }

    /// A [`Signal::ListenLater`] whose time has come starts listening, in a task of
    /// its own (a wait cancelled while it connected would throw the connection away).
    fn listen_when_due(&mut self) {
        if let Signal::ListenLater { url, listen_at } = &self.signal
            && Instant::now() >= *listen_at
        {
            self.signal = Signal::Listen(listen_in_background(url.clone()));
        }
    }
}

/// Hands `listener` to a task of its own that signals every notification (a permit is
/// kept when nobody waits, so one that comes between a check and the wait is not lost).
/// A lost connection is reconnected by the listener's next `recv`; after an error the
/// task pauses a second so a server that is down is not hammered. The task ends with
/// the runtime.
fn forward(listener: PgListener) -> Arc<tokio::sync::Notify> {
    let notify = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(relay(listener, notify.clone()));
    notify
}

/// [`forward`] for a listener still to be connected (retried every second while the
/// server refuses). Once it listens it signals once: whatever committed before its
/// `LISTEN` is seen by the waiter's next read of the version.
fn listen_in_background(url: String) -> Arc<tokio::sync::Notify> {
    let notify = Arc::new(tokio::sync::Notify::new());
    let signal = notify.clone();
    tokio::spawn(async move {
        let listener = loop {
            match pg::listen(&url).await {
                Ok(listener) => break listener,
                Err(e) => {
                    tracing::debug!("change listener: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        signal.notify_one();
        relay(listener, signal).await
    });
    notify
}

/// Signals `signal` on every notification `listener` hears, for ever.
async fn relay(mut listener: PgListener, signal: Arc<tokio::sync::Notify>) {
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
}

async fn version(store: &Store) -> Result<i64> {
    super::read_again!(store, conn => match conn {
        Conn::Sqlite(sqlite) => sqlite::data_version(sqlite).await,
        Conn::Pg(pg) => pg::data_version(pg).await,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiter called again and again (a supervisor's loop, once per output chunk)
    /// reads the version once per tick or signal, not once per call; a commit on another
    /// connection still wakes it.
    #[tokio::test]
    async fn waits_called_again_and_again_read_the_version_once_per_signal_or_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coord.db");
        let store = Store::open(&path).await.unwrap();
        let mut detector = store.change_detector().await.unwrap();
        assert!(matches!(detector.signal, Signal::Wal(_)));
        for _ in 0..1000 {
            let soon = Instant::now() + Duration::from_micros(50);
            assert!(!detector.wait(Some(soon)).await.unwrap());
        }
        assert!(detector.reads < 10, "{} reads", detector.reads);
        let other = Store::open(&path).await.unwrap();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let run = super::super::NewRun {
                run_id: "r".to_string(),
                goal: "g".to_string(),
                ..Default::default()
            };
            other.create_run(&run).await.unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(detector.wait(Some(deadline)).await.unwrap());
        writer.await.unwrap();
    }
}
