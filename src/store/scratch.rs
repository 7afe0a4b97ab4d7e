//! Scratch PostgreSQL databases for tests: the integration suite runs against
//! PostgreSQL when `ORCH_TEST_PG_URL` names a server (e.g.
//! `postgres://root@127.0.0.1:5432/test`), each test in a database of its own, created
//! here and dropped when the test ends. Not part of orch's behaviour.

use crate::error::{Error, Result};
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// The prefix of every scratch database's name: `orch_t_<pid>_<n>`.
const PREFIX: &str = "orch_t_";

async fn admin(server: &str) -> Result<PgConnection> {
    let options = sqlx::postgres::PgConnectOptions::from_str(server)
        .map_err(|e| Error::invalid_input(format!("ORCH_TEST_PG_URL: {e}")))?;
    Ok(options.connect().await?)
}

/// Creates an empty database on the server of `server` (a URL naming any database
/// there) and returns the URL of the new one. First drops the scratch databases of
/// test processes that are gone (a crashed run leaves its own).
pub async fn create(server: &str) -> Result<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut conn = admin(server).await?;
    sweep(&mut conn).await;
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    // A name we made of digits and a fixed prefix: safe to splice.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(with_database(server, &name))
}

/// Drops the scratch database at `url` (its connections too).
pub async fn drop(url: &str) -> Result<()> {
    let name = database_of(url)
        .filter(|n| {
            n.starts_with(PREFIX)
                && n[PREFIX.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'_')
        })
        .ok_or_else(|| Error::invalid_input(format!("{url} is not a scratch database")))?;
    let mut conn = admin(&with_database(url, "postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Drops scratch databases whose test process (by the pid in the name) is gone from
/// this machine.
async fn sweep(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'orch\\_t\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name[PREFIX.len()..].split('_').next().unwrap_or("");
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive
            && name[PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'_')
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

/// The database name in a URL's path.
fn database_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    Some(path.split('?').next().unwrap_or(path))
}

/// `url` with its database replaced by `name` (its query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{host}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_options_kept() {
        assert_eq!(
            with_database("postgres://root@h:5432/test?sslmode=disable", "orch_t_1_2"),
            "postgres://root@h:5432/orch_t_1_2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            database_of("postgres://h/orch_t_1_2?a=b"),
            Some("orch_t_1_2")
        );
    }
}
