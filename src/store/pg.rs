//! PostgreSQL's own part of the store: connecting to a server, applying
//! `migrations-postgres/` (sqlx's migration table, under its advisory lock), and the
//! change signal: every commit that changes a table bumps `orch_data_version` and
//! notifies channel `orch_changes` (triggers of the schema), which a listener
//! connection hears.

use super::Conn;
use crate::error::{Error, Result};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, PgConnection};
use std::str::FromStr;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations-postgres");

/// The channel the schema's triggers notify on every change.
const CHANNEL: &str = "orch_changes";

fn options(url: &str) -> Result<PgConnectOptions> {
    let shown = super::Location::Postgres(url.to_owned());
    Ok(PgConnectOptions::from_str(url)
        .map_err(|e| Error::invalid_input(format!("--db {shown}: not a PostgreSQL URL: {e}")))?
        .application_name("orch"))
}

/// Connects to the server at `url` and brings the schema up to date.
pub(super) async fn open(url: &str) -> Result<Conn> {
    let shown = super::Location::Postgres(url.to_owned());
    let mut conn = options(url)?
        .connect()
        .await
        .map_err(|e| Error::internal(format!("cannot connect to database {shown}: {e}")))?;
    migrate(&mut conn)
        .await
        .map_err(|e| Error::internal(format!("cannot bring database {shown} up to date: {e}")))?;
    Ok(Conn::Pg(conn))
}

/// Applies pending migrations; one query when there are none.
async fn migrate(conn: &mut PgConnection) -> Result<()> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar(
        "SELECT max(version) FROM _sqlx_migrations WHERE success
         AND to_regclass('_sqlx_migrations') IS NOT NULL",
    )
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
