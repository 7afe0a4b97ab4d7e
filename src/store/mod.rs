//! The store: the only module that speaks SQL (sqlx over SQLite in WAL mode).
//!
//! It owns opening the database (creating it and applying `migrations/` on first use,
//! so every verb works on an empty path), the short `BEGIN IMMEDIATE` transactions that
//! every state change runs in, the row mappings into [`crate::model`] records, and the
//! cheap change detector (`PRAGMA data_version`) that blocking verbs poll. Queries are
//! written against the backend-neutral layer of [`db`] (`Db`, `sql!`, `args!`, `Row`);
//! opening, migrating and the change detector here are SQLite's own.

mod answers;
mod attempts;
mod db;
mod events;
mod fence;
mod hosts;
mod inbox;
mod inbox_read;
mod next;
mod not_found;
mod notify;
mod plan_apply;
mod policy;
mod push;
mod reconcile;
mod requests;
mod rows;
mod runs;
mod succession;
mod supervision;
mod tasks;
#[cfg(test)]
pub(crate) mod testing;
mod threads;
mod verify;

pub use crate::model::Workspace;
pub use answers::AnswerFor;
pub use attempts::{AttemptPlan, Created, ExtraEvent, NewAttempt};
pub use events::{EventFilter, NewEvent};
pub use fence::Claim;
pub use hosts::{HostRecord, Taken, UpProcess};
pub use next::{ANCHOR_EVENTS, Need, NextView};
pub use not_found::NotFound;
pub use policy::HistoryEntry;
pub use push::{AttemptPush, PushState};
pub use reconcile::{StatusView, TaskChange};
pub use requests::{ClaimOutcome, Owner, RecordedReply, RequestKey, StoredRequest};
pub use runs::NewRun;
pub use supervision::{AttemptEnd, EndDetails, Supervision};
pub use tasks::{CheckSpec, NewTask, PlanInput, PlanTask, PlanTaskOutcome};
pub use threads::{FinishKind, MessageInput, Report, SendInput, ThreadFilter};
pub use verify::{CheckState, Gate};

pub(crate) use db::{
    Args, Conn, Db, IntoArg, Row, Sql, Tx, args, execute, fetch_all, fetch_one, fetch_optional,
    fetch_record, scalar, scalar_one, sql,
};

use crate::error::{Error, ErrorCode, Result};
use crate::time::now_ms;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

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

/// An open orch database: one connection per process, shared by its tasks. SQLite
/// serializes writers anyway, and one connection means no per-verb connection set-up
/// and no hand-off to a pool.
#[derive(Clone)]
pub struct Store {
    /// `None` once closed.
    conn: Arc<Mutex<Option<Conn>>>,
    path: PathBuf,
    /// The `--request-id` claim the next write carries, and the writes committed.
    requests: Arc<std::sync::Mutex<requests::RequestSlot>>,
    /// A supervisor's fence: the epoch of its attempt that every write checks
    /// (`fence.rs`); unset in every other process.
    fenced_to: Arc<std::sync::OnceLock<fence::Fence>>,
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
            .pragma("temp_store", "memory")
            .pragma("mmap_size", "268435456");
        let conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| {
                Error::internal(format!("cannot open database {}: {e}", path.display()))
            })?;
        let store = Store {
            conn: Arc::new(Mutex::new(Some(Conn::Sqlite(conn)))),
            path: path.to_path_buf(),
            requests: Arc::default(),
            fenced_to: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A fresh database in memory with the whole schema: for the store's own tests of
    /// its invariants (nothing touches the disk).
    pub async fn open_in_memory() -> Result<Store> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let conn = SqliteConnection::connect_with(&options).await?;
        let store = Store {
            conn: Arc::new(Mutex::new(Some(Conn::Sqlite(conn)))),
            path: PathBuf::from(":memory:"),
            requests: Arc::default(),
            fenced_to: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes the connection; the last one out checkpoints the WAL and removes it, so
    /// the next process does not have to recover it.
    pub async fn close(&self) {
        let conn = self.conn.lock().await.take();
        if let Some(conn) = conn {
            conn.close().await;
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the database at `path`, reports [`Store::integrity_problems`] (a check
    /// that fails is reported as a problem) and closes it; an error only when the
    /// database cannot be opened.
    pub async fn integrity_problems_at(path: &Path) -> Result<Vec<String>> {
        let store = Store::open(path).await?;
        let problems = store
            .integrity_problems()
            .await
            .unwrap_or_else(|e| vec![e.to_string()]);
        store.close().await;
        Ok(problems)
    }

    /// `PRAGMA integrity_check` and `PRAGMA foreign_key_check`: the problems found, none
    /// when the database is sound.
    pub async fn integrity_problems(&self) -> Result<Vec<String>> {
        let mut conn = self.lock().await;
        let Conn::Sqlite(sqlite) = &mut *conn;
        let mut problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut *sqlite)
            .await?;
        problems.retain(|p| p != "ok");
        let dangling: Vec<(String, Option<i64>, String)> =
            sqlx::query_as("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check")
                .fetch_all(&mut *sqlite)
                .await?;
        problems.extend(
            dangling
                .into_iter()
                .map(|(table, rowid, parent)| format!("{table} row {rowid:?}: no {parent} row")),
        );
        // The rendered status rows the triggers keep must equal a fresh rendering.
        let stale = fetch_all(
            &mut conn.db(),
            sql!(
                "SELECT t.run_id, t.task_id FROM tasks t JOIN task_status_rows v ON v.id = t.id
                 WHERE t.status_json IS DISTINCT FROM v.obj ORDER BY t.id"
            ),
            args![],
        )
        .await?;
        for row in stale {
            let (run, task): (String, String) = (row.try_get("run_id")?, row.try_get("task_id")?);
            problems.push(format!(
                "task {task} of run {run}: stored status row differs from its rendering"
            ));
        }
        Ok(problems)
    }

    /// The process's connection (`.db()` to run statements on it). Never hold it across
    /// another `Store` call.
    pub(crate) async fn lock(&self) -> MappedMutexGuard<'_, Conn> {
        MutexGuard::map(self.conn.lock().await, |conn| {
            conn.as_mut()
                .expect("the store is used after it was closed")
        })
    }

    /// Runs `step` in one write transaction and commits it; an error anywhere in it rolls
    /// the whole step back. `step` gets the transaction and the time of the write. A
    /// `--request-id` claim waiting for a write ([`Store::claim_request_with_next_write`])
    /// is inserted in the same transaction, so it commits with the step or not at all. A
    /// supervisor's store refuses the write once its attempt was taken from it
    /// ([`Store::check_fence`]).
    pub(crate) async fn write<T>(
        &self,
        step: impl AsyncFnOnce(&mut Db<'_>, i64) -> Result<T>,
    ) -> Result<T> {
        let now = now_ms();
        let claim = self.request_slot().take_pending();
        let mut lost = false;
        let result = async {
            let mut conn = self.lock().await;
            let mut tx = conn.begin().await?;
            let db = &mut tx.db();
            self.check_fence(db).await?;
            if let Some(claim) = &claim
                && !requests::insert_claim(db, claim, now).await?
            {
                lost = true;
                return Err(requests::claim_taken(&claim.0.request_id));
            }
            let out = step(db, now).await?;
            tx.commit().await?;
            Ok(out)
        }
        .await;
        self.request_slot().settle(claim, result.is_ok(), lost);
        result
    }

    /// A change detector for blocking verbs.
    pub async fn change_detector(&self) -> Result<ChangeDetector> {
        ChangeDetector::new(self.clone()).await
    }

    /// Runs pending migrations, fast when there are none (one `PRAGMA user_version`).
    async fn migrate(&self) -> Result<()> {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let mut guard = self.lock().await;
        let Conn::Sqlite(conn) = &mut *guard;
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
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
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

/// Notices commits made by other processes at next to no cost. Every commit in WAL
/// mode writes the `-wal` file, so an inotify watch on it wakes the waiter within
/// moments of the commit while an idle waiter sleeps in the kernel. `PRAGMA
/// data_version` stays the authority: it is asked on every wake-up, and every quarter
/// second regardless, in case a file system does not report writes (a network mount).
pub struct ChangeDetector {
    store: Store,
    /// Signalled by a watcher thread on every write to the `-wal` file.
    wal_written: Option<Arc<tokio::sync::Notify>>,
    version: i64,
}

const AUTHORITATIVE_EVERY: Duration = Duration::from_millis(250);

/// Starts a thread that blocks on an inotify watch of `wal` and signals each write.
/// The thread lives as long as the process (it sleeps in the kernel between writes).
fn watch_wal(wal: &Path) -> Option<Arc<tokio::sync::Notify>> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).ok()?;
    inotify
        .add_watch(
            wal,
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CLOSE_WRITE,
        )
        .ok()?;
    let notify = Arc::new(tokio::sync::Notify::new());
    let signal = notify.clone();
    std::thread::Builder::new()
        .name("orch-wal-watch".into())
        .spawn(move || {
            while inotify.read_events().is_ok() {
                signal.notify_one();
            }
        })
        .ok()?;
    Some(notify)
}

impl ChangeDetector {
    async fn new(store: Store) -> Result<ChangeDetector> {
        // Watch before the first read of data_version, so no commit falls in between.
        let mut wal = store.path.clone().into_os_string();
        wal.push("-wal");
        let wal_written = watch_wal(Path::new(&wal));
        let version = data_version(&store).await?;
        Ok(ChangeDetector {
            store,
            wal_written,
            version,
        })
    }

    /// True when another process has committed since the last call.
    pub async fn changed(&mut self) -> Result<bool> {
        let version = data_version(&self.store).await?;
        let changed = version != self.version;
        self.version = version;
        Ok(changed)
    }

    /// Waits until another process commits, or `deadline` passes (false then).
    pub async fn wait(&mut self, deadline: Option<tokio::time::Instant>) -> Result<bool> {
        loop {
            if self.changed().await? {
                return Ok(true);
            }
            let now = tokio::time::Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            let next = now + AUTHORITATIVE_EVERY;
            let until = deadline.map_or(next, |d| d.min(next));
            match &self.wal_written {
                Some(written) => {
                    tokio::select! {
                        _ = written.notified() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                None => {
                    // No inotify: poll often enough for a low wake latency.
                    let step = now + Duration::from_millis(5);
                    tokio::time::sleep_until(until.min(step)).await;
                }
            }
        }
    }
}

async fn data_version(store: &Store) -> Result<i64> {
    let mut conn = store.lock().await;
    let Conn::Sqlite(sqlite) = &mut *conn;
    Ok(sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(sqlite)
        .await?)
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

/// A fresh database in memory holding run `r` with the tasks given as `(task_id,
/// status)`, then changed by `then_sql` (raw SQL: rows written by other means).
#[cfg(test)]
pub(crate) async fn test_store(tasks: &[(&str, &str)], then_sql: &'static str) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    {
        let mut conn = store.lock().await;
        let db = &mut conn.db();
        let run = sql!("INSERT INTO runs (run_id, created_at, updated_at) VALUES ('r', 0, 0)");
        execute(db, run, args![]).await.unwrap();
        for (task_id, status) in tasks {
            let task = sql!(
                "INSERT INTO tasks (run_id, task_id, status, created_at, updated_at)
                 VALUES ('r', $1, $2, 0, 0)"
            );
            execute(db, task, args![*task_id, *status]).await.unwrap();
        }
        let Conn::Sqlite(sqlite) = &mut *conn;
        sqlx::raw_sql(then_sql).execute(sqlite).await.unwrap();
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stored_status_rows_print_timestamps_as_the_rust_format() {
        let store = test_store(&[("t", "ready")], "").await;
        let mut conn = store.lock().await;
        let db = &mut conn.db();
        for ms in [
            0_i64,
            1,
            999,
            1_000,
            1_795_364_669_123,
            1_795_364_669_999,
            1_795_364_669_001,
            4_102_444_799_999,
            951_782_400_000, // 2000-02-29
        ] {
            let update = sql!("UPDATE tasks SET updated_at = $1");
            execute(db, update, args![ms]).await.unwrap();
            let row = fetch_one(
                db,
                sql!(
                    "SELECT json_extract(status_json, '$.updated_at') AS stored,
                     json_extract(status_json, '$.latest_message') AS message FROM tasks"
                ),
                args![],
            )
            .await
            .unwrap();
            let stored: String = row.try_get("stored").unwrap();
            let message: Option<String> = row.try_get("message").unwrap();
            assert_eq!(stored, crate::time::rfc3339(ms), "{ms}");
            assert_eq!(message, None);
        }
    }
}
