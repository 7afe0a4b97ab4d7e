//! The backend-neutral layer under the store's SQL: what every query of the store is
//! written against, so that the backend (SQLite, the embedded default, or PostgreSQL,
//! for a run spanning hosts) is chosen in this file alone.
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
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{
    ColumnIndex, Connection, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction,
};

/// The advisory lock every PostgreSQL write transaction takes first: writers are
/// serialized as SQLite's `BEGIN IMMEDIATE` serializes them, so every invariant the
/// store keeps in one transaction holds across hosts too.
const PG_WRITE_LOCK: i64 = 0x6f72_6368; // "orch"

/// The connection a [`super::Store`] owns, of one backend.
pub(crate) enum Conn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Conn {
    /// The connection, to run statements on.
    pub(crate) fn db(&mut self) -> Db<'_> {
        match self {
            Conn::Sqlite(conn) => Db::Sqlite(conn),
            Conn::Pg(conn) => Db::Pg(conn),
        }
    }

    /// [`Db::begin`] on the connection.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        match self {
            Conn::Sqlite(conn) => begin_sqlite(conn, Begin::Write).await,
            Conn::Pg(conn) => begin_pg(conn, Begin::Write).await,
        }
    }

    /// Closes the connection; an error closing it is of no use to anyone.
    pub(crate) async fn close(self) {
        match self {
            Conn::Sqlite(conn) => {
                let _ = conn.close().await;
            }
            Conn::Pg(conn) => {
                let _ = conn.close().await;
            }
        }
    }
}

/// A connection or an open transaction, of one backend: what the store's queries run
/// on. Functions take `&mut Db<'_>` and pass it on as they would a connection.
pub(crate) enum Db<'c> {
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

/// How a transaction starts: the write lock at once, or a read snapshot.
#[derive(Clone, Copy)]
enum Begin {
    Write,
    Read,
}

impl Db<'_> {
    /// Whether the backend is PostgreSQL: for the few reads whose best shape differs
    /// (a page per round trip costs a server, not a function call).
    pub(crate) fn is_pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// Starts a write transaction that takes the write lock at once (SQLite's `BEGIN
    /// IMMEDIATE`), so it never fails half-way on a read-to-write lock upgrade, and
    /// writers are serialized.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(conn) => begin_sqlite(conn, Begin::Write).await,
            Db::Pg(conn) => begin_pg(conn, Begin::Write).await,
        }
    }

    /// Starts a read transaction: every read in it sees one snapshot (SQLite's `BEGIN
    /// DEFERRED`, PostgreSQL's `REPEATABLE READ READ ONLY`).
    pub(crate) async fn begin_read(&mut self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(conn) => begin_sqlite(conn, Begin::Read).await,
            Db::Pg(conn) => begin_pg(conn, Begin::Read).await,
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

/// A PostgreSQL write transaction takes [`PG_WRITE_LOCK`] before anything else (held to
/// its end); a read transaction is one `REPEATABLE READ` snapshot.
async fn begin_pg(conn: &mut PgConnection, how: Begin) -> Result<Tx<'_>> {
    match how {
        Begin::Write => {
            let mut tx = conn.begin_with("BEGIN").await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            Ok(Tx::Pg(tx))
        }
        Begin::Read => Ok(Tx::Pg(
            conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?,
        )),
    }
}

/// An open transaction; rolled back when dropped without [`Tx::commit`].
pub(crate) enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Pg(Transaction<'c, Postgres>),
}

impl Tx<'_> {
    /// The transaction, to run statements in.
    pub(crate) fn db(&mut self) -> Db<'_> {
        match self {
            Tx::Sqlite(tx) => Db::Sqlite(tx),
            Tx::Pg(tx) => Db::Pg(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.commit().await?),
            Tx::Pg(tx) => Ok(tx.commit().await?),
        }
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.rollback().await?),
            Tx::Pg(tx) => Ok(tx.rollback().await?),
        }
    }
}

/// A statement, with its text for each backend and how many parameters it binds.
/// Made by [`sql!`], which checks the texts at compile time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    sqlite: &'static str,
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

    /// The backend's arguments, NULLs typed as the value would have been (PostgreSQL
    /// types its NULLs); the texts are moved, not copied.
    fn into_backend<A: sqlx::Arguments>(self) -> Result<A>
    where
        for<'t> i64: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
        for<'t> f64: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
        for<'t> String: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
        for<'t> Option<i64>: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
        for<'t> Option<f64>: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
        for<'t> Option<String>: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
    {
        let mut out = A::default();
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
    Pg(PgRow),
}

impl From<SqliteRow> for Row {
    fn from(row: SqliteRow) -> Row {
        Row::Sqlite(row)
    }
}

impl From<PgRow> for Row {
    fn from(row: PgRow) -> Row {
        Row::Pg(row)
    }
}

impl Row {
    /// The column `name`, read as `T`.
    pub(crate) fn try_get<'r, T: Col<'r>>(&'r self, name: &str) -> Result<T> {
        match self {
            Row::Sqlite(row) => T::from_sqlite(row, name),
            Row::Pg(row) => T::from_pg(row, name),
        }
    }

    /// The first column, read as `T`.
    fn first<'r, T: Col<'r>>(&'r self) -> Result<T> {
        match self {
            Row::Sqlite(row) => T::from_sqlite(row, 0),
            Row::Pg(row) => T::from_pg(row, 0),
        }
    }
}

/// A type a column is read as: `i64`, `bool`, `f64`, `String`, `&str`, or an `Option` of
/// one (`None` for NULL). Lenient where the backends' types differ, so one read serves
/// both: on SQLite `bool` reads an integer (SQLite has no booleans); on PostgreSQL `i64`
/// is to read every integer width (`SELECT 1` is an `int4` there) and `bool` a boolean.
pub(crate) trait Col<'r>: Sized {
    fn from_sqlite<I: ColumnIndex<SqliteRow>>(row: &'r SqliteRow, index: I) -> Result<Self>;
    fn from_pg<I: ColumnIndex<PgRow>>(row: &'r PgRow, index: I) -> Result<Self>;
}

/// A PostgreSQL column's value, decoded by its own type: integers of every width (and
/// booleans as 0/1) as `i64`, floats as `f64`, text-like types as `&str`.
enum PgValue<'r> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'r str),
}

fn pg_value<'r, I: ColumnIndex<PgRow>>(row: &'r PgRow, index: I) -> Result<PgValue<'r>> {
    use sqlx::{Decode, Row as _, TypeInfo, ValueRef};
    let raw = row.try_get_raw(index)?;
    if raw.is_null() {
        return Ok(PgValue::Null);
    }
    let type_name = raw.type_info().name().to_owned();
    let bad = |e: sqlx::error::BoxDynError| {
        Error::internal(format!("cannot read a {type_name} column: {e}"))
    };
    Ok(match type_name.as_str() {
        "INT8" => PgValue::Int(<i64 as Decode<Postgres>>::decode(raw).map_err(bad)?),
        "INT4" => PgValue::Int(<i32 as Decode<Postgres>>::decode(raw).map_err(bad)?.into()),
        "INT2" => PgValue::Int(<i16 as Decode<Postgres>>::decode(raw).map_err(bad)?.into()),
        "BOOL" => PgValue::Int(<bool as Decode<Postgres>>::decode(raw).map_err(bad)?.into()),
        "FLOAT8" => PgValue::Real(<f64 as Decode<Postgres>>::decode(raw).map_err(bad)?),
        "FLOAT4" => PgValue::Real(<f32 as Decode<Postgres>>::decode(raw).map_err(bad)?.into()),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" | "JSON" => {
            // JSON's binary form is its text.
            PgValue::Text(<&str as Decode<Postgres>>::decode(raw).map_err(bad)?)
        }
        other => {
            return Err(Error::internal(format!(
                "a query returned a {other} column; the store reads only integers, floats, booleans and text (cast it)"
            )));
        }
    })
}

impl<'r> PgValue<'r> {
    fn int(self) -> Result<Option<i64>> {
        match self {
            PgValue::Null => Ok(None),
            PgValue::Int(n) => Ok(Some(n)),
            _ => Err(pg_mismatch("an integer")),
        }
    }

    fn real(self) -> Result<Option<f64>> {
        match self {
            PgValue::Null => Ok(None),
            PgValue::Real(x) => Ok(Some(x)),
            PgValue::Int(n) => Ok(Some(n as f64)),
            _ => Err(pg_mismatch("a number")),
        }
    }

    fn text(self) -> Result<Option<&'r str>> {
        match self {
            PgValue::Null => Ok(None),
            PgValue::Text(t) => Ok(Some(t)),
            _ => Err(pg_mismatch("text")),
        }
    }
}

fn pg_mismatch(wanted: &str) -> Error {
    Error::internal(format!("a column the store reads as {wanted} is not one"))
}

fn pg_required<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::internal("a column the store reads as non-null is NULL"))
}

macro_rules! cols {
    ($($t:ty => |$v:ident| $from_pg:expr;)*) => {$(
        impl<'r> Col<'r> for $t {
            fn from_sqlite<I: ColumnIndex<SqliteRow>>(row: &'r SqliteRow, index: I) -> Result<Self> {
                Ok(sqlx::Row::try_get(row, index)?)
            }
            fn from_pg<I: ColumnIndex<PgRow>>(row: &'r PgRow, index: I) -> Result<Self> {
                let $v = pg_value(row, index)?;
                $from_pg
            }
        }
    )*};
}

cols! {
    Option<i64> => |v| v.int();
    i64 => |v| pg_required(v.int()?);
    Option<bool> => |v| Ok(v.int()?.map(|n| n != 0));
    bool => |v| Ok(pg_required(v.int()?)? != 0);
    Option<f64> => |v| v.real();
    f64 => |v| pg_required(v.real()?);
    Option<&'r str> => |v| v.text();
    &'r str => |v| pg_required(v.text()?);
    Option<String> => |v| Ok(v.text()?.map(str::to_owned));
    String => |v| Ok(pg_required(v.text()?)?.to_owned());
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
                let $query = sqlx::query_with(sql.sqlite, args.into_backend::<SqliteArguments>()?);
                $run
            }
            Db::Pg($conn) => {
                let $query = sqlx::query_with(sql.pg, args.into_backend::<PgArguments>()?);
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
        Ok(query.fetch_optional(&mut **conn).await?.map(Row::from))
    })
}

/// Every row a query finds.
pub(crate) async fn fetch_all(db: &mut Db<'_>, sql: Sql, args: Args) -> Result<Vec<Row>> {
    on_backend!(db, sql, args, |query, conn| {
        let rows = query.fetch_all(&mut **conn).await?;
        Ok(rows.into_iter().map(Row::from).collect())
    })
}

/// The one row a query must find (an aggregate's).
pub(crate) async fn fetch_one(db: &mut Db<'_>, sql: Sql, args: Args) -> Result<Row> {
    on_backend!(db, sql, args, |query, conn| {
        Ok(Row::from(query.fetch_one(&mut **conn).await?))
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
        let mut conn = store.lock().await.unwrap();
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
