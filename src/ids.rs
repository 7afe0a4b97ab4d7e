//! Identifiers: which user-supplied ids are acceptable, and how orch makes new ones.
//!
//! Run and task ids become path components (`<root>/<run>/<task>/attempt-<n>`) and
//! parts of git branch names, so they are restricted to a portable, inert alphabet:
//! ASCII letters, digits, `_`, `-` and `.`, not starting with `-` or `.`, no `..`,
//! not ending in `.` or `.lock`, at most 128 bytes. Anything else is refused before
//! anything is written.

use std::sync::atomic::{AtomicU32, Ordering};

const MAX_ID_LEN: usize = 128;

/// An id or ref the user gave that orch refuses (`invalid_input`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// `what` names the id ("run id", "task id"); `problem` says what is wrong with it.
    #[error("{what} {id:?} {problem}")]
    BadId {
        what: String,
        id: String,
        problem: String,
    },
    #[error("--base-ref is empty")]
    EmptyRef,
    #[error("--base-ref {0:?} starts with '-' (it could be read as a git option)")]
    RefLooksLikeOption(String),
    #[error("--base-ref contains a control character")]
    RefHasControlCharacter,
}

/// Checks a run or task id; `what` names it in the error ("run id", "task id").
pub fn validate_id(what: &str, id: &str) -> Result<(), IdError> {
    let problem = if id.is_empty() {
        Some("is empty".to_string())
    } else if id.len() > MAX_ID_LEN {
        Some(format!("is longer than {MAX_ID_LEN} bytes"))
    } else if id.starts_with('-') {
        Some("starts with '-' (it could be read as an option)".to_string())
    } else if id.starts_with('.') {
        Some("starts with '.'".to_string())
    } else if id.contains("..") {
        Some("contains '..' (it could escape the workspace root)".to_string())
    } else if id.ends_with('.') || id.ends_with(".lock") {
        Some("ends with '.' or '.lock', which git refuses in branch names".to_string())
    } else {
        id.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map(|c| {
                format!("contains {c:?}; ids may use only ASCII letters, digits, '_', '-' and '.'")
            })
    };
    match problem {
        Some(problem) => Err(IdError::BadId {
            what: what.to_string(),
            id: id.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Checks a git ref given by the user (`--base-ref`): it must not be readable as an option.
pub fn validate_ref(reference: &str) -> Result<(), IdError> {
    if reference.is_empty() {
        return Err(IdError::EmptyRef);
    }
    if reference.starts_with('-') {
        return Err(IdError::RefLooksLikeOption(reference.to_string()));
    }
    if reference.chars().any(|c| c == '\0' || c.is_control()) {
        return Err(IdError::RefHasControlCharacter);
    }
    Ok(())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new thread id, unique across processes: `thr_<ms base36><pid base36><counter>`.
pub fn new_thread_id() -> String {
    let ms = crate::time::now_ms() as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "thr_{}{}{}",
        base36(ms),
        base36(std::process::id() as u64),
        base36(n as u64)
    )
}

/// The inbox thread of an attempt: `<run>/<task>/attempt-<n>`.
pub fn attempt_thread_id(run_id: &str, task_id: &str, attempt_no: i64) -> String {
    format!("{run_id}/{task_id}/attempt-{attempt_no}")
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["T1", "blog_mvp_001", "t-7a", "v1.2", "a.b-c_d"] {
            validate_id("task id", id).unwrap();
        }
    }

    #[test]
    fn refuses_ids_that_escape_or_look_like_options() {
        for id in [
            "", "../x", "a/b", "..", ".hidden", "-rf", "a\0b", "x y", "a..b", "ends.", "x.lock",
            "é",
        ] {
            let err = crate::error::Error::from(validate_id("task id", id).unwrap_err());
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput, "{id:?}");
        }
    }

    #[test]
    fn thread_ids_are_unique() {
        let a = new_thread_id();
        let b = new_thread_id();
        assert_ne!(a, b);
        assert!(a.starts_with("thr_"));
    }
}
