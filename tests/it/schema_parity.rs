//! Schema parity, forever: the PostgreSQL schema (`migrations-postgres/`) must stay the twin
//! of the SQLite schema that `migrations/` build (CONVENTIONS.md, issue #13). The test
//! builds both for real — SQLite through `orch::store::Store::open` (orch's bundled SQLite
//! and every migration, as in production), PostgreSQL in a scratch database with
//! `migrations-postgres/*.sql` applied in order, each in one transaction — then compares
//! per table the columns in order (type class, NOT NULL, identity), primary keys, and the
//! names of the indexes, views and triggers, and checks PostgreSQL's own change triggers.
//!
//! TO THE NEXT AUTHOR OF A SQLite MIGRATION (`migrations/0016_…sql` and on): write its
//! PostgreSQL twin as the next file in `migrations-postgres/` (`0002_…sql`, then `0003_…`;
//! the PostgreSQL numbers are their own: `0001_schema.sql` is 0001..0015 squashed), following
//! CONVENTIONS.md (INTEGER -> BIGINT, REAL -> DOUBLE PRECISION, rowid keys -> identity, a
//! `<table>_changed` trigger on a new table, byte-identical `status_json` rendering), then
//! bump `SQLITE_LATEST` and `PG_LATEST` below. `migrations-postgres/check-parity.sh` checks
//! more (defaults, CHECKs, foreign keys, rendered rows): run it too.
//!
//! Needs a PostgreSQL server (`ORCH_TEST_PG_URL`, a database on it to connect to; the
//! scratch database is created beside it and dropped afterwards) and `psql` on PATH, so it
//! is ignored by a plain `cargo test`; `.ci/run` runs it with `--include-ignored`.
//! `ORCH_TEST_PG_MIGRATIONS=DIR` checks another directory of PostgreSQL migrations.

use sqlx::{Connection, Row, SqliteConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest SQLite migration (`migrations/NNNN_*.sql`) that has its PostgreSQL twin.
const SQLITE_LATEST: i64 = 16;
/// The newest PostgreSQL migration (`migrations-postgres/NNNN_*.sql`).
const PG_LATEST: i64 = 3;

/// Tables only the store's bookkeeping has: not part of the compared schema.
const BOOKKEEPING: &[&str] = &["_sqlx_migrations"];
/// PostgreSQL's one-row change counter (CONVENTIONS.md): PostgreSQL only.
const DATA_VERSION: &str = "orch_data_version";

#[test]
#[ignore = "needs PostgreSQL: ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test cargo test --test it -- --include-ignored schema_parity"]
fn postgres_schema_is_the_twin_of_sqlite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pg_dir = std::env::var_os("ORCH_TEST_PG_MIGRATIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("migrations-postgres"));
    let sqlite_files = migrations(&root.join("migrations"));
    let pg_files = migrations(&pg_dir);
    let sqlite_latest = sqlite_files.last().map_or(0, |m| m.0);
    let pg_latest = pg_files.last().map_or(0, |m| m.0);
    assert!(
        sqlite_latest == SQLITE_LATEST && pg_latest == PG_LATEST,
        "migrations/ ends at {sqlite_latest:04} and migrations-postgres/ at {pg_latest:04}; this \
         test knows {SQLITE_LATEST:04} and {PG_LATEST:04}. A new SQLite migration needs its \
         PostgreSQL twin: write migrations-postgres/{:04}_<name>.sql (CONVENTIONS.md), then set \
         SQLITE_LATEST and PG_LATEST in tests/it/schema_parity.rs and make this test pass.",
        PG_LATEST + 1
    );

    let server = pg_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (user_version, sqlite) = rt.block_on(sqlite_schema(&dir.path().join("coord.db")));
    assert_eq!(
        user_version, SQLITE_LATEST,
        "orch's store did not migrate a fresh database to the latest migrations/ version"
    );

    let scratch = Scratch::create(&server);
    for (_, file) in &pg_files {
        scratch.apply(file);
    }
    let (pg, changed, changed_count) = pg_schema(&scratch);
    drop(scratch);

    // Not a vacuous pass: the store's tables and PostgreSQL's change triggers were seen.
    assert!(
        sqlite.contains("table tasks") && sqlite.iter().any(|f| f.starts_with("trigger ")),
        "read no schema from SQLite: {sqlite:#?}"
    );
    println!(
        "compared {} facts of SQLite with {} of PostgreSQL; {} change triggers",
        sqlite.len(),
        pg.len(),
        changed_count
    );

    let mut problems = Vec::new();
    let only_sqlite: Vec<_> = sqlite.difference(&pg).collect();
    let only_pg: Vec<_> = pg.difference(&sqlite).collect();
    if !only_sqlite.is_empty() || !only_pg.is_empty() {
        let mut diff = String::from(
            "schemas differ (- SQLite, as PostgreSQL should have it; + PostgreSQL):\n",
        );
        for fact in &only_sqlite {
            diff += &format!("  - {fact}\n");
        }
        for fact in &only_pg {
            diff += &format!("  + {fact}\n");
        }
        problems.push(diff);
    }
    problems.extend(changed);
    assert!(
        problems.is_empty(),
        "\n{}\nmigrations-postgres/ must stay the twin of migrations/ (see the top of \
         tests/it/schema_parity.rs)\n",
        problems.join("\n")
    );
}

/// `DIR/NNNN_*.sql`, by number.
fn migrations(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut found: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let number = name.split('_').next()?.parse().ok()?;
            Some((number, path))
        })
        .collect();
    found.sort();
    found
}

/// The PostgreSQL server to make the scratch database on.
fn pg_server() -> String {
    std::env::var("ORCH_TEST_PG_URL").expect(
        "ORCH_TEST_PG_URL is not set: run with \
         ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test",
    )
}

/// The type class of a column: `integer`, `real` or `text` (else `other(TYPE)`).
fn class(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "smallint" => "integer".into(),
        "real" | "double precision" => "real".into(),
        "text" => "text".into(),
        other => format!("other({other})"),
    }
}

fn column_fact(
    table: &str,
    position: usize,
    name: &str,
    class: &str,
    not_null: bool,
    identity: bool,
) -> String {
    format!(
        "column {table} {position:02} {name} {class}{}{}",
        if not_null { " not null" } else { "" },
        if identity { " identity" } else { "" }
    )
}

/// Opens a fresh database at `path` through orch's store (all of `migrations/`), then reads
/// its schema: `PRAGMA user_version` and one normalized fact per line.
async fn sqlite_schema(path: &Path) -> (i64, BTreeSet<String>) {
    let store = orch::store::Store::open(path)
        .await
        .expect("orch opens a fresh database");
    store.close().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let user_version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();

    let mut facts = BTreeSet::new();
    let objects = sqlx::query(
        "SELECT type, name, tbl_name FROM sqlite_schema
         WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite!_%' ESCAPE '!'
         ORDER BY type, name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for object in objects {
        let kind: String = object.get(0);
        let name: String = object.get(1);
        let table: String = object.get(2);
        match kind.as_str() {
            "view" => {
                facts.insert(format!("view {name}"));
            }
            "trigger" => {
                facts.insert(format!("trigger {name} on {table}"));
            }
            _ if BOOKKEEPING.contains(&name.as_str()) => {}
            _ => {
                facts.insert(format!("table {name}"));
                let columns = sqlx::query(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
                )
                .bind(&name)
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let indexes = sqlx::query("SELECT name, origin FROM pragma_index_list($1)")
                    .bind(&name)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                let foreign: BTreeSet<String> =
                    sqlx::query("SELECT \"from\" FROM pragma_foreign_key_list($1)")
                        .bind(&name)
                        .fetch_all(&mut conn)
                        .await
                        .unwrap()
                        .iter()
                        .map(|row| row.get::<String, _>("from"))
                        .collect();
                // A rowid alias (an INTEGER PRIMARY KEY of one column, so no index of
                // origin 'pk') that is not also a foreign key is a surrogate key: an identity
                // column on PostgreSQL (CONVENTIONS.md, as check-parity.sh decides).
                let pk_columns = columns.iter().filter(|c| c.get::<i64, _>("pk") > 0).count();
                let pk_index = indexes.iter().any(|i| i.get::<String, _>("origin") == "pk");
                let mut pk = BTreeMap::new();
                for (position, column) in columns.iter().enumerate() {
                    let column_name: String = column.get("name");
                    let declared: String = column.get("type");
                    let not_null: bool = column.get("notnull");
                    let key: i64 = column.get("pk");
                    if key > 0 {
                        pk.insert(key, column_name.clone());
                    }
                    let identity = declared.eq_ignore_ascii_case("integer")
                        && key == 1
                        && pk_columns == 1
                        && !pk_index
                        && !foreign.contains(&column_name);
                    facts.insert(column_fact(
                        &name,
                        position + 1,
                        &column_name,
                        &class(&declared),
                        not_null || key > 0,
                        identity,
                    ));
                }
                if !pk.is_empty() {
                    let pk: Vec<String> = pk.into_values().collect();
                    facts.insert(format!("primary key {name} ({})", pk.join(",")));
                }
                // CREATE INDEX ones only: those of PRIMARY KEY / UNIQUE are auto-named.
                for index in &indexes {
                    if index.get::<String, _>("origin") != "c" {
                        continue;
                    }
                    let index_name: String = index.get("name");
                    let key_columns: Vec<String> =
                        sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                            .bind(&index_name)
                            .fetch_all(&mut conn)
                            .await
                            .unwrap()
                            .iter()
                            .map(|row| row.get::<Option<String>, _>("name").unwrap_or_default())
                            .collect();
                    facts.insert(format!(
                        "index {index_name} on {name} ({})",
                        key_columns.join(",")
                    ));
                }
            }
        }
    }
    conn.close().await.unwrap();
    (user_version, facts)
}

/// Reads the scratch database's schema as the same facts as `sqlite_schema`, and checks
/// PostgreSQL's own additions: the `orch_data_version` table and a `<table>_changed`
/// trigger on every other table (returned as problems, with the number of `_changed`
/// triggers, which are left out of the facts).
fn pg_schema(db: &Scratch) -> (BTreeSet<String>, Vec<String>, usize) {
    let mut facts = BTreeSet::new();
    let mut problems = Vec::new();
    let schema = "c.relnamespace = current_schema()::regnamespace";

    let mut tables = BTreeSet::new();
    let columns = db.query(&format!(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                a.attidentity <> ''
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE {schema} AND c.relkind IN ('r', 'p')
         ORDER BY c.relname, a.attnum"
    ));
    let mut position = 0;
    let mut last = String::new();
    for row in &columns {
        let table = row[0].as_str();
        if BOOKKEEPING.contains(&table) || table == DATA_VERSION {
            tables.insert(table.to_string());
            continue;
        }
        if table != last {
            facts.insert(format!("table {table}"));
            tables.insert(table.to_string());
            last = table.to_string();
            position = 0;
        }
        position += 1;
        facts.insert(column_fact(
            table,
            position,
            &row[1],
            &class(&row[2]),
            row[3] == "t",
            row[4] == "t",
        ));
    }
    if !tables.contains(DATA_VERSION) {
        problems.push(format!(
            "PostgreSQL has no {DATA_VERSION} table (CONVENTIONS.md)"
        ));
    }

    for row in db.query(&format!(
        "SELECT c.relname,
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum)
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
         WHERE {schema} AND con.contype = 'p'"
    )) {
        if !BOOKKEEPING.contains(&row[0].as_str()) && row[0] != DATA_VERSION {
            facts.insert(format!("primary key {} ({})", row[0], row[1]));
        }
    }

    // Indexes not made for a constraint (PRIMARY KEY / UNIQUE ones are auto-named).
    for row in db.query(&format!(
        "SELECT ic.relname, c.relname,
                (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ',' ORDER BY k)
                 FROM generate_series(1, i.indnkeyatts) AS k)
         FROM pg_index i
         JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_class c ON c.oid = i.indrelid
         WHERE {schema}
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                           AND con.conrelid = i.indrelid)"
    )) {
        facts.insert(format!("index {} on {} ({})", row[0], row[1], row[2]));
    }

    for row in db.query(&format!(
        "SELECT c.relname FROM pg_class c WHERE {schema} AND c.relkind IN ('v', 'm')"
    )) {
        facts.insert(format!("view {}", row[0]));
    }

    let mut changed = BTreeSet::new();
    for row in db.query(&format!(
        "SELECT t.tgname, c.relname, t.tgtype & 1 = 0
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE {schema} AND NOT t.tgisinternal"
    )) {
        let (name, table) = (&row[0], &row[1]);
        if *name == format!("{table}_changed") {
            if row[2] != "t" {
                problems.push(format!(
                    "PostgreSQL's change trigger {name} is not statement-level"
                ));
            }
            changed.insert(table.clone());
        } else {
            facts.insert(format!("trigger {name} on {table}"));
        }
    }
    for table in &tables {
        let wants = !BOOKKEEPING.contains(&table.as_str()) && table != DATA_VERSION;
        if wants && !changed.contains(table) {
            problems.push(format!(
                "PostgreSQL table {table} has no change trigger {table}_changed \
                 (AFTER INSERT OR UPDATE OR DELETE FOR EACH STATEMENT, CONVENTIONS.md)"
            ));
        }
        if !wants && changed.contains(table) {
            problems.push(format!(
                "PostgreSQL table {table} should have no change trigger"
            ));
        }
    }
    (facts, problems, changed.len())
}

/// A scratch PostgreSQL database beside the server's, dropped when this is.
struct Scratch {
    server: String,
    name: String,
    url: String,
}

impl Scratch {
    fn create(server: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("orch_schema_parity_{}_{nanos}", std::process::id());
        psql(server, &["-c", &format!("CREATE DATABASE {name}")]);
        // postgres://user@host:port/DB[?params] -> the same with the scratch database
        let (base, params) = server.split_once('?').unwrap_or((server, ""));
        let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
        let mut url = format!("{base}/{name}");
        if !params.is_empty() {
            url = format!("{url}?{params}");
        }
        Scratch {
            server: server.to_string(),
            name,
            url,
        }
    }

    /// Applies one migration file in one transaction, stopping at its first error.
    fn apply(&self, file: &Path) {
        psql(
            &self.url,
            &["--single-transaction", "-f", file.to_str().unwrap()],
        );
    }

    /// The rows of `sql`, each as its fields.
    fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let out = psql(&self.url, &["-At", "-F", "\u{1f}", "-c", sql]);
        out.lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('\u{1f}').map(str::to_string).collect())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let out = Command::new("psql")
            .args([&self.server, "-Xq", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
        if !out.is_ok_and(|out| out.status.success()) {
            eprintln!("warning: could not drop the scratch database {}", self.name);
        }
    }
}

/// Runs `psql URL -X -v ON_ERROR_STOP=1 ARGS` and returns its output; panics on failure.
fn psql(url: &str, args: &[&str]) -> String {
    let out = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGCLIENTENCODING", "UTF8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (needed on PATH): {e}"));
    assert!(
        out.status.success(),
        "psql {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
