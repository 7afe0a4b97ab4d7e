//! The one error type every verb returns, its machine code and its exit code
//! (contract §2). Every failure a user can cause maps to a code here; anything
//! unexpected is `internal_error`.

use std::fmt;

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
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn lease_conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::LeaseConflict, message)
    }
    pub fn no_matching_work(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NoMatchingWork, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::internal(format!("I/O error: {err}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
