//! The store: the only module that speaks SQL (sqlx over SQLite in WAL mode, the
//! embedded default, or over PostgreSQL, for a run spanning hosts).
//!
//! It owns opening the database (creating it and applying `migrations/` or
//! `migrations-postgres/` on first use, so every verb works on an empty database), the
//! short write transactions every state change runs in, the row mappings into
//! [`crate::model`] records, and the change detector blocking verbs wait on. Queries
//! are written against the backend-neutral layer of [`db`] (`Db`, `sql!`, `args!`,
//! `Row`); each backend's opening, migrating and change signal are in `sqlite.rs` and
//! `pg.rs`.

mod answers;
mod attempts;
mod db;
mod detector;
mod events;
mod fence;
mod hosts;
mod inbox;
mod inbox_read;
mod location;
mod next;
mod not_found;
mod notify;
mod pg;
mod plan_apply;
mod policy;
mod push;
mod reconcile;
mod requests;
mod rows;
mod runs;
#[doc(hidden)]
pub mod scratch;
mod sqlite;
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
pub use detector::ChangeDetector;
pub use events::{EventFilter, NewEvent};
pub use fence::{Claim, SupervisorRecord};
pub use hosts::{HostRecord, Taken, UpProcess};
pub use location::Location;
pub use next::{ANCHOR_EVENTS, Need, NextView};
pub use not_found::NotFound;
pub use policy::HistoryEntry;
pub use push::{AttemptPush, PushState};
pub use reconcile::{StatusView, TaskChange};
pub use requests::{ClaimOutcome, Owner, RecordedReply, RequestKey, StoredRequest};
pub use runs::NewRun;
pub use succession::AttemptBrief;
pub use supervision::{AttemptEnd, EndDetails, Supervision};
pub use tasks::{CheckSpec, NewTask, PlanInput, PlanTask, PlanTaskOutcome};
pub use threads::{FinishKind, MessageInput, Report, SendInput, ThreadFilter};
pub use verify::{CheckState, Gate};

pub(crate) use db::{
    Args, Conn, Db, IntoArg, Row, Sql, Tx, args, execute, fetch_all, fetch_one, fetch_optional,
    fetch_record, scalar, scalar_one, sql,
};
pub use pg::connections_lost;

use crate::error::{Error, ErrorCode, Result};
use crate::time::now_ms;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// The rule for repeating a read (statements that change nothing): one that met a lost
/// connection (a server restart cut it) is run again, reconnected by the store's next
/// lock, up to three times; repeating a read is always safe. A supervisor whose read
/// right after its worker started failed that way exited, leaving the worker's output
/// unlogged (a chaos trial's database outage on PostgreSQL).
pub(crate) struct ReadAgain {
    connections_lost: u64,
    tries: u32,
}

impl ReadAgain {
    pub(crate) fn new() -> ReadAgain {
        ReadAgain {
            connections_lost: pg::connections_lost(),
            tries: 0,
        }
    }

    /// `read`, unless it failed on a lost connection and may be run again (`None`).
    pub(crate) fn unless_lost<T>(&mut self, read: Result<T>) -> Option<Result<T>> {
        let lost = pg::connections_lost();
        match read {
            Err(e) if lost != self.connections_lost && self.tries < 3 => {
                tracing::info!(error = %e, "a read met a lost connection; trying again");
                self.connections_lost = lost;
                self.tries += 1;
                None
            }
            read => Some(read),
        }
    }
}

/// Runs `$read`, an expression reading through `$conn` (the store's locked connection,
/// `&mut Conn`), by the rule of [`ReadAgain`]: again, reconnected, when it met a lost
/// connection. The lock is let go between tries, so the next lock reconnects.
macro_rules! read_again {
    ($store:expr, $conn:ident => $read:expr) => {{
        let mut again = $crate::store::ReadAgain::new();
        loop {
            let read = match $store.lock().await {
                Ok(mut guard) => {
                    let $conn: &mut $crate::store::Conn = &mut guard;
                    $read
                }
                Err(e) => Err(e),
            };
            if let Some(read) = again.unless_lost(read) {
                break read;
            }
        }
    }};
}
pub(crate) use read_again;

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        pg::note_error(&err);
        match &err {
            sqlx::Error::Database(db) if db.message().contains("locked") => Error::internal(
                format!("database is locked (another process held it too long): {db}"),
            ),
            _ => Error::internal(format!("database error: {err}")),
        }
    }
}

/// An open orch database: one connection per process, shared by its tasks. Both
/// backends serialize writers anyway (PostgreSQL's through an advisory lock, see
/// `db.rs`), and one connection means no per-verb connection set-up and no hand-off to
/// a pool.
#[derive(Clone)]
pub struct Store {
    /// `None` once closed.
    conn: Arc<Mutex<Option<Conn>>>,
    /// PostgreSQL: when the connection was last handed out, and the count of lost
    /// connections it has seen (`pg::Liveness`).
    liveness: Arc<pg::Liveness>,
    location: Arc<Location>,
    state_dir: Arc<PathBuf>,
    /// The `--request-id` claim the next write carries, and the writes committed.
    requests: Arc<std::sync::Mutex<requests::RequestSlot>>,
    /// A supervisor's fence: the epoch of its attempt that every write checks
    /// (`fence.rs`); unset in every other process.
    fenced_to: Arc<std::sync::OnceLock<fence::Fence>>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up
    /// to date.
    pub async fn open(path: &Path) -> Result<Store> {
        Store::open_at(&Location::Sqlite(path.to_path_buf())).await
    }

    /// Opens the database at `location` (a SQLite file, created if needed, or a
    /// PostgreSQL server) and brings its schema up to date.
    pub async fn open_at(location: &Location) -> Result<Store> {
        let conn = match location {
            Location::Sqlite(path) => sqlite::open(path).await?,
            Location::Postgres(url) => pg::open(url).await?,
        };
        Ok(Store::with_conn(conn, location.clone()))
    }

    /// A fresh database in memory with the whole schema: for the store's own tests of
    /// its invariants (nothing touches the disk).
    pub async fn open_in_memory() -> Result<Store> {
        let conn = sqlite::open_in_memory().await?;
        Ok(Store::with_conn(
            conn,
            Location::Sqlite(PathBuf::from(":memory:")),
        ))
    }

    fn with_conn(conn: Conn, location: Location) -> Store {
        Store {
            conn: Arc::new(Mutex::new(Some(conn))),
            liveness: Arc::new(pg::Liveness::connected_now()),
            state_dir: Arc::new(location.state_dir()),
            location: Arc::new(location),
            requests: Arc::default(),
            fenced_to: Arc::default(),
        }
    }

    /// Closes the connection; the last one out checkpoints the WAL and removes it, so
    /// the next process does not have to recover it.
    pub async fn close(&self) {
        let conn = self.conn.lock().await.take();
        if let Some(conn) = conn {
            conn.close().await;
        }
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// orch's state directory for this database on this host (logs, locks, salvage):
    /// see [`Location::state_dir`].
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The environment an orch process this one starts (a supervisor, a detached `orch
    /// up`) gets to find the same database as this one does: the state directory and,
    /// on PostgreSQL, that the schema is up to date (so the child skips that check).
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("ORCH_STATE_DIR", self.state_dir.display().to_string())];
        if let Location::Postgres(_) = &*self.location {
            env.push((pg::SCHEMA_CHECKED, pg::latest_version().to_string()));
        }
        env
    }

    /// Opens the database at `location`, reports [`Store::integrity_problems`] (a check
    /// that fails is reported as a problem) and closes it; an error only when the
    /// database cannot be opened.
    pub async fn integrity_problems_at(location: &Location) -> Result<Vec<String>> {
        let store = Store::open_at(location).await?;
        let problems = store
            .integrity_problems()
            .await
            .unwrap_or_else(|e| vec![e.to_string()]);
        store.close().await;
        Ok(problems)
    }

    /// The backend's own checks (SQLite: `PRAGMA integrity_check` and
    /// `foreign_key_check`), and the stored status rows against a fresh rendering: the
    /// problems found, none when the database is sound.
    pub async fn integrity_problems(&self) -> Result<Vec<String>> {
        let mut conn = self.lock().await?;
        let mut problems = match &mut *conn {
            Conn::Sqlite(sqlite) => sqlite::integrity_problems(sqlite).await?,
            // PostgreSQL checks its pages and enforces its foreign keys itself.
            Conn::Pg(_) => Vec::new(),
        };
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
    ///
    /// On PostgreSQL it first makes sure the connection is alive: after a lost connection
    /// (a server restart) it reconnects, retrying for a while; after a second idle it
    /// pings first. So a long-lived process (`orch up`, a supervisor) goes on after a
    /// restart, with at most the statement that met the dead connection failed. An
    /// error when the connection was lost and cannot be made again (the database was
    /// dropped, the server refuses the role: at once; a server away for long: after a
    /// while).
    pub(crate) async fn lock(&self) -> Result<MappedMutexGuard<'_, Conn>> {
        let mut guard = self.conn.lock().await;
        if matches!(*guard, Some(Conn::Pg(_)))
            && let Location::Postgres(url) = &*self.location
        {
            self.liveness.ensure(&mut guard, url).await?;
        }
        Ok(MutexGuard::map(guard, |conn| {
            conn.as_mut()
                .expect("the store is used after it was closed")
        }))
    }

    /// Why this store's database is gone for good, once a reconnect found so (it was
    /// dropped, the server refuses the role): a supervisor then stops its worker, since
    /// nothing of the attempt can be recorded.
    pub fn database_gone(&self) -> Option<&str> {
        self.liveness.gone()
    }

    /// A read of one statement on the process's connection: every row it finds.
    pub(crate) async fn read_all(&self, sql: Sql, args: Args) -> Result<Vec<Row>> {
        read_again!(self, conn => fetch_all(&mut conn.db(), sql, args.clone()).await)
    }

    /// A read of one statement: the one row it finds, if any.
    pub(crate) async fn read_optional(&self, sql: Sql, args: Args) -> Result<Option<Row>> {
        read_again!(self, conn => fetch_optional(&mut conn.db(), sql, args.clone()).await)
    }

    /// A read of one statement: the one row it finds, if any, as a record ([`fetch_record`]).
    pub(crate) async fn read_record<T>(
        &self,
        sql: Sql,
        args: Args,
        record: fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        read_again!(self, conn => fetch_record(&mut conn.db(), sql, args.clone(), record).await)
    }

    /// A read of one statement: the first column of the one row it finds, if any.
    pub(crate) async fn read_scalar<T: for<'r> db::Col<'r>>(
        &self,
        sql: Sql,
        args: Args,
    ) -> Result<Option<T>> {
        read_again!(self, conn => scalar(&mut conn.db(), sql, args.clone()).await)
    }

    /// A read of one statement: the first column of the one row it must find.
    pub(crate) async fn read_scalar_one<T: for<'r> db::Col<'r>>(
        &self,
        sql: Sql,
        args: Args,
    ) -> Result<T> {
        read_again!(self, conn => scalar_one(&mut conn.db(), sql, args.clone()).await)
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
        let mut step = Some(step);
        let mut tries = 0;
        let result = loop {
            let connections_lost = pg::connections_lost();
            let attempt = async {
                let mut conn = self.lock().await.map_err(Begun::No)?;
                // Nothing is done until the transaction has begun: a begin that met a
                // lost connection (a server restart) is tried again, reconnected.
                let mut tx = conn.begin().await.map_err(Begun::No)?;
                let done = async {
                    let db = &mut tx.db();
                    self.check_fence(db).await?;
                    if let Some(claim) = &claim
                        && !requests::insert_claim(db, claim, now).await?
                    {
                        lost = true;
                        return Err(requests::claim_taken(&claim.0.request_id));
                    }
                    let step = step.take().expect("a write's step runs once");
                    step(db, now).await
                }
                .await;
                match done {
                    Ok(out) => {
                        tx.commit().await.map_err(Begun::Yes)?;
                        Ok(out)
                    }
                    // Rolled back now: a dropped transaction's rollback waits for the
                    // connection's next statement, and on PostgreSQL the write lock with
                    // it (a standby supervisor, whose next statement may be minutes
                    // away, held every writer up so).
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(Begun::Yes(e))
                    }
                }
            }
            .await;
            match attempt {
                Ok(out) => break Ok(out),
                Err(Begun::No(e)) if pg::connections_lost() != connections_lost && tries < 3 => {
                    tracing::info!(error = %e, "a write met a lost connection; trying again");
                    tries += 1;
                }
                Err(Begun::No(e) | Begun::Yes(e)) => break Err(e),
            }
        };
        self.request_slot().settle(claim, result.is_ok(), lost);
        result
    }

    /// A write of one statement ([`Store::write`]); `args` gets the time of the write.
    pub(crate) async fn write_statement(
        &self,
        sql: Sql,
        args: impl FnOnce(i64) -> Args,
    ) -> Result<()> {
        self.write(async |tx, now| execute(tx, sql, args(now)).await)
            .await?;
        Ok(())
    }

    /// A change detector for blocking verbs.
    pub async fn change_detector(&self) -> Result<ChangeDetector> {
        ChangeDetector::new(self.clone()).await
    }

    /// A change detector for a waiter that is most often gone within a second (a
    /// supervisor): on PostgreSQL it polls for that second before it opens a listening
    /// connection. Its wake-ups in that second come up to a quarter second late.
    pub async fn change_detector_listening_later(&self) -> Result<ChangeDetector> {
        ChangeDetector::new_listening_later(self.clone()).await
    }
}

/// How far a failed write got: its transaction not begun (nothing done, so it may be
/// tried again), or begun.
enum Begun {
    No(Error),
    Yes(Error),
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
        let mut conn = store.lock().await.unwrap();
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
        let Conn::Sqlite(sqlite) = &mut *conn else {
            unreachable!("test stores are SQLite")
        };
        sqlite::raw(sqlite, then_sql).await.unwrap();
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stored_status_rows_print_timestamps_as_the_rust_format() {
        let store = test_store(&[("t", "ready")], "").await;
        let mut conn = store.lock().await.unwrap();
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
