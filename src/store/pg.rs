//! PostgreSQL's own part of the store: connecting to a server, applying
//! `migrations-postgres/` (sqlx's migration table, under its advisory lock), and the
//! change signal: every commit that changes a table bumps `orch_data_version` and
//! notifies channel `orch_changes` (triggers of the schema), which a listener
//! connection hears.

use super::Conn;
use crate::error::{Error, Result};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations-postgres");

/// The channel the schema's triggers notify on every change.
const CHANNEL: &str = "orch_changes";

fn options(url: &str) -> Result<PgConnectOptions> {
    let shown = super::Location::Postgres(url.to_owned());
    Ok(PgConnectOptions::from_str(url)
        .map_err(|e| Error::invalid_input(format!("--db {shown}: not a PostgreSQL URL: {e}")))?
        .application_name("orch"))
}

/// How many statements of this process met a dead PostgreSQL connection: each store
/// reconnects before its next statement when this moved.
static CONNECTIONS_LOST: AtomicU64 = AtomicU64::new(0);

/// How many statements of this process have met a dead PostgreSQL connection so far (a
/// loop that sees it move across a failed step knows the step met a lost connection,
/// which the store reconnects after, and may run the step again).
pub fn connections_lost() -> u64 {
    CONNECTIONS_LOST.load(Ordering::Relaxed)
}

/// A connection idle this long is pinged before use.
const PING_AFTER: Duration = Duration::from_secs(1);
/// How long a store keeps trying to reconnect (a server restarting) before it lets the
/// statement fail.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Counts `err` as a lost connection when it is one: the socket or protocol failed, or
/// the server said it is shutting down (class 57P) or the connection failed (class 08).
pub(super) fn note_error(err: &sqlx::Error) {
    let lost = match err {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    };
    if lost {
        CONNECTIONS_LOST.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a store knows of its PostgreSQL connection's health.
pub(super) struct Liveness {
    /// [`CONNECTIONS_LOST`] when the store last connected.
    seen_lost: AtomicU64,
    /// When the connection was last handed out.
    last_used: std::sync::Mutex<Option<Instant>>,
    /// When the store connected: first, or again after a lost connection.
    connected: std::sync::Mutex<Instant>,
    /// Set, with the reason, once the connection was lost and could not be made again
    /// for good ([`is_permanent`]: the database was dropped, the role refused).
    gone: std::sync::OnceLock<String>,
}

impl Liveness {
    /// For a connection just made.
    pub(super) fn connected_now() -> Liveness {
        Liveness {
            seen_lost: AtomicU64::new(CONNECTIONS_LOST.load(Ordering::Relaxed)),
            last_used: std::sync::Mutex::new(Some(Instant::now())),
            connected: std::sync::Mutex::new(Instant::now()),
            gone: std::sync::OnceLock::new(),
        }
    }

    /// Why the database is gone for good, once a reconnect found so.
    pub(super) fn gone(&self) -> Option<&str> {
        self.gone.get().map(String::as_str)
    }

    /// Whether the store connected (first, or again after a lost connection) less than
    /// `span` ago.
    pub(super) fn connected_within(&self, span: Duration) -> bool {
        let at = self.connected.lock().unwrap_or_else(|e| e.into_inner());
        at.elapsed() < span
    }

    /// Reconnects `slot` when a connection was lost since the last connect, or when a
    /// ping after an idle second fails; keeps trying for [`RECONNECT_FOR`]. An error
    /// when it cannot: at once when trying again cannot help ([`is_permanent`]: the
    /// database was dropped, the role refused), so `orch up` and supervisors end with
    /// the server's reason rather than retrying for ever; after [`RECONNECT_FOR`]
    /// counted as a lost connection (the caller's loop may try again).
    pub(super) async fn ensure(&self, slot: &mut Option<Conn>, url: &str) -> Result<()> {
        let idle = {
            let mut last = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            let idle = last.is_none_or(|at| at.elapsed() >= PING_AFTER);
            *last = Some(Instant::now());
            idle
        };
        let lost = CONNECTIONS_LOST.load(Ordering::Relaxed);
        let mut broken = lost != self.seen_lost.load(Ordering::Relaxed);
        if !broken
            && idle
            && let Some(Conn::Pg(conn)) = slot.as_mut()
        {
            broken = conn.ping().await.is_err();
        }
        if !broken {
            return Ok(());
        }
        // Found gone for good already: no connect can mend it.
        if let Some(why) = self.gone() {
            return Err(Error::internal(why));
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let lost = CONNECTIONS_LOST.load(Ordering::Relaxed);
            match connect(url).await {
                Ok(conn) => {
                    self.seen_lost.store(lost, Ordering::Relaxed);
                    *self.connected.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                    tracing::info!("reconnected to the database after a lost connection");
                    *slot = Some(conn);
                    return Ok(());
                }
                Err(e) if e.permanent => {
                    tracing::error!("lost the database connection for good: {}", e.error);
                    let error = lost_for_good(e.error);
                    let _ = self.gone.set(error.message.clone());
                    return Err(error);
                }
                Err(e) if started.elapsed() < RECONNECT_FOR => {
                    tracing::debug!("reconnecting to the database: {}", e.error);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    tracing::warn!("cannot reconnect to the database: {}", e.error);
                    CONNECTIONS_LOST.fetch_add(1, Ordering::Relaxed);
                    return Err(e.error);
                }
            }
        }
    }
}

/// The error of a store whose connection was lost and cannot be made again.
fn lost_for_good(cause: Error) -> Error {
    Error::internal(format!(
        "lost the database connection and cannot connect again: {}",
        cause.message
    ))
}

/// Set by a process for the orch processes it starts (supervisors, a detached `orch
/// up`) to the schema version it found: a child of the same build skips the check, one
/// round trip pair and a plan on a fresh server process, on the path from a task ready
/// to its worker running.
pub(super) const SCHEMA_CHECKED: &str = "ORCH_PG_SCHEMA_CHECKED";

/// The newest migration this build knows.
pub(super) fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Whether a failed connect fails the same way however often it is tried: the database
/// does not exist (3D000: dropped under a live run), the server refuses the role or its
/// password (class 28), or the role may not connect to it (42501). A server restarting
/// (refused connections, 57P03) or full (53300) is worth waiting for.
fn is_permanent(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|code| {
        code == "3D000" || code == "42501" || code.starts_with("28")
    }))
}

/// Why a connect failed, and whether trying again can help.
struct ConnectError {
    error: Error,
    permanent: bool,
}

/// Connects to the server at `url` and brings the schema up to date (unless the
/// process that started this one found it so: [`SCHEMA_CHECKED`]).
pub(super) async fn open(url: &str) -> Result<Conn> {
    connect(url).await.map_err(|e| e.error)
}

/// [`open`], saying whether its failure is [`is_permanent`].
async fn connect(url: &str) -> std::result::Result<Conn, ConnectError> {
    let shown = super::Location::Postgres(url.to_owned());
    let mut conn = options(url)
        .map_err(|error| ConnectError {
            error,
            permanent: true,
        })?
        .connect()
        .await
        .map_err(|e| ConnectError {
            permanent: is_permanent(&e),
            error: Error::internal(format!("cannot connect to database {shown}: {e}")),
        })?;
    let checked = std::env::var(SCHEMA_CHECKED).is_ok_and(|v| v == latest_version().to_string());
    if !checked {
        migrate(&mut conn).await.map_err(|e| ConnectError {
            error: Error::internal(format!("cannot bring database {shown} up to date: {e}")),
            permanent: false,
        })?;
    }
    Ok(Conn::Pg(conn))
}

/// Applies pending migrations; one query when there are none.
async fn migrate(conn: &mut PgConnection) -> Result<()> {
    let latest = latest_version();
    // On a fresh database the table is missing and the query fails: nothing applied.
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .unwrap_or(None);
    match applied {
        Some(v) if v == latest => return Ok(()),
        Some(v) if v > latest => {
            return Err(Error::internal(format!(
                "the database has schema version {v}, newer than this orch supports ({latest}); upgrade orch"
            )));
        }
        _ => {}
    }
    MIGRATOR
        .run_direct(None, conn, false)
        .await
        .map_err(|e| Error::internal(format!("migration failed: {e}")))
}

/// `orch_data_version`'s counter: changes with every commit that changed a table.
pub(super) async fn data_version(conn: &mut PgConnection) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT version FROM orch_data_version WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// A connection listening on the change channel.
pub(super) async fn listen(url: &str) -> Result<PgListener> {
    let mut listener = PgListener::connect(url)
        .await
        .map_err(|e| Error::internal(format!("cannot listen for changes: {e}")))?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
