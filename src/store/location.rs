//! Where a database is: a SQLite file (a path, the embedded default) or a PostgreSQL
//! server (`postgres://…` / `postgresql://…`, the backend for a run spanning hosts), and
//! the state directory that goes with it (logs, locks, salvage).

use std::fmt;
use std::path::{Path, PathBuf};

/// A database location, as given by `--db` / `$ORCH_DB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL selects PostgreSQL; anything else is a
    /// SQLite path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }

    /// True for a database that several hosts can share.
    pub fn spans_hosts(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// What a child process (a worker, a supervisor, a detached `orch up`) is given as
    /// `--db` / `ORCH_DB`: the canonical path of a SQLite file, the URL of a server.
    pub fn for_children(&self) -> String {
        match self {
            Location::Sqlite(path) => std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
            Location::Postgres(url) => url.clone(),
        }
    }

    /// orch's state directory (logs, locks, salvage), absolute: beside a SQLite file;
    /// for a server, `$ORCH_STATE_DIR`, else `.orch/` at the top of the main worktree of
    /// the current directory's repository (else of the current directory). Each host
    /// keeps its own.
    pub fn state_dir(&self) -> PathBuf {
        let cwd = std::env::current_dir().unwrap_or_default();
        match self {
            Location::Sqlite(path) => {
                let parent = path.parent().unwrap_or(Path::new(""));
                let dir = crate::paths::absolute(&cwd, parent);
                std::fs::canonicalize(&dir).unwrap_or(dir)
            }
            Location::Postgres(_) => match std::env::var_os("ORCH_STATE_DIR") {
                Some(dir) if !dir.is_empty() => crate::paths::absolute(&cwd, Path::new(&dir)),
                _ => crate::paths::main_worktree_top(&cwd)
                    .unwrap_or(cwd)
                    .join(crate::paths::STATE_DIR),
            },
        }
    }
}

/// The location as the user gave it, with a server URL's password hidden.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_selects_postgres_and_anything_else_is_a_path() {
        assert_eq!(
            Location::parse("postgres://root@127.0.0.1/test"),
            Location::Postgres("postgres://root@127.0.0.1/test".into())
        );
        assert!(Location::parse("postgresql://h/db").spans_hosts());
        assert_eq!(
            Location::parse(".orch/coord.db"),
            Location::Sqlite(".orch/coord.db".into())
        );
        assert!(!Location::parse("postgres.db").spans_hosts());
    }

    #[test]
    fn a_password_is_never_shown() {
        let shown = Location::parse("postgres://u:hunter2@h:5432/db").to_string();
        assert_eq!(shown, "postgres://u:***@h:5432/db");
        assert_eq!(
            Location::parse("postgres://u@h/db").to_string(),
            "postgres://u@h/db"
        );
    }
}
