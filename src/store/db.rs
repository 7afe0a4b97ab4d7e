//! The backend-neutral layer under the store's SQL: what every query of the store is
//! written against, so that the backend (today SQLite; PostgreSQL next, issue #13) is
//! chosen in this file alone.
//!
//! - [`Db`] is a connection (or an open transaction) of one backend, [`Conn`] the one
//!   a [`super::Store`] owns and [`Tx`] a transaction on it.
//! - [`Sql`] is a statement: one text for both backends (`sql!("…")`) or one per
//!   backend (`sql!(sqlite: "…", pg: "…")`). Parameters are `$1`, `$2`, …: both backends
//!   read them, and `sql!` refuses `?` and gaps at compile time.
//! - [`Args`] (`args![a, b]`) are the values bound to `$1`, `$2`, …, converted to the
//!   backend's arguments when the statement runs.
//! - [`Row`] is a result row; [`Row::try_get`] reads a column as any [`Col`] type.
//! - [`execute`], [`fetch_optional`], [`fetch_all`], [`fetch_one`], [`fetch_record`],
//!   [`scalar`] and [`scalar_one`] run a statement: the only places that dispatch on
//!   the backend, so the store's queries are not generic over it.

use crate::error::{Error, Result};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{ColumnIndex, Connection, Sqlite, SqliteConnection, Transaction};

/// The connection a [`super::Store`] owns, of one backend.
pub(crate) enum Conn {
    Sqlite(SqliteConnection),
}

impl Conn {
    /// The connection, to run statements on.
    pub(crate) fn db(&mut self) -> Db<'_> {
        match self {
            Conn::Sqlite(conn) => Db::Sqlite(conn),
        }
    }

    /// [`Db::begin`] on the connection.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        match self {
            Conn::Sqlite(conn) => begin_sqlite(conn, Begin::Write).await,
        }
    }

    /// Closes the connection; an error closing it is of no use to anyone.
    pub(crate) async fn close(self) {
        match self {
            Conn::Sqlite(conn) => {
                let _ = conn.close().await;
            }
        }
    }
}

/// A connection or an open transaction, of one backend: what the store's queries run
/// on. Functions take `&mut Db<'_>` and pass it on as they would a connection.
pub(crate) enum Db<'c> {
    Sqlite(&'c mut SqliteConnection),
}

/// How a transaction starts: the write lock at once, or a read snapshot.
#[derive(Clone, Copy)]
enum Begin {
    Write,
    Read,
}

impl Db<'_> {
    /// Starts a write transaction that takes the write lock at once (SQLite's `BEGIN
    /// IMMEDIATE`), so it never fails half-way on a read-to-write lock upgrade, and
    /// writers are serialized.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(conn) => begin_sqlite(conn, Begin::Write).await,
        }
    }

    /// Starts a read transaction: every read in it sees one snapshot (SQLite's `BEGIN
    /// DEFERRED`).
    pub(crate) async fn begin_read(&mut self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(conn) => begin_sqlite(conn, Begin::Read).await,
        }
    }
}

async fn begin_sqlite(conn: &mut SqliteConnection, how: Begin) -> Result<Tx<'_>> {
    let statement = match how {
        Begin::Write => "BEGIN IMMEDIATE",
        Begin::Read => "BEGIN DEFERRED",
    };
    Ok(Tx::Sqlite(conn.begin_with(statement).await?))
}

/// An open transaction; rolled back when dropped without [`Tx::commit`].
pub(crate) enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
}

impl Tx<'_> {
    /// The transaction, to run statements in.
    pub(crate) fn db(&mut self) -> Db<'_> {
        match self {
            Tx::Sqlite(tx) => Db::Sqlite(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.commit().await?),
        }
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.rollback().await?),
        }
    }
}

/// A statement, with its text for each backend and how many parameters it binds.
/// Made by [`sql!`], which checks the texts at compile time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    sqlite: &'static str,
    /// The PostgreSQL text, used once that backend exists.
    #[allow(dead_code)]
    pg: &'static str,
    /// The highest `$N`; every `$1` … `$N` occurs.
    params: usize,
}

impl Sql {
    /// One text for both backends.
    pub(crate) const fn shared(text: &'static str) -> Sql {
        Sql {
            sqlite: text,
            pg: text,
            params: parameters(text),
        }
    }

    /// A text per backend; both bind the same parameters.
    pub(crate) const fn split(sqlite: &'static str, pg: &'static str) -> Sql {
        let params = parameters(sqlite);
        assert!(
            params == parameters(pg),
            "the SQLite and PostgreSQL texts of a statement bind different parameters"
        );
        Sql { sqlite, pg, params }
    }
}

/// A statement: `sql!("SELECT … WHERE run_id = $1")` for a text both backends run, or
/// `sql!(sqlite: "…", pg: "…")` where their dialects differ. Evaluated at compile time:
/// a `?` parameter, or a gap in `$1` … `$N`, fails the build.
macro_rules! sql {
    (sqlite: $sqlite:expr, pg: $pg:expr $(,)?) => {{
        const SQL: $crate::store::Sql = $crate::store::Sql::split($sqlite, $pg);
        SQL
    }};
    ($text:expr) => {{
        const SQL: $crate::store::Sql = $crate::store::Sql::shared($text);
        SQL
    }};
}
pub(crate) use sql;

/// The highest `$N` of a statement's text, outside quotes and comments; panics (at
/// compile time, from [`sql!`]) on a `?` parameter or a `$N` missing below the highest.
const fn parameters(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut seen, mut highest) = (0, 0u128, 0);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
            }
            b'-' if i + 1 < bytes.len() && bytes[i + 1] == b'-' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => panic!("a statement uses a ? parameter; write $1, $2, …"),
            b'$' => {
                let mut n = 0;
                while i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit() {
                    i += 1;
                    n = n * 10 + (bytes[i] - b'0') as usize;
                }
                assert!(
                    n >= 1 && n <= 100,
                    "a statement has a $ that is not $1 … $100"
                );
                seen |= 1 << n;
                if n > highest {
                    highest = n;
                }
            }
            _ => {}
        }
        i += 1;
    }
    // Bits 1 ..= highest all set.
    let all = (1u128 << (highest + 1)) - 2;
    assert!(seen == all, "a statement skips a parameter number");
    highest
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// SQL NULL, of the type the value would have had (PostgreSQL types its NULLs).
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
}

/// The type of a bound value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
}

/// A Rust value that binds as one [`Arg`].
pub(crate) trait IntoArg {
    const KIND: Kind;
    fn into_arg(self) -> Arg;
}

macro_rules! into_arg {
    ($($t:ty => $kind:ident, $v:ident => $arg:expr;)*) => {$(
        impl IntoArg for $t {
            const KIND: Kind = Kind::$kind;
            fn into_arg(self) -> Arg {
                let $v = self;
                $arg
            }
        }
    )*};
}

into_arg! {
    i64 => Int, v => Arg::Int(v);
    f64 => Real, v => Arg::Real(v);
    String => Text, v => Arg::Text(v);
    &String => Text, v => Arg::Text(v.clone());
    &str => Text, v => Arg::Text(v.to_owned());
}

impl<T: IntoArg> IntoArg for Option<T> {
    const KIND: Kind = T::KIND;
    fn into_arg(self) -> Arg {
        match self {
            Some(value) => value.into_arg(),
            None => Arg::Null(T::KIND),
        }
    }
}

impl<'a, T> IntoArg for &'a Option<T>
where
    &'a T: IntoArg,
{
    const KIND: Kind = <&'a T as IntoArg>::KIND;
    fn into_arg(self) -> Arg {
        self.as_ref().into_arg()
    }
}

/// The values bound to a statement's `$1`, `$2`, …, in order: `args![run_id, now]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Args(Vec<Arg>);

impl From<Vec<Arg>> for Args {
    fn from(values: Vec<Arg>) -> Self {
        Args(values)
    }
}

impl Args {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// SQLite's arguments; the texts are moved, not copied.
    fn into_sqlite(self) -> Result<SqliteArguments> {
        use sqlx::Arguments;
        let mut out = SqliteArguments::default();
        out.reserve(self.0.len(), 0);
        for arg in self.0 {
            match arg {
                Arg::Null(Kind::Int) => out.add(None::<i64>),
                Arg::Null(Kind::Real) => out.add(None::<f64>),
                Arg::Null(Kind::Text) => out.add(None::<String>),
                Arg::Int(v) => out.add(v),
                Arg::Real(v) => out.add(v),
                Arg::Text(v) => out.add(v),
            }
            .map_err(|e| Error::internal(format!("cannot bind a value: {e}")))?;
        }
        Ok(out)
    }
}

/// The values bound to a statement's `$1`, `$2`, …, in order: `args![run_id, now]`.
/// Each is an `i64`, `f64`, `String`, `&str` or `&String`, or an `Option` of one.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        $crate::store::Args::from(vec![$($crate::store::IntoArg::into_arg($value)),*])
    };
}
pub(crate) use args;

/// A row a query returned.
pub(crate) enum Row {
    Sqlite(SqliteRow),
}

impl Row {
    /// The column `name`, read as `T`.
    pub(crate) fn try_get<'r, T: Col<'r>>(&'r self, name: &str) -> Result<T> {
        match self {
            Row::Sqlite(row) => T::from_sqlite(row, name),
        }
    }

    /// The first column, read as `T`.
    fn first<'r, T: Col<'r>>(&'r self) -> Result<T> {
        match self {
            Row::Sqlite(row) => T::from_sqlite(row, 0),
        }
    }
}

/// A type a column is read as: `i64`, `bool`, `f64`, `String`, `&str`, or an `Option` of
/// one (`None` for NULL). Lenient where the backends' types differ, so one read serves
/// both: on SQLite `bool` reads an integer (SQLite has no booleans); on PostgreSQL `i64`
/// is to read every integer width (`SELECT 1` is an `int4` there) and `bool` a boolean.
pub(crate) trait Col<'r>: Sized {
    fn from_sqlite<I: ColumnIndex<SqliteRow>>(row: &'r SqliteRow, index: I) -> Result<Self>;
}

macro_rules! sqlite_col {
    ($($t:ty),*) => {$(
        impl<'r> Col<'r> for $t {
            fn from_sqlite<I: ColumnIndex<SqliteRow>>(row: &'r SqliteRow, index: I) -> Result<Self> {
                Ok(sqlx::Row::try_get(row, index)?)
            }
        }
    )*};
}

sqlite_col!(
    i64,
    Option<i64>,
    bool,
    Option<bool>,
    f64,
    Option<f64>,
    String,
    Option<String>
);

impl<'r> Col<'r> for &'r str {
    fn from_sqlite<I: ColumnIndex<SqliteRow>>(row: &'r SqliteRow, index: I) -> Result<Self> {
        Ok(sqlx::Row::try_get(row, index)?)
    }
}

impl<'r> Col<'r> for Option<&'r str> {
    fn from_sqlite<I: ColumnIndex<SqliteRow>>(row: &'r SqliteRow, index: I) -> Result<Self> {
        Ok(sqlx::Row::try_get(row, index)?)
    }
}

/// The backend's query for `sql` with `args`: `on_backend!(db, sql, args, |query, conn|
/// expression)`, one arm per backend. In debug builds, checks that `args` has a value for
/// each parameter (SQLite would bind NULL to a missing one, silently).
macro_rules! on_backend {
    ($db:expr, $sql:expr, $args:expr, |$query:ident, $conn:ident| $run:expr) => {{
        let (sql, args): (Sql, Args) = ($sql, $args);
        debug_assert_eq!(
            sql.params,
            args.len(),
            "statement binds {} parameters, given {} values: {}",
            sql.params,
            args.len(),
            sql.sqlite
        );
        match $db {
            Db::Sqlite($conn) => {
                let $query = sqlx::query_with(sql.sqlite, args.into_sqlite()?);
                $run
            }
        }
    }};
}

/// Runs one statement; the number of rows it changed.
pub(crate) async fn execute(db: &mut Db<'_>, sql: Sql, args: Args) -> Result<u64> {
    on_backend!(db, sql, args, |query, conn| {
        Ok(query.execute(&mut **conn).await?.rows_affected())
    })
}

/// The one row a query finds, if any.
pub(crate) async fn fetch_optional(db: &mut Db<'_>, sql: Sql, args: Args) -> Result<Option<Row>> {
    on_backend!(db, sql, args, |query, conn| {
        Ok(query.fetch_optional(&mut **conn).await?.map(Row::Sqlite))
    })
}

/// Every row a query finds.
pub(crate) async fn fetch_all(db: &mut Db<'_>, sql: Sql, args: Args) -> Result<Vec<Row>> {
    on_backend!(db, sql, args, |query, conn| {
        let rows = query.fetch_all(&mut **conn).await?;
        Ok(rows.into_iter().map(Row::Sqlite).collect())
    })
}

/// The one row a query must find (an aggregate's).
pub(crate) async fn fetch_one(db: &mut Db<'_>, sql: Sql, args: Args) -> Result<Row> {
    on_backend!(db, sql, args, |query, conn| {
        Ok(Row::Sqlite(query.fetch_one(&mut **conn).await?))
    })
}

/// The one row a query finds, if any, read as a record by `record` (a [`super::rows`]
/// mapping).
pub(crate) async fn fetch_record<T>(
    db: &mut Db<'_>,
    sql: Sql,
    args: Args,
    record: fn(&Row) -> Result<T>,
) -> Result<Option<T>> {
    let row = fetch_optional(db, sql, args).await?;
    row.as_ref().map(record).transpose()
}

/// The first column of the one row a query finds, if any.
pub(crate) async fn scalar<T: for<'r> Col<'r>>(
    db: &mut Db<'_>,
    sql: Sql,
    args: Args,
) -> Result<Option<T>> {
    let row = fetch_optional(db, sql, args).await?;
    row.as_ref().map(|row| row.first()).transpose()
}

/// The first column of the one row a query must find (an aggregate, `RETURNING`).
pub(crate) async fn scalar_one<T: for<'r> Col<'r>>(
    db: &mut Db<'_>,
    sql: Sql,
    args: Args,
) -> Result<T> {
    fetch_one(db, sql, args).await?.first()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_counted_outside_quotes_and_comments() {
        assert_eq!(parameters("SELECT 1"), 0);
        assert_eq!(parameters("SELECT $1, $2 WHERE a = $1"), 2);
        assert_eq!(parameters("SELECT '$9?' -- $8 ?\n, \"$7\", $1"), 1);
        assert_eq!(
            parameters("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            11
        );
    }

    #[test]
    #[should_panic(expected = "? parameter")]
    fn a_question_mark_parameter_is_refused() {
        parameters("SELECT * FROM t WHERE a = ?");
    }

    #[test]
    #[should_panic(expected = "skips a parameter")]
    fn a_gap_in_the_parameters_is_refused() {
        parameters("SELECT * FROM t WHERE a = $1 AND b = $3");
    }

    #[test]
    fn args_keep_their_order_and_type_their_nulls() {
        let name = String::from("n");
        let none: Option<&str> = None;
        let args = args![1_i64, "a", &name, none, Some(2.5_f64), &Some(name.clone())];
        let kinds: Vec<String> = args.0.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(
            kinds,
            [
                "Int(1)",
                "Text(\"a\")",
                "Text(\"n\")",
                "Null(Text)",
                "Real(2.5)",
                "Text(\"n\")"
            ]
        );
    }

    #[tokio::test]
    async fn a_statement_runs_on_the_store_connection_and_its_row_reads_lenient_types() {
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let mut conn = store.lock().await;
        let db = &mut conn.db();
        let row = fetch_one(
            db,
            sql!("SELECT $1 AS n, $1 > 1 AS big, $2 AS text, $3 AS missing"),
            args![7_i64, "seven", None::<i64>],
        )
        .await
        .unwrap();
        assert_eq!(row.try_get::<i64>("n").unwrap(), 7);
        assert!(row.try_get::<bool>("big").unwrap());
        assert_eq!(row.try_get::<&str>("text").unwrap(), "seven");
        assert_eq!(row.try_get::<Option<String>>("missing").unwrap(), None);
        let mut tx = db.begin().await.unwrap();
        let count: i64 = scalar_one(&mut tx.db(), sql!("SELECT count(*) FROM runs"), args![])
            .await
            .unwrap();
        assert_eq!(count, 0);
        tx.rollback().await.unwrap();
    }
}
