//! SQLite's own part of the store: opening a database file (0600, in a 0700 directory,
//! WAL mode), applying `migrations/` (tracked by `PRAGMA user_version`), its integrity
//! pragmas, and the change signal (`PRAGMA data_version`, woken by an inotify watch on
//! the `-wal` file).

use super::Conn;
use crate::error::{Error, Result};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens (creating if needed) the database at `path`, with its schema up to date.
pub(super) async fn open(path: &Path) -> Result<Conn> {
    prepare_file(path)?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("temp_store", "memory")
        .pragma("mmap_size", "268435456");
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| Error::internal(format!("cannot open database {}: {e}", path.display())))?;
    migrate(&mut conn, path).await?;
    Ok(Conn::Sqlite(conn))
}

/// A fresh database in memory with the whole schema.
pub(super) async fn open_in_memory() -> Result<Conn> {
    let options = SqliteConnectOptions::new()
        .in_memory(true)
        .foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    migrate(&mut conn, Path::new(":memory:")).await?;
    Ok(Conn::Sqlite(conn))
}

/// Runs pending migrations, fast when there are none (one `PRAGMA user_version`).
async fn migrate(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let current: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    if current == latest {
        return Ok(());
    }
    if current > latest {
        return Err(Error::internal(format!(
            "database {} has schema version {current}, newer than this orch supports ({latest}); upgrade orch",
            path.display()
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

/// `PRAGMA integrity_check` and `PRAGMA foreign_key_check`: the problems found.
pub(super) async fn integrity_problems(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let mut problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    problems.retain(|p| p != "ok");
    let dangling: Vec<(String, Option<i64>, String)> =
        sqlx::query_as("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check")
            .fetch_all(&mut *conn)
            .await?;
    problems.extend(
        dangling
            .into_iter()
            .map(|(table, rowid, parent)| format!("{table} row {rowid:?}: no {parent} row")),
    );
    Ok(problems)
}

/// `PRAGMA data_version`: changes when another connection commits.
pub(super) async fn data_version(conn: &mut SqliteConnection) -> Result<i64> {
    Ok(sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await?)
}

/// Runs raw SQL (test fixtures: rows written by other means).
#[cfg(test)]
pub(super) async fn raw(conn: &mut SqliteConnection, text: &'static str) -> Result<()> {
    sqlx::raw_sql(text).execute(conn).await?;
    Ok(())
}

/// Starts a thread that blocks on an inotify watch of the database's `-wal` file and
/// signals each write. The thread lives as long as the process (it sleeps in the
/// kernel between writes).
pub(super) fn watch_wal(db: &Path) -> Option<Arc<tokio::sync::Notify>> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let mut wal = db.to_path_buf().into_os_string();
    wal.push("-wal");
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).ok()?;
    inotify
        .add_watch(
            Path::new(&wal),
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
