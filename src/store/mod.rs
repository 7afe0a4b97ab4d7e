//! The store: the only module that speaks SQL (sqlx over SQLite in WAL mode).
//!
//! It owns opening the database (creating it and applying `migrations/` on first use,
//! so every verb works on an empty path), the short `BEGIN IMMEDIATE` transactions that
//! every state change runs in, the row mappings into [`crate::model`] records, and the
//! cheap change detector (`PRAGMA data_version`) that blocking verbs poll.

mod attempts;
mod events;
mod inbox;
mod inbox_read;
mod plan_apply;
mod reconcile;
mod rows;
mod runs;
mod tasks;
mod threads;
mod verify;

pub use attempts::{AttemptPlan, NewAttempt, WorkspaceRecord};
pub use events::{EventFilter, NewEvent};
pub use reconcile::TaskChange;
pub use runs::NewRun;
pub use tasks::{CheckSpec, NewTask, PlanInput, PlanTask, PlanTaskOutcome};
pub use threads::{FinishKind, MessageInput, SendInput, ThreadFilter};
pub use verify::{CheckState, Gate};

use crate::error::{Error, ErrorCode, Result};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use std::path::{Path, PathBuf};
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) type Tx = Transaction<'static, Sqlite>;

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.message().contains("locked") => Error::internal(
                format!("database is locked (another process held it too long): {db}"),
            ),
            _ => Error::internal(format!("database error: {err}")),
        }
    }
}

/// An open orch database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Store> {
        prepare_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::internal(format!("cannot open database {}: {e}", path.display()))
            })?;
        let store = Store {
            pool,
            path: path.to_path_buf(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes every connection (the last one out checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so it never fails half-way on a read-to-write lock upgrade.
    pub(crate) async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A connection for reads.
    pub(crate) async fn read(&self) -> Result<PoolConnection<Sqlite>> {
        Ok(self.pool.acquire().await?)
    }

    /// A change detector on its own connection, for blocking verbs.
    pub async fn change_detector(&self) -> Result<ChangeDetector> {
        let mut conn = self.pool.acquire().await?;
        let version = data_version(&mut conn).await?;
        Ok(ChangeDetector { conn, version })
    }

    /// Runs pending migrations, fast when there are none (one `PRAGMA user_version`).
    async fn migrate(&self) -> Result<()> {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let mut conn = self.read().await?;
        let current: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await?;
        if current == latest {
            return Ok(());
        }
        if current > latest {
            return Err(Error::internal(format!(
                "database {} has schema version {current}, newer than this orch supports ({latest}); upgrade orch",
                self.path.display()
            )));
        }
        // WAL is a property of the file; switching needs an exclusive lock that the busy
        // handler does not wait for, so retry briefly when another process is opening too.
        let mut tries = 0;
        loop {
            match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
                .fetch_one(&mut *conn)
                .await
            {
                Ok(_) => break,
                Err(e) if tries < 500 => {
                    tries += 1;
                    tracing::debug!("journal_mode=WAL busy ({e}), retrying");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        drop(conn);
        let mut tx = self.write().await?;
        let current: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await?;
        for migration in MIGRATOR.iter().filter(|m| m.version > current) {
            sqlx::raw_sql(migration.sql.clone())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    Error::internal(format!(
                        "migration {} ({}) failed: {e}",
                        migration.version, migration.description
                    ))
                })?;
        }
        // PRAGMA takes no bound parameters; the value is our own integer.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {latest}"
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Creates the database's directory (0700) and file (0600) before SQLite opens it,
/// so that neither is ever readable by other users.
fn prepare_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Error::internal(format!(
                    "cannot create database directory {}: {e}",
                    dir.display()
                ))
            })?;
    }
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                Error::internal(format!("cannot create database {}: {e}", path.display()))
            })?;
    }
    Ok(())
}

async fn data_version(conn: &mut PoolConnection<Sqlite>) -> Result<i64> {
    Ok(sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut **conn)
        .await?)
}

/// Notices commits made by other connections, cheaply: `PRAGMA data_version` on a
/// dedicated connection changes whenever another connection commits.
pub struct ChangeDetector {
    conn: PoolConnection<Sqlite>,
    version: i64,
}

impl ChangeDetector {
    /// True when another connection has committed since the last call.
    pub async fn changed(&mut self) -> Result<bool> {
        let now = data_version(&mut self.conn).await?;
        let changed = now != self.version;
        self.version = now;
        Ok(changed)
    }

    /// Waits until another connection commits, or `deadline` passes (false then).
    /// Polls every few milliseconds: wake latency stays in the tens of milliseconds
    /// while an idle waiter costs next to no CPU.
    pub async fn wait(&mut self, deadline: Option<tokio::time::Instant>) -> Result<bool> {
        let started = tokio::time::Instant::now();
        loop {
            if self.changed().await? {
                return Ok(true);
            }
            let now = tokio::time::Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            // Poll fast right after a change (bursts come together), slower when idle.
            let idle = now - started;
            let step = if idle < Duration::from_millis(200) {
                Duration::from_millis(2)
            } else {
                Duration::from_millis(10)
            };
            let next = now + step;
            tokio::time::sleep_until(deadline.map_or(next, |d| d.min(next))).await;
        }
    }
}

/// Maps a status string read from the database, or reports a corrupt row.
pub(crate) fn parse_or_corrupt<T>(
    what: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T> {
    parse(text).ok_or_else(|| {
        Error::new(
            ErrorCode::Internal,
            format!("database holds an unknown {what} {text:?}"),
        )
    })
}
