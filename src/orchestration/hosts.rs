//! This host, as the hosts of a run know it (issue 13): its name — `orch up --host NAME`,
//! else `$ORCH_HOST`, else the machine's hostname — recorded on every attempt whose
//! supervisor it starts, and the heartbeat timing of its `orch up`: a beat every
//! `$ORCH_HOST_HEARTBEAT_MS` (default 2,000), and a host silent for `$ORCH_HOST_LAPSE_MS`
//! (default five beats) is dead, its unsettled attempts taken over by another host's
//! `orch up` ([`super::recovery`]).

use crate::error::{Error, Result};
use std::sync::OnceLock;
use std::time::Duration;

/// The host's name, once known.
static THIS_HOST: OnceLock<String> = OnceLock::new();

/// The default heartbeat interval of `orch up`.
pub const DEFAULT_HEARTBEAT_MS: u64 = 2_000;
/// How many heartbeat intervals a host may miss before it is dead, by default.
pub const DEFAULT_LAPSE_BEATS: u64 = 5;

/// Refuses a host name that is not 1 to 64 letters, digits, `.`, `-` or `_` (it names
/// a lock file, and is printed in plain text).
pub fn check_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if fine {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "host name {name:?} must be 1 to 64 letters, digits, '.', '-' or '_'"
        )))
    }
}

/// Names this process's host (`orch up --host`): before anything asked for it.
pub fn set_this_host(name: &str) -> Result<()> {
    check_name(name)?;
    if THIS_HOST.get_or_init(|| name.to_string()) != name {
        return Err(Error::internal(format!(
            "this process already runs as host {:?}",
            this_host()
        )));
    }
    Ok(())
}

/// This process's host: as set by [`set_this_host`], else `$ORCH_HOST` (a supervisor
/// gets it from its launcher), else the machine's hostname, else `localhost`.
pub fn this_host() -> &'static str {
    THIS_HOST.get_or_init(|| {
        std::env::var("ORCH_HOST")
            .ok()
            .filter(|name| check_name(name).is_ok())
            .or_else(|| crate::process::procfs::hostname().filter(|n| check_name(n).is_ok()))
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// The machine this process runs on, as a host's registration records it:
/// `$ORCH_MACHINE_ID` when set (containers that share a kernel, and so its boot id),
/// else this boot's id; `""` when neither is known (never refused then).
pub fn this_machine() -> &'static str {
    static THIS_MACHINE: OnceLock<String> = OnceLock::new();
    THIS_MACHINE.get_or_init(|| {
        std::env::var("ORCH_MACHINE_ID")
            .ok()
            .filter(|id| !id.trim().is_empty())
            .or_else(crate::process::procfs::boot_id)
            .unwrap_or_default()
    })
}

/// How often `orch up` beats, and how long a silent host lives.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub lapse: Duration,
}

impl Timing {
    /// From `$ORCH_HOST_HEARTBEAT_MS` and `$ORCH_HOST_LAPSE_MS` (for tests and slow
    /// links), else the defaults. A lapse is never shorter than two beats.
    pub fn from_env() -> Timing {
        let ms = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
        };
        let heartbeat = ms("ORCH_HOST_HEARTBEAT_MS").unwrap_or(DEFAULT_HEARTBEAT_MS);
        let lapse = ms("ORCH_HOST_LAPSE_MS")
            .unwrap_or(heartbeat * DEFAULT_LAPSE_BEATS)
            .max(heartbeat * 2);
        Timing {
            heartbeat: Duration::from_millis(heartbeat),
            lapse: Duration::from_millis(lapse),
        }
    }

    pub fn lapse_ms(&self) -> i64 {
        self.lapse.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_short_and_plain() {
        for good in ["a", "build-01", "ci.example.org", "x_y"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "../x", &"h".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
