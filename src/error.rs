//! The one error type every verb returns, its machine code and its exit code
//! (contract §2). Every failure a user can cause maps to a code here; anything
//! unexpected is `internal_error`.
//!
//! Modules report their own errors as thiserror enums with their sources
//! ([`crate::process::pty::SpawnError`], [`crate::worktree::WorktreeError`],
//! [`crate::adapter::AdapterError`], [`crate::config::ConfigError`],
//! [`crate::ids::IdError`]); each maps to a code once, here, at the end of this file. An
//! I/O error always says which path or command it came from ([`IoContext`]): there is
//! no conversion from a bare `std::io::Error`.

use std::fmt;
use std::path::Path;

/// The machine-readable error codes of the JSON envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A wait/watch/wait-reply timed out, or a cleanup matched nothing.
    NoMatchingWork,
    /// Another agent holds the active lease.
    LeaseConflict,
    /// Bad or missing flags, bad JSON, mutually exclusive flags, unreadable files.
    InvalidInput,
    /// The verb is not allowed in the current state.
    InvalidState,
    /// Unknown run, task, thread, message or attempt.
    NotFound,
    /// Anything else: I/O, database corruption.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoMatchingWork => "no_matching_work",
            ErrorCode::LeaseConflict => "lease_conflict",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Internal => "internal_error",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            ErrorCode::NoMatchingWork => exit_code::NO_MATCHING_WORK,
            ErrorCode::LeaseConflict => exit_code::LEASE_CONFLICT,
            ErrorCode::InvalidInput | ErrorCode::InvalidState => exit_code::INVALID,
            ErrorCode::NotFound => exit_code::NOT_FOUND,
            ErrorCode::Internal => exit_code::INTERNAL,
        }
    }
}

/// Process exit codes (contract §2).
pub mod exit_code {
    pub const OK: u8 = 0;
    pub const NO_MATCHING_WORK: u8 = 10;
    pub const LEASE_CONFLICT: u8 = 20;
    pub const INVALID: u8 = 30;
    pub const NOT_FOUND: u8 = 40;
    pub const INTERNAL: u8 = 50;
}

/// An error with its code and one human sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

/// One constructor per error code: `Error::invalid_input("…")` is
/// `Error::new(ErrorCode::InvalidInput, "…")`.
macro_rules! constructors {
    ($($name:ident => $code:ident),+ $(,)?) => {
        impl Error {
            $(
                pub fn $name(message: impl Into<String>) -> Self {
                    Self::new(ErrorCode::$code, message)
                }
            )+
        }
    };
}

constructors! {
    invalid_input => InvalidInput,
    invalid_state => InvalidState,
    not_found => NotFound,
    lease_conflict => LeaseConflict,
    no_matching_work => NoMatchingWork,
    internal => Internal,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An I/O error with what it was about: the file or directory, or what was being done
/// (a command run, a handler installed).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct IoError {
    what: String,
    #[source]
    source: std::io::Error,
}

/// Puts the path or the action into an I/O error (`file.write_all(b).at(&path)?`).
pub trait IoContext<T> {
    /// The error names the file or directory: `I/O error on PATH: ERROR`.
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError>;
    /// The error says what was being done: `DOING: ERROR` (`cannot run git`).
    fn doing(self, what: &str) -> Result<T, IoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            what: format!("I/O error on {}", path.as_ref().display()),
            source,
        })
    }

    fn doing(self, what: &str) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            what: what.to_string(),
            source,
        })
    }
}

// The one mapping of every module error to the contract's codes.

impl From<IoError> for Error {
    fn from(err: IoError) -> Self {
        Error::internal(err.to_string())
    }
}

impl From<crate::ids::IdError> for Error {
    fn from(err: crate::ids::IdError) -> Self {
        Error::invalid_input(err.to_string())
    }
}

impl From<crate::process::pty::SpawnError> for Error {
    fn from(err: crate::process::pty::SpawnError) -> Self {
        Error::internal(err.to_string())
    }
}

impl From<crate::worktree::WorktreeError> for Error {
    fn from(err: crate::worktree::WorktreeError) -> Self {
        use crate::worktree::WorktreeError as W;
        let code = match &err {
            W::NotADirectory(_) | W::NotARepository { .. } | W::NotACommit { .. } => {
                ErrorCode::InvalidInput
            }
            W::BadRef(_) => ErrorCode::InvalidInput,
            W::PathInTheWay(_) | W::BranchExists(_) => ErrorCode::InvalidState,
            W::GitNotRun { .. }
            | W::GitFailed { .. }
            | W::NotACount { .. }
            | W::BundleUnverified { .. }
            | W::Io(_) => ErrorCode::Internal,
        };
        Error::new(code, err.to_string())
    }
}

impl From<crate::adapter::AdapterError> for Error {
    fn from(err: crate::adapter::AdapterError) -> Self {
        // A bad adapter file, placeholder or permission level is the user's to fix.
        Error::invalid_input(err.to_string())
    }
}

impl From<crate::config::ConfigError> for Error {
    fn from(err: crate::config::ConfigError) -> Self {
        // A bad config file, profile or worker name is the user's to fix.
        Error::invalid_input(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worktree::WorktreeError;

    #[test]
    fn an_io_error_names_its_path_or_action() {
        let missing = Path::new("no-such-dir").join("file");
        let err = Error::from(std::fs::read(&missing).at(&missing).unwrap_err());
        assert_eq!(err.code, ErrorCode::Internal);
        let prefix = format!("I/O error on {}: ", missing.display());
        assert!(err.message.starts_with(&prefix), "{}", err.message);
        let err = Error::from(std::fs::read(&missing).doing("cannot x").unwrap_err());
        assert!(err.message.starts_with("cannot x: "), "{}", err.message);
    }

    #[test]
    fn module_errors_map_once_to_the_contracts_codes() {
        let in_the_way = Error::from(WorktreeError::PathInTheWay("w".into()));
        assert_eq!(in_the_way.code, ErrorCode::InvalidState);
        assert_eq!(
            in_the_way.message,
            "worktree path w already exists; nothing was created"
        );
        let failed = Error::from(WorktreeError::GitFailed {
            command: "git status".into(),
            dir: "repo".into(),
            stderr: "fatal: broken".into(),
        });
        assert_eq!(failed.code, ErrorCode::Internal);
        assert_eq!(failed.message, "git status failed in repo: fatal: broken");
        let bad_ref = Error::from(WorktreeError::from(crate::ids::IdError::EmptyRef));
        assert_eq!(bad_ref.code, ErrorCode::InvalidInput);
        assert_eq!(bad_ref.message, "--base-ref is empty");
        let unknown = Error::from(crate::adapter::AdapterError::UnknownPlaceholder("x".into()));
        assert_eq!(unknown.code, ErrorCode::InvalidInput);
    }
}
